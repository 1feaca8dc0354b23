/* commands: what a client line does. A table maps each command to its
 * handler; every invalid line, whatever the reason, gets "? <line>". */
#ifndef HERD_COMMANDS_H
#define HERD_COMMANDS_H

#include <stddef.h>

struct conn;

/* The conn_line_cb of client connections (c->data is the server). */
int commands_client_line(struct conn *c, const char *line, size_t len);

#endif
