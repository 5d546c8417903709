/* PostgreSQL access: a bounded pool of connections, statements prepared
 * once per connection, the SQLSTATE→HTTP table, transactions. */
#ifndef CRM_DB_H
#define CRM_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdlib.h>

#include "common.h"
#include "http/request.h"

struct db_conn;

/* Creates the primary's pool and, when read_conninfo is not NULL, a pool of
 * the same size for a streaming replica (connections open lazily). With
 * prepare false (CRM_DB_PREPARE=off, for transaction-pooling proxies such as
 * PgBouncer) statements are unnamed, no startup options are sent and the
 * session settings are applied per transaction instead. Returns 0 / -1. */
int db_pool_init(const char *conninfo, const char *read_conninfo, int size, int statement_timeout_ms,
                 bool prepare) WUR;
/* True when a replica pool was configured (CRM_DATABASE_READ_URL). */
bool db_replica_configured(void);
/* Closes every idle connection; call after the HTTP server stopped. */
void db_pool_shutdown(void);
/* Leases a connected connection, waiting up to timeout_ms for a free slot.
 * NULL when none is free in time or the database cannot be reached. */
struct db_conn *db_pool_acquire(int timeout_ms);
/* Like db_pool_acquire, from the replica's pool when one is configured;
 * falls back to the primary when no replica connection can be had in time
 * (it answers for reads that may lag: lists and reports). */
struct db_conn *db_pool_acquire_read(int timeout_ms);
/* True when c was leased from the replica's pool. */
bool db_conn_is_replica(const struct db_conn *c);
/* Returns a lease (to the pool it came from). A connection left in a
 * transaction is rolled back; a broken one is closed and reopened on next use. */
void db_pool_release(struct db_conn *c);
/* Sizes of the primary's pool (read false) or the replica's (read true; 0 when none). */
void db_pool_stats(bool read, int *size, int *in_use, int *waiting);

/* A new standalone connection with the service's settings (migrations,
 * background writers). NULL on failure, with the reason in err. */
PGconn *db_connect(char *err, size_t errlen);
PGconn *db_conn_pg(struct db_conn *c);

/* Runs sql with text parameters (NULL = SQL NULL) on the request's leased
 * connection; with a name, the statement is prepared once per connection.
 * Returns a result the caller owns (PQclear), or NULL after answering the
 * client with the mapped problem. A read (GET) whose connection broke is
 * retried once on a fresh connection. */
PGresult *db_exec(struct request *r, const char *name, const char *sql, int nparams, const char *const *values) WUR;
/* Like db_exec but returns the failed result instead of answering, so the
 * caller can handle a specific SQLSTATE; NULL only when no result came back
 * (the problem was sent). Check PQresultStatus. */
PGresult *db_exec_raw(struct request *r, const char *name, const char *sql, int nparams, const char *const *values) WUR;
/* Answers the client for a failed result per the SQLSTATE table; returns the status. */
int db_problem(struct request *r, const PGresult *res);
/* Inside a transaction on a standalone connection (migrations, writers):
 * applies the service's session settings for this transaction only when
 * CRM_DB_PREPARE=off (no startup options then); a no-op otherwise. 0 / -1
 * with the reason in err. */
int db_tx_settings(PGconn *pg, char *err, size_t errlen) WUR;
/* Constant SQL only (no parameters): BEGIN, COMMIT, migrations; several
 * statements are run one by one. 0 / -1. */
int db_exec_const(PGconn *pg, const char *sql, char *err, size_t errlen) WUR;
/* The length of the first statement of sql, through its top-level ';' (or
 * the rest of the text): a ';' in a string, quoted identifier, dollar-quoted
 * body or comment does not end it. *empty: it holds only white space and
 * comments. Not for E'' strings with backslash escapes. */
size_t db_sql_statement(const char *sql, bool *empty);

int db_begin(struct request *r) WUR;
int db_commit(struct request *r) WUR;
void db_rollback(struct request *r);
bool db_in_tx(const struct request *r);

/* Value of (row, col) or NULL for SQL NULL. Borrowed from res. */
static inline const char *db_val(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

/* Monotonic count of database errors, for /metrics. */
unsigned long db_error_count(void);


/* Assembles SQL from constant fragments with numbered parameters: request
 * values only ever enter as parameters, never as SQL text. */
#define SQLB_MAX_PARAMS 48
struct sqlb {
    struct sbuf sql;
    const char *params[SQLB_MAX_PARAMS];
    int n;
};
/* Binds v (borrowed; must outlive the query) and returns its $ number. */
static inline int sqlb_bind(struct sqlb *b, const char *v)
{
    if (b->n == SQLB_MAX_PARAMS)
        abort(); /* a programming error: the tables bound the count */
    b->params[b->n++] = v;
    return b->n;
}
#endif
