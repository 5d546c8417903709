/* Operations endpoints (no authentication): liveness, readiness, metrics,
 * the contract and its HTML reference. */
#ifndef CRM_OPS_H
#define CRM_OPS_H

#include "http/request.h"

int ops_healthz(struct request *r);
int ops_readyz(struct request *r);
int ops_metrics(struct request *r);
int ops_openapi(struct request *r);
int ops_docs(struct request *r);

#endif
