"""Black-box API tests for the budget reports (reports_budget_utilisation,
reports_cost_benefit): every figure against hand-computed fixtures.

Each test works in a year of its own (fresh_year) with fresh users, so the
company-wide figures contain only its fixtures. Transactions are inserted
directly (the ERP feed is another resource).
"""

import uuid

import pytest

from budget_fixtures import fresh_year, make_budget, make_user
from conftest import problem

UTIL = "/v1/reports/budget-utilisation"
CB = "/v1/reports/cost-benefit"


def claim(api, users, token, amount, date, category="visits", to="submitted", customer=None):
    """An expense of token's user taken to status `to` through the API."""
    body = {"category": category, "amount": amount, "expense_date": date, "description": "维护费用"}
    if customer:
        body["customer_id"] = customer
    r = api.post("/v1/expenses", token, body)
    assert r.status_code == 201, r.text
    e = r.json()
    path = f"/v1/expenses/{e['id']}"
    if to == "withdrawn":
        e = api.post(path + "/withdraw", token).json()
    elif to == "rejected":
        e = api.post(path + "/reject", users["manager"], {"reason": "不符合规定"}).json()
    elif to != "submitted":
        e = api.post(path + "/approve", users["manager"]).json()
        if e["status"] == "pending_finance" and to in ("approved", "paid"):
            e = api.post(path + "/approve", users["finance"]).json()
        if to == "paid":
            e = api.post(path + "/pay", users["finance"]).json()
    assert e["status"] == to, e
    return e


def get(api, path, token, **query):
    r = api.get(path + "?" + "&".join(f"{k}={v}" for k, v in query.items()), token)
    assert r.status_code == 200, r.text
    return r.json()


def figures(row, keys):
    return {k: row[k] for k in keys}


UTIL_KEYS = ["budget", "approved", "pending", "paid", "remaining", "share_used"]
CB_KEYS = ["customers", "cost", "revenue", "previous_revenue", "revenue_growth", "cost_ratio"]


# ---------------------------------------------------------------- budget utilisation

@pytest.fixture
def util_year(api, users):
    """Budgets and expenses of one year; see the expected figures in the tests."""
    y = fresh_year(span=2)
    a_token, a = make_user(api, users, "sales")
    b_token, b = make_user(api, users, "sales")
    make_budget(api, users, y, "visits", amount="1000.00")           # team
    make_budget(api, users, y, "events", amount="300.00")            # team
    make_budget(api, users, y, "visits", owner=a, amount="500.00")
    make_budget(api, users, y, "gifts", owner=a, amount="200.00")
    claim(api, users, a_token, "300.00", f"{y}-01-10", to="paid")                       # A visits budget
    claim(api, users, a_token, "80.00", f"{y}-01-20", "gifts")                          # pending, A gifts
    claim(api, users, a_token, "150.00", f"{y}-02-01", to="approved")                   # 450 of 500
    claim(api, users, a_token, "100.00", f"{y}-02-02", to="pending_finance")            # 550 > 500
    claim(api, users, b_token, "400.00", f"{y}-03-01", to="approved")                   # team visits
    claim(api, users, b_token, "50.00", f"{y}-03-02")                                   # pending, team visits
    claim(api, users, b_token, "70.00", f"{y}-04-01", "other", to="pending_finance")    # no budget
    claim(api, users, b_token, "25.00", f"{y}-04-02", "events", to="rejected")          # not counted
    claim(api, users, a_token, "10.00", f"{y}-05-01", "events", to="withdrawn")         # not counted
    claim(api, users, a_token, "999.00", f"{y - 1}-12-31", to="approved")               # another year
    return {"year": y, "a": a, "b": b, "a_token": a_token, "b_token": b_token}


def test_utilisation_by_category(api, users, util_year):
    rep = get(api, UTIL, users["manager"], year=util_year["year"])  # category is the default
    assert rep["year"] == util_year["year"] and rep["group_by"] == "category"
    assert rep["total"] == {"budget": "2000.00", "approved": "550.00", "pending": "300.00", "paid": "300.00",
                            "remaining": "1150.00", "share_used": "0.4250"}
    rows = {r["category"]: figures(r, UTIL_KEYS) for r in rep["items"]}
    assert [r["category"] for r in rep["items"]] == ["visits", "events", "gifts", "other"]
    assert rows["visits"] == {"budget": "1500.00", "approved": "550.00", "pending": "150.00", "paid": "300.00",
                              "remaining": "650.00", "share_used": "0.5667"}
    assert rows["events"] == {"budget": "300.00", "approved": "0.00", "pending": "0.00", "paid": "0.00",
                              "remaining": "300.00", "share_used": "0.0000"}
    assert rows["gifts"] == {"budget": "200.00", "approved": "0.00", "pending": "80.00", "paid": "0.00",
                             "remaining": "200.00", "share_used": "0.0000"}
    assert rows["other"] == {"budget": "0.00", "approved": "0.00", "pending": "70.00", "paid": "0.00",
                             "remaining": "0.00", "share_used": None}
    # finance, office and admin see the same company-wide figures.
    for role in ("finance", "office", "admin"):
        assert get(api, UTIL, users[role], year=util_year["year"], group_by="category") == rep


def test_utilisation_by_owner(api, users, util_year):
    rep = get(api, UTIL, users["manager"], year=util_year["year"], group_by="owner")
    rows = {r["owner_id"]: r for r in rep["items"]}
    assert rep["items"][0]["owner_id"] is None and rep["items"][0]["owner_name"] is None  # team first
    assert set(rows) == {None, util_year["a"], util_year["b"]}
    assert figures(rows[None], UTIL_KEYS) == {"budget": "1300.00", "approved": "400.00", "pending": "50.00",
                                              "paid": "0.00", "remaining": "900.00", "share_used": "0.3077"}
    assert figures(rows[util_year["a"]], UTIL_KEYS) == {"budget": "700.00", "approved": "150.00",
                                                        "pending": "180.00", "paid": "300.00",
                                                        "remaining": "250.00", "share_used": "0.6429"}
    assert rows[util_year["a"]]["owner_name"].startswith("预算 ")
    assert figures(rows[util_year["b"]], UTIL_KEYS) == {"budget": "0.00", "approved": "0.00", "pending": "70.00",
                                                        "paid": "0.00", "remaining": "0.00", "share_used": None}
    assert rep["total"]["budget"] == "2000.00" and rep["total"]["pending"] == "300.00"


def test_utilisation_by_month(api, users, util_year):
    rep = get(api, UTIL, users["manager"], year=util_year["year"], group_by="month")
    y = util_year["year"]
    assert [r["month"] for r in rep["items"]] == [f"{y}-01", f"{y}-02", f"{y}-03", f"{y}-04"]
    got = {r["month"][5:]: figures(r, ["approved", "pending", "paid"]) for r in rep["items"]}
    assert got == {"01": {"approved": "0.00", "pending": "80.00", "paid": "300.00"},
                   "02": {"approved": "150.00", "pending": "100.00", "paid": "0.00"},
                   "03": {"approved": "400.00", "pending": "50.00", "paid": "0.00"},
                   "04": {"approved": "0.00", "pending": "70.00", "paid": "0.00"}}
    assert all(r["budget"] is None and r["remaining"] is None and r["share_used"] is None for r in rep["items"])
    assert rep["total"] == {"budget": "2000.00", "approved": "550.00", "pending": "300.00", "paid": "300.00",
                            "remaining": "1150.00", "share_used": "0.4250"}


def test_utilisation_scoped_to_sales_rep(api, users, util_year):
    y = util_year["year"]
    rep = get(api, UTIL, util_year["a_token"], year=y)
    assert rep["total"] == {"budget": "700.00", "approved": "150.00", "pending": "180.00", "paid": "300.00",
                            "remaining": "250.00", "share_used": "0.6429"}
    rows = {r["category"]: figures(r, UTIL_KEYS) for r in rep["items"]}
    assert rows == {
        "visits": {"budget": "500.00", "approved": "150.00", "pending": "100.00", "paid": "300.00",
                   "remaining": "50.00", "share_used": "0.9000"},
        "gifts": {"budget": "200.00", "approved": "0.00", "pending": "80.00", "paid": "0.00",
                  "remaining": "200.00", "share_used": "0.0000"}}
    # B owns no budget: the team budget B's claims draw on is not B's, so remaining goes negative.
    rep = get(api, UTIL, util_year["b_token"], year=y, group_by="owner")
    rows = {r["owner_id"]: figures(r, UTIL_KEYS) for r in rep["items"]}
    assert rows[None] == {"budget": "0.00", "approved": "400.00", "pending": "50.00", "paid": "0.00",
                          "remaining": "-400.00", "share_used": None}
    assert set(rows) == {None, util_year["b"]}
    # A rep with nothing in the year gets zeros.
    empty = get(api, UTIL, users["sales2"], year=y)
    assert empty["items"] == [] and empty["total"] == {"budget": "0.00", "approved": "0.00", "pending": "0.00",
                                                       "paid": "0.00", "remaining": "0.00", "share_used": None}


@pytest.mark.parametrize("query", ["", "year=", "year=20", "year=1999", "year=3000", "year=2024&group_by=tier",
                                   "year=2024&group_by=", "year=2024&owner_id=x", "year=2024&limit=5"])
def test_utilisation_bad_query(api, users, query):
    problem(api.get(UTIL + "?" + query, users["manager"]), 400)


def test_utilisation_roles(api, users):
    for role in ("sales", "sales2", "manager", "finance", "office", "admin"):
        assert api.get(UTIL + "?year=2024", users[role]).status_code == 200, role
    problem(api.get(UTIL + "?year=2024", users["erp"]), 403)


# ---------------------------------------------------------------- cost-benefit

def txn(db, customer, date, amount, currency="CNY", archived=False):
    db(f"INSERT INTO transactions (external_ref, customer_id, occurred_on, amount, currency, archived_at) VALUES "
       f"('T-{uuid.uuid4().hex[:16]}', '{customer}', '{date}', {amount}, '{currency}', "
       f"{'now()' if archived else 'NULL'})")


def customer_of(api, token, db, tier):
    r = api.post("/v1/customers", token, {"name": f"成本效益客户-{uuid.uuid4().hex[:8]}"})
    assert r.status_code == 201, r.text
    c = r.json()
    db(f"UPDATE customers SET tier_override = '{tier}', tier_override_reason = 'test' WHERE id = '{c['id']}'")
    return c


@pytest.fixture
def cb_year(api, users, db):
    y = fresh_year(span=3)
    a_token, a = make_user(api, users, "sales")
    b_token, b = make_user(api, users, "sales")
    make_budget(api, users, y, "visits", owner=a, amount="10000.00")
    make_budget(api, users, y, "visits", owner=b, amount="10000.00")
    c1 = customer_of(api, a_token, db, "vip")
    c2 = customer_of(api, a_token, db, "key")
    c3 = customer_of(api, b_token, db, "general")
    txn(db, c1["id"], f"{y}-02-01", "10000.00")
    txn(db, c1["id"], f"{y}-12-31", "2500.50")
    txn(db, c1["id"], f"{y - 1}-06-30", "8000.00")
    txn(db, c1["id"], f"{y}-03-03", "9999.00", currency="USD")      # not converted: left out
    txn(db, c1["id"], f"{y}-03-04", "5000.00", archived=True)       # archived: left out
    txn(db, c1["id"], f"{y - 2}-03-04", "7777.00")                  # two years back: left out
    txn(db, c2["id"], f"{y - 1}-01-01", "3000.00")
    txn(db, c3["id"], f"{y}-07-07", "4000.00")
    claim(api, users, a_token, "300.00", f"{y}-01-05", to="approved", customer=c1["id"])
    claim(api, users, a_token, "200.00", f"{y}-02-05", to="paid", customer=c1["id"])
    claim(api, users, a_token, "50.00", f"{y}-02-06", customer=c1["id"])                          # submitted
    claim(api, users, a_token, "999.00", f"{y - 1}-12-31", to="approved", customer=c1["id"])       # last year
    claim(api, users, a_token, "120.00", f"{y}-04-01", to="approved", customer=c2["id"])
    claim(api, users, b_token, "80.00", f"{y}-05-01", "gifts", to="pending_finance", customer=c3["id"])
    claim(api, users, b_token, "40.00", f"{y}-05-02", to="approved", customer=c3["id"])
    claim(api, users, b_token, "33.00", f"{y}-05-03", to="approved")                              # no customer
    return {"year": y, "a": a, "b": b, "a_token": a_token, "c1": c1, "c2": c2, "c3": c3}


C1 = {"customers": 1, "cost": "500.00", "revenue": "12500.50", "previous_revenue": "8000.00",
      "revenue_growth": "0.5626", "cost_ratio": "0.0400"}
C2 = {"customers": 1, "cost": "120.00", "revenue": "0.00", "previous_revenue": "3000.00",
      "revenue_growth": "-1.0000", "cost_ratio": None}
C3 = {"customers": 1, "cost": "40.00", "revenue": "4000.00", "previous_revenue": "0.00",
      "revenue_growth": None, "cost_ratio": "0.0100"}
TOTAL = {"customers": 3, "cost": "660.00", "revenue": "16500.50", "previous_revenue": "11000.00",
         "revenue_growth": "0.5000", "cost_ratio": "0.0400"}


def test_cost_benefit_by_customer(api, users, cb_year):
    rep = get(api, CB, users["finance"], year=cb_year["year"])  # customer is the default
    assert rep["group_by"] == "customer" and rep["year"] == cb_year["year"]
    assert rep["total"] == TOTAL
    rows = {r["customer_id"]: r for r in rep["items"]}
    assert set(rows) == {cb_year["c1"]["id"], cb_year["c2"]["id"], cb_year["c3"]["id"]}
    for key, want in (("c1", C1), ("c2", C2), ("c3", C3)):
        assert figures(rows[cb_year[key]["id"]], CB_KEYS) == want, key
    r1 = rows[cb_year["c1"]["id"]]
    assert r1["customer_name"] == cb_year["c1"]["name"] and r1["tier"] == "vip" and r1["owner_id"] == cb_year["a"]
    assert get(api, CB, users["manager"], year=cb_year["year"], group_by="customer") == rep
    assert get(api, CB, users["admin"], year=cb_year["year"]) == rep


def test_cost_benefit_by_tier_and_owner(api, users, cb_year):
    rep = get(api, CB, users["manager"], year=cb_year["year"], group_by="tier")
    assert [r["tier"] for r in rep["items"]] == ["vip", "key", "general"]
    assert [figures(r, CB_KEYS) for r in rep["items"]] == [C1, C2, C3]
    assert rep["total"] == TOTAL
    rep = get(api, CB, users["manager"], year=cb_year["year"], group_by="owner")
    rows = {r["owner_id"]: figures(r, CB_KEYS) for r in rep["items"]}
    assert rows == {cb_year["a"]: {"customers": 2, "cost": "620.00", "revenue": "12500.50",
                                   "previous_revenue": "11000.00", "revenue_growth": "0.1364",
                                   "cost_ratio": "0.0496"},
                    cb_year["b"]: C3}
    assert all(r["owner_name"].startswith("预算 ") for r in rep["items"])


def test_cost_benefit_scoped_to_sales_rep(api, users, cb_year):
    rep = get(api, CB, cb_year["a_token"], year=cb_year["year"])
    assert {r["customer_id"] for r in rep["items"]} == {cb_year["c1"]["id"], cb_year["c2"]["id"]}
    assert rep["total"] == {"customers": 2, "cost": "620.00", "revenue": "12500.50", "previous_revenue": "11000.00",
                            "revenue_growth": "0.1364", "cost_ratio": "0.0496"}
    other = get(api, CB, users["sales2"], year=cb_year["year"], group_by="owner")
    assert other["items"] == [] and other["total"] == {"customers": 0, "cost": "0.00", "revenue": "0.00",
                                                       "previous_revenue": "0.00", "revenue_growth": None,
                                                       "cost_ratio": None}


def test_cost_benefit_roles_and_bad_query(api, users):
    for role in ("sales", "manager", "finance", "admin"):
        assert api.get(CB + "?year=2024", users[role]).status_code == 200, role
    for role in ("office", "erp"):
        problem(api.get(CB + "?year=2024", users[role]), 403)
    for query in ("", "year=abc", "year=2024&group_by=category", "year=2024&cursor=x"):
        problem(api.get(CB + "?" + query, users["finance"]), 400)
