"""transaction_rollups (0010): the per-customer, per-period sums of live CNY transactions that the KPI
board and cost-benefit read stay equal to the transactions themselves after every kind of write —
ERP upserts (create, amount, date and customer changes), archive, restore, batches, and SQL writes
(currency change, delete) — and an empty period leaves no row behind."""
import uuid

import pytest


def ref():
    return "RU-" + uuid.uuid4().hex[:12]


def put(api, token, r_, cid, amount, on):
    r = api.call("PUT", f"/v1/transactions/{r_}", token,
                 json_body={"customer_id": cid, "occurred_on": on, "amount": amount})
    assert r.status_code in (200, 201), r.text
    return r.json()


# The rollup recomputed from the transactions, for the given customers.
RECOMPUTED = """SELECT t.customer_id, m.months::smallint, crm_period_from(t.occurred_on, m.months) AS period_from,
       sum((t.amount * 100)::bigint)::bigint AS cents, (count(*) FILTER (WHERE t.amount > 0))::int AS purchases,
       count(*)::int AS rows
FROM transactions t CROSS JOIN (VALUES (1), (3), (6), (12)) AS m (months)
WHERE t.archived_at IS NULL AND t.currency = 'CNY' AND t.customer_id::text = ANY ('{%s}')
GROUP BY 1, 2, 3"""
STORED = """SELECT customer_id, months, period_from, cents, purchases, rows FROM transaction_rollups
WHERE customer_id::text = ANY ('{%s}')"""


def assert_consistent(db, *cids):
    ids = ",".join(cids)
    diff = db(f"SELECT count(*) FROM (({STORED % ids}) EXCEPT ({RECOMPUTED % ids})) a") + "/" + \
        db(f"SELECT count(*) FROM (({RECOMPUTED % ids}) EXCEPT ({STORED % ids})) b")
    assert diff == "0/0", f"rollup rows missing/extra: {diff}"


def rollup(db, cid, months):
    """{period_from: (cents, purchases, rows)} of one customer at one period length."""
    out = db(f"SELECT string_agg(period_from || ':' || cents || ':' || purchases || ':' || rows, ' ' "
             f"ORDER BY period_from) FROM transaction_rollups WHERE customer_id = '{cid}' AND months = {months}")
    return {k: tuple(int(x) for x in v) for k, *v in (e.split(":") for e in out.split())} if out else {}


@pytest.fixture
def two(make_customer):
    return make_customer()["id"], make_customer()["id"]


def test_creates_sum_per_period_of_each_length(api, users, db, two):
    c, _ = two
    put(api, users["erp"], ref(), c, "1000.50", "2025-02-10")
    put(api, users["erp"], ref(), c, "-200.25", "2025-02-28")      # a return: negative, not a purchase
    put(api, users["erp"], ref(), c, "300.00", "2025-08-01")
    assert rollup(db, c, 1) == {"2025-02-01": (80025, 1, 2), "2025-08-01": (30000, 1, 1)}
    assert rollup(db, c, 3) == {"2025-01-01": (80025, 1, 2), "2025-07-01": (30000, 1, 1)}
    assert rollup(db, c, 6) == {"2025-01-01": (80025, 1, 2), "2025-07-01": (30000, 1, 1)}
    assert rollup(db, c, 12) == {"2025-01-01": (110025, 2, 3)}
    assert_consistent(db, c)


def test_updates_move_amounts_dates_and_customers(api, users, db, two):
    c1, c2 = two
    r1, r2 = ref(), ref()
    put(api, users["erp"], r1, c1, "500.00", "2025-03-31")
    put(api, users["erp"], r2, c1, "700.00", "2025-03-01")
    put(api, users["erp"], r1, c1, "-50.00", "2025-03-31")         # amount: now a return
    assert rollup(db, c1, 1) == {"2025-03-01": (65000, 1, 2)}
    put(api, users["erp"], r1, c1, "-50.00", "2025-04-01")         # date: next month and quarter
    assert rollup(db, c1, 1) == {"2025-03-01": (70000, 1, 1), "2025-04-01": (-5000, 0, 1)}
    assert rollup(db, c1, 3) == {"2025-01-01": (70000, 1, 1), "2025-04-01": (-5000, 0, 1)}
    put(api, users["erp"], r2, c2, "700.00", "2025-03-01")         # customer: moves with its sums
    assert rollup(db, c1, 1) == {"2025-04-01": (-5000, 0, 1)}      # the emptied month is gone
    assert rollup(db, c2, 12) == {"2025-01-01": (70000, 1, 1)}
    assert_consistent(db, c1, c2)


def test_archive_and_restore(api, users, db, two):
    c, _ = two
    r_ = ref()
    put(api, users["erp"], r_, c, "1234.56", "2025-11-11")
    put(api, users["erp"], ref(), c, "10.00", "2025-01-01")
    assert api.delete(f"/v1/transactions/{r_}", users["erp"]).status_code == 204
    assert rollup(db, c, 12) == {"2025-01-01": (1000, 1, 1)}
    assert rollup(db, c, 1) == {"2025-01-01": (1000, 1, 1)}
    r = api.post(f"/v1/transactions/{r_}/restore", users["erp"])
    assert r.status_code == 200, r.text
    assert rollup(db, c, 12) == {"2025-01-01": (124456, 2, 2)}
    assert_consistent(db, c)


def test_batch_nets_rows_of_one_statement(api, users, db, two):
    c1, c2 = two
    items = [{"external_ref": ref(), "customer_id": c1, "occurred_on": "2025-05-05", "amount": a}
             for a in ("100.00", "250.10", "-0.10")]
    items.append({"external_ref": ref(), "customer_id": c2, "occurred_on": "2025-12-31", "amount": "9.99"})
    r = api.post("/v1/transactions/batch", users["erp"], {"items": items})
    assert r.status_code == 200, r.text
    assert rollup(db, c1, 6) == {"2025-01-01": (35000, 2, 3)}
    assert rollup(db, c2, 6) == {"2025-07-01": (999, 1, 1)}
    items[0]["amount"] = "0.10"                                      # one changed, three unchanged
    r = api.post("/v1/transactions/batch", users["erp"], {"items": items})
    assert r.status_code == 200, r.text
    assert rollup(db, c1, 6) == {"2025-01-01": (25010, 2, 3)}
    assert_consistent(db, c1, c2)


def test_sql_writes_currency_and_delete(api, users, db, two):
    c, _ = two
    r1, r2 = ref(), ref()
    put(api, users["erp"], r1, c, "100.00", "2024-06-01")
    put(api, users["erp"], r2, c, "200.00", "2024-06-02")
    db(f"UPDATE transactions SET currency = 'USD' WHERE external_ref = '{r1}'")   # not CNY: not counted
    assert rollup(db, c, 12) == {"2024-01-01": (20000, 1, 1)}
    db(f"UPDATE transactions SET currency = 'CNY' WHERE external_ref = '{r1}'")
    assert rollup(db, c, 12) == {"2024-01-01": (30000, 2, 2)}
    db(f"DELETE FROM transactions WHERE external_ref IN ('{r1}', '{r2}')")
    assert rollup(db, c, 12) == {} and rollup(db, c, 1) == {}
    assert_consistent(db, c)


def test_rebuild_equals_the_maintained_rollup(api, users, db, two):
    c, _ = two
    put(api, users["erp"], ref(), c, "42.00", "2025-09-09")
    before = db("SELECT md5(string_agg(r::text, ',' ORDER BY customer_id, months, period_from)) "
                "FROM transaction_rollups r")
    db("SELECT crm_rebuild_transaction_rollups()")
    after = db("SELECT md5(string_agg(r::text, ',' ORDER BY customer_id, months, period_from)) "
               "FROM transaction_rollups r")
    assert before == after
    assert db("SELECT count(*) FROM transaction_rollups WHERE rows = 0") == "0"
