"""The HTTP pipeline (service/http/router.c, request.c): routing, problem bodies, request ids,
CORS, framing and body limits, malformed input, and the access log.

Several tests talk raw HTTP over a socket because `requests` cannot send the byte sequences
under test (conflicting framing, stalled bodies, oversized declared lengths)."""

import json
import re
import socket
import threading
import time
import uuid

import pytest
import requests

import schema_check
from conftest import ADMIN_PASSWORD

ALLOWED_ORIGIN = "https://app.example.com"
LOGIN = {"username": "admin", "password": ADMIN_PASSWORD}
BODY_TIMEOUT_S = 2.0       # CRM_BODY_TIMEOUT_MS of the test server
REQUEST_TIMEOUT_S = 10.0   # Civetweb request_timeout_ms (service/http/server.c)


# ---------------------------------------------------------------- raw HTTP helpers

def _read_response(sock):
    """Reads one HTTP/1.1 response from sock: (status, headers with lower-case names, body)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before a complete response head: {buf[:500]!r}")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    while len(rest) < n:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:n]


def raw_request(server, data, timeout=30):
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as s:
        s.sendall(data)
        return _read_response(s)


def _head(method, path, headers):
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def assert_problem(r_or_tuple, status, slug=None):
    """Checks a problem+json answer (a requests.Response or a raw (status, headers, body))."""
    if isinstance(r_or_tuple, tuple):
        st, headers, body = r_or_tuple
        body = json.loads(body)
        rid = headers.get("x-request-id")
        ctype = headers.get("content-type", "")
    else:
        st, body, rid = r_or_tuple.status_code, r_or_tuple.json(), r_or_tuple.headers.get("X-Request-Id")
        ctype = r_or_tuple.headers.get("Content-Type", "")
    assert st == status, body
    assert ctype.startswith("application/problem+json"), ctype
    assert body["status"] == status
    assert body["title"]
    if slug:
        assert body["type"].endswith("/" + slug), body
    assert rid and body["request_id"] == rid
    return body


def alive(api):
    r = api.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


# ---------------------------------------------------------------- routing

def test_unknown_path_is_404_problem(api):
    r = api.get("/v1/no-such-thing")
    body = assert_problem(r, 404, "not-found")
    assert body["instance"] == "/v1/no-such-thing"
    assert "Allow" not in r.headers


def test_unknown_nested_path_is_404(api, users):
    for path in ("/v1", "/v1/users/x/y/z", "/v1/customersX", "/healthz/extra", "/"):
        r = api.get(path, users["admin"])
        assert_problem(r, 404, "not-found")


def test_unknown_path_404_does_not_need_auth(api):
    # Routing happens before authentication: no 401 for paths that do not exist.
    r = api.get("/v1/definitely/not/here")
    assert r.status_code == 404
    assert "WWW-Authenticate" not in r.headers


@pytest.mark.parametrize("method,path,allow", [
    ("PUT", "/v1/users", {"GET", "POST"}),
    ("DELETE", "/v1/users", {"GET", "POST"}),
    ("GET", "/v1/auth/token", {"POST"}),
    ("POST", "/healthz", {"GET"}),
    ("PUT", "/v1/users/4c4a4f7e-0000-4000-8000-000000000000", {"GET", "PATCH", "DELETE"}),
    ("POST", "/v1/audit", {"GET"}),
])
def test_wrong_method_is_405_with_allow(api, method, path, allow):
    r = api.call(method, path, headers={"Content-Type": "application/json"}, data=b"{}")
    body = assert_problem(r, 405, "method-not-allowed")
    got = {m.strip() for m in r.headers["Allow"].split(",")}
    assert got == allow, r.headers["Allow"]
    assert body["instance"] == path.split("?")[0]


def test_405_comes_before_authentication(api, users):
    # A sales user (no access to /v1/users) and an anonymous caller both get 405 for PUT.
    for token in (None, users["sales"]):
        r = api.call("PUT", "/v1/users", token)
        assert r.status_code == 405
        assert "WWW-Authenticate" not in r.headers


def test_head_is_get_without_body(server):
    r = requests.head(server.base + "/healthz", timeout=10)
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers.get("X-Request-Id")


# ---------------------------------------------------------------- request ids

def test_sane_request_id_is_echoed(api):
    r = api.get("/healthz", headers={"X-Request-Id": "abc-12345678"})
    assert r.headers["X-Request-Id"] == "abc-12345678"
    r = api.get("/v1/nope", headers={"X-Request-Id": "trace.id:42_ABC-x"})
    assert r.headers["X-Request-Id"] == "trace.id:42_ABC-x"
    assert r.json()["request_id"] == "trace.id:42_ABC-x"


@pytest.mark.parametrize("bad", [
    "x" * 200,                 # too long
    "abc 12345678",            # space
    "abc",                     # too short
    "abc-1234567<script>",     # markup
    "日本語日本語日本語",       # non-ASCII
])
def test_insane_request_id_is_replaced(api, bad):
    try:
        r = api.get("/v1/nope", headers={"X-Request-Id": bad.encode("utf-8")})
    except (ValueError, requests.exceptions.InvalidHeader):
        pytest.skip("requests refuses to send this header value")
    rid = r.headers["X-Request-Id"]
    assert rid != bad.strip()
    assert re.fullmatch(r"[0-9a-f]{32}", rid), rid
    assert r.json()["request_id"] == rid


def test_generated_request_ids_are_unique(api):
    ids = {api.get("/healthz").headers["X-Request-Id"] for _ in range(20)}
    assert len(ids) == 20
    for rid in ids:
        assert re.fullmatch(r"[0-9a-f]{32}", rid)


# ---------------------------------------------------------------- CORS

def test_preflight_from_allowed_origin(api):
    r = api.call("OPTIONS", "/v1/customers", headers={
        "Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert r.status_code == 204
    assert r.content == b""
    assert r.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert "Origin" in r.headers.get("Vary", "")
    methods = {m.strip() for m in r.headers["Access-Control-Allow-Methods"].split(",")}
    assert {"GET", "POST"} <= methods
    allowed_headers = {h.strip().lower() for h in r.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "if-match", "idempotency-key"} <= allowed_headers
    assert int(r.headers["Access-Control-Max-Age"]) > 0
    assert "*" not in r.headers["Access-Control-Allow-Origin"]


def test_preflight_from_disallowed_origin(api):
    for origin in ("https://evil.example.com", "https://app.example.com.evil.net", "http://app.example.com",
                   "null"):
        r = api.call("OPTIONS", "/v1/customers", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST"})
        assert r.status_code == 204
        assert "Access-Control-Allow-Origin" not in r.headers, origin
        assert "Access-Control-Allow-Methods" not in r.headers
        assert "Access-Control-Allow-Credentials" not in r.headers


def test_preflight_unknown_path_is_404(api):
    r = api.call("OPTIONS", "/v1/nope", headers={"Origin": ALLOWED_ORIGIN})
    assert r.status_code == 404


def test_cors_headers_on_actual_responses(api, users):
    r = api.get("/v1/me", users["sales"], headers={"Origin": ALLOWED_ORIGIN})
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert "X-Request-Id" in r.headers["Access-Control-Expose-Headers"]
    r = api.get("/v1/me", users["sales"], headers={"Origin": "https://evil.example.com"})
    assert r.status_code == 200
    assert "Access-Control-Allow-Origin" not in r.headers
    # Errors carry CORS headers too, so browsers can read the problem body.
    r = api.get("/v1/me", headers={"Origin": ALLOWED_ORIGIN})
    assert r.status_code == 401
    assert r.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN


# ---------------------------------------------------------------- framing

def test_transfer_encoding_and_content_length_is_400(server, api):
    body = b'{"username":"admin","password":"x"}'
    chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    req = _head("POST", "/v1/auth/token", {"Content-Type": "application/json",
                                           "Content-Length": str(len(body)),
                                           "Transfer-Encoding": "chunked"}) + chunked
    st, headers, raw = raw_request(server, req)
    assert st == 400, raw
    assert headers.get("content-type", "").startswith("application/problem+json")
    problem = json.loads(raw)
    assert problem["status"] == 400
    assert "Transfer-Encoding" in problem.get("detail", "")
    assert headers.get("connection", "").lower() == "close"
    schema_check.validate("POST", "/v1/auth/token", 400, problem, content_type="application/problem+json")
    alive(api)


def test_chunked_json_body_works(server):
    payload = json.dumps(LOGIN).encode()
    parts = [payload[:5], payload[5:17], payload[17:]]
    r = requests.post(server.base + "/v1/auth/token", data=iter(parts),
                      headers={"Content-Type": "application/json"}, timeout=30)
    assert r.request.headers.get("Transfer-Encoding") == "chunked"
    assert r.status_code == 200, r.text
    body = r.json()
    schema_check.validate("POST", "/v1/auth/token", 200, body)
    assert body["token_type"] == "Bearer"


def test_chunked_body_raw(server):
    payload = json.dumps(LOGIN).encode()
    chunks = b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in (payload[:10], payload[10:]))
    req = _head("POST", "/v1/auth/token", {"Content-Type": "application/json",
                                           "Transfer-Encoding": "chunked"}) + chunks + b"0\r\n\r\n"
    st, headers, raw = raw_request(server, req)
    assert st == 200, raw
    assert json.loads(raw)["token_type"] == "Bearer"


def test_stalled_body_times_out_and_others_are_served(server, api):
    req = _head("POST", "/v1/auth/token", {"Content-Type": "application/json",
                                           "Content-Length": "100"}) + b'{"usernam'
    result = {}

    def stalled():
        with socket.create_connection(("127.0.0.1", server.port), timeout=60) as s:
            t0 = time.monotonic()
            s.sendall(req)
            try:
                result["resp"] = _read_response(s)
            except Exception as e:  # noqa: BLE001 - reported below
                result["error"] = e
            result["elapsed"] = time.monotonic() - t0

    t = threading.Thread(target=stalled)
    t.start()
    time.sleep(0.3)
    # The server keeps serving other clients while one body is stalled.
    for _ in range(5):
        t0 = time.monotonic()
        alive(api)
        assert time.monotonic() - t0 < 1.5
        time.sleep(0.2)
    r = api.post("/v1/auth/token", body=LOGIN)
    assert r.status_code == 200
    t.join(60)
    assert not t.is_alive()
    assert "error" not in result, result
    st, headers, raw = result["resp"]
    assert st == 408, raw
    problem = json.loads(raw)
    assert problem["status"] == 408
    assert problem["type"].endswith("/request-timeout")
    assert headers.get("connection", "").lower() == "close"
    schema_check.validate("POST", "/v1/auth/token", 408, problem, content_type="application/problem+json")
    assert result["elapsed"] >= BODY_TIMEOUT_S - 0.2
    # Each blocking read is bounded by the body timeout too, so a stalled
    # body is answered within about twice CRM_BODY_TIMEOUT_MS.
    assert result["elapsed"] < 2 * BODY_TIMEOUT_S + 1.5, result["elapsed"]


def test_trickled_body_hits_the_total_deadline(server):
    """A body dripping one byte at a time never trips a per-read timeout;
    the total deadline must end it."""
    req = _head("POST", "/v1/auth/token", {"Content-Type": "application/json",
                                           "Content-Length": "200"})
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        t0 = time.monotonic()
        s.sendall(req)
        s.settimeout(0.4)
        got = b""
        for i in range(60):
            try:
                s.sendall(b" ")
            except OSError:
                break
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                break
            got += chunk
            if b"\r\n\r\n" in got:
                break
        elapsed = time.monotonic() - t0
    assert got.startswith(b"HTTP/1.1 408"), got[:200]
    assert BODY_TIMEOUT_S - 0.2 <= elapsed < 2 * BODY_TIMEOUT_S + 1.5, elapsed


def test_deeply_nested_json_is_400_and_server_survives(api):
    for body in (b"[" * 10000 + b"]" * 10000,
                 b'{"a":' * 5000 + b"1" + b"}" * 5000,
                 b'{"username":' + b"[" * 10000 + b"]" * 10000 + b"}"):
        r = api.call("POST", "/v1/auth/token", headers={"Content-Type": "application/json"}, data=body)
        problem = assert_problem(r, 400, "bad-request")
        assert "nested" in problem.get("detail", "")
        alive(api)


def test_unclosed_deep_nesting_is_400(api):
    r = api.call("POST", "/v1/auth/token", headers={"Content-Type": "application/json"}, data=b"[" * 60000)
    assert_problem(r, 400)
    alive(api)


def test_body_over_limit_is_413_without_reading_it(server, api):
    declared = 2 * 1024 * 1024
    req = _head("POST", "/v1/auth/token", {"Content-Type": "application/json",
                                           "Content-Length": str(declared)}) + b'{"username":"' + b"a" * 1000
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        t0 = time.monotonic()
        s.sendall(req)
        # Only ~1 KB of the declared 2 MB was sent: an answer proves the server did not wait for it.
        st, headers, raw = _read_response(s)
        elapsed = time.monotonic() - t0
    assert st == 413, raw
    problem = json.loads(raw)
    assert problem["status"] == 413 and problem["type"].endswith("/payload-too-large")
    assert headers.get("connection", "").lower() == "close"
    assert elapsed < BODY_TIMEOUT_S, elapsed
    schema_check.validate("POST", "/v1/auth/token", 413, problem, content_type="application/problem+json")
    alive(api)


def test_full_2mb_body_is_413(api):
    body = json.dumps({"username": "admin", "password": "p" * (2 * 1024 * 1024)}).encode()
    try:
        r = api.call("POST", "/v1/auth/token", headers={"Content-Type": "application/json"}, data=body)
    except requests.ConnectionError:
        pytest.fail("the server reset the connection instead of answering 413")
    assert_problem(r, 413, "payload-too-large")
    alive(api)


def test_chunked_body_over_limit_is_413(server, api):
    chunk = b"[" + b"1," * 20000 + b"1]"
    data = b""
    for _ in range(4):   # ~160 KB, over the 64 KiB limit of the test server
        data += f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    req = _head("POST", "/v1/auth/token", {"Content-Type": "application/json",
                                           "Transfer-Encoding": "chunked"}) + data + b"0\r\n\r\n"
    st, headers, raw = raw_request(server, req)
    assert st == 413, raw
    assert json.loads(raw)["status"] == 413
    alive(api)


@pytest.mark.parametrize("body", [
    b"\x00\x01\x02garbage\xff\xfe",
    b"not json at all",
    b'{"username":"admin","password":',
    b'{"username":"admin"} trailing',
    b'{"username":"\xff\xfe","password":"user-password-for-tests"}',
    b'{"username":"\xc3\x28","password":"user-password-for-tests"}',
    b'{"username":"\xed\xa0\x80","password":"user-password-for-tests"}',   # UTF-8 encoded surrogate
    b'\xef\xbb\xbf{"username":"admin","password":"x"}',                   # BOM
    b'{"username":"admin","username":"other","password":"user-password-for-tests"}',  # duplicate keys
])
def test_malformed_json_is_400(api, body):
    r = api.call("POST", "/v1/auth/token", headers={"Content-Type": "application/json"}, data=body)
    problem = assert_problem(r, 400, "bad-request")
    assert problem["instance"] == "/v1/auth/token"
    assert problem.get("detail")


def test_empty_body_is_400(api):
    r = api.call("POST", "/v1/auth/token", headers={"Content-Type": "application/json"}, data=b"")
    assert_problem(r, 400)


@pytest.mark.parametrize("ctype", [None, "text/plain", "application/x-www-form-urlencoded",
                                   "application/jsonx", "application/merge-patch+json"])
def test_wrong_content_type_is_415(api, ctype):
    headers = {"Content-Type": ctype} if ctype else {}
    r = api.call("POST", "/v1/auth/token", headers=headers, data=json.dumps(LOGIN).encode())
    assert_problem(r, 415, "unsupported-media-type")


def test_content_type_with_charset_is_accepted(api):
    r = api.call("POST", "/v1/auth/token", headers={"Content-Type": "application/json; charset=utf-8"},
                 data=json.dumps(LOGIN).encode())
    assert r.status_code == 200


# ---------------------------------------------------------------- query strings

@pytest.mark.parametrize("qs", [
    "entity_id=%ff",            # invalid UTF-8
    "entity_id=%c3%28",         # invalid UTF-8 sequence
    "entity_id=%ed%a0%80",      # encoded surrogate
    "entity_id=a%00b",          # NUL
    "entity_id=%zz",            # bad escape
    "entity_id=%4",             # truncated escape
    "%ff=1",                    # invalid UTF-8 key
    "entity=customer&entity=user",   # repeated
    "nope=1",                   # unknown parameter
    "=x",                       # empty key
    "limit=0", "limit=201", "limit=abc", "limit=",
    "cursor=%%%", "cursor=not-a-cursor",
])
def test_bad_query_is_400(server, users, qs):
    # Raw bytes: requests would re-quote broken escapes such as %zz into %25zz.
    req = _head("GET", "/v1/audit?" + qs, {"Authorization": f"Bearer {users['admin']}"})
    st, headers, raw = raw_request(server, req)
    problem = assert_problem((st, headers, raw), 400, "bad-request")
    assert problem["instance"] == "/v1/audit"
    schema_check.validate("GET", "/v1/audit", 400, problem, content_type=headers["content-type"])


def test_unknown_query_parameter_is_named(api, users):
    r = api.get("/v1/audit?colour=blue", users["admin"])
    assert "colour" in assert_problem(r, 400)["detail"]


def test_invalid_utf8_in_path_is_404(api):
    r = api.get("/v1/%ff%fe")
    assert r.status_code == 404
    body = r.json()
    assert body["status"] == 404 and body["request_id"] == r.headers["X-Request-Id"]


# ---------------------------------------------------------------- access log

def _log_lines_with(server, needle, want, timeout=5.0):
    deadline = time.time() + timeout
    while True:
        lines = [ln for ln in server.log_text().splitlines() if needle in ln]
        if len(lines) >= want or time.time() > deadline:
            return lines
        time.sleep(0.05)


def test_access_log_one_json_line_per_request_without_secrets(server, api, users):
    marker = "qv" + uuid.uuid4().hex
    rids = []
    token = users["office"]
    for i in range(3):
        rid = f"logtest-{uuid.uuid4().hex[:12]}-{i}"
        rids.append(rid)
        r = api.get(f"/v1/audit?entity_id={marker}&limit=1", token, headers={"X-Request-Id": rid})
        assert r.status_code == 200
    bad_rid = f"logtest-{uuid.uuid4().hex[:12]}-bad"
    pw_marker = "pw-" + uuid.uuid4().hex
    r = api.post("/v1/auth/token", body={"username": "admin", "password": pw_marker},
                 headers={"X-Request-Id": bad_rid})
    assert r.status_code == 401
    rids.append(bad_rid)
    for rid in rids:
        lines = _log_lines_with(server, rid, 1)
        assert len(lines) == 1, lines
        entry = json.loads(lines[0])
        assert entry["request_id"] == rid
        assert entry["msg"] == "request"
        assert entry["level"] == "info"
        assert entry["method"] in ("GET", "POST")
        assert entry["route"] in ("/v1/audit", "/v1/auth/token")
        assert entry["status"] in ("200", "401") or entry["status"] in (200, 401)
        assert float(entry["duration_ms"]) >= 0
        assert "ts" in entry
    text = server.log_text()
    assert marker not in text, "query values must not be logged"
    assert pw_marker not in text, "request bodies must not be logged"
    for tok in users.tokens.values():
        assert tok not in text
        assert tok.split(".")[2] not in text
    assert "Bearer " not in text
    assert "authorization" not in text.lower()
    # Every line of the service's own output is JSON.
    for line in text.splitlines():
        if line.startswith("{"):
            json.loads(line)


def test_access_log_has_role_and_route_pattern(server, api, users):
    rid = f"logtest-{uuid.uuid4().hex[:12]}-role"
    r = api.get(f"/v1/users/{users.ids['sales']}", users["admin"], headers={"X-Request-Id": rid})
    assert r.status_code == 200
    lines = _log_lines_with(server, rid, 1)
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["role"] == "admin"
    assert entry["route"] == "/v1/users/{id}"   # the pattern, not the concrete id
    assert users.ids["sales"] not in lines[0]


def test_access_log_for_unmatched_request(server, api):
    rid = f"logtest-{uuid.uuid4().hex[:12]}-404"
    api.get("/v1/nowhere?secret=abcdef123456", headers={"X-Request-Id": rid})
    lines = _log_lines_with(server, rid, 1)
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["status"] in ("404", 404)
    assert "abcdef123456" not in lines[0]


# ---------------------------------------------------------------- common headers

def test_common_response_headers(api, users):
    for r in (api.get("/healthz"), api.get("/v1/me", users["sales"]), api.get("/v1/nope")):
        assert r.headers["Cache-Control"] == "no-store"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["X-Request-Id"]


def test_keep_alive_serves_several_requests_on_one_connection(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        for _ in range(3):
            s.sendall(_head("GET", "/healthz", {}))
            st, headers, body = _read_response(s)
            assert st == 200 and json.loads(body) == {"status": "ok"}
