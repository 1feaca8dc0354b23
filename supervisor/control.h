/* control: the supervisor's Unix control socket.
 *
 * One request line per connection, one reply, then the supervisor closes:
 *   status | status-json | start NAME... | stop NAME... | restart NAME... |
 *   kill NAME SIGNAL | shutdown | reload [--dry-run]
 * The reply's first line is "ok" or "error MESSAGE"; the rest is the body.
 * Requests that change state answer once the change is done (a started
 * server is up or failed, a stopped one has exited), or after a deadline.
 * A reload is the owner's (on_reload; daemon.c), answered by it through
 * control_answer; a herd.conf it refuses is "error config: WHAT", the
 * problems in the body.
 *
 * The same requests come from inside the supervisor too (the web page's
 * buttons, http.h): control_submit runs a line exactly as if it had come
 * on the socket, logged the same way, and hands the outcome to a callback.
 */
#ifndef HERD_CONTROL_H
#define HERD_CONTROL_H

#include <stddef.h>

#include <jansson.h>
#include <uv.h>

#include "dynbuf.h"
#include "supervise.h"

#define CONTROL_LINE_MAX 4096
#define CONTROL_WAIT_MS  60000

struct control_wait;

/* A request's outcome, for those who answer in other terms than "ok" and
 * "error" (the web page's HTTP statuses). */
enum control_result {
    CONTROL_OK = 0,
    CONTROL_EBADREQ = 1,   /* not a request */
    CONTROL_ENOTFOUND = 2, /* no server of that name */
    CONTROL_ECONFLICT = 3, /* not run here, not running, the herd stopping */
    CONTROL_EFAILED = 4,   /* a server did not come up */
    CONTROL_ETIMEOUT = 5,  /* no outcome within CONTROL_WAIT_MS */
    CONTROL_ESTOPPING = 6, /* the supervisor stopped before the outcome */
    CONTROL_ENOMEM = 7,
    CONTROL_ECONFIG = 8 /* a reload refused herd.conf: nothing changed */
};

/* message: the error's text ("" for CONTROL_OK); body: the reply's body
 * (the status rows of the servers concerned, or what kill did). Both are
 * the callee's, valid during the call. */
typedef void (*control_done_fn)(void *arg, enum control_result result,
                                const char *message, const struct dynbuf *body);

struct control {
    uv_loop_t *loop;
    struct supervise *sv;
    uv_pipe_t listener;
    int listening;
    char path[108];
    struct control_wait *waits;
    unsigned long last_id; /* of the waits, each its own */
    int shutdown_requested;
    /* Called when a shutdown request arrives. */
    void (*on_shutdown)(struct control *ctl);
    /* Called for "reload" (dry_run 0) and "reload --dry-run": the owner
     * answers request id with control_answer, before this returns or
     * later. NULL: reload is refused. */
    void (*on_reload)(struct control *ctl, unsigned long id, int dry_run);
    void *data; /* the owner's */
};

/* Listens on path (a stale socket file must be removed first). Returns 0 or
 * a uv error. */
int control_init(struct control *ctl, uv_loop_t *loop, struct supervise *sv,
                 const char *path);
/* Re-checks waiting requests; call after every state change. */
void control_changed(struct control *ctl);
/* Stops listening, removes the socket file, answers pending waits. */
void control_close(struct control *ctl);

/* Runs one request line (no newline) from inside the supervisor, as if it
 * had come on the socket; the log names origin ("http 127.0.0.1:5000").
 * done is called once with the outcome, perhaps before this returns (an
 * error, kill), at the latest by control_close. Returns 0, or
 * CONTROL_EBADREQ (no such line) or CONTROL_ENOMEM, and then done is not
 * called. */
int control_submit(struct control *ctl, const char *line, const char *origin,
                   control_done_fn done, void *arg);

/* Answers the reload request id, if it still waits (it may have timed
 * out, or the supervisor may be stopping). */
void control_answer(struct control *ctl, unsigned long id,
                    enum control_result result, const char *message,
                    const struct dynbuf *body);

/* The status table (text) or JSON of every server. */
int control_status_text(struct supervise *sv, struct dynbuf *out);
int control_status_json(struct supervise *sv, struct dynbuf *out);
/* status-json's object ({"supervisor_pid", "servers": [...]}): a new
 * reference, or NULL when out of memory. */
json_t *control_status_object(struct supervise *sv);

#endif
