/* http: the supervisor's web page and /metrics.
 *
 * While the supervisor runs, herd.conf's http address (off by default)
 * serves, through libmicrohttpd in its epoll mode on the supervisor's own
 * libuv loop (its one epoll descriptor watched by a uv_poll_t, its
 * timeouts by a uv_timer_t; no thread):
 *
 *   GET  /, /app.js, /style.css      the page (web/assets.h)
 *   GET  /api/state                  the view (view.h), with rates
 *   GET  /metrics                    Prometheus text 0.0.4 (metrics.h)
 *   POST /api/servers/NAME/start|stop|restart|kill
 *   POST /api/servers/NAME/cut|heal  every link of NAME
 *   POST /api/links/A/B/cut|heal     the link A - B of herd.conf
 *
 * A POST needs the header X-Herd-Token with the token of RUN_DIR/http-token
 * (64 hex digits, mode 0600, made on the first start and kept): only who
 * can read the run directory can change the herd; a missing or wrong token
 * is 403. start, stop, restart and kill are the control socket's requests
 * (control_submit: the same checks, the same log line with the requester's
 * address), answered once done; cut and heal are the lines herd cut sends
 * to the servers' control sockets (watch_send). Every request whose Host
 * is not the http address (or localhost, 127.0.0.1, [::1] with its port)
 * is refused (421: DNS rebinding; 400 for a request with two Hosts),
 * and so is a POST whose Origin is not the page's.
 *
 * Bounded: HTTP_MAX_CONNS connections, HTTP_MAX_PER_ADDR from one address,
 * HTTP_CONN_MEMORY bytes of request head per connection, HTTP_URL_MAX,
 * HTTP_BODY_MAX bytes of body (none is needed), HTTP_IDLE_S without a byte,
 * and HTTP_REQUEST_MS for a request to arrive whole (a client trickling
 * bytes is closed all the same). Refusals are logged, at most
 * HTTP_LOG_BURST lines per HTTP_LOG_WINDOW_MS, then a count.
 */
#ifndef HERD_HTTP_H
#define HERD_HTTP_H

#include <stdint.h>

#include <uv.h>

#include "control.h"
#include "herd.h"
#include "supervise.h"
#include "watch.h"

#define HTTP_MAX_CONNS     64
#define HTTP_MAX_PER_ADDR  32
#define HTTP_CONN_MEMORY   ((size_t)32 * 1024)
#define HTTP_URL_MAX       512
#define HTTP_BODY_MAX      4096
#define HTTP_IDLE_S        10
#define HTTP_REQUEST_MS    5000
#define HTTP_LOG_BURST     10
#define HTTP_LOG_WINDOW_MS 10000
#define HTTP_DRAIN_MS      500 /* at the end, for answers on their way */
#define HTTP_TOKEN_LEN     64

struct MHD_Daemon;
struct http_conn;
struct http_req;

/* Refusals logged in a window, and those left out. */
struct http_log_limit {
    uint64_t window_ms;
    unsigned lines;
    unsigned dropped;
};

struct http {
    uv_loop_t *loop;
    struct herd *h;
    struct supervise *sv;
    struct control *ctl;
    struct watch watch; /* the servers' answers, for the view */
    int watching;
    struct MHD_Daemon *mhd;
    uv_poll_t poll;   /* MHD's epoll descriptor */
    uv_timer_t timer; /* MHD's timeout */
    uv_timer_t sweep; /* slow requests; the log's counts */
    int handles;      /* open: freed once none is */
    int closing;
    uint64_t closing_ms;
    char token[HTTP_TOKEN_LEN + 1];
    char hosts[4][CONFIG_HOST_MAX + 16]; /* Host values accepted */
    struct http_conn *conns;             /* every connection open */
    struct http_req *waiting;            /* suspended for an outcome */
    struct http_log_limit refusals;
};

/* Serves herd.conf's http address (h->http_on) on loop: reads
 * RUN_DIR/http-token or makes it, listens, and starts watching the
 * servers. Returns 0, or -1 with the reason in err (nothing left open). */
int http_start(struct http *web, uv_loop_t *loop, struct herd *h,
               struct supervise *sv, struct control *ctl, char *err,
               size_t cap);
/* Stops listening, ends every exchange with the servers (requests waiting
 * for one are answered 503), gives answers on their way HTTP_DRAIN_MS, then
 * closes everything; the loop must run on until the handles are closed.
 * Call control_close first: the requests it answers are sent here. */
void http_close(struct http *web);
/* Frees what is left once the loop has run the close callbacks. */
void http_free(struct http *web);
/* herd.conf has changed in place (a reload; the address served stays
 * until the supervisor restarts): the servers watched follow it.
 * Returns 0, or UV_ENOMEM with nothing changed. */
int http_reconfigure(struct http *web);

/* herd web: prints the page's address with its token. Returns the exit
 * code. */
int http_print_url(struct herd *h, int argc, char **argv);

#endif
