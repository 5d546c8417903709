/* Placeholder until the resource is written: every handler answers 501. */
#include "resources/visit_plans.h"

#include "http/problem.h"

int visit_plans_list(struct request *r)
{
    return problem_send(r, 501, NULL);
}

int visit_plans_get(struct request *r)
{
    return problem_send(r, 501, NULL);
}

int visit_plans_create(struct request *r)
{
    return problem_send(r, 501, NULL);
}

int visit_plans_update(struct request *r)
{
    return problem_send(r, 501, NULL);
}

int visit_plans_approve(struct request *r)
{
    return problem_send(r, 501, NULL);
}

int visit_plans_cancel(struct request *r)
{
    return problem_send(r, 501, NULL);
}

