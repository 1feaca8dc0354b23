/* control: the supervisor's control socket (the protocol: control.h).
 *
 * Whoever may connect may stop, start and signal every server, so:
 *   - the socket file is mode 0600 whatever the umask (bound under umask
 *     0177, then chmod 0600 before listen: no moment in which another
 *     user could connect);
 *   - every connection's peer is checked with SO_PEERCRED: only our
 *     effective uid, or root, is served; anyone else is told "error
 *     permission denied", closed and logged;
 *   - at most CONTROL_MAX_CONNS connections at once (answered or still
 *     waiting on a start or stop); one more is told "error too many
 *     control connections", closed and logged;
 *   - a connection that sends no complete request line within
 *     CONTROL_IDLE_MS is closed (and logged).
 */
/* struct ucred and SO_PEERCRED are Linux's. */
#define _GNU_SOURCE
#include "control.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "strparse.h"

#define CONTROL_MAX_CONNS 16
#define CONTROL_IDLE_MS   5000

enum wait_kind {
    WAIT_NONE,
    WAIT_UP,       /* each target up or failed */
    WAIT_DOWN,     /* each target without a process */
    WAIT_ALL_DOWN, /* the whole herd down */
    WAIT_RELOAD    /* the owner's answer (control_answer) */
};

struct control_wait {
    struct control *ctl;
    uv_pipe_t pipe; /* unused by a request from inside (done set) */
    uv_timer_t timer;
    /* A request from inside the supervisor (control_submit): its outcome
     * goes to done instead of a pipe. */
    control_done_fn done;
    void *done_arg;
    char line[CONTROL_LINE_MAX];
    size_t len;
    enum wait_kind kind;
    unsigned long id;
    /* The servers concerned, by name: a reload may rebuild the table
     * while a request waits, and a server it removed is reported so. */
    char (*targets)[CONFIG_NAME_MAX + 1];
    size_t ntargets;
    int replied;
    struct control_wait *next;
};

static void on_timer_closed(uv_handle_t *h)
{
    struct control_wait *w = h->data;
    free(w->targets);
    free(w);
}

static void on_pipe_closed(uv_handle_t *h)
{
    struct control_wait *w = h->data;
    uv_close((uv_handle_t *)&w->timer, on_timer_closed);
}

static void unlink_wait(struct control_wait *w)
{
    struct control_wait **pp = &w->ctl->waits;
    while (*pp != NULL && *pp != w)
        pp = &(*pp)->next;
    if (*pp == w)
        *pp = w->next;
}

static void finish(struct control_wait *w)
{
    unlink_wait(w);
    uv_timer_stop(&w->timer);
    if (w->done != NULL) {
        if (!uv_is_closing((uv_handle_t *)&w->timer))
            uv_close((uv_handle_t *)&w->timer, on_timer_closed);
        return;
    }
    if (!uv_is_closing((uv_handle_t *)&w->pipe))
        uv_close((uv_handle_t *)&w->pipe, on_pipe_closed);
}

struct reply_req {
    uv_write_t req;
    struct control_wait *w;
    char *data;
};

static void on_written(uv_write_t *req, int status)
{
    (void)status;
    struct reply_req *r = (struct reply_req *)req;
    struct control_wait *w = r->w;
    free(r->data);
    free(r);
    finish(w);
}

/* A request from inside: the outcome to its callback, then the wait
 * goes. */
static void reply_inside(struct control_wait *w, enum control_result result,
                         const char *message, const struct dynbuf *body)
{
    struct dynbuf none;
    dynbuf_init(&none, 0);
    w->done(w->done_arg, result, message, body != NULL ? body : &none);
    finish(w);
}

/* Sends "ok" (result CONTROL_OK) or "error MESSAGE", then body, then
 * closes. */
static void reply(struct control_wait *w, enum control_result result,
                  const char *message, const struct dynbuf *body)
{
    if (w->replied)
        return;
    w->replied = 1;
    if (w->done != NULL) {
        reply_inside(w, result, message, body);
        return;
    }
    uv_read_stop((uv_stream_t *)&w->pipe);
    struct dynbuf out;
    dynbuf_init(&out, SIZE_MAX);
    int rc = result == CONTROL_OK ? dynbuf_printf(&out, "ok\n")
             : result == CONTROL_ECONFIG
                 ? dynbuf_printf(&out, "error config: %s\n", message)
                 : dynbuf_printf(&out, "error %s\n", message);
    if (rc == 0 && body != NULL && body->len > 0)
        rc = dynbuf_add(&out, body->data, body->len);
    struct reply_req *r = rc == 0 ? malloc(sizeof *r) : NULL;
    if (r == NULL) {
        dynbuf_free(&out);
        finish(w);
        return;
    }
    size_t len;
    r->w = w;
    r->data = dynbuf_take(&out, &len);
    uv_buf_t b = uv_buf_init(r->data, (unsigned)len);
    if (uv_write(&r->req, (uv_stream_t *)&w->pipe, &b, 1, on_written) != 0) {
        free(r->data);
        free(r);
        finish(w);
    }
}

static void format_uptime(char *out, size_t cap, uint64_t ms)
{
    if (ms < 60000)
        snprintf(out, cap, "%.1fs", (double)ms / 1000.0);
    else if (ms < 3600000)
        snprintf(out, cap, "%llum%02llus", (unsigned long long)(ms / 60000),
                 (unsigned long long)(ms / 1000 % 60));
    else
        snprintf(out, cap, "%lluh%02llum", (unsigned long long)(ms / 3600000),
                 (unsigned long long)(ms / 60000 % 60));
}

static int status_row(const struct child *c, struct dynbuf *out)
{
    char addr[300];
    char pid[16] = "-";
    char uptime[32] = "-";
    snprintf(addr, sizeof addr, "%s:%u", c->cfg->listen.host,
             c->cfg->listen.port);
    if (c->pid > 0)
        snprintf(pid, sizeof pid, "%d", c->pid);
    if (c->state == SUPERVISE_UP)
        format_uptime(uptime, sizeof uptime, supervise_now_ms() - c->up_ms);
    return dynbuf_printf(out, "%-10s %-9s %-7s %-21s %-8s %-8u %-18s %s\n",
                         c->cfg->name, supervise_state_name(c->state), pid,
                         addr, uptime, c->restarts,
                         c->last_exit[0] ? c->last_exit : "-", c->note);
}

static int status_header(struct dynbuf *out)
{
    return dynbuf_printf(out, "%-10s %-9s %-7s %-21s %-8s %-8s %-18s %s\n",
                         "NAME", "STATE", "PID", "ADDRESS", "UPTIME",
                         "RESTARTS", "LAST EXIT", "NOTE");
}

int control_status_text(struct supervise *sv, struct dynbuf *out)
{
    int rc = status_header(out);
    for (size_t i = 0; i < sv->n && rc == 0; i++)
        if (sv->children[i]->managed)
            rc = status_row(sv->children[i], out);
    return rc;
}

/* One managed server of status-json. */
static json_t *status_object_row(const struct child *c)
{
    char addr[300];
    char peer[300];
    snprintf(addr, sizeof addr, "%s:%u", c->cfg->listen.host,
             c->cfg->listen.port);
    snprintf(peer, sizeof peer, "%s:%u", c->cfg->peer.host, c->cfg->peer.port);
    return json_pack(
        "{s:s, s:s, s:o, s:s, s:s, s:o, s:I, s:o, s:s}", "name", c->cfg->name,
        "state", supervise_state_name(c->state), "pid",
        c->pid > 0 ? json_integer(c->pid) : json_null(), "address", addr,
        "peer_address", peer, "uptime_ms",
        c->state == SUPERVISE_UP
            ? json_integer((json_int_t)(supervise_now_ms() - c->up_ms))
            : json_null(),
        "restarts", (json_int_t)c->restarts, "last_exit",
        c->last_exit[0] ? json_string(c->last_exit) : json_null(), "note",
        c->note);
}

json_t *control_status_object(struct supervise *sv)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < sv->n && arr != NULL; i++) {
        if (!sv->children[i]->managed)
            continue;
        json_t *o = status_object_row(sv->children[i]);
        if (o == NULL || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    if (arr == NULL)
        return NULL;
    return json_pack("{s:i, s:o}", "supervisor_pid", (int)getpid(), "servers",
                     arr);
}

int control_status_json(struct supervise *sv, struct dynbuf *out)
{
    json_t *root = control_status_object(sv);
    char *s =
        root ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(root);
    if (s == NULL)
        return DYNBUF_ENOMEM;
    int rc = dynbuf_printf(out, "%s\n", s);
    free(s);
    return rc;
}

static int target_done(const struct child *c, enum wait_kind kind)
{
    switch (kind) {
    case WAIT_UP:
        return c->state == SUPERVISE_UP || c->state == SUPERVISE_FAILED ||
               (c->state == SUPERVISE_DOWN && !c->want_up);
    case WAIT_DOWN:
        return c->run == NULL && c->state != SUPERVISE_STOPPING;
    case WAIT_ALL_DOWN:
    case WAIT_RELOAD:
    case WAIT_NONE:
        break;
    }
    return 1;
}

/* The status rows of w's targets into body; *failed when a start or
 * restart did not bring one up. Returns 0 or a dynbuf error. */
static int targets_table(const struct control_wait *w, struct dynbuf *body,
                         int *failed)
{
    struct supervise *sv = w->ctl->sv;
    int rc = status_header(body);
    for (size_t i = 0; i < w->ntargets && rc == 0; i++) {
        const struct child *c = supervise_find(sv, w->targets[i]);
        if (c == NULL) { /* removed by a reload meanwhile */
            rc = dynbuf_printf(body, "%-10s (removed from herd.conf)\n",
                               w->targets[i]);
            *failed |= w->kind == WAIT_UP;
            continue;
        }
        rc = status_row(c, body);
        if (w->kind == WAIT_UP && c->state != SUPERVISE_UP)
            *failed = 1;
    }
    return rc;
}

/* Answers a waiting request if its condition holds (or if forced). */
static void check_wait(struct control_wait *w, int timed_out)
{
    struct supervise *sv = w->ctl->sv;
    /* A connection whose request has not been read yet waits for nothing:
     * a state change meanwhile must not answer it. */
    if (w->kind == WAIT_NONE || w->replied)
        return;
    if (w->kind == WAIT_RELOAD) { /* only the owner answers it */
        if (timed_out)
            reply(w, CONTROL_ETIMEOUT,
                  "timed out waiting for the reload to end; see herd.log",
                  NULL);
        return;
    }
    int done = 1;
    if (w->kind == WAIT_ALL_DOWN)
        done = supervise_all_down(sv);
    for (size_t i = 0; i < w->ntargets && done; i++) {
        const struct child *c = supervise_find(sv, w->targets[i]);
        if (c != NULL && !target_done(c, w->kind))
            done = 0;
    }
    if (!done && !timed_out)
        return;
    struct dynbuf body;
    dynbuf_init(&body, SIZE_MAX);
    int failed = 0;
    int rc = targets_table(w, &body, &failed);
    if (!done)
        reply(w, CONTROL_ETIMEOUT, "timed out waiting; current state below",
              &body);
    else if (failed)
        reply(w, CONTROL_EFAILED,
              "not every server came up; see NOTE and the logs", &body);
    else
        reply(w, rc == 0 ? CONTROL_OK : CONTROL_ENOMEM,
              rc == 0 ? "" : "out of memory", &body);
    dynbuf_free(&body);
}

static void on_wait_timeout(uv_timer_t *t)
{
    check_wait(t->data, 1);
}

void control_changed(struct control *ctl)
{
    struct control_wait *w = ctl->waits;
    while (w != NULL) {
        struct control_wait *next = w->next;
        check_wait(w, 0);
        w = next;
    }
}

__attribute__((format(printf, 3, 4))) static void
error_reply(struct control_wait *w, enum control_result result, const char *fmt,
            ...)
{
    char msg[240];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    reply(w, result, msg, NULL);
}

static int split_words(char *line, char **words, int max)
{
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(line, " \t\r", &save); t != NULL;
         t = strtok_r(NULL, " \t\r", &save)) {
        if (n == max)
            return -1;
        words[n++] = t;
    }
    return n;
}

/* "control: CMD ARG" in the log, both escaped, with where a request from
 * inside came from ("(http 127.0.0.1:5000)"). */
static void log_request(char **words, int n, const char *origin)
{
    const char *cmd = words[0];
    char esc_cmd[96];
    char esc_arg[160];
    log_escape(esc_cmd, sizeof esc_cmd, cmd, strlen(cmd));
    log_escape(esc_arg, sizeof esc_arg, n > 1 ? words[1] : "",
               n > 1 ? strlen(words[1]) : 0);
    log_msg("control: %s%s%s%s%s%s", esc_cmd, n > 1 ? " " : "", esc_arg,
            origin ? " (" : "", origin ? origin : "", origin ? ")" : "");
}

/* status (the table) and status-json. */
static void status_request(struct control_wait *w, const char *cmd)
{
    struct supervise *sv = w->ctl->sv;
    struct dynbuf body;
    dynbuf_init(&body, SIZE_MAX);
    int rc = cmd[6] ? control_status_json(sv, &body)
                    : control_status_text(sv, &body);
    reply(w, rc == 0 ? CONTROL_OK : CONTROL_ENOMEM,
          rc == 0 ? "" : "out of memory", &body);
    dynbuf_free(&body);
}

/* Room for a target per server of the table. Returns 0, or -1 after the
 * error reply. */
static int alloc_targets(struct control_wait *w)
{
    size_t n = w->ctl->sv->n;
    free(w->targets);
    w->ntargets = 0;
    w->targets = calloc(n ? n : 1, sizeof *w->targets);
    if (w->targets != NULL)
        return 0;
    error_reply(w, CONTROL_ENOMEM, "%s", "out of memory");
    return -1;
}

/* Adds c to w's targets, once. */
static void add_target(struct control_wait *w, const struct child *c)
{
    for (size_t i = 0; i < w->ntargets; i++)
        if (strcmp(w->targets[i], c->cfg->name) == 0)
            return;
    snprintf(w->targets[w->ntargets++], sizeof w->targets[0], "%s",
             c->cfg->name);
}

/* shutdown: answered once every server is down. */
static void shutdown_request(struct control_wait *w)
{
    struct control *ctl = w->ctl;
    struct supervise *sv = ctl->sv;
    if (alloc_targets(w) != 0)
        return;
    w->kind = WAIT_ALL_DOWN; /* armed before anything changes */
    for (size_t i = 0; i < sv->n; i++)
        if (sv->children[i]->managed)
            add_target(w, sv->children[i]);
    uv_timer_start(&w->timer, on_wait_timeout, CONTROL_WAIT_MS, 0);
    if (ctl->on_shutdown)
        ctl->on_shutdown(ctl);
    check_wait(w, 0);
}

/* Marks the servers named by words[1..last) in w->targets. Returns 0, or
 * -1 after the error reply: one is unknown or not run by us. */
static int mark_targets(struct control_wait *w, char **words, int last)
{
    struct supervise *sv = w->ctl->sv;
    if (alloc_targets(w) != 0)
        return -1;
    for (int i = 1; i < last; i++) {
        struct child *c = supervise_find(sv, words[i]);
        if (c == NULL) {
            error_reply(w, CONTROL_ENOTFOUND, "no server named '%s'", words[i]);
            return -1;
        }
        if (!c->managed) {
            error_reply(w, CONTROL_ECONFLICT,
                        "%s is not run by this supervisor (--only)", words[i]);
            return -1;
        }
        add_target(w, c);
    }
    return 0;
}

/* kill NAME SIGNAL (checked): sends it and says so. */
static void kill_request(struct control_wait *w, const char *name, int signum)
{
    struct child *c = supervise_find(w->ctl->sv, name);
    int rc = supervise_kill(c, signum);
    if (rc != 0) {
        error_reply(w, CONTROL_ECONFLICT, "%s is not running", c->cfg->name);
        return;
    }
    struct dynbuf body;
    dynbuf_init(&body, SIZE_MAX);
    int prc = dynbuf_printf(&body, "sent signal %d to %s (pid %d)\n", signum,
                            c->cfg->name, c->pid);
    reply(w, prc == 0 ? CONTROL_OK : CONTROL_ENOMEM,
          prc == 0 ? "" : "out of memory", &body);
    dynbuf_free(&body);
}

/* start|stop|restart NAME... and kill NAME SIGNAL. */
static void servers_request(struct control_wait *w, char **words, int n)
{
    struct supervise *sv = w->ctl->sv;
    const char *cmd = words[0];
    int is_start = strcmp(cmd, "start") == 0;
    int is_stop = strcmp(cmd, "stop") == 0;
    int is_restart = strcmp(cmd, "restart") == 0;
    int is_kill = strcmp(cmd, "kill") == 0;
    if (!is_start && !is_stop && !is_restart && !is_kill) {
        error_reply(w, CONTROL_EBADREQ, "unknown request '%s'", cmd);
        return;
    }
    if (n < 2) {
        error_reply(w, CONTROL_EBADREQ, "%s needs a server name", cmd);
        return;
    }
    if ((is_start || is_restart) && sv->stopping_all) {
        error_reply(w, CONTROL_ECONFLICT, "%s",
                    "the herd is stopping: nothing starts now");
        return;
    }
    int last = n;
    int signum = SIGKILL;
    if (is_kill) {
        uint64_t v;
        if (n != 3 || strparse_uint(words[2], strlen(words[2]), 64, &v) != 0 ||
            v == 0) {
            error_reply(w, CONTROL_EBADREQ, "%s",
                        "kill takes NAME SIGNAL-NUMBER");
            return;
        }
        signum = (int)v;
        last = 2;
    }
    if (mark_targets(w, words, last) != 0)
        return;
    if (is_kill) {
        kill_request(w, words[1], signum);
        return;
    }
    /* The wait is armed first: the state changes below re-check it. */
    w->kind = is_stop ? WAIT_DOWN : WAIT_UP;
    uv_timer_start(&w->timer, on_wait_timeout, CONTROL_WAIT_MS, 0);
    for (size_t i = 0; i < w->ntargets && !w->replied; i++) {
        struct child *c = supervise_find(sv, w->targets[i]);
        if (c == NULL)
            continue;
        if (is_start)
            supervise_start(c);
        else if (is_stop)
            supervise_stop(c);
        else
            supervise_restart(c);
    }
    check_wait(w, 0);
}

/* reload [--dry-run]: the owner's to run and to answer. */
static void reload_request(struct control_wait *w, char **words, int n)
{
    struct control *ctl = w->ctl;
    int dry_run = n == 2 && strcmp(words[1], "--dry-run") == 0;
    if (n > 2 || (n == 2 && !dry_run)) {
        error_reply(w, CONTROL_EBADREQ, "%s", "reload takes only --dry-run");
        return;
    }
    if (ctl->on_reload == NULL) {
        error_reply(w, CONTROL_ECONFLICT, "%s", "no reload here");
        return;
    }
    w->kind = WAIT_RELOAD;
    uv_timer_start(&w->timer, on_wait_timeout, CONTROL_WAIT_MS, 0);
    ctl->on_reload(ctl, w->id, dry_run);
}

void control_answer(struct control *ctl, unsigned long id,
                    enum control_result result, const char *message,
                    const struct dynbuf *body)
{
    for (struct control_wait *w = ctl->waits; w != NULL; w = w->next)
        if (w->id == id && w->kind == WAIT_RELOAD) {
            reply(w, result, message, body);
            return;
        }
}

static void execute(struct control_wait *w, const char *origin)
{
    char *words[64];
    int n = split_words(w->line, words, 64);
    if (n <= 0) {
        error_reply(w, CONTROL_EBADREQ, "%s", "empty or too long request");
        return;
    }
    const char *cmd = words[0];
    log_request(words, n, origin);
    if (strcmp(cmd, "status") == 0 || strcmp(cmd, "status-json") == 0)
        status_request(w, cmd);
    else if (strcmp(cmd, "shutdown") == 0)
        shutdown_request(w);
    else if (strcmp(cmd, "reload") == 0)
        reload_request(w, words, n);
    else
        servers_request(w, words, n);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct control_wait *w = h->data;
    buf->base = w->line + w->len;
    buf->len = sizeof w->line - 1 - w->len;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    struct control_wait *w = s->data;
    if (nread == 0)
        return;
    if (nread > 0)
        w->len += (size_t)nread;
    char *nl = memchr(w->line, '\n', w->len);
    if (nl != NULL || nread < 0 || w->len >= sizeof w->line - 1) {
        if (nl != NULL)
            *nl = '\0';
        else
            w->line[w->len] = '\0';
        if (nl == NULL && nread > 0) {
            error_reply(w, CONTROL_EBADREQ, "%s", "request too long");
            return;
        }
        if (w->len == 0 && nread < 0) {
            finish(w);
            return;
        }
        uv_read_stop(s);
        execute(w, NULL);
    }
}

/* No complete request within CONTROL_IDLE_MS (or a reply that could not
 * be written by then). */
static void on_idle(uv_timer_t *t)
{
    struct control_wait *w = t->data;
    if (!w->replied)
        log_msg("control: closed a connection that sent no complete "
                "request in %d ms",
                CONTROL_IDLE_MS);
    finish(w);
}

/* Best effort, for a connection about to be closed. line is not const
 * only because uv_buf_t's base is not: it is only read. */
static void say_and_finish(struct control_wait *w, char *line)
{
    uv_buf_t b = uv_buf_init(line, (unsigned)strlen(line));
    (void)uv_try_write((uv_stream_t *)&w->pipe, &b, 1);
    finish(w);
}

/* Whether the connection may stay: only our effective uid or root; at
 * most CONTROL_MAX_CONNS at once (w itself counted). */
static int admit(struct control_wait *w)
{
    uv_os_fd_t fd;
    struct ucred cred;
    socklen_t clen = sizeof cred;
    if (uv_fileno((uv_handle_t *)&w->pipe, &fd) != 0 ||
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0 ||
        clen != sizeof cred) {
        log_msg("control: cannot tell who connected: refused");
        finish(w);
        return 0;
    }
    if (cred.uid != geteuid() && cred.uid != 0) {
        log_msg("control: refused a connection from uid %u (pid %d): only "
                "uid %u or root may connect",
                (unsigned)cred.uid, (int)cred.pid, (unsigned)geteuid());
        say_and_finish(w, "error permission denied\n");
        return 0;
    }
    int n = 0;
    for (const struct control_wait *o = w->ctl->waits; o != NULL; o = o->next)
        n +=
            o->done == NULL; /* requests from inside have bounds of their own */
    if (n > CONTROL_MAX_CONNS) {
        log_msg("control: %d connections open: refused one more",
                CONTROL_MAX_CONNS);
        say_and_finish(w, "error too many control connections\n");
        return 0;
    }
    return 1;
}

/* A wait with its timer (not linked yet); NULL: out of memory. */
static struct control_wait *new_wait(struct control *ctl)
{
    struct control_wait *w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    w->ctl = ctl;
    w->id = ++ctl->last_id;
    uv_timer_init(ctl->loop, &w->timer);
    w->timer.data = w;
    return w;
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct control *ctl = listener->data;
    if (status < 0) {
        log_msg("control: accept failed: %s", uv_strerror(status));
        return;
    }
    struct control_wait *w = new_wait(ctl);
    if (w == NULL)
        return;
    uv_pipe_init(ctl->loop, &w->pipe, 0);
    w->pipe.data = w;
    w->next = ctl->waits;
    ctl->waits = w;
    if (uv_accept(listener, (uv_stream_t *)&w->pipe) != 0) {
        finish(w);
        return;
    }
    if (!admit(w))
        return;
    if (uv_read_start((uv_stream_t *)&w->pipe, on_alloc, on_read) != 0) {
        finish(w);
        return;
    }
    /* Replaced by the request's own deadline once it is read. */
    uv_timer_start(&w->timer, on_idle, CONTROL_IDLE_MS, 0);
}

int control_submit(struct control *ctl, const char *line, const char *origin,
                   control_done_fn done, void *arg)
{
    size_t len = strlen(line);
    if (len >= sizeof((struct control_wait *)0)->line ||
        memchr(line, '\n', len) != NULL)
        return CONTROL_EBADREQ;
    struct control_wait *w = new_wait(ctl);
    if (w == NULL)
        return CONTROL_ENOMEM;
    w->done = done;
    w->done_arg = arg;
    memcpy(w->line, line, len + 1);
    w->len = len;
    w->next = ctl->waits;
    ctl->waits = w;
    execute(w, origin != NULL ? origin : "inside");
    return 0;
}

int control_init(struct control *ctl, uv_loop_t *loop, struct supervise *sv,
                 const char *path)
{
    memset(ctl, 0, sizeof *ctl);
    ctl->loop = loop;
    ctl->sv = sv;
    if (strlen(path) >= sizeof ctl->path)
        return UV_ENAMETOOLONG;
    snprintf(ctl->path, sizeof ctl->path, "%s", path);
    int rc = uv_pipe_init(loop, &ctl->listener, 0);
    if (rc != 0)
        return rc;
    ctl->listening = 1;
    ctl->listener.data = ctl;
    /* Private from the start; chmod in case the umask was stricter still
     * (the owner must be able to connect). */
    mode_t old = umask(0177);
    rc = uv_pipe_bind(&ctl->listener, path);
    umask(old);
    if (rc == 0 && chmod(path, 0600) != 0)
        rc = uv_translate_sys_error(errno);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&ctl->listener, CONTROL_MAX_CONNS,
                       on_connection);
    return rc;
}

void control_close(struct control *ctl)
{
    if (ctl->listening) {
        uv_close((uv_handle_t *)&ctl->listener, NULL);
        ctl->listening = 0;
        unlink(ctl->path);
    }
    /* Answer whoever still waits; replies already on their way finish
     * on their own (the loop runs until they are written). */
    struct control_wait *w = ctl->waits;
    while (w != NULL) {
        struct control_wait *next = w->next;
        if (!w->replied && (w->kind == WAIT_NONE || w->kind == WAIT_RELOAD))
            reply(w, CONTROL_ESTOPPING, "the supervisor is stopping", NULL);
        else if (!w->replied)
            check_wait(w, 1);
        w = next;
    }
}
