"""Black-box API tests for customers (operations customers_* in api/openapi.yaml).

Every JSON response is validated against the spec by the `api` fixture; the tests
below assert on the bodies as well.
"""

import base64
import datetime
import json
import threading
import time
import uuid

import pytest

from conftest import assert_invalid, problem, unique, walk_pages

ROLES = ["sales", "sales2", "manager", "finance", "office", "erp", "admin"]


# ---------------------------------------------------------------- helpers

def tax_id():
    return uuid.uuid4().hex[:18].upper()


def fields_of(r, status=422):
    body = problem(r, status)
    assert body["errors"], body
    return [e["field"] for e in body["errors"]]


def etag(version):
    return f'W/"{version}"'


def cust_path(cid, suffix=""):
    return f"/v1/customers/{cid}{suffix}"


def list_ids(api, token, query=""):
    """All ids of the list (every page)."""
    return [c["id"] for c in list_all(api, token, query)]


def list_all(api, token, query="", limit=200):
    return walk_pages(api, "/v1/customers", token, query, limit)


def page(api, token, query):
    r = api.get(f"/v1/customers?{query}", token)
    assert r.status_code == 200, r.text
    return r.json()


def count_named(db, name):
    return int(db(f"SELECT count(*) FROM customers WHERE name = '{name}'"))


def wait_for(fn, timeout=3.0, interval=0.05):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v or time.time() > deadline:
            return v
        time.sleep(interval)


def fresh_api(api):
    """An Api with its own HTTP session (requests.Session is not thread-safe)."""
    return type(api)(api.server)


# ---------------------------------------------------------------- create

def test_create_returns_201_location_etag_and_record(api, users, db):
    body = {
        "name": unique("宁波海曙纺织有限公司"),
        "legal_representative": "王建国",
        "tax_id": tax_id(),
        "business_license_no": "330203000123456",
        "address": "浙江省宁波市海曙区中山西路 100 号",
        "region": "华东",
        "industry": "纺织",
        "website": "https://www.example.com.cn",
        "phone": "+86 (574) 8765-4321",
        "email": "purchase@example.com.cn",
        "notes": "首次接触：展会",
        "business_needs": {"product_categories": ["棉布", "涤纶"], "fabric_composition": "65% 涤 35% 棉",
                           "colour_fastness": "4 级"},
        "status": "active",
        "first_contact_at": "2024-03-15",
    }
    r = api.post("/v1/customers", users["sales"], body)
    assert r.status_code == 201, r.text
    c = r.json()
    assert r.headers["Location"] == f"/v1/customers/{c['id']}"
    assert r.headers["ETag"] == 'W/"1"'
    for k, v in body.items():
        assert c[k] == v, k
    assert c["version"] == 1
    assert c["record_status"] == "draft"
    assert c["tier"] == "reserve" and c["tier_effective"] == "reserve" and c["tier_override"] is None
    assert c["owner_id"] == users.ids["sales"]
    assert c["archived"] is False and c["archived_at"] is None
    assert c["credit_limit"] is None and c["credit_rating"] is None
    assert c["record_submitted_at"] is None and c["last_reviewed_at"] is None
    assert c["created_at"].endswith("Z") and c["updated_at"].endswith("Z")

    g = api.get(r.headers["Location"], users["sales"])
    assert g.status_code == 200
    assert g.json() == c
    assert g.headers["ETag"] == 'W/"1"'
    assert db(f"SELECT created_by FROM customers WHERE id = '{c['id']}'") == users.ids["sales"]


def test_create_minimal_defaults(api, users):
    name = unique("湖州丝绸")
    r = api.post("/v1/customers", users["sales"], {"name": name})
    assert r.status_code == 201, r.text
    c = r.json()
    assert c["name"] == name
    assert c["status"] == "prospect"
    assert c["business_needs"] == {}
    for k in ("legal_representative", "tax_id", "address", "region", "industry", "website", "phone", "email",
              "notes", "first_contact_at", "external_code", "tier_override_reason", "record_return_reason"):
        assert c[k] is None, k


def test_create_trims_surrounding_whitespace(api, users):
    name = unique("苏州吴江")
    r = api.post("/v1/customers", users["sales"], {"name": f"  {name}\t", "region": " 华东 "})
    assert r.status_code == 201, r.text
    assert r.json()["name"] == name
    assert r.json()["region"] == "华东"


def test_name_of_200_characters_is_accepted(api, users):
    name = ("布" * 190) + uuid.uuid4().hex[:10]
    assert len(name) == 200
    r = api.post("/v1/customers", users["sales"], {"name": name})
    assert r.status_code == 201, r.text
    assert r.json()["name"] == name


def test_chinese_name_round_trips_and_q_finds_it(api, users, db):
    name = "绍兴柯桥锦绣布业有限公司"
    r = api.post("/v1/customers", users["sales"],
                 {"name": name, "address": "浙江省绍兴市柯桥区轻纺城大道 8 号", "notes": "客户偏好：先样后单 ✓ 🧵",
                  "business_needs": {"product_categories": ["提花面料", "色织布"], "weaving_process": "喷气织造"}})
    assert r.status_code == 201, r.text
    c = r.json()
    assert c["name"] == name
    assert c["address"] == "浙江省绍兴市柯桥区轻纺城大道 8 号"
    assert c["notes"] == "客户偏好：先样后单 ✓ 🧵"
    assert c["business_needs"]["product_categories"] == ["提花面料", "色织布"]
    # Stored unchanged (UTF-8), and returned unchanged by GET.
    assert db(f"SELECT name FROM customers WHERE id = '{c['id']}'") == name
    g = api.get(cust_path(c["id"]), users["sales"])
    assert g.json()["name"] == name
    assert "utf-8" in g.headers["Content-Type"].lower() or g.headers["Content-Type"] == "application/json"
    assert json.loads(g.content.decode("utf-8"))["name"] == name

    for q in ("锦绣布业", "柯桥", name):
        found = list_all(api, users["sales"], f"q={q}")
        assert c["id"] in [x["id"] for x in found], q
        assert all(q in x["name"] for x in found)
    # The manager finds it too; a substring that is not in the name finds nothing of it.
    assert c["id"] in list_ids(api, users["manager"], "q=锦绣布业")
    assert c["id"] not in list_ids(api, users["sales"], "q=锦绣丝绸")
    # sales2 does not own it: not found by search either.
    assert c["id"] not in list_ids(api, users["sales2"], "q=锦绣布业")


def test_q_is_case_insensitive_and_wildcards_are_literal(api, users):
    tag = uuid.uuid4().hex[:8]
    a = api.post("/v1/customers", users["sales"], {"name": f"ACME Textile {tag} 100%纯棉"}).json()
    b = api.post("/v1/customers", users["sales"], {"name": f"acme_textile {tag}"}).json()
    got = list_ids(api, users["sales"], f"q=acme+textile+{tag}")
    assert got == [a["id"]]
    got = set(list_ids(api, users["sales"], f"q=ACME_TEXTILE+{tag}"))
    assert got == {b["id"]}, "'_' must match only itself"
    got = set(list_ids(api, users["sales"], "q=100%25纯棉"))
    assert a["id"] in got and b["id"] not in got
    assert set(list_ids(api, users["sales"], f"q={tag}")) == {a["id"], b["id"]}


def test_duplicate_tax_id_is_409_naming_the_field(api, users, db):
    tid = tax_id()
    r = api.post("/v1/customers", users["sales"], {"name": unique(), "tax_id": tid})
    assert r.status_code == 201
    r = api.post("/v1/customers", users["sales2"], {"name": unique(), "tax_id": tid})
    body = problem(r, 409)
    assert body["errors"][0]["field"] == "tax_id"
    assert db(f"SELECT count(*) FROM customers WHERE tax_id = '{tid}'") == "1"


def test_duplicate_external_code_is_409_naming_the_field(api, users):
    code = "ERP-" + uuid.uuid4().hex[:10]
    assert api.post("/v1/customers", users["manager"], {"name": unique(), "external_code": code}).status_code == 201
    r = api.post("/v1/customers", users["manager"], {"name": unique(), "external_code": code})
    assert problem(r, 409)["errors"][0]["field"] == "external_code"


# ---------------------------------------------------------------- validation

NAME_201 = "布" * 201

CREATE_INVALID = [
    ("sales", {"email": "not-an-email"}, "email"),
    ("sales", {"email": "a@b"}, "email"),
    ("sales", {"tax_id": "abc"}, "tax_id"),
    ("sales", {"tax_id": "91330603ma2bxyz12p"}, "tax_id"),
    ("sales", {"tax_id": "9133060312345678901234"}, "tax_id"),
    ("sales", {"website": "ftp://example.com"}, "website"),
    ("sales", {"phone": "call me"}, "phone"),
    ("sales", {"status": "archived"}, "status"),
    ("sales", {"status": None}, "status"),
    ("sales", {"first_contact_at": "2024-02-30"}, "first_contact_at"),
    ("sales", {"first_contact_at": "2999-01-01"}, "first_contact_at"),
    ("sales", {"business_needs": ["棉布"]}, "business_needs"),
    ("sales", {"business_needs": {"colour": "红"}}, "business_needs.colour"),
    ("sales", {"business_needs": {"product_categories": "棉布"}}, "business_needs.product_categories"),
    ("sales", {"nickname": "老王"}, "nickname"),
    ("sales", {"notes": "注" * 5001}, "notes"),
    ("sales", {"region": ["华东"]}, "region"),
    ("sales", {"id": str(uuid.uuid4())}, "id"),
    ("sales", {"version": 5}, "version"),
    ("sales", {"tier": "vip"}, "tier"),
    ("sales", {"tier_effective": "vip"}, "tier_effective"),
    ("sales", {"record_status": "approved"}, "record_status"),
    ("sales", {"archived": True}, "archived"),
    ("sales", {"created_at": "2024-01-01T00:00:00Z"}, "created_at"),
    ("sales", {"owner_id": "SELF"}, "owner_id"),
    ("sales", {"tier_override": "vip", "tier_override_reason": "大客户"}, "tier_override"),
    ("sales", {"external_code": "ERP-1"}, "external_code"),
    ("sales", {"credit_limit": "1000.00"}, "credit_limit"),
    ("sales", {"credit_rating": "A"}, "credit_rating"),
    ("manager", {"credit_rating": "AAA"}, "credit_rating"),
    ("manager", {"payment_standing": "good"}, "payment_standing"),
    ("manager", {"tier_override": "key"}, "tier_override_reason"),
    ("manager", {"owner_id": "not-a-uuid"}, "owner_id"),
    ("manager", {"owner_id": None}, "owner_id"),
    ("manager", {"owner_id": "00000000-0000-4000-8000-000000000000"}, "owner_id"),
    ("manager", {"owner_id": "FINANCE"}, "owner_id"),
    ("admin", {}, "owner_id"),
    ("admin", {"credit_limit": 1000}, "credit_limit"),
    ("admin", {"credit_limit": "12.345"}, "credit_limit"),
    ("admin", {"credit_limit": "-5.00"}, "credit_limit"),
]


@pytest.mark.parametrize("role,extra,field", CREATE_INVALID,
                         ids=[f"{role}-{field}-{i}" for i, (role, extra, field) in enumerate(CREATE_INVALID)])
def test_create_invalid_field_is_422_naming_it(api, users, db, role, extra, field):
    name = unique("校验")
    body = {"name": name}
    for k, v in extra.items():
        if v == "SELF":
            v = users.ids[role]
        elif v == "FINANCE":
            v = users.ids["finance"]
        body[k] = v
    if role == "admin" and "owner_id" not in extra and extra:
        body["owner_id"] = users.ids["sales"]
    r = api.post("/v1/customers", users[role], body)
    assert_invalid(r, field)
    assert count_named(db, name) == 0


@pytest.mark.parametrize("name,why", [(None, "missing"), ("", "empty"), ("   ", "blank"), (NAME_201, "too long"),
                                      (123, "not a string"), ("null", "null")])
def test_create_bad_name_is_422(api, users, name, why):
    body = {"region": "华北"}
    if name == "null":
        body["name"] = None
    elif name is not None:
        body["name"] = name
    r = api.post("/v1/customers", users["sales"], body)
    errs = assert_invalid(r, "name")["errors"]
    assert [e["field"] for e in errs] == ["name"], why


def test_create_reports_every_invalid_field_at_once(api, users):
    r = api.post("/v1/customers", users["sales"], {"email": "bad", "tax_id": "bad", "credit_limit": "1.00"})
    body = assert_invalid(r, "email")
    assert set(fields_of(r)) == {"email", "tax_id", "credit_limit", "name"}
    assert body["detail"] == "4 fields are invalid"


def test_read_only_field_message_says_read_only(api, users):
    r = api.post("/v1/customers", users["sales"], {"name": unique(), "version": 1})
    e = assert_invalid(r, "version")["errors"][0]
    assert "read-only" in e["message"]


@pytest.mark.parametrize("role,patch,field", [
    ("finance", {"name": "改名"}, "name"),
    ("finance", {"credit_limit": "1.00", "name": "改名"}, "name"),
    ("finance", {"credit_limit": 125000}, "credit_limit"),
    ("finance", {"credit_limit": 125000.5}, "credit_limit"),
    ("finance", {"credit_limit": "12.345"}, "credit_limit"),
    ("finance", {"credit_limit": "1e5"}, "credit_limit"),
    ("finance", {"credit_limit": "1234567890123.00"}, "credit_limit"),
    ("finance", {"credit_rating": "AAAA"}, "credit_rating"),
    ("finance", {"credit_reviewed_at": "2999-12-31"}, "credit_reviewed_at"),
    ("finance", {"tier_override": "vip", "tier_override_reason": "x"}, "tier_override"),
    ("sales", {"owner_id": "SALES2"}, "owner_id"),
    ("sales", {"tier_override": "vip", "tier_override_reason": "x"}, "tier_override"),
    ("sales", {"credit_limit": "100.00"}, "credit_limit"),
    ("sales", {"version": 2}, "version"),
    ("sales", {"record_status": "approved"}, "record_status"),
    ("sales", {"name": ""}, "name"),
    ("sales", {"name": None}, "name"),
    ("sales", {"name": NAME_201}, "name"),
    ("sales", {"business_needs": None}, "business_needs"),
    ("sales", {"email": "x@"}, "email"),
    ("manager", {"credit_rating": "A"}, "credit_rating"),
    ("manager", {"tier_override": "vip"}, "tier_override_reason"),
    ("manager", {"owner_id": "FINANCE"}, "owner_id"),
    ("manager", {"owner_id": "OFFICE"}, "owner_id"),
])
def test_patch_invalid_field_is_422_and_changes_nothing(api, users, make_customer, db, role, patch, field):
    c = make_customer()
    body = {}
    for k, v in patch.items():
        if v in ("SALES2", "FINANCE", "OFFICE"):
            v = users.ids[v.lower()]
        body[k] = v
    r = api.patch(cust_path(c["id"]), users[role], body)
    assert_invalid(r, field)
    after = api.get(cust_path(c["id"]), users["manager"]).json()
    assert after == c
    assert db(f"SELECT count(*) FROM audit_log WHERE entity_id = '{c['id']}' AND action <> 'read'") == "1"


def test_first_contact_at_today_or_past_is_accepted(api, users):
    past = (datetime.date.today() - datetime.timedelta(days=3)).isoformat()
    r = api.post("/v1/customers", users["sales"], {"name": unique(), "first_contact_at": past})
    assert r.status_code == 201, r.text
    assert r.json()["first_contact_at"] == past
    future = (datetime.date.today() + datetime.timedelta(days=3)).isoformat()
    r = api.post("/v1/customers", users["sales"], {"name": unique(), "first_contact_at": future})
    assert_invalid(r, "first_contact_at")


# ---------------------------------------------------------------- malformed requests

def raw_post(api, token, data, ctype="application/json", path="/v1/customers", method="POST"):
    h = {}
    if ctype is not None:
        h["Content-Type"] = ctype
    return api.call(method, path, token, data=data, headers=h)


@pytest.mark.parametrize("data", [
    b'{"name": "x",}',
    b'{"name": ',
    b"name=x",
    b'{"name": "\xff\xfe"}',
    b'"just a string',
], ids=["trailing-comma", "truncated", "form", "invalid-utf8", "unterminated"])
def test_malformed_json_is_400(api, users, data):
    body = problem(raw_post(api, users["sales"], data), 400)
    assert body["type"].endswith("/bad-request")


def test_nested_json_100_deep_is_400(api, users):
    deep = "[" * 100 + "]" * 100
    data = ('{"name": "深", "business_needs": {"product_categories": ' + deep + "}}").encode()
    body = problem(raw_post(api, users["sales"], data), 400)
    assert "nest" in body.get("detail", "").lower()


def test_duplicate_keys_are_400(api, users, db):
    name1, name2 = unique(), unique()
    data = json.dumps({"name": name1}, ensure_ascii=False)[:-1] + f', "name": "{name2}"}}'
    problem(raw_post(api, users["sales"], data.encode()), 400)
    assert count_named(db, name1) == 0 and count_named(db, name2) == 0


def test_empty_body_is_400(api, users):
    problem(raw_post(api, users["sales"], b""), 400)


def test_nul_character_is_rejected(api, users, db):
    name = unique()
    r = api.post("/v1/customers", users["sales"], {"name": name, "notes": "a\u0000b"})
    assert r.status_code in (400, 422), r.text
    problem(r, r.status_code)
    assert count_named(db, name) == 0


def test_non_object_body_is_rejected(api, users):
    r = raw_post(api, users["sales"], b'["name"]')
    assert r.status_code in (400, 422), r.text
    problem(r, r.status_code)


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", "application/jsonx",
                                   "application/merge-patch+json", None])
def test_wrong_or_missing_content_type_is_415(api, users, db, ctype):
    name = unique()
    r = raw_post(api, users["sales"], json.dumps({"name": name}).encode(), ctype=ctype)
    body = problem(r, 415)
    assert body["type"].endswith("/unsupported-media-type")
    assert count_named(db, name) == 0


def test_json_content_type_with_charset_is_accepted(api, users):
    name = unique()
    r = raw_post(api, users["sales"], json.dumps({"name": name}, ensure_ascii=False).encode(),
                 ctype="application/json; charset=utf-8")
    assert r.status_code == 201, r.text
    assert r.json()["name"] == name


def test_patch_accepts_merge_patch_json_and_rejects_text(api, users, make_customer):
    c = make_customer()
    r = raw_post(api, users["sales"], json.dumps({"region": "华南"}, ensure_ascii=False).encode(),
                 ctype="application/merge-patch+json", path=cust_path(c["id"]), method="PATCH")
    assert r.status_code == 200, r.text
    assert r.json()["region"] == "华南" and r.json()["version"] == 2
    r = raw_post(api, users["sales"], b'{"region": "x"}', ctype="text/plain", path=cust_path(c["id"]),
                 method="PATCH")
    problem(r, 415)


def test_body_over_limit_is_413(api, users, db):
    name = unique()
    data = json.dumps({"name": name, "notes": "x" * 70000}).encode()
    assert len(data) > 65536
    body = problem(raw_post(api, users["sales"], data), 413)
    assert body["type"].endswith("/payload-too-large")
    assert count_named(db, name) == 0


def test_body_just_under_limit_is_read(api, users):
    # 60 KiB of notes: read and validated (notes is at most 5000 characters → 422, not 413).
    data = json.dumps({"name": unique(), "notes": "x" * 60000}).encode()
    assert len(data) < 65536
    assert_invalid(raw_post(api, users["sales"], data), "notes")


def test_unknown_method_is_405_with_allow(api, users, make_customer):
    c = make_customer()
    r = api.call("PUT", cust_path(c["id"]), users["sales"], json_body={"name": "x"})
    problem(r, 405)
    allow = {m.strip() for m in r.headers["Allow"].split(",")}
    assert {"GET", "PATCH", "DELETE"} <= allow and "PUT" not in allow


def test_no_token_is_401(api, make_customer):
    c = make_customer()
    for method, path in [("GET", "/v1/customers"), ("GET", cust_path(c["id"])), ("POST", "/v1/customers"),
                         ("PATCH", cust_path(c["id"])), ("DELETE", cust_path(c["id"]))]:
        r = api.call(method, path, None, json_body={} if method in ("POST", "PATCH") else None)
        problem(r, 401)
        assert r.headers["WWW-Authenticate"].startswith("Bearer")


# ---------------------------------------------------------------- roles and scope

@pytest.mark.parametrize("role", ["finance", "office", "erp"])
def test_roles_that_may_not_create_get_403(api, users, db, role):
    name = unique()
    r = api.post("/v1/customers", users[role], {"name": name})
    body = problem(r, 403)
    assert body["type"].endswith("/forbidden")
    assert count_named(db, name) == 0


@pytest.mark.parametrize("role", ["office", "erp"])
def test_office_and_erp_may_not_patch(api, users, make_customer, role):
    c = make_customer()
    problem(api.patch(cust_path(c["id"]), users[role], {"notes": "x"}), 403)
    assert api.get(cust_path(c["id"]), users["manager"]).json()["version"] == 1


@pytest.mark.parametrize("role", ["finance", "office", "erp"])
def test_non_staff_may_not_archive_restore_or_submit(api, users, make_customer, role):
    c = make_customer()
    problem(api.delete(cust_path(c["id"]), users[role]), 403)
    problem(api.post(cust_path(c["id"], "/restore"), users[role]), 403)
    problem(api.post(cust_path(c["id"], "/submit"), users[role]), 403)
    problem(api.post(cust_path(c["id"], "/approve"), users[role]), 403)
    problem(api.post(cust_path(c["id"], "/return"), users[role], {"reason": "x"}), 403)
    after = api.get(cust_path(c["id"]), users["manager"]).json()
    assert after["archived"] is False and after["record_status"] == "draft" and after["version"] == 1


@pytest.mark.parametrize("role", ROLES)
def test_get_and_list_for_every_role(api, users, make_customer, role):
    c = make_customer(region=unique("区域"))
    r = api.get(cust_path(c["id"]), users[role])
    listed = list_ids(api, users[role], f"region={c['region']}")
    if role == "sales2":
        problem(r, 404)
        assert listed == []
    else:
        assert r.status_code == 200, r.text
        assert r.json()["id"] == c["id"] and r.json()["name"] == c["name"]
        assert listed == [c["id"]]


def test_other_reps_customer_looks_exactly_like_a_missing_one(api, users, make_customer):
    c = make_customer()
    missing = str(uuid.uuid4())
    calls = [
        ("GET", "", None),
        ("PATCH", "", {"notes": "偷看"}),
        ("DELETE", "", None),
        ("POST", "/submit", None),
        ("POST", "/restore", None),
        ("GET", "/history", None),
    ]
    for method, suffix, body in calls:
        got = api.call(method, cust_path(c["id"], suffix), users["sales2"], json_body=body)
        ref = api.call(method, cust_path(missing, suffix), users["sales2"], json_body=body)
        b1, b2 = problem(got, 404), problem(ref, 404)
        assert b1["type"] == b2["type"] and b1["title"] == b2["title"] and b1["status"] == b2["status"]
        assert set(b1) == set(b2), (method, suffix)
        assert b1.get("detail") == b2.get("detail")
        assert "errors" not in b1
        assert c["id"] not in json.dumps({k: v for k, v in b1.items() if k != "instance"})
    after = api.get(cust_path(c["id"]), users["sales"]).json()
    assert after == c


def test_malformed_id_is_404(api, users):
    for bad in ("not-a-uuid", "1", "00000000-0000-0000-0000-00000000000g"):
        problem(api.get(cust_path(bad), users["manager"]), 404)


def test_sales_list_never_shows_other_reps_customers(api, users, make_customer):
    region = unique("范围")
    mine = make_customer(region=region)
    theirs = make_customer(owner="sales2", region=region)
    ids = list_ids(api, users["sales"], f"region={region}")
    assert ids == [mine["id"]]
    everything = list_all(api, users["sales"])
    assert everything and all(x["owner_id"] == users.ids["sales"] for x in everything)
    assert theirs["id"] not in [x["id"] for x in everything]
    # Even when filtering on the other rep explicitly: an empty list, not an error.
    body = page(api, users["sales"], f"owner_id={users.ids['sales2']}")
    assert body == {"items": [], "next_cursor": None}
    body = page(api, users["sales"], f"owner_id={users.ids['sales2']}&include_archived=true")
    assert body == {"items": [], "next_cursor": None}
    # sales2 sees their own.
    assert list_ids(api, users["sales2"], f"region={region}") == [theirs["id"]]


def test_manager_admin_and_readers_see_all_customers(api, users, make_customer):
    region = unique("全部")
    a = make_customer(region=region)
    b = make_customer(owner="sales2", region=region)
    for role in ("manager", "admin", "finance", "office", "erp"):
        assert set(list_ids(api, users[role], f"region={region}")) == {a["id"], b["id"]}, role
    assert list_ids(api, users["manager"], f"region={region}&owner_id={users.ids['sales2']}") == [b["id"]]


def test_manager_creates_for_self_or_for_a_rep(api, users):
    r = api.post("/v1/customers", users["manager"], {"name": unique()})
    assert r.status_code == 201 and r.json()["owner_id"] == users.ids["manager"]
    r = api.post("/v1/customers", users["manager"], {"name": unique(), "owner_id": users.ids["sales2"]})
    assert r.status_code == 201 and r.json()["owner_id"] == users.ids["sales2"]
    assert api.get(cust_path(r.json()["id"]), users["sales2"]).status_code == 200


def test_admin_must_name_an_owner(api, users):
    r = api.post("/v1/customers", users["admin"], {"name": unique(), "owner_id": users.ids["sales"]})
    assert r.status_code == 201, r.text
    assert r.json()["owner_id"] == users.ids["sales"]
    assert api.get(cust_path(r.json()["id"]), users["sales"]).status_code == 200


# ---------------------------------------------------------------- list filters

@pytest.fixture(scope="module")
def filter_set(api, users):
    """Customers in one private region: a active/纺织, b prospect/化纤, c tier override key,
    d submitted, e archived, f owned by sales2."""
    region = unique("筛选")

    def mk(owner="sales", **f):
        r = api.post("/v1/customers", users[owner], {"name": unique("筛选客户"), "region": region, **f})
        assert r.status_code == 201, r.text
        return r.json()

    s = {
        "a": mk(status="active", industry="纺织"),
        "b": mk(status="prospect", industry="化纤"),
        "c": mk(status="dormant", industry="纺织"),
        "d": mk(status="lost"),
        "e": mk(status="active"),
        "f": mk(owner="sales2", status="active", industry="纺织"),
    }
    r = api.patch(cust_path(s["c"]["id"]), users["manager"], {"tier_override": "key", "tier_override_reason": "战略客户"})
    assert r.status_code == 200, r.text
    assert api.post(cust_path(s["d"]["id"], "/submit"), users["sales"]).status_code == 200
    assert api.delete(cust_path(s["e"]["id"]), users["sales"]).status_code == 204
    s["region"] = region
    return s


@pytest.mark.parametrize("query,expected_sales,expected_manager", [
    ("", "abcd", "abcdf"),
    ("status=active", "a", "af"),
    ("status=prospect", "b", "b"),
    ("status=active&include_archived=true", "ae", "aef"),
    ("industry=纺织", "ac", "acf"),
    ("industry=化纤", "b", "b"),
    ("industry=丝绸", "", ""),
    ("tier=key", "c", "c"),
    ("tier=reserve", "abd", "abdf"),
    ("tier=vip", "", ""),
    ("record_status=submitted", "d", "d"),
    ("record_status=draft", "abc", "abcf"),
    ("record_status=approved", "", ""),
    ("include_archived=true", "abcde", "abcdef"),
    ("include_archived=false", "abcd", "abcdf"),
    ("OWNER=sales", "abcd", "abcd"),
    ("OWNER=sales2", "", "f"),
    ("status=active&industry=纺织", "a", "af"),
])
def test_list_filters(api, users, filter_set, query, expected_sales, expected_manager):
    s = filter_set
    query = query.replace("OWNER=sales2", f"owner_id={users.ids['sales2']}")
    query = query.replace("OWNER=sales", f"owner_id={users.ids['sales']}")
    q = f"region={s['region']}" + (f"&{query}" if query else "")
    for role, expected in (("sales", expected_sales), ("manager", expected_manager)):
        items = list_all(api, users[role], q)
        got = {x["id"] for x in items}
        assert got == {s[k]["id"] for k in expected}, (role, query)
        for x in items:
            assert x["region"] == s["region"]
            if "include_archived=true" not in query:
                assert x["archived"] is False


def test_list_filter_items_match_the_filter(api, users, filter_set):
    items = list_all(api, users["manager"], f"region={filter_set['region']}&tier=key")
    assert [x["tier_effective"] for x in items] == ["key"]
    assert items[0]["tier"] == "reserve" and items[0]["tier_override"] == "key"
    archived = [x for x in list_all(api, users["manager"], f"region={filter_set['region']}&include_archived=true")
                if x["archived"]]
    assert [x["id"] for x in archived] == [filter_set["e"]["id"]]
    assert archived[0]["archived_at"] is not None


@pytest.mark.parametrize("query", [
    "status=archived", "status=", "tier=gold", "record_status=pending", "owner_id=not-a-uuid", "owner_id=",
    "include_archived=yes", "include_archived=1", "q=", "q=" + "长" * 101, "sort=region", "sort=+name", "sort=",
    "limit=0", "limit=201", "limit=abc", "limit=-1", "limit=", "limit=1.5", "limit=3x",
    "foo=bar", "name=x", "status=active&status=lost", "q=%ff", "cursor=garbage", "cursor=", "cursor=" + "A" * 2000,
])
def test_bad_list_query_is_400(api, users, query):
    body = problem(api.get(f"/v1/customers?{query}", users["manager"]), 400)
    assert body["type"].endswith("/bad-request")
    if query.startswith("foo=") or query.startswith("name="):
        assert query.split("=")[0] in body["detail"]
    if query.startswith("limit="):
        assert "limit" in body["detail"]


def test_limit_bounds_are_accepted(api, users, make_customer):
    make_customer()
    make_customer()
    body = page(api, users["manager"], "limit=1")
    assert len(body["items"]) == 1 and body["next_cursor"]
    body = page(api, users["manager"], "limit=200")
    assert len(body["items"]) <= 200


# ---------------------------------------------------------------- sorting and pagination

@pytest.fixture(scope="module")
def sort_set(api, users):
    region = unique("排序")
    tag = uuid.uuid4().hex[:6]
    made = []
    for letter in "cagebfd":
        r = api.post("/v1/customers", users["sales"], {"name": f"sort-{tag}-{letter}", "region": region})
        assert r.status_code == 201, r.text
        made.append(r.json())
        time.sleep(0.01)
    # Touch 'g' so that updated_at order differs from created_at order.
    g = next(c for c in made if c["name"].endswith("-g"))
    assert api.patch(cust_path(g["id"]), users["sales"], {"notes": "touched"}).status_code == 200
    return {"region": region, "made": made, "touched": g["id"]}


def _expected_order(sort_set, sort):
    made = sort_set["made"]
    by_name = [c["id"] for c in sorted(made, key=lambda c: c["name"])]
    created = [c["id"] for c in made]
    updated = [c["id"] for c in made if c["id"] != sort_set["touched"]] + [sort_set["touched"]]
    return {"name": by_name, "-name": by_name[::-1], "created_at": created, "-created_at": created[::-1],
            "updated_at": updated, "-updated_at": updated[::-1]}[sort]


@pytest.mark.parametrize("sort", ["name", "-name", "created_at", "-created_at", "updated_at", "-updated_at", None])
@pytest.mark.parametrize("role", ["sales", "manager"])
def test_sort_and_keyset_pagination(api, users, sort_set, sort, role):
    expected = _expected_order(sort_set, sort or "-created_at")
    base = f"region={sort_set['region']}" + (f"&sort={sort}" if sort else "")
    whole = page(api, users[role], base + "&limit=50")
    assert [c["id"] for c in whole["items"]] == expected
    assert whole["next_cursor"] is None
    seen, cursor, sizes = [], None, []
    while True:
        q = base + "&limit=3" + (f"&cursor={cursor}" if cursor else "")
        body = page(api, users[role], q)
        sizes.append(len(body["items"]))
        seen += [c["id"] for c in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str) and cursor
    assert sizes == [3, 3, 1]
    assert seen == expected, "pages must neither repeat nor skip"


def test_pagination_is_stable_under_concurrent_inserts(api, users):
    region = unique("分页")
    tag = uuid.uuid4().hex[:6]
    original = []
    for i in range(7):
        r = api.post("/v1/customers", users["sales"], {"name": f"page-{tag}-{i}", "region": region})
        original.append(r.json()["id"])
    for sort, new_name in (("-created_at", "page-{tag}-new"), ("created_at", "page-{tag}-late"),
                           ("name", "page-{tag}-0a"), ("-name", "page-{tag}-9")):
        seen, cursor, first = [], None, True
        while True:
            q = f"region={region}&sort={sort}&limit=3" + (f"&cursor={cursor}" if cursor else "")
            body = page(api, users["sales"], q)
            seen += [c["id"] for c in body["items"]]
            cursor = body["next_cursor"]
            if first:
                # Insert between page fetches: one sorting before the cursor, whatever it is.
                for _ in range(2):
                    r = api.post("/v1/customers", users["sales"],
                                 {"name": new_name.format(tag=tag) + uuid.uuid4().hex[:4], "region": region})
                    assert r.status_code == 201
                first = False
            if cursor is None:
                break
        assert len(seen) == len(set(seen)), f"{sort}: duplicates {seen}"
        assert set(original) <= set(seen), f"{sort}: an original customer was skipped"


def test_cursor_from_another_sort_or_list_is_400(api, users, sort_set, make_customer):
    base = f"region={sort_set['region']}&limit=2"
    c_name = page(api, users["sales"], base + "&sort=name")["next_cursor"]
    c_default = page(api, users["sales"], base)["next_cursor"]
    assert c_name and c_default
    # The cursor works with its own sort …
    assert page(api, users["sales"], base + f"&sort=name&cursor={c_name}")["items"]
    # … and is refused with any other.
    for sort in ("-name", "created_at", "-created_at", "updated_at"):
        problem(api.get(f"/v1/customers?{base}&sort={sort}&cursor={c_name}", users["sales"]), 400)
    problem(api.get(f"/v1/customers?{base}&sort=name&cursor={c_default}", users["sales"]), 400)
    # A history cursor is not a customers cursor.
    cid = make_customer()["id"]
    for _ in range(2):
        api.patch(cust_path(cid), users["sales"], {"notes": uuid.uuid4().hex})
    h = api.get(cust_path(cid, "/history?limit=1"), users["sales"]).json()
    assert h["next_cursor"]
    problem(api.get(f"/v1/customers?cursor={h['next_cursor']}", users["sales"]), 400)
    # A tampered cursor is refused.
    problem(api.get(f"/v1/customers?{base}&sort=name&cursor={c_name[:-4]}", users["sales"]), 400)


def _b64(value):
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize("sort,key", [
    ("-created_at", "not-a-time"),
    ("created_at", "2024-13-45 99:00:00+00"),
    ("updated_at", ""),
    ("-updated_at", "2024-01-01T00:00:00Z'; DROP TABLE customers; --"),
    ("name", None),
])
def test_forged_cursor_is_400(api, users, sort, key):
    cursor = _b64(["customers", sort, key, str(uuid.uuid4())] if key is not None else ["customers", sort, "x"])
    body = problem(api.get(f"/v1/customers?sort={sort}&cursor={cursor}", users["sales"]), 400)
    assert "cursor" in body["detail"]
    # The same shape with a sane key is accepted (so the 400 above is about the key).
    sane = "2024-01-01T00:00:00.000000Z" if sort.endswith("_at") else "x"
    r = api.get(f"/v1/customers?sort={sort}&cursor={_b64(['customers', sort, sane, str(uuid.uuid4())])}",
                users["sales"])
    assert r.status_code == 200, r.text


def test_forged_history_cursor_is_400(api, users, make_customer):
    c = make_customer()
    real = api.get(cust_path(c["id"], "/history?limit=1"), users["sales"]).json()
    assert real["items"]
    for key in ("99999999999999999999999", "", "-1", "1 OR 1=1"):
        cursor = _b64(["history", "", key])
        problem(api.get(cust_path(c["id"], f"/history?cursor={cursor}"), users["sales"]), 400)
    # The same shape with a sane key is accepted (so the 400 above is about the key).
    r = api.get(cust_path(c["id"], f"/history?cursor={_b64(['history', '', '999999999'])}"), users["sales"])
    assert r.status_code == 200, r.text
    assert [e["id"] for e in r.json()["items"]] == [real["items"][0]["id"]]


# ---------------------------------------------------------------- ETag, If-None-Match, If-Match

def test_get_etag_and_if_none_match(api, users, make_customer):
    c = make_customer()
    r = api.get(cust_path(c["id"]), users["sales"])
    assert r.headers["ETag"] == 'W/"1"'
    r = api.get(cust_path(c["id"]), users["sales"], headers={"If-None-Match": 'W/"1"'})
    assert r.status_code == 304 and r.content == b""
    assert r.headers["ETag"] == 'W/"1"'
    r = api.get(cust_path(c["id"]), users["sales"], headers={"If-None-Match": '"1"'})
    assert r.status_code == 304
    r = api.get(cust_path(c["id"]), users["sales"], headers={"If-None-Match": '*'})
    assert r.status_code == 304
    r = api.get(cust_path(c["id"]), users["sales"], headers={"If-None-Match": 'W/"7", W/"1"'})
    assert r.status_code == 304
    r = api.get(cust_path(c["id"]), users["sales"], headers={"If-None-Match": 'W/"2"'})
    assert r.status_code == 200 and r.json()["id"] == c["id"]
    assert api.patch(cust_path(c["id"]), users["sales"], {"notes": "新备注"}).status_code == 200
    r = api.get(cust_path(c["id"]), users["sales"], headers={"If-None-Match": 'W/"1"'})
    assert r.status_code == 200
    assert r.headers["ETag"] == 'W/"2"' and r.json()["version"] == 2 and r.json()["notes"] == "新备注"
    # If-None-Match never reveals someone else's record.
    problem(api.get(cust_path(c["id"]), users["sales2"], headers={"If-None-Match": "*"}), 404)


def test_if_match_stale_is_412_and_changes_nothing(api, users, make_customer, db):
    c = make_customer()
    r = api.patch(cust_path(c["id"]), users["sales"], {"name": "改名-失败"}, headers={"If-Match": 'W/"2"'})
    body = problem(r, 412)
    assert body["type"].endswith("/precondition-failed")
    assert r.headers.get("ETag", 'W/"1"') == 'W/"1"'
    assert api.get(cust_path(c["id"]), users["sales"]).json() == c
    assert db(f"SELECT count(*) FROM audit_log WHERE entity_id = '{c['id']}' AND action = 'update'") == "0"

    r = api.patch(cust_path(c["id"]), users["sales"], {"name": c["name"] + "-改"}, headers={"If-Match": 'W/"1"'})
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2 and r.json()["name"] == c["name"] + "-改"
    assert r.headers["ETag"] == 'W/"2"'
    # Re-using the old tag is now stale.
    problem(api.patch(cust_path(c["id"]), users["sales"], {"notes": "x"}, headers={"If-Match": 'W/"1"'}), 412)
    assert api.get(cust_path(c["id"]), users["sales"]).json()["notes"] is None


def test_malformed_if_match_is_400(api, users, make_customer):
    c = make_customer()
    for value in ("abc", 'W/"x"', 'W/"1", W/"2"', 'W/"-1"'):
        r = api.patch(cust_path(c["id"]), users["sales"], {"notes": "x"}, headers={"If-Match": value})
        assert r.status_code == 400, (value, r.text)
        problem(r, 400)
    assert api.get(cust_path(c["id"]), users["sales"]).json()["version"] == 1


def test_if_match_star_matches_any_version(api, users, make_customer):
    c = make_customer()
    r = api.patch(cust_path(c["id"]), users["sales"], {"notes": "星号"}, headers={"If-Match": "*"})
    assert r.status_code == 200, r.text
    assert r.json()["notes"] == "星号" and r.json()["version"] == 2
    assert r.headers["ETag"] == 'W/"2"'


def test_if_match_on_delete_and_actions(api, users, make_customer):
    c = make_customer()
    problem(api.delete(cust_path(c["id"]), users["sales"], headers={"If-Match": 'W/"5"'}), 412)
    assert api.get(cust_path(c["id"]), users["sales"]).json()["archived"] is False
    problem(api.post(cust_path(c["id"], "/submit"), users["sales"], headers={"If-Match": 'W/"5"'}), 412)
    assert api.get(cust_path(c["id"]), users["sales"]).json()["record_status"] == "draft"
    r = api.post(cust_path(c["id"], "/submit"), users["sales"], headers={"If-Match": 'W/"1"'})
    assert r.status_code == 200 and r.json()["record_status"] == "submitted"
    assert api.delete(cust_path(c["id"]), users["sales"], headers={"If-Match": 'W/"2"'}).status_code == 204


def test_concurrent_patches_with_same_if_match_exactly_one_wins(api, users, make_customer):
    c = make_customer()
    n = 8
    results = [None] * n
    barrier = threading.Barrier(n)

    def worker(i):
        a = fresh_api(api)
        barrier.wait()
        results[i] = a.patch(cust_path(c["id"]), users["sales"], {"notes": f"writer-{i}"},
                             headers={"If-Match": 'W/"1"'})

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(r.status_code for r in results)
    assert codes == [200] + [412] * (n - 1), [r.text for r in results]
    winner = next(i for i, r in enumerate(results) if r.status_code == 200)
    final = api.get(cust_path(c["id"]), users["sales"]).json()
    assert final["version"] == 2
    assert final["notes"] == f"writer-{winner}"
    assert results[winner].json() == final


def test_concurrent_patches_of_different_fields_lose_nothing(api, users, make_customer, db):
    c = make_customer()
    fields = {"legal_representative": "李四", "address": "杭州市西湖区", "region": "华东区", "industry": "印染",
              "notes": "并发", "business_license_no": "BL-123", "phone": "0571-88888888", "email": "cc@example.com"}
    results = {}
    barrier = threading.Barrier(len(fields))

    def worker(k, v):
        a = fresh_api(api)
        barrier.wait()
        results[k] = a.patch(cust_path(c["id"]), users["sales"], {k: v})

    threads = [threading.Thread(target=worker, args=kv) for kv in fields.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.status_code == 200 for r in results.values()), {k: r.text for k, r in results.items()}
    final = api.get(cust_path(c["id"]), users["sales"]).json()
    for k, v in fields.items():
        assert final[k] == v, k
    assert final["version"] == 1 + len(fields)
    assert sorted(r.json()["version"] for r in results.values()) == list(range(2, 2 + len(fields)))
    assert db(f"SELECT count(*) FROM audit_log WHERE entity_id = '{c['id']}' AND action = 'update'") == str(len(fields))


# ---------------------------------------------------------------- patch semantics

def test_patch_updates_clears_and_bumps_version(api, users, make_customer):
    c = make_customer(email="a@example.com", region="华北", industry="纺织")
    r = api.patch(cust_path(c["id"]), users["sales"], {"email": None, "region": "东北", "status": "active"})
    assert r.status_code == 200, r.text
    u = r.json()
    assert u["email"] is None and u["region"] == "东北" and u["status"] == "active"
    assert u["industry"] == "纺织" and u["name"] == c["name"]
    assert u["version"] == 2 and r.headers["ETag"] == 'W/"2"'
    assert u["updated_at"] >= c["updated_at"] and u["created_at"] == c["created_at"]
    assert api.get(cust_path(c["id"]), users["sales"]).json() == u


def test_empty_patch_changes_nothing(api, users, make_customer):
    c = make_customer()
    r = api.patch(cust_path(c["id"]), users["sales"], {})
    assert r.status_code == 200, r.text
    assert r.json() == c
    assert r.headers["ETag"] == 'W/"1"'


def test_patch_business_needs_is_merged_member_by_member(api, users, make_customer):
    c = make_customer(business_needs={"product_categories": ["牛仔布"], "fabric_composition": "98% 棉 2% 氨纶"})
    r = api.patch(cust_path(c["id"]), users["sales"], {"business_needs": {"weaving_process": "剑杆织造"}})
    assert r.status_code == 200, r.text
    needs = r.json()["business_needs"]
    assert needs["product_categories"] == ["牛仔布"]
    assert needs["fabric_composition"] == "98% 棉 2% 氨纶"
    assert needs["weaving_process"] == "剑杆织造"
    r = api.patch(cust_path(c["id"]), users["sales"], {"business_needs": {"fabric_composition": None}})
    assert r.status_code == 200, r.text
    needs = r.json()["business_needs"]
    assert needs.get("fabric_composition") is None
    assert needs["weaving_process"] == "剑杆织造" and needs["product_categories"] == ["牛仔布"]


def test_patch_tax_id_to_an_existing_one_is_409(api, users, make_customer):
    tid = tax_id()
    make_customer(tax_id=tid)
    c = make_customer()
    r = api.patch(cust_path(c["id"]), users["sales"], {"tax_id": tid})
    assert problem(r, 409)["errors"][0]["field"] == "tax_id"
    assert api.get(cust_path(c["id"]), users["sales"]).json()["tax_id"] is None


# ---------------------------------------------------------------- owner reassignment

def test_reassign_with_an_upper_case_owner_id(api, users, make_customer):
    c = make_customer()
    r = api.patch(cust_path(c["id"]), users["manager"], {"owner_id": users.ids["sales2"].upper()})
    assert r.status_code == 200, r.text
    assert r.json()["owner_id"] == users.ids["sales2"]
    assert api.get(cust_path(c["id"]), users["sales2"]).status_code == 200


def test_manager_reassigns_owner(api, users, make_customer, db):
    c = make_customer()
    r = api.patch(cust_path(c["id"]), users["manager"], {"owner_id": users.ids["sales2"]})
    assert r.status_code == 200, r.text
    assert r.json()["owner_id"] == users.ids["sales2"] and r.json()["version"] == 2
    problem(api.get(cust_path(c["id"]), users["sales"]), 404)
    assert api.get(cust_path(c["id"]), users["sales2"]).json()["owner_id"] == users.ids["sales2"]
    assert c["id"] not in list_ids(api, users["sales"])
    assert c["id"] in list_ids(api, users["sales2"])
    assert c["id"] in list_ids(api, users["manager"], f"owner_id={users.ids['sales2']}")

    for role in ("sales2", "manager"):
        h = api.get(cust_path(c["id"], "/history"), users[role])
        assert h.status_code == 200, h.text
        reassign = [e for e in h.json()["items"] if e["action"] == "reassign"]
        assert len(reassign) == 1
        e = reassign[0]
        assert e["before"]["owner_id"] == users.ids["sales"]
        assert e["after"]["owner_id"] == users.ids["sales2"]
        assert e["actor_id"] == users.ids["manager"] and e["actor_role"] == "sales_manager"
        assert e["customer_id"] == c["id"] and e["entity"] == "customer"
    # The previous owner no longer sees the history either.
    problem(api.get(cust_path(c["id"], "/history"), users["sales"]), 404)
    rows = db(f"SELECT old_owner_id || ' ' || new_owner_id || ' ' || changed_by FROM customer_owner_history "
              f"WHERE customer_id = '{c['id']}'")
    assert rows == f"{users.ids['sales']} {users.ids['sales2']} {users.ids['manager']}"


def test_reassign_to_same_owner_records_no_reassignment(api, users, make_customer, db):
    c = make_customer()
    r = api.patch(cust_path(c["id"]), users["manager"], {"owner_id": users.ids["sales"]})
    assert r.status_code == 200
    assert r.json()["owner_id"] == users.ids["sales"]
    assert db(f"SELECT count(*) FROM customer_owner_history WHERE customer_id = '{c['id']}'") == "0"
    assert db(f"SELECT count(*) FROM audit_log WHERE entity_id = '{c['id']}' AND action = 'reassign'") == "0"


@pytest.mark.parametrize("who", ["finance", "office", "erp", "admin", "missing"])
def test_owner_must_be_a_sales_user(api, users, make_customer, db, who):
    c = make_customer()
    target = str(uuid.uuid4()) if who == "missing" else users.ids[who]
    r = api.patch(cust_path(c["id"]), users["manager"], {"owner_id": target})
    assert_invalid(r, "owner_id")
    assert api.get(cust_path(c["id"]), users["sales"]).json()["owner_id"] == users.ids["sales"]
    assert db(f"SELECT count(*) FROM customer_owner_history WHERE customer_id = '{c['id']}'") == "0"


def test_owner_may_be_another_manager(api, users, make_customer):
    c = make_customer()
    r = api.patch(cust_path(c["id"]), users["admin"], {"owner_id": users.ids["manager"]})
    assert r.status_code == 200, r.text
    assert r.json()["owner_id"] == users.ids["manager"]
    problem(api.get(cust_path(c["id"]), users["sales"]), 404)


def test_owner_must_be_active(api, users, make_customer):
    r = api.post("/v1/users", users["admin"], {"username": "t-left-" + uuid.uuid4().hex[:6],
                                               "display_name": "离职销售", "role": "sales",
                                               "password": "user-password-for-tests"})
    assert r.status_code == 201, r.text
    uid = r.json()["id"]
    assert api.delete(f"/v1/users/{uid}", users["admin"]).status_code in (200, 204)
    c = make_customer()
    assert_invalid(api.patch(cust_path(c["id"]), users["manager"], {"owner_id": uid}), "owner_id")
    assert_invalid(api.post("/v1/customers", users["manager"], {"name": unique(), "owner_id": uid}), "owner_id")


# ---------------------------------------------------------------- credit and tier

def test_finance_sets_credit_fields_exactly(api, users, make_customer, db):
    c = make_customer()
    review = (datetime.date.today() - datetime.timedelta(days=1)).isoformat()
    r = api.patch(cust_path(c["id"]), users["finance"], {"credit_limit": "125000.00", "credit_rating": "AA",
                                                          "payment_standing": "watch", "credit_reviewed_at": review})
    assert r.status_code == 200, r.text
    u = r.json()
    assert u["credit_limit"] == "125000.00"
    assert u["credit_rating"] == "AA" and u["payment_standing"] == "watch" and u["credit_reviewed_at"] == review
    assert u["version"] == 2 and u["name"] == c["name"]
    assert db(f"SELECT credit_limit FROM customers WHERE id = '{c['id']}'") == "125000.00"
    g = api.get(cust_path(c["id"]), users["sales"]).json()
    assert g["credit_limit"] == "125000.00"
    for sent, back in (("125000", "125000.00"), ("0.5", "0.50"), ("0", "0.00"),
                       ("999999999999.99", "999999999999.99"), ("12.3", "12.30")):
        r = api.patch(cust_path(c["id"]), users["finance"], {"credit_limit": sent})
        assert r.status_code == 200, (sent, r.text)
        assert r.json()["credit_limit"] == back, sent
    r = api.patch(cust_path(c["id"]), users["finance"], {"credit_limit": None, "credit_rating": None})
    assert r.status_code == 200
    assert r.json()["credit_limit"] is None and r.json()["credit_rating"] is None


def test_finance_may_patch_any_customer_but_admin_may_set_credit_too(api, users, make_customer):
    c = make_customer(owner="sales2")
    r = api.patch(cust_path(c["id"]), users["finance"], {"credit_rating": "B"})
    assert r.status_code == 200 and r.json()["credit_rating"] == "B"
    r = api.patch(cust_path(c["id"]), users["admin"], {"credit_rating": "A", "notes": "admin"})
    assert r.status_code == 200 and r.json()["credit_rating"] == "A" and r.json()["notes"] == "admin"


def test_tier_override_by_manager(api, users, make_customer):
    c = make_customer(region=unique("分级"))
    r = api.patch(cust_path(c["id"]), users["manager"], {"tier_override": "vip", "tier_override_reason": "集团战略合作"})
    assert r.status_code == 200, r.text
    u = r.json()
    assert u["tier"] == "reserve"
    assert u["tier_override"] == "vip" and u["tier_effective"] == "vip"
    assert u["tier_override_reason"] == "集团战略合作"
    assert list_ids(api, users["sales"], f"region={c['region']}&tier=vip") == [c["id"]]
    assert list_ids(api, users["sales"], f"region={c['region']}&tier=reserve") == []
    # Changing the override keeps the stored reason.
    r = api.patch(cust_path(c["id"]), users["manager"], {"tier_override": "key"})
    assert r.status_code == 200, r.text
    assert r.json()["tier_effective"] == "key" and r.json()["tier_override_reason"] == "集团战略合作"
    # Clearing the override clears its reason.
    r = api.patch(cust_path(c["id"]), users["manager"], {"tier_override": None})
    assert r.status_code == 200, r.text
    u = r.json()
    assert u["tier_override"] is None and u["tier_override_reason"] is None and u["tier_effective"] == "reserve"
    # Without a reason on a record that has none → 422.
    assert_invalid(api.patch(cust_path(c["id"]), users["manager"], {"tier_override": "vip"}), "tier_override_reason")
    assert_invalid(api.patch(cust_path(c["id"]), users["manager"],
                             {"tier_override": "vip", "tier_override_reason": None}), "tier_override_reason")


def test_clearing_only_the_reason_of_an_override_is_422(api, users, make_customer):
    c = make_customer()
    r = api.patch(cust_path(c["id"]), users["manager"], {"tier_override": "general", "tier_override_reason": "试单"})
    assert r.status_code == 200, r.text
    assert_invalid(api.patch(cust_path(c["id"]), users["manager"], {"tier_override_reason": None}),
                   "tier_override_reason")
    after = api.get(cust_path(c["id"]), users["manager"]).json()
    assert after["tier_override"] == "general" and after["tier_override_reason"] == "试单" and after["version"] == 2
    # Clearing both together is fine.
    r = api.patch(cust_path(c["id"]), users["manager"], {"tier_override": None, "tier_override_reason": None})
    assert r.status_code == 200, r.text
    assert r.json()["tier_effective"] == "reserve" and r.json()["tier_override_reason"] is None


def test_manager_creates_with_tier_override(api, users):
    r = api.post("/v1/customers", users["manager"],
                 {"name": unique(), "tier_override": "key", "tier_override_reason": "老客户回流"})
    assert r.status_code == 201, r.text
    assert r.json()["tier"] == "reserve" and r.json()["tier_effective"] == "key"


# ---------------------------------------------------------------- archive / restore

def test_archive_and_restore(api, users, make_customer, db):
    c = make_customer(region=unique("归档"))
    r = api.delete(cust_path(c["id"]), users["sales"])
    assert r.status_code == 204 and r.content == b""
    assert c["id"] not in list_ids(api, users["sales"], f"region={c['region']}")
    assert list_ids(api, users["sales"], f"region={c['region']}&include_archived=true") == [c["id"]]
    g = api.get(cust_path(c["id"]), users["sales"])
    assert g.status_code == 200
    a = g.json()
    assert a["archived"] is True and a["archived_at"] is not None and a["version"] == 2
    # Still in the database: nothing is hard-deleted.
    assert db(f"SELECT count(*) FROM customers WHERE id = '{c['id']}'") == "1"
    # Archiving again is a no-op 204.
    assert api.delete(cust_path(c["id"]), users["sales"]).status_code == 204
    assert api.get(cust_path(c["id"]), users["sales"]).json()["version"] == 2
    # sales2 cannot restore it.
    problem(api.post(cust_path(c["id"], "/restore"), users["sales2"]), 404)

    r = api.post(cust_path(c["id"], "/restore"), users["sales"])
    assert r.status_code == 200, r.text
    rest = r.json()
    assert rest["archived"] is False and rest["archived_at"] is None and rest["version"] == 3
    assert rest["name"] == c["name"]
    assert list_ids(api, users["sales"], f"region={c['region']}") == [c["id"]]

    body = problem(api.post(cust_path(c["id"], "/restore"), users["sales"]), 409)
    assert "not archived" in body["detail"]
    actions = [e["action"] for e in api.get(cust_path(c["id"], "/history"), users["sales"]).json()["items"]]
    assert actions == ["restore", "archive", "create"]


def test_restore_with_empty_object_and_rejects_fields(api, users, make_customer):
    c = make_customer()
    assert api.delete(cust_path(c["id"]), users["manager"]).status_code == 204
    assert_invalid(api.post(cust_path(c["id"], "/restore"), users["sales"], {"archived": False}), "archived")
    r = api.post(cust_path(c["id"], "/restore"), users["sales"], {})
    assert r.status_code == 200 and r.json()["archived"] is False


def test_delete_of_missing_customer_is_404(api, users):
    problem(api.delete(cust_path(uuid.uuid4()), users["manager"]), 404)
    problem(api.post(cust_path(uuid.uuid4(), "/restore"), users["manager"]), 404)


# ---------------------------------------------------------------- record review

def test_record_review_submit_approve(api, users, make_customer):
    c = make_customer()
    problem(api.post(cust_path(c["id"], "/approve"), users["manager"]), 409)  # still a draft
    r = api.post(cust_path(c["id"], "/submit"), users["sales"])
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["record_status"] == "submitted" and s["record_submitted_at"] is not None and s["version"] == 2
    assert r.headers.get("ETag", 'W/"2"') == 'W/"2"'

    body = problem(api.post(cust_path(c["id"], "/submit"), users["sales"]), 409)
    assert "submitted" in body["detail"]

    body = problem(api.post(cust_path(c["id"], "/approve"), users["sales"]), 403)
    assert body["type"].endswith("/forbidden")
    assert api.get(cust_path(c["id"]), users["sales"]).json()["record_status"] == "submitted"

    r = api.post(cust_path(c["id"], "/approve"), users["manager"])
    assert r.status_code == 200, r.text
    a = r.json()
    assert a["record_status"] == "approved"
    assert a["last_reviewed_at"] is not None and a["record_reviewed_at"] is not None
    assert a["record_reviewed_by"] == users.ids["manager"]
    assert a["version"] == 3

    body = problem(api.post(cust_path(c["id"], "/return"), users["manager"], {"reason": "补充资料"}), 409)
    assert "approved" in body["detail"]
    body = problem(api.post(cust_path(c["id"], "/approve"), users["manager"]), 409)
    assert "approved" in body["detail"]
    body = problem(api.post(cust_path(c["id"], "/submit"), users["sales"]), 409)
    assert "approved" in body["detail"]
    actions = [e["action"] for e in api.get(cust_path(c["id"], "/history"), users["sales"]).json()["items"]]
    assert actions == ["approve", "submit", "create"]


def test_record_review_return_requires_reason_and_resubmit(api, users, make_customer):
    c = make_customer()
    assert api.post(cust_path(c["id"], "/submit"), users["sales"]).status_code == 200
    assert_invalid(api.post(cust_path(c["id"], "/return"), users["manager"], {}), "reason")
    assert_invalid(api.post(cust_path(c["id"], "/return"), users["manager"], {"reason": ""}), "reason")
    assert_invalid(api.post(cust_path(c["id"], "/return"), users["manager"], {"reason": "x", "note": "y"}), "note")
    problem(api.post(cust_path(c["id"], "/return"), users["sales"], {"reason": "自己退回"}), 403)
    assert api.get(cust_path(c["id"]), users["sales"]).json()["record_status"] == "submitted"

    r = api.post(cust_path(c["id"], "/return"), users["manager"], {"reason": "缺少统一社会信用代码"})
    assert r.status_code == 200, r.text
    ret = r.json()
    assert ret["record_status"] == "returned" and ret["record_return_reason"] == "缺少统一社会信用代码"
    assert ret["record_reviewed_by"] == users.ids["manager"]
    assert ret["last_reviewed_at"] is None

    r = api.post(cust_path(c["id"], "/submit"), users["sales"], {})
    assert r.status_code == 200, r.text
    assert r.json()["record_status"] == "submitted" and r.json()["record_return_reason"] is None


def test_submit_rejects_body_fields_and_archived_records(api, users, make_customer):
    c = make_customer()
    assert_invalid(api.post(cust_path(c["id"], "/submit"), users["sales"], {"record_status": "approved"}),
                   "record_status")
    assert api.delete(cust_path(c["id"]), users["sales"]).status_code == 204
    body = problem(api.post(cust_path(c["id"], "/submit"), users["sales"]), 409)
    assert "archived" in body["detail"]


def test_manager_submits_any_customer_and_sales2_cannot(api, users, make_customer):
    c = make_customer()
    problem(api.post(cust_path(c["id"], "/submit"), users["sales2"]), 404)
    r = api.post(cust_path(c["id"], "/submit"), users["manager"])
    assert r.status_code == 200 and r.json()["record_status"] == "submitted"


# ---------------------------------------------------------------- Idempotency-Key

def test_idempotency_key_replays_the_first_response(api, users, db):
    name = unique("幂等")
    key = "erp-retry-" + uuid.uuid4().hex
    body = {"name": name, "region": "华东"}
    r1 = api.post("/v1/customers", users["sales"], body, headers={"Idempotency-Key": key})
    r2 = api.post("/v1/customers", users["sales"], body, headers={"Idempotency-Key": key})
    assert r1.status_code == 201 and r2.status_code == 201, (r1.text, r2.text)
    assert r2.json() == r1.json()
    assert r2.headers["Location"] == r1.headers["Location"]
    assert r2.headers.get("ETag") == r1.headers["ETag"]
    assert count_named(db, name) == 1
    assert [c["id"] for c in list_all(api, users["sales"], f"q={name}")] == [r1.json()["id"]]
    # Without the key the same body creates a second record.
    r3 = api.post("/v1/customers", users["sales"], body)
    assert r3.status_code == 201 and r3.json()["id"] != r1.json()["id"]
    assert count_named(db, name) == 2


def test_idempotency_key_with_a_different_body_is_422(api, users, db):
    key = uuid.uuid4().hex
    name = unique("幂等")
    assert api.post("/v1/customers", users["sales"], {"name": name}, headers={"Idempotency-Key": key}).status_code == 201
    other = unique("幂等")
    r = api.post("/v1/customers", users["sales"], {"name": other}, headers={"Idempotency-Key": key})
    problem(r, 422)
    assert r.json()["errors"]
    assert count_named(db, other) == 0 and count_named(db, name) == 1


def test_idempotency_keys_are_per_user(api, users, db):
    key = uuid.uuid4().hex
    name = unique("幂等")
    r1 = api.post("/v1/customers", users["sales"], {"name": name}, headers={"Idempotency-Key": key})
    r2 = api.post("/v1/customers", users["sales2"], {"name": name}, headers={"Idempotency-Key": key})
    r3 = api.post("/v1/customers", users["manager"], {"name": unique()}, headers={"Idempotency-Key": key})
    assert (r1.status_code, r2.status_code, r3.status_code) == (201, 201, 201)
    assert r1.json()["id"] != r2.json()["id"]
    assert r1.json()["owner_id"] == users.ids["sales"] and r2.json()["owner_id"] == users.ids["sales2"]
    assert count_named(db, name) == 2


def test_idempotency_key_replays_a_validation_error(api, users, db):
    key = uuid.uuid4().hex
    body = {"name": unique(), "email": "bad"}
    r1 = api.post("/v1/customers", users["sales"], body, headers={"Idempotency-Key": key})
    r2 = api.post("/v1/customers", users["sales"], body, headers={"Idempotency-Key": key})
    assert_invalid(r1, "email")
    assert r2.status_code == 422 and r2.json()["errors"] == r1.json()["errors"]
    assert count_named(db, body["name"]) == 0


def test_concurrent_requests_with_one_idempotency_key_create_one_record(api, users, db):
    name = unique("幂等并发")
    key = uuid.uuid4().hex
    n = 6
    results = [None] * n
    barrier = threading.Barrier(n)

    def worker(i):
        a = fresh_api(api)
        barrier.wait()
        results[i] = a.post("/v1/customers", users["sales"], {"name": name}, headers={"Idempotency-Key": key})

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = [r for r in results if r.status_code == 201]
    assert ok, [r.text for r in results]
    assert all(r.status_code in (201, 409) for r in results), [r.text for r in results]
    assert len({r.json()["id"] for r in ok}) == 1
    assert count_named(db, name) == 1


def test_bad_idempotency_key_is_400(api, users, db):
    name = unique()
    r = api.post("/v1/customers", users["sales"], {"name": name}, headers={"Idempotency-Key": "x" * 201})
    problem(r, 400)
    assert count_named(db, name) == 0


# ---------------------------------------------------------------- audit and history

def test_get_by_manager_writes_a_read_audit_row(api, users, make_customer, db):
    c = make_customer()
    assert api.get(cust_path(c["id"]), users["manager"]).status_code == 200
    sql = (f"SELECT count(*) FROM audit_log WHERE action = 'read' AND entity_id = '{c['id']}' "
           f"AND actor_id = '{users.ids['manager']}'")
    assert wait_for(lambda: db(sql) == "1"), "no read audit row within 3 s"
    row = db(f"SELECT actor_role || '|' || entity || '|' || customer_id FROM audit_log "
             f"WHERE action = 'read' AND entity_id = '{c['id']}' AND actor_id = '{users.ids['manager']}'")
    assert row == f"sales_manager|customer|{c['id']}"
    # A 304 is a read too.
    api.get(cust_path(c["id"]), users["manager"], headers={"If-None-Match": 'W/"1"'})
    assert wait_for(lambda: db(sql) == "2")
    # Reads are not part of the change history.
    h = api.get(cust_path(c["id"], "/history"), users["manager"]).json()
    assert all(e["action"] != "read" for e in h["items"])


def test_a_hidden_get_writes_no_read_row(api, users, make_customer, db):
    c = make_customer()
    problem(api.get(cust_path(c["id"]), users["sales2"]), 404)
    time.sleep(0.4)
    assert db(f"SELECT count(*) FROM audit_log WHERE action = 'read' AND entity_id = '{c['id']}' "
              f"AND actor_id = '{users.ids['sales2']}'") == "0"


def test_create_and_update_write_audit_rows_with_before_and_after(api, users, make_customer, db):
    c = make_customer()
    row = db(f"SELECT actor_id || '|' || actor_role || '|' || (before IS NULL) || '|' || (after->>'name') "
             f"FROM audit_log WHERE action = 'create' AND entity_id = '{c['id']}'")
    assert row == f"{users.ids['sales']}|sales|true|{c['name']}"
    new_name = c["name"] + "（更名）"
    r = api.patch(cust_path(c["id"]), users["sales"], {"name": new_name})
    assert r.status_code == 200
    row = db(f"SELECT (before->>'name') || '|' || (after->>'name') || '|' || request_id FROM audit_log "
             f"WHERE action = 'update' AND entity_id = '{c['id']}'")
    assert row == f"{c['name']}|{new_name}|{r.headers['X-Request-Id']}"

    h = api.get(cust_path(c["id"], "/history"), users["sales"])
    assert h.status_code == 200
    items = h.json()["items"]
    assert [e["action"] for e in items] == ["update", "create"]
    assert items[0]["before"]["name"] == c["name"] and items[0]["after"]["name"] == new_name
    assert items[0]["actor_id"] == users.ids["sales"] and items[0]["entity_id"] == c["id"]
    assert items[1]["after"]["name"] == c["name"]
    assert int(items[0]["id"]) > int(items[1]["id"])


def test_history_visibility_and_pagination(api, users, make_customer):
    c = make_customer()
    for i in range(4):
        assert api.patch(cust_path(c["id"]), users["sales"], {"notes": f"第{i}次"}).status_code == 200
    problem(api.get(cust_path(c["id"], "/history"), users["sales2"]), 404)
    for role in ("sales", "manager", "admin", "finance", "office", "erp"):
        r = api.get(cust_path(c["id"], "/history"), users[role])
        assert r.status_code == 200, (role, r.text)
        assert len(r.json()["items"]) == 5
    seen, cursor = [], None
    while True:
        q = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = api.get(cust_path(c["id"], "/history" + q), users["sales"]).json()
        seen += [e["id"] for e in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 5 and len(set(seen)) == 5
    assert seen == sorted(seen, key=int, reverse=True)
    problem(api.get(cust_path(c["id"], "/history?limit=0"), users["sales"]), 400)
    problem(api.get(cust_path(c["id"], "/history?cursor=bogus"), users["sales"]), 400)
    problem(api.get(cust_path(c["id"], "/history?action=update"), users["sales"]), 400)
    problem(api.get(cust_path(uuid.uuid4(), "/history"), users["manager"]), 404)
