#include "daemon.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uv.h>

#include "control.h"
#include "dynbuf.h"
#include "exit_codes.h"
#include "fileio.h"
#include "http.h"
#include "log.h"
#include "reloader.h"
#include "supervise.h"
#include "uvsignal.h"

#define REPORT_DEADLINE_MS 60000

/* The running supervisor. */
struct daemon {
    struct herd *h;
    uv_loop_t loop;
    struct supervise sv;
    struct control ctl;
    struct http web; /* when herd.conf's http is on */
    int web_on;
    struct reloader reloader; /* herd reload, SIGHUP */
    int reloader_on;
    uv_signal_t sigterm, sigint, sighup;
    uv_timer_t report_timer;
    int report_fd; /* -1 once reported */
    int pid_fd;
    int shutting_down;
    int closed;
};

static void write_pidfile(struct daemon *d)
{
    assert(d->pid_fd >= 0); /* locked for the supervisor's life */
    struct dynbuf b;
    dynbuf_init(&b, 1 << 20);
    int rc = dynbuf_printf(&b, "supervisor %d\n", (int)getpid());
    for (size_t i = 0; i < d->sv.n && rc == 0; i++)
        if (d->sv.children[i]->pid > 0)
            rc = dynbuf_printf(&b, "%s %d\n", d->sv.children[i]->cfg->name,
                               d->sv.children[i]->pid);
    /* Removed by a reload, still stopping: theirs until they exit. */
    for (const struct child *c = d->sv.retired; c != NULL && rc == 0;
         c = c->next_retired)
        if (c->pid > 0)
            rc = dynbuf_printf(&b, "%s %d\n", c->cfg->name, c->pid);
    if (rc == 0 && ftruncate(d->pid_fd, 0) == 0 &&
        pwrite(d->pid_fd, b.data, b.len, 0) != (ssize_t)b.len)
        log_msg("cannot write %s", d->h->pidfile);
    dynbuf_free(&b);
}

/* Tells `herd start` (waiting in the parent) how the start went. */
static void report(struct daemon *d)
{
    if (d->report_fd < 0)
        return;
    int all_up = 1;
    for (size_t i = 0; i < d->sv.n; i++)
        if (d->sv.children[i]->managed &&
            d->sv.children[i]->state != SUPERVISE_UP)
            all_up = 0;
    struct dynbuf b;
    dynbuf_init(&b, SIZE_MAX);
    int rc = dynbuf_printf(&b, "%d\n", all_up ? 0 : 1);
    if (rc == 0)
        rc = control_status_text(&d->sv, &b);
    if (rc == 0 && d->web_on)
        rc = dynbuf_printf(&b,
                           "\nweb page: http://%s/ ('herd web' prints it with "
                           "the token that changes need)\n",
                           d->web.hosts[0]);
    if (rc == 0 && !all_up)
        rc = dynbuf_printf(&b, "not every server is up; logs are in %s\n",
                           d->h->log_dir);
    /* The starter may be gone: nothing to do about a failed write. */
    if (rc == 0)
        (void)fileio_write_all(d->report_fd, b.data, b.len);
    dynbuf_free(&b);
    if (d->report_fd != STDOUT_FILENO)
        close(d->report_fd);
    else
        fflush(stdout);
    d->report_fd = -1;
    uv_timer_stop(&d->report_timer);
}

static void on_report_timer(uv_timer_t *t)
{
    report(t->data);
}

static void close_everything(struct daemon *d)
{
    if (d->closed)
        return;
    assert(d->shutting_down && supervise_all_down(&d->sv));
    d->closed = 1;
    report(d);
    control_close(&d->ctl); /* answers the web's requests too */
    if (d->reloader_on)
        reloader_close(&d->reloader);
    if (d->web_on)
        http_close(&d->web);
    supervise_close(&d->sv);
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uvsignal_close_ignoring(&d->sighup, SIGHUP);
    uv_close((uv_handle_t *)&d->report_timer, NULL);
    log_msg("supervisor exiting: every server has stopped");
}

static void on_change(struct supervise *sv, void *arg)
{
    (void)sv;
    struct daemon *d = arg;
    write_pidfile(d);
    control_changed(&d->ctl);
    if (d->web_on && !d->closed) /* a server up or down: ask them now */
        watch_poll_now(&d->web.watch);
    if (d->reloader_on && !d->closed)
        reloader_changed(&d->reloader);
    if (!d->shutting_down && supervise_settled(&d->sv))
        report(d);
    if (d->shutting_down && supervise_all_down(&d->sv))
        close_everything(d);
}

static void begin_shutdown(struct daemon *d, const char *why)
{
    if (d->shutting_down)
        return;
    d->shutting_down = 1;
    log_msg("stopping the herd (%s)", why);
    supervise_stop_all(&d->sv);
    on_change(&d->sv, d);
}

static void on_shutdown_request(struct control *ctl)
{
    begin_shutdown(ctl->data, "herd stop");
}

static void on_reload_request(struct control *ctl, unsigned long id,
                              int dry_run)
{
    struct daemon *d = ctl->data;
    reloader_start(&d->reloader, id, dry_run, "herd reload");
}

/* The pid file names the servers of the table as it is now. */
static void on_table(void *arg)
{
    write_pidfile(arg);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct daemon *d = s->data;
    if (signum == SIGHUP) {
        if (!d->shutting_down)
            reloader_start(&d->reloader, 0, 0, "SIGHUP");
        return;
    }
    begin_shutdown(d, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* Takes the pid file's lock: it is held for the supervisor's life, and the
 * kernel drops it when the process dies however it dies, so a leftover
 * file is never mistaken for a running herd. */
static int lock_pidfile(struct daemon *d)
{
    d->pid_fd = fileio_open(d->h->pidfile, O_RDWR | O_CREAT, 0600);
    if (d->pid_fd < 0)
        return -errno;
    int rc = fileio_lock(d->pid_fd);
    if (rc != 0) {
        close(d->pid_fd);
        d->pid_fd = -1;
        return rc;
    }
    return 0;
}

__attribute__((format(printf, 2, 3))) static int
fail_report(int report_fd, const char *fmt, ...)
{
    char msg[512];
    char line[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int n = snprintf(line, sizeof line, "1\nherd: %s\n", msg);
    if (report_fd >= 0 && write(report_fd, line, (size_t)n) < 0)
        fprintf(stderr, "herd: %s\n", msg);
    return HERD_EXIT_FAILURE;
}

/* Before any server starts, the control socket or the web page cannot
 * be served: everything made so far is closed, and herd start is told
 * why. */
__attribute__((format(printf, 2, 3))) static int
abort_start(struct daemon *d, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fail_report(d->report_fd, "%s", msg);
    control_close(&d->ctl);
    if (d->reloader_on)
        reloader_close(&d->reloader);
    supervise_close(&d->sv);
    uv_run(&d->loop, UV_RUN_DEFAULT);
    if (d->reloader_on)
        reloader_free(&d->reloader);
    supervise_free(&d->sv);
    uv_loop_close(&d->loop);
    unlink(d->h->pidfile);
    close(d->pid_fd);
    log_close();
    return HERD_EXIT_FAILURE;
}

int daemon_run(struct herd *h, const char *only, int report_fd, int foreground)
{
    static struct daemon d;
    memset(&d, 0, sizeof d);
    d.h = h;
    d.report_fd = report_fd;
    int lrc = lock_pidfile(&d);
    if (lrc == -EAGAIN || lrc == -EACCES)
        return fail_report(report_fd,
                           "another supervisor holds %s: the herd is "
                           "already running",
                           h->pidfile);
    if (lrc != 0)
        return fail_report(report_fd, "cannot open %s: %s", h->pidfile,
                           fileio_strerror(-lrc));
    char logpath[PATH_MAX + 16];
    snprintf(logpath, sizeof logpath, "%s/herd.log", h->log_dir);
    /* Rotated to herd.log.1 past log_max_mb, like the servers' logs. */
    uint64_t max_mb = h->cfg.log_max_mb;
    log_set_max_bytes(max_mb > (UINT64_MAX >> 20) ? 0 : max_mb << 20);
    if (log_open(foreground ? NULL : logpath) != 0)
        return fail_report(report_fd, "cannot open %s", logpath);
    signal(SIGPIPE, SIG_IGN);
    /* Until the loop watches it, a SIGHUP (a reload asked too early) is
     * no reason to die: herd.conf is being read now anyway. */
    signal(SIGHUP, SIG_IGN);
    uv_loop_init(&d.loop);
    char err[1024] = "";
    int rc = supervise_init(&d.sv, &d.loop, &h->cfg, h->conf, h->server_bin,
                            h->log_dir, h->data_dir, only, err, sizeof err);
    if (rc == 0 && h->secret_file[0] != '\0') {
        d.sv.secret_file = strdup(h->secret_file);
        if (d.sv.secret_file == NULL) {
            snprintf(err, sizeof err, "out of memory");
            rc = HERD_EXIT_OSERR;
        }
    }
    if (rc != 0) {
        supervise_close(&d.sv);
        uv_run(&d.loop, UV_RUN_DEFAULT);
        supervise_free(&d.sv);
        uv_loop_close(&d.loop);
        log_close();
        fail_report(report_fd, "%s", err);
        return rc;
    }
    unlink(h->sock); /* stale: the lock says no supervisor owns it */
    rc = control_init(&d.ctl, &d.loop, &d.sv, h->sock);
    if (rc != 0) {
        log_msg("cannot listen on %s: %s", h->sock, uv_strerror(rc));
        return abort_start(&d, "cannot listen on the control socket %s",
                           h->sock);
    }
    rc = reloader_init(&d.reloader, &d.loop, h, &d.sv, &d.ctl,
                       h->http_on ? &d.web : NULL, on_table, &d);
    if (rc != 0) {
        log_msg("cannot set up reloads: %s", uv_strerror(rc));
        return abort_start(&d, "cannot set up reloads: %s", uv_strerror(rc));
    }
    d.reloader_on = 1;
    if (h->http_on &&
        http_start(&d.web, &d.loop, h, &d.sv, &d.ctl, err, sizeof err) != 0) {
        log_msg("%s", err);
        return abort_start(&d, "%s", err);
    }
    d.web_on = h->http_on;
    d.ctl.on_shutdown = on_shutdown_request;
    d.ctl.on_reload = on_reload_request;
    d.ctl.data = &d;
    uv_signal_init(&d.loop, &d.sigterm);
    uv_signal_init(&d.loop, &d.sigint);
    uv_signal_init(&d.loop, &d.sighup);
    d.sigterm.data = d.sigint.data = d.sighup.data = &d;
    uv_signal_start(&d.sigterm, on_signal, SIGTERM);
    uv_signal_start(&d.sigint, on_signal, SIGINT);
    uv_signal_start(&d.sighup, on_signal, SIGHUP);
    uv_timer_init(&d.loop, &d.report_timer);
    d.report_timer.data = &d;
    uv_timer_start(&d.report_timer, on_report_timer, REPORT_DEADLINE_MS, 0);
    log_msg("supervisor %d starting the herd of %s (server %s)", (int)getpid(),
            h->conf, h->server_bin);
    if (!config_connected(&h->cfg))
        log_msg("warning: the graph of %s is not connected: some servers "
                "never hear of some updates",
                h->conf);
    d.sv.on_change = on_change;
    d.sv.change_arg = &d;
    write_pidfile(&d);
    supervise_start_all(&d.sv);
    log_flush();
    /* The log is flushed by a prepare handle in the servers; here state
     * changes are rare, so flush after each loop turn. */
    while (uv_run(&d.loop, UV_RUN_ONCE) != 0)
        log_flush();
    if (d.web_on)
        http_free(&d.web);
    reloader_free(&d.reloader);
    supervise_free(&d.sv);
    int leak = uv_loop_close(&d.loop);
    if (leak != 0)
        log_msg("internal error: handles left open at exit");
    unlink(h->pidfile);
    close(d.pid_fd);
    log_close();
    return leak != 0 ? HERD_EXIT_SOFTWARE : 0;
}

/* The child of daemon_start_background: a session of its own, stdin and
 * stdout on /dev/null, stderr to LOG_DIR/herd.log; runs the supervisor,
 * which reports on report_fd. */
__attribute__((noreturn)) static void
run_detached(struct herd *h, const char *only, int report_fd)
{
    setsid();
    int null = open("/dev/null", O_RDWR);
    char logpath[PATH_MAX + 16];
    snprintf(logpath, sizeof logpath, "%s/herd.log", h->log_dir);
    int errfd = fileio_open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (errfd < 0)
        _exit(fail_report(report_fd, "cannot open %s: %s", logpath,
                          fileio_strerror(errno)));
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(errfd >= 0 ? errfd : null, STDERR_FILENO);
        if (null > STDERR_FILENO)
            close(null);
    }
    if (errfd > STDERR_FILENO)
        close(errfd);
    fcntl(report_fd, F_SETFD, FD_CLOEXEC);
    _exit(daemon_run(h, only, report_fd, 0));
}

/* Forks the supervisor into the background and waits for its report. */
int daemon_start_background(struct herd *h, const char *only)
{
    int pfd[2];
    if (pipe(pfd) != 0) {
        fprintf(stderr, "herd: pipe: %s\n", strerror(errno));
        return HERD_EXIT_OSERR;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "herd: fork: %s\n", strerror(errno));
        return HERD_EXIT_OSERR;
    }
    if (pid == 0) {
        close(pfd[0]);
        run_detached(h, only, pfd[1]);
    }
    close(pfd[1]);
    struct dynbuf in;
    dynbuf_init(&in, 1 << 20);
    fileio_read_to_end(pfd[0], &in, -1);
    close(pfd[0]);
    const char *nl = in.data ? memchr(in.data, '\n', in.len) : NULL;
    if (nl == NULL) {
        int status = 0;
        waitpid(pid, &status, WNOHANG);
        fprintf(stderr,
                "herd: the supervisor died while starting; see %s/"
                "herd.log\n",
                h->log_dir);
        dynbuf_free(&in);
        return HERD_EXIT_FAILURE;
    }
    int code = in.data[0] == '0' ? 0 : HERD_EXIT_FAILURE;
    const char *body = nl + 1;
    size_t blen = in.len - (size_t)(body - in.data);
    fwrite(body, 1, blen, code == 0 ? stdout : stderr);
    dynbuf_free(&in);
    return code;
}
