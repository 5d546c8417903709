/* The batched writer of read-audit rows (see audit.h for the guarantees).
 *
 * Request threads append to a queue under a mutex; every ~20 ms the writer
 * swaps the queue with an empty one and inserts it in chunks of at most
 * FLUSH_CHUNK rows, one statement each. A chunk that fails goes back to the
 * front of the queue with everything after it, so nothing is dropped while
 * the database is away. Backpressure: while more than READ_HIGH_WATER reads
 * are unwritten (queued or in flight), a new read waits for the writer (so
 * under overload audited reads slow down to what the trail can absorb),
 * and after READ_WAIT_MS it is refused (503) rather than served unaudited. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/db.h"
#include "http/problem.h"
#include "log.h"
#include "resources/audit.h"

#define READ_HIGH_WATER 4000 /* unwritten reads beyond which readers wait */
#define READ_WAIT_MS 5000    /* …for at most this long, then 503 */
/* Small, frequent flushes: one insert of a 100 ms batch (~700 rows at the
 * benchmark's rate) held a PostgreSQL backend and a CPU for long enough to
 * show in the reads' p99 (32-76 ms against 13-34 ms at 20 ms, alternated
 * A/B on the benchmark data); 20, 10 and 5 ms measured alike. */
#define FLUSH_INTERVAL_MS 20
#define FLUSH_CHUNK 2000
#define SWEEP_INTERVAL_MS 60000 /* expired idempotency keys */
#define RETRY_PAUSE_MS 500

struct read_entry {
    int64_t at_us; /* wall clock, microseconds since the epoch */
    unsigned role;
    char actor_id[37];
    char entity[12];
    char entity_id[37];
    char customer_id[37];
    char request_id[65];
};

struct read_queue {
    struct read_entry *items;
    size_t n, cap;
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;    /* the writer: work to do */
    pthread_cond_t drained; /* readers: the backlog shrank */
    struct read_queue q;
    size_t in_flight; /* taken by the writer, not yet written */
    bool stop;
    bool running;
    pthread_t thread;
} w = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER, .drained = PTHREAD_COND_INITIALIZER};

static void queue_reserve(struct read_queue *q, size_t need)
{
    if (need <= q->cap)
        return;
    size_t cap = q->cap ? q->cap : 256;
    while (cap < need)
        cap *= 2;
    q->items = xrealloc(q->items, cap * sizeof *q->items);
    q->cap = cap;
}

int audit_read(struct request *r, const char *entity, const char *entity_id, const char *customer_id)
{
    /* The entry is filled in before the lock, which is then held only to
     * copy it in: a reader that loses its CPU while holding the lock
     * stalls every other audited read. */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct read_entry e;
    e.at_us = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
    e.role = r->principal.role;
    snprintf(e.actor_id, sizeof e.actor_id, "%s", r->principal.user_id);
    snprintf(e.entity, sizeof e.entity, "%s", entity);
    snprintf(e.entity_id, sizeof e.entity_id, "%s", entity_id);
    snprintf(e.customer_id, sizeof e.customer_id, "%s", customer_id ? customer_id : "");
    snprintf(e.request_id, sizeof e.request_id, "%s", r->request_id);
    pthread_mutex_lock(&w.lock);
    if (w.q.n + w.in_flight >= READ_HIGH_WATER) {
        struct timespec until = now;
        until.tv_sec += READ_WAIT_MS / 1000;
        pthread_cond_signal(&w.wake);
        while (w.q.n + w.in_flight >= READ_HIGH_WATER)
            if (pthread_cond_timedwait(&w.drained, &w.lock, &until) != 0)
                break;
        if (w.q.n + w.in_flight >= READ_HIGH_WATER) {
            pthread_mutex_unlock(&w.lock);
            problem_send(r, 503, "the audit trail cannot keep up; retry shortly");
            return -1;
        }
    }
    queue_reserve(&w.q, w.q.n + 1);
    if (w.q.n == 0)
        pthread_cond_signal(&w.wake); /* an idle writer sleeps until the first read */
    w.q.items[w.q.n++] = e;
    pthread_mutex_unlock(&w.lock);
    return 0;
}

/* Appends one element to a PostgreSQL array literal. Every value is a UUID,
 * a role or entity name, a timestamp or a sanitised request id; quote and
 * escape anyway. */
static void array_add(struct sbuf *b, const char *v)
{
    sbuf_puts(b, b->len > 1 ? ",\"" : "\"");
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\')
            sbuf_append(b, "\\", 1);
        sbuf_append(b, p, 1);
    }
    sbuf_puts(b, "\"");
}

#define SQL_AUDIT_READS                                                                                      \
    "INSERT INTO audit_log (at, actor_id, actor_role, action, entity, entity_id, customer_id, request_id) "  \
    "SELECT t.at, t.actor, t.role, 'read', t.entity, t.entity_id, nullif(t.customer, '')::uuid, t.req "       \
    "FROM unnest($1::timestamptz[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) " \
    "AS t(at, actor, role, entity, entity_id, customer, req)"

/* Inserts items[0..n) in one statement. 0 / -1 (connection dropped on error). */
static int insert_chunk(PGconn **pg, const struct read_entry *items, size_t n)
{
    struct sbuf cols[7] = {{0}};
    for (int c = 0; c < 7; c++)
        sbuf_puts(&cols[c], "{");
    for (size_t i = 0; i < n; i++) {
        time_t secs = (time_t)(items[i].at_us / 1000000);
        struct tm tm;
        utc_time(secs, &tm);
        char at[40];
        snprintf(at, sizeof at, "%04d-%02d-%02d %02d:%02d:%02d.%06ld+00", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)(items[i].at_us % 1000000));
        array_add(&cols[0], at);
        array_add(&cols[1], items[i].actor_id);
        array_add(&cols[2], role_name(items[i].role));
        array_add(&cols[3], items[i].entity);
        array_add(&cols[4], items[i].entity_id);
        array_add(&cols[5], items[i].customer_id);
        array_add(&cols[6], items[i].request_id);
    }
    const char *params[7];
    for (int c = 0; c < 7; c++) {
        sbuf_puts(&cols[c], "}");
        params[c] = cols[c].data;
    }
    int rc = -1;
    char err[256];
    if (!*pg && !(*pg = db_connect(err, sizeof err)))
        goto out;
    /* Batches may be large after an outage: give them room. SET LOCAL, not
     * SET: behind PgBouncer in transaction mode a session setting would stay
     * on a server connection that other clients get next. */
    if (db_exec_const(*pg, "BEGIN; SET LOCAL statement_timeout = 60000", err, sizeof err) != 0) {
        log_event("error", "audit read flush failed", "message", err, NULL);
    } else {
        PGresult *res = PQexecParams(*pg, SQL_AUDIT_READS, 7, NULL, params, NULL, NULL, 0);
        rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -1;
        if (rc)
            log_event("error", "audit read flush failed", "message", PQresultErrorMessage(res), NULL);
        PQclear(res);
        if (rc == 0 && db_exec_const(*pg, "COMMIT", err, sizeof err) != 0) {
            log_event("error", "audit read flush failed", "message", err, NULL);
            rc = -1;
        }
    }
    if (rc) {
        PQfinish(*pg); /* reconnect next time, whatever went wrong */
        *pg = NULL;
    }
out:
    for (int c = 0; c < 7; c++)
        sbuf_free(&cols[c]);
    return rc;
}

/* CLOCK_REALTIME (the condition variables' clock) ms from now. */
static struct timespec deadline_in_ms(long ms)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

/* Puts batch[from..) back in front of the queue, whatever its size. */
static void requeue_front(struct read_queue *batch, size_t from)
{
    size_t rest = batch->n - from;
    pthread_mutex_lock(&w.lock);
    queue_reserve(&w.q, w.q.n + rest);
    memmove(w.q.items + rest, w.q.items, w.q.n * sizeof *w.q.items);
    memcpy(w.q.items, batch->items + from, rest * sizeof *batch->items);
    w.q.n += rest;
    w.in_flight = 0;
    pthread_mutex_unlock(&w.lock);
    batch->n = 0;
}

static void *writer_main(void *arg)
{
    (void)arg;
    PGconn *pg = NULL;
    struct read_queue batch = {0};
    int64_t last_sweep = 0;
    pthread_mutex_lock(&w.lock);
    for (;;) {
        /* Idle: asleep until the first read arrives (or the sweep is due),
         * then gathering for one interval. */
        int64_t sweep_in_ms = (last_sweep + SWEEP_INTERVAL_MS * 1000LL - clock_mono_us()) / 1000;
        if (!w.stop && w.q.n == 0 && sweep_in_ms > 0) {
            struct timespec until = deadline_in_ms((long)sweep_in_ms);
            while (!w.stop && w.q.n == 0)
                if (pthread_cond_timedwait(&w.wake, &w.lock, &until) != 0)
                    break;
        }
        if (!w.stop && w.q.n > 0 && w.q.n < FLUSH_CHUNK) {
            struct timespec until = deadline_in_ms(FLUSH_INTERVAL_MS);
            pthread_cond_timedwait(&w.wake, &w.lock, &until);
        }
        bool stopping = w.stop;
        /* Swap: request threads continue on the empty array. */
        struct read_queue taken = w.q;
        w.q = batch;
        w.q.n = 0;
        batch = taken;
        w.in_flight = batch.n;
        pthread_mutex_unlock(&w.lock);

        size_t done = 0;
        while (done < batch.n) {
            size_t n = batch.n - done < FLUSH_CHUNK ? batch.n - done : FLUSH_CHUNK;
            if (insert_chunk(&pg, batch.items + done, n) != 0)
                break;
            done += n;
            pthread_mutex_lock(&w.lock);
            w.in_flight -= n;
            pthread_cond_broadcast(&w.drained);
            pthread_mutex_unlock(&w.lock);
        }
        bool failed = done < batch.n;
        if (failed)
            requeue_front(&batch, done);
        batch.n = 0;
        if (failed) {
            if (stopping) {
                pthread_mutex_lock(&w.lock);
                break;
            }
            struct timespec pause = {0, RETRY_PAUSE_MS * 1000000L};
            nanosleep(&pause, NULL);
        }
        /* Idempotency keys live for 24 hours; sweep once a minute. */
        if (!failed && clock_mono_us() - last_sweep >= SWEEP_INTERVAL_MS * 1000LL) {
            char err[256];
            if (!pg && !(pg = db_connect(err, sizeof err))) {
                log_event("error", "idempotency key sweep failed", "message", err, NULL);
            } else {
                PGresult *res = PQexecParams(
                    pg, "DELETE FROM idempotency_keys WHERE created_at < now() - interval '24 hours'", 0, NULL, NULL,
                    NULL, NULL, 0);
                if (PQresultStatus(res) != PGRES_COMMAND_OK) {
                    log_event("error", "idempotency key sweep failed", "message", PQresultErrorMessage(res), NULL);
                    PQfinish(pg); /* reconnect next time */
                    pg = NULL;
                }
                PQclear(res);
            }
            last_sweep = clock_mono_us();
        }
        pthread_mutex_lock(&w.lock);
        if (stopping && w.q.n == 0)
            break;
    }
    if (w.q.n) {
        char lost[24];
        snprintf(lost, sizeof lost, "%zu", w.q.n);
        log_event("error", "audit reads not written at shutdown: database unreachable", "count", lost, NULL);
    }
    pthread_mutex_unlock(&w.lock);
    free(batch.items);
    if (pg)
        PQfinish(pg);
    return NULL;
}

int audit_writer_start(void)
{
    w.stop = false;
    if (pthread_create(&w.thread, NULL, writer_main, NULL) != 0)
        return -1;
    w.running = true;
    return 0;
}

void audit_writer_stop(void)
{
    if (!w.running)
        return;
    pthread_mutex_lock(&w.lock);
    w.stop = true;
    pthread_cond_signal(&w.wake);
    pthread_mutex_unlock(&w.lock);
    pthread_join(w.thread, NULL);
    w.running = false;
    free(w.q.items);
    w.q = (struct read_queue){0};
}
