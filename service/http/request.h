/* The request: one owner (the router) for everything a request holds —
 * decoded path parameters, query, body, parsed JSON, principal, leased
 * database connection and the response being built. Handlers borrow it and
 * never keep pointers past the request. */
#ifndef CRM_REQUEST_H
#define CRM_REQUEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "auth/rbac.h"
#include "common.h"

struct mg_connection;
struct mg_request_info;
struct route;
struct db_conn;

#define REQUEST_MAX_PATH_PARAMS 4
#define REQUEST_MAX_QUERY 32

struct query_param {
    char *key;   /* owned, URL-decoded */
    char *value; /* owned, URL-decoded */
};

struct request {
    struct mg_connection *conn;
    const struct mg_request_info *ri;
    const struct route *route;
    const char *method;
    char request_id[65];
    char *path_params[REQUEST_MAX_PATH_PARAMS]; /* owned */
    int n_path_params;
    struct query_param query[REQUEST_MAX_QUERY];
    int n_query;
    char *body; /* owned, NUL-terminated */
    size_t body_len;
    json_t *json; /* owned; NULL when the request had no body */
    struct principal principal;
    bool authenticated;
    struct db_conn *db; /* leased for the request; released by the router */
    const char *origin; /* borrowed header value when CORS allows it */
    char invalidate_user[37]; /* user whose cached role to drop again after commit */
    void (*on_commit)(void);  /* run once the request's transaction has committed (drops a cache) */
    int64_t started_us;

    /* Response being built; the router sends it when the handler returns. */
    int status;
    const char *content_type; /* static string */
    struct sbuf resp_headers;  /* "Name: value\r\n" lines */
    struct sbuf resp_body;
    bool close_connection;
};

/* Request header value (case-insensitive) or NULL; borrowed from Civetweb. */
const char *request_header(const struct request *r, const char *name);
/* Decoded path parameter i (0-based, in pattern order); never NULL for a matched route. */
const char *request_param(const struct request *r, int i);
/* Query value or NULL when absent. The router has already rejected unknown and repeated parameters. */
const char *request_query(const struct request *r, const char *key);

/* The request path with its %XX escapes decoded (Civetweb leaves it raw:
 * its decoding would cut a path at an escaped NUL, so "/v1/transactions/a%00b"
 * would name "a"). Caller frees; NULL on a bad escape, an escaped NUL or
 * invalid UTF-8. */
char *request_path_decode(const char *path) WUR;

/* Splits a raw query string into r->query. Returns 0, or -1 with a message
 * in err (malformed escape, repeated key, too many parameters). */
int request_parse_query(struct request *r, const char *qs, char *err, size_t errlen) WUR;

enum body_result { BODY_OK = 0, BODY_TOO_LARGE, BODY_TIMEOUT, BODY_IO_ERROR };
/* Reads the whole body into r->body with a cap of max_bytes and a total
 * deadline; reads nothing beyond max_bytes + 1. */
enum body_result request_read_body(struct request *r, size_t max_bytes, int timeout_ms) WUR;

/* Parses r->body into r->json: nesting bounded, duplicate keys rejected.
 * Returns 0, or -1 with a message in err. */
int request_parse_json(struct request *r, char *err, size_t errlen) WUR;

/* Releases everything the request owns except the database lease. */
void request_cleanup(struct request *r);

#endif
