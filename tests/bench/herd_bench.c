/* herd-bench: a load generator for herd (and, with --redis, for Redis with
 * inline SET commands of the same size), on one libuv loop.
 *
 *   herd-bench --port 12010 [--port ...] --conns 50 --pipeline 1
 *              --requests 200000 [--whatsat 0..100] [--clients N]
 *              [--spread] [--radius KM] [--bound N] [--redis]
 *
 * Each connection keeps `pipeline` requests outstanding; replies are
 * matched in order (an IAMAT or SET reply is one line, a WHATSAT reply
 * ends with an empty line). Prints throughput and latency percentiles.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include "strparse.h"

#define MAX_PORTS 16
#define MAX_PIPELINE 1024

struct bench;

struct bconn {
    uv_tcp_t tcp;
    uv_connect_t connect;
    struct bench *b;
    int port_index;
    uint64_t sent_at[MAX_PIPELINE]; /* ring of send times */
    unsigned head, outstanding;
    unsigned char kinds[MAX_PIPELINE]; /* 1: WHATSAT */
    char *in;
    size_t in_len, in_cap;
    int closed;
};

struct bench {
    uv_loop_t *loop;
    char host[64];
    int ports[MAX_PORTS];
    int nports;
    int conns;
    int pipeline;
    uint64_t requests; /* to send in all */
    uint64_t sent, done, errors;
    int whatsat_pct;
    unsigned clients;
    int spread;
    int redis;
    const char *radius;
    int bound;
    uint64_t *lat; /* latency of each reply, ns */
    uint64_t nlat;
    uint64_t start_ns, end_ns;
    struct bconn *c;
    int connected;
    uint64_t seq;
    unsigned rng;
};

static uint64_t now_ns(void)
{
    return uv_hrtime();
}

static unsigned next_rand(struct bench *b)
{
    b->rng = b->rng * 1103515245u + 12345u;
    return (b->rng >> 8) & 0xffffff;
}

static void on_written(uv_write_t *req, int status)
{
    (void)status;
    free(req);
}

static void client_location(const struct bench *b, unsigned id, char *out,
                            size_t cap)
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
    unsigned id = b->clients ? (unsigned)(b->seq % b->clients) : (unsigned)b->seq;
    int whatsat = b->whatsat_pct > 0 &&
                  (int)(next_rand(b) % 100) < b->whatsat_pct;
    b->seq++;
    int n;
    if (b->redis) {
        char loc[64];
        client_location(b, id, loc, sizeof loc);
        n = snprintf(out, cap, "SET bench.client.%u AT:%s:%llu.%09u\r\n", id,
                     loc, (unsigned long long)(1700000000 + b->seq / 1000),
                     (unsigned)(b->seq % 1000000000));
        whatsat = 0;
    } else if (whatsat) {
        n = snprintf(out, cap, "WHATSAT bench.client.%u %s %d\n", id,
                     b->radius, b->bound);
    } else {
        char loc[64];
        client_location(b, id, loc, sizeof loc);
        n = snprintf(out, cap, "IAMAT bench.client.%u %s %llu.%09u\n", id, loc,
                     (unsigned long long)(1700000000 + b->seq / 1000),
                     (unsigned)(b->seq % 1000000000));
    }
    *len = (size_t)n;
    return whatsat;
}

static void fill(struct bconn *c)
{
    struct bench *b = c->b;
    char buf[64 * 1024];
    size_t used = 0;
    while (c->outstanding < (unsigned)b->pipeline && b->sent < b->requests &&
           used + 256 < sizeof buf) {
        size_t len;
        unsigned slot = (c->head + c->outstanding) % MAX_PIPELINE;
        c->kinds[slot] = (unsigned char)make_request(b, buf + used,
                                                     sizeof buf - used, &len);
        c->sent_at[slot] = now_ns();
        used += len;
        c->outstanding++;
        b->sent++;
    }
    if (used == 0)
        return;
    uv_buf_t ub = uv_buf_init(buf, (unsigned)used);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &ub, 1);
    if (n < 0)
        n = 0;
    if ((size_t)n < used) {
        uv_write_t *req = malloc(sizeof *req + used - (size_t)n);
        char *copy = (char *)(req + 1);
        memcpy(copy, buf + n, used - (size_t)n);
        uv_buf_t rest = uv_buf_init(copy, (unsigned)(used - (size_t)n));
        uv_write(req, (uv_stream_t *)&c->tcp, &rest, 1, on_written);
    }
}

static void finish_if_done(struct bench *b)
{
    if (b->done < b->requests)
        return;
    b->end_ns = now_ns();
    for (int i = 0; i < b->conns; i++)
        if (!b->c[i].closed) {
            b->c[i].closed = 1;
            uv_close((uv_handle_t *)&b->c[i].tcp, NULL);
        }
}

/* Consumes complete replies from c->in. */
static void consume(struct bconn *c)
{
    struct bench *b = c->b;
    size_t off = 0;
    while (c->outstanding > 0) {
        const char *p = c->in + off;
        size_t left = c->in_len - off;
        int whatsat = c->kinds[c->head];
        size_t end;
        if (whatsat) {
            /* A WHATSAT reply: "AT ...\n{...}\n\n", or "? ...\n". */
            if (left >= 2 && p[0] == '?') {
                const char *nl = memchr(p, '\n', left);
                if (nl == NULL)
                    break;
                end = (size_t)(nl - p) + 1;
                b->errors++;
            } else {
                const char *dd = NULL;
                for (size_t i = 1; i + 1 < left; i++)
                    if (p[i] == '\n' && p[i + 1] == '\n') {
                        dd = p + i;
                        break;
                    }
                if (dd == NULL)
                    break;
                end = (size_t)(dd - p) + 2;
            }
        } else {
            const char *nl = memchr(p, '\n', left);
            if (nl == NULL)
                break;
            end = (size_t)(nl - p) + 1;
            if (p[0] == '?' || p[0] == '-')
                b->errors++;
        }
        uint64_t t = now_ns() - c->sent_at[c->head];
        if (b->nlat < b->requests)
            b->lat[b->nlat++] = t;
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
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (++b->connected == b->conns) {
        b->start_ns = now_ns();
        for (int i = 0; i < b->conns; i++)
            fill(&b->c[i]);
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

static void usage(void)
{
    fputs("usage: herd-bench --port P [--port P...] [--host 127.0.0.1]\n"
          "  [--conns 50] [--pipeline 1] [--requests 100000]\n"
          "  [--whatsat PCT] [--clients N] [--spread] [--radius 10]\n"
          "  [--bound 5] [--redis] [--label TEXT]\n",
          stderr);
    exit(64);
}

static long num(const char *s, long max)
{
    uint64_t v;
    if (strparse_uint(s, strlen(s), (uint64_t)max, &v) != 0)
        usage();
    return (long)v;
}

int main(int argc, char **argv)
{
    static struct bench b;
    snprintf(b.host, sizeof b.host, "127.0.0.1");
    b.conns = 50;
    b.pipeline = 1;
    b.requests = 100000;
    b.radius = "10";
    b.bound = 5;
    b.rng = 12345;
    const char *label = "";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--redis") == 0) {
            b.redis = 1;
            continue;
        }
        if (strcmp(a, "--spread") == 0) {
            b.spread = 1;
            continue;
        }
        if (v == NULL)
            usage();
        i++;
        if (strcmp(a, "--port") == 0 && b.nports < MAX_PORTS)
            b.ports[b.nports++] = (int)num(v, 65535);
        else if (strcmp(a, "--host") == 0)
            snprintf(b.host, sizeof b.host, "%s", v);
        else if (strcmp(a, "--conns") == 0)
            b.conns = (int)num(v, 10000);
        else if (strcmp(a, "--pipeline") == 0)
            b.pipeline = (int)num(v, MAX_PIPELINE);
        else if (strcmp(a, "--requests") == 0)
            b.requests = (uint64_t)num(v, 100000000);
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
        else
            usage();
    }
    if (b.nports == 0 || b.conns < 1 || b.pipeline < 1 || b.requests == 0)
        usage();
    b.loop = uv_default_loop();
    b.lat = malloc(b.requests * sizeof *b.lat);
    b.c = calloc((size_t)b.conns, sizeof *b.c);
    for (int i = 0; i < b.conns; i++) {
        struct bconn *c = &b.c[i];
        c->b = &b;
        c->port_index = i % b.nports;
        uv_tcp_init(b.loop, &c->tcp);
        c->tcp.data = c;
        c->connect.data = c;
        struct sockaddr_in sa;
        uv_ip4_addr(b.host, b.ports[c->port_index], &sa);
        uv_tcp_connect(&c->connect, &c->tcp, (struct sockaddr *)&sa,
                       on_connect);
    }
    uv_run(b.loop, UV_RUN_DEFAULT);
    double secs = (double)(b.end_ns - b.start_ns) / 1e9;
    qsort(b.lat, b.nlat, sizeof *b.lat, cmp_u64);
    printf("%-28s %9.0f req/s  p50 %8.1f us  p99 %8.1f us  p99.9 %8.1f us  "
           "(%llu requests, %d conns, pipeline %d, %llu errors)\n",
           label, secs > 0 ? (double)b.done / secs : 0, pct(b.lat, b.nlat, 50),
           pct(b.lat, b.nlat, 99), pct(b.lat, b.nlat, 99.9),
           (unsigned long long)b.done, b.conns, b.pipeline,
           (unsigned long long)b.errors);
    for (int i = 0; i < b.conns; i++)
        free(b.c[i].in);
    free(b.c);
    free(b.lat);
    uv_loop_close(b.loop);
    return b.done == b.requests ? 0 : 1;
}
