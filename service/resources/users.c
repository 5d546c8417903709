/* Users and password login. Same layout as customers.c: field specs, SQL,
 * helpers, handlers (me, list, get, create, update, deactivate), the token
 * endpoint and the start-up admin. The password hash never leaves the
 * database: USER_FIELDS leaves it out, and audit snapshots are
 * to_jsonb(u) - 'password_hash' (USER_SNAPSHOT). */
#include "resources/users.h"

#include <civetweb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/jwt.h"
#include "auth/password.h"
#include "auth/ratelimit.h"
#include "config.h"
#include "db/db.h"
#include "http/problem.h"
#include "http/response.h"
#include "log.h"
#include "resources/audit.h"
#include "resources/listing.h"
#include "resources/record.h"
#include "resources/render.h"
#include "validate/validate.h"

/* ---- field specs ---- */

static const char *const ROLES[] = {"sales", "sales_manager", "finance", "office", "admin", "erp", NULL};

#define W_ADMIN ROLE_ADMIN

static const struct field_spec user_create_fields[] = {
    {"username", "username", FT_USERNAME, 64, NULL, W_ADMIN, FF_REQUIRED},
    {"display_name", "display_name", FT_TEXT, 100, NULL, W_ADMIN, FF_REQUIRED},
    {"role", "role", FT_ENUM, 0, ROLES, W_ADMIN, FF_REQUIRED},
    {"password", "password_hash", FT_PASSWORD, 256, NULL, W_ADMIN, FF_REQUIRED},
    {"active", "active", FT_BOOL, 0, NULL, W_ADMIN, FF_NOT_NULL},
    {NULL, NULL, FT_TEXT, 0, NULL, 0, 0},
};

/* Merge patch: null is accepted for no member. */
static const struct field_spec user_patch_fields[] = {
    {"display_name", "display_name", FT_TEXT, 100, NULL, W_ADMIN, FF_NOT_NULL},
    {"role", "role", FT_ENUM, 0, ROLES, W_ADMIN, FF_NOT_NULL},
    {"active", "active", FT_BOOL, 0, NULL, W_ADMIN, FF_NOT_NULL},
    {"password", "password_hash", FT_PASSWORD, 256, NULL, W_ADMIN, FF_NOT_NULL},
    {NULL, NULL, FT_TEXT, 0, NULL, 0, 0},
};

static const char *const user_create_read_only[] = {"id", "created_at", "updated_at", "version", NULL};
static const char *const user_patch_read_only[] = {"id", "username", "created_at", "updated_at", "version", NULL};

/* ---- SQL ---- */

/* The user document: key, SQL expression (alias u), rendering. The select
 * list and the renderer both come from this one list; never the password
 * hash. id stays first, version last (its column feeds the ETag). */
#define USER_FIELDS(X)                                                                                        \
    X("id", "u.id", RK_STRING)                                                                                \
    X("username", "u.username", RK_STRING)                                                                    \
    X("display_name", "u.display_name", RK_STRING)                                                            \
    X("role", "u.role", RK_STRING)                                                                            \
    X("active", "u.active", RK_BOOL)                                                                          \
    X("created_at", "u.created_at", RK_TIMESTAMP)                                                             \
    X("updated_at", "u.updated_at", RK_TIMESTAMP)                                                             \
    X("version", "u.version", RK_RAW)

static const struct render_col user_render[] = {USER_FIELDS(RENDER_COL)};
#define USER_NCOLS ((int)ARRAY_LEN(user_render))
#define USER_ID_COL 0
#define USER_VERSION_COL (USER_NCOLS - 1)
/* The select list: every field, then whatever the query adds after it. */
#define USER_SELECT USER_FIELDS(RENDER_SQL)
/* The audit snapshot of the row: everything but the password hash. */
#define USER_SNAPSHOT "to_jsonb(u) - 'password_hash'"

/* $1 id */
#define SQL_USER_GET "SELECT " USER_SELECT "1 FROM users u WHERE u.id = $1::uuid"
/* After the fields: role, active, row snapshot */
enum { LOCK_ROLE = USER_NCOLS, LOCK_ACTIVE, LOCK_ROW };
#define SQL_USER_LOCK                                                                                         \
    "SELECT " USER_SELECT "u.role, u.active, " USER_SNAPSHOT " FROM users u WHERE u.id = $1::uuid FOR UPDATE"
/* Every active admin, locked (always in id order, before any other user
 * row) so two changes cannot each remove "the other" last admin. */
#define SQL_USER_LOCK_ADMINS "SELECT id FROM users WHERE role = 'admin' AND active ORDER BY id FOR UPDATE"
/* $1 username, $2 display_name, $3 role, $4 active (NULL = true), $5 password hash.
 * The fields, then the row snapshot. */
#define SQL_USER_INSERT                                                                                       \
    "INSERT INTO users AS u (username, display_name, role, active, password_hash) "                          \
    "VALUES ($1::text, $2::text, $3::text, coalesce($4::boolean, true), $5::text) "                          \
    "RETURNING " USER_SELECT USER_SNAPSHOT
/* $1 id. Column 0 the row snapshot */
#define SQL_USER_DEACTIVATE                                                                                   \
    "UPDATE users u SET active = false, updated_at = now(), version = u.version + 1 WHERE u.id = $1::uuid "  \
    "RETURNING " USER_SNAPSHOT
/* $1 username. Columns 0 id, 1 role, 2 active, 3 password_hash */
#define SQL_USER_LOGIN "SELECT id::text, role, active, password_hash FROM users WHERE username = $1::text"

/* $1 password hash. Columns 0 id, 1 inserted */
#define SQL_ENSURE_ADMIN                                                                                      \
    "WITH up AS (INSERT INTO users AS u (username, display_name, role, active, password_hash) "              \
    "SELECT 'admin', 'Administrator', 'admin', true, $1::text "                                               \
    "WHERE NOT EXISTS (SELECT 1 FROM users WHERE role = 'admin' AND active) "                                 \
    "ON CONFLICT (username) DO UPDATE SET role = 'admin', active = true, password_hash = EXCLUDED.password_hash, " \
    "updated_at = now(), version = u.version + 1 "                                                            \
    "RETURNING u.id, " USER_SNAPSHOT " AS snapshot, (u.xmax = 0) AS inserted), "                             \
    "aud AS (INSERT INTO audit_log (action, entity, entity_id, after) "                                       \
    "SELECT CASE WHEN inserted THEN 'create' ELSE 'update' END, 'user', id::text, snapshot FROM up) "        \
    "SELECT id::text, inserted FROM up"

/* ---- helpers ---- */

/* Replies with the user document in row 0 of res (the fields first) and its ETag. */
static int reply_user(struct request *r, int status, const PGresult *res)
{
    return record_reply(r, status, res, user_render, USER_NCOLS);
}

/* Locks the user the path names for the transaction; with n_admins, first
 * locks every active admin and sets *n_admins to their number. NULL after
 * answering (404 / 503). */
static PGresult *user_lock(struct request *r, int *n_admins)
{
    const char *id = request_param(r, 0);
    if (!uuid_valid(id)) {
        problem_send(r, 404, NULL);
        return NULL;
    }
    if (n_admins) {
        PGresult *admins = db_exec(r, "user_lock_admins", SQL_USER_LOCK_ADMINS, 0, NULL);
        if (!admins)
            return NULL;
        *n_admins = PQntuples(admins);
        PQclear(admins);
    }
    const char *params[] = {id};
    return record_fetch(r, id, "user_lock", SQL_USER_LOCK, 1, params);
}

/* ---- handlers ---- */

int users_me(struct request *r)
{
    const char *params[] = {r->principal.user_id};
    PGresult *res = db_exec(r, "user_get", SQL_USER_GET, 1, params);
    if (!res)
        return r->status;
    if (PQntuples(res) == 0) {
        problem_send(r, 404, NULL);
    } else { /* without an ETag, unlike GET /v1/users/{id} */
        struct sbuf doc = {0};
        render_row(&doc, res, 0, 0, user_render, USER_NCOLS);
        reply_json_buf(r, 200, &doc);
    }
    PQclear(res);
    return r->status;
}

int users_list(struct request *r)
{
    struct sqlb b = {0};
    struct list_page page = {0};
    char *pattern = NULL;
    PGresult *res = NULL;
    char name[48];
    unsigned mask = 0;

    const char *role = request_query(r, "role");
    if (role && !role_parse(role)) {
        problem_send(r, 400, "role must be one of sales, sales_manager, finance, office, admin, erp");
        goto out;
    }
    bool active = false;
    if (request_query(r, "active") && query_bool(r, "active", true, &active) != 0)
        goto out;
    if (list_page_init_sorted(r, &page, "users", "username", 1) != 0)
        goto out;

    sbuf_puts(&b.sql, "SELECT " USER_SELECT "u.username FROM users u WHERE true");
    if (role) {
        sbuf_printf(&b.sql, " AND u.role = $%d::text", sqlb_bind(&b, role));
        mask |= 1u << 0;
    }
    if (request_query(r, "active")) {
        sbuf_printf(&b.sql, " AND u.active = $%d::boolean", sqlb_bind(&b, active ? "true" : "false"));
        mask |= 1u << 1;
    }
    if (list_search_apply(r, "(lower(u.username) LIKE lower($%d::text) OR lower(u.display_name) LIKE lower($%d::text))",
                          &b, &pattern, &mask, 2) != 0)
        goto out;
    if (page.cursor_id) {
        sbuf_printf(&b.sql, " AND u.username > $%d::text", sqlb_bind(&b, page.keys[0]));
        mask |= 1u << 3;
    }
    sbuf_printf(&b.sql, " ORDER BY u.username LIMIT $%d::integer", sqlb_bind(&b, page.limit_plus_one));
    snprintf(name, sizeof name, "user_list_%x", mask);
    res = db_exec(r, name, b.sql.data, b.n, b.params);
    if (!res)
        goto out;
    list_page_reply_rendered(r, &page, res, user_render, USER_NCOLS, 1);
out:
    PQclear(res);
    list_page_free(&page);
    free(pattern);
    sbuf_free(&b.sql);
    return r->status;
}

int users_get(struct request *r)
{
    const char *id = request_param(r, 0);
    const char *params[] = {id};
    PGresult *res = record_fetch(r, id, "user_get", SQL_USER_GET, 1, params);
    if (res)
        record_reply_get(r, res, user_render, USER_NCOLS);
    PQclear(res);
    return r->status;
}

int users_create(struct request *r)
{
    struct field_values fv = {0};
    struct verrs v = {0};
    PGresult *res = NULL;
    char *hash = NULL;
    fields_collect(r->json, user_create_fields, user_create_read_only, r->principal.role, true, &fv, &v);
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    bool present;
    /* Hash before any statement takes a lock: the derivation takes ~0.3 s. */
    if (!(hash = password_hash_new(field_value(&fv, "password", &present)))) {
        problem_send(r, 500, NULL);
        goto out;
    }
    const char *params[] = {field_value(&fv, "username", &present), field_value(&fv, "display_name", &present),
                            field_value(&fv, "role", &present), field_value(&fv, "active", &present), hash};
    if (!(res = db_exec(r, "user_insert", SQL_USER_INSERT, 5, params)))
        goto out;
    if (audit_record(r, "create", "user", PQgetvalue(res, 0, USER_ID_COL), NULL, NULL, PQgetvalue(res, 0, USER_NCOLS)) !=
        0)
        goto out;
    char location[64];
    snprintf(location, sizeof location, "/v1/users/%s", PQgetvalue(res, 0, USER_ID_COL));
    reply_header(r, "Location", location);
    reply_user(r, 201, res);
out:
    PQclear(res);
    free(hash);
    field_values_free(&fv);
    return r->status;
}

int users_update(struct request *r)
{
    struct field_values fv = {0};
    struct verrs v = {0};
    struct sqlb b = {0};
    PGresult *cur = NULL, *res = NULL;
    char *hash = NULL;
    int n_admins = 0;
    fields_collect(r->json, user_patch_fields, user_patch_read_only, r->principal.role, false, &fv, &v);
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    bool has_role, has_active, has_password;
    const char *role = field_value(&fv, "role", &has_role);
    const char *active = field_value(&fv, "active", &has_active);
    const char *password = field_value(&fv, "password", &has_password);
    /* Hash before any statement takes a lock: the derivation takes ~0.3 s. */
    if (has_password && !(hash = password_hash_new(password))) {
        problem_send(r, 500, NULL);
        goto out;
    }
    /* Only a role or active change can remove an admin. */
    if (!(cur = user_lock(r, has_role || has_active ? &n_admins : NULL)))
        goto out;
    if (request_check_if_match(r, PQgetvalue(cur, 0, USER_VERSION_COL)) != 0)
        goto out;

    bool was_admin = strcmp(PQgetvalue(cur, 0, LOCK_ROLE), "admin") == 0 && PQgetvalue(cur, 0, LOCK_ACTIVE)[0] == 't';
    bool stays_admin = strcmp(has_role ? role : PQgetvalue(cur, 0, LOCK_ROLE), "admin") == 0 &&
                       (has_active ? strcmp(active, "true") == 0 : PQgetvalue(cur, 0, LOCK_ACTIVE)[0] == 't');
    if (was_admin && !stays_admin && n_admins <= 1) {
        problem_send(r, 409, "this is the last active admin: the change would leave no active admin");
        goto out;
    }
    if (fv.n == 0) {
        reply_user(r, 200, cur);
        goto out;
    }
    const char *id = request_param(r, 0);
    sbuf_puts(&b.sql, "UPDATE users u SET ");
    for (int i = 0; i < fv.n; i++) {
        const char *value = strcmp(fv.f[i].spec->name, "password") == 0 ? hash : fv.f[i].value;
        sbuf_printf(&b.sql, "%s = $%d, ", fv.f[i].spec->column, sqlb_bind(&b, value));
    }
    sbuf_printf(&b.sql,
                "updated_at = now(), version = u.version + 1 WHERE u.id = $%d::uuid RETURNING " USER_SELECT
                USER_SNAPSHOT,
                sqlb_bind(&b, id));
    if (!(res = db_exec(r, NULL, b.sql.data, b.n, b.params)))
        goto out;
    if (audit_record(r, "update", "user", id, NULL, PQgetvalue(cur, 0, LOCK_ROW), PQgetvalue(res, 0, USER_NCOLS)) != 0)
        goto out;
    if (has_role || has_active || has_password) {
        rbac_cache_invalidate(id);
        snprintf(r->invalidate_user, sizeof r->invalidate_user, "%s", id);
    }
    reply_user(r, 200, res);
out:
    PQclear(cur);
    PQclear(res);
    free(hash);
    sbuf_free(&b.sql);
    field_values_free(&fv);
    return r->status;
}

int users_deactivate(struct request *r)
{
    PGresult *cur = NULL, *res = NULL;
    int n_admins = 0;
    if (!(cur = user_lock(r, &n_admins)))
        goto out;
    if (request_check_if_match(r, PQgetvalue(cur, 0, USER_VERSION_COL)) != 0)
        goto out;
    if (PQgetvalue(cur, 0, LOCK_ACTIVE)[0] != 't') {
        reply_empty(r, 204);
        goto out;
    }
    if (strcmp(PQgetvalue(cur, 0, LOCK_ROLE), "admin") == 0 && n_admins <= 1) {
        problem_send(r, 409, "this is the last active admin: deactivating it would leave no active admin");
        goto out;
    }
    const char *id = request_param(r, 0);
    const char *params[] = {id};
    if (!(res = db_exec(r, "user_deactivate", SQL_USER_DEACTIVATE, 1, params)))
        goto out;
    if (audit_record(r, "deactivate", "user", id, NULL, PQgetvalue(cur, 0, LOCK_ROW), PQgetvalue(res, 0, 0)) != 0)
        goto out;
    rbac_cache_invalidate(id);
    snprintf(r->invalidate_user, sizeof r->invalidate_user, "%s", id);
    reply_empty(r, 204);
out:
    PQclear(cur);
    PQclear(res);
    return r->status;
}

/* One string member of the token request, 1..max characters. NULL after
 * adding an error to v. */
static const char *token_field(const json_t *body, const char *name, size_t max, struct verrs *v)
{
    const json_t *val = json_object_get(body, name);
    if (!val) {
        verr_add(v, name, "is required");
        return NULL;
    }
    if (!json_is_string(val)) {
        verr_add(v, name, "must be a string");
        return NULL;
    }
    const char *s = json_string_value(val);
    if (strlen(s) != json_string_length(val)) {
        verr_add(v, name, "must not contain NUL characters");
        return NULL;
    }
    if (!*s || utf8_chars(s) > max) {
        verr_add(v, name, "must be 1 to %zu characters", max);
        return NULL;
    }
    return s;
}

int auth_token(struct request *r)
{
    struct verrs v = {0};
    PGresult *res = NULL;
    char *token = NULL;
    json_t *body = NULL;
    if (!jwt_keys_can_sign(g_jwt_keys)) {
        problem_send(r, 501, "tokens are issued by the external identity provider");
        goto out;
    }
    if (!json_is_object(r->json)) {
        verr_add(&v, "(body)", "must be a JSON object");
        problem_validation(r, &v);
        goto out;
    }
    const char *key;
    json_t *val;
    json_object_foreach(r->json, key, val)
    {
        if (strcmp(key, "username") != 0 && strcmp(key, "password") != 0) {
            char field[64];
            snprintf(field, sizeof field, "%.60s", key);
            verr_add(&v, field, "unknown field");
        }
    }
    const char *username = token_field(r->json, "username", 64, &v);
    const char *password = token_field(r->json, "password", 256, &v);
    if (v.n) {
        problem_validation(r, &v);
        goto out;
    }
    /* Throttle guessing per username and per client address. */
    char user_key[80], addr_key[80];
    snprintf(user_key, sizeof user_key, "u:%s", username);
    snprintf(addr_key, sizeof addr_key, "a:%s", r->ri->remote_addr);
    int wait = ratelimit_wait_s(user_key, RATELIMIT_MAX_FAILURES_USER);
    if (!wait)
        wait = ratelimit_wait_s(addr_key, RATELIMIT_MAX_FAILURES_ADDR);
    if (wait) {
        char retry[16];
        problem_send(r, 429, "too many failed logins; retry later");
        snprintf(retry, sizeof retry, "%d", wait);
        reply_header(r, "Retry-After", retry);
        goto out;
    }
    const char *params[] = {username};
    if (!(res = db_exec(r, "user_login", SQL_USER_LOGIN, 1, params)))
        goto out;
    bool found = PQntuples(res) == 1;
    /* The derivation takes ~0.3 s: give the connection back meanwhile so a
     * burst of logins cannot starve the pool. */
    db_pool_release(r->db);
    r->db = NULL;
    /* Always one derivation, so the timing does not tell whether the user exists. */
    bool ok = password_verify(password, found ? db_val(res, 0, 3) : NULL);
    if (!found || !ok || PQgetvalue(res, 0, 2)[0] != 't') {
        ratelimit_fail(user_key);
        ratelimit_fail(addr_key);
        problem_send(r, 401, "invalid username or password");
        goto out;
    }
    ratelimit_reset(user_key);
    if (!(r->db = db_pool_acquire(2000))) {
        problem_send(r, 503, "the database is unavailable");
        goto out;
    }
    const char *id = PQgetvalue(res, 0, 0);
    const char *role = PQgetvalue(res, 0, 1);
    if (!(token = jwt_issue(g_jwt_keys, id, role, g_config.jwt_issuer, g_config.jwt_audience, clock_wall_s(),
                            g_config.token_ttl_s))) {
        problem_send(r, 500, NULL);
        goto out;
    }
    /* The login row names the user as its actor; the request itself stays
     * unauthenticated for the router. */
    struct principal anonymous = r->principal;
    snprintf(r->principal.user_id, sizeof r->principal.user_id, "%s", id);
    r->principal.role = role_parse(role);
    r->authenticated = true;
    int rc = audit_record(r, "login", "user", id, NULL, NULL, NULL);
    r->principal = anonymous;
    r->authenticated = false;
    if (rc != 0)
        goto out;
    body = json_pack("{s:s, s:s, s:i}", "access_token", token, "token_type", "Bearer", "expires_in",
                     g_config.token_ttl_s);
    if (!body) {
        problem_send(r, 500, NULL);
        goto out;
    }
    reply_json_value(r, 200, body);
out:
    json_decref(body);
    if (token) {
        memset(token, 0, strlen(token));
        free(token);
    }
    PQclear(res);
    return r->status;
}

/* ---- start-up ---- */

int users_ensure_admin(const char *password)
{
    char err[256];
    int rc = -1;
    char *hash = NULL;
    PGresult *res = NULL;
    if (!password) {
        log_event("error", "ensure admin: no password given", NULL);
        return -1;
    }
    PGconn *pg = db_connect(err, sizeof err);
    if (!pg) {
        log_event("error", "ensure admin: cannot connect to the database", "message", err, NULL);
        return -1;
    }
    res = PQexecParams(pg, "SELECT 1 FROM users WHERE role = 'admin' AND active LIMIT 1", 0, NULL, NULL, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_event("error", "ensure admin: query failed", "message", PQresultErrorMessage(res), NULL);
        goto out;
    }
    if (PQntuples(res) == 1) {
        rc = 0;
        goto out;
    }
    PQclear(res);
    res = NULL;
    if (!(hash = password_hash_new(password))) {
        log_event("error", "ensure admin: password hashing failed", NULL);
        goto out;
    }
    /* One statement: it re-checks that no active admin exists (another
     * instance may have started at the same time) and records the audit row. */
    const char *params[] = {hash};
    res = PQexecParams(pg, SQL_ENSURE_ADMIN, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        log_event("error", "ensure admin: upsert failed", "message", PQresultErrorMessage(res), NULL);
        goto out;
    }
    if (PQntuples(res) == 1)
        log_event("info", PQgetvalue(res, 0, 1)[0] == 't' ? "created user admin" : "reactivated user admin",
                  "user_id", PQgetvalue(res, 0, 0), NULL);
    rc = 0;
out:
    PQclear(res);
    free(hash);
    PQfinish(pg);
    return rc;
}

int users_check_active(struct request *r, const char *field, const char *ids_json, struct verrs *v)
{
    if (!ids_json)
        return 0;
    const char *params[] = {ids_json};
    PGresult *res = db_exec(r, "users_check_active",
                            "SELECT count(*) = jsonb_array_length($1::jsonb) FROM users "
                            "WHERE active AND id IN (SELECT jsonb_array_elements_text($1::jsonb)::uuid)",
                            1, params);
    if (!res)
        return -1;
    if (PQgetvalue(res, 0, 0)[0] != 't')
        verr_add(v, field, "must name active users");
    PQclear(res);
    return 0;
}
