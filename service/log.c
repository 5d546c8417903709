/* Lines go to stdout through one writer thread. A request thread never
 * takes a lock to log: it pushes its finished line onto a lock-free stack,
 * and the writer takes the whole stack every FLUSH_INTERVAL_MS, restores
 * the order and writes it. (Before, every thread wrote into stdio's buffer
 * under stdio's lock, and the thread whose line filled the buffer wrote
 * 64 KB while holding it: on a busy machine that thread could lose its CPU
 * mid-write, and every other request thread queued behind it, for up to
 * 8 ms at a time on the benchmark.)
 *
 * Warnings and errors are written before log_event returns: the caller
 * takes the writer's mutex and writes everything pending itself, its own
 * line last. Backpressure: while more than HIGH_WATER_BYTES are pending
 * (the writer cannot keep up with stdout), a new line waits for the writer
 * rather than growing memory without bound. */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"

#define FLUSH_INTERVAL_MS 100
#define HIGH_WATER_BYTES (8u << 20)

struct line {
    struct line *next; /* older line (on the stack) / next line to write */
    size_t len;
    char text[];
};

static _Atomic(struct line *) pending; /* newest first */
static atomic_size_t pending_bytes;

static struct {
    pthread_mutex_t lock; /* held while writing, by the writer or by a caller draining an urgent line */
    pthread_cond_t wake;    /* the writer: stop, or a producer is over the high water */
    pthread_cond_t drained; /* producers waiting under the high water */
    pthread_t thread;
    atomic_bool running;
    bool stop;
} flusher = {.lock = PTHREAD_MUTEX_INITIALIZER,
             .wake = PTHREAD_COND_INITIALIZER,
             .drained = PTHREAD_COND_INITIALIZER};

static void push(struct line *l)
{
    struct line *head = atomic_load_explicit(&pending, memory_order_relaxed);
    do
        l->next = head;
    while (!atomic_compare_exchange_weak(&pending, &head, l));
    atomic_fetch_add_explicit(&pending_bytes, l->len, memory_order_relaxed);
}

/* With flusher.lock held: writes every pending line, oldest first, and
 * flushes stdout. */
static void drain_locked(void)
{
    struct line *l = atomic_exchange(&pending, NULL);
    struct line *ordered = NULL;
    while (l) {
        struct line *next = l->next;
        l->next = ordered;
        ordered = l;
        l = next;
    }
    size_t written = 0;
    while (ordered) {
        struct line *next = ordered->next;
        fwrite(ordered->text, 1, ordered->len, stdout);
        written += ordered->len;
        free(ordered);
        ordered = next;
    }
    fflush(stdout);
    if (written) {
        atomic_fetch_sub_explicit(&pending_bytes, written, memory_order_relaxed);
        pthread_cond_broadcast(&flusher.drained);
    }
}

static struct timespec in_ms(int ms)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_nsec += ms * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

/* Hands a finished line to the writer (which frees it). */
static void emit(struct line *l, bool urgent)
{
    if (!atomic_load_explicit(&flusher.running, memory_order_acquire)) {
        /* Before log_start or after log_stop: one thread, write through. */
        fwrite(l->text, 1, l->len, stdout);
        fflush(stdout);
        free(l);
        return;
    }
    push(l);
    /* log_stop clears running before its last drain: a line pushed after
     * that drain is written here. */
    if (urgent || !atomic_load(&flusher.running)) {
        pthread_mutex_lock(&flusher.lock);
        drain_locked();
        pthread_mutex_unlock(&flusher.lock);
    } else if (atomic_load_explicit(&pending_bytes, memory_order_relaxed) > HIGH_WATER_BYTES) {
        pthread_mutex_lock(&flusher.lock);
        pthread_cond_signal(&flusher.wake);
        while (atomic_load_explicit(&pending_bytes, memory_order_relaxed) > HIGH_WATER_BYTES && !flusher.stop) {
            struct timespec until = in_ms(FLUSH_INTERVAL_MS);
            pthread_cond_timedwait(&flusher.drained, &flusher.lock, &until);
        }
        pthread_mutex_unlock(&flusher.lock);
    }
}

void log_event(const char *level, const char *msg, ...)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    utc_time(now.tv_sec, &tm);
    char head[64];
    snprintf(head, sizeof head, "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000);
    struct sbuf line = {0};
    /* Room for the list node in front of the text, so the line is built
     * in the allocation it is handed over in. */
    sbuf_reserve(&line, offsetof(struct line, text) + 512);
    line.len = offsetof(struct line, text);
    sbuf_puts(&line, head);
    sbuf_json_string(&line, level, strlen(level));
    sbuf_puts(&line, ",\"msg\":");
    sbuf_json_string(&line, msg, strlen(msg));
    va_list ap;
    va_start(ap, msg);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (!k)
            break;
        const char *v = va_arg(ap, const char *);
        if (!v)
            continue;
        sbuf_puts(&line, ",");
        sbuf_json_string(&line, k, strlen(k));
        sbuf_puts(&line, ":");
        sbuf_json_string(&line, v, strlen(v));
    }
    va_end(ap);
    sbuf_puts(&line, "}\n");
    struct line *l = (struct line *)(void *)line.data;
    l->len = line.len - offsetof(struct line, text);
    emit(l, strcmp(level, "info") != 0);
}

static void *flusher_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&flusher.lock);
    while (!flusher.stop) {
        struct timespec until = in_ms(FLUSH_INTERVAL_MS);
        pthread_cond_timedwait(&flusher.wake, &flusher.lock, &until);
        drain_locked();
    }
    pthread_mutex_unlock(&flusher.lock);
    return NULL;
}

int log_start(void)
{
    static char buffer[1 << 16];
    setvbuf(stdout, buffer, _IOFBF, sizeof buffer);
    flusher.stop = false;
    if (pthread_create(&flusher.thread, NULL, flusher_main, NULL) != 0)
        return -1;
    atomic_store_explicit(&flusher.running, true, memory_order_release);
    return 0;
}

void log_stop(void)
{
    if (!atomic_load(&flusher.running))
        return;
    pthread_mutex_lock(&flusher.lock);
    flusher.stop = true;
    pthread_cond_signal(&flusher.wake);
    pthread_cond_broadcast(&flusher.drained);
    pthread_mutex_unlock(&flusher.lock);
    pthread_join(flusher.thread, NULL);
    atomic_store(&flusher.running, false);
    pthread_mutex_lock(&flusher.lock);
    drain_locked(); /* lines pushed while the writer was stopping */
    pthread_mutex_unlock(&flusher.lock);
}
