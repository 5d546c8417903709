"""Black-box API tests for follow-up items (operations follow_ups_* in api/openapi.yaml).

A follow-up is raised from a source record (a visit or an interaction; the rows are
written with the db fixture, independent of those resources' handlers) and belongs to
the source's customer. The customer side (owner, sales_manager, office, admin) manages
it; the responsible user may see, start and complete it without owning the customer.
Every JSON response is validated against the spec by the `api` fixture.
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
BASE = "/v1/follow-ups"


# ---------------------------------------------------------------- helpers

def message_of(body, field):
    return next(e["message"] for e in body["errors"] if e["field"] == field)


def fpath(fid=None, suffix=""):
    return BASE + (f"/{fid}" if fid is not None else "") + suffix


def day(offset):
    """A date relative to today (tests keep a margin of days around the business-time zone)."""
    return (datetime.date.today() + datetime.timedelta(days=offset)).isoformat()


def wait_for(fn, timeout=3.0, interval=0.05):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v or time.time() > deadline:
            return v
        time.sleep(interval)


def list_ids(api, token, query="", limit=200):
    return [x["id"] for x in walk_pages(api, BASE, token, query, limit)]


def count_follow_ups(db, description):
    return int(db(f"SELECT count(*) FROM follow_ups WHERE description = '{description}'"))


@pytest.fixture
def customer(make_customer):
    return make_customer()


# The columns a source row needs besides customer_id, author_id and archived_at.
SOURCE_ROWS = {
    "visits": ("visited_at", "now() - interval '1 day'"),
    "interactions": ("channel, occurred_at, summary", "'phone', now() - interval '2 hours', '电话回访'"),
}


@pytest.fixture
def make_source(db, users):
    """Writes a source row straight into the database (independent of its resource's handlers)."""
    def make(table, cid, author="sales", archived=False):
        cols, values = SOURCE_ROWS[table]
        return db(f"INSERT INTO {table} (customer_id, author_id, archived_at, {cols}) VALUES ('{cid}', "
                  f"'{users.ids[author]}', {'now()' if archived else 'NULL'}, {values}) RETURNING id")
    return make


@pytest.fixture
def make_visit(make_source):
    return lambda cid, **kw: make_source("visits", cid, **kw)


@pytest.fixture
def make_interaction(make_source):
    return lambda cid, **kw: make_source("interactions", cid, **kw)


@pytest.fixture
def visit(customer, make_visit):
    return make_visit(customer["id"])


@pytest.fixture
def make_fu(api, users, make_visit):
    """Creates a follow-up (from a new visit of cid unless source_id is given) as `token`."""
    def make(cid, token="sales", **fields):
        body = {"source_type": "visit", "description": unique("跟进事项"), "due_date": day(14)}
        body.update(fields)
        if "source_id" not in body:
            body["source_id"] = make_visit(cid)
        r = api.post(BASE, users[token], body)
        assert r.status_code == 201, r.text
        return r.json()
    return make


# ---------------------------------------------------------------- create / get

def test_create_returns_201_location_etag_and_document(api, users, customer, visit, db):
    body = {
        "source_type": "visit",
        "source_id": visit,
        "description": "提供新款色卡并确认交期",
        "responsible_department": "技术部",
        "responsible_user_id": users.ids["sales2"],
        "due_date": day(10),
    }
    r = api.post(BASE, users["sales"], body)
    assert r.status_code == 201, r.text
    f = r.json()
    assert r.headers["Location"] == fpath(f["id"])
    assert r.headers["ETag"] == 'W/"1"'
    for k, v in body.items():
        assert f[k] == v, k
    assert f["customer_id"] == customer["id"]
    assert f["status"] == "open" and f["outcome"] is None and f["overdue"] is False
    assert f["started_at"] is None and f["done_at"] is None and f["verified_at"] is None and f["verified_by"] is None
    assert f["created_by"] == users.ids["sales"]
    assert f["archived"] is False and f["archived_at"] is None and f["version"] == 1
    assert f["created_at"].endswith("Z") and f["updated_at"].endswith("Z")
    g = api.get(r.headers["Location"], users["sales"])
    assert g.status_code == 200 and g.json() == f and g.headers["ETag"] == 'W/"1"'
    assert db(f"SELECT customer_id || '|' || source_type || '|' || source_id FROM follow_ups WHERE id = '{f['id']}'") \
        == f"{customer['id']}|visit|{visit}"


def test_create_from_an_interaction_minimal(api, users, customer, make_interaction):
    src = make_interaction(customer["id"])
    r = api.post(BASE, users["sales"], {"source_type": "interaction", "source_id": src.upper(),
                                        "description": "  寄送样品  ", "due_date": day(3)})
    assert r.status_code == 201, r.text
    f = r.json()
    assert f["source_type"] == "interaction" and f["source_id"] == src and f["customer_id"] == customer["id"]
    assert f["description"] == "寄送样品"
    assert f["responsible_department"] is None and f["responsible_user_id"] is None


def test_due_date_today_is_accepted(api, users, customer, visit, db):
    today = db("SET LOCAL crm.timezone = 'Asia/Shanghai'; SELECT crm_today()").splitlines()[-1]
    r = api.post(BASE, users["sales"], {"source_type": "visit", "source_id": visit, "description": unique(),
                                        "due_date": today})
    assert r.status_code == 201, r.text
    assert r.json()["due_date"] == today and r.json()["overdue"] is False


@pytest.mark.parametrize("role", ["sales", "manager", "office", "admin"])
def test_customer_side_roles_create(api, users, customer, visit, role):
    r = api.post(BASE, users[role], {"source_type": "visit", "source_id": visit, "description": unique(),
                                     "due_date": day(5)})
    assert r.status_code == 201, r.text
    assert r.json()["created_by"] == users.ids[role] and r.json()["customer_id"] == customer["id"]


@pytest.mark.parametrize("role", ["finance", "erp"])
def test_finance_and_erp_may_not_create(api, users, visit, db, role):
    d = unique()
    body = problem(api.post(BASE, users[role], {"source_type": "visit", "source_id": visit, "description": d,
                                               "due_date": day(5)}), 403)
    assert body["type"].endswith("/forbidden")
    assert count_follow_ups(db, d) == 0


CREATE_INVALID = [
    ({"description": None}, "description"),
    ({"description": ""}, "description"),
    ({"description": "   "}, "description"),
    ({"description": "述" * 2001}, "description"),
    ({"description": 7}, "description"),
    ({"due_date": None}, "due_date"),
    ({"due_date": "2030-02-30"}, "due_date"),
    ({"due_date": "30/01/2030"}, "due_date"),
    ({"due_date": day(-2)}, "due_date"),
    ({"source_type": "meeting"}, "source_type"),
    ({"source_type": None}, "source_type"),
    ({"source_type": "complaint"}, "source_id"),  # the visit's id names no complaint
    ({"source_type": "survey"}, "source_type"),
    ({"source_id": "not-a-uuid"}, "source_id"),
    ({"source_id": None}, "source_id"),
    ({"source_id": "00000000-0000-4000-8000-000000000000"}, "source_id"),
    ({"responsible_department": "部" * 101}, "responsible_department"),
    ({"responsible_user_id": "nobody"}, "responsible_user_id"),
    ({"responsible_user_id": "00000000-0000-4000-8000-000000000000"}, "responsible_user_id"),
    ({"id": "00000000-0000-4000-8000-000000000000"}, "id"),
    ({"customer_id": "00000000-0000-4000-8000-000000000000"}, "customer_id"),
    ({"status": "done"}, "status"),
    ({"outcome": "已完成"}, "outcome"),
    ({"overdue": False}, "overdue"),
    ({"created_by": "00000000-0000-4000-8000-000000000000"}, "created_by"),
    ({"verified_by": "00000000-0000-4000-8000-000000000000"}, "verified_by"),
    ({"version": 1}, "version"),
    ({"archived": False}, "archived"),
    ({"priority": "high"}, "priority"),
]


@pytest.mark.parametrize("extra,field", CREATE_INVALID, ids=[f"{f}-{i}" for i, (_, f) in enumerate(CREATE_INVALID)])
def test_create_invalid_is_422_naming_the_field(api, users, visit, db, extra, field):
    d = unique("无效")
    body = {"source_type": "visit", "source_id": visit, "description": d, "due_date": day(5), **extra}
    assert_invalid(api.post(BASE, users["sales"], body), field)
    assert int(db(f"SELECT count(*) FROM follow_ups WHERE source_id = '{visit}'")) == 0


def test_create_reports_every_invalid_field(api, users, visit):
    r = api.post(BASE, users["sales"], {"source_type": "visit", "source_id": "00000000-0000-4000-8000-000000000000",
                                        "responsible_user_id": users.ids["erp"], "due_date": day(-3), "foo": 1})
    body = assert_invalid(r, "source_id")
    assert {e["field"] for e in body["errors"]} == {"source_id", "responsible_user_id", "due_date", "foo",
                                                     "description"}
    assert message_of(body, "source_id") == "no such source"
    assert "today" in message_of(body, "due_date")
    assert {e["field"] for e in assert_invalid(api.post(BASE, users["sales"], {}), "source_type")["errors"]} == \
        {"source_type", "source_id", "description", "due_date"}


def test_survey_sources_are_for_that_resource(api, users, customer, visit):
    for kind in ("survey",):
        body = assert_invalid(api.post(BASE, users["manager"], {"source_type": kind, "source_id": visit,
                                                                "description": "x", "due_date": day(2)}),
                              "source_type")
        msg = message_of(body, "source_type")
        assert f"{kind}s resource" in msg, msg
        assert [e["field"] for e in body["errors"]] == ["source_type"]


@pytest.mark.parametrize("role", ["erp", "inactive"])
def test_responsible_user_must_be_active_and_not_erp(api, users, visit, db, role):
    uid = users.ids["erp"]
    if role == "inactive":
        r = api.post("/v1/users", users["admin"], {"username": f"t-gone-{uuid.uuid4().hex[:8]}",
                                                   "display_name": "离职员工", "role": "sales",
                                                   "password": "user-password-for-tests"})
        assert r.status_code == 201, r.text
        uid = r.json()["id"]
        db(f"UPDATE users SET active = false WHERE id = '{uid}'")
    body = assert_invalid(api.post(BASE, users["sales"], {"source_type": "visit", "source_id": visit,
                                                          "description": "x", "due_date": day(2),
                                                          "responsible_user_id": uid}), "responsible_user_id")
    assert "active" in message_of(body, "responsible_user_id")


@pytest.mark.parametrize("role", ["sales", "sales2", "manager", "finance", "office", "admin"])
def test_any_role_but_erp_may_be_responsible(api, users, customer, make_fu, role):
    f = make_fu(customer["id"], token="manager", responsible_user_id=users.ids[role])
    assert f["responsible_user_id"] == users.ids[role]


def test_source_rules_missing_archived_out_of_scope_and_wrong_type(api, users, customer, make_customer, make_visit,
                                                                   make_interaction, db):
    other = make_customer(owner="sales2")
    archived_visit = make_visit(customer["id"], archived=True)
    others_visit = make_visit(other["id"], author="sales2")
    interaction = make_interaction(customer["id"])
    cases = [
        ("visit", str(uuid.uuid4())),       # missing
        ("visit", archived_visit),          # archived
        ("visit", others_visit),            # another rep's customer
        ("visit", interaction),             # an interaction named as a visit
        ("interaction", make_interaction(customer["id"], archived=True)),
        ("interaction", make_interaction(other["id"], author="sales2")),
    ]
    bodies = []
    for kind, sid in cases:
        d = unique()
        body = assert_invalid(api.post(BASE, users["sales"], {"source_type": kind, "source_id": sid,
                                                              "description": d, "due_date": day(4)}), "source_id")
        bodies.append((body["detail"], body["errors"]))
        assert count_follow_ups(db, d) == 0
    assert all(b == bodies[0] for b in bodies), "missing and out-of-scope sources look alike"
    assert bodies[0][1] == [{"field": "source_id", "message": "no such source"}]
    # The manager sees every customer: the other rep's visit is fine for them.
    r = api.post(BASE, users["manager"], {"source_type": "visit", "source_id": others_visit, "description": "x",
                                          "due_date": day(4)})
    assert r.status_code == 201 and r.json()["customer_id"] == other["id"]


@pytest.mark.parametrize("data,ctype,status", [
    (b'{"description": "x",', "application/json", 400),
    (b'{"description": "a", "description": "b"}', "application/json", 400),
    (b'{"description": "x"}', "text/plain", 415),
    (b"", "application/json", 400),
    (b"[]", "application/json", 422),
])
def test_malformed_create_requests(api, users, db, data, ctype, status):
    before = db("SELECT count(*) FROM follow_ups")
    problem(api.call("POST", BASE, users["sales"], data=data, headers={"Content-Type": ctype}), status)
    assert db("SELECT count(*) FROM follow_ups") == before


# ---------------------------------------------------------------- visibility and roles

@pytest.fixture
def trio(customer, make_fu, users):
    """Three items of sales's customer: sales2 responsible, finance responsible, nobody responsible."""
    return {
        "sales2": make_fu(customer["id"], responsible_user_id=users.ids["sales2"]),
        "finance": make_fu(customer["id"], responsible_user_id=users.ids["finance"]),
        "none": make_fu(customer["id"]),
    }


@pytest.mark.parametrize("role", ROLES)
def test_get_and_list_visibility_for_every_role(api, users, customer, trio, role):
    expected = {
        "sales": {"sales2", "finance", "none"},
        "sales2": {"sales2"},
        "finance": {"finance"},
        "manager": {"sales2", "finance", "none"},
        "office": {"sales2", "finance", "none"},
        "admin": {"sales2", "finance", "none"},
        "erp": None,
    }[role]
    for key, f in trio.items():
        r = api.get(fpath(f["id"]), users[role])
        if expected is None:
            problem(r, 403)
        elif key in expected:
            assert r.status_code == 200 and r.json() == f, (key, r.text)
        else:
            body = problem(r, 404)
            assert "errors" not in body
    lr = api.get(BASE + f"?customer_id={customer['id']}", users[role])
    if expected is None:
        problem(lr, 403)
    else:
        assert lr.status_code == 200
        assert {x["id"] for x in lr.json()["items"]} == {trio[k]["id"] for k in expected}


def test_sales2_items_of_their_own_customers_and_responsible_ones_in_one_list(api, users, customer, make_customer,
                                                                               make_fu):
    own = make_customer(owner="sales2")
    mine = make_fu(own["id"], token="sales2")
    resp = make_fu(customer["id"], responsible_user_id=users.ids["sales2"])
    hidden = make_fu(customer["id"])
    ids = set(list_ids(api, users["sales2"]))
    assert {mine["id"], resp["id"]} <= ids and hidden["id"] not in ids
    ids_sales = set(list_ids(api, users["sales"]))
    assert {resp["id"], hidden["id"]} <= ids_sales and mine["id"] not in ids_sales


def test_responsible_sales_rep_works_the_item_but_not_the_customer_side(api, users, trio, db):
    f = trio["sales2"]
    t = users["sales2"]
    r = api.post(fpath(f["id"], "/start"), t)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "in_progress" and r.json()["started_at"] is not None
    r = api.post(fpath(f["id"], "/complete"), t, {"outcome": "已寄送色卡，客户确认收到"})
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "done" and done["outcome"] == "已寄送色卡，客户确认收到" and done["version"] == 3
    for method, suffix, body in [("POST", "/verify", None), ("POST", "/reopen", None),
                                 ("PATCH", "", {"description": "改"}), ("DELETE", "", None),
                                 ("POST", "/restore", None)]:
        b = problem(api.call(method, fpath(f["id"], suffix), t, json_body=body), 403)
        assert b["type"].endswith("/forbidden")
        assert "responsible user may start and complete" in b["detail"], b
    assert api.get(fpath(f["id"]), users["sales"]).json() == done
    # The owner verifies it with the customer.
    r = api.post(fpath(f["id"], "/verify"), users["sales"])
    assert r.status_code == 200 and r.json()["status"] == "verified"
    assert r.json()["verified_by"] == users.ids["sales"]
    # An item sales2 is not responsible for is 404 everywhere, like a missing one.
    other = trio["none"]
    for method, suffix, body in [("GET", "", None), ("POST", "/start", None), ("POST", "/complete", {"outcome": "x"}),
                                 ("POST", "/verify", None), ("PATCH", "", {"description": "x"}),
                                 ("DELETE", "", None), ("POST", "/restore", None), ("POST", "/reopen", None)]:
        b1 = problem(api.call(method, fpath(other["id"], suffix), t, json_body=body), 404)
        b2 = problem(api.call(method, fpath(str(uuid.uuid4()), suffix), t, json_body=body), 404)
        assert (b1["type"], b1["title"], b1.get("detail")) == (b2["type"], b2["title"], b2.get("detail"))
        assert set(b1) == set(b2)
    assert api.get(fpath(other["id"]), users["sales"]).json() == other


def test_finance_responsible_starts_and_completes(api, users, trio):
    f = trio["finance"]
    t = users["finance"]
    assert api.post(fpath(f["id"], "/start"), t, {}).json()["status"] == "in_progress"
    r = api.post(fpath(f["id"], "/complete"), t, {"outcome": "已核对对账单"})
    assert r.status_code == 200 and r.json()["status"] == "done"
    # Router-level: finance may not use the customer-side operations at all.
    for method, suffix, body in [("POST", "/verify", None), ("POST", "/reopen", None),
                                 ("PATCH", "", {"description": "x"}), ("DELETE", "", None),
                                 ("POST", "/restore", None)]:
        assert "your role" in problem(api.call(method, fpath(f["id"], suffix), t, json_body=body), 403)["detail"]
    for suffix, body in (("/start", None), ("/complete", {"outcome": "x"})):
        problem(api.post(fpath(trio["none"]["id"], suffix), t, body), 404)
    assert api.get(fpath(trio["none"]["id"]), users["manager"]).json()["status"] == "open"


@pytest.mark.parametrize("role", ["manager", "office", "admin"])
def test_customer_side_roles_run_the_whole_workflow(api, users, customer, make_fu, role):
    t = users[role]
    f = make_fu(customer["id"], token=role)
    assert api.patch(fpath(f["id"]), t, {"responsible_department": "质检部"}).json()["responsible_department"] == "质检部"
    assert api.post(fpath(f["id"], "/start"), t).json()["status"] == "in_progress"
    assert api.post(fpath(f["id"], "/complete"), t, {"outcome": "ok"}).json()["status"] == "done"
    assert api.post(fpath(f["id"], "/verify"), t).json()["verified_by"] == users.ids[role]
    assert api.post(fpath(f["id"], "/reopen"), t).json()["status"] == "in_progress"
    assert api.delete(fpath(f["id"]), t).status_code == 204
    assert api.post(fpath(f["id"], "/restore"), t).json()["archived"] is False


def test_erp_is_403_on_every_operation(api, users, trio):
    fid = trio["none"]["id"]
    for method, path, body in [("GET", BASE, None), ("POST", BASE, {"description": "x"}), ("GET", fpath(fid), None),
                               ("PATCH", fpath(fid), {"description": "x"}), ("DELETE", fpath(fid), None),
                               ("POST", fpath(fid, "/restore"), None), ("POST", fpath(fid, "/start"), None),
                               ("POST", fpath(fid, "/complete"), {"outcome": "x"}),
                               ("POST", fpath(fid, "/verify"), None), ("POST", fpath(fid, "/reopen"), None)]:
        problem(api.call(method, path, users["erp"], json_body=body), 403)
    assert api.get(fpath(fid), users["sales"]).json()["version"] == 1


def test_owner_change_moves_visibility_with_the_customer(api, users, customer, make_fu):
    f = make_fu(customer["id"])
    kept = make_fu(customer["id"], responsible_user_id=users.ids["sales"])
    r = api.patch(f"/v1/customers/{customer['id']}", users["manager"], {"owner_id": users.ids["sales2"]})
    assert r.status_code == 200, r.text
    problem(api.get(fpath(f["id"]), users["sales"]), 404)
    assert api.get(fpath(f["id"]), users["sales2"]).status_code == 200
    # sales is still responsible for the other one: may work it, but no longer verify it.
    assert api.post(fpath(kept["id"], "/complete"), users["sales"], {"outcome": "完成"}).status_code == 200
    problem(api.post(fpath(kept["id"], "/verify"), users["sales"]), 403)
    assert api.post(fpath(kept["id"], "/verify"), users["sales2"]).status_code == 200


def test_responsible_reassigned_away_loses_sight(api, users, customer, make_fu):
    f = make_fu(customer["id"], responsible_user_id=users.ids["sales2"])
    assert api.get(fpath(f["id"]), users["sales2"]).status_code == 200
    r = api.patch(fpath(f["id"]), users["sales"], {"responsible_user_id": None})
    assert r.status_code == 200 and r.json()["responsible_user_id"] is None
    problem(api.get(fpath(f["id"]), users["sales2"]), 404)
    problem(api.post(fpath(f["id"], "/start"), users["sales2"]), 404)


# ---------------------------------------------------------------- state machine

def test_full_state_machine_and_409s(api, users, customer, make_fu):
    t = users["sales"]
    f = make_fu(customer["id"])
    p = fpath(f["id"])

    def conflict(suffix, state, body=None):
        b = problem(api.post(p + suffix, t, body), 409)
        assert b["type"].endswith("/conflict")
        assert f"'{state}'" in b["detail"], b

    conflict("/verify", "open")
    conflict("/reopen", "open")
    r = api.post(p + "/start", t)
    assert r.status_code == 200 and r.json()["status"] == "in_progress" and r.headers["ETag"] == 'W/"2"'
    started_at = r.json()["started_at"]
    conflict("/start", "in_progress")
    conflict("/verify", "in_progress")
    conflict("/reopen", "in_progress")
    r = api.post(p + "/complete", t, {"outcome": "客户已确认新交期"})
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "done" and done["done_at"] is not None and done["started_at"] == started_at
    assert done["verified_at"] is None and done["version"] == 3
    conflict("/start", "done")
    conflict("/complete", "done", {"outcome": "again"})
    b = problem(api.patch(p, t, {"description": "太晚了"}), 409)
    assert "'done'" in b["detail"]
    r = api.post(p + "/verify", t, {})
    assert r.status_code == 200, r.text
    v = r.json()
    assert v["status"] == "verified" and v["verified_at"] is not None and v["verified_by"] == users.ids["sales"]
    assert v["outcome"] == "客户已确认新交期"
    conflict("/verify", "verified")
    conflict("/start", "verified")
    conflict("/complete", "verified", {"outcome": "x"})
    problem(api.patch(p, t, {"due_date": day(30)}), 409)
    r = api.post(p + "/reopen", t)
    assert r.status_code == 200, r.text
    re = r.json()
    assert re["status"] == "in_progress"
    assert re["done_at"] is None and re["verified_at"] is None and re["verified_by"] is None
    assert re["outcome"] == "客户已确认新交期" and re["started_at"] == started_at and re["version"] == 5
    r = api.post(p + "/complete", t, {"outcome": "第二次处理完成"})
    assert r.json()["status"] == "done" and r.json()["outcome"] == "第二次处理完成"
    r = api.post(p + "/reopen", t)
    assert r.json()["status"] == "in_progress" and r.json()["version"] == 7
    assert api.get(p, t).json() == r.json()


def test_concurrent_completions_yield_one_done(api, users, customer, make_fu, db):
    f = make_fu(customer["id"], responsible_user_id=users.ids["sales2"])
    n = 6
    results = [None] * n
    barrier = threading.Barrier(n)

    def worker(i):
        a = type(api)(api.server)
        barrier.wait()
        who = ("sales", "sales2", "manager")[i % 3]
        results[i] = a.post(fpath(f["id"], "/complete"), users[who], {"outcome": f"并发-{i}"})

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(r.status_code for r in results)
    assert codes == [200] + [409] * (n - 1), [r.text for r in results]
    winner = next(r.json() for r in results if r.status_code == 200)
    for r in results:
        if r.status_code == 409:
            assert "'done'" in r.json()["detail"]
    assert api.get(fpath(f["id"]), users["sales"]).json() == winner and winner["version"] == 2
    assert db(f"SELECT count(*) FROM audit_log WHERE entity = 'follow_up' AND entity_id = '{f['id']}' "
              f"AND action = 'complete'") == "1"


def test_complete_straight_from_open(api, users, customer, make_fu):
    f = make_fu(customer["id"])
    r = api.post(fpath(f["id"], "/complete"), users["sales"], {"outcome": "当场解决"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "done" and r.json()["started_at"] is None and r.json()["done_at"] is not None


COMPLETE_INVALID = [
    ({}, "outcome"),
    ({"outcome": None}, "outcome"),
    ({"outcome": ""}, "outcome"),
    ({"outcome": "   "}, "outcome"),
    ({"outcome": 5}, "outcome"),
    ({"outcome": "果" * 5001}, "outcome"),
    ({"outcome": "ok", "status": "done"}, "status"),
]


@pytest.mark.parametrize("body,field", COMPLETE_INVALID, ids=[f"{f}-{i}" for i, (_, f) in enumerate(COMPLETE_INVALID)])
def test_complete_needs_a_valid_outcome(api, users, customer, make_fu, body, field):
    f = make_fu(customer["id"])
    assert_invalid(api.post(fpath(f["id"], "/complete"), users["sales"], body), field)
    assert api.get(fpath(f["id"]), users["sales"]).json() == f


def test_complete_without_body_and_long_outcome(api, users, customer, make_fu):
    f = make_fu(customer["id"])
    problem(api.call("POST", fpath(f["id"], "/complete"), users["sales"], headers={"Content-Type": "application/json"}),
            400)
    r = api.post(fpath(f["id"], "/complete"), users["sales"], {"outcome": "果" * 5000})
    assert r.status_code == 200 and len(r.json()["outcome"]) == 5000


@pytest.mark.parametrize("action", ["start", "verify", "reopen", "restore"])
def test_actions_without_input_reject_fields(api, users, customer, make_fu, action):
    f = make_fu(customer["id"])
    assert_invalid(api.post(fpath(f["id"], "/" + action), users["sales"], {"note": "x"}), "note")
    assert api.get(fpath(f["id"]), users["sales"]).json() == f


# ---------------------------------------------------------------- archive / restore

def test_archive_restore_and_archived_items_refuse_work(api, users, customer, make_fu, db):
    t = users["sales"]
    f = make_fu(customer["id"])
    keep = make_fu(customer["id"])
    r = api.delete(fpath(f["id"]), t)
    assert r.status_code == 204 and r.content == b""
    q = f"customer_id={customer['id']}"
    assert list_ids(api, t, q) == [keep["id"]]
    assert set(list_ids(api, t, q + "&include_archived=true")) == {f["id"], keep["id"]}
    g = api.get(fpath(f["id"]), t).json()
    assert g["archived"] is True and g["archived_at"] is not None and g["version"] == 2
    assert api.delete(fpath(f["id"]), t).status_code == 204
    assert api.get(fpath(f["id"]), t).json()["version"] == 2
    for suffix, body in (("/start", None), ("/complete", {"outcome": "x"})):
        assert "'archived'" in problem(api.post(fpath(f["id"], suffix), t, body), 409)["detail"]
    assert "'archived'" in problem(api.patch(fpath(f["id"]), t, {"description": "x"}), 409)["detail"]
    r = api.post(fpath(f["id"], "/restore"), t)
    assert r.status_code == 200, r.text
    assert r.json()["archived"] is False and r.json()["archived_at"] is None and r.json()["version"] == 3
    assert "not archived" in problem(api.post(fpath(f["id"], "/restore"), t), 409)["detail"]
    assert set(list_ids(api, t, q)) == {f["id"], keep["id"]}
    assert db(f"SELECT count(*) FROM follow_ups WHERE id = '{f['id']}'") == "1"


def test_done_items_can_be_archived_and_verify_of_archived_is_409(api, users, customer, make_fu):
    t = users["manager"]
    f = make_fu(customer["id"])
    assert api.post(fpath(f["id"], "/complete"), t, {"outcome": "ok"}).status_code == 200
    assert api.delete(fpath(f["id"]), t).status_code == 204
    assert "'archived'" in problem(api.post(fpath(f["id"], "/verify"), t), 409)["detail"]
    assert "'archived'" in problem(api.post(fpath(f["id"], "/reopen"), t), 409)["detail"]
    assert api.get(fpath(f["id"]), t).json()["status"] == "done"


# ---------------------------------------------------------------- PATCH

def test_patch_updates_clears_and_empty_patch(api, users, customer, make_fu):
    f = make_fu(customer["id"], responsible_department="销售部", responsible_user_id=users.ids["office"])
    p = fpath(f["id"])
    r = api.patch(p, users["sales"], {"description": "更新后的事项", "responsible_department": None,
                                      "responsible_user_id": users.ids["finance"], "due_date": day(40)})
    assert r.status_code == 200, r.text
    u = r.json()
    assert u["description"] == "更新后的事项" and u["responsible_department"] is None
    assert u["responsible_user_id"] == users.ids["finance"] and u["due_date"] == day(40) and u["version"] == 2
    assert u["source_id"] == f["source_id"] and u["customer_id"] == f["customer_id"]
    r = api.patch(p, users["sales"], {})
    assert r.status_code == 200 and r.json() == u
    r = api.call("PATCH", p, users["sales"], data=json.dumps({"responsible_department": "物流部"}).encode(),
                 headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200 and r.json()["responsible_department"] == "物流部" and r.json()["version"] == 3


PATCH_INVALID = [
    ({"description": None}, "description"),
    ({"description": ""}, "description"),
    ({"description": "述" * 2001}, "description"),
    ({"due_date": None}, "due_date"),
    ({"due_date": "tomorrow"}, "due_date"),
    ({"due_date": day(-5)}, "due_date"),
    ({"responsible_user_id": "x"}, "responsible_user_id"),
    ({"responsible_user_id": "00000000-0000-4000-8000-000000000000"}, "responsible_user_id"),
    ({"responsible_department": "部" * 101}, "responsible_department"),
    ({"source_type": "interaction"}, "source_type"),
    ({"source_id": "00000000-0000-4000-8000-000000000000"}, "source_id"),
    ({"customer_id": "00000000-0000-4000-8000-000000000000"}, "customer_id"),
    ({"status": "done"}, "status"),
    ({"outcome": "x"}, "outcome"),
    ({"overdue": True}, "overdue"),
    ({"version": 9}, "version"),
    ({"unknown": 1}, "unknown"),
]


@pytest.mark.parametrize("patch,field", PATCH_INVALID, ids=[f"{f}-{i}" for i, (_, f) in enumerate(PATCH_INVALID)])
def test_patch_invalid_is_422_and_changes_nothing(api, users, customer, make_fu, patch, field):
    f = make_fu(customer["id"])
    assert_invalid(api.patch(fpath(f["id"]), users["sales"], patch), field)
    assert api.get(fpath(f["id"]), users["sales"]).json() == f


def test_patch_to_erp_responsible_is_422(api, users, customer, make_fu):
    f = make_fu(customer["id"])
    assert_invalid(api.patch(fpath(f["id"]), users["sales"], {"responsible_user_id": users.ids["erp"]}),
                   "responsible_user_id")
    assert api.get(fpath(f["id"]), users["sales"]).json() == f


def test_patch_keeps_an_unchanged_past_due_date(api, users, customer, make_fu, db):
    f = make_fu(customer["id"])
    past = day(-10)
    db(f"UPDATE follow_ups SET due_date = '{past}' WHERE id = '{f['id']}'")
    r = api.patch(fpath(f["id"]), users["sales"], {"description": "重新描述", "due_date": past})
    assert r.status_code == 200, r.text
    assert r.json()["due_date"] == past and r.json()["overdue"] is True
    assert_invalid(api.patch(fpath(f["id"]), users["sales"], {"due_date": day(-9)}), "due_date")
    r = api.patch(fpath(f["id"]), users["sales"], {"due_date": day(9)})
    assert r.status_code == 200 and r.json()["overdue"] is False


# ---------------------------------------------------------------- overdue

def test_overdue_is_computed(api, users, customer, make_fu, db):
    t = users["sales"]
    a = make_fu(customer["id"])   # open, past due → overdue
    b = make_fu(customer["id"])   # in progress, past due → overdue
    c = make_fu(customer["id"])   # done, past due → not overdue
    d = make_fu(customer["id"])   # open, future → not overdue
    e = make_fu(customer["id"])   # archived, past due → not overdue
    assert api.post(fpath(b["id"], "/start"), t).status_code == 200
    assert api.post(fpath(c["id"], "/complete"), t, {"outcome": "ok"}).status_code == 200
    assert api.delete(fpath(e["id"]), t).status_code == 204
    ids = "', '".join(x["id"] for x in (a, b, c, e))
    db(f"UPDATE follow_ups SET due_date = crm_today() - 3 WHERE id IN ('{ids}')")
    got = {x: api.get(fpath(y["id"]), t).json()["overdue"] for x, y in zip("abcde", (a, b, c, d, e))}
    assert got == {"a": True, "b": True, "c": False, "d": False, "e": False}
    q = f"customer_id={customer['id']}&include_archived=true"
    assert set(list_ids(api, t, q + "&overdue=true")) == {a["id"], b["id"]}
    assert set(list_ids(api, t, q + "&overdue=false")) == {c["id"], d["id"], e["id"]}
    assert set(list_ids(api, t, f"customer_id={customer['id']}&overdue=false")) == {c["id"], d["id"]}
    items = walk_pages(api, BASE, t, q + "&overdue=true")
    assert all(x["overdue"] for x in items)
    # Due yesterday in the business time zone is overdue; due today is not.
    db(f"UPDATE follow_ups SET due_date = crm_today() WHERE id = '{a['id']}'")
    assert api.get(fpath(a["id"]), t).json()["overdue"] is False


# ---------------------------------------------------------------- list filters and pagination

def test_list_filters(api, users, customer, make_customer, make_fu, make_interaction, db):
    t = users["manager"]
    other = make_customer()
    src_i = make_interaction(customer["id"])
    a = make_fu(customer["id"], responsible_user_id=users.ids["office"], due_date=day(3))
    b = make_fu(customer["id"], source_type="interaction", source_id=src_i, due_date=day(20))
    c = make_fu(other["id"], responsible_user_id=users.ids["office"], due_date=day(8))
    assert api.post(fpath(c["id"], "/start"), t).status_code == 200
    mine = {a["id"], b["id"], c["id"]}

    def ids(query):
        return set(list_ids(api, t, query)) & mine

    assert ids(f"customer_id={customer['id']}") == {a["id"], b["id"]}
    assert ids(f"customer_id={other['id'].upper()}") == {c["id"]}
    assert ids("source_type=interaction") == {b["id"]}
    assert ids("source_type=visit") == {a["id"], c["id"]}
    assert ids(f"source_id={src_i}") == {b["id"]}
    assert ids(f"source_id={a['source_id']}") == {a["id"]}
    assert ids("status=in_progress") == {c["id"]}
    assert ids("status=open") == {a["id"], b["id"]}
    assert ids("status=done") == set()
    assert ids(f"responsible_user_id={users.ids['office']}") == {a["id"], c["id"]}
    assert ids(f"due_before={day(8)}") == {a["id"]}
    assert ids(f"due_before={day(9)}") == {a["id"], c["id"]}
    assert ids(f"due_before={day(9)}&status=open&customer_id={customer['id']}") == {a["id"]}


@pytest.mark.parametrize("query", [
    "limit=0", "limit=201", "limit=x", "cursor=bogus", "overdue=yes", "overdue=", "due_before=2030-13-01",
    "due_before=tomorrow", "status=closed", "source_type=meeting", "customer_id=nope", "source_id=1",
    "responsible_user_id=me", "include_archived=1", "q=x", "sort=due_date",
])
def test_bad_list_query_is_400(api, users, query):
    body = problem(api.get(BASE + "?" + query, users["sales"]), 400)
    assert body["type"].endswith("/bad-request")


def forge_cursor(keys):
    raw = json.dumps(["follow-ups", "due_date", *keys]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_forged_and_foreign_cursors_are_400(api, users, customer, make_fu):
    for _ in range(3):
        make_fu(customer["id"])
    cur = api.get(BASE + "?limit=1", users["sales"]).json()["next_cursor"]
    assert cur
    assert api.get(BASE + f"?limit=1&cursor={cur}", users["sales"]).status_code == 200
    problem(api.get(f"/v1/customers?cursor={cur}", users["sales"]), 400)
    ccur = api.get("/v1/customers?limit=1", users["sales"]).json()["next_cursor"]
    assert ccur
    problem(api.get(BASE + f"?cursor={ccur}", users["sales"]), 400)
    good = forge_cursor([day(1), str(uuid.uuid4())])
    assert api.get(BASE + f"?cursor={good}", users["sales"]).status_code == 200
    for keys in ([day(1), "not-a-uuid"], ["2030-02-30", str(uuid.uuid4())], ["'; DROP TABLE x", str(uuid.uuid4())],
                 [day(1)]):
        problem(api.get(BASE + f"?cursor={forge_cursor(keys)}", users["sales"]), 400)


def test_pagination_order_and_stability(api, users, make_customer, make_fu):
    cust = make_customer()
    q = f"customer_id={cust['id']}"
    made = []
    for off in (9, 2, 5, 2, 7, 2, 11):
        made.append(make_fu(cust["id"], due_date=day(off)))
    expected = [x["id"] for x in sorted(made, key=lambda x: (x["due_date"], x["id"]))]
    whole = api.get(BASE + f"?{q}&limit=50", users["sales"]).json()
    assert [x["id"] for x in whole["items"]] == expected and whole["next_cursor"] is None
    for limit, sizes in ((3, [3, 3, 1]), (2, [2, 2, 2, 1]), (7, [7]), (1, [1] * 7)):
        seen, cursor, got = [], None, []
        while True:
            body = api.get(BASE + f"?{q}&limit={limit}" + (f"&cursor={cursor}" if cursor else ""),
                           users["sales"]).json()
            got.append(len(body["items"]))
            seen += [x["id"] for x in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert got == sizes and seen == expected, limit
    # Items inserted between pages neither repeat nor skip the others.
    body = api.get(BASE + f"?{q}&limit=3", users["sales"]).json()
    seen = [x["id"] for x in body["items"]]
    make_fu(cust["id"], due_date=day(1))
    make_fu(cust["id"], due_date=day(30))
    cursor = body["next_cursor"]
    while cursor:
        body = api.get(BASE + f"?{q}&limit=3&cursor={cursor}", users["sales"]).json()
        seen += [x["id"] for x in body["items"]]
        cursor = body["next_cursor"]
    assert len(seen) == len(set(seen)) and set(expected) <= set(seen)


def test_default_limit_is_50(api, users, make_customer, make_fu):
    cust = make_customer(owner="sales2")
    src = None
    for _ in range(52):
        f = make_fu(cust["id"], token="sales2", **({"source_id": src} if src else {}))
        src = f["source_id"]
    body = api.get(BASE + f"?customer_id={cust['id']}", users["sales2"]).json()
    assert len(body["items"]) == 50 and body["next_cursor"]
    assert len(list_ids(api, users["sales2"], f"customer_id={cust['id']}", limit=200)) == 52
    assert len(list_ids(api, users["sales2"], f"source_id={src}", limit=7)) == 52


# ---------------------------------------------------------------- ETag / If-Match

def test_etag_if_none_match_and_if_match(api, users, customer, make_fu, db):
    f = make_fu(customer["id"])
    p = fpath(f["id"])
    t = users["sales"]
    r = api.get(p, t, headers={"If-None-Match": 'W/"1"'})
    assert r.status_code == 304 and r.content == b"" and r.headers["ETag"] == 'W/"1"'
    assert api.get(p, t, headers={"If-None-Match": 'W/"7"'}).status_code == 200
    stale = {"If-Match": 'W/"2"'}
    assert problem(api.patch(p, t, {"description": "x"}, headers=stale), 412)["type"].endswith("/precondition-failed")
    problem(api.delete(p, t, headers=stale), 412)
    problem(api.post(p + "/start", t, headers=stale), 412)
    problem(api.post(p + "/complete", t, {"outcome": "x"}, headers=stale), 412)
    problem(api.patch(p, t, {"description": "x"}, headers={"If-Match": "garbage"}), 400)
    assert api.get(p, t).json() == f
    assert db(f"SELECT count(*) FROM audit_log WHERE entity = 'follow_up' AND entity_id = '{f['id']}' "
              f"AND action <> 'create' AND action <> 'read'") == "0"
    r = api.post(p + "/start", t, headers={"If-Match": 'W/"1"'})
    assert r.status_code == 200 and r.headers["ETag"] == 'W/"2"'
    r = api.patch(p, t, {"description": "新"}, headers={"If-Match": 'W/"2"'})
    assert r.status_code == 200 and r.json()["version"] == 3
    problem(api.post(p + "/complete", t, {"outcome": "x"}, headers={"If-Match": 'W/"2"'}), 412)
    r = api.post(p + "/complete", t, {"outcome": "x"}, headers={"If-Match": 'W/"3"'})
    assert r.status_code == 200
    problem(api.post(p + "/verify", t, headers={"If-Match": 'W/"3"'}), 412)
    assert api.post(p + "/verify", t, headers={"If-Match": "*"}).status_code == 200
    problem(api.post(p + "/reopen", t, headers={"If-Match": 'W/"4"'}), 412)
    assert api.get(p, t, headers={"If-None-Match": 'W/"5"'}).status_code == 304


# ---------------------------------------------------------------- idempotency and audit

def test_idempotency_key_on_create(api, users, visit, db):
    key = uuid.uuid4().hex
    d = unique("幂等跟进")
    body = {"source_type": "visit", "source_id": visit, "description": d, "due_date": day(6)}
    r1 = api.post(BASE, users["sales"], body, headers={"Idempotency-Key": key})
    r2 = api.post(BASE, users["sales"], body, headers={"Idempotency-Key": key})
    assert r1.status_code == r2.status_code == 201
    assert r1.json() == r2.json() and r1.headers["Location"] == r2.headers["Location"]
    assert count_follow_ups(db, d) == 1
    problem(api.post(BASE, users["sales"], {**body, "description": d + "x"}, headers={"Idempotency-Key": key}), 422)
    assert count_follow_ups(db, d + "x") == 0


def test_changes_and_reads_are_audited(api, users, customer, make_fu, db):
    f = make_fu(customer["id"], responsible_user_id=users.ids["sales2"])
    fid = f["id"]
    t = users["sales"]
    assert api.patch(fpath(fid), t, {"description": "审计后的描述"}).status_code == 200
    assert api.post(fpath(fid, "/start"), users["sales2"]).status_code == 200
    assert api.post(fpath(fid, "/complete"), users["sales2"], {"outcome": "审计结果"}).status_code == 200
    assert api.post(fpath(fid, "/verify"), t).status_code == 200
    assert api.post(fpath(fid, "/reopen"), t).status_code == 200
    assert api.delete(fpath(fid), t).status_code == 204
    assert api.post(fpath(fid, "/restore"), t).status_code == 200
    rows = db(f"SELECT action || '|' || customer_id || '|' || actor_id || '|' || coalesce(before->>'status', '-') "
              f"|| '|' || (after->>'status') FROM audit_log WHERE entity = 'follow_up' AND entity_id = '{fid}' "
              f"AND action <> 'read' ORDER BY id").splitlines()
    s, s2, c = users.ids["sales"], users.ids["sales2"], customer["id"]
    assert rows == [
        f"create|{c}|{s}|-|open",
        f"update|{c}|{s}|open|open",
        f"start|{c}|{s2}|open|in_progress",
        f"complete|{c}|{s2}|in_progress|done",
        f"verify|{c}|{s}|done|verified",
        f"reopen|{c}|{s}|verified|in_progress",
        f"archive|{c}|{s}|in_progress|in_progress",
        f"restore|{c}|{s}|in_progress|in_progress",
    ]
    assert db(f"SELECT (before->>'description') || '|' || (after->>'description') FROM audit_log "
              f"WHERE entity = 'follow_up' AND entity_id = '{fid}' AND action = 'update'") == \
        f"{f['description']}|审计后的描述"
    assert api.get(fpath(fid), users["office"]).status_code == 200
    sql = (f"SELECT count(*) FROM audit_log WHERE action = 'read' AND entity = 'follow_up' AND entity_id = '{fid}' "
           f"AND actor_id = '{users.ids['office']}' AND customer_id = '{c}'")
    assert wait_for(lambda: db(sql) == "1")
    # Follow-up changes show in the customer's history.
    h = api.get(f"/v1/customers/{c}/history?limit=200", t).json()["items"]
    assert [e["action"] for e in h if e["entity_id"] == fid][:2] == ["restore", "archive"]


def test_failed_writes_leave_no_audit(api, users, customer, make_fu, db):
    f = make_fu(customer["id"], responsible_user_id=users.ids["sales2"])
    problem(api.post(fpath(f["id"], "/verify"), users["sales2"]), 403)
    problem(api.post(fpath(f["id"], "/verify"), users["sales"]), 409)
    problem(api.patch(fpath(f["id"]), users["sales2"], {"description": "x"}), 403)
    assert db(f"SELECT count(*) FROM audit_log WHERE entity = 'follow_up' AND entity_id = '{f['id']}' "
              f"AND action NOT IN ('create', 'read')") == "0"
    assert api.get(fpath(f["id"]), users["sales"]).json() == f


def test_unknown_and_malformed_ids_are_404(api, users):
    for bad in (str(uuid.uuid4()), "not-a-uuid", "%27%20OR%201=1"):
        problem(api.get(fpath(bad), users["manager"]), 404)
        problem(api.patch(fpath(bad), users["manager"], {"description": "x"}), 404)
        problem(api.delete(fpath(bad), users["manager"]), 404)
        problem(api.post(fpath(bad, "/start"), users["manager"]), 404)
        problem(api.post(fpath(bad, "/complete"), users["manager"], {"outcome": "x"}), 404)
