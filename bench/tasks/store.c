/*
 * bench/tasks/store.c — the cost of storing one background task's life (submit, start, finish,
 * get) in the two stores considered for lib/server/tasks.c: SQLite (WAL, synchronous=NORMAL, as
 * tasks.c uses it) and one file per task (write a temporary file, rename it over; no fsync,
 * like synchronous=NORMAL). Prints a table, microseconds per task, with the ratio to SQLite.
 * Usage: build/bench/tasks [DIR] [N]
 */
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void put_file(const char *dir, const char *id, const char *text)
{
    char tmp[512], path[512];
    snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, id);
    snprintf(path, sizeof path, "%s/%s.json", dir, id);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, text, strlen(text)) < 0 || close(fd) != 0 || rename(tmp, path) != 0)
        exit(1);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/tmp/tiffin-bench-tasks";
    int n = argc > 2 ? atoi(argv[2]) : 2000;
    mkdir(dir, 0755);
    char path[512], id[64], text[256];
    snprintf(path, sizeof path, "%s/bench.sqlite3", dir);
    unlink(path);
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        return 1;
    sqlite3_exec(db,
                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                 "CREATE TABLE tasks (task_id TEXT PRIMARY KEY, status TEXT, input BLOB,"
                 " result BLOB, completed_at REAL)",
                 NULL, NULL, NULL);
    double t0 = now();
    for (int i = 0; i < n; i++) {
        char sql[512];
        snprintf(sql, sizeof sql,
                 "INSERT INTO tasks VALUES ('%032d', 'pending', '{\"x\":1}', NULL, NULL);"
                 "UPDATE tasks SET status='in_progress' WHERE task_id='%032d' AND status='pending';"
                 "UPDATE tasks SET status='completed', result='{\"y\":2}', completed_at=1 "
                 "WHERE task_id='%032d' AND status='in_progress';",
                 i, i, i);
        sqlite3_exec(db, sql, NULL, NULL, NULL);
        sqlite3_stmt *st;
        sqlite3_prepare_v2(db, "SELECT status, result FROM tasks WHERE task_id = ?", -1, &st, NULL);
        snprintf(id, sizeof id, "%032d", i);
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_step(st);
        sqlite3_finalize(st);
    }
    double sqlite_us = (now() - t0) / n * 1e6;
    sqlite3_close(db);
    t0 = now();
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof id, "%032d", i);
        put_file(dir, id, "{\"status\":\"pending\",\"input\":{\"x\":1}}");
        put_file(dir, id, "{\"status\":\"in_progress\",\"input\":{\"x\":1}}");
        put_file(dir, id, "{\"status\":\"completed\",\"input\":{\"x\":1},\"result\":{\"y\":2}}");
        snprintf(path, sizeof path, "%s/%s.json", dir, id);
        FILE *f = fopen(path, "r");
        if (!f || !fgets(text, sizeof text, f))
            return 1;
        fclose(f);
    }
    double files_us = (now() - t0) / n * 1e6;
    printf("| store (one task: submit, start, finish, get) | us/task | ratio to SQLite |\n"
           "|---|---|---|\n"
           "| SQLite, WAL, synchronous=NORMAL | %.1f | 1.00 |\n"
           "| one file per task, write + rename | %.1f | %.2f |\n",
           sqlite_us, files_us, files_us / sqlite_us);
    return 0;
}
