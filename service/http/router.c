#include "http/router.h"

#include <civetweb.h>
#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/jwt.h"
#include "config.h"
#include "db/db.h"
#include "http/problem.h"
#include "http/response.h"
#include "log.h"
#include "ops/metrics.h"

#define DB_ACQUIRE_TIMEOUT_MS 2000

/* ---- matching ---- */

/* A path split at '/': up to MAX_SEGMENTS segments (more matches no route). */
#define MAX_SEGMENTS 8
struct segments {
    int n;
    const char *s[MAX_SEGMENTS];
    size_t len[MAX_SEGMENTS];
};

/* Splits "/a/b/c" into a, b, c; false when path does not start with '/' or
 * has more than MAX_SEGMENTS segments. Empty segments are kept ("/a//b"). */
static bool split_path(const char *path, struct segments *out)
{
    out->n = 0;
    if (path[0] != '/')
        return false;
    const char *s = path + 1;
    for (;;) {
        if (out->n == MAX_SEGMENTS)
            return false;
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        out->s[out->n] = s;
        out->len[out->n] = len;
        out->n++;
        if (!e)
            return true;
        s = e + 1;
    }
}

/* Every route's pattern split once: a request is then matched by comparing
 * segment counts and lengths before any bytes, instead of rescanning all
 * patterns with strchr. A segment "{…}" matches any non-empty segment. */
static struct segments *route_segments;
static pthread_once_t route_segments_once = PTHREAD_ONCE_INIT;

static void route_segments_init(void)
{
    route_segments = xcalloc(routes_count, sizeof *route_segments);
    for (size_t i = 0; i < routes_count; i++)
        if (!split_path(routes[i].pattern, &route_segments[i]))
            route_segments[i].n = -1; /* never matches: test_router's test_match_every_route fails */
}

/* Compares a path with a pattern segment by segment; "{x}" matches any
 * non-empty segment. On a match copies the parameters into params (owned by
 * the caller) when params is not NULL. */
static bool segments_match(const struct segments *pat, const struct segments *path, char **params, int *n_params)
{
    if (pat->n != path->n)
        return false;
    int n = 0;
    for (int i = 0; i < pat->n; i++) {
        if (pat->len[i] && pat->s[i][0] == '{') {
            if (!path->len[i] || n == REQUEST_MAX_PATH_PARAMS)
                return false;
            n++;
        } else if (pat->len[i] != path->len[i] || memcmp(pat->s[i], path->s[i], pat->len[i]) != 0) {
            return false;
        }
    }
    if (params) {
        n = 0;
        for (int i = 0; i < pat->n; i++)
            if (pat->len[i] && pat->s[i][0] == '{')
                params[n++] = xstrndup(path->s[i], path->len[i]);
    }
    if (n_params)
        *n_params = n;
    return true;
}

const struct route *router_match(const char *method, const char *path, bool *path_matched, char *allow,
                                 size_t allow_len, char **params, int *n_params)
{
    *path_matched = false;
    allow[0] = '\0';
    pthread_once(&route_segments_once, route_segments_init);
    struct segments segs;
    if (!split_path(path, &segs))
        return NULL;
    const struct route *found = NULL;
    size_t used = 0;
    for (size_t i = 0; i < routes_count; i++) {
        const struct route *rt = &routes[i];
        if (!segments_match(&route_segments[i], &segs, NULL, NULL))
            continue;
        *path_matched = true;
        if (used < allow_len) {
            int w = snprintf(allow + used, allow_len - used, "%s%s", used ? ", " : "", rt->method);
            used += w > 0 ? (size_t)w : 0;
        }
        if (!found && strcmp(rt->method, method) == 0)
            found = rt;
    }
    if (found && !segments_match(&route_segments[found - routes], &segs, params, n_params))
        found = NULL;
    return found;
}

/* ---- request id ---- */

static void request_id_init(struct request *r)
{
    const char *in = request_header(r, "X-Request-Id");
    if (in) {
        size_t len = strlen(in);
        bool sane = len >= 8 && len < sizeof r->request_id;
        for (size_t i = 0; sane && i < len; i++)
            sane = isalnum((unsigned char)in[i]) || strchr("-_.:", in[i]);
        if (sane) {
            memcpy(r->request_id, in, len + 1);
            return;
        }
    }
    /* 16 random bytes per id, drawn from a per-thread reserve that RAND_bytes
     * refills 64 ids at a time (each call of it costs a system call). */
    static _Thread_local unsigned char reserve[16 * 64];
    static _Thread_local size_t used = sizeof reserve;
    if (used == sizeof reserve) {
        random_bytes(reserve, sizeof reserve);
        used = 0;
    }
    hex_encode(reserve + used, 16, r->request_id);
    used += 16;
}

/* ---- authentication ---- */

/* The last token each worker thread verified. A keep-alive connection stays
 * on one thread and sends the same token with every request, so its
 * signature check and JSON parsing (about a tenth of a small request's
 * CPU) run once per thread and token instead of once per request. Only the
 * exact bytes of a token that passed jwt_verify are kept, with its claims:
 * keys, issuer and audience are fixed for the life of the process, and the
 * time checks are made again on every use (jwt_claims_current). The user's
 * active flag and role are still checked below on every request. */
#define TOKEN_CACHE_MAX 1024 /* longer tokens are verified every time */
static _Thread_local struct {
    size_t len; /* 0: empty */
    char token[TOKEN_CACHE_MAX];
    struct jwt_claims claims;
} verified;

static enum jwt_result verify_token(const char *token, struct jwt_claims *claims)
{
    size_t len = strlen(token);
    int64_t now = clock_wall_s();
    /* Constant time over the cached bytes: the cached token is another
     * client's credential. */
    if (len && len == verified.len && CRYPTO_memcmp(token, verified.token, len) == 0 &&
        jwt_claims_current(&verified.claims, now)) {
        *claims = verified.claims;
        return JWT_OK;
    }
    enum jwt_result jr =
        jwt_verify(g_jwt_keys, token, len, g_config.jwt_issuer, g_config.jwt_audience, now, claims);
    if (jr == JWT_OK && len <= TOKEN_CACHE_MAX) {
        memcpy(verified.token, token, len);
        verified.len = len;
        verified.claims = *claims;
    }
    return jr;
}

static int authenticate(struct request *r)
{
    const char *h = request_header(r, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return problem_send(r, 401, "a bearer token is required");
    const char *token = h + 7;
    while (*token == ' ')
        token++;
    struct jwt_claims claims;
    if (verify_token(token, &claims) != JWT_OK)
        return problem_send(r, 401, "the token is invalid or expired");
    unsigned role = role_parse(claims.role);
    if (!role || !uuid_valid(claims.sub))
        return problem_send(r, 401, "the token is invalid or expired");
    unsigned current_role;
    bool active;
    if (!rbac_cache_get(claims.sub, &current_role, &active)) {
        if (!r->db && !(r->db = db_pool_acquire(DB_ACQUIRE_TIMEOUT_MS)))
            return problem_send(r, 503, "the database is unavailable");
        const char *params[] = {claims.sub};
        PGresult *res = db_exec(r, "auth_user", "SELECT role, active FROM users WHERE id = $1", 1, params);
        if (!res)
            return r->status;
        if (PQntuples(res) == 0) {
            current_role = 0;
            active = false;
        } else {
            current_role = role_parse(PQgetvalue(res, 0, 0));
            active = PQgetvalue(res, 0, 1)[0] == 't';
        }
        PQclear(res);
        rbac_cache_put(claims.sub, current_role, active);
    }
    if (!active || current_role != role)
        return problem_send(r, 401, "the token is invalid or expired");
    snprintf(r->principal.user_id, sizeof r->principal.user_id, "%s", claims.sub);
    for (char *p = r->principal.user_id; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    r->principal.role = role;
    r->authenticated = true;
    return 0;
}

/* ---- body ---- */

static bool content_type_is(const char *ct, const char *want)
{
    size_t n = strlen(want);
    if (strncasecmp(ct, want, n) != 0)
        return false;
    ct += n;
    while (*ct == ' ')
        ct++;
    return *ct == '\0' || *ct == ';';
}

static bool request_has_body(const struct request *r)
{
    if (r->ri->content_length > 0)
        return true;
    return r->ri->content_length < 0 && request_header(r, "Transfer-Encoding") != NULL;
}

static int read_json_body(struct request *r)
{
    bool required = r->route->flags & RT_BODY;
    if (!request_has_body(r)) {
        if (!required)
            return 0;
        const char *ct = request_header(r, "Content-Type");
        if (!ct)
            return problem_send(r, 415, "send a JSON body with Content-Type: application/json");
        return problem_send(r, 400, "a JSON body is required");
    }
    const char *ct = request_header(r, "Content-Type");
    bool ok = ct && (content_type_is(ct, "application/json") ||
                     (strcmp(r->method, "PATCH") == 0 && content_type_is(ct, "application/merge-patch+json")));
    if (!ok) {
        r->close_connection = true;
        return problem_send(r, 415, strcmp(r->method, "PATCH") == 0
                                        ? "Content-Type must be application/json or application/merge-patch+json"
                                        : "Content-Type must be application/json");
    }
    switch (request_read_body(r, g_config.max_body_bytes, g_config.body_timeout_ms)) {
    case BODY_OK:
        break;
    case BODY_TOO_LARGE:
        r->close_connection = true;
        return problem_sendf(r, 413, "the body exceeds %zu bytes", g_config.max_body_bytes);
    case BODY_TIMEOUT:
        r->close_connection = true;
        return problem_send(r, 408, "the body was not received in time");
    case BODY_IO_ERROR:
        r->close_connection = true;
        return problem_send(r, 400, "the body could not be read");
    }
    if (r->body_len == 0 && !required)
        return 0;
    char err[160];
    if (request_parse_json(r, err, sizeof err) != 0)
        return problem_send(r, 400, err);
    return 0;
}

/* ---- idempotency ---- */

struct idem {
    const char *key;
    char hash[65];
};

static int idem_key_valid(const char *k)
{
    size_t n = strlen(k);
    if (n < 1 || n > 200)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (k[i] < 0x21 || k[i] > 0x7e)
            return 0;
    return 1;
}

static void idem_hash(struct request *r, struct idem *id)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, r->method, strlen(r->method)) != 1 || EVP_DigestUpdate(ctx, " ", 1) != 1 ||
        EVP_DigestUpdate(ctx, r->ri->local_uri, strlen(r->ri->local_uri)) != 1 ||
        EVP_DigestUpdate(ctx, "\n", 1) != 1 || (r->body && EVP_DigestUpdate(ctx, r->body, r->body_len) != 1) ||
        EVP_DigestFinal_ex(ctx, digest, &dlen) != 1 || dlen != 32)
        abort();
    EVP_MD_CTX_free(ctx);
    hex_encode(digest, 32, id->hash);
}

#define SQL_IDEM_GET                                                                                         \
    "SELECT request_hash, status, content_type, location, etag, body FROM idempotency_keys "                 \
    "WHERE user_id = $1 AND key = $2 AND created_at > now() - interval '24 hours'"
#define SQL_IDEM_PUT                                                                                         \
    "INSERT INTO idempotency_keys (user_id, key, request_hash, status, content_type, location, etag, body) "  \
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (user_id, key) DO UPDATE SET "                      \
    "request_hash = EXCLUDED.request_hash, status = EXCLUDED.status, content_type = EXCLUDED.content_type, " \
    "location = EXCLUDED.location, etag = EXCLUDED.etag, body = EXCLUDED.body, created_at = now() "          \
    "WHERE idempotency_keys.created_at <= now() - interval '24 hours' RETURNING 1"

/* Finds the header value recorded by the handler (e.g. "Location"); copies it into out. */
static const char *resp_header_value(const struct request *r, const char *name, char *out, size_t outlen)
{
    size_t n = strlen(name);
    const char *p = r->resp_headers.data;
    while (p && *p) {
        const char *eol = strstr(p, "\r\n");
        if (!eol)
            break;
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            snprintf(out, outlen, "%.*s", (int)(eol - v), v);
            return out;
        }
        p = eol + 2;
    }
    return NULL;
}

/* 1 = replayed or conflict answered, 0 = key unused, -1 = problem sent. */
static int idem_lookup(struct request *r, const struct idem *id)
{
    const char *params[] = {r->principal.user_id, id->key};
    PGresult *res = db_exec(r, "idem_get", SQL_IDEM_GET, 2, params);
    if (!res)
        return -1;
    int rc = 0;
    if (PQntuples(res) == 1) {
        rc = 1;
        if (strcmp(PQgetvalue(res, 0, 0), id->hash) != 0) {
            struct verrs v = {0};
            verr_add(&v, "Idempotency-Key", "this key was already used with a different request");
            problem_validation(r, &v);
        } else {
            const char *ct = db_val(res, 0, 2);
            int status = atoi(PQgetvalue(res, 0, 1));
            if (ct && strcmp(ct, "application/problem+json") == 0)
                reply_raw(r, status, "application/problem+json", PQgetvalue(res, 0, 5), (size_t)PQgetlength(res, 0, 5));
            else if (ct)
                reply_json(r, status, PQgetvalue(res, 0, 5), (size_t)PQgetlength(res, 0, 5));
            else
                reply_empty(r, status);
            if (db_val(res, 0, 3))
                reply_header(r, "Location", PQgetvalue(res, 0, 3));
            if (db_val(res, 0, 4))
                reply_header(r, "ETag", PQgetvalue(res, 0, 4));
            reply_header(r, "Idempotent-Replayed", "true");
        }
    }
    PQclear(res);
    return rc;
}

/* Stores the response under the key; returns 1 stored, 0 taken by a concurrent request, -1 error. */
static int idem_store(struct request *r, const struct idem *id)
{
    char status[8], location[512], etag[64];
    snprintf(status, sizeof status, "%d", r->status);
    const char *params[] = {r->principal.user_id,
                            id->key,
                            id->hash,
                            status,
                            r->content_type,
                            resp_header_value(r, "Location", location, sizeof location),
                            resp_header_value(r, "ETag", etag, sizeof etag),
                            r->resp_body.data ? r->resp_body.data : ""};
    PGresult *res = db_exec_raw(r, "idem_put", SQL_IDEM_PUT, 8, params);
    if (!res)
        return -1;
    int rc = PQresultStatus(res) == PGRES_TUPLES_OK ? PQntuples(res) : -1;
    PQclear(res);
    return rc;
}

/* ---- running the handler ---- */

static void reset_response(struct request *r)
{
    r->status = 0;
    r->content_type = NULL;
    r->resp_headers.len = 0;
    if (r->resp_headers.data)
        r->resp_headers.data[0] = '\0';
    r->resp_body.len = 0;
}

static void run_handler(struct request *r)
{
    /* Keys are per user: public routes (the token endpoint) have no user. */
    const char *key =
        strcmp(r->method, "POST") == 0 && r->authenticated ? request_header(r, "Idempotency-Key") : NULL;
    struct idem id = {.key = key};
    if (key) {
        if (!idem_key_valid(key)) {
            problem_send(r, 400, "Idempotency-Key must be 1 to 200 visible ASCII characters");
            return;
        }
        idem_hash(r, &id);
        if (idem_lookup(r, &id) != 0)
            return;
    }
    bool tx = key || (r->route->flags & RT_TX);
    if (tx && db_begin(r) != 0)
        return;
    r->route->handler(r);
    if (!tx)
        return;
    if (r->status >= 400 || !db_in_tx(r)) {
        db_rollback(r);
        if (key && r->status >= 400 && r->status < 500 && r->status != 408)
            (void)!idem_store(r, &id);
        return;
    }
    if (key) {
        int stored = idem_store(r, &id);
        if (stored != 1) {
            db_rollback(r);
            reset_response(r);
            if (stored < 0 || idem_lookup(r, &id) == 0)
                problem_send(r, 409, "a request with this Idempotency-Key is in progress; retry");
            return;
        }
    }
    if (db_commit(r) != 0)
        return;
    /* Again after commit: a request of that user between the handler's
     * invalidation and the commit may have cached the old role. */
    if (r->invalidate_user[0])
        rbac_cache_invalidate(r->invalidate_user);
    if (r->on_commit)
        r->on_commit();
}

/* ---- sending ---- */

static const char *status_text(int status)
{
    static const struct {
        int status;
        const char *text;
    } texts[] = {
        {200, "OK"}, {201, "Created"}, {204, "No Content"}, {304, "Not Modified"}, {400, "Bad Request"},
        {401, "Unauthorized"}, {403, "Forbidden"}, {404, "Not Found"}, {405, "Method Not Allowed"},
        {408, "Request Timeout"}, {409, "Conflict"}, {412, "Precondition Failed"}, {413, "Content Too Large"},
        {415, "Unsupported Media Type"}, {422, "Unprocessable Content"}, {428, "Precondition Required"},
        {429, "Too Many Requests"}, {500, "Internal Server Error"}, {501, "Not Implemented"},
        {503, "Service Unavailable"},
    };
    for (size_t i = 0; i < ARRAY_LEN(texts); i++)
        if (texts[i].status == status)
            return texts[i].text;
    return "Unknown";
}

static void add_cors(struct request *r, struct sbuf *out)
{
    if (!r->origin)
        return;
    sbuf_printf(out, "Access-Control-Allow-Origin: %s\r\nVary: Origin\r\n"
                     "Access-Control-Expose-Headers: ETag, Location, X-Request-Id, Retry-After, Idempotent-Replayed\r\n",
                r->origin);
}

static void send_response(struct request *r)
{
    struct sbuf out = {0};
    bool has_body = r->status != 204 && r->status != 304;
    sbuf_printf(&out, "HTTP/1.1 %d %s\r\nX-Request-Id: %s\r\nCache-Control: no-store\r\n"
                      "X-Content-Type-Options: nosniff\r\n",
                r->status, status_text(r->status), r->request_id);
    if (has_body) {
        if (r->content_type)
            sbuf_printf(&out, "Content-Type: %s%s\r\n", r->content_type,
                        strncmp(r->content_type, "text/", 5) == 0 ? "; charset=utf-8" : "");
        sbuf_printf(&out, "Content-Length: %zu\r\n", r->resp_body.len);
    }
    if (r->close_connection)
        sbuf_puts(&out, "Connection: close\r\n");
    add_cors(r, &out);
    if (r->resp_headers.len)
        sbuf_append(&out, r->resp_headers.data, r->resp_headers.len);
    sbuf_puts(&out, "\r\n");
    bool send_body = has_body && r->resp_body.len && strcmp(r->method, "HEAD") != 0;
    /* Bodies up to 256 KiB (a page of 200 customers) go out in one write
     * with the head: copying them costs less than a second system call.
     * Larger ones are not copied again but written right after it. */
    if (send_body && r->resp_body.len <= 256 * 1024) {
        sbuf_append(&out, r->resp_body.data, r->resp_body.len);
        send_body = false;
    }
    mg_write(r->conn, out.data, out.len);
    if (send_body)
        mg_write(r->conn, r->resp_body.data, r->resp_body.len);
    sbuf_free(&out);
}

static void access_log(const struct request *r, int64_t duration_us)
{
    char status[8], duration[32], bytes[24];
    snprintf(status, sizeof status, "%d", r->status);
    snprintf(duration, sizeof duration, "%lld.%03lld", (long long)(duration_us / 1000),
             (long long)(duration_us % 1000));
    snprintf(bytes, sizeof bytes, "%zu", r->resp_body.len);
    log_event("info", "request", "request_id", r->request_id, "method", r->method, "route",
              r->route ? r->route->pattern : "unmatched", "status", status, "duration_ms", duration, "bytes", bytes,
              "role", r->authenticated ? role_name(r->principal.role) : NULL, NULL);
}

/* ---- the pipeline ---- */

static void pipeline(struct request *r)
{
    /* Request smuggling guard: both framings at once is ambiguous. */
    if (request_header(r, "Transfer-Encoding") && request_header(r, "Content-Length")) {
        r->close_connection = true;
        problem_send(r, 400, "Transfer-Encoding and Content-Length must not both be sent");
        return;
    }
    if (!r->ri->local_uri) {
        problem_send(r, 400, "malformed request target");
        return;
    }
    /* A path with an escaped NUL or invalid UTF-8 names no resource. */
    char *path = request_path_decode(r->ri->local_uri);
    if (!path) {
        problem_send(r, 404, NULL);
        return;
    }
    char allow[128];
    bool path_matched;
    const char *match_method = strcmp(r->method, "HEAD") == 0 ? "GET" : r->method;
    r->route = router_match(match_method, path, &path_matched, allow, sizeof allow, r->path_params,
                            &r->n_path_params);
    free(path);
    if (strcmp(r->method, "OPTIONS") == 0 && path_matched) {
        r->route = NULL;
        reply_header(r, "Allow", allow);
        if (r->origin) {
            reply_header(r, "Access-Control-Allow-Methods", allow);
            reply_header(r, "Access-Control-Allow-Headers",
                         "Authorization, Content-Type, If-Match, If-None-Match, Idempotency-Key, X-Request-Id");
            reply_header(r, "Access-Control-Max-Age", "600");
        }
        reply_empty(r, 204);
        return;
    }
    if (!r->route) {
        if (path_matched) {
            reply_header(r, "Allow", allow);
            problem_send(r, 405, NULL);
        } else {
            problem_send(r, 404, NULL);
        }
        return;
    }
    if (!(r->route->flags & RT_PUBLIC)) {
        if (authenticate(r) != 0)
            return;
        if (!(r->route->roles & r->principal.role)) {
            problem_send(r, 403, "your role may not use this operation");
            return;
        }
    }
    char err[160];
    if (request_parse_query(r, r->ri->query_string, err, sizeof err) != 0) {
        problem_send(r, 400, err);
        return;
    }
    for (int i = 0; i < r->n_query; i++) {
        bool known = false;
        for (const char *const *q = r->route->query; q && *q && !known; q++)
            known = strcmp(*q, r->query[i].key) == 0;
        if (!known) {
            problem_sendf(r, 400, "unknown query parameter '%.64s'", r->query[i].key);
            return;
        }
    }
    if ((r->route->flags & (RT_BODY | RT_BODY_OPT)) && read_json_body(r) != 0)
        return;
    if ((r->route->flags & RT_DB) || !(r->route->flags & RT_PUBLIC)) {
        bool read = (r->route->flags & RT_REPLICA) && db_replica_configured();
        if (read && r->db) {
            /* Authentication checked the user on the primary; the list itself goes to the replica. */
            db_pool_release(r->db);
            r->db = NULL;
        }
        if (!r->db && !(r->db = read ? db_pool_acquire_read(DB_ACQUIRE_TIMEOUT_MS)
                                     : db_pool_acquire(DB_ACQUIRE_TIMEOUT_MS))) {
            problem_send(r, 503, "the database is unavailable");
            return;
        }
    }
    run_handler(r);
}

static atomic_int in_flight;
static atomic_bool draining;

int router_in_flight(void)
{
    return atomic_load(&in_flight);
}

void router_begin_drain(void)
{
    atomic_store(&draining, true);
}

int router_handle(struct mg_connection *conn, void *cbdata)
{
    (void)cbdata;
    atomic_fetch_add(&in_flight, 1);
    struct request *r = xcalloc(1, sizeof *r);
    r->conn = conn;
    r->ri = mg_get_request_info(conn);
    r->method = r->ri->request_method;
    r->started_us = clock_mono_us();
    request_id_init(r);
    const char *origin = request_header(r, "Origin");
    if (config_cors_allowed(&g_config, origin))
        r->origin = origin;

    if (atomic_load(&draining)) {
        /* Shutting down: new requests go elsewhere (a load balancer retries). */
        r->close_connection = true;
        problem_send(r, 503, "the service is shutting down");
    } else {
        pipeline(r);
    }
    if (!r->status)
        problem_send(r, 500, NULL);
    /* The answer is built: the connection goes back to the pool before the
     * (possibly slow) write to the client. */
    db_pool_release(r->db);
    r->db = NULL;
    send_response(r);

    int64_t duration = clock_mono_us() - r->started_us;
    int status = r->status;
    metrics_record(r->route ? (int)(r->route - routes) : -1, status, duration);
    access_log(r, duration);
    request_cleanup(r);
    free(r);
    atomic_fetch_sub(&in_flight, 1);
    return status;
}
