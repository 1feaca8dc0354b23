/* links: the herd's links as its servers see them, part of the command
 * line (client.h).
 *
 * herd cut / heal and the links of herd status talk to each server's own
 * control socket, RUN_DIR/NAME.sock (server/ctl.h), directly: the
 * supervisor need not be running, and a server started by hand with
 * --config answers too. Every wait is bounded (a few seconds).
 */
#ifndef HERD_LINKS_H
#define HERD_LINKS_H

#include "herd.h"

/* herd cut A [B] and herd heal [A [B]] (argc as the command table allows):
 * the link A - B, every link of A, or (heal) every link of every server.
 * Every server concerned is told, or, if one of them cannot be reached,
 * none is. Return the exit code. */
int links_cut(struct herd *h, int argc, char **argv);
int links_heal(struct herd *h, int argc, char **argv);
/* Prints the LINK table of herd status (nothing if herd.conf has no
 * links). */
void links_print(const struct herd *h);
/* Prints the supervisor's status-json answer body with "links" and each
 * server's records and digest added (body as it is if that fails).
 * Returns 0. */
int links_status_json(const struct herd *h, const char *body);

#endif
