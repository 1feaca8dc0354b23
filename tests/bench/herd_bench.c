/* herd-bench: a load generator for herd (and, with --redis, for Redis with
 * inline SET commands of the same size), on one libuv loop. Three modes:
 *
 * Load (the default): throughput and latency.
 *
 *   herd-bench --port 12010 [--port ...] [--conns 50] [--pipeline 1]
 *              [--requests 100000 | --duration SECONDS] [--whatsat 0..100]
 *              [--clients N] [--spread] [--radius KM] [--bound N] [--redis]
 *              [--pids PID,...] [--label TEXT]
 *
 *   Connections go round-robin over the ports; each keeps `pipeline`
 *   requests outstanding; replies are matched in order (an IAMAT or SET
 *   reply is one line, a WHATSAT reply ends with an empty line). --requests
 *   sends that many in all; --duration sends for that long instead (with
 *   both, whichever ends first), then waits for the replies outstanding.
 *   --whatsat is the percentage of WHATSATs (with --radius and --bound);
 *   --clients cycles over that many client ids (default: a new id per
 *   request); --spread gives each id its own location. The client time of
 *   request n is the wall clock at start plus n nanoseconds, so every
 *   run's IAMATs are newer than the last run's and are flooded. Prints
 *     LABEL  R req/s  p50 X us  p99 Y us  p99.9 Z us  (N requests, C conns,
 *     pipeline P, E errors)
 *   (the scripts read R, the number before " req/s").
 *
 * Propagation (--propagation): how long an update takes to reach the
 * other servers, at light load.
 *
 *   herd-bench --propagation --port TARGET --port OBSERVER [--port ...]
 *              [--rate 1000] [--requests N | --duration SECONDS (5)]
 *              [--clients N] [--spread] [--pids PID,...] [--label TEXT]
 *
 *   One connection to the target, one to each observer, and one update in
 *   flight at a time, --rate a second in the long run (a late update's
 *   successors go as soon as it is done). An update is an IAMAT for
 *   bench.prop.N (a new N each time, or cycling over --clients) to the
 *   target; from its reply on, "WHATSAT bench.prop.N 0 0" goes to every
 *   observer again and again until its AT line ends with the update's
 *   time. The latency is from the target's reply to the last observer's.
 *   Prints
 *     LABEL propagation to N servers: p50 X us  p99 Y us  p99.9 Z us
 *     max M us  (U updates, A updates/s, P probes)
 *   Exits 1 at once on a refused update, a reply that is neither AT nor
 *   "? " (or "? " for a client seen everywhere before) or a lost
 *   connection, and gives up 10 s after the planned end.
 *
 * Idle (--idle N): N connections round-robin over the ports that send
 * nothing, for measuring what idle connections cost a server.
 *
 *   herd-bench --idle 10000 --port 12010 [--port ...] [--hold 10]
 *
 *   Prints "idle N connections open" once all are up, holds them --hold
 *   seconds or until SIGINT or SIGTERM, then closes them and exits 0; a
 *   connection lost exits 1.
 *
 * --pids (load and propagation) prints a second line with the CPU time
 * each process spent (the first field of /proc/PID/schedstat: its main
 * thread's) and herd-bench's own (getrusage, user and system) from all
 * connections up to the last reply, per request or update:
 *     cpu  T us/req  (PID: X us/req, ...)  bench Y us/req
 * --host (default 127.0.0.1) applies to every mode; --help prints the
 * usage. The soft limit on open files is raised to the hard one. Exit
 * status: 0 done, 1 failed, 64 bad usage.
 */
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <uv.h>

#include "bench.h"
#include "strparse.h"

uint64_t now_ns(void)
{
    return uv_hrtime();
}

static unsigned next_rand(struct bench *b)
{
    b->rng = b->rng * 1103515245u + 12345u;
    return (b->rng >> 8) & 0xffffff;
}

static uint64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The client time of request (or update) seq: SEC.NNNNNNNNN. */
unsigned long long time_sec(const struct bench *b, uint64_t seq)
{
    return (unsigned long long)((b->base_ns + seq) / 1000000000u);
}

unsigned time_nsec(const struct bench *b, uint64_t seq)
{
    return (unsigned)((b->base_ns + seq) % 1000000000u);
}

static void on_written(uv_write_t *req, int status)
{
    (void)status;
    free(req);
}

/* Writes now what the socket takes, and queues a copy of the rest. */
void send_bytes(struct bconn *c, const char *buf, size_t len)
{
    uv_buf_t ub = uv_buf_init((char *)(uintptr_t)buf, (unsigned)len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &ub, 1);
    if (n < 0)
        n = 0;
    if ((size_t)n < len) {
        uv_write_t *req = malloc(sizeof *req + len - (size_t)n);
        if (req == NULL) {
            fputs("herd-bench: out of memory for a write\n", stderr);
            exit(1);
        }
        char *copy = (char *)(req + 1);
        memcpy(copy, buf + n, len - (size_t)n);
        uv_buf_t rest = uv_buf_init(copy, (unsigned)(len - (size_t)n));
        uv_write(req, (uv_stream_t *)&c->tcp, &rest, 1, on_written);
    }
}

void record_lat(struct bench *b, uint64_t t)
{
    if (b->nlat == b->lat_cap) {
        /* Doubling: a few reallocations per run, never one per reply. */
        uint64_t cap = b->lat_cap ? b->lat_cap * 2 : 1 << 20;
        uint64_t *lat = realloc(b->lat, cap * sizeof *lat);
        if (lat == NULL) {
            fputs("herd-bench: out of memory for latencies\n", stderr);
            exit(1);
        }
        b->lat = lat;
        b->lat_cap = cap;
    }
    b->lat[b->nlat++] = t;
}

void close_conns(struct bench *b)
{
    for (int i = 0; i < b->conns; i++)
        if (!b->c[i].closed) {
            b->c[i].closed = 1;
            uv_close((uv_handle_t *)&b->c[i].tcp, NULL);
        }
}

void client_location(const struct bench *b, unsigned id, char *out, size_t cap)
{
    if (!b->spread) {
        snprintf(out, cap, "+34.068930-118.445127");
        return;
    }
    /* A deterministic spread over inhabited latitudes. */
    double lat = -50 + (double)((id * 7919u) % 11000u) / 100.0;
    double lng = -179 + (double)((id * 104729u) % 35800u) / 100.0;
    snprintf(out, cap, "%+.5f%+.5f", lat, lng);
}

/* Appends one request to out; returns its kind (1 WHATSAT). */
static int make_request(struct bench *b, char *out, size_t cap, size_t *len)
{
    uint64_t seq = b->seq++;
    unsigned id = b->clients ? (unsigned)(seq % b->clients) : (unsigned)seq;
    int whatsat =
        b->whatsat_pct > 0 && (int)(next_rand(b) % 100) < b->whatsat_pct;
    int n;
    if (b->redis) {
        char loc[64];
        client_location(b, id, loc, sizeof loc);
        n = snprintf(out, cap, "SET bench.client.%u AT:%s:%llu.%09u\r\n", id,
                     loc, time_sec(b, seq), time_nsec(b, seq));
        whatsat = 0;
    } else if (whatsat) {
        n = snprintf(out, cap, "WHATSAT bench.client.%u %s %d\n", id, b->radius,
                     b->bound);
    } else {
        char loc[64];
        client_location(b, id, loc, sizeof loc);
        n = snprintf(out, cap, "IAMAT bench.client.%u %s %llu.%09u\n", id, loc,
                     time_sec(b, seq), time_nsec(b, seq));
    }
    *len = (size_t)n;
    return whatsat;
}

static void fill(struct bconn *c)
{
    struct bench *b = c->b;
    char buf[64 * 1024];
    size_t used = 0;
    unsigned first = c->outstanding;
    if (b->stop_at != 0 && b->sent < b->requests && now_ns() >= b->stop_at)
        b->requests = b->sent; /* --duration is up */
    while (c->outstanding < (unsigned)b->pipeline && b->sent < b->requests &&
           used + 256 < sizeof buf) {
        size_t len;
        unsigned slot = (c->head + c->outstanding) % MAX_PIPELINE;
        c->kinds[slot] =
            (unsigned char)make_request(b, buf + used, sizeof buf - used, &len);
        used += len;
        c->outstanding++;
        b->sent++;
    }
    if (used == 0)
        return;
    /* One clock read per batch, taken as it goes out. */
    uint64_t t = now_ns();
    for (unsigned i = first; i < c->outstanding; i++)
        c->sent_at[(c->head + i) % MAX_PIPELINE] = t;
    send_bytes(c, buf, used);
}

static void finish_if_done(struct bench *b)
{
    if (b->finished || b->done < b->requests)
        return;
    b->finished = 1;
    b->end_ns = now_ns();
    cpu_end(b);
    close_conns(b);
}

/* The length of the complete reply at p, or 0 if it has not all come:
 * one line, or for a WHATSAT "AT ...\n{...}\n\n" (or "? ...\n"). */
size_t reply_len(const char *p, size_t left, int whatsat)
{
    if (whatsat && !(left >= 2 && p[0] == '?')) {
        for (size_t i = 1; i + 1 < left; i++)
            if (p[i] == '\n' && p[i + 1] == '\n')
                return i + 2;
        return 0;
    }
    const char *nl = memchr(p, '\n', left);
    return nl == NULL ? 0 : (size_t)(nl - p) + 1;
}

/* Consumes complete replies from c->in. */
static void consume(struct bconn *c)
{
    struct bench *b = c->b;
    size_t off = 0;
    uint64_t now = 0;
    while (c->outstanding > 0) {
        const char *p = c->in + off;
        size_t end = reply_len(p, c->in_len - off, c->kinds[c->head]);
        if (end == 0)
            break;
        if (p[0] == '?' || p[0] == '-')
            b->errors++;
        if (now == 0)
            now = now_ns(); /* the replies of one read came together */
        record_lat(b, now - c->sent_at[c->head]);
        c->head = (c->head + 1) % MAX_PIPELINE;
        c->outstanding--;
        b->done++;
        off += end;
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct bconn *c = h->data;
    if (c->in_cap - c->in_len < 65536) {
        c->in_cap = c->in_cap * 2 + 65536;
        c->in = realloc(c->in, c->in_cap);
        if (c->in == NULL) {
            fputs("herd-bench: out of memory for replies\n", stderr);
            exit(1);
        }
    }
    buf->base = c->in + c->in_len;
    buf->len = c->in_cap - c->in_len;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    struct bconn *c = s->data;
    struct bench *b = c->b;
    if (nread < 0) {
        if (!c->closed) {
            fprintf(stderr, "herd-bench: connection lost: %s\n",
                    uv_strerror((int)nread));
            c->closed = 1;
            uv_close((uv_handle_t *)s, NULL);
            b->failed = 1;
            b->requests = b->done; /* stop */
            finish_if_done(b);
        }
        return;
    }
    c->in_len += (size_t)nread;
    consume(c);
    fill(c);
    finish_if_done(b);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct bconn *c = req->data;
    struct bench *b = c->b;
    if (status < 0) {
        fprintf(stderr, "herd-bench: connect to port %d: %s\n",
                b->ports[c->port_index], uv_strerror(status));
        exit(1);
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc,
                  b->mode == MODE_PROPAGATION ? prop_on_read : on_read);
    if (++b->connected < b->conns)
        return;
    if (b->mode == MODE_PROPAGATION) {
        prop_start(b);
        return;
    }
    b->start_ns = now_ns();
    if (b->duration_ns != 0)
        b->stop_at = b->start_ns + b->duration_ns;
    cpu_start(b);
    for (int i = 0; i < b->conns; i++)
        fill(&b->c[i]);
}

/* Raises the soft limit on open files to the hard one, and checks that
 * the connections fit under it. */
static void raise_nofile(int conns)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    /* Beyond the sockets: stdio, epoll, libuv's signal pipe, /proc. */
    rlim_t need = (rlim_t)conns + 32;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        fprintf(stderr,
                "herd-bench: %d connections need about %llu open "
                "files, but RLIMIT_NOFILE allows %llu (hard limit "
                "%llu)\n",
                conns, (unsigned long long)need,
                (unsigned long long)rl.rlim_cur,
                (unsigned long long)rl.rlim_max);
        exit(1);
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(const uint64_t *v, uint64_t n, double p)
{
    if (n == 0)
        return 0;
    uint64_t i = (uint64_t)ceil(p / 100.0 * (double)n);
    if (i > 0)
        i--;
    if (i >= n)
        i = n - 1;
    return (double)v[i] / 1000.0;
}

static _Noreturn void usage(FILE *f, int status)
{
    fputs("usage: herd-bench [MODE] --port P [--port P...] [--host 127.0.0.1]\n"
          "                  [--label TEXT] [OPTIONS]\n"
          "load (the default):\n"
          "  [--conns 50] [--pipeline 1] [--requests 100000 | --duration S]\n"
          "  [--whatsat PCT] [--clients N] [--spread] [--radius 10]\n"
          "  [--bound 5] [--redis] [--pids PID,...]\n"
          "--propagation: updates at the first port, seen at the others:\n"
          "  [--rate 1000] [--requests N | --duration S (default 5)]\n"
          "  [--clients N] [--spread] [--pids PID,...]\n"
          "--idle N: N connections open and silent:\n"
          "  [--hold 10]   seconds, or until SIGINT or SIGTERM\n"
          "--help: this text\n",
          f);
    exit(status);
}

static long num(const char *s, long max)
{
    uint64_t v;
    if (strparse_uint(s, strlen(s), (uint64_t)max, &v) != 0)
        usage(stderr, 64);
    return (long)v;
}

/* SECONDS[.FRACTION] in milliseconds, at least min_ms. */
static uint64_t seconds_ms(const char *s, uint64_t min_ms, uint64_t max_s)
{
    uint64_t ms;
    int inexact;
    if (strparse_fixed(s, strlen(s), 3, &ms, &inexact) != 0 || ms < min_ms ||
        ms > max_s * 1000)
        usage(stderr, 64);
    return ms;
}

/* PID[,PID...] */

static void parse_pids(struct bench *b, const char *s)
{
    while (*s != '\0') {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        uint64_t v;
        if (b->npids == MAX_PIDS ||
            strparse_uint(s, len, 0x7fffffff, &v) != 0 || v == 0)
            usage(stderr, 64);
        b->pids[b->npids++] = (int)v;
        if (comma == NULL)
            return;
        s = comma + 1;
        if (*s == '\0')
            usage(stderr, 64);
    }
}

int main(int argc, char **argv)
{
    static struct bench b;
    snprintf(b.host, sizeof b.host, "127.0.0.1");
    b.conns = 50;
    b.pipeline = 1;
    b.radius = "10";
    b.bound = 5;
    b.rng = 12345;
    b.prop.rate = 1000;
    b.hold_ms = 10000;
    const char *label = "";
    int idle = -1, have_requests = 0, have_rate = 0, have_hold = 0;
    uint64_t requests = 100000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0)
            usage(stdout, 0);
        if (strcmp(a, "--redis") == 0) {
            b.redis = 1;
            continue;
        }
        if (strcmp(a, "--spread") == 0) {
            b.spread = 1;
            continue;
        }
        if (strcmp(a, "--propagation") == 0) {
            b.mode = MODE_PROPAGATION;
            continue;
        }
        if (v == NULL)
            usage(stderr, 64);
        i++;
        if (strcmp(a, "--port") == 0 && b.nports < MAX_PORTS)
            b.ports[b.nports++] = (int)num(v, 65535);
        else if (strcmp(a, "--host") == 0)
            snprintf(b.host, sizeof b.host, "%s", v);
        else if (strcmp(a, "--conns") == 0)
            b.conns = (int)num(v, 10000);
        else if (strcmp(a, "--pipeline") == 0)
            b.pipeline = (int)num(v, MAX_PIPELINE);
        else if (strcmp(a, "--requests") == 0) {
            requests = (uint64_t)num(v, 100000000);
            have_requests = 1;
        } else if (strcmp(a, "--duration") == 0)
            b.duration_ns = seconds_ms(v, 1, 86400) * 1000000u;
        else if (strcmp(a, "--whatsat") == 0)
            b.whatsat_pct = (int)num(v, 100);
        else if (strcmp(a, "--clients") == 0)
            b.clients = (unsigned)num(v, 100000000);
        else if (strcmp(a, "--radius") == 0)
            b.radius = v;
        else if (strcmp(a, "--bound") == 0)
            b.bound = (int)num(v, 20);
        else if (strcmp(a, "--label") == 0)
            label = v;
        else if (strcmp(a, "--pids") == 0)
            parse_pids(&b, v);
        else if (strcmp(a, "--rate") == 0) {
            b.prop.rate = (uint64_t)num(v, 1000000);
            have_rate = 1;
        } else if (strcmp(a, "--idle") == 0)
            idle = (int)num(v, 1000000);
        else if (strcmp(a, "--hold") == 0) {
            b.hold_ms = seconds_ms(v, 0, 86400 * 365);
            have_hold = 1;
        } else
            usage(stderr, 64);
    }
    if (idle >= 0) {
        if (b.mode == MODE_PROPAGATION || b.npids > 0)
            usage(stderr, 64);
        b.mode = MODE_IDLE;
        b.conns = idle;
    }
    if (b.nports == 0 || b.conns < 1 || b.pipeline < 1 ||
        (have_requests && requests == 0) ||
        (have_rate && b.mode != MODE_PROPAGATION) ||
        (have_hold && b.mode != MODE_IDLE))
        usage(stderr, 64);
    /* Without --requests, --duration alone decides. */
    b.requests = have_requests || b.duration_ns == 0 ? requests : UINT64_MAX;
    if (b.mode == MODE_PROPAGATION) {
        if (b.nports < 2 || b.redis || b.prop.rate == 0)
            usage(stderr, 64);
        if (!have_requests && b.duration_ns == 0)
            b.duration_ns = 5000000000u;
        b.prop.planned = have_requests ? requests : UINT64_MAX;
        b.conns = b.nports; /* the target, then one per observer */
    }
    raise_nofile(b.conns);
    /* A write to a connection the server closed fails, and its read says
     * why, instead of the signal ending the run unexplained. */
    signal(SIGPIPE, SIG_IGN);
    if (b.npids > 0) {
        /* Fail on a wrong pid before the run, not after it. */
        uint64_t now[MAX_PIDS];
        if (read_pids(&b, now) != 0)
            return 1;
    }
    b.loop = uv_default_loop();
    b.base_ns = wall_ns();
    if (b.mode == MODE_IDLE) {
        idle_start(&b);
        uv_run(b.loop, UV_RUN_DEFAULT);
        free(b.ic);
        uv_loop_close(b.loop);
        return b.failed ? 1 : 0;
    }
    if (b.requests != UINT64_MAX && b.mode == MODE_LOAD)
        b.lat_cap = b.requests;
    if (b.lat_cap && (b.lat = malloc(b.lat_cap * sizeof *b.lat)) == NULL)
        b.lat_cap = 0; /* record_lat starts small and grows */
    b.c = calloc((size_t)b.conns, sizeof *b.c);
    if (b.c == NULL) {
        fputs("herd-bench: out of memory for connections\n", stderr);
        return 1;
    }
    if (b.mode == MODE_PROPAGATION) {
        uv_timer_init(b.loop, &b.prop.timer);
        b.prop.timer.data = &b;
        /* Also the deadline for the connections to come up. */
        b.prop.give_up_at = now_ns() + PROP_GRACE_NS;
        uv_timer_start(&b.prop.timer, prop_on_timer, 1, 1);
    }
    for (int i = 0; i < b.conns; i++) {
        struct bconn *c = &b.c[i];
        c->b = &b;
        c->port_index = i % b.nports;
        uv_tcp_init(b.loop, &c->tcp);
        c->tcp.data = c;
        c->connect.data = c;
        struct sockaddr_in sa;
        uv_ip4_addr(b.host, b.ports[c->port_index], &sa);
        int rc = uv_tcp_connect(&c->connect, &c->tcp, (struct sockaddr *)&sa,
                                on_connect);
        if (rc < 0) {
            fprintf(stderr, "herd-bench: connect to port %d: %s\n",
                    b.ports[c->port_index], uv_strerror(rc));
            return 1;
        }
    }
    uv_run(b.loop, UV_RUN_DEFAULT);
    double secs = (double)(b.end_ns - b.start_ns) / 1e9;
    if (b.nlat > 0)
        qsort(b.lat, b.nlat, sizeof *b.lat, cmp_u64);
    int ok;
    if (b.mode == MODE_PROPAGATION) {
        ok = !b.failed;
        if (ok) {
            printf("%s%spropagation to %d servers: p50 %.1f us  p99 %.1f us  "
                   "p99.9 %.1f us  max %.1f us  (%llu updates, %.0f "
                   "updates/s, %llu probes)\n",
                   label, *label ? " " : "", b.nports - 1,
                   pct(b.lat, b.nlat, 50), pct(b.lat, b.nlat, 99),
                   pct(b.lat, b.nlat, 99.9),
                   b.nlat ? (double)b.lat[b.nlat - 1] / 1000.0 : 0,
                   (unsigned long long)b.prop.completed,
                   secs > 0 ? (double)b.prop.completed / secs : 0,
                   (unsigned long long)b.prop.probes);
            print_cpu(&b, b.prop.completed);
        }
    } else {
        ok = !b.failed && b.done == b.requests;
        printf("%-28s %9.0f req/s  p50 %8.1f us  p99 %8.1f us  p99.9 %8.1f "
               "us  (%llu requests, %d conns, pipeline %d, %llu errors)\n",
               label, secs > 0 ? (double)b.done / secs : 0,
               pct(b.lat, b.nlat, 50), pct(b.lat, b.nlat, 99),
               pct(b.lat, b.nlat, 99.9), (unsigned long long)b.done, b.conns,
               b.pipeline, (unsigned long long)b.errors);
        print_cpu(&b, b.done);
    }
    for (int i = 0; i < b.conns; i++)
        free(b.c[i].in);
    free(b.c);
    free(b.lat);
    uv_loop_close(b.loop);
    return ok ? 0 : 1;
}
