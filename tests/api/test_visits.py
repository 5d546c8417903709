"""Black-box API tests for visit records (operations visits_* in api/openapi.yaml).

Records follow their customer's scope; filing one with plan_id completes the plan,
archiving it reopens the plan and restoring it completes the plan again. The
database keeps customers.last_visit_at / last_contact_at, asserted with the db fixture.
"""

import datetime
import threading
import time
import uuid

import pytest

from conftest import assert_invalid, problem, unique, walk_pages

ROLES = ["sales", "sales2", "manager", "finance", "office", "erp", "admin"]
READERS = {"sales", "manager", "finance", "office", "admin"}


# ---------------------------------------------------------------- helpers

def message_for(body, field):
    return [e["message"] for e in body["errors"] if e["field"] == field]


def assert_state_conflict(r, state):
    body = problem(r, 409)
    assert f"'{state}'" in body["detail"], body
    return body


def vpath(vid=None, suffix=""):
    p = "/v1/visits"
    if vid is not None:
        p += f"/{vid}"
    return p + suffix


def ppath(pid, suffix=""):
    return f"/v1/visit-plans/{pid}{suffix}"


def ts(days_ago=0, hours=0):
    """An RFC 3339 UTC instant in the past, whole seconds."""
    t = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    t -= datetime.timedelta(days=days_ago, hours=hours)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def pg_ts(db, sql):
    """A timestamptz from psql as the API renders it (UTC, whole seconds), or None."""
    v = db(f"SELECT to_char(({sql}) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")
    return v or None


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
def make_plan(api, users, db):
    def make(cid, token="sales", approve=False, **fields):
        today = datetime.date.fromisoformat(db("SELECT crm_today()"))
        body = {"customer_id": cid, "planned_date": (today + datetime.timedelta(days=5)).isoformat(),
                "purpose": unique("拜访")}
        body.update(fields)
        r = api.post("/v1/visit-plans", users[token], body)
        assert r.status_code == 201, r.text
        if approve:
            r = api.post(ppath(r.json()["id"], "/approve"), users["manager"])
            assert r.status_code == 200, r.text
        return r.json()
    return make


@pytest.fixture
def make_visit(api, users):
    def make(cid=None, token="sales", **fields):
        body = {"visited_at": ts(1)}
        if cid:
            body["customer_id"] = cid
        body.update(fields)
        r = api.post(vpath(), users[token], body)
        assert r.status_code == 201, r.text
        return r.json()
    return make


def plan_of(api, users, pid):
    r = api.get(ppath(pid), users["manager"])
    assert r.status_code == 200, r.text
    return r.json()


# ---------------------------------------------------------------- create / get

def test_create_returns_201_location_etag_and_record(api, users, customer, db):
    body = {
        "customer_id": customer["id"],
        "visited_at": ts(2),
        "place": "杭州市萧山区 客户工厂会议室",
        "our_participant_ids": [users.ids["sales"], users.ids["manager"]],
        "customer_participants": ["王总（总经理）", "李工 / 技术部"],
        "customer_situation": "产能扩张，新增两条染整线",
        "discussion": "明年春夏面料需求、色牢度标准",
        "customer_feedback": "对交期满意",
        "suggestions": "希望提供更多环保面料样品",
        "competitor_info": "竞争对手报价低 5%",
    }
    r = api.post(vpath(), users["sales"], body)
    assert r.status_code == 201, r.text
    v = r.json()
    assert r.headers["Location"] == vpath(v["id"]) and r.headers["ETag"] == 'W/"1"'
    for k, val in body.items():
        assert v[k] == val, k
    assert v["plan_id"] is None and v["author_id"] == users.ids["sales"]
    assert v["archived"] is False and v["archived_at"] is None and v["version"] == 1
    g = api.get(r.headers["Location"], users["sales"])
    assert g.status_code == 200 and g.json() == v and g.headers["ETag"] == 'W/"1"'
    row = db(f"SELECT customer_id || '|' || actor_id || '|' || (after->>'place') FROM audit_log "
             f"WHERE entity = 'visit' AND action = 'create' AND entity_id = '{v['id']}'")
    assert row == f"{customer['id']}|{users.ids['sales']}|杭州市萧山区 客户工厂会议室"


def test_minimal_record_defaults(api, users, customer):
    r = api.post(vpath(), users["sales"], {"customer_id": customer["id"], "visited_at": "2026-03-01T10:00:00+08:00"})
    assert r.status_code == 201, r.text
    v = r.json()
    assert v["visited_at"] == "2026-03-01T02:00:00Z"
    assert v["our_participant_ids"] == [] and v["customer_participants"] == []
    for k in ("place", "customer_situation", "discussion", "customer_feedback", "suggestions", "competitor_info"):
        assert v[k] is None, k


def test_records_keep_the_customers_last_visit_and_contact(api, users, customer, make_visit, db):
    cid = customer["id"]
    last = lambda col: pg_ts(db, f"SELECT {col} FROM customers WHERE id = '{cid}'")  # noqa: E731
    assert last("last_visit_at") is None and last("last_contact_at") is None
    v_old = make_visit(cid, visited_at=ts(10))
    assert last("last_visit_at") == v_old["visited_at"] == last("last_contact_at")
    v_new = make_visit(cid, visited_at=ts(3))
    make_visit(cid, visited_at=ts(5))
    assert last("last_visit_at") == v_new["visited_at"]
    # The customer document shows it and its version moved.
    c = api.get(f"/v1/customers/{cid}", users["sales"]).json()
    assert c["version"] > customer["version"]
    # Moving, archiving and restoring a record recompute it.
    r = api.patch(vpath(v_old["id"]), users["sales"], {"visited_at": ts(1)})
    assert r.status_code == 200, r.text
    assert last("last_visit_at") == r.json()["visited_at"]
    assert api.delete(vpath(v_old["id"]), users["sales"]).status_code == 204
    assert last("last_visit_at") == v_new["visited_at"] == last("last_contact_at")
    assert api.post(vpath(v_old["id"], "/restore"), users["sales"]).status_code == 200
    assert last("last_visit_at") == r.json()["visited_at"]


def test_manager_and_admin_file_records_for_any_customer(api, users, make_customer):
    cust = make_customer(owner="sales2")
    for role in ("manager", "admin"):
        r = api.post(vpath(), users[role], {"customer_id": cust["id"], "visited_at": ts(1)})
        assert r.status_code == 201, r.text
        v = r.json()
        assert v["author_id"] == users.ids[role]
        r = api.patch(vpath(v["id"]), users[role], {"place": "上海"})
        assert r.status_code == 200 and r.json()["place"] == "上海" and r.json()["version"] == 2
        assert api.delete(vpath(v["id"]), users[role]).status_code == 204
        r = api.post(vpath(v["id"], "/restore"), users[role])
        assert r.status_code == 200 and r.json()["archived"] is False


# ---------------------------------------------------------------- validation

CREATE_INVALID = [
    ({"visited_at": None}, "visited_at"),
    ({"visited_at": "2026-01-01"}, "visited_at"),
    ({"visited_at": "2026-01-01T10:00:00"}, "visited_at"),
    ({"visited_at": "2999-01-01T00:00:00Z"}, "visited_at"),
    ({"customer_id": "x"}, "customer_id"),
    ({"customer_id": str(uuid.uuid4())}, "customer_id"),
    ({"plan_id": "x"}, "plan_id"),
    ({"place": "地" * 501}, "place"),
    ({"our_participant_ids": None}, "our_participant_ids"),
    ({"our_participant_ids": [1]}, "our_participant_ids"),
    ({"our_participant_ids": [str(uuid.uuid4())]}, "our_participant_ids"),
    ({"customer_participants": None}, "customer_participants"),
    ({"customer_participants": "王总"}, "customer_participants"),
    ({"customer_participants": [""]}, "customer_participants"),
    ({"customer_participants": ["名" * 101]}, "customer_participants"),
    ({"customer_participants": ["x"] * 31}, "customer_participants"),
    ({"customer_situation": "况" * 5001}, "customer_situation"),
    ({"discussion": "论" * 5001}, "discussion"),
    ({"customer_feedback": 5}, "customer_feedback"),
    ({"suggestions": "议" * 5001}, "suggestions"),
    ({"competitor_info": "竞" * 5001}, "competitor_info"),
    ({"author_id": "00000000-0000-4000-8000-000000000000"}, "author_id"),
    ({"id": "00000000-0000-4000-8000-000000000000"}, "id"),
    ({"archived": False}, "archived"),
    ({"version": 1}, "version"),
    ({"created_at": "2026-01-01T00:00:00Z"}, "created_at"),
    ({"visit_date": "2026-01-01"}, "visit_date"),
]


@pytest.mark.parametrize("extra,field", CREATE_INVALID, ids=[f"{f}-{i}" for i, (_, f) in enumerate(CREATE_INVALID)])
def test_create_invalid_is_422_naming_the_field(api, users, customer, db, extra, field):
    body = {"customer_id": customer["id"], "visited_at": ts(1), **extra}
    assert_invalid(api.post(vpath(), users["sales"], body), field)
    assert db(f"SELECT count(*) FROM visits WHERE customer_id = '{customer['id']}'") == "0"


def test_customer_or_plan_is_required(api, users):
    body = assert_invalid(api.post(vpath(), users["sales"], {"visited_at": ts(1)}), "customer_id")
    assert message_for(body, "customer_id") == ["is required unless plan_id is given"]
    body = assert_invalid(api.post(vpath(), users["sales"], {"visited_at": ts(1), "customer_id": None,
                                                              "plan_id": None}), "customer_id")
    body = assert_invalid(api.post(vpath(), users["sales"], {}), "visited_at")
    assert {e["field"] for e in body["errors"]} == {"visited_at", "customer_id"}


def test_customer_of_another_rep_is_no_such_customer(api, users, make_customer, db):
    other = make_customer(owner="sales2")
    msgs = []
    for cid in (other["id"], str(uuid.uuid4())):
        body = assert_invalid(api.post(vpath(), users["sales"], {"customer_id": cid, "visited_at": ts(1)}),
                              "customer_id")
        msgs.append(message_for(body, "customer_id"))
    assert msgs[0] == msgs[1] == ["no such customer"]
    assert db(f"SELECT count(*) FROM visits WHERE customer_id = '{other['id']}'") == "0"


# ---------------------------------------------------------------- plans

def test_filing_with_a_plan_completes_it(api, users, customer, make_plan, db):
    p = make_plan(customer["id"])
    r = api.post(vpath(), users["sales"], {"plan_id": p["id"], "visited_at": ts(0, 2), "discussion": "按计划拜访"})
    assert r.status_code == 201, r.text
    v = r.json()
    assert v["plan_id"] == p["id"] and v["customer_id"] == customer["id"]
    g = plan_of(api, users, p["id"])
    assert g["status"] == "completed" and g["visit_id"] == v["id"] and g["completed_at"]
    assert g["version"] == p["version"] + 1
    row = db(f"SELECT (before->>'status') || '|' || (after->>'status') || '|' || (after->>'visit_id') || '|' || "
             f"customer_id FROM audit_log WHERE entity = 'visit_plan' AND action = 'complete' "
             f"AND entity_id = '{p['id']}'")
    assert row == f"planned|completed|{v['id']}|{customer['id']}"
    assert [x["id"] for x in walk_pages(api, vpath(), users["sales"], f"plan_id={p['id']}")] == [v["id"]]


def test_plan_with_matching_or_other_customer(api, users, make_customer, make_plan, db):
    a, b = make_customer(), make_customer()
    p = make_plan(a["id"])
    body = assert_invalid(api.post(vpath(), users["sales"], {"plan_id": p["id"], "customer_id": b["id"],
                                                              "visited_at": ts(1)}), "customer_id")
    assert message_for(body, "customer_id") == ["must be the customer of the plan"]
    assert plan_of(api, users, p["id"])["status"] == "planned"
    r = api.post(vpath(), users["sales"], {"plan_id": p["id"], "customer_id": a["id"], "visited_at": ts(1)})
    assert r.status_code == 201, r.text
    assert db(f"SELECT count(*) FROM visits WHERE customer_id = '{b['id']}'") == "0"


def test_invisible_or_missing_plan_is_no_such_plan(api, users, make_customer, make_plan, db):
    other = make_customer(owner="sales2")
    p = make_plan(other["id"], token="sales2")
    msgs = []
    for pid in (p["id"], str(uuid.uuid4())):
        body = assert_invalid(api.post(vpath(), users["sales"], {"plan_id": pid, "visited_at": ts(1)}), "plan_id")
        msgs.append(message_for(body, "plan_id"))
    assert msgs[0] == msgs[1] == ["no such plan"]
    assert plan_of(api, users, p["id"])["status"] == "planned"


@pytest.mark.parametrize("setup", ["approved", "missed", "missed_approved"])
def test_approved_and_missed_plans_complete(api, users, customer, make_plan, db, setup):
    p = make_plan(customer["id"], approve=setup != "missed")
    if setup.startswith("missed"):
        db(f"UPDATE visit_plans SET planned_date = crm_today() - 2 WHERE id = '{p['id']}'")
        assert plan_of(api, users, p["id"])["status"] == "missed"
    r = api.post(vpath(), users["sales"], {"plan_id": p["id"], "visited_at": ts(1)})
    assert r.status_code == 201, r.text
    g = plan_of(api, users, p["id"])
    assert g["status"] == "completed" and g["visit_id"] == r.json()["id"]


def test_cancelled_or_completed_plan_is_409(api, users, customer, make_plan, db):
    c = make_plan(customer["id"])
    assert api.post(ppath(c["id"], "/cancel"), users["sales"], {"reason": "取消"}).status_code == 200
    assert_state_conflict(api.post(vpath(), users["sales"], {"plan_id": c["id"], "visited_at": ts(1)}), "cancelled")
    done = make_plan(customer["id"])
    first = api.post(vpath(), users["sales"], {"plan_id": done["id"], "visited_at": ts(1)})
    assert first.status_code == 201
    body = assert_state_conflict(api.post(vpath(), users["manager"], {"plan_id": done["id"], "visited_at": ts(1)}),
                                 "completed")
    assert "errors" not in body
    assert db(f"SELECT count(*) FROM visits WHERE plan_id IN ('{c['id']}', '{done['id']}')") == "1"


def test_concurrent_records_for_one_plan_complete_it_once(api, users, customer, make_plan, db):
    p = make_plan(customer["id"])
    n = 5
    results = [None] * n
    barrier = threading.Barrier(n)

    def worker(i):
        a = type(api)(api.server)
        barrier.wait()
        results[i] = a.post(vpath(), users["sales"], {"plan_id": p["id"], "visited_at": ts(1), "place": f"并发-{i}"})

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status_code for r in results) == [201] + [409] * (n - 1), [r.text for r in results]
    for r in results:
        if r.status_code == 409:
            assert "'completed'" in r.json()["detail"]
    winner = next(r.json() for r in results if r.status_code == 201)
    assert db(f"SELECT count(*) FROM visits WHERE plan_id = '{p['id']}'") == "1"
    g = plan_of(api, users, p["id"])
    assert g["visit_id"] == winner["id"] and g["version"] == p["version"] + 1


def test_vip_plan_must_be_approved_first(api, users, customer, make_plan, db):
    r = api.patch(f"/v1/customers/{customer['id']}", users["manager"],
                  {"tier_override": "vip", "tier_override_reason": "年采购额超五十万"})
    assert r.status_code == 200, r.text
    p = make_plan(customer["id"])
    assert p["approval_required"] is True
    body = assert_state_conflict(api.post(vpath(), users["sales"], {"plan_id": p["id"], "visited_at": ts(1)}),
                                 "planned")
    assert "VIP" in body["detail"]
    assert db(f"SELECT count(*) FROM visits WHERE customer_id = '{customer['id']}'") == "0"
    assert db(f"SELECT last_visit_at IS NULL FROM customers WHERE id = '{customer['id']}'") == "t"
    # A record without a plan is always fine.
    assert api.post(vpath(), users["sales"], {"customer_id": customer["id"], "visited_at": ts(1)}).status_code == 201
    assert api.post(ppath(p["id"], "/approve"), users["manager"]).status_code == 200
    r = api.post(vpath(), users["sales"], {"plan_id": p["id"], "visited_at": ts(1)})
    assert r.status_code == 201, r.text
    assert plan_of(api, users, p["id"])["status"] == "completed"


def test_archive_reopens_the_plan_and_restore_completes_it(api, users, customer, make_plan, db):
    approved = make_plan(customer["id"], approve=True)
    planned = make_plan(customer["id"])
    for p, back in ((approved, "approved"), (planned, "planned")):
        v = api.post(vpath(), users["sales"], {"plan_id": p["id"], "visited_at": ts(1)}).json()
        done = plan_of(api, users, p["id"])
        r = api.delete(vpath(v["id"]), users["sales"])
        assert r.status_code == 204 and r.content == b""
        g = plan_of(api, users, p["id"])
        assert g["status"] == back and g["visit_id"] is None and g["completed_at"] is None
        assert g["version"] == done["version"] + 1
        if back == "approved":
            assert g["approved_by"] == users.ids["manager"]
        assert db(f"SELECT count(*) FROM audit_log WHERE entity = 'visit_plan' AND action = 'reopen' "
                  f"AND entity_id = '{p['id']}'") == "1"
        # Archiving again changes nothing.
        assert api.delete(vpath(v["id"]), users["sales"]).status_code == 204
        assert plan_of(api, users, p["id"])["version"] == g["version"]
        # The archived record still holds the plan: a second record is 409 naming plan_id.
        body = problem(api.post(vpath(), users["sales"], {"plan_id": p["id"], "visited_at": ts(1)}), 409)
        assert [e["field"] for e in body["errors"]] == ["plan_id"]
        assert plan_of(api, users, p["id"])["status"] == back
        r = api.post(vpath(v["id"], "/restore"), users["sales"], {})
        assert r.status_code == 200, r.text
        assert r.json()["archived"] is False and r.json()["version"] == 3
        g = plan_of(api, users, p["id"])
        assert g["status"] == "completed" and g["visit_id"] == v["id"]
        assert db(f"SELECT count(*) FROM audit_log WHERE entity = 'visit_plan' AND action = 'complete' "
                  f"AND entity_id = '{p['id']}'") == "2"


def test_restore_refuses_when_the_plan_was_cancelled(api, users, customer, make_plan):
    p = make_plan(customer["id"])
    v = api.post(vpath(), users["sales"], {"plan_id": p["id"], "visited_at": ts(1)}).json()
    assert api.delete(vpath(v["id"]), users["sales"]).status_code == 204
    assert api.post(ppath(p["id"], "/cancel"), users["sales"], {"reason": "拜访记录作废"}).status_code == 200
    assert_state_conflict(api.post(vpath(v["id"], "/restore"), users["sales"]), "cancelled")
    assert api.get(vpath(v["id"]), users["sales"]).json()["archived"] is True


def test_restore_refuses_an_unapproved_vip_plan(api, users, customer, make_plan, db):
    p = make_plan(customer["id"])
    v = api.post(vpath(), users["sales"], {"plan_id": p["id"], "visited_at": ts(1)}).json()
    assert api.delete(vpath(v["id"]), users["sales"]).status_code == 204
    assert api.patch(f"/v1/customers/{customer['id']}", users["manager"],
                     {"tier_override": "vip", "tier_override_reason": "升级"}).status_code == 200
    body = assert_state_conflict(api.post(vpath(v["id"], "/restore"), users["sales"]), "planned")
    assert "VIP" in body["detail"]
    assert api.post(ppath(p["id"], "/approve"), users["manager"]).status_code == 200
    assert api.post(vpath(v["id"], "/restore"), users["sales"]).status_code == 200
    assert plan_of(api, users, p["id"])["status"] == "completed"


def test_archive_and_restore_without_plan(api, users, customer, make_visit, db):
    v = make_visit(customer["id"])
    keep = make_visit(customer["id"])
    assert api.delete(vpath(v["id"]), users["sales"]).status_code == 204
    q = f"customer_id={customer['id']}"
    assert [x["id"] for x in walk_pages(api, vpath(), users["sales"], q)] == [keep["id"]]
    items = walk_pages(api, vpath(), users["sales"], q + "&include_archived=true")
    assert {x["id"] for x in items} == {v["id"], keep["id"]}
    g = api.get(vpath(v["id"]), users["sales"]).json()
    assert g["archived"] is True and g["archived_at"] and g["version"] == 2
    assert_invalid(api.post(vpath(v["id"], "/restore"), users["sales"], {"archived": False}), "archived")
    r = api.post(vpath(v["id"], "/restore"), users["sales"])
    assert r.status_code == 200 and r.json()["archived_at"] is None and r.json()["version"] == 3
    body = problem(api.post(vpath(v["id"], "/restore"), users["sales"]), 409)
    assert "not archived" in body["detail"]
    actions = db(f"SELECT string_agg(action, ',' ORDER BY id) FROM audit_log WHERE entity = 'visit' "
                 f"AND entity_id = '{v['id']}' AND action <> 'read'")
    assert actions == "create,archive,restore"


# ---------------------------------------------------------------- roles and scope

@pytest.mark.parametrize("role", ROLES)
def test_read_matrix(api, users, customer, make_visit, role):
    v = make_visit(customer["id"])
    g = api.get(vpath(v["id"]), users[role])
    lst = api.get(vpath() + f"?customer_id={customer['id']}", users[role])
    if role in READERS:
        assert g.status_code == 200 and g.json() == v
        assert [x["id"] for x in lst.json()["items"]] == [v["id"]]
    elif role == "sales2":
        problem(g, 404)
        assert lst.status_code == 200 and lst.json()["items"] == []
    else:
        assert problem(g, 403)["type"].endswith("/forbidden")
        problem(lst, 403)


@pytest.mark.parametrize("role", ["finance", "office", "erp"])
def test_roles_that_may_not_write(api, users, customer, make_visit, db, role):
    v = make_visit(customer["id"])
    place = unique()
    problem(api.post(vpath(), users[role], {"customer_id": customer["id"], "visited_at": ts(1), "place": place}), 403)
    problem(api.patch(vpath(v["id"]), users[role], {"place": "x"}), 403)
    problem(api.delete(vpath(v["id"]), users[role]), 403)
    problem(api.post(vpath(v["id"], "/restore"), users[role]), 403)
    assert db(f"SELECT count(*) FROM visits WHERE place = '{place}'") == "0"
    assert api.get(vpath(v["id"]), users["sales"]).json() == v


def test_record_of_another_rep_looks_like_a_missing_one(api, users, customer, make_visit):
    v = make_visit(customer["id"])
    missing = str(uuid.uuid4())
    calls = [("GET", "", None), ("PATCH", "", {"place": "x"}), ("PATCH", "", {"place": 1}), ("DELETE", "", None),
             ("POST", "/restore", None)]
    for method, suffix, body in calls:
        r1 = api.call(method, vpath(v["id"], suffix), users["sales2"], json_body=body)
        r2 = api.call(method, vpath(missing, suffix), users["sales2"], json_body=body)
        assert r1.status_code == r2.status_code, method
        j1, j2 = r1.json(), r2.json()
        assert (j1["type"], j1["title"], j1.get("detail"), j1.get("errors")) == \
            (j2["type"], j2["title"], j2.get("detail"), j2.get("errors")), method
    problem(api.delete(vpath(v["id"]), users["sales2"]), 404)
    problem(api.get(vpath("not-a-uuid"), users["manager"]), 404)
    problem(api.delete(vpath("not-a-uuid"), users["manager"]), 404)
    assert api.get(vpath(v["id"]), users["sales"]).json() == v


# ---------------------------------------------------------------- update

def test_patch_updates_clears_and_empty_patch(api, users, customer, make_visit):
    v = make_visit(customer["id"], place="宁波", discussion="旧", customer_participants=["赵经理"])
    r = api.patch(vpath(v["id"]), users["sales"], {"place": None, "discussion": "新讨论",
                                                    "customer_participants": ["赵经理", "钱主管"],
                                                    "our_participant_ids": [users.ids["manager"]]})
    assert r.status_code == 200, r.text
    u = r.json()
    assert u["place"] is None and u["discussion"] == "新讨论" and u["customer_participants"] == ["赵经理", "钱主管"]
    assert u["our_participant_ids"] == [users.ids["manager"]] and u["version"] == 2
    assert u["author_id"] == users.ids["sales"]
    r = api.patch(vpath(v["id"]), users["sales"], {})
    assert r.status_code == 200 and r.json() == u


PATCH_INVALID = [
    ({"plan_id": "00000000-0000-4000-8000-000000000000"}, "plan_id"),
    ({"customer_id": "00000000-0000-4000-8000-000000000000"}, "customer_id"),
    ({"author_id": "00000000-0000-4000-8000-000000000000"}, "author_id"),
    ({"visited_at": None}, "visited_at"),
    ({"visited_at": "2999-01-01T00:00:00Z"}, "visited_at"),
    ({"our_participant_ids": [str(uuid.uuid4())]}, "our_participant_ids"),
    ({"customer_participants": [None]}, "customer_participants"),
    ({"archived": True}, "archived"),
    ({"version": 5}, "version"),
    ({"nonsense": 1}, "nonsense"),
]


@pytest.mark.parametrize("patch,field", PATCH_INVALID, ids=[f"{f}-{i}" for i, (_, f) in enumerate(PATCH_INVALID)])
def test_patch_invalid_is_422_and_changes_nothing(api, users, customer, make_visit, patch, field):
    v = make_visit(customer["id"])
    body = assert_invalid(api.patch(vpath(v["id"]), users["sales"], patch), field)
    if field in ("plan_id", "customer_id", "author_id"):
        assert message_for(body, field) == ["is read-only"]
    assert api.get(vpath(v["id"]), users["sales"]).json() == v


def test_patch_accepts_merge_patch_json_and_keeps_the_plan(api, users, customer, make_plan):
    p = make_plan(customer["id"])
    v = api.post(vpath(), users["sales"], {"plan_id": p["id"], "visited_at": ts(1)}).json()
    r = api.call("PATCH", vpath(v["id"]), users["manager"],
                 data='{"suggestions": "加快打样", "place": null}'.encode(),
                 headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    assert r.json()["suggestions"] == "加快打样" and r.json()["plan_id"] == p["id"]
    assert plan_of(api, users, p["id"])["status"] == "completed"


# ---------------------------------------------------------------- ETag / If-Match

def test_etag_if_none_match_and_if_match(api, users, customer, make_visit, db):
    v = make_visit(customer["id"])
    path = vpath(v["id"])
    r = api.get(path, users["sales"], headers={"If-None-Match": 'W/"1"'})
    assert r.status_code == 304 and r.content == b"" and r.headers["ETag"] == 'W/"1"'
    assert api.get(path, users["sales"], headers={"If-None-Match": 'W/"2"'}).status_code == 200
    body = problem(api.patch(path, users["sales"], {"place": "x"}, headers={"If-Match": 'W/"2"'}), 412)
    assert body["type"].endswith("/precondition-failed")
    problem(api.delete(path, users["sales"], headers={"If-Match": 'W/"9"'}), 412)
    assert api.get(path, users["sales"]).json() == v
    r = api.patch(path, users["sales"], {"place": "苏州"}, headers={"If-Match": 'W/"1"'})
    assert r.status_code == 200 and r.json()["version"] == 2 and r.headers["ETag"] == 'W/"2"'
    assert api.delete(path, users["sales"], headers={"If-Match": 'W/"2"'}).status_code == 204
    problem(api.post(path + "/restore", users["sales"], headers={"If-Match": 'W/"2"'}), 412)
    assert api.post(path + "/restore", users["sales"], headers={"If-Match": 'W/"3"'}).status_code == 200
    assert db(f"SELECT count(*) FROM audit_log WHERE entity = 'visit' AND entity_id = '{v['id']}' "
              f"AND action = 'update'") == "1"


# ---------------------------------------------------------------- list

def test_list_newest_first_filters_and_time_window(api, users, make_customer, make_plan, make_visit):
    a, b = make_customer(), make_customer(owner="sales2")
    base = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) - datetime.timedelta(days=30)
    at = lambda h: (base + datetime.timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    v1 = make_visit(a["id"], visited_at=at(1))
    v2 = make_visit(a["id"], visited_at=at(2), token="manager")
    v3 = make_visit(a["id"], visited_at=at(3))
    p = make_plan(a["id"])
    v4 = make_visit(plan_id=p["id"], visited_at=at(4))
    vb = make_visit(b["id"], token="sales2", visited_at=at(2))

    def ids(role, query):
        return [x["id"] for x in walk_pages(api, vpath(), users[role], query)]

    q = f"customer_id={a['id']}"
    assert ids("sales", q) == [v4["id"], v3["id"], v2["id"], v1["id"]]
    assert ids("sales", q + f"&author_id={users.ids['manager']}") == [v2["id"]]
    assert ids("sales", f"plan_id={p['id']}") == [v4["id"]]
    # from inclusive, to exclusive; offsets are honoured.
    assert ids("sales", q + f"&from={at(2)}&to={at(4)}") == [v3["id"], v2["id"]]
    from_plus8 = (base + datetime.timedelta(hours=3 + 8)).strftime("%Y-%m-%dT%H:%M:%S+08:00")
    assert ids("sales", q + f"&from={from_plus8.replace('+', '%2B')}") == [v4["id"], v3["id"]]
    # Scope: sales sees only records of own customers; finance and office see all.
    assert ids("sales", f"customer_id={b['id']}") == []
    assert ids("finance", f"customer_id={b['id']}") == [vb["id"]]
    assert ids("office", f"customer_id={b['id']}") == [vb["id"]]
    assert vb["id"] not in ids("sales", f"from={at(0)}&to={at(5)}")


def test_pagination_and_concurrent_inserts(api, users, customer, make_visit):
    base = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) - datetime.timedelta(days=60)
    hours = [5, 1, 3, 3, 7, 2, 3]
    made = [make_visit(customer["id"], visited_at=(base + datetime.timedelta(hours=h)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")) for h in hours]
    expected = [v["id"] for v in sorted(made, key=lambda v: (v["visited_at"], v["id"]), reverse=True)]
    q = f"customer_id={customer['id']}"
    for limit, sizes in ((3, [3, 3, 1]), (2, [2, 2, 2, 1]), (7, [7]), (1, [1] * 7)):
        seen, cursor, got = [], None, []
        while True:
            r = api.get(vpath() + f"?{q}&limit={limit}" + (f"&cursor={cursor}" if cursor else ""), users["sales"])
            assert r.status_code == 200, r.text
            body = r.json()
            got.append(len(body["items"]))
            seen += [x["id"] for x in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert got == sizes and seen == expected, limit
    first = api.get(vpath() + f"?{q}&limit=3", users["sales"]).json()
    seen = [x["id"] for x in first["items"]]
    make_visit(customer["id"], visited_at=ts(1))
    make_visit(customer["id"], visited_at=(base - datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    cursor = first["next_cursor"]
    while cursor:
        body = api.get(vpath() + f"?{q}&limit=3&cursor={cursor}", users["sales"]).json()
        seen += [x["id"] for x in body["items"]]
        cursor = body["next_cursor"]
    assert len(seen) == len(set(seen)) == 8 and set(expected) <= set(seen)


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "cursor=bogus", "customer_id=x", "plan_id=1",
                                   "author_id=", "from=2026-01-01", "to=yesterday", "include_archived=yes",
                                   "status=planned", "sort=visited_at", "q=x"])
def test_bad_list_query_is_400(api, users, query):
    body = problem(api.get(vpath() + "?" + query, users["sales"]), 400)
    assert body["type"].endswith("/bad-request")


def test_cursor_from_another_list_is_400(api, users, customer, make_visit, make_plan):
    for _ in range(2):
        make_visit(customer["id"])
        make_plan(customer["id"])
    q = f"customer_id={customer['id']}"
    cur = api.get(vpath() + f"?{q}&limit=1", users["sales"]).json()["next_cursor"]
    assert cur
    assert api.get(vpath() + f"?{q}&limit=1&cursor={cur}", users["sales"]).status_code == 200
    problem(api.get(f"/v1/visit-plans?cursor={cur}", users["sales"]), 400)
    pcur = api.get(f"/v1/visit-plans?{q}&limit=1", users["sales"]).json()["next_cursor"]
    assert pcur
    problem(api.get(vpath() + f"?cursor={pcur}", users["sales"]), 400)


# ---------------------------------------------------------------- idempotency and audit

def test_idempotency_key_replays_a_plan_completing_record(api, users, customer, make_plan, db):
    p = make_plan(customer["id"])
    key = uuid.uuid4().hex
    body = {"plan_id": p["id"], "visited_at": ts(1), "discussion": unique("幂等")}
    r1 = api.post(vpath(), users["sales"], body, headers={"Idempotency-Key": key})
    r2 = api.post(vpath(), users["sales"], body, headers={"Idempotency-Key": key})
    assert r1.status_code == r2.status_code == 201, r2.text
    assert r1.json() == r2.json() and r1.headers["Location"] == r2.headers["Location"]
    assert db(f"SELECT count(*) FROM visits WHERE plan_id = '{p['id']}'") == "1"
    assert db(f"SELECT count(*) FROM audit_log WHERE entity = 'visit_plan' AND action = 'complete' "
              f"AND entity_id = '{p['id']}'") == "1"
    problem(api.post(vpath(), users["sales"], {**body, "place": "x"}, headers={"Idempotency-Key": key}), 422)


def test_changes_and_reads_are_audited(api, users, customer, make_visit, db):
    v = make_visit(customer["id"], place="旧地点")
    assert api.patch(vpath(v["id"]), users["sales"], {"place": "新地点"}).status_code == 200
    row = db(f"SELECT (before->>'place') || '|' || (after->>'place') || '|' || customer_id FROM audit_log "
             f"WHERE entity = 'visit' AND action = 'update' AND entity_id = '{v['id']}'")
    assert row == f"旧地点|新地点|{customer['id']}"
    assert api.get(vpath(v["id"]), users["finance"]).status_code == 200
    sql = (f"SELECT count(*) FROM audit_log WHERE action = 'read' AND entity = 'visit' AND entity_id = '{v['id']}' "
           f"AND actor_id = '{users.ids['finance']}' AND customer_id = '{customer['id']}'")
    assert wait_for(lambda: db(sql) == "1")
    h = api.get(f"/v1/customers/{customer['id']}/history", users["sales"]).json()["items"]
    assert [(e["entity"], e["action"]) for e in h if e["entity_id"] == v["id"]] == \
        [("visit", "update"), ("visit", "create")]


def test_an_archived_customer_takes_no_new_records(api, users, customer, db):
    assert api.delete(f"/v1/customers/{customer['id']}", users["sales"]).status_code == 204
    before = db("SELECT count(*) FROM visits")
    r = api.post("/v1/visits", users["sales"], {"customer_id": customer["id"], "visited_at": ts(1)})
    assert_state_conflict(r, "customer archived")
    assert db("SELECT count(*) FROM visits") == before
