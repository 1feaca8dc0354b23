/* settle: whether a server that has just (re)started has settled in the
 * herd: linked to every neighbour that can be linked to, and holding what
 * they hold. herd restart --rolling (rolling.h) waits for it before it
 * takes the next server down.
 *
 * Pure (no I/O): the view (view.h) is the caller's.
 */
#ifndef HERD_SETTLE_H
#define HERD_SETTLE_H

#include <stddef.h>

#include <jansson.h>

/* Whether the server named name has settled, by view (view_build's):
 *   - it answers on its control socket, and the supervisor has it up;
 *   - for each link of herd.conf it has, to a neighbour whose server is
 *     up and answering: unless cut, its own view of that neighbour is
 *     "up", and its digest equals the neighbour's, or each end reports
 *     the link "synced" (ctl.h: it came up in sync, or its catch-up has
 *     ended since). While updates flow, two digests read a moment apart
 *     rarely agree; the servers' own word does not depend on timing. A
 *     neighbour whose status has no "synced" (a build from before it) is
 *     taken at the restarted server's word alone.
 * Neighbours that are down, stopped or not answering are not waited for.
 * When it has not settled, why (cap bytes) says what it waits for. */
int settle_check(json_t *view, const char *name, char *why, size_t cap);

#endif
