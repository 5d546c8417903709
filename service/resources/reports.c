/* Reports: the overdue worklist and visit-plan completion. Layout shared by
 * every resource file: query parameters (the reports' "field specs"), SQL,
 * helpers, handlers. Both reports are read-only and scoped like customers:
 * a sales rep sees only figures of customers they own. */
#include "resources/reports.h"

#include <stdio.h>
#include <string.h>

#include "db/db.h"
#include "http/problem.h"
#include "http/response.h"
#include "resources/listing.h"
#include "resources/render.h"
#include "validate/period.h"
#include "validate/validate.h"

/* ---- query parameters ---- */

/* The customer cadences (constant SQL fragments, the only text the handlers
 * print into statements). Every expression must stay exactly what the
 * customer document computes (customers.c, next_*_due), so the worklist
 * agrees with every customer read:
 *   due  = crm_customer_due(applies, last, first contact, created, months)
 *   key  = the instant the customers_<kind>_due_idx index (0004) orders by */
#define CUSTOMER_APPLIES "c.archived_at IS NULL AND c.status <> 'lost'"
#define CUSTOMER_DUE(last, first)                                                                             \
    "crm_customer_due(" CUSTOMER_APPLIES ", " last ", " first ", c.created_at, pol.months)"
#define DUE_KEY(last, first) "coalesce(" last ", " first "::timestamp AT TIME ZONE 'UTC', c.created_at)"

static const struct overdue_kind {
    const char *name;
    const char *months; /* cadence_policies column; NULL for follow_up */
    const char *last;   /* the customer's last occurrence */
    const char *due;
    const char *key;
} overdue_kinds[] = {
    {"contact", "contact_interval_months", "c.last_contact_at", CUSTOMER_DUE("c.last_contact_at", "c.first_contact_at"),
     DUE_KEY("c.last_contact_at", "c.first_contact_at")},
    {"visit", "visit_interval_months", "c.last_visit_at", CUSTOMER_DUE("c.last_visit_at", "c.first_contact_at"),
     DUE_KEY("c.last_visit_at", "c.first_contact_at")},
    {"review", "review_interval_months", "c.last_reviewed_at", CUSTOMER_DUE("c.last_reviewed_at", "NULL"),
     "coalesce(c.last_reviewed_at, c.created_at)"},
    {"follow_up", NULL, NULL, NULL, NULL},
};

/* ---- SQL ---- */

/* One worklist item: key, SQL expression over the row source o (columns
 * kind, customer_id, customer_name, owner_id, tier, last_at, due_date,
 * follow_up_id, description, responsible_user_id, sort_id), rendering. The
 * cursor keys (due date, sort id) follow the fields. */
#define OVERDUE_FIELDS(X)                                                                                     \
    X("kind", "o.kind", RK_STRING)                                                                            \
    X("customer_id", "o.customer_id", RK_STRING)                                                              \
    X("customer_name", "o.customer_name", RK_STRING)                                                          \
    X("owner_id", "o.owner_id", RK_STRING)                                                                    \
    X("tier", "o.tier", RK_STRING)                                                                            \
    X("last_at", "o.last_at", RK_TIMESTAMP)                                                                   \
    X("due_date", "o.due_date", RK_STRING)                                                                    \
    X("days_overdue", "crm_today() - o.due_date", RK_RAW)                                                     \
    X("follow_up_id", "o.follow_up_id", RK_STRING)                                                            \
    X("description", "o.description", RK_STRING)                                                              \
    X("responsible_user_id", "o.responsible_user_id", RK_STRING)

static const struct render_col overdue_render[] = {OVERDUE_FIELDS(RENDER_COL)};
#define OVERDUE_NCOLS ((int)ARRAY_LEN(overdue_render))
#define OVERDUE_SELECT "SELECT " OVERDUE_FIELDS(RENDER_SQL) "o.due_date::text, o.sort_id::text FROM "
#define OVERDUE_ORDER " ORDER BY o.due_date, o.sort_id LIMIT $1"

/* Customer kinds: the policy of one cadence (printf argument: its column,
 * twice); overdue_customers_sql appends the rest. The order is (due date,
 * id), but the due date is no index key; per effective tier, the key index
 * walks customers roughly in due-date order:
 *   cut: in each tier, the first $1 overdue customers in key order; once a
 *        tier has $1 of them, the top $1 overall are due no later than the
 *        latest of those. cut.d is the smallest such date (or yesterday).
 *   then every customer due no later than cut.d, read through the same
 *   index between the key bounds of 0004, sorted exactly.
 * The tier list mirrors the CHECK of cadence_policies: it also gives the
 * planner a row estimate the never-analyzed four-row table would not. */
#define SQL_OVERDUE_POLICY                                                                                    \
    "WITH pol AS (SELECT p.tier, p.%s AS months FROM cadence_policies p "                                     \
    "WHERE p.tier IN ('vip', 'key', 'general', 'reserve') AND p.%s IS NOT NULL), "                             \
    "lim AS (SELECT crm_today() - 1 AS last_due), "

/* Follow-up kind: open or in-progress items past their due date. */
#define SQL_OVERDUE_FOLLOW_UPS                                                                                \
    "(SELECT 'follow_up'::text AS kind, c.id AS customer_id, c.name AS customer_name, c.owner_id, "           \
    "coalesce(c.tier_override, c.tier) AS tier, NULL::timestamptz AS last_at, f.due_date, "                    \
    "f.id AS follow_up_id, f.description, f.responsible_user_id, f.id AS sort_id "                            \
    "FROM follow_ups f JOIN customers c ON c.id = f.customer_id "                                              \
    "WHERE f.archived_at IS NULL AND f.status IN ('open', 'in_progress') AND f.due_date < crm_today()"

/* Visit-plan completion: counts per owner and overall (grouping sets). */
#define COMPLETION_COUNTS(X)                                                                                  \
    X("planned", "g.planned", RK_RAW)                                                                         \
    X("completed", "g.completed", RK_RAW)                                                                     \
    X("cancelled", "g.cancelled", RK_RAW)                                                                     \
    X("missed", "g.missed", RK_RAW)                                                                           \
    X("pending", "g.pending", RK_RAW)                                                                         \
    X("completion_rate", "round(g.completed::numeric / nullif(g.planned - g.cancelled, 0), 4)", RK_RAW)
#define COMPLETION_OWNER(X)                                                                                   \
    X("owner_id", "g.owner_id", RK_STRING)                                                                    \
    X("owner_name", "u.display_name", RK_STRING)                                                              \
    COMPLETION_COUNTS(X)

static const struct render_col completion_counts[] = {COMPLETION_COUNTS(RENDER_COL)};
static const struct render_col completion_owner[] = {COMPLETION_OWNER(RENDER_COL)};
#define COMPLETION_NCOUNTS ((int)ARRAY_LEN(completion_counts))
#define COMPLETION_NOWNER ((int)ARRAY_LEN(completion_owner))
/* The counts follow owner_id and owner_name; after them come the business
 * time zone and the period's last day. */
enum { COMPLETION_FIRST_COUNT = 2, COMPLETION_TZ = COMPLETION_NOWNER, COMPLETION_LAST_DAY };

/* $1 first day, $2 first day after the period; then the owner conditions.
 * Today is computed once (t), not per plan: the time zone conversion in
 * crm_today() costs more than the rest of a row's work. */
#define SQL_COMPLETION                                                                                        \
    "SELECT " COMPLETION_OWNER(RENDER_SQL) "crm_tz(), ($2::date - 1)::text FROM ("                            \
    "SELECT c.owner_id, grouping(c.owner_id) = 1 AS overall, count(*) AS planned, "                           \
    "count(*) FILTER (WHERE p.status = 'completed') AS completed, "                                            \
    "count(*) FILTER (WHERE p.status = 'cancelled') AS cancelled, "                                            \
    "count(*) FILTER (WHERE p.status IN ('planned', 'approved') AND p.planned_date < t.today) AS missed, "     \
    "count(*) FILTER (WHERE p.status IN ('planned', 'approved') AND p.planned_date >= t.today) AS pending "    \
    "FROM visit_plans p JOIN customers c ON c.id = p.customer_id, (SELECT crm_today() AS today) t "           \
    "WHERE p.planned_date >= $1::date AND p.planned_date < $2::date"
#define SQL_COMPLETION_END                                                                                    \
    " GROUP BY GROUPING SETS ((), (c.owner_id))) g LEFT JOIN users u ON u.id = g.owner_id "                   \
    "ORDER BY g.overall DESC, u.display_name, g.owner_id"

/* ---- helpers ---- */

/* Parameter numbers of the optional conditions (0 = absent). */
struct report_binds {
    int scope;      /* a sales rep's own id */
    int owner;      /* owner_id query parameter */
    int cursor_due; /* cursor: due date, then id */
    int cursor_id;
};

/* The owner_id query parameter: NULL when absent; 0, or -1 after answering 400. */
static int query_owner(struct request *r, const char **out)
{
    *out = request_query(r, "owner_id");
    if (*out && !uuid_valid(*out)) {
        problem_send(r, 400, "owner_id must be a user id (uuid)");
        return -1;
    }
    return 0;
}

static void owner_conditions(struct sbuf *s, const struct report_binds *p)
{
    if (p->scope)
        sbuf_printf(s, " AND c.owner_id = $%d::uuid", p->scope);
    if (p->owner)
        sbuf_printf(s, " AND c.owner_id = $%d::uuid", p->owner);
}

/* The customers of one tier (pol.tier) a cadence applies to, in scope, after the cursor. */
static void overdue_stream(struct sbuf *s, const struct overdue_kind *k, const struct report_binds *p)
{
    sbuf_puts(s, "FROM customers c WHERE coalesce(c.tier_override, c.tier) = pol.tier AND " CUSTOMER_APPLIES);
    owner_conditions(s, p);
    if (p->cursor_due)
        sbuf_printf(s, " AND %s >= crm_due_key_lo($%d::date, pol.months) AND (%s, c.id) > ($%d::date, $%d::uuid)",
                    k->key, p->cursor_due, k->due, p->cursor_due, p->cursor_id);
}

/* The worklist of a customer cadence (k->months set); see SQL_OVERDUE_POLICY. */
static void overdue_customers_sql(struct sbuf *s, const struct overdue_kind *k, const struct report_binds *p)
{
    sbuf_printf(s, SQL_OVERDUE_POLICY, k->months, k->months);
    sbuf_printf(s,
                "cut AS (SELECT least(min(t.d) FILTER (WHERE t.n = $1), min(lim.last_due)) AS d FROM lim, pol, "
                "LATERAL (SELECT max(f.due) AS d, count(*) AS n FROM (SELECT %s AS due ",
                k->due);
    overdue_stream(s, k, p);
    sbuf_printf(s,
                " AND %s < crm_due_key_hi(lim.last_due, pol.months) AND %s <= lim.last_due "
                "ORDER BY %s LIMIT $1) f) t) ",
                k->key, k->due, k->key);
    sbuf_printf(s,
                OVERDUE_SELECT "(SELECT r.* FROM cut, pol, LATERAL (SELECT '%s'::text AS kind, c.id AS customer_id, "
                               "c.name AS customer_name, c.owner_id, pol.tier, %s AS last_at, %s AS due_date, "
                               "NULL::uuid AS follow_up_id, NULL::text AS description, "
                               "NULL::uuid AS responsible_user_id, c.id AS sort_id ",
                k->name, k->last, k->due);
    overdue_stream(s, k, p);
    sbuf_printf(s,
                " AND %s < crm_due_key_hi(cut.d, pol.months) AND %s <= cut.d "
                "ORDER BY due_date, sort_id LIMIT $1) r) o" OVERDUE_ORDER,
                k->key, k->due);
}

/* The follow-up worklist: a sales rep also sees items they are responsible for. */
static void overdue_follow_ups_sql(struct sbuf *s, const struct report_binds *p)
{
    sbuf_puts(s, OVERDUE_SELECT SQL_OVERDUE_FOLLOW_UPS);
    if (p->scope)
        sbuf_printf(s, " AND (c.owner_id = $%d::uuid OR f.responsible_user_id = $%d::uuid)", p->scope, p->scope);
    if (p->owner)
        sbuf_printf(s, " AND c.owner_id = $%d::uuid", p->owner);
    if (p->cursor_due)
        sbuf_printf(s, " AND (f.due_date, f.id) > ($%d::date, $%d::uuid)", p->cursor_due, p->cursor_id);
    sbuf_puts(s, " ORDER BY f.due_date, f.id LIMIT $1) o" OVERDUE_ORDER);
}

/* ---- handlers ---- */

int reports_overdue(struct request *r)
{
    struct sqlb b = {0};
    struct list_page page = {0};
    struct report_binds p = {0};
    PGresult *res = NULL;
    const char *owner;
    char name[48];

    const char *kind = request_query(r, "kind");
    size_t ki = 0;
    while (ki < ARRAY_LEN(overdue_kinds) && !(kind && strcmp(overdue_kinds[ki].name, kind) == 0))
        ki++;
    if (ki == ARRAY_LEN(overdue_kinds)) {
        problem_send(r, 400, "kind is required: one of contact, visit, review, follow_up");
        goto out;
    }
    const struct overdue_kind *k = &overdue_kinds[ki];
    if (query_owner(r, &owner) != 0)
        goto out;
    if (list_page_init_sorted(r, &page, "overdue", k->name, 2) != 0)
        goto out;

    sqlb_bind(&b, page.limit_plus_one); /* $1 */
    unsigned mask = 0;
    if (principal_scoped(&r->principal)) {
        p.scope = sqlb_bind(&b, r->principal.user_id);
        mask |= 1u << 0;
    }
    if (owner) {
        p.owner = sqlb_bind(&b, owner);
        mask |= 1u << 1;
    }
    /* The cursor is used in more than one place: bound once, printed where needed. */
    if (list_keyset_bind(r, &page, valid_date, &b, &p.cursor_due, &p.cursor_id) != 0)
        goto out;
    if (p.cursor_due)
        mask |= 1u << 2;
    if (k->months)
        overdue_customers_sql(&b.sql, k, &p);
    else
        overdue_follow_ups_sql(&b.sql, &p);
    snprintf(name, sizeof name, "overdue_%s_%x", k->name, mask);
    if (!(res = db_exec(r, name, b.sql.data, b.n, b.params)))
        goto out;
    list_page_reply_rendered(r, &page, res, overdue_render, OVERDUE_NCOLS, 2);
out:
    PQclear(res);
    list_page_free(&page);
    sbuf_free(&b.sql);
    return r->status;
}

int reports_visit_completion(struct request *r)
{
    struct sqlb b = {0};
    struct report_binds p = {0};
    struct sbuf out = {0};
    struct period period;
    PGresult *res = NULL;
    const char *owner;
    char name[32];

    const char *text = request_query(r, "period");
    if (!text || period_parse(text, &period) != 0) {
        problem_send(r, 400, "period is required: a year (2026), half (2026-H2), quarter (2026-Q4) or month (2026-11)");
        goto out;
    }
    if (query_owner(r, &owner) != 0)
        goto out;
    sqlb_bind(&b, period.from); /* $1 */
    sqlb_bind(&b, period.to);   /* $2 */
    if (principal_scoped(&r->principal))
        p.scope = sqlb_bind(&b, r->principal.user_id);
    if (owner)
        p.owner = sqlb_bind(&b, owner);
    sbuf_puts(&b.sql, SQL_COMPLETION);
    owner_conditions(&b.sql, &p);
    sbuf_puts(&b.sql, SQL_COMPLETION_END);
    snprintf(name, sizeof name, "completion_%d%d", p.scope != 0, p.owner != 0);
    if (!(res = db_exec(r, name, b.sql.data, b.n, b.params)))
        goto out;
    int rows = PQntuples(res);
    if (rows < 1) { /* the grouping set () always yields the overall row */
        problem_send(r, 500, NULL);
        goto out;
    }
    sbuf_puts(&out, "{\"period\":");
    sbuf_json_string(&out, text, strlen(text));
    sbuf_printf(&out, ",\"from\":\"%s\",\"to\":", period.from);
    sbuf_json_string(&out, PQgetvalue(res, 0, COMPLETION_LAST_DAY), (size_t)PQgetlength(res, 0, COMPLETION_LAST_DAY));
    sbuf_puts(&out, ",\"timezone\":");
    sbuf_json_string(&out, PQgetvalue(res, 0, COMPLETION_TZ), (size_t)PQgetlength(res, 0, COMPLETION_TZ));
    sbuf_puts(&out, ",\"overall\":");
    render_row(&out, res, 0, COMPLETION_FIRST_COUNT, completion_counts, COMPLETION_NCOUNTS);
    sbuf_puts(&out, ",\"owners\":[");
    for (int i = 1; i < rows; i++) {
        if (i > 1)
            sbuf_puts(&out, ",");
        render_row(&out, res, i, 0, completion_owner, COMPLETION_NOWNER);
    }
    sbuf_puts(&out, "]}");
    reply_json_buf(r, 200, &out);
out:
    PQclear(res);
    sbuf_free(&out);
    sbuf_free(&b.sql);
    return r->status;
}
