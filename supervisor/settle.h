/* settle: whether a server that has just (re)started has settled in the
 * herd: linked to every neighbour that can be linked to, and holding what
 * they hold. herd restart --rolling (rolling.h) waits for it before it
 * takes the next server down.
 *
 * Pure (no I/O): the view (view.h) and the server's log are the caller's.
 */
#ifndef HERD_SETTLE_H
#define HERD_SETTLE_H

#include <stddef.h>

#include <jansson.h>

/* Whether the server named name has settled, by view (view_build's):
 *   - it answers on its control socket, and the supervisor has it up;
 *   - for each link of herd.conf it has, to a neighbour whose server is
 *     up and answering: unless cut, its own view of that neighbour is
 *     "up", and its digest equals the neighbour's, or caught_up(arg,
 *     neighbour) says its catch-up with it is done (while updates flow,
 *     two digests read a moment apart rarely agree; caught_up may be
 *     NULL).
 * Neighbours that are down, stopped or not answering are not waited for.
 * When it has not settled, why (cap bytes) says what it waits for. */
int settle_check(json_t *view, const char *name,
                 int (*caught_up)(void *arg, const char *neighbour), void *arg,
                 char *why, size_t cap);

/* From a server's log (len bytes from its start): whether the last time
 * its link to neighbour came up ("link NAME up (...)"), the two ends were
 * in sync, or its catch-up ended since ("link NAME: catch-up done"). */
int settle_log_caught_up(const char *log, size_t len, const char *neighbour);

#endif
