#include "reload_plan.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((format(printf, 3, 4))) static int refuse(char *why, size_t cap,
                                                        const char *fmt, ...)
{
    if (cap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, cap, fmt, ap);
        va_end(ap);
    }
    return RELOAD_PLAN_EREFUSED;
}

static int same_addr(const struct config_addr *a, const struct config_addr *b)
{
    return a->port == b->port && strcmp(a->host, b->host) == 0;
}

static const struct reload_peer *find(const struct reload_peer *v, size_t n,
                                      const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].name, name) == 0)
            return &v[i];
    return NULL;
}

/* Appends p to the list *v of *n entries. Returns 0 or -1 (no memory). */
static int push(struct reload_peer **v, size_t *n, const char *name,
                const struct config_addr *addr)
{
    struct reload_peer *nv = realloc(*v, (*n + 1) * sizeof *nv);
    if (nv == NULL)
        return -1;
    *v = nv;
    memset(&nv[*n], 0, sizeof nv[*n]);
    snprintf(nv[*n].name, sizeof nv[*n].name, "%s", name);
    nv[*n].addr = *addr;
    (*n)++;
    return 0;
}

/* The neighbours the file and the command line give together: every
 * --peer, then the file's links of server me (-1: none) to servers that
 * no --peer names. */
static int wanted_peers(const struct reload_running *run,
                        const struct config *cfg, long me,
                        struct reload_peer **v, size_t *n)
{
    for (size_t i = 0; i < run->nfixed; i++)
        if (push(v, n, run->fixed[i].name, &run->fixed[i].addr) != 0)
            return -1;
    for (size_t i = 0; me >= 0 && i < cfg->nlinks; i++) {
        size_t other;
        if (cfg->links[i].a == (size_t)me)
            other = cfg->links[i].b;
        else if (cfg->links[i].b == (size_t)me)
            other = cfg->links[i].a;
        else
            continue;
        const struct config_server *s = &cfg->servers[other];
        if (find(run->fixed, run->nfixed, s->name) == NULL &&
            push(v, n, s->name, &s->peer) != 0)
            return -1;
    }
    return 0;
}

/* Added, removed and moved neighbours: want against what runs. */
static int diff_peers(struct reload_plan *pl, const struct reload_running *run,
                      const struct reload_peer *want, size_t nwant)
{
    for (size_t i = 0; i < nwant; i++) {
        const struct reload_peer *now =
            find(run->peers, run->npeers, want[i].name);
        int rc = 0;
        if (now == NULL)
            rc = push(&pl->added, &pl->nadded, want[i].name, &want[i].addr);
        else if (!same_addr(&now->addr, &want[i].addr))
            rc = push(&pl->moved, &pl->nmoved, want[i].name, &want[i].addr);
        if (rc != 0)
            return -1;
    }
    for (size_t i = 0; i < run->npeers; i++)
        if (find(want, nwant, run->peers[i].name) == NULL &&
            push(&pl->removed, &pl->nremoved, run->peers[i].name,
                 &run->peers[i].addr) != 0)
            return -1;
    return 0;
}

static uint64_t number_in(const struct settings *s, const struct setting *st)
{
    return *(const uint64_t *)(const void *)((const char *)s + st->offset);
}

static const char *string_in(const struct settings *s, const struct setting *st)
{
    return *(const char *const *)(const void *)((const char *)s + st->offset);
}

/* Row st of want takes the file's value, or the default when the file
 * gives none. */
static void take_from_file(struct settings *want, const struct config *cfg,
                           const struct setting *st)
{
    size_t i = (size_t)(st - settings_table);
    int from_file = cfg->origin[i] == SETTINGS_FILE;
    if (st->type == SETTINGS_NUMBER)
        *settings_number(want, st) =
            from_file ? number_in(&cfg->settings, st) : st->def;
    else
        *settings_string(want, st) =
            from_file ? string_in(&cfg->settings, st) : st->def_text;
    want->origin[i] = from_file ? SETTINGS_FILE : SETTINGS_DEFAULT;
}

/* Whether row st differs between have (running) and want. A string
 * whose new value is none is a default its user computes (the offline
 * index, say): the same as a running default. */
static int row_differs(const struct settings *have, const struct settings *want,
                       const struct setting *st)
{
    size_t i = (size_t)(st - settings_table);
    if (st->type == SETTINGS_NUMBER)
        return number_in(have, st) != number_in(want, st);
    const char *h = string_in(have, st);
    const char *w = string_in(want, st);
    if (w == NULL)
        return have->origin[i] != SETTINGS_DEFAULT && h != NULL;
    return h == NULL || strcmp(h, w) != 0;
}

/* Whether have is dir/name + suffix (dir NULL: have must be NULL too). */
static int same_join(const char *have, const char *dir, const char *name,
                     const char *suffix)
{
    if (dir == NULL || have == NULL)
        return dir == NULL && have == NULL;
    size_t d = strlen(dir);
    size_t n = strlen(name);
    return strncmp(have, dir, d) == 0 && have[d] == '/' &&
           strncmp(have + d + 1, name, n) == 0 &&
           strcmp(have + d + 1 + n, suffix) == 0;
}

/* Whether have is DIR/name + suffix, DIR being set, or else the
 * directory named beside next to the file at config_path (herd's
 * default). */
static int same_as_herd(const char *have, const char *set,
                        const char *config_path, const char *beside,
                        const char *name, const char *suffix)
{
    if (set != NULL)
        return same_join(have, set, name, suffix);
    const char *slash = strrchr(config_path, '/');
    char dir[4200];
    int n = slash == NULL
                ? snprintf(dir, sizeof dir, "%s", beside)
                : snprintf(dir, sizeof dir, "%.*s/%s",
                           (int)(slash - config_path), config_path, beside);
    return n > 0 && (size_t)n < sizeof dir &&
           same_join(have, dir, name, suffix);
}

/* Whether row i of the running settings came from the command line and
 * follows the file (then it is compared as the file's). */
static int follows(const struct reload_running *run, size_t i)
{
    return run->follows != NULL && run->follows[i];
}

/* A FILE row of the server's own files: whether the path the server
 * makes of it would move. One the command line gave moves only when it
 * followed the file, as herd would make it now. */
static int own_file_moves(const struct reload_running *run,
                          const struct config *cfg, const struct setting *st,
                          int *moves, char *why, size_t cap)
{
    const struct settings *have = run->settings;
    *moves = 0;
    if (st == &settings_table[SETTING_data_dir]) {
        if (have->origin[SETTING_data_dir] != SETTINGS_ARGS)
            *moves = !same_join(have->data_dir, cfg->data_dir, run->name, "");
        else if (follows(run, SETTING_data_dir))
            *moves = !same_as_herd(have->data_dir, cfg->data_dir,
                                   run->config_path, "data", run->name, "");
    } else if (st == &settings_table[SETTING_log_dir]) {
        if (have->origin[SETTING_log_file] != SETTINGS_ARGS)
            *moves =
                !same_join(have->log_file, cfg->log_dir, run->name, ".log");
        else if (follows(run, SETTING_log_file))
            *moves = !same_as_herd(have->log_file, cfg->log_dir,
                                   run->config_path, "log", run->name, ".log");
    } else if (st == &settings_table[SETTING_run_dir] && !run->control_args) {
        char dir[4096];
        char path[4200];
        if (config_run_dir(cfg, run->config_path, dir, sizeof dir) != 0 ||
            config_control_path(dir, run->name, path, sizeof path) != 0)
            return refuse(why, cap, "run_dir is too long");
        *moves =
            run->control_path == NULL || strcmp(run->control_path, path) != 0;
    }
    return 0;
}

static void add_restart(struct reload_plan *pl, const char *name)
{
    if (pl->nrestart < RELOAD_PLAN_RESTART_MAX)
        pl->restart[pl->nrestart++] = name;
}

/* The settings: want (what a start would take now) against what runs. */
static int diff_settings(struct reload_plan *pl,
                         const struct reload_running *run,
                         const struct config *cfg, struct settings *want,
                         char *why, size_t cap)
{
    const struct settings *have = run->settings;
    for (size_t i = 0; i < SETTINGS_COUNT; i++) {
        const struct setting *st = &settings_table[i];
        if (st->where == SETTINGS_FILE) {
            int moves;
            int rc = own_file_moves(run, cfg, st, &moves, why, cap);
            if (rc != 0)
                return rc;
            if (moves)
                add_restart(pl, st->name);
            continue;
        }
        /* The command line's (log_file is only there) never change; a
         * FIXED one that follows the file may need a restart. */
        if (st->where != SETTINGS_BOTH)
            continue;
        if (have->origin[i] == SETTINGS_ARGS) {
            struct settings file = *have;
            take_from_file(&file, cfg, st);
            if (!st->live && follows(run, i) && row_differs(have, &file, st))
                add_restart(pl, st->name);
            continue;
        }
        take_from_file(want, cfg, st);
        if (!row_differs(have, want, st))
            continue;
        if (!st->live) {
            add_restart(pl, st->name);
            continue;
        }
        pl->changed[i] = 1;
        pl->nchanged++;
    }
    return 0;
}

/* What a start would refuse in the merged values. */
static int check_values(const struct settings *want, char *why, size_t cap)
{
    if (want->link_timeout_ms <= want->link_ping_ms)
        return refuse(why, cap,
                      "link timeout (%llu ms) must be longer than the link "
                      "ping interval (%llu ms)",
                      (unsigned long long)want->link_timeout_ms,
                      (unsigned long long)want->link_ping_ms);
    int tls = (want->tls_cert != NULL) + (want->tls_key != NULL) +
              (want->tls_ca != NULL);
    if (tls != 0 && tls != 3)
        return refuse(why, cap, "tls_cert, tls_key and tls_ca go together");
    return 0;
}

/* The LIVE rows take their new values; the others stay as they run. */
static void make_next(struct reload_plan *pl, const struct settings *have,
                      const struct settings *want)
{
    pl->next = *have;
    for (size_t i = 0; i < SETTINGS_COUNT; i++) {
        const struct setting *st = &settings_table[i];
        if (!st->live || st->where != SETTINGS_BOTH ||
            have->origin[i] == SETTINGS_ARGS)
            continue;
        if (st->type == SETTINGS_NUMBER)
            *settings_number(&pl->next, st) = number_in(want, st);
        else
            *settings_string(&pl->next, st) = string_in(want, st);
        pl->next.origin[i] = want->origin[i];
    }
}

void reload_plan_follows(const struct config *cfg, const char *config_path,
                         const char *name, const struct settings *s,
                         unsigned char follows[SETTINGS_COUNT])
{
    memset(follows, 0, SETTINGS_COUNT);
    for (size_t i = 0; i < SETTINGS_COUNT; i++) {
        const struct setting *st = &settings_table[i];
        if (s->origin[i] != SETTINGS_ARGS)
            continue;
        if (i == SETTING_data_dir)
            follows[i] = same_as_herd(s->data_dir, cfg->data_dir, config_path,
                                      "data", name, "");
        else if (i == SETTING_log_file)
            follows[i] = same_as_herd(s->log_file, cfg->log_dir, config_path,
                                      "log", name, ".log");
        else if (st->where == SETTINGS_BOTH && !st->live &&
                 cfg->origin[i] == SETTINGS_FILE)
            follows[i] = !row_differs(s, &cfg->settings, st);
    }
}

int reload_plan_make(struct reload_plan *pl, const struct reload_running *run,
                     const struct config *cfg, char *why, size_t cap)
{
    memset(pl, 0, sizeof *pl);
    long me = config_find(cfg, run->name, strlen(run->name));
    if (me < 0 && !run->listen_args)
        return refuse(why, cap, "no server named '%s'", run->name);
    if (me >= 0) {
        const struct config_server *s = &cfg->servers[me];
        if (!run->listen_args && !same_addr(&s->listen, &run->listen))
            add_restart(pl, "listen");
        if (!run->peer_listen_args && !same_addr(&s->peer, &run->peer_listen))
            add_restart(pl, "peer_listen");
    }
    struct settings want = *run->settings;
    int rc = diff_settings(pl, run, cfg, &want, why, cap);
    if (rc == 0)
        rc = check_values(&want, why, cap);
    struct reload_peer *peers = NULL;
    size_t npeers = 0;
    if (rc == 0 && (wanted_peers(run, cfg, me, &peers, &npeers) != 0 ||
                    diff_peers(pl, run, peers, npeers) != 0)) {
        refuse(why, cap, "out of memory");
        rc = RELOAD_PLAN_ENOMEM;
    }
    free(peers);
    if (rc != 0) {
        reload_plan_free(pl);
        return rc;
    }
    make_next(pl, run->settings, &want);
    return 0;
}

void reload_plan_free(struct reload_plan *pl)
{
    free(pl->added);
    free(pl->removed);
    free(pl->moved);
    memset(pl, 0, sizeof *pl);
}

int reload_plan_empty(const struct reload_plan *pl)
{
    return pl->nadded == 0 && pl->nremoved == 0 && pl->nmoved == 0 &&
           pl->nchanged == 0 && pl->nrestart == 0;
}
