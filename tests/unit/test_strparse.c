/* Unit tests for common/strparse: one edge-case table per token type. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strparse.h"
#include "test.h"

/* A literal and its length, so tables can hold NUL bytes. */
#define S(lit) lit, sizeof(lit) - 1

static int near(double a, double b)
{
    double d = a - b;
    return (d < 0 ? -d : d) < 1e-9;
}

/* ---- strparse_uint ---------------------------------------------------- */

static const struct {
    const char *in;
    size_t len;
    uint64_t max;
    int rc;
    uint64_t want;
} uint_cases[] = {
    {S("0"), UINT64_MAX, 0, 0},
    {S("7"), UINT64_MAX, 0, 7},
    {S("1621464827"), UINT64_MAX, 0, 1621464827u},
    {S("18446744073709551615"), UINT64_MAX, 0, UINT64_MAX},
    {S("000000000000000000000018446744073709551615"), UINT64_MAX, 0,
     UINT64_MAX},
    {S("0000000000000000000000000000000000000001"), UINT64_MAX, 0, 1},
    /* overflow at 2^64 and beyond */
    {S("18446744073709551616"), UINT64_MAX, STRPARSE_ERANGE, 0},
    {S("18446744073709551620"), UINT64_MAX, STRPARSE_ERANGE, 0},
    {S("99999999999999999999"), UINT64_MAX, STRPARSE_ERANGE, 0},
    {S("184467440737095516150"), UINT64_MAX, STRPARSE_ERANGE, 0},
    {S("1000000000000000000000000000000"), UINT64_MAX, STRPARSE_ERANGE, 0},
    /* max */
    {S("20"), 20, 0, 20},
    {S("21"), 20, STRPARSE_ERANGE, 0},
    {S("020"), 20, 0, 20},
    {S("0"), 0, 0, 0},
    {S("1"), 0, STRPARSE_ERANGE, 0},
    {S("65535"), 65535, 0, 65535},
    {S("65536"), 65535, STRPARSE_ERANGE, 0},
    /* empty */
    {S(""), UINT64_MAX, STRPARSE_EEMPTY, 0},
    /* sign */
    {S("+1"), UINT64_MAX, STRPARSE_ESYNTAX, 0},
    {S("-1"), UINT64_MAX, STRPARSE_ESYNTAX, 0},
    {S("-0"), UINT64_MAX, STRPARSE_ESYNTAX, 0},
    /* junk, leading and trailing */
    {S("a"), UINT64_MAX, STRPARSE_ESYNTAX, 0},
    {S("1a"), UINT64_MAX, STRPARSE_ESYNTAX, 0},
    {S("a1"), UINT64_MAX, STRPARSE_ESYNTAX, 0},
    {S(" 1"), UINT64_MAX, STRPARSE_ESYNTAX, 0},
    {S("1 "), UINT64_MAX, STRPARSE_ESYNTAX, 0},
    {S("1\n"), UINT64_MAX, STRPARSE_ESYNTAX, 0},
    {S("0x10"), UINT64_MAX, STRPARSE_ESYNTAX, 0},
    {S("1,000"), UINT64_MAX, STRPARSE_ESYNTAX, 0},
    {S("1_000"), UINT64_MAX, STRPARSE_ESYNTAX, 0},
    /* real, exponent, NaN/inf */
    {S("1.0"), UINT64_MAX, STRPARSE_ESYNTAX, 0},
    {S("1."), UINT64_MAX, STRPARSE_ESYNTAX, 0},
    {S(".1"), UINT64_MAX, STRPARSE_ESYNTAX, 0},
    {S("1e3"), UINT64_MAX, STRPARSE_ESYNTAX, 0},
    {S("1E3"), UINT64_MAX, STRPARSE_ESYNTAX, 0},
    {S("nan"), UINT64_MAX, STRPARSE_ESYNTAX, 0},
    {S("inf"), UINT64_MAX, STRPARSE_ESYNTAX, 0},
    /* NUL bytes inside */
    {S("\0"), UINT64_MAX, STRPARSE_ESYNTAX, 0},
    {S("1\0"), UINT64_MAX, STRPARSE_ESYNTAX, 0},
    {S("\0"
       "1"),
     UINT64_MAX, STRPARSE_ESYNTAX, 0},
    {S("1\0"
       "2"),
     UINT64_MAX, STRPARSE_ESYNTAX, 0},
    /* non-ASCII digits look-alikes */
    {S("\xd9\xa1"), UINT64_MAX, STRPARSE_ESYNTAX, 0},
    {S("\xff"), UINT64_MAX, STRPARSE_ESYNTAX, 0},
};

static void test_uint_table(void)
{
    for (size_t i = 0; i < sizeof uint_cases / sizeof uint_cases[0]; i++) {
        uint64_t v = 12345;
        int rc = strparse_uint(uint_cases[i].in, uint_cases[i].len,
                               uint_cases[i].max, &v);
        if (rc != uint_cases[i].rc)
            fprintf(stderr, "uint case %zu\n", i);
        CHECK_EQ_INT(rc, uint_cases[i].rc);
        if (rc == 0)
            CHECK(v == uint_cases[i].want);
    }
}

static void test_uint_does_not_read_past_len(void)
{
    /* The token is a prefix of a longer buffer: only len bytes count. */
    uint64_t v = 0;
    CHECK_EQ_INT(strparse_uint("12345", 2, UINT64_MAX, &v), 0);
    CHECK_EQ_INT(v, 12);
    CHECK_EQ_INT(strparse_uint("12x", 2, UINT64_MAX, &v), 0);
    CHECK_EQ_INT(v, 12);
}

/* ---- strparse_fixed --------------------------------------------------- */

static const struct {
    const char *in;
    size_t len;
    unsigned frac;
    int rc;
    uint64_t want;
    int inexact;
} fixed_cases[] = {
    /* scaling */
    {S("1"), 3, 0, 1000, 0},
    {S("1.2"), 3, 0, 1200, 0},
    {S("1.234"), 3, 0, 1234, 0},
    {S("0"), 6, 0, 0, 0},
    {S("0.5"), 6, 0, 500000, 0},
    {S("1.2345"), 6, 0, 1234500, 0},
    {S("10"), 6, 0, 10000000, 0},
    {S("50"), 6, 0, 50000000, 0},
    {S("0.000001"), 6, 0, 1, 0},
    {S("1"), 9, 0, 1000000000, 0},
    {S("0.123456789"), 9, 0, 123456789, 0},
    {S("7"), 0, 0, 7, 0},
    {S("007.500"), 3, 0, 7500, 0},
    /* truncation and the inexact flag */
    {S("1.2345"), 3, 0, 1234, 1},
    {S("1.2349"), 3, 0, 1234, 1},
    {S("1.2340"), 3, 0, 1234, 0},
    {S("1.234000000000000000000"), 3, 0, 1234, 0},
    {S("1.234000000000000000001"), 3, 0, 1234, 1},
    {S("7.9"), 0, 0, 7, 1},
    {S("7.0"), 0, 0, 7, 0},
    {S("50.0000001"), 6, 0, 50000000, 1},
    {S("50.0000000"), 6, 0, 50000000, 0},
    {S("0.0000009"), 6, 0, 0, 1},
    /* range */
    {S("18446744073709551615"), 0, 0, UINT64_MAX, 0},
    {S("18446744073709551616"), 0, STRPARSE_ERANGE, 0, 0},
    {S("18446744073709551.615"), 3, 0, UINT64_MAX, 0},
    {S("18446744073709552"), 3, STRPARSE_ERANGE, 0, 0},
    {S("99999999999999999999999"), 3, STRPARSE_ERANGE, 0, 0},
    {S("1"), 10, STRPARSE_ERANGE, 0, 0},
    /* empty */
    {S(""), 3, STRPARSE_EEMPTY, 0, 0},
    /* junk */
    {S("."), 3, STRPARSE_ESYNTAX, 0, 0},
    {S("1."), 3, STRPARSE_ESYNTAX, 0, 0},
    {S("10."), 6, STRPARSE_ESYNTAX, 0, 0},
    {S(".5"), 3, STRPARSE_ESYNTAX, 0, 0},
    {S("1..2"), 3, STRPARSE_ESYNTAX, 0, 0},
    {S("1.2.3"), 3, STRPARSE_ESYNTAX, 0, 0},
    {S("1,5"), 3, STRPARSE_ESYNTAX, 0, 0},
    {S(" 1"), 3, STRPARSE_ESYNTAX, 0, 0},
    {S("1 "), 3, STRPARSE_ESYNTAX, 0, 0},
    {S("1.5x"), 3, STRPARSE_ESYNTAX, 0, 0},
    {S("x1.5"), 3, STRPARSE_ESYNTAX, 0, 0},
    /* sign */
    {S("-1"), 3, STRPARSE_ESYNTAX, 0, 0},
    {S("+1"), 3, STRPARSE_ESYNTAX, 0, 0},
    {S("1.-5"), 3, STRPARSE_ESYNTAX, 0, 0},
    /* exponent, NaN/inf */
    {S("1e1"), 3, STRPARSE_ESYNTAX, 0, 0},
    {S("1.5e1"), 3, STRPARSE_ESYNTAX, 0, 0},
    {S("1.5E-1"), 3, STRPARSE_ESYNTAX, 0, 0},
    {S("nan"), 3, STRPARSE_ESYNTAX, 0, 0},
    {S("inf"), 3, STRPARSE_ESYNTAX, 0, 0},
    {S("infinity"), 3, STRPARSE_ESYNTAX, 0, 0},
    /* NUL bytes inside */
    {S("1\0"), 3, STRPARSE_ESYNTAX, 0, 0},
    {S("1.\0"), 3, STRPARSE_ESYNTAX, 0, 0},
    {S("1.5\0"), 3, STRPARSE_ESYNTAX, 0, 0},
    {S("1\0.5"), 3, STRPARSE_ESYNTAX, 0, 0},
};

static void test_fixed_table(void)
{
    for (size_t i = 0; i < sizeof fixed_cases / sizeof fixed_cases[0]; i++) {
        uint64_t v = 12345;
        int inexact = -1;
        int rc = strparse_fixed(fixed_cases[i].in, fixed_cases[i].len,
                                fixed_cases[i].frac, &v, &inexact);
        if (rc != fixed_cases[i].rc)
            fprintf(stderr, "fixed case %zu\n", i);
        CHECK_EQ_INT(rc, fixed_cases[i].rc);
        if (rc != 0)
            continue;
        if (v != fixed_cases[i].want || inexact != fixed_cases[i].inexact)
            fprintf(stderr, "fixed case %zu\n", i);
        CHECK(v == fixed_cases[i].want);
        CHECK_EQ_INT(inexact, fixed_cases[i].inexact);
    }
}

static void test_fixed_null_inexact(void)
{
    uint64_t v = 0;
    CHECK_EQ_INT(strparse_fixed("1.2345", 6, 3, &v, NULL), 0);
    CHECK_EQ_INT(v, 1234);
}

/* The whole part fits but whole * 10^frac + fraction passes 2^64 - 1: that
 * is out of range, not a value that wrapped around. */
static void test_fixed_overflow_in_fraction(void)
{
    uint64_t v = 0;
    int inexact = 0;
    int rc = strparse_fixed(S("18446744073709551.616"), 3, &v, &inexact);
    CHECK_EQ_INT(rc, STRPARSE_ERANGE);
    rc = strparse_fixed(S("18446744073709.551616"), 6, &v, &inexact);
    CHECK_EQ_INT(rc, STRPARSE_ERANGE);
    rc = strparse_fixed(S("18446744073709.999999"), 6, &v, &inexact);
    CHECK_EQ_INT(rc, STRPARSE_ERANGE);
}

/* ---- strparse_time ---------------------------------------------------- */

static const struct {
    const char *in;
    size_t len;
    int rc;
    uint64_t sec;
    uint32_t nsec;
} time_cases[] = {
    {S("0"), 0, 0, 0},
    {S("1621464827.959498503"), 0, 1621464827u, 959498503},
    {S("1621464827"), 0, 1621464827u, 0},
    {S("1.5"), 0, 1, 500000000},
    {S("1.05"), 0, 1, 50000000},
    {S("1.000000001"), 0, 1, 1},
    {S("1.0000000019"), 0, 1, 1},
    {S("1.123456789999"), 0, 1, 123456789},
    {S("1.999999999999999999999999999999"), 0, 1, 999999999},
    {S("0.0"), 0, 0, 0},
    {S("00001.5"), 0, 1, 500000000},
    {S("18446744073709551615"), 0, UINT64_MAX, 0},
    {S("18446744073709551615.999999999"), 0, UINT64_MAX, 999999999},
    {S("18446744073709551615.9999999999"), 0, UINT64_MAX, 999999999},
    /* seconds overflow */
    {S("18446744073709551616"), STRPARSE_ERANGE, 0, 0},
    {S("18446744073709551616.0"), STRPARSE_ERANGE, 0, 0},
    {S("99999999999999999999999"), STRPARSE_ERANGE, 0, 0},
    /* empty */
    {S(""), STRPARSE_EEMPTY, 0, 0},
    /* malformed decimal */
    {S("123."), STRPARSE_ESYNTAX, 0, 0},
    {S(".5"), STRPARSE_ESYNTAX, 0, 0},
    {S("."), STRPARSE_ESYNTAX, 0, 0},
    {S("1.2.3"), STRPARSE_ESYNTAX, 0, 0},
    {S("1,5"), STRPARSE_ESYNTAX, 0, 0},
    /* sign */
    {S("+1"), STRPARSE_ESYNTAX, 0, 0},
    {S("-1"), STRPARSE_ESYNTAX, 0, 0},
    {S("+1621464827.959498503"), STRPARSE_ESYNTAX, 0, 0},
    /* exponent, NaN/inf */
    {S("1e9"), STRPARSE_ESYNTAX, 0, 0},
    {S("1.5e3"), STRPARSE_ESYNTAX, 0, 0},
    {S("nan"), STRPARSE_ESYNTAX, 0, 0},
    {S("inf"), STRPARSE_ESYNTAX, 0, 0},
    /* leading and trailing junk */
    {S(" 1"), STRPARSE_ESYNTAX, 0, 0},
    {S("1 "), STRPARSE_ESYNTAX, 0, 0},
    {S("1s"), STRPARSE_ESYNTAX, 0, 0},
    {S("0x1"), STRPARSE_ESYNTAX, 0, 0},
    /* NUL bytes inside */
    {S("1\0"), STRPARSE_ESYNTAX, 0, 0},
    {S("1.5\0"), STRPARSE_ESYNTAX, 0, 0},
    {S("1.\0"
       "5"),
     STRPARSE_ESYNTAX, 0, 0},
};

static void test_time_table(void)
{
    for (size_t i = 0; i < sizeof time_cases / sizeof time_cases[0]; i++) {
        uint64_t sec = 77;
        uint32_t nsec = 77;
        int rc =
            strparse_time(time_cases[i].in, time_cases[i].len, &sec, &nsec);
        if (rc != time_cases[i].rc)
            fprintf(stderr, "time case %zu\n", i);
        CHECK_EQ_INT(rc, time_cases[i].rc);
        if (rc != 0)
            continue;
        CHECK(sec == time_cases[i].sec);
        CHECK_EQ_INT(nsec, time_cases[i].nsec);
    }
}

static void test_time_many_fraction_digits(void)
{
    char buf[1100];
    memcpy(buf, "42.", 3);
    memset(buf + 3, '7', 1000);
    uint64_t sec = 0;
    uint32_t nsec = 0;
    CHECK_EQ_INT(strparse_time(buf, 1003, &sec, &nsec), 0);
    CHECK_EQ_INT(sec, 42);
    CHECK_EQ_INT(nsec, 777777777);
    buf[1003] = 'x';
    CHECK_EQ_INT(strparse_time(buf, 1004, &sec, &nsec), STRPARSE_ESYNTAX);
}

/* ---- strparse_coords -------------------------------------------------- */

static const struct {
    const char *in;
    size_t len;
    int rc;
    double lat, lng;
    size_t lng_off;
} coord_cases[] = {
    {S("+34.068930-118.445127"), 0, 34.068930, -118.445127, 10},
    {S("+34-118"), 0, 34, -118, 3},
    {S("-34+118"), 0, -34, 118, 3},
    {S("+0+0"), 0, 0, 0, 2},
    {S("-0-0"), 0, 0, 0, 2},
    {S("+0.0-0.0"), 0, 0, 0, 4},
    /* boundaries */
    {S("+90+180"), 0, 90, 180, 3},
    {S("-90-180"), 0, -90, -180, 3},
    {S("+90.000-180.000"), 0, 90, -180, 7},
    {S("-90.000000000000000+180.0000000000000000000"), 0, -90, 180, 19},
    {S("+89.9999999+179.9999999"), 0, 89.9999999, 179.9999999, 11},
    {S("+90.0000001+0"), STRPARSE_ERANGE, 0, 0, 0},
    {S("-90.0000001+0"), STRPARSE_ERANGE, 0, 0, 0},
    {S("+0+180.0000001"), STRPARSE_ERANGE, 0, 0, 0},
    {S("+0-180.0000001"), STRPARSE_ERANGE, 0, 0, 0},
    {S("+90.000000000000000000001+0"), STRPARSE_ERANGE, 0, 0, 0},
    {S("+91+0"), STRPARSE_ERANGE, 0, 0, 0},
    {S("+0+181"), STRPARSE_ERANGE, 0, 0, 0},
    {S("+100+0"), STRPARSE_ERANGE, 0, 0, 0},
    {S("+0-1000"), STRPARSE_ERANGE, 0, 0, 0},
    {S("+99999999999999999999999999999+0"), STRPARSE_ERANGE, 0, 0, 0},
    {S("+0+99999999999999999999999999999"), STRPARSE_ERANGE, 0, 0, 0},
    /* leading zeros */
    {S("+0034.5-0118.2"), 0, 34.5, -118.2, 7},
    {S("+00090-00180"), 0, 90, -180, 6},
    {S("+00091+0"), STRPARSE_ERANGE, 0, 0, 0},
    /* empty */
    {S(""), STRPARSE_EEMPTY, 0, 0, 0},
    /* missing sign */
    {S("34.068930-118.445127"), STRPARSE_ESYNTAX, 0, 0, 0},
    {S("+34.068930118.445127"), STRPARSE_ESYNTAX, 0, 0, 0},
    {S("34-118"), STRPARSE_ESYNTAX, 0, 0, 0},
    /* one number, three numbers */
    {S("+34.068930"), STRPARSE_ESYNTAX, 0, 0, 0},
    {S("+34"), STRPARSE_ESYNTAX, 0, 0, 0},
    {S("+"), STRPARSE_ESYNTAX, 0, 0, 0},
    {S("+34-"), STRPARSE_ESYNTAX, 0, 0, 0},
    {S("+1+2+3"), STRPARSE_ESYNTAX, 0, 0, 0},
    {S("+1.5-2.5+3.5"), STRPARSE_ESYNTAX, 0, 0, 0},
    /* malformed decimals */
    {S("+1.-1"), STRPARSE_ESYNTAX, 0, 0, 0},
    {S("+.5-1"), STRPARSE_ESYNTAX, 0, 0, 0},
    {S("+1-.5"), STRPARSE_ESYNTAX, 0, 0, 0},
    {S("+1-1."), STRPARSE_ESYNTAX, 0, 0, 0},
    {S("+1..5-1"), STRPARSE_ESYNTAX, 0, 0, 0},
    {S("++1+1"), STRPARSE_ESYNTAX, 0, 0, 0},
    {S("+-1+1"), STRPARSE_ESYNTAX, 0, 0, 0},
    {S("+1--1"), STRPARSE_ESYNTAX, 0, 0, 0},
    {S("+1,5-1"), STRPARSE_ESYNTAX, 0, 0, 0},
    {S("+0x1-1"), STRPARSE_ESYNTAX, 0, 0, 0},
    /* exponent, NaN/inf, letters */
    {S("+1e1-1e1"), STRPARSE_ESYNTAX, 0, 0, 0},
    {S("+1E1-1"), STRPARSE_ESYNTAX, 0, 0, 0},
    {S("+1-1e1"), STRPARSE_ESYNTAX, 0, 0, 0},
    {S("nan"), STRPARSE_ESYNTAX, 0, 0, 0},
    {S("+nan-nan"), STRPARSE_ESYNTAX, 0, 0, 0},
    {S("+inf-inf"), STRPARSE_ESYNTAX, 0, 0, 0},
    {S("+infinity+0"), STRPARSE_ESYNTAX, 0, 0, 0},
    {S("+abc-def"), STRPARSE_ESYNTAX, 0, 0, 0},
    /* leading and trailing junk */
    {S(" +1-1"), STRPARSE_ESYNTAX, 0, 0, 0},
    {S("+1-1 "), STRPARSE_ESYNTAX, 0, 0, 0},
    {S("+1 -1"), STRPARSE_ESYNTAX, 0, 0, 0},
    {S("+1-1x"), STRPARSE_ESYNTAX, 0, 0, 0},
    {S("x+1-1"), STRPARSE_ESYNTAX, 0, 0, 0},
    /* NUL bytes inside */
    {S("+1-1\0"), STRPARSE_ESYNTAX, 0, 0, 0},
    {S("+1\0-1"), STRPARSE_ESYNTAX, 0, 0, 0},
    {S("\0+1-1"), STRPARSE_ESYNTAX, 0, 0, 0},
    {S("+1.5\0"
       "5-1"),
     STRPARSE_ESYNTAX, 0, 0, 0},
};

static void test_coords_table(void)
{
    for (size_t i = 0; i < sizeof coord_cases / sizeof coord_cases[0]; i++) {
        double lat = 1234, lng = 1234;
        size_t off = 1234;
        int rc = strparse_coords(coord_cases[i].in, coord_cases[i].len, &lat,
                                 &lng, &off);
        if (rc != coord_cases[i].rc)
            fprintf(stderr, "coords case %zu\n", i);
        CHECK_EQ_INT(rc, coord_cases[i].rc);
        /* Validating without converting decides the same way. */
        size_t off2 = 1234;
        CHECK_EQ_INT(strparse_coords(coord_cases[i].in, coord_cases[i].len,
                                     NULL, NULL, &off2),
                     rc);
        if (rc != 0)
            continue;
        CHECK_EQ_INT(off2, coord_cases[i].lng_off);
        if (!near(lat, coord_cases[i].lat) || !near(lng, coord_cases[i].lng))
            fprintf(stderr, "coords case %zu: %.10f %.10f\n", i, lat, lng);
        CHECK(near(lat, coord_cases[i].lat));
        CHECK(near(lng, coord_cases[i].lng));
        CHECK_EQ_INT(off, coord_cases[i].lng_off);
    }
}

static void test_coords_many_digits(void)
{
    /* +34.<300 digits>-118.<300 digits>, and 200 leading zeros. */
    char buf[1024];
    size_t n = 0;
    memcpy(buf + n, "+34.", 4);
    n += 4;
    memset(buf + n, '1', 300);
    n += 300;
    size_t lng_at = n;
    memcpy(buf + n, "-118.", 5);
    n += 5;
    memset(buf + n, '9', 300);
    n += 300;
    double lat = 0, lng = 0;
    size_t off = 0;
    CHECK_EQ_INT(strparse_coords(buf, n, &lat, &lng, &off), 0);
    CHECK_EQ_INT(off, lng_at);
    CHECK(near(lat, 34.0 + 1.0 / 9.0));
    CHECK(near(lng, -119.0));

    n = 0;
    buf[n++] = '-';
    memset(buf + n, '0', 200);
    n += 200;
    memcpy(buf + n, "12.25+", 6);
    n += 6;
    memset(buf + n, '0', 200);
    n += 200;
    memcpy(buf + n, "180", 3);
    n += 3;
    CHECK_EQ_INT(strparse_coords(buf, n, &lat, &lng, &off), 0);
    CHECK_EQ_INT(off, 206);
    CHECK(near(lat, -12.25));
    CHECK(near(lng, 180));

    /* Many zeros and then a digit past the limit still counts. */
    n = 0;
    memcpy(buf + n, "+90.", 4);
    n += 4;
    memset(buf + n, '0', 500);
    n += 500;
    memcpy(buf + n, "1+0", 3);
    n += 3;
    CHECK_EQ_INT(strparse_coords(buf, n, &lat, &lng, &off), STRPARSE_ERANGE);
}

/* ---- strparse_hostport ------------------------------------------------ */

static const struct {
    const char *in;
    size_t len;
    int rc;
    const char *host;
    unsigned port;
} hostport_cases[] = {
    {S("127.0.0.1:80"), 0, "127.0.0.1", 80},
    {S("127.0.0.1:12010"), 0, "127.0.0.1", 12010},
    {S("[::1]:22010"), 0, "::1", 22010},
    {S("[fe80::1%lo]:7"), 0, "fe80::1%lo", 7},
    {S("localhost:1"), 0, "localhost", 1},
    {S("localhost:65535"), 0, "localhost", 65535},
    {S("localhost:00080"), 0, "localhost", 80},
    {S("example.com:443"), 0, "example.com", 443},
    /* port range */
    {S("localhost:0"), STRPARSE_ERANGE, NULL, 0},
    {S("localhost:65536"), STRPARSE_ERANGE, NULL, 0},
    {S("localhost:99999999999999999999999"), STRPARSE_ERANGE, NULL, 0},
    {S("[::1]:0"), STRPARSE_ERANGE, NULL, 0},
    {S("[::1]:65536"), STRPARSE_ERANGE, NULL, 0},
    /* empty */
    {S(""), STRPARSE_EEMPTY, NULL, 0},
    /* missing port or host */
    {S("localhost"), STRPARSE_ESYNTAX, NULL, 0},
    {S("localhost:"), STRPARSE_ESYNTAX, NULL, 0},
    {S(":80"), STRPARSE_ESYNTAX, NULL, 0},
    {S(":"), STRPARSE_ESYNTAX, NULL, 0},
    {S("[::1]"), STRPARSE_ESYNTAX, NULL, 0},
    {S("[::1]:"), STRPARSE_ESYNTAX, NULL, 0},
    {S("[]:80"), STRPARSE_ESYNTAX, NULL, 0},
    /* bare IPv6 and broken brackets */
    {S("::1:22010"), STRPARSE_ESYNTAX, NULL, 0},
    {S("fe80::1:80"), STRPARSE_ESYNTAX, NULL, 0},
    {S("[::1]22010"), STRPARSE_ESYNTAX, NULL, 0},
    {S("[::1:22010"), STRPARSE_ESYNTAX, NULL, 0},
    {S("a:b:80"), STRPARSE_ESYNTAX, NULL, 0},
    /* port junk and sign */
    {S("localhost:+80"), STRPARSE_ESYNTAX, NULL, 0},
    {S("localhost:-80"), STRPARSE_ESYNTAX, NULL, 0},
    {S("localhost:80x"), STRPARSE_ESYNTAX, NULL, 0},
    {S("localhost:8 0"), STRPARSE_ESYNTAX, NULL, 0},
    {S("localhost:80 "), STRPARSE_ESYNTAX, NULL, 0},
    {S("localhost:8e1"), STRPARSE_ESYNTAX, NULL, 0},
    {S("localhost:http"), STRPARSE_ESYNTAX, NULL, 0},
    /* NUL bytes inside */
    {S("local\0host:80"), STRPARSE_ESYNTAX, NULL, 0},
    {S("localhost:80\0"), STRPARSE_ESYNTAX, NULL, 0},
    {S("[::\0"
       "1]:80"),
     STRPARSE_ESYNTAX, NULL, 0},
};

static void test_hostport_table(void)
{
    for (size_t i = 0; i < sizeof hostport_cases / sizeof hostport_cases[0];
         i++) {
        char host[64];
        uint16_t port = 0;
        int rc = strparse_hostport(hostport_cases[i].in, hostport_cases[i].len,
                                   host, sizeof host, &port);
        if (rc != hostport_cases[i].rc)
            fprintf(stderr, "hostport case %zu\n", i);
        CHECK_EQ_INT(rc, hostport_cases[i].rc);
        if (rc != 0)
            continue;
        CHECK_EQ_STR(host, hostport_cases[i].host);
        CHECK_EQ_INT(port, hostport_cases[i].port);
    }
}

static void test_hostport_capacity(void)
{
    char host[16];
    uint16_t port = 0;
    /* The host and its NUL must fit in hostcap. */
    CHECK_EQ_INT(strparse_hostport(S("abcdef:1"), host, 6, &port),
                 STRPARSE_ESYNTAX);
    CHECK_EQ_INT(strparse_hostport(S("abcdef:1"), host, 7, &port), 0);
    CHECK_EQ_STR(host, "abcdef");
    CHECK_EQ_INT(port, 1);
    CHECK_EQ_INT(strparse_hostport(S("[abcdef]:1"), host, 6, &port),
                 STRPARSE_ESYNTAX);
}

static void test_strerror(void)
{
    const int codes[] = {STRPARSE_EEMPTY, STRPARSE_ESYNTAX, STRPARSE_ERANGE};
    const char *unknown = strparse_strerror(-1);
    CHECK(unknown != NULL);
    for (size_t i = 0; i < 3; i++) {
        const char *s = strparse_strerror(codes[i]);
        CHECK(s != NULL && *s != '\0');
        CHECK(strcmp(s, unknown) != 0);
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(s, strparse_strerror(codes[j])) != 0);
    }
}

static void test_format_u64(void)
{
    static const struct {
        uint64_t v;
        const char *want;
    } cases[] = {{0, "0"},
                 {9, "9"},
                 {10, "10"},
                 {1000000, "1000000"},
                 {18446744073709551615ULL, "18446744073709551615"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[20];
        size_t n = strparse_format_u64(out, cases[i].v);
        CHECK_EQ_MEM(out, cases[i].want, strlen(cases[i].want));
        CHECK_EQ_INT(n, strlen(cases[i].want));
        /* and it reads back */
        uint64_t back;
        CHECK_EQ_INT(strparse_uint(out, n, UINT64_MAX, &back), 0);
        CHECK(back == cases[i].v);
    }
}

/* ---- word-at-a-time parsing against the byte-by-byte definition ------- */

static size_t ref_digits(const char *p, size_t len, uint64_t *v, int *over)
{
    uint64_t x = 0;
    int o = 0;
    size_t i = 0;
    for (; i < len && p[i] >= '0' && p[i] <= '9'; i++) {
        uint64_t d = (uint64_t)(p[i] - '0');
        if (x > (UINT64_MAX - d) / 10)
            o = 1;
        x = x * 10 + d;
    }
    *v = x;
    *over = o;
    return i;
}

static int ref_uint(const char *p, size_t len, uint64_t max, uint64_t *out)
{
    if (len == 0)
        return STRPARSE_EEMPTY;
    uint64_t v;
    int over;
    size_t n = ref_digits(p, len, &v, &over);
    if (over)
        return STRPARSE_ERANGE;
    if (n != len)
        return STRPARSE_ESYNTAX;
    if (v > max)
        return STRPARSE_ERANGE;
    *out = v;
    return 0;
}

static int ref_time(const char *p, size_t len, uint64_t *sec, uint32_t *nsec)
{
    if (len == 0)
        return STRPARSE_EEMPTY;
    uint64_t v;
    int over;
    size_t i = ref_digits(p, len, &v, &over);
    if (i == 0)
        return STRPARSE_ESYNTAX;
    uint32_t ns = 0;
    if (i < len) {
        if (p[i] != '.')
            return STRPARSE_ESYNTAX;
        size_t f = 0;
        for (i++; i < len && p[i] >= '0' && p[i] <= '9'; i++, f++)
            if (f < 9)
                ns = ns * 10 + (uint32_t)(p[i] - '0');
        if (f == 0 || i != len)
            return STRPARSE_ESYNTAX;
        for (; f < 9; f++)
            ns *= 10;
    }
    if (over)
        return STRPARSE_ERANGE;
    *sec = v;
    *nsec = ns;
    return 0;
}

/* One coordinate: the length, or an error. */
static long ref_coord(const char *p, size_t len, unsigned limit)
{
    if (len == 0)
        return STRPARSE_EEMPTY;
    if (p[0] != '+' && p[0] != '-')
        return STRPARSE_ESYNTAX;
    size_t i = 1;
    uint64_t whole = 0;
    for (; i < len && p[i] >= '0' && p[i] <= '9'; i++)
        if (whole <= limit)
            whole = whole * 10 + (uint64_t)(p[i] - '0');
    if (i == 1)
        return STRPARSE_ESYNTAX;
    int frac_nonzero = 0;
    if (i < len && p[i] == '.') {
        size_t j = i + 1;
        for (; j < len && p[j] >= '0' && p[j] <= '9'; j++)
            frac_nonzero |= p[j] != '0';
        if (j == i + 1)
            return STRPARSE_ESYNTAX;
        i = j;
    }
    if (whole > limit || (whole == limit && frac_nonzero))
        return STRPARSE_ERANGE;
    return (long)i;
}

static int ref_coords(const char *p, size_t len, size_t *lng_off)
{
    if (len == 0)
        return STRPARSE_EEMPTY;
    long a = ref_coord(p, len, 90);
    if (a < 0)
        return (int)a;
    long b = ref_coord(p + a, len - (size_t)a, 180);
    if (b < 0)
        return b == STRPARSE_EEMPTY ? STRPARSE_ESYNTAX : (int)b;
    if ((size_t)(a + b) != len)
        return STRPARSE_ESYNTAX;
    *lng_off = (size_t)a;
    return 0;
}

static uint32_t xorshift(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* Appends what a number part of a time or coordinate might be: digits
 * (leading zeros, the limits 90 and 180, long runs), maybe a dot and
 * more digits. */
static size_t gen_number(char *p, uint32_t *x)
{
    static const char *const ints[] = {"0",  "9",   "90",  "090", "180", "0180",
                                       "89", "179", "181", "91",  "1000"};
    size_t n = 0;
    uint32_t r = xorshift(x);
    if (r % 3 == 0) {
        const char *s = ints[(r >> 4) % (sizeof ints / sizeof ints[0])];
        memcpy(p, s, strlen(s));
        n = strlen(s);
    } else {
        size_t k = (r >> 4) % 24;
        for (size_t i = 0; i < k; i++)
            p[n++] = (char)('0' + xorshift(x) % 10);
    }
    r = xorshift(x);
    if (r % 3 != 0) {
        p[n++] = '.';
        size_t k = (r >> 4) % 24;
        int zeros = (r >> 12) % 3 == 0;
        for (size_t i = 0; i < k; i++)
            p[n++] = zeros ? '0' : (char)('0' + xorshift(x) % 10);
    }
    return n;
}

/* Random tokens at every length across word boundaries, shaped like
 * times and coordinates or not at all, with a byte spoiled now and then;
 * each in a heap block of exactly its length (so that a read past it is
 * a sanitizer error). */
static void test_words_match_bytes(void)
{
    static const char alphabet[] = "0123456789012345678901234567890000099."
                                   "..+-+-x/:\x00 ";
    uint32_t x = 88172645u;
    int ok_time = 0, ok_coords = 0;
    for (int round = 0; round < 300000; round++) {
        char buf[128];
        size_t len = 0;
        switch (round % 3) {
        case 0: /* noise */
            len = (size_t)(round % 41);
            for (size_t i = 0; i < len; i++)
                buf[i] = alphabet[xorshift(&x) % (sizeof alphabet - 1)];
            break;
        case 1: /* a time */
            len = gen_number(buf, &x);
            break;
        default: /* a location */
            buf[len++] = xorshift(&x) & 1 ? '+' : '-';
            len += gen_number(buf + len, &x);
            buf[len++] = xorshift(&x) & 1 ? '+' : '-';
            len += gen_number(buf + len, &x);
            break;
        }
        if (len > 0 && xorshift(&x) % 8 == 0)
            buf[xorshift(&x) % len] =
                alphabet[xorshift(&x) % (sizeof alphabet - 1)];
        char *p = malloc(len ? len : 1);
        CHECK(p != NULL);
        memcpy(p, buf, len);
        uint64_t a = 0, b = 0;
        uint64_t max = xorshift(&x) % 3 == 0 ? UINT64_MAX : x % 1000;
        CHECK_EQ_INT(strparse_uint(p, len, max, &a), ref_uint(p, len, max, &b));
        CHECK(a == b);
        uint64_t sa = 0, sb = 0;
        uint32_t na = 0, nb = 0;
        int rc = strparse_time(p, len, &sa, &na);
        CHECK_EQ_INT(rc, ref_time(p, len, &sb, &nb));
        CHECK(sa == sb && na == nb);
        ok_time += rc == 0 && len >= 16;
        size_t oa = 0, ob = 0;
        rc = strparse_coords(p, len, NULL, NULL, &oa);
        CHECK_EQ_INT(rc, ref_coords(p, len, &ob));
        CHECK_EQ_INT(oa, ob);
        ok_coords += rc == 0 && len >= 16;
        free(p);
    }
    /* The shapes did reach the long valid inputs. */
    CHECK(ok_time > 20000);
    CHECK(ok_coords > 2000);
}

static const struct test tests[] = {
    {"format_u64", test_format_u64},
    {"uint_table", test_uint_table},
    {"uint_does_not_read_past_len", test_uint_does_not_read_past_len},
    {"fixed_table", test_fixed_table},
    {"fixed_null_inexact", test_fixed_null_inexact},
    {"time_table", test_time_table},
    {"time_many_fraction_digits", test_time_many_fraction_digits},
    {"coords_table", test_coords_table},
    {"coords_many_digits", test_coords_many_digits},
    {"hostport_table", test_hostport_table},
    {"hostport_capacity", test_hostport_capacity},
    {"strerror", test_strerror},
    {"fixed_overflow_in_fraction", test_fixed_overflow_in_fraction},
    {"words_match_bytes", test_words_match_bytes},
};

TEST_MAIN(tests)
