"""Black-box API tests for the KPI board (operation kpis_get in api/openapi.yaml).

Fixtures are written straight into the database (customers, transactions, interactions, visits,
visit plans, survey responses, complaints, budgets, expenses) with chosen dates, and every
expectation is computed by hand here — never by asking the service's SQL. Each test works with
sales reps of its own (queried as the rep, or as a manager with owner_id) or, for the figures over
every customer, in a year no other test writes to, so the figures are exact whatever else the
session's database holds. Business time zone: Asia/Shanghai (the default CRM_TIMEZONE).
"""

import datetime as dt
import uuid
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import pytest

from conftest import USER_PASSWORD, problem, unique

KPIS = "/v1/reports/kpis"
ROLES = ["sales", "sales2", "manager", "finance", "office", "erp", "admin"]
READERS = {"sales", "sales2", "manager", "finance", "office", "admin"}
SH = ZoneInfo("Asia/Shanghai")
UTC = dt.timezone.utc


# ---------------------------------------------------------------- helpers

def at(d, hour=10, minute=0):
    """A Shanghai wall-clock time on date d (a 'YYYY-MM-DD' string or a date)."""
    d = dt.date.fromisoformat(d) if isinstance(d, str) else d
    return dt.datetime(d.year, d.month, d.day, hour, minute, tzinfo=SH)


def lit(v):
    """SQL literal of a fixture value (test code only: the values are our own constants)."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dt.datetime):
        return f"'{v.isoformat()}'::timestamptz"
    if isinstance(v, dt.date):
        return f"'{v.isoformat()}'::date"
    return "'" + str(v).replace("'", "''") + "'"


def insert(db, table, **cols):
    names = ", ".join(cols)
    values = ", ".join(lit(v) for v in cols.values())
    return db(f"INSERT INTO {table} ({names}) VALUES ({values}) RETURNING id")


def kpis(api, token, query=""):
    r = api.get(KPIS + (f"?{query}" if query else ""), token)
    assert r.status_code == 200, r.text
    return r.json()


def current(body, kpi):
    return body[kpi]["current"]


def previous(body, kpi):
    return body[kpi]["previous"]


@pytest.fixture
def make_rep(api, users):
    """A fresh sales rep: {id, token}."""
    def make():
        username = "kpi-" + uuid.uuid4().hex[:12]
        r = api.post("/v1/users", users.admin, {"username": username, "display_name": username, "role": "sales",
                                                "password": USER_PASSWORD})
        assert r.status_code == 201, r.text
        return {"id": r.json()["id"], "token": api.login(username, USER_PASSWORD)}
    return make


@pytest.fixture
def make_cust(db):
    """Inserts a customer of owner (tier pinned by an override, so tiering never moves it)."""
    def make(owner, tier="key", created="2020-01-01", **cols):
        c = {"name": unique("指标客户"), "owner_id": owner["id"], "tier": tier, "tier_override": tier,
             "tier_override_reason": "测试固定", "status": "active", "created_at": at(created), **cols}
        c["id"] = insert(db, "customers", **c)
        return c
    return make


@pytest.fixture
def log(db, users):
    """Writers of the logs the board reads, all with fixed dates."""
    author = users.ids["admin"]

    class Log:
        @staticmethod
        def tx(c, day, amount, **cols):
            return insert(db, "transactions", external_ref="kpi-" + uuid.uuid4().hex, customer_id=c["id"],
                          occurred_on=dt.date.fromisoformat(day), amount=amount, **cols)

        @staticmethod
        def interaction(c, when, **cols):
            return insert(db, "interactions", customer_id=c["id"], channel="phone", occurred_at=when,
                          summary="回访", author_id=author, **cols)

        @staticmethod
        def visit(c, when, **cols):
            return insert(db, "visits", customer_id=c["id"], visited_at=when, author_id=author, **cols)

        @staticmethod
        def plan(c, day, status):
            return insert(db, "visit_plans", customer_id=c["id"], planned_date=dt.date.fromisoformat(day),
                          purpose="例行拜访", status=status,
                          cancel_reason="客户改期" if status == "cancelled" else None, created_by=author)

    return Log


# ---------------------------------------------------------------- retention and revenue growth

def test_retention_and_revenue_growth(api, users, make_rep, make_cust, log):
    """Period 2025-Q2; previous 2025-Q1; the one before 2024-Q4."""
    rep = make_rep()
    a, b, c, d, e = (make_cust(rep) for _ in range(5))
    # A buys in all three quarters; B in Q1 only; C in Q2 only; D in Q4 and Q2; E buys in Q1 and only
    # returns (a negative amount) in Q2: a return is revenue but not a purchase.
    log.tx(a, "2024-12-31", "100.00")
    log.tx(a, "2025-01-01", "200.00")
    log.tx(a, "2025-06-30", "1000.10")
    log.tx(a, "2025-04-01", "0.05")
    log.tx(b, "2025-03-31", "300.00")
    log.tx(b, "2025-05-05", "999.00", archived_at=at("2025-05-06"))  # archived: no purchase, no revenue
    log.tx(b, "2025-05-06", "888.00", currency="USD")                # not CNY: left out
    log.tx(c, "2025-04-15", "50.00")
    log.tx(d, "2024-10-01", "70.00")
    log.tx(d, "2025-06-01", "80.00")
    log.tx(e, "2025-02-14", "400.00")
    log.tx(e, "2025-05-20", "-150.00")
    log.tx(c, "2025-07-01", "5000.00")  # after the period
    # Maintained in Q2 (a contact in it): A (interaction), C (visit, last second of Q2 in Shanghai), E.
    # D's only Q2 contact is archived. Maintained in Q1: B, and A (a visit).
    log.interaction(a, at("2025-05-01"))
    log.visit(c, at("2025-06-30", 23, 59))
    log.interaction(e, at("2025-04-01", 0, 0))
    log.interaction(d, at("2025-05-01"), archived_at=at("2025-05-02"))
    log.interaction(b, at("2025-02-01"))
    log.visit(a, at("2025-03-31", 23, 30))
    log.interaction(d, at("2025-07-01", 0, 0))  # Q3 in Shanghai (2025-06-30 16:00 UTC)

    body = kpis(api, rep["token"], "period=2025-Q2")
    assert body["period"] == "2025-Q2" and body["from"] == "2025-04-01" and body["to"] == "2025-06-30"
    assert body["previous_period"] == {"period": "2025-Q1", "from": "2025-01-01", "to": "2025-03-31"}
    assert body["owner_id"] == rep["id"] and body["timezone"] == "Asia/Shanghai"
    # Q2 buyers A, C, D; Q1 buyers A, B, E; Q4 buyers A, D.
    assert current(body, "retention") == {"customers": 3, "previous_customers": 3, "retained": 1,
                                          "retention_rate": round(1 / 3, 4)}
    assert previous(body, "retention") == {"customers": 3, "previous_customers": 2, "retained": 1,
                                           "retention_rate": 0.5}
    # Q2 maintained {A, C, E}: Q2 revenue 1000.10 + 0.05 + 50.00 − 150.00 = 900.15; their Q1 revenue
    # 200.00 + 0 + 400.00 = 600.00; growth (900.15 − 600) / 600 = 0.50025 → 0.5003 (round half up).
    assert current(body, "revenue_growth") == {"customers": 3, "revenue": "900.15", "previous_revenue": "600.00",
                                               "growth_rate": 0.5003}
    # Q1 maintained {A, B}: Q1 revenue 200.00 + 300.00 = 500.00; Q4 revenue 100.00 → growth 4.
    assert previous(body, "revenue_growth") == {"customers": 2, "revenue": "500.00", "previous_revenue": "100.00",
                                                "growth_rate": 4.0}
    # complaint_rate's active customers: status active, not archived (all five).
    assert current(body, "complaints")["active_customers"] == 5
    assert current(body, "complaints")["complaint_rate"] == 0.0
    # The same figures for a manager asking for this owner.
    assert kpis(api, users["manager"], f"period=2025-Q2&owner_id={rep['id']}") == body


def test_growth_needs_positive_previous_revenue(api, make_rep, make_cust, log):
    rep = make_rep()
    a = make_cust(rep)
    log.tx(a, "2025-08-10", "10.00")
    log.interaction(a, at("2025-08-11"))
    g = current(kpis(api, rep["token"], "period=2025-08"), "revenue_growth")
    assert g == {"customers": 1, "revenue": "10.00", "previous_revenue": "0.00", "growth_rate": None}
    r = current(kpis(api, rep["token"], "period=2025-08"), "retention")
    assert r == {"customers": 1, "previous_customers": 0, "retained": 0, "retention_rate": None}


# ---------------------------------------------------------------- visit plans

def test_visit_plan_completion(api, users, make_rep, make_cust, log):
    rep = make_rep()
    c1, c2 = make_cust(rep), make_cust(rep)
    for day, status in [("2025-03-01", "completed"), ("2025-03-15", "completed"), ("2025-03-31", "completed"),
                        ("2025-03-10", "cancelled"), ("2025-03-02", "planned"), ("2025-03-20", "planned"),
                        ("2025-03-05", "approved")]:
        log.plan(c1, day, status)
    for day, status in [("2025-02-28", "completed"), ("2025-02-01", "approved"), ("2025-02-03", "cancelled")]:
        log.plan(c2, day, status)
    log.plan(c2, "2025-04-01", "planned")  # next month
    body = kpis(api, rep["token"], "period=2025-03")
    assert body["previous_period"]["period"] == "2025-02"
    assert current(body, "visit_plans") == {"planned": 7, "completed": 3, "cancelled": 1, "missed": 3, "pending": 0,
                                            "due": 6, "completion_rate": 0.5}
    assert previous(body, "visit_plans") == {"planned": 3, "completed": 1, "cancelled": 1, "missed": 1,
                                             "pending": 0, "due": 2, "completion_rate": 0.5}


def test_default_period_is_the_current_quarter_and_pending_plans_are_not_due(api, make_rep, make_cust, log):
    rep = make_rep()
    c = make_cust(rep)
    today = dt.datetime.now(SH).date()
    log.plan(c, today.isoformat(), "planned")
    log.plan(c, today.isoformat(), "approved")
    log.plan(c, today.isoformat(), "completed")
    body = kpis(api, rep["token"])
    q = (today.month - 1) // 3
    start = dt.date(today.year, 3 * q + 1, 1)
    prev_start = dt.date(today.year - (q == 0), 3 * ((q - 1) % 4) + 1, 1)
    assert body["period"] == f"{today.year}-Q{q + 1}" and body["from"] == start.isoformat()
    assert body["previous_period"]["period"] == f"{prev_start.year}-Q{(q - 1) % 4 + 1}"
    assert body["previous_period"]["from"] == prev_start.isoformat()
    assert body["previous_period"]["to"] == (start - dt.timedelta(days=1)).isoformat()
    assert current(body, "visit_plans") == {"planned": 3, "completed": 1, "cancelled": 0, "missed": 0, "pending": 2,
                                            "due": 1, "completion_rate": 1.0}
    # The cadence of a running period is judged today.
    assert current(body, "contact_cadence")["as_of"] == today.isoformat()
    assert kpis(api, rep["token"], f"period={today.year}-Q{q + 1}") == body


# ---------------------------------------------------------------- contact cadence

def test_contact_cadence_as_of_the_period_end(api, users, make_rep, make_cust, log):
    """Period 2024-Q3 (as of 2024-09-30), previous 2024-Q2 (as of 2024-06-30). Key: monthly contact,
    general: quarterly, reserve: none (the default policy)."""
    rep = make_rep()
    k1 = make_cust(rep, created="2024-01-01")
    log.interaction(k1, at("2024-05-15"))   # as of 06-30: due 06-15, overdue
    log.interaction(k1, at("2024-09-10"))   # as of 09-30: due 10-10, kept
    k2 = make_cust(rep, created="2024-06-20")
    log.interaction(k2, at("2024-08-25"))   # due 09-25: overdue on 09-30
    log.interaction(k2, at("2024-09-29"), archived_at=at("2024-10-01"))  # archived: does not count
    # as of 06-30: no contact yet, created 06-20 → due 07-20: kept
    k3 = make_cust(rep, created="2024-01-01")
    log.visit(k3, at("2024-08-31"))         # month end clamps: 08-31 + 1 month = 09-30, kept on 09-30
    k4 = make_cust(rep, created="2024-01-01")
    # 2024-08-29 17:00 UTC is 08-30 01:00 in Shanghai: due 09-30, kept (in UTC it would be overdue)
    log.interaction(k4, dt.datetime(2024, 8, 29, 17, 0, tzinfo=UTC))
    g1 = make_cust(rep, tier="general", created="2024-05-01", first_contact_at=dt.date(2024, 7, 15))
    # no contact: first contact 07-15 + 3 months = 10-15, kept on both days
    g2 = make_cust(rep, tier="general", created="2024-01-01")
    log.interaction(g2, at("2024-06-01"))   # due 09-01: kept on 06-30, overdue on 09-30
    x = make_cust(rep, created="2024-01-01")
    log.interaction(x, at("2024-09-05"))    # kept on 09-30 (due 10-05) …
    log.interaction(x, at("2024-10-02"))    # … this later one is after the as-of day
    # as of 06-30: no contact by then, created 01-01 → due 02-01: overdue
    make_cust(rep, tier="reserve", created="2024-01-01")                 # no contact requirement
    make_cust(rep, created="2024-01-01", status="lost")                  # lost: left out
    a1 = make_cust(rep, created="2024-01-01", archived_at=at("2024-08-01"))  # counted on 06-30 only (overdue)
    make_cust(rep, created="2024-10-05")                                 # created after both days
    assert a1["archived_at"]

    body = kpis(api, rep["token"], "period=2024-Q3")
    assert current(body, "contact_cadence") == {"as_of": "2024-09-30", "customers": 7, "kept": 5, "overdue": 2,
                                                "compliance_rate": round(5 / 7, 4)}
    assert previous(body, "contact_cadence") == {"as_of": "2024-06-30", "customers": 8, "kept": 3, "overdue": 5,
                                                 "compliance_rate": 0.375}
    # Maintained customers of Q3: k1, k2, k3, k4, g2? no (06-01 is Q2), x → 5 (x's 10-02 is Q4).
    assert current(body, "revenue_growth")["customers"] == 5
    assert previous(body, "revenue_growth")["customers"] == 2  # k1 (05-15) and g2 (06-01)


def test_contact_cadence_today_matches_the_customer_documents(api, users, make_rep, make_cust, log):
    """As of today the figure is what the customer documents' next_contact_due says."""
    rep = make_rep()
    today = dt.datetime.now(SH).date()
    fresh = make_cust(rep, created=(today - dt.timedelta(days=3)).isoformat())
    stale = make_cust(rep, created="2020-01-01")
    log.interaction(stale, at(today - dt.timedelta(days=80)))
    recent = make_cust(rep, created="2020-01-01")
    log.interaction(recent, at(today - dt.timedelta(days=2)))
    got = current(kpis(api, rep["token"]), "contact_cadence")
    docs = [api.get(f"/v1/customers/{c['id']}", rep["token"]).json() for c in (fresh, stale, recent)]
    kept = sum(d["next_contact_due"] >= today.isoformat() for d in docs)
    assert kept == 2
    assert got == {"as_of": today.isoformat(), "customers": 3, "kept": kept, "overdue": 1,
                   "compliance_rate": round(2 / 3, 4)}


# ---------------------------------------------------------------- satisfaction

def survey_with(db, users, customers, owner):
    sid = insert(db, "surveys", title=unique("满意度"), period_from=dt.date(2025, 1, 1),
                 period_to=dt.date(2025, 12, 31), method="phone",
                 target_customer_ids="[" + ",".join(f'"{c["id"]}"' for c in customers) + "]",
                 status="open", opened_at=at("2025-01-01"), created_by=users.ids["office"])
    for c in customers:
        db(f"INSERT INTO survey_targets (survey_id, customer_id, tier, owner_id) "
           f"VALUES ('{sid}', '{c['id']}', 'key', '{owner['id']}')")
    return sid


def respond(db, users, sid, c, when, overall, nps):
    insert(db, "survey_responses", survey_id=sid, customer_id=c["id"], product_quality=4, service=4, delivery=4,
           overall=overall, nps=nps, method="phone", responded_at=when, recorded_by=users.ids["office"])


def test_satisfaction_mean_and_nps(api, users, db, make_rep, make_cust):
    rep = make_rep()
    cs = [make_cust(rep) for _ in range(6)]
    sid = survey_with(db, users, cs, rep)
    respond(db, users, sid, cs[0], at("2025-06-01"), 5, 10)
    respond(db, users, sid, cs[1], at("2025-06-15"), 4, 9)
    respond(db, users, sid, cs[2], at("2025-06-30", 23, 30), 2, 3)     # last half hour of June in Shanghai
    respond(db, users, sid, cs[3], at("2025-07-01", 0, 10), 1, 0)      # July in Shanghai (06-30 16:10 UTC)
    respond(db, users, sid, cs[4], at("2025-05-31", 12), 3, 7)
    respond(db, users, sid, cs[5], at("2025-05-02"), 4, 8)
    body = kpis(api, rep["token"], "period=2025-06")
    # June: overall 5, 4, 2 → 3.67; promoters 2 (10, 9), detractors 1 (3) → NPS 100 × 1 / 3 = 33.3.
    assert current(body, "satisfaction") == {"responses": 3, "mean_overall": 3.67, "promoters": 2, "detractors": 1,
                                             "nps": 33.3}
    # May: overall 3, 4 → 3.5; 7 and 8 are passives → NPS 0.
    assert previous(body, "satisfaction") == {"responses": 2, "mean_overall": 3.5, "promoters": 0, "detractors": 0,
                                              "nps": 0.0}
    empty = current(kpis(api, rep["token"], "period=2024-06"), "satisfaction")
    assert empty == {"responses": 0, "mean_overall": None, "promoters": 0, "detractors": 0, "nps": None}


# ---------------------------------------------------------------- complaints

def complaint(db, users, c, received, severity="normal", **cols):
    minutes = 60 if severity == "urgent" else 1440
    row = {"customer_id": c["id"], "channel": "phone", "category": "quality", "severity": severity,
           "description": "布面色差", "received_at": received,
           "first_response_due": received + dt.timedelta(minutes=minutes),
           "start_due": received + dt.timedelta(hours=24), "created_by": users.ids["office"], "status": "received"}
    row.update(cols)
    return insert(db, "complaints", **row)


def resolved_cols(users, received, response_h, resolved_h, due_h):
    return {"status": "resolved", "first_response_at": received + dt.timedelta(hours=response_h),
            "assignee_id": users.ids["office"], "assigned_at": received + dt.timedelta(hours=response_h),
            "resolution_due": received + dt.timedelta(hours=due_h),
            "started_at": received + dt.timedelta(hours=response_h),
            "resolved_at": received + dt.timedelta(hours=resolved_h), "resolution": "换货", "root_cause": "process"}


def test_complaint_rate_handling_times_and_sla(api, users, db, make_rep, make_cust):
    """Period 2025-Q3, previous 2025-Q2."""
    rep = make_rep()
    cs = [make_cust(rep) for _ in range(4)]          # four active customers …
    make_cust(rep, status="dormant")                 # … not counting the dormant …
    make_cust(rep, archived_at=at("2025-01-01"))     # … nor the archived one
    # Q3: urgent, answered in 30 min (met), resolved after 48 h with a 72 h deadline (met).
    r1 = at("2025-07-10")
    complaint(db, users, cs[0], r1, "urgent", **resolved_cols(users, r1, 0.5, 48, 72))
    # Q3: normal, first response after 30 h (breached), acknowledged; no resolution deadline yet.
    r2 = at("2025-08-01", 9)
    complaint(db, users, cs[1], r2, status="acknowledged", first_response_at=r2 + dt.timedelta(hours=30))
    # Q3: normal, never answered, deadline long past (breached).
    complaint(db, users, cs[2], at("2025-09-20"))
    # Q3 but archived: left out.
    complaint(db, users, cs[3], at("2025-09-21"), archived_at=at("2025-09-22"))
    # Q2: urgent, answered after 2 h (breached), resolved after 10 h with an 8 h deadline (breached).
    r5 = at("2025-05-05")
    complaint(db, users, cs[0], r5, "urgent", **resolved_cols(users, r5, 2, 10, 8))
    # 2025-09-30 23:00 in Shanghai is still Q3.
    r6 = at("2025-09-30", 23)
    complaint(db, users, cs[3], r6, status="acknowledged", first_response_at=r6 + dt.timedelta(minutes=15))

    body = kpis(api, rep["token"], "period=2025-Q3")
    assert current(body, "complaints") == {
        "complaints": 4, "active_customers": 4, "complaint_rate": 100.0,
        "responded": 3, "mean_first_response_hours": round((0.5 + 30 + 0.25) / 3, 2),
        "resolved": 1, "mean_resolution_hours": 48.0,
        "response_sla_met": 2, "response_sla_breached": 2, "response_sla_rate": 0.5,
        "resolution_sla_met": 1, "resolution_sla_breached": 0, "resolution_sla_rate": 1.0}
    assert previous(body, "complaints") == {
        "complaints": 1, "active_customers": 4, "complaint_rate": 25.0,
        "responded": 1, "mean_first_response_hours": 2.0, "resolved": 1, "mean_resolution_hours": 10.0,
        "response_sla_met": 0, "response_sla_breached": 1, "response_sla_rate": 0.0,
        "resolution_sla_met": 0, "resolution_sla_breached": 1, "resolution_sla_rate": 0.0}


def test_complaint_rate_without_active_customers_is_null(api, users, db, make_rep, make_cust):
    rep = make_rep()
    c = make_cust(rep, status="dormant")
    complaint(db, users, c, at("2025-10-10"))
    got = current(kpis(api, rep["token"], "period=2025-10"), "complaints")
    assert got["complaints"] == 1 and got["active_customers"] == 0 and got["complaint_rate"] is None
    assert got["mean_first_response_hours"] is None and got["response_sla_breached"] == 1


# ---------------------------------------------------------------- budget utilisation

def budget(db, users, year, category, owner, amount):
    insert(db, "budgets", year=year, category=category, owner_id=owner["id"] if owner else None, amount=amount,
           created_by=users.ids["finance"])


def expense(db, users, claimant, day, amount, status, category="visits"):
    cols = {"claimant_id": claimant["id"], "category": category, "amount": amount,
            "expense_date": dt.date.fromisoformat(day), "description": "拜访差旅", "status": status}
    if status in ("approved", "paid", "pending_finance"):
        cols.update(approved_by=users.ids["manager"], approved_at=at(day))
    if status == "pending_finance":
        cols["over_budget"] = True
    if status == "paid":
        cols["paid_by"] = users.ids["finance"]
        cols["paid_at"] = at(day)
    if status == "rejected":
        cols["reject_reason"] = "超标"
    insert(db, "expenses", **cols)


def test_budget_utilisation(api, users, db, make_rep):
    rep, other = make_rep(), make_rep()
    budget(db, users, 2031, "visits", rep, "12000.00")
    budget(db, users, 2031, "gifts", rep, "4000.00")
    budget(db, users, 2031, "events", other, "99999.00")   # another owner's
    expense(db, users, rep, "2031-04-01", "1000.50", "approved")
    expense(db, users, rep, "2031-06-30", "500.25", "paid", "gifts")
    expense(db, users, rep, "2031-05-05", "200.00", "submitted")
    expense(db, users, rep, "2031-05-06", "50.00", "pending_finance")
    expense(db, users, rep, "2031-05-07", "300.00", "rejected")
    expense(db, users, rep, "2031-05-08", "40.00", "withdrawn")
    expense(db, users, rep, "2031-03-31", "100.00", "paid")      # Q1
    expense(db, users, other, "2031-04-02", "7777.00", "paid")   # another claimant's
    body = kpis(api, rep["token"], "period=2031-Q2")
    # A quarter of the 16,000.00 annual budget; used 1000.50 + 500.25 = 1500.75 → 0.3752.
    assert current(body, "budget") == {"budget": "4000.00", "approved": "1000.50", "paid": "500.25",
                                       "used": "1500.75", "pending": "250.00", "utilisation_rate": 0.3752}
    assert previous(body, "budget") == {"budget": "4000.00", "approved": "0.00", "paid": "100.00",
                                        "used": "100.00", "pending": "0.00", "utilisation_rate": 0.025}
    # A month: 16,000 / 12 = 1333.33; the year before 2031-Q1 (2030-Q4) has no budget at all.
    assert current(kpis(api, rep["token"], "period=2031-04"), "budget")["budget"] == "1333.33"
    q1 = kpis(api, rep["token"], "period=2031-Q1")
    assert previous(q1, "budget") == {"budget": "0.00", "approved": "0.00", "paid": "0.00", "used": "0.00",
                                      "pending": "0.00", "utilisation_rate": None}
    assert current(q1, "budget")["used"] == "100.00"
    year = current(kpis(api, users["manager"], f"period=2031&owner_id={rep['id']}"), "budget")
    assert year["budget"] == "16000.00" and year["used"] == "1600.75" and year["utilisation_rate"] == 0.1000


# ---------------------------------------------------------------- every customer, scoping, roles

def test_every_customer_for_managers_and_scoping(api, users, db, make_rep, make_cust, log):
    """2003: a year no other test writes to; two reps' figures add up for the roles that see all."""
    r1, r2 = make_rep(), make_rep()
    a = make_cust(r1, created="2002-01-01")
    b = make_cust(r2, created="2002-01-01")
    log.tx(a, "2001-05-01", "10.00")        # 2001: the previous period's previous period
    log.tx(b, "2001-06-01", "20.00")
    log.tx(a, "2002-03-01", "100.00")
    log.tx(a, "2003-03-01", "150.00")
    log.tx(b, "2003-07-01", "200.00")
    log.interaction(a, at("2003-12-20"))     # a: contacted in 2003, kept on 12-31 (key, monthly)
    log.interaction(b, at("2003-02-01"))     # b: contacted in 2003, overdue on 12-31
    log.plan(a, "2003-05-05", "completed")
    log.plan(b, "2003-06-06", "planned")     # missed
    complaint(db, users, b, at("2003-08-08"))
    budget(db, users, 2003, "visits", r1, "1000.00")
    budget(db, users, 2003, "other", None, "500.00")  # team-wide: every customer's figure only
    expense(db, users, r2, "2003-09-09", "300.00", "paid")

    want = {
        "retention": {"customers": 2, "previous_customers": 1, "retained": 1, "retention_rate": 1.0},
        "visit_plans": {"planned": 2, "completed": 1, "cancelled": 0, "missed": 1, "pending": 0, "due": 2,
                        "completion_rate": 0.5},
        "contact_cadence": {"as_of": "2003-12-31", "customers": 2, "kept": 1, "overdue": 1, "compliance_rate": 0.5},
        "budget": {"budget": "1500.00", "approved": "0.00", "paid": "300.00", "used": "300.00", "pending": "0.00",
                   "utilisation_rate": 0.2},
        "revenue_growth": {"customers": 2, "revenue": "350.00", "previous_revenue": "100.00", "growth_rate": 2.5},
    }
    for role in ("manager", "finance", "office", "admin"):
        body = kpis(api, users[role], "period=2003")
        assert body["owner_id"] is None and body["previous_period"]["period"] == "2002"
        for k, v in want.items():
            assert current(body, k) == v, (role, k)
        # 2002 against 2001: a bought in both, b in 2001 only.
        assert previous(body, "retention") == {"customers": 1, "previous_customers": 2, "retained": 1,
                                               "retention_rate": 0.5}
        # Active customers are counted now, over every customer of the session.
        active = int(db("SELECT count(*) FROM customers WHERE status = 'active' AND archived_at IS NULL"))
        got = current(body, "complaints")
        assert got["complaints"] == 1 and got["active_customers"] == active
        want_rate = (Decimal(100) / active).quantize(Decimal("0.01"), ROUND_HALF_UP)
        assert Decimal(str(got["complaint_rate"])) == want_rate

    mine = kpis(api, r1["token"], "period=2003")
    assert mine["owner_id"] == r1["id"]
    assert current(mine, "retention") == {"customers": 1, "previous_customers": 1, "retained": 1,
                                          "retention_rate": 1.0}
    assert current(mine, "complaints")["complaints"] == 0
    assert current(mine, "visit_plans")["completed"] == 1 and current(mine, "visit_plans")["missed"] == 0
    assert current(mine, "contact_cadence")["customers"] == 1 and current(mine, "contact_cadence")["kept"] == 1
    assert current(mine, "budget") == {"budget": "1000.00", "approved": "0.00", "paid": "0.00", "used": "0.00",
                                       "pending": "0.00", "utilisation_rate": 0.0}
    assert current(mine, "revenue_growth") == {"customers": 1, "revenue": "150.00", "previous_revenue": "100.00",
                                               "growth_rate": 0.5}
    # A manager asking for r1 sees r1's board; a rep asking for another owner sees nothing.
    assert kpis(api, users["manager"], f"period=2003&owner_id={r1['id']}") == mine
    theirs = kpis(api, r1["token"], f"period=2003&owner_id={r2['id']}")
    assert current(theirs, "retention")["customers"] == 0 and current(theirs, "complaints")["complaints"] == 0
    assert current(theirs, "contact_cadence")["customers"] == 0 and current(theirs, "budget")["budget"] == "0.00"
    assert current(theirs, "visit_plans")["planned"] == 0
    # The conftest sales reps own none of these customers.
    other = kpis(api, users["sales2"], "period=2003")
    assert current(other, "retention")["customers"] == 0 and current(other, "visit_plans")["planned"] == 0


@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(api, users, role):
    r = api.get(f"{KPIS}?period=2026-Q4", users[role])
    if role in READERS:
        assert r.status_code == 200, r.text
        assert r.json()["owner_id"] == (users.ids[role] if role.startswith("sales") else None)
    else:
        problem(r, 403)


def test_needs_a_token(api):
    problem(api.get(KPIS), 401)


@pytest.mark.parametrize("query", [
    "period=", "period=2026-Q5", "period=2026-Q0", "period=2026-H3", "period=2026-13", "period=2026-00",
    "period=26", "period=2026-1", "period=2026Q1", "period=1899", "period=2999", "period=2026-Q1x",
    "period=%E4%BA%8C%E9%9B%B6", "owner_id=", "owner_id=abc", "owner_id=00000000-0000-0000-0000-00000000000g",
    "group_by=owner", "period=2026&limit=5",
])
def test_bad_query_is_400(api, users, query):
    problem(api.get(f"{KPIS}?{query}", users["manager"]), 400)


@pytest.mark.parametrize("period,prev,first,last", [
    ("2026", "2025", "2026-01-01", "2026-12-31"),
    ("2026-H1", "2025-H2", "2026-01-01", "2026-06-30"),
    ("2026-H2", "2026-H1", "2026-07-01", "2026-12-31"),
    ("2026-Q1", "2025-Q4", "2026-01-01", "2026-03-31"),
    ("2024-02", "2024-01", "2024-02-01", "2024-02-29"),
    ("2026-01", "2025-12", "2026-01-01", "2026-01-31"),
    ("1900", "1899", "1900-01-01", "1900-12-31"),
])
def test_period_names_and_previous_periods(api, users, period, prev, first, last):
    body = kpis(api, users["manager"], f"period={period}")
    assert (body["period"], body["from"], body["to"]) == (period, first, last)
    assert body["previous_period"]["period"] == prev
    assert body["previous_period"]["to"] == (dt.date.fromisoformat(first) - dt.timedelta(days=1)).isoformat()
