/* Placeholder until the resource is written: every handler answers 501. */
#include "resources/events.h"

#include "http/problem.h"

int events_list(struct request *r)
{
    return problem_send(r, 501, NULL);
}

int events_get(struct request *r)
{
    return problem_send(r, 501, NULL);
}

int events_create(struct request *r)
{
    return problem_send(r, 501, NULL);
}

int events_update(struct request *r)
{
    return problem_send(r, 501, NULL);
}

int events_archive(struct request *r)
{
    return problem_send(r, 501, NULL);
}

int events_restore(struct request *r)
{
    return problem_send(r, 501, NULL);
}

int events_customer_put(struct request *r)
{
    return problem_send(r, 501, NULL);
}

int events_customer_delete(struct request *r)
{
    return problem_send(r, 501, NULL);
}

