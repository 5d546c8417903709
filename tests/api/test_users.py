"""Users (admin only) and /v1/me."""

import re
import uuid

import pytest

from conftest import ADMIN_PASSWORD, USER_PASSWORD

NON_ADMIN = ["sales", "manager", "finance", "office", "erp"]
ROLE_OF = {"admin": "admin", "sales": "sales", "sales2": "sales", "manager": "sales_manager",
           "finance": "finance", "office": "office", "erp": "erp"}


def uname(prefix="t-u"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create(api, users, **over):
    body = {"username": uname(), "display_name": "用户 测试", "role": "office", "password": USER_PASSWORD}
    body.update(over)
    r = api.post("/v1/users", users.admin, body)
    assert r.status_code == 201, r.text
    return r.json()


def no_secret(text):
    low = text.lower()
    assert "password" not in low
    assert "pbkdf2" not in low
    assert USER_PASSWORD not in text


def field_errors(r):
    return {e["field"]: e["message"] for e in r.json().get("errors", [])}


# ---------------------------------------------------------------- access control

@pytest.mark.parametrize("who", NON_ADMIN)
def test_non_admins_get_403_on_every_users_operation(api, users, who):
    tok = users[who]
    target = users.ids["sales2"]
    calls = [
        api.get("/v1/users", tok),
        api.post("/v1/users", tok, {"username": uname(), "display_name": "x", "role": "sales",
                                    "password": USER_PASSWORD}),
        api.get(f"/v1/users/{target}", tok),
        api.patch(f"/v1/users/{target}", tok, {"display_name": "hacked"}),
        api.delete(f"/v1/users/{target}", tok),
    ]
    for r in calls:
        assert r.status_code == 403, r.text
        body = r.json()
        assert body["type"].endswith("/forbidden")
        assert body["request_id"] == r.headers["X-Request-Id"]
        assert "WWW-Authenticate" not in r.headers
    # Nothing changed.
    assert api.get(f"/v1/users/{target}", users.admin).json()["display_name"] == "测试 sales2"


@pytest.mark.parametrize("who", ["admin", "sales", "sales2", "manager", "finance", "office", "erp"])
def test_me_for_each_role(api, users, who):
    r = api.get("/v1/me", users[who])
    assert r.status_code == 200
    me = r.json()
    assert me["id"] == users.ids[who]
    assert me["role"] == ROLE_OF[who]
    assert me["active"] is True
    assert me["username"] == ("admin" if who == "admin" else f"t-{who}")
    no_secret(r.text)


# ---------------------------------------------------------------- create

def test_create_user(api, users, db):
    name = uname()
    r = api.post("/v1/users", users.admin, {"username": name, "display_name": "王小明",
                                            "role": "finance", "password": USER_PASSWORD})
    assert r.status_code == 201
    u = r.json()
    assert u["username"] == name
    assert u["display_name"] == "王小明"
    assert u["role"] == "finance"
    assert u["active"] is True
    assert u["version"] == 1
    assert re.fullmatch(r"[0-9a-f-]{36}", u["id"])
    assert r.headers["Location"] == f"/v1/users/{u['id']}"
    assert r.headers.get("ETag", 'W/"1"') == 'W/"1"'
    assert set(u) == {"id", "username", "display_name", "role", "active", "created_at", "updated_at", "version"}
    no_secret(r.text)
    # Stored hashed, never in clear.
    stored = db(f"SELECT password_hash FROM users WHERE id = '{u['id']}'")
    assert stored and USER_PASSWORD not in stored
    assert stored.startswith("pbkdf2-sha256$")
    # The new user can log in.
    tok = api.login(name, USER_PASSWORD)
    assert api.get("/v1/me", tok).json()["id"] == u["id"]
    # And the record reads back the same.
    g = api.get(r.headers["Location"], users.admin)
    assert g.status_code == 200 and g.json() == u


def test_create_inactive_user(api, users):
    u = create(api, users, active=False)
    assert u["active"] is False
    r = api.post("/v1/auth/token", body={"username": u["username"], "password": USER_PASSWORD})
    assert r.status_code == 401


def test_create_is_audited_without_hash(api, users, db):
    u = create(api, users)
    row = db(f"SELECT action || '|' || coalesce(after::text, '') FROM audit_log "
             f"WHERE entity = 'user' AND entity_id = '{u['id']}' AND action = 'create'")
    assert row.startswith("create|")
    no_secret(row.split("|", 1)[1])


def test_duplicate_username_is_409(api, users):
    u = create(api, users)
    r = api.post("/v1/users", users.admin, {"username": u["username"], "display_name": "other",
                                            "role": "sales", "password": USER_PASSWORD})
    assert r.status_code == 409
    body = r.json()
    assert body["type"].endswith("/conflict")
    assert "username" in body["detail"] or "username" in field_errors(r)
    assert "username" in field_errors(r)
    # Also for the built-in admin.
    r = api.post("/v1/users", users.admin, {"username": "admin", "display_name": "x", "role": "admin",
                                            "password": USER_PASSWORD})
    assert r.status_code == 409 and "username" in field_errors(r)


@pytest.mark.parametrize("over,field", [
    ({"username": "Ab-upper"}, "username"),
    ({"username": "bad name"}, "username"),
    ({"username": "bad/name"}, "username"),
    ({"username": "名字名字"}, "username"),
    ({"username": "ab"}, "username"),
    ({"username": "-leading"}, "username"),
    ({"username": "u" * 65}, "username"),
    ({"username": ""}, "username"),
    ({"username": 42}, "username"),
    ({"password": "short-11chr"}, "password"),
    ({"password": ""}, "password"),
    ({"password": "p" * 257}, "password"),
    ({"role": "king"}, "role"),
    ({"role": "Admin"}, "role"),
    ({"role": None}, "role"),
    ({"display_name": ""}, "display_name"),
    ({"display_name": "名" * 101}, "display_name"),
    ({"active": "yes"}, "active"),
    ({"nickname": "x"}, "nickname"),
    ({"password_hash": "pbkdf2-sha256$1$x$y"}, "password_hash"),
    ({"id": "4c4a4f7e-0000-4000-8000-000000000000"}, "id"),
    ({"version": 3}, "version"),
    ({"created_at": "2020-01-01T00:00:00Z"}, "created_at"),
])
def test_create_validation(api, users, over, field):
    body = {"username": uname(), "display_name": "x", "role": "office", "password": USER_PASSWORD}
    body.update(over)
    r = api.post("/v1/users", users.admin, body)
    assert r.status_code == 422, r.text
    p = r.json()
    assert p["type"].endswith("/validation")
    assert field in field_errors(r), p
    # Nothing was created.
    if isinstance(body["username"], str) and body["username"]:
        lst = api.get(f"/v1/users?q={body['username'][:60]}", users.admin)
        if lst.status_code == 200:
            assert all(u["username"] != body["username"] for u in lst.json()["items"])


@pytest.mark.parametrize("missing", ["username", "display_name", "role", "password"])
def test_create_missing_field(api, users, missing):
    body = {"username": uname(), "display_name": "x", "role": "office", "password": USER_PASSWORD}
    del body[missing]
    r = api.post("/v1/users", users.admin, body)
    assert r.status_code == 422
    assert missing in field_errors(r)


def test_create_reports_several_errors(api, users):
    r = api.post("/v1/users", users.admin, {"username": "A", "display_name": "x", "role": "king",
                                            "password": "short"})
    assert r.status_code == 422
    assert {"username", "role", "password"} <= set(field_errors(r))
    assert r.json()["detail"].startswith("3 ")


def test_create_password_of_exactly_12_chars(api, users):
    u = create(api, users, password="123456789012")
    assert api.login(u["username"], "123456789012")


# ---------------------------------------------------------------- read, ETag

def test_get_user_etag_and_304(api, users):
    u = create(api, users)
    r = api.get(f"/v1/users/{u['id']}", users.admin)
    assert r.status_code == 200
    assert r.headers["ETag"] == f'W/"{u["version"]}"'
    no_secret(r.text)
    r2 = api.get(f"/v1/users/{u['id']}", users.admin, headers={"If-None-Match": r.headers["ETag"]})
    assert r2.status_code == 304
    assert r2.content == b""
    assert r2.headers["ETag"] == r.headers["ETag"]
    r3 = api.get(f"/v1/users/{u['id']}", users.admin, headers={"If-None-Match": 'W/"999"'})
    assert r3.status_code == 200
    r4 = api.get(f"/v1/users/{u['id']}", users.admin, headers={"If-None-Match": '"7", W/"1"'})
    assert r4.status_code == 304


def test_get_unknown_user_is_404(api, users):
    for uid in (str(uuid.uuid4()), "not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        r = api.get(f"/v1/users/{uid}", users.admin)
        assert r.status_code == 404
        assert r.json()["type"].endswith("/not-found")


# ---------------------------------------------------------------- update

def test_patch_with_if_match(api, users):
    u = create(api, users)
    path = f"/v1/users/{u['id']}"
    r = api.patch(path, users.admin, {"display_name": "新名字"}, headers={"If-Match": 'W/"1"'})
    assert r.status_code == 200
    v2 = r.json()
    assert v2["display_name"] == "新名字" and v2["version"] == 2
    assert r.headers.get("ETag", 'W/"2"') == 'W/"2"'
    assert v2["updated_at"] >= u["updated_at"]
    # Stale If-Match: 412 and nothing changes.
    r = api.patch(path, users.admin, {"display_name": "stale write"}, headers={"If-Match": 'W/"1"'})
    assert r.status_code == 412
    assert r.json()["type"].endswith("/precondition-failed")
    cur = api.get(path, users.admin).json()
    assert cur["display_name"] == "新名字" and cur["version"] == 2
    # Strong form accepted too.
    r = api.patch(path, users.admin, {"display_name": "third"}, headers={"If-Match": '"2"'})
    assert r.status_code == 200 and r.json()["version"] == 3


def test_patch_with_merge_patch_content_type(api, users):
    u = create(api, users)
    r = api.patch(f"/v1/users/{u['id']}", users.admin, {"display_name": "merge"},
                  headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200 and r.json()["display_name"] == "merge"


def test_patch_bad_if_match_is_400(api, users):
    u = create(api, users)
    r = api.patch(f"/v1/users/{u['id']}", users.admin, {"display_name": "x"}, headers={"If-Match": "garbage"})
    assert r.status_code == 400


@pytest.mark.parametrize("body,field", [
    ({"username": "renamed"}, "username"),
    ({"id": "4c4a4f7e-0000-4000-8000-000000000000"}, "id"),
    ({"version": 9}, "version"),
    ({"role": "king"}, "role"),
    ({"role": None}, "role"),
    ({"display_name": None}, "display_name"),
    ({"active": None}, "active"),
    ({"password": "too-short"}, "password"),
    ({"unknown": 1}, "unknown"),
])
def test_patch_validation(api, users, body, field):
    u = create(api, users)
    r = api.patch(f"/v1/users/{u['id']}", users.admin, body)
    assert r.status_code == 422, r.text
    assert field in field_errors(r)
    assert api.get(f"/v1/users/{u['id']}", users.admin).json()["version"] == 1


def test_patch_password_changes_login(api, users):
    u = create(api, users)
    new_pw = "a-brand-new-password-2026"
    r = api.patch(f"/v1/users/{u['id']}", users.admin, {"password": new_pw})
    assert r.status_code == 200
    no_secret(r.text)
    assert new_pw not in r.text
    assert api.post("/v1/auth/token", body={"username": u["username"], "password": USER_PASSWORD}).status_code == 401
    assert api.login(u["username"], new_pw)


def test_patch_unknown_user_is_404(api, users):
    r = api.patch(f"/v1/users/{uuid.uuid4()}", users.admin, {"display_name": "x"})
    assert r.status_code == 404


def test_empty_patch_changes_nothing(api, users):
    u = create(api, users)
    r = api.patch(f"/v1/users/{u['id']}", users.admin, {})
    assert r.status_code == 200
    assert r.json()["version"] == 1


# ---------------------------------------------------------------- list

def test_list_filters_and_pagination(api, users):
    tag = uuid.uuid4().hex[:8]
    made = []
    for i, role in enumerate(["sales", "sales", "finance", "erp", "sales"]):
        made.append(create(api, users, username=f"t-list-{tag}-{i}", display_name=f"列表 {tag} {i}", role=role))
    assert api.delete(f"/v1/users/{made[1]['id']}", users.admin).status_code == 204

    def all_pages(query, limit):
        seen, cursor, pages = [], None, 0
        while True:
            q = f"/v1/users?{query}&limit={limit}" + (f"&cursor={cursor}" if cursor else "")
            r = api.get(q, users.admin)
            assert r.status_code == 200, r.text
            body = r.json()
            assert len(body["items"]) <= limit
            seen += body["items"]
            pages += 1
            cursor = body["next_cursor"]
            if cursor is None:
                return seen, pages

    items, pages = all_pages(f"q={tag}", 2)
    assert [u["username"] for u in items] == [f"t-list-{tag}-{i}" for i in range(5)]   # sorted by username
    assert pages == 3
    no_secret(str(items))

    items, _ = all_pages(f"q={tag}&role=sales", 1)
    assert [u["username"] for u in items] == [f"t-list-{tag}-{i}" for i in (0, 1, 4)]
    assert all(u["role"] == "sales" for u in items)

    items, _ = all_pages(f"q={tag}&role=sales&active=true", 50)
    assert [u["username"] for u in items] == [f"t-list-{tag}-{i}" for i in (0, 4)]

    items, _ = all_pages(f"q={tag}&active=false", 50)
    assert [u["username"] for u in items] == [f"t-list-{tag}-1"]
    assert items[0]["active"] is False

    # q matches the display name too, case-insensitively.
    items, _ = all_pages(f"q={tag.upper()}", 50)
    assert len(items) == 5
    items, _ = all_pages("q=" + f"列表 {tag} 3".replace(" ", "%20"), 50)
    assert [u["username"] for u in items] == [f"t-list-{tag}-3"]


def test_list_default_page(api, users):
    r = api.get("/v1/users", users.admin)
    assert r.status_code == 200
    body = r.json()
    names = [u["username"] for u in body["items"]]
    assert names == sorted(names)
    assert len(names) <= 50
    assert "admin" in names or body["next_cursor"]


def test_list_q_wildcards_are_literal(api, users):
    r = api.get("/v1/users?q=%25", users.admin)
    assert r.status_code == 200
    assert r.json()["items"] == []
    r = api.get("/v1/users?q=_", users.admin)
    assert r.status_code == 200
    assert all("_" in u["username"] or "_" in u["display_name"] for u in r.json()["items"])


@pytest.mark.parametrize("qs", ["role=king", "active=yes", "limit=0", "limit=201", "cursor=bogus", "sort=username",
                                "q=", "q=" + "x" * 101])
def test_list_bad_query_is_400(api, users, qs):
    r = api.get(f"/v1/users?{qs}", users.admin)
    assert r.status_code == 400, r.text


def test_cursor_of_another_list_is_400(api, users):
    r = api.get("/v1/audit?limit=1", users.admin)
    cursor = r.json()["next_cursor"]
    assert cursor
    assert api.get(f"/v1/users?cursor={cursor}", users.admin).status_code == 400


# ---------------------------------------------------------------- deactivate

def test_deactivate_user(api, users, db):
    u = create(api, users, role="sales")
    tok = api.login(u["username"], USER_PASSWORD)
    r = api.delete(f"/v1/users/{u['id']}", users.admin)
    assert r.status_code == 204
    assert r.content == b""
    g = api.get(f"/v1/users/{u['id']}", users.admin).json()
    assert g["active"] is False and g["version"] == 2
    # Login fails with the generic 401.
    r = api.post("/v1/auth/token", body={"username": u["username"], "password": USER_PASSWORD})
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    # The old token stops working at once.
    assert api.get("/v1/me", tok).status_code == 401
    # Deactivating again is harmless; the record is never deleted.
    assert api.delete(f"/v1/users/{u['id']}", users.admin).status_code == 204
    assert db(f"SELECT count(*) FROM users WHERE id = '{u['id']}'") == "1"
    assert db(f"SELECT count(*) FROM audit_log WHERE entity = 'user' AND entity_id = '{u['id']}' "
              "AND action = 'deactivate'") == "1"


def test_deactivate_unknown_user_is_404(api, users):
    assert api.delete(f"/v1/users/{uuid.uuid4()}", users.admin).status_code == 404
    assert api.delete("/v1/users/nope", users.admin).status_code == 404


def _active_admins(api, users):
    r = api.get("/v1/users?role=admin&active=true&limit=200", users.admin)
    assert r.status_code == 200
    return [u["id"] for u in r.json()["items"]]


def test_last_active_admin_cannot_be_removed(api, users):
    admin_id = users.ids["admin"]
    extra = [i for i in _active_admins(api, users) if i != admin_id]
    for i in extra:   # leave "admin" as the only active admin for this test
        assert api.delete(f"/v1/users/{i}", users.admin).status_code == 204
    assert _active_admins(api, users) == [admin_id]
    for call in (lambda: api.delete(f"/v1/users/{admin_id}", users.admin),
                 lambda: api.patch(f"/v1/users/{admin_id}", users.admin, {"role": "office"}),
                 lambda: api.patch(f"/v1/users/{admin_id}", users.admin, {"active": False}),
                 lambda: api.patch(f"/v1/users/{admin_id}", users.admin, {"role": "admin", "active": False})):
        r = call()
        assert r.status_code == 409, r.text
        p = r.json()
        assert p["type"].endswith("/conflict")
        assert "admin" in p["detail"]
    me = api.get("/v1/me", users.admin).json()
    assert me["role"] == "admin" and me["active"] is True
    # Harmless changes to the last admin still work.
    assert api.patch(f"/v1/users/{admin_id}", users.admin, {"role": "admin"}).status_code == 200
    assert api.login("admin", ADMIN_PASSWORD)


def test_admin_can_be_removed_when_another_admin_exists(api, users):
    a2 = create(api, users, role="admin")
    a2_tok = api.login(a2["username"], USER_PASSWORD)
    # With two active admins either may lose the role; the demoted one's token dies at once.
    r = api.patch(f"/v1/users/{a2['id']}", users.admin, {"role": "office"})
    assert r.status_code == 200 and r.json()["role"] == "office"
    assert api.get("/v1/users", a2_tok).status_code == 401    # old admin token is dead
    a3 = create(api, users, role="admin")
    a3_tok = api.login(a3["username"], USER_PASSWORD)
    assert api.get("/v1/users?limit=1", a3_tok).status_code == 200
    assert api.delete(f"/v1/users/{a3['id']}", users.admin).status_code == 204
    assert api.get("/v1/users?limit=1", a3_tok).status_code == 401
    assert _active_admins(api, users) == [users.ids["admin"]]
