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

/* The neighbour entry named oname in server entry s's status, or NULL. */
static json_t *neighbour_of(json_t *s, const char *oname)
{
    return find_server(
        json_object_get(json_object_get(s, "stats"), "neighbours"), oname);
}

/* One neighbour `other` (named oname) of `me` (named name), a server that
 * answers: 1 when settled with it (or not to be waited for), else 0 with
 * why. */
static int settled_with(json_t *me, const char *name, json_t *other,
                        const char *oname, char *why, size_t cap)
{
    if (!answering(other))
        return 1; /* down: nothing to link to */
    json_t *nb = neighbour_of(me, oname);
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
    json_t *synced = json_object_get(nb, "synced");
    if (!json_is_true(synced)) {
        snprintf(why, cap, "not in sync with %s yet (%s)", oname,
                 json_is_boolean(synced)
                     ? "the catch-up goes on"
                     : "the digests differ, and the server's status says "
                       "nothing of its catch-ups: an older build?");
        return 0;
    }
    /* The other end may still wait for its own side of the catch-up (or
     * not have the link up yet): its word counts too, when it gives it. */
    json_t *back = neighbour_of(other, name);
    if (json_is_false(json_object_get(back, "synced"))) {
        snprintf(why, cap,
                 "not in sync with %s yet (its side of the "
                 "catch-up goes on)",
                 oname);
        return 0;
    }
    return 1;
}

int settle_check(json_t *view, const char *name, char *why, size_t cap)
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
        if (!settled_with(me, name, find_server(servers, oname), oname, why,
                          cap))
            return 0;
    }
    return 1;
}
