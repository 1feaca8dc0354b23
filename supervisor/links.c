#include "links.h"

#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"
#include "dynbuf.h"
#include "exit_codes.h"
#include "herd.h"
#include "view.h"

/* ---- the servers' control sockets (server/ctl.h) ----------------------
 *
 * herd cut / heal and the links of herd status talk to each server's own
 * control socket, RUN_DIR/NAME.sock, directly: the supervisor need not be
 * running, and a server started by hand with --config answers too. */

#define SERVER_CTL_TIMEOUT_MS    5000
#define SERVER_STATUS_TIMEOUT_MS 1000
#define SERVER_PROBE_TIMEOUT_MS  2000

struct server_req {
    const char *name;
    char path[PATH_MAX];
    int fd;                   /* -1: not connected */
    char why[PATH_MAX + 160]; /* why it is not connected, or broke off */
    struct dynbuf out;        /* request lines */
    size_t out_off;
    struct dynbuf in; /* reply lines */
    int want;         /* reply lines expected */
    int got;
};

static void server_req_init(struct server_req *r, const char *name)
{
    memset(r, 0, sizeof *r);
    r->name = name;
    r->fd = -1;
    dynbuf_init(&r->out, (size_t)64 * 1024);
    dynbuf_init(&r->in, (size_t)4 * 1024 * 1024);
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
            snprintf(r->why, sizeof r->why,
                     "not running (nothing listens "
                     "on %s)",
                     r->path);
        else if (e == EAGAIN)
            snprintf(r->why, sizeof r->why,
                     "not answering (its control socket %s is full)", r->path);
        else
            snprintf(r->why, sizeof r->why, "not reachable (%s: %s)", r->path,
                     strerror(e));
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

/* Out of memory before an exchange: every connected request is closed. */
static void server_req_fail_all(struct server_req *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].fd >= 0) {
            close(v[i].fd);
            v[i].fd = -1;
            snprintf(v[i].why, sizeof v[i].why,
                     "not reachable (out of memory)");
        }
}

/* The poll set: each connected request still short of replies, reading,
 * and writing while it has bytes to send. Returns how many; idx[k] is the
 * request of pfd[k]. */
static size_t server_req_poll_set(struct server_req *v, size_t n,
                                  struct pollfd *pfd, size_t *idx)
{
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
    return np;
}

/* One request's turn after poll: writes what it can, then reads and counts
 * the reply lines. A request that broke off is closed with r->why set. */
static void server_req_io(struct server_req *r, short revents)
{
    if (revents & POLLOUT) {
        ssize_t w =
            write(r->fd, r->out.data + r->out_off, r->out.len - r->out_off);
        if (w > 0)
            r->out_off += (size_t)w;
    }
    if (!(revents & (POLLIN | POLLHUP | POLLERR)))
        return;
    char *space = dynbuf_reserve(&r->in, 4096);
    ssize_t got = space ? read(r->fd, space, 4096) : -1;
    if (got < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (got <= 0) {
        snprintf(r->why, sizeof r->why,
                 got == 0 ? "not answering (it closed the control "
                            "connection)"
                          : "not answering (the control connection "
                            "failed)");
        close(r->fd);
        r->fd = -1;
        return;
    }
    for (ssize_t j = 0; j < got; j++)
        r->got += space[j] == '\n';
    r->in.len += (size_t)got;
}

/* Sends every connected request and reads its replies, all at once, until
 * each has its reply lines or timeout_ms passed. A request that broke off
 * is closed with r->why set. */
static void server_req_exchange(struct server_req *v, size_t n, int timeout_ms)
{
    uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
    struct pollfd *pfd = calloc(n ? n : 1, sizeof *pfd);
    size_t *idx = calloc(n ? n : 1, sizeof *idx);
    if (pfd == NULL || idx == NULL) {
        server_req_fail_all(v, n);
        free(pfd);
        free(idx);
        return;
    }
    for (;;) {
        size_t np = server_req_poll_set(v, n, pfd, idx);
        uint64_t now = now_ms();
        if (np == 0 || now >= deadline)
            break;
        int rc = poll(pfd, np, (int)(deadline - now));
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0)
            break;
        for (size_t k = 0; k < np; k++)
            server_req_io(&v[idx[k]], pfd[k].revents);
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

/* One herd cut or heal: what was asked, which links, and the requests. */
struct link_change {
    struct herd *h;
    int cut;
    const char *verb; /* "cut" or "heal" */
    int argc;         /* 0, 1 (every link of A) or 2 (the link A - B) */
    char **argv;
    long a; /* argv[0]'s server, argv[1]'s: -1 when not given */
    long b;
    unsigned char *on;    /* per link of herd.conf: changed */
    size_t nlinks;        /* how many are */
    struct server_req *v; /* per server: its requests */
    struct dynbuf *cmds;  /* per server: its cut/heal lines, set aside */
    int *ncmds;           /* and how many */
};

/* The names given: server names of herd.conf, two ends of one of its
 * links. Sets lc->a and lc->b; returns 0, or the exit code after saying
 * what is wrong. */
static int check_link_args(struct link_change *lc)
{
    const char *verb = lc->verb;
    struct herd *h = lc->h;
    char **argv = lc->argv;
    for (int i = 0; i < lc->argc; i++)
        if (argv[i][0] == '-' || !config_valid_name(argv[i], strlen(argv[i])))
            return herd_usage_error("%s: '%s' is not a server name", verb,
                                    argv[i]);
    if (lc->argc >= 1 && (lc->a = server_index(h, verb, argv[0])) < 0)
        return HERD_EXIT_FAILURE;
    if (lc->argc == 2 && (lc->b = server_index(h, verb, argv[1])) < 0)
        return HERD_EXIT_FAILURE;
    if (lc->argc == 2 && lc->a == lc->b) {
        fprintf(stderr, "herd: %s: a server has no link to itself\n", verb);
        return HERD_EXIT_FAILURE;
    }
    if (lc->argc == 2 &&
        link_index(&h->cfg, (size_t)lc->a, (size_t)lc->b) < 0) {
        fprintf(stderr,
                "herd: %s: %s - %s is not a link of %s (links are named by "
                "'link' lines)\n",
                verb, argv[0], argv[1], h->conf);
        return HERD_EXIT_FAILURE;
    }
    return 0;
}

/* Marks the links concerned in lc->on and queues what each server is told:
 * "VERB OTHER" at both ends of each, or a bare "VERB" to every server when
 * no name was given. Returns 0, or the exit code after saying why not. */
static int queue_link_changes(struct link_change *lc)
{
    const struct config *cfg = &lc->h->cfg;
    struct server_req *v = lc->v;
    size_t a = (size_t)lc->a;
    int rc = 0;
    for (size_t i = 0; i < cfg->nlinks; i++) {
        size_t x = cfg->links[i].a;
        size_t y = cfg->links[i].b;
        lc->on[i] = lc->argc == 0 || (lc->argc == 1 && (x == a || y == a)) ||
                    (lc->argc == 2 &&
                     link_index(cfg, (size_t)lc->a, (size_t)lc->b) == (int)i);
        if (!lc->on[i])
            continue;
        lc->nlinks++;
        if (lc->argc > 0) {
            rc |= server_req_line(&v[x], lc->verb, cfg->servers[y].name);
            rc |= server_req_line(&v[y], lc->verb, cfg->servers[x].name);
        }
    }
    if (lc->argc == 0) /* every link of every server, herd.conf's or not */
        for (size_t i = 0; i < cfg->nservers; i++)
            rc |= server_req_line(&v[i], lc->verb, NULL);
    if (rc != 0) {
        fprintf(stderr, "herd: out of memory\n");
        return HERD_EXIT_OSERR;
    }
    if (lc->nlinks == 0 && lc->argc > 0) {
        fprintf(stderr, "herd: %s: %s has no links in %s\n", lc->verb,
                lc->argv[0], lc->h->conf);
        return HERD_EXIT_FAILURE;
    }
    return 0;
}

/* Connects to every server concerned, sets its cut/heal lines aside and
 * queues a status request in their place. Returns 0 or HERD_EXIT_OSERR. */
static int prepare_probe(struct link_change *lc)
{
    struct server_req *v = lc->v;
    for (size_t i = 0; i < lc->h->cfg.nservers; i++) {
        if (v[i].want == 0)
            continue;
        server_req_connect(lc->h, &v[i]);
        lc->cmds[i] = v[i].out;
        lc->ncmds[i] = v[i].want;
        dynbuf_init(&v[i].out, 64);
        v[i].want = 0;
        if (server_req_line(&v[i], "status", NULL) != 0)
            return HERD_EXIT_OSERR;
    }
    return 0;
}

/* Every server concerned must answer (a status round trip) before
 * anything changes: a server that is down, or stopped with its socket
 * still there, leaves every link as it was. Returns 0, or
 * HERD_EXIT_FAILURE after naming each that did not answer. */
static int probe(struct link_change *lc)
{
    struct server_req *v = lc->v;
    int code = 0;
    server_req_exchange(v, lc->h->cfg.nservers, SERVER_PROBE_TIMEOUT_MS);
    for (size_t i = 0; i < lc->h->cfg.nservers; i++) {
        if (v[i].want == 0)
            continue;
        char *line = dynbuf_line(&v[i].in, 0);
        if (line == NULL || line[0] != '{') {
            fprintf(stderr, "herd: %s: %s is %s\n", lc->verb, v[i].name,
                    v[i].why[0] ? v[i].why
                    : line      ? "answering with errors"
                                : "not answering");
            code = HERD_EXIT_FAILURE;
        }
    }
    return code;
}

/* Server r's replies to its n cut/heal lines: each must be "ok...".
 * Returns 0, or HERD_EXIT_FAILURE after saying what went wrong. */
static int check_replies(const char *verb, struct server_req *r, int n)
{
    int code = 0;
    for (int k = 0; k < n; k++) {
        char *line = dynbuf_line(&r->in, k);
        if (line == NULL) {
            fprintf(stderr, "herd: %s: %s is %s\n", verb, r->name,
                    r->why[0] ? r->why : "not answering");
            return HERD_EXIT_FAILURE;
        }
        if (strncmp(line, "ok", 2) != 0) {
            fprintf(stderr, "herd: %s: %s: %s\n", verb, r->name,
                    strncmp(line, "error ", 6) == 0 ? line + 6 : line);
            code = HERD_EXIT_FAILURE;
        }
    }
    return code;
}

/* After the probe: sends the cut/heal lines set aside, checks every reply,
 * and prints the links changed. Returns 0 or HERD_EXIT_FAILURE. */
static int send_link_changes(struct link_change *lc)
{
    const struct config *cfg = &lc->h->cfg;
    struct server_req *v = lc->v;
    for (size_t i = 0; i < cfg->nservers; i++) {
        if (v[i].want == 0)
            continue;
        dynbuf_free(&v[i].out);
        v[i].out = lc->cmds[i];
        dynbuf_init(&lc->cmds[i], 64);
        v[i].out_off = 0;
        v[i].in.len = 0;
        v[i].got = 0;
        v[i].want = lc->ncmds[i];
    }
    server_req_exchange(v, cfg->nservers, SERVER_CTL_TIMEOUT_MS);
    int code = 0;
    for (size_t i = 0; i < cfg->nservers; i++)
        if (v[i].want != 0 && check_replies(lc->verb, &v[i], v[i].want) != 0)
            code = HERD_EXIT_FAILURE;
    if (code != 0) {
        fprintf(stderr,
                "herd: %s: not every server did it; see "
                "'herd status'\n",
                lc->verb);
        return code;
    }
    for (size_t i = 0; i < cfg->nlinks; i++)
        if (lc->on[i])
            printf("%s %s - %s\n", lc->cut ? "cut" : "healed",
                   cfg->servers[cfg->links[i].a].name,
                   cfg->servers[cfg->links[i].b].name);
    return 0;
}

static void link_change_free(struct link_change *lc)
{
    for (size_t i = 0; i < lc->h->cfg.nservers; i++) {
        server_req_free(&lc->v[i]);
        if (lc->cmds != NULL)
            dynbuf_free(&lc->cmds[i]);
    }
    free(lc->cmds);
    free(lc->ncmds);
    free(lc->v);
    free(lc->on);
}

/* herd cut|heal [A [B]]: every server concerned is told, or, if one of
 * them cannot be reached, none is. */
static int change_links(struct herd *h, int cut, int argc, char **argv)
{
    const struct config *cfg = &h->cfg;
    assert(argc <= 2 && (!cut || argc >= 1)); /* the command table's */
    struct link_change lc = {
        .h = h,
        .cut = cut,
        .verb = cut ? "cut" : "heal",
        .argc = argc,
        .argv = argv,
        .a = -1,
        .b = -1,
    };
    int code = check_link_args(&lc);
    if (code != 0)
        return code;
    /* Which links, and what each server is told. */
    lc.on = calloc(cfg->nlinks ? cfg->nlinks : 1, 1);
    lc.v = calloc(cfg->nservers, sizeof *lc.v);
    if (lc.on == NULL || lc.v == NULL) {
        free(lc.on);
        free(lc.v);
        fprintf(stderr, "herd: out of memory\n");
        return HERD_EXIT_OSERR;
    }
    for (size_t i = 0; i < cfg->nservers; i++)
        server_req_init(&lc.v[i], cfg->servers[i].name);
    code = queue_link_changes(&lc);
    lc.cmds = calloc(cfg->nservers, sizeof *lc.cmds);
    lc.ncmds = calloc(cfg->nservers, sizeof *lc.ncmds);
    if (code == 0 && (lc.cmds == NULL || lc.ncmds == NULL)) {
        fprintf(stderr, "herd: out of memory\n");
        code = HERD_EXIT_OSERR;
    }
    if (code == 0)
        code = prepare_probe(&lc);
    if (code == 0)
        code = probe(&lc);
    if (code == 0) {
        code = send_link_changes(&lc);
    } else {
        for (size_t i = 0; i < cfg->nservers; i++)
            if (lc.v[i].fd >= 0) {
                close(lc.v[i].fd);
                lc.v[i].fd = -1;
            }
        if (code == HERD_EXIT_FAILURE && lc.nlinks > 0)
            fprintf(stderr, "herd: %s: nothing was changed\n", lc.verb);
    }
    link_change_free(&lc);
    return code;
}

int links_cut(struct herd *h, int argc, char **argv)
{
    return change_links(h, 1, argc, argv);
}

int links_heal(struct herd *h, int argc, char **argv)
{
    return change_links(h, 0, argc, argv);
}

/* ---- what each server says of itself ------------------------------- */

json_t **links_query_servers(const struct herd *h)
{
    const struct config *cfg = &h->cfg;
    struct server_req *v = calloc(cfg->nservers, sizeof *v);
    json_t **st = calloc(cfg->nservers, sizeof(json_t *));
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
        char *line = dynbuf_line(&v[i].in, 0);
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

void links_free_answers(const struct herd *h, json_t **st)
{
    for (size_t i = 0; st != NULL && i < h->cfg.nservers; i++)
        json_decref(st[i]);
    free(st);
}

/* ---- the LINK table of herd status ----------------------------------- */

/* The widths of the LINK ("A - B") and STATE columns. */
static void link_widths(json_t *links, int *pair_w, int *state_w)
{
    size_t i;
    json_t *l;
    *pair_w = 4;  /* LINK */
    *state_w = 5; /* STATE */
    json_array_foreach(links, i, l)
    {
        const char *a = json_string_value(json_object_get(l, "a"));
        const char *b = json_string_value(json_object_get(l, "b"));
        char state[64];
        view_link_state(l, state, sizeof state);
        int w = (int)(strlen(a ? a : "?") + 3 + strlen(b ? b : "?"));
        *pair_w = w > *pair_w ? w : *pair_w;
        w = (int)strlen(state);
        *state_w = w > *state_w ? w : *state_w;
    }
}

void links_print(json_t *view)
{
    json_t *links = json_object_get(view, "links");
    if (json_array_size(links) == 0)
        return;
    int pair_w;
    int state_w;
    link_widths(links, &pair_w, &state_w);
    printf("\n%-*s  %s\n", pair_w, "LINK", "STATE");
    size_t i;
    json_t *l;
    json_array_foreach(links, i, l)
    {
        const char *a = json_string_value(json_object_get(l, "a"));
        const char *b = json_string_value(json_object_get(l, "b"));
        const char *note = json_string_value(json_object_get(l, "note"));
        char pair[2 * CONFIG_NAME_MAX + 8];
        char state[64];
        char detail[CONFIG_NAME_MAX + 64];
        snprintf(pair, sizeof pair, "%s - %s", a ? a : "?", b ? b : "?");
        view_link_state(l, state, sizeof state);
        view_link_detail(l, detail, sizeof detail);
        char line[1024];
        int n = snprintf(line, sizeof line, "%-*s  %-*s  %-12s  %s", pair_w,
                         pair, state_w, state, detail, note ? note : "");
        n = n < (int)sizeof line ? n : (int)sizeof line - 1;
        while (n > 0 && line[n - 1] == ' ')
            line[--n] = '\0';
        puts(line);
    }
}
