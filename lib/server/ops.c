/*
 * ops.c — the operational endpoints every service answers beside its APIs: /livez, /readyz,
 * /healthz, /docs.json, / and /metrics (observe.c), GET or HEAD only; and the small JSON
 * response helpers they share with dispatch.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "server/batch_internal.h"
#include "server/server_internal.h"

/* ---------------------------------------------------------------------------------------------
 * Small response helpers
 * ------------------------------------------------------------------------------------------- */

static void respond_json(tfn__conn_t *conn, int status, const char *json, bool keep_alive)
{
    tfn__conn_respond(conn, status, TFN__MEDIA_JSON, json, strlen(json), keep_alive, NULL);
}

static void respond_buf(tfn__conn_t *conn, int status, tfn__buf_t *body, bool keep_alive)
{
    tfn__conn_respond_buf(conn, status, TFN__MEDIA_JSON, body, keep_alive, NULL);
}

void tfn__conn_respond_errorf(tfn__conn_t *conn, bool keep_alive, const char *extra_headers,
                              int code, const char *fmt, ...)
{
    tfn_error_t err;
    tfn_error_set(&err, code, "%s", "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err.message, sizeof err.message, fmt, ap);
    va_end(ap);
    snprintf(err.service, sizeof err.service, "%s", conn->server->service->name);
    tfn__conn_respond_error(conn, &err, keep_alive, extra_headers);
}

/* ---------------------------------------------------------------------------------------------
 * Operational endpoints
 * ------------------------------------------------------------------------------------------- */

static void serve_readyz(tfn__conn_t *conn, bool keep_alive)
{
    tfn__server_t *server = conn->server;
    char why[TFN_ERROR_MESSAGE_MAX];
    if (server->draining || server->quiescing) /* load balancers: send no more here */
        tfn__conn_respond_errorf(conn, keep_alive, NULL, TFN_ESHUTDOWN,
                                 "service '%s' is shutting down", server->service->name);
    else if (!server->ready)
        tfn__conn_respond_errorf(conn, keep_alive, NULL, TFN_EUNAVAIL,
                                 "service '%s' is not ready: its init hook has not finished",
                                 server->service->name);
    else if (!tfn__server_hooks_ready(server, why, sizeof why))
        tfn__conn_respond_errorf(conn, keep_alive, NULL, TFN_EUNAVAIL,
                                 "service '%s' is not ready: %s", server->service->name, why);
    else
        respond_json(conn, 200, "{\"status\":\"ready\"}", keep_alive);
}

static void serve_healthz(tfn__conn_t *conn, bool keep_alive)
{
    tfn__server_t *server = conn->server;
    const char *status = server->draining || server->quiescing ? "draining"
                         : server->ready                       ? "ok"
                                                               : "starting";
    tfn__buf_t body;
    tfn__buf_init(&body, 4096);
    /* Service names are restricted to [A-Za-z0-9_-] (tfn__service_check): no escaping needed. */
    int rc =
        tfn__buf_printf(&body,
                        "{\"status\":\"%s\",\"service\":\"%s\",\"worker\":%u,"
                        "\"version\":\"%s\","
                        "\"ready\":%s,\"in_flight\":%u,\"queued\":%u,\"served\":%llu,"
                        "\"uptime_ms\":%llu,"
                        "\"pid\":%d",
                        status, server->service->name, server->worker.index,
                        server->service->version ? server->service->version : "0.0.0",
                        server->ready ? "true" : "false", server->in_flight, server->queued,
                        (unsigned long long)server->served,
                        (unsigned long long)(tfn__now_ms() - server->started_ms), (int)getpid());
    if (rc == 0)
        rc = tfn__batch_healthz(server, &body);
    if (rc == 0)
        rc = tfn__buf_puts(&body, "}");
    if (rc != 0) {
        tfn__buf_free(&body);
        tfn__conn_respond_errorf(conn, keep_alive, NULL, rc, "cannot build the health report");
        return;
    }
    respond_buf(conn, 200, &body, keep_alive);
}

static void serve_docs(tfn__conn_t *conn, bool keep_alive)
{
    tfn__server_t *server = conn->server;
    if (!server->openapi_json) { /* generated once: the service definition is constant */
        tfn__buf_t doc;
        tfn__buf_init(&doc, 16 << 20);
        int rc = tfn__openapi(server->service, &doc);
        if (rc != 0) {
            tfn__buf_free(&doc);
            tfn__conn_respond_errorf(conn, keep_alive, NULL, rc,
                                     "cannot generate the OpenAPI document");
            return;
        }
        server->openapi_json = doc.data;
        server->openapi_len = doc.len;
    }
    tfn__conn_respond(conn, 200, TFN__MEDIA_JSON, server->openapi_json, server->openapi_len,
                      keep_alive, NULL);
}

static void serve_index(tfn__conn_t *conn, bool keep_alive)
{
    const tfn_service_t *svc = conn->server->service;
    tfn__buf_t body;
    tfn__buf_init(&body, 1 << 20);
    int rc = tfn__buf_printf(&body, "{\"service\":\"%s\",\"apis\":[", svc->name);
    for (const tfn_api_t *api = svc->apis; rc == 0 && api->name; api++)
        rc = tfn__buf_printf(&body, "%s\"%s\"", api == svc->apis ? "" : ",", api->name);
    if (rc == 0)
        rc = tfn__buf_puts(&body, "],\"docs\":\"/docs.json\"}");
    if (rc != 0) {
        tfn__buf_free(&body);
        tfn__conn_respond_errorf(conn, keep_alive, NULL, rc, "cannot list the APIs");
        return;
    }
    respond_buf(conn, 200, &body, keep_alive);
}

typedef void (*ops_fn)(tfn__conn_t *conn, bool keep_alive);

static const struct {
    const char *path;
    ops_fn serve;
} operational_endpoints[] = {
    {"/livez", NULL}, /* NULL: answered inline, it must not depend on anything */
    {"/readyz", serve_readyz},
    {"/healthz", serve_healthz},
    {"/docs.json", serve_docs},
    {"/", serve_index},
    /* Prometheus metrics: lib/server/observe.c */
    {"/metrics", tfn__serve_metrics},
};

bool tfn__serve_ops(tfn__conn_t *conn, int method, const char *path, bool keep_alive)
{
    for (size_t i = 0; i < sizeof operational_endpoints / sizeof *operational_endpoints; i++) {
        if (strcmp(path, operational_endpoints[i].path) != 0)
            continue;
        if (method != HTTP_GET && method != HTTP_HEAD) {
            tfn__conn_respond_errorf(conn, keep_alive, "Allow: GET, HEAD\r\n", TFN_EMETHOD,
                                     "%s accepts GET, not %s", path, http_method_str(method));
        } else if (!operational_endpoints[i].serve) {
            respond_json(conn, 200, "{\"status\":\"alive\"}", keep_alive);
        } else {
            operational_endpoints[i].serve(conn, keep_alive);
        }
        return true;
    }
    return false;
}
