#include "netaddr.h"

#include <string.h>

#include <uv.h>

int netaddr_literal(const struct config_addr *a, struct sockaddr_storage *out)
{
    memset(out, 0, sizeof *out);
    if (uv_ip4_addr(a->host, a->port, (struct sockaddr_in *)out) == 0)
        return 0;
    if (uv_ip6_addr(a->host, a->port, (struct sockaddr_in6 *)out) == 0)
        return 0;
    return -1;
}
