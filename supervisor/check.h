/* herd check: validates a herd.conf without starting anything, for
 * configuration management, packages and container images (as nginx -t
 * does).
 *
 * By the time it runs, herd_load has parsed the file: a syntax error has
 * exited 78 there, naming its line. check_run goes on with what the
 * servers and the supervisor would refuse only when they start (an unknown
 * places provider, half a set of TLS files, a link timeout no longer than
 * the heartbeat, an http address a server uses, a run_dir too long for a
 * server's control socket) and reports each on stderr as
 * "herd: FILE:LINE: what". What depends on the machine that runs the herd
 * (the files herd.conf names, a graph in pieces) is a warning only: the
 * file may well be checked elsewhere.
 *
 * Exit status: 0 valid (then "herd: FILE: ok ..." on stdout), 78 not.
 */
#ifndef HERD_CHECK_H
#define HERD_CHECK_H

#include <stdio.h>

#include "herd.h"

/* herd check (no arguments; -c FILE is the command line's). */
int check_run(struct herd *h, int argc, char **argv);
/* The checks of herd check on h (loaded), each problem a line on out.
 * Returns the number of errors; *warnings gets that of warnings. A reload
 * refuses a herd.conf with errors, as herd check does. */
unsigned check_config(const struct herd *h, FILE *out, unsigned *warnings);

#endif
