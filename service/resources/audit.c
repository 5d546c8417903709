#include "resources/audit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/db.h"
#include "http/problem.h"
#include "http/response.h"
#include "log.h"
#include "resources/listing.h"
#include "validate/validate.h"

#define SQL_AUDIT_INSERT                                                                                     \
    "INSERT INTO audit_log (actor_id, actor_role, action, entity, entity_id, customer_id, before, after, "   \
    "request_id) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9)"

int audit_record(struct request *r, const char *action, const char *entity, const char *entity_id,
                 const char *customer_id, const char *before, const char *after)
{
    const char *params[] = {r->authenticated ? r->principal.user_id : NULL,
                            r->authenticated ? role_name(r->principal.role) : NULL,
                            action,
                            entity,
                            entity_id,
                            customer_id,
                            before,
                            after,
                            r->request_id};
    PGresult *res = db_exec(r, "audit_insert", SQL_AUDIT_INSERT, 9, params);
    if (!res)
        return -1;
    PQclear(res);
    return 0;
}

/* ---- batched reads ---- */

#define READ_QUEUE_MAX 50000
#define FLUSH_INTERVAL_MS 100

struct read_entry {
    char at[40];
    char actor_id[37];
    unsigned role;
    char entity[16];
    char entity_id[37];
    char customer_id[37];
    char request_id[65];
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct read_entry *items;
    size_t n;
    bool stop;
    bool running;
    pthread_t thread;
} q = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

int audit_read(struct request *r, const char *entity, const char *entity_id, const char *customer_id)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    pthread_mutex_lock(&q.lock);
    if (q.n >= READ_QUEUE_MAX) {
        pthread_mutex_unlock(&q.lock);
        problem_send(r, 503, "the audit trail cannot keep up; retry shortly");
        return -1;
    }
    struct read_entry *e = &q.items[q.n++];
    snprintf(e->at, sizeof e->at, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, now.tv_nsec / 1000);
    snprintf(e->actor_id, sizeof e->actor_id, "%s", r->principal.user_id);
    e->role = r->principal.role;
    snprintf(e->entity, sizeof e->entity, "%s", entity);
    snprintf(e->entity_id, sizeof e->entity_id, "%s", entity_id);
    snprintf(e->customer_id, sizeof e->customer_id, "%s", customer_id ? customer_id : "");
    snprintf(e->request_id, sizeof e->request_id, "%s", r->request_id);
    pthread_mutex_unlock(&q.lock);
    return 0;
}

/* Appends one element to a PostgreSQL array literal; every value here is a
 * UUID, a role name, a timestamp or a sanitised request id, but quote and
 * escape anyway. */
static void array_add(struct sbuf *b, const char *v)
{
    sbuf_puts(b, b->len > 1 ? ",\"" : "\"");
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\')
            sbuf_append(b, "\\", 1);
        sbuf_append(b, p, 1);
    }
    sbuf_puts(b, "\"");
}

#define SQL_AUDIT_READS                                                                                      \
    "INSERT INTO audit_log (at, actor_id, actor_role, action, entity, entity_id, customer_id, request_id) "  \
    "SELECT t.at, t.actor, t.role, 'read', t.entity, t.entity_id, nullif(t.customer, '')::uuid, t.req "       \
    "FROM unnest($1::timestamptz[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) " \
    "AS t(at, actor, role, entity, entity_id, customer, req)"

static int flush_batch(PGconn **pg, struct read_entry *items, size_t n)
{
    struct sbuf cols[7] = {0};
    for (int c = 0; c < 7; c++)
        sbuf_puts(&cols[c], "{");
    for (size_t i = 0; i < n; i++) {
        array_add(&cols[0], items[i].at);
        array_add(&cols[1], items[i].actor_id);
        array_add(&cols[2], role_name(items[i].role));
        array_add(&cols[3], items[i].entity);
        array_add(&cols[4], items[i].entity_id);
        array_add(&cols[5], items[i].customer_id);
        array_add(&cols[6], items[i].request_id);
    }
    const char *params[7];
    for (int c = 0; c < 7; c++) {
        sbuf_puts(&cols[c], "}");
        params[c] = cols[c].data;
    }
    int rc = -1;
    if (!*pg) {
        char err[256];
        *pg = db_connect(err, sizeof err);
        if (!*pg)
            goto out;
    }
    PGresult *res = PQexecParams(*pg, SQL_AUDIT_READS, 7, NULL, params, NULL, NULL, 0);
    rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -1;
    if (rc)
        log_event("error", "audit read flush failed", "message", PQresultErrorMessage(res), NULL);
    PQclear(res);
    if (rc && PQstatus(*pg) != CONNECTION_OK) {
        PQfinish(*pg);
        *pg = NULL;
    }
out:
    for (int c = 0; c < 7; c++)
        sbuf_free(&cols[c]);
    return rc;
}

static void *writer_main(void *arg)
{
    (void)arg;
    PGconn *pg = NULL;
    struct read_entry *batch = xmalloc(READ_QUEUE_MAX * sizeof *batch);
    int64_t last_cleanup = 0;
    pthread_mutex_lock(&q.lock);
    for (;;) {
        if (!q.stop) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += FLUSH_INTERVAL_MS * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&q.wake, &q.lock, &until);
        }
        size_t n = q.n;
        bool stopping = q.stop;
        memcpy(batch, q.items, n * sizeof *batch);
        q.n = 0;
        pthread_mutex_unlock(&q.lock);

        if (n && flush_batch(&pg, batch, n) != 0) {
            /* Put the batch back in front so nothing is lost while the database is away. */
            pthread_mutex_lock(&q.lock);
            size_t room = READ_QUEUE_MAX - q.n < n ? READ_QUEUE_MAX - q.n : n;
            memmove(q.items + room, q.items, q.n * sizeof *q.items);
            memcpy(q.items, batch, room * sizeof *batch);
            q.n += room;
            pthread_mutex_unlock(&q.lock);
            if (stopping)
                break;
            struct timespec pause = {0, 500 * 1000000L};
            nanosleep(&pause, NULL);
        }
        /* Idempotency keys live for 24 hours; sweep once a minute. */
        if (pg && clock_mono_us() - last_cleanup > 60 * 1000000LL) {
            PGresult *res = PQexecParams(pg,
                                         "DELETE FROM idempotency_keys WHERE created_at < now() - interval '24 hours'",
                                         0, NULL, NULL, NULL, NULL, 0);
            PQclear(res);
            last_cleanup = clock_mono_us();
        }
        pthread_mutex_lock(&q.lock);
        if (stopping && q.n == 0)
            break;
    }
    if (q.n)
        log_event("error", "audit reads lost at shutdown: database unreachable", NULL);
    pthread_mutex_unlock(&q.lock);
    free(batch);
    if (pg)
        PQfinish(pg);
    return NULL;
}

int audit_writer_start(void)
{
    q.items = xmalloc(READ_QUEUE_MAX * sizeof *q.items);
    q.n = 0;
    q.stop = false;
    if (pthread_create(&q.thread, NULL, writer_main, NULL) != 0)
        return -1;
    q.running = true;
    return 0;
}

void audit_writer_stop(void)
{
    if (!q.running)
        return;
    pthread_mutex_lock(&q.lock);
    q.stop = true;
    pthread_cond_signal(&q.wake);
    pthread_mutex_unlock(&q.lock);
    pthread_join(q.thread, NULL);
    q.running = false;
    free(q.items);
    q.items = NULL;
}

/* ---- GET /v1/audit ---- */

static bool choice_valid(const char *const *choices, const char *v)
{
    for (const char *const *c = choices; *c; c++)
        if (strcmp(*c, v) == 0)
            return true;
    return false;
}

int audit_list(struct request *r)
{
    struct verrs v = {0};
    const char *actor = request_query(r, "actor_id"), *customer = request_query(r, "customer_id");
    const char *from = request_query(r, "from"), *to = request_query(r, "to");
    if (actor && !uuid_valid(actor))
        verr_add(&v, "actor_id", "must be an id");
    if (customer && !uuid_valid(customer))
        verr_add(&v, "customer_id", "must be an id");
    if (from && !valid_timestamp(from))
        verr_add(&v, "from", "must be an RFC 3339 timestamp");
    if (to && !valid_timestamp(to))
        verr_add(&v, "to", "must be an RFC 3339 timestamp");
    static const char *const entities[] = {"customer", "contact", "user", NULL};
    static const char *const actions[] = {"create", "update", "archive", "restore", "submit", "approve", "return",
                                          "reassign", "read", "deactivate", "login", NULL};
    const char *entity = request_query(r, "entity"), *action = request_query(r, "action");
    const char *entity_id = request_query(r, "entity_id");
    if (entity && !choice_valid(entities, entity))
        verr_add(&v, "entity", "must be one of customer, contact, user");
    if (action && !choice_valid(actions, action))
        verr_add(&v, "action", "must be a known audit action");
    if (entity_id && (!*entity_id || strlen(entity_id) > 64))
        verr_add(&v, "entity_id", "must be 1 to 64 characters");
    if (v.n)
        return problem_sendf(r, 400, "invalid query parameter %s: %s", v.e[0].field, v.e[0].message);
    struct list_page page;
    if (list_page_init_serial(r, &page, "audit") != 0)
        return r->status;
    /* One statement per filter combination, so each gets an index-friendly
     * generic plan. Conditions are constants; values are parameters. */
    static const char *const conds[] = {
        "a.actor_id = $%d::uuid", "a.entity = $%d",           "a.entity_id = $%d",      "a.customer_id = $%d::uuid",
        "a.action = $%d",         "a.at >= $%d::timestamptz", "a.at < $%d::timestamptz", "a.id < $%d::bigint",
    };
    const char *values[] = {actor, entity, entity_id, customer, action, from, to, page.cursor_id};
    struct sqlb b = {0};
    unsigned mask = 0;
    char name[32];
    sbuf_puts(&b.sql, "SELECT api_audit(a), a.id::text FROM audit_log a WHERE true");
    for (size_t i = 0; i < ARRAY_LEN(conds); i++) {
        if (!values[i])
            continue;
        sbuf_puts(&b.sql, " AND ");
        sbuf_printf(&b.sql, conds[i], sqlb_bind(&b, values[i]));
        mask |= 1u << i;
    }
    sbuf_printf(&b.sql, " ORDER BY a.id DESC LIMIT $%d", sqlb_bind(&b, page.limit_plus_one));
    snprintf(name, sizeof name, "audit_list_%x", mask);
    PGresult *res = db_exec(r, name, b.sql.data, b.n, b.params);
    sbuf_free(&b.sql);
    if (!res) {
        list_page_free(&page);
        return r->status;
    }
    int status = list_page_reply(r, &page, res, 1, NULL);
    PQclear(res);
    return status;
}
