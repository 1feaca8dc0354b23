/* reloader: herd reload and SIGHUP, in the supervisor.
 *
 * The supervisor re-reads its herd.conf into a new struct herd and checks
 * it whole, as herd start and herd check would (herd_load, check_config,
 * herd_prepare_reload): a file with errors changes nothing, and the reply
 * is "error config: ..." with every problem. Otherwise it plans the
 * difference (plan.h) and, without --dry-run, applies it:
 *
 *   1. at once, in one turn of the loop: the child table follows the new
 *      file (supervise_rebuild: new children down, removed ones retired),
 *      the new struct config takes the old one's place in struct herd (the
 *      same address, so every pointer to h->cfg sees the new one), the
 *      watches follow it (watch_reconfigure), the supervisor's own settings
 *      change, and the old config is freed; then the retired servers are
 *      stopped (their data directories are left alone);
 *   2. every running server the change concerns is told "reload" on its
 *      control socket (a starting one once it is up), and its answer kept;
 *   3. then the new servers start (they catch up from their neighbours,
 *      which already know them, by the links' usual catch-up);
 *   4. once each new server is up or failed and each removed one has
 *      exited (or RELOAD_DEADLINE_MS), the reply lists what was done
 *      (plan_render), and herd.log too.
 *
 * One reload runs at a time: herd reload meanwhile is refused, a SIGHUP
 * meanwhile runs another one after it. Servers the change does not
 * concern are not touched: same process, same connections.
 */
#ifndef HERD_RELOADER_H
#define HERD_RELOADER_H

#include <uv.h>

#include "control.h"
#include "herd.h"
#include "http.h"
#include "supervise.h"
#include "watch.h"

#define RELOAD_ASK_MS      10000
#define RELOAD_DEADLINE_MS (CONTROL_WAIT_MS - 5000)

struct reload_job;

struct reloader {
    uv_loop_t *loop;
    struct herd *h;
    struct supervise *sv;
    struct control *ctl;
    struct watch ask; /* the questions to the servers */
    struct http *web; /* its watch follows herd.conf; NULL: no web */
    /* Called once the table has changed (the pid file). */
    void (*on_table)(void *arg);
    void *arg;
    struct reload_job *job; /* the reload under way, or NULL */
    int again;              /* a SIGHUP came meanwhile */
    uv_timer_t kick;        /* runs that one, off the caller's stack */
    int closing;
};

/* Ready to reload the herd of h run by sv, answering through ctl. Returns
 * 0 or a uv error (nothing to close). */
int reloader_init(struct reloader *r, uv_loop_t *loop, struct herd *h,
                  struct supervise *sv, struct control *ctl, struct http *web,
                  void (*on_table)(void *arg), void *arg);
/* Reloads herd.conf: id is the control request to answer (0: none, a
 * SIGHUP); origin is for the log. */
void reloader_start(struct reloader *r, unsigned long id, int dry_run,
                    const char *origin);
/* A server changed state: the reload under way may go on. */
void reloader_changed(struct reloader *r);
/* The supervisor is stopping: the reload under way ends (its request was
 * answered by control_close), the handles close. */
void reloader_close(struct reloader *r);
/* Frees what is left once the loop has run the close callbacks. */
void reloader_free(struct reloader *r);

#endif
