/* THE route table: every endpoint is one row, checked centrally by the
 * router before its handler runs (see router.c for the pipeline). */
#ifndef CRM_ROUTES_H
#define CRM_ROUTES_H

#include <stddef.h>

#include "http/request.h"

/* Handlers return the HTTP status they recorded with reply_* / problem_*. */
typedef int (*handler_fn)(struct request *r);

enum route_flags {
    RT_PUBLIC = 1u << 0,   /* no authentication */
    RT_DB = 1u << 1,       /* lease a connection (implied for authenticated routes) */
    RT_BODY = 1u << 2,     /* a JSON body is required */
    RT_BODY_OPT = 1u << 3, /* a JSON body may be sent (actions) */
    RT_TX = 1u << 4,       /* run the handler in one transaction */
    RT_REPLICA = 1u << 5,  /* read-only and may lag: served from CRM_DATABASE_READ_URL when set.
                              Top-level lists and reports only: never a route with a path
                              parameter (a record, or a list under one, must see the caller's
                              own writes: a just-created customer must not 404), never a write */
};

struct route {
    const char *method;
    const char *pattern;        /* "/v1/customers/{id}"; also the metrics label */
    handler_fn handler;
    unsigned roles;             /* enum role bits allowed; 0 with RT_PUBLIC */
    unsigned flags;
    const char *const *query;   /* allowed query parameters, NULL-terminated; NULL = none */
};

extern const struct route routes[];
extern const size_t routes_count;

#endif
