#include "db/migrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "embedded.h"
#include "log.h"

/* Arbitrary constant shared by every replica: "crm-migrate". */
#define MIGRATE_LOCK_KEY "7302115094"

static int migration_number(const char *name)
{
    return atoi(name);
}

int migrate_expected_version(void)
{
    if (embedded_migrations_count == 0)
        return 0;
    return migration_number(embedded_migrations[embedded_migrations_count - 1].name);
}

int migrate_current_version(PGconn *pg)
{
    PGresult *res = PQexecParams(pg,
                                 "SELECT coalesce(max(version), 0) FROM schema_migrations "
                                 "WHERE to_regclass('schema_migrations') IS NOT NULL",
                                 0, NULL, NULL, NULL, NULL, 0);
    int v = -1;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        v = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    if (v < 0) {
        /* The table does not exist yet: to_regclass guards only the planner's view. */
        res = PQexecParams(pg, "SELECT to_regclass('schema_migrations') IS NULL", 0, NULL, NULL, NULL, NULL, 0);
        if (PQresultStatus(res) == PGRES_TUPLES_OK && PQgetvalue(res, 0, 0)[0] == 't')
            v = 0;
        PQclear(res);
    }
    return v;
}

static int version_applied(PGconn *pg, int version, char *err, size_t errlen)
{
    char v[16];
    snprintf(v, sizeof v, "%d", version);
    const char *params[] = {v};
    PGresult *res = PQexecParams(pg, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, NULL, params, NULL,
                                 NULL, 0);
    int rc = -1;
    if (PQresultStatus(res) == PGRES_TUPLES_OK)
        rc = PQntuples(res) > 0;
    else
        snprintf(err, errlen, "%s", PQresultErrorMessage(res));
    PQclear(res);
    return rc;
}

/* BEGIN, then the transaction-level advisory lock, then the service's
 * settings for this transaction (CRM_DB_PREPARE=off). A transaction lock,
 * not a session lock: behind a transaction-pooling proxy (PgBouncer) a
 * session lock could be taken on one server connection and "released" on
 * another, and it would outlive us on the first. */
static int begin_locked(PGconn *pg, char *err, size_t errlen)
{
    if (db_exec_const(pg, "BEGIN", err, errlen) != 0)
        return -1;
    if (db_exec_const(pg, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ")", err, errlen) != 0 ||
        db_tx_settings(pg, err, errlen) != 0) {
        char ignored[64];
        (void)!db_exec_const(pg, "ROLLBACK", ignored, sizeof ignored);
        return -1;
    }
    return 0;
}

/* 1 applied, 0 already applied (by another replica, say), -1 error. */
static int apply_one(PGconn *pg, const struct embedded_file *m, char *err, size_t errlen)
{
    int version = migration_number(m->name);
    char v[16];
    snprintf(v, sizeof v, "%d", version);
    const char *params[] = {v, m->name};
    if (begin_locked(pg, err, errlen) != 0)
        return -1;
    int done = version_applied(pg, version, err, errlen);
    if (done < 0)
        goto fail;
    if (done) {
        if (db_exec_const(pg, "COMMIT", err, errlen) != 0)
            goto fail;
        return 0;
    }
    if (db_exec_const(pg, m->data, err, errlen) != 0)
        goto fail;
    PGresult *res = PQexecParams(pg, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2, NULL,
                                 params, NULL, NULL, 0);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        snprintf(err, errlen, "%s", PQresultErrorMessage(res));
    PQclear(res);
    if (!ok)
        goto fail;
    if (db_exec_const(pg, "COMMIT", err, errlen) != 0)
        goto fail;
    return 1;
fail:;
    char ignored[64];
    (void)!db_exec_const(pg, "ROLLBACK", ignored, sizeof ignored);
    return -1;
}

/* Every step is one transaction holding the advisory lock, so replicas
 * starting together apply each migration once, and the whole run also works
 * through PgBouncer in transaction mode. */
int migrate_run(PGconn *pg, char *err, size_t errlen)
{
    int applied = 0;
    if (begin_locked(pg, err, errlen) != 0)
        goto fail;
    if (db_exec_const(pg,
                      "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, "
                      "applied_at timestamptz NOT NULL DEFAULT now())",
                      err, errlen) != 0 ||
        db_exec_const(pg, "COMMIT", err, errlen) != 0) {
        char ignored[64];
        (void)!db_exec_const(pg, "ROLLBACK", ignored, sizeof ignored);
        goto fail;
    }
    for (size_t i = 0; i < embedded_migrations_count; i++) {
        const struct embedded_file *m = &embedded_migrations[i];
        char what[512];
        int rc = apply_one(pg, m, what, sizeof what);
        if (rc < 0) {
            snprintf(err, errlen, "migration %s failed: %.400s", m->name, what);
            goto fail;
        }
        if (rc == 0)
            continue;
        log_event("info", "migration applied", "name", m->name, NULL);
        applied++;
    }
    return applied;
fail:
    for (char *p = err; *p; p++)
        if (*p == '\n')
            *p = ' ';
    return -1;
}
