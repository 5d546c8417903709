/* The route table (service/http/routes.c) against the contract
 * (api/openapi.yaml): same operations, same query parameters, same roles,
 * same public operations and body requirements. Plus the files embedded in
 * the binary (migrations, the OpenAPI document) against the source tree.
 *
 * There is no YAML library here: the `paths:` and `components: parameters:`
 * sections are read by indentation with a line scanner that understands
 * exactly the layout api/openapi.yaml uses (2-space indentation, block
 * sequences at the parent key's indentation):
 *
 *   paths:
 *     /v1/things/{id}:          2 spaces: a path
 *       get:                    4 spaces: an operation
 *         security: []          6 spaces: operation keys
 *         x-roles:
 *         - admin               6 spaces: list items
 *         parameters:
 *         - $ref: '#/components/parameters/Limit'
 *         - name: q             6 spaces: an inline parameter ...
 *           in: query           8 spaces: ... and its keys
 *         requestBody:
 *           required: true
 *
 * Anything the scanner does not understand inside those places fails the
 * test rather than being skipped silently. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "auth/rbac.h"
#include "common.h"
#include "db/migrate.h"
#include "embedded.h"
#include "http/routes.h"
#include "ops/metrics.h"
#include "validate/validate.h"

#define MAX_OPS 256
#define MAX_PARAMS 32
#define MAX_ROLES 16
#define MAX_COMPONENTS 64

/* ------------------------------------------------------------ the spec */

struct spec_param {
    char name[64]; /* inline name: */
    char in[16];   /* inline in: */
    char ref[128]; /* or $ref */
    int line;
};

struct spec_op {
    char method[8]; /* upper case */
    char path[160];
    int line;
    struct spec_param params[MAX_PARAMS];
    int n_params;
    char roles[MAX_ROLES][32];
    int n_roles;
    bool has_roles;
    bool has_security;
    bool security_empty;
    bool has_body;
    int body_required; /* -1 unknown, 0 false, 1 true */
};

struct component_param {
    char key[64]; /* Limit */
    char name[64];
    char in[16];
};

struct spec {
    char *text; /* the whole file */
    size_t len;
    struct spec_op ops[MAX_OPS];
    int n_ops;
    struct component_param comps[MAX_COMPONENTS];
    int n_comps;
};

static struct spec g_spec;
static char g_root[1024];

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* The source tree: $CRM_SOURCE_DIR (set by ctest), else a guess relative to
 * the working directory for runs by hand. */
static const char *source_dir(void)
{
    if (g_root[0])
        return g_root;
    const char *env = getenv("CRM_SOURCE_DIR");
    const char *guesses[] = {env, ".", "..", "../..", "../../.."};
    for (size_t i = 0; i < ARRAY_LEN(guesses); i++) {
        if (!guesses[i] || !*guesses[i])
            continue;
        char probe[1200];
        snprintf(probe, sizeof probe, "%s/api/openapi.yaml", guesses[i]);
        if (file_exists(probe)) {
            snprintf(g_root, sizeof g_root, "%s", guesses[i]);
            return g_root;
        }
        if (i == 0)
            fail_msg("CRM_SOURCE_DIR=%s has no api/openapi.yaml", env);
    }
    fail_msg("set CRM_SOURCE_DIR to the repository root");
    return NULL;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct sbuf b = {0};
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        sbuf_append(&b, chunk, n);
    fclose(f);
    *len = b.len;
    return sbuf_take(&b);
}

/* Copies a scalar, dropping surrounding quotes and trailing blanks. */
static void scalar(char *out, size_t outlen, const char *s)
{
    while (*s == ' ')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\r'))
        n--;
    if (n >= 2 && ((s[0] == '\'' && s[n - 1] == '\'') || (s[0] == '"' && s[n - 1] == '"'))) {
        s++;
        n -= 2;
    }
    if (n >= outlen)
        fail_msg("scalar too long: %.*s", (int)n, s);
    memcpy(out, s, n);
    out[n] = '\0';
}

/* "key: value" at the start of s: returns true and the value (may be "")
 * when s starts with key followed by ':'. */
static bool key_is(const char *s, const char *key, const char **value)
{
    size_t n = strlen(key);
    if (strncmp(s, key, n) != 0 || s[n] != ':')
        return false;
    const char *v = s + n + 1;
    while (*v == ' ')
        v++;
    *value = v;
    return true;
}

static bool is_method(const char *key, char *upper)
{
    static const char *const methods[] = {"get", "post", "put", "patch", "delete", "head", "options", "trace"};
    for (size_t i = 0; i < ARRAY_LEN(methods); i++) {
        size_t n = strlen(methods[i]);
        if (strncmp(key, methods[i], n) == 0 && key[n] == ':' && key[n + 1] == '\0') {
            for (size_t k = 0; k <= n; k++)
                upper[k] = (char)toupper((unsigned char)methods[i][k]);
            upper[n] = '\0';
            return true;
        }
    }
    return false;
}

/* Adds a role from an x-roles list. */
static void add_role(struct spec_op *op, const char *text, int line)
{
    if (op->n_roles == MAX_ROLES)
        fail_msg("openapi.yaml:%d: too many x-roles", line);
    scalar(op->roles[op->n_roles], sizeof op->roles[op->n_roles], text);
    op->n_roles++;
}

/* "[a, b]" flow list of roles. */
static void add_flow_roles(struct spec_op *op, const char *v, int line)
{
    const char *p = v + 1;
    const char *close = strchr(p, ']');
    if (!close)
        fail_msg("openapi.yaml:%d: unterminated flow list", line);
    while (p < close) {
        const char *comma = memchr(p, ',', (size_t)(close - p));
        const char *e = comma ? comma : close;
        char item[64];
        size_t n = (size_t)(e - p);
        if (n >= sizeof item)
            fail_msg("openapi.yaml:%d: role too long", line);
        memcpy(item, p, n);
        item[n] = '\0';
        char trimmed[64];
        scalar(trimmed, sizeof trimmed, item);
        if (trimmed[0])
            add_role(op, trimmed, line);
        p = e + 1;
    }
}

/* Records one key of an inline parameter (or the $ref that replaces it). */
static void param_key(struct spec_param *pp, const char *s, int line)
{
    const char *v;
    if (key_is(s, "name", &v))
        scalar(pp->name, sizeof pp->name, v);
    else if (key_is(s, "in", &v))
        scalar(pp->in, sizeof pp->in, v);
    else if (key_is(s, "$ref", &v))
        scalar(pp->ref, sizeof pp->ref, v);
    (void)line;
}

enum op_state { ST_NONE, ST_ROLES, ST_PARAMS, ST_BODY, ST_SECURITY };
enum section { SEC_NONE, SEC_PATHS, SEC_COMPONENTS, SEC_COMP_PARAMS };

static void parse_spec(struct spec *sp)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/api/openapi.yaml", source_dir());
    sp->text = slurp(path, &sp->len);
    if (!sp->text)
        fail_msg("cannot read %s", path);

    char *copy = xstrndup(sp->text, sp->len);
    enum section sec = SEC_NONE;
    char cur_path[160] = "";
    struct spec_op *op = NULL;
    struct spec_param *param = NULL;
    struct component_param *comp = NULL;
    enum op_state st = ST_NONE;
    int lineno = 0;
    for (char *line = copy, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        lineno++;
        size_t ll = strlen(line);
        if (ll && line[ll - 1] == '\r')
            line[--ll] = '\0';
        int indent = 0;
        while (line[indent] == ' ')
            indent++;
        const char *s = line + indent;
        if (!*s || *s == '#')
            continue;
        if (line[indent] == '\t')
            fail_msg("openapi.yaml:%d: tab indentation", lineno);

        /* Top-level keys switch sections. */
        if (indent == 0 && *s != '-') {
            op = NULL;
            param = NULL;
            comp = NULL;
            st = ST_NONE;
            sec = strcmp(s, "paths:") == 0 ? SEC_PATHS : strcmp(s, "components:") == 0 ? SEC_COMPONENTS : SEC_NONE;
            continue;
        }

        if (sec == SEC_COMPONENTS || sec == SEC_COMP_PARAMS) {
            if (indent == 2) {
                sec = strcmp(s, "parameters:") == 0 ? SEC_COMP_PARAMS : SEC_COMPONENTS;
                comp = NULL;
                continue;
            }
            if (sec != SEC_COMP_PARAMS)
                continue;
            if (indent == 4) {
                if (s[strlen(s) - 1] != ':')
                    fail_msg("openapi.yaml:%d: expected a parameter key", lineno);
                if (sp->n_comps == MAX_COMPONENTS)
                    fail_msg("too many components/parameters");
                comp = &sp->comps[sp->n_comps++];
                memset(comp, 0, sizeof *comp);
                snprintf(comp->key, sizeof comp->key, "%.*s", (int)strlen(s) - 1, s);
            } else if (indent == 6 && comp) {
                const char *v;
                if (key_is(s, "name", &v))
                    scalar(comp->name, sizeof comp->name, v);
                else if (key_is(s, "in", &v))
                    scalar(comp->in, sizeof comp->in, v);
                else if (key_is(s, "$ref", &v))
                    fail_msg("openapi.yaml:%d: nested parameter $ref not supported", lineno);
            }
            continue;
        }
        if (sec != SEC_PATHS)
            continue;

        if (indent == 2) {
            if (*s != '/' || s[strlen(s) - 1] != ':')
                fail_msg("openapi.yaml:%d: expected a path key: %s", lineno, s);
            snprintf(cur_path, sizeof cur_path, "%.*s", (int)strlen(s) - 1, s);
            op = NULL;
            param = NULL;
            st = ST_NONE;
            continue;
        }
        if (indent == 4) {
            char upper[16];
            param = NULL;
            st = ST_NONE;
            if (is_method(s, upper)) {
                if (sp->n_ops == MAX_OPS)
                    fail_msg("too many operations");
                op = &sp->ops[sp->n_ops++];
                memset(op, 0, sizeof *op);
                snprintf(op->method, sizeof op->method, "%s", upper);
                snprintf(op->path, sizeof op->path, "%s", cur_path);
                op->line = lineno;
                op->body_required = -1;
            } else {
                const char *v;
                if (key_is(s, "parameters", &v) || key_is(s, "security", &v) || key_is(s, "$ref", &v))
                    fail_msg("openapi.yaml:%d: path-level '%s' is not understood by this scanner", lineno, s);
                op = NULL; /* summary, description, servers: irrelevant */
            }
            continue;
        }
        if (!op)
            continue;
        if (indent == 6) {
            const char *v;
            if (*s == '-') {
                const char *item = s + 1;
                while (*item == ' ')
                    item++;
                if (st == ST_ROLES) {
                    add_role(op, item, lineno);
                } else if (st == ST_PARAMS) {
                    if (op->n_params == MAX_PARAMS)
                        fail_msg("openapi.yaml:%d: too many parameters", lineno);
                    param = &op->params[op->n_params++];
                    memset(param, 0, sizeof *param);
                    param->line = lineno;
                    param_key(param, item, lineno);
                } else if (st == ST_SECURITY) {
                    /* - bearerAuth: [] : an authenticated operation */
                }
                continue;
            }
            param = NULL;
            st = ST_NONE;
            if (key_is(s, "x-roles", &v)) {
                op->has_roles = true;
                if (*v == '[')
                    add_flow_roles(op, v, lineno);
                else if (*v)
                    fail_msg("openapi.yaml:%d: x-roles must be a list", lineno);
                else
                    st = ST_ROLES;
            } else if (key_is(s, "parameters", &v)) {
                if (*v)
                    fail_msg("openapi.yaml:%d: flow-style parameters not supported", lineno);
                st = ST_PARAMS;
            } else if (key_is(s, "security", &v)) {
                op->has_security = true;
                op->security_empty = strcmp(v, "[]") == 0;
                if (!op->security_empty && *v)
                    fail_msg("openapi.yaml:%d: security must be [] or a block list", lineno);
                st = ST_SECURITY;
            } else if (key_is(s, "requestBody", &v)) {
                op->has_body = true;
                if (*v)
                    fail_msg("openapi.yaml:%d: requestBody $ref/flow not supported", lineno);
                st = ST_BODY;
            }
            continue;
        }
        if (indent == 8) {
            if (st == ST_PARAMS && param)
                param_key(param, s, lineno);
            else if (st == ST_BODY) {
                const char *v;
                if (key_is(s, "required", &v))
                    op->body_required = strcmp(v, "true") == 0 ? 1 : strcmp(v, "false") == 0 ? 0 : -2;
            } else if (st == ST_ROLES)
                fail_msg("openapi.yaml:%d: unexpected x-roles layout", lineno);
            continue;
        }
        if (indent > 8 && st == ST_ROLES)
            fail_msg("openapi.yaml:%d: unexpected x-roles layout", lineno);
    }
    free(copy);
}

static const struct component_param *component(const struct spec *sp, const char *ref)
{
    static const char prefix[] = "#/components/parameters/";
    if (strncmp(ref, prefix, sizeof prefix - 1) != 0)
        return NULL;
    const char *key = ref + sizeof prefix - 1;
    for (int i = 0; i < sp->n_comps; i++)
        if (strcmp(sp->comps[i].key, key) == 0)
            return &sp->comps[i];
    return NULL;
}

/* Resolves a parameter to (name, in). */
static void param_resolve(const struct spec *sp, const struct spec_op *op, const struct spec_param *pp,
                          const char **name, const char **in)
{
    if (pp->ref[0]) {
        const struct component_param *c = component(sp, pp->ref);
        if (!c)
            fail_msg("openapi.yaml:%d: %s %s: unresolved parameter %s", pp->line, op->method, op->path, pp->ref);
        if (!c->name[0] || !c->in[0])
            fail_msg("components/parameters/%s lacks name or in", c->key);
        *name = c->name;
        *in = c->in;
        return;
    }
    if (!pp->name[0] || !pp->in[0])
        fail_msg("openapi.yaml:%d: %s %s: parameter without name/in", pp->line, op->method, op->path);
    *name = pp->name;
    *in = pp->in;
}

static int spec_setup(void **state)
{
    (void)state;
    memset(&g_spec, 0, sizeof g_spec);
    parse_spec(&g_spec);
    return 0;
}

static int spec_teardown(void **state)
{
    (void)state;
    free(g_spec.text);
    g_spec.text = NULL;
    return 0;
}

static const struct spec_op *spec_find(const char *method, const char *path)
{
    for (int i = 0; i < g_spec.n_ops; i++)
        if (strcmp(g_spec.ops[i].method, method) == 0 && strcmp(g_spec.ops[i].path, path) == 0)
            return &g_spec.ops[i];
    return NULL;
}

static const struct route *route_find(const char *method, const char *pattern)
{
    for (size_t i = 0; i < routes_count; i++)
        if (strcmp(routes[i].method, method) == 0 && strcmp(routes[i].pattern, pattern) == 0)
            return &routes[i];
    return NULL;
}

/* ----------------------------------------------------------- the tests */

/* The scanner itself: it found the operations, resolved shared parameters
 * and saw the things the other tests rely on. Guards against a scanner that
 * silently finds nothing. */
static void test_scanner_sanity(void **state)
{
    (void)state;
    assert_true(g_spec.n_ops >= 10);
    const struct component_param *limit = component(&g_spec, "#/components/parameters/Limit");
    assert_non_null(limit);
    assert_string_equal(limit->name, "limit");
    assert_string_equal(limit->in, "query");
    const struct component_param *cursor = component(&g_spec, "#/components/parameters/Cursor");
    assert_non_null(cursor);
    assert_string_equal(cursor->name, "cursor");
    assert_string_equal(cursor->in, "query");
    const struct component_param *id = component(&g_spec, "#/components/parameters/Id");
    assert_non_null(id);
    assert_string_equal(id->in, "path");

    const struct spec_op *hz = spec_find("GET", "/healthz");
    assert_non_null(hz);
    assert_true(hz->security_empty);
    const struct spec_op *users = spec_find("GET", "/v1/users");
    assert_non_null(users);
    assert_true(users->has_roles);
    assert_int_equal(users->n_roles, 1);
    assert_string_equal(users->roles[0], "admin");
    assert_true(users->n_params >= 5);
    /* Every parameter of every operation resolves to a name and location. */
    for (int i = 0; i < g_spec.n_ops; i++)
        for (int k = 0; k < g_spec.ops[i].n_params; k++) {
            const char *name, *in;
            param_resolve(&g_spec, &g_spec.ops[i], &g_spec.ops[i].params[k], &name, &in);
            if (strcmp(in, "query") && strcmp(in, "path") && strcmp(in, "header") && strcmp(in, "cookie"))
                fail_msg("%s %s: parameter %s in '%s'", g_spec.ops[i].method, g_spec.ops[i].path, name, in);
        }
    /* No operation appears twice. */
    for (int i = 0; i < g_spec.n_ops; i++)
        for (int j = i + 1; j < g_spec.n_ops; j++)
            if (strcmp(g_spec.ops[i].method, g_spec.ops[j].method) == 0 &&
                strcmp(g_spec.ops[i].path, g_spec.ops[j].path) == 0)
                fail_msg("openapi.yaml:%d: %s %s twice", g_spec.ops[j].line, g_spec.ops[j].method,
                         g_spec.ops[j].path);
}

static void test_every_route_in_spec(void **state)
{
    (void)state;
    int missing = 0;
    for (size_t i = 0; i < routes_count; i++) {
        const struct route *rt = &routes[i];
        assert_non_null(rt->handler);
        assert_true(rt->pattern[0] == '/');
        if (!spec_find(rt->method, rt->pattern)) {
            print_error("route %s %s is not in api/openapi.yaml\n", rt->method, rt->pattern);
            missing++;
        }
    }
    assert_int_equal(missing, 0);
}

static void test_every_spec_operation_routed(void **state)
{
    (void)state;
    int missing = 0;
    for (int i = 0; i < g_spec.n_ops; i++) {
        const struct spec_op *op = &g_spec.ops[i];
        if (!route_find(op->method, op->path)) {
            print_error("openapi.yaml:%d: %s %s has no row in routes[]\n", op->line, op->method, op->path);
            missing++;
        }
    }
    assert_int_equal(missing, 0);
    assert_int_equal((size_t)g_spec.n_ops, routes_count);
}

static bool in_list(const char *const *list, const char *s)
{
    for (const char *const *q = list; q && *q; q++)
        if (strcmp(*q, s) == 0)
            return true;
    return false;
}

static void test_query_parameters(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t i = 0; i < routes_count; i++) {
        const struct route *rt = &routes[i];
        const struct spec_op *op = spec_find(rt->method, rt->pattern);
        if (!op)
            continue; /* reported by test_every_route_in_spec */
        const char *spec_q[MAX_PARAMS];
        int n_spec = 0;
        for (int k = 0; k < op->n_params; k++) {
            const char *name, *in;
            param_resolve(&g_spec, op, &op->params[k], &name, &in);
            if (strcmp(in, "query") != 0)
                continue;
            for (int j = 0; j < n_spec; j++)
                if (strcmp(spec_q[j], name) == 0)
                    fail_msg("%s %s: query parameter %s listed twice in the spec", op->method, op->path, name);
            spec_q[n_spec++] = name;
        }
        /* Spec → route. */
        for (int j = 0; j < n_spec; j++)
            if (!in_list(rt->query, spec_q[j])) {
                print_error("%s %s: the spec documents query '%s' but the route does not allow it\n", rt->method,
                            rt->pattern, spec_q[j]);
                bad++;
            }
        /* Route → spec, and no duplicates in the route's list. */
        int n_route = 0;
        for (const char *const *q = rt->query; q && *q; q++, n_route++) {
            bool found = false;
            for (int j = 0; j < n_spec && !found; j++)
                found = strcmp(spec_q[j], *q) == 0;
            if (!found) {
                print_error("%s %s: the route allows query '%s' the spec does not document\n", rt->method,
                            rt->pattern, *q);
                bad++;
            }
            for (const char *const *r = q + 1; *r; r++)
                if (strcmp(*r, *q) == 0)
                    fail_msg("%s %s: query '%s' twice in the route", rt->method, rt->pattern, *q);
        }
        if (n_route != n_spec && !bad) {
            print_error("%s %s: %d route query parameters vs %d in the spec\n", rt->method, rt->pattern, n_route,
                        n_spec);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

/* Path parameters in the spec are exactly the {names} of the path. */
static void test_path_parameters(void **state)
{
    (void)state;
    for (int i = 0; i < g_spec.n_ops; i++) {
        const struct spec_op *op = &g_spec.ops[i];
        int in_pattern = 0;
        for (const char *p = op->path; (p = strchr(p, '{')) != NULL; p++) {
            const char *close = strchr(p, '}');
            assert_non_null(close);
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)(close - p - 1), p + 1);
            bool documented = false;
            for (int k = 0; k < op->n_params; k++) {
                const char *pn, *in;
                param_resolve(&g_spec, op, &op->params[k], &pn, &in);
                documented |= strcmp(in, "path") == 0 && strcmp(pn, name) == 0;
            }
            if (!documented)
                fail_msg("%s %s: path parameter {%s} is not documented", op->method, op->path, name);
            in_pattern++;
        }
        int declared = 0;
        for (int k = 0; k < op->n_params; k++) {
            const char *pn, *in;
            param_resolve(&g_spec, op, &op->params[k], &pn, &in);
            declared += strcmp(in, "path") == 0;
        }
        if (declared != in_pattern)
            fail_msg("%s %s: %d path parameters declared, %d in the path", op->method, op->path, declared,
                     in_pattern);
    }
}

static void test_roles(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t i = 0; i < routes_count; i++) {
        const struct route *rt = &routes[i];
        const struct spec_op *op = spec_find(rt->method, rt->pattern);
        if (!op)
            continue;
        if (rt->flags & RT_PUBLIC) {
            if (rt->roles != 0) {
                print_error("%s %s: public route with role bits\n", rt->method, rt->pattern);
                bad++;
            }
            if (op->has_roles && op->n_roles) {
                print_error("%s %s: public operation lists x-roles\n", rt->method, rt->pattern);
                bad++;
            }
            continue;
        }
        if (rt->roles == 0 || (rt->roles & ~(unsigned)ROLES_ALL)) {
            print_error("%s %s: role bits 0x%x\n", rt->method, rt->pattern, rt->roles);
            bad++;
        }
        /* The spec says x-roles is on each operation; every authenticated
         * operation has it. */
        if (!op->has_roles) {
            print_error("openapi.yaml:%d: %s %s has no x-roles\n", op->line, op->method, op->path);
            bad++;
            continue;
        }
        unsigned spec_bits = 0;
        for (int k = 0; k < op->n_roles; k++) {
            unsigned bit = role_parse(op->roles[k]);
            if (!bit) {
                print_error("%s %s: unknown role '%s' in x-roles\n", op->method, op->path, op->roles[k]);
                bad++;
            }
            if (spec_bits & bit) {
                print_error("%s %s: role '%s' twice in x-roles\n", op->method, op->path, op->roles[k]);
                bad++;
            }
            spec_bits |= bit;
        }
        /* Compare by name, so a mismatch message says which role. */
        for (unsigned bit = 1; bit & ROLES_ALL; bit <<= 1) {
            bool in_route = rt->roles & bit;
            bool in_spec = false;
            for (int k = 0; k < op->n_roles; k++)
                in_spec |= strcmp(op->roles[k], role_name(bit)) == 0;
            if (in_route != in_spec) {
                print_error("%s %s: role %s is %s the route but %s x-roles\n", rt->method, rt->pattern,
                            role_name(bit), in_route ? "in" : "not in", in_spec ? "in" : "not in");
                bad++;
            }
        }
        if (spec_bits != rt->roles && bad == 0) {
            print_error("%s %s: roles 0x%x in the route, 0x%x in x-roles\n", rt->method, rt->pattern, rt->roles,
                        spec_bits);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

static void test_public_security(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t i = 0; i < routes_count; i++) {
        const struct route *rt = &routes[i];
        const struct spec_op *op = spec_find(rt->method, rt->pattern);
        if (!op)
            continue;
        bool is_public = rt->flags & RT_PUBLIC;
        if (is_public && !op->security_empty) {
            print_error("%s %s: public route but the spec lacks `security: []`\n", rt->method, rt->pattern);
            bad++;
        }
        if (!is_public && op->security_empty) {
            print_error("%s %s: the spec says `security: []` but the route authenticates\n", rt->method,
                        rt->pattern);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

/* RT_BODY ↔ requestBody required: true; RT_BODY_OPT ↔ required: false;
 * neither ↔ no requestBody. */
static void test_request_bodies(void **state)
{
    (void)state;
    int bad = 0;
    for (size_t i = 0; i < routes_count; i++) {
        const struct route *rt = &routes[i];
        const struct spec_op *op = spec_find(rt->method, rt->pattern);
        if (!op)
            continue;
        if ((rt->flags & RT_BODY) && (rt->flags & RT_BODY_OPT)) {
            print_error("%s %s: both RT_BODY and RT_BODY_OPT\n", rt->method, rt->pattern);
            bad++;
        }
        const char *want = rt->flags & RT_BODY ? "required" : rt->flags & RT_BODY_OPT ? "optional" : "none";
        const char *have = !op->has_body ? "none" : op->body_required == 1 ? "required" : "optional";
        if (op->has_body && op->body_required < -1) {
            print_error("%s %s: requestBody.required is neither true nor false\n", op->method, op->path);
            bad++;
        }
        if (strcmp(want, have) != 0) {
            print_error("%s %s: route body is %s, spec requestBody is %s\n", rt->method, rt->pattern, want, have);
            bad++;
        }
        /* Bodies only on methods that carry them. */
        if ((rt->flags & (RT_BODY | RT_BODY_OPT)) && strcmp(rt->method, "GET") == 0) {
            print_error("%s %s: GET with a body\n", rt->method, rt->pattern);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

/* -------------------------------------------------- embedded resources */

/* Each route has its own request counters: the table must fit them. */
static void test_routes_fit_metrics(void **state)
{
    (void)state;
    assert_true(routes_count <= METRICS_MAX_ROUTES);
}

static void test_embedded_migrations(void **state)
{
    (void)state;
    assert_true(embedded_migrations_count >= 1);
    int prev_number = 0;
    for (size_t i = 0; i < embedded_migrations_count; i++) {
        const struct embedded_file *m = &embedded_migrations[i];
        assert_non_null(m->name);
        assert_non_null(m->data);
        /* NNNN_name.sql */
        size_t nlen = strlen(m->name);
        assert_true(nlen > 9);
        for (int k = 0; k < 4; k++)
            assert_true(isdigit((unsigned char)m->name[k]));
        assert_int_equal(m->name[4], '_');
        assert_string_equal(m->name + nlen - 4, ".sql");
        /* Sorted by name, numbers strictly increasing. */
        if (i)
            assert_true(strcmp(embedded_migrations[i - 1].name, m->name) < 0);
        int number = atoi(m->name);
        assert_true(number > prev_number);
        prev_number = number;
        /* NUL-terminated, no NUL inside, and the same bytes as on disk. */
        assert_int_equal(m->data[m->len], '\0');
        assert_int_equal(strlen(m->data), m->len);
        assert_true(m->len > 0);
        char path[1400];
        snprintf(path, sizeof path, "%s/sql/migrations/%s", source_dir(), m->name);
        size_t disk_len;
        char *disk = slurp(path, &disk_len);
        if (!disk)
            fail_msg("cannot read %s", path);
        if (disk_len != m->len || memcmp(disk, m->data, m->len) != 0)
            fail_msg("%s differs from the embedded copy: rebuild", path);
        free(disk);
    }
    /* The version the binary expects is the number of the last file. */
    const char *last = embedded_migrations[embedded_migrations_count - 1].name;
    assert_int_equal(migrate_expected_version(), atoi(last));
    assert_int_equal(migrate_expected_version(), prev_number);

    /* Every .sql file on disk is embedded. */
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/sql/migrations", source_dir());
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t on_disk = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 4, ".sql") != 0)
            continue;
        on_disk++;
        bool embedded = false;
        for (size_t i = 0; i < embedded_migrations_count; i++)
            embedded |= strcmp(embedded_migrations[i].name, e->d_name) == 0;
        if (!embedded)
            fail_msg("sql/migrations/%s is not embedded: rebuild", e->d_name);
    }
    closedir(d);
    assert_int_equal(on_disk, embedded_migrations_count);
}

static void test_embedded_openapi(void **state)
{
    (void)state;
    assert_string_equal(embedded_openapi.name, "openapi.yaml");
    assert_non_null(embedded_openapi.data);
    assert_int_equal(embedded_openapi.data[embedded_openapi.len], '\0');
    if (embedded_openapi.len != g_spec.len || memcmp(embedded_openapi.data, g_spec.text, g_spec.len) != 0)
        fail_msg("the embedded openapi.yaml (%zu bytes) differs from api/openapi.yaml (%zu bytes): rebuild",
                 embedded_openapi.len, g_spec.len);
    /* It is the document the ops endpoint serves, so it must be YAML for
     * OpenAPI 3.1 and valid UTF-8 (it contains Chinese text). */
    assert_non_null(strstr(embedded_openapi.data, "\nopenapi: 3.1"));
    assert_true(valid_utf8(embedded_openapi.data, embedded_openapi.len));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scanner_sanity),
        cmocka_unit_test(test_routes_fit_metrics),
        cmocka_unit_test(test_every_route_in_spec),
        cmocka_unit_test(test_every_spec_operation_routed),
        cmocka_unit_test(test_query_parameters),
        cmocka_unit_test(test_path_parameters),
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_public_security),
        cmocka_unit_test(test_request_bodies),
        cmocka_unit_test(test_embedded_migrations),
        cmocka_unit_test(test_embedded_openapi),
    };
    return cmocka_run_group_tests(tests, spec_setup, spec_teardown);
}
