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

/* Byte by byte, the definition. */
static size_t reference_escape(char *out, const unsigned char *p, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
            out[o++] = (char)p[i];
        else
            o += (size_t)sprintf(out + o, "\\x%02x", p[i]);
    }
    out[o] = '\0';
    return o;
}

/* Every byte value at every place of a 24-byte run of plain text (the
 * word-at-a-time scan sees it in each lane and in the tail). */
static void test_escape_every_byte(void)
{
    for (int v = 0; v < 256; v++) {
        for (size_t at = 0; at < 24; at++) {
            unsigned char in[24];
            for (size_t i = 0; i < sizeof in; i++)
                in[i] = (unsigned char)('A' + i);
            in[at] = (unsigned char)v;
            char want[128], got[128];
            size_t wn = reference_escape(want, in, sizeof in);
            size_t gn = log_escape(got, sizeof got, (const char *)in, sizeof in);
            if (gn != wn || strcmp(got, want) != 0)
                fprintf(stderr, "byte 0x%02x at %zu\n", v, at);
            CHECK_EQ_INT(gn, wn);
            CHECK_EQ_STR(got, want);
        }
    }
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
    {"escape_every_byte", test_escape_every_byte},
    {"lines", test_lines},
};

TEST_MAIN(tests)
