/* Placeholder until the resource is written: every handler answers 501. */
#include "resources/interactions.h"

#include "http/problem.h"

int interactions_list(struct request *r)
{
    return problem_send(r, 501, NULL);
}

int interactions_get(struct request *r)
{
    return problem_send(r, 501, NULL);
}

int interactions_create(struct request *r)
{
    return problem_send(r, 501, NULL);
}

int interactions_update(struct request *r)
{
    return problem_send(r, 501, NULL);
}

int interactions_archive(struct request *r)
{
    return problem_send(r, 501, NULL);
}

int interactions_restore(struct request *r)
{
    return problem_send(r, 501, NULL);
}

