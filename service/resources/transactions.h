/* The ERP transaction feed, ERP master data and customer tiering.
 * Handlers: see http/routes.c for roles and flags; each returns the status it sent. */
#ifndef CRM_TRANSACTIONS_H
#define CRM_TRANSACTIONS_H

#include "http/request.h"

/* /v1/transactions (transactions.c): purchase history pushed by the ERP. */
int transactions_list(struct request *r);
int transactions_get(struct request *r);
int transactions_put(struct request *r);
int transactions_batch(struct request *r);
int transactions_archive(struct request *r);
int transactions_restore(struct request *r);

/* Tiers (tiers.c): GET /v1/customers/{id}/tier-history and
 * POST /v1/tiers/recompute. */
int customers_tier_history(struct request *r);
int tiers_recompute(struct request *r);

/* ERP master data (erp_customers.c): PUT /v1/customers/by-external-code/{code}. */
int customers_upsert_by_code(struct request *r);

/* Sets the transaction-local settings the tier triggers of migration 0006
 * read (crm.actor_id, crm.actor_role, crm.request_id), so the history and
 * audit rows of a tier change name who caused it. Call inside the
 * request's transaction before writing. Returns 0, or -1 after answering. */
int tier_actor_set(struct request *r) WUR;

/* For a PUT that is about to create its record: no If-Match → 0; a
 * malformed one → 400; any other (a version, or "*", of a record that does
 * not exist) → 412. Returns 0, or -1 after answering. */
int if_match_creating(struct request *r) WUR;

#endif
