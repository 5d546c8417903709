#include "http/problem.h"

#include <civetweb.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/response.h"

static const struct {
    int status;
    const char *slug;
    const char *title;
} problem_types[] = {
    {400, "bad-request", "Bad request"},
    {401, "unauthorized", "Authentication required"},
    {403, "forbidden", "Forbidden"},
    {404, "not-found", "Not found"},
    {405, "method-not-allowed", "Method not allowed"},
    {408, "request-timeout", "Request timeout"},
    {409, "conflict", "Conflict"},
    {412, "precondition-failed", "Precondition failed"},
    {413, "payload-too-large", "Payload too large"},
    {415, "unsupported-media-type", "Unsupported media type"},
    {422, "validation", "Validation failed"},
    {428, "precondition-required", "Precondition required"},
    {429, "too-many-requests", "Too many requests"},
    {500, "internal", "Internal server error"},
    {501, "not-implemented", "Not implemented"},
    {503, "unavailable", "Service unavailable"},
};

static json_t *problem_new(struct request *r, int status, const char *detail)
{
    const char *slug = "error", *title = "Error";
    for (size_t i = 0; i < ARRAY_LEN(problem_types); i++)
        if (problem_types[i].status == status) {
            slug = problem_types[i].slug;
            title = problem_types[i].title;
        }
    char type[128];
    snprintf(type, sizeof type, PROBLEM_TYPE_BASE "%s", slug);
    json_t *p = json_object();
    json_object_set_new(p, "type", json_string(type));
    json_object_set_new(p, "title", json_string(title));
    json_object_set_new(p, "status", json_integer(status));
    if (detail)
        json_object_set_new(p, "detail", json_string(detail));
    /* local_uri is decoded and may hold invalid UTF-8: Jansson then refuses it. */
    const char *uri = r->ri && r->ri->local_uri ? r->ri->local_uri : NULL;
    json_t *inst = uri ? json_string(uri) : NULL;
    if (inst)
        json_object_set_new(p, "instance", inst);
    json_object_set_new(p, "request_id", json_string(r->request_id));
    return p;
}

static int problem_finish(struct request *r, int status, json_t *p)
{
    char *text = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    if (!text) {
        static const char fallback[] = "{\"type\":\"" PROBLEM_TYPE_BASE "internal\",\"title\":\"Internal server error\",\"status\":500}";
        reply_raw(r, 500, "application/problem+json", fallback, sizeof fallback - 1);
        return 500;
    }
    reply_raw(r, status, "application/problem+json", text, strlen(text));
    free(text);
    if (status == 401)
        reply_header(r, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
    if (status == 503)
        reply_header(r, "Retry-After", "1");
    return status;
}

int problem_send(struct request *r, int status, const char *detail)
{
    return problem_finish(r, status, problem_new(r, status, detail));
}

int problem_sendf(struct request *r, int status, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return problem_send(r, status, detail);
}

void verr_add(struct verrs *v, const char *field, const char *fmt, ...)
{
    if (v->n == VERRS_MAX)
        return;
    snprintf(v->e[v->n].field, sizeof v->e[v->n].field, "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->e[v->n].message, sizeof v->e[v->n].message, fmt, ap);
    va_end(ap);
    v->n++;
}

int problem_validation(struct request *r, const struct verrs *v)
{
    char detail[64];
    snprintf(detail, sizeof detail, v->n == 1 ? "%d field is invalid" : "%d fields are invalid", v->n);
    json_t *p = problem_new(r, 422, detail);
    json_t *errors = json_array();
    for (int i = 0; i < v->n; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "field", json_string(v->e[i].field));
        json_object_set_new(e, "message", json_string(v->e[i].message));
        json_array_append_new(errors, e);
    }
    json_object_set_new(p, "errors", errors);
    return problem_finish(r, 422, p);
}

int problem_conflict_field(struct request *r, const char *field, const char *message)
{
    char detail[256];
    snprintf(detail, sizeof detail, "%s: %s", field, message);
    json_t *p = problem_new(r, 409, detail);
    json_t *errors = json_array();
    json_t *e = json_object();
    json_object_set_new(e, "field", json_string(field));
    json_object_set_new(e, "message", json_string(message));
    json_array_append_new(errors, e);
    json_object_set_new(p, "errors", errors);
    return problem_finish(r, 409, p);
}

int problem_state(struct request *r, const char *action, const char *current_state)
{
    return problem_sendf(r, 409, "cannot %s: the current state is '%s'", action, current_state);
}
