"""Black-box API tests for the reports (operations reports_* in api/openapi.yaml).

Fixtures are written straight into the database (customers, follow-ups, visit plans with chosen
dates, tiers and timestamps), and every expectation is computed here in Python from those dates
with the business time zone Asia/Shanghai (the service's default CRM_TIMEZONE) and the default
cadence policy — never by asking the service's SQL. Each test works with sales reps of its own, so
the figures are exact whatever else the session's database holds.
"""

import base64
import calendar
import datetime as dt
import json
import uuid
from zoneinfo import ZoneInfo

import pytest

from conftest import USER_PASSWORD, problem, unique, walk_pages

ROLES = ["sales", "sales2", "manager", "finance", "office", "erp", "admin"]
READERS = {"sales", "sales2", "manager", "office", "admin"}
SH = ZoneInfo("Asia/Shanghai")
UTC = dt.timezone.utc
DAY = dt.timedelta(days=1)
# The default cadence policy (sql/migrations/0004): months per tier; missing = no requirement.
INTERVALS = {
    "contact": {"vip": 1, "key": 1, "general": 3},
    "visit": {"vip": 3, "key": 3, "general": 6},
    "review": {"vip": 3, "key": 3},
}
LAST_COLUMN = {"contact": "last_contact_at", "visit": "last_visit_at", "review": "last_reviewed_at"}
OVERDUE = "/v1/reports/overdue"
COMPLETION = "/v1/reports/visit-completion"


# ---------------------------------------------------------------- helpers

def today():
    """Today in the business time zone (what crm_today() answers)."""
    return dt.datetime.now(SH).date()


def add_months(d, months):
    """d plus whole calendar months, clamped to the month's end (as PostgreSQL does)."""
    y, m = divmod(d.month - 1 + months, 12)
    y += d.year
    m += 1
    return dt.date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def at(d, hour=10, minute=0):
    """A Shanghai wall-clock time on date d."""
    return dt.datetime(d.year, d.month, d.day, hour, minute, tzinfo=SH)


def local_date(t):
    return t.astimezone(SH).date()


def iso_z(t):
    return None if t is None else t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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


def due_of(kind, tier, last=None, first=None, created=None):
    """The hand-computed due date: the last occurrence's Shanghai date (else the first-contact date,
    except for reviews, else the creation day) plus the tier's months; None when nothing is due."""
    months = INTERVALS[kind].get(tier)
    if months is None:
        return None
    if last is not None:
        base = local_date(last)
    elif first is not None and kind != "review":
        base = first
    else:
        base = local_date(created)
    return add_months(base, months)


def overdue(api, token, kind, query="", limit=200):
    return walk_pages(api, OVERDUE, token, f"kind={kind}" + (f"&{query}" if query else ""), limit)


def customer_item(kind, c, due):
    return {"kind": kind, "customer_id": c["id"], "customer_name": c["name"], "owner_id": c["owner_id"],
            "tier": c.get("tier_override") or c["tier"], "last_at": iso_z(c.get(LAST_COLUMN[kind])),
            "due_date": due.isoformat(), "days_overdue": (today() - due).days,
            "follow_up_id": None, "description": None, "responsible_user_id": None}


def by_due(items):
    """The documented order: due date, then id (uuids compare like their canonical text)."""
    return sorted(items, key=lambda i: (i["due_date"], i["follow_up_id"] or i["customer_id"]))


def cursor_of(*parts):
    raw = json.dumps(list(parts), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.fixture
def make_rep(api, users):
    """A fresh sales rep: {id, name, token}."""
    def make(name=None):
        username = "rep-" + uuid.uuid4().hex[:12]
        name = name or username
        r = api.post("/v1/users", users.admin, {"username": username, "display_name": name, "role": "sales",
                                                "password": USER_PASSWORD})
        assert r.status_code == 201, r.text
        return {"id": r.json()["id"], "name": name, "token": api.login(username, USER_PASSWORD)}
    return make


@pytest.fixture
def make_cust(db):
    """Inserts a customer (tier key unless told) and returns its columns with the id."""
    def make(owner, tier="key", **cols):
        c = {"name": unique("报表客户"), "owner_id": owner["id"], "tier": tier, **cols}
        if c.get("tier_override"):
            c.setdefault("tier_override_reason", "战略客户")
        c["id"] = insert(db, "customers", **c)
        return c
    return make


def date_where(pred, start, stop=-400):
    """The first date today+start, today+start-1, … (down to today+stop) for which pred holds."""
    t = today()
    for off in range(start, stop, -1):
        d = t + off * DAY
        if pred(d):
            return d
    raise AssertionError("no such date")


# ---------------------------------------------------------------- overdue: customer cadences

def test_contact_worklist_matches_hand_computed_due_dates(api, make_rep, make_cust):
    rep = make_rep()
    t = today()
    listed, hidden = [], []

    # A key customer (monthly contact) last contacted two months and three days ago: due a month
    # after that day, so overdue by about a month.
    c = make_cust(rep, "key", last_contact_at=at(add_months(t, -2) - 3 * DAY))
    listed.append((c, due_of("contact", "key", c["last_contact_at"])))
    assert (t - listed[-1][1]).days >= 28

    # Contacted at 00:30 Shanghai time, still the previous day in UTC: the due date counts from
    # the Shanghai date.
    d = date_where(lambda d: 2 <= d.day <= 28, -40)
    c = make_cust(rep, "key", last_contact_at=at(d, 0, 30))
    assert c["last_contact_at"].astimezone(UTC).date() == d - DAY
    listed.append((c, add_months(d, 1)))
    assert add_months(d - DAY, 1) != add_months(d, 1)

    # Contacted on the 31st of a month followed by a shorter one: due on that month's last day.
    d = date_where(lambda d: d.day == 31 and add_months(d, 1).day < 31, -70)
    c = make_cust(rep, "key", last_contact_at=at(d, 15))
    listed.append((c, add_months(d, 1)))
    assert add_months(d, 1).day in (28, 29, 30)

    # General (quarterly) contact on a 30th of November: due on the last day of February.
    d = date_where(lambda d: d.month == 11 and d.day == 30 and add_months(d, 3) < today(), -100, -900)
    c = make_cust(rep, "general", last_contact_at=at(d, 9))
    listed.append((c, add_months(d, 3)))
    assert listed[-1][1].month == 2 and listed[-1][1].day in (28, 29)

    # A general customer promoted to VIP by an override: monthly, not quarterly.
    last = at(t - 50 * DAY)
    c = make_cust(rep, "general", tier_override="vip", last_contact_at=last)
    listed.append((c, add_months(local_date(last), 1)))
    assert add_months(local_date(last), 3) >= t  # as a general customer it would not be due yet

    # Never contacted: the cadence runs from the first-contact date, else from the creation day
    # (created at 00:30 Shanghai time: the previous day in UTC).
    first = t - 45 * DAY
    c = make_cust(rep, "key", first_contact_at=first, created_at=at(t - 400 * DAY))
    listed.append((c, add_months(first, 1)))
    created = at(date_where(lambda d: 2 <= d.day <= 28, -200), 0, 30)
    c = make_cust(rep, "general", created_at=created)
    listed.append((c, add_months(local_date(created), 3)))

    # Two customers due the same day: ordered by id.
    d = date_where(lambda d: 2 <= d.day <= 28, -75)
    for hour in (8, 20):
        c = make_cust(rep, "key", last_contact_at=at(d, hour))
        listed.append((c, add_months(d, 1)))

    # Due yesterday: listed, one day overdue. Due today: not yet overdue.
    for want, target in ((listed, t - DAY), (hidden, t)):
        for tier, months in (("key", 1), ("general", 3)):
            base = [d for d in (target - n * DAY for n in range(25, 100)) if add_months(d, months) == target]
            if base:
                c = make_cust(rep, tier, last_contact_at=at(base[0], 11))
                want.append((c, target) if want is listed else c)
                break

    # Not due yet; lost; archived; reserve (no contact cadence): never listed.
    hidden.append(make_cust(rep, "key", last_contact_at=at(t - 10 * DAY)))
    hidden.append(make_cust(rep, "key", status="lost", last_contact_at=at(t - 300 * DAY)))
    hidden.append(make_cust(rep, "vip", archived_at=at(t - DAY), last_contact_at=at(t - 300 * DAY)))
    hidden.append(make_cust(rep, "reserve", last_contact_at=at(t - 900 * DAY), created_at=at(t - 999 * DAY)))
    hidden.append(make_cust(rep, "vip", tier_override="reserve", created_at=at(t - 999 * DAY)))

    expected = by_due([customer_item("contact", c, due) for c, due in listed])
    assert any(i["days_overdue"] == 1 for i in expected)
    got = overdue(api, rep["token"], "contact")
    assert got == expected
    assert not {c["id"] for c in hidden} & {i["customer_id"] for i in got}
    # Page by page (two at a time) gives the same list.
    assert overdue(api, rep["token"], "contact", limit=2) == expected


def test_visit_worklist(api, make_rep, make_cust):
    rep = make_rep()
    t = today()
    listed = []
    # Key: quarterly visits; the last visit (not the last contact) counts.
    c = make_cust(rep, "key", last_visit_at=at(t - 100 * DAY), last_contact_at=at(t - DAY))
    listed.append((c, due_of("visit", "key", c["last_visit_at"])))
    # General: every six months; never visited → from the first-contact date.
    c = make_cust(rep, "general", first_contact_at=t - 200 * DAY, last_contact_at=at(t - 5 * DAY))
    listed.append((c, add_months(t - 200 * DAY, 6)))
    c = make_cust(rep, "general", last_visit_at=at(t - 190 * DAY, 0, 15))
    listed.append((c, due_of("visit", "general", c["last_visit_at"])))
    # Not due: a VIP visited a month ago; a general customer visited four months ago.
    make_cust(rep, "vip", last_visit_at=at(t - 30 * DAY))
    make_cust(rep, "general", last_visit_at=at(t - 120 * DAY))
    assert all(due < t for _, due in listed)
    expected = by_due([customer_item("visit", c, due) for c, due in listed])
    assert overdue(api, rep["token"], "visit") == expected
    assert overdue(api, rep["token"], "visit", limit=1) == expected


def test_review_worklist(api, make_rep, make_cust):
    rep = make_rep()
    t = today()
    listed = []
    # Key records are reviewed quarterly.
    c = make_cust(rep, "key", last_reviewed_at=at(t - 120 * DAY))
    listed.append((c, due_of("review", "key", c["last_reviewed_at"])))
    # Never reviewed: from the creation day — the first-contact date does not count for reviews.
    c = make_cust(rep, "vip", created_at=at(t - 150 * DAY, 0, 20), first_contact_at=t - 10 * DAY)
    listed.append((c, due_of("review", "vip", created=c["created_at"])))
    young = make_cust(rep, "key", created_at=at(t - 50 * DAY), first_contact_at=t - 400 * DAY)
    # General customers have no review cadence.
    general = make_cust(rep, "general", last_reviewed_at=at(t - 700 * DAY))
    expected = by_due([customer_item("review", c, due) for c, due in listed])
    got = overdue(api, rep["token"], "review")
    assert got == expected
    assert young["id"] not in {i["customer_id"] for i in got}
    assert general["id"] not in {i["customer_id"] for i in got}


def test_worklist_scope_and_owner_filter(api, users, make_rep, make_cust):
    rep, other = make_rep(), make_rep()
    t = today()
    mine = [make_cust(rep, "key", last_contact_at=at(t - n * DAY)) for n in (40, 60, 80)]
    theirs = make_cust(other, "key", last_contact_at=at(t - 90 * DAY))
    expected = by_due([customer_item("contact", c, due_of("contact", "key", c["last_contact_at"])) for c in mine])

    assert overdue(api, rep["token"], "contact") == expected
    assert overdue(api, rep["token"], "contact", f"owner_id={rep['id']}") == expected
    # A sales rep asking for someone else's customers gets nothing (not an error).
    assert overdue(api, rep["token"], "contact", f"owner_id={other['id']}") == []
    assert [i["customer_id"] for i in overdue(api, other["token"], "contact")] == [theirs["id"]]
    for role in ("manager", "office", "admin"):
        assert overdue(api, users[role], "contact", f"owner_id={rep['id']}") == expected, role
    # Unfiltered, managers see everybody's: ours in place, the whole list in order.
    everything = overdue(api, users["manager"], "contact")
    assert [i for i in everything if i["owner_id"] == rep["id"]] == expected
    assert theirs["id"] in {i["customer_id"] for i in everything}
    assert everything == by_due(everything)
    assert all(i["days_overdue"] >= 1 for i in everything)


def test_pagination_and_cursors(api, users, make_rep, make_cust):
    rep = make_rep()
    t = today()
    for n in range(7):
        make_cust(rep, "key", last_contact_at=at(t - (40 + n % 3) * DAY, 8 + n))
    full = overdue(api, rep["token"], "contact")
    assert len(full) == 7
    r = api.get(f"{OVERDUE}?kind=contact&limit=3", rep["token"])
    assert r.status_code == 200
    page = r.json()
    assert page["items"] == full[:3] and page["next_cursor"]
    r2 = api.get(f"{OVERDUE}?kind=contact&limit=3&cursor={page['next_cursor']}", rep["token"])
    assert r2.json()["items"] == full[3:6]
    last = api.get(f"{OVERDUE}?kind=contact&limit=3&cursor={r2.json()['next_cursor']}", rep["token"]).json()
    assert last["items"] == full[6:] and last["next_cursor"] is None
    # A new customer that sorts before the cursor does not shift the following pages.
    make_cust(rep, "key", last_contact_at=at(t - 300 * DAY))
    again = api.get(f"{OVERDUE}?kind=contact&limit=3&cursor={page['next_cursor']}", rep["token"]).json()
    assert again["items"] == full[3:6]
    # A cursor of another kind, or a forged one, is refused.
    problem(api.get(f"{OVERDUE}?kind=visit&cursor={page['next_cursor']}", rep["token"]), 400)
    for bad in ("nonsense", cursor_of("overdue", "contact", "2026-13-45", str(uuid.uuid4())),
                cursor_of("overdue", "contact", "2026-01-01", "not-a-uuid"),
                cursor_of("overdue", "contact", "2026-01-01'; --", str(uuid.uuid4())),
                cursor_of("customers", "contact", "2026-01-01", str(uuid.uuid4())),
                cursor_of("overdue", "contact", "2026-01-01")):
        problem(api.get(f"{OVERDUE}?kind=contact&cursor={bad}", rep["token"]), 400)
    # A well-formed cursor from nowhere just starts after that point.
    r = api.get(f"{OVERDUE}?kind=contact&cursor={cursor_of('overdue', 'contact', '1999-01-01', str(uuid.uuid4()))}",
                rep["token"])
    assert r.status_code == 200 and len(r.json()["items"]) == 8


# ---------------------------------------------------------------- overdue: follow-ups

def test_follow_up_worklist(api, users, db, make_rep, make_cust):
    rep, other = make_rep(), make_rep()
    t = today()
    ca = make_cust(rep, "general", tier_override="key")
    cb = make_cust(other, "vip")

    def follow_up(c, due, status="open", responsible=None, archived=False):
        f = {"customer_id": c["id"], "source_type": "visit", "source_id": str(uuid.uuid4()),
             "description": unique("跟进"), "responsible_user_id": responsible, "due_date": due, "status": status,
             "outcome": "已处理" if status in ("done", "verified") else None, "created_by": users.ids["admin"],
             "archived_at": at(t) if archived else None}
        f["id"] = insert(db, "follow_ups", **f)
        return f

    def item(f, c):
        return {"kind": "follow_up", "customer_id": c["id"], "customer_name": c["name"], "owner_id": c["owner_id"],
                "tier": c.get("tier_override") or c["tier"], "last_at": None, "due_date": f["due_date"].isoformat(),
                "days_overdue": (t - f["due_date"]).days, "follow_up_id": f["id"],
                "description": f["description"], "responsible_user_id": f["responsible_user_id"]}

    a_open = follow_up(ca, t - 5 * DAY)
    a_progress = follow_up(ca, t - 30 * DAY, "in_progress", responsible=other["id"])
    a_same_day = follow_up(ca, t - 30 * DAY)
    b_open = follow_up(cb, t - 2 * DAY, responsible=rep["id"])
    hidden = [follow_up(ca, t - 40 * DAY, "done"), follow_up(ca, t - 40 * DAY, "verified"),
              follow_up(ca, t - 10 * DAY, archived=True), follow_up(ca, t), follow_up(ca, t + 3 * DAY)]

    mine = by_due([item(a_open, ca), item(a_progress, ca), item(a_same_day, ca), item(b_open, cb)])
    assert overdue(api, rep["token"], "follow_up") == mine
    assert overdue(api, rep["token"], "follow_up", limit=1) == mine
    # The responsible user sees the item even on a customer they do not own.
    theirs = by_due([item(a_progress, ca), item(b_open, cb)])
    assert overdue(api, other["token"], "follow_up") == theirs
    # owner_id narrows to the customer's owner (within the caller's scope).
    assert overdue(api, other["token"], "follow_up", f"owner_id={rep['id']}") == [item(a_progress, ca)]
    assert overdue(api, rep["token"], "follow_up", f"owner_id={rep['id']}") == \
        by_due([item(a_open, ca), item(a_progress, ca), item(a_same_day, ca)])
    assert overdue(api, users["manager"], "follow_up", f"owner_id={other['id']}") == [item(b_open, cb)]
    everything = overdue(api, users["office"], "follow_up")
    assert [i for i in everything if i["customer_id"] in (ca["id"], cb["id"])] == \
        by_due([item(a_open, ca), item(a_progress, ca), item(a_same_day, ca), item(b_open, cb)])
    assert not {f["id"] for f in hidden} & {i["follow_up_id"] for i in everything}
    assert everything == by_due(everything)


# ---------------------------------------------------------------- roles and bad input

@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(api, users, role):
    for path in (f"{OVERDUE}?kind=contact", f"{OVERDUE}?kind=follow_up", f"{COMPLETION}?period=2026-Q4"):
        r = api.get(path, users[role])
        if role in READERS:
            assert r.status_code == 200, (path, r.text)
        else:
            problem(r, 403)


@pytest.mark.parametrize("query", [
    "", "kind=", "kind=overdue", "kind=CONTACT", "kind=contact,visit", "kind=contact&owner_id=abc",
    "kind=contact&owner_id=", "kind=contact&limit=0", "kind=contact&limit=201", "kind=contact&limit=x",
    "kind=contact&cursor=", "kind=contact&sort=due_date", "kind=contact&include_archived=true",
])
def test_overdue_bad_query_is_400(api, users, query):
    problem(api.get(f"{OVERDUE}?{query}", users["manager"]), 400)


def test_reports_need_a_token(api):
    problem(api.get(f"{OVERDUE}?kind=contact"), 401)
    problem(api.get(f"{COMPLETION}?period=2026"), 401)


# ---------------------------------------------------------------- visit completion

def period_range(p):
    """[from, to) of a period string, computed independently of the service."""
    y = int(p[:4])
    if len(p) == 4:
        return dt.date(y, 1, 1), dt.date(y + 1, 1, 1)
    if p[5] in "HQ":
        months = 6 if p[5] == "H" else 3
        first = (int(p[6]) - 1) * months + 1
    else:
        months, first = 1, int(p[5:])
    start = dt.date(y, first, 1)
    return start, add_months(start, months)


def figures(plans, start, stop):
    """Hand-computed counts of the plans dated in [start, stop)."""
    t = today()
    inside = [(d, s) for d, s in plans if start <= d < stop]
    n = {"planned": len(inside),
         "completed": sum(s == "completed" for _, s in inside),
         "cancelled": sum(s == "cancelled" for _, s in inside),
         "missed": sum(s in ("planned", "approved") and d < t for d, s in inside),
         "pending": sum(s in ("planned", "approved") and d >= t for d, s in inside)}
    denominator = n["planned"] - n["cancelled"]
    n["completion_rate"] = round(n["completed"] / denominator, 4) if denominator else None
    return n


@pytest.fixture
def make_plan(db, users):
    def make(c, date, status):
        insert(db, "visit_plans", customer_id=c["id"], planned_date=date, purpose="例行拜访", status=status,
               cancel_reason="客户改期" if status == "cancelled" else None, created_by=users.ids["admin"])
        return date, status
    return make


def completion(api, token, period, query=""):
    r = api.get(f"{COMPLETION}?period={period}" + (f"&{query}" if query else ""), token)
    assert r.status_code == 200, r.text
    return r.json()


def test_completion_for_every_period_form(api, users, make_rep, make_cust, make_plan):
    rep, other = make_rep(), make_rep()
    t = today()
    y = t.year
    c1, c2 = make_cust(rep, "key"), make_cust(rep, "general", status="lost", archived_at=at(t))
    o1 = make_cust(other, "vip")
    statuses = ["completed", "cancelled", "planned", "approved", "completed", "planned"]
    plans = []
    # Around every period boundary of the year, on both sides, and around today.
    dates = [dt.date(y - 1, 12, 31), dt.date(y + 1, 1, 1), t - DAY, t, t + DAY]
    for m in range(1, 13):
        dates += [dt.date(y, m, 1), dt.date(y, m, calendar.monthrange(y, m)[1])]
    for i, d in enumerate(dates):
        plans.append(make_plan(c1 if i % 2 else c2, d, statuses[i % len(statuses)]))
    theirs = [make_plan(o1, dt.date(y, 3, 15), "completed"), make_plan(o1, dt.date(y, 11, 2), "cancelled")]

    periods = [str(y), f"{y}-H1", f"{y}-H2"] + [f"{y}-Q{q}" for q in range(1, 5)] + \
        [f"{y}-{m:02d}" for m in range(1, 13)] + [str(y - 1), str(y + 1)]
    for p in periods:
        start, stop = period_range(p)
        want = figures(plans, start, stop)
        body = completion(api, rep["token"], p)
        assert body["period"] == p
        assert body["from"] == start.isoformat() and body["to"] == (stop - DAY).isoformat()
        assert body["timezone"] == "Asia/Shanghai"
        assert body["overall"] == want, p
        assert body["owners"] == ([{"owner_id": rep["id"], "owner_name": rep["name"], **want}]
                                  if want["planned"] else []), p
        # A manager asking for that owner sees the same figures; the other owner has their own.
        assert completion(api, users["manager"], p, f"owner_id={rep['id']}")["overall"] == want, p
        assert completion(api, users["office"], p, f"owner_id={other['id']}")["overall"] == \
            figures(theirs, start, stop), p
    # Sanity of the fixture: every outcome occurs.
    every = figures(plans, dt.date.min, dt.date.max)
    assert every["missed"] and every["pending"] and every["cancelled"] and every["completed"]


def test_completion_period_ends(api, users):
    for p, start, end in [("2026-Q4", "2026-10-01", "2026-12-31"), ("2026-H2", "2026-07-01", "2026-12-31"),
                          ("2026-H1", "2026-01-01", "2026-06-30"), ("2026-12", "2026-12-01", "2026-12-31"),
                          ("2026-02", "2026-02-01", "2026-02-28"), ("2024-02", "2024-02-01", "2024-02-29"),
                          ("2026-Q1", "2026-01-01", "2026-03-31"), ("2026", "2026-01-01", "2026-12-31")]:
        body = completion(api, users["manager"], p)
        assert (body["period"], body["from"], body["to"]) == (p, start, end)


def test_completion_missed_versus_pending(api, make_rep, make_cust, make_plan):
    rep = make_rep()
    t = today()
    c = make_cust(rep, "vip")
    plans = [make_plan(c, t - DAY, "planned"), make_plan(c, t - DAY, "approved"), make_plan(c, t - DAY, "completed"),
             make_plan(c, t, "planned"), make_plan(c, t, "approved"), make_plan(c, t, "cancelled"),
             make_plan(c, t + DAY, "approved")]
    every = figures(plans, dt.date.min, dt.date.max)
    assert (every["missed"], every["pending"], every["completed"], every["cancelled"]) == (2, 3, 1, 1)
    months = sorted({f"{d.year}-{d.month:02d}" for d in (t - DAY, t, t + DAY)})
    total = dict.fromkeys(("planned", "completed", "cancelled", "missed", "pending"), 0)
    for p in months:
        start, stop = period_range(p)
        got = completion(api, rep["token"], p)["overall"]
        assert got == figures(plans, start, stop), p
        for k in total:
            total[k] += got[k]
    assert total == {k: every[k] for k in total}
    if len(months) == 1:
        assert completion(api, rep["token"], months[0])["overall"]["completion_rate"] == round(1 / 6, 4)


def test_completion_owners_sorted_by_name_then_id_with_rates(api, users, db, make_rep, make_cust, make_plan):
    tag = uuid.uuid4().hex[:8]
    reps = [make_rep() for _ in range(3)]
    # Names against id order: the first rep by id gets the last name; the other two share a name.
    reps.sort(key=lambda r: r["id"])
    names = [f"rpt{tag}b", f"rpt{tag}a", f"rpt{tag}a"]
    for r, n in zip(reps, names):
        db(f"UPDATE users SET display_name = '{n}' WHERE id = '{r['id']}'")
        r["name"] = n
    year = 2019  # a year no other test plans in: the overall figures are ours alone
    plans = {r["id"]: [] for r in reps}
    c0, c1, c2 = (make_cust(r, "key") for r in reps)
    plans[reps[0]["id"]] += [make_plan(c0, dt.date(year, 2, 1), s) for s in ("completed", "completed", "cancelled")]
    plans[reps[1]["id"]] += [make_plan(c1, dt.date(year, 5, 1), s) for s in ("cancelled", "cancelled")]
    plans[reps[2]["id"]] += [make_plan(c2, dt.date(year, 8, 1), s) for s in ("completed", "planned", "approved")]
    start, stop = period_range(str(year))
    want = {rid: figures(p, start, stop) for rid, p in plans.items()}
    assert want[reps[0]["id"]]["completion_rate"] == 1.0
    assert want[reps[1]["id"]]["completion_rate"] is None
    assert want[reps[2]["id"]]["completion_rate"] == 0.3333

    body = completion(api, users["manager"], str(year))
    ours = [o for o in body["owners"] if o["owner_id"] in want]
    order = sorted(reps, key=lambda r: (r["name"], r["id"]))
    assert [o["owner_id"] for o in ours] == [r["id"] for r in order]
    assert [o["owner_id"] for o in ours] != [r["id"] for r in reps]
    for o in ours:
        assert o == {"owner_id": o["owner_id"], "owner_name": next(r["name"] for r in reps if r["id"] == o["owner_id"]),
                     **want[o["owner_id"]]}
    overall = body["overall"]
    for k in ("planned", "completed", "cancelled", "missed", "pending"):
        assert overall[k] == sum(o[k] for o in body["owners"]), k
    if len(body["owners"]) == 3:
        assert overall == figures(sum(plans.values(), []), start, stop)
    # Each rep sees only themselves.
    for r in reps:
        mine = completion(api, r["token"], str(year))
        assert mine["overall"] == want[r["id"]]
        assert [o["owner_id"] for o in mine["owners"]] == [r["id"]]
        other = reps[(reps.index(r) + 1) % 3]["id"]
        empty = completion(api, r["token"], str(year), f"owner_id={other}")
        assert empty["owners"] == [] and empty["overall"] == figures([], start, stop)
        assert empty["overall"]["completion_rate"] is None


@pytest.mark.parametrize("query", [
    "", "period=", "period=2026-Q5", "period=2026-Q0", "period=2026-H3", "period=2026-13", "period=2026-00",
    "period=26-11", "period=2026-1", "period=2026-11x", "period=2026-11-01", "period=2026-q4", "period=1899",
    "period=2026%20", "period=2026&owner_id=nope", "period=2026&limit=5", "owner_id=" + str(uuid.uuid4()),
])
def test_completion_bad_query_is_400(api, users, query):
    problem(api.get(f"{COMPLETION}?{query}", users["manager"]), 400)
