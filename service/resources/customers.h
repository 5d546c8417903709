/* /v1/customers: the customer file, its ownership, record review and history. */
#ifndef CRM_CUSTOMERS_H
#define CRM_CUSTOMERS_H

#include "http/request.h"

int customers_list(struct request *r);
int customers_get(struct request *r);
int customers_create(struct request *r);
int customers_update(struct request *r);
int customers_archive(struct request *r);
int customers_restore(struct request *r);
int customers_submit(struct request *r);
int customers_approve(struct request *r);
int customers_return(struct request *r);
int customers_history(struct request *r);

/* Whether the customer named by id exists and the principal may see it
 * (sales: owns it). With lock, the row is locked FOR UPDATE. Returns 1
 * visible, 0 after answering 404, -1 after answering an error. */
int customer_check_visible(struct request *r, const char *id, bool lock) WUR;

#endif
