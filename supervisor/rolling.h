/* rolling: herd restart --rolling [--timeout-ms MS] [NAME...], part of the
 * command line (client.h).
 *
 * Restarts the servers one at a time (the names given, or every server the
 * running supervisor runs, in herd.conf's order): for each, the
 * supervisor's restart (answered once the new process is up), then a wait
 * until it has settled (settle.h: linked to every neighbour that is up,
 * and in sync with each), polling its status and its neighbours' every
 * ROLLING_POLL_MS. Each server has --timeout-ms (default
 * ROLLING_TIMEOUT_MS) for both. Before each restart, a server of the
 * supervisor's that is starting, stopping or about to be restarted is
 * waited for (within that time too), so that at most one server is down
 * at any moment; one stopped by the operator, or failed, before the roll
 * began is not (it stays down, and is said so). One that was up then and
 * is down for good now (failed, or stopped) stops the roll: going on
 * would take a second server down.
 *
 * One line of progress per step on stdout. The first failure stops the
 * roll: "herd: rolling restart stopped at NAME: WHY", with the servers
 * restarted and those left; exit 1.
 */
#ifndef HERD_ROLLING_H
#define HERD_ROLLING_H

#include "herd.h"

#define ROLLING_TIMEOUT_MS 60000
#define ROLLING_POLL_MS    200

/* argv: the arguments of herd restart, --rolling among them. Returns the
 * exit code. */
int rolling_restart(struct herd *h, int argc, char **argv);

#endif
