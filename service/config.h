/* Configuration from CRM_* environment variables. Loaded once at start-up,
 * read-only afterwards (g_config). */
#ifndef CRM_CONFIG_H
#define CRM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/jwt.h"
#include "common.h"

struct config {
    char listen[128];        /* host:port for Civetweb, e.g. "127.0.0.1:8080" */
    char *database_url;      /* libpq URI or conninfo; owned */
    char *database_read_url; /* streaming replica for RT_REPLICA routes; NULL = none; owned */
    bool db_prepare;         /* named prepared statements (off behind PgBouncer transaction pooling) */
    int threads;             /* Civetweb worker threads */
    int db_pool_size;        /* bounded connection pool */
    enum jwt_alg_id jwt_alg;
    char *jwt_secret;        /* HS256 secret; owned */
    size_t jwt_secret_len;
    char *jwt_public_pem;    /* RS256/ES256 public key PEM text; owned */
    char *jwt_private_pem;   /* optional private key PEM; owned */
    char *jwt_issuer;        /* owned */
    char *jwt_audience;      /* owned */
    int token_ttl_s;
    char *admin_password;    /* NULL when unset; owned */
    size_t max_body_bytes;
    char **cors_origins;     /* NULL-terminated list; owned; "*" allows any */
    char *timezone;          /* IANA name for business periods; owned */
    bool migrate;            /* apply migrations at start-up */
    int statement_timeout_ms;
    int body_timeout_ms;     /* total deadline for reading one request body */
};

extern struct config g_config;
/* Keys built from the configuration at start-up; immutable afterwards. */
extern struct jwt_keys *g_jwt_keys;

/* Fills cfg from the environment. On a bad value returns -1 and writes one
 * line naming the variable into err. */
int config_load(struct config *cfg, char *err, size_t errlen) WUR;
void config_free(struct config *cfg);
/* True when origin is one of the configured CORS origins. */
bool config_cors_allowed(const struct config *cfg, const char *origin);

#endif
