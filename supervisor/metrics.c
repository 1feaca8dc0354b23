/* metrics: the view in Prometheus' text format 0.0.4 (metrics.h).
 *
 * One table of families: each says where its value is in the view (a
 * field of a server, of its "stats", of each of its neighbours, a map of
 * its stats, a histogram of its stats, or a field of the whole view), its
 * type and its help. A family is written once, HELP and TYPE first, then
 * its samples server after server (and neighbour after neighbour), and
 * only if it has any: a server that did not answer has no "stats", so it
 * gives only what the supervisor knows of it (herd_up 0, its restarts).
 *
 * Numbers in the view are integers in their own units (ms, us, bytes):
 * seconds are written as exact decimals (1500 ms is 1.5, 250 us 0.00025),
 * never through a float.
 */
#include "metrics.h"

#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if JSON_INTEGER_IS_LONG_LONG
#define JSON_INT_MAX LLONG_MAX
#else
#define JSON_INT_MAX LONG_MAX
#endif

enum source {
    FROM_VIEW,      /* a field of the view itself (no labels) */
    FROM_SERVER,    /* a field of a server */
    FROM_STATS,     /* a field of a server's stats */
    FROM_MAP,       /* each key of an object of the stats: label `label` */
    FROM_HISTOGRAM, /* a histogram of the stats */
    FROM_NEIGHBOUR  /* a field of each neighbour of the stats: label peer */
};

struct family {
    const char *name;
    const char *type;  /* counter, gauge, histogram */
    const char *path;  /* dotted, within what `from` names */
    const char *match; /* set: 1 when the value is this string, else 0 */
    const char *label; /* FROM_MAP's label */
    const char *help;
    enum source from;
    int scale;     /* the value is in 10^-scale units (3: ms, 6: us) */
    int skip_zero; /* 0 means "none yet": no sample */
};

static const struct family families[] = {
    {"herd_up", "gauge", "state", "up", NULL,
     "1 when the server is up (ready under this supervisor, or answering its "
     "control socket), else 0",
     FROM_SERVER, 0, 0},
    {"herd_restarts_total", "counter", "restarts", NULL, NULL,
     "restarts of the server by this supervisor", FROM_SERVER, 0, 0},
    {"herd_uptime_seconds", "gauge", "uptime_ms", NULL, NULL,
     "time since the server was started", FROM_SERVER, 3, 0},
    {"herd_records", "gauge", "records", NULL, NULL,
     "client records the server holds", FROM_SERVER, 0, 0},
    {"herd_clients", "gauge", "clients", NULL, NULL,
     "client connections open now", FROM_SERVER, 0, 0},
    {"herd_in_sync", "gauge", "in_sync", NULL, NULL,
     "1 when the server's digest equals every answering neighbour's",
     FROM_SERVER, 0, 0},
    {"herd_all_in_sync", "gauge", "in_sync", NULL, NULL,
     "1 when every server that answers holds the same records", FROM_VIEW, 0,
     0},
    {"herd_iamat_total", "counter", "counters.iamat", NULL, NULL,
     "IAMAT lines answered", FROM_STATS, 0, 0},
    {"herd_whatsat_total", "counter", "counters.whatsat", NULL, NULL,
     "WHATSAT lines received", FROM_STATS, 0, 0},
    {"herd_invalid_lines_total", "counter", "counters.invalid", NULL, NULL,
     "client lines answered with '?'", FROM_STATS, 0, 0},
    {"herd_stale_records_total", "counter", "counters.stale", NULL, NULL,
     "records from neighbours dropped: held already, or older", FROM_STATS, 0,
     0},
    {"herd_refused_connections_total", "counter", "counters.refused", NULL,
     NULL, "connections refused or closed by the limits", FROM_STATS, 0, 0},
    {"herd_connections_total", "counter", "counters.connections", NULL, NULL,
     "client connections accepted", FROM_STATS, 0, 0},
    {"herd_places_requests_total", "counter", "places.requests", NULL, NULL,
     "requests to the places provider", FROM_STATS, 0, 0},
    {"herd_places_cache_hits_total", "counter", "places.cache_hits", NULL, NULL,
     "WHATSAT answered from the places cache", FROM_STATS, 0, 0},
    {"herd_places_cache_misses_total", "counter", "places.cache_misses", NULL,
     NULL, "WHATSAT that had to ask the places provider", FROM_STATS, 0, 0},
    {"herd_places_errors_total", "counter", "places.errors", NULL, "status",
     "places requests that failed, by what went wrong", FROM_MAP, 0, 0},
    {"herd_places_in_flight", "gauge", "places.in_flight", NULL, NULL,
     "places requests waiting for an answer now", FROM_STATS, 0, 0},
    {"herd_places_latency_seconds", "histogram", "places.latency", NULL, NULL,
     "time from a places request to its answer", FROM_HISTOGRAM, 0, 0},
    {"herd_whatsat_latency_seconds", "histogram", "whatsat_latency", NULL, NULL,
     "time from a WHATSAT received to its answer queued", FROM_HISTOGRAM, 0, 0},
    {"herd_wal_bytes", "gauge", "wal.bytes", NULL, NULL,
     "size of the write-ahead log on disk", FROM_STATS, 0, 0},
    {"herd_wal_records_total", "counter", "wal.records", NULL, NULL,
     "records appended to the write-ahead log", FROM_STATS, 0, 0},
    {"herd_wal_fsyncs_total", "counter", "wal.fsyncs", NULL, NULL,
     "fsyncs of the write-ahead log", FROM_STATS, 0, 0},
    {"herd_wal_compactions_total", "counter", "wal.compactions", NULL, NULL,
     "compactions of the write-ahead log", FROM_STATS, 0, 0},
    {"herd_link_up", "gauge", "state", "up", NULL,
     "1 when the link to the peer is up", FROM_NEIGHBOUR, 0, 0},
    {"herd_link_cut", "gauge", "cut", NULL, NULL,
     "1 when the link to the peer is cut by the operator", FROM_NEIGHBOUR, 0,
     0},
    {"herd_link_rtt_seconds", "gauge", "rtt_us", NULL, NULL,
     "round trip of the link's last heartbeat", FROM_NEIGHBOUR, 6, 1},
    {"herd_link_records_sent_total", "counter", "sent", NULL, NULL,
     "records sent to the peer", FROM_NEIGHBOUR, 0, 0},
    {"herd_link_records_received_total", "counter", "received", NULL, NULL,
     "records received from the peer", FROM_NEIGHBOUR, 0, 0},
    {"herd_link_bytes_sent_total", "counter", "bytes_sent", NULL, NULL,
     "bytes sent to the peer", FROM_NEIGHBOUR, 0, 0},
    {"herd_link_bytes_received_total", "counter", "bytes_received", NULL, NULL,
     "bytes received from the peer", FROM_NEIGHBOUR, 0, 0},
    {"herd_link_queued_bytes", "gauge", "queued", NULL, NULL,
     "bytes waiting to be written to the peer", FROM_NEIGHBOUR, 0, 0},
    {"herd_link_catchups_total", "counter", "catchups", NULL, NULL,
     "catch-ups sent to the peer", FROM_NEIGHBOUR, 0, 0},
    {"herd_link_catchup_records_total", "counter", "catchup_records", NULL,
     NULL, "records sent to the peer in catch-ups", FROM_NEIGHBOUR, 0, 0},
    {"herd_link_catchup_bytes_total", "counter", "catchup_bytes", NULL, NULL,
     "bytes sent to the peer in catch-ups", FROM_NEIGHBOUR, 0, 0},
    {"herd_link_last_heard_seconds", "gauge", "last_heard_ms", NULL, NULL,
     "time since a byte came from the peer", FROM_NEIGHBOUR, 3, 0},
};

/* o's member at a dotted path ("places.latency"); NULL if missing. */
static json_t *get_path(json_t *o, const char *path)
{
    while (o != NULL && *path != '\0') {
        const char *dot = strchr(path, '.');
        size_t len = dot != NULL ? (size_t)(dot - path) : strlen(path);
        o = json_is_object(o) ? json_object_getn(o, path, len) : NULL;
        path += len + (dot != NULL);
    }
    return o;
}

/* v * 10^-scale as an exact decimal ("-1.5", "0.00025", "12"). */
static int put_scaled(struct dynbuf *out, json_int_t v, int scale)
{
    uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    uint64_t unit = 1;
    for (int i = 0; i < scale; i++)
        unit *= 10;
    uint64_t whole = mag / unit;
    uint64_t frac = mag % unit;
    int rc = dynbuf_printf(out, "%s%" PRIu64, v < 0 ? "-" : "", whole);
    if (rc != 0 || frac == 0)
        return rc;
    char digits[24];
    snprintf(digits, sizeof digits, "%0*" PRIu64, scale, frac);
    size_t n = strlen(digits);
    while (n > 0 && digits[n - 1] == '0')
        n--;
    return dynbuf_printf(out, ".%.*s", (int)n, digits);
}

/* A value of the view as a sample's number; 1 when there is none (null,
 * missing, "none yet"), else 0 or an error. */
static int put_value(struct dynbuf *out, const struct family *f, json_t *v)
{
    if (f->match != NULL) {
        const char *s = json_string_value(v);
        if (v == NULL)
            return 1;
        return dynbuf_printf(out, "%d", s != NULL && strcmp(s, f->match) == 0);
    }
    if (json_is_boolean(v))
        return dynbuf_printf(out, "%d", json_is_true(v));
    if (json_is_integer(v)) {
        if (f->skip_zero && json_integer_value(v) == 0)
            return 1;
        return put_scaled(out, json_integer_value(v), f->scale);
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        for (int i = 0; i < f->scale; i++)
            d /= 10;
        return dynbuf_printf(out, "%.17g", d);
    }
    return 1;
}

/* A label value, escaped: \\, \" and \n. */
static int put_escaped(struct dynbuf *out, const char *s)
{
    int rc = 0;
    for (; *s != '\0' && rc == 0; s++) {
        if (*s == '\\')
            rc = dynbuf_add(out, "\\\\", 2);
        else if (*s == '"')
            rc = dynbuf_add(out, "\\\"", 2);
        else if (*s == '\n')
            rc = dynbuf_add(out, "\\n", 2);
        else
            rc = dynbuf_addc(out, *s);
    }
    return rc;
}

/* The labels of a sample: server, then one more (NULL: none), then le
 * (NULL: none), as {server="A",peer="B",le="0.5"}. */
struct labels {
    const char *server;
    const char *key;
    const char *value;
};

static int put_labels(struct dynbuf *out, const struct labels *l,
                      const char *le)
{
    if (l->server == NULL && le == NULL)
        return 0;
    const char *sep = "";
    int rc = dynbuf_addc(out, '{');
    if (rc == 0 && l->server != NULL) {
        rc = dynbuf_printf(out, "server=\"");
        rc = rc ? rc : put_escaped(out, l->server);
        rc = rc ? rc : dynbuf_addc(out, '"');
        sep = ",";
    }
    if (rc == 0 && l->key != NULL) {
        rc = dynbuf_printf(out, "%s%s=\"", sep, l->key);
        rc = rc ? rc : put_escaped(out, l->value);
        rc = rc ? rc : dynbuf_addc(out, '"');
        sep = ",";
    }
    if (rc == 0 && le != NULL)
        rc = dynbuf_printf(out, "%sle=\"%s\"", sep, le);
    return rc ? rc : dynbuf_addc(out, '}');
}

/* One sample line: NAME[SUFFIX]{labels} VALUE; nothing when v is none. */
static int put_sample(struct dynbuf *out, const struct family *f,
                      const char *suffix, const struct labels *l, json_t *v)
{
    struct dynbuf num;
    dynbuf_init(&num, 64);
    int rc = put_value(&num, f, v);
    if (rc == 0)
        rc = dynbuf_printf(out, "%s%s", f->name, suffix);
    if (rc == 0)
        rc = put_labels(out, l, NULL);
    if (rc == 0)
        rc = dynbuf_printf(out, " %.*s\n", (int)num.len, num.data);
    dynbuf_free(&num);
    return rc == 1 ? 0 : rc;
}

static int compare_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* FROM_MAP: one sample per key of the object, in key order. */
static int put_map(struct dynbuf *out, const struct family *f,
                   const char *server, json_t *map)
{
    size_t n = json_is_object(map) ? json_object_size(map) : 0;
    if (n == 0)
        return 0;
    const char **keys = calloc(n, sizeof *keys);
    if (keys == NULL)
        return DYNBUF_ENOMEM;
    size_t k = 0;
    const char *key;
    json_t *v;
    json_object_foreach(map, key, v)
    {
        keys[k++] = key;
    }
    qsort(keys, n, sizeof *keys, compare_keys);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct labels l = {server, f->label, keys[i]};
        rc = put_sample(out, f, "", &l, json_object_get(map, keys[i]));
    }
    free(keys);
    return rc;
}

/* A histogram's bound (us) as le's seconds. */
static void le_text(char *out, size_t cap, json_int_t us)
{
    struct dynbuf b;
    dynbuf_init(&b, cap - 1);
    if (put_scaled(&b, us, 6) == 0 && b.len < cap) {
        memcpy(out, b.data, b.len);
        out[b.len] = '\0';
    } else {
        snprintf(out, cap, "+Inf");
    }
    dynbuf_free(&b);
}

/* Whether bounds (nb integers, rising) and counts (nb + 1 integers, none
 * negative, their total a json_int_t) make a histogram. */
static int histogram_ok(json_t *bounds, json_t *counts, size_t nb)
{
    json_int_t total = 0;
    for (size_t i = 0; i <= nb; i++) {
        json_t *b = json_array_get(bounds, i);
        json_t *c = json_array_get(counts, i);
        if (i < nb &&
            (!json_is_integer(b) ||
             (i > 0 && json_integer_value(b) <=
                           json_integer_value(json_array_get(bounds, i - 1)))))
            return 0;
        if (!json_is_integer(c) || json_integer_value(c) < 0 ||
            json_integer_value(c) > JSON_INT_MAX - total)
            return 0;
        total += json_integer_value(c);
    }
    return 1;
}

/* FROM_HISTOGRAM: {"bounds_us":[...], "counts":[one per bound, then one
 * above the last], "sum_us"}, counts per bucket: written cumulative, +Inf
 * and _count their total. A malformed one is left out: buckets that fall,
 * or bounds that repeat, would fail the whole scrape. */
static int put_histogram(struct dynbuf *out, const struct family *f,
                         const char *server, json_t *h)
{
    json_t *bounds = json_object_get(h, "bounds_us");
    json_t *counts = json_object_get(h, "counts");
    json_t *sum = json_object_get(h, "sum_us");
    size_t nb = json_array_size(bounds);
    if (!json_is_array(bounds) || json_array_size(counts) != nb + 1 ||
        !json_is_integer(sum) || !histogram_ok(bounds, counts, nb))
        return 0;
    struct labels l = {server, NULL, NULL};
    json_int_t total = 0;
    int rc = 0;
    for (size_t i = 0; i <= nb && rc == 0; i++) {
        char le[32];
        if (i < nb)
            le_text(le, sizeof le,
                    json_integer_value(json_array_get(bounds, i)));
        else
            snprintf(le, sizeof le, "+Inf");
        total += json_integer_value(json_array_get(counts, i));
        rc = dynbuf_printf(out, "%s_bucket", f->name);
        rc = rc ? rc : put_labels(out, &l, le);
        rc = rc ? rc : dynbuf_printf(out, " %" JSON_INTEGER_FORMAT "\n", total);
    }
    rc = rc ? rc : dynbuf_printf(out, "%s_sum", f->name);
    rc = rc ? rc : put_labels(out, &l, NULL);
    rc = rc ? rc : dynbuf_addc(out, ' ');
    rc = rc ? rc : put_scaled(out, json_integer_value(sum), 6);
    rc = rc ? rc : dynbuf_printf(out, "\n%s_count", f->name);
    rc = rc ? rc : put_labels(out, &l, NULL);
    return rc ? rc : dynbuf_printf(out, " %" JSON_INTEGER_FORMAT "\n", total);
}

/* Whether a neighbour before the i-th of nb is named peer. */
static int named_before(json_t *nb, size_t i, const char *peer)
{
    for (size_t k = 0; k < i; k++) {
        const char *s =
            json_string_value(json_object_get(json_array_get(nb, k), "name"));
        if (s != NULL && strcmp(s, peer) == 0)
            return 1;
    }
    return 0;
}

/* FROM_NEIGHBOUR: one sample per neighbour of the server's stats (the
 * first of any named twice: a series has one sample). */
static int put_neighbours(struct dynbuf *out, const struct family *f,
                          const char *server, json_t *stats)
{
    json_t *nb = json_object_get(stats, "neighbours");
    size_t i;
    json_t *p;
    int rc = 0;
    json_array_foreach(nb, i, p)
    {
        const char *peer = json_string_value(json_object_get(p, "name"));
        if (peer == NULL || named_before(nb, i, peer))
            continue;
        struct labels l = {server, "peer", peer};
        rc = put_sample(out, f, "", &l, get_path(p, f->path));
        if (rc != 0)
            break;
    }
    return rc;
}

/* The samples of family f for one server of the view. */
static int put_server(struct dynbuf *out, const struct family *f, json_t *s)
{
    const char *name = json_string_value(json_object_get(s, "name"));
    if (name == NULL)
        return 0;
    json_t *stats = json_object_get(s, "stats");
    struct labels l = {name, NULL, NULL};
    if (f->from == FROM_SERVER)
        return put_sample(out, f, "", &l, get_path(s, f->path));
    if (!json_is_object(stats))
        return 0; /* it did not answer: nothing more is known */
    switch (f->from) {
    case FROM_STATS:
        return put_sample(out, f, "", &l, get_path(stats, f->path));
    case FROM_MAP:
        return put_map(out, f, name, get_path(stats, f->path));
    case FROM_HISTOGRAM:
        return put_histogram(out, f, name, get_path(stats, f->path));
    case FROM_NEIGHBOUR:
        return put_neighbours(out, f, name, stats);
    case FROM_VIEW:
    case FROM_SERVER:
        break;
    }
    return 0;
}

/* HELP's text, escaped: \\ and \n. */
static int put_help(struct dynbuf *out, const struct family *f)
{
    int rc = dynbuf_printf(out, "# HELP %s ", f->name);
    for (const char *p = f->help; *p != '\0' && rc == 0; p++) {
        if (*p == '\\')
            rc = dynbuf_add(out, "\\\\", 2);
        else if (*p == '\n')
            rc = dynbuf_add(out, "\\n", 2);
        else
            rc = dynbuf_addc(out, *p);
    }
    if (rc == 0)
        rc = dynbuf_printf(out, "\n# TYPE %s %s\n", f->name, f->type);
    return rc;
}

/* One family: its samples, and HELP and TYPE before them if there are
 * any. */
static int put_family(struct dynbuf *out, const struct family *f, json_t *view)
{
    struct dynbuf samples;
    dynbuf_init(&samples, out->max);
    int rc = 0;
    if (f->from == FROM_VIEW) {
        struct labels none = {NULL, NULL, NULL};
        rc = put_sample(&samples, f, "", &none, get_path(view, f->path));
    } else {
        size_t i;
        json_t *s;
        json_array_foreach(json_object_get(view, "servers"), i, s)
        {
            rc = put_server(&samples, f, s);
            if (rc != 0)
                break;
        }
    }
    if (rc == 0 && samples.len > 0)
        rc = put_help(out, f);
    if (rc == 0 && samples.len > 0)
        rc = dynbuf_add(out, samples.data, samples.len);
    dynbuf_free(&samples);
    return rc;
}

int metrics_render(json_t *view, struct dynbuf *out)
{
    int rc = 0;
    for (size_t i = 0; i < sizeof families / sizeof families[0] && rc == 0; i++)
        rc = put_family(out, &families[i], view);
    return rc == DYNBUF_ETOOBIG ? DYNBUF_ENOMEM : rc;
}
