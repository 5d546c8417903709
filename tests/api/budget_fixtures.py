"""Shared helpers of the budget, expense and budget-report API tests.

Budgets are unique per (year, category, owner) for the whole test session
(one database), so tests isolate themselves with fresh users (owner budgets)
or a year of their own (team-wide budgets): `fresh_year()` hands out past
years (expense dates may not be in the future), `future_year()` years only
budgets use.
"""

import datetime
import itertools
import uuid

from conftest import USER_PASSWORD, problem

# 2002 and 2003 belong to test_kpis.py's every-customer board (it sums whole years).
_past_years = itertools.count(2004)
_future_years = itertools.count(2100)


def fresh_year(span=1):
    """A past year no other test uses; with span > 1 the span - 1 years before it are reserved too (for
    fixtures that also write the previous years)."""
    for _ in range(span):
        y = next(_past_years)
    assert y < datetime.date.today().year - 1, "out of isolated past years"
    return y


def future_year():
    return next(_future_years)


def message_for(body, field):
    return [e["message"] for e in body["errors"] if e["field"] == field]


def assert_state_conflict(r, state):
    body = problem(r, 409)
    assert f"'{state}'" in body["detail"], body
    return body


def make_user(api, users, role):
    """A new active user of role; returns (token, id)."""
    name = f"b-{uuid.uuid4().hex[:12]}"
    r = api.post("/v1/users", users["admin"], {"username": name, "display_name": f"预算 {name}", "role": role,
                                                "password": USER_PASSWORD})
    assert r.status_code == 201, r.text
    return api.login(name, USER_PASSWORD), r.json()["id"]


def make_budget(api, users, year, category="visits", owner=None, amount="1000.00", token=None):
    body = {"year": year, "category": category, "amount": amount}
    if owner:
        body["owner_id"] = owner
    r = api.post("/v1/budgets", token or users["finance"], body)
    assert r.status_code == 201, r.text
    return r.json()


def make_expense(api, token, amount="100.00", category="visits", date=None, **extra):
    body = {"category": category, "amount": amount, "expense_date": date or "2024-03-15",
            "description": "客户拜访差旅费"}
    body.update(extra)
    r = api.post("/v1/expenses", token, body)
    assert r.status_code == 201, r.text
    return r.json()


def etag(doc):
    return {"If-Match": f'W/"{doc["version"]}"'}
