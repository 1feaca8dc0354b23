/* top: herd top, the herd's rates refreshed every second (client.h). */
#ifndef HERD_TOP_H
#define HERD_TOP_H

#include "herd.h"

/* herd top [--count N] [--interval MS]. Returns the exit code. */
int top_run(struct herd *h, int argc, char **argv);

#endif
