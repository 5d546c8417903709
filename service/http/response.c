#include "http/response.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/problem.h"

void reply_header(struct request *r, const char *name, const char *value)
{
    sbuf_printf(&r->resp_headers, "%s: %s\r\n", name, value);
}

int reply_raw(struct request *r, int status, const char *content_type, const char *body, size_t len)
{
    r->status = status;
    r->content_type = content_type;
    r->resp_body.len = 0;
    sbuf_append(&r->resp_body, body, len);
    return status;
}

int reply_json(struct request *r, int status, const char *json, size_t len)
{
    return reply_raw(r, status, "application/json", json, len);
}

int reply_json_buf(struct request *r, int status, struct sbuf *body)
{
    r->status = status;
    r->content_type = "application/json";
    sbuf_free(&r->resp_body);
    r->resp_body = *body;
    *body = (struct sbuf){0};
    return status;
}

int reply_json_value(struct request *r, int status, const json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT);
    if (!text)
        return problem_send(r, 500, NULL);
    reply_json(r, status, text, strlen(text));
    free(text);
    return status;
}

int reply_empty(struct request *r, int status)
{
    r->status = status;
    r->content_type = NULL;
    r->resp_body.len = 0;
    return status;
}

void reply_etag(struct request *r, const char *version)
{
    sbuf_printf(&r->resp_headers, "ETag: W/\"%s\"\r\n", version);
}

/* Parses one entity tag (W/"n" or "n") at *p; returns the version or -1. */
static long parse_etag(const char **p)
{
    const char *s = *p;
    while (*s == ' ' || *s == '\t')
        s++;
    if (s[0] == 'W' && s[1] == '/')
        s += 2;
    if (*s != '"')
        return -1;
    s++;
    char *end;
    if (*s < '0' || *s > '9')
        return -1;
    long v = strtol(s, &end, 10);
    if (*end != '"' || v < 0)
        return -1;
    *p = end + 1;
    return v;
}

bool request_etag_matches(const struct request *r, const char *version)
{
    const char *h = request_header(r, "If-None-Match");
    if (!h)
        return false;
    long want = strtol(version, NULL, 10);
    const char *p = h;
    for (;;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            return false;
        if (*p == '*')
            return true;
        long v = parse_etag(&p);
        if (v < 0)
            return false;
        if (v == want)
            return true;
    }
}

long request_if_match_version(struct request *r)
{
    const char *h = request_header(r, "If-Match");
    if (!h)
        return 0;
    const char *p = h;
    while (*p == ' ')
        p++;
    if (p[0] == '*' && p[strspn(p + 1, " ") + 1] == '\0')
        return 0; /* RFC 9110: "*" matches any current representation */
    long v = parse_etag(&p);
    while (*p == ' ')
        p++;
    if (v < 1 || *p) {
        problem_send(r, 400, "If-Match must be one entity tag such as W/\"3\"");
        return -1;
    }
    return v;
}

int request_check_if_match(struct request *r, const char *current_version)
{
    long want = request_if_match_version(r);
    if (want < 0)
        return -1;
    if (want == 0 || want == strtol(current_version, NULL, 10))
        return 0;
    problem_sendf(r, 412, "the record has changed: current version is %s", current_version);
    reply_etag(r, current_version);
    return -1;
}
