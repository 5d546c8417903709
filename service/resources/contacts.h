/* /v1/customers/{id}/contacts: a customer's contact persons. Contacts follow
 * their customer's scope (customer_check_visible). */
#ifndef CRM_CONTACTS_H
#define CRM_CONTACTS_H

#include "http/request.h"

int contacts_list(struct request *r);
int contacts_get(struct request *r);
int contacts_create(struct request *r);
int contacts_update(struct request *r);
int contacts_archive(struct request *r);
int contacts_restore(struct request *r);

#endif
