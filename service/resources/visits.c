/* Placeholder until the resource is written: every handler answers 501. */
#include "resources/visits.h"

#include "http/problem.h"

int visits_list(struct request *r)
{
    return problem_send(r, 501, NULL);
}

int visits_get(struct request *r)
{
    return problem_send(r, 501, NULL);
}

int visits_create(struct request *r)
{
    return problem_send(r, 501, NULL);
}

int visits_update(struct request *r)
{
    return problem_send(r, 501, NULL);
}

int visits_archive(struct request *r)
{
    return problem_send(r, 501, NULL);
}

int visits_restore(struct request *r)
{
    return problem_send(r, 501, NULL);
}

