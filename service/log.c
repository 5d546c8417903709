#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"

#define FLUSH_INTERVAL_MS 100

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    bool running;
    bool stop;
} flusher = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

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
    bool urgent = strcmp(level, "info") != 0;
    flockfile(stdout);
    fwrite(line.data, 1, line.len, stdout);
    if (urgent || !flusher.running)
        fflush(stdout);
    funlockfile(stdout);
    sbuf_free(&line);
}

static void *flusher_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&flusher.lock);
    while (!flusher.stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += FLUSH_INTERVAL_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&flusher.wake, &flusher.lock, &until);
        fflush(stdout);
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
    flusher.running = true;
    return 0;
}

void log_stop(void)
{
    if (!flusher.running)
        return;
    pthread_mutex_lock(&flusher.lock);
    flusher.stop = true;
    pthread_cond_signal(&flusher.wake);
    pthread_mutex_unlock(&flusher.lock);
    pthread_join(flusher.thread, NULL);
    flusher.running = false;
    fflush(stdout);
}
