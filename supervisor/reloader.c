/* reloader: herd reload and SIGHUP in the supervisor (reloader.h). */
#include "reloader.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "check.h"
#include "dynbuf.h"
#include "log.h"
#include "plan.h"

#define REPLY_MAX ((size_t)4 * 1024 * 1024)

/* Where a server of the plan stands in the reload. */
enum step {
    STEP_NONE,     /* nothing to do, or done (its outcome is set) */
    STEP_WAIT_UP,  /* told once it is up (it is starting) */
    STEP_ASKED,    /* "reload" sent, no answer yet */
    STEP_STARTING, /* added: started, not up yet */
    STEP_STOPPING  /* removed: stopped, not exited yet */
};

struct reload_job {
    struct reloader *r;
    unsigned long id; /* the request to answer; 0: none */
    struct plan plan;
    enum step *steps; /* per server of the plan */
    char *warnings;   /* the checks' warnings, lines ("" none) */
    int started;      /* the new servers were started */
    int stepping;     /* job_step runs (it may be called again inside) */
    int again;
    int done;
    uv_timer_t deadline;
    /* Questions out (watch_ask): each answers once, even after the job
     * ended (its deadline), so the job is freed once the last has
     * answered and its timer has closed. */
    unsigned asked;
    int closed; /* the deadline timer */
};

/* ---- the reply ------------------------------------------------------ */

/* Each line of text in the log, after prefix. */
static void log_lines(const char *prefix, const char *text)
{
    while (*text != '\0') {
        size_t len = strcspn(text, "\n");
        log_msg("%s%.*s", prefix, (int)len, text);
        text += len + (text[len] == '\n');
    }
}

static void on_kick(uv_timer_t *t);

/* Frees the job once nothing can call it any more. */
static void job_release(struct reload_job *job)
{
    if (!job->closed || job->asked > 0)
        return;
    plan_free(&job->plan);
    free(job->steps);
    free(job->warnings);
    free(job);
}

static void on_deadline_closed(uv_handle_t *h)
{
    struct reload_job *job = h->data;
    job->closed = 1;
    job_release(job);
}

static void job_free(struct reload_job *job)
{
    job->r->job = NULL;
    uv_close((uv_handle_t *)&job->deadline, on_deadline_closed);
}

/* The end: what was done, in the reply and the log. */
static void job_finish(struct reload_job *job)
{
    struct reloader *r = job->r;
    job->done = 1;
    struct dynbuf body;
    dynbuf_init(&body, REPLY_MAX);
    int rc = plan_render(&job->plan, 0, &body);
    if (rc == 0)
        rc = dynbuf_printf(&body, "%s", job->warnings);
    if (rc == 0)
        rc = dynbuf_addc(&body, '\0');
    int failed = plan_failed(&job->plan);
    if (rc == 0) {
        body.len--; /* the terminator stays, out of the count */
        log_lines("reload: ", body.data);
        log_msg("reload of %s done%s", r->h->conf,
                failed ? ", not everything went well (above)" : "");
        control_answer(r->ctl, job->id, failed ? CONTROL_EFAILED : CONTROL_OK,
                       "the reload is done, but not everything went well "
                       "(below)",
                       &body);
    } else {
        log_msg("reload of %s done; out of memory for its report", r->h->conf);
        control_answer(r->ctl, job->id, CONTROL_ENOMEM, "out of memory", NULL);
    }
    dynbuf_free(&body);
    job_free(job);
    if (r->again && !r->closing) /* a SIGHUP came meanwhile */
        uv_timer_start(&r->kick, on_kick, 0, 0);
}

/* ---- the servers' answers ------------------------------------------- */

/* Appends "; LABEL A, B" for the strings of array key of o, if any. */
static int add_list(struct dynbuf *b, json_t *o, const char *key,
                    const char *label)
{
    json_t *a = json_object_get(o, key);
    if (!json_is_array(a) || json_array_size(a) == 0)
        return 0;
    int rc = dynbuf_printf(b, "%s%s ", b->len > 0 ? "; " : "", label);
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        const char *s = json_string_value(v);
        if (rc == 0)
            rc = dynbuf_printf(b, "%s%s", i > 0 ? ", " : "", s ? s : "?");
    }
    return rc;
}

/* A server's answer to "reload" in words; *failed when it is not ok.
 * Returns 0 or a dynbuf error. */
static int describe_answer(const char *name, const char *reply, const char *why,
                           struct dynbuf *b, int *failed)
{
    char esc[600];
    *failed = 1;
    if (reply == NULL)
        return dynbuf_printf(b, "no answer: %s", why);
    if (strncmp(reply, "error ", 6) == 0) {
        log_escape(esc, sizeof esc, reply + 6, strlen(reply + 6));
        return dynbuf_printf(b, "refused: %s", esc);
    }
    json_t *o = json_loads(reply, 0, NULL);
    if (!json_is_object(o) || !json_is_true(json_object_get(o, "ok"))) {
        json_decref(o);
        log_escape(esc, sizeof esc, reply, strlen(reply));
        return dynbuf_printf(b, "unexpected answer: %s", esc);
    }
    *failed = 0;
    int rc = add_list(b, o, "added", "linked to");
    if (rc == 0)
        rc = add_list(b, o, "removed", "unlinked from");
    if (rc == 0)
        rc = add_list(b, o, "moved", "redialling");
    if (rc == 0)
        rc = add_list(b, o, "changed", "in effect now:");
    json_t *need = json_object_get(o, "restart_needed");
    if (rc == 0 && json_is_array(need) && json_array_size(need) > 0) {
        char label[CONFIG_NAME_MAX + 64];
        snprintf(label, sizeof label, "needs herd restart %s for:", name);
        rc = add_list(b, o, "restart_needed", label);
    }
    if (rc == 0 && b->len == 0)
        rc = dynbuf_printf(b, "%s",
                           json_is_true(json_object_get(o, "unchanged"))
                               ? "nothing changed for it"
                               : "reloaded");
    json_decref(o);
    return rc;
}

static void job_step(struct reload_job *job);

/* Sets s's outcome (text, or "out of memory"). */
static void set_outcome(struct plan_server *s, const char *text, int failed)
{
    if (plan_set_outcome(s, text, failed) != 0)
        (void)plan_set_outcome(s, "out of memory", 1);
}

static void on_answer(void *arg, const char *name, const char *reply,
                      const char *why)
{
    struct reload_job *job = arg;
    job->asked--;
    if (job->done) { /* ended meanwhile: its deadline, or a shutdown */
        job_release(job);
        return;
    }
    struct plan_server *s = plan_find(&job->plan, name);
    if (s == NULL)
        return;
    struct dynbuf b;
    dynbuf_init(&b, REPLY_MAX);
    int failed;
    if (describe_answer(name, reply, why, &b, &failed) == 0 &&
        dynbuf_addc(&b, '\0') == 0)
        set_outcome(s, b.data, failed);
    else
        set_outcome(s, "out of memory", 1);
    dynbuf_free(&b);
    job->steps[s - job->plan.servers] = STEP_NONE;
    job_step(job);
}

/* ---- the steps ------------------------------------------------------ */

/* Sends "reload" to s's server, up now. */
static void ask(struct reload_job *job, struct plan_server *s)
{
    size_t i = (size_t)(s - job->plan.servers);
    int rc = watch_ask(&job->r->ask, s->name, "reload", RELOAD_ASK_MS,
                       on_answer, job);
    if (rc == 0) {
        job->asked++;
        job->steps[i] = STEP_ASKED;
        return;
    }
    set_outcome(s,
                rc == WATCH_ECLOSED ? "not told: the supervisor is stopping"
                                    : "not told: out of memory",
                1);
    job->steps[i] = STEP_NONE;
}

/* A server kept that the change concerns: told now, once up, or not at
 * all (no process: it reads herd.conf when it starts). */
static void tell(struct reload_job *job, struct plan_server *s)
{
    size_t i = (size_t)(s - job->plan.servers);
    const struct child *c = supervise_find(job->r->sv, s->name);
    if (c != NULL && c->state == SUPERVISE_UP) {
        ask(job, s);
    } else if (c != NULL && c->state == SUPERVISE_STARTING) {
        job->steps[i] = STEP_WAIT_UP;
    } else {
        set_outcome(s, "not running: it reads herd.conf when it starts", 0);
        job->steps[i] = STEP_NONE;
    }
}

/* An added server's start, as far as it has gone. */
static void follow_start(struct reload_job *job, struct plan_server *s)
{
    size_t i = (size_t)(s - job->plan.servers);
    const struct child *c = supervise_find(job->r->sv, s->name);
    char text[300];
    if (c == NULL) { /* cannot be: the table follows the plan */
        set_outcome(s, "not in the table", 1);
    } else if (c->state == SUPERVISE_UP) {
        snprintf(text, sizeof text, "up (pid %d)", c->pid);
        set_outcome(s, text, 0);
    } else if (c->state == SUPERVISE_FAILED) {
        snprintf(text, sizeof text, "failed: %s (see its log)", c->note);
        set_outcome(s, text, 1);
    } else if (c->state == SUPERVISE_DOWN && !c->want_up) {
        set_outcome(s,
                    c->sv->stopping_all ? "not started: the herd is stopping"
                                        : "stopped meanwhile",
                    1);
    } else {
        return; /* starting, or about to be restarted */
    }
    job->steps[i] = STEP_NONE;
}

/* A removed server's stop, as far as it has gone. */
static void follow_stop(struct reload_job *job, struct plan_server *s)
{
    size_t i = (size_t)(s - job->plan.servers);
    const struct child *c = supervise_find_retired(job->r->sv, s->name);
    if (c != NULL && c->run != NULL)
        return;
    char text[100];
    snprintf(text, sizeof text, "stopped (%s)",
             c != NULL && c->last_exit[0] ? c->last_exit : "exited");
    set_outcome(s, text, 0);
    job->steps[i] = STEP_NONE;
}

/* The new servers start once every server told has answered: their
 * neighbours know them by then, and take their first dial. */
static void start_added(struct reload_job *job)
{
    job->started = 1;
    for (size_t i = 0; i < job->plan.nservers; i++) {
        struct plan_server *s = &job->plan.servers[i];
        if (s->old_index >= 0)
            continue;
        if (!s->managed) {
            set_outcome(s, "not started here (--only)", 0);
            continue;
        }
        job->steps[i] = STEP_STARTING;
        struct child *c = supervise_find(job->r->sv, s->name);
        int rc = c != NULL ? supervise_start(c) : -ENOENT;
        if (rc != 0 && job->steps[i] == STEP_STARTING) {
            set_outcome(s,
                        rc == -ECANCELED ? "not started: the herd is stopping"
                                         : "not started",
                        1);
            job->steps[i] = STEP_NONE;
        }
    }
}

/* One pass over the servers; the end once nothing is pending. */
static void job_pass(struct reload_job *job)
{
    int telling = 0;
    int pending = 0;
    for (size_t i = 0; i < job->plan.nservers; i++) {
        struct plan_server *s = &job->plan.servers[i];
        if (job->steps[i] == STEP_WAIT_UP)
            tell(job, s);
        else if (job->steps[i] == STEP_STARTING)
            follow_start(job, s);
        else if (job->steps[i] == STEP_STOPPING)
            follow_stop(job, s);
        telling |= job->steps[i] == STEP_WAIT_UP || job->steps[i] == STEP_ASKED;
        pending |= job->steps[i] != STEP_NONE;
    }
    if (!telling && !job->started) {
        start_added(job);
        job->again = 1;
        return;
    }
    if (!pending)
        job_finish(job);
}

/* Goes on as far as it can. Calls from inside (a start changes a state,
 * which calls reloader_changed) are folded into the pass under way. */
static void job_step(struct reload_job *job)
{
    if (job->stepping) {
        job->again = 1;
        return;
    }
    job->stepping = 1;
    do {
        job->again = 0;
        job_pass(job);
    } while (job->again && !job->done);
    job->stepping = 0;
}

static void on_job_deadline(uv_timer_t *t)
{
    struct reload_job *job = t->data;
    for (size_t i = 0; i < job->plan.nservers; i++) {
        struct plan_server *s = &job->plan.servers[i];
        const char *text = NULL;
        switch (job->steps[i]) {
        case STEP_WAIT_UP:
            text = "not told: still starting";
            break;
        case STEP_ASKED:
            text = "no answer yet";
            break;
        case STEP_STARTING:
            text = "still starting";
            break;
        case STEP_STOPPING:
            text = "still stopping";
            break;
        case STEP_NONE:
            break;
        }
        if (text != NULL) {
            char line[100];
            snprintf(line, sizeof line, "%s after %d s", text,
                     RELOAD_DEADLINE_MS / 1000);
            set_outcome(s, line, 1);
            job->steps[i] = STEP_NONE;
        }
    }
    job_finish(job);
}

/* ---- checking and applying ------------------------------------------ */

/* The new file, loaded and checked whole into next; the problems (and
 * warnings) as lines in *text. Returns 0 (usable) or -1. */
static int load_next(struct reloader *r, struct herd *next, char **text,
                     unsigned *nerrors)
{
    size_t len = 0;
    FILE *out = open_memstream(text, &len);
    if (out == NULL) {
        *text = NULL;
        return -1;
    }
    next->argv0 = r->h->argv0;
    int rc = herd_load_to(next, r->h->conf, out);
    unsigned warnings = 0;
    *nerrors = rc != 0;
    if (rc == 0)
        *nerrors = check_config(next, out, &warnings);
    /* Checks only: a new log_dir or data_dir is made once the reload is
     * sure to go through (make_dirs). */
    if (*nerrors == 0 && herd_prepare_reload(next, r->h, 1, out) != 0)
        *nerrors = 1;
    /* The web page is served where it was until the supervisor restarts:
     * no new address may take its port. */
    for (size_t i = 0; *nerrors == 0 && r->h->http_on && i < next->cfg.nservers;
         i++) {
        const struct config_server *s = &next->cfg.servers[i];
        if ((s->listen.port == r->h->http_port &&
             strcmp(s->listen.host, r->h->http_host) == 0) ||
            (s->peer.port == r->h->http_port &&
             strcmp(s->peer.host, r->h->http_host) == 0)) {
            fprintf(out,
                    "herd: %s:%d: server '%s' takes %s:%u, where the "
                    "supervisor serves its web page\n",
                    r->h->conf, s->line, s->name, r->h->http_host,
                    r->h->http_port);
            (*nerrors)++;
        }
    }
    if (fclose(out) != 0 || *text == NULL)
        return -1;
    return *nerrors == 0 ? 0 : -1;
}

/* Answers a refused file: "error config: FILE refused: nothing changed",
 * every problem (text, lines) in the body, and in the log. */
static void refuse(struct reloader *r, unsigned long id, const char *text)
{
    char msg[PATH_MAX + 64];
    snprintf(msg, sizeof msg, "%s refused: nothing changed", r->h->conf);
    struct dynbuf body;
    dynbuf_init(&body, REPLY_MAX);
    int rc = dynbuf_printf(&body, "%s", text);
    log_lines("reload: ", text);
    log_msg("reload: %s", msg);
    control_answer(r->ctl, id, rc == 0 ? CONTROL_ECONFIG : CONTROL_ENOMEM,
                   rc == 0 ? msg : "out of memory", &body);
    dynbuf_free(&body);
}

/* old's derived string *field becomes value, when it differs (a new
 * server_bin, log_dir or data_dir, for the servers' next starts). */
static void take_path(char **field, const char *value)
{
    if (*field != NULL && strcmp(*field, value) == 0)
        return;
    char *copy = strdup(value);
    if (copy == NULL) {
        log_msg("reload: out of memory: %s not taken", value);
        return;
    }
    free(*field);
    *field = copy;
}

/* Step 1 of reloader.h: the table, the config and everything that points
 * at it, in one go. Returns 0, or -1 with nothing changed. */
static int apply(struct reloader *r, struct herd *next)
{
    struct herd *h = r->h;
    if (supervise_rebuild(r->sv, &next->cfg) != 0)
        return -1;
    /* The new config takes the old one's place: every pointer to h->cfg
     * (the watches', the web page's) sees the new one from now on. */
    struct config old = h->cfg;
    h->cfg = next->cfg;
    config_init(&next->cfg);
    if (watch_reconfigure(&r->ask) != 0 ||
        (r->web != NULL && http_reconfigure(r->web) != 0))
        log_msg("reload: out of memory: the servers added are not watched");
    if (supervise_set_settings(r->sv, &h->cfg) != 0)
        log_msg("reload: out of memory: the restart policy is unchanged");
    uint64_t max_mb = h->cfg.log_max_mb;
    log_set_max_bytes(max_mb > (UINT64_MAX >> 20) ? 0 : max_mb << 20);
    /* For the servers' next starts; herd.log stays where it is. */
    take_path(&r->sv->server_bin, next->server_bin);
    take_path(&r->sv->log_dir, next->log_dir);
    take_path(&r->sv->data_dir, next->data_dir);
    memcpy(h->server_bin, next->server_bin, sizeof h->server_bin);
    memcpy(h->log_dir, next->log_dir, sizeof h->log_dir);
    memcpy(h->data_dir, next->data_dir, sizeof h->data_dir);
    config_free(&old);
    return 0;
}

/* The steps of the servers once applied: told, started, stopped. */
static void first_steps(struct reload_job *job)
{
    struct supervise *sv = job->r->sv;
    for (size_t i = 0; i < job->plan.nservers; i++) {
        struct plan_server *s = &job->plan.servers[i];
        if (s->new_index < 0) {
            const struct child *c = supervise_find_retired(sv, s->name);
            if (c != NULL && c->run != NULL)
                job->steps[i] = STEP_STOPPING;
            else
                set_outcome(s,
                            s->managed ? "was not running"
                                       : "was not run here (--only)",
                            0);
        } else if (s->old_index >= 0 && s->tell && s->managed) {
            tell(job, s);
        }
    }
}

/* A plan that cannot be applied (run_dir): refused like a bad file. */
static int refuse_plan(struct reloader *r, unsigned long id, struct plan *p)
{
    struct dynbuf b;
    dynbuf_init(&b, REPLY_MAX);
    int rc = 0;
    for (size_t i = 0; i < p->nsettings && rc == 0; i++) {
        const struct plan_setting *ps = &p->settings[i];
        if (ps->effect != PLAN_REFUSED)
            continue;
        /* FILE:LINE where the file sets it; FILE alone when it went back
         * to its default. */
        const char *key = settings_table[ps->id].name;
        char where[24] = "";
        int line = herd_setting_line(r->h->conf, key);
        if (line > 0)
            snprintf(where, sizeof where, ":%d", line);
        rc = dynbuf_printf(&b, "herd: %s%s: %s %s -> %s: %s\n", r->h->conf,
                           where, key, ps->from, ps->to,
                           plan_effect_text(PLAN_REFUSED));
    }
    if (rc == 0)
        rc = dynbuf_addc(&b, '\0');
    refuse(r, id, rc == 0 ? b.data : "herd: out of memory\n");
    dynbuf_free(&b);
    return -1;
}

/* h's config as the plan compares it: the directories and server_bin
 * as they are used (a default made explicit, or the reverse, changes
 * nothing), borrowed from h. Not to be freed. */
static struct config as_used(const struct herd *h)
{
    struct config c = h->cfg;
    c.run_dir = h->run_dir;
    c.log_dir = h->log_dir;
    c.data_dir = h->data_dir;
    c.server_bin = h->server_bin;
    return c;
}

/* The plan from the running config to next's; -1 after an answer. */
static int make_plan(struct reloader *r, unsigned long id, struct herd *next,
                     struct plan *p)
{
    struct supervise *sv = r->sv;
    unsigned char *managed = calloc(sv->n ? sv->n : 1, 1);
    for (size_t i = 0; managed != NULL && i < sv->n; i++)
        managed[i] = (unsigned char)sv->children[i]->managed;
    /* The table follows h->cfg, in its order. */
    const struct config was = as_used(r->h);
    const struct config now = as_used(next);
    int rc =
        managed != NULL ? plan_build(p, &was, &now, managed, sv->only) : -1;
    free(managed);
    if (rc != 0) {
        control_answer(r->ctl, id, CONTROL_ENOMEM, "out of memory", NULL);
        return -1;
    }
    if (p->refused) {
        refuse_plan(r, id, p);
        plan_free(p);
        return -1;
    }
    return 0;
}

/* A dry run, or nothing to do: the plan as the answer. */
static void answer_plan(struct reloader *r, unsigned long id,
                        const struct plan *p, int dry_run, const char *warnings)
{
    struct dynbuf body;
    dynbuf_init(&body, REPLY_MAX);
    int rc = plan_render(p, dry_run, &body);
    if (rc == 0)
        rc = dynbuf_printf(&body, "%s", warnings);
    if (rc == 0 && !dry_run)
        log_msg("reload: %s has not changed: nothing to do", r->h->conf);
    control_answer(r->ctl, id, rc == 0 ? CONTROL_OK : CONTROL_ENOMEM,
                   rc == 0 ? "" : "out of memory", &body);
    dynbuf_free(&body);
}

static struct reload_job *new_job(struct reloader *r, unsigned long id,
                                  struct plan *p, char *warnings)
{
    struct reload_job *job = calloc(1, sizeof *job);
    enum step *steps =
        calloc(p->nservers ? p->nservers : 1, sizeof *job->steps);
    if (job == NULL || steps == NULL) {
        free(job);
        free(steps);
        return NULL;
    }
    job->r = r;
    job->id = id;
    job->plan = *p;
    job->steps = steps;
    job->warnings = warnings;
    uv_timer_init(r->loop, &job->deadline);
    job->deadline.data = job;
    return job;
}

/* Makes next's new log_dir and data_dir; -1 after an answer (the file
 * refused: nothing changed but a directory made). */
static int make_dirs(struct reloader *r, unsigned long id, struct herd *next)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    int rc = out != NULL ? herd_prepare_reload(next, r->h, 0, out) : -1;
    if (out != NULL && fclose(out) != 0)
        rc = -1;
    if (rc != 0 && text != NULL && len > 0)
        refuse(r, id, text);
    else if (rc != 0)
        control_answer(r->ctl, id, CONTROL_ENOMEM, "out of memory", NULL);
    free(text);
    return rc != 0 ? -1 : 0;
}

/* Everything after the file passed its checks. */
static void reload_checked(struct reloader *r, unsigned long id, int dry_run,
                           struct herd *next, char *warnings)
{
    struct plan p;
    if (make_plan(r, id, next, &p) != 0) {
        free(warnings);
        return;
    }
    if (dry_run || !p.changed) {
        answer_plan(r, id, &p, dry_run, warnings);
        plan_free(&p);
        free(warnings);
        return;
    }
    if (make_dirs(r, id, next) != 0) {
        plan_free(&p);
        free(warnings);
        return;
    }
    struct reload_job *job = new_job(r, id, &p, warnings);
    if (job == NULL || apply(r, next) != 0) {
        if (job != NULL) { /* p and warnings are freed below */
            memset(&job->plan, 0, sizeof job->plan);
            job->warnings = NULL;
            job_free(job);
        }
        plan_free(&p);
        free(warnings);
        log_msg("reload: out of memory: nothing changed");
        control_answer(r->ctl, id, CONTROL_ENOMEM, "out of memory", NULL);
        return;
    }
    /* The checks' warnings (a graph in pieces...) are in the report. */
    log_msg("reload: applying the new %s", r->h->conf);
    if (r->on_table != NULL)
        r->on_table(r->arg);
    supervise_stop_retired(r->sv);
    control_changed(r->ctl);
    uv_timer_start(&job->deadline, on_job_deadline, RELOAD_DEADLINE_MS, 0);
    first_steps(job);
    /* Under way from now on: the state changes above (the retired
     * servers stopping) came before there was anything to follow. */
    r->job = job;
    job_step(job);
}

void reloader_start(struct reloader *r, unsigned long id, int dry_run,
                    const char *origin)
{
    if (r->closing || r->sv->stopping_all) {
        control_answer(r->ctl, id, CONTROL_ECONFLICT,
                       "the herd is stopping: nothing reloads now", NULL);
        return;
    }
    if (!dry_run && r->job != NULL) {
        if (id == 0) {
            r->again = 1;
            log_msg("reload (%s): another one is under way: this one "
                    "follows it",
                    origin);
        }
        control_answer(r->ctl, id, CONTROL_ECONFLICT,
                       "a reload is under way: try again once it is done",
                       NULL);
        return;
    }
    log_msg("reload%s of %s (%s)", dry_run ? " --dry-run" : "", r->h->conf,
            origin);
    struct herd *next = calloc(1, sizeof *next);
    char *text = NULL;
    unsigned nerrors = 0;
    int rc = next != NULL ? load_next(r, next, &text, &nerrors) : -1;
    if (rc != 0 && text != NULL && nerrors > 0) {
        refuse(r, id, text);
        free(text);
    } else if (rc != 0) {
        free(text);
        log_msg("reload: out of memory: nothing changed");
        control_answer(r->ctl, id, CONTROL_ENOMEM, "out of memory", NULL);
    } else {
        reload_checked(r, id, dry_run, next, text); /* takes text */
    }
    if (next != NULL)
        config_free(&next->cfg);
    free(next);
}

void reloader_changed(struct reloader *r)
{
    if (r->job != NULL && !r->job->done)
        job_step(r->job);
}

static void on_kick(uv_timer_t *t)
{
    struct reloader *r = t->data;
    r->again = 0;
    reloader_start(r, 0, 0, "SIGHUP, after the one before");
}

int reloader_init(struct reloader *r, uv_loop_t *loop, struct herd *h,
                  struct supervise *sv, struct control *ctl, struct http *web,
                  void (*on_table)(void *arg), void *arg)
{
    memset(r, 0, sizeof *r);
    r->loop = loop;
    r->h = h;
    r->sv = sv;
    r->ctl = ctl;
    r->web = web;
    r->on_table = on_table;
    r->arg = arg;
    int rc = watch_init(&r->ask, loop, &h->cfg, h->run_dir, 0, NULL, NULL);
    if (rc != 0)
        return rc;
    uv_timer_init(loop, &r->kick);
    r->kick.data = r;
    return 0;
}

void reloader_close(struct reloader *r)
{
    if (r->closing)
        return;
    r->closing = 1;
    struct reload_job *job = r->job;
    if (job != NULL)
        job->done = 1; /* the answers cancelled below change nothing */
    watch_close(&r->ask);
    if (job != NULL)
        job_free(job);
    uv_close((uv_handle_t *)&r->kick, NULL);
}

void reloader_free(struct reloader *r)
{
    watch_free(&r->ask);
}
