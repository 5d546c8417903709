"""Complaint service levels: the SLA arithmetic (unit tests of migration 0005's functions on the
real PostgreSQL: crm_sla_due, crm_sla_status, crm_complaint_next_due — the one definition every
complaint read, list filter, worklist and report uses), the policy endpoints
(GET/PUT /v1/policies/complaint-sla) and the office's at-risk worklist
(GET /v1/reports/complaints/at-risk).

Deadlines are elapsed time from received_at: a deadline crosses midnight, month and year ends,
leap days and daylight-saving changes unchanged. Expected instants are written out by hand.
"""

import datetime as dt
import uuid

import pytest

from conftest import USER_PASSWORD, assert_invalid, problem, walk_pages

POLICY = "/v1/policies/complaint-sla"
AT_RISK = "/v1/reports/complaints/at-risk"
DEFAULTS = [{"severity": "urgent", "first_response_minutes": 60, "start_minutes": 1440, "at_risk_minutes": 120},
            {"severity": "normal", "first_response_minutes": 1440, "start_minutes": 1440, "at_risk_minutes": 120}]


def iso(t):
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_utc():
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def parse_ts(s):
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


# ---------------------------------------------------------------- the arithmetic

@pytest.mark.parametrize("received, minutes, expected", [
    # across midnight in the business time zone (Asia/Shanghai, UTC+8)
    ("2026-11-23T23:30:00+08:00", 60, "2026-11-24T00:30:00+08:00"),
    ("2026-11-23T15:30:00Z", 60, "2026-11-23T16:30:00Z"),
    # a 24 h deadline across a month end, a year end, leap and common Februaries
    ("2026-01-31T20:00:00Z", 1440, "2026-02-01T20:00:00Z"),
    ("2026-04-30T23:59:59+08:00", 1440, "2026-05-01T23:59:59+08:00"),
    ("2026-12-31T23:59:59Z", 1, "2027-01-01T00:00:59Z"),
    ("2028-02-28T12:00:00Z", 1440, "2028-02-29T12:00:00Z"),
    ("2027-02-28T12:00:00Z", 1440, "2027-03-01T12:00:00Z"),
    # elapsed time, not wall-clock time: one hour across a daylight-saving change
    ("2026-03-08T01:30:00-05:00", 60, "2026-03-08T03:30:00-04:00"),
    # 30 days, the policy's maximum
    ("2026-02-15T08:00:00Z", 43200, "2026-03-17T08:00:00Z"),
])
def test_deadline_arithmetic(db, received, minutes, expected):
    assert db(f"SELECT crm_sla_due('{received}', {minutes}) = '{expected}'::timestamptz") == "t"


def test_deadline_does_not_depend_on_the_session_time_zone(db):
    a = db("SET LOCAL TIME ZONE 'America/New_York'; SELECT extract(epoch FROM crm_sla_due('2026-11-01T05:30:00Z', 60))")
    b = db("SET LOCAL TIME ZONE 'Asia/Shanghai'; SELECT extract(epoch FROM crm_sla_due('2026-11-01T05:30:00Z', 60))")
    assert a == b == str(int(dt.datetime(2026, 11, 1, 6, 30, tzinfo=dt.timezone.utc).timestamp())) + ".000000"


DUE = "2026-11-24T00:30:00+08:00"


@pytest.mark.parametrize("done, now, window, expected", [
    ("'2026-11-24T00:29:59+08:00'", "'2026-12-01T00:00:00Z'", 120, "met"),
    ("'2026-11-24T00:30:00+08:00'", "'2026-12-01T00:00:00Z'", 120, "met"),      # exactly at the deadline
    ("'2026-11-24T00:30:01+08:00'", "'2026-11-23T00:00:00Z'", 120, "breached"),  # done late stays breached
    ("NULL", "'2026-11-23T16:30:01Z'", 120, "breached"),                         # one second past, not done
    ("NULL", "'2026-11-23T16:30:00Z'", 120, "at_risk"),                          # at the deadline
    ("NULL", "'2026-11-23T14:30:00Z'", 120, "at_risk"),                          # two hours before
    ("NULL", "'2026-11-23T14:29:59Z'", 120, "pending"),
    ("NULL", "'2026-11-23T16:00:00Z'", 0, "pending"),                            # no warning window
    ("NULL", "'2026-11-23T16:30:00Z'", 0, "at_risk"),
])
def test_leg_status(db, done, now, window, expected):
    assert db(f"SELECT crm_sla_status('{DUE}', {done}, {window}, {now})") == expected


def test_leg_without_deadline(db):
    assert db("SELECT crm_sla_status(NULL, NULL, 120, now())") == "pending"
    assert db("SELECT crm_sla_status(NULL, now(), 120, now())") == "met"


def test_late_recording_status_counts_from_received_at(db):
    # received yesterday 08:00, recorded today: the 1 h urgent first response was missed before it was filed
    assert db("SELECT crm_sla_status(crm_sla_due(now() - interval '1 day', 60), NULL, 120, now())") == "breached"
    assert db("SELECT crm_sla_status(crm_sla_due(now() - interval '23 hours', 1440), NULL, 120, now())") == "at_risk"


def test_next_due_is_the_earliest_leg_not_done(db):
    a, b, c = "'2026-11-23T10:00:00Z'", "'2026-11-24T08:00:00Z'", "'2026-11-23T20:00:00Z'"
    done = "'2026-11-23T09:00:00Z'"

    def nd(fr_done, st_done, res_due, res_done):
        return db(f"SELECT to_char(crm_complaint_next_due({a}, {fr_done}, {b}, {st_done}, {res_due}, {res_done}) "
                  f"AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI')")
    assert nd("NULL", "NULL", "NULL", "NULL") == "2026-11-23T10:00"
    assert nd(done, "NULL", "NULL", "NULL") == "2026-11-24T08:00"
    assert nd(done, "NULL", c, "NULL") == "2026-11-23T20:00"
    assert nd(done, done, c, "NULL") == "2026-11-23T20:00"
    assert nd(done, done, c, done) == ""
    assert nd(done, done, "NULL", "NULL") == ""


# ---------------------------------------------------------------- the policy

@pytest.fixture
def restore_policy(api, users):
    yield
    r = api.call("PUT", POLICY, users["admin"], json_body={"severities": DEFAULTS})
    assert r.status_code == 200, r.text


def test_policy_defaults_readable_by_staff(api, users):
    for who in ("sales", "manager", "finance", "office", "admin"):
        r = api.get(POLICY, users[who])
        assert r.status_code == 200, who
        assert r.json()["severities"] == DEFAULTS
    problem(api.get(POLICY, users["erp"]), 403)
    etag = api.get(POLICY, users["office"]).headers["ETag"]
    assert api.get(POLICY, users["office"], headers={"If-None-Match": etag}).status_code == 304


def test_policy_put_roles_validation_if_match_and_effect(api, users, make_customer, db, restore_policy):
    new = [{"severity": "normal", "first_response_minutes": 240, "start_minutes": 480, "at_risk_minutes": 30},
           {"severity": "urgent", "first_response_minutes": 30, "start_minutes": 120, "at_risk_minutes": 15}]
    for who in ("sales", "finance", "office", "erp"):
        problem(api.call("PUT", POLICY, users[who], json_body={"severities": new}), 403)
    cust = make_customer()
    body = {"customer_id": cust["id"], "channel": "phone", "category": "quality", "severity": "normal",
            "description": "政策前"}
    old = api.post("/v1/complaints", users["office"], body).json()
    cur = api.get(POLICY, users["manager"])
    v = cur.json()["version"]
    problem(api.call("PUT", POLICY, users["manager"], json_body={"severities": new},
                     headers={"If-Match": f'W/"{v + 5}"'}), 412)
    r = api.call("PUT", POLICY, users["manager"], json_body={"severities": new}, headers={"If-Match": f'W/"{v}"'})
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["version"] == v + 1 and p["updated_by"] == users.ids["manager"]
    assert p["severities"] == [new[1], new[0]]  # urgent first
    assert db("SELECT after->'severities'->0->>'first_response_minutes' FROM audit_log WHERE entity = 'sla_policy' "
              "ORDER BY id DESC LIMIT 1") == "30"
    # new complaints take the new deadlines; the old one keeps its own
    c = api.post("/v1/complaints", users["office"], dict(body, description="政策后")).json()
    assert parse_ts(c["first_response_due"]) - parse_ts(c["received_at"]) == dt.timedelta(minutes=240)
    assert parse_ts(c["start_due"]) - parse_ts(c["received_at"]) == dt.timedelta(minutes=480)
    again = api.get(f"/v1/complaints/{old['id']}", users["office"]).json()
    assert again["first_response_due"] == old["first_response_due"]


@pytest.mark.parametrize("body, field", [
    ({}, "severities"),
    ({"severities": DEFAULTS[:1]}, "severities"),
    ({"severities": [DEFAULTS[0], DEFAULTS[0]]}, "severities[1].severity"),
    ({"severities": [DEFAULTS[0], dict(DEFAULTS[1], start_minutes=0)]}, "severities[1].start_minutes"),
    ({"severities": [DEFAULTS[0], dict(DEFAULTS[1], first_response_minutes=43201)]},
     "severities[1].first_response_minutes"),
    ({"severities": [dict(DEFAULTS[0], at_risk_minutes=-1), DEFAULTS[1]]}, "severities[0].at_risk_minutes"),
    ({"severities": [dict(DEFAULTS[0], at_risk_minutes="120"), DEFAULTS[1]]}, "severities[0].at_risk_minutes"),
    ({"severities": [{"severity": "urgent"}, DEFAULTS[1]]}, "severities[0].first_response_minutes"),
    ({"severities": [dict(DEFAULTS[0], severity="low"), DEFAULTS[1]]}, "severities[0].severity"),
    ({"severities": DEFAULTS, "version": 3}, "version"),
])
def test_policy_put_invalid_is_422(api, users, db, body, field):
    before = db("SELECT string_agg(severity || first_response_minutes || start_minutes || at_risk_minutes || version, ',' "
                "ORDER BY severity) FROM complaint_sla_policies")
    assert_invalid(api.call("PUT", POLICY, users["admin"], json_body=body), field)
    assert db("SELECT string_agg(severity || first_response_minutes || start_minutes || at_risk_minutes || version, ',' "
              "ORDER BY severity) FROM complaint_sla_policies") == before


# ---------------------------------------------------------------- the at-risk worklist

@pytest.fixture
def rep(api, users):
    """A fresh sales rep (token, id): the worklist is scoped, so only this rep's complaints count."""
    name = f"t-rep-{uuid.uuid4().hex[:8]}"
    r = api.post("/v1/users", users["admin"], {"username": name, "display_name": "专员", "role": "sales",
                                              "password": USER_PASSWORD})
    assert r.status_code == 201, r.text
    return api.login(name, USER_PASSWORD), r.json()["id"]


def test_at_risk_worklist(api, users, rep, make_customer):
    token, rep_id = rep
    cust = api.post("/v1/customers", token, {"name": "风险客户"}).json()
    other = make_customer()
    now = now_utc()

    def file(hours_ago, severity="normal", customer=cust["id"]):
        r = api.post("/v1/complaints", users["office"], {
            "customer_id": customer, "channel": "phone", "category": "quality", "severity": severity,
            "description": "x", "received_at": iso(now - dt.timedelta(hours=hours_ago))})
        assert r.status_code == 201, r.text
        return r.json()

    def post(c, action, body=None):
        r = api.post(f"/v1/complaints/{c['id']}/{action}", users["office"], body)
        assert r.status_code == 200, r.text
        return r.json()

    breached = file(25)                     # first response due 1 h ago
    soon = file(23.5)                       # first response due in 30 min
    urgent = file(0, "urgent")              # first response due in 60 min
    file(0)                                 # due in 24 h: not at risk
    start = post(file(23.25), "acknowledge")  # next leg: start, due in 45 min
    res = post(file(1), "acknowledge")
    res = post(res, "assign", {"assignee_id": rep_id, "department": "质量部",
                               "resolution_due": iso(now + dt.timedelta(minutes=100))})
    res = post(res, "start")                # next leg: resolution, due in 100 min
    done = post(file(25), "acknowledge")    # start leg breached but resolve it → not open
    done = post(done, "assign", {"assignee_id": rep_id, "department": "质量部",
                                 "resolution_due": iso(now + dt.timedelta(hours=5))})
    post(post(done, "start"), "resolve", {"resolution": "ok", "root_cause": "other"})
    gone = file(26)
    assert api.delete(f"/v1/complaints/{gone['id']}", users["office"]).status_code == 204
    file(30, customer=other["id"])          # not this rep's

    items = walk_pages(api, AT_RISK, token, limit=2)
    assert [i["complaint_id"] for i in items] == [breached["id"], soon["id"], start["id"], urgent["id"], res["id"]]
    by = {i["complaint_id"]: i for i in items}
    assert by[breached["id"]]["sla_state"] == "breached" and by[breached["id"]]["next_leg"] == "first_response"
    assert -62 <= by[breached["id"]]["minutes_to_due"] <= -59
    assert by[soon["id"]]["sla_state"] == "at_risk" and 28 <= by[soon["id"]]["minutes_to_due"] <= 30
    assert by[start["id"]]["next_leg"] == "start" and by[start["id"]]["status"] == "acknowledged"
    assert by[urgent["id"]]["severity"] == "urgent" and by[urgent["id"]]["next_due"] == urgent["first_response_due"]
    assert by[res["id"]]["next_leg"] == "resolution" and by[res["id"]]["assignee_id"] == rep_id
    assert by[res["id"]]["customer_name"] == "风险客户" and by[res["id"]]["owner_id"] == rep_id
    # filters; the office sees the other rep's complaint too
    assert [i["complaint_id"] for i in walk_pages(api, AT_RISK, token, "severity=urgent")] == [urgent["id"]]
    assert [i["complaint_id"] for i in walk_pages(api, AT_RISK, token, f"assignee_id={rep_id}")] == [res["id"]]
    office = {i["customer_id"] for i in walk_pages(api, AT_RISK, users["office"])}
    assert {cust["id"], other["id"]} <= office
    # the sla=at_risk / breached list filters agree with the worklist for this rep
    listed = {c["id"] for c in walk_pages(api, "/v1/complaints", token, "sla=breached")}
    assert breached["id"] in listed and soon["id"] not in listed
    listed = {c["id"] for c in walk_pages(api, "/v1/complaints", token, "sla=at_risk")}
    assert {soon["id"], start["id"], urgent["id"], res["id"]} <= listed and breached["id"] not in listed
    for c in (soon, start, urgent, res):
        doc = api.get(f"/v1/complaints/{c['id']}", token).json()
        assert "at_risk" in (doc["first_response_status"], doc["start_status"], doc["resolution_status"])


@pytest.mark.parametrize("query", ["severity=low", "assignee_id=x", "limit=0", "cursor=abc", "from=2026-01-01"])
def test_at_risk_bad_parameters_are_400(api, users, query):
    problem(api.get(f"{AT_RISK}?{query}", users["office"]), 400)


def test_at_risk_roles(api, users):
    for who in ("sales", "manager", "finance", "office", "admin"):
        assert api.get(AT_RISK, users[who]).status_code == 200, who
    problem(api.get(AT_RISK, users["erp"]), 403)
