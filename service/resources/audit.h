/* The audit trail. Changes are recorded in the same transaction as the
 * change (audit_record). Reads of customer files are queued and written by
 * a background writer every ~100 ms in one statement: on a crash, reads
 * served in the last flush window (at most ~100 ms, or longer while the
 * database is unreachable) can be missing from the trail; a clean shutdown
 * flushes everything. When the queue is full the read is refused (503)
 * rather than served unaudited. */
#ifndef CRM_AUDIT_H
#define CRM_AUDIT_H

#include "common.h"
#include "http/request.h"

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
