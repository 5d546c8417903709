#include "db/db.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "http/problem.h"
#include "log.h"

struct db_pool;

struct db_conn {
    struct db_pool *pool; /* the pool this slot belongs to */
    PGconn *pg;
    char **prepared; /* names prepared on this connection */
    size_t n_prepared;
    bool leased;
    bool in_tx;
};

/* A waiter for a connection: served strictly in arrival order, the
 * releasing thread hands its connection straight to the oldest waiter and
 * posts the waiter's own semaphore after dropping the pool lock, so the woken
 * thread never has to take that lock again (a condition variable would make
 * it, and under load it would block a second time right there). */
struct pool_waiter {
    sem_t handed;
    struct db_conn *granted; /* set under the pool lock */
    struct pool_waiter *next;
};

/* A bounded pool: the primary's, and optionally one for a streaming
 * replica that serves routes flagged RT_REPLICA. */
struct db_pool {
    pthread_mutex_t lock;
    struct db_conn *conns;
    int size;
    int in_use;
    int waiting;
    struct pool_waiter *head, *tail; /* FIFO of waiters */
    char *conninfo;
};

static struct db_pool primary = {.lock = PTHREAD_MUTEX_INITIALIZER};
static struct db_pool replica = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Session settings, the same for every connection of both pools. */
static struct {
    int statement_timeout_ms;
    bool prepare; /* false: unnamed statements, settings per transaction */
    char statement_timeout[16];
    char idle_timeout[16];
    const char *tx_params[3]; /* $1..$3 of SQL_TX_SETTINGS, fixed at init */
} settings = {.prepare = true};

static atomic_ulong db_errors;

unsigned long db_error_count(void)
{
    return atomic_load(&db_errors);
}

static void pool_init(struct db_pool *p, const char *conninfo, int size)
{
    p->conns = xcalloc((size_t)size, sizeof *p->conns);
    for (int i = 0; i < size; i++)
        p->conns[i].pool = p;
    p->size = size;
    p->conninfo = xstrdup(conninfo);
}

int db_pool_init(const char *conninfo, const char *read_conninfo, int size, int statement_timeout_ms, bool prepare)
{
    settings.statement_timeout_ms = statement_timeout_ms;
    settings.prepare = prepare;
    snprintf(settings.statement_timeout, sizeof settings.statement_timeout, "%d", statement_timeout_ms);
    snprintf(settings.idle_timeout, sizeof settings.idle_timeout, "%d", statement_timeout_ms * 4);
    settings.tx_params[0] = settings.statement_timeout;
    settings.tx_params[1] = settings.idle_timeout;
    /* the business time zone for SQL (crm_tz()); validated by config_load, lives as long as g_config */
    settings.tx_params[2] = g_config.timezone ? g_config.timezone : "Asia/Shanghai";
    pool_init(&primary, conninfo, size);
    if (read_conninfo)
        pool_init(&replica, read_conninfo, size);
    return 0;
}

bool db_replica_configured(void)
{
    return replica.size > 0;
}

static void conn_forget_prepared(struct db_conn *c)
{
    for (size_t i = 0; i < c->n_prepared; i++)
        free(c->prepared[i]);
    free(c->prepared);
    c->prepared = NULL;
    c->n_prepared = 0;
}

static void conn_close(struct db_conn *c)
{
    if (c->pg)
        PQfinish(c->pg);
    c->pg = NULL;
    c->in_tx = false;
    conn_forget_prepared(c);
}

static void pool_shutdown(struct db_pool *p)
{
    pthread_mutex_lock(&p->lock);
    for (int i = 0; i < p->size; i++)
        conn_close(&p->conns[i]);
    free(p->conns);
    p->conns = NULL;
    p->size = 0;
    free(p->conninfo);
    p->conninfo = NULL;
    pthread_mutex_unlock(&p->lock);
}

void db_pool_shutdown(void)
{
    pool_shutdown(&replica);
    pool_shutdown(&primary);
}

/* With CRM_DB_PREPARE=off nothing is sent as startup `options`: PgBouncer
 * 1.18 refuses a client that sends them ("unsupported startup parameter"),
 * and in transaction pooling a session setting would stick to whichever
 * server connection ran it. The settings travel with every transaction
 * instead (db_tx_settings, exec_pipelined). */
static PGconn *connect_to(const char *conninfo, char *err, size_t errlen)
{
    char options[320];
    /* Generic plans: every named statement is planned once per connection.
     * Statement texts are built per filter combination, so a generic plan
     * is as good as a custom one and saves milliseconds of planning per
     * request (PostgreSQL would otherwise re-plan LIMIT $n queries forever).
     * No JIT: compiling a report's plan cost seconds, more than it saves on
     * statements bounded by the statement timeout. */
    snprintf(options, sizeof options,
             "-c statement_timeout=%d -c idle_in_transaction_session_timeout=%d -c TimeZone=UTC -c DateStyle=ISO "
             "-c plan_cache_mode=force_generic_plan -c jit=off -c crm.timezone=%s",
             settings.statement_timeout_ms, settings.statement_timeout_ms * 4,
             /* the business time zone for SQL (crm_tz()); validated by config_load */
             g_config.timezone ? g_config.timezone : "Asia/Shanghai");
    /* Service settings first; the URL (expanded) may override any of them. */
    const char *keys[] = {"connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval",
                          "keepalives_count", "tcp_user_timeout", "application_name", "options",
                          "dbname", NULL};
    const char *vals[] = {"3", "1", "30", "10", "3", "30000", "crm-service", options, conninfo, NULL};
    if (!settings.prepare) {
        keys[7] = "dbname"; /* drop "options" */
        vals[7] = conninfo;
        keys[8] = vals[8] = NULL;
    }
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    if (!pg || PQstatus(pg) != CONNECTION_OK) {
        snprintf(err, errlen, "%s", pg ? PQerrorMessage(pg) : "out of memory");
        char *nl = strchr(err, '\n');
        if (nl)
            *nl = '\0';
        if (pg)
            PQfinish(pg);
        return NULL;
    }
    return pg;
}

PGconn *db_connect(char *err, size_t errlen)
{
    return connect_to(primary.conninfo, err, errlen);
}

PGconn *db_conn_pg(struct db_conn *c)
{
    return c->pg;
}

static void waiter_remove(struct db_pool *pool, struct pool_waiter *w)
{
    struct pool_waiter **pp = &pool->head, *prev = NULL;
    while (*pp && *pp != w) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (!*pp)
        return;
    *pp = w->next;
    if (pool->tail == w)
        pool->tail = prev;
}

/* Called with the lock held: a free slot, preferring a connected one. */
static struct db_conn *free_slot(struct db_pool *pool)
{
    struct db_conn *unconnected = NULL;
    for (int i = 0; i < pool->size; i++) {
        struct db_conn *c = &pool->conns[i];
        if (c->leased)
            continue;
        if (c->pg)
            return c;
        if (!unconnected)
            unconnected = c;
    }
    return unconnected;
}

static struct db_conn *pool_acquire(struct db_pool *pool, int timeout_ms)
{
    struct db_conn *c = NULL;
    pthread_mutex_lock(&pool->lock);
    if (!pool->head)
        c = free_slot(pool);
    if (c) {
        c->leased = true;
        pool->in_use++;
        pthread_mutex_unlock(&pool->lock);
    } else {
        struct pool_waiter w = {.granted = NULL, .next = NULL};
        sem_init(&w.handed, 0, 0);
        if (pool->tail)
            pool->tail->next = &w;
        else
            pool->head = &w;
        pool->tail = &w;
        pool->waiting++;
        pthread_mutex_unlock(&pool->lock);

        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
        int rc;
        while ((rc = sem_clockwait(&w.handed, CLOCK_MONOTONIC, &deadline)) != 0 && errno == EINTR)
            ;
        pthread_mutex_lock(&pool->lock);
        if (rc != 0 && !w.granted)
            waiter_remove(pool, &w);
        pool->waiting--;
        c = w.granted; /* handed over still leased and counted */
        pthread_mutex_unlock(&pool->lock);
        /* Timed out just as a connection was handed over: its post is on
         * the way and must land before w leaves the stack. */
        if (rc != 0 && c)
            while (sem_wait(&w.handed) != 0 && errno == EINTR)
                ;
        sem_destroy(&w.handed);
    }
    if (!c)
        return NULL;
    if (c->pg && PQstatus(c->pg) != CONNECTION_OK)
        conn_close(c);
    if (!c->pg) {
        char err[256];
        c->pg = connect_to(pool->conninfo, err, sizeof err);
        if (!c->pg) {
            atomic_fetch_add(&db_errors, 1);
            log_event("error", "database connection failed", "pool", pool == &replica ? "replica" : "primary",
                      "reason", err, NULL);
            db_pool_release(c);
            return NULL;
        }
    }
    return c;
}

struct db_conn *db_pool_acquire(int timeout_ms)
{
    return pool_acquire(&primary, timeout_ms);
}

struct db_conn *db_pool_acquire_read(int timeout_ms)
{
    struct db_conn *c = replica.size ? pool_acquire(&replica, timeout_ms) : NULL;
    return c ? c : pool_acquire(&primary, timeout_ms);
}

bool db_conn_is_replica(const struct db_conn *c)
{
    return c && c->pool == &replica;
}

void db_pool_release(struct db_conn *c)
{
    if (!c)
        return;
    if (c->pg && (c->in_tx || PQtransactionStatus(c->pg) != PQTRANS_IDLE)) {
        char err[128];
        if (db_exec_const(c->pg, "ROLLBACK", err, sizeof err) != 0 || PQtransactionStatus(c->pg) != PQTRANS_IDLE)
            conn_close(c);
        c->in_tx = false;
    }
    if (c->pg && PQstatus(c->pg) != CONNECTION_OK)
        conn_close(c);
    struct db_pool *pool = c->pool;
    pthread_mutex_lock(&pool->lock);
    struct pool_waiter *w = pool->head;
    if (w) {
        pool->head = w->next;
        if (!pool->head)
            pool->tail = NULL;
        w->granted = c;
    } else {
        c->leased = false;
        pool->in_use--;
    }
    pthread_mutex_unlock(&pool->lock);
    if (w)
        sem_post(&w->handed);
}

void db_pool_stats(bool read, int *size, int *in_use, int *waiting)
{
    struct db_pool *pool = read ? &replica : &primary;
    pthread_mutex_lock(&pool->lock);
    *size = pool->size;
    *in_use = pool->in_use;
    *waiting = pool->waiting;
    pthread_mutex_unlock(&pool->lock);
}

/* Skips a dollar-quoted body ($$ … $$ or $tag$ … $tag$) starting at p; p
 * itself when p does not open one ($1 is a parameter, not a quote). */
static const char *skip_dollar_quote(const char *p)
{
    const char *q = p + 1;
    while (*q == '_' || isalpha((unsigned char)*q) || (q > p + 1 && isdigit((unsigned char)*q)))
        q++;
    if (*q != '$')
        return p;
    size_t taglen = (size_t)(q - p) + 1;
    for (const char *e = q + 1; *e; e++)
        if (*e == '$' && strncmp(e, p, taglen) == 0)
            return e + taglen;
    return p + strlen(p);
}

size_t db_sql_statement(const char *sql, bool *empty)
{
    const char *p = sql;
    *empty = true;
    while (*p) {
        if (p[0] == '-' && p[1] == '-') {
            while (*p && *p != '\n')
                p++;
            continue;
        }
        if (p[0] == '/' && p[1] == '*') {
            int depth = 1; /* PostgreSQL's block comments nest */
            for (p += 2; *p && depth; p++)
                if (p[0] == '/' && p[1] == '*')
                    depth++, p++;
                else if (p[0] == '*' && p[1] == '/')
                    depth--, p++;
            continue;
        }
        if (!isspace((unsigned char)*p))
            *empty = false;
        if (*p == ';')
            return (size_t)(p - sql) + 1;
        if (*p == '\'' || *p == '"') { /* a doubled quote stays inside */
            char quote = *p++;
            while (*p && (*p != quote || p[1] == quote))
                p += *p == quote ? 2 : 1;
            if (*p)
                p++;
            continue;
        }
        if (*p == '$') {
            const char *end = skip_dollar_quote(p);
            if (end != p) {
                p = end;
                continue;
            }
        }
        p++;
    }
    return (size_t)(p - sql);
}

int db_exec_const(PGconn *pg, const char *sql, char *err, size_t errlen)
{
    /* One statement at a time over the extended protocol (PQexecParams takes
     * one statement, and a migration file holds many). Callers pass constant
     * text (compiled-in migrations, BEGIN/COMMIT), never request data. */
    char *stmt = NULL;
    int rc = 0;
    while (*sql && rc == 0) {
        bool empty;
        size_t n = db_sql_statement(sql, &empty);
        if (!empty) {
            char *next = realloc(stmt, n + 1);
            if (!next) {
                snprintf(err, errlen, "out of memory");
                rc = -1;
                break;
            }
            stmt = next;
            memcpy(stmt, sql, n);
            stmt[n] = '\0';
            PGresult *res = PQexecParams(pg, stmt, 0, NULL, NULL, NULL, NULL, 0);
            ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
            if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
                snprintf(err, errlen, "%s", res ? PQresultErrorMessage(res) : PQerrorMessage(pg));
                rc = -1;
            }
            PQclear(res);
        }
        sql += n;
    }
    free(stmt);
    return rc;
}

static bool conn_has_prepared(struct db_conn *c, const char *name)
{
    for (size_t i = 0; i < c->n_prepared; i++)
        if (strcmp(c->prepared[i], name) == 0)
            return true;
    return false;
}

static bool result_ok(const PGresult *res)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    return st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
}

/* What the startup options set per session when statements are prepared,
 * set here for the current transaction only (is_local = true). */
#define SQL_TX_SETTINGS                                                                                      \
    "SELECT set_config('statement_timeout', $1, true), set_config('idle_in_transaction_session_timeout', $2, " \
    "true), set_config('TimeZone', 'UTC', true), set_config('DateStyle', 'ISO', true), "                      \
    "set_config('jit', 'off', true), "                                                                        \
    "set_config('crm.timezone', $3, true)"

/* Sends two statements in one pipeline ending in one Sync: one round trip,
 * and, unless the first is BEGIN, one implicit transaction, so settings made
 * local by the first hold for the second and vanish with it. Returns the
 * first failed result, else the second's; NULL when nothing came back. */
static PGresult *exec_pipelined(PGconn *pg, const char *sql1, int n1, const char *const *v1, const char *sql2,
                                int n2, const char *const *v2)
{
    if (PQenterPipelineMode(pg) != 1)
        return NULL;
    PGresult *out[2] = {NULL, NULL};
    if (PQsendQueryParams(pg, sql1, n1, NULL, v1, NULL, NULL, 0) == 1 &&
        PQsendQueryParams(pg, sql2, n2, NULL, v2, NULL, NULL, 0) == 1 && PQpipelineSync(pg) == 1) {
        int q = 0;
        /* Per query: its result(s), then NULL; after both, PGRES_PIPELINE_SYNC. */
        for (int guard = 0; guard < 16; guard++) {
            PGresult *res = PQgetResult(pg);
            if (!res) {
                if (PQstatus(pg) != CONNECTION_OK)
                    break;
                q++;
                continue;
            }
            if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
                PQclear(res);
                break;
            }
            if (q < 2 && !out[q])
                out[q] = res;
            else
                PQclear(res);
        }
    }
    (void)PQexitPipelineMode(pg);
    if (out[0] && !result_ok(out[0])) {
        PQclear(out[1]);
        return out[0];
    }
    PQclear(out[0]);
    return out[1];
}

int db_tx_settings(PGconn *pg, char *err, size_t errlen)
{
    if (settings.prepare)
        return 0;
    PGresult *res = PQexecParams(pg, SQL_TX_SETTINGS, 3, NULL, settings.tx_params, NULL, NULL, 0);
    int rc = result_ok(res) ? 0 : -1;
    if (rc)
        snprintf(err, errlen, "%s", res ? PQresultErrorMessage(res) : PQerrorMessage(pg));
    PQclear(res);
    return rc;
}

static PGresult *exec_once(struct db_conn *c, const char *name, const char *sql, int nparams,
                           const char *const *values)
{
    if (!settings.prepare) {
        /* Unnamed statements only: behind a transaction pooler the next
         * transaction may run on another server connection. Outside a
         * transaction the settings ride along in the same pipeline. */
        if (c->in_tx)
            return PQexecParams(c->pg, sql, nparams, NULL, values, NULL, NULL, 0);
        return exec_pipelined(c->pg, SQL_TX_SETTINGS, 3, settings.tx_params, sql, nparams, values);
    }
    if (!name)
        return PQexecParams(c->pg, sql, nparams, NULL, values, NULL, NULL, 0);
    if (!conn_has_prepared(c, name)) {
        PGresult *prep = PQprepare(c->pg, name, sql, nparams, NULL);
        if (!prep || PQresultStatus(prep) != PGRES_COMMAND_OK)
            return prep;
        PQclear(prep);
        c->prepared = xrealloc(c->prepared, (c->n_prepared + 1) * sizeof *c->prepared);
        c->prepared[c->n_prepared++] = xstrdup(name);
    }
    return PQexecPrepared(c->pg, name, nparams, values, NULL, NULL, 0);
}

PGresult *db_exec_raw(struct request *r, const char *name, const char *sql, int nparams, const char *const *values)
{
    struct db_conn *c = r->db;
    if (!c || !c->pg) {
        problem_send(r, 503, "the database is unavailable");
        return NULL;
    }
    PGresult *res = exec_once(c, name, sql, nparams, values);
    if (!result_ok(res) && PQstatus(c->pg) != CONNECTION_OK) {
        atomic_fetch_add(&db_errors, 1);
        PQclear(res);
        res = NULL;
        /* A read outside a transaction is idempotent: retry once on a fresh connection. */
        bool retry = !c->in_tx && strcmp(r->method, "GET") == 0;
        conn_forget_prepared(c);
        if (retry && c->pool == &replica) {
            /* The replica went away: the primary answers this read instead. */
            conn_close(c);
            db_pool_release(c);
            c = r->db = pool_acquire(&primary, 2000);
        } else {
            PQreset(c->pg);
        }
        if (retry && c && PQstatus(c->pg) == CONNECTION_OK)
            res = exec_once(c, name, sql, nparams, values);
        if (!c || !res || (!result_ok(res) && PQstatus(c->pg) != CONNECTION_OK)) {
            PQclear(res);
            problem_send(r, 503, "the database is unavailable");
            return NULL;
        }
    }
    if (!res) {
        problem_send(r, 503, "the database is unavailable");
        return NULL;
    }
    return res;
}

PGresult *db_exec(struct request *r, const char *name, const char *sql, int nparams, const char *const *values)
{
    PGresult *res = db_exec_raw(r, name, sql, nparams, values);
    if (res && !result_ok(res)) {
        db_problem(r, res);
        PQclear(res);
        return NULL;
    }
    return res;
}

/* Constraint → field and message, for 409/422 answers that name the field. */
static const struct {
    const char *constraint;
    const char *field;
    const char *message;
} constraint_fields[] = {
    {"customers_tax_id_key", "tax_id", "another customer already has this tax id"},
    {"customers_external_code_key", "external_code", "another customer already has this external code"},
    {"customers_owner_id_fkey", "owner_id", "no such user"},
    {"contacts_one_primary", "is_primary", "this customer already has a primary contact"},
    {"users_username_key", "username", "this username is taken"},
    {"visits_plan_id_key", "plan_id", "this plan already has a visit record (an archived one can be restored)"},
};

int db_problem(struct request *r, const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *constraint = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
    if (!state)
        state = "08006";
    if (constraint)
        for (size_t i = 0; i < ARRAY_LEN(constraint_fields); i++)
            if (strcmp(constraint, constraint_fields[i].constraint) == 0) {
                if (strcmp(state, "23505") == 0)
                    return problem_conflict_field(r, constraint_fields[i].field, constraint_fields[i].message);
                struct verrs v = {0};
                verr_add(&v, constraint_fields[i].field, "%s", constraint_fields[i].message);
                return problem_validation(r, &v);
            }
    if (strcmp(state, "23505") == 0 || strcmp(state, "23503") == 0)
        return problem_send(r, 409, "the change conflicts with existing data");
    if (strncmp(state, "23", 2) == 0)
        return problem_send(r, 422, "a value breaks a data rule");
    if (strncmp(state, "22", 2) == 0)
        return problem_send(r, 422, "a value is out of range or malformed");
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
        return problem_send(r, 409, "a concurrent change conflicted; retry the request");
    atomic_fetch_add(&db_errors, 1);
    if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P0", 4) == 0 || strcmp(state, "57014") == 0 ||
        strncmp(state, "53", 2) == 0)
        return problem_send(r, 503, "the database is unavailable or too slow; retry shortly");
    log_event("error", "database error", "sqlstate", state, "message",
              res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL, NULL);
    return problem_send(r, 500, NULL);
}

static int tx_const(struct request *r, const char *sql)
{
    char err[256];
    if (!r->db || !r->db->pg || db_exec_const(r->db->pg, sql, err, sizeof err) != 0) {
        atomic_fetch_add(&db_errors, 1);
        problem_send(r, 503, "the database is unavailable");
        return -1;
    }
    return 0;
}

int db_begin(struct request *r)
{
    if (settings.prepare || !r->db || !r->db->pg) {
        if (tx_const(r, "BEGIN") != 0)
            return -1;
    } else {
        /* BEGIN and the transaction's settings in one round trip. */
        PGresult *res = exec_pipelined(r->db->pg, "BEGIN", 0, NULL, SQL_TX_SETTINGS, 3, settings.tx_params);
        bool ok = result_ok(res);
        PQclear(res);
        if (!ok) {
            atomic_fetch_add(&db_errors, 1);
            r->db->in_tx = true; /* whatever began is rolled back on release */
            problem_send(r, 503, "the database is unavailable");
            return -1;
        }
    }
    r->db->in_tx = true;
    return 0;
}

int db_commit(struct request *r)
{
    r->db->in_tx = false;
    return tx_const(r, "COMMIT");
}

void db_rollback(struct request *r)
{
    char err[128];
    if (r->db && r->db->pg && r->db->in_tx)
        (void)!db_exec_const(r->db->pg, "ROLLBACK", err, sizeof err);
    if (r->db)
        r->db->in_tx = false;
}

bool db_in_tx(const struct request *r)
{
    return r->db && r->db->in_tx;
}
