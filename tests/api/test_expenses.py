"""Black-box API tests for expenses and their approvals (operations expenses_*).

Claims by any staff role; first-level approval by a sales manager within the
budget; over budget (or without a budget) the expense waits for finance;
finance pays. Fresh users own their budgets so tests do not share them.
"""

import datetime
import threading
import time
import uuid

import pytest
import requests

from budget_fixtures import assert_state_conflict, etag, fresh_year, make_budget, make_expense, make_user, message_for
from conftest import assert_invalid, problem, walk_pages

ROLES = ["sales", "sales2", "manager", "finance", "office", "erp", "admin"]
STAFF = {"sales", "sales2", "manager", "finance", "office", "admin"}


def epath(eid=None, suffix=""):
    return "/v1/expenses" + (f"/{eid}" if eid else "") + suffix


def approve(api, token, e, **kw):
    return api.post(epath(e["id"], "/approve"), token, **kw)


@pytest.fixture
def rep(api, users):
    """A fresh sales rep (token, id) with a 1000.00 visits budget of their own for 2024."""
    token, uid = make_user(api, users, "sales")
    budget = make_budget(api, users, 2024, "visits", owner=uid, amount="1000.00")
    return {"token": token, "id": uid, "budget": budget}


# ---------------------------------------------------------------- create and read

def test_create_claim(api, users, make_customer, db):
    c = make_customer("sales")
    r = api.post(epath(), users["sales"], {"category": "visits", "amount": "256.5", "expense_date": "2024-05-01",
                                           "description": "拜访杭州客户的交通费", "customer_id": c["id"]})
    assert r.status_code == 201, r.text
    e = r.json()
    assert r.headers["Location"] == f"/v1/expenses/{e['id']}"
    assert e["claimant_id"] == users.ids["sales"] and e["status"] == "submitted" and e["amount"] == "256.50"
    assert e["over_budget"] is False and e["budget_id"] is None and e["approved_by"] is None
    assert e["customer_id"] == c["id"] and e["version"] == 1 and e["expense_date"] == "2024-05-01"
    got = api.get(epath(e["id"]), users["sales"])
    assert got.status_code == 200 and got.json() == e and got.headers["ETag"] == 'W/"1"'
    assert api.get(epath(e["id"]), users["sales"], headers={"If-None-Match": 'W/"1"'}).status_code == 304
    row = db(f"SELECT customer_id || '|' || actor_id || '|' || (after->>'amount') FROM audit_log "
             f"WHERE entity = 'expense' AND action = 'create' AND entity_id = '{e['id']}'")
    assert row == f"{c['id']}|{users.ids['sales']}|256.50"


@pytest.mark.parametrize("role", ROLES)
def test_create_role_matrix(api, users, role):
    r = api.post(epath(), users[role], {"category": "other", "amount": "1.00", "expense_date": "2024-01-02",
                                        "description": "办公用品"})
    if role in STAFF:
        assert r.status_code == 201, r.text
        assert r.json()["claimant_id"] == users.ids[role]
    else:
        problem(r, 403)


@pytest.mark.parametrize("amount", ["10.001", "-5.00", "0", "0.00", "1000000000000.00", "1e3", "", 12, 12.5, None])
def test_create_bad_amount(api, users, amount):
    assert_invalid(api.post(epath(), users["sales"], {"category": "visits", "amount": amount,
                                                      "expense_date": "2024-01-01", "description": "x"}), "amount")


def test_create_bad_fields_all_named(api, users, db):
    before = db("SELECT count(*) FROM expenses")
    tomorrow = (datetime.date.today() + datetime.timedelta(days=2)).isoformat()
    body = assert_invalid(api.post(epath(), users["sales"], {
        "category": "travel", "amount": "1.00", "expense_date": tomorrow, "description": " ",
        "status": "approved", "claimant_id": users.ids["sales2"], "over_budget": False, "budget_id": None,
        "customer_id": "nope"}), "category", "expense_date", "description", "status", "claimant_id", "over_budget",
        "budget_id", "customer_id")
    assert any("read-only" in m for m in message_for(body, "status")), body
    assert any("future" in m for m in message_for(body, "expense_date")), body
    assert_invalid(api.post(epath(), users["sales"], {}), "category", "amount", "expense_date", "description")
    assert_invalid(api.post(epath(), users["sales"], {"category": "visits", "amount": "1", "expense_date": "2024-02-30",
                                                      "description": "x"}), "expense_date")
    assert db("SELECT count(*) FROM expenses") == before


def test_customer_must_be_visible_and_live(api, users, make_customer):
    theirs = make_customer("sales2")
    body = {"category": "visits", "amount": "1.00", "expense_date": "2024-01-01", "description": "x"}
    r = assert_invalid(api.post(epath(), users["sales"], {**body, "customer_id": theirs["id"]}), "customer_id")
    r2 = assert_invalid(api.post(epath(), users["sales"], {**body, "customer_id": str(uuid.uuid4())}), "customer_id")
    assert message_for(r, "customer_id") == message_for(r2, "customer_id") == ["no such customer"]
    mine = make_customer("sales")
    assert api.delete(f"/v1/customers/{mine['id']}", users["sales"]).status_code == 204
    problem(api.post(epath(), users["sales"], {**body, "customer_id": mine["id"]}), 409)
    # A manager may claim for any customer.
    assert api.post(epath(), users["manager"], {**body, "customer_id": theirs["id"]}).status_code == 201


def test_visit_and_event_references(api, users, make_customer, db):
    c = make_customer("sales")
    other = make_customer("sales")
    visit = db(f"INSERT INTO visits (customer_id, visited_at, author_id) VALUES ('{c['id']}', now(), "
               f"'{users.ids['sales']}') RETURNING id").splitlines()[0]
    event = db(f"INSERT INTO events (type, title, event_date, organizer_id) VALUES ('product_show', '新品发布', "
               f"'2024-04-01', '{users.ids['sales']}') RETURNING id").splitlines()[0]
    db(f"INSERT INTO event_customers (event_id, customer_id) VALUES ('{event}', '{c['id']}')")
    base = {"category": "visits", "amount": "10.00", "expense_date": "2024-04-02", "description": "x"}
    e = make_expense(api, users["sales"], customer_id=c["id"], visit_id=visit)
    assert e["visit_id"] == visit
    assert make_expense(api, users["sales"], category="events", customer_id=c["id"], event_id=event)["event_id"] == event
    assert make_expense(api, users["sales"], category="events", event_id=event)["customer_id"] is None
    assert_invalid(api.post(epath(), users["sales"], {**base, "visit_id": visit}), "visit_id")
    assert_invalid(api.post(epath(), users["sales"], {**base, "customer_id": other["id"], "visit_id": visit}),
                   "visit_id")
    assert_invalid(api.post(epath(), users["sales"], {**base, "customer_id": c["id"], "visit_id": visit,
                                                      "event_id": event}), "event_id")
    assert_invalid(api.post(epath(), users["sales"], {**base, "event_id": str(uuid.uuid4())}), "event_id")
    body = assert_invalid(api.post(epath(), users["sales"], {**base, "customer_id": other["id"], "event_id": event}),
                          "event_id")
    assert message_for(body, "event_id") == ["the customer is not on this event"]
    # sales2 can neither see the event nor the visit's customer.
    assert_invalid(api.post(epath(), users["sales2"], {**base, "event_id": event}), "event_id")


def test_read_scope_and_role_matrix(api, users):
    e = make_expense(api, users["sales"])
    missing = problem(api.get(epath(str(uuid.uuid4())), users["sales2"]), 404)
    hidden = problem(api.get(epath(e["id"]), users["sales2"]), 404)
    assert {k: v for k, v in hidden.items() if k not in ("request_id", "instance")} == \
        {k: v for k, v in missing.items() if k not in ("request_id", "instance")}
    for role in ("sales", "manager", "finance", "office", "admin"):
        assert api.get(epath(e["id"]), users[role]).status_code == 200, role
    problem(api.get(epath(e["id"]), users["erp"]), 403)
    problem(api.get(epath(), users["erp"]), 403)
    mine = {x["id"] for x in walk_pages(api, epath(), users["sales2"])}
    assert e["id"] not in mine
    assert all(x["claimant_id"] == users.ids["sales2"] for x in walk_pages(api, epath(), users["sales2"]))
    assert e["id"] in {x["id"] for x in walk_pages(api, epath(), users["office"], f"claimant_id={users.ids['sales']}")}


def test_list_filters_sort_pagination(api, users, rep):
    made = [make_expense(api, rep["token"], f"{i + 1}.00", date=f"2024-06-{i + 1:02d}") for i in range(7)]
    items = walk_pages(api, epath(), rep["token"], limit=3)
    assert [x["id"] for x in items] == [x["id"] for x in reversed(made)]
    by_date = walk_pages(api, epath(), rep["token"], "sort=expense_date", limit=2)
    assert [x["expense_date"] for x in by_date] == sorted(x["expense_date"] for x in made)
    ranged = walk_pages(api, epath(), users["manager"], f"claimant_id={rep['id']}&from=2024-06-02&to=2024-06-04")
    assert sorted(x["amount"] for x in ranged) == ["2.00", "3.00", "4.00"]
    assert approve(api, users["manager"], made[0]).json()["status"] == "approved"
    approved = walk_pages(api, epath(), users["finance"], f"claimant_id={rep['id']}&status=approved")
    assert [x["id"] for x in approved] == [made[0]["id"]]
    assert walk_pages(api, epath(), users["finance"], f"claimant_id={rep['id']}&over_budget=true") == []
    flt = walk_pages(api, epath(), users["finance"], f"budget_id={rep['budget']['id']}")
    assert [x["id"] for x in flt] == [made[0]["id"]]
    r = api.get(epath() + "?limit=3&sort=-expense_date", rep["token"])
    problem(api.get(epath() + f"?limit=3&cursor={r.json()['next_cursor']}", rep["token"]), 400)


@pytest.mark.parametrize("query", ["status=open", "category=travel", "claimant_id=x", "over_budget=yes",
                                   "from=2024-13-01", "sort=amount", "limit=500", "cursor=zz", "include_archived=true"])
def test_list_bad_query(api, users, query):
    problem(api.get(epath() + "?" + query, users["manager"]), 400)


# ---------------------------------------------------------------- claimant changes

def test_patch_by_claimant_while_submitted(api, users, rep, db):
    e = make_expense(api, rep["token"], "100.00")
    r = api.patch(epath(e["id"]), rep["token"], {"amount": "120.00", "description": "改"}, headers=etag(e))
    assert r.status_code == 200, r.text
    assert r.json()["amount"] == "120.00" and r.json()["version"] == 2
    problem(api.patch(epath(e["id"]), rep["token"], {"amount": "1.00"}, headers=etag(e)), 412)
    assert_invalid(api.patch(epath(e["id"]), rep["token"], {"amount": "1.001", "status": "paid"}), "amount", "status")
    assert_invalid(api.patch(epath(e["id"]), rep["token"], {"description": None}), "description")
    problem(api.patch(epath(e["id"]), users["manager"], {"amount": "1.00"}), 403)
    problem(api.patch(epath(e["id"]), users["sales2"], {"amount": "1.00"}), 404)
    problem(api.patch(epath(e["id"]), users["erp"], {"amount": "1.00"}), 403)
    assert db(f"SELECT (before->>'amount') || '>' || (after->>'amount') FROM audit_log WHERE entity = 'expense' "
              f"AND action = 'update' AND entity_id = '{e['id']}'") == "100.00>120.00"
    approve(api, users["manager"], e)
    assert_state_conflict(api.patch(epath(e["id"]), rep["token"], {"amount": "1.00"}), "approved")


def test_withdraw(api, users, rep, db):
    e = make_expense(api, rep["token"])
    problem(api.post(epath(e["id"], "/withdraw"), users["manager"]), 403)
    problem(api.post(epath(e["id"], "/withdraw"), users["sales2"]), 404)
    problem(api.post(epath(e["id"], "/withdraw"), users["erp"]), 403)
    r = api.post(epath(e["id"], "/withdraw"), rep["token"])
    assert r.status_code == 200 and r.json()["status"] == "withdrawn" and r.json()["withdrawn_at"]
    assert_state_conflict(api.post(epath(e["id"], "/withdraw"), rep["token"]), "withdrawn")
    assert_state_conflict(approve(api, users["manager"], e), "withdrawn")
    assert db(f"SELECT (after->>'status') FROM audit_log WHERE entity = 'expense' AND action = 'cancel' "
              f"AND entity_id = '{e['id']}'") == "withdrawn"


# ---------------------------------------------------------------- approvals

def test_manager_approves_within_own_budget(api, users, rep, db):
    e = make_expense(api, rep["token"], "400.00")
    r = approve(api, users["manager"], e, headers=etag(e))
    assert r.status_code == 200, r.text
    a = r.json()
    assert a["status"] == "approved" and a["over_budget"] is False and a["budget_id"] == rep["budget"]["id"]
    assert a["approved_by"] == users.ids["manager"] and a["approved_at"] and a["finance_approved_by"] is None
    row = db(f"SELECT (before->>'status') || '>' || (after->>'status') || '|' || actor_role FROM audit_log "
             f"WHERE entity = 'expense' AND action = 'approve' AND entity_id = '{a['id']}'")
    assert row == "submitted>approved|sales_manager"
    assert_state_conflict(approve(api, users["manager"], a), "approved")


def test_over_budget_needs_finance(api, users, rep):
    first = make_expense(api, rep["token"], "700.00")
    assert approve(api, users["manager"], first).json()["status"] == "approved"
    e = make_expense(api, rep["token"], "300.01")
    r = approve(api, users["manager"], e)
    assert r.status_code == 200
    p = r.json()
    assert p["status"] == "pending_finance" and p["over_budget"] is True and p["budget_id"] == rep["budget"]["id"]
    assert p["approved_by"] == users.ids["manager"]
    body = assert_state_conflict(approve(api, users["manager"], p), "pending_finance")
    assert "finance" in body["detail"]
    assert_state_conflict(api.post(epath(p["id"], "/pay"), users["finance"]), "pending_finance")
    f = approve(api, users["finance"], p).json()
    assert f["status"] == "approved" and f["over_budget"] is True
    assert f["finance_approved_by"] == users.ids["finance"] and f["finance_approved_at"]
    # Exactly the remaining amount still fits.
    token, uid = make_user(api, users, "sales")
    make_budget(api, users, 2024, "visits", owner=uid, amount="100.00")
    exact = make_expense(api, token, "100.00")
    assert approve(api, users["manager"], exact).json()["status"] == "approved"


def test_finance_cannot_give_first_level_approval(api, users, rep):
    e = make_expense(api, rep["token"], "10.00")
    body = assert_state_conflict(approve(api, users["finance"], e), "submitted")
    assert "sales manager" in body["detail"]
    assert api.get(epath(e["id"]), users["finance"]).json()["status"] == "submitted"


@pytest.mark.parametrize("role", ROLES)
def test_approve_role_matrix(api, users, rep, role):
    e = make_expense(api, rep["token"], "1.00")
    r = approve(api, users[role], e)
    if role in ("manager", "admin"):
        assert r.status_code == 200 and r.json()["status"] == "approved"
    elif role == "finance":
        assert_state_conflict(r, "submitted")
    else:
        problem(r, 403)


def test_no_budget_means_over_budget(api, users):
    token, uid = make_user(api, users, "sales")
    year = fresh_year()  # no team budget either
    e = make_expense(api, token, "1.00", "gifts", date=f"{year}-02-02")
    p = approve(api, users["manager"], e).json()
    assert p["status"] == "pending_finance" and p["over_budget"] is True and p["budget_id"] is None
    assert approve(api, users["admin"], p).json()["status"] == "approved"


def test_team_budget_applies_without_own_and_own_wins(api, users):
    year = fresh_year()
    team = make_budget(api, users, year, "events", amount="500.00")
    token, uid = make_user(api, users, "sales")
    e = make_expense(api, token, "300.00", "events", date=f"{year}-03-03")
    a = approve(api, users["manager"], e).json()
    assert a["status"] == "approved" and a["budget_id"] == team["id"]
    own = make_budget(api, users, year, "events", owner=uid, amount="50.00")
    e2 = make_expense(api, token, "60.00", "events", date=f"{year}-03-04")
    p = approve(api, users["manager"], e2).json()
    assert p["budget_id"] == own["id"] and p["status"] == "pending_finance"
    # Another rep without an own budget draws on the team budget: 300 + 200 fits 500, one cent more does not.
    token2, _ = make_user(api, users, "sales")
    assert approve(api, users["manager"], make_expense(api, token2, "200.00", "events", date=f"{year}-05-01")
                   ).json()["budget_id"] == team["id"]
    over = approve(api, users["manager"], make_expense(api, token2, "0.01", "events", date=f"{year}-05-02")).json()
    assert over["status"] == "pending_finance" and over["budget_id"] == team["id"]
    # An archived budget no longer applies.
    assert api.delete(f"/v1/budgets/{own['id']}", users["finance"]).status_code == 409  # draws on it
    other_year = fresh_year()
    gone = make_budget(api, users, other_year, "events", amount="900.00")
    assert api.delete(f"/v1/budgets/{gone['id']}", users["finance"]).status_code == 204
    x = approve(api, users["manager"], make_expense(api, token, "1.00", "events", date=f"{other_year}-01-01")).json()
    assert x["budget_id"] is None and x["status"] == "pending_finance"


def test_paid_counts_and_rejected_withdrawn_do_not(api, users):
    token, uid = make_user(api, users, "sales")
    make_budget(api, users, 2024, "after_sales", owner=uid, amount="100.00")
    e1 = make_expense(api, token, "60.00", "after_sales")
    approve(api, users["manager"], e1)
    assert api.post(epath(e1["id"], "/pay"), users["finance"]).json()["status"] == "paid"
    rej = make_expense(api, token, "30.00", "after_sales")
    api.post(epath(rej["id"], "/reject"), users["manager"], {"reason": "重复报销"})
    wd = make_expense(api, token, "30.00", "after_sales")
    api.post(epath(wd["id"], "/withdraw"), token)
    fits = make_expense(api, token, "40.00", "after_sales")
    assert approve(api, users["manager"], fits).json()["status"] == "approved"
    over = make_expense(api, token, "0.01", "after_sales")
    assert approve(api, users["manager"], over).json()["status"] == "pending_finance"


def test_nobody_approves_rejects_or_pays_own_expense(api, users):
    e = make_expense(api, users["manager"], "1.00", "other")
    body = problem(approve(api, users["manager"], e), 403)
    assert "own expense" in body["detail"]
    problem(api.post(epath(e["id"], "/reject"), users["manager"], {"reason": "x"}), 403)
    assert approve(api, users["admin"], e).json()["status"] in ("approved", "pending_finance")
    f = make_expense(api, users["finance"], "1.00", "other", date=f"{fresh_year()}-01-01")
    p = approve(api, users["manager"], f).json()
    assert p["status"] == "pending_finance"
    problem(approve(api, users["finance"], p), 403)
    assert approve(api, users["admin"], p).json()["status"] == "approved"
    problem(api.post(epath(f["id"], "/pay"), users["finance"]), 403)
    assert api.post(epath(f["id"], "/pay"), users["admin"]).json()["status"] == "paid"


def test_approve_if_match_and_body(api, users, rep):
    e = make_expense(api, rep["token"], "1.00")
    problem(approve(api, users["manager"], e, headers={"If-Match": 'W/"7"'}), 412)
    assert_invalid(api.post(epath(e["id"], "/approve"), users["manager"], {"note": "ok"}), "note")
    problem(approve(api, users["manager"], {"id": str(uuid.uuid4())}), 404)
    assert api.get(epath(e["id"]), users["manager"]).json()["status"] == "submitted"


# ---------------------------------------------------------------- reject and pay

def test_reject_keeps_reason(api, users, rep, db):
    e = make_expense(api, rep["token"], "5.00")
    assert_invalid(api.post(epath(e["id"], "/reject"), users["manager"], {}), "reason")
    assert_invalid(api.post(epath(e["id"], "/reject"), users["manager"], {"reason": "  "}), "reason")
    problem(api.post(epath(e["id"], "/reject"), users["sales"], {"reason": "x"}), 403)
    assert_state_conflict(api.post(epath(e["id"], "/reject"), users["finance"], {"reason": "x"}), "submitted")
    r = api.post(epath(e["id"], "/reject"), users["manager"], {"reason": "缺少发票"})
    assert r.status_code == 200
    j = r.json()
    assert j["status"] == "rejected" and j["reject_reason"] == "缺少发票" and j["rejected_by"] == users.ids["manager"]
    assert api.get(epath(e["id"]), rep["token"]).json()["reject_reason"] == "缺少发票"
    assert_state_conflict(approve(api, users["manager"], j), "rejected")
    assert_state_conflict(api.post(epath(e["id"], "/reject"), users["manager"], {"reason": "x"}), "rejected")
    assert db(f"SELECT after->>'reject_reason' FROM audit_log WHERE entity = 'expense' AND action = 'reject' "
              f"AND entity_id = '{e['id']}'") == "缺少发票"


def test_finance_rejects_over_budget(api, users):
    token, uid = make_user(api, users, "sales")
    make_budget(api, users, 2024, "gifts", owner=uid, amount="1.00")
    p = approve(api, users["manager"], make_expense(api, token, "2.00", "gifts")).json()
    assert_state_conflict(api.post(epath(p["id"], "/reject"), users["manager"], {"reason": "x"}), "pending_finance")
    r = api.post(epath(p["id"], "/reject"), users["finance"], {"reason": "超出预算"})
    assert r.json()["status"] == "rejected" and r.json()["over_budget"] is True


def test_pay(api, users, rep, db):
    e = make_expense(api, rep["token"], "9.00")
    assert_state_conflict(api.post(epath(e["id"], "/pay"), users["finance"]), "submitted")
    a = approve(api, users["manager"], e).json()
    for role in ("sales", "manager", "office", "erp"):
        problem(api.post(epath(e["id"], "/pay"), users[role]), 403)
    assert_invalid(api.post(epath(e["id"], "/pay"), users["finance"], {"payment_reference": "x" * 101}),
                   "payment_reference")
    problem(api.post(epath(e["id"], "/pay"), users["finance"], headers={"If-Match": 'W/"1"'}), 412)
    r = api.post(epath(e["id"], "/pay"), users["finance"], {"payment_reference": "FK-2024-0042"}, headers=etag(a))
    assert r.status_code == 200
    p = r.json()
    assert p["status"] == "paid" and p["paid_by"] == users.ids["finance"] and p["paid_at"]
    assert p["payment_reference"] == "FK-2024-0042"
    assert_state_conflict(api.post(epath(e["id"], "/pay"), users["finance"]), "paid")
    assert db(f"SELECT (before->>'status') || '>' || (after->>'status') FROM audit_log WHERE entity = 'expense' "
              f"AND action = 'pay' AND entity_id = '{e['id']}'") == "approved>paid"


def test_idempotent_claim(api, users, db):
    key = str(uuid.uuid4())
    body = {"category": "other", "amount": "77.70", "expense_date": "2024-07-07", "description": unique_text()}
    r1 = api.post(epath(), users["sales"], body, headers={"Idempotency-Key": key})
    r2 = api.post(epath(), users["sales"], body, headers={"Idempotency-Key": key})
    assert r1.status_code == r2.status_code == 201 and r1.json() == r2.json()
    assert db(f"SELECT count(*) FROM expenses WHERE description = '{body['description']}'") == "1"


def unique_text():
    return f"报销-{uuid.uuid4().hex[:10]}"


def test_read_of_customer_expense_is_audited(api, users, make_customer, db):
    c = make_customer("sales")
    e = make_expense(api, users["sales"], customer_id=c["id"])
    assert api.get(epath(e["id"]), users["office"]).status_code == 200
    deadline = time.time() + 3
    while time.time() < deadline:
        n = db(f"SELECT count(*) FROM audit_log WHERE entity = 'expense' AND action = 'read' "
               f"AND entity_id = '{e['id']}' AND customer_id = '{c['id']}'")
        if n == "1":
            break
        time.sleep(0.05)
    assert n == "1"


# ---------------------------------------------------------------- concurrency

@pytest.mark.parametrize("share,fit", [("200.00", 5), ("300.00", 3)])
def test_concurrent_approvals_never_overspend(api, users, db, share, fit):
    """Ten expenses approved in parallel against one 1000.00 budget: exactly
    the ones that fit are approved by the manager, the rest wait for finance."""
    token, uid = make_user(api, users, "sales")
    budget = make_budget(api, users, 2024, "visits", owner=uid, amount="1000.00")
    expenses = [make_expense(api, token, share) for _ in range(10)]
    barrier = threading.Barrier(len(expenses))
    results = [None] * len(expenses)

    def run(i):
        barrier.wait()
        results[i] = requests.post(f"{api.base}/v1/expenses/{expenses[i]['id']}/approve",
                                   headers={"Authorization": f"Bearer {users['manager']}"}, timeout=30)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(expenses))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.status_code == 200 for r in results), [r.text for r in results if r.status_code != 200]
    statuses = sorted(r.json()["status"] for r in results)
    assert statuses.count("approved") == fit and statuses.count("pending_finance") == 10 - fit, statuses
    assert all(r.json()["budget_id"] == budget["id"] for r in results)
    total = db(f"SELECT sum(amount) FROM expenses WHERE budget_id = '{budget['id']}' AND status = 'approved'")
    assert float(total) <= 1000.00 and total == f"{float(share) * fit:.2f}"


# ---------------------------------------------------------------- hostile input

WEIRD = [None, 0, -1, 2**63, 1.5, 1e308, True, "", " ", "x" * 6000, "\u0000", "2026-13-45", "' OR 1=1 --",
         "１００.００", "100.00\n", [], [None], {}, {"a": [1]}]


def test_hostile_values_never_500_nor_write(api, users, rep, db):
    """Every field gets values of the wrong type, size and shape: each answer is a
    problem below 500 or a real create, and only the creates write anything."""
    tables = "(SELECT count(*) FROM expenses) || '|' || (SELECT count(*) FROM budgets)"
    good_e = {"category": "visits", "amount": "1.00", "expense_date": "2024-01-01", "description": "x"}
    good_b = {"year": 2999, "category": "visits", "amount": "1.00"}
    e = make_expense(api, rep["token"])
    before = [int(x) for x in db(f"SELECT {tables}").split("|")]
    created = [0, 0]
    for value in WEIRD:
        for field in list(good_e) + ["customer_id", "visit_id", "event_id"]:
            r = api.post(epath(), rep["token"], {**good_e, field: value})
            assert r.status_code in (201, 400, 409, 413, 422), (field, value, r.status_code, r.text)
            created[0] += r.status_code == 201
            r = api.patch(epath(e["id"]), rep["token"], {field: value})
            assert r.status_code in (200, 400, 409, 413, 422), (field, value, r.status_code, r.text)
        for field in list(good_b) + ["owner_id", "note"]:
            r = api.post("/v1/budgets", users["finance"], {**good_b, field: value})
            assert r.status_code in (201, 400, 409, 413, 422), (field, value, r.status_code, r.text)
            if r.status_code == 201:
                created[1] += 1
                assert api.delete(f"/v1/budgets/{r.json()['id']}", users["finance"]).status_code == 204
        r = api.post(epath(e["id"], "/reject"), users["manager"], {"reason": value})
        assert r.status_code in (200, 400, 409, 413, 422), (value, r.text)
        r = api.post(epath(e["id"], "/pay"), users["finance"], {"payment_reference": value})
        assert r.status_code in (400, 409, 413, 422), (value, r.text)
    assert [int(x) for x in db(f"SELECT {tables}").split("|")] == [before[0] + created[0], before[1] + created[1]]
    for path in (epath(), "/v1/budgets", "/v1/reports/budget-utilisation", "/v1/reports/cost-benefit"):
        for q in ("year", "status", "category", "claimant_id", "customer_id", "budget_id", "over_budget", "from",
                  "to", "sort", "group_by", "owner_id", "cursor", "limit"):
            for v in ("%00", "x" * 3000, "' OR 1=1 --", "2024-02-30", "-1", "%E2%80%AE"):
                r = api.get(f"{path}?{q}={v}", users["manager"])
                assert r.status_code in (200, 400), (path, q, v, r.status_code, r.text)
