/* The supervisor's view (supervisor/view.h): not written yet. */
#include "view.h"
#include "test.h"

static void test_pending(void)
{
    CHECK(0);
}

static const struct test tests[] = {
    {"pending", test_pending},
};

TEST_MAIN(tests)
