/* /v1/interactions: the log of every contact with a customer (沟通记录),
 * scoped like its customer (sales: customers they own; others → 404).
 * Handlers: see http/routes.c for roles and flags; each returns the status it
 * sent. Writers lock the customer before the interaction; the database
 * trigger then keeps customers.last_contact_at (and the customer's version). */
#ifndef CRM_INTERACTIONS_H
#define CRM_INTERACTIONS_H

#include "http/request.h"

/* GET /v1/interactions: keyset pages by occurred_at, filters, q on summary. */
int interactions_list(struct request *r);
/* GET /v1/interactions/{id}: 200 with ETag (304 on If-None-Match); the read is audited. */
int interactions_get(struct request *r);
/* POST /v1/interactions: 201 + Location; 422 for bad fields or references,
 * 409 when the customer is archived. */
int interactions_create(struct request *r);
/* PATCH /v1/interactions/{id}: merge patch; customer_id and author_id read-only; If-Match. */
int interactions_update(struct request *r);
/* DELETE /v1/interactions/{id}: archives (204, also when already archived); If-Match. */
int interactions_archive(struct request *r);
/* POST /v1/interactions/{id}/restore: 200; 409 when not archived or the customer is archived. */
int interactions_restore(struct request *r);

#endif
