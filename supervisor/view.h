/* view: the herd as one JSON object, from what the supervisor says of its
 * servers and what each server says of itself on its control socket.
 *
 * herd status, herd top, the web page and /metrics all show this one
 * view. Pure: no I/O, so it is unit tested on its own.
 */
#ifndef HERD_VIEW_H
#define HERD_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "config.h"

/* sup: the supervisor's status-json object ({"supervisor_pid", "servers":
 * [...]}), or NULL when no supervisor answers. st: cfg->nservers entries,
 * each the "status" object of that server's control socket (server/ctl.c),
 * or NULL where it did not answer. Both borrowed. Returns a new object
 * (NULL: out of memory); its shape is in view.c. */
json_t *view_build(const struct config *cfg, json_t *sup, json_t *const *st);

/* Adds "rates" (per second) to every server and link of cur, from prev, a
 * view_build of the same herd dt_ms earlier (prev NULL or dt_ms 0: every
 * rate is null). */
void view_rates(json_t *cur, json_t *prev, uint64_t dt_ms);

/* Text for the terminal (herd status, herd top), each into out (cap
 * bytes, always terminated):
 * view_duration: "12s", "3m12s", "1h05m", "2d03h";
 * view_link_state: a link's state with how long it has been so: "up
 *   3m12s", "down 12s", "cut", "unknown";
 * view_link_detail: "rtt 0.2 ms" (or "rtt 80 us", "rtt -") when up,
 *   "(WHY)" when down or cut for a reason other than the cut, else "". */
void view_duration(char *out, size_t cap, uint64_t ms);
void view_link_state(json_t *link, char *out, size_t cap);
void view_link_detail(json_t *link, char *out, size_t cap);
/* A server's in-sync mark: "yes", "NO", or "-" (unknown). */
const char *view_sync_mark(json_t *server);

#endif
