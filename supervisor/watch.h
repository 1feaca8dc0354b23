/* watch: the supervisor's view of its servers' control sockets.
 *
 * Every WATCH_INTERVAL_MS the supervisor asks every server of herd.conf
 * for "status" on its own control socket (RUN_DIR/NAME.sock, server/ctl.h)
 * on the libuv loop, without blocking: one connection per question, at
 * most one in flight per server, WATCH_TIMEOUT_MS to answer, at most
 * WATCH_REPLY_MAX bytes. The latest answer of each server is kept (NULL
 * when it did not answer), and the views of the last rounds with their
 * times, for the rates (view_rates).
 *
 * The web page's cut and heal go through here too (watch_send): the lines
 * herd cut and herd heal send, to the servers concerned, each of which must
 * answer a status first, or none is told anything (like herd cut). So do
 * the supervisor's own questions (watch_ask: a reload's "reload").
 *
 * The set of servers follows herd.conf across a reload (watch_reconfigure):
 * exchanges in flight name their server, not its place in the table.
 */
#ifndef HERD_WATCH_H
#define HERD_WATCH_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "config.h"

#define WATCH_INTERVAL_MS 500
#define WATCH_TIMEOUT_MS  400
#define WATCH_REPLY_MAX   ((size_t)256 * 1024)
/* watch_send: each server's status first, then its cut/heal lines. */
#define WATCH_PROBE_TIMEOUT_MS 2000
#define WATCH_SEND_TIMEOUT_MS  5000
/* Rounds kept: the rates span the last WATCH_ROUNDS - 1 intervals. */
#define WATCH_ROUNDS 3

struct watch_call;
struct watch_batch;

/* One server of herd.conf, as last heard. */
struct watch_server {
    struct watch *w;
    char name[CONFIG_NAME_MAX + 1];
    char path[108];          /* its control socket; "" when too long */
    struct watch_call *poll; /* the status question in flight, or NULL */
    json_t *status;          /* its latest answer; NULL: none */
};

/* A round's view, for the rates. */
struct watch_round {
    json_t *view; /* NULL: none yet */
    uint64_t ms;  /* when the round ended (uv_now) */
};

struct watch {
    uv_loop_t *loop;
    const struct config *cfg;
    char run_dir[4096];
    struct watch_server *servers; /* cfg->nservers */
    size_t nservers; /* servers' entries (cfg's until a reload changes it) */
    int polling;     /* asks every WATCH_INTERVAL_MS */
    uv_timer_t tick;
    size_t outstanding; /* status questions of this round still out */
    struct watch_round rounds[WATCH_ROUNDS]; /* oldest first */
    /* The supervisor's status-json object (a new reference, or NULL). */
    json_t *(*supervisor)(void *arg);
    void *supervisor_arg;
    struct watch_call *calls;    /* every exchange in flight */
    struct watch_batch *batches; /* watch_send's not started yet */
    int closing;
};

/* Starts watching the servers of cfg (borrowed for the watch's life: a
 * reload changes it in place, then calls watch_reconfigure), whose control
 * sockets are in run_dir. polling: ask each for its status every
 * WATCH_INTERVAL_MS (else the watch only carries watch_send and watch_ask).
 * supervisor (may be NULL) gives the supervisor's own status object.
 * Returns 0 or a uv error. */
int watch_init(struct watch *w, uv_loop_t *loop, const struct config *cfg,
               const char *run_dir, int polling,
               json_t *(*supervisor)(void *arg), void *arg);
/* cfg has changed in place (a reload): the servers follow its list;
 * those that stay keep their latest answer. Returns 0, or UV_ENOMEM with
 * nothing changed. */
int watch_reconfigure(struct watch *w);
/* Asks every server now instead of at the next tick (after a change). */
void watch_poll_now(struct watch *w);
/* The herd as it is now: view_build from the supervisor's status and the
 * latest answers, with the rates over the last rounds. A new reference;
 * NULL when out of memory. */
json_t *watch_view(struct watch *w);

/* watch_send's outcome. */
enum watch_result {
    WATCH_OK = 0,
    WATCH_EDOWN = 1,    /* a server did not answer first: nothing changed */
    WATCH_EREFUSED = 2, /* a server answered a line with an error */
    WATCH_ETIMEOUT = 3, /* a server did not answer the lines */
    WATCH_ECLOSED = 4,  /* the watch closed before the end */
    WATCH_ENOMEM = 5
};
typedef void (*watch_sent_fn)(void *arg, enum watch_result result,
                              const char *message);
/* Sends lines[i] (NULL: nothing; else one or more "...\n" lines) to server
 * i, once every server concerned has answered a status question (if one
 * does not, none is told anything). done is called once, after every
 * reply or failure, never before this returns; message says what went
 * wrong ("" for WATCH_OK). Returns 0, or WATCH_ENOMEM / WATCH_ECLOSED and
 * done is not called. */
int watch_send(struct watch *w, const char *const *lines, watch_sent_fn done,
               void *arg);

/* watch_ask's outcome: reply is the first line of the answer without its
 * newline (NULL: none came; why says why, in herd cut's words), both
 * valid during the call. */
typedef void (*watch_answer_fn)(void *arg, const char *name, const char *reply,
                                const char *why);
/* Sends line (no newline) to the control socket of the server named name
 * and waits at most timeout_ms for one line back. done is called once,
 * never before this returns. Returns 0, or WATCH_ENOMEM / WATCH_ECLOSED
 * (or WATCH_EDOWN: no such server) and done is not called. */
int watch_ask(struct watch *w, const char *name, const char *line,
              uint64_t timeout_ms, watch_answer_fn done, void *arg);

/* Ends every exchange (watch_send's callbacks are told WATCH_ECLOSED) and
 * closes the handles; the loop must then run to close them. */
void watch_close(struct watch *w);
/* Frees what is left once the loop has run the close callbacks. */
void watch_free(struct watch *w);

#endif
