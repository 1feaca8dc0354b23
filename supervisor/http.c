/* http: the web page and /metrics on the supervisor's loop (http.h).
 *
 * libmicrohttpd runs without a thread of its own, in epoll mode: its epoll
 * descriptor is watched by a uv_poll_t, and after every MHD_run its next
 * timeout re-arms a uv_timer_t (at least 1 ms: work MHD has left for
 * "now" waits a loop turn, never spins). A request is answered from the
 * access handler, except a change: its connection is suspended until the
 * control socket's request (start, stop, restart, kill) or the servers'
 * (cut, heal) has its outcome, then resumed with the answer.
 *
 * Each connection is known from its start (MHD_OPTION_NOTIFY_CONNECTION):
 * the sweep shuts down the socket of one that has not delivered a whole
 * request within HTTP_REQUEST_MS, and MHD then closes it as it would any
 * closed connection.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "assets.h"
#include "exit_codes.h"
#include "fileio.h"
#include "log.h"
#include "metrics.h"
#include "strparse.h"

#define HTTP_ADDR_MAX (INET6_ADDRSTRLEN + 8)
#define SWEEP_MS      1000

/* One connection, from its start to its close. */
struct http_conn {
    struct http *web;
    int fd;
    uint64_t since_ms; /* waiting for a whole request since then */
    int in_request;    /* its request is in: being answered */
    int served;        /* requests answered on it (kept alive since) */
    int cut;           /* shut down by the sweep, or at the end */
    char addr[HTTP_ADDR_MAX];
    struct http_conn *prev, *next;
};

enum route {
    ROUTE_NONE,
    ROUTE_ASSET,
    ROUTE_STATE,
    ROUTE_METRICS,
    ROUTE_SERVER, /* /api/servers/NAME/ACTION */
    ROUTE_LINK    /* /api/links/A/B/ACTION */
};

/* One request, from its head to its answer. */
struct http_req {
    struct http *web;
    struct MHD_Connection *mc;
    struct http_conn *conn;
    enum route route;
    const struct web_asset *asset;
    /* The servers named ("": none), by name: a reload may change the
     * table while the request waits for its body or its outcome. */
    char a[CONFIG_NAME_MAX + 1], b[CONFIG_NAME_MAX + 1];
    char action[16];
    size_t body;
    int answered;  /* a response is queued */
    int suspended; /* waiting for an outcome */
    int has_outcome;
    unsigned status;              /* the outcome's */
    char *outcome;                /* its JSON body */
    struct http_req *prev, *next; /* in web->waiting while suspended */
};

static uint64_t now_ms(const struct http *web)
{
    return uv_now(web->loop);
}

/* ---- the log of refusals -------------------------------------------- */

/* Whether one more refusal may be logged now (HTTP_LOG_BURST a window);
 * the count of those left out is logged when the window is over. */
static int log_allowed(struct http *web)
{
    struct http_log_limit *l = &web->refusals;
    uint64_t now = now_ms(web);
    if (now - l->window_ms >= HTTP_LOG_WINDOW_MS) {
        if (l->dropped > 0)
            log_msg("http: %u more refusals in %d s not logged", l->dropped,
                    HTTP_LOG_WINDOW_MS / 1000);
        l->window_ms = now;
        l->lines = 0;
        l->dropped = 0;
    }
    if (l->lines < HTTP_LOG_BURST) {
        l->lines++;
        return 1;
    }
    l->dropped++;
    return 0;
}

/* libmicrohttpd's own messages (a connection over the limits...): logged
 * like refusals, escaped (some quote the request's address). */
__attribute__((format(printf, 2, 0))) static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct http *web = cls;
    char msg[512];
    char esc[4 * sizeof msg];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    if (!log_allowed(web))
        return;
    log_escape(esc, sizeof esc, msg, n);
    log_msg("http: %s", esc);
}

/* ---- responses ------------------------------------------------------ */

/* The headers of every response: no caching, no sniffing, no framing, no
 * referrer, and a policy that allows only the page's own files. */
static int add_headers(struct http *web, struct MHD_Response *resp,
                       const char *type)
{
    static const char *const common[][2] = {
        {"Cache-Control", "no-store"},
        {"X-Content-Type-Options", "nosniff"},
        {"X-Frame-Options", "DENY"},
        {"Referrer-Policy", "no-referrer"},
        {"Content-Security-Policy",
         "default-src 'self'; frame-ancestors 'none'"},
    };
    int ok = MHD_add_response_header(resp, "Content-Type", type) == MHD_YES;
    for (size_t i = 0; i < sizeof common / sizeof common[0]; i++)
        ok &= MHD_add_response_header(resp, common[i][0], common[i][1]) ==
              MHD_YES;
    if (web->closing)
        ok &= MHD_add_response_header(resp, "Connection", "close") == MHD_YES;
    return ok;
}

/* r's request is in whole (or answered before its body: MHD drops the
 * body): the sweep leaves its connection alone until it is over. */
static void request_whole(struct http_req *r)
{
    if (r->conn != NULL)
        r->conn->in_request = 1;
}

/* Queues len bytes of data (malloc'd, taken: freed by MHD or here) as
 * the answer to r; allow: the Allow header, or NULL. */
static enum MHD_Result reply_take(struct http_req *r, unsigned status,
                                  const char *type, char *data, size_t len,
                                  const char *allow)
{
    request_whole(r);
    struct MHD_Response *resp =
        data != NULL
            ? MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE)
            : NULL;
    if (resp == NULL) {
        free(data);
        return MHD_NO; /* out of memory: MHD closes the connection */
    }
    int ok = add_headers(r->web, resp, type);
    if (allow != NULL)
        ok &= MHD_add_response_header(resp, "Allow", allow) == MHD_YES;
    enum MHD_Result rc = ok ? MHD_queue_response(r->mc, status, resp) : MHD_NO;
    MHD_destroy_response(resp);
    r->answered = 1;
    return rc;
}

/* Queues a copy of len bytes of data. */
static enum MHD_Result reply_copy(struct http_req *r, unsigned status,
                                  const char *type, const void *data,
                                  size_t len)
{
    char *copy = malloc(len > 0 ? len : 1);
    if (copy != NULL)
        memcpy(copy, data, len);
    return reply_take(r, status, type, copy, len, NULL);
}

/* Queues o (taken) as JSON. */
static enum MHD_Result reply_json(struct http_req *r, unsigned status,
                                  json_t *o, const char *allow)
{
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return reply_take(r, status, "application/json", s, s ? strlen(s) : 0,
                      allow);
}

/* {"error": MESSAGE}. */
static json_t *error_object(const char *message)
{
    return json_pack("{s:s}", "error", message);
}

static enum MHD_Result reply_error(struct http_req *r, unsigned status,
                                   const char *message, const char *allow)
{
    return reply_json(r, status, error_object(message), allow);
}

/* The requester's address, for the log. */
static const char *conn_addr(const struct http_req *r)
{
    return r->conn != NULL ? r->conn->addr : "?";
}

/* A refusal: logged (within the limit), then answered. */
static enum MHD_Result refuse(struct http_req *r, unsigned status,
                              const char *method, const char *url,
                              const char *why, const char *allow)
{
    if (log_allowed(r->web)) {
        char esc[160];
        char verb[68]; /* the method's first 16 bytes, escaped */
        log_escape(esc, sizeof esc, url, strlen(url));
        log_escape(verb, sizeof verb, method, strnlen(method, 16));
        log_msg("http: refused %s %s from %s: %s (%u)", verb, esc, conn_addr(r),
                why, status);
    }
    return reply_error(r, status, why, allow);
}

/* ---- outcomes of changes -------------------------------------------- */

static void on_timer(uv_timer_t *t);

/* Suspends r's connection until its outcome. */
static void suspend(struct http_req *r)
{
    struct http *web = r->web;
    r->suspended = 1;
    r->next = web->waiting;
    if (r->next != NULL)
        r->next->prev = r;
    web->waiting = r;
    MHD_suspend_connection(r->mc);
}

/* Keeps a change's answer; resumes its connection if it waits. */
static void set_outcome(struct http_req *r, unsigned status, json_t *o)
{
    struct http *web = r->web;
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    r->status = s != NULL ? status : 500;
    r->outcome = s;
    r->has_outcome = 1;
    if (!r->suspended)
        return;
    r->suspended = 0;
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        web->waiting = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    MHD_resume_connection(r->mc);
    /* The resumed connection is MHD's work at its next run. */
    uv_timer_start(&web->timer, on_timer, 1, 0);
}

static enum MHD_Result send_outcome(struct http_req *r)
{
    char *s = r->outcome;
    r->outcome = NULL;
    if (s == NULL)
        return reply_error(r, 500, "out of memory", NULL);
    return reply_take(r, r->status, "application/json", s, strlen(s), NULL);
}

static unsigned control_status_code(enum control_result result)
{
    switch (result) {
    case CONTROL_OK:
        return 200;
    case CONTROL_EBADREQ:
        return 400;
    case CONTROL_ENOTFOUND:
        return 404;
    case CONTROL_ECONFLICT:
        return 409;
    case CONTROL_EFAILED:
        return 502;
    case CONTROL_ETIMEOUT:
        return 504;
    case CONTROL_ESTOPPING:
        return 503;
    case CONTROL_ECONFIG:
        return 422;
    case CONTROL_ENOMEM:
        break;
    }
    return 500;
}

/* What a done start, stop, restart or kill says. */
static void ok_message(struct http_req *r, const struct dynbuf *body, char *out,
                       size_t cap)
{
    const struct child *c = supervise_find(r->web->sv, r->a);
    const char *name = r->a;
    if (strcmp(r->action, "kill") == 0 && body->len > 0) {
        /* The body's first line (a dynbuf has no terminating NUL). */
        const char *nl = memchr(body->data, '\n', body->len);
        size_t n = nl != NULL ? (size_t)(nl - body->data) : body->len;
        snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), body->data);
    } else if (strcmp(r->action, "stop") == 0)
        snprintf(out, cap, "%s is down", name);
    else if (c == NULL)
        snprintf(out, cap, "%s has left herd.conf", name);
    else
        snprintf(out, cap, "%s is %s (pid %d)", name,
                 supervise_state_name(c->state), c->pid);
}

static void on_control_done(void *arg, enum control_result result,
                            const char *message, const struct dynbuf *body)
{
    struct http_req *r = arg;
    char text[400];
    json_t *o;
    if (result == CONTROL_OK) {
        ok_message(r, body, text, sizeof text);
        o = json_pack("{s:b, s:s}", "ok", 1, "message", text);
    } else {
        const struct child *c = supervise_find(r->web->sv, r->a);
        const char *note = c != NULL ? c->note : "";
        snprintf(text, sizeof text, "%s%s%s", message,
                 result == CONTROL_EFAILED && note[0] ? ": " : "",
                 result == CONTROL_EFAILED ? note : "");
        o = error_object(text);
        log_msg("http: %s %s from %s failed: %s", r->action, r->a, conn_addr(r),
                text);
    }
    watch_poll_now(&r->web->watch);
    set_outcome(r, control_status_code(result), o);
}

static unsigned watch_status_code(enum watch_result result)
{
    switch (result) {
    case WATCH_OK:
        return 200;
    case WATCH_EDOWN:
    case WATCH_EREFUSED:
        return 502;
    case WATCH_ETIMEOUT:
        return 504;
    case WATCH_ECLOSED:
        return 503;
    case WATCH_ENOMEM:
        break;
    }
    return 500;
}

/* "A - B, A - C": the links of herd.conf a cut or heal of r concerns. */
static void links_text(const struct http_req *r, char *out, size_t cap)
{
    const struct config *cfg = &r->web->h->cfg;
    long a = config_find(cfg, r->a, strlen(r->a));
    long b = config_find(cfg, r->b, strlen(r->b));
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < cfg->nlinks && used < cap && a >= 0; i++) {
        long x = (long)cfg->links[i].a;
        long y = (long)cfg->links[i].b;
        int mine = r->route == ROUTE_LINK
                       ? (x == a && y == b) || (x == b && y == a)
                       : x == a || y == a;
        if (!mine)
            continue;
        int n =
            snprintf(out + used, cap - used, "%s%s - %s", used > 0 ? ", " : "",
                     cfg->servers[x].name, cfg->servers[y].name);
        used += n > 0 ? (size_t)n : 0;
    }
}

static void on_watch_done(void *arg, enum watch_result result,
                          const char *message)
{
    struct http_req *r = arg;
    json_t *o;
    if (result == WATCH_OK) {
        char links[1024];
        char text[1100];
        links_text(r, links, sizeof links);
        snprintf(text, sizeof text, "%s %s",
                 strcmp(r->action, "cut") == 0 ? "cut" : "healed", links);
        o = json_pack("{s:b, s:s}", "ok", 1, "message", text);
    } else {
        o = error_object(message);
        log_msg("http: %s from %s failed: %s", r->action, conn_addr(r),
                message);
    }
    watch_poll_now(&r->web->watch);
    set_outcome(r, watch_status_code(result), o);
}

/* ---- changes -------------------------------------------------------- */

/* start, stop, restart, kill: the control socket's request. Returns 0
 * (submitted), or an HTTP status. */
static unsigned submit_control(struct http_req *r)
{
    struct http *web = r->web;
    const char *name = r->a;
    char line[CONFIG_NAME_MAX + 32];
    char origin[HTTP_ADDR_MAX + 8];
    if (strcmp(r->action, "kill") == 0)
        snprintf(line, sizeof line, "kill %s 9", name);
    else
        snprintf(line, sizeof line, "%s %s", r->action, name);
    snprintf(origin, sizeof origin, "http %s", conn_addr(r));
    return control_submit(web->ctl, line, origin, on_control_done, r) == 0
               ? 0
               : 500;
}

/* Appends "VERB OTHER\n" (or "VERB\n" when other is NULL) to *text. */
static int add_line(char **text, const char *verb, const char *other)
{
    size_t old = *text ? strlen(*text) : 0;
    size_t add = strlen(verb) + (other ? 1 + strlen(other) : 0) + 2;
    char *p = realloc(*text, old + add);
    if (p == NULL)
        return -1;
    snprintf(p + old, add, "%s%s%s\n", verb, other ? " " : "",
             other ? other : "");
    *text = p;
    return 0;
}

/* cut, heal: to A "VERB B", to B "VERB A"; for a whole server, "VERB" to
 * it and "VERB NAME" to each neighbour of herd.conf. Returns 0
 * (submitted), or an HTTP status. */
static unsigned submit_links(struct http_req *r)
{
    struct http *web = r->web;
    const struct config *cfg = &web->h->cfg;
    long a = config_find(cfg, r->a, strlen(r->a));
    long b = config_find(cfg, r->b, strlen(r->b));
    char **lines = calloc(cfg->nservers ? cfg->nservers : 1, sizeof(char *));
    if (lines == NULL)
        return 500;
    const char *verb = r->action;
    int rc = 0;
    if (r->route == ROUTE_LINK) {
        rc |= add_line(&lines[a], verb, r->b);
        rc |= add_line(&lines[b], verb, r->a);
    } else {
        rc |= add_line(&lines[a], verb, NULL);
        for (size_t i = 0; i < cfg->nlinks; i++) {
            size_t x = cfg->links[i].a;
            size_t y = cfg->links[i].b;
            if ((long)x == a || (long)y == a)
                rc |= add_line(&lines[(long)x == a ? y : x], verb, r->a);
        }
    }
    if (rc == 0)
        rc = watch_send(&web->watch, (const char *const *)lines, on_watch_done,
                        r);
    for (size_t i = 0; i < cfg->nservers; i++)
        free(lines[i]);
    free(lines);
    return rc == 0 ? 0 : rc == WATCH_ECLOSED ? 503 : 500;
}

/* A change with a valid token: submitted, and the connection suspended
 * until its outcome (which may have come already). */
static unsigned check_change(struct http_req *r, char *why, size_t cap);

static enum MHD_Result change(struct http_req *r)
{
    int control =
        strcmp(r->action, "cut") != 0 && strcmp(r->action, "heal") != 0;
    char why[200];
    /* A reload may have changed herd.conf since the request's head. */
    unsigned status = check_change(r, why, sizeof why);
    if (status != 0)
        return reply_error(r, status, why, NULL);
    if (!control) {
        char links[1024];
        links_text(r, links, sizeof links);
        log_msg("http: %s %s (from %s)", r->action, links, conn_addr(r));
    }
    status = control ? submit_control(r) : submit_links(r);
    if (status != 0)
        return reply_error(r, status,
                           status == 503 ? "the supervisor is stopping"
                                         : "out of memory",
                           NULL);
    if (r->has_outcome)
        return send_outcome(r);
    suspend(r);
    return MHD_YES;
}

/* ---- requests ------------------------------------------------------- */

/* Whether Host names this server: the http address, or localhost,
 * 127.0.0.1, [::1] with its port. */
static int host_ok(const struct http *web, const char *host)
{
    for (size_t i = 0; host != NULL && i < 4; i++)
        if (strcasecmp(host, web->hosts[i]) == 0)
            return 1;
    return 0;
}

static enum MHD_Result count_host(void *cls, enum MHD_ValueKind kind,
                                  const char *key, const char *value)
{
    (void)kind;
    (void)value;
    *(unsigned *)cls += strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0;
    return MHD_YES;
}

/* How many Host headers the request has (libmicrohttpd lets one see only
 * the first). */
static unsigned host_headers(struct MHD_Connection *mc)
{
    unsigned n = 0;
    MHD_get_connection_values(mc, MHD_HEADER_KIND, count_host, &n);
    return n;
}

/* Whether Origin, if any, is the page's own. */
static int origin_ok(const struct http *web, const char *origin)
{
    if (origin == NULL)
        return 1;
    if (strncasecmp(origin, "http://", 7) != 0)
        return 0;
    return host_ok(web, origin + 7);
}

/* The token, compared in constant time. */
static int token_ok(const struct http *web, const char *got)
{
    if (got == NULL)
        return 0;
    size_t n = strlen(got);
    unsigned diff = n != HTTP_TOKEN_LEN;
    for (size_t i = 0; i < HTTP_TOKEN_LEN; i++)
        diff |=
            (unsigned char)web->token[i] ^ (unsigned char)(i < n ? got[i] : 0);
    return diff == 0;
}

/* Splits rest ("A/B/cut") at '/' into at most max names. Returns how
 * many, or -1 (too many, one empty or too long). */
static int split_path(const char *rest, char (*seg)[CONFIG_NAME_MAX + 1],
                      int max)
{
    int n = 0;
    while (*rest != '\0') {
        size_t len = strcspn(rest, "/");
        if (n == max || len == 0 || len > CONFIG_NAME_MAX)
            return -1;
        memcpy(seg[n], rest, len);
        seg[n++][len] = '\0';
        rest += len;
        if (*rest == '/' && *++rest == '\0')
            return -1;
    }
    return n;
}

/* What a POST path names: r->a, r->b, r->action. Returns 0, or 404 with
 * the reason in why. */
static unsigned parse_change(struct http_req *r, const char *url, char *why,
                             size_t cap)
{
    const struct config *cfg = &r->web->h->cfg;
    char seg[3][CONFIG_NAME_MAX + 1];
    int links = r->route == ROUTE_LINK;
    const char *rest =
        url + (links ? strlen("/api/links/") : strlen("/api/servers/"));
    int want = links ? 3 : 2;
    if (split_path(rest, seg, want) != want) {
        snprintf(why, cap, "no such page");
        return 404;
    }
    for (int i = 0; i < want - 1; i++) {
        if (config_find(cfg, seg[i], strlen(seg[i])) < 0) {
            snprintf(why, cap, "no server named '%s' in herd.conf", seg[i]);
            return 404;
        }
        snprintf(i == 0 ? r->a : r->b, sizeof r->a, "%s", seg[i]);
    }
    const char *const actions[] = {"start", "stop", "restart",
                                   "kill",  "cut",  "heal"};
    for (size_t i = links ? 4 : 0; i < 6; i++)
        if (strcmp(seg[want - 1], actions[i]) == 0) {
            snprintf(r->action, sizeof r->action, "%s", actions[i]);
            return 0;
        }
    snprintf(why, cap, "no action '%s' here (%s)", seg[want - 1],
             links ? "cut, heal" : "start, stop, restart, kill, cut, heal");
    return 404;
}

/* The servers and link named can take the change? 0, or 404/409. */
static unsigned check_change(struct http_req *r, char *why, size_t cap)
{
    struct http *web = r->web;
    const struct config *cfg = &web->h->cfg;
    int is_link_change =
        strcmp(r->action, "cut") == 0 || strcmp(r->action, "heal") == 0;
    long a = config_find(cfg, r->a, strlen(r->a));
    long b = config_find(cfg, r->b, strlen(r->b));
    const char *gone = a < 0                             ? r->a
                       : r->route == ROUTE_LINK && b < 0 ? r->b
                                                         : NULL;
    if (gone != NULL) {
        snprintf(why, cap, "no server named '%s' in herd.conf", gone);
        return 404;
    }
    int found = 0;
    for (size_t i = 0; i < cfg->nlinks; i++) {
        long x = (long)cfg->links[i].a;
        long y = (long)cfg->links[i].b;
        found |= r->route == ROUTE_LINK
                     ? (x == a && y == b) || (x == b && y == a)
                     : x == a || y == a;
    }
    if (r->route == ROUTE_LINK && !found) {
        snprintf(why, cap, "%s - %s is not a link of herd.conf", r->a, r->b);
        return 404;
    }
    if (is_link_change && !found) {
        snprintf(why, cap, "%s has no links in herd.conf", r->a);
        return 409;
    }
    if (!is_link_change && !supervise_find(web->sv, r->a)->managed) {
        snprintf(why, cap, "%s is not run by this supervisor (--only)", r->a);
        return 409;
    }
    return 0;
}

/* Which page url is, and the methods it takes. */
static enum route find_route(struct http_req *r, const char *url)
{
    for (size_t i = 0; i < web_assets_count; i++)
        if (strcmp(url, web_assets[i].path) == 0) {
            r->asset = &web_assets[i];
            return ROUTE_ASSET;
        }
    if (strcmp(url, "/api/state") == 0)
        return ROUTE_STATE;
    if (strcmp(url, "/metrics") == 0)
        return ROUTE_METRICS;
    if (strncmp(url, "/api/servers/", 13) == 0)
        return ROUTE_SERVER;
    if (strncmp(url, "/api/links/", 11) == 0)
        return ROUTE_LINK;
    return ROUTE_NONE;
}

/* The checks of a POST before its body: Origin, token, body size, what
 * it names. */
static enum MHD_Result check_post(struct http_req *r, const char *url)
{
    struct MHD_Connection *mc = r->mc;
    const char *len = MHD_lookup_connection_value(
        mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    uint64_t n = 0;
    if (!origin_ok(r->web, MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
                                                       MHD_HTTP_HEADER_ORIGIN)))
        return refuse(r, 403, "POST", url, "cross-origin request", NULL);
    if (!token_ok(r->web, MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
                                                      "X-Herd-Token")))
        return refuse(r, 403, "POST", url,
                      "a change needs the token (X-Herd-Token; see herd web)",
                      NULL);
    if (len != NULL && (strparse_uint(len, strlen(len), UINT64_MAX, &n) != 0 ||
                        n > HTTP_BODY_MAX))
        return refuse(r, 413, "POST", url, "request body too large", NULL);
    char why[200];
    unsigned status = parse_change(r, url, why, sizeof why);
    if (status == 0)
        status = check_change(r, why, sizeof why);
    if (status != 0)
        return refuse(r, status, "POST", url, why, NULL);
    return MHD_YES;
}

/* The request's head is in: every check that needs no body. */
static enum MHD_Result first_call(struct http_req *r, const char *url,
                                  const char *method)
{
    struct MHD_Connection *mc = r->mc;
    const char *host =
        MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    /* Two Hosts: the one checked here need not be the one another
     * reader of the request (a proxy) went by. */
    if (host_headers(mc) > 1)
        return refuse(r, 400, method, url, "more than one Host", NULL);
    if (!host_ok(r->web, host))
        return refuse(r, 421, method, url,
                      "this server is not known by that name (Host)", NULL);
    if (strlen(url) > HTTP_URL_MAX)
        return refuse(r, 414, method, url, "address too long", NULL);
    r->route = find_route(r, url);
    int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    int post = strcmp(method, "POST") == 0;
    int changes = r->route == ROUTE_SERVER || r->route == ROUTE_LINK;
    if (r->route == ROUTE_NONE)
        return refuse(r, 404, method, url, "no such page", NULL);
    if (changes && !post)
        return refuse(r, 405, method, url, "method not allowed here", "POST");
    if (!changes && !get)
        return refuse(r, 405, method, url, "method not allowed here",
                      "GET, HEAD");
    return changes ? check_post(r, url) : MHD_YES;
}

static enum MHD_Result answer_state(struct http_req *r)
{
    json_t *view = watch_view(&r->web->watch);
    if (view == NULL)
        return reply_error(r, 500, "out of memory", NULL);
    return reply_json(r, 200, view, NULL);
}

static enum MHD_Result answer_metrics(struct http_req *r)
{
    json_t *view = watch_view(&r->web->watch);
    struct dynbuf out;
    dynbuf_init(&out, (size_t)64 * 1024 * 1024);
    int rc = view != NULL ? metrics_render(view, &out) : DYNBUF_ENOMEM;
    json_decref(view);
    if (rc != 0) {
        dynbuf_free(&out);
        return reply_error(r, 500, "out of memory", NULL);
    }
    size_t len;
    char *text = dynbuf_take(&out, &len);
    return reply_take(r, 200, METRICS_CONTENT_TYPE, text, len, NULL);
}

/* The whole request is in (and any body read): the answer. */
static enum MHD_Result final_call(struct http_req *r)
{
    switch (r->route) {
    case ROUTE_ASSET:
        return reply_copy(r, 200, r->asset->type, r->asset->data,
                          r->asset->len);
    case ROUTE_STATE:
        return answer_state(r);
    case ROUTE_METRICS:
        return answer_metrics(r);
    case ROUTE_SERVER:
    case ROUTE_LINK:
        return change(r);
    case ROUTE_NONE:
        break;
    }
    return reply_error(r, 404, "no such page", NULL);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **req_cls)
{
    (void)version;
    (void)upload;
    struct http *web = cls;
    struct http_req *r = *req_cls;
    if (r == NULL) {
        r = calloc(1, sizeof *r);
        if (r == NULL)
            return MHD_NO;
        *req_cls = r;
        r->web = web;
        r->mc = mc;
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        r->conn = ci != NULL ? ci->socket_context : NULL;
        return first_call(r, url, method);
    }
    if (*upload_size > 0) { /* a body: counted and dropped */
        r->body += *upload_size;
        *upload_size = 0;
        if (r->body <= HTTP_BODY_MAX || r->answered)
            return MHD_YES;
        /* No answer can be queued in the middle of a body: closed. */
        if (log_allowed(web))
            log_msg("http: closed the connection of %s: a body of more "
                    "than %d bytes",
                    conn_addr(r), HTTP_BODY_MAX);
        return MHD_NO;
    }
    request_whole(r);
    if (r->answered)
        return MHD_YES;
    if (r->has_outcome)
        return send_outcome(r);
    return final_call(r);
}

/* The request is over (answered, or its connection gone). */
static void on_completed(void *cls, struct MHD_Connection *mc, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)mc;
    (void)toe;
    struct http_req *r = *req_cls;
    if (r == NULL)
        return;
    if (r->conn != NULL) {
        r->conn->in_request = 0;
        r->conn->served = 1;
        r->conn->since_ms = now_ms(r->web);
    }
    free(r->outcome);
    free(r);
    *req_cls = NULL;
}

/* A connection starts or ends: known for the sweep. */
static void on_connection(void *cls, struct MHD_Connection *mc,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct http *web = cls;
    struct http_conn *c = *socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        if (c == NULL)
            return;
        if (c->prev != NULL)
            c->prev->next = c->next;
        else
            web->conns = c->next;
        if (c->next != NULL)
            c->next->prev = c->prev;
        free(c);
        *socket_context = NULL;
        return;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL)
        return; /* not swept: its idle timeout still holds */
    c->web = web;
    c->since_ms = now_ms(web);
    const union MHD_ConnectionInfo *fd =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
    const union MHD_ConnectionInfo *ad =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    c->fd = fd != NULL ? fd->connect_fd : -1;
    snprintf(c->addr, sizeof c->addr, "?");
    if (ad != NULL && ad->client_addr != NULL) {
        char ip[INET6_ADDRSTRLEN] = "?";
        const struct sockaddr *sa = ad->client_addr;
        if (sa->sa_family == AF_INET) {
            const struct sockaddr_in *in = (const void *)sa;
            inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
            snprintf(c->addr, sizeof c->addr, "%s:%u", ip, ntohs(in->sin_port));
        } else if (sa->sa_family == AF_INET6) {
            const struct sockaddr_in6 *in6 = (const void *)sa;
            inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
            snprintf(c->addr, sizeof c->addr, "[%s]:%u", ip,
                     ntohs(in6->sin6_port));
        }
    }
    c->next = web->conns;
    if (c->next != NULL)
        c->next->prev = c;
    web->conns = c;
    *socket_context = c;
}

/* ---- the loop ------------------------------------------------------- */

static void finish_close(struct http *web);

/* MHD's work, then its next timeout on the timer. */
static void run_mhd(struct http *web)
{
    if (web->mhd == NULL)
        return;
    MHD_run(web->mhd);
    MHD_UNSIGNED_LONG_LONG t = 0;
    if (web->closing) {
        const union MHD_DaemonInfo *di =
            MHD_get_daemon_info(web->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
        if ((di != NULL && di->num_connections == 0) ||
            now_ms(web) - web->closing_ms >= HTTP_DRAIN_MS) {
            finish_close(web);
            return;
        }
    }
    if (MHD_get_timeout(web->mhd, &t) == MHD_YES)
        uv_timer_start(&web->timer, on_timer,
                       t < 1 ? 1 : (t > 60000 ? 60000 : t), 0);
    else if (web->closing)
        uv_timer_start(&web->timer, on_timer, 50, 0);
    else
        uv_timer_stop(&web->timer);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    run_mhd(p->data);
}

static void on_timer(uv_timer_t *t)
{
    run_mhd(t->data);
}

/* Every SWEEP_MS: a connection that has not delivered a whole request in
 * HTTP_REQUEST_MS is shut down (MHD then sees it closed); the log's count
 * of refusals left out comes when its window is over. */
static void on_sweep(uv_timer_t *t)
{
    struct http *web = t->data;
    uint64_t now = now_ms(web);
    for (struct http_conn *c = web->conns; c != NULL; c = c->next) {
        if (c->in_request || c->cut || c->fd < 0 ||
            now - c->since_ms < HTTP_REQUEST_MS)
            continue;
        c->cut = 1;
        shutdown(c->fd, SHUT_RDWR);
        /* One kept alive after its answers and idle since (a browser's
         * spare connection) is no refusal: closed without a word. */
        if (!c->served && log_allowed(web))
            log_msg("http: closed the connection of %s: no whole request "
                    "within %d ms",
                    c->addr, HTTP_REQUEST_MS);
    }
    if (web->refusals.dropped > 0 &&
        now - web->refusals.window_ms >= HTTP_LOG_WINDOW_MS)
        (void)log_allowed(web); /* logs the count, opens a window */
    run_mhd(web);
}

/* ---- start and end -------------------------------------------------- */

static void on_handle_closed(uv_handle_t *h)
{
    struct http *web = h->data;
    web->handles--;
}

/* The token: RUN_DIR/http-token, ours and private, 64 hex digits (and a
 * newline). Returns 0, or -1 with the reason in err (missing: errno
 * ENOENT). */
static int read_token(const char *path, char token[HTTP_TOKEN_LEN + 1],
                      char *err, size_t cap)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        int e = errno;
        snprintf(err, cap, "cannot read %s: %s", path, strerror(e));
        errno = e;
        return -1;
    }
    char why[FILEIO_ERR_MAX];
    int fd = fileio_open_secret(path, why, sizeof why);
    if (fd < 0) {
        snprintf(err, cap, "refusing %s: %s", path, why);
        errno = EPERM;
        return -1;
    }
    char buf[HTTP_TOKEN_LEN + 2];
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    int good = n == HTTP_TOKEN_LEN ||
               (n == HTTP_TOKEN_LEN + 1 && buf[HTTP_TOKEN_LEN] == '\n');
    for (size_t i = 0; good && i < HTTP_TOKEN_LEN; i++)
        good = (buf[i] >= '0' && buf[i] <= '9') ||
               (buf[i] >= 'a' && buf[i] <= 'f');
    if (!good) {
        snprintf(err, cap,
                 "%s is not 64 hex digits: remove it, and the next herd "
                 "start makes a new one",
                 path);
        errno = EINVAL;
        return -1;
    }
    memcpy(token, buf, HTTP_TOKEN_LEN);
    token[HTTP_TOKEN_LEN] = '\0';
    return 0;
}

/* The token, made on the first start. */
static int load_token(struct http *web, char *err, size_t cap)
{
    char why[PATH_MAX + 64];
    int rc = herd_make_secret(web->h->http_token, web->token, why, sizeof why);
    if (rc == 0) {
        log_msg("made the web page's token %s", web->h->http_token);
        return 0;
    }
    if (rc < 0) {
        snprintf(err, cap, "%s", why);
        return -1;
    }
    return read_token(web->h->http_token, web->token, err, cap);
}

/* "HOST:PORT" as a Host header carries it (an IPv6 address bracketed). */
static void host_port(char *out, size_t cap, const char *host, uint16_t port)
{
    if (strchr(host, ':') != NULL)
        snprintf(out, cap, "[%s]:%u", host, port);
    else
        snprintf(out, cap, "%s:%u", host, port);
}

/* A socket listening on the http address. Returns it, or -1 with the
 * reason in err. */
static int listen_on(const struct herd *h, int *v6, char *err, size_t cap)
{
    char addr[CONFIG_HOST_MAX + 16];
    host_port(addr, sizeof addr, h->http_host, h->http_port);
    struct addrinfo hints;
    struct addrinfo *ai = NULL;
    char port[8];
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(port, sizeof port, "%u", h->http_port);
    int gai = getaddrinfo(h->http_host, port, &hints, &ai);
    if (gai != 0 || ai == NULL) {
        snprintf(err, cap,
                 "cannot serve the web page on %s (herd.conf's http): %s", addr,
                 gai_strerror(gai));
        return -1;
    }
    int fd =
        socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    int rc = fd < 0 ? -1 : 0;
    if (rc == 0)
        rc = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (rc == 0)
        rc = bind(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc == 0)
        rc = listen(fd, HTTP_MAX_CONNS);
    *v6 = ai->ai_family == AF_INET6;
    freeaddrinfo(ai);
    if (rc != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        snprintf(err, cap,
                 "cannot serve the web page on %s (herd.conf's http): %s; "
                 "choose another address, or 'http off'",
                 addr, strerror(e));
        return -1;
    }
    return fd;
}

static struct MHD_Daemon *start_mhd(struct http *web, int fd, int v6)
{
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    return MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, web, MHD_OPTION_EXTERNAL_LOGGER,
        on_mhd_log, web, MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_MAX_CONNS,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)HTTP_MAX_PER_ADDR,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, HTTP_CONN_MEMORY,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_IDLE_S,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, web,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, web,
        MHD_OPTION_STRICT_FOR_CLIENT, 1, MHD_OPTION_END);
}

static json_t *supervisor_status(void *arg)
{
    return control_status_object(arg);
}

int http_start(struct http *web, uv_loop_t *loop, struct herd *h,
               struct supervise *sv, struct control *ctl, char *err, size_t cap)
{
    memset(web, 0, sizeof *web);
    web->loop = loop;
    web->h = h;
    web->sv = sv;
    web->ctl = ctl;
    if (load_token(web, err, cap) != 0)
        return -1;
    host_port(web->hosts[0], sizeof web->hosts[0], h->http_host, h->http_port);
    host_port(web->hosts[1], sizeof web->hosts[1], "localhost", h->http_port);
    host_port(web->hosts[2], sizeof web->hosts[2], "127.0.0.1", h->http_port);
    host_port(web->hosts[3], sizeof web->hosts[3], "::1", h->http_port);
    int v6 = 0;
    int fd = listen_on(h, &v6, err, cap);
    if (fd < 0)
        return -1;
    web->mhd = start_mhd(web, fd, v6);
    const union MHD_DaemonInfo *di =
        web->mhd ? MHD_get_daemon_info(web->mhd, MHD_DAEMON_INFO_EPOLL_FD)
                 : NULL;
    if (di == NULL || watch_init(&web->watch, loop, &h->cfg, h->run_dir, 1,
                                 supervisor_status, sv) != 0) {
        if (web->mhd != NULL)
            MHD_stop_daemon(web->mhd); /* closes fd */
        else
            close(fd);
        web->mhd = NULL;
        watch_free(&web->watch);
        snprintf(err, cap, "cannot start the web server (libmicrohttpd)");
        return -1;
    }
    web->watching = 1;
    uv_poll_init(loop, &web->poll, di->epoll_fd);
    uv_timer_init(loop, &web->timer);
    uv_timer_init(loop, &web->sweep);
    web->poll.data = web->timer.data = web->sweep.data = web;
    web->handles = 3;
    uv_poll_start(&web->poll, UV_READABLE, on_poll);
    uv_timer_start(&web->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
    run_mhd(web);
    log_msg("serving the web page on http://%s/ ('herd web' prints it with "
            "its token)",
            web->hosts[0]);
    return 0;
}

/* The last step: MHD stopped, the handles closed. */
static void finish_close(struct http *web)
{
    uv_close((uv_handle_t *)&web->poll, on_handle_closed);
    uv_close((uv_handle_t *)&web->timer, on_handle_closed);
    uv_close((uv_handle_t *)&web->sweep, on_handle_closed);
    MHD_stop_daemon(web->mhd);
    web->mhd = NULL;
}

void http_close(struct http *web)
{
    if (web->closing || web->mhd == NULL)
        return;
    web->closing = 1;
    web->closing_ms = now_ms(web);
    watch_close(&web->watch);    /* its waiting changes are answered */
    while (web->waiting != NULL) /* none should be left: control_close */
        set_outcome(web->waiting, 503,
                    error_object("the supervisor is stopping"));
    /* No more connections; idle ones go now, answers on their way get
     * HTTP_DRAIN_MS. */
    MHD_socket ls = MHD_quiesce_daemon(web->mhd);
    if (ls != MHD_INVALID_SOCKET)
        close(ls);
    for (struct http_conn *c = web->conns; c != NULL; c = c->next)
        if (!c->in_request && !c->cut && c->fd >= 0) {
            c->cut = 1;
            shutdown(c->fd, SHUT_RDWR);
        }
    run_mhd(web);
}

int http_reconfigure(struct http *web)
{
    return web->watching ? watch_reconfigure(&web->watch) : 0;
}

void http_free(struct http *web)
{
    if (web->watching)
        watch_free(&web->watch);
    web->watching = 0;
}

/* ---- herd web ------------------------------------------------------- */

int http_print_url(struct herd *h, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    if (!h->http_on) {
        fprintf(stderr,
                "herd: web: the web page is off in %s (add a line like "
                "'http 127.0.0.1:12080')\n",
                h->conf);
        return HERD_EXIT_FAILURE;
    }
    char token[HTTP_TOKEN_LEN + 1];
    char err[PATH_MAX + 200];
    if (read_token(h->http_token, token, err, sizeof err) != 0) {
        if (errno == ENOENT)
            fprintf(stderr,
                    "herd: web: no token yet (%s is made by the first "
                    "herd start): start the herd first\n",
                    h->http_token);
        else
            fprintf(stderr, "herd: web: %s\n", err);
        return HERD_EXIT_FAILURE;
    }
    char addr[CONFIG_HOST_MAX + 16];
    host_port(addr, sizeof addr, h->http_host, h->http_port);
    printf("http://%s/#token=%s\n", addr, token);
    return 0;
}
