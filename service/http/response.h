/* Building the response. Every function records into r and returns the
 * status so handlers can `return reply_json(...)`. The router sends. */
#ifndef CRM_RESPONSE_H
#define CRM_RESPONSE_H

#include <jansson.h>

#include "http/request.h"

/* Adds a response header (copied). */
void reply_header(struct request *r, const char *name, const char *value);
/* JSON text body (copied). */
int reply_json(struct request *r, int status, const char *json, size_t len);
/* JSON body handed over: takes body's buffer (body is left empty). */
int reply_json_buf(struct request *r, int status, struct sbuf *body);
/* Serialises v (borrowed). A serialisation failure becomes a 500 problem. */
int reply_json_value(struct request *r, int status, const json_t *v);
/* Status with no body (204, 304). */
int reply_empty(struct request *r, int status);
/* Any other content type (static string), body copied. */
int reply_raw(struct request *r, int status, const char *content_type, const char *body, size_t len);
/* Sets ETag: W/"<version>". */
void reply_etag(struct request *r, const char *version);
/* True when If-None-Match names this version (the caller then answers 304). */
bool request_etag_matches(const struct request *r, const char *version);

/* If-Match handling for writes: returns 0 when absent or it names
 * current_version, else sends 412 and returns -1. A malformed If-Match is
 * answered 400. */
int request_check_if_match(struct request *r, const char *current_version) WUR;
/* The version an If-Match header names: 0 when absent, -1 (400 sent) when malformed. */
long request_if_match_version(struct request *r);

#endif
