#include "http/server.h"

#include <civetweb.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "http/router.h"
#include "log.h"

static struct mg_context *ctx;

static int log_civetweb(const struct mg_connection *conn, const char *message)
{
    (void)conn;
    log_event("warn", "http server", "detail", message, NULL);
    return 1;
}

/* Errors Civetweb answers itself (malformed request line, headers over
 * max_request_size, …) get a problem+json body like every other error. */
static int http_error(struct mg_connection *conn, int status, const char *errmsg)
{
    (void)errmsg;
    const char *title = mg_get_response_code_text(conn, status);
    unsigned char raw[16];
    char request_id[33];
    random_bytes(raw, sizeof raw);
    hex_encode(raw, sizeof raw, request_id);
    char body[320];
    int n = snprintf(body, sizeof body,
                     "{\"type\":\"https://crm-service/problems/http-%d\",\"title\":\"%s\",\"status\":%d,"
                     "\"request_id\":\"%s\"}",
                     status, title ? title : "Error", status, request_id);
    mg_printf(conn,
              "HTTP/1.1 %d %s\r\nContent-Type: application/problem+json\r\nContent-Length: %d\r\n"
              "X-Request-Id: %s\r\nConnection: close\r\n\r\n%s",
              status, title ? title : "Error", n, request_id, body);
    return 0;
}

/* Authentication is the router's (bearer tokens). Installing this handler
 * only keeps Civetweb from looking for a .htpasswd file (a stat system call)
 * on every request. */
static int auth_pass(struct mg_connection *conn, void *cbdata)
{
    (void)conn;
    (void)cbdata;
    return 1;
}

int server_start(void)
{
    char threads[16], request_timeout[16];
    snprintf(threads, sizeof threads, "%d", g_config.threads);
    /* Bounds each blocking read; the router adds a total deadline per body. */
    snprintf(request_timeout, sizeof request_timeout, "%d",
             g_config.body_timeout_ms < 10000 ? g_config.body_timeout_ms : 10000);
    const char *options[] = {"listening_ports", g_config.listen,
                             "num_threads", threads,
                             "request_timeout_ms", request_timeout,
                             "keep_alive_timeout_ms", "15000",
                             "enable_keep_alive", "yes",
                             "tcp_nodelay", "1",
                             "max_request_size", "16384",
                             "enable_directory_listing", "no",
                             /* The router decodes the path itself (request_path_decode): Civetweb's
                              * decoding cuts it at an escaped NUL. */
                             "decode_url", "no",
                             /* Civetweb would otherwise answer CORS preflights itself with
                              * "Access-Control-Allow-Origin: *" for any origin; the router
                              * answers them from CRM_CORS_ORIGINS. */
                             "access_control_allow_origin", "",
                             "access_control_allow_methods", "",
                             "access_control_allow_headers", "",
                             NULL};
    struct mg_callbacks callbacks;
    memset(&callbacks, 0, sizeof callbacks);
    callbacks.log_message = log_civetweb;
    callbacks.http_error = http_error;
    mg_init_library(0);
    ctx = mg_start(&callbacks, NULL, options);
    if (!ctx) {
        log_event("error", "cannot listen", "listen", g_config.listen, NULL);
        mg_exit_library();
        return -1;
    }
    mg_set_request_handler(ctx, "/", router_handle, NULL);
    mg_set_auth_handler(ctx, "/", auth_pass, NULL);
    log_event("info", "listening", "listen", g_config.listen, NULL);
    return 0;
}

/* Upper bound for waiting on in-flight requests at shutdown (a stalled body
 * can hold one for the body timeout plus Civetweb's request timeout). */
#define DRAIN_TIMEOUT_US (25 * 1000000LL)

void server_stop(void)
{
    if (!ctx)
        return;
    /* Civetweb stops writing to sockets as soon as mg_stop raises its stop
     * flag, so responses still being computed would be lost: first let the
     * requests inside the router finish (bounded). */
    router_begin_drain();
    int64_t deadline = clock_mono_us() + DRAIN_TIMEOUT_US;
    while (router_in_flight() > 0 && clock_mono_us() < deadline) {
        struct timespec pause = {0, 10 * 1000000L};
        nanosleep(&pause, NULL);
    }
    mg_stop(ctx);
    ctx = NULL;
    mg_exit_library();
}
