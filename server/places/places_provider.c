#include "places_provider.h"

#include <string.h>

int places_provider_add_header(struct places_http *req, const char *h)
{
    return dynbuf_add(&req->headers, h, strlen(h) + 1);
}
