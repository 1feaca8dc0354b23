#include "conn.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct conn_slot {
    struct conn_slot *next;
    int done;
    struct dynbuf data;
};

struct write_req {
    uv_write_t req;
    struct conn *c;
    char *data; /* owned until on_write */
};

void conn_pool_init(struct conn_pool *pool, uv_loop_t *loop, size_t max_line,
                    size_t max_output, unsigned max_pending)
{
    memset(pool, 0, sizeof *pool);
    pool->loop = loop;
    pool->max_line = max_line;
    pool->max_output = max_output;
    pool->max_pending = max_pending;
    uv_timer_init(loop, &pool->hold_timer);
}

size_t conn_pending(const struct conn *c)
{
    return c->out.len + c->wire.len + c->write_len + c->queued;
}

static void mark_dirty(struct conn *c)
{
    if (c->dirty || c->closing)
        return;
    c->dirty = 1;
    conn_ref(c);
    c->dirty_next = c->pool->dirty;
    c->pool->dirty = c;
}

static void mark_resume(struct conn *c)
{
    if (c->on_resume || c->closing || !c->paused)
        return;
    c->on_resume = 1;
    conn_ref(c);
    c->resume_next = c->pool->resume;
    c->pool->resume = c;
}

/* Reading stops while this much output waits: well under the limit at
 * which a connection is cut off, so a reader that reads is slowed down,
 * never disconnected. */
static size_t high_water(const struct conn *c)
{
    size_t half = c->max_output / 2;
    return half < CONN_HIGH_WATER ? half : CONN_HIGH_WATER;
}

static int must_pause(const struct conn *c)
{
    return c->closing || c->holds >= c->pool->max_pending ||
           (!c->no_output_pause && conn_pending(c) >= high_water(c));
}

static void maybe_resume(struct conn *c)
{
    if (c->paused && !must_pause(c))
        mark_resume(c);
}

void conn_pool_set_limits(struct conn_pool *pool, size_t max_line,
                          size_t max_output, unsigned max_pending)
{
    pool->max_line = max_line;
    pool->max_output = max_output;
    pool->max_pending = max_pending;
    for (struct conn *c = pool->all; c != NULL; c = c->next) {
        if (c->kind != CONN_CLIENT) {
            /* A link only grows: records of the longer lines a
             * neighbour now accepts must not close it. */
            if (c->in.max < max_line)
                c->in.max = max_line;
            continue;
        }
        c->in.max = max_line;
        c->max_output = max_output;
        maybe_resume(c); /* paused for WHATSATs a larger bound lets in */
    }
}

struct conn *conn_new(struct conn_pool *pool, enum conn_kind kind)
{
    struct conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    if (uv_tcp_init(pool->loop, &c->tcp) != 0) {
        free(c);
        return NULL;
    }
    c->tcp.data = c;
    c->pool = pool;
    c->kind = kind;
    c->id = ++pool->next_id;
    c->refs = 1;
    c->max_output = pool->max_output;
    linebuf_init(&c->in, pool->max_line);
    /* The limit applies to what waits in user space; one reply larger than
     * it (a big WHATSAT) still goes out whole. */
    dynbuf_init(&c->out, SIZE_MAX);
    dynbuf_init(&c->wire, SIZE_MAX);
    c->next = pool->all;
    if (pool->all)
        pool->all->prev = c;
    pool->all = c;
    pool->count++;
    pool->clients += kind == CONN_CLIENT;
    c->opened_ms = c->last_read_ms = c->last_write_ms = uv_now(pool->loop);
    snprintf(c->addr, sizeof c->addr, "?");
    return c;
}

void conn_ref(struct conn *c)
{
    assert(c->refs > 0); /* nobody takes a reference to a freed connection */
    c->refs++;
}

void conn_unref(struct conn *c)
{
    assert(c->refs > 0);
    if (--c->refs > 0)
        return;
    while (c->head != NULL) {
        struct conn_slot *s = c->head;
        c->head = s->next;
        dynbuf_free(&s->data);
        free(s);
    }
    linebuf_close(&c->in);
    dynbuf_free(&c->out);
    dynbuf_free(&c->wire);
    tls_conn_free(c->tls);
    free(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct conn *c = h->data;
    /* One shared buffer: a read is framed before the next one starts, and
     * only an incomplete line is copied out of it. */
    buf->base = c->pool->read_buf;
    buf->len = sizeof c->pool->read_buf;
}

static int on_linebuf_line(void *arg, const char *line, size_t len)
{
    struct conn *c = arg;
    if (c->closing)
        return 1;
    int stop = c->on_line(c, line, len);
    return stop || must_pause(c);
}

static void pause_reading(struct conn *c)
{
    c->paused = 1;
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
}

/* After the last line: replies still go out, then the connection closes. */
static void got_eof(struct conn *c)
{
    c->eof = 1;
    if (c->tls != NULL) {
        /* A link's lines all end in a newline: an unfinished one is a
         * stream cut short (by anyone on the path), not a record. */
        mark_dirty(c);
        return;
    }
    int rc = linebuf_finish(&c->in, on_linebuf_line, c);
    if (rc < 0)
        conn_close(c, linebuf_strerror(rc));
    else
        mark_dirty(c);
}

/* Bytes of lines: each complete one goes to on_line. */
static void feed_lines(struct conn *c, const char *data, size_t len)
{
    int rc = linebuf_feed(&c->in, data, len, on_linebuf_line, c);
    if (rc < 0) {
        char why[96];
        snprintf(why, sizeof why, "%s (limit %zu bytes)", linebuf_strerror(rc),
                 c->pool->max_line);
        conn_close(c, why);
    } else if (rc == 1) {
        pause_reading(c);
        maybe_resume(c);
    }
}

static void tls_failed(struct conn *c)
{
    char why[TLS_ERR_MAX + 8];
    snprintf(why, sizeof why, "TLS: %s", tls_error(c->tls));
    conn_close(c, why);
}

/* Decrypted records into lines, until the TLS session has no more or the
 * reader pauses (the rest waits in the session for resume). The shared
 * read buffer is free: what was read is in the session already. */
static void tls_drain(struct conn *c)
{
    while (!c->closing && !c->paused && !c->eof) {
        long n = tls_read(c->tls, c->pool->read_buf, sizeof c->pool->read_buf);
        if (n == TLS_EAGAIN)
            break;
        if (n == TLS_ECLOSED) {
            if (c->reading) {
                uv_read_stop((uv_stream_t *)&c->tcp);
                c->reading = 0;
            }
            got_eof(c);
            break;
        }
        if (n < 0) {
            tls_failed(c);
            return;
        }
        feed_lines(c, c->pool->read_buf, (size_t)n);
    }
    if (!c->closing && tls_pending(c->tls) > 0)
        mark_dirty(c); /* an answer of the session's own (a key update) */
}

/* Bytes from the socket of a TLS connection: the handshake first, then
 * records. */
static void tls_in(struct conn *c, const char *data, size_t len)
{
    if (tls_feed(c->tls, data, len) != TLS_OK) {
        tls_failed(c);
        return;
    }
    if (!tls_done(c->tls)) {
        int rc = tls_handshake(c->tls);
        if (tls_pending(c->tls) > 0)
            mark_dirty(c);
        if (rc == TLS_EAGAIN)
            return;
        if (rc != TLS_OK) {
            tls_failed(c);
            return;
        }
        if (c->on_secure != NULL)
            c->on_secure(c);
        if (c->closing)
            return;
    }
    tls_drain(c);
}

void conn_start_tls(struct conn *c, struct tls_conn *t,
                    void (*on_secure)(struct conn *c))
{
    c->tls = t;
    c->on_secure = on_secure;
    if (tls_handshake(t) == TLS_EFAIL) /* the dialler's ClientHello */
        tls_failed(c);
    else if (tls_pending(t) > 0)
        mark_dirty(c);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = s->data;
    if (nread == 0 || c->closing)
        return;
    if (nread < 0) {
        if (c->reading) {
            uv_read_stop(s);
            c->reading = 0;
        }
        if (nread == UV_EOF)
            got_eof(c);
        else
            conn_close(c, uv_strerror((int)nread));
        return;
    }
    conn_ref(c);
    c->last_read_ms = uv_now(c->pool->loop);
    c->bytes_read += (uint64_t)nread;
    if (c->tls != NULL)
        tls_in(c, buf->base, (size_t)nread);
    else
        feed_lines(c, buf->base, (size_t)nread);
    if (c->turn_read_max > 0 && !c->closing) {
        struct conn_pool *pool = c->pool;
        if (c->turn_id != pool->turn) {
            c->turn_id = pool->turn;
            c->turn_read = 0;
        }
        c->turn_read += (size_t)nread;
        if (c->turn_read >= c->turn_read_max && c->reading && !c->throttled) {
            uv_read_stop(s);
            c->reading = 0;
            c->throttled = 1;
            conn_ref(c);
            c->throttled_next = pool->throttled;
            pool->throttled = c;
        }
    }
    /* A line that never completes is timed from its first byte; complete
     * lines held by a pause are not. */
    if (linebuf_pending(&c->in) == 0 || c->paused)
        c->partial_since_ms = 0;
    else if (c->partial_since_ms == 0)
        c->partial_since_ms = c->last_read_ms;
    conn_unref(c);
}

int conn_start(struct conn *c)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        char host[48] = "?";
        int port = 0;
        if (ss.ss_family == AF_INET6) {
            const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
            uv_ip6_name(a, host, sizeof host);
            port = ntohs(a->sin6_port);
            snprintf(c->addr, sizeof c->addr, "[%s]:%d", host, port);
        } else {
            const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
            uv_ip4_name(a, host, sizeof host);
            port = ntohs(a->sin_port);
            snprintf(c->addr, sizeof c->addr, "%s:%d", host, port);
        }
    }
    uv_tcp_nodelay(&c->tcp, 1);
    int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc == 0)
        c->reading = 1;
    return rc;
}

static void on_closed(uv_handle_t *h)
{
    conn_unref(h->data);
}

void conn_close(struct conn *c, const char *reason)
{
    if (c->closing)
        return;
    c->closing = 1;
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
    if (c->on_close)
        c->on_close(c, reason);
    struct conn_pool *pool = c->pool;
    if (c->prev)
        c->prev->next = c->next;
    else
        pool->all = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    pool->count--;
    pool->clients -= c->kind == CONN_CLIENT;
    /* The input stays until the last reference goes (conn_unref): a line
     * handler that closed the connection may be running from it. */
    dynbuf_free(&c->out);
    dynbuf_free(&c->wire);
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void check_limit(struct conn *c)
{
    size_t max = c->max_output;
    if (!c->closing && conn_pending(c) > max) {
        char why[96];
        snprintf(why, sizeof why,
                 "output buffer over %zu bytes: the reader is too slow", max);
        conn_close(c, why);
    }
}

static struct conn_slot *new_slot(struct conn *c, int done)
{
    struct conn_slot *s = malloc(sizeof *s);
    if (s == NULL)
        return NULL;
    s->next = NULL;
    s->done = done;
    dynbuf_init(&s->data, SIZE_MAX);
    if (c->tail)
        c->tail->next = s;
    else
        c->head = s;
    c->tail = s;
    return s;
}

/* Queues len bytes of data, and a newline if line, after every earlier
 * reply. */
static void append(struct conn *c, const char *data, size_t len, int line)
{
    if (c->closing || (len == 0 && !line))
        return;
    struct dynbuf *b = &c->out;
    if (c->head != NULL) {
        /* Behind a reply that waits: queue in order. */
        struct conn_slot *s = c->tail->done ? c->tail : new_slot(c, 1);
        if (s == NULL) {
            conn_close(c, dynbuf_strerror(DYNBUF_ENOMEM));
            return;
        }
        b = &s->data;
    }
    int rc = line ? dynbuf_add_line(b, data, len) : dynbuf_add(b, data, len);
    if (rc != 0) {
        conn_close(c, dynbuf_strerror(rc));
        return;
    }
    if (c->head != NULL)
        c->queued += len + (line != 0);
    mark_dirty(c);
    check_limit(c);
}

void conn_write(struct conn *c, const char *data, size_t len)
{
    append(c, data, len, 0);
}

void conn_write_line(struct conn *c, const char *data, size_t len)
{
    /* Every reply and every record sent to a neighbour is a line: one
     * reservation for it and its newline. */
    append(c, data, len, 1);
}

void conn_write_line_at(struct conn *c, const char *data, size_t len,
                        size_t *off)
{
    size_t before = c->out.len;
    int direct = c->head == NULL && !c->closing;
    append(c, data, len, 1);
    *off = direct && !c->closing && c->out.len == before + len + 1 ? before
                                                                   : SIZE_MAX;
}

void conn_take_back(struct conn *c, const struct dynbuf_range *r, size_t n)
{
    assert(!c->closing && !c->writing); /* out is not on its way yet */
    dynbuf_cut(&c->out, r, n);
}

struct conn_slot *conn_hold(struct conn *c)
{
    struct conn_slot *s = new_slot(c, 0);
    if (s != NULL)
        c->holds++;
    return s;
}

void conn_slot_write(struct conn *c, struct conn_slot *s, const char *data,
                     size_t len)
{
    if (c->closing)
        return;
    if (dynbuf_add(&s->data, data, len) != 0) {
        conn_close(c, "out of memory");
        return;
    }
    c->queued += len;
    check_limit(c);
}

void conn_release(struct conn *c, struct conn_slot *s)
{
    assert(!s->done && c->holds > 0); /* each hold is released once */
    s->done = 1;
    c->holds--;
    while (c->head != NULL && c->head->done) {
        struct conn_slot *h = c->head;
        c->head = h->next;
        if (c->head == NULL)
            c->tail = NULL;
        assert(c->queued >= h->data.len);
        c->queued -= h->data.len;
        if (!c->closing && dynbuf_add(&c->out, h->data.data, h->data.len) != 0)
            conn_close(c, "out of memory");
        dynbuf_free(&h->data);
        free(h);
    }
    if (c->closing)
        return;
    mark_dirty(c);
    maybe_resume(c);
}

static void on_write(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;
    struct conn *c = w->c;
    assert(c->writing);
    c->writing = 0;
    if (status >= 0) {
        c->last_write_ms = uv_now(c->pool->loop);
        c->bytes_written += c->write_len;
    }
    c->write_len = 0;
    free(w->data);
    free(w);
    if (status < 0) {
        conn_close(c, uv_strerror(status));
    } else if (!c->closing) {
        mark_dirty(c);
        maybe_resume(c);
    }
    conn_unref(c);
}

/* A TLS connection's lines become records in wire (once the handshake
 * is done: nothing leaves in clear), with whatever the session itself
 * has to send. Returns 0, or -1 when it closed the connection. */
static int seal(struct conn *c)
{
    if (tls_done(c->tls) && c->out.len > 0) {
        if (tls_write(c->tls, c->out.data, c->out.len) != TLS_OK) {
            tls_failed(c);
            return -1;
        }
        c->flushes++; /* from here on, out's bytes are on their way */
        c->out.len = 0;
        if (c->out.cap > CONN_PEER_KEEP_OUT)
            dynbuf_free(&c->out);
    }
    size_t n = tls_pending(c->tls);
    if (n > 0) {
        char *p = dynbuf_reserve(&c->wire, n);
        if (p == NULL) {
            conn_close(c, "out of memory");
            return -1;
        }
        c->wire.len += tls_take(c->tls, p, n);
    }
    return 0;
}

/* The kernel took n of out's bytes, not all: the rest goes to one
 * uv_write, which owns out's storage until on_write. */
static void write_rest(struct conn *c, struct dynbuf *out, int n)
{
    struct write_req *w = malloc(sizeof *w);
    if (w == NULL) {
        conn_close(c, "out of memory");
        return;
    }
    size_t len;
    w->data = dynbuf_take(out, &len);
    w->c = c;
    uv_buf_t b = uv_buf_init(w->data + n, (unsigned)(len - (size_t)n));
    assert(!c->writing); /* one uv_write in flight at most */
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc != 0) {
        free(w->data);
        free(w);
        conn_close(c, uv_strerror(rc));
        return;
    }
    conn_ref(c);
    c->writing = 1;
    c->write_len = len - (size_t)n;
}

/* Writes out (not empty): what the kernel takes at once, the rest by
 * write_rest. Returns 0 when all of it went, -1 when it did not (a
 * uv_write has the rest, or the connection closed). */
static int write_out(struct conn *c, struct dynbuf *out)
{
    uv_buf_t b = uv_buf_init(out->data, (unsigned)out->len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == UV_EAGAIN || n == UV_ENOSYS)
        n = 0;
    if (n < 0) {
        conn_close(c, uv_strerror(n));
        return -1;
    }
    if (n > 0) {
        c->last_write_ms = uv_now(c->pool->loop);
        c->bytes_written += (uint64_t)n;
    }
    if ((size_t)n < out->len) {
        write_rest(c, out, n);
        return -1;
    }
    out->len = 0;
    if (out->cap >
        (c->kind == CONN_CLIENT ? CONN_CLIENT_KEEP_OUT : CONN_PEER_KEEP_OUT))
        dynbuf_free(out);
    return 0;
}

static void flush(struct conn *c)
{
    if (c->closing || c->writing)
        return;
    if (c->out.len > 0 && c->prepare_out != NULL) {
        c->prepare_out(c);
        if (c->out.len == 0)
            maybe_resume(c); /* all taken back: as good as written */
    }
    struct dynbuf *out = &c->out;
    if (c->tls != NULL) {
        if (seal(c) != 0)
            return;
        out = &c->wire;
    } else if (c->out.len > 0) {
        c->flushes++; /* from here on, out's bytes are on their way */
    }
    if (out->len > 0) {
        if (write_out(c, out) != 0)
            return;
        maybe_resume(c); /* a reader paused on output may go on */
    }
    if (c->eof && c->head == NULL && !c->paused)
        conn_close(c, CONN_CLOSED_BY_PEER);
}

static void resume(struct conn *c)
{
    if (c->closing || !c->paused || must_pause(c))
        return;
    c->paused = 0;
    int rc = linebuf_resume(&c->in, on_linebuf_line, c);
    if (rc < 0) {
        conn_close(c, linebuf_strerror(rc));
    } else if (rc == 1) {
        pause_reading(c);
    } else {
        if (c->tls != NULL && tls_done(c->tls))
            tls_drain(c); /* records decrypted, or read, before the pause */
        if (c->closing || c->paused || c->eof || c->throttled) {
            mark_dirty(c);
            return;
        }
        rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
        if (rc != 0)
            conn_close(c, uv_strerror(rc));
        else
            c->reading = 1;
    }
    mark_dirty(c);
}

/* Whether the window that started at window_ns is the current one or
 * the one just before it: an older count says nothing about the load. */
static int window_recent(const struct conn *c, uint64_t now)
{
    return now - c->window_ns < (uint64_t)2 * CONN_PEER_WINDOW_NS;
}

/* Whether a peer link keeps its output back for a later iteration. */
static int hold_back(const struct conn_pool *pool, const struct conn *c,
                     uint64_t now)
{
    return pool->peer_hold_ns > 0 && !c->closing && !c->writing &&
           c->out.len < CONN_PEER_BATCH &&
           c->last_window_bytes >= CONN_PEER_BUSY_BYTES &&
           window_recent(c, now) && now - c->flushed_ns < pool->peer_hold_ns;
}

/* Counts what a peer link sends per 10 ms window: the load that decides
 * whether it is held. */
static void count_window(struct conn *c, uint64_t now)
{
    if (now - c->window_ns >= CONN_PEER_WINDOW_NS) {
        c->last_window_bytes = window_recent(c, now) ? c->window_bytes : 0;
        c->window_bytes = 0;
        c->window_ns = now;
    }
    c->window_bytes += c->out.len;
}

/* Milliseconds until the first held link may go (at least 1: the
 * timer's resolution). */
static uint64_t hold_wait_ms(const struct conn_pool *pool, uint64_t now)
{
    uint64_t wait = pool->peer_hold_ns;
    for (const struct conn *c = pool->held; c != NULL; c = c->dirty_next) {
        uint64_t due = c->flushed_ns + pool->peer_hold_ns;
        if (due <= now)
            return 1;
        if (due - now < wait)
            wait = due - now;
    }
    wait = (wait + 999999) / 1000000;
    return wait > 0 ? wait : 1;
}

/* Wakes the loop so held peer output leaves (the flush runs in the
 * iteration this starts). */
static void on_hold_timer(uv_timer_t *t)
{
    (void)t;
}

/* Connections that read their share in the last turn read again. */
static void unthrottle(struct conn_pool *pool)
{
    while (pool->throttled != NULL) {
        struct conn *c = pool->throttled;
        pool->throttled = c->throttled_next;
        c->throttled = 0;
        if (!c->closing && !c->eof && !c->paused && !c->reading) {
            int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
            if (rc != 0)
                conn_close(c, uv_strerror(rc));
            else
                c->reading = 1;
        }
        conn_unref(c);
    }
}

/* Flushes the dirty connections. Peer links first: an update is on its
 * way to the neighbours before the client that sent it reads its AT
 * reply, unless its link is busy and held (then it follows within
 * peer_hold_ns). */
static void flush_dirty(struct conn_pool *pool, uint64_t now)
{
    struct conn *lists[2] = {NULL, NULL};
    while (pool->dirty != NULL) {
        struct conn *c = pool->dirty;
        pool->dirty = c->dirty_next;
        int k = c->kind == CONN_CLIENT;
        c->dirty_next = lists[k];
        lists[k] = c;
    }
    for (int k = 0; k < 2; k++) {
        while (lists[k] != NULL) {
            struct conn *c = lists[k];
            lists[k] = c->dirty_next;
            if (k == 0 && hold_back(pool, c, now)) {
                c->dirty_next = pool->held; /* stays dirty, keeps its ref */
                pool->held = c;
                continue;
            }
            c->dirty = 0;
            if (k == 0 && pool->peer_hold_ns > 0 && !c->writing) {
                c->flushed_ns = now;
                count_window(c, now);
            }
            flush(c);
            conn_unref(c);
        }
    }
}

void conn_pool_flush(struct conn_pool *pool)
{
    pool->turn++;
    unthrottle(pool);
    /* Held peer links are looked at again, once. */
    while (pool->held != NULL) {
        struct conn *c = pool->held;
        pool->held = c->dirty_next;
        c->dirty_next = pool->dirty;
        pool->dirty = c;
    }
    uint64_t now = pool->peer_hold_ns > 0 ? uv_hrtime() : 0;
    /* Resuming a reader runs its lines, which may dirty other connections;
     * a flush may close one, whose owner may write elsewhere. Go on until
     * nothing is left, so nothing waits for the next wake-up. */
    while (pool->resume != NULL || pool->dirty != NULL) {
        while (pool->resume != NULL) {
            struct conn *c = pool->resume;
            pool->resume = c->resume_next;
            c->on_resume = 0;
            resume(c);
            conn_unref(c);
        }
        if (pool->before_write)
            pool->before_write(pool->before_write_arg);
        flush_dirty(pool, now);
    }
    if (pool->held != NULL && !uv_is_active((uv_handle_t *)&pool->hold_timer))
        uv_timer_start(&pool->hold_timer, on_hold_timer,
                       hold_wait_ms(pool, now), 0);
}

void conn_pool_close_all(struct conn_pool *pool, const char *reason)
{
    pool->peer_hold_ns = 0;
    conn_pool_flush(pool);
    while (pool->all != NULL)
        conn_close(pool->all, reason);
    conn_pool_flush(pool);
    uv_close((uv_handle_t *)&pool->hold_timer, NULL);
}
