/* Unit tests for common/log: escaping, and the exact lines that
 * log_conn_data and log_msg write. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "test.h"

static void test_escape(void)
{
    char out[64];
    CHECK_EQ_INT(log_escape(out, sizeof out, "IAMAT a +1+1 2", 14), 14);
    CHECK_EQ_STR(out, "IAMAT a +1+1 2");
    CHECK_EQ_INT(log_escape(out, sizeof out, "a\\b\n\0\xff", 6), 18);
    CHECK_EQ_STR(out, "a\\x5cb\\x0a\\x00\\xff");
    /* Cut at the capacity, never inside an escape. */
    CHECK_EQ_INT(log_escape(out, 5, "abcdefgh", 8), 4);
    CHECK_EQ_STR(out, "abcd");
    CHECK_EQ_INT(log_escape(out, 6, "ab\x01zz", 5), 2);
    CHECK_EQ_STR(out, "ab");
    CHECK_EQ_INT(log_escape(out, 7, "ab\x01zz", 5), 6);
    CHECK_EQ_STR(out, "ab\\x01");
    CHECK_EQ_INT(log_escape(out, 1, "abc", 3), 0);
    CHECK_EQ_STR(out, "");
}

/* Reads the file into buf (NUL terminated). */
static size_t slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return n;
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ " */
static void check_stamp(const char *p)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ ";
    for (size_t i = 0; i < sizeof shape - 1; i++) {
        if (shape[i] == 'd')
            CHECK(p[i] >= '0' && p[i] <= '9');
        else
            CHECK(p[i] == shape[i]);
    }
}

static void test_lines(void)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/herd-log-test-%d", (int)getpid());
    unlink(path);
    CHECK_EQ_INT(log_open(path), 0);
    log_conn_data(0, "<", "x", 1);
    log_conn_data(18446744073709551615UL, ">", "AT \x7f", 4);
    log_msg("stopping (%s)", "SIGTERM");
    log_data("conn 7 invalid (bad time): ", "IAMAT", 5);
    log_close();
    char buf[1024];
    slurp(path, buf, sizeof buf);
    unlink(path);
    const char *want[] = {
        "conn 0 < x",
        "conn 18446744073709551615 > AT \\x7f",
        "stopping (SIGTERM)",
        "conn 7 invalid (bad time): IAMAT",
    };
    char *p = buf;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char *nl = strchr(p, '\n');
        CHECK(nl != NULL);
        *nl = '\0';
        CHECK(strlen(p) > 25);
        check_stamp(p);
        CHECK_EQ_STR(p + 25, want[i]);
        p = nl + 1;
    }
    CHECK_EQ_STR(p, "");
}

static const struct test tests[] = {
    {"escape", test_escape},
    {"lines", test_lines},
};

TEST_MAIN(tests)
