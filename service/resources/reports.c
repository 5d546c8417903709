/* Placeholder until the resource is written: every handler answers 501. */
#include "resources/reports.h"

#include "http/problem.h"

int reports_overdue(struct request *r)
{
    return problem_send(r, 501, NULL);
}

int reports_visit_completion(struct request *r)
{
    return problem_send(r, 501, NULL);
}

