"""Black-box API tests for budgets (operations budgets_* in api/openapi.yaml).

Finance (and admin) write; sales read their own and the team-wide budgets;
managers, finance, office and admin read all; erp nothing. Every JSON response
is validated against the spec by the `api` fixture.
"""

import uuid

import pytest

from budget_fixtures import assert_state_conflict, etag, future_year, make_budget, make_expense, make_user, message_for
from conftest import assert_invalid, problem, walk_pages

ROLES = ["sales", "sales2", "manager", "finance", "office", "erp", "admin"]
WRITERS = {"finance", "admin"}


def bpath(bid=None, suffix=""):
    return "/v1/budgets" + (f"/{bid}" if bid else "") + suffix


# ---------------------------------------------------------------- create and read

def test_create_team_and_owner_budgets(api, users, db):
    year = future_year()
    team = make_budget(api, users, year, "gifts", amount="120000.5")
    assert team["owner_id"] is None and team["amount"] == "120000.50" and team["year"] == year
    assert team["category"] == "gifts" and team["version"] == 1 and team["archived"] is False
    assert team["created_by"] == users.ids["finance"]
    own = make_budget(api, users, year, "gifts", owner=users.ids["sales"], amount="3000")
    assert own["owner_id"] == users.ids["sales"] and own["amount"] == "3000.00"
    r = api.get(bpath(own["id"]), users["manager"])
    assert r.status_code == 200 and r.json() == own
    assert r.headers["ETag"] == 'W/"1"'
    assert api.get(bpath(own["id"]), users["manager"], headers={"If-None-Match": 'W/"1"'}).status_code == 304
    row = db(f"SELECT actor_id || '|' || (after->>'amount') || '|' || coalesce(customer_id::text, '-') FROM audit_log "
             f"WHERE entity = 'budget' AND action = 'create' AND entity_id = '{team['id']}'")
    assert row == f"{users.ids['finance']}|120000.50|-"


def test_create_location_and_admin(api, users):
    r = api.post(bpath(), users["admin"], {"year": future_year(), "category": "other", "amount": "0",
                                          "note": "年度预留"})
    assert r.status_code == 201, r.text
    assert r.headers["Location"] == f"/v1/budgets/{r.json()['id']}"
    assert r.json()["note"] == "年度预留" and r.json()["amount"] == "0.00"


def test_unique_per_year_category_owner_including_team(api, users):
    year = future_year()
    make_budget(api, users, year, "visits")
    body = problem(api.post(bpath(), users["finance"], {"year": year, "category": "visits", "amount": "1"}), 409)
    assert body["errors"][0]["field"] == "owner_id"
    make_budget(api, users, year, "visits", owner=users.ids["sales"])
    problem(api.post(bpath(), users["finance"], {"year": year, "category": "visits", "amount": "1",
                                                 "owner_id": users.ids["sales"]}), 409)
    # Another category, owner or year is another budget.
    make_budget(api, users, year, "events", owner=users.ids["sales"])
    make_budget(api, users, year, "visits", owner=users.ids["sales2"])
    make_budget(api, users, year + 1000 if year + 1000 <= 2999 else year - 50, "visits")


@pytest.mark.parametrize("role", ROLES)
def test_create_role_matrix(api, users, role):
    r = api.post(bpath(), users[role], {"year": future_year(), "category": "events", "amount": "10.00"})
    if role in WRITERS:
        assert r.status_code == 201, r.text
    else:
        problem(r, 403)


@pytest.mark.parametrize("amount", [
    "10.001", "-5.00", "1e3", "1000000000000.00", "", "abc", "0012", 100, 99.5, None, True])
def test_create_bad_amount(api, users, amount):
    assert_invalid(api.post(bpath(), users["finance"], {"year": future_year(), "category": "visits",
                                                        "amount": amount}), "amount")


def test_create_bad_fields_all_named(api, users, db):
    before = db("SELECT count(*) FROM budgets")
    body = assert_invalid(api.post(bpath(), users["finance"], {
        "year": 1999, "category": "travel", "owner_id": "not-a-uuid", "amount": "1.00", "note": "x" * 1001,
        "id": str(uuid.uuid4()), "version": 3, "bogus": 1}), "year", "category", "owner_id", "note", "id", "version",
        "bogus")
    assert any("read-only" in m for m in message_for(body, "id")), body
    assert_invalid(api.post(bpath(), users["finance"], {"year": 3000, "category": "visits", "amount": "1"}), "year")
    assert_invalid(api.post(bpath(), users["finance"], {"year": "2026", "category": "visits", "amount": "1"}), "year")
    assert_invalid(api.post(bpath(), users["finance"], {"category": "visits"}), "year", "amount")
    assert db("SELECT count(*) FROM budgets") == before


def test_owner_must_be_active_sales_user(api, users):
    year = future_year()
    for owner in [users.ids["finance"], users.ids["office"], str(uuid.uuid4())]:
        body = assert_invalid(api.post(bpath(), users["finance"], {"year": year, "category": "visits", "amount": "1",
                                                                    "owner_id": owner}), "owner_id")
        assert "sales" in message_for(body, "owner_id")[0]
    # A sales manager may own a budget.
    assert make_budget(api, users, year, owner=users.ids["manager"])["owner_id"] == users.ids["manager"]


def test_read_scope(api, users):
    year = future_year()
    team = make_budget(api, users, year, "visits")
    own = make_budget(api, users, year, "visits", owner=users.ids["sales"])
    other = make_budget(api, users, year, "visits", owner=users.ids["sales2"])
    for b in (team, own):
        assert api.get(bpath(b["id"]), users["sales"]).status_code == 200
    missing = problem(api.get(bpath(str(uuid.uuid4())), users["sales"]), 404)
    hidden = problem(api.get(bpath(other["id"]), users["sales"]), 404)
    assert {k: v for k, v in hidden.items() if k not in ("request_id", "instance")} == \
        {k: v for k, v in missing.items() if k not in ("request_id", "instance")}
    ids = {b["id"] for b in walk_pages(api, bpath(), users["sales"], f"year={year}")}
    assert ids == {team["id"], own["id"]}
    for role in ("manager", "finance", "office", "admin"):
        ids = {b["id"] for b in walk_pages(api, bpath(), users[role], f"year={year}")}
        assert ids == {team["id"], own["id"], other["id"]}, role
        assert api.get(bpath(other["id"]), users[role]).status_code == 200
    problem(api.get(bpath(), users["erp"]), 403)
    problem(api.get(bpath(team["id"]), users["erp"]), 403)
    problem(api.get(bpath("not-a-uuid"), users["manager"]), 404)


def test_list_filters_and_pagination(api, users):
    year = future_year()
    made = [make_budget(api, users, year, cat) for cat in ("visits", "events", "after_sales", "gifts", "other")]
    made.append(make_budget(api, users, year, "gifts", owner=users.ids["sales"]))
    items = walk_pages(api, bpath(), users["manager"], f"year={year}", limit=2)
    assert [b["id"] for b in items] == [b["id"] for b in reversed(made)]  # newest first
    gifts = walk_pages(api, bpath(), users["manager"], f"year={year}&category=gifts")
    assert {b["id"] for b in gifts} == {made[3]["id"], made[5]["id"]}
    owned = walk_pages(api, bpath(), users["manager"], f"year={year}&owner_id={users.ids['sales']}")
    assert [b["id"] for b in owned] == [made[5]["id"]]
    r = api.get(bpath() + f"?year={year}&limit=2", users["manager"])
    assert len(r.json()["items"]) == 2 and r.json()["next_cursor"]


@pytest.mark.parametrize("query", ["year=19", "year=abcd", "year=1999", "year=3000", "category=travel",
                                   "owner_id=x", "limit=0", "limit=201", "cursor=bogus", "include_archived=yes",
                                   "sort=year", "unknown=1"])
def test_list_bad_query(api, users, query):
    problem(api.get(bpath() + "?" + query, users["manager"]), 400)


# ---------------------------------------------------------------- update

def test_patch_amount_and_note_with_if_match(api, users, db):
    b = make_budget(api, users, future_year(), "events", amount="500.00")
    r = api.patch(bpath(b["id"]), users["finance"], {"amount": "750.25", "note": "追加"}, headers=etag(b))
    assert r.status_code == 200, r.text
    nb = r.json()
    assert nb["amount"] == "750.25" and nb["note"] == "追加" and nb["version"] == 2
    problem(api.patch(bpath(b["id"]), users["finance"], {"amount": "1.00"}, headers=etag(b)), 412)
    assert api.get(bpath(b["id"]), users["finance"]).json()["amount"] == "750.25"
    r = api.patch(bpath(b["id"]), users["admin"], {"note": None}, headers=etag(nb))
    assert r.status_code == 200 and r.json()["note"] is None
    row = db(f"SELECT (before->>'amount') || '|' || (after->>'amount') FROM audit_log WHERE entity = 'budget' "
             f"AND action = 'update' AND entity_id = '{b['id']}' ORDER BY id LIMIT 1")
    assert row == "500.00|750.25"


def test_patch_key_fields_read_only_and_roles(api, users):
    b = make_budget(api, users, future_year(), "events")
    body = assert_invalid(api.patch(bpath(b["id"]), users["finance"], {"year": 2101, "category": "gifts",
                                                                       "owner_id": users.ids["sales"]}),
                          "year", "category", "owner_id")
    assert all("read-only" in e["message"] for e in body["errors"]), body
    assert_invalid(api.patch(bpath(b["id"]), users["finance"], {"amount": "1.234"}), "amount")
    assert_invalid(api.patch(bpath(b["id"]), users["finance"], {"amount": None}), "amount")
    for role in ("sales", "sales2", "manager", "office", "erp"):
        problem(api.patch(bpath(b["id"]), users[role], {"amount": "1.00"}), 403)
    problem(api.patch(bpath(str(uuid.uuid4())), users["finance"], {"amount": "1.00"}), 404)


def test_patch_amount_not_below_approved_and_paid(api, users):
    token, uid = make_user(api, users, "sales")
    b = make_budget(api, users, 2024, "gifts", owner=uid, amount="1000.00")
    e = make_expense(api, token, "600.00", "gifts")
    assert api.post(f"/v1/expenses/{e['id']}/approve", users["manager"]).json()["status"] == "approved"
    body = assert_invalid(api.patch(bpath(b["id"]), users["finance"], {"amount": "599.99"}), "amount")
    assert "600.00" in message_for(body, "amount")[0]
    assert api.patch(bpath(b["id"]), users["finance"], {"amount": "600.00"}).status_code == 200


# ---------------------------------------------------------------- archive and restore

def test_archive_hides_and_restore(api, users, db):
    year = future_year()
    b = make_budget(api, users, year, "other")
    problem(api.delete(bpath(b["id"]), users["finance"], headers={"If-Match": 'W/"9"'}), 412)
    r = api.delete(bpath(b["id"]), users["finance"], headers=etag(b))
    assert r.status_code == 204
    assert api.delete(bpath(b["id"]), users["finance"]).status_code == 204  # idempotent
    assert walk_pages(api, bpath(), users["manager"], f"year={year}") == []
    shown = walk_pages(api, bpath(), users["manager"], f"year={year}&include_archived=true")
    assert [x["id"] for x in shown] == [b["id"]] and shown[0]["archived"] and shown[0]["archived_at"]
    assert_state_conflict(api.patch(bpath(b["id"]), users["finance"], {"amount": "2.00"}), "archived")
    r = api.post(bpath(b["id"], "/restore"), users["finance"])
    assert r.status_code == 200 and r.json()["archived"] is False and r.json()["archived_at"] is None
    assert_state_conflict(api.post(bpath(b["id"], "/restore"), users["finance"]), "not archived")
    assert db(f"SELECT string_agg(action, ',' ORDER BY id) FROM audit_log WHERE entity = 'budget' "
              f"AND entity_id = '{b['id']}'") == "create,archive,restore"


def test_archived_budget_steps_aside_and_restore_conflicts(api, users):
    year = future_year()
    old = make_budget(api, users, year, "visits")
    assert api.delete(bpath(old["id"]), users["finance"]).status_code == 204
    new = make_budget(api, users, year, "visits", amount="2.00")
    body = problem(api.post(bpath(old["id"], "/restore"), users["finance"]), 409)
    assert body["errors"][0]["field"] == "owner_id"
    assert api.get(bpath(new["id"]), users["finance"]).json()["archived"] is False


def test_archive_refused_while_expenses_draw_on_it(api, users):
    token, uid = make_user(api, users, "sales")
    b = make_budget(api, users, 2024, "events", owner=uid, amount="100.00")
    e = make_expense(api, token, "50.00", "events")
    api.post(f"/v1/expenses/{e['id']}/approve", users["manager"])
    body = problem(api.delete(bpath(b["id"]), users["finance"]), 409)
    assert "draw on this budget" in body["detail"]
    assert api.get(bpath(b["id"]), users["finance"]).json()["archived"] is False


@pytest.mark.parametrize("role", ROLES)
def test_archive_restore_role_matrix(api, users, role):
    b = make_budget(api, users, future_year(), "other")
    r = api.delete(bpath(b["id"]), users[role])
    if role in WRITERS:
        assert r.status_code == 204
        assert api.post(bpath(b["id"], "/restore"), users[role]).status_code == 200
    else:
        problem(r, 403)
        problem(api.post(bpath(b["id"], "/restore"), users[role]), 403)


def test_restore_rejects_body_fields(api, users):
    b = make_budget(api, users, future_year(), "other")
    api.delete(bpath(b["id"]), users["finance"])
    assert_invalid(api.post(bpath(b["id"], "/restore"), users["finance"], {"amount": "1"}), "amount")


def test_idempotent_create(api, users, db):
    key = str(uuid.uuid4())
    body = {"year": future_year(), "category": "visits", "amount": "88.00"}
    r1 = api.post(bpath(), users["finance"], body, headers={"Idempotency-Key": key})
    r2 = api.post(bpath(), users["finance"], body, headers={"Idempotency-Key": key})
    assert r1.status_code == r2.status_code == 201 and r1.json() == r2.json()
    assert db(f"SELECT count(*) FROM budgets WHERE year = {body['year']}") == "1"
    problem(api.post(bpath(), users["finance"], {**body, "amount": "89.00"}, headers={"Idempotency-Key": key}), 422)
