/* The request pipeline: match → 404/405, authenticate → 401, role → 403,
 * query → 400, content type → 415, body → 413/408, JSON → 400, lease a
 * connection → 503, idempotency replay, handler (in a transaction when the
 * route asks), then send, log one line and count metrics. */
#ifndef CRM_ROUTER_H
#define CRM_ROUTER_H

#include "http/routes.h"

struct mg_connection;

/* Civetweb request handler for every path. Returns the status sent. */
int router_handle(struct mg_connection *conn, void *cbdata);

/* Requests inside router_handle right now (for draining at shutdown). */
int router_in_flight(void);
/* From now on answer new requests 503 (Connection: close) so in-flight ones can drain. */
void router_begin_drain(void);

/* Matches method and path against the table. Returns the route or NULL;
 * *path_matched tells whether some route has this path (→ 405 rather than
 * 404) and allow receives the methods for that path ("GET, POST").
 * Decoded parameters are copied into params (caller frees). */
const struct route *router_match(const char *method, const char *path, bool *path_matched, char *allow,
                                 size_t allow_len, char **params, int *n_params);

#endif
