/* Unit tests for service/log.c: lines handed to the writer thread from many
 * threads at once all reach stdout whole, once each and in each thread's
 * order; warnings are on stdout before log_event returns; log_stop leaves
 * nothing behind. stdout is pointed at a temporary file for each test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define THREADS 8
#define LINES_PER_THREAD 20000 /* ~19 MB in all: more than the writer's high water */

struct capture {
    int saved_fd;
    char path[64];
};

static void capture_begin(struct capture *c)
{
    fflush(stdout);
    snprintf(c->path, sizeof c->path, "/tmp/crm-test-log-XXXXXX");
    int fd = mkstemp(c->path);
    assert_true(fd >= 0);
    c->saved_fd = dup(STDOUT_FILENO);
    assert_true(c->saved_fd >= 0);
    assert_true(dup2(fd, STDOUT_FILENO) >= 0);
    close(fd);
}

static void capture_end(struct capture *c)
{
    fflush(stdout);
    assert_true(dup2(c->saved_fd, STDOUT_FILENO) >= 0);
    close(c->saved_fd);
}

/* The captured file's content (NUL-terminated; the caller frees it). */
static char *captured(const struct capture *c)
{
    FILE *f = fopen(c->path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

static void *producer(void *arg)
{
    int t = (int)(intptr_t)arg;
    char thread[8], seq[16];
    snprintf(thread, sizeof thread, "%d", t);
    for (int i = 0; i < LINES_PER_THREAD; i++) {
        snprintf(seq, sizeof seq, "%d", i);
        log_event("info", "request", "thread", thread, "seq", seq, "pad", "0123456789abcdef0123456789abcdef", NULL);
    }
    return NULL;
}

static void test_lines_from_many_threads_arrive_whole_once_and_in_order(void **state)
{
    (void)state;
    struct capture c;
    capture_begin(&c);
    assert_int_equal(log_start(), 0);
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, producer, (void *)(intptr_t)t), 0);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    log_stop();
    capture_end(&c);

    char *text = captured(&c);
    int next[THREADS] = {0};
    int lines = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_error_t err;
        json_t *o = json_loads(line, 0, &err);
        if (!o)
            fail_msg("line %d is not one JSON object: %.80s (%s)", lines + 1, line, err.text);
        assert_string_equal(json_string_value(json_object_get(o, "level")), "info");
        int t = atoi(json_string_value(json_object_get(o, "thread")));
        int seq = atoi(json_string_value(json_object_get(o, "seq")));
        assert_in_range(t, 0, THREADS - 1);
        if (seq != next[t])
            fail_msg("thread %d: line %d came where line %d was due", t, seq, next[t]);
        next[t]++;
        lines++;
        json_decref(o);
    }
    assert_int_equal(lines, THREADS * LINES_PER_THREAD);
    free(text);
    unlink(c.path);
}

static void test_a_warning_is_written_before_log_event_returns(void **state)
{
    (void)state;
    struct capture c;
    capture_begin(&c);
    assert_int_equal(log_start(), 0);
    log_event("info", "first", NULL);
    log_event("warn", "second", "k", "v", NULL);
    char *text = captured(&c); /* the writer's 100 ms interval has not passed */
    const char *first = strstr(text, "\"msg\":\"first\"");
    const char *second = strstr(text, "\"msg\":\"second\",\"k\":\"v\"}\n");
    assert_non_null(first);
    assert_non_null(second);
    assert_true(first < second); /* the info line pending before it is not overtaken */
    free(text);
    log_stop();

    /* Stopped: a line goes straight through. */
    log_event("info", "after stop", NULL);
    text = captured(&c);
    assert_non_null(strstr(text, "\"msg\":\"after stop\""));
    free(text);
    capture_end(&c);
    unlink(c.path);
}

static void test_values_are_json_escaped(void **state)
{
    (void)state;
    struct capture c;
    capture_begin(&c);
    log_event("info", "quote \" and \\ and \n", "key", "客户\t", NULL);
    capture_end(&c);
    char *text = captured(&c);
    json_t *o = json_loads(text, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "msg")), "quote \" and \\ and \n");
    assert_string_equal(json_string_value(json_object_get(o, "key")), "客户\t");
    json_decref(o);
    free(text);
    unlink(c.path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_from_many_threads_arrive_whole_once_and_in_order),
        cmocka_unit_test(test_a_warning_is_written_before_log_event_returns),
        cmocka_unit_test(test_values_are_json_escaped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
