/* Start-up: configuration, keys, pool, migrations, admin, audit writer,
 * server, signals. Nothing else lives here. */
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/jwt.h"
#include "config.h"
#include "db/db.h"
#include "db/migrate.h"
#include "http/server.h"
#include "log.h"
#include "resources/audit.h"
#include "resources/cadence.h"
#include "resources/users.h"

#ifndef CRM_VERSION
#define CRM_VERSION "0.0.0"
#endif

static void usage(FILE *out)
{
    fputs("usage: crm-service [migrate | --help | --version]\n"
          "\n"
          "Serves the crm-service REST API. Configuration comes from the environment:\n"
          "  CRM_LISTEN               host:port (default 127.0.0.1:8080)\n"
          "  CRM_DATABASE_URL         libpq URI (default postgresql:///crm)\n"
          "  CRM_DATABASE_READ_URL    libpq URI of a streaming replica for lists and reports (default none)\n"
          "  CRM_DB_PREPARE           on (default) or off: unnamed statements, for PgBouncer transaction pooling\n"
          "  CRM_THREADS              HTTP worker threads (default 64)\n"
          "  CRM_DB_POOL_SIZE         database connections (default 2 per CPU core, at least 4)\n"
          "  CRM_JWT_ALG              HS256 (default), RS256 or ES256\n"
          "  CRM_JWT_SECRET           HS256 secret, at least 32 bytes\n"
          "  CRM_JWT_PUBLIC_KEY_FILE  RS256/ES256 public key (PEM)\n"
          "  CRM_JWT_PRIVATE_KEY_FILE RS256/ES256 private key (PEM); without it tokens are only verified\n"
          "  CRM_JWT_ISSUER           default crm-service\n"
          "  CRM_JWT_AUDIENCE         default crm-api\n"
          "  CRM_TOKEN_TTL_S          token lifetime in seconds (default 3600)\n"
          "  CRM_ADMIN_PASSWORD       creates user 'admin' when no active admin exists\n"
          "  CRM_MAX_BODY_BYTES       request body limit (default 1048576)\n"
          "  CRM_CORS_ORIGINS         comma-separated allowed origins\n"
          "  CRM_TIMEZONE             business time zone (default Asia/Shanghai)\n"
          "  CRM_MIGRATE              on (default) or off: apply migrations at start-up\n"
          "  CRM_STATEMENT_TIMEOUT_MS database statement timeout (default 5000)\n"
          "  CRM_BODY_TIMEOUT_MS      deadline for receiving a request body (default 10000)\n"
          "\n"
          "  migrate     apply pending migrations and exit\n",
          out);
}

/* libpq prints NOTICEs ("relation ... already exists, skipping") on stderr
 * by default; the migrations' IF NOT EXISTS makes them routine, and they are
 * not JSON log lines. */
static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static int run_migrations(void)
{
    char err[600];
    PGconn *pg = db_connect(err, sizeof err);
    if (!pg) {
        fprintf(stderr, "crm-service: cannot connect to the database: %s\n", err);
        return -1;
    }
    PQsetNoticeProcessor(pg, ignore_notice, NULL);
    int n = migrate_run(pg, err, sizeof err);
    PQfinish(pg);
    if (n < 0) {
        fprintf(stderr, "crm-service: %s\n", err);
        return -1;
    }
    char applied[16];
    snprintf(applied, sizeof applied, "%d", n);
    log_event("info", "schema up to date", "applied", applied, NULL);
    return 0;
}

int main(int argc, char **argv)
{
    bool migrate_only = false;
    if (argc > 1) {
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[1], "--version") == 0) {
            printf("crm-service %s\n", CRM_VERSION);
            return 0;
        }
        if (strcmp(argv[1], "migrate") == 0 && argc == 2) {
            migrate_only = true;
        } else {
            usage(stderr);
            return 2;
        }
    }

    /* Response buffers of a few hundred KiB are normal (a page of 200
     * customers): keep them on the heap rather than mmap/munmap per request,
     * which costs TLB shootdowns across every worker thread. */
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    mallopt(M_TRIM_THRESHOLD, 16 << 20);

    char err[256];
    if (config_load(&g_config, err, sizeof err) != 0) {
        fprintf(stderr, "crm-service: configuration error: %s\n", err);
        config_free(&g_config);
        return 2;
    }
    /* The business time zone is local time for the cadence figures (before any thread). */
    cadence_init(g_config.timezone);
    int rc = 1;
    if (log_start() != 0) {
        fputs("crm-service: cannot start the log flusher\n", stderr);
        config_free(&g_config);
        return 1;
    }
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    /* Blocked in every thread; main waits for them with sigwait. */
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (db_pool_init(g_config.database_url, migrate_only ? NULL : g_config.database_read_url, g_config.db_pool_size,
                     g_config.statement_timeout_ms, g_config.db_prepare) != 0)
        goto out;
    if (migrate_only) {
        rc = run_migrations() == 0 ? 0 : 1;
        goto out;
    }
    g_jwt_keys = jwt_keys_new(g_config.jwt_alg, (const unsigned char *)g_config.jwt_secret, g_config.jwt_secret_len,
                              g_config.jwt_public_pem, g_config.jwt_private_pem, err, sizeof err);
    if (!g_jwt_keys) {
        fprintf(stderr, "crm-service: configuration error: %s: %s\n",
                g_config.jwt_alg == CRM_JWT_HS256 ? "CRM_JWT_SECRET" : "CRM_JWT_PUBLIC_KEY_FILE", err);
        rc = 2;
        goto out;
    }
    if (g_config.migrate && run_migrations() != 0)
        goto out;
    if (g_config.admin_password && users_ensure_admin(g_config.admin_password) != 0)
        goto out;
    if (audit_writer_start() != 0)
        goto out;
    if (server_start() != 0) {
        audit_writer_stop();
        goto out;
    }
    int sig = 0;
    sigwait(&signals, &sig);
    log_event("info", "shutting down", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
    server_stop();
    audit_writer_stop();
    log_event("info", "stopped", NULL);
    rc = 0;
out:
    log_stop();
    db_pool_shutdown();
    jwt_keys_free(g_jwt_keys);
    g_jwt_keys = NULL;
    config_free(&g_config);
    return rc;
}
