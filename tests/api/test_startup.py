"""The binary itself: configuration errors, --version/--help, `migrate`, graceful shutdown,
and verify-only (RS256 public key) mode."""

import base64
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

from conftest import ADMIN_PASSWORD, JWT_SECRET, REPO, Server, _find_binary, _free_port, psql


def base_env(**over):
    """A valid configuration with nothing inherited from the caller's CRM_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    # How to talk to the test database is the database's property, not the test's:
    # behind PgBouncer (tests/pgbouncer/run.sh) statements must be unnamed.
    if os.environ.get("CRM_DB_PREPARE"):
        env["CRM_DB_PREPARE"] = os.environ["CRM_DB_PREPARE"]
    env.update({
        "CRM_LISTEN": f"127.0.0.1:{_free_port()}",
        "CRM_DATABASE_URL": os.environ["CRM_TEST_DATABASE_URL"],
        "CRM_JWT_SECRET": JWT_SECRET,
    })
    for k, v in over.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def run(args=(), timeout=60, **env_over):
    return subprocess.run([_find_binary(), *args], env=base_env(**env_over), capture_output=True, text=True,
                          timeout=timeout)


# ---------------------------------------------------------------- configuration errors

BAD_CONFIG = [
    ("CRM_JWT_SECRET", "short-secret-31-bytes-long-xxxx"),
    ("CRM_JWT_SECRET", None),
    ("CRM_LISTEN", "nonsense"),
    ("CRM_LISTEN", "127.0.0.1:99999"),
    ("CRM_LISTEN", "127.0.0.1:"),
    ("CRM_THREADS", "abc"),
    ("CRM_THREADS", "1"),
    ("CRM_THREADS", "12abc"),
    ("CRM_DB_POOL_SIZE", "0"),
    ("CRM_TOKEN_TTL_S", "10"),
    ("CRM_MAX_BODY_BYTES", "-1"),
    ("CRM_BODY_TIMEOUT_MS", "soon"),
    ("CRM_STATEMENT_TIMEOUT_MS", "99999999999999999999"),
    ("CRM_JWT_ALG", "none"),
    ("CRM_JWT_ALG", "hs256"),
    ("CRM_JWT_ALG", "HS512"),
    ("CRM_MIGRATE", "maybe"),
    ("CRM_MIGRATE", "ON"),
    ("CRM_TIMEZONE", "Mars/Base"),
    ("CRM_TIMEZONE", "../../etc/passwd"),
    ("CRM_CORS_ORIGINS", "ftp://files.example.com"),
    ("CRM_ADMIN_PASSWORD", "short"),
]


@pytest.mark.parametrize("var,value", BAD_CONFIG, ids=[f"{v}={x}" for v, x in BAD_CONFIG])
def test_bad_configuration_exits_with_one_line(var, value):
    t0 = time.monotonic()
    p = run(**{var: value})
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert var in lines[0], lines[0]
    # It fails fast: no database connection, no listening socket.
    assert time.monotonic() - t0 < 10
    if var == "CRM_JWT_SECRET" and value:
        assert value not in p.stderr      # never echo a secret
    assert "listening" not in p.stdout


def test_rs256_without_public_key_names_the_variable():
    p = run(CRM_JWT_ALG="RS256", CRM_JWT_SECRET=None)
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "CRM_JWT_PUBLIC_KEY_FILE" in lines[0]


def test_rs256_with_unreadable_key_file_names_the_variable(tmp_path):
    p = run(CRM_JWT_ALG="RS256", CRM_JWT_PUBLIC_KEY_FILE=str(tmp_path / "missing.pem"))
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "CRM_JWT_PUBLIC_KEY_FILE" in lines[0]


def test_rs256_with_garbage_key_names_the_variable(tmp_path):
    key = tmp_path / "garbage.pem"
    key.write_text("-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n")
    p = run(CRM_JWT_ALG="RS256", CRM_JWT_PUBLIC_KEY_FILE=str(key))
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "CRM_JWT_PUBLIC_KEY_FILE" in lines[0], p.stderr


def test_unknown_argument_exits_2_with_usage():
    p = run(["--frobnicate"])
    assert p.returncode == 2
    assert "usage" in p.stderr.lower()
    p = run(["migrate", "extra"])
    assert p.returncode == 2


# ---------------------------------------------------------------- --version / --help

def test_version():
    p = run(["--version"], CRM_JWT_SECRET=None, CRM_DATABASE_URL=None)
    assert p.returncode == 0
    m = re.fullmatch(r"crm-service (\d+\.\d+\.\d+)\n", p.stdout)
    assert m, p.stdout
    cmake = (REPO / "CMakeLists.txt").read_text()
    want = re.search(r"project\(crm-service VERSION (\d+\.\d+\.\d+)", cmake)
    assert want and m.group(1) == want.group(1)
    assert p.stderr == ""


def _config_variables():
    names = set()
    for src in (REPO / "service").rglob("*.c"):
        names |= set(re.findall(r'"(CRM_[A-Z0-9_]+)"', src.read_text(errors="replace")))
    return names


def test_help_lists_every_variable():
    p = run(["--help"], CRM_JWT_SECRET=None)
    assert p.returncode == 0
    names = _config_variables()
    assert {"CRM_LISTEN", "CRM_DATABASE_URL", "CRM_JWT_SECRET", "CRM_TIMEZONE", "CRM_MIGRATE",
            "CRM_THREADS", "CRM_BODY_TIMEOUT_MS", "CRM_CORS_ORIGINS"} <= names
    missing = [n for n in sorted(names) if not re.search(rf"\b{n}\b", p.stdout)]
    assert not missing, f"--help does not mention {missing}"
    assert "migrate" in p.stdout
    p2 = run(["-h"], CRM_JWT_SECRET=None)
    assert p2.returncode == 0 and p2.stdout == p.stdout


# ---------------------------------------------------------------- migrate

def test_migrate_against_the_test_database(db):
    p = run(["migrate"])
    assert p.returncode == 0, p.stderr + p.stdout
    assert p.stderr == ""
    events = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
    done = [e for e in events if e.get("msg") == "schema up to date"]
    assert len(done) == 1
    assert done[0]["applied"] == "0"      # the session server already migrated
    newest = max(int(f.name.split("_", 1)[0]) for f in (REPO / "sql" / "migrations").glob("*.sql"))
    assert int(db("SELECT max(version) FROM schema_migrations")) == newest


def test_migrate_a_fresh_database():
    url = os.environ["CRM_TEST_DATABASE_URL"]
    name = f"crm_migrate_{uuid.uuid4().hex[:8]}"
    parts = urlsplit(url)
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    fresh_url = urlunsplit(parts._replace(path="/" + name))
    try:
        psql(admin_url, f"CREATE DATABASE {name}")
    except subprocess.CalledProcessError:
        pytest.skip("cannot create a scratch database on the test server")
    try:
        p = run(["migrate"], CRM_DATABASE_URL=fresh_url)
        assert p.returncode == 0, p.stderr + p.stdout
        n_files = len(list((REPO / "sql" / "migrations").glob("*.sql")))
        done = [json.loads(x) for x in p.stdout.splitlines() if '"schema up to date"' in x]
        assert done and done[0]["applied"] == str(n_files)
        assert psql(fresh_url, "SELECT count(*) FROM schema_migrations") == str(n_files)
        assert psql(fresh_url, "SELECT to_regclass('users') IS NOT NULL") == "t"
        # Idempotent.
        p = run(["migrate"], CRM_DATABASE_URL=fresh_url)
        assert p.returncode == 0
        assert '"applied":"0"' in p.stdout
    finally:
        psql(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_migrate_with_unreachable_database_fails():
    p = run(["migrate"], timeout=60, CRM_DATABASE_URL="postgresql://postgres@127.0.0.1:1/nowhere?connect_timeout=3")
    assert p.returncode != 0
    assert p.stderr.strip()
    assert len(p.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------- graceful shutdown

def _raw_login(port, results, idx):
    body = json.dumps({"username": "admin", "password": ADMIN_PASSWORD}).encode()
    req = (f"POST /v1/auth/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
           f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(req)
            results[idx] = ("sent", time.monotonic())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        head, _, payload = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1]) if head else 0
        results[idx] = (status, time.monotonic(), payload)
    except Exception as e:  # noqa: BLE001 - reported by the test
        results[idx] = ("error", time.monotonic(), repr(e))


def test_sigterm_lets_in_flight_requests_finish():
    srv = Server(reset=False)
    try:
        n = 4
        results = [None] * n
        threads = [threading.Thread(target=_raw_login, args=(srv.port, results, i)) for i in range(n)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 5
        while any(r is None for r in results) and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.05)    # the requests are read and PBKDF2 (~0.3 s) is running
        sigterm_at = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        for t in threads:
            t.join(60)
        for r in results:
            assert r[0] == 200, r
            body = json.loads(r[2])
            assert body["token_type"] == "Bearer" and body["access_token"]
        # At least one answer was produced after the signal: the shutdown really waited for it.
        assert max(r[1] for r in results) > sigterm_at
        rc = srv.proc.wait(timeout=30)
        assert rc == 0, srv.log_text()[-3000:]
        log = srv.log_text()
        assert '"shutting down"' in log and '"SIGTERM"' in log
        assert '"stopped"' in log
        # Nothing listens any more.
        with pytest.raises(requests.ConnectionError):
            requests.get(srv.base + "/healthz", timeout=2)
    finally:
        srv.stop()


def test_sigint_stops_cleanly():
    srv = Server(reset=False)
    try:
        assert requests.get(srv.base + "/healthz", timeout=5).status_code == 200
        srv.proc.send_signal(signal.SIGINT)
        assert srv.proc.wait(timeout=30) == 0
        assert '"SIGINT"' in srv.log_text()
    finally:
        srv.stop()


def test_second_instance_with_migrate_off_is_ready():
    srv = Server(env_extra={"CRM_MIGRATE": "off"}, reset=False)
    try:
        r = requests.get(srv.base + "/readyz", timeout=5)
        assert r.status_code == 200 and r.json()["status"] == "ready"
        # The existing admin is kept (not re-created): logging in works with the same password.
        r = requests.post(srv.base + "/v1/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD},
                          timeout=30)
        assert r.status_code == 200
    finally:
        assert srv.stop() == 0


# ---------------------------------------------------------------- verify-only RS256 mode

def _b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def rsa_keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("rsa")
    priv, pub = d / "priv.pem", d / "pub.pem"
    try:
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                        "-out", str(priv)], check=True, capture_output=True)
        subprocess.run(["openssl", "pkey", "-in", str(priv), "-pubout", "-out", str(pub)], check=True,
                       capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("openssl CLI not available")
    return priv, pub


def _rs256(priv, payload, header=None):
    header = header or {"alg": "RS256", "typ": "JWT"}
    signing = _b64u(json.dumps(header).encode()) + "." + _b64u(json.dumps(payload).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(priv)], input=signing.encode(),
                         capture_output=True, check=True).stdout
    return signing + "." + _b64u(sig)


def test_verify_only_rs256_mode(rsa_keys, users):
    import hashlib
    import hmac
    priv, pub = rsa_keys
    srv = Server(env_extra={"CRM_JWT_ALG": "RS256", "CRM_JWT_PUBLIC_KEY_FILE": str(pub),
                            "CRM_JWT_SECRET": ""}, reset=False)
    try:
        # No private key: the service cannot issue tokens.
        r = requests.post(srv.base + "/v1/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD},
                          timeout=30)
        assert r.status_code == 501
        assert r.json()["status"] == 501
        now = int(time.time())
        claims = {"iss": "crm-service", "aud": "crm-api", "sub": users.ids["office"], "role": "office",
                  "iat": now, "exp": now + 300}
        ok = _rs256(priv, claims)
        r = requests.get(srv.base + "/v1/me", headers={"Authorization": f"Bearer {ok}"}, timeout=10)
        assert r.status_code == 200, r.text
        assert r.json()["id"] == users.ids["office"]
        # Algorithm confusion: HS256 keyed with the public key's PEM text.
        h = _b64u(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        p = _b64u(json.dumps(claims).encode())
        for key in (pub.read_bytes(), pub.read_bytes().strip()):
            sig = _b64u(hmac.new(key, f"{h}.{p}".encode(), hashlib.sha256).digest())
            r = requests.get(srv.base + "/v1/me", headers={"Authorization": f"Bearer {h}.{p}.{sig}"}, timeout=10)
            assert r.status_code == 401
            assert r.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
        # HS256 tokens from the session server's secret are not accepted here either.
        r = requests.get(srv.base + "/v1/me", headers={"Authorization": f"Bearer {users['office']}"}, timeout=10)
        assert r.status_code == 401
        # An RS256 token with alg=none header but an RSA signature is refused.
        bad = _rs256(priv, claims, header={"alg": "none"})
        r = requests.get(srv.base + "/v1/me", headers={"Authorization": f"Bearer {bad}"}, timeout=10)
        assert r.status_code == 401
    finally:
        assert srv.stop() == 0


def test_rs256_with_private_key_issues_tokens(rsa_keys):
    priv, pub = rsa_keys
    srv = Server(env_extra={"CRM_JWT_ALG": "RS256", "CRM_JWT_PUBLIC_KEY_FILE": str(pub),
                            "CRM_JWT_PRIVATE_KEY_FILE": str(priv), "CRM_JWT_SECRET": ""}, reset=False)
    try:
        r = requests.post(srv.base + "/v1/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD},
                          timeout=30)
        assert r.status_code == 200
        tok = r.json()["access_token"]
        header = json.loads(base64.urlsafe_b64decode(tok.split(".")[0] + "=="))
        assert header["alg"] == "RS256"
        r = requests.get(srv.base + "/v1/me", headers={"Authorization": f"Bearer {tok}"}, timeout=10)
        assert r.status_code == 200 and r.json()["username"] == "admin"
    finally:
        assert srv.stop() == 0


def test_mismatched_private_key_is_refused(rsa_keys, tmp_path):
    priv, pub = rsa_keys
    other = tmp_path / "other.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", str(other)], check=True, capture_output=True)
    p = run(CRM_JWT_ALG="RS256", CRM_JWT_PUBLIC_KEY_FILE=str(pub), CRM_JWT_PRIVATE_KEY_FILE=str(other))
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "CRM_JWT_" in lines[0], p.stderr


def test_small_rsa_key_is_refused(tmp_path):
    priv, pub = tmp_path / "p.pem", tmp_path / "pub.pem"
    try:
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024",
                        "-out", str(priv)], check=True, capture_output=True)
        subprocess.run(["openssl", "pkey", "-in", str(priv), "-pubout", "-out", str(pub)], check=True,
                       capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("openssl CLI not available")
    p = run(CRM_JWT_ALG="RS256", CRM_JWT_PUBLIC_KEY_FILE=str(pub))
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "CRM_JWT_PUBLIC_KEY_FILE" in lines[0] and "2048" in lines[0]



def test_expired_idempotency_keys_are_swept_at_start_up(server, users):
    """Keys live 24 hours; the audit writer's thread deletes older ones at start-up and then once a
    minute, whether or not any reads are being audited."""
    user_id = users.ids["sales"]
    stale, fresh = uuid.uuid4().hex, uuid.uuid4().hex
    psql(server.url_db, f"""INSERT INTO idempotency_keys (user_id, key, request_hash, status, body, created_at)
        VALUES ('{user_id}', '{stale}', 'h', 201, '{{}}', now() - interval '25 hours'),
               ('{user_id}', '{fresh}', 'h', 201, '{{}}', now() - interval '23 hours')""")
    count = f"SELECT count(*) FROM idempotency_keys WHERE key IN ('{stale}', '{fresh}')"
    srv = Server(reset=False)
    try:
        deadline = time.monotonic() + 10
        while psql(server.url_db, count) != "1" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert psql(server.url_db, f"SELECT key FROM idempotency_keys WHERE key IN ('{stale}', '{fresh}')") == fresh
    finally:
        assert srv.stop() == 0
        psql(server.url_db, f"DELETE FROM idempotency_keys WHERE key = '{fresh}'")
