#include "supervise.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define DEFAULT_GRACE_MS 5000
#define DEFAULT_READY_TIMEOUT_MS 10000

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

/* pid is the process the change is about (it may have exited already). */
static void set_state_pid(struct child *c, enum supervise_state to,
                          const char *why, int pid)
{
    enum supervise_state from = c->state;
    c->state = to;
    log_msg("%s pid %d: %s -> %s (%s)", c->cfg->name, pid,
            supervise_state_name(from), supervise_state_name(to), why);
    if (c->sv->on_change)
        c->sv->on_change(c->sv, c->sv->change_arg);
}

static void set_state(struct child *c, enum supervise_state to,
                      const char *why)
{
    set_state_pid(c, to, why, c->pid);
}

static char *strdup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

int supervise_init(struct supervise *sv, uv_loop_t *loop,
                   const struct config *cfg, const char *config_path,
                   const char *server_bin, const char *log_dir,
                   const char *data_dir, const char *only, char *err,
                   size_t errlen)
{
    memset(sv, 0, sizeof *sv);
    sv->loop = loop;
    sv->cfg = cfg;
    sv->config_path = strdup_or_null(config_path);
    sv->server_bin = strdup_or_null(server_bin);
    sv->log_dir = strdup_or_null(log_dir);
    sv->data_dir = strdup_or_null(data_dir);
    backoff_policy_default(&sv->policy);
    if (cfg->restart_first_ms)
        sv->policy.first_ms = cfg->restart_first_ms;
    if (cfg->restart_max_ms)
        sv->policy.max_ms = cfg->restart_max_ms;
    if (cfg->restart_stable_ms)
        sv->policy.stable_ms = cfg->restart_stable_ms;
    if (cfg->crash_limit)
        sv->policy.limit = (unsigned)cfg->crash_limit;
    if (cfg->crash_window_ms)
        sv->policy.window_ms = cfg->crash_window_ms;
    sv->grace_ms = cfg->stop_grace_ms ? cfg->stop_grace_ms : DEFAULT_GRACE_MS;
    sv->ready_timeout_ms = cfg->ready_timeout_ms ? cfg->ready_timeout_ms
                                                 : DEFAULT_READY_TIMEOUT_MS;
    sv->children = calloc(cfg->nservers ? cfg->nservers : 1,
                          sizeof *sv->children);
    if (sv->children == NULL || sv->config_path == NULL ||
        sv->server_bin == NULL || sv->log_dir == NULL ||
        sv->data_dir == NULL) {
        snprintf(err, errlen, "out of memory");
        return 71;
    }
    sv->n = cfg->nservers;
    for (size_t i = 0; i < sv->n; i++) {
        struct child *c = &sv->children[i];
        c->sv = sv;
        c->cfg = &cfg->servers[i];
        c->state = SUPERVISE_DOWN;
        c->managed = only == NULL;
        if (backoff_init(&c->backoff, &sv->policy) != 0) {
            snprintf(err, errlen, "out of memory");
            return 71;
        }
        uv_timer_init(loop, &c->timer);
        c->timer.data = c;
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
            sv->children[idx].managed = 1;
            p += len + (comma != NULL);
        }
    }
    return 0;
}

struct child *supervise_find(struct supervise *sv, const char *name)
{
    for (size_t i = 0; i < sv->n; i++)
        if (strcmp(sv->children[i].cfg->name, name) == 0)
            return &sv->children[i];
    return NULL;
}

static void spawn(struct child *c);

static void on_timer(uv_timer_t *t)
{
    struct child *c = t->data;
    switch (c->state) {
    case SUPERVISE_DOWN:
        if (c->restart_pending) {
            c->restart_pending = 0;
            spawn(c);
        }
        break;
    case SUPERVISE_STARTING:
        log_msg("%s pid %d: not ready after %llu ms: killing it",
                c->cfg->name, c->pid,
                (unsigned long long)c->sv->ready_timeout_ms);
        uv_process_kill(&c->run->proc, SIGKILL);
        break;
    case SUPERVISE_STOPPING:
        log_msg("%s pid %d: still running %llu ms after SIGTERM: SIGKILL",
                c->cfg->name, c->pid, (unsigned long long)c->sv->grace_ms);
        uv_process_kill(&c->run->proc, SIGKILL);
        break;
    case SUPERVISE_UP:
    case SUPERVISE_FAILED:
        break;
    }
}

static void on_run_closed(uv_handle_t *h)
{
    struct supervise_run *run = h->data;
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
    struct child *c = run->child;
    if (nread == 0)
        return;
    run_close_ready(run); /* one newline is all it ever says */
    if (nread > 0 && c->state == SUPERVISE_STARTING) {
        uv_timer_stop(&c->timer);
        c->up_ms = supervise_now_ms();
        set_state(c, SUPERVISE_UP, "ready");
    }
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

static void on_exit(uv_process_t *p, int64_t status, int sig)
{
    struct supervise_run *run = p->data;
    struct child *c = run->child;
    run_close(run);
    c->run = NULL;
    uv_timer_stop(&c->timer);
    describe_exit(c->last_exit, sizeof c->last_exit, status, sig);
    uint64_t now = supervise_now_ms();
    uint64_t uptime = now - c->spawned_ms;
    int pid = c->pid;
    c->pid = 0;

    if (c->state == SUPERVISE_STOPPING || !c->want_up) {
        set_state_pid(c, SUPERVISE_DOWN, c->last_exit, pid);
        if (c->want_up)
            spawn(c); /* an operator's restart */
        return;
    }
    uint64_t delay = 0;
    enum backoff_verdict v = backoff_on_exit(
        &c->backoff, &c->sv->policy, now, uptime,
        sig != 0 ? -1 : (int)status, &delay);
    char why[160];
    if (v == BACKOFF_PERMANENT) {
        snprintf(c->note, sizeof c->note,
                 "%s: bad usage or configuration, not restarted (see its log)",
                 c->last_exit);
        set_state_pid(c, SUPERVISE_FAILED, c->note, pid);
    } else if (v == BACKOFF_CRASH_LOOP) {
        snprintf(c->note, sizeof c->note,
                 "%s: %u restarts within %llu ms, giving up", c->last_exit,
                 c->sv->policy.limit,
                 (unsigned long long)c->sv->policy.window_ms);
        set_state_pid(c, SUPERVISE_FAILED, c->note, pid);
    } else {
        c->restart_pending = 1;
        c->restarts++;
        snprintf(why, sizeof why, "%s after %llu ms, restart in %llu ms",
                 c->last_exit, (unsigned long long)uptime,
                 (unsigned long long)delay);
        snprintf(c->note, sizeof c->note, "restart in %llu ms",
                 (unsigned long long)delay);
        set_state_pid(c, SUPERVISE_DOWN, why, pid);
        uv_timer_start(&c->timer, on_timer, delay, 0);
    }
}

static void spawn(struct child *c)
{
    struct supervise *sv = c->sv;
    char logpath[4300];
    snprintf(logpath, sizeof logpath, "%s/%s.log", sv->log_dir, c->cfg->name);
    int logfd = open(logpath,
                     O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC,
                     0600);
    if (logfd < 0) {
        snprintf(c->note, sizeof c->note, "cannot open %.100s: %s", logpath,
                 strerror(errno));
        set_state(c, SUPERVISE_FAILED, c->note);
        return;
    }
    struct supervise_run *run = calloc(1, sizeof *run);
    if (run == NULL) {
        close(logfd);
        snprintf(c->note, sizeof c->note, "cannot run %s: out of memory",
                 sv->server_bin);
        set_state(c, SUPERVISE_FAILED, c->note);
        return;
    }
    /* execv wants char *const[]: copy the strings that are const here. */
    char name[CONFIG_NAME_MAX + 1];
    char o_config[] = "--config", o_log[] = "--log-file";
    char o_ready[] = "--ready-fd", o_life[] = "--lifeline-fd";
    char o_data[] = "--data-dir", o_secret[] = "--secret-file";
    char fd3[] = "3", fd4[] = "4";
    char datapath[4300];
    snprintf(name, sizeof name, "%s", c->cfg->name);
    snprintf(datapath, sizeof datapath, "%s/%s", sv->data_dir, c->cfg->name);
    char *args[] = {sv->server_bin, name,     o_config, sv->config_path,
                    o_log,          logpath,  o_data,   datapath,
                    o_ready,        fd3,      o_life,   fd4,
                    NULL,           NULL,     NULL};
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
        set_state(c, SUPERVISE_FAILED, c->note);
        return;
    }
    c->run = run;
    c->pid = run->proc.pid;
    uv_read_start((uv_stream_t *)&run->ready, on_ready_alloc, on_ready_read);
    uv_timer_start(&c->timer, on_timer, sv->ready_timeout_ms, 0);
    set_state(c, SUPERVISE_STARTING, "spawned");
}

int supervise_start(struct child *c)
{
    if (!c->managed)
        return -EPERM;
    c->want_up = 1;
    switch (c->state) {
    case SUPERVISE_FAILED:
        backoff_reset(&c->backoff, &c->sv->policy);
        spawn(c);
        break;
    case SUPERVISE_DOWN:
        uv_timer_stop(&c->timer);
        c->restart_pending = 0;
        spawn(c);
        break;
    case SUPERVISE_STARTING:
    case SUPERVISE_UP:
    case SUPERVISE_STOPPING: /* starts again once it has exited */
        break;
    }
    return 0;
}

static void terminate(struct child *c)
{
    uv_process_kill(&c->run->proc, SIGTERM);
    uv_timer_start(&c->timer, on_timer, c->sv->grace_ms, 0);
    set_state(c, SUPERVISE_STOPPING, "SIGTERM");
}

int supervise_stop(struct child *c)
{
    if (!c->managed)
        return -EPERM;
    c->want_up = 0;
    switch (c->state) {
    case SUPERVISE_STARTING:
    case SUPERVISE_UP:
        terminate(c);
        break;
    case SUPERVISE_DOWN:
        if (c->restart_pending) {
            uv_timer_stop(&c->timer);
            c->restart_pending = 0;
            c->note[0] = '\0';
            set_state(c, SUPERVISE_DOWN, "stopped by operator");
        }
        break;
    case SUPERVISE_FAILED:
    case SUPERVISE_STOPPING:
        break;
    }
    return 0;
}

int supervise_restart(struct child *c)
{
    if (!c->managed)
        return -EPERM;
    if (c->state == SUPERVISE_STARTING || c->state == SUPERVISE_UP) {
        terminate(c);
        c->want_up = 1;
        return 0;
    }
    return supervise_start(c);
}

int supervise_kill(struct child *c, int signum)
{
    if (!c->managed)
        return -EPERM;
    if (c->run == NULL)
        return -ESRCH;
    return uv_process_kill(&c->run->proc, signum);
}

void supervise_start_all(struct supervise *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        if (sv->children[i].managed)
            supervise_start(&sv->children[i]);
}

void supervise_stop_all(struct supervise *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        if (sv->children[i].managed)
            supervise_stop(&sv->children[i]);
}

int supervise_all_down(const struct supervise *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        if (sv->children[i].run != NULL)
            return 0;
    return 1;
}

int supervise_settled(const struct supervise *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        if (sv->children[i].managed &&
            (sv->children[i].state == SUPERVISE_STARTING ||
             sv->children[i].restart_pending))
            return 0;
    return 1;
}

void supervise_close(struct supervise *sv)
{
    for (size_t i = 0; i < sv->n; i++) {
        struct child *c = &sv->children[i];
        uv_close((uv_handle_t *)&c->timer, NULL);
        backoff_free(&c->backoff);
    }
    sv->on_change = NULL;
}

void supervise_free(struct supervise *sv)
{
    free(sv->children);
    free(sv->config_path);
    free(sv->server_bin);
    free(sv->log_dir);
    free(sv->data_dir);
    free(sv->secret_file);
    memset(sv, 0, sizeof *sv);
}
