"""Contact cadence: the SQL arithmetic (unit tests of the migration's functions on the real
PostgreSQL), the figures every customer read shows (hand-computed fixtures), the policy
endpoints (GET/PUT /v1/policies/cadence) and the record-review action.

Expected dates are written out by hand where they test an edge (month ends, leap years, the
business time zone); relative fixtures ("35 days ago") use `add_months` below, which states
the rule: the business-time date of the last contact plus N calendar months, clamped to the
month's last day.
"""

import calendar
import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from conftest import Api, assert_invalid, problem, Server, unique

SHANGHAI = ZoneInfo("Asia/Shanghai")
DEFAULT_POLICY = [
    {"tier": "vip", "contact_interval_months": 1, "visit_interval_months": 3, "review_interval_months": 3,
     "due_soon_days": 7},
    {"tier": "key", "contact_interval_months": 1, "visit_interval_months": 3, "review_interval_months": 3,
     "due_soon_days": 7},
    {"tier": "general", "contact_interval_months": 3, "visit_interval_months": 6, "review_interval_months": None,
     "due_soon_days": 14},
    {"tier": "reserve", "contact_interval_months": None, "visit_interval_months": None,
     "review_interval_months": None, "due_soon_days": 7},
]
CADENCE_KEYS = ["last_contact_at", "next_contact_due", "contact_status", "last_visit_at", "next_visit_due",
                "visit_status", "next_review_due", "review_status"]


def add_months(d, n):
    y, m = divmod(d.month - 1 + n, 12)
    y += d.year
    m += 1
    return dt.date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def today_sh():
    return dt.datetime.now(SHANGHAI).date()


def status_for(due, soon):
    t = today_sh()
    if due < t:
        return "overdue"
    if due - dt.timedelta(days=soon) <= t:
        return "due_soon"
    return "ok"


def sql_date(db, expr, tz="Asia/Shanghai"):
    # SET LOCAL: the setting ends with this statement's transaction. A session SET would stay on
    # the server connection, which behind PgBouncer (tests/pgbouncer/run.sh) other tests' psql
    # calls then share.
    return db(f"SET LOCAL crm.timezone = '{tz}'; SELECT ({expr})::text")


@pytest.fixture
def customer(api, users, db):
    """A customer of 'sales' with the given tier and cadence columns set directly in the database."""
    def make(tier="key", owner="sales", **cols):
        r = api.post("/v1/customers", users[owner], {"name": unique("常州织造")})
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
        sets = [f"tier = '{tier}'"] + [f"{k} = {'NULL' if v is None else repr(str(v))}" for k, v in cols.items()]
        db(f"UPDATE customers SET {', '.join(sets)} WHERE id = '{cid}'")
        return cid
    return make


@pytest.fixture
def restore_policy(api, users):
    yield
    r = api.call("PUT", "/v1/policies/cadence", users["admin"], json_body={"tiers": DEFAULT_POLICY})
    assert r.status_code == 200, r.text


# ---------------------------------------------------------------- SQL arithmetic (unit)

@pytest.mark.parametrize("last,months,expected", [
    ("2026-01-31T10:00:00Z", 1, "2026-02-28"),   # Shanghai 01-31 18:00; February clamps
    ("2026-01-31T20:00:00Z", 1, "2026-03-01"),   # Shanghai 02-01 04:00: the business date moved
    ("2027-12-31T00:00:00Z", 2, "2028-02-29"),   # leap year clamp
    ("2026-11-30T02:00:00Z", 3, "2027-02-28"),   # quarter across a year end
    ("2026-12-31T02:00:00Z", 3, "2027-03-31"),
    ("2026-08-31T15:59:00Z", 6, "2027-02-28"),   # 23:59 in Shanghai, still 08-31
    ("2026-08-31T16:00:00Z", 6, "2027-03-01"),   # 00:00 on 09-01 in Shanghai
    ("2026-03-15T00:00:00Z", 12, "2027-03-15"),
])
def test_due_date_arithmetic(db, last, months, expected):
    assert sql_date(db, f"crm_customer_due(true, '{last}', NULL, '2000-01-01Z', {months})") == expected


def test_due_date_time_zone_is_the_business_zone(db):
    last = "2026-03-01T02:00:00Z"   # Shanghai 03-01 10:00, New York 02-28 21:00
    assert sql_date(db, f"crm_customer_due(true, '{last}', NULL, now(), 1)") == "2026-04-01"
    assert sql_date(db, f"crm_customer_due(true, '{last}', NULL, now(), 1)", "America/New_York") == "2026-03-28"
    assert sql_date(db, "crm_local_date('2026-06-30T16:00:00Z')") == "2026-07-01"
    assert sql_date(db, "crm_local_date('2026-06-30T16:00:00Z')", "UTC") == "2026-06-30"


def test_due_date_anchors_and_exclusions(db):
    # No last contact: the first-contact date, else the business date of creation.
    assert sql_date(db, "crm_customer_due(true, NULL, '2026-05-31', now(), 1)") == "2026-06-30"
    assert sql_date(db, "crm_customer_due(true, NULL, NULL, '2025-12-31T17:00:00Z', 1)") == "2026-02-01"
    # A last contact wins over the first-contact date.
    assert sql_date(db, "crm_customer_due(true, '2026-04-10T00:00:00Z', '2026-05-31', now(), 1)") == "2026-05-10"
    # Not applicable (archived / lost) or no interval for the tier: no due date.
    assert sql_date(db, "crm_customer_due(false, '2026-04-10T00:00:00Z', NULL, now(), 1)") == ""
    assert sql_date(db, "crm_customer_due(true, '2026-04-10T00:00:00Z', NULL, now(), NULL)") == ""


@pytest.mark.parametrize("offset,soon,expected", [
    (-1, 7, "overdue"), (0, 7, "due_soon"), (7, 7, "due_soon"), (8, 7, "ok"), (0, 0, "due_soon"),
    (1, 0, "ok"), (14, 14, "due_soon"), (15, 14, "ok"),
])
def test_cadence_status_thresholds(db, offset, soon, expected):
    assert sql_date(db, f"crm_cadence_status(crm_today() + {offset}, {soon}, crm_today())") == expected


def test_cadence_status_null_without_due(db):
    assert sql_date(db, "crm_cadence_status(NULL, 7, crm_today())") == ""


def test_business_today_follows_the_zone(db):
    for tz in ("Asia/Shanghai", "America/Los_Angeles", "Pacific/Kiritimati"):
        assert sql_date(db, "crm_today()", tz) == dt.datetime.now(ZoneInfo(tz)).date().isoformat()


# ---------------------------------------------------------------- customer documents

def get_customer(api, token, cid):
    r = api.get(f"/v1/customers/{cid}", token)
    assert r.status_code == 200, r.text
    return r.json()


def test_customer_shows_hand_computed_contact_figures(api, users, customer):
    cid = customer("key", last_contact_at="2026-01-31T20:00:00+00:00", last_visit_at="2026-01-31T10:00:00+00:00",
                   last_reviewed_at="2026-05-31T02:00:00+00:00")
    c = get_customer(api, users["sales"], cid)
    assert c["last_contact_at"] == "2026-01-31T20:00:00Z"
    assert c["next_contact_due"] == "2026-03-01"
    assert c["last_visit_at"] == "2026-01-31T10:00:00Z"
    assert c["next_visit_due"] == "2026-04-30"          # Shanghai 01-31 + 3 months, clamped
    assert c["next_review_due"] == "2026-08-31"
    for k in ("contact_status", "visit_status", "review_status"):
        assert c[k] == "overdue"                         # all those dates are before today


@pytest.mark.parametrize("days_ago", [0, 20, 25, 29, 35, 70])
def test_customer_status_relative_to_today(api, users, customer, days_ago):
    last_local = today_sh() - dt.timedelta(days=days_ago)
    last = dt.datetime.combine(last_local, dt.time(12, 0), SHANGHAI)
    cid = customer("key", last_contact_at=last.isoformat())
    c = get_customer(api, users["manager"], cid)
    due = add_months(last_local, 1)
    assert c["next_contact_due"] == due.isoformat()
    assert c["contact_status"] == status_for(due, 7)


def test_general_tier_intervals_and_no_review(api, users, customer):
    last_local = today_sh() - dt.timedelta(days=80)
    cid = customer("general", last_contact_at=dt.datetime.combine(last_local, dt.time(9), SHANGHAI).isoformat())
    c = get_customer(api, users["sales"], cid)
    due = add_months(last_local, 3)
    assert c["next_contact_due"] == due.isoformat()
    assert c["contact_status"] == status_for(due, 14)
    assert c["next_review_due"] is None and c["review_status"] is None


def test_never_contacted_uses_first_contact_then_creation(api, users, customer):
    cid = customer("key", first_contact_at="2026-05-31")
    c = get_customer(api, users["sales"], cid)
    assert c["last_contact_at"] is None and c["last_visit_at"] is None
    assert c["next_contact_due"] == "2026-06-30"
    assert c["next_visit_due"] == "2026-08-31"
    cid = customer("key", created_at="2025-12-31T17:00:00+00:00")
    c = get_customer(api, users["sales"], cid)
    assert c["next_contact_due"] == "2026-02-01"
    assert c["next_review_due"] == "2026-04-01"


def test_reserve_lost_and_archived_have_no_cadence(api, users, customer):
    old = "2025-01-01T00:00:00+00:00"
    reserve = customer("reserve", last_contact_at=old)
    lost = customer("key", last_contact_at=old, status="lost")
    archived = customer("vip", last_contact_at=old, archived_at=old)
    for cid in (reserve, lost, archived):
        c = get_customer(api, users["manager"], cid)
        for k in ("next_contact_due", "contact_status", "next_visit_due", "visit_status", "next_review_due",
                  "review_status"):
            assert c[k] is None, (cid, k, c[k])
        assert c["last_contact_at"] == "2025-01-01T00:00:00Z"


def test_tier_override_decides_the_cadence(api, users, customer):
    last_local = today_sh() - dt.timedelta(days=40)
    cid = customer("general", last_contact_at=dt.datetime.combine(last_local, dt.time(10), SHANGHAI).isoformat())
    c = get_customer(api, users["manager"], cid)
    assert c["next_contact_due"] == add_months(last_local, 3).isoformat()
    r = api.patch(f"/v1/customers/{cid}", users["manager"], {"tier_override": "vip",
                                                             "tier_override_reason": "战略客户"})
    assert r.status_code == 200, r.text
    # The PATCH answer already carries the figures of the new effective tier.
    assert r.json()["tier_effective"] == "vip"
    assert r.json()["next_contact_due"] == add_months(last_local, 1).isoformat()
    assert r.json()["contact_status"] == "overdue"


def test_list_and_create_carry_cadence_fields(api, users, customer):
    cid = customer("key", last_contact_at="2026-01-31T20:00:00+00:00")
    r = api.get("/v1/customers?limit=200&tier=key", users["sales"])
    assert r.status_code == 200
    item = next(i for i in r.json()["items"] if i["id"] == cid)
    assert item["next_contact_due"] == "2026-03-01" and item["contact_status"] == "overdue"
    r = api.post("/v1/customers", users["sales"], {"name": unique("新建"), "first_contact_at": "2026-01-31"})
    assert r.status_code == 201
    created = r.json()
    assert all(k in created for k in CADENCE_KEYS)
    assert created["tier_effective"] == "reserve" and created["next_contact_due"] is None


# The documents' figures are computed in C (service/resources/cadence.c); the overdue worklist
# and the KPI board compute with the SQL functions of migration 0004. Both must agree.
SQL_FIGURES = """
SELECT c.id, d.contact, crm_cadence_status(d.contact, p.due_soon_days, crm_today()),
       d.visit, crm_cadence_status(d.visit, p.due_soon_days, crm_today()),
       d.review, crm_cadence_status(d.review, p.due_soon_days, crm_today())
FROM customers c LEFT JOIN cadence_policies p ON p.tier = coalesce(c.tier_override, c.tier)
CROSS JOIN LATERAL (SELECT
    crm_customer_due(c.archived_at IS NULL AND c.status <> 'lost', c.last_contact_at, c.first_contact_at,
                     c.created_at, p.contact_interval_months) AS contact,
    crm_customer_due(c.archived_at IS NULL AND c.status <> 'lost', c.last_visit_at, c.first_contact_at,
                     c.created_at, p.visit_interval_months) AS visit,
    crm_customer_due(c.archived_at IS NULL AND c.status <> 'lost', c.last_reviewed_at, NULL,
                     c.created_at, p.review_interval_months) AS review) d
WHERE c.id IN ({ids})
"""
FIGURE_KEYS = ["next_contact_due", "contact_status", "next_visit_due", "visit_status", "next_review_due",
               "review_status"]


def random_instant(rnd):
    """Instants that test the business date: next to Shanghai's midnight (16:00 UTC), on month
    ends and leap days, around today, or anywhere in the last three years; with microseconds."""
    now = dt.datetime.now(dt.timezone.utc)
    kind = rnd.randrange(4)
    if kind == 0:
        day = dt.date(rnd.choice([2024, 2025, 2026]), rnd.randrange(1, 13), 1) - dt.timedelta(days=rnd.randrange(2))
        base = dt.datetime.combine(day, dt.time(16), dt.timezone.utc)
        return base + dt.timedelta(microseconds=rnd.choice([-1, 0, 1, -1_000_000, 999_999]))
    if kind == 1:
        return dt.datetime(2024, 2, 28, 16, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=rnd.randrange(-7200, 7200))
    if kind == 2:
        return now - dt.timedelta(days=rnd.randrange(0, 100), seconds=rnd.randrange(86400))
    return now - dt.timedelta(seconds=rnd.randrange(3 * 365 * 86400), microseconds=rnd.randrange(10**6))


def test_documents_agree_with_the_sql_functions(api, users, customer, db):
    import random
    rnd = random.Random(20261123)
    ids = []
    for _ in range(60):
        cols = {}
        for col in ("last_contact_at", "last_visit_at", "last_reviewed_at"):
            if rnd.random() < 0.7:
                cols[col] = random_instant(rnd).isoformat()
        if rnd.random() < 0.5:
            cols["first_contact_at"] = random_instant(rnd).date().isoformat()
        cols["created_at"] = random_instant(rnd).isoformat()
        if rnd.random() < 0.1:
            cols["status"] = "lost"
        if rnd.random() < 0.1:
            cols["archived_at"] = random_instant(rnd).isoformat()
        if rnd.random() < 0.2:
            cols["tier_override"] = rnd.choice(["vip", "key", "general", "reserve"])
            cols["tier_override_reason"] = "测试"
        ids.append(customer(rnd.choice(["vip", "key", "general", "reserve"]), **cols))
    rows = db(SQL_FIGURES.format(ids=", ".join(f"'{i}'" for i in ids))).splitlines()
    expected = {row.split("|")[0]: [v or None for v in row.split("|")[1:]] for row in rows}
    assert len(expected) == len(ids)
    for cid in ids:
        c = get_customer(api, users["manager"], cid)
        assert [c[k] for k in FIGURE_KEYS] == expected[cid], (cid, {k: c[k] for k in CADENCE_KEYS})
    # A page of the list computes the same figures.
    listed = {i["id"]: i for i in api.get("/v1/customers?limit=200&include_archived=true&sort=-updated_at",
                                          users["sales"]).json()["items"]}
    assert set(ids) <= set(listed)
    for cid in ids:
        assert [listed[cid][k] for k in FIGURE_KEYS] == expected[cid], cid


def test_logging_a_contact_changes_the_customer_and_its_etag(api, users, customer, db):
    cid = customer("key", first_contact_at="2026-01-01")
    r = api.get(f"/v1/customers/{cid}", users["sales"])
    etag, version = r.headers["ETag"], r.json()["version"]
    assert r.json()["contact_status"] == "overdue"
    at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    db(f"INSERT INTO interactions (customer_id, channel, occurred_at, summary, author_id) VALUES "
       f"('{cid}', 'phone', '{at.isoformat()}', '电话回访', '{users.ids['sales']}')")
    r = api.get(f"/v1/customers/{cid}", users["sales"], headers={"If-None-Match": etag})
    assert r.status_code == 200, "a cached copy must not be confirmed after a new contact"
    c = r.json()
    assert c["version"] == version + 1
    assert c["last_contact_at"] == at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert c["next_contact_due"] == add_months(at.astimezone(SHANGHAI).date(), 1).isoformat()
    assert c["contact_status"] == "ok"
    # A visit record counts as a contact and as a visit.
    db(f"INSERT INTO visits (customer_id, visited_at, author_id) VALUES "
       f"('{cid}', '{(at + dt.timedelta(seconds=1)).isoformat()}', '{users.ids['sales']}')")
    c = get_customer(api, users["sales"], cid)
    assert c["last_visit_at"] == (at + dt.timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert c["last_contact_at"] == c["last_visit_at"] and c["visit_status"] == "ok"
    # Archiving the visit recomputes both from what is left.
    db(f"UPDATE visits SET archived_at = now() WHERE customer_id = '{cid}'")
    c = get_customer(api, users["sales"], cid)
    assert c["last_visit_at"] is None
    assert c["last_contact_at"] == at.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_business_time_zone_comes_from_configuration(users, customer):
    """A second service on the same database with CRM_TIMEZONE=America/New_York."""
    cid = customer("key", last_contact_at="2026-03-01T02:00:00+00:00")
    ny = Server({"CRM_TIMEZONE": "America/New_York"}, reset=False)
    try:
        c = Api(ny).get(f"/v1/customers/{cid}", users["sales"]).json()
        assert c["next_contact_due"] == "2026-03-28"     # 02-28 21:00 in New York
    finally:
        assert ny.stop() == 0
    # The suite's own service (Asia/Shanghai) reads 03-01 10:00.


def test_business_time_zone_default_service(api, users, customer):
    cid = customer("key", last_contact_at="2026-03-01T02:00:00+00:00")
    assert get_customer(api, users["sales"], cid)["next_contact_due"] == "2026-04-01"


# ---------------------------------------------------------------- policy endpoints

def test_policy_defaults_readable_by_staff(api, users):
    for role in ("sales", "manager", "finance", "office", "admin"):
        r = api.get("/v1/policies/cadence", users[role])
        assert r.status_code == 200, (role, r.text)
        assert r.json()["tiers"] == DEFAULT_POLICY
        assert r.headers["ETag"] == f'W/"{r.json()["version"]}"'
    problem(api.get("/v1/policies/cadence", users["erp"]), 403)
    problem(api.get("/v1/policies/cadence"), 401)


def test_policy_not_modified(api, users):
    r = api.get("/v1/policies/cadence", users["sales"])
    r2 = api.get("/v1/policies/cadence", users["sales"], headers={"If-None-Match": r.headers["ETag"]})
    assert r2.status_code == 304


def test_policy_put_roles(api, users, restore_policy):
    for role in ("sales", "finance", "office", "erp"):
        problem(api.call("PUT", "/v1/policies/cadence", users[role], json_body={"tiers": DEFAULT_POLICY}), 403)
    for role in ("manager", "admin"):
        r = api.call("PUT", "/v1/policies/cadence", users[role], json_body={"tiers": DEFAULT_POLICY})
        assert r.status_code == 200, r.text
        assert r.json()["updated_by"] == users.ids[role]


def test_policy_put_changes_customer_figures_and_is_audited(api, users, customer, db, restore_policy):
    last_local = today_sh() - dt.timedelta(days=20)
    cid = customer("key", last_contact_at=dt.datetime.combine(last_local, dt.time(8), SHANGHAI).isoformat())
    before = api.get("/v1/policies/cadence", users["manager"]).json()
    tiers = [dict(t) for t in DEFAULT_POLICY]
    tiers[1] = {"tier": "key", "contact_interval_months": 2, "visit_interval_months": 4,
                "review_interval_months": None, "due_soon_days": 30}
    r = api.call("PUT", "/v1/policies/cadence", users["manager"], json_body={"tiers": list(reversed(tiers))},
                 headers={"If-Match": f'W/"{before["version"]}"'})
    assert r.status_code == 200, r.text
    after = r.json()
    assert after["version"] == before["version"] + 1 and after["tiers"] == tiers   # stored in tier order
    c = get_customer(api, users["sales"], cid)
    due = add_months(last_local, 2)
    assert c["next_contact_due"] == due.isoformat() and c["contact_status"] == status_for(due, 30)
    assert c["next_review_due"] is None
    row = db("SELECT actor_id, before->'tiers'->1->>'contact_interval_months', "
             "after->'tiers'->1->>'contact_interval_months' "
             "FROM audit_log WHERE entity = 'cadence_policy' ORDER BY id DESC LIMIT 1")
    assert row == f"{users.ids['manager']}|1|2"
    r = api.get("/v1/audit?entity=cadence_policy&limit=1", users["admin"])   # validated against AuditEntry
    assert r.status_code == 200 and r.json()["items"][0]["after"]["tiers"][1]["contact_interval_months"] == 2
    # A stale If-Match changes nothing.
    r = api.call("PUT", "/v1/policies/cadence", users["manager"], json_body={"tiers": DEFAULT_POLICY},
                 headers={"If-Match": f'W/"{before["version"]}"'})
    problem(r, 412)
    assert api.get("/v1/policies/cadence", users["manager"]).json()["tiers"] == tiers


@pytest.mark.parametrize("body,field", [
    ({}, "tiers"),
    ({"tiers": DEFAULT_POLICY[:3]}, "tiers"),
    ({"tiers": "vip"}, "tiers"),
    ({"tiers": DEFAULT_POLICY, "version": 3}, "version"),
    ({"tiers": DEFAULT_POLICY, "extra": 1}, "extra"),
    ({"tiers": [DEFAULT_POLICY[0]] * 2 + DEFAULT_POLICY[2:]}, "tiers[1].tier"),
    ({"tiers": [dict(DEFAULT_POLICY[0], tier="gold")] + DEFAULT_POLICY[1:]}, "tiers[0].tier"),
    ({"tiers": [dict(DEFAULT_POLICY[0], contact_interval_months=0)] + DEFAULT_POLICY[1:]},
     "tiers[0].contact_interval_months"),
    ({"tiers": [dict(DEFAULT_POLICY[0], contact_interval_months=61)] + DEFAULT_POLICY[1:]},
     "tiers[0].contact_interval_months"),
    ({"tiers": [dict(DEFAULT_POLICY[0], contact_interval_months=1.5)] + DEFAULT_POLICY[1:]},
     "tiers[0].contact_interval_months"),
    ({"tiers": [dict(DEFAULT_POLICY[0], contact_interval_months="1")] + DEFAULT_POLICY[1:]},
     "tiers[0].contact_interval_months"),
    ({"tiers": [dict(DEFAULT_POLICY[0], due_soon_days=None)] + DEFAULT_POLICY[1:]}, "tiers[0].due_soon_days"),
    ({"tiers": [dict(DEFAULT_POLICY[0], due_soon_days=91)] + DEFAULT_POLICY[1:]}, "tiers[0].due_soon_days"),
    ({"tiers": DEFAULT_POLICY[:3] + [{"tier": "reserve", "due_soon_days": 7}]},
     "tiers[3].contact_interval_months"),
    ({"tiers": DEFAULT_POLICY[:3] + [dict(DEFAULT_POLICY[3], colour="red")]}, "tiers[3].colour"),
    ({"tiers": DEFAULT_POLICY[:3] + [7]}, "tiers[3].(body)"),
])
def test_policy_put_validation(api, users, body, field):
    before = api.get("/v1/policies/cadence", users["admin"]).json()
    assert_invalid(api.call("PUT", "/v1/policies/cadence", users["admin"], json_body=body), field)
    assert api.get("/v1/policies/cadence", users["admin"]).json() == before


def test_policy_put_needs_a_json_object(api, users):
    problem(api.call("PUT", "/v1/policies/cadence", users["admin"], data=b"[1]",
                     headers={"Content-Type": "application/json"}), 422)
    problem(api.call("PUT", "/v1/policies/cadence", users["admin"], data=b"tiers",
                     headers={"Content-Type": "text/plain"}), 415)


# ---------------------------------------------------------------- record review

def test_review_restarts_the_review_cadence(api, users, customer, db):
    cid = customer("key", last_reviewed_at="2025-01-01T00:00:00+00:00")
    assert get_customer(api, users["sales"], cid)["review_status"] == "overdue"
    r = api.post(f"/v1/customers/{cid}/review", users["sales"])
    assert r.status_code == 200, r.text
    c = r.json()
    assert c["review_status"] == "ok"
    assert c["next_review_due"] == add_months(today_sh(), 3).isoformat()
    assert db(f"SELECT count(*) FROM audit_log WHERE entity = 'customer' AND entity_id = '{cid}' "
              f"AND action = 'review'") == "1"


def test_review_roles_scope_and_state(api, users, customer):
    cid = customer("key")
    problem(api.post(f"/v1/customers/{cid}/review", users["sales2"]), 404)
    for role in ("finance", "office", "erp"):
        problem(api.post(f"/v1/customers/{cid}/review", users[role]), 403)
    for role in ("manager", "admin"):
        assert api.post(f"/v1/customers/{cid}/review", users[role]).status_code == 200
    assert_invalid(api.post(f"/v1/customers/{cid}/review", users["sales"], {"note": "x"}), "note")
    v = get_customer(api, users["sales"], cid)["version"]
    problem(api.post(f"/v1/customers/{cid}/review", users["sales"], headers={"If-Match": f'W/"{v - 1}"'}), 412)
    assert api.delete(f"/v1/customers/{cid}", users["sales"]).status_code == 204
    body = problem(api.post(f"/v1/customers/{cid}/review", users["sales"]), 409)
    assert "archived" in body["detail"]
