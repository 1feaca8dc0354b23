/* watch: the servers' control sockets, asked on the supervisor's loop
 * (watch.h).
 *
 * Each question is a call: a fresh uv_pipe_t connected to the server's
 * socket, the request lines written, replies read until as many lines as
 * were asked for have come, the connection closed or broken, the reply
 * cap reached, or the call's timer fired. A call ends once (call_end:
 * its callback runs, then its two handles close) and frees itself when
 * both have closed.
 */
#include "watch.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "dynbuf.h"
#include "view.h"

/* ---- calls ---------------------------------------------------------- */

struct watch_call {
    struct watch *w;
    uv_pipe_t pipe;
    uv_connect_t connect;
    uv_write_t write;
    uv_timer_t timer;
    struct dynbuf out; /* the request lines */
    struct dynbuf in;  /* the replies */
    int want;          /* reply lines expected */
    int got;
    int handles; /* still open */
    int ended;
    int err; /* 0, or a uv error: why the call ended short */
    void (*done)(struct watch_call *c);
    void *arg;
    size_t server; /* the caller's: a batch's target */
    char name[CONFIG_NAME_MAX + 1];
    char path[108]; /* the server's control socket; "": none */
    struct watch_call *prev, *next;
};

static void on_call_closed(uv_handle_t *h)
{
    struct watch_call *c = h->data;
    if (--c->handles > 0)
        return;
    dynbuf_free(&c->out);
    dynbuf_free(&c->in);
    free(c);
}

/* Ends c: its callback, then its handles close. */
static void call_end(struct watch_call *c, int err)
{
    if (c->ended)
        return;
    c->ended = 1;
    c->err = err;
    struct watch *w = c->w;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        w->calls = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    uv_timer_stop(&c->timer);
    c->done(c);
    uv_close((uv_handle_t *)&c->pipe, on_call_closed);
    uv_close((uv_handle_t *)&c->timer, on_call_closed);
}

static void on_call_timeout(uv_timer_t *t)
{
    call_end(t->data, UV_ETIMEDOUT);
}

static void on_call_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct watch_call *c = h->data;
    char *space = dynbuf_reserve(&c->in, 4096);
    /* Past the cap: a zero-length buffer, and the read fails (ENOBUFS). */
    *buf = uv_buf_init(space, space != NULL ? 4096 : 0);
}

static void on_call_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct watch_call *c = s->data;
    if (c->ended || nread == 0)
        return;
    if (nread < 0) {
        call_end(c, (int)nread);
        return;
    }
    for (ssize_t i = 0; i < nread; i++)
        c->got += buf->base[i] == '\n';
    c->in.len += (size_t)nread;
    if (c->got >= c->want)
        call_end(c, 0);
}

static void on_call_written(uv_write_t *req, int status)
{
    struct watch_call *c = req->data;
    if (status < 0)
        call_end(c, status);
}

static void on_call_connected(uv_connect_t *req, int status)
{
    struct watch_call *c = req->data;
    if (c->ended)
        return;
    if (status < 0) {
        call_end(c, status);
        return;
    }
    uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
    c->write.data = c;
    int rc =
        uv_write(&c->write, (uv_stream_t *)&c->pipe, &b, 1, on_call_written);
    if (rc == 0)
        rc =
            uv_read_start((uv_stream_t *)&c->pipe, on_call_alloc, on_call_read);
    if (rc != 0)
        call_end(c, rc);
}

/* Starts a call to the server named name whose control socket is path
 * ("": it has none it can reach): text (lines lines) sent, as many reply
 * lines awaited for at most timeout_ms; done(c) runs once, never before
 * this returns. i is the caller's. Returns the call, or NULL (out of
 * memory, or closing). */
static struct watch_call *
call_start(struct watch *w, const char *name, const char *path, size_t i,
           const char *text, int lines, uint64_t timeout_ms,
           void (*done)(struct watch_call *c), void *arg)
{
    struct watch_call *c = w->closing ? NULL : calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->w = w;
    c->want = lines;
    c->done = done;
    c->arg = arg;
    c->server = i;
    snprintf(c->name, sizeof c->name, "%s", name);
    snprintf(c->path, sizeof c->path, "%s", path);
    dynbuf_init(&c->out, SIZE_MAX);
    dynbuf_init(&c->in, WATCH_REPLY_MAX);
    if (dynbuf_add(&c->out, text, strlen(text)) != 0) {
        dynbuf_free(&c->out);
        free(c);
        return NULL;
    }
    uv_pipe_init(w->loop, &c->pipe, 0);
    uv_timer_init(w->loop, &c->timer);
    c->pipe.data = c->timer.data = c->connect.data = c;
    c->handles = 2;
    c->next = w->calls;
    if (c->next != NULL)
        c->next->prev = c;
    w->calls = c;
    uv_timer_start(&c->timer, on_call_timeout, timeout_ms, 0);
    if (path[0] == '\0') /* a socket path too long: it cannot answer */
        uv_timer_start(&c->timer, on_call_timeout, 0, 0);
    else
        uv_pipe_connect(&c->connect, &c->pipe, path, on_call_connected);
    return c;
}

/* ---- the rounds ----------------------------------------------------- */

/* The view now: the supervisor's status and the latest answers. */
static struct watch_server *find_server(struct watch *w, const char *name);

static json_t *build_view(struct watch *w)
{
    size_t n = w->cfg->nservers;
    json_t **st = calloc(n ? n : 1, sizeof(json_t *));
    if (st == NULL)
        return NULL;
    /* By name: the table is herd.conf's, unless a reload could not make
     * it follow (out of memory). */
    for (size_t i = 0; i < n; i++) {
        const struct watch_server *s = find_server(w, w->cfg->servers[i].name);
        st[i] = s != NULL ? s->status : NULL;
    }
    json_t *sup = w->supervisor ? w->supervisor(w->supervisor_arg) : NULL;
    json_t *view = view_build(w->cfg, sup, st);
    json_decref(sup);
    free(st);
    return view;
}

/* Every server of the round has answered or given up: its view is kept
 * for the rates. */
static void round_done(struct watch *w)
{
    json_t *view = build_view(w);
    if (view == NULL)
        return;
    json_decref(w->rounds[0].view);
    memmove(&w->rounds[0], &w->rounds[1],
            sizeof w->rounds[0] * (WATCH_ROUNDS - 1));
    w->rounds[WATCH_ROUNDS - 1].view = view;
    w->rounds[WATCH_ROUNDS - 1].ms = uv_now(w->loop);
}

/* The server named name now, or NULL (a reload removed it). */
static struct watch_server *find_server(struct watch *w, const char *name)
{
    for (size_t i = 0; i < w->nservers; i++)
        if (strcmp(w->servers[i].name, name) == 0)
            return &w->servers[i];
    return NULL;
}

static void on_status(struct watch_call *c)
{
    struct watch *w = c->w;
    struct watch_server *s = find_server(w, c->name);
    if (s == NULL || s->poll != c) { /* its server left herd.conf */
        if (w->outstanding > 0 && --w->outstanding == 0 && !w->closing)
            round_done(w);
        return;
    }
    s->poll = NULL;
    json_decref(s->status);
    s->status = NULL;
    char *line = c->err == 0 ? dynbuf_line(&c->in, 0) : NULL;
    if (line != NULL && line[0] == '{') {
        json_t *o = json_loads(line, 0, NULL);
        if (json_is_object(o))
            s->status = o;
        else
            json_decref(o);
    }
    if (w->outstanding > 0 && --w->outstanding == 0 && !w->closing)
        round_done(w);
}

static void on_tick(uv_timer_t *t)
{
    struct watch *w = t->data;
    for (size_t i = 0; i < w->nservers; i++) {
        struct watch_server *s = &w->servers[i];
        if (s->poll != NULL)
            continue; /* still out from the last round */
        s->poll = call_start(w, s->name, s->path, i, "status\n", 1,
                             WATCH_TIMEOUT_MS, on_status, NULL);
        if (s->poll != NULL)
            w->outstanding++;
    }
}

/* The table of cfg's servers, each with its control socket's path; NULL
 * when out of memory. */
static struct watch_server *new_servers(struct watch *w)
{
    const struct config *cfg = w->cfg;
    struct watch_server *v =
        calloc(cfg->nservers ? cfg->nservers : 1, sizeof *v);
    for (size_t i = 0; v != NULL && i < cfg->nservers; i++) {
        struct watch_server *s = &v[i];
        s->w = w;
        snprintf(s->name, sizeof s->name, "%s", cfg->servers[i].name);
        if (config_control_path(w->run_dir, s->name, s->path, sizeof s->path) !=
                0 ||
            strlen(s->path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
            s->path[0] = '\0';
    }
    return v;
}

int watch_init(struct watch *w, uv_loop_t *loop, const struct config *cfg,
               const char *run_dir, int polling,
               json_t *(*supervisor)(void *arg), void *arg)
{
    memset(w, 0, sizeof *w);
    w->loop = loop;
    w->cfg = cfg;
    w->polling = polling;
    w->supervisor = supervisor;
    w->supervisor_arg = arg;
    if (strlen(run_dir) >= sizeof w->run_dir)
        return UV_ENAMETOOLONG;
    snprintf(w->run_dir, sizeof w->run_dir, "%s", run_dir);
    w->servers = new_servers(w);
    if (w->servers == NULL)
        return UV_ENOMEM;
    w->nservers = cfg->nservers;
    int rc = uv_timer_init(loop, &w->tick);
    if (rc != 0) {
        free(w->servers);
        w->servers = NULL;
        return rc;
    }
    w->tick.data = w;
    if (!polling)
        return 0;
    return uv_timer_start(&w->tick, on_tick, 0, WATCH_INTERVAL_MS);
}

int watch_reconfigure(struct watch *w)
{
    if (w->servers == NULL)
        return 0;
    struct watch_server *v = new_servers(w);
    if (v == NULL)
        return UV_ENOMEM;
    /* The servers that stay keep their answer and their question out;
     * those gone drop theirs (a question out ends unheeded). */
    for (size_t k = 0; k < w->nservers; k++) {
        struct watch_server *old = &w->servers[k];
        size_t i = 0;
        while (i < w->cfg->nservers && strcmp(v[i].name, old->name) != 0)
            i++;
        if (i == w->cfg->nservers) {
            json_decref(old->status);
            continue;
        }
        v[i].poll = old->poll;
        v[i].status = old->status;
    }
    free(w->servers);
    w->servers = v;
    w->nservers = w->cfg->nservers;
    return 0;
}

void watch_poll_now(struct watch *w)
{
    if (w->closing || !w->polling)
        return;
    uv_timer_again(&w->tick); /* the next tick a full interval from now */
    on_tick(&w->tick);
}

json_t *watch_view(struct watch *w)
{
    json_t *view = build_view(w);
    if (view == NULL)
        return NULL;
    const struct watch_round *old = &w->rounds[0];
    const struct watch_round *last = &w->rounds[WATCH_ROUNDS - 1];
    for (int k = 0; k < WATCH_ROUNDS - 1 && old->view == NULL; k++)
        old++;
    if (old->view != NULL && old != last && last->ms > old->ms)
        view_rates(view, old->view, last->ms - old->ms);
    else
        view_rates(view, NULL, 0);
    return view;
}

/* ---- cut and heal --------------------------------------------------- */

/* A server a batch tells something. */
struct batch_target {
    char name[CONFIG_NAME_MAX + 1];
    char path[108];
    char *lines; /* what it is told */
};

struct watch_batch {
    struct watch *w;
    uv_timer_t *start;        /* until the first step has run; then NULL */
    struct watch_batch *next; /* in w->batches while start is set */
    struct batch_target *targets;
    size_t ntargets;
    size_t pending;
    int sending; /* the lines are out (after the probe) */
    enum watch_result result;
    char message[512];
    watch_sent_fn done;
    void *arg;
};

static void batch_free(struct watch_batch *b)
{
    for (size_t i = 0; i < b->ntargets; i++)
        free(b->targets[i].lines);
    free(b->targets);
    free(b);
}

/* Notes the first failure of the batch. */
__attribute__((format(printf, 3, 4))) static void
batch_fail(struct watch_batch *b, enum watch_result result, const char *fmt,
           ...)
{
    if (b->result != WATCH_OK)
        return;
    b->result = result;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->message, sizeof b->message, fmt, ap);
    va_end(ap);
}

/* Why a call got no full answer, in herd cut's words. */
static const char *call_why(const struct watch_call *c, char *out, size_t cap)
{
    if (c->err == UV_ENOENT || c->err == UV_ECONNREFUSED)
        snprintf(out, cap, "not running (nothing listens on %s)", c->path);
    else if (c->err == UV_ETIMEDOUT)
        snprintf(out, cap,
                 "not answering (no reply in time: stopped or busy?)");
    else if (c->err == UV_EOF)
        snprintf(out, cap, "not answering (it closed the control connection)");
    else if (c->err == UV_ECANCELED)
        snprintf(out, cap, "not asked (the supervisor is stopping)");
    else
        snprintf(out, cap, "not reachable (%s)", uv_strerror(c->err));
    return out;
}

static void batch_step(struct watch_batch *b);

static void on_probed(struct watch_call *c)
{
    struct watch_batch *b = c->arg;
    const char *name = c->name;
    char why[300];
    char *line = c->err == 0 ? dynbuf_line(&c->in, 0) : NULL;
    if (c->err == UV_ECANCELED)
        batch_fail(b, WATCH_ECLOSED, "the supervisor is stopping");
    else if (line == NULL)
        batch_fail(b, WATCH_EDOWN, "%s is %s", name,
                   call_why(c, why, sizeof why));
    else if (line[0] != '{')
        batch_fail(b, WATCH_EDOWN, "%s is answering with errors", name);
    b->pending--;
    batch_step(b);
}

static void on_sent(struct watch_call *c)
{
    struct watch_batch *b = c->arg;
    const char *name = c->name;
    char why[300];
    for (int k = 0; k < c->want; k++) {
        char *line = dynbuf_line(&c->in, k);
        if (line == NULL) {
            batch_fail(b,
                       c->err == UV_ECANCELED   ? WATCH_ECLOSED
                       : c->err == UV_ETIMEDOUT ? WATCH_ETIMEOUT
                                                : WATCH_EREFUSED,
                       "%s is %s", name, call_why(c, why, sizeof why));
            break;
        }
        if (strncmp(line, "ok", 2) != 0)
            batch_fail(b, WATCH_EREFUSED, "%s: %s", name,
                       strncmp(line, "error ", 6) == 0 ? line + 6 : line);
    }
    b->pending--;
    batch_step(b);
}

/* Starts one call per server concerned: the probe, or the lines. */
static void batch_calls(struct watch_batch *b)
{
    struct watch *w = b->w;
    for (size_t i = 0; i < b->ntargets; i++) {
        const struct batch_target *t = &b->targets[i];
        int n = 0;
        for (const char *p = t->lines; *p != '\0'; p++)
            n += *p == '\n';
        struct watch_call *c =
            b->sending ? call_start(w, t->name, t->path, i, t->lines, n,
                                    WATCH_SEND_TIMEOUT_MS, on_sent, b)
                       : call_start(w, t->name, t->path, i, "status\n", 1,
                                    WATCH_PROBE_TIMEOUT_MS, on_probed, b);
        if (c == NULL) {
            batch_fail(b, w->closing ? WATCH_ECLOSED : WATCH_ENOMEM, "%s",
                       w->closing ? "the supervisor is stopping"
                                  : "out of memory");
            return;
        }
        b->pending++;
    }
}

/* After each call: the next phase once every call of this one is over,
 * or the end. */
static void batch_step(struct watch_batch *b)
{
    if (b->pending > 0)
        return;
    if (!b->sending && b->result == WATCH_OK) {
        b->sending = 1;
        batch_calls(b);
        if (b->pending > 0)
            return;
    }
    b->done(b->arg, b->result, b->message);
    batch_free(b);
}

static void on_start_closed(uv_handle_t *h)
{
    free(h);
}

/* The batch's start timer goes (the batch has left w->batches). */
static void batch_started(struct watch_batch *b)
{
    uv_close((uv_handle_t *)b->start, on_start_closed);
    b->start = NULL;
}

/* The probe's first step, off the caller's stack: done never runs before
 * watch_send returns. */
static void on_batch_start(uv_timer_t *t)
{
    struct watch_batch *b = t->data;
    struct watch_batch **pp = &b->w->batches;
    while (*pp != NULL && *pp != b)
        pp = &(*pp)->next;
    if (*pp == b)
        *pp = b->next;
    batch_started(b);
    batch_calls(b);
    batch_step(b);
}

int watch_send(struct watch *w, const char *const *lines, watch_sent_fn done,
               void *arg)
{
    if (w->closing)
        return WATCH_ECLOSED;
    size_t n = w->nservers;
    struct watch_batch *b = calloc(1, sizeof *b);
    uv_timer_t *t = malloc(sizeof *t);
    struct batch_target *v = calloc(n ? n : 1, sizeof *v);
    size_t k = 0;
    int bad = b == NULL || t == NULL || v == NULL;
    for (size_t i = 0; i < n && !bad; i++) {
        if (lines[i] == NULL)
            continue;
        snprintf(v[k].name, sizeof v[k].name, "%s", w->servers[i].name);
        snprintf(v[k].path, sizeof v[k].path, "%s", w->servers[i].path);
        v[k].lines = strdup(lines[i]);
        bad = v[k++].lines == NULL;
    }
    if (bad) {
        for (size_t i = 0; v != NULL && i < k; i++)
            free(v[i].lines);
        free(v);
        free(b);
        free(t);
        return WATCH_ENOMEM;
    }
    b->w = w;
    b->targets = v;
    b->ntargets = k;
    b->done = done;
    b->arg = arg;
    b->start = t;
    b->next = w->batches;
    w->batches = b;
    uv_timer_init(w->loop, t);
    t->data = b;
    uv_timer_start(t, on_batch_start, 0, 0);
    return 0;
}

/* ---- questions of the supervisor's own ------------------------------ */

struct watch_question {
    watch_answer_fn done;
    void *arg;
};

static void on_answered(struct watch_call *c)
{
    struct watch_question *q = c->arg;
    char why[300] = "";
    char *line = c->err == 0 || c->got > 0 ? dynbuf_line(&c->in, 0) : NULL;
    if (line == NULL)
        call_why(c, why, sizeof why);
    q->done(q->arg, c->name, line, why);
    free(q);
}

int watch_ask(struct watch *w, const char *name, const char *line,
              uint64_t timeout_ms, watch_answer_fn done, void *arg)
{
    if (w->closing)
        return WATCH_ECLOSED;
    const struct watch_server *s = find_server(w, name);
    if (s == NULL)
        return WATCH_EDOWN;
    struct watch_question *q = calloc(1, sizeof *q);
    size_t len = strlen(line);
    char *text = q != NULL ? malloc(len + 2) : NULL;
    if (text == NULL) {
        free(q);
        return WATCH_ENOMEM;
    }
    snprintf(text, len + 2, "%s\n", line);
    q->done = done;
    q->arg = arg;
    struct watch_call *c =
        call_start(w, s->name, s->path, 0, text, 1, timeout_ms, on_answered, q);
    free(text);
    if (c == NULL) {
        free(q);
        return WATCH_ENOMEM;
    }
    return 0;
}

/* ---- the end -------------------------------------------------------- */

void watch_close(struct watch *w)
{
    if (w->closing || w->servers == NULL)
        return;
    w->closing = 1;
    uv_close((uv_handle_t *)&w->tick, NULL);
    while (w->batches != NULL) { /* not started: told at once */
        struct watch_batch *b = w->batches;
        w->batches = b->next;
        batch_started(b);
        batch_fail(b, WATCH_ECLOSED, "the supervisor is stopping");
        batch_step(b);
    }
    while (w->calls != NULL)
        call_end(w->calls, UV_ECANCELED);
}

void watch_free(struct watch *w)
{
    for (size_t i = 0; w->servers != NULL && i < w->nservers; i++)
        json_decref(w->servers[i].status);
    free(w->servers);
    w->servers = NULL;
    for (int k = 0; k < WATCH_ROUNDS; k++) {
        json_decref(w->rounds[k].view);
        w->rounds[k].view = NULL;
    }
}
