#include <stdio.h>
#include <string.h>

#include "db/db.h"
#include "db/migrate.h"
#include "http/problem.h"
#include "http/response.h"
#include "ops/ops.h"

int ops_healthz(struct request *r)
{
    static const char body[] = "{\"status\":\"ok\"}";
    return reply_json(r, 200, body, sizeof body - 1);
}

int ops_readyz(struct request *r)
{
    struct db_conn *c = db_pool_acquire(1000);
    if (!c)
        return problem_send(r, 503, "the database is unreachable");
    int have = migrate_current_version(db_conn_pg(c));
    db_pool_release(c);
    int want = migrate_expected_version();
    /* Behind: this build needs migrations not applied yet. Ahead is fine: during a rolling
     * upgrade the new release migrates first (migrations are additive, README "Operations")
     * and the old replicas keep serving until they are replaced. */
    if (have < want)
        return problem_sendf(r, 503, "the schema is at version %d; this build expects %d", have, want);
    char body[64];
    int n = snprintf(body, sizeof body, "{\"status\":\"ready\",\"schema_version\":%d}", have);
    return reply_json(r, 200, body, (size_t)n);
}
