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

#include "herd.h"

/* The commands, as the command table of main.c calls them: argv holds the
 * arguments after the command's name (without -c FILE), as many as the
 * table allows. */
int client_start(struct herd *h, int argc, char **argv);
int client_stop(struct herd *h, int argc, char **argv);
int client_restart(struct herd *h, int argc, char **argv);
int client_kill(struct herd *h, int argc, char **argv);
int client_status(struct herd *h, int argc, char **argv);

/* The herd's view (view.h), as herd status shows it: what the running
 * supervisor says of its servers (nothing, quietly, when none runs) and
 * what each server says on its control socket. NULL: out of memory. */
json_t *client_view(const struct herd *h);

#endif
