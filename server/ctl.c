/* struct ucred and SO_PEERCRED are Linux's. */
#define _GNU_SOURCE
#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "dynbuf.h"
#include "exit_codes.h"
#include "fileio.h"
#include "log.h"
#include "peers.h"
#include "reload.h"
#include "server.h"

struct ctl_conn {
    struct ctl *ctl;
    uv_pipe_t pipe;
    uv_timer_t timer; /* silence */
    int handles;      /* open handles: freed when the last one closes */
    int closing;
    int eof;         /* close once the replies are written */
    unsigned writes; /* uv_write requests in flight */
    char in[CTL_LINE_MAX + 1];
    size_t len;
    struct ctl_conn *prev, *next;
};

struct ctl_write {
    uv_write_t req;
    struct ctl_conn *c;
    char data[];
};

/* ---- the cuts file -------------------------------------------------- */

/* The names of the cut neighbours, one a line, into b. Returns 0 or
 * ENOMEM. */
static int cut_names(struct server *srv, struct dynbuf *b)
{
    for (size_t i = 0; i < peers_count(&srv->peers); i++) {
        struct peers_status st;
        peers_status(&srv->peers, i, &st);
        if (st.cut && dynbuf_printf(b, "%s\n", st.name) != 0)
            return ENOMEM;
    }
    return 0;
}

/* Writes len bytes of data to tmp, a new file (0600, never written
 * through a link planted there), fsyncs it and renames it to path; on a
 * failure tmp is removed. Returns 0 or an errno value. */
static int replace_file(const char *tmp, const char *path, const void *data,
                        size_t len)
{
    int fd = unlink(tmp) != 0 && errno != ENOENT
                 ? -1
                 : fileio_open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        return errno;
    int err = 0;
    if (fileio_write_all(fd, data, len) != 0 || fsync(fd) != 0)
        err = errno ? errno : EIO;
    if (close(fd) != 0 && err == 0)
        err = errno;
    if (err == 0 && rename(tmp, path) != 0)
        err = errno;
    if (err != 0)
        unlink(tmp);
    return err;
}

/* Replaces DATA_DIR/cuts with the names of the cut neighbours (write a
 * temporary file, fsync, rename, fsync the directory); no cut: no file.
 * Returns 0 or an errno value. */
static int save_cuts(struct ctl *ctl)
{
    if (ctl->cuts_path == NULL)
        return 0;
    struct dynbuf b;
    dynbuf_init(&b, SIZE_MAX);
    if (cut_names(ctl->srv, &b) != 0) {
        dynbuf_free(&b);
        return ENOMEM;
    }
    int err = 0;
    if (b.len == 0) {
        if (unlink(ctl->cuts_path) != 0 && errno != ENOENT)
            err = errno;
        dynbuf_free(&b);
        return err;
    }
    size_t plen = strlen(ctl->cuts_path);
    char *tmp = malloc(plen + 5);
    if (tmp == NULL) {
        dynbuf_free(&b);
        return ENOMEM;
    }
    memcpy(tmp, ctl->cuts_path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    err = replace_file(tmp, ctl->cuts_path, b.data, b.len);
    if (err == 0) {
        /* The rename itself must reach the disk. */
        fileio_sync_dir(ctl->srv->opt->data_dir);
    }
    free(tmp);
    dynbuf_free(&b);
    return err;
}

int ctl_save_cuts(struct server *srv)
{
    return save_cuts(&srv->ctl);
}

/* Cuts the links that the cuts file fp names, one a line, and lists
 * them in names; a name that is no neighbour's is ignored, with a word
 * in the log. Returns 0, or HERD_EXIT_OSERR when names ran out of
 * memory. */
static int read_cuts(struct server *srv, FILE *fp, struct dynbuf *names)
{
    const struct ctl *ctl = &srv->ctl;
    char line[256];
    int rc = 0;
    while (fgets(line, sizeof line, fp) != NULL) {
        size_t n = strlen(line);
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' ||
                         line[n - 1] == ' ' || line[n - 1] == '\t'))
            line[--n] = '\0';
        if (n == 0)
            continue;
        if (peers_set_cut(&srv->peers, line, 1) != 0) {
            char esc[128];
            log_escape(esc, sizeof esc, line, n);
            log_msg("%s names '%s', which is not a neighbour: ignored",
                    ctl->cuts_path, esc);
            continue;
        }
        if (dynbuf_printf(names, "%s%s", names->len ? ", " : "", line) != 0)
            rc = HERD_EXIT_OSERR;
    }
    return rc;
}

int ctl_load_cuts(struct server *srv)
{
    struct ctl *ctl = &srv->ctl;
    ctl->srv = srv;
    const char *dir = srv->opt->data_dir;
    if (dir == NULL) {
        if (srv->opt->control_path != NULL)
            log_msg("no data directory: links cut on the control socket "
                    "stay cut until this server stops, not across restarts");
        return 0;
    }
    size_t dlen = strlen(dir);
    ctl->cuts_path = malloc(dlen + sizeof "/cuts");
    if (ctl->cuts_path == NULL) {
        fprintf(stderr, "herd-server: out of memory\n");
        return HERD_EXIT_OSERR;
    }
    memcpy(ctl->cuts_path, dir, dlen);
    memcpy(ctl->cuts_path + dlen, "/cuts", sizeof "/cuts");
    int cfd = fileio_open(ctl->cuts_path, O_RDONLY, 0);
    FILE *fp = cfd < 0 ? NULL : fdopen(cfd, "r");
    if (fp == NULL) {
        if (errno == ENOENT)
            return 0;
        fprintf(stderr, "herd-server: cannot read %s: %s\n", ctl->cuts_path,
                fileio_strerror(errno));
        if (cfd >= 0)
            close(cfd);
        return HERD_EXIT_CONFIG;
    }
    struct dynbuf names;
    dynbuf_init(&names, (size_t)64 * 1024);
    int rc = read_cuts(srv, fp, &names);
    if (ferror(fp)) {
        fprintf(stderr, "herd-server: cannot read %s: %s\n", ctl->cuts_path,
                strerror(errno));
        rc = HERD_EXIT_CONFIG;
    }
    fclose(fp);
    if (rc == 0 && names.len > 0)
        log_msg("links cut by the operator (kept in %s until healed): %.*s",
                ctl->cuts_path, (int)names.len, names.data);
    dynbuf_free(&names);
    return rc;
}

/* ---- connections ----------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h)
{
    struct ctl_conn *c = h->data;
    if (--c->handles == 0)
        free(c);
}

static void ctl_conn_close(struct ctl_conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    struct ctl *ctl = c->ctl;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        ctl->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    ctl->nconns--;
    uv_close((uv_handle_t *)&c->pipe, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void on_write(uv_write_t *req, int status)
{
    struct ctl_write *w = (struct ctl_write *)req;
    struct ctl_conn *c = w->c;
    free(w);
    c->writes--;
    if (status < 0 || (c->eof && c->writes == 0))
        ctl_conn_close(c);
}

/* Queues data and a newline. */
static void send_line(struct ctl_conn *c, const char *data, size_t n)
{
    if (c->closing)
        return;
    uv_stream_t *s = (uv_stream_t *)&c->pipe;
    if (uv_stream_get_write_queue_size(s) + n > CTL_MAX_OUTPUT) {
        ctl_conn_close(c); /* a reader that does not read */
        return;
    }
    struct ctl_write *w = malloc(sizeof *w + n + 1);
    if (w == NULL) {
        ctl_conn_close(c);
        return;
    }
    w->c = c;
    memcpy(w->data, data, n);
    w->data[n] = '\n';
    uv_buf_t b = uv_buf_init(w->data, (unsigned)(n + 1));
    if (uv_write(&w->req, s, &b, 1, on_write) != 0) {
        free(w);
        ctl_conn_close(c);
        return;
    }
    c->writes++;
}

static void send_str(struct ctl_conn *c, const char *s)
{
    send_line(c, s, strlen(s));
}

/* ---- status ----------------------------------------------------------- */

/* Counters of client lines and connections, and of neighbours' records
 * dropped (ctl.h). */
static json_t *status_counters(const struct server *srv)
{
    const struct server_stats *st = &srv->stats;
    return json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I}", "iamat", (json_int_t)st->iamat,
        "whatsat", (json_int_t)st->whatsat, "invalid", (json_int_t)st->invalid,
        "stale",
        (json_int_t)st->peer_stale + (json_int_t)srv->peers.stats.stale,
        "refused", (json_int_t)st->refused + (json_int_t)srv->peers.hs_evicted,
        "connections", (json_int_t)st->connections);
}

static json_t *status_places(const struct server *srv)
{
    const struct places_stats *st = places_get_stats(&srv->places);
    json_t *errors = json_object();
    for (size_t i = 0; errors != NULL && i < st->nerrors; i++)
        if (json_object_set_new(errors, st->errors[i].word,
                                json_integer((json_int_t)st->errors[i].n)) !=
            0) {
            json_decref(errors);
            errors = NULL;
        }
    return json_pack("{s:s, s:I, s:I, s:I, s:I, s:o, s:o}", "provider",
                     places_provider_name(&srv->places), "requests",
                     (json_int_t)st->searches, "cache_hits",
                     (json_int_t)st->cache_hits, "cache_misses",
                     (json_int_t)st->cache_misses, "in_flight",
                     (json_int_t)places_in_flight(&srv->places), "errors",
                     errors, "latency", hist_json(&st->latency));
}

/* The write-ahead log; all 0 without a data directory. */
static json_t *status_wal(const struct server *srv)
{
    const struct wal *w = &srv->wal;
    int on = srv->has_wal;
    return json_pack("{s:I, s:I, s:I, s:I}", "bytes",
                     (json_int_t)(on ? w->size : 0), "records",
                     (json_int_t)(on ? w->appended : 0), "fsyncs",
                     (json_int_t)(on ? w->fsyncs : 0), "compactions",
                     (json_int_t)(on ? w->compactions : 0));
}

static json_t *status_neighbour(const struct peers_status *st)
{
    return json_pack(
        "{s:s, s:s, s:b, s:I, s:s, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
        "s:I, s:I, s:b}",
        "name", st->name, "state", st->state, "cut", st->cut, "since_ms",
        (json_int_t)st->since_ms, "why", st->why, "last_heard_ms",
        st->heard ? json_integer((json_int_t)st->last_heard_ms) : json_null(),
        "rtt_us", (json_int_t)(st->rtt_ns / 1000), "sent", (json_int_t)st->sent,
        "received", (json_int_t)st->received, "bytes_sent",
        (json_int_t)st->bytes_sent, "bytes_received",
        (json_int_t)st->bytes_received, "queued", (json_int_t)st->queued,
        "catchups", (json_int_t)st->catchups, "catchup_records",
        (json_int_t)st->catchup_records, "catchup_bytes",
        (json_int_t)st->catchup_bytes, "synced", st->synced);
}

static json_t *status_neighbours(const struct server *srv)
{
    json_t *nb = json_array();
    for (size_t i = 0; nb != NULL && i < peers_count(&srv->peers); i++) {
        struct peers_status st;
        peers_status(&srv->peers, i, &st);
        if (json_array_append_new(nb, status_neighbour(&st)) != 0) {
            json_decref(nb);
            nb = NULL;
        }
    }
    return nb;
}

/* The configuration's loads: when, how many reloads, the last one's
 * outcome. */
static json_t *status_config(const struct server *srv)
{
    const struct server_reloads *r = &srv->reloads;
    return json_pack("{s:I, s:I, s:o}", "loaded_ms",
                     (json_int_t)((uv_hrtime() - r->loaded_ns) / 1000000),
                     "reloads", (json_int_t)r->count, "last_reload",
                     r->last[0] != '\0' ? json_string(r->last) : json_null());
}

/* The status line (ctl.h): read from what each module counts, nothing
 * kept for it. */
static void reply_status(struct ctl_conn *c)
{
    struct server *srv = c->ctl->srv;
    char epoch[17];
    char digest[17];
    snprintf(epoch, sizeof epoch, "%016llx", (unsigned long long)srv->epoch);
    snprintf(digest, sizeof digest, "%016llx",
             (unsigned long long)srv->store.digest);
    json_t *root = json_pack(
        "{s:s, s:i, s:s, s:I, s:I, s:s, s:I, s:o, s:o, s:o, s:o, s:o, s:o}",
        "name", srv->opt->name, "pid", (int)getpid(), "epoch", epoch,
        "uptime_ms", (json_int_t)((uv_hrtime() - srv->started_ns) / 1000000),
        "records", (json_int_t)srv->store.count, "digest", digest, "clients",
        (json_int_t)srv->pool.clients, "counters", status_counters(srv),
        "places", status_places(srv), "whatsat_latency",
        hist_json(&srv->stats.whatsat_latency), "wal", status_wal(srv),
        "neighbours", status_neighbours(srv), "config", status_config(srv));
    char *s =
        root ? json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(root);
    if (s == NULL) {
        send_str(c, "error out of memory");
        return;
    }
    send_str(c, s);
    free(s);
}

static void reply_cut(struct ctl_conn *c, int cut, char **words, int n)
{
    struct ctl *ctl = c->ctl;
    struct server *srv = ctl->srv;
    const char *verb = cut ? "cut" : "heal";
    struct dynbuf r;
    dynbuf_init(&r, (size_t)64 * 1024);
    int rc = dynbuf_printf(&r, "ok %s", verb);
    if (n == 1) {
        for (size_t i = 0; i < peers_count(&srv->peers); i++) {
            struct peers_status st;
            peers_status(&srv->peers, i, &st);
            peers_set_cut(&srv->peers, st.name, cut);
            if (rc == 0)
                rc = dynbuf_printf(&r, " %s", st.name);
        }
    } else if (n == 2) {
        if (peers_set_cut(&srv->peers, words[1], cut) != 0) {
            char esc[160];
            char msg[256];
            log_escape(esc, sizeof esc, words[1], strlen(words[1]));
            snprintf(msg, sizeof msg, "error %s has no neighbour named '%s'",
                     srv->opt->name, esc);
            send_str(c, msg);
            dynbuf_free(&r);
            return;
        }
        rc = dynbuf_printf(&r, " %s", words[1]);
    } else {
        char msg[64];
        snprintf(msg, sizeof msg, "error %s takes at most one name", verb);
        send_str(c, msg);
        dynbuf_free(&r);
        return;
    }
    int err = save_cuts(ctl);
    if (err != 0) {
        char msg[600];
        snprintf(msg, sizeof msg,
                 "error %s done, but %s could not be written (%s): it will "
                 "not outlive a restart",
                 verb, ctl->cuts_path, strerror(err));
        log_msg("control: %s", msg + 6);
        send_str(c, msg);
    } else if (rc == 0) {
        send_line(c, r.data, r.len);
    } else {
        send_str(c, "error out of memory");
    }
    dynbuf_free(&r);
}

static void execute(struct ctl_conn *c, char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\r')
        line[--len] = '\0';
    char *words[4];
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(line, " \t", &save); t != NULL;
         t = strtok_r(NULL, " \t", &save)) {
        if (n == 3) {
            n++;
            break;
        }
        words[n++] = t;
    }
    if (n == 0) {
        send_str(
            c, "error empty command (cut [NAME], heal [NAME], status, reload)");
        return;
    }
    if (strcmp(words[0], "status") == 0 && n == 1) {
        reply_status(c);
        return;
    }
    if (strcmp(words[0], "reload") == 0 && n == 1) {
        char *r = reload_run(c->ctl->srv, "control");
        send_str(c, r != NULL ? r : "error out of memory");
        free(r);
        return;
    }
    int cut = strcmp(words[0], "cut") == 0;
    if (cut || strcmp(words[0], "heal") == 0) {
        char esc[160];
        log_escape(esc, sizeof esc, n > 1 ? words[1] : "",
                   n > 1 ? strlen(words[1]) : 0);
        log_msg("control: %s%s%s", words[0], n > 1 ? " " : "", esc);
        reply_cut(c, cut, words, n > 3 ? 3 : n);
        return;
    }
    char esc[96];
    char msg[200];
    log_escape(esc, sizeof esc, words[0], strlen(words[0]));
    snprintf(msg, sizeof msg,
             "error unknown command '%s' (cut [NAME], heal [NAME], status, "
             "reload)",
             esc);
    send_str(c, msg);
}

/* CTL_IDLE_MS without a complete command (bytes that end no line do not
 * count: a connection trickling them is closed all the same). */
static void on_idle(uv_timer_t *t)
{
    struct ctl_conn *c = t->data;
    log_msg("control socket: closed a connection that sent no complete "
            "command for %d ms",
            CTL_IDLE_MS);
    ctl_conn_close(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct ctl_conn *c = h->data;
    buf->base = c->in + c->len;
    buf->len = CTL_LINE_MAX - c->len;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    struct ctl_conn *c = s->data;
    if (nread == 0 || c->closing)
        return;
    if (nread < 0) {
        uv_read_stop(s);
        if (nread == UV_EOF && c->len > 0) { /* a last line without \n */
            c->in[c->len] = '\0';
            execute(c, c->in, c->len);
            c->len = 0;
        }
        c->eof = 1;
        if (c->writes == 0)
            ctl_conn_close(c);
        return;
    }
    c->len += (size_t)nread;
    size_t start = 0;
    for (;;) {
        char *nl = memchr(c->in + start, '\n', c->len - start);
        if (nl == NULL)
            break;
        uv_timer_again(&c->timer); /* a command: the clock starts again */
        *nl = '\0';
        execute(c, c->in + start, (size_t)(nl - (c->in + start)));
        start = (size_t)(nl - c->in) + 1;
        if (c->closing)
            return;
    }
    memmove(c->in, c->in + start, c->len - start);
    c->len -= start;
    if (c->len == CTL_LINE_MAX) {
        send_str(c, "error line too long");
        uv_read_stop(s);
        c->eof = 1;
        if (c->writes == 0)
            ctl_conn_close(c);
    }
}

/* Best effort, for a connection about to be closed: a short line, copied
 * because a uv_buf_t's base is not const (uv_try_write takes what it
 * takes at once). */
static void say_and_close(struct ctl_conn *c, const char *line)
{
    char copy[64];
    snprintf(copy, sizeof copy, "%s", line);
    uv_buf_t b = uv_buf_init(copy, (unsigned)strlen(copy));
    (void)uv_try_write((uv_stream_t *)&c->pipe, &b, 1);
    ctl_conn_close(c);
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct ctl *ctl = listener->data;
    if (status < 0) {
        log_msg("control socket: accept failed: %s", uv_strerror(status));
        return;
    }
    struct ctl_conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        log_msg("control socket: out of memory");
        return;
    }
    uv_loop_t *loop = &ctl->srv->loop;
    c->ctl = ctl;
    uv_pipe_init(loop, &c->pipe, 0);
    uv_timer_init(loop, &c->timer);
    c->pipe.data = c->timer.data = c;
    c->handles = 2;
    c->next = ctl->conns;
    if (c->next != NULL)
        c->next->prev = c;
    ctl->conns = c;
    ctl->nconns++;
    if (uv_accept(listener, (uv_stream_t *)&c->pipe) != 0) {
        ctl_conn_close(c);
        return;
    }
    uv_os_fd_t fd;
    struct ucred cred;
    socklen_t clen = sizeof cred;
    if (uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0 ||
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0 ||
        clen != sizeof cred) {
        log_msg("control socket: cannot tell who connected: refused");
        ctl_conn_close(c);
        return;
    }
    if (cred.uid != geteuid() && cred.uid != 0) {
        log_msg("control socket: refused a connection from uid %u (pid %d): "
                "only uid %u or root may connect",
                (unsigned)cred.uid, (int)cred.pid, (unsigned)geteuid());
        say_and_close(c, "error permission denied\n");
        return;
    }
    if (ctl->nconns > CTL_MAX_CONNS) {
        log_msg("control socket: %d connections open: refused one more",
                CTL_MAX_CONNS);
        say_and_close(c, "error too many control connections\n");
        return;
    }
    if (uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read) != 0) {
        ctl_conn_close(c);
        return;
    }
    uv_timer_start(&c->timer, on_idle, CTL_IDLE_MS, CTL_IDLE_MS);
}

/* ---- the listener ---------------------------------------------------- */

/* A socket file at path: left by a server that died (nobody accepts: it
 * is removed) or in use (the start fails). Returns 0 or an exit code. */
static int clear_stale(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        fprintf(stderr, "herd-server: control socket %s: %s\n", path,
                strerror(errno));
        return HERD_EXIT_CONFIG;
    }
    if (!S_ISSOCK(st.st_mode)) {
        fprintf(stderr,
                "herd-server: control socket %s: exists and is not a "
                "socket\n",
                path);
        return HERD_EXIT_CONFIG;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        fprintf(stderr, "herd-server: socket: %s\n", strerror(errno));
        return HERD_EXIT_OSERR;
    }
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path) + 1); /* length checked */
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    int e = errno;
    close(fd);
    if (rc != 0 && e == ECONNREFUSED) {
        if (unlink(path) != 0 && errno != ENOENT) {
            fprintf(stderr,
                    "herd-server: cannot remove the stale control socket "
                    "%s: %s\n",
                    path, strerror(errno));
            return HERD_EXIT_CONFIG;
        }
        log_msg("removed the stale control socket %s (left by a server "
                "that did not stop cleanly)",
                path);
        return 0;
    }
    if (rc == 0 || e == EAGAIN || e == EINPROGRESS) {
        fprintf(stderr,
                "herd-server: control socket %s is in use by a running "
                "process (another server of this name?)\n",
                path);
        return HERD_EXIT_CONFIG;
    }
    fprintf(stderr, "herd-server: control socket %s: %s\n", path, strerror(e));
    return HERD_EXIT_CONFIG;
}

int ctl_start(struct server *srv, const char *path)
{
    struct ctl *ctl = &srv->ctl;
    ctl->srv = srv;
    if (path == NULL)
        return 0;
    if (strlen(path) >= sizeof ctl->path) {
        fprintf(stderr,
                "herd-server: control socket path %s is too long for a Unix "
                "socket (at most %zu bytes): use a shorter run_dir or "
                "--control\n",
                path, sizeof ctl->path - 1);
        return HERD_EXIT_CONFIG;
    }
    int code = clear_stale(path);
    if (code != 0)
        return code;
    snprintf(ctl->path, sizeof ctl->path, "%s", path);
    uv_pipe_init(&srv->loop, &ctl->listener, 0);
    ctl->listener.data = ctl;
    ctl->listening = 1;
    /* Made private from the start: no moment in which another user could
     * connect; chmod in case the umask was stricter still. */
    mode_t old = umask(0177);
    int rc = uv_pipe_bind(&ctl->listener, path);
    umask(old);
    struct stat st;
    if (rc == 0 && stat(path, &st) != 0)
        rc = uv_translate_sys_error(errno);
    if (rc == 0) {
        ctl->dev = st.st_dev;
        ctl->ino = st.st_ino;
        if (chmod(path, 0600) != 0)
            rc = uv_translate_sys_error(errno);
    }
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&ctl->listener, CTL_MAX_CONNS,
                       on_connection);
    if (rc == UV_EACCES) { /* libuv says so for a missing directory too */
        char dir[CTL_PATH_MAX];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash != NULL && slash != dir) {
            *slash = '\0';
            if (stat(dir, &st) != 0 && errno == ENOENT)
                rc = UV_ENOENT;
        }
    }
    if (rc != 0) {
        fprintf(stderr,
                "herd-server: cannot listen on control socket %s: "
                "%s\n",
                path, uv_strerror(rc));
        ctl_close(srv);
        return HERD_EXIT_CONFIG;
    }
    log_msg("control socket %s (cut, heal, status, reload)", path);
    return 0;
}

void ctl_close(struct server *srv)
{
    struct ctl *ctl = &srv->ctl;
    if (ctl->listening) {
        ctl->listening = 0;
        uv_close((uv_handle_t *)&ctl->listener, NULL);
        /* Only the file we made: not one a later server put there. */
        struct stat st;
        if (ctl->ino != 0 && stat(ctl->path, &st) == 0 &&
            st.st_dev == ctl->dev && st.st_ino == ctl->ino)
            unlink(ctl->path);
    }
    while (ctl->conns != NULL)
        ctl_conn_close(ctl->conns);
}

void ctl_free(struct server *srv)
{
    free(srv->ctl.cuts_path);
    srv->ctl.cuts_path = NULL;
}
