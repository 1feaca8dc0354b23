/* herd: starts, watches, restarts and stops the herd of herd.conf. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "config.h"
#include "control.h"
#include "dynbuf.h"
#include "exit_codes.h"
#include "fileio.h"
#include "log.h"
#include "strparse.h"
#include "supervise.h"

#define REPORT_DEADLINE_MS 60000
#define CLIENT_TIMEOUT_MS 90000

static const char usage_text[] =
    "usage: herd [-c FILE] COMMAND [ARGS]\n"
    "\n"
    "Runs the herd described by herd.conf (default ./herd.conf, or\n"
    "$HERD_CONF): one herd-server per server entry, restarted when it dies.\n"
    "\n"
    "commands:\n"
    "  start [--foreground] [--only NAME,...]\n"
    "                      start the herd; returns once every server is up\n"
    "                      (the supervisor stays in the background)\n"
    "  start NAME...       start servers of the running herd\n"
    "  stop                stop the whole herd and its supervisor\n"
    "  stop NAME...        stop servers and keep them down\n"
    "  restart NAME...     stop, then start servers\n"
    "  kill NAME [SIGNAL]  send a signal (default KILL), as a crash would;\n"
    "                      the server is restarted by the usual policy\n"
    "  status [--json]     state, pid, address, uptime, restarts, last exit;\n"
    "                      then each link: up (round trip), down, cut\n"
    "  cut A B | cut A     cut the link A - B, or every link of A: closed,\n"
    "                      neither dialled nor accepted (across restarts)\n"
    "                      until healed\n"
    "  heal [A [B]]        heal the link A - B, every link of A, or every\n"
    "                      link of the herd\n"
    "  help [COMMAND]      this text, or a command's\n"
    "\n"
    "Exit status: 0 done, 1 failed, 64 bad usage, 78 bad herd.conf.\n";

static const struct {
    const char *name;
    const char *text;
} command_help[] = {
    {"start",
     "usage: herd start [--foreground] [--only NAME,...]\n"
     "       herd start NAME...\n"
     "\n"
     "Without names: reads herd.conf, spawns one herd-server per server,\n"
     "waits until each says it is listening, prints the status table and\n"
     "returns, leaving the supervisor running. --foreground keeps it\n"
     "attached (logs on stderr; Ctrl-C stops the herd). --only runs just\n"
     "the named servers (one supervisor per machine of a spread herd).\n"
     "With names: starts those servers of the running herd.\n"},
    {"stop", "usage: herd stop [NAME...]\n"
             "\n"
             "Without names: SIGTERM to every server, SIGKILL after the grace\n"
             "period, then the supervisor exits. With names: stops those\n"
             "servers and keeps them down until 'herd start NAME'.\n"},
    {"restart", "usage: herd restart NAME...\n"
                "\n"
                "Stops the servers, then starts them again.\n"},
    {"kill", "usage: herd kill NAME [SIGNAL]\n"
             "\n"
             "Sends SIGNAL (a name like KILL, TERM, STOP, CONT, or a number;\n"
             "default KILL) to the server. The supervisor treats the exit like\n"
             "a crash and restarts it by its policy.\n"},
    {"status", "usage: herd status [--json]\n"
               "\n"
               "Per server: name, state (starting, up, stopping, down,\n"
               "failed), pid, address, uptime, restart count, last exit.\n"
               "Then per link of herd.conf, as its two servers see it on\n"
               "their control sockets: up (with the heartbeat's round\n"
               "trip), down, cut, or unknown when neither answers within\n"
               "a second. --json adds \"links\" and each server's records\n"
               "and digest (equal digests: equal records).\n"},
    {"cut", "usage: herd cut A B\n"
            "       herd cut A\n"
            "\n"
            "Cuts the link A - B of herd.conf (tells A and B), or every\n"
            "link of A (tells A and each of its neighbours), through each\n"
            "server's control socket (RUN_DIR/NAME.sock). A cut link is\n"
            "closed and neither dialled nor accepted until 'herd heal';\n"
            "each server keeps its cuts in its data directory, so they\n"
            "outlive a restart. Every server concerned must be running:\n"
            "if one does not answer, nothing is changed. Updates keep\n"
            "flowing around a cut where the graph allows: two sides with\n"
            "no link between them each go on alone (a split brain), and\n"
            "catch up when healed.\n"},
    {"heal", "usage: herd heal A B\n"
             "       herd heal A\n"
             "       herd heal\n"
             "\n"
             "Heals the link A - B, every link of A, or every link of every\n"
             "server: the link is dialled again at once and the two ends\n"
             "catch up. Every server concerned must be running: if one\n"
             "does not answer, nothing is changed.\n"},
};

static const struct {
    const char *name;
    int num;
} signals[] = {
    {"KILL", SIGKILL}, {"TERM", SIGTERM}, {"INT", SIGINT},
    {"HUP", SIGHUP},   {"STOP", SIGSTOP}, {"CONT", SIGCONT},
    {"QUIT", SIGQUIT}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2},
    {"SEGV", SIGSEGV}, {"ABRT", SIGABRT},
};

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt,
                                                             ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("herd: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (see herd --help)\n", stderr);
    va_end(ap);
    return HERD_EXIT_USAGE;
}

static int print_help(const char *cmd)
{
    for (size_t i = 0; i < sizeof command_help / sizeof command_help[0]; i++)
        if (cmd != NULL && strcmp(cmd, command_help[i].name) == 0) {
            fputs(command_help[i].text, stdout);
            return 0;
        }
    if (cmd != NULL)
        return usage_error("no command '%s'", cmd);
    fputs(usage_text, stdout);
    return 0;
}

/* Everything a command needs to know about the herd. */
struct herd {
    struct config cfg;
    char conf[PATH_MAX];
    char run_dir[PATH_MAX];
    char log_dir[PATH_MAX];
    char data_dir[PATH_MAX];
    char sock[PATH_MAX];
    char pidfile[PATH_MAX];
    char server_bin[PATH_MAX];
    char secret_file[PATH_MAX];
};

/* out = a "/" b; -1 when it does not fit. */
static int join(char *out, size_t cap, const char *a, const char *b)
{
    size_t la = strlen(a);
    size_t lb = strlen(b);
    if (la + lb + 2 > cap)
        return -1;
    memcpy(out, a, la);
    out[la] = '/';
    memcpy(out + la + 1, b, lb + 1);
    return 0;
}

/* A secret must be ours alone (fileio_open_secret): a regular file, not a
 * symbolic link, owned by the effective uid, mode 0600 or tighter. The
 * servers check it again when they read it. */
static int check_secret(const char *path)
{
    char why[FILEIO_ERR_MAX];
    int fd = fileio_open_secret(path, why, sizeof why);
    if (fd < 0) {
        fprintf(stderr, "herd: refusing secret file %s: %s\n", path, why);
        return HERD_EXIT_CONFIG;
    }
    close(fd);
    return 0;
}

/* The herd secret: herd.conf's secret_file, or run_dir/secret, made on the
 * first start (0600, 32 random bytes in hex). Returns 0 or an exit code. */
static int ensure_secret(struct herd *h)
{
    if (h->cfg.secret_file != NULL) {
        snprintf(h->secret_file, sizeof h->secret_file, "%s",
                 h->cfg.secret_file);
        return check_secret(h->secret_file);
    }
    if (join(h->secret_file, sizeof h->secret_file, h->run_dir, "secret") != 0)
        return HERD_EXIT_CONFIG;
    int fd = open(h->secret_file,
                  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST)
        return check_secret(h->secret_file); /* made by an earlier start */
    if (fd < 0) {
        fprintf(stderr, "herd: cannot create %s: %s\n", h->secret_file,
                strerror(errno));
        return HERD_EXIT_CONFIG;
    }
    unsigned char raw[32];
    char text[65];
    if (uv_random(NULL, NULL, raw, sizeof raw, 0, NULL) != 0) {
        close(fd);
        unlink(h->secret_file);
        fprintf(stderr, "herd: no randomness for the herd secret\n");
        return HERD_EXIT_OSERR;
    }
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(text + 2 * i, 3, "%02x", raw[i]);
    int ok = write(fd, text, 64) == 64 && write(fd, "\n", 1) == 1;
    if (close(fd) != 0 || !ok) {
        unlink(h->secret_file);
        fprintf(stderr, "herd: cannot write %s\n", h->secret_file);
        return HERD_EXIT_CONFIG;
    }
    return 0;
}

static void dir_default(char *out, const char *set, const char *conf,
                        const char *name)
{
    if (set != NULL) {
        snprintf(out, PATH_MAX, "%s", set);
        return;
    }
    const char *slash = strrchr(conf, '/');
    snprintf(out, PATH_MAX, "%.*s/%s", (int)(slash - conf), conf, name);
}

static int load_herd(struct herd *h, const char *path)
{
    config_init(&h->cfg);
    if (realpath(path, h->conf) == NULL) {
        fprintf(stderr, "herd: cannot read %s: %s\n", path, strerror(errno));
        return HERD_EXIT_CONFIG;
    }
    struct herd_error err = {0, ""};
    if (config_load(&h->cfg, h->conf, &err) != 0) {
        if (err.line > 0)
            fprintf(stderr, "herd: %s:%d: %s\n", path, err.line, err.text);
        else
            fprintf(stderr, "herd: %s\n", err.text);
        return HERD_EXIT_CONFIG;
    }
    if (h->cfg.nservers == 0) {
        fprintf(stderr, "herd: %s: no servers\n", path);
        return HERD_EXIT_CONFIG;
    }
    dir_default(h->run_dir, h->cfg.run_dir, h->conf, "run");
    dir_default(h->log_dir, h->cfg.log_dir, h->conf, "log");
    dir_default(h->data_dir, h->cfg.data_dir, h->conf, "data");
    if (join(h->sock, sizeof h->sock, h->run_dir, "herd.sock") != 0 ||
        join(h->pidfile, sizeof h->pidfile, h->run_dir, "herd.pid") != 0 ||
        strlen(h->sock) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        fprintf(stderr,
                "herd: control socket path %s is too long for a Unix socket: "
                "use a shorter run_dir\n",
                h->sock);
        return HERD_EXIT_CONFIG;
    }
    return 0;
}

/* Connects to the running supervisor; -1 with errno when none answers. */
static int connect_supervisor(const struct herd *h)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, h->sock, strlen(h->sock) + 1); /* length checked */
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Sends one request; leaves the body in *body (printing any error);
 * returns an exit code. */
static int request_body(const struct herd *h, const char *line,
                        struct dynbuf *body)
{
    int fd = connect_supervisor(h);
    if (fd < 0) {
        fprintf(stderr, "herd: the herd of %s is not running (%s: %s)\n",
                h->conf, h->sock, strerror(errno));
        return HERD_EXIT_FAILURE;
    }
    if (fileio_write_all(fd, line, strlen(line)) != 0) {
        fprintf(stderr, "herd: cannot talk to the supervisor: %s\n",
                strerror(errno));
        close(fd);
        return HERD_EXIT_FAILURE;
    }
    struct dynbuf in;
    dynbuf_init(&in, 16 * 1024 * 1024);
    struct pollfd pfd = {fd, POLLIN, 0};
    for (;;) {
        int r = poll(&pfd, 1, CLIENT_TIMEOUT_MS);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        char *space = dynbuf_reserve(&in, 4096);
        if (space == NULL)
            break;
        ssize_t n = read(fd, space, 4096);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        in.len += (size_t)n;
    }
    close(fd);
    const char *nl = in.data ? memchr(in.data, '\n', in.len) : NULL;
    if (nl == NULL) {
        fprintf(stderr, "herd: no answer from the supervisor\n");
        dynbuf_free(&in);
        return HERD_EXIT_FAILURE;
    }
    size_t head = (size_t)(nl - in.data);
    int ok = head == 2 && memcmp(in.data, "ok", 2) == 0;
    if (dynbuf_add(body, nl + 1, in.len - head - 1) != 0 ||
        dynbuf_addc(body, '\0') != 0) {
        fprintf(stderr, "herd: out of memory\n");
        ok = 0;
    } else {
        body->len--; /* the terminator stays, out of the count */
    }
    if (!ok) {
        const char *msg = in.data;
        size_t mlen = head;
        if (head > 6 && memcmp(in.data, "error ", 6) == 0) {
            msg += 6;
            mlen -= 6;
        }
        fprintf(stderr, "herd: %.*s\n", (int)mlen, msg);
    }
    dynbuf_free(&in);
    return ok ? 0 : HERD_EXIT_FAILURE;
}

/* Sends one request; prints the body; returns an exit code. */
static int request(const struct herd *h, const char *line)
{
    struct dynbuf body;
    dynbuf_init(&body, 16 * 1024 * 1024);
    int rc = request_body(h, line, &body);
    if (body.len > 0)
        fwrite(body.data, 1, body.len, stdout);
    dynbuf_free(&body);
    return rc;
}

static int find_server_bin(struct herd *h, const char *argv0)
{
    const char *env = getenv("HERD_SERVER_BIN");
    if (h->cfg.server_bin != NULL) {
        snprintf(h->server_bin, sizeof h->server_bin, "%s",
                 h->cfg.server_bin);
    } else if (env != NULL && env[0] != '\0') {
        snprintf(h->server_bin, sizeof h->server_bin, "%s", env);
    } else {
        char exe[PATH_MAX];
        size_t len = sizeof exe;
        if (uv_exepath(exe, &len) != 0)
            snprintf(exe, sizeof exe, "%s", argv0);
        char *slash = strrchr(exe, '/');
        if (slash != NULL)
            *slash = '\0';
        else
            snprintf(exe, sizeof exe, ".");
        /* Installed side by side, or in the build tree. */
        if (join(h->server_bin, sizeof h->server_bin, exe, "herd-server") !=
                0 ||
            access(h->server_bin, X_OK) != 0)
            join(h->server_bin, sizeof h->server_bin, exe,
                 "../server/herd-server");
    }
    char real[PATH_MAX];
    if (realpath(h->server_bin, real) == NULL || access(real, X_OK) != 0) {
        fprintf(stderr,
                "herd: cannot find an executable herd-server at %s (set "
                "server_bin in herd.conf or HERD_SERVER_BIN)\n",
                h->server_bin);
        return HERD_EXIT_CONFIG;
    }
    snprintf(h->server_bin, sizeof h->server_bin, "%s", real);
    return 0;
}

/* Whether pid runs `server_bin name` (so a recycled pid is left alone). */
static int is_our_server(pid_t pid, const char *server_bin, const char *name)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char buf[PATH_MAX + 128];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    size_t a0 = strlen(buf);
    return strcmp(buf, server_bin) == 0 && (size_t)n > a0 + 1 &&
           strcmp(buf + a0 + 1, name) == 0;
}

/* A supervisor killed with SIGKILL leaves its pid file (and its servers
 * stop on their own when their lifeline closes). Make sure none of them
 * still holds a port before starting anew. */
static void reap_leftovers(const struct herd *h)
{
    FILE *fp = fopen(h->pidfile, "r");
    if (fp == NULL)
        return;
    char name[CONFIG_NAME_MAX + 2];
    int pid;
    while (fscanf(fp, "%64s %d", name, &pid) == 2) {
        if (pid <= 1 || strcmp(name, "supervisor") == 0 ||
            !is_our_server(pid, h->server_bin, name))
            continue;
        fprintf(stderr, "herd: stopping %s (pid %d), left by a supervisor "
                        "that did not exit cleanly\n",
                name, pid);
        kill(pid, SIGTERM);
        for (int i = 0; i < 100 && kill(pid, 0) == 0; i++) {
            struct timespec ts = {0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL);
            if (!is_our_server(pid, h->server_bin, name))
                break;
        }
        if (is_our_server(pid, h->server_bin, name))
            kill(pid, SIGKILL);
    }
    fclose(fp);
}

/* The running supervisor. */
struct daemon {
    struct herd *h;
    uv_loop_t loop;
    struct supervise sv;
    struct control ctl;
    uv_signal_t sigterm, sigint, sighup;
    uv_timer_t report_timer;
    int report_fd; /* -1 once reported */
    int pid_fd;
    int shutting_down;
    int closed;
};

static void write_pidfile(struct daemon *d)
{
    struct dynbuf b;
    dynbuf_init(&b, 1 << 20);
    int rc = dynbuf_printf(&b, "supervisor %d\n", (int)getpid());
    for (size_t i = 0; i < d->sv.n && rc == 0; i++)
        if (d->sv.children[i].pid > 0)
            rc = dynbuf_printf(&b, "%s %d\n", d->sv.children[i].cfg->name,
                               d->sv.children[i].pid);
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
        if (d->sv.children[i].managed &&
            d->sv.children[i].state != SUPERVISE_UP)
            all_up = 0;
    struct dynbuf b;
    dynbuf_init(&b, SIZE_MAX);
    int rc = dynbuf_printf(&b, "%d\n", all_up ? 0 : 1);
    if (rc == 0)
        rc = control_status_text(&d->sv, &b);
    if (rc == 0 && !all_up)
        rc = dynbuf_printf(&b, "not every server is up; logs are in %s\n",
                           d->h->log_dir);
    size_t off = 0;
    while (rc == 0 && off < b.len) {
        ssize_t n = write(d->report_fd, b.data + off, b.len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
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
    d->closed = 1;
    report(d);
    control_close(&d->ctl);
    supervise_close(&d->sv);
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_close((uv_handle_t *)&d->sighup, NULL);
    uv_close((uv_handle_t *)&d->report_timer, NULL);
    log_msg("supervisor exiting: every server has stopped");
}

static void on_change(struct supervise *sv, void *arg)
{
    (void)sv;
    struct daemon *d = arg;
    write_pidfile(d);
    control_changed(&d->ctl);
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

static void on_signal(uv_signal_t *s, int signum)
{
    struct daemon *d = s->data;
    if (signum == SIGHUP)
        return;
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
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl(d->pid_fd, F_SETLK, &fl) != 0) {
        int e = errno;
        close(d->pid_fd);
        d->pid_fd = -1;
        return -e;
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

static int run_supervisor(struct herd *h, const char *only, int report_fd,
                          int foreground)
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
    uint64_t max_mb = h->cfg.log_max_mb == CONFIG_UNSET
                          ? CONFIG_LOG_MAX_MB_DEFAULT
                          : h->cfg.log_max_mb;
    log_set_max_bytes(max_mb > (UINT64_MAX >> 20) ? 0 : max_mb << 20);
    if (log_open(foreground ? NULL : logpath) != 0)
        return fail_report(report_fd, "cannot open %s", logpath);
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&d.loop);
    char err[256] = "";
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
        fail_report(report_fd, "cannot listen on the control socket %s",
                    h->sock);
        control_close(&d.ctl);
        supervise_close(&d.sv);
        uv_run(&d.loop, UV_RUN_DEFAULT);
        supervise_free(&d.sv);
        uv_loop_close(&d.loop);
        log_close();
        return HERD_EXIT_FAILURE;
    }
    d.ctl.on_shutdown = on_shutdown_request;
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
    supervise_free(&d.sv);
    int leak = uv_loop_close(&d.loop);
    if (leak != 0)
        log_msg("internal error: handles left open at exit");
    unlink(h->pidfile);
    close(d.pid_fd);
    log_close();
    return leak != 0 ? HERD_EXIT_SOFTWARE : 0;
}

/* Forks the supervisor into the background and waits for its report. */
static int start_background(struct herd *h, const char *only)
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
        setsid();
        int null = open("/dev/null", O_RDWR);
        char logpath[PATH_MAX + 16];
        snprintf(logpath, sizeof logpath, "%s/herd.log", h->log_dir);
        int errfd = fileio_open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (errfd < 0)
            _exit(fail_report(pfd[1], "cannot open %s: %s", logpath,
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
        fcntl(pfd[1], F_SETFD, FD_CLOEXEC);
        _exit(run_supervisor(h, only, pfd[1], 0));
    }
    close(pfd[1]);
    struct dynbuf in;
    dynbuf_init(&in, 1 << 20);
    for (;;) {
        char *space = dynbuf_reserve(&in, 4096);
        if (space == NULL)
            break;
        ssize_t n = read(pfd[0], space, 4096);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        in.len += (size_t)n;
    }
    close(pfd[0]);
    const char *nl = in.data ? memchr(in.data, '\n', in.len) : NULL;
    if (nl == NULL) {
        int status = 0;
        waitpid(pid, &status, WNOHANG);
        fprintf(stderr, "herd: the supervisor died while starting; see %s/"
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

static int cmd_start_herd(struct herd *h, int argc, char **argv,
                          const char *argv0)
{
    int foreground = 0;
    const char *only = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--foreground") == 0 ||
            strcmp(argv[i], "-f") == 0) {
            foreground = 1;
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else if (strncmp(argv[i], "--only=", 7) == 0) {
            only = argv[i] + 7;
        } else {
            return usage_error("start: unexpected argument '%s'", argv[i]);
        }
    }
    int fd = connect_supervisor(h);
    if (fd >= 0) {
        close(fd);
        fprintf(stderr, "herd: the herd of %s is already running (%s)\n",
                h->conf, h->sock);
        return HERD_EXIT_FAILURE;
    }
    int rc = find_server_bin(h, argv0);
    if (rc != 0)
        return rc;
    /* Made 0700 when missing; refused when another user owns one or group
     * or others may write it: no one else may plant a file (a link to
     * another file) where the herd writes. */
    const char *dirs[] = {h->run_dir, h->log_dir, h->data_dir};
    const char *keys[] = {"run_dir", "log_dir", "data_dir"};
    for (size_t i = 0; i < 3; i++) {
        char why[FILEIO_ERR_MAX];
        if (fileio_make_private_dir(dirs[i], why, sizeof why) != 0) {
            fprintf(stderr, "herd: refusing %s %s: %s\n", keys[i], dirs[i],
                    why);
            return HERD_EXIT_CONFIG;
        }
    }
    if (!config_connected(&h->cfg))
        fprintf(stderr, "herd: warning: the graph of %s is not connected: "
                        "some servers never hear of some updates\n",
                h->conf);
    rc = ensure_secret(h);
    if (rc != 0)
        return rc;
    reap_leftovers(h);
    if (foreground)
        return run_supervisor(h, only, STDOUT_FILENO, 1);
    return start_background(h, only);
}

static int names_request(struct herd *h, const char *verb, int argc,
                         char **argv)
{
    struct dynbuf b;
    dynbuf_init(&b, CONTROL_LINE_MAX - 1);
    int rc = dynbuf_printf(&b, "%s", verb);
    for (int i = 0; i < argc && rc == 0; i++) {
        if (argv[i][0] == '-' || !config_valid_name(argv[i], strlen(argv[i]))) {
            dynbuf_free(&b);
            return usage_error("%s: '%s' is not a server name", verb,
                               argv[i]);
        }
        rc = dynbuf_printf(&b, " %s", argv[i]);
    }
    if (rc == 0)
        rc = dynbuf_printf(&b, "\n");
    if (rc != 0) {
        dynbuf_free(&b);
        return usage_error("%s: too many names", verb);
    }
    rc = dynbuf_addc(&b, '\0');
    int code = rc == 0 ? request(h, b.data) : HERD_EXIT_OSERR;
    dynbuf_free(&b);
    return code;
}

/* ---- the servers' control sockets (server/ctl.h) ----------------------
 *
 * herd cut / heal and the links of herd status talk to each server's own
 * control socket, RUN_DIR/NAME.sock, directly: the supervisor need not be
 * running, and a server started by hand with --config answers too. */

#define SERVER_CTL_TIMEOUT_MS 5000
#define SERVER_STATUS_TIMEOUT_MS 1000
#define SERVER_PROBE_TIMEOUT_MS 2000

struct server_req {
    const char *name;
    char path[PATH_MAX];
    int fd;          /* -1: not connected */
    char why[PATH_MAX + 160]; /* why it is not connected, or broke off */
    struct dynbuf out; /* request lines */
    size_t out_off;
    struct dynbuf in;  /* reply lines */
    int want;          /* reply lines expected */
    int got;
};

static void server_req_init(struct server_req *r, const char *name)
{
    memset(r, 0, sizeof *r);
    r->name = name;
    r->fd = -1;
    dynbuf_init(&r->out, 64 * 1024);
    dynbuf_init(&r->in, 4 * 1024 * 1024);
}

static void server_req_free(struct server_req *r)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
    dynbuf_free(&r->out);
    dynbuf_free(&r->in);
}

/* Queues one request line. */
static int server_req_line(struct server_req *r, const char *verb,
                           const char *arg)
{
    r->want++;
    return dynbuf_printf(&r->out, "%s%s%s\n", verb, arg ? " " : "",
                         arg ? arg : "");
}

/* Connects without waiting; on failure r->why says why. */
static void server_req_connect(const struct herd *h, struct server_req *r)
{
    if (config_control_path(h->run_dir, r->name, r->path, sizeof r->path) !=
            0 ||
        strlen(r->path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        snprintf(r->why, sizeof r->why,
                 "not reachable (its control socket path is too long for a "
                 "Unix socket)");
        return;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(r->why, sizeof r->why, "not reachable (socket: %s)",
                 strerror(errno));
        return;
    }
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, r->path, strlen(r->path) + 1);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int e = errno;
        close(fd);
        if (e == ENOENT || e == ECONNREFUSED)
            snprintf(r->why, sizeof r->why, "not running (nothing listens "
                                            "on %s)",
                     r->path);
        else if (e == EAGAIN)
            snprintf(r->why, sizeof r->why,
                     "not answering (its control socket %s is full)",
                     r->path);
        else
            snprintf(r->why, sizeof r->why, "not reachable (%s: %s)",
                     r->path, strerror(e));
        return;
    }
    r->fd = fd;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Sends every connected request and reads its replies, all at once, until
 * each has its reply lines or timeout_ms passed. A request that broke off
 * is closed with r->why set. */
static void server_req_exchange(struct server_req *v, size_t n,
                                int timeout_ms)
{
    uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
    struct pollfd *pfd = calloc(n ? n : 1, sizeof *pfd);
    size_t *idx = calloc(n ? n : 1, sizeof *idx);
    if (pfd == NULL || idx == NULL) {
        for (size_t i = 0; i < n; i++)
            if (v[i].fd >= 0) {
                close(v[i].fd);
                v[i].fd = -1;
                snprintf(v[i].why, sizeof v[i].why,
                         "not reachable (out of memory)");
            }
        free(pfd);
        free(idx);
        return;
    }
    for (;;) {
        size_t np = 0;
        for (size_t i = 0; i < n; i++) {
            struct server_req *r = &v[i];
            if (r->fd < 0 || r->got >= r->want)
                continue;
            pfd[np].fd = r->fd;
            pfd[np].events =
                (short)(POLLIN | (r->out_off < r->out.len ? POLLOUT : 0));
            pfd[np].revents = 0;
            idx[np++] = i;
        }
        uint64_t now = now_ms();
        if (np == 0 || now >= deadline)
            break;
        int rc = poll(pfd, np, (int)(deadline - now));
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0)
            break;
        for (size_t k = 0; k < np; k++) {
            struct server_req *r = &v[idx[k]];
            if (pfd[k].revents & POLLOUT) {
                ssize_t w = write(r->fd, r->out.data + r->out_off,
                                  r->out.len - r->out_off);
                if (w > 0)
                    r->out_off += (size_t)w;
            }
            if (!(pfd[k].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char *space = dynbuf_reserve(&r->in, 4096);
            ssize_t got = space ? read(r->fd, space, 4096) : -1;
            if (got < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (got <= 0) {
                snprintf(r->why, sizeof r->why,
                         got == 0 ? "not answering (it closed the control "
                                    "connection)"
                                  : "not answering (the control connection "
                                    "failed)");
                close(r->fd);
                r->fd = -1;
                continue;
            }
            for (ssize_t j = 0; j < got; j++)
                r->got += space[j] == '\n';
            r->in.len += (size_t)got;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (v[i].fd >= 0 && v[i].got < v[i].want) {
            snprintf(v[i].why, sizeof v[i].why,
                     "not answering (no reply within %.1f s: stopped or "
                     "busy?)",
                     timeout_ms / 1000.0);
            close(v[i].fd);
            v[i].fd = -1;
        }
    free(pfd);
    free(idx);
}

/* The k-th reply line of r (k from 0), without its newline; NULL if there
 * is none. The reply lines are NUL-terminated in place. */
static char *server_req_reply(struct server_req *r, int k)
{
    char *p = r->in.data;
    char *end = r->in.data + r->in.len;
    for (; p != NULL && p < end; k--) {
        char *nl = p;
        while (nl < end && *nl != '\n' && *nl != '\0') /* \0: split already */
            nl++;
        if (nl == end)
            return NULL;
        *nl = '\0';
        if (k == 0)
            return p;
        p = nl + 1;
    }
    return NULL;
}

static int link_index(const struct config *cfg, size_t a, size_t b)
{
    for (size_t i = 0; i < cfg->nlinks; i++)
        if ((cfg->links[i].a == a && cfg->links[i].b == b) ||
            (cfg->links[i].a == b && cfg->links[i].b == a))
            return (int)i;
    return -1;
}

static long server_index(const struct herd *h, const char *verb,
                         const char *name)
{
    long i = config_find(&h->cfg, name, strlen(name));
    if (i < 0)
        fprintf(stderr, "herd: %s: no server named '%s' in %s\n", verb, name,
                h->conf);
    return i;
}

/* herd cut|heal [A [B]]: every server concerned is told, or, if one of
 * them cannot be reached, none is. */
static int cmd_cut(struct herd *h, int cut, int argc, char **argv)
{
    const char *verb = cut ? "cut" : "heal";
    const struct config *cfg = &h->cfg;
    if (argc > 2 || (cut && argc == 0))
        return usage_error(cut ? "cut takes NAME [NAME]"
                               : "heal takes [NAME [NAME]]");
    for (int i = 0; i < argc; i++)
        if (argv[i][0] == '-' || !config_valid_name(argv[i], strlen(argv[i])))
            return usage_error("%s: '%s' is not a server name", verb,
                               argv[i]);
    long a = -1, b = -1;
    if (argc >= 1 && (a = server_index(h, verb, argv[0])) < 0)
        return HERD_EXIT_FAILURE;
    if (argc == 2 && (b = server_index(h, verb, argv[1])) < 0)
        return HERD_EXIT_FAILURE;
    if (argc == 2 && a == b) {
        fprintf(stderr, "herd: %s: a server has no link to itself\n", verb);
        return HERD_EXIT_FAILURE;
    }
    if (argc == 2 && link_index(cfg, (size_t)a, (size_t)b) < 0) {
        fprintf(stderr,
                "herd: %s: %s - %s is not a link of %s (links are named by "
                "'link' lines)\n",
                verb, argv[0], argv[1], h->conf);
        return HERD_EXIT_FAILURE;
    }
    /* Which links, and what each server is told. */
    unsigned char *on = calloc(cfg->nlinks ? cfg->nlinks : 1, 1);
    struct server_req *v = calloc(cfg->nservers, sizeof *v);
    if (on == NULL || v == NULL) {
        free(on);
        free(v);
        fprintf(stderr, "herd: out of memory\n");
        return HERD_EXIT_OSERR;
    }
    for (size_t i = 0; i < cfg->nservers; i++)
        server_req_init(&v[i], cfg->servers[i].name);
    int rc = 0;
    size_t nlinks = 0;
    for (size_t i = 0; i < cfg->nlinks; i++) {
        size_t x = cfg->links[i].a, y = cfg->links[i].b;
        on[i] = argc == 0 ||
                (argc == 1 && (x == (size_t)a || y == (size_t)a)) ||
                (argc == 2 && link_index(cfg, (size_t)a, (size_t)b) == (int)i);
        if (!on[i])
            continue;
        nlinks++;
        if (argc > 0) {
            rc |= server_req_line(&v[x], verb, cfg->servers[y].name);
            rc |= server_req_line(&v[y], verb, cfg->servers[x].name);
        }
    }
    if (argc == 0) /* every link of every server, herd.conf's or not */
        for (size_t i = 0; i < cfg->nservers; i++)
            rc |= server_req_line(&v[i], verb, NULL);
    int code = 0;
    if (rc != 0) {
        fprintf(stderr, "herd: out of memory\n");
        code = HERD_EXIT_OSERR;
    } else if (nlinks == 0 && argc > 0) {
        fprintf(stderr, "herd: %s: %s has no links in %s\n", verb, argv[0],
                h->conf);
        code = HERD_EXIT_FAILURE;
    }
    /* Every server concerned must answer (a status round trip) before
     * anything changes: a server that is down, or stopped with its socket
     * still there, leaves every link as it was. */
    struct dynbuf *cmds = calloc(cfg->nservers, sizeof *cmds);
    int *ncmds = calloc(cfg->nservers, sizeof *ncmds);
    if (code == 0 && (cmds == NULL || ncmds == NULL)) {
        fprintf(stderr, "herd: out of memory\n");
        code = HERD_EXIT_OSERR;
    }
    for (size_t i = 0; i < cfg->nservers && code == 0; i++) {
        if (v[i].want == 0)
            continue;
        server_req_connect(h, &v[i]);
        cmds[i] = v[i].out;
        ncmds[i] = v[i].want;
        dynbuf_init(&v[i].out, 64);
        v[i].want = 0;
        if (server_req_line(&v[i], "status", NULL) != 0)
            code = HERD_EXIT_OSERR;
    }
    int probed = code == 0;
    if (probed)
        server_req_exchange(v, cfg->nservers, SERVER_PROBE_TIMEOUT_MS);
    for (size_t i = 0; i < cfg->nservers && probed; i++) {
        if (v[i].want == 0)
            continue;
        char *line = server_req_reply(&v[i], 0);
        if (line == NULL || line[0] != '{') {
            fprintf(stderr, "herd: %s: %s is %s\n", verb, v[i].name,
                    v[i].why[0]  ? v[i].why
                    : line       ? "answering with errors"
                                 : "not answering");
            code = HERD_EXIT_FAILURE;
        }
    }
    for (size_t i = 0; i < cfg->nservers && code != 0; i++)
        if (v[i].fd >= 0) {
            close(v[i].fd);
            v[i].fd = -1;
        }
    if (code != 0) {
        if (code == HERD_EXIT_FAILURE && nlinks > 0)
            fprintf(stderr, "herd: %s: nothing was changed\n", verb);
    } else {
        for (size_t i = 0; i < cfg->nservers; i++) {
            if (v[i].want == 0)
                continue;
            dynbuf_free(&v[i].out);
            v[i].out = cmds[i];
            dynbuf_init(&cmds[i], 64);
            v[i].out_off = 0;
            v[i].in.len = 0;
            v[i].got = 0;
            v[i].want = ncmds[i];
        }
        server_req_exchange(v, cfg->nservers, SERVER_CTL_TIMEOUT_MS);
        for (size_t i = 0; i < cfg->nservers; i++) {
            if (v[i].want == 0)
                continue;
            for (int k = 0; k < v[i].want; k++) {
                char *line = server_req_reply(&v[i], k);
                if (line == NULL) {
                    fprintf(stderr, "herd: %s: %s is %s\n", verb, v[i].name,
                            v[i].why[0] ? v[i].why : "not answering");
                    code = HERD_EXIT_FAILURE;
                    break;
                }
                if (strncmp(line, "ok", 2) != 0) {
                    fprintf(stderr, "herd: %s: %s: %s\n", verb, v[i].name,
                            strncmp(line, "error ", 6) == 0 ? line + 6
                                                            : line);
                    code = HERD_EXIT_FAILURE;
                }
            }
        }
        if (code != 0)
            fprintf(stderr, "herd: %s: not every server did it; see "
                            "'herd status'\n",
                    verb);
        for (size_t i = 0; i < cfg->nlinks && code == 0; i++)
            if (on[i])
                printf("%s %s - %s\n", cut ? "cut" : "healed",
                       cfg->servers[cfg->links[i].a].name,
                       cfg->servers[cfg->links[i].b].name);
    }
    for (size_t i = 0; i < cfg->nservers; i++) {
        server_req_free(&v[i]);
        if (cmds != NULL)
            dynbuf_free(&cmds[i]);
    }
    free(cmds);
    free(ncmds);
    free(v);
    free(on);
    return code;
}

/* What herd status adds: each server's own view of its links, from the
 * status line of its control socket (NULL where it did not answer). */
static json_t **query_servers(const struct herd *h)
{
    const struct config *cfg = &h->cfg;
    struct server_req *v = calloc(cfg->nservers, sizeof *v);
    json_t **st = calloc(cfg->nservers, sizeof *st);
    if (v == NULL || st == NULL) {
        free(v);
        free(st);
        return NULL;
    }
    for (size_t i = 0; i < cfg->nservers; i++) {
        server_req_init(&v[i], cfg->servers[i].name);
        if (server_req_line(&v[i], "status", NULL) == 0)
            server_req_connect(h, &v[i]);
    }
    server_req_exchange(v, cfg->nservers, SERVER_STATUS_TIMEOUT_MS);
    for (size_t i = 0; i < cfg->nservers; i++) {
        char *line = server_req_reply(&v[i], 0);
        if (line != NULL && line[0] == '{') {
            st[i] = json_loads(line, 0, NULL);
            if (st[i] != NULL && !json_is_object(st[i])) {
                json_decref(st[i]);
                st[i] = NULL;
            }
        }
        server_req_free(&v[i]);
    }
    free(v);
    return st;
}

/* Server s's view of its neighbour named other: its object in the
 * status's "neighbours", or NULL. */
static json_t *neighbour_view(json_t *s, const char *other)
{
    json_t *arr = s ? json_object_get(s, "neighbours") : NULL;
    size_t i;
    json_t *nb;
    json_array_foreach(arr, i, nb)
    {
        const char *name = json_string_value(json_object_get(nb, "name"));
        if (name != NULL && strcmp(name, other) == 0)
            return nb;
    }
    return NULL;
}

struct link_view {
    const char *state; /* up, down, cut, unknown */
    long long rtt_us;  /* 0: unknown */
    char note[160];
};

/* One link from the views of its two ends: cut if either end has it cut,
 * else up if either has it up, else down; unknown if neither answered. */
static void link_state(const struct herd *h, json_t **st, size_t li,
                       struct link_view *out)
{
    const struct config *cfg = &h->cfg;
    size_t ends[2] = {cfg->links[li].a, cfg->links[li].b};
    json_t *view[2];
    for (int k = 0; k < 2; k++)
        view[k] = neighbour_view(st[ends[k]],
                                 cfg->servers[ends[1 - k]].name);
    out->state = "unknown";
    out->rtt_us = 0;
    out->note[0] = '\0';
    int cut = 0, up = 0, seen = 0;
    for (int k = 0; k < 2; k++) {
        if (view[k] == NULL)
            continue;
        seen++;
        const char *s = json_string_value(json_object_get(view[k], "state"));
        s = s ? s : "";
        if (strcmp(s, "cut") == 0)
            cut |= 1 << k;
        if (strcmp(s, "up") == 0) {
            up = 1;
            long long rtt = json_integer_value(
                json_object_get(view[k], "rtt_us"));
            if (out->rtt_us == 0 || (rtt > 0 && rtt < out->rtt_us))
                out->rtt_us = rtt;
        }
    }
    if (seen == 0) {
        snprintf(out->note, sizeof out->note, "neither end answers");
        return;
    }
    out->state = cut ? "cut" : up ? "up" : "down";
    if (cut && cut != 3 && seen == 2)
        snprintf(out->note, sizeof out->note, "cut at %s only",
                 cfg->servers[ends[cut == 1 ? 0 : 1]].name);
    else if (seen == 1)
        snprintf(out->note, sizeof out->note, "%s does not answer",
                 cfg->servers[ends[view[0] == NULL ? 0 : 1]].name);
}

static void free_views(const struct herd *h, json_t **st)
{
    for (size_t i = 0; st != NULL && i < h->cfg.nservers; i++)
        json_decref(st[i]);
    free(st);
}

static void print_links(const struct herd *h)
{
    const struct config *cfg = &h->cfg;
    if (cfg->nlinks == 0)
        return;
    json_t **st = query_servers(h);
    if (st == NULL)
        return;
    size_t width = 0;
    for (size_t i = 0; i < cfg->nlinks; i++) {
        size_t w = strlen(cfg->servers[cfg->links[i].a].name) + 3 +
                   strlen(cfg->servers[cfg->links[i].b].name);
        width = w > width ? w : width;
    }
    printf("\n%-*s  %-7s %s\n", (int)width, "LINK", "STATE", "RTT");
    for (size_t i = 0; i < cfg->nlinks; i++) {
        struct link_view lv;
        link_state(h, st, i, &lv);
        char pair[2 * CONFIG_NAME_MAX + 8];
        snprintf(pair, sizeof pair, "%s - %s",
                 cfg->servers[cfg->links[i].a].name,
                 cfg->servers[cfg->links[i].b].name);
        char rtt[48] = "";
        if (strcmp(lv.state, "up") == 0)
        {
            if (lv.rtt_us <= 0)
                snprintf(rtt, sizeof rtt, "rtt -");
            else if (lv.rtt_us < 100)
                snprintf(rtt, sizeof rtt, "rtt %lld us", lv.rtt_us);
            else
                snprintf(rtt, sizeof rtt, "rtt %.1f ms",
                         (double)lv.rtt_us / 1000.0);
        }
        char line[512];
        int n = snprintf(line, sizeof line, "%-*s  %-7s %-14s %s",
                         (int)width, pair, lv.state, rtt, lv.note);
        while (n > 0 && line[n - 1] == ' ')
            line[--n] = '\0';
        puts(line);
    }
    free_views(h, st);
}

/* herd status --json: the supervisor's answer, plus "links" and each
 * server's records and digest. */
static int print_status_json(const struct herd *h, const char *body)
{
    json_error_t jerr;
    json_t *root = json_loads(body, 0, &jerr);
    json_t **st = query_servers(h);
    if (root == NULL || st == NULL) {
        fputs(body, stdout);
        json_decref(root);
        free_views(h, st);
        return 0;
    }
    const struct config *cfg = &h->cfg;
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(root, "servers"), i, s)
    {
        const char *name = json_string_value(json_object_get(s, "name"));
        long k = name ? config_find(cfg, name, strlen(name)) : -1;
        json_t *v = k >= 0 ? st[k] : NULL;
        json_t *rec = v ? json_object_get(v, "records") : NULL;
        json_t *dig = v ? json_object_get(v, "digest") : NULL;
        json_object_set(s, "records", rec ? rec : json_null());
        json_object_set(s, "digest", dig ? dig : json_null());
    }
    json_t *links = json_array();
    for (size_t li = 0; li < cfg->nlinks; li++) {
        struct link_view lv;
        link_state(h, st, li, &lv);
        json_array_append_new(
            links,
            json_pack("{s:s, s:s, s:s, s:o, s:s}", "a",
                      cfg->servers[cfg->links[li].a].name, "b",
                      cfg->servers[cfg->links[li].b].name, "state", lv.state,
                      "rtt_us",
                      strcmp(lv.state, "up") == 0 && lv.rtt_us > 0
                          ? json_integer(lv.rtt_us)
                          : json_null(),
                      "note", lv.note));
    }
    json_object_set_new(root, "links", links);
    char *out = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (out != NULL)
        printf("%s\n", out);
    else
        fputs(body, stdout);
    free(out);
    json_decref(root);
    free_views(h, st);
    return 0;
}

static int cmd_status(struct herd *h, int json)
{
    struct dynbuf body;
    dynbuf_init(&body, 16 * 1024 * 1024);
    int rc = request_body(h, json ? "status-json\n" : "status\n", &body);
    if (rc == 0 && json) {
        print_status_json(h, body.data ? body.data : "");
    } else {
        if (body.len > 0)
            fwrite(body.data, 1, body.len, stdout);
        if (rc == 0)
            print_links(h);
    }
    dynbuf_free(&body);
    return rc;
}

static int parse_signal(const char *s)
{
    const char *n = strncmp(s, "SIG", 3) == 0 ? s + 3 : s;
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
        if (strcmp(n, signals[i].name) == 0)
            return signals[i].num;
    uint64_t v;
    if (strparse_uint(s, strlen(s), 64, &v) == 0 && v > 0)
        return (int)v;
    return -1;
}

static int dispatch(struct herd *h, const char *cmd, int argc, char **argv,
                    const char *argv0)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return print_help(cmd);
    if (strcmp(cmd, "start") == 0) {
        if (argc > 0 && argv[0][0] != '-')
            return names_request(h, "start", argc, argv);
        return cmd_start_herd(h, argc, argv, argv0);
    }
    if (strcmp(cmd, "stop") == 0) {
        if (argc == 0)
            return request(h, "shutdown\n");
        return names_request(h, "stop", argc, argv);
    }
    if (strcmp(cmd, "restart") == 0) {
        if (argc == 0)
            return usage_error("restart needs server names");
        return names_request(h, "restart", argc, argv);
    }
    if (strcmp(cmd, "status") == 0) {
        if (argc == 1 && strcmp(argv[0], "--json") == 0)
            return cmd_status(h, 1);
        if (argc != 0)
            return usage_error("status takes only --json");
        return cmd_status(h, 0);
    }
    if (strcmp(cmd, "cut") == 0 || strcmp(cmd, "heal") == 0)
        return cmd_cut(h, cmd[0] == 'c', argc, argv);
    if (strcmp(cmd, "kill") == 0) {
        if (argc < 1 || argc > 2)
            return usage_error("kill takes NAME [SIGNAL]");
        if (!config_valid_name(argv[0], strlen(argv[0])))
            return usage_error("kill: '%s' is not a server name", argv[0]);
        int sig = argc == 2 ? parse_signal(argv[1]) : SIGKILL;
        if (sig < 0)
            return usage_error("kill: unknown signal '%s'", argv[1]);
        char line[128];
        snprintf(line, sizeof line, "kill %s %d\n", argv[0], sig);
        return request(h, line);
    }
    return usage_error("unknown command '%s'", cmd);
}

int main(int argc, char **argv)
{
    /* A supervisor that goes away mid-request is an error to report, not
     * a signal to die of. */
    signal(SIGPIPE, SIG_IGN);
    const char *conf = getenv("HERD_CONF");
    if (conf == NULL || conf[0] == '\0')
        conf = "herd.conf";
    int i = 1;
    /* Global options come before the command: -c FILE, --help. */
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return print_help(NULL);
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) &&
            i + 1 < argc)
            conf = argv[++i];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            conf = argv[i] + 9;
        else
            return usage_error("unknown option '%s'", argv[i]);
    }
    if (i >= argc)
        return usage_error("missing command");
    const char *cmd = argv[i++];
    if (strcmp(cmd, "help") == 0)
        return print_help(i < argc ? argv[i] : NULL);
    /* -c may also follow the command. */
    char **rest = argv + i;
    int nrest = 0;
    for (int j = i; j < argc; j++) {
        if ((strcmp(argv[j], "-c") == 0 || strcmp(argv[j], "--config") == 0) &&
            j + 1 < argc) {
            conf = argv[++j];
            continue;
        }
        rest[nrest++] = argv[j];
    }
    static struct herd h;
    int known = 0;
    const char *cmds[] = {"start", "stop", "restart", "status",
                          "kill",  "cut",  "heal"};
    for (size_t k = 0; k < sizeof cmds / sizeof cmds[0]; k++)
        known |= strcmp(cmd, cmds[k]) == 0;
    if (!known)
        return usage_error("unknown command '%s'", cmd);
    for (int j = 0; j < nrest; j++)
        if (strcmp(rest[j], "--help") == 0 || strcmp(rest[j], "-h") == 0)
            return print_help(cmd);
    int rc = load_herd(&h, conf);
    if (rc == 0)
        rc = dispatch(&h, cmd, nrest, rest, argv[0]);
    config_free(&h.cfg);
    return rc;
}
