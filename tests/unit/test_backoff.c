/* The supervisor's restart policy. */
#include "backoff.h"
#include "test.h"

static struct backoff_policy policy(void)
{
    struct backoff_policy p;
    backoff_policy_default(&p);
    return p;
}

static void test_defaults(void)
{
    struct backoff_policy p = policy();
    CHECK_EQ_INT(p.first_ms, 100);
    CHECK_EQ_INT(p.max_ms, 5000);
    CHECK_EQ_INT(p.stable_ms, 10000);
    CHECK_EQ_INT(p.limit, 10);
    CHECK_EQ_INT(p.window_ms, 60000);
}

static void test_doubles_to_cap(void)
{
    struct backoff_policy p = policy();
    p.window_ms = 1; /* no crash loop in this test */
    struct backoff b;
    CHECK_EQ_INT(backoff_init(&b, &p), 0);
    static const uint64_t want[] = {100,  200,  400,  800, 1600,
                                    3200, 5000, 5000, 5000};
    uint64_t now = 1000000;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        uint64_t d = 0;
        now += 1000;
        CHECK_EQ_INT(backoff_on_exit(&b, &p, now, 50, 1, &d), BACKOFF_RESTART);
        CHECK_EQ_INT(d, want[i]);
    }
    backoff_free(&b);
}

static void test_stable_uptime_resets(void)
{
    struct backoff_policy p = policy();
    struct backoff b;
    CHECK_EQ_INT(backoff_init(&b, &p), 0);
    uint64_t d = 0;
    CHECK_EQ_INT(backoff_on_exit(&b, &p, 1000, 10, -1, &d), BACKOFF_RESTART);
    CHECK_EQ_INT(d, 100);
    CHECK_EQ_INT(backoff_on_exit(&b, &p, 2000, 10, -1, &d), BACKOFF_RESTART);
    CHECK_EQ_INT(d, 200);
    /* Ran 10 s: back to the first delay. */
    CHECK_EQ_INT(backoff_on_exit(&b, &p, 13000, 10000, -1, &d),
                 BACKOFF_RESTART);
    CHECK_EQ_INT(d, 100);
    /* Just short of stable: keeps growing. */
    CHECK_EQ_INT(backoff_on_exit(&b, &p, 23000, 9999, -1, &d), BACKOFF_RESTART);
    CHECK_EQ_INT(d, 200);
    backoff_free(&b);
}

static void test_crash_loop(void)
{
    struct backoff_policy p = policy();
    struct backoff b;
    CHECK_EQ_INT(backoff_init(&b, &p), 0);
    uint64_t d = 0;
    uint64_t now = 500000;
    for (int i = 0; i < 10; i++)
        CHECK_EQ_INT(backoff_on_exit(&b, &p, now + (uint64_t)i * 100, 5, 1, &d),
                     BACKOFF_RESTART);
    /* The 11th exit within 60 s gives up. */
    CHECK_EQ_INT(backoff_on_exit(&b, &p, now + 1100, 5, 1, &d),
                 BACKOFF_CRASH_LOOP);
    backoff_free(&b);
}

static void test_window_slides(void)
{
    struct backoff_policy p = policy();
    p.limit = 3;
    p.window_ms = 1000;
    struct backoff b;
    CHECK_EQ_INT(backoff_init(&b, &p), 0);
    uint64_t d = 0;
    CHECK_EQ_INT(backoff_on_exit(&b, &p, 10000, 1, 1, &d), BACKOFF_RESTART);
    CHECK_EQ_INT(backoff_on_exit(&b, &p, 10100, 1, 1, &d), BACKOFF_RESTART);
    CHECK_EQ_INT(backoff_on_exit(&b, &p, 10200, 1, 1, &d), BACKOFF_RESTART);
    CHECK_EQ_INT(backoff_on_exit(&b, &p, 10300, 1, 1, &d), BACKOFF_CRASH_LOOP);
    /* Restarts older than the window no longer count. */
    CHECK_EQ_INT(backoff_on_exit(&b, &p, 11050, 1, 1, &d), BACKOFF_RESTART);
    backoff_free(&b);
}

static void test_permanent_codes(void)
{
    struct backoff_policy p = policy();
    struct backoff b;
    CHECK_EQ_INT(backoff_init(&b, &p), 0);
    uint64_t d = 0;
    CHECK_EQ_INT(backoff_on_exit(&b, &p, 1, 1, 64, &d), BACKOFF_PERMANENT);
    CHECK_EQ_INT(backoff_on_exit(&b, &p, 1, 1, 78, &d), BACKOFF_PERMANENT);
    CHECK_EQ_INT(backoff_on_exit(&b, &p, 1, 1, 0, &d), BACKOFF_RESTART);
    CHECK_EQ_INT(backoff_on_exit(&b, &p, 1, 1, 70, &d), BACKOFF_RESTART);
    CHECK(backoff_permanent_code(64));
    CHECK(!backoff_permanent_code(1));
    backoff_free(&b);
}

static void test_reset_forgets(void)
{
    struct backoff_policy p = policy();
    p.limit = 2;
    struct backoff b;
    CHECK_EQ_INT(backoff_init(&b, &p), 0);
    uint64_t d = 0;
    CHECK_EQ_INT(backoff_on_exit(&b, &p, 100, 1, 1, &d), BACKOFF_RESTART);
    CHECK_EQ_INT(backoff_on_exit(&b, &p, 200, 1, 1, &d), BACKOFF_RESTART);
    CHECK_EQ_INT(backoff_on_exit(&b, &p, 300, 1, 1, &d), BACKOFF_CRASH_LOOP);
    backoff_reset(&b, &p);
    CHECK_EQ_INT(backoff_on_exit(&b, &p, 400, 1, 1, &d), BACKOFF_RESTART);
    CHECK_EQ_INT(d, 100);
    backoff_free(&b);
}

static void test_double(void)
{
    CHECK_EQ_INT(backoff_double(50, 1000), 100);
    CHECK_EQ_INT(backoff_double(500, 1000), 1000);
    CHECK_EQ_INT(backoff_double(600, 1000), 1000);
    CHECK_EQ_INT(backoff_double(1000, 1000), 1000);
    CHECK_EQ_INT(backoff_double(UINT64_MAX / 2 + 1, UINT64_MAX), UINT64_MAX);
}

static const struct test tests[] = {
    {"double", test_double},
    {"defaults", test_defaults},
    {"doubles_to_cap", test_doubles_to_cap},
    {"stable_uptime_resets", test_stable_uptime_resets},
    {"crash_loop", test_crash_loop},
    {"window_slides", test_window_slides},
    {"permanent_codes", test_permanent_codes},
    {"reset_forgets", test_reset_forgets},
};

TEST_MAIN(tests)
