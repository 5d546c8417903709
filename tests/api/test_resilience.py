"""The database goes away and comes back: the service answers 503 with
Retry-After (never a crash or a hang) and recovers by itself.

Runs its own PostgreSQL cluster (deploy/pg-cluster.sh) so it can stop it."""

import shutil
import subprocess
import tempfile
import time

import pytest
import requests

from conftest import ADMIN_PASSWORD, REPO, Api, Server, _free_port


def cluster(cmd, directory, port=""):
    script = f'source "{REPO}/deploy/pg-cluster.sh" && {cmd} "{directory}" {port}'
    subprocess.run(["bash", "-c", script], check=True, capture_output=True, timeout=120)


@pytest.fixture
def own_cluster(monkeypatch):
    directory = tempfile.mkdtemp(prefix="crm-resilience-")
    port = _free_port()
    cluster("pg_cluster_start", directory, port)
    subprocess.run(["bash", "-c", f'source "{REPO}/deploy/pg-cluster.sh" && '
                    f'pg_cluster_ensure_db "{directory}" {port} crm_resilience'],
                   check=True, capture_output=True, timeout=60)
    monkeypatch.setenv("CRM_TEST_DATABASE_URL", f"postgresql://postgres@127.0.0.1:{port}/crm_resilience")
    yield directory, port
    cluster("pg_cluster_stop", directory)
    shutil.rmtree(directory, ignore_errors=True)


def test_database_outage_is_503_then_recovers(own_cluster):
    directory, port = own_cluster
    server = Server()
    try:
        api = Api(server)
        token = api.login("admin", ADMIN_PASSWORD)
        users = api.get("/v1/users", token)
        assert users.status_code == 200

        cluster("pg_cluster_stop", directory)
        started = time.monotonic()
        for path in ("/v1/users", "/v1/me"):
            r = api.get(path, token)
            assert r.status_code == 503, r.text
            assert r.headers.get("Retry-After") == "1"
            assert r.headers["Content-Type"].startswith("application/problem+json")
            assert r.json()["status"] == 503
            assert "Retry-After" in r.headers
        r = api.post("/v1/users", token, {"username": "outage", "display_name": "x", "role": "sales",
                                          "password": "long-enough-password"})
        assert r.status_code == 503
        assert time.monotonic() - started < 15, "requests must fail fast, not hang"
        ready = requests.get(server.base + "/readyz", timeout=10)
        assert ready.status_code == 503
        assert requests.get(server.base + "/healthz", timeout=5).status_code == 200

        cluster("pg_cluster_start", directory, port)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if requests.get(server.base + "/readyz", timeout=5).status_code == 200:
                break
            time.sleep(0.2)
        r = api.get("/v1/users", token)
        assert r.status_code == 200, r.text
        assert any(u["username"] == "admin" for u in r.json()["items"])
        # The write that failed during the outage left nothing behind.
        assert not any(u["username"] == "outage" for u in r.json()["items"])
    finally:
        rc = server.stop()
    assert rc == 0, server.log_text()[-3000:]
