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

static int apply_one(PGconn *pg, const struct embedded_file *m, char *err, size_t errlen)
{
    int version = migration_number(m->name);
    char v[16];
    snprintf(v, sizeof v, "%d", version);
    const char *params[] = {v, m->name};
    if (db_exec_const(pg, "BEGIN", err, errlen) != 0)
        return -1;
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
    return 0;
fail:;
    char ignored[64];
    (void)!db_exec_const(pg, "ROLLBACK", ignored, sizeof ignored);
    return -1;
}

int migrate_run(PGconn *pg, char *err, size_t errlen)
{
    int applied = 0;
    if (db_exec_const(pg, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", err, errlen) != 0)
        return -1;
    if (db_exec_const(pg,
                      "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, "
                      "applied_at timestamptz NOT NULL DEFAULT now())",
                      err, errlen) != 0)
        goto fail;
    for (size_t i = 0; i < embedded_migrations_count; i++) {
        const struct embedded_file *m = &embedded_migrations[i];
        int done = version_applied(pg, migration_number(m->name), err, errlen);
        if (done < 0)
            goto fail;
        if (done)
            continue;
        char what[512];
        if (apply_one(pg, m, what, sizeof what) != 0) {
            snprintf(err, errlen, "migration %s failed: %.400s", m->name, what);
            goto fail;
        }
        log_event("info", "migration applied", "name", m->name, NULL);
        applied++;
    }
    char ignored[64];
    (void)!db_exec_const(pg, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", ignored, sizeof ignored);
    return applied;
fail:;
    char ignored2[64];
    (void)!db_exec_const(pg, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", ignored2, sizeof ignored2);
    for (char *p = err; *p; p++)
        if (*p == '\n')
            *p = ' ';
    return -1;
}
