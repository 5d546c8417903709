/* The ERP transaction feed, ERP master data and customer tiering.
 * Handlers: see http/routes.c for roles and flags; each returns the status it sent. */
#ifndef CRM_TRANSACTIONS_H
#define CRM_TRANSACTIONS_H

#include "http/request.h"

#endif
