/* herd-bench --propagation: one update in flight at a time, from the
 * target's reply until every observer answers with it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static void prop_finish(struct bench *b)
{
    if (b->finished)
        return;
    b->finished = 1;
    b->end_ns = now_ns();
    if (b->start_ns != 0 && !b->failed)
        cpu_end(b);
    uv_close((uv_handle_t *)&b->prop.timer, NULL);
    close_conns(b);
}

static void prop_fail(struct bench *b)
{
    b->failed = 1;
    prop_finish(b);
}

static void prop_probe(struct bconn *c)
{
    c->b->prop.probes++;
    send_bytes(c, c->b->prop.probe, c->b->prop.probe_len);
}

/* Sends the next update if one is due, or ends the run after the last. */
static void prop_next(struct bench *b)
{
    struct prop *p = &b->prop;
    if (b->finished || b->start_ns == 0 || p->stage != 0)
        return;
    uint64_t now = now_ns();
    if (p->sent >= p->planned || (p->stop_at != 0 && now >= p->stop_at)) {
        prop_finish(b);
        return;
    }
    /* Due times count from the start, so a late update does not lower
     * the long-run rate: the ones after it go as soon as it is done. */
    uint64_t due = b->start_ns + p->sent * 1000000000u / p->rate;
    if (now < due)
        return;
    uint64_t seq = p->sent++;
    p->id = b->clients ? (unsigned)(seq % b->clients) : (unsigned)seq;
    p->time_len = (size_t)snprintf(p->time, sizeof p->time, "%llu.%09u",
                                   time_sec(b, seq), time_nsec(b, seq));
    p->probe_len = (size_t)snprintf(p->probe, sizeof p->probe,
                                    "WHATSAT bench.prop.%u 0 0\n", p->id);
    char loc[64], line[160];
    client_location(b, p->id, loc, sizeof loc);
    int n = snprintf(line, sizeof line, "IAMAT bench.prop.%u %s %s\n", p->id,
                     loc, p->time);
    p->stage = 1;
    send_bytes(&b->c[0], line, (size_t)n);
}

void prop_on_timer(uv_timer_t *t)
{
    struct bench *b = t->data;
    struct prop *p = &b->prop;
    if (now_ns() < p->give_up_at) {
        prop_next(b);
        return;
    }
    if (b->connected < b->conns)
        fprintf(stderr,
                "herd-bench: propagation: only %d of %d "
                "connections up after %llu s; giving up\n",
                b->connected, b->conns,
                (unsigned long long)(PROP_GRACE_NS / 1000000000u));
    else if (p->stage == 0)
        fprintf(stderr, "herd-bench: propagation: still sending at the "
                        "deadline; giving up\n");
    else {
        fprintf(stderr,
                "herd-bench: propagation: %llu s past the planned "
                "end, update %llu (bench.prop.%u at %s) ",
                (unsigned long long)(PROP_GRACE_NS / 1000000000u),
                (unsigned long long)p->sent, p->id, p->time);
        if (p->stage == 1)
            fprintf(stderr, "got no reply from port %d", b->ports[0]);
        else
            for (int i = 1, first = 1; i < b->conns; i++)
                if (!b->c[i].seen) {
                    fprintf(stderr, "%s port %d",
                            first ? "has not reached" : ",", b->ports[i]);
                    first = 0;
                }
        fputs("; giving up\n", stderr);
    }
    prop_fail(b);
}

/* The last field of the line at p (without its newline) is the time of
 * the update in flight. */
static int has_time(const struct prop *p, const char *line, size_t len)
{
    const char *q = line + len;
    while (q > line && q[-1] != ' ')
        q--;
    return (size_t)(line + len - q) == p->time_len &&
           memcmp(q, p->time, p->time_len) == 0;
}

static void prop_target_reply(struct bconn *c, uint64_t now)
{
    struct bench *b = c->b;
    struct prop *p = &b->prop;
    size_t end = reply_len(c->in, c->in_len, 0);
    if (end == 0)
        return;
    int len = (int)end - 1;
    if (p->stage != 1 || end != c->in_len) {
        fprintf(stderr, "herd-bench: port %d: unexpected: %.*s\n", b->ports[0],
                len, c->in);
        prop_fail(b);
        return;
    }
    if (strncmp(c->in, "AT ", 3) != 0 || !has_time(p, c->in, (size_t)len)) {
        fprintf(stderr,
                "herd-bench: port %d did not take the update: "
                "%.*s\n",
                b->ports[0], len, c->in);
        prop_fail(b);
        return;
    }
    c->in_len = 0; /* only one reply is outstanding */
    p->t0 = now;
    p->stage = 2;
    p->pending = b->conns - 1;
    for (int i = 1; i < b->conns; i++) {
        b->c[i].seen = 0;
        prop_probe(&b->c[i]);
    }
}

static void prop_observer_reply(struct bconn *c, uint64_t now)
{
    struct bench *b = c->b;
    struct prop *p = &b->prop;
    const char *nl = memchr(c->in, '\n', c->in_len);
    if (nl == NULL)
        return;
    int len = (int)(nl - c->in);
    /* Only an AT line has more after it; anything else is one line. */
    size_t end = (size_t)len + 1;
    if (strncmp(c->in, "AT ", 3) == 0 &&
        (end = reply_len(c->in, c->in_len, 1)) == 0)
        return;
    int port = b->ports[c->port_index];
    if (p->stage != 2 || c->seen || end != c->in_len) {
        fprintf(stderr, "herd-bench: port %d: unexpected: %.*s\n", port, len,
                c->in);
        prop_fail(b);
        return;
    }
    if (strncmp(c->in, "AT ", 3) == 0) {
        if (has_time(p, c->in, (size_t)len)) {
            c->in_len = 0;
            c->seen = 1;
            p->last_seen = now;
            if (--p->pending == 0) {
                record_lat(b, p->last_seen - p->t0);
                p->completed++;
                p->stage = 0;
                prop_next(b);
            }
            return;
        }
    } else if (strncmp(c->in, "? ", 2) != 0 ||
               (b->clients && p->sent > b->clients)) {
        /* Not an answer, or a client id it must know from an update
         * seen everywhere before. */
        fprintf(stderr, "herd-bench: port %d: probe failed: %.*s\n", port, len,
                c->in);
        prop_fail(b);
        return;
    }
    c->in_len = 0;
    prop_probe(c); /* not there yet: again at once */
}

void prop_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    struct bconn *c = s->data;
    struct bench *b = c->b;
    if (nread < 0) {
        if (!c->closed) {
            fprintf(stderr, "herd-bench: connection to port %d lost: %s\n",
                    b->ports[c->port_index], uv_strerror((int)nread));
            prop_fail(b);
        }
        return;
    }
    c->in_len += (size_t)nread;
    if (b->finished)
        return;
    if (c == &b->c[0])
        prop_target_reply(c, now_ns());
    else
        prop_observer_reply(c, now_ns());
}

void prop_start(struct bench *b)
{
    struct prop *p = &b->prop;
    b->start_ns = now_ns();
    cpu_start(b);
    uint64_t planned_ns = UINT64_MAX;
    if (p->planned != UINT64_MAX)
        planned_ns = p->planned * 1000000000u / p->rate;
    if (b->duration_ns != 0) {
        p->stop_at = b->start_ns + b->duration_ns;
        if (b->duration_ns < planned_ns)
            planned_ns = b->duration_ns;
    }
    p->give_up_at = b->start_ns + planned_ns + PROP_GRACE_NS;
    prop_next(b);
}
