/* herd-bench --idle: connections that send nothing, held open. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

static void idle_finish(struct bench *b)
{
    if (b->finished)
        return;
    b->finished = 1;
    for (int i = 0; i < b->idle_next; i++)
        if (!b->ic[i].closed) {
            b->ic[i].closed = 1;
            uv_close((uv_handle_t *)&b->ic[i].tcp, NULL);
        }
    uv_close((uv_handle_t *)&b->hold, NULL);
    uv_close((uv_handle_t *)&b->sigint, NULL);
    uv_close((uv_handle_t *)&b->sigterm, NULL);
}

static void idle_on_signal(uv_signal_t *s, int signum)
{
    struct bench *b = s->data;
    (void)signum;
    if (b->connected < b->conns) {
        fprintf(stderr,
                "herd-bench: interrupted with %d of %d connections "
                "open\n",
                b->connected, b->conns);
        b->failed = 1;
    }
    idle_finish(b);
}

static void idle_on_hold(uv_timer_t *t)
{
    idle_finish(t->data);
}

static void idle_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char sink[256]; /* nothing is expected; what comes is dropped */
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(sink, sizeof sink);
}

static void idle_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    struct iconn *c = s->data;
    struct bench *b = c->b;
    if (nread >= 0 || c->closed)
        return;
    fprintf(stderr, "herd-bench: idle connection to port %d lost: %s\n",
            b->ports[c->port_index], uv_strerror((int)nread));
    b->failed = 1;
    idle_finish(b);
}

static void idle_connect_more(struct bench *b);

static void idle_on_connect(uv_connect_t *req, int status)
{
    struct iconn *c = req->data;
    struct bench *b = c->b;
    b->connecting--;
    if (b->finished)
        return;
    if (status < 0) {
        fprintf(stderr, "herd-bench: connect to port %d: %s\n",
                b->ports[c->port_index], uv_strerror(status));
        b->failed = 1;
        idle_finish(b);
        return;
    }
    uv_read_start((uv_stream_t *)&c->tcp, idle_alloc, idle_on_read);
    if (++b->connected == b->conns) {
        printf("idle %d connections open\n", b->conns);
        fflush(stdout);
        uv_timer_start(&b->hold, idle_on_hold, b->hold_ms, 0);
        return;
    }
    idle_connect_more(b);
}

static void idle_connect_more(struct bench *b)
{
    while (b->connecting < IDLE_CONNECTING && b->idle_next < b->conns) {
        struct iconn *c = &b->ic[b->idle_next];
        c->b = b;
        c->port_index = b->idle_next % b->nports;
        uv_tcp_init(b->loop, &c->tcp);
        b->idle_next++;
        c->tcp.data = c;
        c->connect.data = c;
        struct sockaddr_in sa;
        uv_ip4_addr(b->host, b->ports[c->port_index], &sa);
        int rc = uv_tcp_connect(&c->connect, &c->tcp, (struct sockaddr *)&sa,
                                idle_on_connect);
        if (rc < 0) {
            fprintf(stderr,
                    "herd-bench: connection %d of %d to port %d: "
                    "%s\n",
                    b->idle_next, b->conns, b->ports[c->port_index],
                    uv_strerror(rc));
            b->failed = 1;
            idle_finish(b);
            return;
        }
        b->connecting++;
    }
}

void idle_start(struct bench *b)
{
    b->ic = calloc((size_t)b->conns, sizeof *b->ic);
    if (b->ic == NULL) {
        fputs("herd-bench: out of memory for connections\n", stderr);
        exit(1);
    }
    uv_timer_init(b->loop, &b->hold);
    b->hold.data = b;
    uv_signal_init(b->loop, &b->sigint);
    uv_signal_init(b->loop, &b->sigterm);
    b->sigint.data = b->sigterm.data = b;
    uv_signal_start(&b->sigint, idle_on_signal, SIGINT);
    uv_signal_start(&b->sigterm, idle_on_signal, SIGTERM);
    idle_connect_more(b);
}
