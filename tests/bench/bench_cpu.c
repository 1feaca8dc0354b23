/* herd-bench: the CPU time of the processes named by --pids, and its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench.h"
#include "strparse.h"

/* The first field of /proc/PID/schedstat: ns the task ran. */
static int read_schedstat(int pid, uint64_t *ns)
{
    char path[64], buf[128];
    snprintf(path, sizeof path, "/proc/%d/schedstat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    const char *sp = memchr(buf, ' ', n);
    if (sp == NULL)
        return -1;
    return strparse_uint(buf, (size_t)(sp - buf), UINT64_MAX, ns) == 0 ? 0 : -1;
}

static uint64_t self_cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    uint64_t us = (uint64_t)ru.ru_utime.tv_sec * 1000000u +
                  (uint64_t)ru.ru_utime.tv_usec +
                  (uint64_t)ru.ru_stime.tv_sec * 1000000u +
                  (uint64_t)ru.ru_stime.tv_usec;
    return us * 1000u;
}

/* Reads every pid's CPU time into now[]; says which failed. */
int read_pids(const struct bench *b, uint64_t *now)
{
    for (int i = 0; i < b->npids; i++)
        if (read_schedstat(b->pids[i], &now[i]) != 0) {
            fprintf(stderr, "herd-bench: cannot read /proc/%d/schedstat\n",
                    b->pids[i]);
            return -1;
        }
    return 0;
}

void cpu_start(struct bench *b)
{
    if (b->npids == 0)
        return;
    if (read_pids(b, b->pid_cpu) != 0)
        exit(1);
    b->self_cpu = self_cpu_ns();
}

void cpu_end(struct bench *b)
{
    uint64_t now[MAX_PIDS];
    if (b->npids == 0)
        return;
    if (read_pids(b, now) != 0) {
        b->failed = 1;
        return;
    }
    b->self_cpu = self_cpu_ns() - b->self_cpu;
    for (int i = 0; i < b->npids; i++)
        b->pid_cpu[i] = now[i] - b->pid_cpu[i];
    b->cpu_ok = 1;
}

void print_cpu(const struct bench *b, uint64_t n)
{
    if (!b->cpu_ok)
        return;
    double per = n ? 1.0 / 1000.0 / (double)n : 0;
    uint64_t total = 0;
    for (int i = 0; i < b->npids; i++)
        total += b->pid_cpu[i];
    printf("cpu  %.2f us/req  (", (double)total * per);
    for (int i = 0; i < b->npids; i++)
        printf("%s%d: %.2f us/req", i ? ", " : "", b->pids[i],
               (double)b->pid_cpu[i] * per);
    printf(")  bench %.2f us/req\n", (double)b->self_cpu * per);
}
