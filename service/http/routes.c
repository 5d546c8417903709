/* THE route table. tests/unit/test_routes.c checks it against
 * api/openapi.yaml so the contract and the code cannot drift. */
#include "http/routes.h"

#include "ops/ops.h"
#include "resources/audit.h"
#include "resources/contacts.h"
#include "resources/customers.h"
#include "resources/users.h"

#define ROLES(x) (x)
#define SALES ROLE_SALES
#define MANAGER ROLE_SALES_MANAGER
#define FINANCE ROLE_FINANCE
#define OFFICE ROLE_OFFICE
#define ADMIN ROLE_ADMIN
#define ERP ROLE_ERP
#define ALL ROLES_ALL

static const char *const Q_PAGE[] = {"limit", "cursor", NULL};
static const char *const Q_USERS[] = {"role", "active", "q", "limit", "cursor", NULL};
static const char *const Q_CUSTOMERS[] = {"status", "tier", "owner_id", "region", "industry", "record_status", "q",
                                          "include_archived", "sort", "limit", "cursor", NULL};
static const char *const Q_CONTACTS[] = {"q", "include_archived", "limit", "cursor", NULL};
static const char *const Q_AUDIT[] = {"actor_id", "entity", "entity_id", "customer_id", "action", "from", "to",
                                      "limit", "cursor", NULL};

const struct route routes[] = {
    /* operations (no auth) */
    {"GET", "/healthz", ops_healthz, 0, RT_PUBLIC, NULL},
    {"GET", "/readyz", ops_readyz, 0, RT_PUBLIC, NULL},
    {"GET", "/metrics", ops_metrics, 0, RT_PUBLIC, NULL},
    {"GET", "/openapi.yaml", ops_openapi, 0, RT_PUBLIC, NULL},
    {"GET", "/docs", ops_docs, 0, RT_PUBLIC, NULL},

    /* identity */
    {"POST", "/v1/auth/token", auth_token, 0, RT_PUBLIC | RT_DB | RT_BODY, NULL},
    {"GET", "/v1/me", users_me, ROLES(ALL), 0, NULL},
    {"GET", "/v1/users", users_list, ROLES(ADMIN), 0, Q_USERS},
    {"POST", "/v1/users", users_create, ROLES(ADMIN), RT_BODY | RT_TX, NULL},
    {"GET", "/v1/users/{id}", users_get, ROLES(ADMIN), 0, NULL},
    {"PATCH", "/v1/users/{id}", users_update, ROLES(ADMIN), RT_BODY | RT_TX, NULL},
    {"DELETE", "/v1/users/{id}", users_deactivate, ROLES(ADMIN), RT_TX, NULL},

    /* customers */
    {"GET", "/v1/customers", customers_list, ROLES(ALL), 0, Q_CUSTOMERS},
    {"POST", "/v1/customers", customers_create, ROLES(SALES | MANAGER | ADMIN), RT_BODY, NULL},
    {"GET", "/v1/customers/{id}", customers_get, ROLES(ALL), 0, NULL},
    {"PATCH", "/v1/customers/{id}", customers_update, ROLES(SALES | MANAGER | FINANCE | ADMIN), RT_BODY | RT_TX, NULL},
    {"DELETE", "/v1/customers/{id}", customers_archive, ROLES(SALES | MANAGER | ADMIN), RT_TX, NULL},
    {"POST", "/v1/customers/{id}/restore", customers_restore, ROLES(SALES | MANAGER | ADMIN), RT_BODY_OPT | RT_TX, NULL},
    {"POST", "/v1/customers/{id}/submit", customers_submit, ROLES(SALES | MANAGER | ADMIN), RT_BODY_OPT | RT_TX, NULL},
    {"POST", "/v1/customers/{id}/approve", customers_approve, ROLES(MANAGER | ADMIN), RT_BODY_OPT | RT_TX, NULL},
    {"POST", "/v1/customers/{id}/return", customers_return, ROLES(MANAGER | ADMIN), RT_BODY | RT_TX, NULL},
    {"GET", "/v1/customers/{id}/history", customers_history, ROLES(ALL), 0, Q_PAGE},

    /* contacts */
    {"GET", "/v1/customers/{id}/contacts", contacts_list, ROLES(ALL), 0, Q_CONTACTS},
    {"POST", "/v1/customers/{id}/contacts", contacts_create, ROLES(SALES | MANAGER | ADMIN), RT_BODY | RT_TX, NULL},
    {"GET", "/v1/customers/{id}/contacts/{contact_id}", contacts_get, ROLES(ALL), 0, NULL},
    {"PATCH", "/v1/customers/{id}/contacts/{contact_id}", contacts_update, ROLES(SALES | MANAGER | ADMIN),
     RT_BODY | RT_TX, NULL},
    {"DELETE", "/v1/customers/{id}/contacts/{contact_id}", contacts_archive, ROLES(SALES | MANAGER | ADMIN), RT_TX,
     NULL},
    {"POST", "/v1/customers/{id}/contacts/{contact_id}/restore", contacts_restore, ROLES(SALES | MANAGER | ADMIN),
     RT_BODY_OPT | RT_TX, NULL},

    /* audit */
    {"GET", "/v1/audit", audit_list, ROLES(OFFICE | ADMIN), 0, Q_AUDIT},
};

const size_t routes_count = sizeof routes / sizeof routes[0];
