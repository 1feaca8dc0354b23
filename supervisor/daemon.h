/* daemon: the supervisor, the one long-lived process of a herd.
 *
 * It holds the pid file's lock for its life, starts every managed server
 * (supervise.h), answers the control socket (control.h), restarts servers
 * by the policy, applies a changed herd.conf on herd reload or SIGHUP
 * (reloader.h), and exits once every server has stopped after a shutdown
 * (herd stop, SIGTERM, SIGINT).
 *
 * It tells `herd start` how the start went on report_fd: a line "0" (every
 * managed server is up) or "1", then the status table and any message;
 * once every server has settled or after a deadline, or at once when it
 * cannot start.
 */
#ifndef HERD_DAEMON_H
#define HERD_DAEMON_H

#include "herd.h"

/* Runs the supervisor in this process until the herd has stopped.
 * h is set up (herd.h: herd_load, herd_prepare); only is NULL or --only's
 * comma-separated names; foreground logs on stderr instead of
 * LOG_DIR/herd.log. Returns the process's exit code. */
int daemon_run(struct herd *h, const char *only, int report_fd, int foreground);
/* Forks daemon_run into the background (its own session, stdio on
 * /dev/null and herd.log), waits for its report and prints it (stdout when
 * every server is up, else stderr). Returns the exit code of herd start;
 * the supervisor goes on running. */
int daemon_start_background(struct herd *h, const char *only);

#endif
