#include "ops/metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "db/db.h"
#include "http/response.h"
#include "http/routes.h"
#include "ops/ops.h"

#define MAX_ROUTES METRICS_MAX_ROUTES
static const int status_codes[] = {200, 201, 204, 304, 400, 401, 403, 404, 405, 408, 409,
                                   412, 413, 415, 422, 428, 429, 500, 501, 503};
#define N_STATUS (sizeof status_codes / sizeof status_codes[0] + 1) /* + "other" */
static const double buckets_ms[] = {1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 10000};
#define N_BUCKETS (sizeof buckets_ms / sizeof buckets_ms[0])

static atomic_ulong requests[MAX_ROUTES + 1][N_STATUS];
static atomic_ulong latency_bucket[MAX_ROUTES + 1][N_BUCKETS];
static atomic_ulong latency_count[MAX_ROUTES + 1];
static atomic_ullong latency_sum_us[MAX_ROUTES + 1];

static size_t status_index(int status)
{
    for (size_t i = 0; i < N_STATUS - 1; i++)
        if (status_codes[i] == status)
            return i;
    return N_STATUS - 1;
}

void metrics_record(int route_index, int status, int64_t duration_us)
{
    size_t ri = route_index >= 0 && route_index < MAX_ROUTES ? (size_t)route_index : MAX_ROUTES;
    atomic_fetch_add_explicit(&requests[ri][status_index(status)], 1, memory_order_relaxed);
    for (size_t b = 0; b < N_BUCKETS; b++)
        if ((double)duration_us / 1000.0 <= buckets_ms[b]) {
            atomic_fetch_add_explicit(&latency_bucket[ri][b], 1, memory_order_relaxed);
            break;
        }
    atomic_fetch_add_explicit(&latency_count[ri], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&latency_sum_us[ri], (unsigned long long)duration_us, memory_order_relaxed);
}

static void route_label(size_t ri, char *out, size_t len)
{
    if (ri < routes_count)
        snprintf(out, len, "method=\"%s\",route=\"%s\"", routes[ri].method, routes[ri].pattern);
    else
        snprintf(out, len, "method=\"\",route=\"unmatched\"");
}

void metrics_render(struct sbuf *out)
{
    char label[160];
    sbuf_puts(out, "# HELP crm_http_requests_total HTTP requests by route and status.\n"
                   "# TYPE crm_http_requests_total counter\n");
    for (size_t ri = 0; ri <= MAX_ROUTES; ri++) {
        if (ri >= routes_count && ri != MAX_ROUTES)
            continue;
        route_label(ri, label, sizeof label);
        for (size_t s = 0; s < N_STATUS; s++) {
            unsigned long n = atomic_load(&requests[ri][s]);
            if (!n)
                continue;
            if (s < N_STATUS - 1)
                sbuf_printf(out, "crm_http_requests_total{%s,status=\"%d\"} %lu\n", label, status_codes[s], n);
            else
                sbuf_printf(out, "crm_http_requests_total{%s,status=\"other\"} %lu\n", label, n);
        }
    }
    sbuf_puts(out, "# HELP crm_http_request_duration_seconds Request latency.\n"
                   "# TYPE crm_http_request_duration_seconds histogram\n");
    for (size_t ri = 0; ri <= MAX_ROUTES; ri++) {
        if (ri >= routes_count && ri != MAX_ROUTES)
            continue;
        unsigned long count = atomic_load(&latency_count[ri]);
        if (!count)
            continue;
        route_label(ri, label, sizeof label);
        unsigned long cumulative = 0;
        for (size_t b = 0; b < N_BUCKETS; b++) {
            cumulative += atomic_load(&latency_bucket[ri][b]);
            sbuf_printf(out, "crm_http_request_duration_seconds_bucket{%s,le=\"%g\"} %lu\n", label,
                        buckets_ms[b] / 1000.0, cumulative);
        }
        sbuf_printf(out, "crm_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %lu\n", label, count);
        sbuf_printf(out, "crm_http_request_duration_seconds_sum{%s} %.6f\n", label,
                    (double)atomic_load(&latency_sum_us[ri]) / 1e6);
        sbuf_printf(out, "crm_http_request_duration_seconds_count{%s} %lu\n", label, count);
    }
    int size, in_use, waiting;
    db_pool_stats(false, &size, &in_use, &waiting);
    sbuf_printf(out,
                "# HELP crm_db_pool_size Connections the pool may hold.\n# TYPE crm_db_pool_size gauge\n"
                "crm_db_pool_size %d\n"
                "# HELP crm_db_pool_in_use Connections leased now.\n# TYPE crm_db_pool_in_use gauge\n"
                "crm_db_pool_in_use %d\n"
                "# HELP crm_db_pool_waiting Requests waiting for a connection.\n# TYPE crm_db_pool_waiting gauge\n"
                "crm_db_pool_waiting %d\n"
                "# HELP crm_db_errors_total Database errors.\n# TYPE crm_db_errors_total counter\n"
                "crm_db_errors_total %lu\n",
                size, in_use, waiting, db_error_count());
    if (db_replica_configured()) {
        db_pool_stats(true, &size, &in_use, &waiting);
        sbuf_printf(out,
                    "# HELP crm_db_read_pool_size Replica connections the read pool may hold.\n"
                    "# TYPE crm_db_read_pool_size gauge\ncrm_db_read_pool_size %d\n"
                    "# HELP crm_db_read_pool_in_use Replica connections leased now.\n"
                    "# TYPE crm_db_read_pool_in_use gauge\ncrm_db_read_pool_in_use %d\n"
                    "# HELP crm_db_read_pool_waiting Requests waiting for a replica connection.\n"
                    "# TYPE crm_db_read_pool_waiting gauge\ncrm_db_read_pool_waiting %d\n",
                    size, in_use, waiting);
    }
}

int ops_metrics(struct request *r)
{
    struct sbuf out = {0};
    metrics_render(&out);
    reply_raw(r, 200, "text/plain; version=0.0.4", out.data, out.len);
    sbuf_free(&out);
    return 200;
}
