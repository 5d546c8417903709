/* Forward-only migrations from sql/migrations (embedded in the binary). */
#ifndef CRM_MIGRATE_H
#define CRM_MIGRATE_H

#include <libpq-fe.h>
#include <stddef.h>

#include "common.h"

/* Applies every pending migration, each in its own transaction, recorded
 * in schema_migrations, under a transaction-level advisory lock so replicas
 * can start together (and so it works behind a transaction pooler).
 * Returns the number applied, or -1 with the reason in err. */
int migrate_run(PGconn *pg, char *err, size_t errlen) WUR;
/* The version this binary expects (number of the last migration). */
int migrate_expected_version(void);
/* The version the database is at; 0 when none, -1 on error. */
int migrate_current_version(PGconn *pg);

#endif
