/* Prometheus counters kept in process memory (lock-free atomics). */
#ifndef CRM_METRICS_H
#define CRM_METRICS_H

#include <stdint.h>

#include "common.h"

/* route_index is an index into routes[], or -1 for unmatched requests. */
void metrics_record(int route_index, int status, int64_t duration_us);
/* Appends the exposition text. */
void metrics_render(struct sbuf *out);

#endif
