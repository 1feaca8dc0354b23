/* notify: tells the service manager that started the server how it is
 * doing, through libsystemd's sd_notify(3): systemd's Type=notify units
 * (deploy/systemd/herd-server@.service) wait for READY=1 before they call
 * the server started, and show STATUS= in systemctl status.
 *
 * Outside such a unit ($NOTIFY_SOCKET unset: a terminal, herd's own
 * supervisor, a container) every call does nothing. $NOTIFY_SOCKET stays
 * set, so the later messages reach the manager too.
 */
#ifndef HERD_NOTIFY_H
#define HERD_NOTIFY_H

/* READY=1 with the status line: once the server listens on both ports
 * (clients can connect, neighbours can link). Returns > 0 sent, 0 no
 * manager listens, < 0 a negative errno (not worth stopping for). */
int notify_ready(const char *status);

/* STOPPING=1, why as the status: the server has begun to stop (SIGTERM),
 * so the manager waits for its exit instead of taking it for a crash. */
int notify_stopping(const char *why);

#endif
