/* client: the commands of the herd command line, a short-lived process.
 *
 * Each command prints its answer on stdout, its errors on stderr
 * ("herd: ..."), and returns the exit code (exit_codes.h). The running
 * supervisor is reached through its control socket (control.h: one
 * request line, one reply); herd start without names sets the herd up and
 * starts the supervisor itself (daemon.h).
 */
#ifndef HERD_CLIENT_H
#define HERD_CLIENT_H

#include <jansson.h>

#include "dynbuf.h"
#include "herd.h"

/* The commands, as the command table of main.c calls them: argv holds the
 * arguments after the command's name (without -c FILE), as many as the
 * table allows. */
int client_start(struct herd *h, int argc, char **argv);
int client_stop(struct herd *h, int argc, char **argv);
int client_restart(struct herd *h, int argc, char **argv);
int client_kill(struct herd *h, int argc, char **argv);
int client_status(struct herd *h, int argc, char **argv);
/* herd reload [--dry-run]: the supervisor re-reads herd.conf
 * (reloader.h); exit 0, 1 when a step failed, 78 when it refused the
 * file. */
int client_reload(struct herd *h, int argc, char **argv);

/* Sends one request line (with its newline) to the running supervisor and
 * waits at most timeout_ms between bytes of the answer; leaves its body in
 * *body (printing any error, but with quiet not that the supervisor is not
 * running). Returns the exit code: 0, 1, or 78 for "error config: ...". */
int client_request(const struct herd *h, const char *line, struct dynbuf *body,
                   int quiet, int timeout_ms);

/* The herd's view (view.h), as herd status shows it: what the running
 * supervisor says of its servers (nothing, quietly, when none runs) and
 * what each server says on its control socket. NULL: out of memory. */
json_t *client_view(const struct herd *h);

#endif
