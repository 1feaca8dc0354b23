#include "reload.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config.h"
#include "dynbuf.h"
#include "log.h"
#include "places.h"
#include "reload_plan.h"
#include "server.h"
#include "wal.h"

#define RELOAD_WHY_MAX 640

/* The reload is refused: nothing changed. Logged, remembered for the
 * status, and answered "error WHY". */
static char *refused(struct server *srv, const char *how, const char *why)
{
    const char *path = srv->opt->config_path;
    log_msg("reload (%s)%s%s refused, nothing changed: %s", how,
            path != NULL ? " of " : "", path != NULL ? path : "", why);
    snprintf(srv->reloads.last, sizeof srv->reloads.last, "error: %s", why);
    size_t cap = strlen(why) + sizeof "error ";
    char *reply = malloc(cap);
    if (reply != NULL)
        snprintf(reply, cap, "error %s", why);
    return reply;
}

/* Every neighbour now, and those the command line gave. */
static struct reload_peer *running_peers(struct server *srv, size_t *n)
{
    size_t count = peers_count(&srv->peers);
    struct reload_peer *v = calloc(count ? count : 1, sizeof *v);
    if (v == NULL)
        return NULL;
    for (size_t i = 0; i < count; i++) {
        struct peers_status st;
        peers_status(&srv->peers, i, &st);
        snprintf(v[i].name, sizeof v[i].name, "%s", st.name);
        v[i].addr = *peers_addr(&srv->peers, i);
    }
    *n = count;
    return v;
}

static struct reload_peer *fixed_peers(const struct server_options *opt)
{
    size_t n = opt->npeers_args;
    struct reload_peer *v = calloc(n ? n : 1, sizeof *v);
    for (size_t i = 0; v != NULL && i < n; i++) {
        snprintf(v[i].name, sizeof v[i].name, "%s", opt->peers[i].name);
        v[i].addr = opt->peers[i].addr;
    }
    return v;
}

/* What only the server can check of a plan: the places provider the
 * file names (a restart would use it), and a max_line whose records the
 * write-ahead log could not read back. 0, or -1 with why filled. */
static int check_plan(const struct server *srv, const struct config *cfg,
                      const struct reload_plan *pl, char *why, size_t cap)
{
    const struct server_options *opt = srv->opt;
    const char *path = opt->config_path;
    if (opt->origin[SETTING_places] != SETTINGS_ARGS &&
        cfg->origin[SETTING_places] == SETTINGS_FILE &&
        !places_provider_known(cfg->places)) {
        snprintf(why, cap, "%s: unknown places provider '%s' (known: %s)", path,
                 cfg->places, places_provider_names());
        return -1;
    }
    if (srv->has_wal && wal_record_bound(pl->next.max_line) > WAL_MAX_RECORD) {
        snprintf(why, cap,
                 "%s: max_line %llu is too long for the write-ahead log "
                 "(at most %llu)",
                 path, (unsigned long long)pl->next.max_line,
                 (unsigned long long)(WAL_MAX_RECORD - WAL_RECORD_SLACK));
        return -1;
    }
    return 0;
}

/* Reads the file and plans against what runs. 0 with *pl filled, or -1
 * with why filled (nothing to free). */
static int plan(struct server *srv, struct config *cfg, struct reload_plan *pl,
                char *why, size_t cap)
{
    const struct server_options *opt = srv->opt;
    const char *path = opt->config_path;
    struct herd_error err = {0, ""};
    if (config_load(cfg, path, &err) != 0) {
        if (err.line > 0)
            snprintf(why, cap, "%s:%d: %s", path, err.line, err.text);
        else
            snprintf(why, cap, "%s", err.text);
        return -1;
    }
    size_t npeers = 0;
    struct reload_peer *now = running_peers(srv, &npeers);
    struct reload_peer *fixed = fixed_peers(opt);
    const struct reload_running run = {
        .name = opt->name,
        .config_path = path,
        .settings = &opt->settings,
        .listen = opt->listen,
        .peer_listen = opt->peer_listen,
        .listen_args = opt->listen_args,
        .peer_listen_args = opt->peer_listen_args,
        .control_path = opt->control_path,
        .control_args = opt->control_args,
        .peers = now,
        .npeers = npeers,
        .fixed = fixed,
        .nfixed = opt->npeers_args,
        .follows = opt->follows_file,
    };
    char pwhy[RELOAD_WHY_MAX - 64];
    int rc = -1;
    if (now == NULL || fixed == NULL)
        snprintf(why, cap, "out of memory");
    else if (reload_plan_make(pl, &run, cfg, pwhy, sizeof pwhy) != 0)
        snprintf(why, cap, "%s: %s", path, pwhy);
    else if (check_plan(srv, cfg, pl, why, cap) != 0)
        reload_plan_free(pl);
    else
        rc = 0;
    free(now);
    free(fixed);
    return rc;
}

/* The neighbours: removed first (a name both removed and added cannot
 * happen: it would be one moved), then moved, then added. Cuts of the
 * removed ones leave the cuts file. */
static void apply_peers(struct server *srv, const struct reload_plan *pl)
{
    for (size_t i = 0; i < pl->nremoved; i++)
        (void)peers_remove(&srv->peers, pl->removed[i].name);
    for (size_t i = 0; i < pl->nmoved; i++)
        (void)peers_move(&srv->peers, pl->moved[i].name, &pl->moved[i].addr);
    for (size_t i = 0; i < pl->nadded; i++) {
        if (peers_add(&srv->peers, pl->added[i].name, &pl->added[i].addr) == 0)
            log_msg("link %s: a new neighbour at %s:%u", pl->added[i].name,
                    pl->added[i].addr.host, pl->added[i].addr.port);
        else
            log_msg("link %s: cannot add the neighbour: out of memory",
                    pl->added[i].name);
    }
    if (pl->nremoved > 0) {
        int err = ctl_save_cuts(srv);
        if (err != 0)
            log_msg("reload: the cuts file could not be rewritten (%s): a "
                    "removed neighbour's cut may come back at a restart",
                    strerror(err));
    }
}

static json_t *names_of(const struct reload_peer *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++)
        if (json_array_append_new(a, json_string(v[i].name)) != 0) {
            json_decref(a);
            a = NULL;
        }
    return a;
}

static json_t *changed_names(const struct reload_plan *pl)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < SETTINGS_COUNT; i++)
        if (pl->changed[i] &&
            json_array_append_new(a, json_string(settings_table[i].name)) !=
                0) {
            json_decref(a);
            a = NULL;
        }
    return a;
}

static json_t *restart_names(const struct reload_plan *pl)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < pl->nrestart; i++)
        if (json_array_append_new(a, json_string(pl->restart[i])) != 0) {
            json_decref(a);
            a = NULL;
        }
    return a;
}

static char *reply_of(const struct reload_plan *pl)
{
    json_t *root =
        json_pack("{s:b, s:o, s:o, s:o, s:o, s:o, s:b}", "ok", 1, "added",
                  names_of(pl->added, pl->nadded), "removed",
                  names_of(pl->removed, pl->nremoved), "moved",
                  names_of(pl->moved, pl->nmoved), "changed", changed_names(pl),
                  "restart_needed", restart_names(pl), "unchanged",
                  reload_plan_empty(pl));
    char *s =
        root ? json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(root);
    return s;
}

/* A setting's value in s, as the log shows it. */
static void value_text(const struct settings *s, size_t i, char *out,
                       size_t cap)
{
    const struct setting *st = &settings_table[i];
    struct settings copy = *s;
    if (st->type == SETTINGS_NUMBER)
        snprintf(out, cap, "%llu",
                 (unsigned long long)*settings_number(&copy, st));
    else
        snprintf(out, cap, "%s", *settings_string(&copy, st));
}

/* Appends one part of the log line, "; " before all but the first. */
__attribute__((format(printf, 3, 4))) static int
part(struct dynbuf *b, int *parts, const char *fmt, ...)
{
    int rc = dynbuf_printf(b, "%s", (*parts)++ == 0 ? " " : "; ");
    va_list ap;
    va_start(ap, fmt);
    if (rc == 0)
        rc = dynbuf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

static int log_names(struct dynbuf *b, int *parts, const char *what,
                     const struct reload_peer *v, size_t n)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = i == 0 ? part(b, parts, "%s: %s", what, v[i].name)
                    : dynbuf_printf(b, ", %s", v[i].name);
    return rc;
}

/* The log line of a reload that went through: what changed (old -> new
 * for the settings; was is the settings before), or that nothing did. */
static void log_applied(const struct server *srv, const char *how,
                        const struct reload_plan *pl,
                        const struct settings *was)
{
    struct dynbuf b;
    dynbuf_init(&b, (size_t)64 * 1024);
    int parts = 0;
    int rc =
        dynbuf_printf(&b, "reload (%s) of %s:", how, srv->opt->config_path);
    if (rc == 0 && reload_plan_empty(pl))
        rc = part(&b, &parts, "nothing changed");
    if (rc == 0)
        rc = log_names(&b, &parts, "neighbours added", pl->added, pl->nadded);
    if (rc == 0)
        rc = log_names(&b, &parts, "neighbours removed", pl->removed,
                       pl->nremoved);
    if (rc == 0)
        rc = log_names(&b, &parts, "neighbours moved", pl->moved, pl->nmoved);
    for (size_t i = 0, k = 0; rc == 0 && i < SETTINGS_COUNT; i++) {
        if (!pl->changed[i])
            continue;
        char from[64];
        char to[64];
        value_text(was, i, from, sizeof from);
        value_text(&srv->opt->settings, i, to, sizeof to);
        rc = k++ == 0 ? part(&b, &parts, "changed: %s %s -> %s",
                             settings_table[i].name, from, to)
                      : dynbuf_printf(&b, ", %s %s -> %s",
                                      settings_table[i].name, from, to);
    }
    for (size_t i = 0; rc == 0 && i < pl->nrestart; i++)
        rc = i == 0 ? part(&b, &parts, "differ but need a restart: %s",
                           pl->restart[i])
                    : dynbuf_printf(&b, ", %s", pl->restart[i]);
    if (rc == 0)
        log_msg("%.*s", (int)b.len, b.data);
    else
        log_msg("reload (%s) of %s: done", how, srv->opt->config_path);
    dynbuf_free(&b);
}

char *reload_run(struct server *srv, const char *how)
{
    srv->reloads.count++;
    if (srv->opt->config_path == NULL)
        return refused(srv, how,
                       "this server was not started with --config: nothing "
                       "to reload");
    struct config cfg;
    config_init(&cfg);
    struct reload_plan pl;
    char why[RELOAD_WHY_MAX];
    if (plan(srv, &cfg, &pl, why, sizeof why) != 0) {
        config_free(&cfg);
        return refused(srv, how, why);
    }
    const struct settings was = srv->opt->settings;
    apply_peers(srv, &pl);
    server_apply_settings(srv, &pl.next);
    srv->reloads.loaded_ns = uv_hrtime();
    snprintf(srv->reloads.last, sizeof srv->reloads.last, "ok");
    log_applied(srv, how, &pl, &was);
    char *reply = reply_of(&pl);
    reload_plan_free(&pl);
    config_free(&cfg);
    return reply;
}
