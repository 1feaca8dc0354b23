/* Unit tests for server/proto: parsing every command and the formatters. */
#include <stdint.h>
#include <string.h>

#include "proto.h"
#include "test.h"

#define S(lit) lit, sizeof(lit) - 1

static void check_slice(struct strparse_slice s, const char *want, size_t len)
{
    CHECK(s.p != NULL);
    test_eq_mem_(__FILE__, __LINE__, "slice", s.p, s.len, want, len);
}

static int parse(const char *line, struct proto_command *cmd)
{
    return proto_parse(line, strlen(line), cmd);
}

/* ---- status of whole lines -------------------------------------------- */

static const struct {
    const char *line;
    size_t len;
    int rc;
} status_cases[] = {
    /* valid */
    {S("IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503"),
     PROTO_OK},
    {S("WHATSAT kiwi.cs.ucla.edu 10 5"), PROTO_OK},
    {S("AT Alford +0.263873386 kiwi.cs.ucla.edu +34.068930-118.445127 "
       "1621464827.959498503"),
     PROTO_OK},
    /* blank */
    {S(""), PROTO_EBLANK},
    {S(" "), PROTO_EBLANK},
    {S(" \t\r\f\v "), PROTO_EBLANK},
    /* unknown command, case matters */
    {S("iamat kiwi +1+1 1"), PROTO_EUNKNOWN},
    {S("Iamat kiwi +1+1 1"), PROTO_EUNKNOWN},
    {S("whatsat kiwi 10 5"), PROTO_EUNKNOWN},
    {S("at Alford +0.000000000 kiwi +1+1 1"), PROTO_EUNKNOWN},
    {S("HELLO"), PROTO_EUNKNOWN},
    {S("IAMATX kiwi +1+1 1"), PROTO_EUNKNOWN},
    {S("IAMA kiwi +1+1 1"), PROTO_EUNKNOWN},
    {S("? IAMAT kiwi +1+1 1"), PROTO_EUNKNOWN},
    {S("IAMAT\0 kiwi +1+1 1"), PROTO_EUNKNOWN},
    {S("IAMAT\0kiwi +1+1 1"), PROTO_EUNKNOWN},
    {S("\0IAMAT kiwi +1+1 1"), PROTO_EUNKNOWN},
    {S("\nIAMAT kiwi +1+1 1"), PROTO_EUNKNOWN},
    /* arity */
    {S("IAMAT"), PROTO_EARITY},
    {S("IAMAT kiwi"), PROTO_EARITY},
    {S("IAMAT kiwi +1+1"), PROTO_EARITY},
    {S("IAMAT kiwi +1+1 1 extra"), PROTO_EARITY},
    {S("IAMAT kiwi +1+1 1 a b c d e f g"), PROTO_EARITY},
    {S("WHATSAT"), PROTO_EARITY},
    {S("WHATSAT kiwi 10"), PROTO_EARITY},
    {S("WHATSAT kiwi 10 5 extra"), PROTO_EARITY},
    {S("AT"), PROTO_EARITY},
    {S("AT Alford +0.000000000 kiwi +1+1"), PROTO_EARITY},
    {S("AT Alford +0.000000000 kiwi +1+1 1 extra"), PROTO_EARITY},
    /* arity is judged before the fields */
    {S("IAMAT kiwi 34-118"), PROTO_EARITY},
    {S("WHATSAT kiwi 99 99 99"), PROTO_EARITY},
    /* IAMAT location */
    {S("IAMAT kiwi 34.068930-118.445127 1"), PROTO_ELOCATION},
    {S("IAMAT kiwi +34.068930 1"), PROTO_ELOCATION},
    {S("IAMAT kiwi +1+2+3 1"), PROTO_ELOCATION},
    {S("IAMAT kiwi +1e1-1e1 1"), PROTO_ELOCATION},
    {S("IAMAT kiwi +nan-nan 1"), PROTO_ELOCATION},
    {S("IAMAT kiwi +inf-inf 1"), PROTO_ELOCATION},
    {S("IAMAT kiwi +90.0000001+0 1"), PROTO_ELOCATION},
    {S("IAMAT kiwi +0+180.0000001 1"), PROTO_ELOCATION},
    {S("IAMAT kiwi +91+0 1"), PROTO_ELOCATION},
    {S("IAMAT kiwi +1\0-1 1"), PROTO_ELOCATION},
    {S("IAMAT kiwi +1-1\0 1"), PROTO_ELOCATION},
    /* IAMAT time */
    {S("IAMAT kiwi +1+1 -1"), PROTO_ETIME},
    {S("IAMAT kiwi +1+1 +1"), PROTO_ETIME},
    {S("IAMAT kiwi +1+1 1e9"), PROTO_ETIME},
    {S("IAMAT kiwi +1+1 123."), PROTO_ETIME},
    {S("IAMAT kiwi +1+1 .5"), PROTO_ETIME},
    {S("IAMAT kiwi +1+1 nan"), PROTO_ETIME},
    {S("IAMAT kiwi +1+1 18446744073709551616"), PROTO_ETIME},
    {S("IAMAT kiwi +1+1 1\0"), PROTO_ETIME},
    {S("IAMAT kiwi +1+1 18446744073709551615.999999999999"), PROTO_OK},
    /* WHATSAT radius */
    {S("WHATSAT kiwi 0 5"), PROTO_OK},
    {S("WHATSAT kiwi 50 5"), PROTO_OK},
    {S("WHATSAT kiwi 50.0 5"), PROTO_OK},
    {S("WHATSAT kiwi 50.000000000000 5"), PROTO_OK},
    {S("WHATSAT kiwi 49.9999999999 5"), PROTO_OK},
    {S("WHATSAT kiwi 050 5"), PROTO_OK},
    {S("WHATSAT kiwi 50.000001 5"), PROTO_ERADIUS},
    {S("WHATSAT kiwi 50.0000001 5"), PROTO_ERADIUS},
    {S("WHATSAT kiwi 50.000000000001 5"), PROTO_ERADIUS},
    {S("WHATSAT kiwi 51 5"), PROTO_ERADIUS},
    {S("WHATSAT kiwi 100 5"), PROTO_ERADIUS},
    {S("WHATSAT kiwi 99999999999999999999999 5"), PROTO_ERADIUS},
    {S("WHATSAT kiwi -1 5"), PROTO_ERADIUS},
    {S("WHATSAT kiwi -0 5"), PROTO_ERADIUS},
    {S("WHATSAT kiwi +10 5"), PROTO_ERADIUS},
    {S("WHATSAT kiwi 1e1 5"), PROTO_ERADIUS},
    {S("WHATSAT kiwi 10. 5"), PROTO_ERADIUS},
    {S("WHATSAT kiwi .5 5"), PROTO_ERADIUS},
    {S("WHATSAT kiwi nan 5"), PROTO_ERADIUS},
    {S("WHATSAT kiwi inf 5"), PROTO_ERADIUS},
    {S("WHATSAT kiwi 0x10 5"), PROTO_ERADIUS},
    {S("WHATSAT kiwi 10km 5"), PROTO_ERADIUS},
    {S("WHATSAT kiwi 1\0 5"), PROTO_ERADIUS},
    /* WHATSAT bound */
    {S("WHATSAT kiwi 10 0"), PROTO_OK},
    {S("WHATSAT kiwi 10 20"), PROTO_OK},
    {S("WHATSAT kiwi 10 020"), PROTO_OK},
    {S("WHATSAT kiwi 10 21"), PROTO_EBOUND},
    {S("WHATSAT kiwi 10 5.0"), PROTO_EBOUND},
    {S("WHATSAT kiwi 10 -1"), PROTO_EBOUND},
    {S("WHATSAT kiwi 10 +5"), PROTO_EBOUND},
    {S("WHATSAT kiwi 10 1e1"), PROTO_EBOUND},
    {S("WHATSAT kiwi 10 five"), PROTO_EBOUND},
    {S("WHATSAT kiwi 10 18446744073709551621"), PROTO_EBOUND},
    {S("WHATSAT kiwi 10 5\0"), PROTO_EBOUND},
    /* AT server name */
    {S("AT Al/ford +0.000000000 kiwi +1+1 1"), PROTO_ESERVER},
    {S("AT Alford! +0.000000000 kiwi +1+1 1"), PROTO_ESERVER},
    {S("AT Al\0ford +0.000000000 kiwi +1+1 1"), PROTO_ESERVER},
    {S("AT \xc3\xa9 +0.000000000 kiwi +1+1 1"), PROTO_ESERVER},
    {S("AT "
       "a123456789b123456789c123456789d123456789e123456789f123456789abcd "
       "+0.000000000 kiwi +1+1 1"),
     PROTO_ESERVER},
    {S("AT "
       "a123456789b123456789c123456789d123456789e123456789f123456789abc "
       "+0.000000000 kiwi +1+1 1"),
     PROTO_OK},
    {S("AT host-1.example_2 +0.000000000 kiwi +1+1 1"), PROTO_OK},
    /* AT time difference */
    {S("AT Alford +0.263873386 kiwi +1+1 1"), PROTO_OK},
    {S("AT Alford -0.263873386 kiwi +1+1 1"), PROTO_OK},
    {S("AT Alford +1621464827.959498503 kiwi +1+1 1"), PROTO_OK},
    {S("AT Alford -18446744072088086788.499999999 kiwi +1+1 1"), PROTO_OK},
    {S("AT Alford +18446744073709551615.000000000 kiwi +1+1 1"), PROTO_OK},
    {S("AT Alford +18446744073709551616.000000000 kiwi +1+1 1"), PROTO_EDIFF},
    {S("AT Alford +99999999999999999999.000000000 kiwi +1+1 1"), PROTO_EDIFF},
    {S("AT Alford +1.2345678.9 kiwi +1+1 1"), PROTO_EDIFF},
    {S("AT Alford +0.26387338 kiwi +1+1 1"), PROTO_EDIFF},
    {S("AT Alford +0.2638733860 kiwi +1+1 1"), PROTO_EDIFF},
    {S("AT Alford 0.263873386 kiwi +1+1 1"), PROTO_EDIFF},
    {S("AT Alford 00.263873386 kiwi +1+1 1"), PROTO_EDIFF},
    {S("AT Alford +.263873386 kiwi +1+1 1"), PROTO_EDIFF},
    {S("AT Alford +0263873386 kiwi +1+1 1"), PROTO_EDIFF},
    {S("AT Alford +0.26387338a kiwi +1+1 1"), PROTO_EDIFF},
    {S("AT Alford ++0.263873386 kiwi +1+1 1"), PROTO_EDIFF},
    {S("AT Alford +0,263873386 kiwi +1+1 1"), PROTO_EDIFF},
    {S("AT Alford +1.000000000.1 kiwi +1+1 1"), PROTO_EDIFF},
    {S("AT Alford +1e1.000000000 kiwi +1+1 1"), PROTO_EDIFF},
    {S("AT Alford +0.26387338\0 kiwi +1+1 1"), PROTO_EDIFF},
    /* AT client fields */
    {S("AT Alford +0.263873386 kiwi 34-118 1"), PROTO_ELOCATION},
    {S("AT Alford +0.263873386 kiwi +1+1 1."), PROTO_ETIME},
};

static void test_status_table(void)
{
    for (size_t i = 0; i < sizeof status_cases / sizeof status_cases[0]; i++) {
        struct proto_command cmd;
        int rc = proto_parse(status_cases[i].line, status_cases[i].len, &cmd);
        if (rc != status_cases[i].rc)
            fprintf(stderr, "case %zu: %.*s\n", i, (int)status_cases[i].len,
                    status_cases[i].line);
        CHECK_EQ_INT(rc, status_cases[i].rc);
    }
}

static void test_iamat_fields(void)
{
    static const char line[] =
        "IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503";
    struct proto_command cmd;
    CHECK_EQ_INT(parse(line, &cmd), PROTO_OK);
    CHECK_EQ_INT(cmd.kind, PROTO_IAMAT);
    check_slice(cmd.client, S("kiwi.cs.ucla.edu"));
    check_slice(cmd.location, S("+34.068930-118.445127"));
    check_slice(cmd.time, S("1621464827.959498503"));
    /* Slices point into the line itself. */
    CHECK(cmd.client.p == line + 6);
    CHECK(cmd.location.p == line + 23);
    CHECK(cmd.time.p == line + 45);
    CHECK(cmd.sec == 1621464827u);
    CHECK_EQ_INT(cmd.nsec, 959498503);
}

static void test_whatsat_fields(void)
{
    struct proto_command cmd;
    CHECK_EQ_INT(parse("WHATSAT kiwi.cs.ucla.edu 10 5", &cmd), PROTO_OK);
    CHECK_EQ_INT(cmd.kind, PROTO_WHATSAT);
    check_slice(cmd.client, S("kiwi.cs.ucla.edu"));
    CHECK(cmd.radius_mm == 10000000u);
    CHECK_EQ_INT(cmd.bound, 5);
    CHECK_EQ_INT(parse("WHATSAT x 10 020", &cmd), PROTO_OK);
    CHECK_EQ_INT(cmd.bound, 20);
}

static const struct {
    const char *radius;
    uint64_t mm;
} radius_cases[] = {
    {"0", 0},
    {"0.0", 0},
    {"0.5", 500000},
    {"1.2345", 1234500},
    {"10", 10000000},
    {"10.5", 10500000},
    {"50", 50000000},
    {"50.0", 50000000},
    {"0.000001", 1},
    {"0.0000019", 1},
    {"49.9999999999", 49999999},
    {"12.345678", 12345678},
};

static void test_radius_mm_exact(void)
{
    for (size_t i = 0; i < sizeof radius_cases / sizeof radius_cases[0]; i++) {
        char line[64];
        snprintf(line, sizeof line, "WHATSAT c %s 1", radius_cases[i].radius);
        struct proto_command cmd;
        CHECK_EQ_INT(parse(line, &cmd), PROTO_OK);
        if (cmd.radius_mm != radius_cases[i].mm)
            fprintf(stderr, "radius %s\n", radius_cases[i].radius);
        CHECK(cmd.radius_mm == radius_cases[i].mm);
    }
}

static void test_at_fields(void)
{
    static const char line[] =
        "AT Alford +0.263873386 kiwi.cs.ucla.edu +34.068930-118.445127 "
        "1621464827.959498503";
    struct proto_command cmd;
    CHECK_EQ_INT(parse(line, &cmd), PROTO_OK);
    CHECK_EQ_INT(cmd.kind, PROTO_AT);
    check_slice(cmd.server, S("Alford"));
    check_slice(cmd.diff, S("+0.263873386"));
    check_slice(cmd.client, S("kiwi.cs.ucla.edu"));
    check_slice(cmd.location, S("+34.068930-118.445127"));
    check_slice(cmd.time, S("1621464827.959498503"));
    CHECK(cmd.sec == 1621464827u);
    CHECK_EQ_INT(cmd.nsec, 959498503);
}

static void test_whitespace_kinds(void)
{
    static const char *const lines[] = {
        "IAMAT\tkiwi\r+1-2\f3.5",
        "IAMAT\vkiwi\v+1-2\v3.5",
        "  IAMAT  kiwi \t +1-2 \r\f\v 3.5  ",
        "\t\r\f\vIAMAT kiwi +1-2 3.5\t\r\f\v",
        "IAMAT \t\t\t kiwi\r\r\r+1-2\f\f\f3.5\r",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        struct proto_command cmd;
        CHECK_EQ_INT(parse(lines[i], &cmd), PROTO_OK);
        CHECK_EQ_INT(cmd.kind, PROTO_IAMAT);
        check_slice(cmd.client, S("kiwi"));
        check_slice(cmd.location, S("+1-2"));
        check_slice(cmd.time, S("3.5"));
    }
    struct proto_command cmd;
    CHECK_EQ_INT(parse("\tWHATSAT\fkiwi\v10\r5\t", &cmd), PROTO_OK);
    check_slice(cmd.client, S("kiwi"));
    CHECK(cmd.radius_mm == 10000000u);
    CHECK_EQ_INT(cmd.bound, 5);
    CHECK_EQ_INT(parse("AT\tAlford\v+0.000000001\fkiwi\r+1-2  3.5", &cmd),
                 PROTO_OK);
    check_slice(cmd.server, S("Alford"));
    check_slice(cmd.diff, S("+0.000000001"));
    check_slice(cmd.time, S("3.5"));
}

static void test_is_space(void)
{
    CHECK(strparse_is_space(' '));
    CHECK(strparse_is_space('\t'));
    CHECK(strparse_is_space('\r'));
    CHECK(strparse_is_space('\f'));
    CHECK(strparse_is_space('\v'));
    CHECK(!strparse_is_space('\0'));
    CHECK(!strparse_is_space('a'));
    CHECK(!strparse_is_space('+'));
    CHECK(!strparse_is_space((char)0xa0));
    CHECK(!strparse_is_space((char)0x85));
}

static void test_client_id_bytes(void)
{
    /* Any non-whitespace bytes, NUL and non-UTF-8 included. */
    static const char line[] = "IAMAT k\0i\xff\xfe\x01w\x7f\xc3\xa9 +1-1 1";
    struct proto_command cmd;
    CHECK_EQ_INT(proto_parse(line, sizeof line - 1, &cmd), PROTO_OK);
    check_slice(cmd.client, S("k\0i\xff\xfe\x01w\x7f\xc3\xa9"));
    CHECK_EQ_INT(proto_parse(S("WHATSAT \0 10 5"), &cmd), PROTO_OK);
    check_slice(cmd.client, S("\0"));
    CHECK_EQ_INT(proto_parse(S("AT A +0.000000000 \xff\xff +1-1 1"), &cmd),
                 PROTO_OK);
    check_slice(cmd.client, S("\xff\xff"));
}

static void test_parse_stops_at_len(void)
{
    /* Bytes past len are not part of the line. */
    static const char line[] = "WHATSAT kiwi 10 5 extra fields here";
    struct proto_command cmd;
    CHECK_EQ_INT(proto_parse(line, 17, &cmd), PROTO_OK);
    CHECK_EQ_INT(cmd.bound, 5);
    CHECK_EQ_INT(proto_parse(line, 16, &cmd), PROTO_EARITY);
}

/* ---- proto_format_diff ------------------------------------------------ */

static const struct {
    uint64_t now_sec;
    uint32_t now_nsec;
    uint64_t sec;
    uint32_t nsec;
    const char *want;
} diff_cases[] = {
    {100, 500000000, 99, 250000000, "+1.250000000"},
    {1621464828, 223371889, 1621464827, 959498503, "+0.263873386"},
    {100, 0, 100, 0, "+0.000000000"},
    {100, 123, 100, 123, "+0.000000000"},
    {0, 0, 0, 0, "+0.000000000"},
    {100, 0, 100, 1, "-0.000000001"},
    {100, 1, 100, 0, "+0.000000001"},
    /* borrow */
    {101, 100000000, 100, 900000000, "+0.200000000"},
    {100, 900000000, 101, 100000000, "-0.200000000"},
    {200, 0, 100, 999999999, "+99.000000001"},
    {100, 999999999, 200, 0, "-99.000000001"},
    /* skew */
    {100, 0, 105, 0, "-5.000000000"},
    {100, 250000000, 105, 500000000, "-5.250000000"},
    /* extremes: no overflow whatever the client sent */
    {1621464827, 500000000, UINT64_MAX, 999999999,
     "-18446744072088086788.499999999"},
    {1621464827, 0, UINT64_MAX, 0, "-18446744072088086788.000000000"},
    {0, 0, UINT64_MAX, 999999999, "-18446744073709551615.999999999"},
    {UINT64_MAX, 999999999, 0, 0, "+18446744073709551615.999999999"},
    {UINT64_MAX, 0, 0, 999999999, "+18446744073709551614.000000001"},
    {UINT64_MAX, 0, UINT64_MAX, 0, "+0.000000000"},
};

static void test_format_diff(void)
{
    for (size_t i = 0; i < sizeof diff_cases / sizeof diff_cases[0]; i++) {
        char out[32];
        memset(out, 'X', sizeof out);
        size_t n = proto_format_diff(out, diff_cases[i].now_sec,
                                     diff_cases[i].now_nsec, diff_cases[i].sec,
                                     diff_cases[i].nsec);
        CHECK_EQ_STR(out, diff_cases[i].want);
        CHECK_EQ_INT(n, strlen(diff_cases[i].want));
    }
}

static void test_format_diff_parses_back(void)
{
    /* Every difference the formatter writes is one AT accepts. */
    for (size_t i = 0; i < sizeof diff_cases / sizeof diff_cases[0]; i++) {
        char diff[32];
        size_t dn = proto_format_diff(diff, diff_cases[i].now_sec,
                                      diff_cases[i].now_nsec, diff_cases[i].sec,
                                      diff_cases[i].nsec);
        char line[128];
        int n = snprintf(line, sizeof line, "AT Alford %s kiwi +1-1 1", diff);
        struct proto_command cmd;
        CHECK_EQ_INT(proto_parse(line, (size_t)n, &cmd), PROTO_OK);
        check_slice(cmd.diff, diff, dn);
    }
}

/* ---- proto_format_at -------------------------------------------------- */

static void test_format_at_round_trip(void)
{
    static const char iamat[] = "  IAMAT\tkiwi.cs.ucla.edu   "
                                "+34.068930-118.445127 \v 1621464827.959498503"
                                "\r";
    struct proto_command c;
    CHECK_EQ_INT(parse(iamat, &c), PROTO_OK);
    struct strparse_slice server = {"Alford", 6};
    struct strparse_slice diff = {"+0.263873386", 12};
    char buf[256];
    size_t n = proto_format_at(buf, sizeof buf, server, diff, &c);
    static const char want[] =
        "AT Alford +0.263873386 kiwi.cs.ucla.edu +34.068930-118.445127 "
        "1621464827.959498503";
    CHECK_EQ_INT(n, sizeof want - 1);
    CHECK_EQ_MEM(buf, want, n);

    struct proto_command at;
    CHECK_EQ_INT(proto_parse(buf, n, &at), PROTO_OK);
    CHECK_EQ_INT(at.kind, PROTO_AT);
    check_slice(at.server, S("Alford"));
    check_slice(at.diff, S("+0.263873386"));
    check_slice(at.client, c.client.p, c.client.len);
    check_slice(at.location, c.location.p, c.location.len);
    check_slice(at.time, c.time.p, c.time.len);
    CHECK(at.sec == c.sec);
    CHECK_EQ_INT(at.nsec, c.nsec);

    /* Formatting the parsed AT again gives the same bytes (a relay). */
    char again[256];
    size_t m = proto_format_at(again, sizeof again, at.server, at.diff, &at);
    CHECK_EQ_INT(m, n);
    CHECK_EQ_MEM(again, buf, n);
}

static void test_format_at_binary_client(void)
{
    static const char iamat[] = "IAMAT a\0\xff +0-0 0";
    struct proto_command c;
    CHECK_EQ_INT(proto_parse(iamat, sizeof iamat - 1, &c), PROTO_OK);
    struct strparse_slice server = {"B", 1};
    struct strparse_slice diff = {"-0.000000001", 12};
    char buf[64];
    size_t n = proto_format_at(buf, sizeof buf, server, diff, &c);
    CHECK_EQ_INT(n, sizeof "AT B -0.000000001 a\0\xff +0-0 0" - 1);
    CHECK_EQ_MEM(buf, "AT B -0.000000001 a\0\xff +0-0 0", n);
    struct proto_command at;
    CHECK_EQ_INT(proto_parse(buf, n, &at), PROTO_OK);
    check_slice(at.client, S("a\0\xff"));
}

static void test_format_at_capacity(void)
{
    struct proto_command c;
    CHECK_EQ_INT(parse("IAMAT kiwi +1-1 1", &c), PROTO_OK);
    struct strparse_slice server = {"A", 1};
    struct strparse_slice diff = {"+0.000000000", 12};
    static const char want[] = "AT A +0.000000000 kiwi +1-1 1";
    const size_t len = sizeof want - 1;
    char buf[64];
    CHECK_EQ_INT(proto_format_at(buf, len, server, diff, &c), len);
    CHECK_EQ_MEM(buf, want, len);
    for (size_t cap = 0; cap < len; cap++) {
        memset(buf, '#', sizeof buf);
        CHECK_EQ_INT(proto_format_at(buf, cap, server, diff, &c), 0);
        for (size_t k = cap; k < sizeof buf; k++)
            CHECK_EQ_INT(buf[k], '#');
    }
}

/* ---- proto_format_metres ---------------------------------------------- */

static const struct {
    uint64_t mm;
    const char *want;
} metres_cases[] = {
    {10000000, "10000"},
    {1234500, "1234.5"},
    {1, "0.001"},
    {0, "0"},
    {500000, "500"},
    {50000000, "50000"},
    {1230, "1.23"},
    {999, "0.999"},
    {1001, "1.001"},
    {10, "0.01"},
    {100, "0.1"},
    {1000, "1"},
    {12345678, "12345.678"},
};

static void test_format_metres(void)
{
    for (size_t i = 0; i < sizeof metres_cases / sizeof metres_cases[0]; i++) {
        char out[32];
        size_t n = proto_format_metres(out, metres_cases[i].mm);
        CHECK_EQ_STR(out, metres_cases[i].want);
        CHECK_EQ_INT(n, strlen(metres_cases[i].want));
    }
}

static void test_kind_names_and_errors(void)
{
    CHECK_EQ_STR(proto_kind_name(PROTO_IAMAT), "IAMAT");
    CHECK_EQ_STR(proto_kind_name(PROTO_WHATSAT), "WHATSAT");
    CHECK_EQ_STR(proto_kind_name(PROTO_AT), "AT");
    CHECK(proto_kind_name(PROTO_KIND_COUNT) != NULL);
    static const int codes[] = {
        PROTO_OK,        PROTO_EBLANK, PROTO_EUNKNOWN, PROTO_EARITY,
        PROTO_ELOCATION, PROTO_ETIME,  PROTO_ERADIUS,  PROTO_EBOUND,
        PROTO_ESERVER,   PROTO_EDIFF,
    };
    const size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++) {
        CHECK(strcmp(proto_strerror(codes[i]), proto_strerror(-1)) != 0);
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(proto_strerror(codes[i]), proto_strerror(codes[j])) !=
                  0);
    }
}

/* A radius whose millimetres pass 2^64 - 1 is out of range; it must not
 * wrap around to a small radius and be accepted. */
static void test_radius_overflow_rejected(void)
{
    struct proto_command cmd;
    CHECK_EQ_INT(parse("WHATSAT kiwi 18446744073709.551616 5", &cmd),
                 PROTO_ERADIUS);
    CHECK_EQ_INT(parse("WHATSAT kiwi 18446744073709.601616 5", &cmd),
                 PROTO_ERADIUS);
}

/* The AT difference field against its definition, [+-]DIGITS.DIGITS{9}
 * with DIGITS a 64-bit number, written here the slow way: random fields
 * of signs, digits, dots and other bytes, around the nine-digit fraction
 * and the 64-bit limit. */
static int reference_diff(const char *p, size_t len)
{
    if (len < 1 || (p[0] != '+' && p[0] != '-'))
        return 0;
    const char *dot = memchr(p, '.', len);
    if (dot == NULL || dot == p + 1 || (size_t)(p + len - dot - 1) != 9)
        return 0;
    for (const char *q = p + 1; q < p + len; q++)
        if (q != dot && (*q < '0' || *q > '9'))
            return 0;
    /* The whole part as a decimal string against 18446744073709551615. */
    const char *w = p + 1;
    while (w < dot - 1 && *w == '0')
        w++;
    size_t wl = (size_t)(dot - w);
    static const char max[] = "18446744073709551615";
    return wl < sizeof max - 1 ||
           (wl == sizeof max - 1 && memcmp(w, max, wl) <= 0);
}

static void test_diff_random(void)
{
    static const char alphabet[] = "+-.0123456789a \x80";
    uint32_t x = 1234567u;
    int valid = 0;
    for (int round = 0; round < 200000; round++) {
        char field[40];
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        size_t whole = x % 24; /* around the 20 digits of 2^64 */
        size_t len = 0;
        field[len++] = x % 13 ? (x & 1 ? '+' : '-') : '0';
        for (size_t i = 0; i < whole; i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            /* Leading zeros, the digits of 2^64 - 1, or any digit. */
            field[len++] = x % 5 == 0   ? '0'
                           : x % 5 == 1 ? "18446744073709551615"[i % 20]
                                        : (char)('0' + x % 10);
        }
        size_t frac = 7 + x % 4; /* 7 to 10 fraction digits */
        field[len++] = '.';
        for (size_t i = 0; i < frac; i++)
            field[len++] = (char)('0' + (x >> i) % 10);
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        if (x % 4 == 0) /* one byte anywhere replaced */
            field[x % len] = alphabet[(x >> 8) % (sizeof alphabet - 1)];
        char line[80];
        int n = snprintf(line, sizeof line, "AT Alford %.*s kiwi +1+1 1",
                         (int)len, field);
        struct proto_command cmd;
        int rc = proto_parse(line, (size_t)n, &cmd);
        int want = reference_diff(field, len);
        if (memchr(field, ' ', len) != NULL)
            want = -1; /* another field count: not this test's business */
        if (want >= 0)
            CHECK_EQ_INT(rc, want ? PROTO_OK : PROTO_EDIFF);
        valid += want == 1;
    }
    CHECK(valid > 20000);
}

/* The word-at-a-time split against the definition, on random lines of
 * spaces, control bytes, high bytes and text, at every length. */
static size_t reference_split(const char *p, size_t len,
                              struct strparse_slice *f, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        if (strparse_is_space(p[i])) {
            i++;
            continue;
        }
        size_t s = i;
        while (i < len && !strparse_is_space(p[i]))
            i++;
        if (n < max) {
            f[n].p = p + s;
            f[n].len = i - s;
        }
        n++;
    }
    return n;
}

static void test_split_random(void)
{
    static const char alphabet[] = " \t\r\f\v\x01\x1f\x20\x21\x7f\x80\xa0\xff"
                                   "abc+-.9";
    uint32_t x = 2463534242u;
    char line[80];
    for (int round = 0; round < 20000; round++) {
        size_t len = (size_t)(round % 80);
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            /* Mostly text, so that long fields occur. */
            line[i] = x % 4 ? (char)('a' + x % 26)
                            : alphabet[(x >> 8) % (sizeof alphabet - 1)];
        }
        struct strparse_slice a[PROTO_MAX_FIELDS], b[PROTO_MAX_FIELDS];
        size_t na = strparse_split(line, len, a, PROTO_MAX_FIELDS);
        size_t nb = reference_split(line, len, b, PROTO_MAX_FIELDS);
        CHECK_EQ_INT(na, nb);
        for (size_t k = 0; k < na && k < PROTO_MAX_FIELDS; k++) {
            CHECK(a[k].p == b[k].p);
            CHECK_EQ_INT(a[k].len, b[k].len);
        }
    }
}

/* proto_split6 against proto_split: the same six fields for a line of
 * six fields with single spaces between them and none around, and 0 for
 * every other line. Lines of words (bytes of every kind, separators of
 * every kind, sometimes doubled) around every word boundary. */
static void test_split6_random(void)
{
    /* Separators come from seps; a word's bytes are anything else. */
    static const char alphabet[] = "\x01\x1f\x21\x7f\x80\xa0\xff"
                                   "abc+-.9";
    static const char seps[] = "      \t\r\f\v";
    uint32_t x = 380116160u;
    int six = 0;
    for (int round = 0; round < 200000; round++) {
        char line[160];
        size_t len = 0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        size_t words = x % 3 ? 6 : 4 + x % 4; /* mostly six */
        if (x % 7 == 0)
            line[len++] = ' ';
        for (size_t w = 0; w < words; w++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            size_t wl = (x >> 4) % 20;
            for (size_t i = 0; i < wl && len < 150; i++) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                line[len++] = x % 8
                                  ? (char)('a' + x % 26)
                                  : alphabet[(x >> 8) % (sizeof alphabet - 1)];
            }
            if (w + 1 < words || x % 9 == 0) {
                line[len++] = x % 5 ? ' ' : seps[(x >> 12) % (sizeof seps - 1)];
                if (x % 11 == 0)
                    line[len++] = ' ';
            }
        }
        struct strparse_slice a[6], b[PROTO_MAX_FIELDS];
        size_t na = proto_split6(line, len, a);
        size_t nb = strparse_split(line, len, b, PROTO_MAX_FIELDS);
        size_t ws = 0, spaces = 0;
        for (size_t i = 0; i < len; i++) {
            ws += strparse_is_space(line[i]);
            spaces += line[i] == ' ';
        }
        int canonical = nb == 6 && ws == 5 && spaces == 5;
        CHECK_EQ_INT(na, canonical ? 6 : 0);
        for (size_t k = 0; k < na; k++) {
            CHECK(a[k].p == b[k].p);
            CHECK_EQ_INT(a[k].len, b[k].len);
        }
        six += na == 6;
    }
    CHECK(six > 20000);
}

/* The one client-id limit: at the limit fine, one past it refused, and
 * named. */
static void test_client_limit(void)
{
    CHECK_EQ_INT(proto_client_ok(0, 0), PROTO_OK);
    CHECK_EQ_INT(proto_client_ok(256, 256), PROTO_OK);
    CHECK_EQ_INT(proto_client_ok(257, 256), PROTO_ECLIENT);
    CHECK_EQ_STR(proto_strerror(PROTO_ECLIENT), "client id too long");
}

/* The bound on client times ahead: at the bound fine, a nanosecond past
 * it refused, no bound never. */
static void test_too_far_ahead(void)
{
    CHECK(!proto_too_far_ahead(2000, 999999999, 1000, 0, 0));
    CHECK(!proto_too_far_ahead(1060, 500, 1000, 500, 60));
    CHECK(proto_too_far_ahead(1060, 501, 1000, 500, 60));
    CHECK(proto_too_far_ahead(1061, 0, 1000, 999999999, 60));
    CHECK(!proto_too_far_ahead(999, 0, 1000, 0, 60));
}

static const struct test tests[] = {
    {"client_limit", test_client_limit},
    {"too_far_ahead", test_too_far_ahead},
    {"split_random", test_split_random},
    {"split6_random", test_split6_random},
    {"diff_random", test_diff_random},
    {"status_table", test_status_table},
    {"iamat_fields", test_iamat_fields},
    {"whatsat_fields", test_whatsat_fields},
    {"radius_mm_exact", test_radius_mm_exact},
    {"at_fields", test_at_fields},
    {"whitespace_kinds", test_whitespace_kinds},
    {"is_space", test_is_space},
    {"client_id_bytes", test_client_id_bytes},
    {"parse_stops_at_len", test_parse_stops_at_len},
    {"format_diff", test_format_diff},
    {"format_diff_parses_back", test_format_diff_parses_back},
    {"format_at_round_trip", test_format_at_round_trip},
    {"format_at_binary_client", test_format_at_binary_client},
    {"format_at_capacity", test_format_at_capacity},
    {"format_metres", test_format_metres},
    {"kind_names_and_errors", test_kind_names_and_errors},
    {"radius_overflow_rejected", test_radius_overflow_rejected},
};

TEST_MAIN(tests)
