/* Field specs and named validators. A resource declares its writable
 * fields once (name, column, type, limits, which roles may set them);
 * fields_collect checks a JSON body against them and yields SQL parameter
 * text per field, collecting every error for one 422 answer. */
#ifndef CRM_VALIDATE_H
#define CRM_VALIDATE_H

#include <jansson.h>
#include <stdbool.h>

#include "http/problem.h"

enum field_type {
    FT_TEXT,     /* string, max_len characters, trimmed; "" clears an optional field */
    FT_EMAIL,
    FT_PHONE,
    FT_URL,
    FT_DATE,     /* YYYY-MM-DD */
    FT_PAST_DATE, /* YYYY-MM-DD, not after today */
    FT_MONEY,    /* non-negative exact decimal string, 2 decimals max */
    FT_ENUM,
    FT_BOOL,
    FT_UUID,
    FT_TAX_ID,   /* unified social credit code: 15..20 of [0-9A-Z] */
    FT_USERNAME,
    FT_PASSWORD, /* 12..256 characters */
    FT_NEEDS,    /* customers' business_needs object */
    FT_TIMESTAMP,      /* RFC 3339 with offset */
    FT_PAST_TIMESTAMP, /* RFC 3339 with offset, at most 5 minutes ahead of now */
    FT_UUID_LIST,      /* JSON array of at most max_len distinct ids; value is JSON array text (lower case) */
    FT_TEXT_LIST,      /* JSON array of at most max_len strings of 1..100 characters; value is JSON array text */
    FT_INT,            /* JSON integer 0..max_len; value is its decimal text */
    FT_POS_INT,        /* JSON integer 1..max_len */
};

enum field_flags {
    FF_REQUIRED = 1u << 0, /* must be present (and non-null) on create */
    FF_NOT_NULL = 1u << 1, /* may be omitted but never set to null */
};

struct field_spec {
    const char *name;
    const char *column; /* SQL column; a constant from this table, never from input */
    enum field_type type;
    int max_len;
    const char *const *choices; /* FT_ENUM: NULL-terminated */
    unsigned roles;             /* roles that may set it; 0 = read-only */
    unsigned flags;
};

#define FIELDS_MAX 40

/* The accepted fields of one body, in spec order (whatever the body's order). value is NULL for JSON
 * null; otherwise owned text ready to bind as a parameter. */
struct field_values {
    int n;
    struct {
        const struct field_spec *spec;
        char *value;
    } f[FIELDS_MAX];
};

/* Checks body (a JSON object) against specs for a principal of role.
 * read_only names fields that exist but are server-managed (NULL-terminated)
 * so the message says so. Adds every problem to v. Returns 0 when v stays
 * empty. out must be released with field_values_free in every case. */
int fields_collect(const json_t *body, const struct field_spec *specs, const char *const *read_only,
                   unsigned role, bool create, struct field_values *out, struct verrs *v);
void field_values_free(struct field_values *fv);
/* The value collected for a field name: sets *present; returns NULL for JSON null. */
const char *field_value(const struct field_values *fv, const char *name, bool *present);

/* For actions that take no fields or a few named ones: r->json may be
 * absent or an object whose keys are all in allowed (NULL-terminated; NULL
 * for none). Returns 0, or the status after answering 422. */
int body_reject_fields(struct request *r, const char *const *allowed);

/* Named validators (exported for unit tests). */
bool valid_email(const char *s);
bool valid_phone(const char *s);
bool valid_url(const char *s);
bool valid_date(const char *s);
bool valid_money(const char *s);
bool valid_tax_id(const char *s);
bool valid_username(const char *s);
bool valid_timestamp(const char *s); /* RFC 3339 with offset */
/* Seconds since the epoch of a valid RFC 3339 timestamp (fraction dropped). 0 / -1. */
int timestamp_epoch(const char *s, long long *out) WUR;
bool valid_utf8(const char *s, size_t len);
size_t utf8_chars(const char *s);

#endif
