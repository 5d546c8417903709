"""Read scaling against a real streaming replica (run by tests/replica/run.sh).

The primary is CRM_TEST_DATABASE_URL, its hot standby CRM_TEST_READ_URL (made with
pg_basebackup -R, asynchronous). The service gets CRM_DATABASE_READ_URL = the standby. Pausing
WAL replay on the standby makes "which database answered" visible: a row written after the pause
exists only on the primary.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))
from conftest import Api, Server, Users, psql, unique  # noqa: E402

PRIMARY = os.environ.get("CRM_TEST_DATABASE_URL")
STANDBY = os.environ.get("CRM_TEST_READ_URL")
STANDBY_DIR = os.environ.get("CRM_TEST_STANDBY_DIR")

if not PRIMARY or not STANDBY:
    pytest.skip("needs CRM_TEST_DATABASE_URL and CRM_TEST_READ_URL (tests/replica/run.sh)",
                allow_module_level=True)


def wait_caught_up(timeout=30):
    """Until the standby has replayed everything the primary has written so far."""
    target = psql(PRIMARY, "SELECT pg_current_wal_lsn()")
    deadline = time.time() + timeout
    while time.time() < deadline:
        if psql(STANDBY, f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn") == "t":
            return
        time.sleep(0.05)
    raise AssertionError("the standby did not catch up")


@pytest.fixture(scope="module")
def stack():
    server = Server(env_extra={"CRM_DATABASE_READ_URL": STANDBY})
    api = Api(server)
    users = Users(api)
    wait_caught_up()
    yield server, api, users
    rc = server.stop()
    assert rc == 0, server.log_text()[-3000:]


@pytest.fixture
def paused():
    """WAL replay on the standby paused for the test, resumed (and caught up) after it."""
    wait_caught_up()
    psql(STANDBY, "SELECT pg_wal_replay_pause()")
    yield
    psql(STANDBY, "SELECT pg_wal_replay_resume()")
    wait_caught_up()


def list_names(api, token, name):
    r = api.get(f"/v1/customers?q={name}&limit=50", token)
    assert r.status_code == 200, r.text
    return [c["name"] for c in r.json()["items"]]


def test_standby_is_a_standby(stack):
    assert psql(STANDBY, "SELECT pg_is_in_recovery()") == "t"
    assert psql(PRIMARY, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") == "1"


def test_lists_come_from_the_replica_single_reads_from_the_primary(stack, paused):
    _, api, users = stack
    name = unique("宁波副本测试有限公司")
    r = api.post("/v1/customers", users["sales"], {"name": name})
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    # Read-your-writes: the record just created is read back from the primary.
    r = api.get(f"/v1/customers/{cid}", users["sales"])
    assert r.status_code == 200, r.text
    assert r.json()["name"] == name
    # The list is served by the standby, which has not replayed the insert yet.
    assert name not in list_names(api, users["sales"], name)
    psql(STANDBY, "SELECT pg_wal_replay_resume()")
    wait_caught_up()
    assert name in list_names(api, users["sales"], name)


def test_update_then_read_back_sees_the_new_version(stack):
    _, api, users = stack
    r = api.post("/v1/customers", users["sales"], {"name": unique("绍兴副本更新有限公司")})
    assert r.status_code == 201, r.text
    cust = r.json()
    wait_caught_up()
    psql(STANDBY, "SELECT pg_wal_replay_pause()")
    try:
        r = api.patch(f"/v1/customers/{cust['id']}", users["sales"], {"phone": "0575-1234 5678"},
                      headers={"If-Match": r.headers["ETag"],
                               "Content-Type": "application/merge-patch+json"})
        assert r.status_code == 200, r.text
        etag = r.headers["ETag"]
        r = api.get(f"/v1/customers/{cust['id']}", users["sales"])
        assert r.status_code == 200
        assert r.json()["phone"] == "0575-1234 5678"
        assert r.headers["ETag"] == etag
        # The replica still shows the old row in the list.
        r = api.get(f"/v1/customers?q={cust['name']}", users["sales"])
        assert [c.get("phone") for c in r.json()["items"]] == [cust.get("phone")]
    finally:
        psql(STANDBY, "SELECT pg_wal_replay_resume()")
        wait_caught_up()


def test_reads_are_audited_on_the_primary(stack, paused):
    _, api, users = stack
    r = api.post("/v1/customers", users["sales"], {"name": unique("audit-副本")})
    assert r.status_code == 201
    cid = r.json()["id"]
    assert api.get(f"/v1/customers/{cid}", users["sales"]).status_code == 200
    # A list on the replica must not try to write (the standby is read-only: that would be a 500).
    assert api.get("/v1/customers?limit=5", users["sales"]).status_code == 200
    assert api.get("/v1/audit?limit=5", users["admin"]).status_code == 200
    deadline = time.time() + 10
    while time.time() < deadline:
        n = psql(PRIMARY, f"SELECT count(*) FROM audit_log WHERE action = 'read' AND entity_id = '{cid}'")
        if n == "1":
            break
        time.sleep(0.1)
    assert n == "1"


def test_every_list_and_report_answers_from_the_standby(stack):
    _, api, users = stack
    wait_caught_up()
    paths = ["/v1/users", "/v1/customers", "/v1/interactions", "/v1/visit-plans", "/v1/visits",
             "/v1/follow-ups", "/v1/events", "/v1/reports/overdue?kind=contact",
             "/v1/reports/visit-completion?period=2026-11", "/v1/audit", "/v1/complaints",
             "/v1/reports/complaints?from=2026-01-01&to=2026-12-31", "/v1/reports/complaints/at-risk",
             "/v1/transactions", "/v1/surveys", "/v1/reports/survey-coverage?year=2026", "/v1/budgets",
             "/v1/expenses", "/v1/reports/budget-utilisation?year=2026", "/v1/reports/cost-benefit?year=2026"]
    for p in paths:
        r = api.get(p, users["admin"])
        assert r.status_code == 200, f"{p}: {r.text}"
    n = psql(STANDBY, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'crm-service'")
    assert int(n) >= 1, "the service holds no connection to the standby"
    metrics = api.get("/metrics", validate=False).text
    assert "crm_db_read_pool_size" in metrics


def test_standby_down_lists_fall_back_to_the_primary(stack):
    if not STANDBY_DIR:
        pytest.skip("CRM_TEST_STANDBY_DIR not set")
    _, api, users = stack
    subprocess.run(["bash", "-c", 'source deploy/pg-cluster.sh && pg_cluster_stop "$0"', STANDBY_DIR],
                   check=True, cwd=Path(__file__).resolve().parents[2])
    r = api.post("/v1/customers", users["sales"], {"name": unique("降级测试")})
    assert r.status_code == 201
    name = r.json()["name"]
    assert name in list_names(api, users["sales"], name)
