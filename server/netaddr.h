/* netaddr: a configured address (config.h) as a socket address. */
#ifndef HERD_NETADDR_H
#define HERD_NETADDR_H

#include <sys/socket.h>

#include "config.h"

/* a's host as an IPv4 or IPv6 literal (with a's port) into out. Returns
 * 0, or -1 when the host is a name, which the caller resolves its own way
 * (at start for a listener, at every dial for a neighbour). */
int netaddr_literal(const struct config_addr *a, struct sockaddr_storage *out);

#endif
