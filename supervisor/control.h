/* control: the supervisor's Unix control socket.
 *
 * One request line per connection, one reply, then the supervisor closes:
 *   status | status-json | start NAME... | stop NAME... | restart NAME... |
 *   kill NAME SIGNAL | shutdown
 * The reply's first line is "ok" or "error MESSAGE"; the rest is the body.
 * Requests that change state answer once the change is done (a started
 * server is up or failed, a stopped one has exited), or after a deadline.
 */
#ifndef HERD_CONTROL_H
#define HERD_CONTROL_H

#include <stddef.h>

#include <uv.h>

#include "dynbuf.h"
#include "supervise.h"

#define CONTROL_LINE_MAX 4096
#define CONTROL_WAIT_MS  60000

struct control_wait;

struct control {
    uv_loop_t *loop;
    struct supervise *sv;
    uv_pipe_t listener;
    int listening;
    char path[108];
    struct control_wait *waits;
    int shutdown_requested;
    /* Called when a shutdown request arrives. */
    void (*on_shutdown)(struct control *ctl);
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

/* The status table (text) or JSON of every server. */
int control_status_text(struct supervise *sv, struct dynbuf *out);
int control_status_json(struct supervise *sv, struct dynbuf *out);

#endif
