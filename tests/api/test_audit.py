"""GET /v1/audit: access, filters, pagination, content; batched read entries."""

import datetime
import json
import subprocess
import time
import uuid
from urllib.parse import quote

import pytest

from conftest import USER_PASSWORD


def audit(api, token, **params):
    qs = "&".join(f"{k}={quote(str(v), safe='')}" for k, v in params.items())
    r = api.get("/v1/audit" + (f"?{qs}" if qs else ""), token)
    assert r.status_code == 200, r.text
    return r.json()


def audit_all(api, token, limit=200, **params):
    items, cursor = [], None
    while True:
        p = dict(params, limit=limit)
        if cursor:
            p["cursor"] = cursor
        page = audit(api, token, **p)
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def _ts(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


def _fmt(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def trail(api, users):
    """Two customers of 'sales': A created and updated, B created; one customer of 'sales2'."""
    def mk(owner):
        r = api.post("/v1/customers", users[owner], {"name": f"审计客户-{uuid.uuid4().hex[:8]}"})
        assert r.status_code == 201, r.text
        return r.json()
    a, b, c = mk("sales"), mk("sales"), mk("sales2")
    r = api.patch(f"/v1/customers/{a['id']}", users["sales"], {"notes": "第一次更新"})
    assert r.status_code == 200, r.text
    return {"a": a, "b": b, "c": c}


# ---------------------------------------------------------------- access

@pytest.mark.parametrize("who", ["office", "admin"])
def test_office_and_admin_may_read(api, users, who):
    body = audit(api, users[who], limit=5)
    assert len(body["items"]) <= 5
    assert "next_cursor" in body


@pytest.mark.parametrize("who", ["sales", "sales2", "manager", "finance", "erp"])
def test_other_roles_get_403(api, users, who):
    r = api.get("/v1/audit", users[who])
    assert r.status_code == 403
    p = r.json()
    assert p["type"].endswith("/forbidden") and p["status"] == 403
    assert "items" not in p


def test_anonymous_gets_401(api):
    r = api.get("/v1/audit")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


# ---------------------------------------------------------------- filters

def test_filter_entity_id_and_action(api, users, trail):
    a = trail["a"]
    rows = audit_all(api, users["office"], entity="customer", entity_id=a["id"])
    assert rows, "no audit rows for the customer"
    assert all(r["entity"] == "customer" and r["entity_id"] == a["id"] for r in rows)
    actions = [r["action"] for r in rows]
    assert "create" in actions and "update" in actions
    assert actions.index("update") < actions.index("create")      # newest first

    created = audit(api, users["office"], entity_id=a["id"], action="create")["items"]
    assert len(created) == 1
    row = created[0]
    assert row["actor_id"] == users.ids["sales"]
    assert row["actor_role"] == "sales"
    assert row["customer_id"] == a["id"]
    assert row["before"] is None
    assert row["after"]["name"] == a["name"]
    assert row["request_id"]

    updated = audit(api, users["office"], entity_id=a["id"], action="update")["items"]
    assert len(updated) == 1
    assert updated[0]["before"]["notes"] in (None, "")
    assert updated[0]["after"]["notes"] == "第一次更新"


def test_filter_customer_id(api, users, trail):
    for key in ("a", "b"):
        cid = trail[key]["id"]
        rows = audit_all(api, users["admin"], customer_id=cid)
        assert rows
        assert all(r["customer_id"] == cid for r in rows)
    assert audit(api, users["admin"], customer_id=str(uuid.uuid4()))["items"] == []


def test_filter_actor_id(api, users, trail):
    rows = audit_all(api, users["office"], actor_id=users.ids["sales2"], entity="customer")
    assert any(r["entity_id"] == trail["c"]["id"] for r in rows)
    assert all(r["actor_id"] == users.ids["sales2"] for r in rows)
    assert not any(r["entity_id"] in (trail["a"]["id"], trail["b"]["id"]) for r in rows)


def test_entity_id_filter_finds_customer_rows_by_customer_and_others_by_entity(api, users, trail):
    """Rows about customers are found through customer_id (migration 0011); the
    answers are the same as matching entity and entity_id literally."""
    a = trail["a"]
    r = api.post(f"/v1/customers/{a['id']}/contacts", users["sales"], {"name": "审计联系人"})
    assert r.status_code == 201, r.text
    contact = r.json()["id"]
    office = users["office"]

    of_a = audit_all(api, office, entity_id=a["id"])
    assert {"create", "update"} <= {x["action"] for x in of_a}
    assert all(x["entity"] == "customer" and x["entity_id"] == a["id"] for x in of_a)
    # The contact's own rows carry the customer's id but are not the customer's.
    assert audit_all(api, office, entity="customer", entity_id=a["id"]) == of_a
    assert audit_all(api, office, entity="customer", entity_id=a["id"].upper()) == of_a

    of_contact = audit_all(api, office, entity_id=contact)
    assert [x["action"] for x in of_contact] == ["create"]
    assert of_contact[0]["entity"] == "contact" and of_contact[0]["customer_id"] == a["id"]
    assert audit_all(api, office, entity="contact", entity_id=contact) == of_contact
    assert audit_all(api, office, entity="customer", entity_id=contact) == []
    assert audit_all(api, office, entity="contact", entity_id=a["id"]) == []

    for params in ({"entity": "customer", "entity_id": "not-a-uuid"}, {"entity": "contact", "entity_id": "x"},
                   {"entity_id": "not-a-uuid"}):
        assert audit(api, office, **params)["items"] == []
    users_rows = audit_all(api, office, entity="user", entity_id=users.ids["erp"])
    assert users_rows and all(x["entity"] == "user" and x["entity_id"] == users.ids["erp"] for x in users_rows)
    assert audit_all(api, office, entity_id=users.ids["erp"]) == users_rows


def test_filter_entity(api, users, trail):
    rows = audit(api, users["office"], entity="user", limit=100)["items"]
    assert rows and all(r["entity"] == "user" for r in rows)
    rows = audit(api, users["office"], entity="customer", limit=100)["items"]
    assert rows and all(r["entity"] == "customer" for r in rows)


def test_filter_action_login(api, users):
    api.login("t-erp", USER_PASSWORD)
    rows = audit(api, users["office"], action="login", actor_id=users.ids["erp"])["items"]
    assert rows
    for r in rows:
        assert r["action"] == "login" and r["entity"] == "user"
        assert r["entity_id"] == users.ids["erp"] and r["actor_role"] == "erp"


def test_filter_from_to(api, users, trail):
    b = trail["b"]
    row = audit(api, users["office"], entity_id=b["id"], action="create")["items"][0]
    at = _ts(row["at"])   # whole seconds; the stored instant is at or after this
    one = lambda **p: audit(api, users["office"], entity_id=b["id"], action="create", **p)["items"]  # noqa: E731
    assert [r["id"] for r in one(**{"from": _fmt(at)})] == [row["id"]]
    assert one(**{"from": _fmt(at + datetime.timedelta(seconds=1))}) == []
    assert one(to=_fmt(at)) == []                                   # "to" is exclusive
    assert [r["id"] for r in one(to=_fmt(at + datetime.timedelta(seconds=1)))] == [row["id"]]
    # Offsets other than Z are understood.
    cst = at.astimezone(datetime.timezone(datetime.timedelta(hours=8)))
    assert [r["id"] for r in one(**{"from": cst.strftime("%Y-%m-%dT%H:%M:%S+08:00")})] == [row["id"]]
    # A window: everything returned lies inside it.
    lo, hi = at - datetime.timedelta(minutes=5), at + datetime.timedelta(seconds=1)
    rows = audit(api, users["office"], **{"from": _fmt(lo), "to": _fmt(hi)}, limit=200)["items"]
    assert rows
    for r in rows:
        assert lo <= _ts(r["at"]) < hi + datetime.timedelta(seconds=1)


def test_filters_combine(api, users, trail):
    a = trail["a"]
    rows = audit(api, users["office"], entity="customer", entity_id=a["id"], customer_id=a["id"],
                 actor_id=users.ids["sales"], action="update")["items"]
    assert len(rows) == 1
    rows = audit(api, users["office"], entity_id=a["id"], actor_id=users.ids["sales2"])["items"]
    assert rows == []


@pytest.mark.parametrize("qs", ["actor_id=nope", "customer_id=123", "from=yesterday", "to=2026-13-01T00:00:00Z",
                                "from=2026-01-01", "limit=0", "limit=500", "cursor=abc", "sort=at", "page=2"])
def test_bad_filters_are_400(api, users, qs):
    r = api.get(f"/v1/audit?{qs}", users["office"])
    assert r.status_code == 400, r.text
    assert r.json()["status"] == 400


@pytest.mark.parametrize("qs", ["entity=planet", "action=explode"])
def test_unknown_enum_filter_is_400(api, users, qs):
    r = api.get(f"/v1/audit?{qs}", users["office"])
    assert r.status_code == 400, r.text
    assert qs.split("=")[0] in r.json()["detail"]


def test_forged_cursor_is_400(api, users):
    import base64
    raw = base64.urlsafe_b64encode(b'["audit","","12x"]').rstrip(b"=").decode()
    r = api.get(f"/v1/audit?cursor={raw}", users["office"])
    assert r.status_code == 400, r.text


# ---------------------------------------------------------------- pagination

def test_pagination_is_stable_and_complete(api, users, trail):
    full = audit(api, users["admin"], limit=60)["items"]
    assert len(full) >= 10
    ids = [int(r["id"]) for r in full]
    assert ids == sorted(ids, reverse=True)      # newest first, no duplicates
    paged, cursor = [], None
    while len(paged) < len(full):
        params = {"limit": 7}
        if cursor:
            params["cursor"] = cursor
        page = audit(api, users["admin"], **params)
        assert len(page["items"]) <= 7
        paged += page["items"]
        cursor = page["next_cursor"]
        if len(paged) < len(full):
            assert cursor
        # New entries written meanwhile (login rows, reads) never shift the pages.
        api.login("t-office", USER_PASSWORD)
    assert [r["id"] for r in paged[:len(full)]] == [r["id"] for r in full]


def test_last_page_has_null_cursor(api, users, trail):
    rows = audit_all(api, users["office"], limit=1, entity_id=trail["a"]["id"], action="create")
    assert len(rows) == 1
    page = audit(api, users["office"], entity_id=trail["a"]["id"], limit=1)
    assert page["next_cursor"] is not None
    assert audit(api, users["office"], entity_id=trail["a"]["id"], limit=200)["next_cursor"] is None


# ---------------------------------------------------------------- content

def test_rows_never_contain_password_hashes(api, users, db):
    # Make sure user changes with passwords are in the trail.
    name = f"t-audit-{uuid.uuid4().hex[:8]}"
    r = api.post("/v1/users", users.admin, {"username": name, "display_name": "审计", "role": "office",
                                            "password": USER_PASSWORD})
    assert r.status_code == 201
    uid = r.json()["id"]
    assert api.patch(f"/v1/users/{uid}", users.admin, {"password": "another-password-456"}).status_code == 200
    assert api.delete(f"/v1/users/{uid}", users.admin).status_code == 204
    rows = audit_all(api, users["admin"], entity="user")
    assert {"create", "update", "deactivate"} <= {r["action"] for r in rows if r["entity_id"] == uid}
    text = json.dumps(rows, ensure_ascii=False)
    assert "pbkdf2" not in text
    assert "password" not in text.lower()
    assert USER_PASSWORD not in text and "another-password-456" not in text
    # And in the table itself.
    assert db("SELECT count(*) FROM audit_log WHERE coalesce(before::text, '') || coalesce(after::text, '') "
              "ILIKE ANY (ARRAY['%pbkdf2%', '%password%'])") == "0"


def test_audit_log_is_append_only(db):
    with pytest.raises(subprocess.CalledProcessError):
        db("UPDATE audit_log SET action = 'forged' WHERE id = (SELECT max(id) FROM audit_log)")
    with pytest.raises(subprocess.CalledProcessError):
        db("DELETE FROM audit_log WHERE id = (SELECT max(id) FROM audit_log)")


def test_customer_read_by_manager_is_audited(api, users, trail):
    cid = trail["b"]["id"]
    rid = f"audit-read-{uuid.uuid4().hex[:12]}"
    r = api.get(f"/v1/customers/{cid}", users["manager"], headers={"X-Request-Id": rid})
    assert r.status_code == 200
    deadline = time.time() + 3.0
    rows = []
    while time.time() < deadline:
        rows = [x for x in audit(api, users["office"], entity_id=cid, action="read", limit=50)["items"]
                if x["request_id"] == rid]
        if rows:
            break
        time.sleep(0.1)
    assert len(rows) == 1, "the read did not reach the audit trail within 3 s"
    row = rows[0]
    assert row["action"] == "read" and row["entity"] == "customer"
    assert row["actor_id"] == users.ids["manager"]
    assert row["actor_role"] == "sales_manager"
    assert row["customer_id"] == cid
    assert row["before"] is None and row["after"] is None
    # Reads are filterable by actor like anything else.
    mine = audit(api, users["office"], actor_id=users.ids["manager"], action="read", limit=200)["items"]
    assert any(x["request_id"] == rid for x in mine)


def test_many_reads_are_all_recorded(api, users, trail):
    cid = trail["a"]["id"]
    tag = uuid.uuid4().hex[:10]
    rids = {f"bulk-{tag}-{i:03d}" for i in range(30)}
    for rid in rids:
        assert api.get(f"/v1/customers/{cid}", users["sales"], headers={"X-Request-Id": rid}).status_code == 200
    deadline = time.time() + 5.0
    found = set()
    while time.time() < deadline:
        rows = audit(api, users["office"], entity_id=cid, action="read", actor_id=users.ids["sales"],
                     limit=200)["items"]
        found = {x["request_id"] for x in rows} & rids
        if found == rids:
            break
        time.sleep(0.1)
    assert found == rids


def test_audit_listing_itself_is_not_a_customer_read(api, users, trail):
    cid = trail["c"]["id"]
    before = len(audit_all(api, users["office"], entity_id=cid, action="read"))
    for _ in range(3):
        audit(api, users["office"], customer_id=cid)
    time.sleep(0.4)
    assert len(audit_all(api, users["office"], entity_id=cid, action="read")) == before
