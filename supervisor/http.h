/* http: the supervisor's web page and /metrics. */
#ifndef HERD_HTTP_H
#define HERD_HTTP_H

#include "herd.h"

/* herd web: prints the page's address with its token. Returns the exit
 * code. */
int http_print_url(struct herd *h, int argc, char **argv);

#endif
