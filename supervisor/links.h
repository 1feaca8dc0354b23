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

#include <jansson.h>

#include "herd.h"

/* herd cut A [B] and herd heal [A [B]] (argc as the command table allows):
 * the link A - B, every link of A, or (heal) every link of every server.
 * Every server concerned is told, or, if one of them cannot be reached,
 * none is. Return the exit code. */
int links_cut(struct herd *h, int argc, char **argv);
int links_heal(struct herd *h, int argc, char **argv);
/* Asks every server of herd.conf for its status on its control socket,
 * all at once, waiting at most a second: an array of cfg.nservers, each
 * the parsed status object (server/ctl.h) or NULL where the server did
 * not answer (view_build's st). NULL: out of memory. Free it with
 * links_free_answers. */
json_t **links_query_servers(const struct herd *h);
void links_free_answers(const struct herd *h, json_t **st);
/* Prints the LINK table of herd status from a view (view.h): per link
 * "A - B  up 3m12s  rtt 0.2 ms", "down 12s  (silent)", "cut", and the
 * link's note. Nothing if the view has no links. */
void links_print(json_t *view);

#endif
