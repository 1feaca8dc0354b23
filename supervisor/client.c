#include "client.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "daemon.h"
#include "dynbuf.h"
#include "exit_codes.h"
#include "fileio.h"
#include "links.h"
#include "rolling.h"
#include "strparse.h"
#include "view.h"

#define CLIENT_TIMEOUT_MS 90000
/* status-json is answered at once: a supervisor silent this long is
 * stopped or stuck. herd status then fails; herd top, which must keep
 * its pace and end soon after Ctrl-C, goes on without it. */
#define CLIENT_STATUS_TIMEOUT_MS 5000
#define CLIENT_TOP_TIMEOUT_MS    2000

static const struct {
    const char *name;
    int num;
} signals[] = {
    {"KILL", SIGKILL}, {"TERM", SIGTERM}, {"INT", SIGINT},   {"HUP", SIGHUP},
    {"STOP", SIGSTOP}, {"CONT", SIGCONT}, {"QUIT", SIGQUIT}, {"USR1", SIGUSR1},
    {"USR2", SIGUSR2}, {"SEGV", SIGSEGV}, {"ABRT", SIGABRT},
};

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

/* Reads the supervisor's answer into in, until it closes the connection,
 * timeout_ms pass without a byte, or in is full. */
static void read_answer(int fd, struct dynbuf *in, int timeout_ms)
{
    fileio_read_to_end(fd, in, timeout_ms);
}

/* The answer in in: "ok" or "error MESSAGE", a newline, the body. Leaves
 * the body in *body (printing any error); returns an exit code: 0, 78 for
 * "error config: ..." (a reload refused herd.conf), else 1. */
static int take_answer(const struct dynbuf *in, struct dynbuf *body)
{
    const char *nl = in->data ? memchr(in->data, '\n', in->len) : NULL;
    if (nl == NULL) {
        fprintf(stderr, "herd: no answer from the supervisor\n");
        return HERD_EXIT_FAILURE;
    }
    size_t head = (size_t)(nl - in->data);
    int ok = head == 2 && memcmp(in->data, "ok", 2) == 0;
    if (dynbuf_add(body, nl + 1, in->len - head - 1) != 0 ||
        dynbuf_addc(body, '\0') != 0) {
        fprintf(stderr, "herd: out of memory\n");
        ok = 0;
    } else {
        body->len--; /* the terminator stays, out of the count */
    }
    int code = ok ? 0 : HERD_EXIT_FAILURE;
    if (!ok) {
        const char *msg = in->data;
        size_t mlen = head;
        if (head > 6 && memcmp(in->data, "error ", 6) == 0) {
            msg += 6;
            mlen -= 6;
        }
        if (mlen > 8 && memcmp(msg, "config: ", 8) == 0) {
            msg += 8;
            mlen -= 8;
            code = HERD_EXIT_CONFIG;
        }
        fprintf(stderr, "herd: %.*s\n", (int)mlen, msg);
    }
    return code;
}

/* Sends one request and waits at most timeout_ms between bytes of the
 * answer; leaves the body in *body (printing any error, but with quiet
 * not that the supervisor is not running); returns an exit code. */
static int request_body(const struct herd *h, const char *line,
                        struct dynbuf *body, int quiet, int timeout_ms)
{
    int fd = connect_supervisor(h);
    if (fd < 0) {
        if (!quiet)
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
    dynbuf_init(&in, (size_t)16 * 1024 * 1024);
    read_answer(fd, &in, timeout_ms);
    close(fd);
    int rc = take_answer(&in, body);
    dynbuf_free(&in);
    return rc;
}

int client_request(const struct herd *h, const char *line, struct dynbuf *body,
                   int quiet, int timeout_ms)
{
    return request_body(h, line, body, quiet, timeout_ms);
}

/* Sends one request; prints the body; returns an exit code. */
static int request(const struct herd *h, const char *line)
{
    struct dynbuf body;
    dynbuf_init(&body, (size_t)16 * 1024 * 1024);
    int rc = request_body(h, line, &body, 0, CLIENT_TIMEOUT_MS);
    if (body.len > 0)
        fwrite(body.data, 1, body.len, stdout);
    dynbuf_free(&body);
    return rc;
}

/* herd start [--foreground] [--only NAME,...] */
static int start_herd(struct herd *h, int argc, char **argv)
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
            return herd_usage_error("start: unexpected argument '%s'", argv[i]);
        }
    }
    int fd = connect_supervisor(h);
    if (fd >= 0) {
        close(fd);
        fprintf(stderr, "herd: the herd of %s is already running (%s)\n",
                h->conf, h->sock);
        return HERD_EXIT_FAILURE;
    }
    int rc = herd_prepare(h, h->argv0);
    if (rc != 0)
        return rc;
    if (foreground)
        return daemon_run(h, only, STDOUT_FILENO, 1);
    return daemon_start_background(h, only);
}

/* "VERB NAME..." to the supervisor. */
static int names_request(struct herd *h, const char *verb, int argc,
                         char **argv)
{
    struct dynbuf b;
    dynbuf_init(&b, CONTROL_LINE_MAX - 1);
    int rc = dynbuf_printf(&b, "%s", verb);
    for (int i = 0; i < argc && rc == 0; i++) {
        if (argv[i][0] == '-' || !config_valid_name(argv[i], strlen(argv[i]))) {
            dynbuf_free(&b);
            return herd_usage_error("%s: '%s' is not a server name", verb,
                                    argv[i]);
        }
        rc = dynbuf_printf(&b, " %s", argv[i]);
    }
    if (rc == 0)
        rc = dynbuf_printf(&b, "\n");
    if (rc != 0) {
        dynbuf_free(&b);
        return herd_usage_error("%s: too many names", verb);
    }
    rc = dynbuf_addc(&b, '\0');
    int code = rc == 0 ? request(h, b.data) : HERD_EXIT_OSERR;
    dynbuf_free(&b);
    return code;
}

/* The view (view.h) from the supervisor's answer sup (NULL: none) and
 * each server's control socket. NULL: out of memory. */
static json_t *build_view(const struct herd *h, json_t *sup)
{
    json_t **st = links_query_servers(h);
    if (st == NULL)
        return NULL;
    json_t *view = view_build(&h->cfg, sup, st);
    links_free_answers(h, st);
    return view;
}

json_t *client_view(const struct herd *h)
{
    struct dynbuf body;
    dynbuf_init(&body, (size_t)16 * 1024 * 1024);
    json_t *sup = NULL;
    if (request_body(h, "status-json\n", &body, 1, CLIENT_TOP_TIMEOUT_MS) ==
            0 &&
        body.data != NULL)
        sup = json_loads(body.data, 0, NULL);
    dynbuf_free(&body);
    json_t *view = build_view(h, sup);
    json_decref(sup);
    return view;
}

/* "-", or the integer member key of o. */
static void int_text(json_t *o, const char *key, char *out, size_t cap)
{
    json_t *v = json_object_get(o, key);
    if (json_is_integer(v))
        snprintf(out, cap, "%lld", (long long)json_integer_value(v));
    else
        snprintf(out, cap, "-");
}

/* "-", or the string member key of o (empty counts as none). */
static const char *str_text(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL && s[0] != '\0' ? s : "-";
}

/* The widths of the NAME and ADDRESS columns of the server table. */
static void server_widths(json_t *servers, int *name_w, int *addr_w)
{
    size_t i;
    json_t *s;
    *name_w = 10;
    *addr_w = 21;
    json_array_foreach(servers, i, s)
    {
        int w = (int)strlen(str_text(s, "name"));
        *name_w = w > *name_w ? w : *name_w;
        w = (int)strlen(str_text(s, "address"));
        *addr_w = w > *addr_w ? w : *addr_w;
    }
}

static void print_server(json_t *s, int name_w, int addr_w)
{
    char pid[24];
    char uptime[32] = "-";
    char records[24];
    char restarts[24];
    json_t *up = json_object_get(s, "uptime_ms");
    int_text(s, "pid", pid, sizeof pid);
    if (json_is_integer(up) && json_integer_value(up) >= 0)
        view_duration(uptime, sizeof uptime, (uint64_t)json_integer_value(up));
    int_text(s, "records", records, sizeof records);
    int_text(s, "restarts", restarts, sizeof restarts);
    const char *note = json_string_value(json_object_get(s, "note"));
    char line[1024];
    int n = snprintf(line, sizeof line,
                     "%-*s %-9s %-7s %-*s %-8s %-8s %-4s %-8s %-18s %s", name_w,
                     str_text(s, "name"), str_text(s, "state"), pid, addr_w,
                     str_text(s, "address"), uptime, records, view_sync_mark(s),
                     restarts, str_text(s, "last_exit"), note ? note : "");
    n = n < (int)sizeof line ? n : (int)sizeof line - 1;
    while (n > 0 && line[n - 1] == ' ')
        line[--n] = '\0';
    puts(line);
}

/* herd status: the server table, then the links. */
static void print_status(json_t *view)
{
    json_t *servers = json_object_get(view, "servers");
    int name_w;
    int addr_w;
    server_widths(servers, &name_w, &addr_w);
    printf("%-*s %-9s %-7s %-*s %-8s %-8s %-4s %-8s %-18s %s\n", name_w, "NAME",
           "STATE", "PID", addr_w, "ADDRESS", "UPTIME", "RECORDS", "SYNC",
           "RESTARTS", "LAST EXIT", "NOTE");
    size_t i;
    json_t *s;
    json_array_foreach(servers, i, s)
    {
        print_server(s, name_w, addr_w);
    }
    links_print(view);
}

/* herd status [--json]: the view, from the running supervisor and the
 * servers' control sockets. */
static int status(struct herd *h, int json)
{
    struct dynbuf body;
    dynbuf_init(&body, (size_t)16 * 1024 * 1024);
    int rc =
        request_body(h, "status-json\n", &body, 0, CLIENT_STATUS_TIMEOUT_MS);
    json_t *sup = NULL;
    if (rc == 0)
        sup = json_loads(body.data ? body.data : "", 0, NULL);
    json_t *view = sup != NULL ? build_view(h, sup) : NULL;
    if (rc == 0 && view == NULL) {
        /* Not the JSON expected, or out of memory: the answer as it is. */
        if (body.len > 0)
            fwrite(body.data, 1, body.len, stdout);
    } else if (view != NULL && json) {
        char *out = json_dumps(view, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (out != NULL)
            printf("%s\n", out);
        rc = out != NULL ? 0 : HERD_EXIT_OSERR;
        free(out);
    } else if (view != NULL) {
        print_status(view);
    }
    json_decref(view);
    json_decref(sup);
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

int client_start(struct herd *h, int argc, char **argv)
{
    if (argc > 0 && argv[0][0] != '-')
        return names_request(h, "start", argc, argv);
    return start_herd(h, argc, argv);
}

int client_stop(struct herd *h, int argc, char **argv)
{
    if (argc == 0)
        return request(h, "shutdown\n");
    return names_request(h, "stop", argc, argv);
}

int client_restart(struct herd *h, int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--rolling") == 0)
            return rolling_restart(h, argc, argv);
    return names_request(h, "restart", argc, argv);
}

int client_reload(struct herd *h, int argc, char **argv)
{
    int dry_run = argc == 1 && strcmp(argv[0], "--dry-run") == 0;
    if (argc > 0 && !dry_run)
        return herd_usage_error("reload takes only --dry-run");
    /* The supervisor's socket is in herd.conf's run_dir: one that changed
     * since the start leads nowhere (a running herd keeps its own). */
    int sock_there = access(h->sock, F_OK) == 0;
    struct dynbuf body;
    dynbuf_init(&body, (size_t)16 * 1024 * 1024);
    int rc = request_body(h, dry_run ? "reload --dry-run\n" : "reload\n", &body,
                          0, CLIENT_TIMEOUT_MS);
    if (rc != 0 && !sock_there &&
        h->cfg.origin[SETTING_run_dir] == SETTINGS_FILE)
        fprintf(stderr,
                "herd: if the herd runs, it runs with another run_dir than "
                "%s sets now: run_dir cannot change while it runs (put the "
                "old one back, herd stop, then change it)\n",
                h->conf);
    /* What was done goes to stdout, even when not all went well; the
     * problems of a refused herd.conf to stderr. */
    if (body.len > 0)
        fwrite(body.data, 1, body.len,
               rc == HERD_EXIT_CONFIG ? stderr : stdout);
    dynbuf_free(&body);
    return rc;
}

int client_kill(struct herd *h, int argc, char **argv)
{
    if (!config_valid_name(argv[0], strlen(argv[0])))
        return herd_usage_error("kill: '%s' is not a server name", argv[0]);
    int sig = argc == 2 ? parse_signal(argv[1]) : SIGKILL;
    if (sig < 0)
        return herd_usage_error("kill: unknown signal '%s'", argv[1]);
    char line[128];
    snprintf(line, sizeof line, "kill %s %d\n", argv[0], sig);
    return request(h, line);
}

int client_status(struct herd *h, int argc, char **argv)
{
    if (argc == 1 && strcmp(argv[0], "--json") == 0)
        return status(h, 1);
    if (argc != 0)
        return herd_usage_error("status takes only --json");
    return status(h, 0);
}
