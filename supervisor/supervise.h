/* supervise: the child table and each server's state machine.
 *
 * Each server is one child in one of six states. Every event (an
 * operator's start, stop, restart or kill; the server's readiness; the
 * child's timer; the process's exit) goes through one function and one
 * [state][event] table in supervise.c, and every change of state is logged
 * in one place there:
 *
 *   down --start--> starting --ready--> up
 *   starting/up --exit (unexpected)--> backoff, restarted when the delay
 *                                      is over (--timer--> starting),
 *                                      or failed (crash loop, exit 64/78)
 *   starting/up --stop--> stopping (SIGTERM, grace, SIGKILL) --exit--> down
 *                                      (and starting again at once if an
 *                                      operator asked for it meanwhile)
 *   backoff --stop--> down
 *   failed --start--> starting            (an operator's start forgets the
 *                                          crash history)
 *
 * backoff is shown as "down" (in herd status and in the log), with the
 * delay in the note.
 *
 * Each server gets two pipes: fd 3, on which it writes a newline once it
 * listens (readiness), and fd 4, which it reads until end of file (a
 * lifeline: if the supervisor dies, every server sees EOF and stops, so no
 * orphan is left behind). The supervisor never reads or writes the
 * lifeline; it only holds it open.
 *
 * A reload (herd reload) rebuilds the table from the new herd.conf
 * (supervise_rebuild): each child is allocated on its own, so that a
 * child that stays keeps its address, its process and its state whatever
 * happens to the table around it; a child whose server is gone from
 * herd.conf leaves the table for the retired list, is stopped, and is
 * freed once its process has exited.
 */
#ifndef HERD_SUPERVISE_H
#define HERD_SUPERVISE_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "backoff.h"
#include "config.h"

enum supervise_state {
    SUPERVISE_DOWN,     /* no process, and none coming */
    SUPERVISE_BACKOFF,  /* no process: restarted when the timer fires */
    SUPERVISE_STARTING, /* spawned, not ready yet */
    SUPERVISE_UP,       /* ready */
    SUPERVISE_STOPPING, /* SIGTERM sent, not exited yet */
    SUPERVISE_FAILED    /* no process: given up until an operator's start */
};
#define SUPERVISE_NSTATES 6

struct supervise;
/* One run of a server: its process and its two pipes (supervise.c). */
struct supervise_run;

struct child {
    struct supervise *sv;
    /* Its entry of herd.conf: &conf, the child's own copy, so that it
     * outlives the struct config it came from (a reload frees that). */
    const struct config_server *cfg;
    struct config_server conf;
    enum supervise_state state;
    int managed; /* runs under this supervisor (--only) */
    int want_up; /* the operator's intent */
    /* Set exactly in starting, up and stopping. At the exit the child lets
     * go of it; the run frees itself once its handles are closed. */
    struct supervise_run *run;
    uv_timer_t timer; /* ready timeout, stop grace, or restart delay */
    int pid;          /* the run's process; 0 without one */
    uint64_t spawned_ms;
    uint64_t up_ms;
    unsigned restarts;
    char last_exit[32]; /* "exit 1", "signal 9 (KILL)", "" */
    char note[160];     /* why it is failed or down */
    struct backoff backoff;
    /* Gone from herd.conf by a reload: out of the table, in sv->retired
     * until its process has exited. */
    int retired;
    struct child *next_retired;
};

struct supervise {
    uv_loop_t *loop;
    char *config_path; /* absolute */
    char *server_bin;
    char *log_dir;
    char *data_dir;
    char *secret_file; /* handed to every server by path, never the secret */
    struct backoff_policy policy;
    uint64_t grace_ms;
    uint64_t ready_timeout_ms;
    struct child **children; /* herd.conf's servers, in its order */
    size_t n;
    struct child *retired; /* removed by a reload, still running */
    /* Started with --only: a server a reload adds is not run here. */
    int only;
    /* Called after every state change. */
    void (*on_change)(struct supervise *sv, void *arg);
    void *change_arg;
    /* supervise_stop_all was called: the herd is on its way down, and
     * nothing starts again (a start then would outlive the supervisor). */
    int stopping_all;
};

/* only: comma-separated names, or NULL for every server. Returns 0 or a
 * herd_exit code with a message in err. */
int supervise_init(struct supervise *sv, uv_loop_t *loop,
                   const struct config *cfg, const char *config_path,
                   const char *server_bin, const char *log_dir,
                   const char *data_dir, const char *only, char *err,
                   size_t errlen);
/* Closes every handle; call once every child is down (no process), and
 * send no request afterwards. */
void supervise_close(struct supervise *sv);
/* Frees memory once the loop has run the close callbacks. */
void supervise_free(struct supervise *sv);

struct child *supervise_find(struct supervise *sv, const char *name);
/* A child removed by a reload whose process has not exited yet, or
 * NULL. */
struct child *supervise_find_retired(struct supervise *sv, const char *name);

/* A reload, in two steps. supervise_rebuild makes the table follow cfg
 * (the new herd.conf, in its order): a child whose name cfg still has
 * keeps its process, its state and its address, with its entry updated;
 * a new name gets a new child, down (managed unless the supervisor runs
 * --only), which the caller starts; a child whose name is gone moves to
 * the retired list. A name back in herd.conf while the child a reload
 * before retired is still stopping gets that child back, as it is
 * (stopping, not wanted up): the caller's start then waits for its
 * process to exit, so that two processes never share the server's
 * ports and data directory. No state changes and nothing is called back here.
 * Returns 0, or -ENOMEM with nothing changed. supervise_stop_retired
 * then stops the retired children (each is freed once its process has
 * exited: at once when it has none). */
int supervise_rebuild(struct supervise *sv, const struct config *cfg);
void supervise_stop_retired(struct supervise *sv);
/* The restart policy (restart_*, crash_*), stop grace and ready timeout
 * of cfg, from now on: a running timer keeps its delay, but each server's
 * next delay comes within the new restart_first_ms and restart_max_ms. A
 * new crash_limit starts every crash history afresh. Returns 0, or
 * -ENOMEM with nothing changed. */
int supervise_set_settings(struct supervise *sv, const struct config *cfg);
/* Operator requests; each returns 0 or a negative errno-style code:
 * -EPERM for a server not managed here, and for kill -ESRCH when it has no
 * process (or uv_process_kill's error). */
int supervise_start(struct child *c);
int supervise_stop(struct child *c);
int supervise_restart(struct child *c);
int supervise_kill(struct child *c, int signum);
void supervise_start_all(struct supervise *sv);
void supervise_stop_all(struct supervise *sv);

/* No server has a process (retired ones included). */
int supervise_all_down(const struct supervise *sv);
/* No managed server is starting or waiting to restart (each is up, down,
 * stopping or failed). */
int supervise_settled(const struct supervise *sv);

const char *supervise_state_name(enum supervise_state s);
uint64_t supervise_now_ms(void);

#endif
