#include "hist.h"

const uint64_t hist_bounds_us[HIST_BOUNDS] = {
    100,   250,    500,    1000,   2500,    5000,    10000,  25000,
    50000, 100000, 250000, 500000, 1000000, 2500000, 5000000};

size_t hist_bucket(uint64_t us)
{
    /* Halving the 15 bounds: four comparisons at most. */
    size_t lo = 0;
    size_t hi = HIST_BOUNDS;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (us <= hist_bounds_us[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

void hist_add(struct hist *h, uint64_t us)
{
    h->counts[hist_bucket(us)]++;
    h->sum_us += us;
    h->count++;
}

void hist_add_ns(struct hist *h, uint64_t start_ns, uint64_t now_ns)
{
    hist_add(h, now_ns > start_ns ? (now_ns - start_ns) / 1000 : 0);
}

json_t *hist_json(const struct hist *h)
{
    json_t *bounds = json_array();
    json_t *counts = json_array();
    for (size_t i = 0; bounds != NULL && i < HIST_BOUNDS; i++)
        json_array_append_new(bounds,
                              json_integer((json_int_t)hist_bounds_us[i]));
    for (size_t i = 0; counts != NULL && i < HIST_BUCKETS; i++)
        json_array_append_new(counts, json_integer((json_int_t)h->counts[i]));
    if (bounds == NULL || counts == NULL ||
        json_array_size(bounds) != HIST_BOUNDS ||
        json_array_size(counts) != HIST_BUCKETS) {
        json_decref(bounds);
        json_decref(counts);
        return NULL;
    }
    return json_pack("{s:o, s:o, s:I, s:I}", "bounds_us", bounds, "counts",
                     counts, "sum_us", (json_int_t)h->sum_us, "count",
                     (json_int_t)h->count);
}
