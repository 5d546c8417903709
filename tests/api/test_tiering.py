"""Black-box API tests for customer tiering and ERP master data.

The computed tier follows DOMAIN.md from the trailing-12-month CNY total and the credit
rating; it is recomputed in the same transaction as every transaction write and credit
change, kept in GET /v1/customers/{id}/tier-history, and refreshed for aging by
POST /v1/tiers/recompute. PUT /v1/customers/by-external-code/{code} upserts the profile
fields the ERP owns. Every JSON response is validated against the spec by the `api` fixture.
"""

import uuid

import pytest

from conftest import assert_invalid, problem, unique, walk_pages

ROLES = ["sales", "sales2", "manager", "finance", "office", "erp", "admin"]


# ---------------------------------------------------------------- helpers

def put_txn(api, users, cid, amount, on, ref=None, token="erp"):
    ref = ref or "T-" + uuid.uuid4().hex[:12]
    r = api.call("PUT", f"/v1/transactions/{ref}", users[token],
                 json_body={"customer_id": cid, "occurred_on": on, "amount": amount})
    assert r.status_code in (200, 201), r.text
    return r


def cust(api, users, cid):
    r = api.get(f"/v1/customers/{cid}", users["admin"])
    assert r.status_code == 200
    return r.json()


def history(api, users, cid, token="admin"):
    return walk_pages(api, f"/v1/customers/{cid}/tier-history", users[token])


def credit(api, users, cid, rating):
    r = api.patch(f"/v1/customers/{cid}", users["finance"], {"credit_rating": rating})
    assert r.status_code == 200, r.text
    return r


@pytest.fixture
def today(db):
    return db("SELECT crm_today()")


@pytest.fixture
def window_from(db):
    return db("SELECT crm_tier_window_from(crm_today())")


@pytest.fixture
def customer(make_customer):
    return make_customer()


# ---------------------------------------------------------------- tier arithmetic (SQL, hand-computed)

@pytest.mark.parametrize("total,rating,tier", [
    ("500000.00", "AAA", "vip"), ("500000.00", "AA", "vip"), ("500000.00", "A", "vip"),
    ("500000.00", "B", "key"), ("500000.00", "C", "key"), ("500000.00", None, "key"),
    ("499999.99", "AAA", "key"), ("100000.00", None, "key"), ("99999.99", "AAA", "general"),
    ("0.01", None, "general"), ("0.00", "AAA", "reserve"), ("-5.00", None, "reserve"),
    ("9999999999.99", "A", "vip"),
])
def test_tier_for(db, total, rating, tier):
    r = "NULL" if rating is None else f"'{rating}'"
    assert db(f"SELECT crm_tier_for({total}, {r})") == tier


@pytest.mark.parametrize("today,window_from", [
    ("2026-11-23", "2025-11-24"), ("2026-02-28", "2025-03-01"), ("2028-02-29", "2027-03-01"),
    ("2026-01-01", "2025-01-02"), ("2026-03-31", "2025-04-01"),
])
def test_window_is_the_twelve_months_up_to_today(db, today, window_from):
    assert db(f"SELECT crm_tier_window_from('{today}')") == window_from


def test_window_edges_count_exactly(api, users, customer, db, today, window_from):
    before = db(f"SELECT '{window_from}'::date - 1")
    put_txn(api, users, customer["id"], "99999.99", window_from)   # first day in the window: counts
    put_txn(api, users, customer["id"], "400000.00", before)       # a day too old: does not count
    assert cust(api, users, customer["id"])["tier"] == "general"
    put_txn(api, users, customer["id"], "0.01", today)             # last day (today) counts: 100,000.00
    c = cust(api, users, customer["id"])
    assert c["tier"] == "key"
    h = history(api, users, customer["id"])
    assert [(e["old_tier"], e["new_tier"], e["trailing_total"]) for e in h] == [
        ("general", "key", "100000.00"), ("reserve", "general", "99999.99")]
    assert h[0]["window_from"] == window_from and h[0]["window_to"] == today


# ---------------------------------------------------------------- recomputation on writes

def test_transaction_insert_and_update_recompute_tier_and_bump_etag(api, users, customer, db, today):
    c0 = api.get(f"/v1/customers/{customer['id']}", users["admin"])
    r = put_txn(api, users, customer["id"], "120000.00", today)
    c1 = api.get(f"/v1/customers/{customer['id']}", users["admin"])
    assert c1.json()["tier"] == "key" and c1.json()["tier_effective"] == "key"
    assert c1.headers["ETag"] != c0.headers["ETag"] and c1.json()["version"] == c0.json()["version"] + 1
    # the old ETag no longer matches
    assert api.get(f"/v1/customers/{customer['id']}", users["admin"],
                   headers={"If-None-Match": c0.headers["ETag"]}).status_code == 200
    stale = api.patch(f"/v1/customers/{customer['id']}", users["sales"], {"notes": "x"},
                      headers={"If-Match": c0.headers["ETag"]})
    problem(stale, 412)
    # a write that leaves the tier alone does not bump the customer
    put_txn(api, users, customer["id"], "1.00", today)
    assert api.get(f"/v1/customers/{customer['id']}", users["admin"]).headers["ETag"] == c1.headers["ETag"]
    # changed amount on the same reference → recomputed
    put_txn(api, users, customer["id"], "50000.00", today, ref=r.json()["external_ref"])
    c2 = cust(api, users, customer["id"])
    assert c2["tier"] == "general" and c2["version"] == c1.json()["version"] + 1
    h = history(api, users, customer["id"])
    assert [(e["old_tier"], e["new_tier"], e["cause"]) for e in h] == [
        ("key", "general", "transaction"), ("reserve", "key", "transaction")]
    assert h[0]["trailing_total"] == "50001.00" and h[0]["changed_by"] == users.ids["erp"]
    # the audit trail has the change, with who and which request
    rows = db(f"SELECT actor_id || '|' || actor_role || '|' || (before->>'tier') || '>' || (after->>'tier') "
              f"FROM audit_log WHERE customer_id = '{customer['id']}' AND action = 'tier_change' ORDER BY id")
    assert rows.split("\n") == [f"{users.ids['erp']}|erp|reserve>key", f"{users.ids['erp']}|erp|key>general"]
    # and the customer's history shows it (entries validated against the spec)
    hist = walk_pages(api, f"/v1/customers/{customer['id']}/history", users["admin"])
    assert sum(1 for e in hist if e["action"] == "tier_change") == 2


def test_tier_change_audit_names_the_request(api, users, customer, db, today):
    r = put_txn(api, users, customer["id"], "150000.00", today)
    rid = r.headers["X-Request-Id"]
    assert db(f"SELECT count(*) FROM audit_log WHERE action = 'tier_change' AND request_id = '{rid}' "
              f"AND customer_id = '{customer['id']}'") == "1"
    assert history(api, users, customer["id"])[0]["request_id"] == rid


def test_credit_rating_change_recomputes_in_the_same_request(api, users, customer, today, db):
    put_txn(api, users, customer["id"], "500000.00", today)
    assert cust(api, users, customer["id"])["tier"] == "key"  # no credit rating yet
    r = credit(api, users, customer["id"], "A")
    assert r.json()["tier"] == "vip" and r.headers["ETag"] == f'W/"{r.json()["version"]}"'
    r = credit(api, users, customer["id"], "B")
    assert r.json()["tier"] == "key"
    r = credit(api, users, customer["id"], "AAA")
    assert r.json()["tier"] == "vip"
    h = history(api, users, customer["id"])
    assert [(e["old_tier"], e["new_tier"], e["cause"], e["credit_rating"]) for e in h[:3]] == [
        ("key", "vip", "credit", "AAA"), ("vip", "key", "credit", "B"), ("key", "vip", "credit", "A")]
    assert h[0]["changed_by"] == users.ids["finance"] and h[0]["request_id"] == r.headers["X-Request-Id"]
    assert db(f"SELECT actor_id || '|' || actor_role FROM audit_log WHERE action = 'tier_change' "
              f"AND request_id = '{r.headers['X-Request-Id']}'") == f"{users.ids['finance']}|finance"
    # clearing the rating loses the VIP tier too
    assert credit(api, users, customer["id"], None).json()["tier"] == "key"


def test_credit_change_without_tier_change_writes_no_history(api, users, customer, today):
    put_txn(api, users, customer["id"], "1000.00", today)
    credit(api, users, customer["id"], "AAA")
    credit(api, users, customer["id"], "C")
    assert [e["new_tier"] for e in history(api, users, customer["id"])] == ["general"]


def test_override_still_wins(api, users, customer, today):
    r = api.patch(f"/v1/customers/{customer['id']}", users["manager"],
                  {"tier_override": "general", "tier_override_reason": "战略客户，暂按一般客户维护"})
    assert r.status_code == 200, r.text
    put_txn(api, users, customer["id"], "600000.00", today)
    credit(api, users, customer["id"], "AA")
    c = cust(api, users, customer["id"])
    assert c["tier"] == "vip" and c["tier_override"] == "general" and c["tier_effective"] == "general"
    # the list filter follows the effective tier
    ids = [i["id"] for i in walk_pages(api, "/v1/customers", users["manager"], "tier=general")]
    assert customer["id"] in ids
    r = api.patch(f"/v1/customers/{customer['id']}", users["manager"], {"tier_override": None})
    assert r.json()["tier_effective"] == "vip"


def test_other_currency_rows_do_not_count(api, users, customer, db, today):
    # the service only accepts CNY; a row written by other means in another currency is ignored
    put_txn(api, users, customer["id"], "150000.00", today)
    db(f"INSERT INTO transactions (external_ref, customer_id, occurred_on, amount, currency) "
       f"VALUES ('{unique('USD')}', '{customer['id']}', crm_today(), 900000, 'USD')")
    assert cust(api, users, customer["id"])["tier"] == "key"


# ---------------------------------------------------------------- tier history endpoint

def test_tier_history_roles_scope_and_pages(api, users, customer, make_customer, today):
    for amount in ["1.00", "100000.00", "-100000.00", "200000.00"]:
        put_txn(api, users, customer["id"], amount, today)
    # reserve>general, general>key, key>general, general>key
    for role in ROLES:
        r = api.get(f"/v1/customers/{customer['id']}/tier-history", users[role])
        if role == "sales2":
            assert problem(r, 404)
        else:
            assert r.status_code == 200, role
            assert [e["new_tier"] for e in r.json()["items"]] == ["key", "general", "key", "general"], role
    pages = walk_pages(api, f"/v1/customers/{customer['id']}/tier-history", users["sales"], limit=1)
    assert [(e["old_tier"], e["new_tier"]) for e in pages] == [
        ("general", "key"), ("key", "general"), ("general", "key"), ("reserve", "general")]
    assert len({e["id"] for e in pages}) == 4
    problem(api.get(f"/v1/customers/{uuid.uuid4()}/tier-history", users["admin"]), 404)
    problem(api.get(f"/v1/customers/{customer['id']}/tier-history?cursor=xyz", users["admin"]), 400)
    problem(api.get(f"/v1/customers/{customer['id']}/tier-history?limit=0", users["admin"]), 400)
    problem(api.get(f"/v1/customers/{customer['id']}/tier-history?cause=credit", users["admin"]), 400)
    # an empty history
    fresh = make_customer()
    assert api.get(f"/v1/customers/{fresh['id']}/tier-history", users["sales"]).json() == {
        "items": [], "next_cursor": None}


def test_tier_history_is_append_only(db, api, users, customer, today):
    put_txn(api, users, customer["id"], "5.00", today)
    import subprocess
    with pytest.raises(subprocess.CalledProcessError):
        db(f"DELETE FROM customer_tier_history WHERE customer_id = '{customer['id']}'")
    assert db(f"SELECT count(*) FROM customer_tier_history WHERE customer_id = '{customer['id']}'") == "1"


# ---------------------------------------------------------------- recompute (aging)

def test_recompute_ages_transactions_out(api, users, customer, db, today, window_from):
    r = put_txn(api, users, customer["id"], "200000.00", today)
    c1 = cust(api, users, customer["id"])
    assert c1["tier"] == "key"
    # a year passes: the row is now older than the window. Triggers off for this session,
    # so the stored tier is stale as it would be the morning after.
    db(f"SET LOCAL session_replication_role = replica; UPDATE transactions SET occurred_on = '{window_from}'::date - 1 "
       f"WHERE id = '{r.json()['id']}'")
    assert cust(api, users, customer["id"])["tier"] == "key"
    for role in ROLES:
        if role not in ("erp", "admin"):
            problem(api.post("/v1/tiers/recompute", users[role]), 403)
    rr = api.post("/v1/tiers/recompute", users["erp"])
    assert rr.status_code == 200, rr.text
    body = rr.json()
    assert body["as_of"] == today and body["window_from"] == window_from
    assert body["tiers_changed"] >= 1 and body["complete"] is True
    c2 = cust(api, users, customer["id"])
    assert c2["tier"] == "reserve" and c2["version"] == c1["version"] + 1
    h = history(api, users, customer["id"])[0]
    assert (h["old_tier"], h["new_tier"], h["cause"], h["trailing_total"]) == ("key", "reserve", "recompute", "0.00")
    assert h["changed_by"] == users.ids["erp"] and h["request_id"] == rr.headers["X-Request-Id"]
    # nothing left to do
    again = api.post("/v1/tiers/recompute", users["admin"], {})
    assert again.status_code == 200 and again.json()["tiers_changed"] == 0 and again.json()["complete"] is True


def test_recompute_works_in_chunks(api, users, make_customer, db, today):
    cs = [make_customer() for _ in range(3)]
    for c in cs:
        put_txn(api, users, c["id"], "100.00", today)
    ids = ",".join(f"'{c['id']}'" for c in cs)
    # a rep of their own (and archived), so no other test's lists see them
    r = api.post("/v1/users", users["admin"], {"username": unique("stale").lower(), "display_name": "stale",
                                               "role": "sales", "password": "stale-password-123"})
    assert r.status_code == 201, r.text
    owner = r.json()["id"]
    # 1,001 stale customers (triggers off for this session): two calls
    db("SET LOCAL session_replication_role = replica; "
       "INSERT INTO customers (name, owner_id, tier, archived_at) SELECT 'stale-' || g, "
       f"'{owner}', 'vip', now() FROM generate_series(1, 998) g; "
       f"UPDATE customers SET tier = 'vip' WHERE id IN ({ids})")
    first = api.post("/v1/tiers/recompute", users["erp"]).json()
    assert (first["tiers_changed"], first["complete"]) == (1000, False)
    second = api.post("/v1/tiers/recompute", users["erp"]).json()
    assert (second["tiers_changed"], second["complete"]) == (1, True)
    assert db(f"SELECT string_agg(DISTINCT tier, ',') FROM customers WHERE id IN ({ids})") == "general"
    assert db("SELECT count(*) FROM customers WHERE name LIKE 'stale-%' AND tier <> 'reserve'") == "0"


def test_recompute_rejects_a_body_with_members(api, users):
    assert_invalid(api.post("/v1/tiers/recompute", users["admin"], {"customer_ids": []}), "customer_ids")


# ---------------------------------------------------------------- ERP master data

def upsert(api, token, code, body, **kw):
    return api.call("PUT", f"/v1/customers/by-external-code/{code}", token, json_body=body, **kw)


def test_master_data_create_needs_name_and_owner(api, users, db):
    code = unique("ERP")
    b = assert_invalid(upsert(api, users["erp"], code, {"address": "上海"}), "name")
    assert "owner_id" in [e["field"] for e in b["errors"]]
    assert_invalid(upsert(api, users["erp"], code, {"name": "甲", "owner_id": users.ids["finance"]}), "owner_id")
    assert_invalid(upsert(api, users["erp"], code, {"name": "甲", "owner_id": str(uuid.uuid4())}), "owner_id")
    assert db(f"SELECT count(*) FROM customers WHERE external_code = '{code}'") == "0"


def test_master_data_create_update_and_noop(api, users, db):
    code = unique("ERP")
    body = {"name": "绍兴印染有限公司", "tax_id": "91330600" + uuid.uuid4().hex[:10].upper(),
            "address": "浙江省绍兴市", "legal_representative": "王五", "business_license_no": "BL-1",
            "owner_id": users.ids["sales"]}
    r = upsert(api, users["erp"], code, body)
    assert r.status_code == 201, r.text
    c = r.json()
    assert r.headers["Location"] == f"/v1/customers/{c['id']}" and r.headers["ETag"] == 'W/"1"'
    assert c["external_code"] == code and c["owner_id"] == users.ids["sales"] and c["name"] == body["name"]
    assert c["status"] == "prospect" and c["record_status"] == "draft" and c["tier"] == "reserve"
    # the owner sees it
    assert api.get(f"/v1/customers/{c['id']}", users["sales"]).status_code == 200
    # the same again: nothing changes
    again = upsert(api, users["erp"], code, body)
    assert again.status_code == 200 and again.json()["version"] == 1 and "Location" not in again.headers
    # a CRM edit, then an ERP update: the CRM-owned fields stay
    assert api.patch(f"/v1/customers/{c['id']}", users["sales"], {"notes": "重要", "phone": "0575-1234567"}
                     ).status_code == 200
    upd = upsert(api, users["admin"], code, {"address": "浙江省绍兴市柯桥区", "owner_id": users.ids["sales2"]})
    assert upd.status_code == 200, upd.text
    u = upd.json()
    assert u["address"] == "浙江省绍兴市柯桥区" and u["name"] == body["name"] and u["tax_id"] == body["tax_id"]
    assert u["notes"] == "重要" and u["phone"] == "0575-1234567"
    assert u["owner_id"] == users.ids["sales"]  # owner_id only counts for a new customer
    assert u["version"] == 3 and upd.headers["ETag"] == 'W/"3"'
    # null clears an optional ERP field
    assert upsert(api, users["erp"], code, {"legal_representative": None}).json()["legal_representative"] is None
    audit = db(f"SELECT string_agg(action || ':' || coalesce(before->>'address', '-') || '>' || (after->>'address'), ',' "
               f"ORDER BY id) FROM audit_log WHERE customer_id = '{c['id']}' AND action = 'upsert'")
    assert audit == "upsert:->浙江省绍兴市,upsert:浙江省绍兴市>浙江省绍兴市柯桥区,upsert:浙江省绍兴市柯桥区>浙江省绍兴市柯桥区"


@pytest.mark.parametrize("member", ["status", "notes", "tier_override", "credit_rating", "owner", "phone",
                                    "external_code", "tier", "version", "id"])
def test_master_data_refuses_crm_owned_fields(api, users, member):
    code = unique("ERP")
    body = {"name": "甲", "owner_id": users.ids["sales"], member: "x"}
    b = assert_invalid(upsert(api, users["erp"], code, body), member)
    assert b["errors"][0]["message"] in ("is read-only", "unknown field")


def test_master_data_roles(api, users, db):
    for role in ROLES:
        code = unique("ERP")
        r = upsert(api, users[role], code, {"name": "乙", "owner_id": users.ids["sales"]})
        if role in ("erp", "admin"):
            assert r.status_code == 201, (role, r.text)
        else:
            problem(r, 403)
            assert db(f"SELECT count(*) FROM customers WHERE external_code = '{code}'") == "0"


def test_master_data_conflicts_and_preconditions(api, users):
    tax = "91330600" + uuid.uuid4().hex[:10].upper()
    a, b = unique("ERP"), unique("ERP")
    assert upsert(api, users["erp"], a, {"name": "甲", "tax_id": tax, "owner_id": users.ids["sales"]}).status_code == 201
    r = upsert(api, users["erp"], b, {"name": "乙", "tax_id": tax, "owner_id": users.ids["sales"]})
    assert problem(r, 409)["errors"][0]["field"] == "tax_id"
    problem(upsert(api, users["erp"], a, {"name": "甲2"}, headers={"If-Match": 'W/"9"'}), 412)
    assert upsert(api, users["erp"], a, {"name": "甲2"}, headers={"If-Match": 'W/"1"'}).json()["name"] == "甲2"
    problem(upsert(api, users["erp"], unique("ERP"), {"name": "丙", "owner_id": users.ids["sales"]},
                   headers={"If-Match": 'W/"1"'}), 412)


def test_master_data_bad_values(api, users):
    code = unique("ERP")
    b = assert_invalid(upsert(api, users["erp"], code, {"name": "", "tax_id": "lower-case", "address": "x" * 501,
                                                        "owner_id": "nope"}), "name")
    assert {"tax_id", "address", "owner_id"} <= {e["field"] for e in b["errors"]}
    assert_invalid(upsert(api, users["erp"], "%20lead", {"name": "甲"}), "external_code")
    assert_invalid(upsert(api, users["erp"], "x" * 65, {"name": "甲"}), "external_code")
    assert_invalid(upsert(api, users["erp"], "a%01b", {"name": "甲"}), "external_code")


def test_master_data_code_then_transactions_by_code(api, users, today):
    code = unique("ERP客户")
    r = upsert(api, users["erp"], code, {"name": "丁", "owner_id": users.ids["sales"]})
    assert r.status_code == 201
    t = api.call("PUT", f"/v1/transactions/T-{uuid.uuid4().hex[:10]}", users["erp"],
                 json_body={"customer_external_code": code, "occurred_on": today, "amount": "100000"})
    assert t.status_code == 201 and t.json()["customer_id"] == r.json()["id"]
    assert cust(api, users, r.json()["id"])["tier"] == "key"


def test_master_data_concurrent_first_pushes_make_one_customer(api, users, db):
    import threading
    code = unique("ERP")
    statuses = []

    def go():
        statuses.append(upsert(api, users["erp"], code, {"name": "并发", "owner_id": users.ids["sales"]}).status_code)

    threads = [threading.Thread(target=go) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] * 5 + [201]
    assert db(f"SELECT count(*) || ':' || max(version) FROM customers WHERE external_code = '{code}'") == "1:1"
