/* metrics: a view (view.h) in the Prometheus text exposition format 0.0.4,
 * for GET /metrics. Pure: no I/O. */
#ifndef HERD_METRICS_H
#define HERD_METRICS_H

#include <jansson.h>

#include "dynbuf.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Appends the metrics of view (view.h's shape) to out: every family once,
 * "# HELP" and "# TYPE" first, counters named _total, histograms in
 * seconds with cumulative buckets; labels server (and peer for a link,
 * status for the places' errors). Returns 0 or DYNBUF_ENOMEM (out's bound
 * too). */
int metrics_render(json_t *view, struct dynbuf *out);

#endif
