"""Black-box API tests for visit plans (operations visit_plans_* in api/openapi.yaml).

Plans follow their customer's scope; every JSON response is validated against the
spec by the `api` fixture, and the tests assert on the bodies as well. Past dates
("missed" plans) are made by moving planned_date with the db fixture.
"""

import datetime
import time
import uuid

import pytest

from conftest import assert_invalid, problem, unique, walk_pages

ROLES = ["sales", "sales2", "manager", "finance", "office", "erp", "admin"]
READERS = {"sales", "manager", "office", "admin"}


# ---------------------------------------------------------------- helpers

def message_for(body, field):
    return [e["message"] for e in body["errors"] if e["field"] == field]


def assert_state_conflict(r, state):
    body = problem(r, 409)
    assert f"'{state}'" in body["detail"], body
    return body


def ppath(pid=None, suffix=""):
    p = "/v1/visit-plans"
    if pid is not None:
        p += f"/{pid}"
    return p + suffix


def wait_for(fn, timeout=3.0, interval=0.05):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v or time.time() > deadline:
            return v
        time.sleep(interval)


def days(today, n):
    return (today + datetime.timedelta(days=n)).isoformat()


@pytest.fixture
def today(db):
    """The business-time date the service uses (crm_today(), Asia/Shanghai by default)."""
    return datetime.date.fromisoformat(db("SELECT crm_today()"))


@pytest.fixture
def customer(make_customer):
    return make_customer()


@pytest.fixture
def make_plan(api, users, today):
    def make(cid, token="sales", **fields):
        body = {"customer_id": cid, "planned_date": days(today, 7), "purpose": unique("回访")}
        body.update(fields)
        r = api.post(ppath(), users[token], body)
        assert r.status_code == 201, r.text
        return r.json()
    return make


@pytest.fixture
def make_vip(api, users):
    def make(cid):
        r = api.patch(f"/v1/customers/{cid}", users["manager"],
                      {"tier_override": "vip", "tier_override_reason": "战略客户"})
        assert r.status_code == 200 and r.json()["tier_effective"] == "vip", r.text
    return make


@pytest.fixture
def past(db):
    """Moves a plan's date before the business-time today (the plan renders as missed)."""
    def move(pid, n=3):
        db(f"UPDATE visit_plans SET planned_date = crm_today() - {int(n)} WHERE id = '{pid}'")
    return move


def file_visit(api, users, plan_id, token="sales", **fields):
    body = {"plan_id": plan_id, "visited_at": "2026-01-05T02:00:00Z", **fields}
    return api.post("/v1/visits", users[token], body)


# ---------------------------------------------------------------- create / get

def test_create_returns_201_location_etag_and_record(api, users, customer, today, db):
    body = {
        "customer_id": customer["id"],
        "planned_date": days(today, 10),
        "participant_ids": [users.ids["sales"], users.ids["manager"]],
        "purpose": "年度合作回顾与新品推介",
        "agenda": "1. 合作回顾\n2. 市场趋势\n3. 竞品看法\n4. 新面料样品",
    }
    r = api.post(ppath(), users["sales"], body)
    assert r.status_code == 201, r.text
    p = r.json()
    assert r.headers["Location"] == ppath(p["id"])
    assert r.headers["ETag"] == 'W/"1"'
    for k, v in body.items():
        assert p[k] == v, k
    assert p["status"] == "planned" and p["approval_required"] is False
    assert p["created_by"] == users.ids["sales"] and p["version"] == 1
    for k in ("approved_by", "approved_at", "cancel_reason", "cancelled_by", "cancelled_at", "completed_at",
              "visit_id"):
        assert p[k] is None, k
    g = api.get(r.headers["Location"], users["sales"])
    assert g.status_code == 200 and g.json() == p and g.headers["ETag"] == 'W/"1"'
    row = db(f"SELECT customer_id || '|' || actor_id || '|' || (after->>'purpose') FROM audit_log "
             f"WHERE entity = 'visit_plan' AND action = 'create' AND entity_id = '{p['id']}'")
    assert row == f"{customer['id']}|{users.ids['sales']}|年度合作回顾与新品推介"


def test_create_minimal_defaults_and_today_is_allowed(api, users, customer, today):
    r = api.post(ppath(), users["sales"], {"customer_id": customer["id"], "planned_date": today.isoformat(),
                                            "purpose": "  拜访  "})
    assert r.status_code == 201, r.text
    p = r.json()
    assert p["participant_ids"] == [] and p["agenda"] is None and p["purpose"] == "拜访"
    assert p["planned_date"] == today.isoformat() and p["status"] == "planned"


def test_manager_and_admin_plan_for_any_customer(api, users, make_customer, make_plan):
    cust = make_customer(owner="sales2")
    for role in ("manager", "admin"):
        p = make_plan(cust["id"], token=role)
        assert p["created_by"] == users.ids[role] and p["customer_id"] == cust["id"]
        r = api.patch(ppath(p["id"]), users[role], {"agenda": "议程"})
        assert r.status_code == 200 and r.json()["agenda"] == "议程" and r.json()["version"] == 2
        r = api.post(ppath(p["id"], "/cancel"), users[role], {"reason": "改期"})
        assert r.status_code == 200 and r.json()["status"] == "cancelled"


# ---------------------------------------------------------------- validation

CREATE_INVALID = [
    ({"customer_id": None}, "customer_id"),
    ({"customer_id": "not-a-uuid"}, "customer_id"),
    ({"customer_id": "00000000-0000-4000-8000-000000000000"}, "customer_id"),
    ({"planned_date": None}, "planned_date"),
    ({"planned_date": "2026-02-30"}, "planned_date"),
    ({"planned_date": "next week"}, "planned_date"),
    ({"planned_date": "2020-01-01"}, "planned_date"),
    ({"purpose": None}, "purpose"),
    ({"purpose": ""}, "purpose"),
    ({"purpose": "   "}, "purpose"),
    ({"purpose": "目" * 501}, "purpose"),
    ({"purpose": 7}, "purpose"),
    ({"agenda": "议" * 5001}, "agenda"),
    ({"participant_ids": None}, "participant_ids"),
    ({"participant_ids": "x"}, "participant_ids"),
    ({"participant_ids": ["not-a-uuid"]}, "participant_ids"),
    ({"participant_ids": [str(uuid.uuid4())]}, "participant_ids"),
    ({"participant_ids": [str(uuid.uuid4()) for _ in range(21)]}, "participant_ids"),
    ({"status": "approved"}, "status"),
    ({"approval_required": False}, "approval_required"),
    ({"approved_by": "00000000-0000-4000-8000-000000000000"}, "approved_by"),
    ({"visit_id": "00000000-0000-4000-8000-000000000000"}, "visit_id"),
    ({"created_by": "00000000-0000-4000-8000-000000000000"}, "created_by"),
    ({"id": "00000000-0000-4000-8000-000000000000"}, "id"),
    ({"version": 1}, "version"),
    ({"owner_id": "00000000-0000-4000-8000-000000000000"}, "owner_id"),
]


@pytest.mark.parametrize("extra,field", CREATE_INVALID, ids=[f"{f}-{i}" for i, (_, f) in enumerate(CREATE_INVALID)])
def test_create_invalid_is_422_naming_the_field(api, users, customer, today, db, extra, field):
    body = {"customer_id": customer["id"], "planned_date": days(today, 3), "purpose": unique("无效"), **extra}
    assert_invalid(api.post(ppath(), users["sales"], body), field)
    assert db(f"SELECT count(*) FROM visit_plans WHERE customer_id = '{customer['id']}'") == "0"


def test_create_reports_every_invalid_field(api, users):
    r = api.post(ppath(), users["sales"], {"planned_date": "x", "agenda": 1, "status": "planned"})
    body = assert_invalid(r, "planned_date")
    assert {e["field"] for e in body["errors"]} == {"planned_date", "agenda", "status", "customer_id", "purpose"}


def test_past_date_and_inactive_participants_messages(api, users, customer, today, db):
    r = api.post(ppath(), users["sales"], {"customer_id": customer["id"], "planned_date": days(today, -1),
                                            "purpose": "x", "participant_ids": [str(uuid.uuid4())]})
    body = assert_invalid(r, "planned_date")
    assert message_for(body, "planned_date") == ["must not be in the past"]
    assert message_for(body, "participant_ids") == ["must name active users"]
    # A deactivated user is not a valid participant.
    u = api.post("/v1/users", users["admin"], {"username": unique("u").lower(), "display_name": "离职",
                                               "role": "sales", "password": "user-password-for-tests"}).json()
    assert api.delete(f"/v1/users/{u['id']}", users["admin"]).status_code == 204
    r = api.post(ppath(), users["sales"], {"customer_id": customer["id"], "planned_date": days(today, 1),
                                            "purpose": "x", "participant_ids": [users.ids["sales"], u["id"]]})
    assert_invalid(r, "participant_ids")


def test_customer_of_another_rep_is_no_such_customer(api, users, make_customer, today, db):
    other = make_customer(owner="sales2")
    bodies = [{"customer_id": other["id"]}, {"customer_id": str(uuid.uuid4())}]
    msgs = []
    for extra in bodies:
        body = {"planned_date": days(today, 2), "purpose": "偷偷计划", **extra}
        msgs.append(message_for(assert_invalid(api.post(ppath(), users["sales"], body), "customer_id"), "customer_id"))
    assert msgs[0] == msgs[1] == ["no such customer"]
    assert db(f"SELECT count(*) FROM visit_plans WHERE customer_id = '{other['id']}'") == "0"


# ---------------------------------------------------------------- roles and scope

@pytest.mark.parametrize("role", ROLES)
def test_read_matrix(api, users, customer, make_plan, role):
    p = make_plan(customer["id"])
    g = api.get(ppath(p["id"]), users[role])
    lst = api.get(ppath() + f"?customer_id={customer['id']}", users[role])
    if role in READERS:
        assert g.status_code == 200 and g.json() == p
        assert [x["id"] for x in lst.json()["items"]] == [p["id"]]
    elif role == "sales2":
        problem(g, 404)
        assert lst.status_code == 200 and lst.json()["items"] == []
    else:
        assert problem(g, 403)["type"].endswith("/forbidden")
        problem(lst, 403)


@pytest.mark.parametrize("role", ["finance", "office", "erp"])
def test_roles_that_may_not_write(api, users, customer, make_plan, today, db, role):
    p = make_plan(customer["id"])
    purpose = unique()
    problem(api.post(ppath(), users[role], {"customer_id": customer["id"], "planned_date": days(today, 1),
                                             "purpose": purpose}), 403)
    problem(api.patch(ppath(p["id"]), users[role], {"agenda": "x"}), 403)
    problem(api.post(ppath(p["id"], "/approve"), users[role]), 403)
    problem(api.post(ppath(p["id"], "/cancel"), users[role], {"reason": "x"}), 403)
    assert db(f"SELECT count(*) FROM visit_plans WHERE purpose = '{purpose}'") == "0"
    assert api.get(ppath(p["id"]), users["sales"]).json() == p


def test_sales_may_not_approve_and_there_is_no_delete(api, users, customer, make_plan):
    p = make_plan(customer["id"])
    problem(api.post(ppath(p["id"], "/approve"), users["sales"]), 403)
    r = api.delete(ppath(p["id"]), users["manager"])
    problem(r, 405)
    assert "DELETE" not in r.headers["Allow"] and "PATCH" in r.headers["Allow"]
    assert api.get(ppath(p["id"]), users["sales"]).json()["status"] == "planned"


def test_plan_of_another_rep_looks_like_a_missing_one(api, users, customer, make_plan):
    p = make_plan(customer["id"])
    missing = str(uuid.uuid4())
    calls = [
        ("GET", "", None),
        ("PATCH", "", {"agenda": "x"}),
        ("PATCH", "", {"planned_date": "bad"}),
        ("POST", "/cancel", {"reason": "x"}),
    ]
    for method, suffix, body in calls:
        b1 = api.call(method, ppath(p["id"], suffix), users["sales2"], json_body=body)
        b2 = api.call(method, ppath(missing, suffix), users["sales2"], json_body=body)
        assert b1.status_code == b2.status_code, method
        j1, j2 = b1.json(), b2.json()
        assert (j1["type"], j1["title"], j1.get("detail"), j1.get("errors")) == \
            (j2["type"], j2["title"], j2.get("detail"), j2.get("errors")), method
    problem(api.get(ppath(p["id"]), users["sales2"]), 404)
    problem(api.post(ppath(p["id"], "/cancel"), users["sales2"], {"reason": "x"}), 404)
    problem(api.get(ppath("not-a-uuid"), users["manager"]), 404)
    problem(api.post(ppath("not-a-uuid", "/approve"), users["manager"]), 404)
    assert api.get(ppath(p["id"]), users["sales"]).json() == p


def test_plans_follow_their_customer_when_reassigned(api, users, customer, make_plan):
    p = make_plan(customer["id"])
    assert api.patch(f"/v1/customers/{customer['id']}", users["manager"],
                     {"owner_id": users.ids["sales2"]}).status_code == 200
    problem(api.get(ppath(p["id"]), users["sales"]), 404)
    r = api.patch(ppath(p["id"]), users["sales2"], {"agenda": "新负责人"})
    assert r.status_code == 200 and r.json()["agenda"] == "新负责人"


# ---------------------------------------------------------------- approve / cancel

def test_approve_planned_plan(api, users, customer, make_plan, db):
    p = make_plan(customer["id"])
    r = api.post(ppath(p["id"], "/approve"), users["manager"])
    assert r.status_code == 200, r.text
    a = r.json()
    assert a["status"] == "approved" and a["approved_by"] == users.ids["manager"] and a["approved_at"]
    assert a["version"] == 2 and r.headers["ETag"] == 'W/"2"'
    assert_state_conflict(api.post(ppath(p["id"], "/approve"), users["admin"], {}), "approved")
    assert_invalid(api.post(ppath(p["id"], "/approve"), users["manager"], {"note": "x"}), "note")
    row = db(f"SELECT (before->>'status') || '|' || (after->>'status') || '|' || actor_role FROM audit_log "
             f"WHERE entity = 'visit_plan' AND action = 'approve' AND entity_id = '{p['id']}'")
    assert row == "planned|approved|sales_manager"
    # admin may approve too
    q = make_plan(customer["id"])
    assert api.post(ppath(q["id"], "/approve"), users["admin"]).json()["approved_by"] == users.ids["admin"]


def test_cancel_needs_a_reason_and_ends_the_plan(api, users, customer, make_plan, db):
    p = make_plan(customer["id"])
    for body in (None, {}, {"reason": ""}, {"reason": None}, {"reason": "因" * 1001}):
        r = api.post(ppath(p["id"], "/cancel"), users["sales"], body)
        if body is None:
            problem(r, 415)  # the action requires a JSON body
        else:
            assert_invalid(r, "reason")
    assert_invalid(api.post(ppath(p["id"], "/cancel"), users["sales"], {"reason": "x", "status": "x"}), "status")
    assert api.get(ppath(p["id"]), users["sales"]).json()["status"] == "planned"
    r = api.post(ppath(p["id"], "/cancel"), users["sales"], {"reason": "客户临时出差"})
    assert r.status_code == 200, r.text
    c = r.json()
    assert c["status"] == "cancelled" and c["cancel_reason"] == "客户临时出差"
    assert c["cancelled_by"] == users.ids["sales"] and c["cancelled_at"] and c["version"] == 2
    assert_state_conflict(api.post(ppath(p["id"], "/cancel"), users["sales"], {"reason": "again"}), "cancelled")
    assert_state_conflict(api.post(ppath(p["id"], "/approve"), users["manager"]), "cancelled")
    assert_state_conflict(api.patch(ppath(p["id"]), users["sales"], {"agenda": "x"}), "cancelled")
    assert db(f"SELECT after->>'cancel_reason' FROM audit_log WHERE entity = 'visit_plan' AND action = 'cancel' "
              f"AND entity_id = '{p['id']}'") == "客户临时出差"


def test_cancel_an_approved_plan(api, users, customer, make_plan):
    p = make_plan(customer["id"])
    assert api.post(ppath(p["id"], "/approve"), users["manager"]).status_code == 200
    r = api.post(ppath(p["id"], "/cancel"), users["manager"], {"reason": "预算调整"})
    assert r.status_code == 200 and r.json()["status"] == "cancelled" and r.json()["approved_by"]


def test_missed_is_computed_and_blocks_actions(api, users, customer, make_plan, past, db):
    p = make_plan(customer["id"])
    a = make_plan(customer["id"])
    assert api.post(ppath(a["id"], "/approve"), users["manager"]).status_code == 200
    past(p["id"])
    past(a["id"], 1)
    for pid, stored in ((p["id"], "planned"), (a["id"], "approved")):
        g = api.get(ppath(pid), users["sales"]).json()
        assert g["status"] == "missed", g
        assert db(f"SELECT status FROM visit_plans WHERE id = '{pid}'") == stored
        assert_state_conflict(api.post(ppath(pid, "/approve"), users["manager"]), "missed")
        assert_state_conflict(api.post(ppath(pid, "/cancel"), users["sales"], {"reason": "x"}), "missed")
        assert_state_conflict(api.patch(ppath(pid), users["sales"], {"agenda": "x"}), "missed")
        assert_state_conflict(api.patch(ppath(pid), users["sales"], {"planned_date": "2099-01-01"}), "missed")
    assert db(f"SELECT count(*) FROM audit_log WHERE entity = 'visit_plan' AND entity_id = '{p['id']}' "
              f"AND action <> 'read'") == "1"


def test_completed_plan_refuses_every_action(api, users, customer, make_plan):
    p = make_plan(customer["id"])
    v = file_visit(api, users, p["id"])
    assert v.status_code == 201, v.text
    g = api.get(ppath(p["id"]), users["sales"]).json()
    assert g["status"] == "completed" and g["visit_id"] == v.json()["id"] and g["completed_at"]
    assert_state_conflict(api.post(ppath(p["id"], "/approve"), users["manager"]), "completed")
    assert_state_conflict(api.post(ppath(p["id"], "/cancel"), users["sales"], {"reason": "x"}), "completed")
    assert_state_conflict(api.patch(ppath(p["id"]), users["sales"], {"agenda": "x"}), "completed")


# ---------------------------------------------------------------- update

def test_patch_updates_and_clears(api, users, customer, make_plan, today):
    p = make_plan(customer["id"], agenda="旧议程", participant_ids=[users.ids["sales"]])
    r = api.patch(ppath(p["id"]), users["sales"], {"agenda": None, "planned_date": days(today, 20),
                                                    "participant_ids": [users.ids["manager"], users.ids["sales"]]})
    assert r.status_code == 200, r.text
    u = r.json()
    assert u["agenda"] is None and u["planned_date"] == days(today, 20)
    assert u["participant_ids"] == [users.ids["manager"], users.ids["sales"]]
    assert u["purpose"] == p["purpose"] and u["version"] == 2 and u["status"] == "planned"
    r = api.patch(ppath(p["id"]), users["sales"], {})
    assert r.status_code == 200 and r.json() == u


PATCH_INVALID = [
    ({"customer_id": "00000000-0000-4000-8000-000000000000"}, "customer_id"),
    ({"planned_date": None}, "planned_date"),
    ({"planned_date": "2020-01-01"}, "planned_date"),
    ({"purpose": ""}, "purpose"),
    ({"purpose": None}, "purpose"),
    ({"participant_ids": None}, "participant_ids"),
    ({"participant_ids": ["a", "a"]}, "participant_ids"),
    ({"status": "approved"}, "status"),
    ({"approved_at": None}, "approved_at"),
    ({"version": 2}, "version"),
    ({"bogus": 1}, "bogus"),
]


@pytest.mark.parametrize("patch,field", PATCH_INVALID, ids=[f"{f}-{i}" for i, (_, f) in enumerate(PATCH_INVALID)])
def test_patch_invalid_is_422_and_changes_nothing(api, users, customer, make_plan, patch, field):
    p = make_plan(customer["id"])
    body = assert_invalid(api.patch(ppath(p["id"]), users["sales"], patch), field)
    if field == "customer_id":
        assert message_for(body, "customer_id") == ["is read-only"]
    assert api.get(ppath(p["id"]), users["sales"]).json() == p


def test_changing_an_approved_plan_needs_approval_again(api, users, customer, make_plan, today, db):
    p = make_plan(customer["id"], agenda="议程")
    a = api.post(ppath(p["id"], "/approve"), users["manager"]).json()
    # A patch that changes no value keeps the approval.
    r = api.patch(ppath(p["id"]), users["sales"], {"agenda": "议程", "purpose": p["purpose"]})
    assert r.status_code == 200, r.text
    same = r.json()
    assert same["status"] == "approved" and same["approved_by"] == a["approved_by"]
    assert same["approved_at"] == a["approved_at"]
    # A real change returns the plan to planned and clears the approval.
    r = api.patch(ppath(p["id"]), users["sales"], {"planned_date": days(today, 9)})
    assert r.status_code == 200, r.text
    u = r.json()
    assert u["status"] == "planned" and u["approved_by"] is None and u["approved_at"] is None
    assert u["planned_date"] == days(today, 9)
    row = db(f"SELECT (before->>'status') || '|' || (after->>'status') FROM audit_log WHERE entity = 'visit_plan' "
             f"AND action = 'update' AND entity_id = '{p['id']}' ORDER BY id DESC LIMIT 1")
    assert row == "approved|planned"
    r = api.post(ppath(p["id"], "/approve"), users["manager"])
    assert r.status_code == 200 and r.json()["status"] == "approved"


def test_patch_accepts_merge_patch_json(api, users, customer, make_plan):
    p = make_plan(customer["id"], agenda="x")
    r = api.call("PATCH", ppath(p["id"]), users["sales"], data=b'{"agenda": null, "purpose": "\xe6\x96\xb0"}',
                 headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    assert r.json()["agenda"] is None and r.json()["purpose"] == "新"


# ---------------------------------------------------------------- VIP approval rule

def test_vip_plan_needs_approval_before_completion(api, users, customer, make_plan, make_vip, db):
    early = make_plan(customer["id"])
    assert early["approval_required"] is False
    make_vip(customer["id"])
    # Computed from the customer's effective tier on every read.
    assert api.get(ppath(early["id"]), users["sales"]).json()["approval_required"] is True
    p = make_plan(customer["id"])
    assert p["approval_required"] is True and p["status"] == "planned"
    body = assert_state_conflict(file_visit(api, users, p["id"]), "planned")
    assert "VIP" in body["detail"] and "approv" in body["detail"]
    assert db(f"SELECT count(*) FROM visits WHERE plan_id = '{p['id']}'") == "0"
    assert api.get(ppath(p["id"]), users["sales"]).json()["status"] == "planned"
    assert api.post(ppath(p["id"], "/approve"), users["manager"]).status_code == 200
    v = file_visit(api, users, p["id"])
    assert v.status_code == 201, v.text
    g = api.get(ppath(p["id"]), users["sales"]).json()
    assert g["status"] == "completed" and g["visit_id"] == v.json()["id"]
    # Dropping the override makes approval optional again.
    r = api.patch(f"/v1/customers/{customer['id']}", users["manager"], {"tier_override": None})
    assert r.status_code == 200, r.text
    assert api.get(ppath(early["id"]), users["sales"]).json()["approval_required"] is False
    assert file_visit(api, users, early["id"]).status_code == 201


def test_missed_unapproved_vip_plan_cannot_be_completed(api, users, customer, make_plan, make_vip, past):
    make_vip(customer["id"])
    p = make_plan(customer["id"])
    past(p["id"])
    body = assert_state_conflict(file_visit(api, users, p["id"]), "missed")
    assert "VIP" in body["detail"]


# ---------------------------------------------------------------- ETag / If-Match

def test_etag_if_none_match_and_if_match(api, users, customer, make_plan, db):
    p = make_plan(customer["id"])
    path = ppath(p["id"])
    r = api.get(path, users["sales"], headers={"If-None-Match": 'W/"1"'})
    assert r.status_code == 304 and r.content == b"" and r.headers["ETag"] == 'W/"1"'
    assert api.get(path, users["sales"], headers={"If-None-Match": 'W/"7"'}).status_code == 200
    body = problem(api.patch(path, users["sales"], {"agenda": "x"}, headers={"If-Match": 'W/"2"'}), 412)
    assert body["type"].endswith("/precondition-failed")
    problem(api.post(path + "/approve", users["manager"], headers={"If-Match": 'W/"2"'}), 412)
    problem(api.post(path + "/cancel", users["sales"], {"reason": "x"}, headers={"If-Match": 'W/"3"'}), 412)
    assert api.get(path, users["sales"]).json() == p
    assert db(f"SELECT count(*) FROM audit_log WHERE entity = 'visit_plan' AND entity_id = '{p['id']}' "
              f"AND action <> 'read'") == "1"
    r = api.patch(path, users["sales"], {"agenda": "y"}, headers={"If-Match": 'W/"1"'})
    assert r.status_code == 200 and r.json()["version"] == 2 and r.headers["ETag"] == 'W/"2"'
    r = api.post(path + "/approve", users["manager"], headers={"If-Match": 'W/"2"'})
    assert r.status_code == 200 and r.json()["version"] == 3
    problem(api.patch(path, users["sales"], {"agenda": "z"}, headers={"If-Match": "garbage"}), 400)


def test_missed_plan_never_answers_304(api, users, customer, make_plan, past):
    p = make_plan(customer["id"])
    assert api.get(ppath(p["id"]), users["sales"], headers={"If-None-Match": 'W/"1"'}).status_code == 304
    past(p["id"])
    r = api.get(ppath(p["id"]), users["sales"], headers={"If-None-Match": 'W/"1"'})
    assert r.status_code == 200 and r.json()["status"] == "missed" and r.headers["ETag"] == 'W/"1"'


# ---------------------------------------------------------------- list

def test_list_filters(api, users, make_customer, make_plan, past, today):
    a, b = make_customer(), make_customer(owner="sales2")
    pa = make_plan(a["id"], planned_date=days(today, 5))
    pa2 = make_plan(a["id"], planned_date=days(today, 6))
    pb = make_plan(b["id"], token="sales2", planned_date=days(today, 5))
    missed = make_plan(a["id"], planned_date=days(today, 4))
    past(missed["id"])
    appr = make_plan(a["id"], planned_date=days(today, 8))
    assert api.post(ppath(appr["id"], "/approve"), users["manager"]).status_code == 200
    canc = make_plan(a["id"], planned_date=days(today, 8))
    assert api.post(ppath(canc["id"], "/cancel"), users["sales"], {"reason": "x"}).status_code == 200

    def ids(role, query):
        return [x["id"] for x in walk_pages(api, ppath(), users[role], query)]

    q = f"customer_id={a['id']}"
    assert ids("sales", q) == [missed["id"], pa["id"], pa2["id"]] + sorted([appr["id"], canc["id"]])
    assert ids("sales", q + "&status=planned") == [pa["id"], pa2["id"]]
    assert ids("sales", q + "&status=approved") == [appr["id"]]
    assert ids("sales", q + "&status=cancelled") == [canc["id"]]
    assert ids("sales", q + "&status=missed") == [missed["id"]]
    assert ids("sales", q + "&status=completed") == []
    assert ids("sales", q + f"&from={days(today, 5)}&to={days(today, 6)}") == [pa["id"], pa2["id"]]
    assert ids("sales", q + f"&from={days(today, 6)}&to={days(today, 6)}") == [pa2["id"]]
    assert ids("sales", q + "&sort=-planned_date") == sorted([appr["id"], canc["id"]], reverse=True) + \
        [pa2["id"], pa["id"], missed["id"]]
    # Scope: sales sees only plans of own customers; owner_id filters by the customer's owner.
    assert ids("sales", f"customer_id={b['id']}") == []
    assert ids("manager", f"customer_id={b['id']}") == [pb["id"]]
    mine = set(ids("manager", f"owner_id={users.ids['sales2']}"))
    assert pb["id"] in mine and pa["id"] not in mine
    assert ids("sales", f"owner_id={users.ids['sales2']}") == []
    assert set(ids("sales", "")) >= {pa["id"], pa2["id"]} and pb["id"] not in ids("sales", "")
    assert set(ids("office", f"owner_id={users.ids['sales']}")) >= {pa["id"], missed["id"]}
    # Every item carries the computed status.
    by_id = {x["id"]: x for x in walk_pages(api, ppath(), users["sales"], q)}
    assert by_id[missed["id"]]["status"] == "missed" and by_id[appr["id"]]["status"] == "approved"


def test_pagination_both_sorts_and_concurrent_inserts(api, users, customer, make_plan, today):
    made = [make_plan(customer["id"], planned_date=days(today, d)) for d in (3, 1, 2, 1, 5, 4, 2)]
    expected = [p["id"] for p in sorted(made, key=lambda p: (p["planned_date"], p["id"]))]
    q = f"customer_id={customer['id']}"
    for limit, sizes in ((3, [3, 3, 1]), (2, [2, 2, 2, 1]), (7, [7]), (1, [1] * 7)):
        seen, cursor, got = [], None, []
        while True:
            r = api.get(ppath() + f"?{q}&limit={limit}" + (f"&cursor={cursor}" if cursor else ""), users["sales"])
            assert r.status_code == 200, r.text
            body = r.json()
            got.append(len(body["items"]))
            seen += [x["id"] for x in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert got == sizes and seen == expected, limit
    desc = [x["id"] for x in walk_pages(api, ppath(), users["sales"], q + "&sort=-planned_date", limit=2)]
    assert desc == list(reversed(expected))
    # Inserting between pages neither repeats nor skips.
    first = api.get(ppath() + f"?{q}&limit=3", users["sales"]).json()
    seen = [x["id"] for x in first["items"]]
    make_plan(customer["id"], planned_date=days(today, 1))
    make_plan(customer["id"], planned_date=days(today, 9))
    cursor = first["next_cursor"]
    while cursor:
        body = api.get(ppath() + f"?{q}&limit=3&cursor={cursor}", users["sales"]).json()
        seen += [x["id"] for x in body["items"]]
        cursor = body["next_cursor"]
    assert len(seen) == len(set(seen)) == 8 and set(expected) <= set(seen)


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=x", "cursor=bogus", "status=done",
                                   "status=", "customer_id=x", "owner_id=1", "from=2026-13-01", "to=tomorrow",
                                   "from=2026-11-23T00:00:00Z", "sort=name", "sort=-created_at",
                                   "include_archived=true", "q=x"])
def test_bad_list_query_is_400(api, users, query):
    body = problem(api.get(ppath() + "?" + query, users["sales"]), 400)
    assert body["type"].endswith("/bad-request")


def test_cursor_from_another_sort_or_list_is_400(api, users, customer, make_plan):
    for _ in range(3):
        make_plan(customer["id"])
    q = f"customer_id={customer['id']}"
    cur = api.get(ppath() + f"?{q}&limit=1", users["sales"]).json()["next_cursor"]
    assert cur
    assert api.get(ppath() + f"?{q}&limit=1&cursor={cur}", users["sales"]).status_code == 200
    problem(api.get(ppath() + f"?{q}&sort=-planned_date&cursor={cur}", users["sales"]), 400)
    problem(api.get(f"/v1/customers?cursor={cur}", users["sales"]), 400)
    ccur = api.get("/v1/customers?limit=1", users["sales"]).json()["next_cursor"]
    assert ccur
    problem(api.get(ppath() + f"?cursor={ccur}", users["sales"]), 400)


# ---------------------------------------------------------------- idempotency and audit

def test_idempotency_key_on_plan_create(api, users, customer, today, db):
    key = uuid.uuid4().hex
    purpose = unique("幂等计划")
    body = {"customer_id": customer["id"], "planned_date": days(today, 2), "purpose": purpose}
    r1 = api.post(ppath(), users["sales"], body, headers={"Idempotency-Key": key})
    r2 = api.post(ppath(), users["sales"], body, headers={"Idempotency-Key": key})
    assert r1.status_code == r2.status_code == 201
    assert r1.json() == r2.json() and r1.headers["Location"] == r2.headers["Location"]
    assert db(f"SELECT count(*) FROM visit_plans WHERE purpose = '{purpose}'") == "1"
    problem(api.post(ppath(), users["sales"], {**body, "agenda": "x"}, headers={"Idempotency-Key": key}), 422)
    assert db(f"SELECT count(*) FROM visit_plans WHERE purpose = '{purpose}'") == "1"


def test_reads_are_audited(api, users, customer, make_plan, db):
    p = make_plan(customer["id"])
    assert api.get(ppath(p["id"]), users["office"]).status_code == 200
    sql = (f"SELECT count(*) FROM audit_log WHERE action = 'read' AND entity = 'visit_plan' "
           f"AND entity_id = '{p['id']}' AND actor_id = '{users.ids['office']}' AND customer_id = '{customer['id']}'")
    assert wait_for(lambda: db(sql) == "1")
    h = api.get(f"/v1/customers/{customer['id']}/history", users["sales"]).json()["items"]
    assert [(e["entity"], e["action"]) for e in h if e["entity_id"] == p["id"]] == [("visit_plan", "create")]


def test_an_archived_customer_takes_no_new_plans(api, users, customer, today, db):
    assert api.delete(f"/v1/customers/{customer['id']}", users["sales"]).status_code == 204
    before = db("SELECT count(*) FROM visit_plans")
    r = api.post("/v1/visit-plans", users["sales"], {"customer_id": customer["id"], "planned_date": today.isoformat(),
                                                      "purpose": "回访"})
    assert_state_conflict(r, "customer archived")
    assert db("SELECT count(*) FROM visit_plans") == before
