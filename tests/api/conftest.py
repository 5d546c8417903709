"""Fixtures for the black-box API tests: a real crm-service binary against a
real PostgreSQL (CRM_TEST_DATABASE_URL, a throwaway cluster from tests/run.sh).

Every response that goes through `Api.call` is validated against its schema
in api/openapi.yaml, so the contract is checked on every request.
"""

import json
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests

import schema_check

REPO = Path(__file__).resolve().parents[2]
ADMIN_PASSWORD = "admin-password-for-tests"
USER_PASSWORD = "user-password-for-tests"
JWT_SECRET = "test-secret-" + "x" * 40


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _find_binary():
    b = os.environ.get("CRM_BIN")
    if b:
        return b
    for cand in (REPO / "build/test/crm-service", REPO / "build/release/crm-service"):
        if cand.exists():
            return str(cand)
    pytest.exit("CRM_BIN is not set and no built binary was found", returncode=2)


def reset_database(url):
    """Drops everything so each session starts from an empty schema."""
    subprocess.run(["psql", url, "-q", "-v", "ON_ERROR_STOP=1", "-c",
                    "DROP SCHEMA public CASCADE; CREATE SCHEMA public;"],
                   check=True, capture_output=True)


def psql(url, sql):
    """Runs constant SQL in the test database (fixtures and assertions only)."""
    out = subprocess.run(["psql", url, "-qAt", "-v", "ON_ERROR_STOP=1", "-c", sql],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip()


class Server:
    def __init__(self, env_extra=None, reset=True):
        self.url_db = os.environ.get("CRM_TEST_DATABASE_URL")
        if not self.url_db:
            pytest.exit("CRM_TEST_DATABASE_URL is not set (run tests/run.sh)", returncode=2)
        if reset:
            reset_database(self.url_db)
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        env.update({
            "CRM_LISTEN": f"127.0.0.1:{self.port}",
            "CRM_DATABASE_URL": self.url_db,
            "CRM_JWT_SECRET": JWT_SECRET,
            "CRM_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "CRM_THREADS": "24",
            "CRM_DB_POOL_SIZE": "6",
            "CRM_MAX_BODY_BYTES": "65536",
            "CRM_BODY_TIMEOUT_MS": "2000",
            "CRM_CORS_ORIGINS": "https://app.example.com",
        })
        env.update(env_extra or {})
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"crm-service-{self.port}.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([_find_binary()], env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"crm-service exited early:\n{self.log_path.read_text()[-3000:]}")
            try:
                if requests.get(self.base + "/readyz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError("crm-service did not become ready")

    def stop(self):
        """SIGTERM; returns the exit code (sanitizer findings make it non-zero)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def log_text(self):
        self.log.flush()
        return self.log_path.read_text(errors="replace")


class Api:
    """HTTP client bound to one server; validates every JSON body against the spec."""

    def __init__(self, server):
        self.server = server
        self.base = server.base
        self.session = requests.Session()

    def call(self, method, path, token=None, json_body=None, headers=None, data=None,
             validate=True, **kw):
        h = {}
        if token:
            h["Authorization"] = f"Bearer {token}"
        if headers:
            h.update(headers)
        if json_body is not None:
            data = json.dumps(json_body, ensure_ascii=False).encode()
            h.setdefault("Content-Type", "application/json")
        r = self.session.request(method, self.base + path, headers=h, data=data, timeout=30, **kw)
        assert "X-Request-Id" in r.headers, f"{method} {path}: no X-Request-Id"
        if validate:
            ctype = r.headers.get("Content-Type", "")
            path_only = path.split("?")[0]
            if r.status_code in (204, 304):
                assert r.content == b"", f"{method} {path}: {r.status_code} with a body"
            elif ctype.startswith("application/json") or ctype.startswith("application/problem+json"):
                schema_check.validate(method, path_only, r.status_code, r.json(),
                                      content_type=ctype.split(";")[0])
        return r

    def get(self, path, token=None, **kw):
        return self.call("GET", path, token, **kw)

    def post(self, path, token=None, body=None, **kw):
        return self.call("POST", path, token, json_body=body, **kw)

    def patch(self, path, token=None, body=None, **kw):
        return self.call("PATCH", path, token, json_body=body, **kw)

    def delete(self, path, token=None, **kw):
        return self.call("DELETE", path, token, **kw)

    def login(self, username, password):
        r = self.post("/v1/auth/token", body={"username": username, "password": password})
        assert r.status_code == 200, r.text
        return r.json()["access_token"]


class Users:
    """One user per role (two sales reps), with tokens."""

    def __init__(self, api):
        self.admin = api.login("admin", ADMIN_PASSWORD)
        self.ids = {}
        self.tokens = {"admin": self.admin}
        me = api.get("/v1/me", self.admin).json()
        self.ids["admin"] = me["id"]
        for name, role in [("sales", "sales"), ("sales2", "sales"), ("manager", "sales_manager"),
                           ("finance", "finance"), ("office", "office"), ("erp", "erp")]:
            r = api.post("/v1/users", self.admin, {"username": f"t-{name}", "display_name": f"测试 {name}",
                                                   "role": role, "password": USER_PASSWORD})
            assert r.status_code == 201, r.text
            self.ids[name] = r.json()["id"]
            self.tokens[name] = api.login(f"t-{name}", USER_PASSWORD)

    def __getitem__(self, name):
        return self.tokens[name]


@pytest.fixture(scope="session")
def server():
    s = Server()
    yield s
    rc = s.stop()
    assert rc == 0, f"crm-service exited with {rc}; log tail:\n{s.log_text()[-4000:]}"


@pytest.fixture(scope="session")
def api(server):
    return Api(server)


@pytest.fixture(scope="session")
def users(api):
    return Users(api)


@pytest.fixture
def db(server):
    """Runs constant SQL against the test database (for assertions on the audit trail etc.)."""
    return lambda sql: psql(server.url_db, sql)


# Problem+json assertions, shared by every test module.
def problem(r, status):
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text}"
    assert r.headers["Content-Type"].startswith("application/problem+json"), r.headers
    body = r.json()
    assert body["status"] == status and body["title"]
    assert body["request_id"] == r.headers["X-Request-Id"]
    return body


def assert_invalid(r, *fields, message=None, malformed_ok=False):
    """A 422 validation problem naming every one of fields, each error with a message; message: a
    text the first field's message contains. malformed_ok: a 400 for malformed JSON passes too (the
    parser refuses \\u0000 and integers beyond 64 bits before any field is looked at)."""
    if malformed_ok and r.status_code == 400:
        body = problem(r, 400)
        assert "malformed JSON" in body["detail"], body
        return body
    body = problem(r, 422)
    assert body["type"].endswith("/validation") and body["title"] == "Validation failed", body
    assert body["errors"], body
    messages = {}
    for e in body["errors"]:
        assert e["message"], e
        messages.setdefault(e["field"], e["message"])
    for f in fields:
        assert f in messages, f"{f!r} not named in {body}"
    if message:
        assert message in messages[fields[0]], body
    return body


def unique(prefix="客户"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def make_customer(api, users):
    """Creates a customer owned by the given sales user (default 'sales')."""
    def make(owner="sales", **fields):
        body = {"name": unique("杭州纺织有限公司")}
        body.update(fields)
        r = api.post("/v1/customers", users[owner], body)
        assert r.status_code == 201, r.text
        return r.json()
    return make


def walk_pages(api, path, token, query="", limit=200, max_pages=500):
    """Every item of a list, following next_cursor page by page."""
    items, cursor, pages = [], None, 0
    while True:
        q = f"limit={limit}" + (f"&{query}" if query else "") + (f"&cursor={cursor}" if cursor else "")
        r = api.get(f"{path}?{q}", token)
        assert r.status_code == 200, r.text
        body = r.json()
        items += body["items"]
        cursor = body["next_cursor"]
        pages += 1
        assert pages < max_pages, "pagination does not end"
        if cursor is None:
            return items
