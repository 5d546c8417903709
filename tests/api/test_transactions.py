"""Black-box API tests for the ERP transaction feed (transactions_* in api/openapi.yaml).

PUT /v1/transactions/{ref} is an idempotent upsert by the ERP's external reference; the
batch is all or nothing with per-item errors by index; reads are scoped like customers.
Tiering and ERP master data are in test_tiering.py. Every JSON response is validated
against the spec by the `api` fixture.
"""

import datetime as dt
import uuid

import pytest

from conftest import assert_invalid, problem, unique, walk_pages

ROLES = ["sales", "sales2", "manager", "finance", "office", "erp", "admin"]
WRITERS = {"erp", "admin"}
READERS = {"sales", "manager", "finance", "erp", "admin"}


# ---------------------------------------------------------------- helpers

def ref():
    return "SO-" + uuid.uuid4().hex[:12]


def put(api, token, r_, body, **kw):
    return api.call("PUT", f"/v1/transactions/{r_}", token, json_body=body, **kw)


@pytest.fixture(scope="module")
def today(server):
    from conftest import psql
    return psql(server.url_db, "SELECT crm_today()")


def day(db, offset):
    """The business date today + offset days."""
    return db(f"SELECT crm_today() + {int(offset)}")


@pytest.fixture
def customer(make_customer):
    return make_customer()


def txn_body(cid, amount="1000.00", on=None, **extra):
    body = {"customer_id": cid, "occurred_on": "2026-01-15" if on is None else on, "amount": amount}
    body.update(extra)
    return body


@pytest.fixture
def make_txn(api, users, today):
    def make(cid, amount="1000.00", on=None, token="erp", **extra):
        r_ = ref()
        r = put(api, users[token], r_, txn_body(cid, amount, on or today, **extra))
        assert r.status_code == 201, r.text
        return r.json()
    return make


def count_txns(db, cid):
    return int(db(f"SELECT count(*) FROM transactions WHERE customer_id = '{cid}'"))


# ---------------------------------------------------------------- PUT: create / idempotent update

def test_put_creates_201_with_location_etag_and_document(api, users, customer, db, today):
    r_ = ref()
    r = put(api, users["erp"], r_, txn_body(customer["id"], "125000.50", today, product_category="牛仔布",
                                            product_model="DN-12oz"))
    assert r.status_code == 201, r.text
    t = r.json()
    assert r.headers["Location"] == f"/v1/transactions/{t['id']}"
    assert r.headers["ETag"] == 'W/"1"'
    assert t["external_ref"] == r_ and t["customer_id"] == customer["id"]
    assert t["amount"] == "125000.50" and t["currency"] == "CNY" and t["occurred_on"] == today
    assert t["product_category"] == "牛仔布" and t["product_model"] == "DN-12oz"
    assert t["version"] == 1 and t["archived"] is False and t["archived_at"] is None
    assert t["created_by"] == users.ids["erp"] and t["updated_by"] == users.ids["erp"]
    # by reference and by id, the same document
    for key in (r_, t["id"]):
        g = api.get(f"/v1/transactions/{key}", users["manager"])
        assert g.status_code == 200 and g.json() == t
        assert g.headers["ETag"] == 'W/"1"'
    g = api.get(f"/v1/transactions/{r_}", users["manager"], headers={"If-None-Match": 'W/"1"'})
    assert g.status_code == 304
    audit = db(f"SELECT action || ':' || actor_id || ':' || customer_id FROM audit_log "
               f"WHERE entity = 'transaction' AND entity_id = '{t['id']}' AND action <> 'read'")
    assert audit == f"create:{users.ids['erp']}:{customer['id']}"


def test_put_same_body_twice_is_one_row_and_no_version_bump(api, users, customer, db, today):
    r_ = ref()
    body = txn_body(customer["id"], "300.00", today, product_category="色织布")
    a = put(api, users["erp"], r_, body)
    b = put(api, users["erp"], r_, body)
    assert a.status_code == 201 and b.status_code == 200, b.text
    assert b.json() == a.json() and b.json()["version"] == 1
    assert "Location" not in b.headers
    assert db(f"SELECT count(*) FROM transactions WHERE external_ref = '{r_}'") == "1"
    assert db(f"SELECT count(*) FROM audit_log WHERE entity = 'transaction' AND entity_id = '{a.json()['id']}' "
              f"AND action <> 'read'") == "1"


def test_put_changed_values_update_version_and_audit(api, users, customer, db, today):
    r_ = ref()
    a = put(api, users["erp"], r_, txn_body(customer["id"], "300.00", today, product_model="M1"))
    b = put(api, users["admin"], r_, txn_body(customer["id"], "450.25", today))
    assert b.status_code == 200, b.text
    t = b.json()
    assert t["id"] == a.json()["id"] and t["version"] == 2 and b.headers["ETag"] == 'W/"2"'
    assert t["amount"] == "450.25"
    # PUT replaces: the product model left out is cleared
    assert t["product_model"] is None
    assert t["updated_by"] == users.ids["admin"] and t["created_by"] == users.ids["erp"]
    row = db(f"SELECT before->>'amount' || '|' || (after->>'amount') FROM audit_log WHERE entity = 'transaction' "
             f"AND entity_id = '{t['id']}' AND action = 'update'")
    assert row == "300.00|450.25"


def test_put_by_customer_external_code(api, users, customer, db, today):
    code = unique("ERP")
    r = api.patch(f"/v1/customers/{customer['id']}", users["manager"], {"external_code": code})
    assert r.status_code == 200, r.text
    r_ = ref()
    r = put(api, users["erp"], r_, {"customer_external_code": code, "occurred_on": today, "amount": "10"})
    assert r.status_code == 201, r.text
    assert r.json()["customer_id"] == customer["id"] and r.json()["amount"] == "10.00"


def test_put_moves_transaction_between_customers(api, users, make_customer, today):
    c1, c2 = make_customer(), make_customer()
    r_ = ref()
    assert put(api, users["erp"], r_, txn_body(c1["id"], "150000", today)).status_code == 201
    assert api.get(f"/v1/customers/{c1['id']}", users["admin"]).json()["tier"] == "key"
    r = put(api, users["erp"], r_, txn_body(c2["id"], "150000", today))
    assert r.status_code == 200 and r.json()["customer_id"] == c2["id"]
    assert api.get(f"/v1/customers/{c1['id']}", users["admin"]).json()["tier"] == "reserve"
    assert api.get(f"/v1/customers/{c2['id']}", users["admin"]).json()["tier"] == "key"


def test_put_if_match(api, users, customer, today):
    r_ = ref()
    assert put(api, users["erp"], r_, txn_body(customer["id"], "1", today)).status_code == 201
    stale = put(api, users["erp"], r_, txn_body(customer["id"], "2", today), headers={"If-Match": 'W/"7"'})
    problem(stale, 412)
    assert api.get(f"/v1/transactions/{r_}", users["erp"]).json()["amount"] == "1.00"
    ok = put(api, users["erp"], r_, txn_body(customer["id"], "2", today), headers={"If-Match": 'W/"1"'})
    assert ok.status_code == 200 and ok.json()["version"] == 2
    # If-Match on a reference that does not exist yet: nothing to match
    problem(put(api, users["erp"], ref(), txn_body(customer["id"], "2", today), headers={"If-Match": 'W/"1"'}), 412)
    problem(put(api, users["erp"], ref(), txn_body(customer["id"], "2", today), headers={"If-Match": "*"}), 412)
    # a malformed If-Match is a bad request, whether the reference exists or not
    problem(put(api, users["erp"], ref(), txn_body(customer["id"], "2", today), headers={"If-Match": "v1"}), 400)
    problem(put(api, users["erp"], r_, txn_body(customer["id"], "3", today), headers={"If-Match": "v1"}), 400)
    assert api.get(f"/v1/transactions/{r_}", users["erp"]).json()["version"] == 2


def test_negative_amounts_are_returns(api, users, customer, make_txn):
    make_txn(customer["id"], "2000.00")
    r = make_txn(customer["id"], "-500.50")
    assert r["amount"] == "-500.50"
    assert api.get(f"/v1/customers/{customer['id']}", users["admin"]).json()["tier"] == "general"
    make_txn(customer["id"], "-1499.50")
    # returns cancel the purchases: total 0 → reserve
    assert api.get(f"/v1/customers/{customer['id']}", users["admin"]).json()["tier"] == "reserve"


def test_largest_amount_is_exact(api, users, customer, make_txn, db):
    make_txn(customer["id"], "999999999999.99")
    make_txn(customer["id"], "0.01")
    assert db(f"SELECT sum(amount) FROM transactions WHERE customer_id = '{customer['id']}'") == "1000000000000.00"


# ---------------------------------------------------------------- PUT: bad input

@pytest.mark.parametrize("amount,ok", [
    ("0", True), ("12", True), ("12.5", True), ("-12.50", True), ("999999999999.99", True),
    ("1.234", False), ("1e5", False), ("1000000000000", False), ("-0", False), ("-0.00", False),
    ("01", False), ("+5", False), (" ", False), ("", False), ("1,000.00", False), ("NaN", False),
    ("Infinity", False), ("1.", False), (".5", False), ("--1", False), ("１２", False),
])
def test_amount_strings(api, users, customer, today, amount, ok):
    r = put(api, users["erp"], ref(), txn_body(customer["id"], amount, today))
    if ok:
        assert r.status_code == 201, r.text
    else:
        assert_invalid(r, "amount")


@pytest.mark.parametrize("amount", [125000, 1.5, None, True, ["1"], {"v": "1"}])
def test_amount_must_be_a_string(api, users, customer, today, amount):
    body = txn_body(customer["id"], "1", today)
    body["amount"] = amount
    assert_invalid(put(api, users["erp"], ref(), body), "amount")


def test_bad_fields_are_all_named(api, users, customer, db, today):
    body = {"customer_id": customer["id"], "occurred_on": "2999-01-01", "amount": "1.999", "currency": "USD",
            "product_category": "x" * 101, "colour": "red", "id": str(uuid.uuid4()), "version": 3}
    r = put(api, users["erp"], ref(), body)
    b = assert_invalid(r, "amount")
    fields = {e["field"]: e["message"] for e in b["errors"]}
    assert "future" in fields["occurred_on"]
    assert "CNY" in fields["currency"]
    assert fields["colour"] == "unknown field" and fields["id"] == "is read-only" and fields["version"] == "is read-only"
    assert "product_category" in fields
    assert count_txns(db, customer["id"]) == 0


@pytest.mark.parametrize("on", ["2026-02-30", "2026-13-01", "26-01-01", "2026/01/01", "", "yesterday", "2026-01-01T00:00:00Z"])
def test_bad_dates(api, users, customer, on):
    assert_invalid(put(api, users["erp"], ref(), txn_body(customer["id"], "1", on)), "occurred_on")


def test_date_after_business_today_is_refused_today_accepted(api, users, customer, db, today):
    assert_invalid(put(api, users["erp"], ref(), txn_body(customer["id"], "1", day(db, 1))), "occurred_on")
    assert put(api, users["erp"], ref(), txn_body(customer["id"], "1", today)).status_code == 201


def test_required_members(api, users, customer):
    b = assert_invalid(put(api, users["erp"], ref(), {}), "occurred_on")
    fields = {e["field"] for e in b["errors"]}
    assert {"occurred_on", "amount", "customer_id"} <= fields


def test_customer_by_exactly_one_of_id_or_code(api, users, customer, today):
    both = txn_body(customer["id"], "1", today, customer_external_code="X1")
    assert_invalid(put(api, users["erp"], ref(), both), "customer_id", message="not both")
    neither = {"occurred_on": today, "amount": "1"}
    assert_invalid(put(api, users["erp"], ref(), neither), "customer_id", message="required")
    null_id = {"customer_id": None, "occurred_on": today, "amount": "1"}
    assert_invalid(put(api, users["erp"], ref(), null_id), "customer_id")


def test_unknown_customer_is_422_no_such_customer(api, users, today, db):
    assert_invalid(put(api, users["erp"], ref(), txn_body(str(uuid.uuid4()), "1", today)), "customer_id",
                   message="no such customer")
    r = put(api, users["erp"], ref(), {"customer_external_code": unique("NOPE"), "occurred_on": today, "amount": "1"})
    assert_invalid(r, "customer_external_code", message="no such customer")
    assert_invalid(put(api, users["erp"], ref(), txn_body("not-a-uuid", "1", today)), "customer_id")


def test_external_ref_rules(api, users, customer, today):
    body = txn_body(customer["id"], "1", today)
    for bad in ["-starts-with-dash", "has%20space", "x" * 65, "%E4%B8%AD%E6%96%87"]:
        assert_invalid(put(api, users["erp"], bad, body), "external_ref")
    # the reference is the path: in the body it is read-only
    b = dict(body, external_ref="SO-1")
    assert_invalid(put(api, users["erp"], ref(), b), "external_ref", message="read-only")
    ok = "A1._:-z" + uuid.uuid4().hex[:6]
    assert put(api, users["erp"], ok, body).status_code == 201


def test_body_must_be_an_object(api, users):
    r = api.call("PUT", f"/v1/transactions/{ref()}", users["erp"], data=b"[1, 2]",
                 headers={"Content-Type": "application/json"})
    assert_invalid(r, "(body)")
    r = api.call("PUT", f"/v1/transactions/{ref()}", users["erp"], data=b"{bad json",
                 headers={"Content-Type": "application/json"})
    problem(r, 400)


# ---------------------------------------------------------------- roles and scope

def test_put_role_matrix(api, users, customer, db, today):
    for role in ROLES:
        r = put(api, users[role], ref(), txn_body(customer["id"], "1", today))
        if role in WRITERS:
            assert r.status_code == 201, (role, r.text)
        else:
            problem(r, 403)
    assert count_txns(db, customer["id"]) == 2


def test_read_role_matrix_and_scope(api, users, customer, make_txn):
    t = make_txn(customer["id"], "77.00")
    for role in ROLES:
        one = api.get(f"/v1/transactions/{t['external_ref']}", users[role])
        lst = api.get(f"/v1/transactions?customer_id={customer['id']}", users[role])
        if role == "office":
            problem(one, 403)
            problem(lst, 403)
        elif role == "sales2":
            # another rep's customer: exactly like a missing record
            missing = api.get(f"/v1/transactions/{ref()}", users[role])
            assert problem(one, 404) == {**problem(missing, 404), "request_id": one.json()["request_id"],
                                         "instance": one.json()["instance"]}
            problem(api.get(f"/v1/transactions/{t['id']}", users[role]), 404)
            assert lst.status_code == 200 and lst.json()["items"] == []
        else:
            assert one.status_code == 200 and one.json()["id"] == t["id"], role
            assert [i["id"] for i in lst.json()["items"]] == [t["id"]], role


def test_get_unknown_is_404(api, users):
    problem(api.get(f"/v1/transactions/{ref()}", users["admin"]), 404)
    problem(api.get(f"/v1/transactions/{uuid.uuid4()}", users["admin"]), 404)
    problem(api.get("/v1/transactions/" + "x" * 80, users["admin"]), 404)
    for hostile in ["%FF%FE", "a%00b", "%27%3B--", "..%2F..", "%E4%B8%AD"]:
        problem(api.get(f"/v1/transactions/{hostile}", users["admin"]), 404)
        problem(api.delete(f"/v1/transactions/{hostile}", users["erp"]), 404)


def test_archived_customer_still_takes_transactions(api, users, customer, today):
    assert api.delete(f"/v1/customers/{customer['id']}", users["sales"]).status_code == 204
    r = put(api, users["erp"], ref(), txn_body(customer["id"], "100000.00", today))
    assert r.status_code == 201, r.text
    assert api.get(f"/v1/customers/{customer['id']}", users["admin"]).json()["tier"] == "key"


def test_reads_are_audited(api, users, customer, make_txn, db):
    t = make_txn(customer["id"])
    assert api.get(f"/v1/transactions/{t['id']}", users["finance"]).status_code == 200
    import time
    for _ in range(60):
        n = db(f"SELECT count(*) FROM audit_log WHERE action = 'read' AND entity = 'transaction' "
               f"AND entity_id = '{t['id']}' AND actor_id = '{users.ids['finance']}'")
        if n == "1":
            break
        time.sleep(0.05)
    assert n == "1"


# ---------------------------------------------------------------- list

def test_list_filters_order_and_pages(api, users, customer, make_customer, make_txn, db):
    other = make_customer()
    d = [day(db, -k) for k in range(5)]
    made = [make_txn(customer["id"], f"{k + 1}.00", on=d[k], product_category="A" if k % 2 else "B")
            for k in range(5)]
    make_txn(other["id"], "9.00", on=d[0])
    items = walk_pages(api, "/v1/transactions", users["sales"], f"customer_id={customer['id']}", limit=2)
    assert [i["id"] for i in items] == [t["id"] for t in made]  # newest first
    got = walk_pages(api, "/v1/transactions", users["finance"],
                     f"customer_id={customer['id']}&from={d[3]}&to={d[1]}")
    assert sorted(i["amount"] for i in got) == ["2.00", "3.00", "4.00"]  # both ends inclusive
    got = walk_pages(api, "/v1/transactions", users["erp"], f"customer_id={customer['id']}&product_category=A")
    assert sorted(i["amount"] for i in got) == ["2.00", "4.00"]
    # sales sees only their own customers' transactions in an unfiltered list
    mine = walk_pages(api, "/v1/transactions", users["sales2"])
    assert not {i["customer_id"] for i in mine} & {customer["id"], other["id"]}


def test_list_archived_hidden_unless_asked(api, users, customer, make_txn, db):
    t1 = make_txn(customer["id"], "200000.00")
    make_txn(customer["id"], "5.00")
    assert api.get(f"/v1/customers/{customer['id']}", users["admin"]).json()["tier"] == "key"
    db(f"UPDATE transactions SET archived_at = now() WHERE id = '{t1['id']}'")
    # an archived transaction no longer counts toward the tier
    assert api.get(f"/v1/customers/{customer['id']}", users["admin"]).json()["tier"] == "general"
    live = walk_pages(api, "/v1/transactions", users["admin"], f"customer_id={customer['id']}")
    assert t1["id"] not in [i["id"] for i in live] and len(live) == 1
    every = walk_pages(api, "/v1/transactions", users["admin"], f"customer_id={customer['id']}&include_archived=true")
    assert len(every) == 2 and [i for i in every if i["id"] == t1["id"]][0]["archived"] is True


@pytest.mark.parametrize("query", [
    "customer_id=nope", "from=2026-13-01", "to=yesterday", "limit=0", "limit=201", "cursor=garbage",
    "include_archived=yes", "owner_id=" + str(uuid.uuid4()), "sort=amount",
])
def test_list_bad_query_is_400(api, users, query):
    problem(api.get(f"/v1/transactions?{query}", users["admin"]), 400)


def test_list_cursor_from_another_list_is_400(api, users, make_customer):
    c = make_customer()
    api.post(f"/v1/customers/{c['id']}/contacts", users["sales"], {"name": "甲"})
    api.post(f"/v1/customers/{c['id']}/contacts", users["sales"], {"name": "乙"})
    cur = api.get(f"/v1/customers/{c['id']}/contacts?limit=1", users["sales"]).json()["next_cursor"]
    assert cur
    problem(api.get(f"/v1/transactions?cursor={cur}", users["admin"]), 400)


# ---------------------------------------------------------------- batch

def batch(api, token, items, **kw):
    return api.post("/v1/transactions/batch", token, {"items": items}, **kw)


def item(cid, amount="1.00", on="2026-01-02", **extra):
    d = {"external_ref": ref(), "customer_id": cid, "occurred_on": on, "amount": amount}
    d.update(extra)
    return d


def test_batch_creates_updates_and_leaves_unchanged(api, users, make_customer, db, today):
    c1, c2 = make_customer(), make_customer()
    code = unique("ERP")
    assert api.patch(f"/v1/customers/{c2['id']}", users["manager"], {"external_code": code}).status_code == 200
    items = [item(c1["id"], "60000", today), item(c1["id"], "50000", today),
             {"external_ref": ref(), "customer_external_code": code, "occurred_on": today, "amount": "99.5"}]
    r = batch(api, users["erp"], items)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["created"], body["updated"], body["unchanged"]) == (3, 0, 0)
    assert [i["index"] for i in body["items"]] == [0, 1, 2]
    assert [i["external_ref"] for i in body["items"]] == [i["external_ref"] for i in items]
    assert all(i["result"] == "created" for i in body["items"])
    assert db(f"SELECT customer_id FROM transactions WHERE id = '{body['items'][2]['id']}'") == c2["id"]
    # c1 reached 110,000 in one statement: one tier change, not two
    assert api.get(f"/v1/customers/{c1['id']}", users["admin"]).json()["tier"] == "key"
    assert db(f"SELECT string_agg(old_tier || '>' || new_tier, ',') FROM customer_tier_history "
              f"WHERE customer_id = '{c1['id']}'") == "reserve>key"
    # again, with one amount changed
    items[1]["amount"] = "50001"
    r = batch(api, users["admin"], items)
    body = r.json()
    assert (body["created"], body["updated"], body["unchanged"]) == (0, 1, 2)
    assert [i["result"] for i in body["items"]] == ["unchanged", "updated", "unchanged"]
    assert db(f"SELECT string_agg(version::text, ',' ORDER BY amount) FROM transactions "
              f"WHERE customer_id = '{c1['id']}'") == "2,1"


def test_batch_is_all_or_nothing_with_indexed_errors(api, users, make_customer, db, today):
    c = make_customer()
    items = [item(c["id"], "10", today), item(c["id"], "1.234", today), item(str(uuid.uuid4()), "5", today),
             item(c["id"], "5", day(db, 1)), {"external_ref": ref(), "occurred_on": today, "amount": 5},
             "not an object"]
    items[0]["colour"] = "red"
    r = batch(api, users["erp"], items)
    b = problem(r, 422)
    fields = {e["field"]: e["message"] for e in b["errors"]}
    assert fields["items[0].colour"] == "unknown field"
    assert "items[1].amount" in fields
    assert fields["items[4].amount"] == "must be a string"
    assert "items[4].customer_id" in fields
    assert fields["items[5]"] == "must be an object"
    assert count_txns(db, c["id"]) == 0
    # once the shape is right, the references are checked: still nothing written
    items = [item(c["id"], "10", today), item(str(uuid.uuid4()), "5", today)]
    want = {"items[1].customer_id": "no such customer"}
    # Tomorrow's business date passes the shape check (not after today anywhere on Earth, UTC+14)
    # only in the hours when UTC+14 is a day ahead of Asia/Shanghai.
    tomorrow = day(db, 1)
    if tomorrow <= (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=14)).date().isoformat():
        items.append(item(c["id"], "5", tomorrow))
        want["items[2].occurred_on"] = "must not be after today's business date"
    b = problem(batch(api, users["erp"], items), 422)
    fields = {e["field"]: e["message"] for e in b["errors"]}
    assert fields == want
    assert count_txns(db, c["id"]) == 0
    assert db(f"SELECT tier FROM customers WHERE id = '{c['id']}'") == "reserve"


def test_batch_duplicate_reference_is_refused(api, users, customer, db, today):
    a = item(customer["id"], "1", today)
    b = dict(item(customer["id"], "2", today), external_ref=a["external_ref"])
    body = problem(batch(api, users["erp"], [a, item(customer["id"], "3", today), b]), 422)
    assert {e["field"]: e["message"] for e in body["errors"]} == {"items[2].external_ref": "repeats items[0].external_ref"}
    assert count_txns(db, customer["id"]) == 0


@pytest.mark.parametrize("body", [{}, {"items": []}, {"items": {}}, {"items": None}, {"items": [{}] * 1001}])
def test_batch_size_and_shape(api, users, body):
    assert_invalid(api.post("/v1/transactions/batch", users["erp"], body), "items")


def test_batch_unknown_member_and_non_object(api, users, customer, today):
    assert_invalid(api.post("/v1/transactions/batch", users["erp"], {"items": [item(customer["id"])], "x": 1}), "x")
    r = api.call("POST", "/v1/transactions/batch", users["erp"], data=b"[]", headers={"Content-Type": "application/json"})
    assert_invalid(r, "(body)")


def test_batch_too_many_errors_are_capped(api, users):
    items = [{"external_ref": ref(), "amount": "x"} for _ in range(40)]
    b = problem(batch(api, users["erp"], items), 422)
    assert len(b["errors"]) == 32


def test_batch_role_matrix(api, users, customer, db, today):
    for role in ROLES:
        r = batch(api, users[role], [item(customer["id"], "1", today)])
        if role in WRITERS:
            assert r.status_code == 200, (role, r.text)
        else:
            problem(r, 403)
    assert count_txns(db, customer["id"]) == 2


def test_batch_idempotency_key_replays(api, users, customer, db, today):
    key = "batch-" + uuid.uuid4().hex
    items = [item(customer["id"], "1", today), item(customer["id"], "2", today)]
    a = batch(api, users["erp"], items, headers={"Idempotency-Key": key})
    b = batch(api, users["erp"], items, headers={"Idempotency-Key": key})
    assert a.status_code == b.status_code == 200
    assert b.json() == a.json() and b.headers.get("Idempotent-Replayed") == "true"
    assert count_txns(db, customer["id"]) == 2
    other = batch(api, users["erp"], items[:1], headers={"Idempotency-Key": key})
    assert_invalid(other, "Idempotency-Key")


def test_batch_body_over_limit_is_413(api, users, customer, today):
    items = [item(customer["id"], "1", today, product_model="m" * 100) for _ in range(1000)]
    problem(batch(api, users["erp"], items), 413)


@pytest.fixture(scope="module")
def big_server(server):
    """A second service on the same database with the default 1 MiB body limit, for full batches."""
    from conftest import Server
    s = Server(env_extra={"CRM_MAX_BODY_BYTES": "1048576"}, reset=False)
    yield s
    assert s.stop() == 0, s.log_text()[-4000:]


def test_batch_of_1000_in_one_transaction(big_server, users, make_customer, db, today):
    from conftest import Api
    big = Api(big_server)
    customers = [make_customer() for _ in range(3)]
    items = [item(customers[k % 3]["id"], "500.00", today) for k in range(1000)]
    r = batch(big, users["erp"], items)
    assert r.status_code == 200, r.text[:500]
    assert r.json()["created"] == 1000
    for c in customers:
        n = count_txns(db, c["id"])
        assert n in (333, 334)
        expected = "key" if n * 500 >= 100000 else "general"
        assert db(f"SELECT tier FROM customers WHERE id = '{c['id']}'") == expected
        # recomputed once per statement: one history row per customer
        assert db(f"SELECT count(*) FROM customer_tier_history WHERE customer_id = '{c['id']}'") == "1"
    # one bad item among 1000: nothing at all is written
    items = [item(customers[0]["id"], "1.00", today) for _ in range(1000)]
    items[999]["amount"] = "1.001"
    b = problem(batch(big, users["erp"], items), 422)
    assert [e["field"] for e in b["errors"]] == ["items[999].amount"]
    assert count_txns(db, customers[0]["id"]) in (333, 334)


# ---------------------------------------------------------------- archive / restore

def test_archive_and_restore_recompute_tier(api, users, customer, make_txn, db):
    t = make_txn(customer["id"], "150000.00")
    assert api.get(f"/v1/customers/{customer['id']}", users["admin"]).json()["tier"] == "key"
    problem(api.delete(f"/v1/transactions/{t['external_ref']}", users["erp"], headers={"If-Match": 'W/"5"'}), 412)
    r = api.delete(f"/v1/transactions/{t['external_ref']}", users["erp"])
    assert r.status_code == 204 and r.content == b""
    assert api.get(f"/v1/customers/{customer['id']}", users["admin"]).json()["tier"] == "reserve"
    assert walk_pages(api, "/v1/transactions", users["admin"], f"customer_id={customer['id']}") == []
    g = api.get(f"/v1/transactions/{t['id']}", users["admin"]).json()
    assert g["archived"] is True and g["archived_at"] and g["version"] == 2
    # again: no change
    assert api.delete(f"/v1/transactions/{t['id']}", users["admin"]).status_code == 204
    assert api.get(f"/v1/transactions/{t['id']}", users["admin"]).json()["version"] == 2
    # a PUT of an archived reference updates it and leaves it archived
    r = put(api, users["erp"], t["external_ref"], txn_body(customer["id"], "160000.00", t["occurred_on"]))
    assert r.status_code == 200 and r.json()["archived"] is True and r.json()["version"] == 3
    assert api.get(f"/v1/customers/{customer['id']}", users["admin"]).json()["tier"] == "reserve"
    r = api.post(f"/v1/transactions/{t['external_ref']}/restore", users["erp"])
    assert r.status_code == 200 and r.json()["archived"] is False and r.json()["version"] == 4
    assert r.headers["ETag"] == 'W/"4"'
    assert api.get(f"/v1/customers/{customer['id']}", users["admin"]).json()["tier"] == "key"
    problem(api.post(f"/v1/transactions/{t['id']}/restore", users["erp"]), 409)
    assert_invalid(api.post(f"/v1/transactions/{t['id']}/restore", users["erp"], {"x": 1}), "x")
    actions = db(f"SELECT string_agg(action, ',' ORDER BY id) FROM audit_log WHERE entity = 'transaction' "
                 f"AND entity_id = '{t['id']}' AND action <> 'read'")
    assert actions == "create,archive,update,restore"
    causes = db(f"SELECT string_agg(new_tier || ':' || cause, ',' ORDER BY id) FROM customer_tier_history "
                f"WHERE customer_id = '{customer['id']}'")
    assert causes == "key:transaction,reserve:transaction,key:transaction"


def test_archive_restore_roles_and_missing(api, users, customer, make_txn):
    t = make_txn(customer["id"], "1.00")
    for role in ROLES:
        if role not in WRITERS:
            problem(api.delete(f"/v1/transactions/{t['id']}", users[role]), 403)
            problem(api.post(f"/v1/transactions/{t['id']}/restore", users[role]), 403)
    assert api.get(f"/v1/transactions/{t['id']}", users["admin"]).json()["archived"] is False
    problem(api.delete(f"/v1/transactions/{ref()}", users["erp"]), 404)
    problem(api.delete(f"/v1/transactions/{uuid.uuid4()}", users["erp"]), 404)
    problem(api.post(f"/v1/transactions/{ref()}/restore", users["erp"]), 404)


# ---------------------------------------------------------------- concurrency

def test_concurrent_puts_of_one_new_reference_make_one_row(api, users, customer, db, today):
    import threading
    r_ = ref()
    results = []

    def go(amount):
        results.append(put(api, users["erp"], r_, txn_body(customer["id"], amount, today)).status_code)

    threads = [threading.Thread(target=go, args=("100.00",)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200] * 5 + [201]
    assert db(f"SELECT count(*) || ':' || max(version) FROM transactions WHERE external_ref = '{r_}'") == "1:1"


def test_concurrent_batches_over_the_same_customers_do_not_deadlock(api, users, make_customer, db, today):
    import threading
    cs = [make_customer() for _ in range(4)]
    statuses = []

    def go(order):
        items = [item(cs[k]["id"], "30000.00", today) for k in order for _ in range(3)]
        statuses.append(batch(api, users["erp"], items).status_code)

    orders = [[0, 1, 2, 3], [3, 2, 1, 0], [1, 3, 0, 2], [2, 0, 3, 1]] * 2
    threads = [threading.Thread(target=go, args=(o,)) for o in orders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * len(orders)
    for c in cs:
        # 8 batches x 3 items x 30,000 = 720,000, no credit rating → key; history consistent
        assert db(f"SELECT tier FROM customers WHERE id = '{c['id']}'") == "key"
        assert db(f"SELECT string_agg(old_tier || '>' || new_tier, ',' ORDER BY id) FROM customer_tier_history "
                  f"WHERE customer_id = '{c['id']}'") == "reserve>general,general>key"
