/* hist: a latency histogram with fixed buckets, for the status of a
 * server (ctl.h).
 *
 * The bounds are the same for every histogram, in microseconds:
 * HIST_BOUNDS of them, from 100 us to 5 s. Bucket i counts the values at
 * most hist_bounds_us[i] and above the bound before it (so the buckets are
 * not cumulative); the last bucket, HIST_BOUNDS, counts the values above
 * the last bound. Adding a value is a few comparisons and three
 * increments: no allocation, no lock, no system call.
 */
#ifndef HERD_HIST_H
#define HERD_HIST_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define HIST_BOUNDS  15
#define HIST_BUCKETS (HIST_BOUNDS + 1)

extern const uint64_t hist_bounds_us[HIST_BOUNDS];

struct hist {
    uint64_t counts[HIST_BUCKETS];
    uint64_t sum_us;
    uint64_t count;
};

/* The bucket of a value of us microseconds. */
size_t hist_bucket(uint64_t us);
/* Counts one value of us microseconds. */
void hist_add(struct hist *h, uint64_t us);
/* Counts the time from start_ns to now_ns (uv_hrtime() values; a clock
 * that went backwards counts as 0). */
void hist_add_ns(struct hist *h, uint64_t start_ns, uint64_t now_ns);
/* {"bounds_us":[...],"counts":[...],"sum_us":N,"count":N}, or NULL when
 * memory runs out. */
json_t *hist_json(const struct hist *h);

#endif
