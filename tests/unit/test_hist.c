/* The status's latency histogram: buckets, sums and its JSON. */
#include <jansson.h>

#include "hist.h"
#include "test.h"

static void test_bounds(void)
{
    static const uint64_t want[HIST_BOUNDS] = {
        100,   250,    500,    1000,   2500,    5000,    10000,  25000,
        50000, 100000, 250000, 500000, 1000000, 2500000, 5000000};
    for (size_t i = 0; i < HIST_BOUNDS; i++)
        CHECK_EQ_INT(hist_bounds_us[i], want[i]);
}

static void test_bucket_edges(void)
{
    /* A bound belongs to its own bucket; one past it to the next. */
    CHECK_EQ_INT(hist_bucket(0), 0);
    CHECK_EQ_INT(hist_bucket(100), 0);
    CHECK_EQ_INT(hist_bucket(101), 1);
    CHECK_EQ_INT(hist_bucket(250), 1);
    CHECK_EQ_INT(hist_bucket(251), 2);
    for (size_t i = 0; i < HIST_BOUNDS; i++) {
        CHECK_EQ_INT(hist_bucket(hist_bounds_us[i]), i);
        CHECK_EQ_INT(hist_bucket(hist_bounds_us[i] + 1), i + 1);
        if (i > 0)
            CHECK_EQ_INT(hist_bucket(hist_bounds_us[i - 1] + 1), i);
    }
    CHECK_EQ_INT(hist_bucket(5000000), HIST_BOUNDS - 1);
    CHECK_EQ_INT(hist_bucket(5000001), HIST_BOUNDS);
    CHECK_EQ_INT(hist_bucket(UINT64_MAX), HIST_BOUNDS);
}

static void test_add(void)
{
    struct hist h = {{0}, 0, 0};
    hist_add(&h, 50);
    hist_add(&h, 100);
    hist_add(&h, 700);
    hist_add(&h, 9000000);
    CHECK_EQ_INT(h.count, 4);
    CHECK_EQ_INT(h.sum_us, 50 + 100 + 700 + 9000000);
    CHECK_EQ_INT(h.counts[0], 2);
    CHECK_EQ_INT(h.counts[3], 1); /* (500, 1000] */
    CHECK_EQ_INT(h.counts[HIST_BOUNDS], 1);
    uint64_t total = 0;
    for (size_t i = 0; i < HIST_BUCKETS; i++)
        total += h.counts[i];
    CHECK_EQ_INT(total, h.count);
}

static void test_add_ns(void)
{
    struct hist h = {{0}, 0, 0};
    hist_add_ns(&h, 1000000, 1250999); /* 250.999 us: whole us, 250 */
    CHECK_EQ_INT(h.sum_us, 250);
    CHECK_EQ_INT(h.counts[1], 1);
    hist_add_ns(&h, 2000, 1000); /* a clock that went back: 0 */
    CHECK_EQ_INT(h.sum_us, 250);
    CHECK_EQ_INT(h.counts[0], 1);
    CHECK_EQ_INT(h.count, 2);
}

static void test_json(void)
{
    struct hist h = {{0}, 0, 0};
    hist_add(&h, 300);
    hist_add(&h, 6000000);
    json_t *j = hist_json(&h);
    CHECK(j != NULL);
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    CHECK(s != NULL);
    CHECK_EQ_STR(s, "{\"bounds_us\":[100,250,500,1000,2500,5000,10000,25000,"
                    "50000,100000,250000,500000,1000000,2500000,5000000],"
                    "\"counts\":[0,0,1,0,0,0,0,0,0,0,0,0,0,0,0,1],"
                    "\"sum_us\":6000300,\"count\":2}");
    free(s);
    json_decref(j);
}

static const struct test tests[] = {
    {"bounds", test_bounds}, {"bucket_edges", test_bucket_edges},
    {"add", test_add},       {"add_ns", test_add_ns},
    {"json", test_json},
};

TEST_MAIN(tests)
