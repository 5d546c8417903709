"""Black-box API tests for complaints (operations complaints_* in api/openapi.yaml).

Lifecycle received → acknowledged → assigned → in_progress → resolved → closed (reopen), the
event log, the role matrix (office side / assignee / finance / sales scope), refunds confirmed
by finance only, bad input, If-Match, pagination, archive/restore, idempotency and the audit
trail. Every JSON response is validated against the spec by the `api` fixture.
"""

import datetime as dt
import uuid

import pytest

from conftest import assert_invalid, problem, unique, walk_pages

BASE = "/v1/complaints"
MISSING = "00000000-0000-4000-8000-000000000000"


# ---------------------------------------------------------------- helpers

def assert_state(r, state):
    body = problem(r, 409)
    assert f"'{state}'" in body["detail"], body
    return body


def cpath(cid=None, suffix=""):
    return BASE + (f"/{cid}" if cid else "") + suffix


def parse_ts(s):
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


def iso(t):
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_utc():
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def future(hours=72):
    return iso(now_utc() + dt.timedelta(hours=hours))


@pytest.fixture
def customer(make_customer):
    return make_customer()


@pytest.fixture
def file(api, users):
    """Files a complaint (default: by the office, normal quality complaint)."""
    def make(cid, who="office", **fields):
        body = {"customer_id": cid, "channel": "phone", "category": "quality", "severity": "normal",
                "description": "布面色差严重，客户要求退货"}
        body.update(fields)
        r = api.post(BASE, users[who], body)
        assert r.status_code == 201, r.text
        return r.json()
    return make


def act(api, token, cid, action, body=None, **kw):
    return api.post(cpath(cid, f"/{action}"), token, body, **kw)


@pytest.fixture
def advance(api, users):
    """Moves a complaint (by the office) to a state; assignee defaults to the office user."""
    order = ["received", "acknowledged", "assigned", "in_progress", "resolved", "closed"]

    def go(c, state, assignee="office", refund=None):
        cid = c["id"]
        steps = order[order.index(c["status"]) + 1: order.index(state) + 1]
        for s in steps:
            if s == "acknowledged":
                r = act(api, users["office"], cid, "acknowledge")
            elif s == "assigned":
                r = act(api, users["office"], cid, "assign",
                        {"assignee_id": users.ids[assignee], "department": "质量部", "resolution_due": future()})
            elif s == "in_progress":
                r = act(api, users["office"], cid, "start")
            elif s == "resolved":
                body = {"resolution": "更换同批次面料", "root_cause": "material", "preventive_action": "来料检验加严"}
                if refund:
                    body["refund_amount"] = refund
                r = act(api, users["office"], cid, "resolve", body)
            else:
                r = act(api, users["office"], cid, "close", {"satisfaction": 4})
            assert r.status_code == 200, r.text
            c = r.json()
        assert c["status"] == state
        return c
    return go


# ---------------------------------------------------------------- create and read

def test_file_returns_201_location_etag_deadlines_and_event(api, users, customer, file, db):
    before = now_utc()
    r = api.post(BASE, users["sales"], {"customer_id": customer["id"], "channel": "wechat", "category": "delivery",
                                        "severity": "urgent", "description": "  交货延迟两周  ",
                                        "order_reference": "SO-2026-0001"})
    assert r.status_code == 201, r.text
    c = r.json()
    assert r.headers["Location"] == f"{BASE}/{c['id']}"
    assert r.headers["ETag"] == 'W/"1"' and c["version"] == 1
    assert c["status"] == "received" and c["description"] == "交货延迟两周" and c["created_by"] == users.ids["sales"]
    received = parse_ts(c["received_at"])
    assert before - dt.timedelta(seconds=2) <= received <= now_utc() + dt.timedelta(seconds=2)
    # urgent: first response within 1 h, handling started within 24 h of receipt
    assert parse_ts(c["first_response_due"]) - received == dt.timedelta(hours=1)
    assert parse_ts(c["start_due"]) - received == dt.timedelta(hours=24)
    assert c["resolution_due"] is None and c["resolution_status"] == "pending"
    assert c["first_response_status"] == "at_risk"  # 1 h left < the 2 h window
    assert c["start_status"] == "pending"
    assert c["next_due"] == c["first_response_due"]
    assert c["refund_status"] is None and c["archived"] is False
    ev = api.get(cpath(c["id"], "/events"), users["sales"]).json()["items"]
    assert [(e["action"], e["from_status"], e["to_status"]) for e in ev] == [("create", None, "received")]
    assert ev[0]["actor_id"] == users.ids["sales"] and ev[0]["actor_role"] == "sales"
    assert db(f"SELECT action, customer_id FROM audit_log WHERE entity = 'complaint' AND entity_id = '{c['id']}'") \
        == f"create|{customer['id']}"


def test_normal_complaint_first_response_within_24h(api, users, customer, file):
    c = file(customer["id"], received_at=iso(now_utc() - dt.timedelta(hours=1)))
    received = parse_ts(c["received_at"])
    assert parse_ts(c["first_response_due"]) - received == dt.timedelta(hours=24)
    assert c["first_response_status"] == "pending" and c["start_status"] == "pending"


def test_late_recording_counts_from_received_at(api, users, customer, file, db):
    late = file(customer["id"], received_at=iso(now_utc() - dt.timedelta(hours=30)))
    assert late["first_response_status"] == "breached" and late["start_status"] == "breached"
    assert parse_ts(late["created_at"]) - parse_ts(late["received_at"]) >= dt.timedelta(hours=29)
    near = file(customer["id"], received_at=iso(now_utc() - dt.timedelta(hours=23)))
    assert near["first_response_status"] == "at_risk"
    # a received_at with an offset is stored as the same instant
    t = now_utc() - dt.timedelta(hours=3)
    local = t.astimezone(dt.timezone(dt.timedelta(hours=8))).isoformat()
    c = file(customer["id"], received_at=local)
    assert c["received_at"] == iso(t)


def test_get_and_304_only_when_settled(api, users, customer, file, advance):
    c = file(customer["id"])
    r = api.get(cpath(c["id"]), users["sales"])
    assert r.status_code == 200 and r.json() == c and r.headers["ETag"] == 'W/"1"'
    # legs still running: the status may change with time alone → never 304
    assert api.get(cpath(c["id"]), users["sales"], headers={"If-None-Match": 'W/"1"'}).status_code == 200
    closed = advance(c, "closed")
    etag = f'W/"{closed["version"]}"'
    r = api.get(cpath(c["id"]), users["office"], headers={"If-None-Match": etag})
    assert r.status_code == 304 and r.headers["ETag"] == etag


def test_get_missing_and_malformed_ids_404(api, users):
    problem(api.get(cpath(MISSING), users["office"]), 404)
    problem(api.get(cpath("not-a-uuid"), users["office"]), 404)


# ---------------------------------------------------------------- lifecycle

def test_full_lifecycle_with_refund_and_reopen(api, users, customer, file, db):
    c = file(customer["id"], who="sales", severity="urgent")
    cid = c["id"]
    o = users["office"]
    r = act(api, o, cid, "acknowledge", {"note": "已电话回复客户"})
    assert r.status_code == 200, r.text
    c = r.json()
    assert c["status"] == "acknowledged" and c["first_response_by"] == users.ids["office"]
    assert c["first_response_status"] == "met" and c["version"] == 2
    due = future(48)
    c = act(api, o, cid, "assign", {"assignee_id": users.ids["sales2"], "department": "质量部",
                                   "resolution_due": due}).json()
    assert c["status"] == "assigned" and c["assignee_id"] == users.ids["sales2"] and c["department"] == "质量部"
    assert c["resolution_due"] == due and c["resolution_status"] == "pending"
    # the assignee (another rep, not the owner) starts, notes and resolves
    r = act(api, users["sales2"], cid, "start")
    assert r.status_code == 200, r.text
    c = r.json()
    assert c["status"] == "in_progress" and c["start_status"] == "met" and c["started_at"]
    r = api.post(cpath(cid, "/notes"), users["sales2"], {"note": "已取样送检"})
    assert r.status_code == 201, r.text
    note = r.json()
    assert note["action"] == "note" and note["from_status"] == note["to_status"] == "in_progress"
    assert r.headers["Location"] == f"{BASE}/{cid}/events/{note['id']}"
    assert api.get(r.headers["Location"], users["sales"]).json() == note
    r = act(api, users["sales2"], cid, "resolve", {"resolution": "退货并补发", "root_cause": "material",
                                                  "preventive_action": "来料检验", "refund_amount": "1250.50"})
    assert r.status_code == 200, r.text
    c = r.json()
    assert c["status"] == "resolved" and c["resolution_status"] == "met" and c["resolved_by"] == users.ids["sales2"]
    assert c["refund_amount"] == "1250.50" and c["refund_status"] == "pending"
    assert c["next_due"] is None
    # cannot close while the refund waits for finance
    body = assert_state(act(api, o, cid, "close", {"satisfaction": 5}), "resolved, refund pending finance confirmation")
    assert "close" in body["detail"]
    for who in ("office", "manager", "admin", "sales", "sales2"):
        problem(act(api, users[who], cid, "confirm-refund"), 403)
    r = act(api, users["finance"], cid, "confirm-refund", {"note": "财务已退款"})
    assert r.status_code == 200, r.text
    c = r.json()
    assert c["refund_status"] == "confirmed" and c["refund_confirmed_by"] == users.ids["finance"]
    assert c["refund_confirmed_at"] and c["status"] == "resolved"
    assert_state(act(api, users["finance"], cid, "confirm-refund"), "refund confirmed")
    c = act(api, o, cid, "close", {"satisfaction": 5}).json()
    assert c["status"] == "closed" and c["satisfaction"] == 5 and c["closed_at"]
    # reopen: back to in progress, resolution leg open again
    r = act(api, o, cid, "reopen", {"reason": "客户反馈仍有色差"})
    assert r.status_code == 200, r.text
    c = r.json()
    assert c["status"] == "in_progress" and c["reopen_count"] == 1
    assert c["resolved_at"] is None and c["closed_at"] is None and c["satisfaction"] is None
    assert c["resolution_status"] == "pending" and c["next_due"] == due
    assert c["refund_status"] == "confirmed"  # a confirmed refund stays
    assert_invalid(act(api, users["sales2"], cid, "resolve", {"resolution": "再次处理", "root_cause": "process",
                                                              "refund_amount": "10.00"}), "refund_amount")
    c = act(api, users["sales2"], cid, "resolve", {"resolution": "再次处理", "root_cause": "process"}).json()
    assert c["root_cause"] == "process" and c["refund_amount"] == "1250.50" and c["refund_status"] == "confirmed"
    c = act(api, o, cid, "close", {"satisfaction": 3}).json()
    assert c["status"] == "closed" and c["satisfaction"] == 3
    events = walk_pages(api, cpath(cid, "/events"), users["sales"], limit=3)
    assert [(e["action"], e["from_status"], e["to_status"]) for e in events] == [
        ("create", None, "received"), ("acknowledge", "received", "acknowledged"),
        ("assign", "acknowledged", "assigned"), ("start", "assigned", "in_progress"),
        ("note", "in_progress", "in_progress"), ("resolve", "in_progress", "resolved"),
        ("confirm_refund", "resolved", "resolved"), ("close", "resolved", "closed"),
        ("reopen", "closed", "in_progress"), ("resolve", "in_progress", "resolved"),
        ("close", "resolved", "closed")]
    assert events[1]["note"] == "已电话回复客户" and events[8]["note"] == "客户反馈仍有色差"
    assert events[2]["details"] == {"assignee_id": users.ids["sales2"], "department": "质量部", "resolution_due": due}
    assert events[5]["details"]["refund_amount"] == "1250.50" and events[7]["details"] == {"satisfaction": "5"}
    assert [e["actor_role"] for e in events[3:6]] == ["sales", "sales", "sales"]
    # every step is audited with the complaint's customer
    audit = db(f"SELECT string_agg(action, ',' ORDER BY id) FROM audit_log WHERE entity = 'complaint' "
               f"AND entity_id = '{cid}' AND action <> 'read' AND customer_id = '{customer['id']}'")
    assert audit == "create,acknowledge,assign,start,note,resolve,confirm_refund,close,reopen,resolve,close"
    assert db(f"SELECT after->>'status' FROM audit_log WHERE entity = 'complaint' AND entity_id = '{cid}' "
              f"AND action = 'reopen'") == "in_progress"
    notes = api.get(cpath(cid, "/notes"), users["sales"]).json()
    assert [n["note"] for n in notes["items"]] == ["已取样送检"] and notes["next_cursor"] is None


def test_reassign_keeps_in_progress(api, users, customer, file, advance):
    c = advance(file(customer["id"]), "in_progress")
    due = future(96)
    c2 = act(api, users["manager"], c["id"], "assign", {"assignee_id": users.ids["finance"], "department": "财务部",
                                                       "resolution_due": due}).json()
    assert c2["status"] == "in_progress" and c2["assignee_id"] == users.ids["finance"]
    assert c2["resolution_due"] == due and c2["started_at"] == c["started_at"]


def test_resolve_after_reopen_replaces_a_pending_refund(api, users, customer, file, advance):
    c = advance(file(customer["id"]), "resolved", refund="300.00")
    assert c["refund_status"] == "pending"
    act(api, users["office"], c["id"], "reopen", {"reason": "金额有误"})
    c = act(api, users["office"], c["id"], "resolve", {"resolution": "改为换货", "root_cause": "logistics"}).json()
    assert c["refund_amount"] is None and c["refund_status"] is None
    assert act(api, users["office"], c["id"], "close", {"satisfaction": 4}).status_code == 200


# every action from every state it does not allow → 409 naming the state
ALLOWED = {
    "acknowledge": {"received"},
    "assign": {"acknowledged", "assigned", "in_progress"},
    "start": {"assigned"},
    "resolve": {"in_progress"},
    "close": {"resolved"},
    "reopen": {"resolved", "closed"},
    "notes": {"received", "acknowledged", "assigned", "in_progress", "resolved"},
}
STATES = ["received", "acknowledged", "assigned", "in_progress", "resolved", "closed"]


def bodies(users):
    return {"acknowledge": None, "start": None,
            "assign": {"assignee_id": users.ids["office"], "department": "质量部", "resolution_due": future()},
            "resolve": {"resolution": "处理", "root_cause": "other"}, "close": {"satisfaction": 3},
            "reopen": {"reason": "再开"}, "notes": {"note": "进展"}}


@pytest.mark.parametrize("state", STATES)
def test_invalid_transitions_are_409_naming_the_state(api, users, customer, file, advance, db, state):
    c = advance(file(customer["id"]), state)
    b = bodies(users)
    for action, allowed in ALLOWED.items():
        if state in allowed:
            continue
        before = db(f"SELECT version FROM complaints WHERE id = '{c['id']}'")
        body = assert_state(act(api, users["office"], c["id"], action, b[action]), state)
        assert body["type"].endswith("/conflict") or body["status"] == 409
        assert db(f"SELECT version FROM complaints WHERE id = '{c['id']}'") == before
    assert_state(act(api, users["finance"], c["id"], "confirm-refund"), "no refund")


def test_archived_complaint_takes_no_actions(api, users, customer, file):
    c = file(customer["id"])
    assert api.delete(cpath(c["id"]), users["office"]).status_code == 204
    b = bodies(users)
    for action in ALLOWED:
        assert_state(act(api, users["office"], c["id"], action, b[action]), "archived")
    assert_state(api.patch(cpath(c["id"]), users["office"], {"severity": "urgent"}), "archived")


# ---------------------------------------------------------------- roles and scope

def test_role_matrix_reads(api, users, customer, file):
    c = file(customer["id"])
    for who in ("sales", "manager", "finance", "office", "admin"):
        assert api.get(cpath(c["id"]), users[who]).status_code == 200, who
        assert api.get(cpath(c["id"], "/events"), users[who]).status_code == 200, who
        assert c["id"] in [x["id"] for x in walk_pages(api, BASE, users[who], f"customer_id={customer['id']}")], who
    # another rep: exactly like a missing complaint
    for path in ("", "/events", "/notes"):
        a = problem(api.get(cpath(c["id"], path), users["sales2"]), 404)
        b = problem(api.get(cpath(MISSING, path), users["sales2"]), 404)
        assert {k: v for k, v in a.items() if k not in ("request_id", "instance")} == \
            {k: v for k, v in b.items() if k not in ("request_id", "instance")}
    assert walk_pages(api, BASE, users["sales2"], f"customer_id={customer['id']}") == []
    for path in ("", "/events", "/notes"):
        problem(api.get(cpath(c["id"], path), users["erp"]), 403)
    problem(api.get(BASE, users["erp"]), 403)


def test_role_matrix_filing(api, users, customer, make_customer, db):
    body = {"customer_id": customer["id"], "channel": "email", "category": "billing", "severity": "normal",
            "description": "发票金额错误"}
    for who in ("sales", "manager", "finance", "office", "admin"):
        r = api.post(BASE, users[who], body)
        assert r.status_code == 201, (who, r.text)
        assert r.json()["created_by"] == users.ids[who]
    problem(api.post(BASE, users["erp"], body), 403)
    # another rep's customer: the same 422 as a missing customer, nothing written
    n = db("SELECT count(*) FROM complaints")
    a = assert_invalid(api.post(BASE, users["sales2"], body), "customer_id")
    b = assert_invalid(api.post(BASE, users["sales2"], dict(body, customer_id=MISSING)), "customer_id")
    assert a["errors"] == b["errors"] == [{"field": "customer_id", "message": "no such customer"}]
    assert db("SELECT count(*) FROM complaints") == n


def test_role_matrix_workflow(api, users, customer, file, advance):
    c = file(customer["id"])
    cid = c["id"]
    b = bodies(users)
    # only the office side runs the workflow; sales and finance are refused by role
    for who in ("sales", "sales2", "finance", "erp"):
        for action in ("acknowledge", "assign", "close", "reopen", "restore"):
            problem(act(api, users[who], cid, action, b.get(action)), 403)
        problem(api.patch(cpath(cid), users[who], {"severity": "urgent"}), 403)
        problem(api.delete(cpath(cid), users[who]), 403)
    for who in ("manager", "admin"):
        c = file(customer["id"])
        assert act(api, users[who], c["id"], "acknowledge").status_code == 200, who
    # start / notes / resolve: the office side or the assignee
    c = advance(file(customer["id"]), "assigned", assignee="sales2")
    problem(act(api, users["sales"], c["id"], "start"), 403)        # the owner, not the assignee
    problem(act(api, users["finance"], c["id"], "start"), 403)
    problem(api.post(cpath(c["id"], "/notes"), users["sales"], {"note": "x"}), 403)
    problem(act(api, users["erp"], c["id"], "start"), 403)
    assert act(api, users["sales2"], c["id"], "start").status_code == 200
    problem(act(api, users["sales"], c["id"], "resolve", b["resolve"]), 403)
    assert act(api, users["sales2"], c["id"], "resolve", b["resolve"]).status_code == 200
    # an assignee who cannot see the customer otherwise still sees the complaint, only that one
    assert api.get(cpath(c["id"]), users["sales2"]).status_code == 200
    listed = [x["id"] for x in walk_pages(api, BASE, users["sales2"], f"customer_id={customer['id']}")]
    assert listed == [c["id"]]
    problem(api.get(f"/v1/customers/{customer['id']}", users["sales2"]), 404)
    # a finance assignee may start
    c = advance(file(customer["id"]), "assigned", assignee="finance")
    assert act(api, users["finance"], c["id"], "start").status_code == 200
    # a rep outside scope gets 404 on actions, as for a missing complaint
    c = file(customer["id"])
    problem(act(api, users["sales2"], c["id"], "start"), 404)
    problem(act(api, users["sales2"], MISSING, "start"), 404)


def test_policy_of_office_side_reading_notes_of_owner(api, users, customer, file, advance):
    c = advance(file(customer["id"]), "in_progress")
    api.post(cpath(c["id"], "/notes"), users["office"], {"note": "客户已接受方案"})
    notes = api.get(cpath(c["id"], "/notes"), users["sales"]).json()["items"]
    assert [n["note"] for n in notes] == ["客户已接受方案"]


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("extra, field", [
    ({"customer_id": None}, "customer_id"),
    ({"customer_id": "nope"}, "customer_id"),
    ({"channel": "fax"}, "channel"),
    ({"category": "price"}, "category"),
    ({"severity": "high"}, "severity"),
    ({"severity": None}, "severity"),
    ({"description": ""}, "description"),
    ({"description": "述" * 5001}, "description"),
    ({"description": 5}, "description"),
    ({"order_reference": "R" * 65}, "order_reference"),
    ({"received_at": "2026-13-01T00:00:00Z"}, "received_at"),
    ({"received_at": "2026-11-01 08:00"}, "received_at"),
    ({"received_at": None}, "received_at"),
    ({"contact_id": "x"}, "contact_id"),
    ({"contact_id": MISSING}, "contact_id"),
    ({"status": "closed"}, "status"),
    ({"id": MISSING}, "id"),
    ({"first_response_due": "2026-01-01T00:00:00Z"}, "first_response_due"),
    ({"assignee_id": MISSING}, "assignee_id"),
    ({"version": 3}, "version"),
    ({"colour": "red"}, "colour"),
])
def test_create_invalid_is_422_naming_the_field(api, users, customer, db, extra, field):
    body = {"customer_id": customer["id"], "channel": "phone", "category": "quality", "severity": "normal",
            "description": "问题"}
    body.update(extra)
    n = db("SELECT count(*) FROM complaints")
    assert_invalid(api.post(BASE, users["office"], body), field)
    assert db("SELECT count(*) FROM complaints") == n


def test_create_reports_every_missing_field_and_future_received_at(api, users, customer):
    body = assert_invalid(api.post(BASE, users["office"], {}), "customer_id")
    assert {e["field"] for e in body["errors"]} == {"customer_id", "channel", "category", "severity", "description"}
    body = assert_invalid(api.post(BASE, users["office"], {
        "customer_id": customer["id"], "channel": "phone", "category": "quality", "severity": "normal",
        "description": "x", "received_at": future(1)}), "received_at")
    assert "future" in body["errors"][0]["message"]
    problem(api.call("POST", BASE, users["office"], data=b"[1,2]", headers={"Content-Type": "application/json"}), 422)
    problem(api.call("POST", BASE, users["office"], data=b"{", headers={"Content-Type": "application/json"}), 400)


def test_contact_must_belong_to_the_customer(api, users, customer, make_customer):
    other = make_customer()
    k = api.post(f"/v1/customers/{other['id']}/contacts", users["sales"], {"name": "王经理"}).json()
    body = {"customer_id": customer["id"], "channel": "phone", "category": "quality", "severity": "normal",
            "description": "x", "contact_id": k["id"]}
    assert_invalid(api.post(BASE, users["office"], body), "contact_id")
    body["customer_id"] = other["id"]
    r = api.post(BASE, users["office"], body)
    assert r.status_code == 201 and r.json()["contact_id"] == k["id"]


def test_archived_customer_takes_no_complaints(api, users, make_customer):
    cust = make_customer()
    assert api.delete(f"/v1/customers/{cust['id']}", users["sales"]).status_code == 204
    r = api.post(BASE, users["office"], {"customer_id": cust["id"], "channel": "phone", "category": "quality",
                                         "severity": "normal", "description": "x"})
    problem(r, 409)


def test_action_bodies_are_validated(api, users, customer, file, advance, db):
    c = advance(file(customer["id"]), "acknowledged")
    cid = c["id"]
    o = users["office"]
    ok = {"assignee_id": users.ids["sales"], "department": "质量部", "resolution_due": future()}
    for extra, field in [({"assignee_id": None}, "assignee_id"), ({"assignee_id": MISSING}, "assignee_id"),
                         ({"assignee_id": users.ids["erp"]}, "assignee_id"), ({"department": ""}, "department"),
                         ({"resolution_due": "tomorrow"}, "resolution_due"),
                         ({"resolution_due": iso(now_utc() - dt.timedelta(hours=1))}, "resolution_due"),
                         ({"status": "assigned"}, "status")]:
        assert_invalid(act(api, o, cid, "assign", dict(ok, **extra)), field)
    assert {e["field"] for e in assert_invalid(act(api, o, cid, "assign", {}), "assignee_id")["errors"]} == \
        {"assignee_id", "department", "resolution_due"}
    assert db(f"SELECT status FROM complaints WHERE id = '{cid}'") == "acknowledged"
    c = advance(c, "in_progress")
    okr = {"resolution": "处理完毕", "root_cause": "process"}
    for extra, field in [({"root_cause": "weather"}, "root_cause"), ({"resolution": ""}, "resolution"),
                         ({"refund_amount": "0"}, "refund_amount"), ({"refund_amount": "0.00"}, "refund_amount"),
                         ({"refund_amount": "-5"}, "refund_amount"), ({"refund_amount": "1.234"}, "refund_amount"),
                         ({"refund_amount": 100}, "refund_amount"), ({"satisfaction": 5}, "satisfaction")]:
        assert_invalid(act(api, o, cid, "resolve", dict(okr, **extra)), field)
    c = advance(c, "resolved")
    for body, field in [({}, "satisfaction"), ({"satisfaction": 0}, "satisfaction"),
                        ({"satisfaction": 6}, "satisfaction"), ({"satisfaction": "5"}, "satisfaction"),
                        ({"satisfaction": 4.5}, "satisfaction")]:
        assert_invalid(act(api, o, cid, "close", body), field)
    assert_invalid(act(api, o, cid, "reopen", {}), "reason")
    assert_invalid(act(api, o, cid, "reopen", {"reason": "   "}), "reason")
    assert_invalid(act(api, o, cid, "acknowledge", {"bogus": 1}), "bogus")
    assert_invalid(api.post(cpath(cid, "/notes"), o, {}), "note")
    assert db(f"SELECT status FROM complaints WHERE id = '{cid}'") == "resolved"


# ---------------------------------------------------------------- PATCH, If-Match, archive

def test_patch_corrects_and_recomputes_deadlines(api, users, customer, file, db):
    c = file(customer["id"], received_at=iso(now_utc() - dt.timedelta(minutes=30)))
    r = api.patch(cpath(c["id"]), users["office"], {"severity": "urgent", "description": "更正描述"},
                  headers={"If-Match": 'W/"1"'})
    assert r.status_code == 200, r.text
    u = r.json()
    assert u["version"] == 2 and u["severity"] == "urgent" and u["description"] == "更正描述"
    assert parse_ts(u["first_response_due"]) - parse_ts(u["received_at"]) == dt.timedelta(hours=1)
    t = now_utc() - dt.timedelta(hours=2)
    u = api.patch(cpath(c["id"]), users["manager"], {"received_at": iso(t)}).json()
    assert u["received_at"] == iso(t) and u["first_response_due"] == iso(t + dt.timedelta(hours=1))
    assert u["first_response_status"] == "breached"
    # the same values again change no deadline
    same = api.patch(cpath(c["id"]), users["office"], {"received_at": iso(t), "severity": "urgent"}).json()
    assert same["first_response_due"] == u["first_response_due"]
    ev = api.get(cpath(c["id"], "/events"), users["office"]).json()["items"]
    assert ev[1]["action"] == "update" and ev[1]["details"] == {"severity": "urgent", "description": "更正描述"}
    assert_invalid(api.patch(cpath(c["id"]), users["office"], {"customer_id": customer["id"]}), "customer_id")
    assert_invalid(api.patch(cpath(c["id"]), users["office"], {"status": "closed"}), "status")
    # never after the complaint was recorded (beyond the 5 minutes of clock slack)
    db(f"UPDATE complaints SET created_at = created_at - interval '1 hour' WHERE id = '{c['id']}'")
    assert_invalid(api.patch(cpath(c["id"]), users["office"], {"received_at": future(0.05)}), "received_at")
    assert db(f"SELECT count(*) FROM audit_log WHERE entity = 'complaint' AND entity_id = '{c['id']}' "
              f"AND action = 'update'") == "3"


def test_received_at_not_after_first_response(api, users, customer, file, advance):
    c = advance(file(customer["id"], received_at=iso(now_utc() - dt.timedelta(hours=5))), "acknowledged")
    assert_invalid(api.patch(cpath(c["id"]), users["office"],
                             {"received_at": iso(now_utc() + dt.timedelta(minutes=2))}), "received_at")


def test_service_levels_fixed_after_first_response(api, users, customer, file, advance, db):
    """A late downgrade (urgent → normal) or a later received_at would turn a breach into 'met'."""
    c = file(customer["id"], severity="urgent", received_at=iso(now_utc() - dt.timedelta(hours=3)))
    c = advance(c, "acknowledged")
    assert c["first_response_status"] == "breached"
    r = api.patch(cpath(c["id"]), users["office"],
                  {"severity": "normal", "received_at": iso(now_utc() - dt.timedelta(minutes=30))})
    body = problem(r, 422)
    assert {e["field"] for e in body["errors"]} == {"severity", "received_at"}
    after = api.get(cpath(c["id"]), users["office"]).json()
    assert after["severity"] == "urgent" and after["first_response_status"] == "breached"
    assert after["version"] == c["version"]
    # other corrections stay possible
    ok = api.patch(cpath(c["id"]), users["office"], {"description": "补充：客户电话确认"})
    assert ok.status_code == 200 and ok.json()["first_response_due"] == c["first_response_due"]


def test_closed_complaint_cannot_be_patched(api, users, customer, file, advance):
    c = advance(file(customer["id"]), "closed")
    assert_state(api.patch(cpath(c["id"]), users["office"], {"description": "x"}), "closed")


def test_if_match_stale_is_412_and_changes_nothing(api, users, customer, file, db):
    c = file(customer["id"])
    stale = {"If-Match": 'W/"7"'}
    problem(api.patch(cpath(c["id"]), users["office"], {"description": "y"}, headers=stale), 412)
    problem(act(api, users["office"], c["id"], "acknowledge", headers=stale), 412)
    problem(api.post(cpath(c["id"], "/notes"), users["office"], {"note": "x"}, headers=stale), 412)
    problem(api.delete(cpath(c["id"]), users["office"], headers=stale), 412)
    problem(api.patch(cpath(c["id"]), users["office"], {"description": "y"}, headers={"If-Match": "garbage"}), 400)
    assert db(f"SELECT version, status, archived_at IS NULL FROM complaints WHERE id = '{c['id']}'") == "1|received|t"
    assert db(f"SELECT count(*) FROM complaint_events WHERE complaint_id = '{c['id']}'") == "1"
    r = act(api, users["office"], c["id"], "acknowledge", headers={"If-Match": 'W/"1"'})
    assert r.status_code == 200 and r.headers["ETag"] == 'W/"2"'


def test_archive_hides_and_restore_brings_back(api, users, customer, file, db):
    c = file(customer["id"])
    q = f"customer_id={customer['id']}"
    assert api.delete(cpath(c["id"]), users["office"]).status_code == 204
    assert api.delete(cpath(c["id"]), users["office"]).status_code == 204  # idempotent
    assert c["id"] not in [x["id"] for x in walk_pages(api, BASE, users["office"], q)]
    got = [x for x in walk_pages(api, BASE, users["office"], q + "&include_archived=true") if x["id"] == c["id"]]
    assert got and got[0]["archived"] is True and got[0]["archived_at"]
    assert api.get(cpath(c["id"]), users["sales"]).json()["archived"] is True
    r = api.post(cpath(c["id"], "/restore"), users["manager"])
    assert r.status_code == 200 and r.json()["archived"] is False
    assert_state(api.post(cpath(c["id"], "/restore"), users["manager"]), "not archived")
    assert db(f"SELECT string_agg(action, ',' ORDER BY id) FROM complaint_events WHERE complaint_id = '{c['id']}'") \
        == "create,archive,restore"
    assert db(f"SELECT string_agg(action, ',' ORDER BY id) FROM audit_log WHERE entity = 'complaint' "
              f"AND entity_id = '{c['id']}' AND action IN ('archive', 'restore')") == "archive,restore"


# ---------------------------------------------------------------- lists

def test_pagination_filters_and_sorts(api, users, make_customer, file, advance):
    cust = make_customer()
    base = now_utc() - dt.timedelta(hours=10)
    made = [file(cust["id"], received_at=iso(base + dt.timedelta(minutes=i)),
                 category="quality" if i % 2 else "delivery", severity="urgent" if i == 3 else "normal",
                 description=f"批次 {i} 问题", order_reference=f"SO-{i:04d}") for i in range(7)]
    q = f"customer_id={cust['id']}"
    newest_first = [c["id"] for c in reversed(made)]
    assert [c["id"] for c in walk_pages(api, BASE, users["office"], q, limit=2)] == newest_first
    assert [c["id"] for c in walk_pages(api, BASE, users["office"], q + "&sort=received_at", limit=3)] == \
        newest_first[::-1]
    page = api.get(f"{BASE}?{q}&limit=2", users["office"]).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    # a cursor of one sort does not work for the other
    problem(api.get(f"{BASE}?{q}&sort=received_at&cursor={page['next_cursor']}", users["office"]), 400)
    problem(api.get(f"{BASE}?cursor=garbage", users["office"]), 400)

    def ids(query):
        return {c["id"] for c in walk_pages(api, BASE, users["office"], f"{q}&{query}")}
    assert ids("category=quality") == {c["id"] for i, c in enumerate(made) if i % 2}
    assert ids("severity=urgent") == {made[3]["id"]}
    assert ids("q=SO-0005") == {made[5]["id"]}
    assert ids("q=批次 2") == {made[2]["id"]}
    assert ids(f"from={iso(base + dt.timedelta(minutes=2))}&to={iso(base + dt.timedelta(minutes=4))}") == \
        {made[2]["id"], made[3]["id"]}
    advance(made[0], "assigned", assignee="sales2")
    assert ids("status=assigned") == {made[0]["id"]}
    assert ids(f"assignee_id={users.ids['sales2']}") == {made[0]["id"]}
    assert ids(f"owner_id={users.ids['sales']}") == {c["id"] for c in made}
    assert ids(f"owner_id={users.ids['sales2']}") == set()
    # the urgent one received ~10 h ago is past its 1 h first response
    assert made[3]["id"] in ids("sla=breached")
    assert ids("sla=at_risk") == set()


@pytest.mark.parametrize("query", ["status=open", "severity=high", "category=x", "sla=late", "owner_id=x",
                                   "assignee_id=1", "customer_id=abc", "from=yesterday", "to=2026-11-01",
                                   "include_archived=yes", "sort=name", "limit=0", "limit=201", "q=", "unknown=1"])
def test_bad_list_parameters_are_400(api, users, query):
    problem(api.get(f"{BASE}?{query}", users["office"]), 400)


def test_idempotency_key_replays_the_filing(api, users, customer, db):
    body = {"customer_id": customer["id"], "channel": "phone", "category": "service", "severity": "normal",
            "description": unique("重复提交")}
    key = {"Idempotency-Key": uuid.uuid4().hex}
    a = api.post(BASE, users["office"], body, headers=key)
    b = api.post(BASE, users["office"], body, headers=key)
    assert a.status_code == b.status_code == 201 and a.json() == b.json()
    assert db(f"SELECT count(*) FROM complaints WHERE description = '{body['description']}'") == "1"
    problem(api.post(BASE, users["office"], dict(body, severity="urgent"), headers=key), 422)


def test_get_is_audited_as_a_read(api, users, customer, file, db):
    c = file(customer["id"])
    api.get(cpath(c["id"]), users["finance"])
    import time
    for _ in range(60):
        if db(f"SELECT count(*) FROM audit_log WHERE entity = 'complaint' AND entity_id = '{c['id']}' "
              f"AND action = 'read' AND actor_role = 'finance'") == "1":
            break
        time.sleep(0.05)
    else:
        raise AssertionError("read not audited")


def test_events_of_another_complaint_are_404(api, users, customer, file):
    a, b = file(customer["id"]), file(customer["id"])
    ev = api.get(cpath(a["id"], "/events"), users["office"]).json()["items"][0]
    problem(api.get(cpath(b["id"], f"/events/{ev['id']}"), users["office"]), 404)
    problem(api.get(cpath(a["id"], "/events/abc"), users["office"]), 404)
    problem(api.get(cpath(a["id"], "/events/99999999999999999999"), users["office"]), 404)
    problem(api.get(cpath(a["id"], "/events?cursor=abc"), users["office"]), 400)


def test_follow_up_raised_from_a_complaint(api, users, customer, file, make_customer):
    c = file(customer["id"])
    due = (dt.date.today() + dt.timedelta(days=10)).isoformat()
    r = api.post("/v1/follow-ups", users["office"], {"source_type": "complaint", "source_id": c["id"],
                                                     "description": "来料检验加严", "due_date": due,
                                                     "responsible_user_id": users.ids["sales"]})
    assert r.status_code == 201, r.text
    assert r.json()["customer_id"] == customer["id"] and r.json()["source_id"] == c["id"]
    listed = api.get(f"/v1/follow-ups?source_type=complaint&source_id={c['id']}", users["sales"]).json()["items"]
    assert [f["id"] for f in listed] == [r.json()["id"]]
    # another rep's complaint, or an archived one: no such source
    assert_invalid(api.post("/v1/follow-ups", users["sales2"], {"source_type": "complaint", "source_id": c["id"],
                                                                "description": "x", "due_date": due}), "source_id")
    api.delete(cpath(c["id"]), users["office"])
    assert_invalid(api.post("/v1/follow-ups", users["office"], {"source_type": "complaint", "source_id": c["id"],
                                                                "description": "x", "due_date": due}), "source_id")


def test_concurrent_actions_one_wins_the_other_sees_the_new_state(api, users, customer, file, db):
    import threading
    c = file(customer["id"])
    results = []

    def ack():
        from conftest import Api
        results.append(Api(api.server).post(cpath(c["id"], "/acknowledge"), users["office"]).status_code)
    threads = [threading.Thread(target=ack) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 409, 409, 409, 409, 409]
    assert db(f"SELECT count(*) FROM complaint_events WHERE complaint_id = '{c['id']}' AND action = 'acknowledge'") \
        == "1"
    assert db(f"SELECT version FROM complaints WHERE id = '{c['id']}'") == "2"


def test_first_response_recorded_late(api, users, customer, file):
    received = now_utc() - dt.timedelta(hours=5)
    c = file(customer["id"], severity="urgent", received_at=iso(received))
    o = users["office"]
    assert_invalid(act(api, o, c["id"], "acknowledge", {"responded_at": iso(received - dt.timedelta(minutes=1))}),
                   "responded_at")
    assert_invalid(act(api, o, c["id"], "acknowledge", {"responded_at": future(1)}), "responded_at")
    assert_invalid(act(api, o, c["id"], "acknowledge", {"responded_at": "soon"}), "responded_at")
    r = act(api, o, c["id"], "acknowledge", {"responded_at": iso(received + dt.timedelta(minutes=40))})
    assert r.status_code == 200, r.text
    a = r.json()
    assert a["first_response_at"] == iso(received + dt.timedelta(minutes=40)) and a["first_response_status"] == "met"
    ev = api.get(cpath(c["id"], "/events"), o).json()["items"][-1]
    assert ev["details"] == {"responded_at": iso(received + dt.timedelta(minutes=40))}
    # without it the response is now: 5 h after receipt, the urgent hour is breached
    c2 = file(customer["id"], severity="urgent", received_at=iso(received))
    assert act(api, o, c2["id"], "acknowledge").json()["first_response_status"] == "breached"
