#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct config g_config;
struct jwt_keys *g_jwt_keys;

static int bad(char *err, size_t errlen, const char *var, const char *why)
{
    snprintf(err, errlen, "%s: %s", var, why);
    return -1;
}

static int env_int(const char *var, int def, int min, int max, int *out, char *err, size_t errlen)
{
    const char *v = getenv(var);
    if (!v || !*v) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || n < min || n > max) {
        char why[96];
        snprintf(why, sizeof why, "must be an integer between %d and %d", min, max);
        return bad(err, errlen, var, why);
    }
    *out = (int)n;
    return 0;
}

/* Two connections per core: more only queue inside PostgreSQL and lengthen
 * the latency tail (measured: p99 of reads 160 ms with 8 on 2 cores, 12 ms
 * with 4, same throughput). */
static int default_pool_size(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores >= 2 ? (int)(cores * 2 > 256 ? 256 : cores * 2) : 4;
}

static int env_on_off(const char *var, bool def, bool *out, char *err, size_t errlen)
{
    const char *v = getenv(var);
    if (!v || !*v)
        *out = def;
    else if (strcmp(v, "on") == 0)
        *out = true;
    else if (strcmp(v, "off") == 0)
        *out = false;
    else
        return bad(err, errlen, var, "must be on or off");
    return 0;
}

static char *env_dup(const char *var, const char *def)
{
    const char *v = getenv(var);
    if (!v || !*v)
        return def ? xstrdup(def) : NULL;
    return xstrdup(v);
}

static char *read_file(const char *path, size_t max)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = xmalloc(max + 1);
    size_t n = fread(buf, 1, max, f);
    bool more = fgetc(f) != EOF;
    fclose(f);
    if (more || n == 0) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

static bool listen_valid(const char *s)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s)
        return false;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 1 || port > 65535)
        return false;
    for (const char *p = s; p < colon; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != '[' && *p != ']' && *p != ':')
            return false;
    return true;
}

static bool timezone_valid(const char *tz)
{
    if (!*tz || strlen(tz) > 64 || strstr(tz, ".."))
        return false;
    for (const char *p = tz; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("/_+-", *p))
            return false;
    /* The service computes business dates itself (resources/cadence.h), so
     * the zone must exist in this machine's tzdata too; UTC needs none. */
    if (strcmp(tz, "UTC") == 0)
        return true;
    struct stat st;
    char path[128];
    snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", tz);
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static char **split_origins(const char *s)
{
    size_t n = 1;
    for (const char *p = s; *p; p++)
        n += *p == ',';
    char **list = xcalloc(n + 1, sizeof *list);
    size_t i = 0;
    const char *start = s;
    for (;;) {
        const char *end = strchr(start, ',');
        size_t len = end ? (size_t)(end - start) : strlen(start);
        while (len && isspace((unsigned char)*start)) {
            start++;
            len--;
        }
        while (len && isspace((unsigned char)start[len - 1]))
            len--;
        if (len)
            list[i++] = xstrndup(start, len);
        if (!end)
            break;
        start = end + 1;
    }
    return list;
}

int config_load(struct config *cfg, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    const char *listen = getenv("CRM_LISTEN");
    if (!listen || !*listen)
        listen = "127.0.0.1:8080";
    if (strlen(listen) >= sizeof cfg->listen || !listen_valid(listen))
        return bad(err, errlen, "CRM_LISTEN", "must be host:port, e.g. 127.0.0.1:8080");
    snprintf(cfg->listen, sizeof cfg->listen, "%s", listen);

    cfg->database_url = env_dup("CRM_DATABASE_URL", "postgresql:///crm");
    cfg->database_read_url = env_dup("CRM_DATABASE_READ_URL", NULL);
    if (env_on_off("CRM_DB_PREPARE", true, &cfg->db_prepare, err, errlen))
        return -1;
    if (env_int("CRM_THREADS", 64, 2, 1024, &cfg->threads, err, errlen) ||
        env_int("CRM_DB_POOL_SIZE", default_pool_size(), 1, 256, &cfg->db_pool_size, err, errlen) ||
        env_int("CRM_TOKEN_TTL_S", 3600, 60, 86400 * 7, &cfg->token_ttl_s, err, errlen) ||
        env_int("CRM_STATEMENT_TIMEOUT_MS", 5000, 100, 600000, &cfg->statement_timeout_ms, err, errlen) ||
        env_int("CRM_BODY_TIMEOUT_MS", 10000, 100, 600000, &cfg->body_timeout_ms, err, errlen))
        return -1;
    int max_body;
    if (env_int("CRM_MAX_BODY_BYTES", 1 << 20, 1024, 64 << 20, &max_body, err, errlen))
        return -1;
    cfg->max_body_bytes = (size_t)max_body;

    const char *alg = getenv("CRM_JWT_ALG");
    if (!alg || !*alg)
        alg = "HS256";
    if (jwt_alg_parse(alg, &cfg->jwt_alg) != 0)
        return bad(err, errlen, "CRM_JWT_ALG", "must be HS256, RS256 or ES256");
    if (cfg->jwt_alg == CRM_JWT_HS256) {
        cfg->jwt_secret = env_dup("CRM_JWT_SECRET", NULL);
        if (!cfg->jwt_secret)
            return bad(err, errlen, "CRM_JWT_SECRET", "is required with HS256 (at least 32 bytes)");
        cfg->jwt_secret_len = strlen(cfg->jwt_secret);
        if (cfg->jwt_secret_len < 32)
            return bad(err, errlen, "CRM_JWT_SECRET", "must be at least 32 bytes long");
    } else {
        const char *pub = getenv("CRM_JWT_PUBLIC_KEY_FILE");
        if (!pub || !*pub)
            return bad(err, errlen, "CRM_JWT_PUBLIC_KEY_FILE", "is required with RS256/ES256");
        cfg->jwt_public_pem = read_file(pub, 64 * 1024);
        if (!cfg->jwt_public_pem)
            return bad(err, errlen, "CRM_JWT_PUBLIC_KEY_FILE", "cannot be read (missing, empty or over 64 KiB)");
        const char *priv = getenv("CRM_JWT_PRIVATE_KEY_FILE");
        if (priv && *priv) {
            cfg->jwt_private_pem = read_file(priv, 64 * 1024);
            if (!cfg->jwt_private_pem)
                return bad(err, errlen, "CRM_JWT_PRIVATE_KEY_FILE", "cannot be read (missing, empty or over 64 KiB)");
        }
    }
    cfg->jwt_issuer = env_dup("CRM_JWT_ISSUER", "crm-service");
    cfg->jwt_audience = env_dup("CRM_JWT_AUDIENCE", "crm-api");
    cfg->admin_password = env_dup("CRM_ADMIN_PASSWORD", NULL);
    if (cfg->admin_password && strlen(cfg->admin_password) < 12)
        return bad(err, errlen, "CRM_ADMIN_PASSWORD", "must be at least 12 characters");

    const char *cors = getenv("CRM_CORS_ORIGINS");
    cfg->cors_origins = split_origins(cors ? cors : "");
    for (char **o = cfg->cors_origins; *o; o++)
        if (strcmp(*o, "*") != 0 && strncmp(*o, "http://", 7) != 0 && strncmp(*o, "https://", 8) != 0)
            return bad(err, errlen, "CRM_CORS_ORIGINS", "must be a comma-separated list of http(s) origins or *");

    cfg->timezone = env_dup("CRM_TIMEZONE", "Asia/Shanghai");
    if (!timezone_valid(cfg->timezone))
        return bad(err, errlen, "CRM_TIMEZONE",
                   "must be an IANA time zone name of this machine's tzdata (/usr/share/zoneinfo), "
                   "such as Asia/Shanghai");

    return env_on_off("CRM_MIGRATE", true, &cfg->migrate, err, errlen);
}

void config_free(struct config *cfg)
{
    free(cfg->database_url);
    free(cfg->database_read_url);
    if (cfg->jwt_secret)
        memset(cfg->jwt_secret, 0, cfg->jwt_secret_len);
    free(cfg->jwt_secret);
    free(cfg->jwt_public_pem);
    free(cfg->jwt_private_pem);
    free(cfg->jwt_issuer);
    free(cfg->jwt_audience);
    free(cfg->admin_password);
    if (cfg->cors_origins)
        for (char **o = cfg->cors_origins; *o; o++)
            free(*o);
    free(cfg->cors_origins);
    free(cfg->timezone);
    memset(cfg, 0, sizeof *cfg);
}

bool config_cors_allowed(const struct config *cfg, const char *origin)
{
    if (!origin || !cfg->cors_origins)
        return false;
    for (char **o = cfg->cors_origins; *o; o++)
        if (strcmp(*o, "*") == 0 || strcmp(*o, origin) == 0)
            return true;
    return false;
}
