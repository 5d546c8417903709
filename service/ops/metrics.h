/* Prometheus counters kept in process memory (lock-free atomics). */
#ifndef CRM_METRICS_H
#define CRM_METRICS_H

#include <stdint.h>

#include "common.h"

/* Counters are kept per route for this many routes (test_routes checks the
 * route table fits); requests of any later route would count as unmatched. */
#define METRICS_MAX_ROUTES 512

/* route_index is an index into routes[], or -1 for unmatched requests. */
void metrics_record(int route_index, int status, int64_t duration_us);
/* Appends the exposition text. */
void metrics_render(struct sbuf *out);

#endif
