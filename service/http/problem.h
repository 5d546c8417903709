/* RFC 9457 problem details, rendered in one place. */
#ifndef CRM_PROBLEM_H
#define CRM_PROBLEM_H

#include "http/request.h"

#define PROBLEM_TYPE_BASE "https://crm-service/problems/"
#define VERRS_MAX 32

/* Sends a problem for status with the standard type and title for that
 * status and an optional detail (copied, may be NULL). Returns status. */
int problem_send(struct request *r, int status, const char *detail);
int problem_sendf(struct request *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A list of field errors collected by validators. Strings are copied. */
struct verrs {
    int n;
    struct {
        char field[64];
        char message[160];
    } e[VERRS_MAX];
};
void verr_add(struct verrs *v, const char *field, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* 422 listing every field error. Returns 422. */
int problem_validation(struct request *r, const struct verrs *v);
/* 409 naming one field (unique key) or the current state. */
int problem_conflict_field(struct request *r, const char *field, const char *message);
/* 409 for a workflow action from the wrong state. */
int problem_state(struct request *r, const char *action, const char *current_state);

#endif
