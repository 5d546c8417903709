/* Placeholder until the resource is written: every handler answers 501. */
#include "resources/policies.h"

#include "http/problem.h"

int policies_cadence_get(struct request *r)
{
    return problem_send(r, 501, NULL);
}

int policies_cadence_put(struct request *r)
{
    return problem_send(r, 501, NULL);
}

