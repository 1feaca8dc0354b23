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

#include "herd.h"

/* Prints "herd: MESSAGE (see herd --help)" on stderr; returns 64. */
__attribute__((format(printf, 1, 2))) int client_usage_error(const char *fmt,
                                                             ...);

/* Sends one request line to the supervisor; prints the body of its reply;
 * returns 0 if it answered "ok". */
int client_request(const struct herd *h, const char *line);
/* Sends "VERB NAME..." to the supervisor (the names checked first). */
int client_names_request(struct herd *h, const char *verb, int argc,
                         char **argv);
/* herd start [--foreground] [--only NAME,...]: sets the herd up and starts
 * its supervisor. */
int client_start_herd(struct herd *h, int argc, char **argv, const char *argv0);
/* herd status [--json]: the supervisor's table, then the links. */
int client_status(struct herd *h, int json);
/* A signal by name (KILL, SIGKILL) or number; -1 if it is neither. */
int client_parse_signal(const char *s);

#endif
