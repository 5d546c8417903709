"""Authentication: POST /v1/auth/token and bearer-token verification (service/auth/jwt.c and
router.c's authenticate). Forged tokens are built here with hmac/hashlib/base64 only."""

import base64
import hashlib
import hmac
import json
import time
import uuid

import pytest

from conftest import ADMIN_PASSWORD, JWT_SECRET, USER_PASSWORD

ISSUER = "crm-service"
AUDIENCE = "crm-api"
WWW_AUTH = 'Bearer error="invalid_token"'
_OMIT = object()


# ---------------------------------------------------------------- token forging

def b64u(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(header, payload, secret=JWT_SECRET, digest=hashlib.sha256):
    """header/payload: dict (serialised compactly) or bytes (used verbatim)."""
    def enc(part):
        if isinstance(part, (bytes, bytearray)):
            return b64u(bytes(part))
        return b64u(json.dumps(part, separators=(",", ":"), ensure_ascii=False).encode())
    signing_input = f"{enc(header)}.{enc(payload)}"
    if digest is None:
        sig = ""
    else:
        key = secret.encode() if isinstance(secret, str) else secret
        sig = b64u(hmac.new(key, signing_input.encode(), digest).digest())
    return f"{signing_input}.{sig}"


def claims(sub, role, **over):
    now = int(time.time())
    c = {"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "role": role, "iat": now, "nbf": now,
         "exp": now + 600, "jti": uuid.uuid4().hex}
    c.update(over)
    return {k: v for k, v in c.items() if v is not _OMIT}


HS256 = {"alg": "HS256", "typ": "JWT"}


def assert_401(r):
    assert r.status_code == 401, r.text
    assert r.headers["WWW-Authenticate"] == WWW_AUTH
    assert r.headers["Content-Type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == 401
    assert body["type"].endswith("/unauthorized")
    assert body["request_id"] == r.headers["X-Request-Id"]
    return body


def _strip(body):
    return {k: v for k, v in body.items() if k not in ("request_id", "instance")}


@pytest.fixture(scope="module")
def sales_id(users):
    return users.ids["sales"]


@pytest.fixture(scope="module")
def reference_401(api, sales_id):
    """The body of a 401 for a token with a bad signature: every token failure must look like it."""
    token = sign(HS256, claims(sales_id, "sales"), secret="wrong-secret-" + "y" * 40)
    return _strip(assert_401(api.get("/v1/me", token)))


def assert_token_rejected(api, token, reference):
    r = api.get("/v1/me", token)
    body = assert_401(r)
    # No detail that helps an attacker: every bad token answers exactly the same.
    assert _strip(body) == reference
    return body


# ---------------------------------------------------------------- login

def test_login_ok(api, users):
    r = api.post("/v1/auth/token", body={"username": "t-sales", "password": USER_PASSWORD})
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    tok = body["access_token"]
    header_b64, payload_b64, sig_b64 = tok.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    header = json.loads(base64.urlsafe_b64decode(pad(header_b64)))
    payload = json.loads(base64.urlsafe_b64decode(pad(payload_b64)))
    assert header["alg"] == "HS256"
    assert payload["iss"] == ISSUER and payload["aud"] == AUDIENCE
    assert payload["sub"] == users.ids["sales"]
    assert payload["role"] == "sales"
    now = time.time()
    assert abs(payload["exp"] - (now + 3600)) < 60
    assert payload["exp"] - payload["iat"] == 3600
    # The token is signed with the configured secret.
    expected = hmac.new(JWT_SECRET.encode(), f"{header_b64}.{payload_b64}".encode(), hashlib.sha256).digest()
    assert b64u(expected) == sig_b64
    me = api.get("/v1/me", tok)
    assert me.status_code == 200 and me.json()["username"] == "t-sales"
    assert "password" not in r.text


def test_login_tokens_are_distinct(api):
    a = api.login("admin", ADMIN_PASSWORD)
    b = api.login("admin", ADMIN_PASSWORD)
    assert a != b  # jti differs


def test_wrong_password_and_unknown_user_are_identical(api):
    r1 = api.post("/v1/auth/token", body={"username": "admin", "password": "wrong-password-123"})
    r2 = api.post("/v1/auth/token", body={"username": "no-such-user-" + uuid.uuid4().hex[:8],
                                          "password": "wrong-password-123"})
    b1, b2 = assert_401(r1), assert_401(r2)
    assert _strip(b1) == _strip(b2)
    assert b1["request_id"] != b2["request_id"]
    assert r1.headers["WWW-Authenticate"] == r2.headers["WWW-Authenticate"] == WWW_AUTH
    for b in (b1, b2):
        text = json.dumps(b).lower()
        assert "exist" not in text and "unknown user" not in text


def test_login_of_inactive_user_is_the_same_401(api, users):
    name = "t-auth-inactive-" + uuid.uuid4().hex[:6]
    r = api.post("/v1/users", users.admin, {"username": name, "display_name": "Inactive", "role": "office",
                                            "password": USER_PASSWORD})
    assert r.status_code == 201
    uid = r.json()["id"]
    assert api.delete(f"/v1/users/{uid}", users.admin).status_code == 204
    r_inactive = api.post("/v1/auth/token", body={"username": name, "password": USER_PASSWORD})
    r_wrong = api.post("/v1/auth/token", body={"username": "admin", "password": "wrong-password-123"})
    assert _strip(assert_401(r_inactive)) == _strip(assert_401(r_wrong))


def test_login_is_case_sensitive_on_password(api):
    r = api.post("/v1/auth/token", body={"username": "admin", "password": ADMIN_PASSWORD.upper()})
    assert_401(r)


@pytest.mark.parametrize("body,field", [
    ({"username": "admin"}, "password"),
    ({"password": "x"}, "username"),
    ({"username": "", "password": "x"}, "username"),
    ({"username": 5, "password": "x"}, "username"),
    ({"username": "admin", "password": None}, "password"),
    ({"username": "admin", "password": "x", "remember": True}, "remember"),
    ({"username": "u" * 65, "password": "x"}, "username"),
    ({"username": "admin", "password": "p" * 257}, "password"),
])
def test_login_validation(api, body, field):
    r = api.post("/v1/auth/token", body=body)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert field in {e["field"] for e in problem["errors"]}
    assert "WWW-Authenticate" not in r.headers


def test_login_with_nul_in_username_is_rejected(api):
    r = api.post("/v1/auth/token", body={"username": "ad\u0000min", "password": ADMIN_PASSWORD})
    assert r.status_code in (400, 422), r.text
    assert r.json()["status"] == r.status_code


def test_login_body_must_be_an_object(api):
    r = api.post("/v1/auth/token", body=["admin", "x"])
    assert r.status_code == 422


def test_login_is_audited(api, users, db):
    api.login("t-finance", USER_PASSWORD)
    n = db("SELECT count(*) FROM audit_log WHERE action = 'login' AND entity = 'user' "
           f"AND entity_id = '{users.ids['finance']}' AND actor_id = '{users.ids['finance']}'")
    assert int(n) >= 1


# ---------------------------------------------------------------- missing / malformed headers

@pytest.mark.parametrize("header", [
    None,
    "",
    "Bearer",
    "Bearer ",
    "Basic YWRtaW46YWRtaW4tcGFzc3dvcmQtZm9yLXRlc3Rz",
    "Token abc.def.ghi",
    "Bearer garbage",
    "Bearer a.b",
    "Bearer a.b.c.d",
    "Bearer ...",
    "Bearer eyJhbGciOiJIUzI1NiJ9.e30.",            # empty signature
    "Bearer eyJhbGciOiJIUzI1NiJ9..c2ln",           # empty payload
    "Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2ln=",       # padding is not base64url
    "Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2l+",        # '+' is not base64url
    "Bearer not base64 at all",
])
def test_missing_or_malformed_authorization_is_401(api, header):
    h = {} if header is None else {"Authorization": header}
    r = api.get("/v1/me", headers=h)
    assert_401(r)


def test_401_on_every_protected_operation(api):
    for method, path in (("GET", "/v1/me"), ("GET", "/v1/users"), ("POST", "/v1/users"),
                         ("GET", "/v1/audit"), ("GET", "/v1/customers"),
                         ("DELETE", f"/v1/users/{uuid.uuid4()}")):
        r = api.call(method, path, headers={"Content-Type": "application/json"},
                     data=b"{}" if method == "POST" else None)
        assert_401(r)


def test_bearer_scheme_is_case_insensitive(api, users):
    r = api.get("/v1/me", headers={"Authorization": f"bearer {users['sales']}"})
    assert r.status_code == 200


# ---------------------------------------------------------------- forged tokens

def test_forged_token_with_the_real_secret_is_accepted(api, sales_id):
    """Control for everything below: a token built here with the real secret works."""
    r = api.get("/v1/me", sign(HS256, claims(sales_id, "sales")))
    assert r.status_code == 200, r.text
    assert r.json()["id"] == sales_id


def test_alg_none(api, sales_id, reference_401):
    c = claims(sales_id, "sales")
    for header in ({"alg": "none", "typ": "JWT"}, {"alg": "None"}, {"alg": "NONE"}):
        assert_token_rejected(api, sign(header, c, digest=None), reference_401)
        # With a (valid HS256) signature attached anyway.
        assert_token_rejected(api, sign(header, c), reference_401)


@pytest.mark.parametrize("alg", ["HS512", "HS384", "RS256", "ES256", "hs256", "PS256"])
def test_other_alg_header_signed_with_the_secret(api, sales_id, reference_401, alg):
    c = claims(sales_id, "sales")
    header = {"alg": alg, "typ": "JWT"}
    # Signed correctly for HS256: the header's alg alone must make it fail.
    assert_token_rejected(api, sign(header, c), reference_401)
    # Signed with the algorithm the header names (where hmac can).
    digest = {"HS512": hashlib.sha512, "HS384": hashlib.sha384}.get(alg)
    if digest:
        assert_token_rejected(api, sign(header, c, digest=digest), reference_401)


def test_header_without_alg_or_with_crit(api, sales_id, reference_401):
    c = claims(sales_id, "sales")
    for header in ({"typ": "JWT"}, {"alg": "HS256", "crit": ["exp"]}, {"alg": "HS256", "typ": "JWE"},
                   {"alg": ["HS256"]}):
        assert_token_rejected(api, sign(header, c), reference_401)


def test_wrong_secret(api, sales_id, reference_401):
    c = claims(sales_id, "sales")
    for secret in ("x" * 52, JWT_SECRET[:-1], JWT_SECRET + "x", ""):
        assert_token_rejected(api, sign(HS256, c, secret=secret), reference_401)


def test_tampered_payload(api, sales_id, users, reference_401):
    good = sign(HS256, claims(sales_id, "sales"))
    h, _, s = good.split(".")
    other = b64u(json.dumps(claims(users.ids["admin"], "admin"), separators=(",", ":")))
    assert_token_rejected(api, f"{h}.{other}.{s}", reference_401)
    # Flip one bit of the signature.
    raw = bytearray(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
    raw[0] ^= 1
    assert_token_rejected(api, f"{h}.{good.split('.')[1]}.{b64u(bytes(raw))}", reference_401)
    # Truncated signature.
    assert_token_rejected(api, good[:-4], reference_401)


def test_a_verified_token_does_not_vouch_for_others_on_the_same_connection(api, sales_id, users, reference_401):
    """The server keeps the last verified token per worker thread, and a keep-alive connection stays
    on one thread: after a good token, a same-length forgery, another user's token and the good one
    again must each be judged on their own bytes."""
    good = sign(HS256, claims(sales_id, "sales"))
    r = api.get("/v1/me", good)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == sales_id
    h, p, s = good.split(".")
    raw = bytearray(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
    raw[-1] ^= 1
    forged = f"{h}.{p}.{b64u(bytes(raw))}"
    assert len(forged) == len(good)
    assert_token_rejected(api, forged, reference_401)
    other = sign(HS256, claims(users.ids["admin"], "admin"))
    r = api.get("/v1/me", other)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == users.ids["admin"]
    r = api.get("/v1/me", good)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == sales_id


def test_a_verified_token_expires_on_the_same_connection(api, sales_id, reference_401):
    """Accepted once (exp a little in the past, within the 30 s skew), then rejected on the same
    keep-alive connection as soon as the skew has run out."""
    exp = int(time.time()) - 27
    token = sign(HS256, claims(sales_id, "sales", iat=exp - 600, nbf=exp - 600, exp=exp))
    r = api.get("/v1/me", token)
    assert r.status_code == 200, r.text
    time.sleep(max(0.0, exp + 31.2 - time.time()))
    assert_token_rejected(api, token, reference_401)


def test_expired_token(api, sales_id, reference_401):
    now = int(time.time())
    token = sign(HS256, claims(sales_id, "sales", iat=now - 4000, nbf=now - 4000, exp=now - 120))
    assert_token_rejected(api, token, reference_401)


def test_exp_within_clock_skew_is_accepted(api, sales_id):
    now = int(time.time())
    token = sign(HS256, claims(sales_id, "sales", iat=now - 600, nbf=now - 600, exp=now - 10))
    r = api.get("/v1/me", token)
    assert r.status_code == 200, r.text


def test_nbf_within_clock_skew_is_accepted(api, sales_id):
    now = int(time.time())
    token = sign(HS256, claims(sales_id, "sales", iat=now + 10, nbf=now + 10))
    assert api.get("/v1/me", token).status_code == 200


def test_missing_exp(api, sales_id, reference_401):
    assert_token_rejected(api, sign(HS256, claims(sales_id, "sales", exp=_OMIT)), reference_401)


@pytest.mark.parametrize("exp", ["EXP_AS_STRING", None, True, [1], {"t": 1}, "NaN"])
def test_exp_of_the_wrong_type(api, sales_id, reference_401, exp):
    if exp == "EXP_AS_STRING":
        exp = str(int(time.time()) + 600)
    assert_token_rejected(api, sign(HS256, claims(sales_id, "sales", exp=exp)), reference_401)


def test_nbf_in_the_future(api, sales_id, reference_401):
    now = int(time.time())
    assert_token_rejected(api, sign(HS256, claims(sales_id, "sales", nbf=now + 300)), reference_401)


def test_iat_in_the_future(api, sales_id, reference_401):
    now = int(time.time())
    assert_token_rejected(api, sign(HS256, claims(sales_id, "sales", iat=now + 300)), reference_401)


@pytest.mark.parametrize("iss", ["crm-service2", "CRM-SERVICE", "", None, ["crm-service"], _OMIT])
def test_wrong_issuer(api, sales_id, reference_401, iss):
    assert_token_rejected(api, sign(HS256, claims(sales_id, "sales", iss=iss)), reference_401)


@pytest.mark.parametrize("aud", ["crm-api2", "CRM-API", "", None, [], ["other"], ["crm-api-x", "x"], _OMIT])
def test_wrong_audience(api, sales_id, reference_401, aud):
    assert_token_rejected(api, sign(HS256, claims(sales_id, "sales", aud=aud)), reference_401)


def test_audience_array_containing_crm_api_is_accepted(api, sales_id):
    for aud in (["crm-api"], ["other-api", "crm-api"], ["crm-api", "reports"]):
        r = api.get("/v1/me", sign(HS256, claims(sales_id, "sales", aud=aud)))
        assert r.status_code == 200, (aud, r.text)


def test_sub_of_unknown_user(api, reference_401):
    assert_token_rejected(api, sign(HS256, claims(str(uuid.uuid4()), "sales")), reference_401)


@pytest.mark.parametrize("sub", ["not-a-uuid", "", 12345, None, _OMIT, "x" * 65])
def test_bad_sub(api, reference_401, sub):
    assert_token_rejected(api, sign(HS256, claims(sub, "sales")), reference_401)


def test_role_claim_different_from_users_role(api, users, reference_401):
    # A sales user's token claiming admin, signed with the real secret.
    token = sign(HS256, claims(users.ids["sales"], "admin"))
    assert_token_rejected(api, token, reference_401)
    r = api.get("/v1/users", token)
    assert_401(r)
    # And the reverse: the admin's id with a lesser role.
    assert_token_rejected(api, sign(HS256, claims(users.ids["admin"], "office")), reference_401)


@pytest.mark.parametrize("role", ["superuser", "", "ADMIN", None, ["sales"], _OMIT])
def test_bad_role_claim(api, sales_id, reference_401, role):
    assert_token_rejected(api, sign(HS256, claims(sales_id, role)), reference_401)


def test_duplicate_role_keys(api, users, reference_401):
    now = int(time.time())
    sid = users.ids["sales"]
    for first, second in (("sales", "admin"), ("admin", "sales"), ("sales", "sales")):
        payload = (f'{{"iss":"{ISSUER}","aud":"{AUDIENCE}","sub":"{sid}","role":"{first}",'
                   f'"exp":{now + 600},"role":"{second}"}}').encode()
        assert_token_rejected(api, sign(HS256, payload), reference_401)


def test_duplicate_keys_in_header(api, sales_id, reference_401):
    header = b'{"alg":"none","alg":"HS256","typ":"JWT"}'
    assert_token_rejected(api, sign(header, claims(sales_id, "sales")), reference_401)


def test_payload_not_an_object(api, reference_401):
    for payload in (b"[]", b'"crm"', b"123", b"null", b"{", b"\xff\xfe", b""):
        assert_token_rejected(api, sign(HS256, payload), reference_401)


def _nested_payload(sid, depth):
    now = int(time.time())
    return (f'{{"iss":"{ISSUER}","aud":"{AUDIENCE}","sub":"{sid}","role":"sales","exp":{now + 600},'
            f'"x":').encode() + b"[" * depth + b"]" * depth + b"}"


def test_deeply_nested_payload_5000_levels(api, sales_id, reference_401):
    token = sign(HS256, _nested_payload(sales_id, 5000))
    assert_token_rejected(api, token, reference_401)
    r = api.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_nested_payload_below_the_size_limit(api, sales_id, reference_401):
    # Deep enough to hurt a recursive parser, small enough to pass the token size check.
    for depth in (20, 1000):
        token = sign(HS256, _nested_payload(sales_id, depth))
        assert len(token) < 4096
        assert_token_rejected(api, token, reference_401)
    objects = b'{"a":' * 500 + b"1" + b"}" * 500
    now = int(time.time())
    payload = (f'{{"iss":"{ISSUER}","aud":"{AUDIENCE}","sub":"{sales_id}","role":"sales","exp":{now + 600},'
               f'"x":').encode() + objects + b"}"
    assert_token_rejected(api, sign(HS256, payload), reference_401)
    assert api.get("/healthz").status_code == 200


def test_modest_nesting_in_extra_claims_is_accepted(api, sales_id):
    token = sign(HS256, claims(sales_id, "sales", ext={"a": {"b": [1, 2]}}))
    assert api.get("/v1/me", token).status_code == 200


def test_10kb_token(api, sales_id, reference_401):
    token = sign(HS256, claims(sales_id, "sales", pad="p" * 10 * 1024))
    assert len(token) > 10 * 1024
    assert_token_rejected(api, token, reference_401)
    garbage = "a" * 5000 + "." + "b" * 5000 + "." + "c" * 500
    assert_token_rejected(api, garbage, reference_401)
    assert api.get("/healthz").status_code == 200


# ---------------------------------------------------------------- revocation by user changes

def _new_user(api, users, role="office"):
    name = "t-auth-" + uuid.uuid4().hex[:10]
    r = api.post("/v1/users", users.admin, {"username": name, "display_name": "认证 测试", "role": role,
                                            "password": USER_PASSWORD})
    assert r.status_code == 201, r.text
    return r.json()["id"], name


def test_deactivation_revokes_existing_token_at_once(api, users, reference_401):
    uid, name = _new_user(api, users)
    token = api.login(name, USER_PASSWORD)
    assert api.get("/v1/me", token).status_code == 200   # warms any role cache
    assert api.delete(f"/v1/users/{uid}", users.admin).status_code == 204
    assert_token_rejected(api, token, reference_401)
    assert_401(api.post("/v1/auth/token", body={"username": name, "password": USER_PASSWORD}))
    # A token forged for the deactivated user fails too.
    assert_token_rejected(api, sign(HS256, claims(uid, "office")), reference_401)


def test_role_change_revokes_old_token(api, users, reference_401):
    uid, name = _new_user(api, users, role="office")
    old = api.login(name, USER_PASSWORD)
    assert api.get("/v1/audit?limit=1", old).status_code == 200
    r = api.patch(f"/v1/users/{uid}", users.admin, {"role": "finance"})
    assert r.status_code == 200 and r.json()["role"] == "finance"
    assert_token_rejected(api, old, reference_401)
    new = api.login(name, USER_PASSWORD)
    me = api.get("/v1/me", new)
    assert me.status_code == 200 and me.json()["role"] == "finance"
    assert api.get("/v1/audit?limit=1", new).status_code == 403


def test_reactivation_restores_access(api, users):
    uid, name = _new_user(api, users, role="erp")
    token = api.login(name, USER_PASSWORD)
    assert api.delete(f"/v1/users/{uid}", users.admin).status_code == 204
    assert_401(api.get("/v1/me", token))
    r = api.patch(f"/v1/users/{uid}", users.admin, {"active": True})
    assert r.status_code == 200 and r.json()["active"] is True
    assert api.get("/v1/me", token).status_code == 200
