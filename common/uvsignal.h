/* uvsignal: closing a libuv signal handle without losing the signal to
 * its default action. */
#ifndef HERD_UVSIGNAL_H
#define HERD_UVSIGNAL_H

#include <uv.h>

/* Closes h, which watches signum, and ignores signum from then on: once
 * no handle watches a signal, libuv gives it its default action back,
 * which for SIGHUP or SIGINT ends the process mid-shutdown (before the
 * last writes, the last log line, the exit status). signum is blocked in
 * between, so that none lands on the default. */
void uvsignal_close_ignoring(uv_signal_t *h, int signum);

#endif
