/*
 * tasks.c — background tasks: POST /{api}/submit, GET status and get, POST retry, PUT cancel.
 *
 * BentoML 1.4's task endpoints and JSON shapes (its server's app.py, its client's task calls).
 * Every task is a row of a SQLite database in the data directory, shared by the service's
 * workers: the worker that took the submit keeps the task in its own queue (first come first
 * served) and runs it through the ordinary request path (tfn__dispatch_task) when a handler slot
 * is free, so tasks count against max_concurrency like requests (which go first). Any worker
 * answers status, get, retry and cancel from the database.
 *
 * Status changes are conditional updates ("... WHERE status = 'in_progress'"), so a cancel from
 * one worker and the end of the task in another cannot both win: a canceled task's result is
 * discarded, a waiting task canceled elsewhere is dropped when its turn comes. A task whose
 * worker died (the row's pid is gone) is failed when someone asks about it. Finished rows are
 * deleted keep_s after they finished (read as not found from then on).
 *
 * The database is used from the loop thread only, with WAL and synchronous=NORMAL: an update is
 * tens of microseconds (docs/benchmarks.md, "Background tasks"), which the loop can afford.
 */
#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "codec/codec_internal.h"
#include "server/server_internal.h"
#include "server/tasks_internal.h"

#define DEFAULT_KEEP_S  86400u /* BentoML's RESULT_RETENTION */
#define MAX_WAITING     65536u /* tasks waiting in one worker; past it submit answers 429 */
#define MAX_RESULT      ((size_t)1 << 30)
#define DATA_DIR_ENV    "TFN_DATA_DIR"
#define DEFAULT_DATADIR "tiffin-data"

typedef struct tfn__tasks tfn__tasks_t;
typedef struct task task_t;
struct task {
    task_t *next;
    struct tfn__tasks *tasks;
    const tfn_api_t *api;
    char id[TFN__TASK_ID_LEN + 1];
    char *input; /* the JSON input (malloc) */
    size_t input_len;
    tfn__request_t *req; /* running: its request, until it is answered */
};

struct tfn__tasks {
    tfn__server_t *server;
    sqlite3 *db;
    task_t *head, *tail; /* waiting for a handler slot */
    unsigned waiting;
    task_t *running; /* started, not answered yet */
    bool kicking;
};

typedef struct row {
    char api[TFN_ERROR_NAME_MAX];
    char status[16];
    int http_status;
    double created, executed, completed; /* 0: NULL */
    long pid;
} row_t;

/* ---------------------------------------------------------------------------------------------
 * Task ids and query strings (untrusted bytes: fuzz/fuzz_task_query.c)
 * ------------------------------------------------------------------------------------------- */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int tfn__task_id_parse(const char *query, size_t len, char *id)
{
    id[0] = '\0';
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && query[end] != '&' && query[end] != ';')
            end++;
        static const char key[] = "task_id=";
        if (end - i >= sizeof key - 1 && memcmp(query + i, key, sizeof key - 1) == 0) {
            size_t n = 0;
            for (size_t j = i + sizeof key - 1; j < end; j++) {
                int c = (unsigned char)query[j];
                if (c == '%') {
                    int hi = j + 2 < end ? hex_value(query[j + 1]) : -1;
                    int lo = j + 2 < end ? hex_value(query[j + 2]) : -1;
                    if (hi < 0 || lo < 0) {
                        id[0] = '\0';
                        return TFN_EINVAL;
                    }
                    c = hi * 16 + lo;
                    j += 2;
                }
                if (n == TFN__TASK_ID_LEN || hex_value((char)c) < 0 || (c >= 'A' && c <= 'F')) {
                    id[0] = '\0';
                    return TFN_EINVAL;
                }
                id[n++] = (char)c;
            }
            id[n] = '\0';
            if (n != TFN__TASK_ID_LEN) {
                id[0] = '\0';
                return TFN_EINVAL;
            }
            return 0;
        }
        i = end + 1;
    }
    return TFN_EMISSING;
}

static int new_id(char *id)
{
    unsigned char raw[TFN__TASK_ID_LEN / 2];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        return TFN_EIO;
    for (size_t i = 0; i < sizeof raw; i++)
        sprintf(id + 2 * i, "%02x", raw[i]);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * The store
 * ------------------------------------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint32_t keep_of(const tfn_api_t *api)
{
    return api->task.keep_s ? api->task.keep_s : DEFAULT_KEEP_S;
}

/* mkdir -p: each missing directory of `path` is made. */
static int make_dirs(const char *path)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
        return -1;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS tasks ("
    " task_id TEXT PRIMARY KEY, api TEXT NOT NULL, input BLOB NOT NULL, status TEXT NOT NULL,"
    " http_status INTEGER, result BLOB, created_at REAL NOT NULL, executed_at REAL,"
    " completed_at REAL, expires_at REAL, pid INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS tasks_expiry ON tasks (expires_at);";

/* Opens the store on first use; 0 or TFN_EIO with *err. */
static int store_open(tfn__server_t *server, tfn_error_t *err)
{
    if (server->tasks && server->tasks->db)
        return 0;
    const char *dir = getenv(DATA_DIR_ENV);
    if (!dir || !dir[0])
        dir = DEFAULT_DATADIR;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.tasks.sqlite3", dir, server->service->name);
    if (make_dirs(dir) != 0)
        return tfn_error_set(err, TFN_EIO, "cannot make the data directory '%s': %s", dir,
                             strerror(errno));
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(db, 5000); /* other workers' writes are short */
        /* WAL: readers never wait for the writer; NORMAL: a commit does not fsync (a power cut
         * may lose the last results, a process crash loses nothing). */
        sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
        sqlite3_exec(db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
        rc = sqlite3_exec(db, schema, NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK) {
        tfn_error_set(err, TFN_EIO, "cannot open the task store '%s': %s", path,
                      db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return TFN_EIO;
    }
    if (!server->tasks) {
        server->tasks = calloc(1, sizeof *server->tasks);
        if (!server->tasks) {
            sqlite3_close(db);
            return tfn_error_set(err, TFN_ENOMEM, "out of memory");
        }
        server->tasks->server = server;
    }
    server->tasks->db = db;
    return 0;
}

/* Runs `sql` with its ? parameters bound from the format `types` ('t' text, 'd' double, 'i' int,
 * 'b' blob: pointer then size_t, 'n' NULL). Returns the rows changed, or -1. */
static int exec_bound(sqlite3 *db, const char *sql, const char *types, ...)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    va_list ap;
    va_start(ap, types);
    for (int i = 1; *types; types++, i++) {
        switch (*types) {
        case 't': sqlite3_bind_text(st, i, va_arg(ap, const char *), -1, SQLITE_TRANSIENT); break;
        case 'd': sqlite3_bind_double(st, i, va_arg(ap, double)); break;
        case 'i': sqlite3_bind_int64(st, i, va_arg(ap, long)); break;
        case 'b': {
            const void *p = va_arg(ap, const void *);
            size_t n = va_arg(ap, size_t);
            sqlite3_bind_blob64(st, i, p ? p : "", n, SQLITE_TRANSIENT);
            break;
        }
        default: sqlite3_bind_null(st, i);
        }
    }
    va_end(ap);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? sqlite3_changes(db) : -1;
}

static void purge_expired(sqlite3 *db)
{
    exec_bound(db, "DELETE FROM tasks WHERE expires_at < ?", "d", now_s());
}

/* Reads a task's row (and, when asked, its result or input, into `blob`). Rows past their
 * expiry are not found. 0, TFN_ENOTFOUND or TFN_EIO. */
static int row_read(sqlite3 *db, const char *id, row_t *row, const char *blob_column,
                    tfn__buf_t *blob)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT api, status, http_status, created_at, executed_at, completed_at, pid, %s "
             "FROM tasks WHERE task_id = ? AND (expires_at IS NULL OR expires_at >= ?)",
             blob_column ? blob_column : "NULL");
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return TFN_EIO;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 2, now_s());
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        snprintf(row->api, sizeof row->api, "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(row->status, sizeof row->status, "%s", (const char *)sqlite3_column_text(st, 1));
        row->http_status = sqlite3_column_int(st, 2);
        row->created = sqlite3_column_double(st, 3);
        row->executed = sqlite3_column_double(st, 4);
        row->completed = sqlite3_column_double(st, 5);
        row->pid = (long)sqlite3_column_int64(st, 6);
        size_t n = (size_t)sqlite3_column_bytes(st, 7);
        if (blob && n && tfn__buf_append(blob, sqlite3_column_blob(st, 7), n) != 0)
            rc = SQLITE_NOMEM;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? TFN_ENOTFOUND : TFN_EIO;
}

/* Finishes a task that is still `from` (running, or waiting): its status, answer and expiry.
 * Returns the rows changed (0: canceled meanwhile), or -1. */
static int row_finish(sqlite3 *db, const char *id, const char *from, const char *status,
                      int http_status, const char *result, size_t len, uint32_t keep_s)
{
    double now = now_s();
    return exec_bound(db,
                      "UPDATE tasks SET status = ?, http_status = ?, result = ?, completed_at = ?,"
                      " expires_at = ? WHERE task_id = ? AND status = ?",
                      "tibddtt", status, (long)http_status, result, len, now, now + keep_s, id,
                      from);
}

/* A task marked waiting or running by a worker that no longer exists will never finish: fail
 * it, so that its client stops polling. Re-reads the row. */
static void reap_orphan(tfn__server_t *server, const char *id, row_t *row)
{
    bool open = !strcmp(row->status, "pending") || !strcmp(row->status, "in_progress");
    if (!open || row->pid == (long)getpid() || kill((pid_t)row->pid, 0) == 0 || errno != ESRCH)
        return;
    char body[256];
    int n = snprintf(body, sizeof body,
                     "{\"error\":\"the worker that had the task (pid %ld) stopped before it "
                     "finished\",\"code\":\"EUNAVAIL\",\"status\":503}",
                     row->pid);
    const tfn_api_t *api = NULL;
    for (const tfn_api_t *a = server->service->apis; a->name; a++)
        if (!strcmp(a->name, row->api))
            api = a;
    row_finish(server->tasks->db, id, row->status, "failed", 503, body, (size_t)n,
               api ? keep_of(api) : DEFAULT_KEEP_S);
    row_read(server->tasks->db, id, row, NULL, NULL);
}

/* ---------------------------------------------------------------------------------------------
 * Running tasks
 * ------------------------------------------------------------------------------------------- */

static void task_free(task_t *task)
{
    free(task->input);
    free(task);
}

static task_t *task_new(tfn__tasks_t *t, const tfn_api_t *api, const char *input, size_t len)
{
    task_t *task = calloc(1, sizeof *task);
    char *copy = malloc(len);
    if (!task || !copy) {
        free(task);
        free(copy);
        return NULL;
    }
    memcpy(copy, input, len);
    task->input = copy;
    task->input_len = len;
    task->api = api;
    task->tasks = t;
    return task;
}

static void unlink_running(tfn__tasks_t *t, task_t *task)
{
    for (task_t **p = &t->running; *p; p = &(*p)->next)
        if (*p == task) {
            *p = task->next;
            return;
        }
}

/* The task's request is answered: store the answer (JSON), unless it was canceled meanwhile. */
static void on_task_answer(void *arg, tfn__response_t *resp)
{
    task_t *task = arg;
    tfn__tasks_t *t = task->tasks;
    task->req = NULL;
    unlink_running(t, task);
    tfn__buf_t json;
    tfn__buf_init(&json, MAX_RESULT);
    const char *body = resp->body.data ? resp->body.data : "";
    size_t len = resp->body.len;
    int status = resp->status;
    if (status == 200 && !strcmp(resp->content_type, TFN__MEDIA_WIRE)) {
        tfn_arena_t *arena = tfn_arena_new(len * 4 + (1u << 20));
        tfn_value_t *v = NULL;
        tfn_error_t err;
        if (!arena || tfn__wire_decode(arena, body, len, &v, &err) != 0 ||
            tfn__json_encode(v, &json) != 0) {
            status = 500;
            json.len = 0;
            tfn__buf_puts(&json, "{\"error\":\"cannot encode the task's result\","
                                 "\"code\":\"EOUTPUT\",\"status\":500}");
        }
        tfn_arena_free(arena);
        body = json.data ? json.data : "";
        len = json.len;
    }
    if (row_finish(t->db, task->id, "in_progress", status < 400 ? "completed" : "failed", status,
                   body, len, keep_of(task->api)) < 0)
        tfn__log("error", "task %s: cannot store its result: %s", task->id, sqlite3_errmsg(t->db));
    purge_expired(t->db);
    tfn__buf_free(&json);
    task_free(task);
}

/* Starts a task taken from the queue (a handler slot is free). */
static void task_start(tfn__tasks_t *t, task_t *task)
{
    tfn__server_t *server = t->server;
    tfn__buf_t wire;
    tfn__buf_init(&wire, (size_t)server->config.traffic.max_body_bytes * 4 + (1u << 20));
    tfn_arena_t *arena = tfn_arena_new(task->input_len * 4 + (1u << 20));
    tfn_value_t *v = NULL;
    tfn_error_t err;
    int rc = arena ? tfn__json_decode(arena, task->input, task->input_len, &v, &err) : TFN_ENOMEM;
    if (rc == 0)
        rc = tfn__wire_encode(v, &wire);
    tfn_arena_free(arena);
    task->next = t->running;
    t->running = task;
    /* The answer may come before dispatch returns (bad input, a handler done at once): then
     * `task` is gone already; it is touched again only when the request never began. */
    if (rc == 0)
        rc = tfn__dispatch_task(server, task->api, &wire, on_task_answer, task, &task->req);
    tfn__buf_free(&wire);
    if (rc != 0) { /* could not start: the task fails */
        tfn__response_t resp = {.status = 500, .content_type = TFN__MEDIA_JSON};
        tfn__buf_init(&resp.body, 4096);
        tfn__buf_printf(&resp.body, "{\"error\":\"cannot start the task: %s\",\"code\":\"%s\"}",
                        tfn_strerror(rc ? rc : TFN_ENOMEM), tfn_errname(rc ? rc : TFN_ENOMEM));
        on_task_answer(task, &resp);
        tfn__buf_free(&resp.body);
    }
}

void tfn__tasks_kick(tfn__server_t *server)
{
    tfn__tasks_t *t = server->tasks;
    if (!t || t->kicking) /* a task that finished at once, inside the loop below */
        return;
    t->kicking = true;
    while (t->head && server->ready && !server->draining &&
           server->in_flight < server->config.traffic.max_concurrency) {
        task_t *task = t->head;
        t->head = task->next;
        if (!t->head)
            t->tail = NULL;
        t->waiting--;
        /* Canceled meanwhile (by any worker)? Then it is dropped. */
        int n = exec_bound(t->db,
                           "UPDATE tasks SET status = 'in_progress', executed_at = ? "
                           "WHERE task_id = ? AND status = 'pending'",
                           "dt", now_s(), task->id);
        if (n == 1)
            task_start(t, task);
        else
            task_free(task);
    }
    t->kicking = false;
}

void tfn__tasks_free(tfn__server_t *server)
{
    tfn__tasks_t *t = server->tasks;
    if (!t)
        return;
    static const char body[] = "{\"error\":\"the worker stopped before the task finished\","
                               "\"code\":\"ESHUTDOWN\",\"status\":503}";
    for (int list = 0; list < 2; list++) {
        task_t *task = list ? t->running : t->head;
        while (task) {
            task_t *next = task->next;
            row_finish(t->db, task->id, list ? "in_progress" : "pending", "failed", 503, body,
                       sizeof body - 1, keep_of(task->api));
            task_free(task);
            task = next;
        }
    }
    sqlite3_close(t->db);
    free(t);
    server->tasks = NULL;
}

/* ---------------------------------------------------------------------------------------------
 * The endpoints
 * ------------------------------------------------------------------------------------------- */

static void respond_error(tfn__conn_t *conn, const tfn_api_t *api, bool keep_alive,
                          const char *headers, int code, int status, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

static void respond_error(tfn__conn_t *conn, const tfn_api_t *api, bool keep_alive,
                          const char *headers, int code, int status, const char *fmt, ...)
{
    tfn_error_t err;
    tfn_error_set(&err, code, "%s", "");
    if (status)
        err.http_status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err.message, sizeof err.message, fmt, ap);
    va_end(ap);
    snprintf(err.service, sizeof err.service, "%s", conn->server->service->name);
    snprintf(err.api, sizeof err.api, "%s", api->name);
    tfn__conn_respond_error(conn, &err, keep_alive, headers);
}

static void respond_text(tfn__conn_t *conn, bool keep_alive, const char *json)
{
    tfn__conn_respond(conn, 200, TFN__MEDIA_JSON, json, strlen(json), keep_alive, NULL);
}

/* "2024-05-01T12:00:00.123456+00:00" (Python's isoformat of an aware datetime), or null. */
static void put_time(char *out, size_t size, double t)
{
    if (t <= 0) {
        snprintf(out, size, "null");
        return;
    }
    time_t secs = (time_t)t;
    struct tm tm;
    gmtime_r(&secs, &tm);
    char day[32];
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, size, "\"%s.%06d+00:00\"", day, (int)((t - (double)secs) * 1e6) % 1000000);
}

static void respond_status(tfn__conn_t *conn, bool keep_alive, const char *id, const row_t *row)
{
    char created[48], executed[48], completed[48], json[512];
    put_time(created, sizeof created, row->created);
    put_time(executed, sizeof executed, row->executed);
    put_time(completed, sizeof completed, row->completed);
    snprintf(json, sizeof json,
             "{\"task_id\":\"%s\",\"status\":\"%s\",\"created_at\":%s,\"executed_at\":%s,"
             "\"completed_at\":%s}",
             id, row->status, created, executed, completed);
    respond_text(conn, keep_alive, json);
}

/* A new task of `api` with `input` (JSON text, validated here): stored, queued, answered. */
static void submit(tfn__conn_t *conn, const tfn_api_t *api, const char *input, size_t len,
                   bool keep_alive)
{
    tfn__server_t *server = conn->server;
    tfn__tasks_t *t = server->tasks;
    if (server->draining || !server->ready) {
        respond_error(conn, api, keep_alive, "Retry-After: 1\r\n", TFN_EUNAVAIL, 0,
                      "service '%s' takes no tasks now: it is %s", server->service->name,
                      server->draining ? "shutting down" : "not ready yet");
        return;
    }
    if (t->waiting >= MAX_WAITING) {
        respond_error(conn, api, keep_alive, "Retry-After: 1\r\n", TFN_EBUSY, 0,
                      "%u tasks are waiting already", t->waiting);
        return;
    }
    if (len == 0) { /* a bare POST: an API without inputs */
        input = "{}";
        len = 2;
    }
    /* The input is checked now, so that a bad one is the submitter's 400, not a failed task. */
    tfn_arena_t *arena = tfn_arena_new(len * 4 + (1u << 20));
    tfn_value_t *v = NULL;
    const tfn_value_t *checked = NULL;
    tfn_error_t err = {0};
    int rc = arena ? tfn__json_decode(arena, input, len, &v, &err) : TFN_ENOMEM;
    if (rc == 0)
        rc = tfn__validate_input(arena, api->inputs, v, &checked, &err);
    tfn_arena_free(arena);
    task_t *task = NULL;
    if (rc == 0 && !(task = task_new(t, api, input, len)))
        rc = tfn_error_set(&err, TFN_ENOMEM, "out of memory");
    if (rc == 0) {
        rc = new_id(task->id);
        if (rc == 0 &&
            exec_bound(t->db,
                       "INSERT INTO tasks (task_id, api, input, status, "
                       "created_at, pid) VALUES (?, ?, ?, 'pending', ?, ?)",
                       "ttbdi", task->id, api->name, input, len, now_s(), (long)getpid()) != 1)
            rc = TFN_EIO;
        if (rc != 0) {
            tfn_error_set(&err, rc, "cannot store the task: %s", sqlite3_errmsg(t->db));
            err.http_status = 500;
            task_free(task);
        }
    }
    if (rc != 0) {
        if (err.code != rc)
            tfn_error_set(&err, rc, "%s", tfn_strerror(rc));
        respond_error(conn, api, keep_alive, NULL, err.code, err.http_status, "%s", err.message);
        return;
    }
    char json[128];
    snprintf(json, sizeof json, "{\"task_id\":\"%s\",\"status\":\"pending\"}", task->id);
    if (t->tail)
        t->tail->next = task;
    else
        t->head = task;
    t->tail = task;
    t->waiting++;
    respond_text(conn, keep_alive, json);
    tfn__tasks_kick(server);
}

/* Cancels a task: dropped from this worker's queue, or marked in the store for the others. */
static void cancel(tfn__conn_t *conn, const tfn_api_t *api, const char *id, bool keep_alive)
{
    tfn__tasks_t *t = conn->server->tasks;
    for (task_t **p = &t->head, *prev = NULL; *p; prev = *p, p = &(*p)->next) {
        task_t *task = *p;
        if (strcmp(task->id, id) != 0)
            continue;
        *p = task->next;
        if (t->tail == task)
            t->tail = prev;
        t->waiting--;
        task_free(task);
        break;
    }
    double now = now_s();
    int n = exec_bound(t->db,
                       "UPDATE tasks SET status = 'canceled', completed_at = ?, expires_at = ? "
                       "WHERE task_id = ? AND api = ? AND status IN ('pending', 'in_progress')",
                       "ddtt", now, now + keep_of(api), id, api->name);
    row_t row;
    int rc = n < 0 ? TFN_EIO : row_read(t->db, id, &row, NULL, NULL);
    if (rc == 0 && strcmp(row.api, api->name) != 0)
        rc = TFN_ENOTFOUND;
    if (rc == TFN_EIO)
        respond_error(conn, api, keep_alive, NULL, rc, 500, "cannot read the task store");
    else if (rc != 0)
        respond_error(conn, api, keep_alive, NULL, rc, 0, "no task '%s' of API '%s'", id,
                      api->name);
    else if (n == 0)
        respond_error(conn, api, keep_alive, NULL, TFN_EINVAL, 409,
                      "task '%s' cannot be canceled: it is %s already", id, row.status);
    else
        respond_status(conn, keep_alive, id, &row);
}

/* GET status, GET get, POST retry, PUT cancel: a task id from the query, its row, the answer. */
static void by_id(tfn__conn_t *conn, const tfn_api_t *api, const char *op, bool keep_alive)
{
    tfn__server_t *server = conn->server;
    /* http_server.c ended the path at the '?': the query string follows that NUL. */
    size_t path_len = strlen(conn->url);
    char id[TFN__TASK_ID_LEN + 1];
    int rc = path_len < conn->url_len
                 ? tfn__task_id_parse(conn->url + path_len + 1, conn->url_len - path_len - 1, id)
                 : TFN_EMISSING;
    if (rc != 0) {
        respond_error(conn, api, keep_alive, NULL, rc, 400,
                      rc == TFN_EMISSING ? "task_id is required (?task_id=...)"
                                         : "task_id must be 32 hexadecimal digits");
        return;
    }
    if (!strcmp(op, "cancel")) {
        cancel(conn, api, id, keep_alive);
        return;
    }
    tfn__buf_t blob;
    tfn__buf_init(&blob, MAX_RESULT);
    row_t row;
    const char *column = !strcmp(op, "get") ? "result" : !strcmp(op, "retry") ? "input" : NULL;
    rc = row_read(server->tasks->db, id, &row, NULL, NULL);
    if (rc == 0 && strcmp(row.api, api->name) != 0)
        rc = TFN_ENOTFOUND;
    if (rc == 0) {
        reap_orphan(server, id, &row);
        if (column)
            rc = row_read(server->tasks->db, id, &row, column, &blob);
    }
    bool done = rc == 0 && (!strcmp(row.status, "completed") || !strcmp(row.status, "failed") ||
                            !strcmp(row.status, "canceled"));
    if (rc == TFN_EIO)
        respond_error(conn, api, keep_alive, NULL, rc, 500, "cannot read the task store");
    else if (rc != 0)
        respond_error(conn, api, keep_alive, NULL, rc, 0,
                      "no task '%s' of API '%s' (or its result has expired)", id, api->name);
    else if (!strcmp(op, "status"))
        respond_status(conn, keep_alive, id, &row);
    else if (!done)
        respond_error(conn, api, keep_alive, NULL, TFN_EINVAL, 0,
                      "task '%s' is not completed yet (it is %s)", id, row.status);
    else if (!strcmp(op, "retry"))
        submit(conn, api, blob.data ? blob.data : "", blob.len, keep_alive);
    else if (!strcmp(row.status, "canceled"))
        respond_error(conn, api, keep_alive, NULL, TFN_EINVAL, 0,
                      "task '%s' was canceled: it has no result", id);
    else
        tfn__conn_respond(conn, row.http_status ? row.http_status : 500, TFN__MEDIA_JSON,
                          blob.data ? blob.data : "", blob.len, keep_alive, NULL);
    tfn__buf_free(&blob);
}

static const struct {
    const char *op;
    int method;
    const char *allow;
} endpoints[] = {
    {"submit", HTTP_POST, "Allow: POST\r\n"}, {"status", HTTP_GET, "Allow: GET\r\n"},
    {"get", HTTP_GET, "Allow: GET\r\n"},      {"retry", HTTP_POST, "Allow: POST\r\n"},
    {"cancel", HTTP_PUT, "Allow: PUT\r\n"},
};

bool tfn__tasks_route(tfn__conn_t *conn, int method, const char *path, tfn__buf_t *body,
                      bool keep_alive)
{
    const char *slash = path[0] == '/' ? strchr(path + 1, '/') : NULL;
    if (!slash)
        return false;
    const tfn_api_t *api = NULL;
    for (const tfn_api_t *a = conn->server->service->apis; a->name; a++)
        if (a->task.enabled && strlen(a->name) == (size_t)(slash - path - 1) &&
            !memcmp(a->name, path + 1, (size_t)(slash - path - 1)))
            api = a;
    size_t i = 0;
    while (i < sizeof endpoints / sizeof *endpoints && strcmp(endpoints[i].op, slash + 1) != 0)
        i++;
    if (!api || i == sizeof endpoints / sizeof *endpoints)
        return false;
    tfn_error_t err;
    if (method != endpoints[i].method) {
        respond_error(conn, api, keep_alive, endpoints[i].allow, TFN_EMETHOD, 0,
                      "/%s/%s accepts %s, not %s", api->name, endpoints[i].op,
                      http_method_str(endpoints[i].method), http_method_str(method));
    } else if (store_open(conn->server, &err) != 0) {
        respond_error(conn, api, keep_alive, NULL, err.code, 500, "%s", err.message);
    } else if (i == 0) {
        if (body->len && !strstr(conn->content_type, TFN__MEDIA_JSON))
            respond_error(conn, api, keep_alive, NULL, TFN_EMEDIATYPE, 0,
                          "a task's input is JSON: send Content-Type application/json");
        else
            submit(conn, api, body->data ? body->data : "", body->len, keep_alive);
    } else {
        by_id(conn, api, endpoints[i].op, keep_alive);
    }
    body->len = 0;
    return true;
}
