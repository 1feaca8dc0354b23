/* view: the herd as one JSON object, from what the supervisor says of its
 * servers and what each server says of itself on its control socket.
 *
 * herd status, herd top, the web page and /metrics all show this one
 * view. Pure: no I/O, so it is unit tested on its own.
 */
#ifndef HERD_VIEW_H
#define HERD_VIEW_H

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

#endif
