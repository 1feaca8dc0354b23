/* The view's shape (herd status --json, herd top, GET /api/state and
 * /metrics read it):
 *
 *   {"supervisor_pid": N|null,
 *    "in_sync": bool|null,      every server that answered holds the same
 *                               digest (null: none answered)
 *    "servers": [               every server of herd.conf, in its order
 *      {"name", "address", "peer_address",
 *       "state",                the supervisor's (starting, up, stopping,
 *                               down, failed); for a server it does not
 *                               run: "up" when its control socket answers,
 *                               else "unknown"
 *       "managed": bool,        run by this supervisor
 *       "pid", "uptime_ms": N|null (the supervisor's, or the server's own
 *                               for one it does not run)
 *       "restarts": N|null, "last_exit": str|null, "note": str,
 *       "records": N|null, "digest": str|null, "clients": N|null,
 *       "in_sync": bool|null,   its digest equals that of every neighbour
 *                               that answered (null: it did not answer)
 *       "stats": its control socket's status object | null,
 *       "rates": null, or after view_rates {"iamat", "whatsat",
 *                "updates_in", "updates_out", "places_misses"}: per
 *                second, each a number or null where a counter is
 *                missing}, ...],
 *    "links": [                 every link of herd.conf, in its order
 *      {"a", "b",
 *       "state": "up"|"down"|"cut"|"unknown", from the two ends' views:
 *                cut if either end has it cut, else up if either has it
 *                up, else down; unknown if neither end answered
 *       "since_ms": N|null,     how long it has been so (up: the shorter of
 *                               the two ends'; down, cut: the longer)
 *       "why": str,             why it is down or cut ("" when up)
 *       "rtt_us": N|null,       up: the least heartbeat round trip
 *       "note": str,            "cut at A only", "A does not answer", ...
 *       "rates": null, or after view_rates {"a_to_b", "b_to_a"}: records
 *                per second, each a number or null}, ...]}
 *
 * A server's answer counts only if it is an object and names that server
 * (or no one); every field of it is read by type, so a missing or
 * malformed one is null, never a crash.
 */
#include "view.h"

#include <stdio.h>
#include <string.h>

/* ---- reading what others said (all borrowed, NULL when absent) ------- */

static json_t *get_int(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? v : NULL;
}

static json_t *get_str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? v : NULL;
}

/* The member of array arr (of objects) whose key is the string value. */
static json_t *find_named(json_t *arr, const char *key, const char *value)
{
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o)
    {
        const char *s = json_string_value(json_object_get(o, key));
        if (s != NULL && strcmp(s, value) == 0)
            return o;
    }
    return NULL;
}

/* A new reference to v, or null. */
static json_t *or_null(json_t *v)
{
    return v != NULL ? json_incref(v) : json_null();
}

/* Server i's answer: st[i] if it is an object that names server i or no
 * one, else NULL. */
static json_t *answer(const struct config *cfg, json_t *const *st, size_t i)
{
    json_t *s = st != NULL ? st[i] : NULL;
    if (!json_is_object(s))
        return NULL;
    json_t *name = json_object_get(s, "name");
    if (name != NULL &&
        (!json_is_string(name) ||
         strcmp(json_string_value(name), cfg->servers[i].name) != 0))
        return NULL;
    return s;
}

/* Server s's view of its neighbour named other (its "neighbours" entry),
 * or NULL. */
static json_t *neighbour(json_t *s, const char *other)
{
    json_t *nb = find_named(json_object_get(s, "neighbours"), "name", other);
    return json_is_object(nb) ? nb : NULL;
}

/* ---- servers -------------------------------------------------------- */

static const char *server_note(json_t *sup, json_t *entry, json_t *me)
{
    if (entry != NULL) {
        const char *n = json_string_value(get_str(entry, "note"));
        return n != NULL ? n : "";
    }
    if (me != NULL)
        return sup != NULL ? "not run by this supervisor"
                           : "no supervisor runs it here";
    return sup != NULL ? "not run by this supervisor; its control socket "
                         "does not answer"
                       : "no supervisor runs it here; its control socket "
                         "does not answer";
}

/* The supervisor's part: state, managed, pid, uptime, restarts, last exit
 * and note, from its entry (NULL: it does not run the server) or, where
 * that says nothing, from the server's own answer me (NULL: none). */
static void set_supervised(json_t *o, json_t *sup, json_t *entry, json_t *me)
{
    const char *state = me != NULL ? "up" : "unknown";
    if (entry != NULL && get_str(entry, "state") != NULL)
        state = json_string_value(get_str(entry, "state"));
    json_t *src = entry != NULL ? entry : me;
    json_object_set_new(o, "state", json_string(state));
    json_object_set_new(o, "managed", json_boolean(entry != NULL));
    json_object_set_new(o, "pid", or_null(get_int(src, "pid")));
    json_object_set_new(o, "uptime_ms", or_null(get_int(src, "uptime_ms")));
    json_object_set_new(o, "restarts", or_null(get_int(entry, "restarts")));
    json_object_set_new(o, "last_exit", or_null(get_str(entry, "last_exit")));
    json_object_set_new(o, "note", json_string(server_note(sup, entry, me)));
}

static json_t *build_server(const struct config *cfg, size_t i, json_t *sup,
                            json_t *const *st)
{
    const struct config_server *cs = &cfg->servers[i];
    char addr[CONFIG_HOST_MAX + 16];
    char peer[CONFIG_HOST_MAX + 16];
    snprintf(addr, sizeof addr, "%s:%u", cs->listen.host, cs->listen.port);
    snprintf(peer, sizeof peer, "%s:%u", cs->peer.host, cs->peer.port);
    json_t *me = answer(cfg, st, i);
    json_t *entry =
        find_named(json_object_get(sup, "servers"), "name", cs->name);
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(cs->name));
    json_object_set_new(o, "address", json_string(addr));
    json_object_set_new(o, "peer_address", json_string(peer));
    set_supervised(o, sup, json_is_object(entry) ? entry : NULL, me);
    json_object_set_new(o, "records", or_null(get_int(me, "records")));
    json_object_set_new(o, "digest", or_null(get_str(me, "digest")));
    json_object_set_new(o, "clients", or_null(get_int(me, "clients")));
    json_object_set_new(o, "in_sync", json_null()); /* set_in_sync */
    json_object_set_new(o, "stats", or_null(me));
    json_object_set_new(o, "rates", json_null());
    return o;
}

/* Server i's digest as it answered, or NULL. */
static const char *digest_of(const struct config *cfg, json_t *const *st,
                             size_t i)
{
    return json_string_value(get_str(answer(cfg, st, i), "digest"));
}

/* in_sync of server i: its digest equals every answering neighbour's. */
static json_t *server_in_sync(const struct config *cfg, json_t *const *st,
                              size_t i)
{
    const char *mine = digest_of(cfg, st, i);
    if (mine == NULL)
        return json_null();
    for (size_t li = 0; li < cfg->nlinks; li++) {
        size_t a = cfg->links[li].a;
        size_t b = cfg->links[li].b;
        if (a != i && b != i)
            continue;
        const char *theirs = digest_of(cfg, st, a == i ? b : a);
        if (theirs != NULL && strcmp(theirs, mine) != 0)
            return json_false();
    }
    return json_true();
}

/* The herd's in_sync: every server that answered holds the same digest. */
static json_t *herd_in_sync(const struct config *cfg, json_t *const *st)
{
    const char *first = NULL;
    for (size_t i = 0; i < cfg->nservers; i++) {
        const char *d = digest_of(cfg, st, i);
        if (d == NULL)
            continue;
        if (first != NULL && strcmp(first, d) != 0)
            return json_false();
        first = d;
    }
    return first != NULL ? json_true() : json_null();
}

/* ---- links ---------------------------------------------------------- */

/* What one end of a link says of it. */
struct link_end {
    json_t *nb;        /* its "neighbours" entry for the other; NULL: none */
    const char *state; /* "cut", "up" or "down" (dialling is down) */
    long long since;   /* since_ms; -1: not said */
    const char *why;   /* "" when not said */
};

static void read_end(json_t *nb, struct link_end *e)
{
    e->nb = nb;
    const char *s = json_string_value(get_str(nb, "state"));
    s = s != NULL ? s : "";
    if (json_is_true(json_object_get(nb, "cut")) || strcmp(s, "cut") == 0)
        e->state = "cut";
    else if (strcmp(s, "up") == 0)
        e->state = "up";
    else
        e->state = "down";
    json_t *since = get_int(nb, "since_ms");
    e->since = since != NULL && json_integer_value(since) >= 0
                   ? (long long)json_integer_value(since)
                   : -1;
    const char *why = json_string_value(get_str(nb, "why"));
    e->why = why != NULL ? why : "";
}

/* Of the ends that answered and are in state, the one whose since is the
 * least (shortest: 1) or the greatest (shortest: 0); NULL if none. An end
 * with a since beats one without. */
static const struct link_end *pick_end(const struct link_end *e,
                                       const char *state, int shortest)
{
    const struct link_end *best = NULL;
    for (int k = 0; k < 2; k++) {
        if (e[k].nb == NULL || strcmp(e[k].state, state) != 0)
            continue;
        if (best == NULL || best->since < 0 ||
            (e[k].since >= 0 &&
             (shortest ? e[k].since < best->since : e[k].since > best->since)))
            best = &e[k];
    }
    return best;
}

/* The least positive rtt_us of the ends that have the link up, or NULL. */
static json_t *least_rtt(const struct link_end *e)
{
    json_t *best = NULL;
    for (int k = 0; k < 2; k++) {
        json_t *rtt = get_int(e[k].nb, "rtt_us");
        if (e[k].nb == NULL || strcmp(e[k].state, "up") != 0 || rtt == NULL ||
            json_integer_value(rtt) <= 0)
            continue;
        if (best == NULL || json_integer_value(rtt) < json_integer_value(best))
            best = rtt;
    }
    return best;
}

/* The link's why: the chosen end's, else the other end's in the same
 * state; "cut" for a cut that says nothing. */
static const char *link_why(const struct link_end *e,
                            const struct link_end *pick)
{
    if (strcmp(pick->state, "up") == 0)
        return "";
    if (pick->why[0] != '\0')
        return pick->why;
    const struct link_end *other = pick == &e[0] ? &e[1] : &e[0];
    if (other->nb != NULL && strcmp(other->state, pick->state) == 0 &&
        other->why[0] != '\0')
        return other->why;
    return strcmp(pick->state, "cut") == 0 ? "cut" : "";
}

static void link_note(const struct config *cfg, size_t li,
                      const struct link_end *e, char *note, size_t cap)
{
    const char *name[2] = {cfg->servers[cfg->links[li].a].name,
                           cfg->servers[cfg->links[li].b].name};
    note[0] = '\0';
    if (e[0].nb == NULL && e[1].nb == NULL)
        snprintf(note, cap, "neither end answers");
    else if (e[0].nb == NULL || e[1].nb == NULL)
        snprintf(note, cap, "%s does not answer",
                 name[e[0].nb == NULL ? 0 : 1]);
    else if ((strcmp(e[0].state, "cut") == 0) !=
             (strcmp(e[1].state, "cut") == 0))
        snprintf(note, cap, "cut at %s only",
                 name[strcmp(e[0].state, "cut") == 0 ? 0 : 1]);
}

static json_t *build_link(const struct config *cfg, size_t li,
                          json_t *const *st)
{
    size_t ends[2] = {cfg->links[li].a, cfg->links[li].b};
    struct link_end e[2];
    for (int k = 0; k < 2; k++)
        read_end(
            neighbour(answer(cfg, st, ends[k]), cfg->servers[ends[1 - k]].name),
            &e[k]);
    const struct link_end *pick = pick_end(e, "cut", 0);
    if (pick == NULL)
        pick = pick_end(e, "up", 1);
    if (pick == NULL)
        pick = pick_end(e, "down", 0);
    char note[CONFIG_NAME_MAX + 32];
    link_note(cfg, li, e, note, sizeof note);
    json_t *o = json_object();
    json_object_set_new(o, "a", json_string(cfg->servers[ends[0]].name));
    json_object_set_new(o, "b", json_string(cfg->servers[ends[1]].name));
    json_object_set_new(o, "state",
                        json_string(pick ? pick->state : "unknown"));
    json_object_set_new(o, "since_ms",
                        pick && pick->since >= 0
                            ? json_integer((json_int_t)pick->since)
                            : json_null());
    json_object_set_new(o, "why", json_string(pick ? link_why(e, pick) : ""));
    json_object_set_new(
        o, "rtt_us",
        or_null(pick && strcmp(pick->state, "up") == 0 ? least_rtt(e) : NULL));
    json_object_set_new(o, "note", json_string(note));
    json_object_set_new(o, "rates", json_null());
    return o;
}

/* ---- the view ------------------------------------------------------- */

json_t *view_build(const struct config *cfg, json_t *sup, json_t *const *st)
{
    if (!json_is_object(sup))
        sup = NULL;
    json_t *servers = json_array();
    json_t *links = json_array();
    json_t *root = json_object();
    if (servers == NULL || links == NULL || root == NULL) {
        json_decref(servers);
        json_decref(links);
        json_decref(root);
        return NULL;
    }
    json_object_set_new(root, "supervisor_pid",
                        or_null(get_int(sup, "supervisor_pid")));
    json_object_set_new(root, "in_sync", herd_in_sync(cfg, st));
    for (size_t i = 0; i < cfg->nservers; i++) {
        json_t *o = build_server(cfg, i, sup, st);
        json_object_set_new(o, "in_sync", server_in_sync(cfg, st, i));
        json_array_append_new(servers, o);
    }
    for (size_t li = 0; li < cfg->nlinks; li++)
        json_array_append_new(links, build_link(cfg, li, st));
    json_object_set_new(root, "servers", servers);
    json_object_set_new(root, "links", links);
    return root;
}

/* ---- rates ---------------------------------------------------------- */

/* A counter's value, or -1 if v is not one. */
static long long counter(json_t *v)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    return (long long)json_integer_value(v);
}

/* The increase of a counter from then to now; a counter that went back
 * was reset and counts from zero. -1: either is missing. */
static long long increase(long long now, long long then)
{
    if (now < 0 || then < 0)
        return -1;
    return now >= then ? now - then : now;
}

/* inc per second over dt_ms, or null (inc -1). */
static json_t *per_second(long long inc, uint64_t dt_ms)
{
    if (inc < 0)
        return json_null();
    return json_real((double)inc * 1000.0 / (double)dt_ms);
}

/* Two answers of one server: the same process (epoch, else pid)? The
 * counters of a new process start from zero. */
static int same_process(json_t *now, json_t *then)
{
    json_t *a = get_str(now, "epoch");
    json_t *b = get_str(then, "epoch");
    if (a != NULL && b != NULL)
        return json_equal(a, b);
    a = get_int(now, "pid");
    b = get_int(then, "pid");
    return a == NULL || b == NULL || json_equal(a, b);
}

/* The increase of the counter k1.k2 of a server's answers now and then. */
static long long counter_increase(json_t *now, json_t *then, const char *k1,
                                  const char *k2)
{
    long long n = counter(json_object_get(json_object_get(now, k1), k2));
    long long t = counter(json_object_get(json_object_get(then, k1), k2));
    return increase(n, same_process(now, then) ? t : 0);
}

/* The increase of the counter key of server answer now's view of its
 * neighbour named other since the answer then. */
static long long neighbour_increase(json_t *now, json_t *then,
                                    const char *other, const char *key)
{
    long long n = counter(json_object_get(neighbour(now, other), key));
    if (!same_process(now, then))
        return increase(n, 0);
    return increase(n, counter(json_object_get(neighbour(then, other), key)));
}

/* The sum over now's neighbours of the increase of key ("sent" or
 * "received"); -1 if now has no neighbour list or a counter is missing. */
static long long neighbours_increase(json_t *now, json_t *then, const char *key)
{
    json_t *arr = json_object_get(now, "neighbours");
    if (!json_is_array(arr))
        return -1;
    long long sum = 0;
    size_t i;
    json_t *nb;
    json_array_foreach(arr, i, nb)
    {
        const char *name = json_string_value(get_str(nb, "name"));
        long long inc =
            name != NULL ? neighbour_increase(now, then, name, key) : -1;
        if (inc < 0)
            return -1;
        sum += inc;
    }
    return sum;
}

static json_t *server_rates(json_t *now, json_t *then, uint64_t dt_ms)
{
    if (!json_is_object(now) || !json_is_object(then))
        return json_null();
    json_t *r = json_object();
    json_object_set_new(
        r, "iamat",
        per_second(counter_increase(now, then, "counters", "iamat"), dt_ms));
    json_object_set_new(
        r, "whatsat",
        per_second(counter_increase(now, then, "counters", "whatsat"), dt_ms));
    json_object_set_new(
        r, "updates_in",
        per_second(neighbours_increase(now, then, "received"), dt_ms));
    json_object_set_new(
        r, "updates_out",
        per_second(neighbours_increase(now, then, "sent"), dt_ms));
    json_object_set_new(
        r, "places_misses",
        per_second(counter_increase(now, then, "places", "cache_misses"),
                   dt_ms));
    return r;
}

/* The stats of the server named name in view v, or NULL. */
static json_t *stats_of(json_t *v, const char *name)
{
    json_t *s = find_named(json_object_get(v, "servers"), "name", name);
    json_t *st = json_object_get(s, "stats");
    return json_is_object(st) ? st : NULL;
}

/* The increase of key in server from's view of its neighbour to, between
 * the views prev and cur; -1 if unknown. */
static long long link_increase(json_t *cur, json_t *prev, const char *from,
                               const char *to, const char *key)
{
    json_t *now = stats_of(cur, from);
    json_t *then = stats_of(prev, from);
    if (now == NULL || then == NULL)
        return -1;
    return neighbour_increase(now, then, to, key);
}

/* Records per second from a to b: what a says it sent, else what b says
 * it received. */
static json_t *direction_rate(json_t *cur, json_t *prev, const char *a,
                              const char *b, uint64_t dt_ms)
{
    long long inc = link_increase(cur, prev, a, b, "sent");
    if (inc < 0)
        inc = link_increase(cur, prev, b, a, "received");
    return per_second(inc, dt_ms);
}

static json_t *link_rates(json_t *cur, json_t *prev, json_t *link,
                          uint64_t dt_ms)
{
    const char *a = json_string_value(get_str(link, "a"));
    const char *b = json_string_value(get_str(link, "b"));
    if (a == NULL || b == NULL)
        return json_null();
    json_t *ab = direction_rate(cur, prev, a, b, dt_ms);
    json_t *ba = direction_rate(cur, prev, b, a, dt_ms);
    if (json_is_null(ab) && json_is_null(ba)) {
        json_decref(ab);
        json_decref(ba);
        return json_null();
    }
    json_t *r = json_object();
    json_object_set_new(r, "a_to_b", ab);
    json_object_set_new(r, "b_to_a", ba);
    return r;
}

void view_rates(json_t *cur, json_t *prev, uint64_t dt_ms)
{
    int none = prev == NULL || dt_ms == 0;
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(cur, "servers"), i, s)
    {
        const char *name = json_string_value(get_str(s, "name"));
        json_t *then = none || name == NULL ? NULL : stats_of(prev, name);
        json_object_set_new(
            s, "rates",
            then != NULL
                ? server_rates(json_object_get(s, "stats"), then, dt_ms)
                : json_null());
    }
    json_t *l;
    json_array_foreach(json_object_get(cur, "links"), i, l)
    {
        json_object_set_new(
            l, "rates", none ? json_null() : link_rates(cur, prev, l, dt_ms));
    }
}

/* ---- text ----------------------------------------------------------- */

void view_duration(char *out, size_t cap, uint64_t ms)
{
    unsigned long long s = (unsigned long long)(ms / 1000);
    if (s < 60)
        snprintf(out, cap, "%llus", s);
    else if (s < 3600)
        snprintf(out, cap, "%llum%02llus", s / 60, s % 60);
    else if (s < 86400)
        snprintf(out, cap, "%lluh%02llum", s / 3600, s / 60 % 60);
    else
        snprintf(out, cap, "%llud%02lluh", s / 86400, s / 3600 % 24);
}

void view_link_state(json_t *link, char *out, size_t cap)
{
    const char *state = json_string_value(get_str(link, "state"));
    json_t *since = get_int(link, "since_ms");
    state = state != NULL ? state : "unknown";
    if (strcmp(state, "cut") == 0 || strcmp(state, "unknown") == 0 ||
        since == NULL || json_integer_value(since) < 0) {
        snprintf(out, cap, "%s", state);
        return;
    }
    char d[32];
    view_duration(d, sizeof d, (uint64_t)json_integer_value(since));
    snprintf(out, cap, "%s %s", state, d);
}

void view_link_detail(json_t *link, char *out, size_t cap)
{
    const char *state = json_string_value(get_str(link, "state"));
    const char *why = json_string_value(get_str(link, "why"));
    json_t *rtt = get_int(link, "rtt_us");
    state = state != NULL ? state : "";
    out[0] = '\0';
    if (strcmp(state, "up") == 0) {
        long long us = rtt != NULL ? (long long)json_integer_value(rtt) : 0;
        if (us <= 0)
            snprintf(out, cap, "rtt -");
        else if (us < 100)
            snprintf(out, cap, "rtt %lld us", us);
        else
            snprintf(out, cap, "rtt %.1f ms", (double)us / 1000.0);
    } else if (why != NULL && why[0] != '\0' && strcmp(why, "cut") != 0) {
        snprintf(out, cap, "(%s)", why);
    }
}

const char *view_sync_mark(json_t *server)
{
    json_t *v = json_object_get(server, "in_sync");
    return json_is_true(v) ? "yes" : json_is_false(v) ? "NO" : "-";
}
