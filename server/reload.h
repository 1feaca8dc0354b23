/* reload: a running server reads its herd.conf again (SIGHUP, or
 * `reload` on the control socket) and takes the difference without
 * restarting.
 *
 * The whole file is checked first (config_load, then reload_plan_make
 * against what runs, then what only the server can check: the places
 * provider's name, max_line against the write-ahead log's bound). A file
 * that fails changes nothing. Otherwise:
 *   - removed neighbours: their links close, they are neither dialled
 *     nor accepted again, their cuts go (and leave DATA_DIR/cuts);
 *   - moved neighbours: redialled at the new address (by the side that
 *     dials);
 *   - added neighbours: dialled at once (or accepted), then caught up
 *     like any link that comes up;
 *   - LIVE settings (settings.h) that changed: applied
 *     (server_apply_settings);
 *   - FIXED settings and this server's own addresses that differ from
 *     what runs: listed as needing a restart, left as they are.
 * Links and neighbours the change does not touch stay up, and client
 * connections stay open. Settings the command line gave never change.
 *
 * The reply (one line, the control socket's):
 *   {"ok":true,"added":[NAME...],"removed":[NAME...],"moved":[NAME...],
 *    "changed":[SETTING...],"restart_needed":[NAME...],"unchanged":BOOL}
 * ("unchanged": every list empty: what runs is what the file says), or
 *   error FILE:LINE: WHAT       (the file does not parse)
 *   error FILE: WHAT            (it parses, but cannot be taken)
 *   error this server was not started with --config: nothing to reload
 * Either way one line in the log says what changed, or why nothing did.
 */
#ifndef HERD_RELOAD_H
#define HERD_RELOAD_H

struct server;

/* Reloads srv's configuration; how ("SIGHUP", "control") goes into the
 * log line. Returns the reply line (no newline; the caller frees it), or
 * NULL when memory ran out (then nothing changed, or the log says what
 * did). */
char *reload_run(struct server *srv, const char *how);

#endif
