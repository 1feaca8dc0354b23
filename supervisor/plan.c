/* plan: the difference between two herd.confs, and its text (plan.h). */
#include "plan.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PLAN_TEXT_MAX ((size_t)1 << 20)

const char *plan_effect_text(enum plan_effect e)
{
    switch (e) {
    case PLAN_SERVERS:
        return "each running server re-reads herd.conf";
    case PLAN_SUPERVISOR:
        return "the supervisor's, in effect now";
    case PLAN_NEXT_START:
        return "from each server's next start (herd restart --rolling)";
    case PLAN_RESTART_HERD:
        return "not applied while the supervisor runs: herd stop, then herd "
               "start";
    case PLAN_REFUSED:
        return "cannot change while the herd runs: herd stop, change it, "
               "herd start";
    }
    return "?";
}

/* Who reads the setting of row id, and so what its change takes. */
static enum plan_effect effect_of(enum setting_id id)
{
    switch (id) {
    case SETTING_run_dir: /* the control sockets and the pid file */
        return PLAN_REFUSED;
    case SETTING_http:        /* served from the supervisor's start */
    case SETTING_secret_file: /* every server at once, or links fail */
        return PLAN_RESTART_HERD;
    case SETTING_server_bin:
    case SETTING_log_dir:
    case SETTING_data_dir:
        return PLAN_NEXT_START;
    case SETTING_restart_first_ms:
    case SETTING_restart_max_ms:
    case SETTING_restart_stable_ms:
    case SETTING_crash_limit:
    case SETTING_crash_window_ms:
    case SETTING_stop_grace_ms:
    case SETTING_ready_timeout_ms:
        return PLAN_SUPERVISOR;
    default:
        return PLAN_SERVERS;
    }
}

/* A setting's value in cfg as herd.conf writes it: a number, a word or
 * path, or "(none)". A new string; NULL when out of memory. */
static char *setting_text(const struct config *cfg, const struct setting *st)
{
    const char *base = (const char *)&cfg->settings;
    char num[32];
    if (st->type == SETTINGS_NUMBER) {
        uint64_t v;
        memcpy(&v, base + st->offset, sizeof v);
        snprintf(num, sizeof num, "%llu", (unsigned long long)v);
        return strdup(num);
    }
    const char *s;
    memcpy(&s, base + st->offset, sizeof s);
    return strdup(s != NULL ? s : "(none)");
}

static int same_setting(const struct config *a, const struct config *b,
                        const struct setting *st)
{
    const char *pa = (const char *)&a->settings + st->offset;
    const char *pb = (const char *)&b->settings + st->offset;
    if (st->type == SETTINGS_NUMBER)
        return memcmp(pa, pb, sizeof(uint64_t)) == 0;
    const char *sa;
    const char *sb;
    memcpy(&sa, pa, sizeof sa);
    memcpy(&sb, pb, sizeof sb);
    if (sa == NULL || sb == NULL)
        return sa == sb;
    return strcmp(sa, sb) == 0;
}

static int build_settings(struct plan *p, const struct config *old,
                          const struct config *next)
{
    p->settings = calloc(SETTINGS_COUNT, sizeof *p->settings);
    if (p->settings == NULL)
        return -1;
    for (size_t i = 0; i < SETTINGS_COUNT; i++) {
        const struct setting *st = &settings_table[i];
        if (!(st->where & SETTINGS_FILE) || same_setting(old, next, st))
            continue;
        struct plan_setting *ps = &p->settings[p->nsettings++];
        ps->id = (enum setting_id)i;
        ps->effect = effect_of(ps->id);
        ps->from = setting_text(old, st);
        ps->to = setting_text(next, st);
        if (ps->from == NULL || ps->to == NULL)
            return -1;
        p->refused |= ps->effect == PLAN_REFUSED;
    }
    return 0;
}

static int same_addr(const struct config_addr *a, const struct config_addr *b)
{
    return a->port == b->port && strcmp(a->host, b->host) == 0;
}

/* Whether cfg links servers i and j. */
static int linked(const struct config *cfg, size_t i, size_t j)
{
    for (size_t k = 0; k < cfg->nlinks; k++)
        if ((cfg->links[k].a == i && cfg->links[k].b == j) ||
            (cfg->links[k].a == j && cfg->links[k].b == i))
            return 1;
    return 0;
}

/* Appends "SEP TEXT" to b (SEP only when b is not empty). */
__attribute__((format(printf, 3, 4))) static int
add_item(struct dynbuf *b, const char *sep, const char *fmt, ...)
{
    int rc = b->len > 0 ? dynbuf_printf(b, "%s", sep) : 0;
    va_list ap;
    va_start(ap, fmt);
    if (rc == 0)
        rc = dynbuf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

/* b's text as a new string ("" when empty); NULL when out of memory. */
static char *take_text(struct dynbuf *b)
{
    if (dynbuf_addc(b, '\0') != 0) {
        dynbuf_free(b);
        return NULL;
    }
    size_t len;
    return dynbuf_take(b, &len);
}

/* Appends " +NAME" (sign '+') or " -NAME" for each neighbour of server
 * ai in a that is not one of server bi's in b (bi < 0: none is); the
 * first item after "neighbours". *first is cleared once one is. */
static int neighbours_only_in(const struct config *a, size_t ai,
                              const struct config *b, long bi, char sign,
                              struct dynbuf *out, int *first)
{
    int rc = 0;
    for (size_t j = 0; j < a->nservers && rc == 0; j++) {
        if (j == ai || !linked(a, ai, j))
            continue;
        const char *name = a->servers[j].name;
        long bj = config_find(b, name, strlen(name));
        if (bi >= 0 && bj >= 0 && linked(b, (size_t)bi, (size_t)bj))
            continue;
        rc = add_item(out, *first ? "; " : " ", "%s%c%s",
                      *first ? "neighbours " : "", sign, name);
        *first = 0;
    }
    return rc;
}

/* Appends "; new peer address of A, B": the neighbours server ni keeps
 * (oi in old) that listen elsewhere now. */
static int neighbours_moved(const struct config *old, size_t oi,
                            const struct config *next, size_t ni,
                            struct dynbuf *out)
{
    struct dynbuf moved;
    dynbuf_init(&moved, PLAN_TEXT_MAX);
    int rc = 0;
    for (size_t j = 0; j < next->nservers && rc == 0; j++) {
        if (j == ni || !linked(next, ni, j))
            continue;
        const struct config_server *s = &next->servers[j];
        long oj = config_find(old, s->name, strlen(s->name));
        if (oj >= 0 && linked(old, oi, (size_t)oj) &&
            !same_addr(&old->servers[oj].peer, &s->peer))
            rc = add_item(&moved, ", ", "%s", s->name);
    }
    if (rc == 0 && moved.len > 0)
        rc = add_item(out, "; ", "new peer address of %.*s", (int)moved.len,
                      moved.data);
    dynbuf_free(&moved);
    return rc;
}

/* The neighbours of a server kept: who joined and left, and who of those
 * staying listens elsewhere now. */
static int neighbour_changes(const struct config *old, size_t oi,
                             const struct config *next, size_t ni,
                             struct dynbuf *b)
{
    int first = 1;
    int rc = neighbours_only_in(next, ni, old, (long)oi, '+', b, &first);
    if (rc == 0)
        rc = neighbours_only_in(old, oi, next, (long)ni, '-', b, &first);
    if (rc == 0)
        rc = neighbours_moved(old, oi, next, ni, b);
    return rc;
}

/* Why a server kept needs herd restart NAME: its own addresses. */
static char *own_address_change(const struct config_server *o,
                                const struct config_server *n)
{
    struct dynbuf b;
    dynbuf_init(&b, PLAN_TEXT_MAX);
    int rc = 0;
    if (!same_addr(&o->listen, &n->listen))
        rc = add_item(&b, "; ", "address %s:%u -> %s:%u", o->listen.host,
                      o->listen.port, n->listen.host, n->listen.port);
    if (rc == 0 && !same_addr(&o->peer, &n->peer))
        rc = add_item(&b, "; ", "peer address %s:%u -> %s:%u", o->peer.host,
                      o->peer.port, n->peer.host, n->peer.port);
    if (rc != 0 || b.len == 0) {
        dynbuf_free(&b);
        return NULL;
    }
    return take_text(&b);
}

static int servers_setting_changed(const struct plan *p)
{
    for (size_t i = 0; i < p->nsettings; i++)
        if (p->settings[i].effect == PLAN_SERVERS)
            return 1;
    return 0;
}

/* A server kept: what changed for it. */
static int kept_server(struct plan *p, struct plan_server *s,
                       const struct config *old, const struct config *next)
{
    const struct config_server *o = &old->servers[s->old_index];
    const struct config_server *n = &next->servers[s->new_index];
    struct dynbuf b;
    dynbuf_init(&b, PLAN_TEXT_MAX);
    s->restart = own_address_change(o, n);
    int rc = s->restart != NULL ? add_item(&b, "; ", "its own address") : 0;
    if (rc == 0)
        rc = neighbour_changes(old, (size_t)s->old_index, next,
                               (size_t)s->new_index, &b);
    if (rc == 0 && servers_setting_changed(p))
        rc = add_item(&b, "; ", "settings");
    if (rc != 0) {
        dynbuf_free(&b);
        return -1;
    }
    s->tell = b.len > 0;
    s->changes = take_text(&b);
    return s->changes != NULL ? 0 : -1;
}

/* A server added: where it listens, and its neighbours. */
static int added_server(struct plan_server *s, const struct config *next)
{
    const struct config_server *n = &next->servers[s->new_index];
    struct dynbuf b;
    dynbuf_init(&b, PLAN_TEXT_MAX);
    int rc = dynbuf_printf(&b, "%s:%u", n->listen.host, n->listen.port);
    int first = 1;
    for (size_t j = 0; j < next->nservers && rc == 0; j++) {
        if (j == (size_t)s->new_index || !linked(next, (size_t)s->new_index, j))
            continue;
        rc = dynbuf_printf(&b, "%s%s", first ? ", neighbours " : ", ",
                           next->servers[j].name);
        first = 0;
    }
    if (rc == 0 && first)
        rc = dynbuf_printf(&b, ", no neighbours");
    if (rc != 0) {
        dynbuf_free(&b);
        return -1;
    }
    s->changes = take_text(&b);
    return s->changes != NULL ? 0 : -1;
}

/* "A - B, C - D": the links of a that b does not have. */
static char *links_only_in(const struct config *a, const struct config *b)
{
    struct dynbuf out;
    dynbuf_init(&out, PLAN_TEXT_MAX);
    int rc = 0;
    for (size_t k = 0; k < a->nlinks && rc == 0; k++) {
        const char *x = a->servers[a->links[k].a].name;
        const char *y = a->servers[a->links[k].b].name;
        long bx = config_find(b, x, strlen(x));
        long by = config_find(b, y, strlen(y));
        if (bx >= 0 && by >= 0 && linked(b, (size_t)bx, (size_t)by))
            continue;
        rc = add_item(&out, ", ", "%s - %s", x, y);
    }
    if (rc != 0 || out.len == 0) {
        dynbuf_free(&out);
        return NULL;
    }
    return take_text(&out);
}

int plan_build(struct plan *p, const struct config *old,
               const struct config *next, const unsigned char *managed,
               int only)
{
    memset(p, 0, sizeof *p);
    size_t cap = old->nservers + next->nservers;
    p->servers = calloc(cap ? cap : 1, sizeof *p->servers);
    if (p->servers == NULL || build_settings(p, old, next) != 0)
        goto oom;
    for (size_t i = 0; i < next->nservers; i++) {
        struct plan_server *s = &p->servers[p->nservers++];
        const char *name = next->servers[i].name;
        snprintf(s->name, sizeof s->name, "%s", name);
        s->old_index = config_find(old, name, strlen(name));
        s->new_index = (long)i;
        s->managed = s->old_index >= 0 ? managed[s->old_index] : !only;
        if (s->old_index >= 0 ? kept_server(p, s, old, next) != 0
                              : added_server(s, next) != 0)
            goto oom;
        p->changed |= s->old_index < 0 || s->tell;
    }
    for (size_t i = 0; i < old->nservers; i++) {
        const char *name = old->servers[i].name;
        if (config_find(next, name, strlen(name)) >= 0)
            continue;
        struct plan_server *s = &p->servers[p->nservers++];
        snprintf(s->name, sizeof s->name, "%s", name);
        s->old_index = (long)i;
        s->new_index = -1;
        s->managed = managed[i];
        p->changed = 1;
    }
    p->links_added = links_only_in(next, old);
    p->links_removed = links_only_in(old, next);
    p->connected = config_connected(next);
    p->changed |=
        p->nsettings > 0 || p->links_added != NULL || p->links_removed != NULL;
    return 0;
oom:
    plan_free(p);
    return -1;
}

void plan_free(struct plan *p)
{
    for (size_t i = 0; p->servers != NULL && i < p->nservers; i++) {
        free(p->servers[i].changes);
        free(p->servers[i].restart);
        free(p->servers[i].outcome);
    }
    for (size_t i = 0; p->settings != NULL && i < p->nsettings; i++) {
        free(p->settings[i].from);
        free(p->settings[i].to);
    }
    free(p->servers);
    free(p->settings);
    free(p->links_added);
    free(p->links_removed);
    memset(p, 0, sizeof *p);
}

struct plan_server *plan_find(struct plan *p, const char *name)
{
    for (size_t i = 0; i < p->nservers; i++)
        if (strcmp(p->servers[i].name, name) == 0)
            return &p->servers[i];
    return NULL;
}

int plan_set_outcome(struct plan_server *s, const char *text, int failed)
{
    char *copy = strdup(text);
    if (copy == NULL)
        return -1;
    free(s->outcome);
    s->outcome = copy;
    s->failed = failed;
    return 0;
}

int plan_failed(const struct plan *p)
{
    for (size_t i = 0; i < p->nservers; i++)
        if (p->servers[i].failed)
            return 1;
    return 0;
}

/* ---- text ----------------------------------------------------------- */

/* ": OUTCOME", or "" in a dry run or before it is known. */
static const char *outcome_sep(const struct plan_server *s, int dry_run)
{
    return !dry_run && s->outcome != NULL ? ": " : "";
}

static const char *outcome_of(const struct plan_server *s, int dry_run)
{
    return !dry_run && s->outcome != NULL ? s->outcome : "";
}

static int render_server(const struct plan_server *s, int dry_run,
                         struct dynbuf *out)
{
    const char *sep = outcome_sep(s, dry_run);
    const char *what = outcome_of(s, dry_run);
    if (s->old_index < 0)
        return dynbuf_printf(
            out, "%s %s (%s)%s%s%s\n", dry_run ? "would add" : "added", s->name,
            s->changes, s->managed ? "" : " (run by another supervisor)", sep,
            what);
    if (s->new_index < 0)
        return dynbuf_printf(
            out, "%s %s%s%s%s\n", dry_run ? "would remove" : "removed", s->name,
            s->managed ? " (its data directory stays)" : "", sep, what);
    if (!s->tell)
        return 0;
    if (!s->managed)
        return dynbuf_printf(out,
                             "%s (%s): run by another supervisor: herd reload "
                             "there\n",
                             s->name, s->changes);
    return dynbuf_printf(out, "%s %s to reload (%s)%s%s\n",
                         dry_run ? "would tell" : "told", s->name, s->changes,
                         sep, what);
}

static int render_setting(const struct plan_setting *ps, int dry_run,
                          struct dynbuf *out)
{
    const char *verb = dry_run ? "would change" : "changed";
    if (ps->effect == PLAN_RESTART_HERD || ps->effect == PLAN_REFUSED)
        verb = dry_run ? "would not change" : "did not change";
    return dynbuf_printf(out, "%s %s %s -> %s (%s)\n", verb,
                         settings_table[ps->id].name, ps->from, ps->to,
                         plan_effect_text(ps->effect));
}

/* The servers of one kind: added (kind 0), removed (1), kept (2). */
static int render_servers(const struct plan *p, int kind, int dry_run,
                          struct dynbuf *out)
{
    int rc = 0;
    for (size_t i = 0; i < p->nservers && rc == 0; i++) {
        const struct plan_server *s = &p->servers[i];
        int k = s->old_index < 0 ? 0 : s->new_index < 0 ? 1 : 2;
        if (k == kind)
            rc = render_server(s, dry_run, out);
    }
    return rc;
}

int plan_render(const struct plan *p, int dry_run, struct dynbuf *out)
{
    if (!p->changed)
        return dynbuf_printf(out, "herd.conf has not changed: nothing to do\n");
    int rc = 0;
    for (int kind = 0; kind < 3 && rc == 0; kind++)
        rc = render_servers(p, kind, dry_run, out);
    if (rc == 0 && p->links_added != NULL)
        rc = dynbuf_printf(out, "links %s: %s\n", dry_run ? "to add" : "added",
                           p->links_added);
    if (rc == 0 && p->links_removed != NULL)
        rc = dynbuf_printf(out, "links %s: %s\n",
                           dry_run ? "to remove" : "removed", p->links_removed);
    for (size_t i = 0; i < p->nsettings && rc == 0; i++)
        rc = render_setting(&p->settings[i], dry_run, out);
    for (size_t i = 0; i < p->nservers && rc == 0; i++) {
        const struct plan_server *s = &p->servers[i];
        if (s->restart != NULL && s->managed)
            rc =
                dynbuf_printf(out, "restart needed: %s (%s): herd restart %s\n",
                              s->name, s->restart, s->name);
    }
    return rc;
}
