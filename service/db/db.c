#include "db/db.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "http/problem.h"
#include "log.h"

struct db_conn {
    PGconn *pg;
    char **prepared; /* names prepared on this connection */
    size_t n_prepared;
    bool leased;
    bool in_tx;
};

/* A waiter for a connection: served strictly in arrival order, the
 * releasing thread hands its connection straight to the oldest waiter. */
struct pool_waiter {
    pthread_cond_t cv;
    struct db_conn *granted;
    struct pool_waiter *next;
};

static struct {
    pthread_mutex_t lock;
    struct db_conn *conns;
    int size;
    int in_use;
    int waiting;
    struct pool_waiter *head, *tail; /* FIFO of waiters */
    char *conninfo;
    int statement_timeout_ms;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER};

static atomic_ulong db_errors;

unsigned long db_error_count(void)
{
    return atomic_load(&db_errors);
}

int db_pool_init(const char *conninfo, int size, int statement_timeout_ms)
{
    pool.conns = xcalloc((size_t)size, sizeof *pool.conns);
    pool.size = size;
    pool.conninfo = xstrdup(conninfo);
    pool.statement_timeout_ms = statement_timeout_ms;
    return 0;
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

void db_pool_shutdown(void)
{
    pthread_mutex_lock(&pool.lock);
    for (int i = 0; i < pool.size; i++)
        conn_close(&pool.conns[i]);
    free(pool.conns);
    pool.conns = NULL;
    pool.size = 0;
    free(pool.conninfo);
    pool.conninfo = NULL;
    pthread_mutex_unlock(&pool.lock);
}

PGconn *db_connect(char *err, size_t errlen)
{
    char options[320];
    /* Generic plans: every named statement is planned once per connection.
     * Statement texts are built per filter combination, so a generic plan
     * is as good as a custom one and saves milliseconds of planning per
     * request (PostgreSQL would otherwise re-plan LIMIT $n queries forever). */
    snprintf(options, sizeof options,
             "-c statement_timeout=%d -c idle_in_transaction_session_timeout=%d -c TimeZone=UTC -c DateStyle=ISO "
             "-c plan_cache_mode=force_generic_plan -c crm.timezone=%s",
             pool.statement_timeout_ms, pool.statement_timeout_ms * 4,
             /* the business time zone for SQL (crm_tz()); validated by config_load */
             g_config.timezone ? g_config.timezone : "Asia/Shanghai");
    /* Service settings first; the URL (expanded) may override any of them. */
    const char *keys[] = {"connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval",
                          "keepalives_count", "tcp_user_timeout", "application_name", "options",
                          "dbname", NULL};
    const char *vals[] = {"3", "1", "30", "10", "3", "30000", "crm-service", options, pool.conninfo, NULL};
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

PGconn *db_conn_pg(struct db_conn *c)
{
    return c->pg;
}

static void waiter_remove(struct pool_waiter *w)
{
    struct pool_waiter **pp = &pool.head, *prev = NULL;
    while (*pp && *pp != w) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (!*pp)
        return;
    *pp = w->next;
    if (pool.tail == w)
        pool.tail = prev;
}

/* Called with the lock held: a free slot, preferring a connected one. */
static struct db_conn *free_slot(void)
{
    struct db_conn *unconnected = NULL;
    for (int i = 0; i < pool.size; i++) {
        struct db_conn *c = &pool.conns[i];
        if (c->leased)
            continue;
        if (c->pg)
            return c;
        if (!unconnected)
            unconnected = c;
    }
    return unconnected;
}

struct db_conn *db_pool_acquire(int timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    struct db_conn *c = NULL;
    pthread_mutex_lock(&pool.lock);
    if (!pool.head)
        c = free_slot();
    if (c) {
        c->leased = true;
        pool.in_use++;
    } else {
        struct pool_waiter w = {.granted = NULL, .next = NULL};
        pthread_cond_init(&w.cv, NULL);
        if (pool.tail)
            pool.tail->next = &w;
        else
            pool.head = &w;
        pool.tail = &w;
        pool.waiting++;
        while (!w.granted)
            if (pthread_cond_timedwait(&w.cv, &pool.lock, &deadline) != 0)
                break;
        if (!w.granted)
            waiter_remove(&w);
        pool.waiting--;
        c = w.granted; /* handed over still leased and counted */
        pthread_cond_destroy(&w.cv);
    }
    pthread_mutex_unlock(&pool.lock);
    if (!c)
        return NULL;
    if (c->pg && PQstatus(c->pg) != CONNECTION_OK)
        conn_close(c);
    if (!c->pg) {
        char err[256];
        c->pg = db_connect(err, sizeof err);
        if (!c->pg) {
            atomic_fetch_add(&db_errors, 1);
            log_event("error", "database connection failed", "reason", err, NULL);
            db_pool_release(c);
            return NULL;
        }
    }
    return c;
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
    pthread_mutex_lock(&pool.lock);
    struct pool_waiter *w = pool.head;
    if (w) {
        pool.head = w->next;
        if (!pool.head)
            pool.tail = NULL;
        w->granted = c;
        pthread_cond_signal(&w->cv);
    } else {
        c->leased = false;
        pool.in_use--;
    }
    pthread_mutex_unlock(&pool.lock);
}

void db_pool_stats(int *size, int *in_use, int *waiting)
{
    pthread_mutex_lock(&pool.lock);
    *size = pool.size;
    *in_use = pool.in_use;
    *waiting = pool.waiting;
    pthread_mutex_unlock(&pool.lock);
}

int db_exec_const(PGconn *pg, const char *sql, char *err, size_t errlen)
{
    /* PQexec, not PQexecParams: a migration is several statements, which only
     * the simple protocol accepts. Callers pass constant text (compiled-in
     * migrations, BEGIN/COMMIT), never request data. */
    PGresult *res = PQexec(pg, sql);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : -1;
    if (rc)
        snprintf(err, errlen, "%s", res ? PQresultErrorMessage(res) : PQerrorMessage(pg));
    PQclear(res);
    return rc;
}

static bool conn_has_prepared(struct db_conn *c, const char *name)
{
    for (size_t i = 0; i < c->n_prepared; i++)
        if (strcmp(c->prepared[i], name) == 0)
            return true;
    return false;
}

static PGresult *exec_once(struct db_conn *c, const char *name, const char *sql, int nparams,
                           const char *const *values)
{
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

static bool result_ok(const PGresult *res)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    return st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK;
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
        PQreset(c->pg);
        if (retry && PQstatus(c->pg) == CONNECTION_OK)
            res = exec_once(c, name, sql, nparams, values);
        if (!res || (!result_ok(res) && PQstatus(c->pg) != CONNECTION_OK)) {
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
    if (tx_const(r, "BEGIN") != 0)
        return -1;
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
