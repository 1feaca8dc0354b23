/* settle: a restarted server linked and in sync (settle.h). */
#include "settle.h"

#include <stdio.h>
#include <string.h>

/* The entry of arr whose "name" is name, or NULL. */
static json_t *find_server(json_t *arr, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        const char *n = json_string_value(json_object_get(v, "name"));
        if (n != NULL && strcmp(n, name) == 0)
            return v;
    }
    return NULL;
}

/* Whether the server entry s is up and answering. */
static int answering(json_t *s)
{
    const char *state = json_string_value(json_object_get(s, "state"));
    return s != NULL && state != NULL && strcmp(state, "up") == 0 &&
           json_is_object(json_object_get(s, "stats"));
}

/* One neighbour of a server that answers: 1 when settled with it (or
 * not to be waited for), else 0 with why. */
static int settled_with(json_t *me, json_t *other, const char *oname,
                        int (*caught_up)(void *arg, const char *neighbour),
                        void *arg, char *why, size_t cap)
{
    if (!answering(other))
        return 1; /* down: nothing to link to */
    json_t *nb = find_server(
        json_object_get(json_object_get(me, "stats"), "neighbours"), oname);
    if (json_is_true(json_object_get(nb, "cut")))
        return 1;
    const char *state = json_string_value(json_object_get(nb, "state"));
    if (state == NULL || strcmp(state, "up") != 0) {
        const char *w = json_string_value(json_object_get(nb, "why"));
        snprintf(why, cap, "not linked to %s yet (%s%s%s)", oname,
                 state != NULL ? state : "not a neighbour",
                 w != NULL && w[0] != '\0' ? ": " : "", w != NULL ? w : "");
        return 0;
    }
    const char *mine = json_string_value(json_object_get(me, "digest"));
    const char *theirs = json_string_value(json_object_get(other, "digest"));
    if (mine != NULL && theirs != NULL && strcmp(mine, theirs) == 0)
        return 1;
    if (caught_up != NULL && caught_up(arg, oname))
        return 1;
    snprintf(why, cap, "not in sync with %s yet (its catch-up goes on)", oname);
    return 0;
}

int settle_check(json_t *view, const char *name,
                 int (*caught_up)(void *arg, const char *neighbour), void *arg,
                 char *why, size_t cap)
{
    json_t *servers = json_object_get(view, "servers");
    json_t *me = find_server(servers, name);
    if (me == NULL) {
        snprintf(why, cap, "%s is not in herd.conf", name);
        return 0;
    }
    if (!answering(me)) {
        const char *state = json_string_value(json_object_get(me, "state"));
        snprintf(why, cap, "%s is %s%s", name, state ? state : "unknown",
                 state != NULL && strcmp(state, "up") == 0
                     ? " but does not answer on its control socket yet"
                     : "");
        return 0;
    }
    size_t i;
    json_t *link;
    json_array_foreach(json_object_get(view, "links"), i, link)
    {
        const char *a = json_string_value(json_object_get(link, "a"));
        const char *b = json_string_value(json_object_get(link, "b"));
        if (a == NULL || b == NULL ||
            (strcmp(a, name) != 0 && strcmp(b, name) != 0))
            continue;
        const char *oname = strcmp(a, name) == 0 ? b : a;
        if (!settled_with(me, find_server(servers, oname), oname, caught_up,
                          arg, why, cap))
            return 0;
    }
    return 1;
}

/* The start of the last line of log[0, end) that begins with prefix, or
 * NULL. */
static const char *last_line_with(const char *log, size_t end,
                                  const char *prefix, size_t plen)
{
    const char *found = NULL;
    const char *p = log;
    const char *stop = log + end;
    while (p < stop) {
        const char *nl = memchr(p, '\n', (size_t)(stop - p));
        const char *eol = nl != NULL ? nl : stop;
        /* A log line: a time stamp, then the message: find it in the
         * line, not only at its start. */
        for (const char *q = p; (size_t)(eol - q) >= plen; q++)
            if (memcmp(q, prefix, plen) == 0) {
                found = p;
                break;
            }
        p = eol + 1;
    }
    return found;
}

int settle_log_caught_up(const char *log, size_t len, const char *neighbour)
{
    char up[128];
    char done[128];
    int nu = snprintf(up, sizeof up, "link %s up (", neighbour);
    int nd = snprintf(done, sizeof done, "link %s: catch-up done", neighbour);
    if (nu <= 0 || (size_t)nu >= sizeof up || nd <= 0 ||
        (size_t)nd >= sizeof done)
        return 0;
    const char *line = last_line_with(log, len, up, (size_t)nu);
    if (line == NULL)
        return 0;
    const char *eol = memchr(line, '\n', len - (size_t)(line - log));
    size_t llen =
        eol != NULL ? (size_t)(eol - line) : len - (size_t)(line - log);
    static const char in_sync[] = "in sync)";
    if (llen >= sizeof in_sync - 1 && memcmp(line + llen - (sizeof in_sync - 1),
                                             in_sync, sizeof in_sync - 1) == 0)
        return 1;
    size_t after = (size_t)(line - log) + llen;
    return after < len &&
           last_line_with(log + after, len - after, done, (size_t)nd) != NULL;
}
