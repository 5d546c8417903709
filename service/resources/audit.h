/* The audit trail. Changes are recorded in the same transaction as the
 * change (audit_record). Reads of customer files are queued and written by
 * a background writer (audit_writer.c) every ~20 ms, in statements of at
 * most 2,000 rows. The crash window: reads served in the last ~20 ms (or
 * for as long as the database has been unreachable) can be missing from
 * the trail; a clean shutdown flushes everything. While the database is
 * away queued reads are kept and retried, never dropped. Backpressure: with
 * more than 4,000 reads unwritten, a new read waits for the writer (up to
 * 5 s, then 503) rather than being served unaudited. */
#ifndef CRM_AUDIT_H
#define CRM_AUDIT_H

#include "common.h"
#include "http/request.h"
#include "resources/render.h"

/* The audit entry document: key, SQL expression (alias a), rendering. The
 * select list (AUDIT_SELECT) and the renderer (audit_render) both come
 * from this one list; GET /v1/audit and the customer history use both. */
#define AUDIT_FIELDS(X)                                                                                       \
    X("id", "a.id", RK_STRING)                                                                                \
    X("at", "a.at", RK_TIMESTAMP)                                                                             \
    X("actor_id", "a.actor_id", RK_STRING)                                                                    \
    X("actor_role", "a.actor_role", RK_STRING)                                                                \
    X("action", "a.action", RK_STRING)                                                                        \
    X("entity", "a.entity", RK_STRING)                                                                        \
    X("entity_id", "a.entity_id", RK_STRING)                                                                  \
    X("customer_id", "a.customer_id", RK_STRING)                                                              \
    X("before", "a.before", RK_RAW)                                                                           \
    X("after", "a.after", RK_RAW)                                                                             \
    X("request_id", "a.request_id", RK_STRING)

/* The select list: every field, then whatever the query adds after it. */
#define AUDIT_SELECT AUDIT_FIELDS(RENDER_SQL)
extern const struct render_col audit_render[];
extern const int audit_ncols;

/* Inserts one audit row on the request's connection (inside its
 * transaction when there is one). before/after are JSON text or NULL.
 * Returns 0, or -1 after answering the client. */
int audit_record(struct request *r, const char *action, const char *entity, const char *entity_id,
                 const char *customer_id, const char *before, const char *after) WUR;
/* Queues a read of one customer-file entity. Returns 0, or -1 after
 * answering 503 when the queue is full. */
int audit_read(struct request *r, const char *entity, const char *entity_id, const char *customer_id) WUR;

/* Starts / stops (flushing) the background writer. */
int audit_writer_start(void) WUR;
void audit_writer_stop(void);

/* GET /v1/audit */
int audit_list(struct request *r);

#endif
