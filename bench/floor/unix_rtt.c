/*
 * unix_rtt — the raw unix-socket round trip that a hop is compared with: a client writes a payload
 * on a connected AF_UNIX stream socket, an echo process reads it whole and writes it back, the
 * client reads it whole. No HTTP, no encoding, no event loop: the least any hop can cost.
 *
 *   unix_rtt BYTES N  prints {"bytes":..., "calls": N, "p50_us":..., "p99_us":..., "mean_us":...}
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int full(ssize_t (*io)(int, void *, size_t), int fd, char *buf, size_t len)
{
    for (size_t done = 0; done < len;) {
        ssize_t n = io(fd, buf + done, len - done);
        if (n <= 0)
            return -1;
        done += (size_t)n;
    }
    return 0;
}

static ssize_t do_read(int fd, void *b, size_t n) { return read(fd, b, n); }
static ssize_t do_write(int fd, void *b, size_t n) { return write(fd, b, n); }

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: unix_rtt BYTES N\n");
        return 2;
    }
    size_t len = strtoull(argv[1], NULL, 10);
    long n = strtol(argv[2], NULL, 10);
    char *buf = malloc(len ? len : 1);
    double *us = malloc((size_t)n * sizeof *us);
    int sv[2];
    if (!buf || !us || n < 1 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return 1;
    pid_t pid = fork();
    if (pid == 0) { /* the echo */
        close(sv[0]);
        while (full(do_read, sv[1], buf, len) == 0 && full(do_write, sv[1], buf, len) == 0)
            ;
        _exit(0);
    }
    close(sv[1]);
    for (size_t i = 0; i < len; i++)
        buf[i] = (char)i;
    for (long i = 0; i < n; i++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (full(do_write, sv[0], buf, len) || full(do_read, sv[0], buf, len))
            return 1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        us[i] = (double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3;
    }
    close(sv[0]);
    waitpid(pid, NULL, 0);
    qsort(us, (size_t)n, sizeof *us, cmp);
    double sum = 0;
    for (long i = 0; i < n; i++)
        sum += us[i];
    printf(
        "{\"bytes\": %zu, \"calls\": %ld, \"p50_us\": %.2f, \"p99_us\": %.2f, \"mean_us\": %.2f}\n",
        len, n, us[n / 2], us[(n * 99) / 100], sum / (double)n);
    free(buf);
    free(us);
    return 0;
}
