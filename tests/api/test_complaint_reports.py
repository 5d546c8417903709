"""GET /v1/reports/complaints: figures of a period checked against hand-computed fixtures.

The fixtures are inserted with known timestamps through the db fixture (the API cannot backdate
acknowledgements or resolutions), in February 2024, which no other test uses, for the customers
of a fresh sales rep (the report is scoped to the caller, so the rep sees exactly these).

The rep's complaints (business time zone Asia/Shanghai, UTC+8; period 2024-02-01 .. 2024-02-29):
  C4  A urgent delivery  received 2024-01-31 15:00Z (= 23:00 local, the day BEFORE the period),
      material → outside the period, but makes C1 a repeat
  C1  A urgent quality   received 2024-01-31 16:30Z (= 2024-02-01 00:30 local: inside)
      first response +0.5 h (due 1 h: met), start +10 h (due 24 h: met),
      resolved +48 h (due +72 h: met), material, closed, satisfaction 4
  C2  A normal quality   received 2024-02-10 09:00Z
      first response +30 h (due 24 h: breached), start +30 h (breached),
      resolved +144 h (due +120 h: breached), material (repeat of C1), refund 100.50 pending
  C3  B normal delivery  received 2024-02-20 12:00Z, first response +2 h (met), never started
      (start due +24 h: breached), not assigned (resolution pending), open
  C5  B archived (left out); C7 A received 2024-02-29 16:00Z (= 2024-03-01 00:00 local: after);
  C6  another rep's customer (left out for the rep, counted for a manager)
Overall for the rep: 3 complaints, 1 open, 2 active customers (A, B; P is a prospect) → rate 150.00;
hours to first response 0.5, 30, 2 → mean 10.83, p90 = 2 + 0.8 × 28 = 24.40;
hours to resolution 48, 144 → mean 96.00, p90 = 48 + 0.9 × 96 = 134.40;
first response met 2 / breached 1 → 0.6667; start met 1 / breached 2 → 0.3333;
resolution met 1 / breached 1 / pending 1 → 0.5000; repeats 2 (C1 by C4, C2 by C1);
mean satisfaction 4.00; refunds 100.50.
"""

import uuid
from decimal import ROUND_HALF_UP, Decimal

import pytest

from conftest import USER_PASSWORD, problem

REPORT = "/v1/reports/complaints"
PERIOD = "from=2024-02-01&to=2024-02-29"


def insert(db, customer, by, severity, category, received, fr=None, st=None, res_due=None, res=None,
           status="received", root=None, satisfaction=None, refund=None, archived=False):
    minutes = 60 if severity == "urgent" else 1440

    def lit(v):
        return "NULL" if v is None else f"'{v}'"
    resolved = status in ("resolved", "closed")
    sql = (
        "INSERT INTO complaints (customer_id, channel, category, severity, description, received_at, status, "
        "first_response_due, first_response_at, start_due, started_at, resolution_due, resolved_at, assignee_id, "
        "department, resolution, root_cause, satisfaction, closed_at, refund_amount, refund_status, created_by, "
        "archived_at) VALUES ("
        f"'{customer}', 'phone', '{category}', '{severity}', '报表测试', '{received}', '{status}', "
        f"crm_sla_due('{received}', {minutes}), {lit(fr)}, crm_sla_due('{received}', 1440), {lit(st)}, "
        f"{lit(res_due)}, {lit(res)}, {lit(by if res_due else None)}, {lit('质量部' if res_due else None)}, "
        f"{lit('已处理' if resolved else None)}, {lit(root)}, {lit(satisfaction)}, "
        f"{lit('2024-03-05T00:00:00Z' if status == 'closed' else None)}, {lit(refund)}, "
        f"{lit('pending' if refund else None)}, '{by}', {'now()' if archived else 'NULL'}) RETURNING id")
    return db(sql)


@pytest.fixture(scope="module")
def fixture(api, users, server):
    from conftest import psql
    db = lambda sql: psql(server.url_db, sql)  # noqa: E731
    name = f"t-rep-{uuid.uuid4().hex[:8]}"
    r = api.post("/v1/users", users["admin"], {"username": name, "display_name": "报表专员", "role": "sales",
                                              "password": USER_PASSWORD})
    assert r.status_code == 201, r.text
    rep_id = r.json()["id"]
    token = api.login(name, USER_PASSWORD)
    cust = {}
    for key, status in (("A", "active"), ("B", "active"), ("P", "prospect")):
        r = api.post("/v1/customers", token, {"name": f"报表客户{key}-{uuid.uuid4().hex[:6]}", "status": status})
        assert r.status_code == 201, r.text
        cust[key] = r.json()["id"]
    r = api.post("/v1/customers", users["sales2"], {"name": f"别人的客户-{uuid.uuid4().hex[:6]}"})
    cust["X"] = r.json()["id"]
    ids = {}
    ids["C4"] = insert(db, cust["A"], rep_id, "urgent", "delivery", "2024-01-31T15:00:00Z", fr="2024-01-31T15:20:00Z",
                       st="2024-01-31T16:00:00Z", res_due="2024-02-05T00:00:00Z", res="2024-02-02T15:00:00Z",
                       status="resolved", root="material")
    ids["C1"] = insert(db, cust["A"], rep_id, "urgent", "quality", "2024-01-31T16:30:00Z", fr="2024-01-31T17:00:00Z",
                       st="2024-02-01T02:30:00Z", res_due="2024-02-03T16:30:00Z", res="2024-02-02T16:30:00Z",
                       status="closed", root="material", satisfaction=4)
    ids["C2"] = insert(db, cust["A"], rep_id, "normal", "quality", "2024-02-10T09:00:00Z", fr="2024-02-11T15:00:00Z",
                       st="2024-02-11T15:00:00Z", res_due="2024-02-15T09:00:00Z", res="2024-02-16T09:00:00Z",
                       status="resolved", root="material", refund="100.50")
    ids["C3"] = insert(db, cust["B"], rep_id, "normal", "delivery", "2024-02-20T12:00:00Z", fr="2024-02-20T14:00:00Z",
                       status="acknowledged")
    ids["C5"] = insert(db, cust["B"], rep_id, "normal", "quality", "2024-02-15T00:00:00Z", archived=True)
    ids["C7"] = insert(db, cust["A"], rep_id, "normal", "quality", "2024-02-29T16:00:00Z")
    ids["C6"] = insert(db, cust["X"], rep_id, "normal", "billing", "2024-02-05T00:00:00Z")
    return {"token": token, "rep_id": rep_id, "cust": cust, "ids": ids, "db": db}


REP_OVERALL = {
    "complaints": 3, "open": 1, "active_customers": 2, "rate_per_100_active_customers": 150.0,
    "mean_hours_to_first_response": 10.83, "p90_hours_to_first_response": 24.4,
    "mean_hours_to_resolution": 96.0, "p90_hours_to_resolution": 134.4,
    "first_response_met": 2, "first_response_breached": 1, "first_response_pending": 0,
    "first_response_compliance": 0.6667,
    "start_met": 1, "start_breached": 2, "start_pending": 0, "start_compliance": 0.3333,
    "resolution_met": 1, "resolution_breached": 1, "resolution_pending": 1, "resolution_compliance": 0.5,
    "repeat_complaints": 2, "mean_satisfaction": 4.0, "refund_total": "100.50",
}


def test_overall_figures_for_the_rep(api, fixture):
    r = api.get(f"{REPORT}?{PERIOD}", fixture["token"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["from"] == "2024-02-01" and body["to"] == "2024-02-29" and body["timezone"] == "Asia/Shanghai"
    assert body["group_by"] is None and body["groups"] == []
    assert body["overall"] == REP_OVERALL


def test_group_by_category(api, fixture):
    body = api.get(f"{REPORT}?{PERIOD}&group_by=category", fixture["token"]).json()
    assert body["overall"] == REP_OVERALL
    g = {x["key"]: x for x in body["groups"]}
    assert [x["key"] for x in body["groups"]] == ["delivery", "quality"]
    assert g["delivery"]["label"] == "delivery"
    # delivery: C3 only
    assert g["delivery"]["complaints"] == 1 and g["delivery"]["rate_per_100_active_customers"] == 50.0
    assert g["delivery"]["mean_hours_to_first_response"] == 2.0 and g["delivery"]["mean_hours_to_resolution"] is None
    assert g["delivery"]["start_compliance"] == 0.0 and g["delivery"]["resolution_compliance"] is None
    assert g["delivery"]["mean_satisfaction"] is None and g["delivery"]["refund_total"] == "0.00"
    # quality: C1, C2; p90 of 0.5 and 30 = 0.5 + 0.9 × 29.5 = 27.05
    q = g["quality"]
    assert q["complaints"] == 2 and q["rate_per_100_active_customers"] == 100.0
    assert q["mean_hours_to_first_response"] == 15.25 and q["p90_hours_to_first_response"] == 27.05
    assert q["first_response_compliance"] == 0.5 and q["repeat_complaints"] == 2 and q["open"] == 0


def test_group_by_root_cause_and_severity(api, fixture):
    body = api.get(f"{REPORT}?{PERIOD}&group_by=root_cause", fixture["token"]).json()
    assert [(x["key"], x["complaints"], x["repeat_complaints"]) for x in body["groups"]] == \
        [("material", 2, 2), (None, 1, 0)]
    body = api.get(f"{REPORT}?{PERIOD}&group_by=severity", fixture["token"]).json()
    g = {x["key"]: x for x in body["groups"]}
    assert [x["key"] for x in body["groups"]] == ["normal", "urgent"]
    assert g["urgent"]["complaints"] == 1 and g["urgent"]["p90_hours_to_first_response"] == 0.5
    assert g["urgent"]["resolution_compliance"] == 1.0 and g["urgent"]["mean_satisfaction"] == 4.0
    assert g["normal"]["complaints"] == 2 and g["normal"]["mean_hours_to_first_response"] == 16.0
    assert g["normal"]["refund_total"] == "100.50" and g["normal"]["open"] == 1


def test_group_by_owner_rates_against_the_owners_customers(api, fixture):
    body = api.get(f"{REPORT}?{PERIOD}&group_by=owner", fixture["token"]).json()
    assert len(body["groups"]) == 1
    g = body["groups"][0]
    assert g["key"] == fixture["rep_id"] and g["label"] == "报表专员"
    assert g["active_customers"] == 2 and g["rate_per_100_active_customers"] == 150.0 and g["complaints"] == 3


def test_manager_sees_every_complaint_of_the_period(api, users, fixture):
    db = fixture["db"]
    active = int(db("SELECT count(*) FROM customers WHERE status = 'active' AND archived_at IS NULL"))
    body = api.get(f"{REPORT}?{PERIOD}&group_by=owner", users["manager"]).json()
    o = body["overall"]
    assert o["complaints"] == 4 and o["active_customers"] == active
    assert Decimal(str(o["rate_per_100_active_customers"])) == \
        (Decimal(400) / active).quantize(Decimal("0.01"), ROUND_HALF_UP)
    # C6 was never answered: first response met C1, C3 / breached C2, C6
    assert (o["first_response_met"], o["first_response_breached"], o["first_response_compliance"]) == (2, 2, 0.5)
    owners = {g["key"]: g for g in body["groups"]}
    assert owners[fixture["rep_id"]]["complaints"] == 3
    assert owners[users.ids["sales2"]]["complaints"] == 1 and owners[users.ids["sales2"]]["label"] == "测试 sales2"


def test_a_rep_with_nothing_in_the_period(api, users, fixture):
    body = api.get(f"{REPORT}?from=2019-01-01&to=2019-01-31&group_by=category", fixture["token"]).json()
    o = body["overall"]
    assert o["complaints"] == 0 and o["rate_per_100_active_customers"] == 0.0 and o["active_customers"] == 2
    assert o["mean_hours_to_first_response"] is None and o["first_response_compliance"] is None
    assert body["groups"] == [] and o["refund_total"] == "0.00"


def test_repeat_window_is_90_days(api, fixture):
    db = fixture["db"]
    a, b = fixture["cust"]["A"], fixture["cust"]["B"]
    rep = fixture["rep_id"]

    def resolved(cust, day, root):
        insert(db, cust, rep, "normal", "other", f"{day}T00:00:00Z", fr=f"{day}T01:00:00Z", st=f"{day}T02:00:00Z",
               res_due=f"{day}T20:00:00Z", res=f"{day}T10:00:00Z", status="resolved", root=root)
    resolved(a, "2023-01-01", "equipment")
    resolved(a, "2023-04-01", "equipment")   # 90 days after the first: a repeat
    resolved(b, "2023-01-01", "equipment")
    resolved(b, "2023-04-02", "equipment")   # 91 days after: not a repeat
    resolved(a, "2023-07-01", "process")     # another root cause: not a repeat
    body = api.get(f"{REPORT}?from=2023-03-01&to=2023-12-31&group_by=root_cause", fixture["token"]).json()
    assert body["overall"]["complaints"] == 3 and body["overall"]["repeat_complaints"] == 1
    assert [(g["key"], g["complaints"], g["repeat_complaints"]) for g in body["groups"]] == \
        [("equipment", 2, 1), ("process", 1, 0)]


@pytest.mark.parametrize("query", ["", "from=2024-02-01", "to=2024-02-01", "from=2024-02-30&to=2024-03-01",
                                   "from=2024-03-01&to=2024-02-01", "from=2024-02&to=2024-03",
                                   f"{PERIOD}&group_by=customer", f"{PERIOD}&owner_id=x"])
def test_bad_parameters_are_400(api, users, query):
    problem(api.get(f"{REPORT}?{query}", users["office"]), 400)


def test_roles(api, users):
    for who in ("sales", "manager", "finance", "office", "admin"):
        assert api.get(f"{REPORT}?{PERIOD}", users[who]).status_code == 200, who
    problem(api.get(f"{REPORT}?{PERIOD}", users["erp"]), 403)
