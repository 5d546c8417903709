/* Placeholder until the resource is written: every handler answers 501. */
#include "resources/follow_ups.h"

#include "http/problem.h"

int follow_ups_list(struct request *r)
{
    return problem_send(r, 501, NULL);
}

int follow_ups_get(struct request *r)
{
    return problem_send(r, 501, NULL);
}

int follow_ups_create(struct request *r)
{
    return problem_send(r, 501, NULL);
}

int follow_ups_update(struct request *r)
{
    return problem_send(r, 501, NULL);
}

int follow_ups_archive(struct request *r)
{
    return problem_send(r, 501, NULL);
}

int follow_ups_restore(struct request *r)
{
    return problem_send(r, 501, NULL);
}

int follow_ups_start(struct request *r)
{
    return problem_send(r, 501, NULL);
}

int follow_ups_complete(struct request *r)
{
    return problem_send(r, 501, NULL);
}

int follow_ups_verify(struct request *r)
{
    return problem_send(r, 501, NULL);
}

int follow_ups_reopen(struct request *r)
{
    return problem_send(r, 501, NULL);
}

