#include "supervise.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* One run of a server. Its handles are its own, not the child's: at the
 * exit the child lets go of the run, whose handles close on their own and
 * free it in the last close callback, so the next run never waits for
 * them. */
struct supervise_run {
    struct child *child;
    uv_process_t proc;
    uv_pipe_t ready;    /* fd 3: a newline once the server listens */
    uv_pipe_t lifeline; /* fd 4: the server reads it until end of file */
    int ready_open;     /* ready is not closed yet */
    int open;           /* handles not closed yet */
};

enum supervise_event {
    SUPERVISE_EV_START,   /* an operator's start */
    SUPERVISE_EV_STOP,    /* an operator's stop */
    SUPERVISE_EV_RESTART, /* an operator's restart */
    SUPERVISE_EV_KILL,    /* an operator's signal (args.sig) */
    SUPERVISE_EV_READY,   /* the server wrote on its readiness pipe */
    SUPERVISE_EV_TIMER,   /* the child's timer fired */
    SUPERVISE_EV_EXIT     /* the process ended (args.status, args.sig) */
};
#define SUPERVISE_NEVENTS 7

struct event_args {
    int64_t status; /* exit: the exit status */
    int sig;        /* exit: the signal that ended it, or 0; kill: to send */
};

/* An action runs one event in one state and makes the transition, if any;
 * it returns 0 or a negative errno-style code (only kill fails). */
typedef int action_fn(struct child *c, const struct event_args *a);

uint64_t supervise_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

const char *supervise_state_name(enum supervise_state s)
{
    switch (s) {
    case SUPERVISE_DOWN:
    case SUPERVISE_BACKOFF: /* the note says when it restarts */
        return "down";
    case SUPERVISE_STARTING:
        return "starting";
    case SUPERVISE_UP:
        return "up";
    case SUPERVISE_STOPPING:
        return "stopping";
    case SUPERVISE_FAILED:
        return "failed";
    }
    return "?";
}

/* The invariants, asserted (debug builds only). */
#ifndef NDEBUG
#define BIT(s) (1u << (s))

/* The states each state may change to. */
static const unsigned next_states[SUPERVISE_NSTATES] = {
    [SUPERVISE_DOWN] = BIT(SUPERVISE_STARTING) | BIT(SUPERVISE_FAILED),
    [SUPERVISE_BACKOFF] =
        BIT(SUPERVISE_STARTING) | BIT(SUPERVISE_FAILED) | BIT(SUPERVISE_DOWN),
    [SUPERVISE_STARTING] = BIT(SUPERVISE_UP) | BIT(SUPERVISE_STOPPING) |
                           BIT(SUPERVISE_BACKOFF) | BIT(SUPERVISE_FAILED),
    [SUPERVISE_UP] = BIT(SUPERVISE_STOPPING) | BIT(SUPERVISE_BACKOFF) |
                     BIT(SUPERVISE_FAILED),
    [SUPERVISE_STOPPING] = BIT(SUPERVISE_DOWN),
    [SUPERVISE_FAILED] = BIT(SUPERVISE_STARTING) | BIT(SUPERVISE_FAILED),
};

static int has_process(enum supervise_state s)
{
    return s == SUPERVISE_STARTING || s == SUPERVISE_UP ||
           s == SUPERVISE_STOPPING;
}

/* What holds between events, whatever the state. */
static void check_child(const struct child *c)
{
    assert(c->managed);
    assert((unsigned)c->state < SUPERVISE_NSTATES);
    assert((c->run != NULL) == has_process(c->state));
    assert(c->run == NULL ||
           (c->run->child == c && c->pid > 0 && c->pid == c->run->proc.pid));
    assert(c->run != NULL || c->pid == 0);
    /* Only an operator's stop takes the intent away, and it leaves none
     * of these states. */
    assert(c->want_up ||
           (c->state != SUPERVISE_STARTING && c->state != SUPERVISE_UP &&
            c->state != SUPERVISE_BACKOFF));
    /* The timer runs only where it means something. */
    assert(!uv_is_active((const uv_handle_t *)&c->timer) ||
           c->state == SUPERVISE_STARTING || c->state == SUPERVISE_STOPPING ||
           c->state == SUPERVISE_BACKOFF);
}
#else
#define check_child(c) ((void)(c))
#endif

/* Every change of state goes through here and is logged here: name, the
 * pid the change is about (it may have exited already), old and new state
 * and why. */
static void set_state(struct child *c, enum supervise_state to, const char *why,
                      int pid)
{
    enum supervise_state from = c->state;
    assert(next_states[from] & BIT(to));
    c->state = to;
    log_msg("%s pid %d: %s -> %s (%s)", c->cfg->name, pid,
            supervise_state_name(from), supervise_state_name(to), why);
    if (c->sv->on_change)
        c->sv->on_change(c->sv, c->sv->change_arg);
}

static void on_timer(uv_timer_t *t);

/* The child's one timer: never started twice, nor after supervise_close. */
static void timer_arm(struct child *c, uint64_t ms)
{
    assert(!uv_is_active((uv_handle_t *)&c->timer));
    assert(!uv_is_closing((uv_handle_t *)&c->timer));
    uv_timer_start(&c->timer, on_timer, ms, 0);
}

static void timer_disarm(struct child *c)
{
    uv_timer_stop(&c->timer);
}

static char *strdup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* A new child for the server of entry, down; NULL when out of memory.
 * Its timer is initialised by child_arm. */
static struct child *child_new(struct supervise *sv,
                               const struct config_server *entry, int managed)
{
    struct child *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    if (backoff_init(&c->backoff, &sv->policy) != 0) {
        free(c);
        return NULL;
    }
    c->sv = sv;
    c->conf = *entry;
    c->cfg = &c->conf;
    c->state = SUPERVISE_DOWN;
    c->managed = managed;
    return c;
}

static void child_arm(struct child *c)
{
    uv_timer_init(c->sv->loop, &c->timer);
    c->timer.data = c;
}

/* The policy and timeouts of cfg (every setting holds a value: its
 * default when herd.conf names none, within its range). */
static void read_settings(const struct config *cfg,
                          struct backoff_policy *policy, uint64_t *grace_ms,
                          uint64_t *ready_timeout_ms)
{
    policy->first_ms = cfg->restart_first_ms;
    policy->max_ms = cfg->restart_max_ms;
    policy->stable_ms = cfg->restart_stable_ms;
    policy->limit = (unsigned)cfg->crash_limit;
    policy->window_ms = cfg->crash_window_ms;
    *grace_ms = cfg->stop_grace_ms;
    *ready_timeout_ms = cfg->ready_timeout_ms;
}

int supervise_init(struct supervise *sv, uv_loop_t *loop,
                   const struct config *cfg, const char *config_path,
                   const char *server_bin, const char *log_dir,
                   const char *data_dir, const char *only, char *err,
                   size_t errlen)
{
    memset(sv, 0, sizeof *sv);
    sv->loop = loop;
    sv->only = only != NULL;
    sv->config_path = strdup_or_null(config_path);
    sv->server_bin = strdup_or_null(server_bin);
    sv->log_dir = strdup_or_null(log_dir);
    sv->data_dir = strdup_or_null(data_dir);
    read_settings(cfg, &sv->policy, &sv->grace_ms, &sv->ready_timeout_ms);
    sv->children =
        calloc(cfg->nservers ? cfg->nservers : 1, sizeof(struct child *));
    if (sv->children == NULL || sv->config_path == NULL ||
        sv->server_bin == NULL || sv->log_dir == NULL || sv->data_dir == NULL) {
        snprintf(err, errlen, "out of memory");
        return 71;
    }
    for (size_t i = 0; i < cfg->nservers; i++) {
        struct child *c = child_new(sv, &cfg->servers[i], only == NULL);
        if (c == NULL) {
            snprintf(err, errlen, "out of memory");
            return 71;
        }
        sv->children[sv->n++] = c;
        child_arm(c);
    }
    if (only != NULL) {
        const char *p = only;
        while (*p) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            long idx = config_find(cfg, p, len);
            if (idx < 0) {
                snprintf(err, errlen, "--only: no server named '%.*s' in %s",
                         (int)len, p, config_path);
                return 64;
            }
            sv->children[idx]->managed = 1;
            p += len + (comma != NULL);
        }
    }
    return 0;
}

struct child *supervise_find(struct supervise *sv, const char *name)
{
    for (size_t i = 0; i < sv->n; i++)
        if (strcmp(sv->children[i]->cfg->name, name) == 0)
            return sv->children[i];
    return NULL;
}

struct child *supervise_find_retired(struct supervise *sv, const char *name)
{
    for (struct child *c = sv->retired; c != NULL; c = c->next_retired)
        if (strcmp(c->cfg->name, name) == 0)
            return c;
    return NULL;
}

static void on_run_closed(uv_handle_t *h)
{
    struct supervise_run *run = h->data;
    assert(run->open > 0);
    if (--run->open == 0)
        free(run);
}

static void run_close_ready(struct supervise_run *run)
{
    if (run->ready_open) {
        run->ready_open = 0;
        uv_close((uv_handle_t *)&run->ready, on_run_closed);
    }
}

/* Closes what is left of a run; it frees itself once every handle is
 * closed. */
static void run_close(struct supervise_run *run)
{
    uv_close((uv_handle_t *)&run->proc, on_run_closed);
    run_close_ready(run);
    uv_close((uv_handle_t *)&run->lifeline, on_run_closed);
}

static int on_event(struct child *c, enum supervise_event ev,
                    const struct event_args *a);

static void on_ready_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char sink[16];
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(sink, sizeof sink);
}

static void on_ready_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    struct supervise_run *run = s->data;
    if (nread == 0)
        return;
    run_close_ready(run); /* one newline is all it ever says */
    if (nread > 0)
        on_event(run->child, SUPERVISE_EV_READY, NULL);
}

static void check_retired(struct child *c);

static void on_exit(uv_process_t *p, int64_t status, int sig)
{
    struct supervise_run *run = p->data;
    struct child *c = run->child;
    struct event_args a = {status, sig};
    on_event(c, SUPERVISE_EV_EXIT, &a);
    check_retired(c); /* a server removed by a reload is gone now */
}

static void on_timer(uv_timer_t *t)
{
    on_event(t->data, SUPERVISE_EV_TIMER, NULL);
}

static void describe_exit(char *out, size_t cap, int64_t status, int sig)
{
    if (sig != 0)
        snprintf(out, cap, "signal %d (%s)", sig,
                 sig == SIGKILL   ? "KILL"
                 : sig == SIGTERM ? "TERM"
                 : sig == SIGSEGV ? "SEGV"
                 : sig == SIGABRT ? "ABRT"
                 : sig == SIGINT  ? "INT"
                                  : "other");
    else
        snprintf(out, cap, "exit %lld", (long long)status);
}

/* Spawns the server: starting, or failed when it cannot run. */
static int spawn(struct child *c, const struct event_args *a)
{
    (void)a;
    struct supervise *sv = c->sv;
    timer_disarm(c); /* a restart delay an operator's start cut short */
    char logpath[4300];
    snprintf(logpath, sizeof logpath, "%s/%s.log", sv->log_dir, c->cfg->name);
    int logfd = open(
        logpath, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (logfd < 0) {
        snprintf(c->note, sizeof c->note, "cannot open %.100s: %s", logpath,
                 strerror(errno));
        set_state(c, SUPERVISE_FAILED, c->note, c->pid);
        return 0;
    }
    struct supervise_run *run = calloc(1, sizeof *run);
    if (run == NULL) {
        close(logfd);
        snprintf(c->note, sizeof c->note, "cannot run %s: out of memory",
                 sv->server_bin);
        set_state(c, SUPERVISE_FAILED, c->note, c->pid);
        return 0;
    }
    /* execv wants char *const[]: copy the strings that are const here. */
    char name[CONFIG_NAME_MAX + 1];
    char o_config[] = "--config";
    char o_log[] = "--log-file";
    char o_ready[] = "--ready-fd";
    char o_life[] = "--lifeline-fd";
    char o_data[] = "--data-dir";
    char o_secret[] = "--secret-file";
    char fd3[] = "3";
    char fd4[] = "4";
    char datapath[4300];
    snprintf(name, sizeof name, "%s", c->cfg->name);
    snprintf(datapath, sizeof datapath, "%s/%s", sv->data_dir, c->cfg->name);
    char *args[] = {sv->server_bin, name,    o_config, sv->config_path,
                    o_log,          logpath, o_data,   datapath,
                    o_ready,        fd3,     o_life,   fd4,
                    NULL,           NULL,    NULL};
    if (sv->secret_file != NULL) {
        args[12] = o_secret;
        args[13] = sv->secret_file;
    }
    run->child = c;
    uv_pipe_init(sv->loop, &run->ready, 0);
    uv_pipe_init(sv->loop, &run->lifeline, 0);
    run->ready.data = run->lifeline.data = run;
    run->ready_open = 1;
    run->open = 3; /* proc, ready, lifeline */
    uv_stdio_container_t stdio[5];
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_INHERIT_FD;
    stdio[1].data.fd = logfd;
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = logfd;
    stdio[3].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[3].data.stream = (uv_stream_t *)&run->ready;
    stdio[4].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
    stdio[4].data.stream = (uv_stream_t *)&run->lifeline;
    uv_process_options_t o;
    memset(&o, 0, sizeof o);
    o.file = sv->server_bin;
    o.args = args;
    o.exit_cb = on_exit;
    o.stdio = stdio;
    o.stdio_count = 5;
    c->spawned_ms = supervise_now_ms();
    c->note[0] = '\0';
    int rc = uv_spawn(sv->loop, &run->proc, &o);
    run->proc.data = run;
    close(logfd);
    if (rc != 0) {
        run_close(run); /* a failed uv_spawn still needs its handle closed */
        snprintf(c->note, sizeof c->note, "cannot run %s: %s", sv->server_bin,
                 uv_strerror(rc));
        set_state(c, SUPERVISE_FAILED, c->note, c->pid);
        return 0;
    }
    assert(c->run == NULL && c->pid == 0 && run->proc.pid > 0);
    c->run = run;
    c->pid = run->proc.pid;
    uv_read_start((uv_stream_t *)&run->ready, on_ready_alloc, on_ready_read);
    timer_arm(c, sv->ready_timeout_ms);
    set_state(c, SUPERVISE_STARTING, "spawned", c->pid);
    return 0;
}

/* An operator's start after a failure forgets the crash history. */
static int retry(struct child *c, const struct event_args *a)
{
    backoff_reset(&c->backoff, &c->sv->policy);
    return spawn(c, a);
}

static int term(struct child *c, const struct event_args *a)
{
    (void)a;
    timer_disarm(c); /* the ready timeout */
    uv_process_kill(&c->run->proc, SIGTERM);
    timer_arm(c, c->sv->grace_ms);
    set_state(c, SUPERVISE_STOPPING, "SIGTERM", c->pid);
    return 0;
}

/* A stop while a restart is pending: the restart is off. */
static int cancel(struct child *c, const struct event_args *a)
{
    (void)a;
    timer_disarm(c);
    c->note[0] = '\0';
    set_state(c, SUPERVISE_DOWN, "stopped by operator", c->pid);
    return 0;
}

static int ready(struct child *c, const struct event_args *a)
{
    (void)a;
    timer_disarm(c);
    c->up_ms = supervise_now_ms();
    set_state(c, SUPERVISE_UP, "ready", c->pid);
    return 0;
}

/* The ready timeout: the exit that follows is a crash. */
static int late(struct child *c, const struct event_args *a)
{
    (void)a;
    log_msg("%s pid %d: not ready after %llu ms: killing it", c->cfg->name,
            c->pid, (unsigned long long)c->sv->ready_timeout_ms);
    uv_process_kill(&c->run->proc, SIGKILL);
    return 0;
}

/* The stop grace is over. */
static int grace(struct child *c, const struct event_args *a)
{
    (void)a;
    log_msg("%s pid %d: still running %llu ms after SIGTERM: SIGKILL",
            c->cfg->name, c->pid, (unsigned long long)c->sv->grace_ms);
    uv_process_kill(&c->run->proc, SIGKILL);
    return 0;
}

static int relay(struct child *c, const struct event_args *a)
{
    return uv_process_kill(&c->run->proc, a->sig);
}

static int esrch(struct child *c, const struct event_args *a)
{
    (void)c;
    (void)a;
    return -ESRCH;
}

static int nop(struct child *c, const struct event_args *a)
{
    (void)c;
    (void)a;
    return 0;
}

/* The common part of an exit: the child lets go of its run. Returns the
 * pid it had; sets last_exit. */
static int end_run(struct child *c, const struct event_args *a)
{
    run_close(c->run);
    c->run = NULL;
    timer_disarm(c);
    describe_exit(c->last_exit, sizeof c->last_exit, a->status, a->sig);
    int pid = c->pid;
    c->pid = 0;
    return pid;
}

/* An exit after SIGTERM; starting again if an operator asked meanwhile. */
static int stopped(struct child *c, const struct event_args *a)
{
    int pid = end_run(c, a);
    set_state(c, SUPERVISE_DOWN, c->last_exit, pid);
    if (c->want_up)
        return spawn(c, NULL); /* an operator's restart */
    return 0;
}

/* An exit nobody asked for: restarted after a delay, or given up. */
static int crashed(struct child *c, const struct event_args *a)
{
    uint64_t now = supervise_now_ms();
    uint64_t uptime = now - c->spawned_ms;
    int pid = end_run(c, a);
    uint64_t delay = 0;
    enum backoff_verdict v =
        backoff_on_exit(&c->backoff, &c->sv->policy, now, uptime,
                        a->sig != 0 ? -1 : (int)a->status, &delay);
    char why[160];
    if (v == BACKOFF_PERMANENT) {
        snprintf(c->note, sizeof c->note,
                 "%s: bad usage or configuration, not restarted (see its log)",
                 c->last_exit);
        set_state(c, SUPERVISE_FAILED, c->note, pid);
    } else if (v == BACKOFF_CRASH_LOOP) {
        snprintf(c->note, sizeof c->note,
                 "%s: %u restarts within %llu ms, giving up", c->last_exit,
                 c->sv->policy.limit,
                 (unsigned long long)c->sv->policy.window_ms);
        set_state(c, SUPERVISE_FAILED, c->note, pid);
    } else {
        c->restarts++;
        snprintf(why, sizeof why, "%s after %llu ms, restart in %llu ms",
                 c->last_exit, (unsigned long long)uptime,
                 (unsigned long long)delay);
        snprintf(c->note, sizeof c->note, "restart in %llu ms",
                 (unsigned long long)delay);
        timer_arm(c, delay);
        set_state(c, SUPERVISE_BACKOFF, why, pid);
    }
    return 0;
}

/* What each event does in each state: rows in the order of enum
 * supervise_state, columns in that of enum supervise_event. NULL: it cannot
 * happen there (a process's events come only while it runs, and the timer
 * runs only in starting, stopping and backoff). A start or restart while
 * stopping starts it again once it has exited (want_up). */
/* clang-format off */
static action_fn *const actions[SUPERVISE_NSTATES][SUPERVISE_NEVENTS] = {
    /*              start   stop    restart kill    ready   timer   exit */
    /* down     */ {spawn,  nop,    spawn,  esrch,  NULL,   NULL,   NULL},
    /* backoff  */ {spawn,  cancel, spawn,  esrch,  NULL,   spawn,  NULL},
    /* starting */ {nop,    term,   term,   relay,  ready,  late,   crashed},
    /* up       */ {nop,    term,   term,   relay,  NULL,   NULL,   crashed},
    /* stopping */ {nop,    nop,    nop,    relay,  nop,    grace,  stopped},
    /* failed   */ {retry,  nop,    retry,  esrch,  NULL,   NULL,   NULL},
};
/* clang-format on */
_Static_assert(SUPERVISE_FAILED + 1 == SUPERVISE_NSTATES, "a row per state");
_Static_assert(SUPERVISE_EV_EXIT + 1 == SUPERVISE_NEVENTS,
               "a column per event");

/* The one way into the state machine. */
static int on_event(struct child *c, enum supervise_event ev,
                    const struct event_args *a)
{
    check_child(c);
    assert((unsigned)ev < SUPERVISE_NEVENTS);
    action_fn *act = actions[c->state][ev];
    assert(act != NULL);
    /* The operator's intent first: it holds whatever the state. */
    if (ev == SUPERVISE_EV_START || ev == SUPERVISE_EV_RESTART)
        c->want_up = 1;
    else if (ev == SUPERVISE_EV_STOP)
        c->want_up = 0;
    return act(c, a);
}

int supervise_start(struct child *c)
{
    if (!c->managed)
        return -EPERM;
    if (c->sv->stopping_all)
        return -ECANCELED;
    return on_event(c, SUPERVISE_EV_START, NULL);
}

int supervise_stop(struct child *c)
{
    if (!c->managed)
        return -EPERM;
    return on_event(c, SUPERVISE_EV_STOP, NULL);
}

int supervise_restart(struct child *c)
{
    if (!c->managed)
        return -EPERM;
    if (c->sv->stopping_all)
        return -ECANCELED;
    return on_event(c, SUPERVISE_EV_RESTART, NULL);
}

int supervise_kill(struct child *c, int signum)
{
    if (!c->managed)
        return -EPERM;
    struct event_args a = {0, signum};
    return on_event(c, SUPERVISE_EV_KILL, &a);
}

void supervise_start_all(struct supervise *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        if (sv->children[i]->managed)
            supervise_start(sv->children[i]);
}

void supervise_stop_all(struct supervise *sv)
{
    sv->stopping_all = 1;
    for (size_t i = 0; i < sv->n; i++)
        if (sv->children[i]->managed)
            supervise_stop(sv->children[i]);
}

int supervise_all_down(const struct supervise *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        if (sv->children[i]->run != NULL)
            return 0;
    for (const struct child *c = sv->retired; c != NULL; c = c->next_retired)
        if (c->run != NULL)
            return 0;
    return 1;
}

int supervise_settled(const struct supervise *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        if (sv->children[i]->managed &&
            (sv->children[i]->state == SUPERVISE_STARTING ||
             sv->children[i]->state == SUPERVISE_BACKOFF))
            return 0;
    return 1;
}

/* ---- reloads -------------------------------------------------------- */

static void on_retired_closed(uv_handle_t *h)
{
    free(h->data);
}

/* Takes c out of the retired list. */
static void retired_unlink(struct child *c)
{
    struct child **pp = &c->sv->retired;
    while (*pp != NULL && *pp != c)
        pp = &(*pp)->next_retired;
    if (*pp == c)
        *pp = c->next_retired;
    c->next_retired = NULL;
}

/* A retired child without a process leaves the retired list and is
 * freed once its timer has closed. */
static void retired_finish(struct child *c)
{
    assert(c->retired && c->run == NULL);
    retired_unlink(c);
    c->retired = 0; /* finished: freed once its timer has closed */
    timer_disarm(c);
    backoff_free(&c->backoff);
    uv_close((uv_handle_t *)&c->timer, on_retired_closed);
}

static void check_retired(struct child *c)
{
    if (c->retired && c->run == NULL)
        retired_finish(c);
}

/* The child for entry, a name the table does not have: a retired child
 * of that name whose process has not exited yet comes back (stopped, as
 * it is: a start waits for the exit, so that two processes never share
 * the name's ports and data directory); otherwise a new one (*fresh),
 * or NULL when out of memory. A supervisor run with --only runs no
 * server added by a reload: there the new child is never started. */
static struct child *child_for(struct supervise *sv,
                               const struct config_server *entry, int *fresh)
{
    struct child *c = sv->only ? NULL : supervise_find_retired(sv, entry->name);
    *fresh = c == NULL;
    return c != NULL ? c : child_new(sv, entry, !sv->only);
}

int supervise_rebuild(struct supervise *sv, const struct config *cfg)
{
    size_t n = cfg->nservers;
    struct child **next = calloc(n ? n : 1, sizeof(struct child *));
    unsigned char *fresh = calloc(n ? n : 1, 1);
    int bad = next == NULL || fresh == NULL;
    for (size_t i = 0; i < n && !bad; i++) {
        next[i] = supervise_find(sv, cfg->servers[i].name);
        if (next[i] == NULL) {
            int made;
            next[i] = child_for(sv, &cfg->servers[i], &made);
            fresh[i] = (unsigned char)made;
            bad = next[i] == NULL;
        }
    }
    if (bad) { /* nothing is armed yet: the new children just go */
        for (size_t i = 0; next != NULL && fresh != NULL && i < n; i++)
            if (fresh[i] && next[i] != NULL) {
                backoff_free(&next[i]->backoff);
                free(next[i]);
            }
        free(next);
        free(fresh);
        return -ENOMEM;
    }
    /* Those left out of next retire; the others take their new entry.
     * Retired ones back in herd.conf leave the retired list. */
    for (size_t i = 0; i < sv->n; i++) {
        struct child *c = sv->children[i];
        if (config_find(cfg, c->cfg->name, strlen(c->cfg->name)) >= 0)
            continue;
        c->retired = 1;
        c->next_retired = sv->retired;
        sv->retired = c;
    }
    for (size_t i = 0; i < n; i++) {
        if (next[i]->retired) {
            retired_unlink(next[i]);
            next[i]->retired = 0;
        }
        next[i]->conf = cfg->servers[i];
        if (fresh[i])
            child_arm(next[i]);
    }
    free(sv->children);
    free(fresh);
    sv->children = next;
    sv->n = n;
    return 0;
}

void supervise_stop_retired(struct supervise *sv)
{
    struct child *c = sv->retired;
    while (c != NULL) {
        struct child *next = c->next_retired;
        if (c->managed)
            supervise_stop(c); /* a restart under way is off too */
        check_retired(c);
        c = next;
    }
}

/* Every child's crash history afresh, sized for policy's limit. Returns
 * 0, or -ENOMEM with nothing changed. */
static int renew_backoffs(struct supervise *sv,
                          const struct backoff_policy *policy)
{
    size_t total = sv->n;
    for (struct child *c = sv->retired; c != NULL; c = c->next_retired)
        total++;
    struct backoff *fresh = calloc(total ? total : 1, sizeof *fresh);
    if (fresh == NULL)
        return -ENOMEM;
    size_t k = 0;
    for (; k < total; k++)
        if (backoff_init(&fresh[k], policy) != 0)
            break;
    if (k < total) {
        while (k > 0)
            backoff_free(&fresh[--k]);
        free(fresh);
        return -ENOMEM;
    }
    k = 0;
    for (size_t i = 0; i < sv->n; i++, k++) {
        backoff_free(&sv->children[i]->backoff);
        sv->children[i]->backoff = fresh[k];
    }
    for (struct child *c = sv->retired; c != NULL; c = c->next_retired, k++) {
        backoff_free(&c->backoff);
        c->backoff = fresh[k];
    }
    free(fresh);
    return 0;
}

/* b's next delay, within policy's first_ms and max_ms. */
static void bound_delay(struct backoff *b, const struct backoff_policy *policy)
{
    if (b->next_ms < policy->first_ms)
        b->next_ms = policy->first_ms;
    if (b->next_ms > policy->max_ms)
        b->next_ms = policy->max_ms;
}

int supervise_set_settings(struct supervise *sv, const struct config *cfg)
{
    struct backoff_policy policy;
    uint64_t grace_ms;
    uint64_t ready_ms;
    read_settings(cfg, &policy, &grace_ms, &ready_ms);
    if (policy.limit != sv->policy.limit && renew_backoffs(sv, &policy) != 0)
        return -ENOMEM;
    sv->policy = policy;
    sv->grace_ms = grace_ms;
    sv->ready_timeout_ms = ready_ms;
    /* A child's next delay was doubled from the old bounds: the next
     * crash waits within the new ones (a delay under way keeps its own). */
    for (size_t i = 0; i < sv->n; i++)
        bound_delay(&sv->children[i]->backoff, &policy);
    for (struct child *c = sv->retired; c != NULL; c = c->next_retired)
        bound_delay(&c->backoff, &policy);
    return 0;
}

void supervise_close(struct supervise *sv)
{
    /* A retired child leaves once its process has exited, right after
     * the exit's state change; the last exit of a herd stopping (the
     * exit of a server a reload removed, say) closes the supervisor from
     * inside that change: the child leaves here instead. */
    while (sv->retired != NULL) {
        assert(sv->retired->run == NULL);
        retired_finish(sv->retired);
    }
    for (size_t i = 0; i < sv->n; i++) {
        struct child *c = sv->children[i];
        assert(c->run == NULL);
        uv_close((uv_handle_t *)&c->timer, NULL);
        backoff_free(&c->backoff);
    }
    sv->on_change = NULL;
}

void supervise_free(struct supervise *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        free(sv->children[i]);
    free(sv->children);
    free(sv->config_path);
    free(sv->server_bin);
    free(sv->log_dir);
    free(sv->data_dir);
    free(sv->secret_file);
    memset(sv, 0, sizeof *sv);
}
