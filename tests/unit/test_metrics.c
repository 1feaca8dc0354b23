/* The supervisor's metrics (supervisor/metrics.h): not written yet. */
#include "metrics.h"
#include "test.h"

static void test_pending(void)
{
    CHECK(0);
}

static const struct test tests[] = {
    {"pending", test_pending},
};

TEST_MAIN(tests)
