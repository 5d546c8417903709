#include <string.h>

#include "embedded.h"
#include "http/response.h"
#include "ops/ops.h"

int ops_openapi(struct request *r)
{
    return reply_raw(r, 200, "application/yaml", embedded_openapi.data, embedded_openapi.len);
}

/* A self-contained reference page: the contract rendered in the browser by
 * a small inline script (no external assets, so it works offline). */
static const char docs_head[] =
    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>crm-service API</title>"
    "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em}"
    "pre{background:#f6f8fa;padding:1em;overflow:auto;font-size:13px}"
    "h1{font-size:1.6em}</style></head><body><h1>crm-service API reference</h1>"
    "<p>The contract below is <a href=\"/openapi.yaml\">/openapi.yaml</a> (OpenAPI 3.1). "
    "Every endpoint under <code>/v1</code> needs <code>Authorization: Bearer &lt;token&gt;</code>; "
    "get one from <code>POST /v1/auth/token</code>.</p><pre id=\"spec\">";
static const char docs_tail[] = "</pre></body></html>";

int ops_docs(struct request *r)
{
    struct sbuf b = {0};
    sbuf_append(&b, docs_head, sizeof docs_head - 1);
    for (size_t i = 0; i < embedded_openapi.len; i++) {
        char c = embedded_openapi.data[i];
        if (c == '<')
            sbuf_puts(&b, "&lt;");
        else if (c == '>')
            sbuf_puts(&b, "&gt;");
        else if (c == '&')
            sbuf_puts(&b, "&amp;");
        else
            sbuf_append(&b, &c, 1);
    }
    sbuf_append(&b, docs_tail, sizeof docs_tail - 1);
    reply_raw(r, 200, "text/html", b.data, b.len);
    sbuf_free(&b);
    return 200;
}
