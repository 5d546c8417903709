"""Acceptance and attack probes across the endpoints of issues 4 and 5 (complaints; ERP feed and
tiering, surveys, budgets and expenses): scope leaks between sales reps, role matrix against the
issue text, hostile values on every new write and query parameter, and the business rules at their
exact boundaries. Every JSON answer is validated against api/openapi.yaml by the `api` fixture.
"""

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import pytest

from conftest import USER_PASSWORD, assert_invalid, problem, unique

ROLES = ["sales", "sales2", "manager", "finance", "office", "erp", "admin"]


# ---------------------------------------------------------------- helpers

def same_problem(a, b):
    strip = lambda p: {k: v for k, v in p.items() if k not in ("request_id", "instance")}
    return strip(a) == strip(b)


def is_4xx_problem(r):
    assert 400 <= r.status_code < 500, f"{r.status_code}: {r.text[:500]}"
    assert r.headers["Content-Type"].startswith("application/problem+json"), r.headers


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def now_utc():
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def ref():
    return "ACC-" + uuid.uuid4().hex[:12]


def put_txn(api, token, r_, body, **kw):
    return api.call("PUT", f"/v1/transactions/{r_}", token, json_body=body, **kw)


@pytest.fixture(scope="module")
def today(server):
    from conftest import psql
    return psql(server.url_db, "SELECT crm_today()")


@pytest.fixture
def rep(api, users):
    """A fresh sales rep (a portfolio no other test touches): (id, token)."""
    def make():
        name = "acc" + uuid.uuid4().hex[:10]
        r = api.post("/v1/users", users["admin"], {"username": name, "display_name": "验收销售",
                                                   "role": "sales", "password": USER_PASSWORD})
        assert r.status_code == 201, r.text
        return r.json()["id"], api.login(name, USER_PASSWORD)
    return make


def file_complaint(api, token, cid, **fields):
    body = {"customer_id": cid, "channel": "phone", "category": "quality", "severity": "normal",
            "description": "布面色差"}
    body.update(fields)
    r = api.post("/v1/complaints", token, body)
    assert r.status_code == 201, r.text
    return r.json()


def act(api, token, cid, action, body=None, **kw):
    return api.post(f"/v1/complaints/{cid}/{action}", token, body, **kw)


def assign_body(users, who="office"):
    return {"assignee_id": users.ids[who], "department": "质量部", "resolution_due": iso(now_utc() + dt.timedelta(days=3))}


# ---------------------------------------------------------------- complaints: scope

def test_complaint_out_of_scope_is_the_same_404_as_missing(api, users, make_customer):
    c = make_customer("sales")
    cm = file_complaint(api, users["office"], c["id"])
    mine = api.get(f"/v1/complaints/{cm['id']}", users["sales"])
    assert mine.status_code == 200
    other = problem(api.get(f"/v1/complaints/{cm['id']}", users["sales2"]), 404)
    missing = problem(api.get(f"/v1/complaints/{uuid.uuid4()}", users["sales2"]), 404)
    assert same_problem(other, missing)
    for sub in ("/notes", "/events"):
        a = problem(api.get(f"/v1/complaints/{cm['id']}{sub}", users["sales2"]), 404)
        b = problem(api.get(f"/v1/complaints/{uuid.uuid4()}{sub}", users["sales2"]), 404)
        assert same_problem(a, b)
    # actions of the assigned user's kind on an out-of-scope complaint look missing too
    a = problem(api.post(f"/v1/complaints/{cm['id']}/notes", users["sales2"], {"note": "x"}), 404)
    b = problem(api.post(f"/v1/complaints/{uuid.uuid4()}/notes", users["sales2"], {"note": "x"}), 404)
    assert same_problem(a, b)


def test_complaint_filters_never_widen_a_reps_scope(api, users, make_customer):
    c = make_customer("sales")
    cm = file_complaint(api, users["office"], c["id"])
    for q in (f"customer_id={c['id']}", f"owner_id={users.ids['sales']}", "", "include_archived=true"):
        r = api.get(f"/v1/complaints?limit=200&{q}", users["sales2"])
        assert r.status_code == 200, r.text
        assert cm["id"] not in [i["id"] for i in r.json()["items"]], q
    r = api.get(f"/v1/complaints?customer_id={c['id']}", users["sales"])
    assert [i["id"] for i in r.json()["items"]] == [cm["id"]]


def test_complaint_filing_for_another_reps_customer_looks_like_a_missing_customer(api, users, make_customer):
    c = make_customer("sales")
    body = {"channel": "phone", "category": "quality", "severity": "normal", "description": "x"}
    a = assert_invalid(api.post("/v1/complaints", users["sales2"], dict(body, customer_id=c["id"])), "customer_id")
    b = assert_invalid(api.post("/v1/complaints", users["sales2"], dict(body, customer_id=str(uuid.uuid4()))),
                       "customer_id")
    assert a["errors"] == b["errors"]


def test_complaint_report_of_a_rep_does_not_reveal_another_reps_portfolio(api, users, rep, today):
    """A rep assigned a complaint of another rep's customer sees that complaint, but the report must
    not tell them how many active customers the other rep has."""
    (a_id, a_tok), (b_id, b_tok) = rep(), rep()
    mine = api.post("/v1/customers", a_tok, {"name": unique(), "status": "active"})
    assert mine.status_code == 201, mine.text
    theirs = []
    for _ in range(3):
        r = api.post("/v1/customers", b_tok, {"name": unique(), "status": "active"})
        assert r.status_code == 201, r.text
        theirs.append(r.json())
    cm = file_complaint(api, users["office"], theirs[0]["id"])
    assert act(api, users["office"], cm["id"], "acknowledge").status_code == 200
    body = {"assignee_id": a_id, "department": "销售部", "resolution_due": iso(now_utc() + dt.timedelta(days=3))}
    r = act(api, users["office"], cm["id"], "assign", body)
    assert r.status_code == 200, r.text
    r = api.get(f"/v1/reports/complaints?from={today}&to={today}&group_by=owner", a_tok)
    assert r.status_code == 200, r.text
    rep_ = r.json()
    assert rep_["overall"]["active_customers"] == 1
    for g in rep_["groups"]:
        # the rep's view never counts customers they cannot see
        assert g["active_customers"] <= 1, g


def test_complaint_at_risk_is_scoped(api, users, make_customer):
    c = make_customer("sales")
    cm = file_complaint(api, users["office"], c["id"], severity="urgent",
                        received_at=iso(now_utc() - dt.timedelta(hours=2)))
    r = api.get("/v1/reports/complaints/at-risk?limit=200", users["sales2"])
    assert r.status_code == 200
    assert cm["id"] not in [i["complaint_id"] for i in r.json()["items"]]
    ids = [i["complaint_id"] for i in api.get("/v1/reports/complaints/at-risk?limit=200&severity=urgent",
                                              users["sales"]).json()["items"]]
    assert cm["id"] in ids


# ---------------------------------------------------------------- complaints: rules

def test_refund_confirmation_by_finance_only_and_before_close(api, users, make_customer, db):
    c = make_customer("sales")
    cm = file_complaint(api, users["office"], c["id"])
    for step, body in [("acknowledge", None), ("assign", assign_body(users)), ("start", None),
                       ("resolve", {"resolution": "退货", "root_cause": "material", "refund_amount": "1200.50"})]:
        r = act(api, users["office"], cm["id"], step, body)
        assert r.status_code == 200, r.text
    for who in ("office", "manager", "admin", "sales"):
        problem(act(api, users[who], cm["id"], "confirm-refund"), 403)
    r = act(api, users["finance"], cm["id"], "confirm-refund", {"note": "已退款"})
    assert r.status_code == 200, r.text
    assert r.json()["refund_amount"] == "1200.50"
    # a second confirmation is a conflict, not a second audit row
    problem(act(api, users["finance"], cm["id"], "confirm-refund"), 409)
    assert db(f"SELECT count(*) FROM audit_log WHERE entity_id = '{cm['id']}' AND action = 'confirm_refund'") == "1"


@pytest.mark.parametrize("amount", ["-1.00", "1.555", "1e3", "abc", "0.00", "99999999999999999999.00", 12.5, 0.1,
                                    "\u0000", True, [], {}])
def test_resolve_refund_amount_hostile(api, users, make_customer, amount, db):
    c = make_customer("sales")
    cm = file_complaint(api, users["office"], c["id"])
    for step, body in [("acknowledge", None), ("assign", assign_body(users)), ("start", None)]:
        assert act(api, users["office"], cm["id"], step, body).status_code == 200
    r = act(api, users["office"], cm["id"], "resolve", {"resolution": "r", "root_cause": "material",
                                                          "refund_amount": amount})
    assert_invalid(r, "refund_amount", malformed_ok=amount == "\u0000")
    assert db(f"SELECT status FROM complaints WHERE id = '{cm['id']}'") == "in_progress"


@pytest.mark.parametrize("sat", [0, 6, -1, "4", 4.5, None, 2**70])
def test_close_satisfaction_range(api, users, make_customer, sat, db):
    c = make_customer("sales")
    cm = file_complaint(api, users["office"], c["id"])
    for step, body in [("acknowledge", None), ("assign", assign_body(users)), ("start", None),
                       ("resolve", {"resolution": "r", "root_cause": "material"})]:
        assert act(api, users["office"], cm["id"], step, body).status_code == 200
    assert_invalid(act(api, users["office"], cm["id"], "close", {"satisfaction": sat}), "satisfaction",
                   malformed_ok=sat == 2**70)
    assert db(f"SELECT status FROM complaints WHERE id = '{cm['id']}'") == "resolved"


@pytest.mark.parametrize("when", ["2026-02-30T10:00:00Z", "0000-01-01T00:00:00Z", "99999-01-01T00:00:00Z",
                                  "2026-01-01", "2026-01-01T10:00:00", "yesterday", "2026-01-01T24:00:00Z"])
def test_complaint_received_at_hostile(api, users, make_customer, when):
    c = make_customer("sales")
    r = api.post("/v1/complaints", users["office"], {"customer_id": c["id"], "channel": "phone",
                                                      "category": "quality", "severity": "normal",
                                                      "description": "x", "received_at": when})
    assert_invalid(r, "received_at")


def test_complaint_received_in_the_future_is_refused(api, users, make_customer):
    c = make_customer("sales")
    r = api.post("/v1/complaints", users["office"], {"customer_id": c["id"], "channel": "phone",
                                                      "category": "quality", "severity": "normal",
                                                      "description": "x",
                                                      "received_at": iso(now_utc() + dt.timedelta(hours=2))})
    assert_invalid(r, "received_at")


def test_complaint_idempotency_location_and_etag(api, users, make_customer, db):
    c = make_customer("sales")
    key = str(uuid.uuid4())
    body = {"customer_id": c["id"], "channel": "phone", "category": "billing", "severity": "urgent",
            "description": unique("发票错误")}
    r1 = api.post("/v1/complaints", users["office"], body, headers={"Idempotency-Key": key})
    r2 = api.post("/v1/complaints", users["office"], body, headers={"Idempotency-Key": key})
    assert r1.status_code == r2.status_code == 201
    assert r1.json() == r2.json()
    assert r1.headers["Location"] == f"/v1/complaints/{r1.json()['id']}"
    assert db(f"SELECT count(*) FROM complaints WHERE description = '{body['description']}'") == "1"
    problem(api.post("/v1/complaints", users["office"], dict(body, severity="normal"),
                     headers={"Idempotency-Key": key}), 422)
    g = api.get(f"/v1/complaints/{r1.json()['id']}", users["office"])
    # SLA legs are computed against now: a 304 is only allowed when the document cannot have changed
    r = api.get(f"/v1/complaints/{r1.json()['id']}", users["office"], headers={"If-None-Match": g.headers["ETag"]})
    assert r.status_code in (200, 304)
    # stale If-Match on an action: 412 and nothing changes
    r = act(api, users["office"], r1.json()["id"], "acknowledge", headers={"If-Match": 'W/"999"'})
    problem(r, 412)
    assert db(f"SELECT status FROM complaints WHERE id = '{r1.json()['id']}'") == "received"


@pytest.mark.parametrize("q", ["limit=0", "limit=-1", "limit=1000000", "limit=abc", "cursor=zzz",
                               "cursor=%00", "from=2026-02-30", "to=99999-01-01", "status=bogus",
                               "customer_id=not-a-uuid", "sla=nope", "include_archived=maybe",
                               "q=" + "x" * 5000, "sort=secret"])
def test_complaint_list_bad_query_is_400(api, users, q):
    r = api.get(f"/v1/complaints?{q}", users["office"])
    problem(r, 400)


@pytest.mark.parametrize("q", ["from=2026-02-30&to=2026-03-01", "from=0000-01-01&to=2026-01-01",
                               "from=2026-01-01&to=99999-01-01", "from=2026-03-01&to=2026-01-01",
                               "from=2026-01-01&to=2026-01-31&group_by=tier", "from=x&to=y"])
def test_complaint_report_bad_query_is_400(api, users, q):
    problem(api.get(f"/v1/reports/complaints?{q}", users["office"]), 400)


# ---------------------------------------------------------------- transactions and tiers

def set_rating(api, users, cid, rating):
    r = api.patch(f"/v1/customers/{cid}", users["finance"], {"credit_rating": rating})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize("total,rating,tier", [
    ("500000.00", "A", "vip"), ("500000.00", "AAA", "vip"), ("500000.00", "B", "key"),
    ("499999.99", "A", "key"), ("100000.00", "C", "key"), ("99999.99", "A", "general"),
    ("0.01", "B", "general"),
])
def test_tier_boundaries_through_the_feed(api, users, make_customer, today, total, rating, tier):
    c = make_customer("sales")
    set_rating(api, users, c["id"], rating)
    r = put_txn(api, users["erp"], ref(), {"customer_id": c["id"], "occurred_on": today, "amount": total})
    assert r.status_code == 201, r.text
    got = api.get(f"/v1/customers/{c['id']}", users["manager"]).json()
    assert got["tier"] == tier, got


def test_returns_bringing_the_total_to_zero_leave_general(api, users, make_customer, today):
    c = make_customer("sales")
    r1 = ref()
    assert put_txn(api, users["erp"], r1, {"customer_id": c["id"], "occurred_on": today,
                                          "amount": "1000.00"}).status_code == 201
    assert api.get(f"/v1/customers/{c['id']}", users["manager"]).json()["tier"] == "general"
    assert put_txn(api, users["erp"], ref(), {"customer_id": c["id"], "occurred_on": today,
                                             "amount": "-1000.00"}).status_code == 201
    # a total of 0 is not "0 < total": the customer is no longer general
    assert api.get(f"/v1/customers/{c['id']}", users["manager"]).json()["tier"] != "general"


def test_same_external_ref_twice_is_one_transaction(api, users, make_customer, today, db):
    c = make_customer("sales")
    r_ = ref()
    body = {"customer_id": c["id"], "occurred_on": today, "amount": "150000.00"}
    assert put_txn(api, users["erp"], r_, body).status_code == 201
    r = put_txn(api, users["erp"], r_, body)
    assert r.status_code == 200, r.text
    assert db(f"SELECT count(*) FROM transactions WHERE external_ref = '{r_}'") == "1"
    assert api.get(f"/v1/customers/{c['id']}", users["manager"]).json()["tier"] == "key"
    r = put_txn(api, users["erp"], r_, dict(body, amount="50000.00"))
    assert r.status_code == 200 and r.json()["amount"] == "50000.00"
    assert api.get(f"/v1/customers/{c['id']}", users["manager"]).json()["tier"] == "general"


def test_transactions_out_of_scope(api, users, make_customer, today):
    c = make_customer("sales")
    r_ = ref()
    t = put_txn(api, users["erp"], r_, {"customer_id": c["id"], "occurred_on": today, "amount": "10.00"}).json()
    assert api.get(f"/v1/transactions/{r_}", users["sales"]).status_code == 200
    a = problem(api.get(f"/v1/transactions/{r_}", users["sales2"]), 404)
    b = problem(api.get(f"/v1/transactions/{ref()}", users["sales2"]), 404)
    assert same_problem(a, b)
    a = problem(api.get(f"/v1/transactions/{t['id']}", users["sales2"]), 404)
    assert same_problem(a, b)
    r = api.get(f"/v1/transactions?customer_id={c['id']}&limit=200", users["sales2"])
    assert r.status_code == 200 and r.json()["items"] == []
    a = problem(api.get(f"/v1/customers/{c['id']}/tier-history", users["sales2"]), 404)
    b = problem(api.get(f"/v1/customers/{uuid.uuid4()}/tier-history", users["sales2"]), 404)
    assert same_problem(a, b)
    for who in ("office",):
        # office has no business with purchase history (route roles)
        problem(api.get("/v1/transactions", users[who]), 403)


@pytest.mark.parametrize("amount", [1000, 1000.5, "1.555", "1e5", "abc", "", "\u0000", None,
                                    "99999999999999999.99", "12345678901234567890", True])
def test_transaction_amount_hostile(api, users, make_customer, today, amount, db):
    c = make_customer("sales")
    r_ = ref()
    r = put_txn(api, users["erp"], r_, {"customer_id": c["id"], "occurred_on": today, "amount": amount})
    assert_invalid(r, "amount", malformed_ok=amount == "\u0000")
    assert db(f"SELECT count(*) FROM transactions WHERE external_ref = '{r_}'") == "0"


@pytest.mark.parametrize("on", ["2026-02-30", "0000-01-01", "99999-01-01", "2026-1-1", 20260101, "",
                                "2026-01-01T00:00:00Z"])
def test_transaction_date_hostile(api, users, make_customer, on):
    c = make_customer("sales")
    assert_invalid(put_txn(api, users["erp"], ref(), {"customer_id": c["id"], "occurred_on": on,
                                                     "amount": "1.00"}), "occurred_on")


@pytest.mark.parametrize("path_ref", ["%00", "a%00b", "%FF%FE", "x" * 3000, "%20", "..", "a%2Fb"])
def test_transaction_hostile_refs_are_4xx(api, users, make_customer, today, path_ref):
    c = make_customer("sales")
    r = api.call("PUT", f"/v1/transactions/{path_ref}", users["erp"],
                 json_body={"customer_id": c["id"], "occurred_on": today, "amount": "1.00"})
    is_4xx_problem(r)
    r = api.get(f"/v1/transactions/{path_ref}", users["erp"])
    is_4xx_problem(r)


def test_escaped_nul_in_a_reference_names_nothing(api, users, make_customer, today, db):
    """Civetweb's decoding cut the path at %00: PUT /v1/transactions/X%00junk wrote X."""
    c = make_customer("sales")
    r_ = ref()
    r = api.call("PUT", f"/v1/transactions/{r_}%00junk", users["erp"],
                 json_body={"customer_id": c["id"], "occurred_on": today, "amount": "1.00"})
    problem(r, 404)
    assert db(f"SELECT count(*) FROM transactions WHERE external_ref LIKE '{r_}%'") == "0"
    code = "C" + uuid.uuid4().hex[:10]
    r = api.call("PUT", f"/v1/customers/by-external-code/{code}%00x", users["erp"],
                 json_body={"name": unique("主数据"), "owner_id": users.ids["sales"]})
    problem(r, 404)
    assert db(f"SELECT count(*) FROM customers WHERE external_code LIKE '{code}%'") == "0"
    # escapes that decode to valid text still work
    r = api.get(f"/v1/transactions/{r_[:3]}%2D{r_[4:]}", users["erp"])
    problem(r, 404)
    assert put_txn(api, users["erp"], r_, {"customer_id": c["id"], "occurred_on": today,
                                          "amount": "1.00"}).status_code == 201
    assert api.get(f"/v1/transactions/{r_[:3]}%2D{r_[4:]}", users["erp"]).json()["external_ref"] == r_


@pytest.mark.parametrize("items", [[], "x", None, {"a": 1}, [1, 2], [None]])
def test_batch_shapes_are_4xx(api, users, items, db):
    before = db("SELECT count(*) FROM transactions")
    r = api.post("/v1/transactions/batch", users["erp"], {"items": items})
    is_4xx_problem(r)
    assert db("SELECT count(*) FROM transactions") == before


def test_batch_over_limit_and_duplicate_refs(api, users, make_customer, today, db):
    c = make_customer("sales")
    before = db("SELECT count(*) FROM transactions")
    r_ = ref()
    item = {"external_ref": r_, "customer_id": c["id"], "occurred_on": today, "amount": "1.00"}
    is_4xx_problem(api.post("/v1/transactions/batch", users["erp"], {"items": [item, dict(item, amount="2.00")]}))
    assert db("SELECT count(*) FROM transactions") == before


@pytest.mark.parametrize("q", ["limit=0", "limit=-1", "limit=1000000", "cursor=%FF", "from=2026-02-30",
                               "to=0000-00-00", "customer_id=1", "include_archived=2"])
def test_transaction_list_bad_query_is_400(api, users, q):
    problem(api.get(f"/v1/transactions?{q}", users["finance"]), 400)


# ---------------------------------------------------------------- surveys

def open_survey(api, users, customers, **fields):
    body = {"title": unique("验收调查"), "period": "2026-H2", "method": "phone",
            "target_customer_ids": [c["id"] for c in customers]}
    body.update(fields)
    r = api.post("/v1/surveys", users["office"], body)
    assert r.status_code == 201, r.text
    s = r.json()
    r = api.post(f"/v1/surveys/{s['id']}/open", users["office"])
    assert r.status_code == 200, r.text
    return r.json()


def scores(**kw):
    b = {"product_quality": 4, "service": 4, "delivery": 4, "overall": 4, "nps": 8}
    b.update(kw)
    return b


def test_survey_response_scope(api, users, make_customer):
    mine, theirs = make_customer("sales"), make_customer("sales2")
    s = open_survey(api, users, [mine, theirs])
    # a rep cannot record for another rep's customer: same answer as a customer that does not exist
    a = api.post(f"/v1/surveys/{s['id']}/responses", users["sales"], dict(scores(), customer_id=theirs["id"]))
    b = api.post(f"/v1/surveys/{s['id']}/responses", users["sales"], dict(scores(), customer_id=str(uuid.uuid4())))
    assert a.status_code == b.status_code and 400 <= a.status_code < 500
    assert same_problem(a.json(), b.json())
    r = api.post(f"/v1/surveys/{s['id']}/responses", users["sales2"], dict(scores(), customer_id=theirs["id"]))
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    a = problem(api.get(f"/v1/surveys/{s['id']}/responses/{rid}", users["sales"]), 404)
    b = problem(api.get(f"/v1/surveys/{s['id']}/responses/{uuid.uuid4()}", users["sales"]), 404)
    assert same_problem(a, b)
    for q in (f"customer_id={theirs['id']}", f"owner_id={users.ids['sales2']}", ""):
        r = api.get(f"/v1/surveys/{s['id']}/responses?{q}", users["sales"])
        assert r.status_code == 200 and rid not in [i["id"] for i in r.json()["items"]], q
    res = api.get(f"/v1/surveys/{s['id']}/results", users["sales"]).json()
    assert res["overall"]["targeted"] == 1 and res["overall"]["responded"] == 0, res
    # a rep's PATCH of another rep's response looks missing too
    problem(api.patch(f"/v1/surveys/{s['id']}/responses/{rid}", users["sales"], {"comment": "x"}), 404)


def test_survey_one_response_per_customer_and_low_score_follow_up(api, users, make_customer, db):
    c = make_customer("sales")
    s = open_survey(api, users, [c])
    r = api.post(f"/v1/surveys/{s['id']}/responses", users["sales"], dict(scores(delivery=2), customer_id=c["id"]))
    assert r.status_code == 201, r.text
    r2 = api.post(f"/v1/surveys/{s['id']}/responses", users["office"], dict(scores(), customer_id=c["id"]))
    problem(r2, 409)
    n = db(f"SELECT count(*) FROM follow_ups WHERE customer_id = '{c['id']}' "
           f"AND responsible_user_id = '{users.ids['sales']}'")
    assert n == "1"


@pytest.mark.parametrize("field,value", [("product_quality", 0), ("service", 6), ("delivery", -1),
                                         ("overall", "4"), ("overall", 4.5), ("nps", 11), ("nps", -1),
                                         ("nps", 2**64), ("overall", None), ("comment", "x" * 100000),
                                         ("comment", "a\u0000b")])
def test_survey_response_hostile(api, users, make_customer, field, value, db):
    c = make_customer("sales")
    s = open_survey(api, users, [c])
    r = api.post(f"/v1/surveys/{s['id']}/responses", users["office"], dict(scores(**{field: value}),
                                                                           customer_id=c["id"]))
    is_4xx_problem(r)
    assert db(f"SELECT count(*) FROM survey_responses WHERE customer_id = '{c['id']}'") == "0"


@pytest.mark.parametrize("targets", [["not-a-uuid"], [None], [1], "x", {"a": 1}])
def test_survey_targets_hostile(api, users, targets):
    r = api.post("/v1/surveys", users["office"], {"title": "t", "period": "2026-H2", "method": "phone",
                                                   "target_customer_ids": targets})
    assert_invalid(r, "target_customer_ids")


def test_survey_targets_huge_and_duplicated(api, users, make_customer):
    r = api.post("/v1/surveys", users["office"], {"title": "t", "period": "2026-H2", "method": "phone",
                                                   "target_customer_ids": [str(uuid.uuid4())] * 10000})
    is_4xx_problem(r)
    c = make_customer("sales")
    r = api.post("/v1/surveys", users["office"], {"title": unique("t"), "period": "2026-H2", "method": "phone",
                                                   "target_customer_ids": [c["id"], c["id"]]})
    if r.status_code == 201:
        o = api.post(f"/v1/surveys/{r.json()['id']}/open", users["office"])
        assert o.status_code == 200, o.text
        assert o.json()["targeted_count"] == 1
    else:
        assert_invalid(r, "target_customer_ids")


@pytest.mark.parametrize("period", ["2026-H3", "2026-Q5", "2026-13", "0000", "99999", "2026-02-30", "x" * 11])
def test_survey_period_hostile(api, users, period):
    r = api.post("/v1/surveys", users["office"], {"title": "t", "period": period, "method": "phone"})
    assert_invalid(r, "period")


@pytest.mark.parametrize("q", ["year=abc", "year=0", "year=99999", "year=-1", "year=", "limit=0",
                               "cursor=bad", "tier=gold"])
def test_survey_coverage_bad_query(api, users, q):
    problem(api.get(f"/v1/reports/survey-coverage?{q}", users["office"]), 400)


def test_survey_coverage_scope(api, users, make_customer, today):
    theirs = make_customer("sales2")
    year = today[:4]
    items = []
    cursor = None
    while True:
        r = api.get(f"/v1/reports/survey-coverage?year={year}&limit=200&owner_id={users.ids['sales2']}"
                    + (f"&cursor={cursor}" if cursor else ""), users["sales"])
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert theirs["id"] not in [i["customer_id"] for i in items]


# ---------------------------------------------------------------- budgets and expenses

_budget_years = iter(range(2700, 2800))


def test_expense_scope_and_customer_reference(api, users, make_customer):
    theirs = make_customer("sales2")
    body = {"category": "visits", "amount": "10.00", "expense_date": "2024-03-01", "description": "x"}
    a = assert_invalid(api.post("/v1/expenses", users["sales"], dict(body, customer_id=theirs["id"])),
                       "customer_id")
    b = assert_invalid(api.post("/v1/expenses", users["sales"], dict(body, customer_id=str(uuid.uuid4()))),
                       "customer_id")
    assert a["errors"] == b["errors"]
    r = api.post("/v1/expenses", users["sales2"], dict(body, customer_id=theirs["id"]))
    assert r.status_code == 201, r.text
    x = r.json()
    a = problem(api.get(f"/v1/expenses/{x['id']}", users["sales"]), 404)
    b = problem(api.get(f"/v1/expenses/{uuid.uuid4()}", users["sales"]), 404)
    assert same_problem(a, b)
    for q in (f"customer_id={theirs['id']}", f"claimant_id={users.ids['sales2']}"):
        r = api.get(f"/v1/expenses?{q}&limit=200", users["sales"])
        assert r.status_code == 200 and x["id"] not in [i["id"] for i in r.json()["items"]]
    problem(api.patch(f"/v1/expenses/{x['id']}", users["sales"], {"description": "改"}), 404)
    problem(api.post(f"/v1/expenses/{x['id']}/withdraw", users["sales"]), 404)


@pytest.mark.parametrize("amount", ["0.00", "0", "-5.00", 5, 5.5, "5.555", "1e2", "", "\u0000",
                                    "99999999999999999.99"])
def test_expense_amount_hostile(api, users, amount, db):
    desc = unique("hostile")
    r = api.post("/v1/expenses", users["sales"], {"category": "visits", "amount": amount, "expense_date": "2024-03-01",
                                                  "description": desc})
    assert_invalid(r, "amount", malformed_ok=amount == "\u0000")
    assert db(f"SELECT count(*) FROM expenses WHERE description = '{desc}'") == "0"


@pytest.mark.parametrize("d", ["2024-02-30", "0000-01-01", "99999-01-01", "2999-01-01", 20240101])
def test_expense_date_hostile(api, users, d):
    r = api.post("/v1/expenses", users["sales"], {"category": "visits", "amount": "1.00", "expense_date": d,
                                                  "description": "x"})
    assert_invalid(r, "expense_date")


@pytest.mark.parametrize("amount,year", [("-1.00", 2151), (100, 2152), ("1.001", 2153), ("1e3", 2154),
                                         ("999999999999999.99", 2155)])
def test_budget_amount_hostile(api, users, amount, year):
    r = api.post("/v1/budgets", users["finance"], {"year": year, "category": "gifts", "amount": amount})
    assert_invalid(r, "amount")


@pytest.mark.parametrize("year", [0, -1, 99999, "2026", 2026.5, None, 2**40])
def test_budget_year_hostile(api, users, year):
    r = api.post("/v1/budgets", users["finance"], {"year": year, "category": "gifts", "amount": "1.00"})
    assert_invalid(r, "year")


def test_over_budget_needs_finance_and_approval_states(api, users, rep, db):
    rid, rtok = rep()
    year = 2001
    r = api.post("/v1/budgets", users["finance"], {"year": year, "category": "events", "owner_id": rid,
                                                   "amount": "100.00"})
    assert r.status_code == 201, r.text

    def claim(amount):
        r = api.post("/v1/expenses", rtok, {"category": "events", "amount": amount,
                                            "expense_date": f"{year}-05-01", "description": "活动"})
        assert r.status_code == 201, r.text
        return r.json()

    exact = claim("100.00")
    r = api.post(f"/v1/expenses/{exact['id']}/approve", users["manager"])
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved" and r.json()["over_budget"] is False
    over = claim("0.01")
    r = api.post(f"/v1/expenses/{over['id']}/approve", users["manager"])
    assert r.status_code == 200, r.text
    assert r.json()["over_budget"] is True and r.json()["status"] == "pending_finance", r.json()
    # a second first-level approval is a conflict naming the state
    assert "'pending_finance'" in problem(api.post(f"/v1/expenses/{over['id']}/approve", users["manager"]), 409)["detail"]
    # the rep cannot approve, and approving their own is refused
    problem(api.post(f"/v1/expenses/{over['id']}/approve", rtok), 403)
    r = api.post(f"/v1/expenses/{over['id']}/approve", users["finance"])
    assert r.status_code == 200 and r.json()["status"] == "approved", r.text
    # paid only from approved, by finance
    problem(api.post(f"/v1/expenses/{over['id']}/pay", users["manager"]), 403)
    assert api.post(f"/v1/expenses/{over['id']}/pay", users["finance"]).json()["status"] == "paid"
    problem(api.post(f"/v1/expenses/{over['id']}/pay", users["finance"]), 409)
    # rejecting needs a reason
    x = claim("1.00")
    assert_invalid(api.post(f"/v1/expenses/{x['id']}/reject", users["manager"], {}), "reason")
    assert_invalid(api.post(f"/v1/expenses/{x['id']}/reject", users["manager"], {"reason": ""}), "reason")
    assert_invalid(api.post(f"/v1/expenses/{x['id']}/reject", users["manager"], {"reason": "  "}), "reason")


def test_expense_idempotency_and_location(api, users, db):
    key = str(uuid.uuid4())
    desc = unique("idem")
    body = {"category": "gifts", "amount": "12.30", "expense_date": "2024-04-01", "description": desc}
    r1 = api.post("/v1/expenses", users["sales"], body, headers={"Idempotency-Key": key})
    r2 = api.post("/v1/expenses", users["sales"], body, headers={"Idempotency-Key": key})
    assert r1.status_code == r2.status_code == 201 and r1.json() == r2.json()
    assert r1.headers["Location"] == f"/v1/expenses/{r1.json()['id']}"
    assert db(f"SELECT count(*) FROM expenses WHERE description = '{desc}'") == "1"
    # another user's replay of the same key must not hand out the first user's answer
    r3 = api.post("/v1/expenses", users["sales2"], body, headers={"Idempotency-Key": key})
    assert r3.status_code in (201, 422), r3.text
    if r3.status_code == 201:
        assert r3.json()["id"] != r1.json()["id"]


@pytest.mark.parametrize("q", ["year=abc", "year=0", "year=99999", "year=", "group_by=region", "group_by=",
                               "year=2024%00"])
def test_budget_reports_bad_query(api, users, q):
    for path in ("/v1/reports/budget-utilisation", "/v1/reports/cost-benefit"):
        full = q if q.startswith("year") else "year=2024&" + q
        problem(api.get(f"{path}?{full}", users["finance"]), 400)
    # each report's own groupings only
    problem(api.get("/v1/reports/budget-utilisation?year=2024&group_by=tier", users["finance"]), 400)
    problem(api.get("/v1/reports/cost-benefit?year=2024&group_by=month", users["finance"]), 400)


def test_cost_benefit_scope(api, users, make_customer, today):
    theirs = make_customer("sales2")
    assert put_txn(api, users["erp"], ref(), {"customer_id": theirs["id"], "occurred_on": today,
                                             "amount": "777.00"}).status_code == 201
    r = api.get(f"/v1/reports/cost-benefit?year={today[:4]}&group_by=customer", users["sales"])
    assert r.status_code == 200, r.text
    assert theirs["id"] not in r.text


# ---------------------------------------------------------------- complaints: who runs the workflow

def test_only_the_office_side_or_the_assignee_works_a_complaint(api, users, make_customer, db):
    c = make_customer("sales")
    cm = file_complaint(api, users["sales"], c["id"])
    assert cm["created_by"] == users.ids["sales"]
    # the filer (the owner) does not run the workflow
    problem(act(api, users["sales"], cm["id"], "acknowledge"), 403)
    assert act(api, users["office"], cm["id"], "acknowledge").status_code == 200
    problem(act(api, users["sales"], cm["id"], "assign", assign_body(users)), 403)
    r = act(api, users["office"], cm["id"], "assign", assign_body(users, "manager"))
    assert r.status_code == 200, r.text
    for who in ("sales", "finance"):
        problem(act(api, users[who], cm["id"], "start"), 403)
        problem(act(api, users[who], cm["id"], "notes", {"note": "进展"}), 403)
    # the owner reads the progress notes
    assert act(api, users["manager"], cm["id"], "start").status_code == 200
    assert act(api, users["manager"], cm["id"], "notes", {"note": "已联系客户"}).status_code in (200, 201)
    notes = api.get(f"/v1/complaints/{cm['id']}/notes", users["sales"])
    assert notes.status_code == 200 and "已联系客户" in notes.text
    for who in ("sales", "finance"):
        problem(act(api, users[who], cm["id"], "resolve", {"resolution": "r", "root_cause": "material"}), 403)
    assert db(f"SELECT status FROM complaints WHERE id = '{cm['id']}'") == "in_progress"
    problem(api.post("/v1/complaints", users["erp"], {"customer_id": c["id"], "channel": "phone",
                                                       "category": "quality", "severity": "normal",
                                                       "description": "x"}), 403)


def test_assign_refuses_erp_unknown_users_and_past_deadlines(api, users, make_customer):
    c = make_customer("sales")
    cm = file_complaint(api, users["office"], c["id"])
    assert act(api, users["office"], cm["id"], "acknowledge").status_code == 200
    for assignee in (users.ids["erp"], str(uuid.uuid4()), "nope"):
        b = dict(assign_body(users), assignee_id=assignee)
        assert_invalid(act(api, users["office"], cm["id"], "assign", b), "assignee_id")
    b = dict(assign_body(users), resolution_due=iso(now_utc() - dt.timedelta(days=400)))
    assert_invalid(act(api, users["office"], cm["id"], "assign", b), "resolution_due")
    for due in ("2026-02-30T00:00:00Z", "99999-01-01T00:00:00Z", 1, "tomorrow"):
        assert_invalid(act(api, users["office"], cm["id"], "assign", dict(assign_body(users), resolution_due=due)),
                       "resolution_due")
    b = dict(assign_body(users), department="x" * 5000)
    assert_invalid(act(api, users["office"], cm["id"], "assign", b), "department")


def test_closed_complaint_refund_states(api, users, make_customer):
    c = make_customer("sales")
    cm = file_complaint(api, users["office"], c["id"])
    for step, body in [("acknowledge", None), ("assign", assign_body(users)), ("start", None),
                       ("resolve", {"resolution": "退货", "root_cause": "material", "refund_amount": "10.00"})]:
        assert act(api, users["office"], cm["id"], step, body).status_code == 200
    # close waits for finance
    body = problem(act(api, users["office"], cm["id"], "close", {"satisfaction": 4}), 409)
    assert "refund" in body["detail"]
    assert act(api, users["finance"], cm["id"], "confirm-refund").status_code == 200
    assert act(api, users["office"], cm["id"], "close", {"satisfaction": 5}).status_code == 200
    # after close, no refund to confirm
    problem(act(api, users["finance"], cm["id"], "confirm-refund"), 409)
    # out of scope / missing for finance is a 404 like any other
    problem(act(api, users["finance"], str(uuid.uuid4()), "confirm-refund"), 404)


# ---------------------------------------------------------------- ETags, 304 and If-Match on the new records

def test_etag_304_and_if_match_on_new_records(api, users, make_customer, today, db):
    c = make_customer("sales")
    r_ = ref()
    t = put_txn(api, users["erp"], r_, {"customer_id": c["id"], "occurred_on": today, "amount": "5.00"})
    s = api.post("/v1/surveys", users["office"], {"title": unique("t"), "period": "2026-H2", "method": "phone",
                                                   "target_customer_ids": [c["id"]]})
    b = api.post("/v1/budgets", users["finance"], {"year": 2601, "category": "other", "amount": "10.00"})
    x = api.post("/v1/expenses", users["sales"], {"category": "other", "amount": "1.00", "expense_date": today,
                                                  "description": "x"})
    docs = [(f"/v1/transactions/{r_}", t, "erp"), (f"/v1/surveys/{s.json()['id']}", s, "office"),
            (f"/v1/budgets/{b.json()['id']}", b, "finance"), (f"/v1/expenses/{x.json()['id']}", x, "sales")]
    for path, created, who in docs:
        assert created.status_code == 201, created.text
        assert created.headers["Location"] in (path, path.replace(r_, created.json()["id"]))
        g = api.get(path, users[who])
        assert g.status_code == 200 and g.headers["ETag"] == f'W/"{g.json()["version"]}"'
        n = api.get(path, users[who], headers={"If-None-Match": g.headers["ETag"]})
        assert n.status_code == 304, (path, n.status_code)
        n = api.get(path, users[who], headers={"If-None-Match": 'W/"999"'})
        assert n.status_code == 200
    stale = {"If-Match": 'W/"999"'}
    problem(api.patch(f"/v1/surveys/{s.json()['id']}", users["office"], {"title": "新"}, headers=stale), 412)
    problem(api.post(f"/v1/surveys/{s.json()['id']}/open", users["office"], headers=stale), 412)
    problem(api.patch(f"/v1/budgets/{b.json()['id']}", users["finance"], {"amount": "20.00"}, headers=stale), 412)
    problem(api.delete(f"/v1/budgets/{b.json()['id']}", users["finance"], headers=stale), 412)
    problem(api.patch(f"/v1/expenses/{x.json()['id']}", users["sales"], {"amount": "2.00"}, headers=stale), 412)
    problem(api.post(f"/v1/expenses/{x.json()['id']}/withdraw", users["sales"], headers=stale), 412)
    problem(api.delete(f"/v1/transactions/{r_}", users["erp"], headers=stale), 412)
    assert db(f"SELECT amount FROM budgets WHERE id = '{b.json()['id']}'") == "10.00"
    assert db(f"SELECT status FROM surveys WHERE id = '{s.json()['id']}'") == "draft"
    assert db(f"SELECT status || amount FROM expenses WHERE id = '{x.json()['id']}'") == "submitted1.00"
    assert db(f"SELECT archived_at IS NULL FROM transactions WHERE external_ref = '{r_}'") == "t"


# ---------------------------------------------------------------- surveys: more scope and rules

def test_survey_response_patch_to_a_low_score_raises_one_follow_up(api, users, make_customer, db):
    c = make_customer("sales")
    s = open_survey(api, users, [c])
    r = api.post(f"/v1/surveys/{s['id']}/responses", users["sales"], dict(scores(), customer_id=c["id"]))
    assert r.status_code == 201 and r.json()["follow_up_id"] is None
    rid = r.json()["id"]
    r = api.patch(f"/v1/surveys/{s['id']}/responses/{rid}", users["sales"], {"service": 1})
    assert r.status_code == 200, r.text
    assert r.json()["follow_up_id"]
    r = api.patch(f"/v1/surveys/{s['id']}/responses/{rid}", users["sales"], {"overall": 2})
    assert r.status_code == 200, r.text
    assert db(f"SELECT count(*) FROM follow_ups WHERE source_type = 'survey' AND source_id = '{rid}'") == "1"
    # the owner sees the improvement action, another rep does not
    fu = r.json()["follow_up_id"]
    assert api.get(f"/v1/follow-ups/{fu}", users["sales"]).status_code == 200
    problem(api.get(f"/v1/follow-ups/{fu}", users["sales2"]), 404)


def test_survey_response_for_an_untargeted_customer_and_closed_survey(api, users, make_customer):
    c, other = make_customer("sales"), make_customer("sales")
    s = open_survey(api, users, [c])
    assert_invalid(api.post(f"/v1/surveys/{s['id']}/responses", users["sales"],
                            dict(scores(), customer_id=other["id"])), "customer_id")
    assert api.post(f"/v1/surveys/{s['id']}/close", users["office"]).status_code == 200
    problem(api.post(f"/v1/surveys/{s['id']}/responses", users["office"], dict(scores(), customer_id=c["id"])), 409)
    problem(api.post(f"/v1/surveys/{s['id']}/open", users["office"]), 409)


def test_draft_survey_is_invisible_to_sales(api, users, make_customer):
    c = make_customer("sales")
    r = api.post("/v1/surveys", users["office"], {"title": unique("草稿"), "period": "2026-H2", "method": "phone",
                                                   "target_customer_ids": [c["id"]]})
    sid = r.json()["id"]
    for sub in ("", "/results", "/responses"):
        a = problem(api.get(f"/v1/surveys/{sid}{sub}", users["sales"]), 404)
        b = problem(api.get(f"/v1/surveys/{uuid.uuid4()}{sub}", users["sales"]), 404)
        assert same_problem(a, b), sub
    assert sid not in [i["id"] for i in api.get("/v1/surveys?limit=200", users["sales"]).json()["items"]]
    problem(api.get(f"/v1/surveys/{sid}/results", users["finance"]), 403)


# ---------------------------------------------------------------- expenses: more rules

def test_expense_states_and_who(api, users, rep, today, db):
    rid, rtok = rep()
    x = api.post("/v1/expenses", rtok, {"category": "gifts", "amount": "3.00", "expense_date": today,
                                        "description": "礼品"}).json()
    problem(api.post(f"/v1/expenses/{x['id']}/pay", users["finance"]), 409)
    # only the claimant withdraws
    r = api.post(f"/v1/expenses/{x['id']}/withdraw", users["manager"])
    assert r.status_code in (403, 404, 409), r.text
    assert db(f"SELECT status FROM expenses WHERE id = '{x['id']}'") == "submitted"
    r = api.post(f"/v1/expenses/{x['id']}/reject", users["manager"], {"reason": "无预算"})
    assert r.status_code == 200 and r.json()["status"] == "rejected", r.text
    for action, body in (("approve", None), ("pay", None), ("reject", {"reason": "x"})):
        who = "finance" if action == "pay" else "manager"
        problem(api.post(f"/v1/expenses/{x['id']}/{action}", users[who], body), 409)
    problem(api.patch(f"/v1/expenses/{x['id']}", rtok, {"amount": "1.00"}), 409)
    # read-only fields
    for f, v in (("status", "approved"), ("over_budget", False), ("claimant_id", users.ids["sales"]),
                 ("budget_id", str(uuid.uuid4())), ("approved_by", users.ids["manager"])):
        r = api.post("/v1/expenses", rtok, {"category": "gifts", "amount": "3.00", "expense_date": today,
                                            "description": "礼品", f: v})
        assert_invalid(r, f)


@pytest.mark.parametrize("q", ["limit=0", "limit=201", "cursor=abc", "status=paidx", "over_budget=yes",
                               "from=2024-02-30", "customer_id=x", "sort=amount", "budget_id=%00"])
def test_expense_list_bad_query(api, users, q):
    problem(api.get(f"/v1/expenses?{q}", users["finance"]), 400)


@pytest.mark.parametrize("code", ["a%00b", "x" * 300, "%FF"])
def test_erp_master_data_hostile_codes(api, users, code, db):
    before = db("SELECT count(*) FROM customers")
    r = api.call("PUT", f"/v1/customers/by-external-code/{code}", users["erp"],
                 json_body={"name": unique("主数据"), "owner_id": users.ids["sales"]})
    is_4xx_problem(r)
    assert db("SELECT count(*) FROM customers") == before


def test_customer_scoped_reports_for_a_rep(api, users, rep, today):
    (a_id, a_tok), (b_id, b_tok) = rep(), rep()
    theirs = api.post("/v1/customers", b_tok, {"name": unique()}).json()
    assert put_txn(api, users["erp"], ref(), {"customer_id": theirs["id"], "occurred_on": today,
                                             "amount": "999.00"}).status_code == 201
    for g in ("customer", "tier", "owner"):
        r = api.get(f"/v1/reports/cost-benefit?year={today[:4]}&group_by={g}", a_tok)
        assert r.status_code == 200, r.text
        assert r.json()["total"]["revenue"] == "0.00", r.json()
        assert theirs["id"] not in r.text and b_id not in r.text
    r = api.get(f"/v1/reports/budget-utilisation?year={today[:4]}&group_by=owner", a_tok)
    assert r.status_code == 200 and b_id not in r.text
    r = api.get(f"/v1/transactions?limit=200&customer_id={theirs['id']}", a_tok)
    assert r.json()["items"] == []
    r = api.get(f"/v1/reports/complaints?from={today}&to={today}&group_by=owner", a_tok)
    assert r.status_code == 200 and b_id not in r.text


# ---------------------------------------------------------------- archived records

def test_archived_complaint_leaves_lists_worklist_and_report(api, users, make_customer):
    c = make_customer("sales")
    received = now_utc() - dt.timedelta(hours=3)
    cm = file_complaint(api, users["office"], c["id"], severity="urgent", received_at=iso(received))
    # Three hours ago may be the day before in business time (Asia/Shanghai): the report's range
    # runs from that day to today.
    since = received.astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()
    def in_lists():
        at_risk = [i["complaint_id"] for i in api.get("/v1/reports/complaints/at-risk?limit=200&severity=urgent",
                                                      users["office"]).json()["items"]]
        listed = [i["id"] for i in api.get(f"/v1/complaints?customer_id={c['id']}", users["sales"]).json()["items"]]
        return cm["id"] in at_risk, cm["id"] in listed
    assert in_lists() == (True, True)
    span = f"from={since}&to={dt.datetime.now(ZoneInfo('Asia/Shanghai')).date().isoformat()}"
    before = api.get(f"/v1/reports/complaints?{span}", users["sales"]).json()["overall"]["complaints"]
    r = api.delete(f"/v1/complaints/{cm['id']}", users["office"])
    assert r.status_code == 204
    assert in_lists() == (False, False)
    after = api.get(f"/v1/reports/complaints?{span}", users["sales"]).json()["overall"]["complaints"]
    assert after == before - 1
    r = api.get(f"/v1/complaints?customer_id={c['id']}&include_archived=true", users["sales"])
    assert [i["id"] for i in r.json()["items"]] == [cm["id"]]
    problem(api.delete(f"/v1/complaints/{cm['id']}", users["sales"]), 403)
    r = api.post(f"/v1/complaints/{cm['id']}/restore", users["office"])
    assert r.status_code == 200 and r.json()["archived"] is False


def test_archived_transaction_leaves_the_list_and_the_tier(api, users, make_customer, today):
    c = make_customer("sales")
    r_ = ref()
    assert put_txn(api, users["erp"], r_, {"customer_id": c["id"], "occurred_on": today,
                                          "amount": "100000.00"}).status_code == 201
    assert api.get(f"/v1/customers/{c['id']}", users["sales"]).json()["tier"] == "key"
    assert api.delete(f"/v1/transactions/{r_}", users["erp"]).status_code == 204
    assert api.get(f"/v1/customers/{c['id']}", users["sales"]).json()["tier"] != "key"
    assert api.get(f"/v1/transactions?customer_id={c['id']}", users["sales"]).json()["items"] == []
    items = api.get(f"/v1/transactions?customer_id={c['id']}&include_archived=true", users["sales"]).json()["items"]
    assert [i["external_ref"] for i in items] == [r_]
    problem(api.delete(f"/v1/transactions/{r_}", users["manager"]), 403)
    # a PUT of an archived reference does not silently bring it back into the tier
    r = put_txn(api, users["erp"], r_, {"customer_id": c["id"], "occurred_on": today, "amount": "100000.00"})
    assert r.status_code in (200, 409), r.text
    if r.status_code == 200:
        assert r.json()["archived"] is True or \
            api.get(f"/v1/customers/{c['id']}", users["sales"]).json()["tier"] == "key"


@pytest.mark.parametrize("path,q", [
    ("/v1/surveys", "status=x"), ("/v1/surveys", "method=x"), ("/v1/surveys", "from=2026-02-30"),
    ("/v1/surveys", "limit=0"), ("/v1/surveys", "cursor=abc"), ("/v1/surveys", "sort=x"),
    ("/v1/budgets", "year=abc"), ("/v1/budgets", "category=x"), ("/v1/budgets", "owner_id=x"),
    ("/v1/budgets", "limit=1000000"), ("/v1/budgets", "cursor=%FF"),
    ("/v1/reports/complaints/at-risk", "severity=x"), ("/v1/reports/complaints/at-risk", "limit=-1"),
    ("/v1/reports/complaints/at-risk", "cursor=abc"), ("/v1/reports/complaints/at-risk", "assignee_id=1"),
    ("/v1/transactions", "customer_id=" + "a" * 5000), ("/v1/transactions", "from=2026-01-01T00:00:00Z"),
])
def test_more_list_filters_refuse_garbage(api, users, path, q):
    problem(api.get(f"{path}?{q}", users["admin"]), 400)


def test_survey_response_and_tier_history_lists_refuse_garbage(api, users, make_customer):
    c = make_customer("sales")
    s = open_survey(api, users, [c])
    for q in ("limit=0", "cursor=abc", "customer_id=x", "owner_id=%00"):
        problem(api.get(f"/v1/surveys/{s['id']}/responses?{q}", users["office"]), 400)
    for q in ("limit=0", "limit=201", "cursor=zz"):
        problem(api.get(f"/v1/customers/{c['id']}/tier-history?{q}", users["sales"]), 400)


def test_survey_response_idempotency(api, users, make_customer, db):
    c = make_customer("sales")
    s = open_survey(api, users, [c])
    key = str(uuid.uuid4())
    body = dict(scores(), customer_id=c["id"])
    r1 = api.post(f"/v1/surveys/{s['id']}/responses", users["sales"], body, headers={"Idempotency-Key": key})
    r2 = api.post(f"/v1/surveys/{s['id']}/responses", users["sales"], body, headers={"Idempotency-Key": key})
    assert r1.status_code == r2.status_code == 201 and r1.json() == r2.json()
    assert r1.headers["Location"] == f"/v1/surveys/{s['id']}/responses/{r1.json()['id']}"
    assert db(f"SELECT count(*) FROM survey_responses WHERE customer_id = '{c['id']}'") == "1"


def test_batch_errors_name_their_index_and_write_nothing(api, users, make_customer, today, db):
    c, theirs = make_customer("sales"), make_customer("sales2")
    refs = [ref() for _ in range(4)]
    items = [{"external_ref": refs[0], "customer_id": c["id"], "occurred_on": today, "amount": "1.00"},
             {"external_ref": refs[1], "customer_id": theirs["id"], "occurred_on": "2026-02-30", "amount": "1.00"},
             {"external_ref": refs[2], "customer_id": c["id"], "occurred_on": today, "amount": 5},
             {"external_ref": refs[3], "customer_code": "no-such-code-" + refs[3], "occurred_on": today,
              "amount": "1.00"}]
    r = api.post("/v1/transactions/batch", users["erp"], {"items": items})
    body = problem(r, 422)
    fields = [e["field"] for e in body["errors"]]
    assert any(f.startswith("items[1]") and "occurred_on" in f for f in fields), fields
    assert any(f.startswith("items[2]") and "amount" in f for f in fields), fields
    assert any(f.startswith("items[3]") for f in fields), fields
    assert not any(f.startswith("items[0]") for f in fields), fields
    assert db("SELECT count(*) FROM transactions WHERE external_ref IN ('" + "','".join(refs) + "')") == "0"


def test_huge_totals_never_overflow_into_a_500(api, users, make_customer, today, db):
    """101 transactions of the largest amount: the trailing total passes 10^14."""
    c = make_customer("sales")
    items = [{"external_ref": ref(), "customer_id": c["id"], "occurred_on": today, "amount": "999999999999.99"}
             for _ in range(101)]
    r = api.post("/v1/transactions/batch", users["erp"], {"items": items})
    assert r.status_code < 500, r.text
    if r.status_code == 200:
        got = api.get(f"/v1/customers/{c['id']}", users["manager"])
        assert got.status_code == 200 and got.json()["tier"] in ("vip", "key")
        for g in ("customer", "tier", "owner"):
            rep_ = api.get(f"/v1/reports/cost-benefit?year={today[:4]}&group_by={g}", users["finance"])
            assert rep_.status_code == 200, rep_.text
        h = api.get(f"/v1/customers/{c['id']}/tier-history", users["manager"])
        assert h.status_code == 200, h.text
    else:
        is_4xx_problem(r)
        assert db(f"SELECT count(*) FROM transactions WHERE customer_id = '{c['id']}'") == "0"


# ---------------------------------------------------------------- whole-body hostility on every new write

@pytest.fixture
def write_targets(api, users, make_customer, today):
    c = make_customer("sales")
    cm = file_complaint(api, users["office"], c["id"])
    s = api.post("/v1/surveys", users["office"], {"title": unique("t"), "period": "2026-H2", "method": "phone",
                                                   "target_customer_ids": [c["id"]]}).json()
    b = api.post("/v1/budgets", users["finance"], {"year": next(_budget_years), "category": "other",
                                                   "amount": "10.00"})
    assert b.status_code == 201, b.text
    x = api.post("/v1/expenses", users["sales"], {"category": "other", "amount": "1.00", "expense_date": today,
                                                  "description": "x"}).json()
    return [
        ("POST", "/v1/complaints"), ("PATCH", f"/v1/complaints/{cm['id']}"),
        ("POST", f"/v1/complaints/{cm['id']}/acknowledge"), ("POST", f"/v1/complaints/{cm['id']}/assign"),
        ("POST", f"/v1/complaints/{cm['id']}/notes"), ("PUT", "/v1/policies/complaint-sla"),
        ("PUT", f"/v1/transactions/{ref()}"), ("POST", "/v1/transactions/batch"),
        ("PUT", "/v1/customers/by-external-code/C" + uuid.uuid4().hex[:8]), ("POST", "/v1/tiers/recompute"),
        ("POST", "/v1/surveys"), ("PATCH", f"/v1/surveys/{s['id']}"), ("POST", f"/v1/surveys/{s['id']}/open"),
        ("POST", "/v1/budgets"), ("PATCH", f"/v1/budgets/{b.json()['id']}"),
        ("POST", "/v1/expenses"), ("PATCH", f"/v1/expenses/{x['id']}"),
        ("POST", f"/v1/expenses/{x['id']}/reject"), ("POST", f"/v1/expenses/{x['id']}/approve"),
    ]


@pytest.mark.parametrize("raw", [b"[]", b'"x"', b"null", b"1", b"{", b'{"a":1}{"b":2}', b"\xff\xfe",
                                 b'{"amount":"1.00","amount":"2.00"}', b'{"title":"\\ud800"}',
                                 b"[" * 10000 + b"]" * 10000, b'{"x":' + b"9" * 400 + b"}"])
def test_hostile_bodies_on_every_new_write(api, users, write_targets, raw, db):
    before = db("SELECT (SELECT count(*) FROM complaints) + (SELECT count(*) FROM transactions) + "
                "(SELECT count(*) FROM surveys) + (SELECT count(*) FROM budgets) + (SELECT count(*) FROM expenses) "
                "+ (SELECT count(*) FROM audit_log WHERE action <> 'read')")
    for method, path in write_targets:
        r = api.call(method, path, users["admin"], data=raw, headers={"Content-Type": "application/json"})
        assert 400 <= r.status_code < 500, (method, path, r.status_code, r.text[:300])
        assert r.headers["Content-Type"].startswith("application/problem+json")
    assert db("SELECT (SELECT count(*) FROM complaints) + (SELECT count(*) FROM transactions) + "
              "(SELECT count(*) FROM surveys) + (SELECT count(*) FROM budgets) + (SELECT count(*) FROM expenses) "
              "+ (SELECT count(*) FROM audit_log WHERE action <> 'read')") == before


def test_wrong_content_type_is_415_on_new_writes(api, users, write_targets):
    for method, path in write_targets:
        r = api.call(method, path, users["admin"], data=b"{}", headers={"Content-Type": "text/plain"})
        assert r.status_code == 415, (method, path, r.status_code)


# ---------------------------------------------------------------- cursors

def test_cursors_do_not_cross_lists_or_sorts(api, users, make_customer, today):
    c = make_customer("sales")
    for _ in range(3):
        file_complaint(api, users["office"], c["id"])
        api.post("/v1/expenses", users["sales"], {"category": "other", "amount": "1.00", "expense_date": today,
                                                  "description": "x"})
    cm = api.get("/v1/complaints?limit=1", users["office"]).json()["next_cursor"]
    ex = api.get("/v1/expenses?limit=1&sort=-expense_date", users["finance"]).json()["next_cursor"]
    assert cm and ex
    problem(api.get(f"/v1/expenses?cursor={cm}", users["finance"]), 400)
    problem(api.get(f"/v1/complaints?cursor={ex}", users["office"]), 400)
    problem(api.get(f"/v1/expenses?sort=expense_date&cursor={ex}", users["finance"]), 400)
    problem(api.get(f"/v1/transactions?cursor={cm}", users["finance"]), 400)
    problem(api.get(f"/v1/reports/complaints/at-risk?cursor={cm}", users["office"]), 400)
    # a tampered cursor (flipped character) is a 400, never a 500
    bad = cm[:-2] + ("A" if cm[-2] != "A" else "B") + cm[-1]
    r = api.get(f"/v1/complaints?cursor={bad}", users["office"])
    assert r.status_code in (200, 400), r.text
    # every page of a walk is in scope for a rep
    items, cursor = [], None
    while True:
        r = api.get("/v1/complaints?limit=1" + (f"&cursor={cursor}" if cursor else ""), users["sales2"])
        assert r.status_code == 200
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert c["id"] not in [i["customer_id"] for i in items]


# ---------------------------------------------------------------- complaint service levels

def parse(ts):
    return dt.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)


def test_sla_deadlines_and_the_at_risk_window(api, users, make_customer):
    c = make_customer("sales")
    t0 = now_utc()
    urgent = file_complaint(api, users["office"], c["id"], severity="urgent", received_at=iso(t0 - dt.timedelta(minutes=30)))
    assert parse(urgent["first_response_due"]) == t0 - dt.timedelta(minutes=30) + dt.timedelta(hours=1)
    assert parse(urgent["start_due"]) == t0 - dt.timedelta(minutes=30) + dt.timedelta(hours=24)
    assert urgent["first_response_status"] == "at_risk" and urgent["resolution_due"] is None
    late = file_complaint(api, users["office"], c["id"], severity="urgent", received_at=iso(t0 - dt.timedelta(hours=2)))
    assert late["first_response_status"] == "breached"
    near = file_complaint(api, users["office"], c["id"], received_at=iso(t0 - dt.timedelta(hours=23)))
    far = file_complaint(api, users["office"], c["id"], received_at=iso(t0 - dt.timedelta(hours=1)))
    assert parse(far["first_response_due"]) == t0 + dt.timedelta(hours=23)
    assert near["first_response_status"] == "at_risk" and far["first_response_status"] == "pending"
    items = api.get(f"/v1/reports/complaints/at-risk?limit=200", users["office"]).json()["items"]
    by_id = {i["complaint_id"]: i for i in items}
    assert urgent["id"] in by_id and late["id"] in by_id and near["id"] in by_id and far["id"] not in by_id
    assert by_id[late["id"]]["sla_state"] == "breached" and by_id[urgent["id"]]["sla_state"] == "at_risk"
    assert by_id[late["id"]]["next_leg"] == "first_response"
    # answering in time meets the leg; the next leg (start, 24 h) is what counts then
    r = act(api, users["office"], urgent["id"], "acknowledge")
    assert r.json()["first_response_status"] == "met" and r.json()["start_status"] in ("pending", "at_risk")
    r = act(api, users["office"], late["id"], "acknowledge")
    assert r.json()["first_response_status"] == "breached"


def test_reopen_only_from_closed_and_counts(api, users, make_customer, db):
    c = make_customer("sales")
    cm = file_complaint(api, users["office"], c["id"])
    problem(act(api, users["office"], cm["id"], "reopen", {"reason": "x"}), 409)
    for step, body in [("acknowledge", None), ("assign", assign_body(users)), ("start", None),
                       ("resolve", {"resolution": "r", "root_cause": "process"}), ("close", {"satisfaction": 2})]:
        assert act(api, users["office"], cm["id"], step, body).status_code == 200
    assert_invalid(act(api, users["office"], cm["id"], "reopen", {}), "reason")
    assert_invalid(act(api, users["office"], cm["id"], "reopen", {"reason": "   "}), "reason")
    problem(act(api, users["sales"], cm["id"], "reopen", {"reason": "客户不满意"}), 403)
    r = act(api, users["office"], cm["id"], "reopen", {"reason": "客户不满意"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] != "closed" and r.json()["reopen_count"] == 1
    assert r.json()["satisfaction"] is None or r.json()["closed_at"] is None


@pytest.mark.parametrize("path", [
    "/v1/reports/complaints?from=0001-01-01&to=9999-12-31&group_by=owner",
    "/v1/complaints?from=0001-01-01&to=9999-12-31",
    "/v1/transactions?from=0001-01-01&to=9999-12-31",
    "/v1/expenses?from=0001-01-01&to=9999-12-31",
    "/v1/surveys?from=0001-01-01&to=9999-12-31",
    "/v1/reports/budget-utilisation?year=2999&group_by=month",
    "/v1/reports/cost-benefit?year=2000&group_by=tier",
    "/v1/reports/survey-coverage?year=2999",
    "/v1/reports/survey-coverage?year=1000",
])
def test_extreme_but_valid_dates_never_500(api, users, path):
    for who in ("admin", "sales"):
        r = api.get(path, users[who])
        assert r.status_code in (200, 400), (who, r.status_code, r.text[:300])


@pytest.mark.parametrize("period", ["9999-H2", "9999-12", "9999", "0001", "0001-Q1"])
def test_extreme_survey_periods_never_500(api, users, period):
    r = api.post("/v1/surveys", users["office"], {"title": unique("t"), "period": period, "method": "online",
                                                   "target_tiers": ["vip"]})
    assert r.status_code in (201, 422), r.text


def test_extreme_transaction_dates_never_500(api, users, make_customer):
    c = make_customer("sales")
    for on in ("0001-01-01", "1000-02-29", "1900-02-29", "2000-02-29"):
        r = put_txn(api, users["erp"], ref(), {"customer_id": c["id"], "occurred_on": on, "amount": "1.00"})
        assert r.status_code in (201, 422), (on, r.text)
        if on in ("1000-02-29", "1900-02-29"):
            assert r.status_code == 422, on


def test_extreme_expense_and_complaint_times_never_500(api, users, make_customer):
    c = make_customer("sales")
    r = api.post("/v1/expenses", users["sales"], {"category": "other", "amount": "1.00", "expense_date": "0001-01-01",
                                                  "description": "x"})
    assert r.status_code in (201, 422), r.text
    r = api.post("/v1/complaints", users["office"], {"customer_id": c["id"], "channel": "phone", "category": "other",
                                                      "severity": "normal", "description": "x",
                                                      "received_at": "0001-01-01T00:00:00Z"})
    assert r.status_code in (201, 422), r.text
    cm = file_complaint(api, users["office"], c["id"])
    assert act(api, users["office"], cm["id"], "acknowledge").status_code == 200
    r = act(api, users["office"], cm["id"], "assign", dict(assign_body(users), resolution_due="9999-12-31T23:59:59Z"))
    assert r.status_code in (200, 422), r.text


def test_every_201_has_a_location_that_answers(api, users, make_customer, today):
    c = make_customer("sales")
    cm = file_complaint(api, users["office"], c["id"])
    created = []
    for step, body in [("acknowledge", None), ("assign", assign_body(users)), ("start", None)]:
        assert act(api, users["office"], cm["id"], step, body).status_code == 200
    created.append((act(api, users["office"], cm["id"], "notes", {"note": "进展"}), "office"))
    created.append((api.post("/v1/surveys", users["office"], {"title": unique("t"), "period": "2026-H2",
                                                               "method": "phone", "target_customer_ids": [c["id"]]}),
                    "office"))
    created.append((api.post("/v1/budgets", users["finance"], {"year": next(_budget_years), "category": "visits",
                                                                "amount": "5.00"}), "finance"))
    created.append((api.call("PUT", "/v1/customers/by-external-code/C" + uuid.uuid4().hex[:10], users["erp"],
                             json_body={"name": unique("主数据"), "owner_id": users.ids["sales"]}), "erp"))
    created.append((api.post(f"/v1/complaints", users["sales"], {"customer_id": c["id"], "channel": "wechat",
                                                                  "category": "delivery", "severity": "normal",
                                                                  "description": "交期延误"}), "sales"))
    for r, who in created:
        assert r.status_code in (200, 201), r.text
        if r.status_code == 201:
            loc = r.headers.get("Location")
            assert loc and loc.startswith("/v1/"), (r.url, r.headers)
            g = api.get(loc, users[who])
            assert g.status_code == 200, (loc, g.text)
            if "id" in g.json() and "id" in r.json():
                assert g.json()["id"] == r.json()["id"]


def test_action_replays_and_racing_twins(api, users, rep, db):
    import threading
    rid, rtok = rep()
    year = 2002
    assert api.post("/v1/budgets", users["finance"], {"year": year, "category": "visits", "owner_id": rid,
                                                      "amount": "100.00"}).status_code == 201
    x = api.post("/v1/expenses", rtok, {"category": "visits", "amount": "60.00", "expense_date": f"{year}-06-01",
                                        "description": "拜访"}).json()
    key = str(uuid.uuid4())
    r1 = api.post(f"/v1/expenses/{x['id']}/approve", users["manager"], headers={"Idempotency-Key": key})
    r2 = api.post(f"/v1/expenses/{x['id']}/approve", users["manager"], headers={"Idempotency-Key": key})
    assert r1.status_code == r2.status_code == 200 and r1.json() == r2.json()
    assert db(f"SELECT count(*) FROM audit_log WHERE entity_id = '{x['id']}' AND action = 'approve'") == "1"
    # two managers racing on one claim: one approval, one 409
    y = api.post("/v1/expenses", rtok, {"category": "visits", "amount": "30.00", "expense_date": f"{year}-06-02",
                                        "description": "拜访"}).json()
    other_mgr = api.post("/v1/users", users["admin"], {"username": "m" + uuid.uuid4().hex[:10], "display_name": "经理2",
                                                       "role": "sales_manager", "password": USER_PASSWORD}).json()
    tok2 = api.login(other_mgr["username"], USER_PASSWORD)
    results = []
    def go(tok):
        results.append(api.post(f"/v1/expenses/{y['id']}/approve", tok).status_code)
    ts = [threading.Thread(target=go, args=(t,)) for t in (users["manager"], tok2)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert sorted(results) == [200, 409], results
    assert db(f"SELECT count(*) FROM audit_log WHERE entity_id = '{y['id']}' AND action = 'approve'") == "1"
    assert db(f"SELECT status FROM expenses WHERE id = '{y['id']}'") == "approved"


def test_open_survey_targets_are_frozen(api, users, make_customer):
    c, d = make_customer("sales"), make_customer("sales")
    s = open_survey(api, users, [c])
    r = api.patch(f"/v1/surveys/{s['id']}", users["office"], {"target_customer_ids": [c["id"], d["id"]]})
    assert r.status_code in (409, 422), r.text
    assert api.get(f"/v1/surveys/{s['id']}", users["office"]).json()["targeted_count"] == 1
    assert_invalid(api.post(f"/v1/surveys/{s['id']}/responses", users["sales"], dict(scores(), customer_id=d["id"])),
                   "customer_id")
    for f, v in (("status", "closed"), ("targeted_count", 5), ("opened_at", iso(now_utc()))):
        assert_invalid(api.patch(f"/v1/surveys/{s['id']}", users["office"], {f: v}), f)


def test_complaint_event_of_another_complaint_is_not_reachable(api, users, make_customer):
    mine, theirs = make_customer("sales"), make_customer("sales2")
    a = file_complaint(api, users["office"], mine["id"])
    b = file_complaint(api, users["office"], theirs["id"])
    assert act(api, users["office"], b["id"], "acknowledge", {"note": "机密备注"}).status_code == 200
    ev = api.get(f"/v1/complaints/{b['id']}/events", users["office"]).json()["items"]
    assert ev
    for e in ev:
        x = problem(api.get(f"/v1/complaints/{a['id']}/events/{e['id']}", users["sales"]), 404)
        y = problem(api.get(f"/v1/complaints/{a['id']}/events/{uuid.uuid4()}", users["sales"]), 404)
        assert same_problem(x, y)
        problem(api.get(f"/v1/complaints/{b['id']}/events/{e['id']}", users["sales"]), 404)
        assert api.get(f"/v1/complaints/{b['id']}/events/{e['id']}", users["sales2"]).status_code == 200


def test_complaint_search_treats_wildcards_literally(api, users, make_customer):
    c = make_customer("sales")
    tag = uuid.uuid4().hex[:8]
    plain = file_complaint(api, users["office"], c["id"], description=f"色差{tag}严重")
    pct = file_complaint(api, users["office"], c["id"], description=f"色差{tag}%_严重")
    ids = [i["id"] for i in api.get(f"/v1/complaints?customer_id={c['id']}&q=%25", users["office"]).json()["items"]]
    assert ids == [pct["id"]]
    ids = [i["id"] for i in api.get(f"/v1/complaints?customer_id={c['id']}&q=_", users["office"]).json()["items"]]
    assert ids == [pct["id"]]
    ids = {i["id"] for i in api.get(f"/v1/complaints?customer_id={c['id']}&q={tag}", users["office"]).json()["items"]}
    assert ids == {plain["id"], pct["id"]}


@pytest.mark.parametrize("after,status", [(dt.timedelta(hours=1), "met"),
                                          (dt.timedelta(hours=1, seconds=1), "breached"),
                                          (dt.timedelta(minutes=59, seconds=59), "met")])
def test_first_response_exactly_at_the_deadline(api, users, make_customer, after, status):
    c = make_customer("sales")
    received = now_utc() - dt.timedelta(hours=3)
    cm = file_complaint(api, users["office"], c["id"], severity="urgent", received_at=iso(received))
    r = act(api, users["office"], cm["id"], "acknowledge", {"responded_at": iso(received + after)})
    assert r.status_code == 200, r.text
    assert r.json()["first_response_status"] == status, r.json()
    # a first response before the complaint was received is refused
    cm2 = file_complaint(api, users["office"], c["id"], severity="urgent", received_at=iso(received))
    assert_invalid(act(api, users["office"], cm2["id"], "acknowledge",
                       {"responded_at": iso(received - dt.timedelta(seconds=1))}), "responded_at")
