"""Black-box API tests for contacts (operations contacts_* in api/openapi.yaml).

Contacts follow their customer's scope; every JSON response is validated against the
spec by the `api` fixture, and the tests assert on the bodies as well.
"""

import json
import threading
import time
import uuid

import pytest

from conftest import assert_invalid, problem, unique, walk_pages

ROLES = ["sales", "sales2", "manager", "finance", "office", "erp", "admin"]


# ---------------------------------------------------------------- helpers

def cpath(cid, contact_id=None, suffix=""):
    p = f"/v1/customers/{cid}/contacts"
    if contact_id is not None:
        p += f"/{contact_id}"
    return p + suffix


def count_contacts(db, name):
    return int(db(f"SELECT count(*) FROM contacts WHERE name = '{name}'"))


def list_all(api, token, cid, query="", limit=200):
    return walk_pages(api, cpath(cid), token, query, limit)


def wait_for(fn, timeout=3.0, interval=0.05):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v or time.time() > deadline:
            return v
        time.sleep(interval)


@pytest.fixture
def customer(make_customer):
    return make_customer()


@pytest.fixture
def make_contact(api, users):
    def make(cid, owner="sales", **fields):
        body = {"name": unique("联系人")}
        body.update(fields)
        r = api.post(cpath(cid), users[owner], body)
        assert r.status_code == 201, r.text
        return r.json()
    return make


# ---------------------------------------------------------------- create / get

def test_create_returns_201_location_etag_and_record(api, users, customer):
    body = {
        "name": "张伟",
        "title": "采购经理",
        "phone": "+86 571 8888 6666",
        "mobile": "138-0013-8000",
        "email": "zhang.wei@example.cn",
        "wechat_id": "zhangwei_1988",
        "decision_role": "decision_maker",
        "birthday": "1988-06-18",
        "company_anniversary": "2010-09-01",
        "preferences": "喜欢喝龙井茶，不吸烟",
        "notes": "周三下午方便拜访",
        "is_primary": True,
    }
    r = api.post(cpath(customer["id"]), users["sales"], body)
    assert r.status_code == 201, r.text
    c = r.json()
    assert r.headers["Location"] == cpath(customer["id"], c["id"])
    assert r.headers.get("ETag", 'W/"1"') == 'W/"1"'
    for k, v in body.items():
        assert c[k] == v, k
    assert c["customer_id"] == customer["id"]
    assert c["version"] == 1 and c["archived"] is False and c["archived_at"] is None
    assert c["created_at"].endswith("Z")

    g = api.get(r.headers["Location"], users["sales"])
    assert g.status_code == 200
    assert g.json() == c
    assert g.headers["ETag"] == 'W/"1"'


def test_create_minimal_defaults(api, users, customer, db):
    name = unique("李")
    r = api.post(cpath(customer["id"]), users["sales"], {"name": name})
    assert r.status_code == 201, r.text
    c = r.json()
    assert c["name"] == name and c["is_primary"] is False
    for k in ("title", "phone", "mobile", "email", "wechat_id", "decision_role", "birthday",
              "company_anniversary", "preferences", "notes"):
        assert c[k] is None, k
    assert db(f"SELECT customer_id FROM contacts WHERE id = '{c['id']}'") == customer["id"]


def test_chinese_text_round_trips_and_q_finds_it(api, users, customer, db):
    name = "欧阳锦绣"
    r = api.post(cpath(customer["id"]), users["sales"], {"name": name, "title": "总经理（董事长）",
                                                          "notes": "“重要”客户 ✓"})
    assert r.status_code == 201, r.text
    c = r.json()
    assert c["name"] == name and c["title"] == "总经理（董事长）" and c["notes"] == "“重要”客户 ✓"
    assert db(f"SELECT name FROM contacts WHERE id = '{c['id']}'") == name
    assert json.loads(api.get(cpath(customer["id"], c["id"]), users["sales"]).content.decode())["name"] == name
    other = api.post(cpath(customer["id"]), users["sales"], {"name": "王小明"}).json()
    ids = [x["id"] for x in list_all(api, users["sales"], customer["id"], "q=锦绣")]
    assert ids == [c["id"]]
    ids = [x["id"] for x in list_all(api, users["sales"], customer["id"], "q=小明")]
    assert ids == [other["id"]]
    assert list_all(api, users["sales"], customer["id"], "q=赵") == []


def test_manager_and_admin_manage_contacts_of_any_customer(api, users, make_customer):
    cust = make_customer(owner="sales2")
    for role in ("manager", "admin"):
        r = api.post(cpath(cust["id"]), users[role], {"name": unique(role)})
        assert r.status_code == 201, r.text
        c = r.json()
        r = api.patch(cpath(cust["id"], c["id"]), users[role], {"title": "经理"})
        assert r.status_code == 200 and r.json()["title"] == "经理" and r.json()["version"] == 2
        assert api.delete(cpath(cust["id"], c["id"]), users[role]).status_code == 204
        r = api.post(cpath(cust["id"], c["id"], "/restore"), users[role])
        assert r.status_code == 200 and r.json()["archived"] is False


# ---------------------------------------------------------------- validation

CREATE_INVALID = [
    ({"name": None}, "name"),
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "名" * 101}, "name"),
    ({"name": 5}, "name"),
    ({"title": "职" * 101}, "title"),
    ({"email": "zhang@"}, "email"),
    ({"email": "not an email"}, "email"),
    ({"phone": "phone-number"}, "phone"),
    ({"mobile": "1380013800a"}, "mobile"),
    ({"mobile": "1" * 31}, "mobile"),
    ({"wechat_id": "w" * 65}, "wechat_id"),
    ({"decision_role": "boss"}, "decision_role"),
    ({"birthday": "1990-13-01"}, "birthday"),
    ({"birthday": "18/06/1988"}, "birthday"),
    ({"company_anniversary": "2010-02-30"}, "company_anniversary"),
    ({"preferences": "好" * 2001}, "preferences"),
    ({"notes": "注" * 5001}, "notes"),
    ({"is_primary": "yes"}, "is_primary"),
    ({"is_primary": None}, "is_primary"),
    ({"is_primary": 1}, "is_primary"),
    ({"nickname": "老张"}, "nickname"),
    ({"id": "00000000-0000-4000-8000-000000000000"}, "id"),
    ({"customer_id": "00000000-0000-4000-8000-000000000000"}, "customer_id"),
    ({"version": 1}, "version"),
    ({"archived": False}, "archived"),
    ({"created_at": "2024-01-01T00:00:00Z"}, "created_at"),
]


@pytest.mark.parametrize("extra,field", CREATE_INVALID, ids=[f"{f}-{i}" for i, (_, f) in enumerate(CREATE_INVALID)])
def test_create_invalid_is_422_naming_the_field(api, users, customer, db, extra, field):
    marker = unique("无效")
    body = {"name": marker, **extra}
    r = api.post(cpath(customer["id"]), users["sales"], body)
    assert_invalid(r, field)
    assert int(db(f"SELECT count(*) FROM contacts WHERE customer_id = '{customer['id']}'")) == 0


def test_create_without_name_is_422(api, users, customer):
    body = assert_invalid(api.post(cpath(customer["id"]), users["sales"], {"title": "经理"}), "name")
    assert [e["field"] for e in body["errors"]] == ["name"]


def test_create_reports_every_invalid_field(api, users, customer):
    r = api.post(cpath(customer["id"]), users["sales"], {"email": "x", "birthday": "x", "foo": 1})
    body = assert_invalid(r, "email")
    assert {e["field"] for e in body["errors"]} == {"email", "birthday", "foo", "name"}


PATCH_INVALID = [
    ({"name": None}, "name"),
    ({"name": ""}, "name"),
    ({"name": "名" * 101}, "name"),
    ({"is_primary": None}, "is_primary"),
    ({"is_primary": "true"}, "is_primary"),
    ({"email": "@example.com"}, "email"),
    ({"decision_role": "chief"}, "decision_role"),
    ({"customer_id": "00000000-0000-4000-8000-000000000000"}, "customer_id"),
    ({"version": 3}, "version"),
    ({"archived": True}, "archived"),
    ({"updated_at": "2024-01-01T00:00:00Z"}, "updated_at"),
    ({"unknown": 1}, "unknown"),
]


@pytest.mark.parametrize("patch,field", PATCH_INVALID, ids=[f"{f}-{i}" for i, (_, f) in enumerate(PATCH_INVALID)])
def test_patch_invalid_is_422_and_changes_nothing(api, users, customer, make_contact, patch, field):
    c = make_contact(customer["id"], email="a@example.com")
    assert_invalid(api.patch(cpath(customer["id"], c["id"]), users["sales"], patch), field)
    assert api.get(cpath(customer["id"], c["id"]), users["sales"]).json() == c


@pytest.mark.parametrize("data,ctype,status", [
    (b'{"name": "x",', "application/json", 400),
    (b'{"name": "a", "name": "b"}', "application/json", 400),
    (b'{"name": "x"}', "text/plain", 415),
    (b'{"name": "x"}', None, 415),
    (b"", "application/json", 400),
])
def test_malformed_create_requests(api, users, customer, db, data, ctype, status):
    h = {"Content-Type": ctype} if ctype else {}
    r = api.call("POST", cpath(customer["id"]), users["sales"], data=data, headers=h)
    problem(r, status)
    assert int(db(f"SELECT count(*) FROM contacts WHERE customer_id = '{customer['id']}'")) == 0


def test_patch_accepts_merge_patch_json(api, users, customer, make_contact):
    c = make_contact(customer["id"], title="助理")
    r = api.call("PATCH", cpath(customer["id"], c["id"]), users["sales"],
                 data=json.dumps({"title": None, "mobile": "13900000000"}).encode(),
                 headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    assert r.json()["title"] is None and r.json()["mobile"] == "13900000000" and r.json()["version"] == 2


# ---------------------------------------------------------------- roles and scope

@pytest.mark.parametrize("role", ["finance", "office", "erp"])
def test_read_only_roles_may_not_write(api, users, customer, make_contact, db, role):
    c = make_contact(customer["id"])
    name = unique()
    body = problem(api.post(cpath(customer["id"]), users[role], {"name": name}), 403)
    assert body["type"].endswith("/forbidden")
    assert count_contacts(db, name) == 0
    problem(api.patch(cpath(customer["id"], c["id"]), users[role], {"title": "x"}), 403)
    problem(api.delete(cpath(customer["id"], c["id"]), users[role]), 403)
    problem(api.post(cpath(customer["id"], c["id"], "/restore"), users[role]), 403)
    assert api.get(cpath(customer["id"], c["id"]), users["sales"]).json() == c


@pytest.mark.parametrize("role", ROLES)
def test_get_and_list_for_every_role(api, users, customer, make_contact, role):
    c = make_contact(customer["id"])
    r = api.get(cpath(customer["id"], c["id"]), users[role])
    lr = api.get(cpath(customer["id"]), users[role])
    if role == "sales2":
        problem(r, 404)
        problem(lr, 404)
    else:
        assert r.status_code == 200 and r.json() == c
        assert lr.status_code == 200
        assert [x["id"] for x in lr.json()["items"]] == [c["id"]]


def test_invisible_customer_looks_like_a_missing_one(api, users, customer, make_contact):
    c = make_contact(customer["id"])
    missing = str(uuid.uuid4())
    calls = [
        ("GET", cpath(customer["id"]), cpath(missing), None),
        ("POST", cpath(customer["id"]), cpath(missing), {"name": "偷偷加"}),
        ("POST", cpath(customer["id"]), cpath(missing), {"name": ""}),
        ("GET", cpath(customer["id"], c["id"]), cpath(missing, c["id"]), None),
        ("PATCH", cpath(customer["id"], c["id"]), cpath(missing, c["id"]), {"title": "x"}),
        ("DELETE", cpath(customer["id"], c["id"]), cpath(missing, c["id"]), None),
        ("POST", cpath(customer["id"], c["id"], "/restore"), cpath(missing, c["id"], "/restore"), None),
    ]
    for method, hidden, absent, body in calls:
        b1 = problem(api.call(method, hidden, users["sales2"], json_body=body), 404)
        b2 = problem(api.call(method, absent, users["sales2"], json_body=body), 404)
        assert (b1["type"], b1["title"], b1.get("detail")) == (b2["type"], b2["title"], b2.get("detail")), method
        assert set(b1) == set(b2) and "errors" not in b1
    assert api.get(cpath(customer["id"], c["id"]), users["sales"]).json() == c
    assert [x["id"] for x in list_all(api, users["sales"], customer["id"])] == [c["id"]]


def test_contact_of_another_customer_is_404(api, users, make_customer, make_contact):
    a, b = make_customer(), make_customer()
    ca = make_contact(a["id"])
    for role in ("sales", "manager"):
        problem(api.get(cpath(b["id"], ca["id"]), users[role]), 404)
        problem(api.patch(cpath(b["id"], ca["id"]), users[role], {"title": "x"}), 404)
        problem(api.delete(cpath(b["id"], ca["id"]), users[role]), 404)
        problem(api.post(cpath(b["id"], ca["id"], "/restore"), users[role]), 404)
    assert api.get(cpath(a["id"], ca["id"]), users["sales"]).json() == ca
    for bad in (str(uuid.uuid4()), "not-a-uuid"):
        problem(api.get(cpath(a["id"], bad), users["sales"]), 404)
        problem(api.patch(cpath(a["id"], bad), users["sales"], {"title": "x"}), 404)
    problem(api.get(cpath("not-a-uuid"), users["manager"]), 404)


def test_contacts_follow_their_customer_when_reassigned(api, users, customer, make_contact):
    c = make_contact(customer["id"])
    r = api.patch(f"/v1/customers/{customer['id']}", users["manager"], {"owner_id": users.ids["sales2"]})
    assert r.status_code == 200, r.text
    problem(api.get(cpath(customer["id"], c["id"]), users["sales"]), 404)
    problem(api.get(cpath(customer["id"]), users["sales"]), 404)
    assert api.get(cpath(customer["id"], c["id"]), users["sales2"]).json()["id"] == c["id"]
    r = api.patch(cpath(customer["id"], c["id"]), users["sales2"], {"title": "新负责人跟进"})
    assert r.status_code == 200 and r.json()["title"] == "新负责人跟进"


# ---------------------------------------------------------------- single primary

def test_second_primary_contact_is_409(api, users, customer, make_contact, db):
    first = make_contact(customer["id"], is_primary=True)
    name = unique()
    r = api.post(cpath(customer["id"]), users["sales"], {"name": name, "is_primary": True})
    body = problem(r, 409)
    assert body["errors"][0]["field"] == "is_primary"
    assert count_contacts(db, name) == 0
    # Non-primary contacts are fine; promoting one while the first is primary is 409 too.
    second = make_contact(customer["id"])
    r = api.patch(cpath(customer["id"], second["id"]), users["sales"], {"is_primary": True})
    assert problem(r, 409)["errors"][0]["field"] == "is_primary"
    assert api.get(cpath(customer["id"], second["id"]), users["sales"]).json()["is_primary"] is False
    # Demote the first, then promote the second.
    assert api.patch(cpath(customer["id"], first["id"]), users["sales"], {"is_primary": False}).status_code == 200
    r = api.patch(cpath(customer["id"], second["id"]), users["sales"], {"is_primary": True})
    assert r.status_code == 200 and r.json()["is_primary"] is True
    # Another customer may have its own primary.
    other = api.post("/v1/customers", users["sales"], {"name": unique()}).json()
    assert make_contact(other["id"], is_primary=True)["is_primary"] is True


def test_archived_primary_frees_the_slot_and_cannot_come_back_beside_a_new_one(api, users, customer, make_contact):
    old = make_contact(customer["id"], is_primary=True)
    assert api.delete(cpath(customer["id"], old["id"]), users["sales"]).status_code == 204
    new = make_contact(customer["id"], is_primary=True)
    r = api.post(cpath(customer["id"], old["id"], "/restore"), users["sales"])
    assert problem(r, 409)["errors"][0]["field"] == "is_primary"
    got = api.get(cpath(customer["id"], old["id"]), users["sales"]).json()
    assert got["archived"] is True and got["is_primary"] is True
    assert api.get(cpath(customer["id"], new["id"]), users["sales"]).json()["is_primary"] is True


def test_concurrent_primary_creation_yields_one_primary(api, users, customer, db):
    n = 5
    results = [None] * n
    barrier = threading.Barrier(n)

    def worker(i):
        a = type(api)(api.server)
        barrier.wait()
        results[i] = a.post(cpath(customer["id"]), users["sales"], {"name": f"并发-{i}", "is_primary": True})

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(r.status_code for r in results)
    assert codes == [201] + [409] * (n - 1), [r.text for r in results]
    for r in results:
        if r.status_code == 409:
            assert r.json()["errors"][0]["field"] == "is_primary"
    assert db(f"SELECT count(*) FROM contacts WHERE customer_id = '{customer['id']}' AND is_primary") == "1"


# ---------------------------------------------------------------- archive / restore

def test_archive_and_restore(api, users, customer, make_contact, db):
    c = make_contact(customer["id"])
    keep = make_contact(customer["id"])
    r = api.delete(cpath(customer["id"], c["id"]), users["sales"])
    assert r.status_code == 204 and r.content == b""
    ids = [x["id"] for x in list_all(api, users["sales"], customer["id"])]
    assert ids == [keep["id"]]
    items = list_all(api, users["sales"], customer["id"], "include_archived=true")
    assert {x["id"] for x in items} == {c["id"], keep["id"]}
    assert [x["archived"] for x in items if x["id"] == c["id"]] == [True]
    g = api.get(cpath(customer["id"], c["id"]), users["sales"])
    assert g.status_code == 200
    assert g.json()["archived"] is True and g.json()["archived_at"] is not None and g.json()["version"] == 2
    assert db(f"SELECT count(*) FROM contacts WHERE id = '{c['id']}'") == "1"
    assert api.delete(cpath(customer["id"], c["id"]), users["sales"]).status_code == 204
    assert api.get(cpath(customer["id"], c["id"]), users["sales"]).json()["version"] == 2

    assert_invalid(api.post(cpath(customer["id"], c["id"], "/restore"), users["sales"], {"archived": False}),
                   "archived")
    r = api.post(cpath(customer["id"], c["id"], "/restore"), users["sales"], {})
    assert r.status_code == 200, r.text
    assert r.json()["archived"] is False and r.json()["archived_at"] is None and r.json()["version"] == 3
    assert {x["id"] for x in list_all(api, users["sales"], customer["id"])} == {c["id"], keep["id"]}
    body = problem(api.post(cpath(customer["id"], c["id"], "/restore"), users["sales"]), 409)
    assert "not archived" in body["detail"]
    problem(api.get(cpath(customer["id"]) + "?include_archived=maybe", users["sales"]), 400)


# ---------------------------------------------------------------- ETag / If-Match

def test_etag_if_none_match_and_if_match(api, users, customer, make_contact, db):
    c = make_contact(customer["id"], title="主管")
    p = cpath(customer["id"], c["id"])
    r = api.get(p, users["sales"], headers={"If-None-Match": 'W/"1"'})
    assert r.status_code == 304 and r.content == b"" and r.headers["ETag"] == 'W/"1"'
    assert api.get(p, users["sales"], headers={"If-None-Match": 'W/"9"'}).status_code == 200

    body = problem(api.patch(p, users["sales"], {"title": "失败"}, headers={"If-Match": 'W/"2"'}), 412)
    assert body["type"].endswith("/precondition-failed")
    assert api.get(p, users["sales"]).json() == c
    assert db(f"SELECT count(*) FROM audit_log WHERE entity = 'contact' AND entity_id = '{c['id']}' "
              f"AND action = 'update'") == "0"
    r = api.patch(p, users["sales"], {"title": "总监"}, headers={"If-Match": 'W/"1"'})
    assert r.status_code == 200, r.text
    assert r.json()["title"] == "总监" and r.json()["version"] == 2
    assert r.headers.get("ETag", 'W/"2"') == 'W/"2"'
    problem(api.patch(p, users["sales"], {"title": "x"}, headers={"If-Match": 'W/"1"'}), 412)
    problem(api.delete(p, users["sales"], headers={"If-Match": 'W/"1"'}), 412)
    assert api.get(p, users["sales"]).json()["archived"] is False
    assert api.get(p, users["sales"], headers={"If-None-Match": 'W/"1"'}).status_code == 200


def test_concurrent_patches_with_same_if_match(api, users, customer, make_contact):
    c = make_contact(customer["id"])
    p = cpath(customer["id"], c["id"])
    n = 6
    results = [None] * n
    barrier = threading.Barrier(n)

    def worker(i):
        a = type(api)(api.server)
        barrier.wait()
        results[i] = a.patch(p, users["sales"], {"notes": f"w{i}"}, headers={"If-Match": 'W/"1"'})

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status_code for r in results) == [200] + [412] * (n - 1)
    winner = next(i for i, r in enumerate(results) if r.status_code == 200)
    final = api.get(p, users["sales"]).json()
    assert final["notes"] == f"w{winner}" and final["version"] == 2


def test_patch_updates_clears_and_empty_patch(api, users, customer, make_contact):
    c = make_contact(customer["id"], email="a@example.com", wechat_id="wx1", decision_role="user")
    p = cpath(customer["id"], c["id"])
    r = api.patch(p, users["sales"], {"email": None, "decision_role": "influencer", "birthday": "1975-01-31"})
    assert r.status_code == 200, r.text
    u = r.json()
    assert u["email"] is None and u["decision_role"] == "influencer" and u["birthday"] == "1975-01-31"
    assert u["wechat_id"] == "wx1" and u["name"] == c["name"] and u["version"] == 2
    r = api.patch(p, users["sales"], {})
    assert r.status_code == 200 and r.json() == u


# ---------------------------------------------------------------- list

def test_list_order_q_and_pagination(api, users, customer, make_contact):
    tag = uuid.uuid4().hex[:6]
    names = [f"ct-{tag}-{x}" for x in "gcafdeb"]
    made = {}
    for n in names:
        made[n] = make_contact(customer["id"], name=n, is_primary=(n.endswith("-g")))
    expected = [made[f"ct-{tag}-g"]["id"]] + [made[n]["id"] for n in sorted(names) if not n.endswith("-g")]
    whole = api.get(cpath(customer["id"]) + "?limit=50", users["sales"]).json()
    assert [x["id"] for x in whole["items"]] == expected, "primary first, then by name"
    assert whole["next_cursor"] is None
    for limit, sizes in ((3, [3, 3, 1]), (2, [2, 2, 2, 1]), (7, [7]), (1, [1] * 7)):
        seen, cursor, got_sizes = [], None, []
        while True:
            q = f"?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
            body = api.get(cpath(customer["id"]) + q, users["sales"]).json()
            got_sizes.append(len(body["items"]))
            seen += [x["id"] for x in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert got_sizes == sizes, limit
        assert seen == expected, limit
    # Inserting between pages neither repeats nor skips the originals.
    body = api.get(cpath(customer["id"]) + "?limit=3", users["sales"]).json()
    seen = [x["id"] for x in body["items"]]
    make_contact(customer["id"], name=f"ct-{tag}-a0")
    make_contact(customer["id"], name=f"ct-{tag}-z")
    cursor = body["next_cursor"]
    while cursor:
        body = api.get(cpath(customer["id"]) + f"?limit=3&cursor={cursor}", users["sales"]).json()
        seen += [x["id"] for x in body["items"]]
        cursor = body["next_cursor"]
    assert len(seen) == len(set(seen)) and set(expected) <= set(seen)

    assert [x["name"] for x in list_all(api, users["sales"], customer["id"], f"q=CT-{tag.upper()}-B")] == \
        [f"ct-{tag}-b"]
    assert list_all(api, users["sales"], customer["id"], "q=%25") == []
    assert list_all(api, users["sales"], customer["id"], "q=_") == []


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=abc", "cursor=bogus", "q=", "sort=name",
                                   "include_archived=1", "status=active", "q=" + "名" * 101])
def test_bad_list_query_is_400(api, users, customer, query):
    body = problem(api.get(cpath(customer["id"]) + "?" + query, users["sales"]), 400)
    assert body["type"].endswith("/bad-request")


def test_cursor_from_another_list_is_400(api, users, customer, make_contact):
    for _ in range(3):
        make_contact(customer["id"])
    cur = api.get(cpath(customer["id"]) + "?limit=1", users["sales"]).json()["next_cursor"]
    assert cur
    assert api.get(cpath(customer["id"]) + f"?limit=1&cursor={cur}", users["sales"]).status_code == 200
    problem(api.get(f"/v1/customers?cursor={cur}", users["sales"]), 400)
    ccur = api.get("/v1/customers?limit=1", users["sales"]).json()["next_cursor"]
    assert ccur
    problem(api.get(cpath(customer["id"]) + f"?cursor={ccur}", users["sales"]), 400)


# ---------------------------------------------------------------- idempotency and audit

def test_idempotency_key_on_contact_create(api, users, customer, db):
    key = uuid.uuid4().hex
    name = unique("幂等联系人")
    r1 = api.post(cpath(customer["id"]), users["sales"], {"name": name}, headers={"Idempotency-Key": key})
    r2 = api.post(cpath(customer["id"]), users["sales"], {"name": name}, headers={"Idempotency-Key": key})
    assert r1.status_code == r2.status_code == 201
    assert r1.json() == r2.json() and r1.headers["Location"] == r2.headers["Location"]
    assert count_contacts(db, name) == 1
    r3 = api.post(cpath(customer["id"]), users["sales"], {"name": name + "x"}, headers={"Idempotency-Key": key})
    problem(r3, 422)
    assert count_contacts(db, name + "x") == 0


def test_contact_changes_and_reads_are_audited(api, users, customer, make_contact, db):
    c = make_contact(customer["id"], title="旧职务")
    row = db(f"SELECT customer_id || '|' || actor_id || '|' || (after->>'title') FROM audit_log "
             f"WHERE entity = 'contact' AND action = 'create' AND entity_id = '{c['id']}'")
    assert row == f"{customer['id']}|{users.ids['sales']}|旧职务"
    assert api.patch(cpath(customer["id"], c["id"]), users["sales"], {"title": "新职务"}).status_code == 200
    row = db(f"SELECT (before->>'title') || '|' || (after->>'title') FROM audit_log "
             f"WHERE entity = 'contact' AND action = 'update' AND entity_id = '{c['id']}'")
    assert row == "旧职务|新职务"
    assert api.get(cpath(customer["id"], c["id"]), users["manager"]).status_code == 200
    sql = (f"SELECT count(*) FROM audit_log WHERE action = 'read' AND entity = 'contact' "
           f"AND entity_id = '{c['id']}' AND actor_id = '{users.ids['manager']}' AND customer_id = '{customer['id']}'")
    assert wait_for(lambda: db(sql) == "1")
    # Contact changes show in the customer's history.
    h = api.get(f"/v1/customers/{customer['id']}/history", users["sales"]).json()["items"]
    contact_entries = [(e["entity"], e["action"]) for e in h if e["entity_id"] == c["id"]]
    assert contact_entries == [("contact", "update"), ("contact", "create")]
