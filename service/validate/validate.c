#include "validate/validate.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/rbac.h"

bool valid_utf8(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p;
        int extra;
        unsigned min;
        if (c == 0)
            return false;
        if (c < 0x80) {
            p++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            extra = 1;
            min = 0x80;
            c &= 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            extra = 2;
            min = 0x800;
            c &= 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            extra = 3;
            min = 0x10000;
            c &= 0x07;
        } else {
            return false;
        }
        if (end - p <= extra)
            return false;
        for (int i = 1; i <= extra; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            c = c << 6 | (p[i] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
            return false;
        p += extra + 1;
    }
    return true;
}

size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

bool valid_email(const char *s)
{
    const char *at = strchr(s, '@');
    if (!at || at == s || strchr(at + 1, '@') || strlen(s) > 200)
        return false;
    const char *dot = strrchr(at, '.');
    if (!dot || dot == at + 1 || !dot[1] || strlen(dot + 1) < 2)
        return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || strchr("<>()[]\\,;:\"", *p))
            return false;
    return !strstr(s, "..");
}

bool valid_phone(const char *s)
{
    int digits = 0;
    for (const char *p = s; *p; p++) {
        if (isdigit((unsigned char)*p))
            digits++;
        else if (!strchr("+-() ", *p))
            return false;
    }
    return digits >= 3 && strlen(s) <= 30;
}

bool valid_url(const char *s)
{
    const char *rest;
    if (strncmp(s, "https://", 8) == 0)
        rest = s + 8;
    else if (strncmp(s, "http://", 7) == 0)
        rest = s + 7;
    else
        return false;
    if (!*rest || *rest == '/' || strlen(s) > 200)
        return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == '"' || *p == '<' || *p == '>')
            return false;
    return true;
}

static bool parse_date(const char *s, struct tm *tm)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
            return false;
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1900 || y > 2999 || m < 1 || m > 12 || d < 1)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    int max = mdays[m - 1] + (m == 2 && leap);
    if (d > max)
        return false;
    memset(tm, 0, sizeof *tm);
    tm->tm_year = y - 1900;
    tm->tm_mon = m - 1;
    tm->tm_mday = d;
    return true;
}

bool valid_date(const char *s)
{
    struct tm tm;
    return parse_date(s, &tm);
}

/* Not after today in any time zone (UTC+14 is the earliest "today"). */
static bool date_not_future(const char *s)
{
    struct tm tm;
    if (!parse_date(s, &tm))
        return false;
    time_t latest = time(NULL) + 14 * 3600;
    struct tm now;
    gmtime_r(&latest, &now);
    char today[11];
    snprintf(today, sizeof today, "%04d-%02d-%02d", now.tm_year + 1900, now.tm_mon + 1, now.tm_mday);
    return strcmp(s, today) <= 0;
}

bool valid_money(const char *s)
{
    const char *p = s;
    int int_digits = 0, frac_digits = 0;
    while (isdigit((unsigned char)*p)) {
        p++;
        int_digits++;
    }
    if (int_digits < 1 || int_digits > 12 || (int_digits > 1 && s[0] == '0'))
        return false;
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p)) {
            p++;
            frac_digits++;
        }
        if (frac_digits < 1 || frac_digits > 2)
            return false;
    }
    return *p == '\0';
}

bool valid_tax_id(const char *s)
{
    size_t n = strlen(s);
    if (n < 15 || n > 20)
        return false;
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p) && !(*p >= 'A' && *p <= 'Z'))
            return false;
    return true;
}

bool valid_username(const char *s)
{
    size_t n = strlen(s);
    if (n < 3 || n > 64 || !(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0])))
        return false;
    for (const char *p = s; *p; p++)
        if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && !strchr("._-", *p))
            return false;
    return true;
}

bool valid_timestamp(const char *s)
{
    /* YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM) */
    struct tm tm;
    char date[11];
    if (strlen(s) < 20)
        return false;
    memcpy(date, s, 10);
    date[10] = '\0';
    if (!parse_date(date, &tm) || (s[10] != 'T' && s[10] != 't' && s[10] != ' '))
        return false;
    const char *p = s + 11;
    for (int i = 0; i < 8; i++)
        if ((i == 2 || i == 5) ? p[i] != ':' : !isdigit((unsigned char)p[i]))
            return false;
    if (atoi(p) > 23 || atoi(p + 3) > 59 || atoi(p + 6) > 60)
        return false;
    p += 8;
    if (*p == '.') {
        p++;
        int n = 0;
        while (isdigit((unsigned char)*p)) {
            p++;
            n++;
        }
        if (n < 1 || n > 9)
            return false;
    }
    if ((*p == 'Z' || *p == 'z') && !p[1])
        return true;
    if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1]) && isdigit((unsigned char)p[2]) && p[3] == ':' &&
        isdigit((unsigned char)p[4]) && isdigit((unsigned char)p[5]) && !p[6])
        return atoi(p + 1) <= 14 && atoi(p + 4) <= 59;
    return false;
}

int timestamp_epoch(const char *s, long long *out)
{
    struct tm tm;
    char date[11];
    if (!valid_timestamp(s))
        return -1;
    memcpy(date, s, 10);
    date[10] = '\0';
    if (!parse_date(date, &tm))
        return -1;
    tm.tm_hour = atoi(s + 11);
    tm.tm_min = atoi(s + 14);
    tm.tm_sec = atoi(s + 17);
    long long t = (long long)timegm(&tm);
    const char *p = s + 19;
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p); p++)
            ;
    if (*p == '+' || *p == '-') {
        long long off = atoi(p + 1) * 3600LL + atoi(p + 4) * 60LL;
        t += *p == '+' ? -off : off;
    }
    *out = t;
    return 0;
}

/* FT_UUID_LIST and FT_TEXT_LIST: returns the canonical JSON array text, or NULL after adding an error. */
static char *check_list(const struct field_spec *s, const json_t *v, struct verrs *errs)
{
    bool ids = s->type == FT_UUID_LIST;
    if (!json_is_array(v) || json_array_size(v) > (size_t)s->max_len) {
        verr_add(errs, s->name, "must be an array of at most %d %s", s->max_len, ids ? "ids" : "strings");
        return NULL;
    }
    json_t *out = json_array();
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item)
    {
        const char *str = json_is_string(item) ? json_string_value(item) : NULL;
        if (str && strlen(str) != json_string_length(item))
            str = NULL;
        char *val = NULL;
        if (str) {
            while (*str && isspace((unsigned char)*str))
                str++;
            size_t len = strlen(str);
            while (len && isspace((unsigned char)str[len - 1]))
                len--;
            val = xstrndup(str, len);
        }
        bool ok = val && *val && (ids ? uuid_valid(val) : utf8_chars(val) <= 100);
        if (ok && ids) {
            for (char *p = val; *p; p++)
                *p = (char)tolower((unsigned char)*p);
            size_t j;
            json_t *seen;
            json_array_foreach(out, j, seen) ok &= strcmp(json_string_value(seen), val) != 0;
        }
        if (!ok) {
            free(val);
            json_decref(out);
            verr_add(errs, s->name, "%s", ids ? "must contain distinct ids" : "must contain strings of 1 to 100 characters");
            return NULL;
        }
        json_array_append_new(out, json_string(val));
        free(val);
    }
    char *text = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    if (!text)
        verr_add(errs, s->name, "cannot be encoded");
    return text;
}

static const char *needs_text_keys[] = {"typical_quantities", "quality_requirements", "delivery_expectations",
                                        "fabric_composition", "weaving_process", "colour_fastness"};

static void check_needs(const json_t *v, struct verrs *errs)
{
    if (!json_is_object(v)) {
        verr_add(errs, "business_needs", "must be an object");
        return;
    }
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val)
    {
        char field[64];
        snprintf(field, sizeof field, "business_needs.%.40s", key);
        if (strcmp(key, "product_categories") == 0) {
            if (!json_is_array(val) || json_array_size(val) > 50) {
                verr_add(errs, field, "must be an array of at most 50 strings");
                continue;
            }
            size_t i;
            json_t *item;
            json_array_foreach(val, i, item)
            {
                if (!json_is_string(item) || json_string_length(item) == 0 ||
                    utf8_chars(json_string_value(item)) > 100 ||
                    strlen(json_string_value(item)) != json_string_length(item)) {
                    verr_add(errs, field, "each category must be a string of 1 to 100 characters");
                    break;
                }
            }
            continue;
        }
        bool known = false;
        for (size_t i = 0; i < ARRAY_LEN(needs_text_keys); i++)
            known |= strcmp(key, needs_text_keys[i]) == 0;
        if (!known)
            verr_add(errs, field, "unknown field");
        else if (!json_is_null(val) &&
                 (!json_is_string(val) || utf8_chars(json_string_value(val)) > 2000 ||
                  strlen(json_string_value(val)) != json_string_length(val)))
            verr_add(errs, field, "must be a string of at most 2000 characters or null");
    }
}

/* Validates one value; returns owned parameter text, or NULL after adding an error. */
static char *check_value(const struct field_spec *s, const json_t *v, struct verrs *errs)
{
    if (s->type == FT_BOOL) {
        if (!json_is_boolean(v)) {
            verr_add(errs, s->name, "must be true or false");
            return NULL;
        }
        return xstrdup(json_is_true(v) ? "true" : "false");
    }
    if (s->type == FT_UUID_LIST || s->type == FT_TEXT_LIST)
        return check_list(s, v, errs);
    if (s->type == FT_INT || s->type == FT_POS_INT) {
        long long min = s->type == FT_POS_INT;
        if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > s->max_len) {
            verr_add(errs, s->name, "must be an integer from %lld to %d", min, s->max_len);
            return NULL;
        }
        char buf[24];
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
        return xstrdup(buf);
    }
    if (s->type == FT_NEEDS) {
        int before = errs->n;
        check_needs(v, errs);
        if (errs->n != before)
            return NULL;
        char *text = json_dumps(v, JSON_COMPACT);
        if (!text)
            verr_add(errs, s->name, "cannot be encoded");
        return text;
    }
    if (!json_is_string(v)) {
        verr_add(errs, s->name, "must be a string");
        return NULL;
    }
    const char *str = json_string_value(v);
    if (strlen(str) != json_string_length(v)) {
        verr_add(errs, s->name, "must not contain NUL characters");
        return NULL;
    }
    /* Trim surrounding whitespace of free text. */
    while (*str && isspace((unsigned char)*str))
        str++;
    size_t len = strlen(str);
    while (len && isspace((unsigned char)str[len - 1]))
        len--;
    if (len == 0 && s->type != FT_PASSWORD) {
        /* An empty optional field clears it (NULL); a required one is an error. */
        if (s->flags & (FF_REQUIRED | FF_NOT_NULL))
            verr_add(errs, s->name, "%s",
                     s->type == FT_ENUM ? "must be one of the allowed values" : "must not be empty");
        return NULL;
    }
    char *val = xstrndup(str, len);
    const char *msg = NULL;
    switch (s->type) {
    case FT_TEXT:
        if (s->max_len && utf8_chars(val) > (size_t)s->max_len) {
            verr_add(errs, s->name, "must be at most %d characters", s->max_len);
            goto fail;
        }
        break;
    case FT_EMAIL:
        msg = valid_email(val) ? NULL : "must be an email address";
        break;
    case FT_PHONE:
        msg = valid_phone(val) ? NULL : "must be a phone number (digits, spaces, + - ( ), at most 30)";
        break;
    case FT_URL:
        msg = valid_url(val) ? NULL : "must be an http(s) URL of at most 200 characters";
        break;
    case FT_DATE:
        msg = valid_date(val) ? NULL : "must be a date YYYY-MM-DD";
        break;
    case FT_PAST_DATE:
        msg = !valid_date(val) ? "must be a date YYYY-MM-DD" : date_not_future(val) ? NULL : "must not be in the future";
        break;
    case FT_MONEY:
        msg = valid_money(val) ? NULL : "must be a non-negative decimal string with at most 2 decimals, e.g. \"125000.00\"";
        break;
    case FT_ENUM:
        msg = "must be one of the allowed values";
        for (const char *const *c = s->choices; *c; c++)
            if (strcmp(*c, val) == 0)
                msg = NULL;
        break;
    case FT_UUID:
        msg = uuid_valid(val) ? NULL : "must be an id";
        for (char *p = val; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        break;
    case FT_TAX_ID:
        msg = valid_tax_id(val) ? NULL : "must be a unified social credit code (15 to 20 of 0-9, A-Z)";
        break;
    case FT_USERNAME:
        msg = valid_username(val) ? NULL : "must be 3 to 64 of a-z, 0-9, '.', '_', '-' starting with a letter or digit";
        break;
    case FT_PASSWORD:
        /* Passwords are not trimmed. */
        free(val);
        val = xstrdup(json_string_value(v));
        msg = utf8_chars(val) < 12 || utf8_chars(val) > 256 ? "must be 12 to 256 characters" : NULL;
        break;
    case FT_TIMESTAMP:
        msg = valid_timestamp(val) ? NULL : "must be an RFC 3339 timestamp with offset, e.g. 2026-11-23T08:00:00Z";
        break;
    case FT_PAST_TIMESTAMP: {
        long long t;
        if (timestamp_epoch(val, &t) != 0)
            msg = "must be an RFC 3339 timestamp with offset, e.g. 2026-11-23T08:00:00Z";
        else if (t > (long long)time(NULL) + 300)
            msg = "must not be in the future";
        break;
    }
    case FT_BOOL:
    case FT_NEEDS:
    case FT_UUID_LIST:
    case FT_TEXT_LIST:
    case FT_INT:
    case FT_POS_INT:
        break;
    }
    if (msg) {
        verr_add(errs, s->name, "%s", msg);
        goto fail;
    }
    return val;
fail:
    free(val);
    return NULL;
}

int fields_collect(const json_t *body, const struct field_spec *specs, const char *const *read_only,
                   unsigned role, bool create, struct field_values *out, struct verrs *v)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(body)) {
        verr_add(v, "(body)", "must be a JSON object");
        return -1;
    }
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)body, key, val)
    {
        const struct field_spec *s = NULL;
        for (const struct field_spec *p = specs; p->name && !s; p++)
            if (strcmp(p->name, key) == 0)
                s = p;
        char field[64];
        snprintf(field, sizeof field, "%.60s", key);
        if (!s) {
            bool ro = false;
            for (const char *const *r = read_only; r && *r && !ro; r++)
                ro = strcmp(*r, key) == 0;
            verr_add(v, field, ro ? "is read-only" : "unknown field");
            continue;
        }
        if (!(s->roles & role)) {
            verr_add(v, s->name, "your role may not set this field");
            continue;
        }
        if (json_is_null(val)) {
            if (s->flags & (FF_REQUIRED | FF_NOT_NULL)) {
                verr_add(v, s->name, "must not be null");
                continue;
            }
        }
        char *text = NULL;
        if (!json_is_null(val)) {
            int before = v->n;
            text = check_value(s, val, v);
            if (v->n != before) {
                free(text);
                continue;
            }
        }
        out->f[out->n].spec = s;
        out->f[out->n].value = text;
        out->n++;
    }
    /* Spec order, not body order: SQL assembled from these is then the same
     * text for the same set of fields (statements are cached by that set). */
    for (int i = 1; i < out->n; i++)
        for (int j = i; j > 0 && out->f[j - 1].spec > out->f[j].spec; j--) {
            const struct field_spec *ts = out->f[j].spec;
            char *tv = out->f[j].value;
            out->f[j] = out->f[j - 1];
            out->f[j - 1].spec = ts;
            out->f[j - 1].value = tv;
        }
    if (create)
        for (const struct field_spec *p = specs; p->name; p++) {
            bool present;
            if ((p->flags & FF_REQUIRED) && !field_value(out, p->name, &present) && !present) {
                bool errored = false;
                for (int i = 0; i < v->n; i++)
                    errored |= strcmp(v->e[i].field, p->name) == 0;
                if (!errored)
                    verr_add(v, p->name, "is required");
            }
        }
    return v->n ? -1 : 0;
}

void field_values_free(struct field_values *fv)
{
    for (int i = 0; i < fv->n; i++)
        free(fv->f[i].value);
    fv->n = 0;
}

const char *field_value(const struct field_values *fv, const char *name, bool *present)
{
    for (int i = 0; i < fv->n; i++)
        if (strcmp(fv->f[i].spec->name, name) == 0) {
            *present = true;
            return fv->f[i].value;
        }
    *present = false;
    return NULL;
}

int body_reject_fields(struct request *r, const char *const *allowed)
{
    if (!r->json)
        return 0;
    struct verrs v = {0};
    if (!json_is_object(r->json)) {
        verr_add(&v, "(body)", "must be a JSON object");
        return problem_validation(r, &v);
    }
    const char *key;
    json_t *val;
    json_object_foreach(r->json, key, val)
    {
        bool ok = false;
        for (const char *const *a = allowed; a && *a && !ok; a++)
            ok = strcmp(*a, key) == 0;
        if (!ok) {
            char field[64];
            snprintf(field, sizeof field, "%.60s", key);
            verr_add(&v, field, "unknown field");
        }
    }
    return v.n ? problem_validation(r, &v) : 0;
}
