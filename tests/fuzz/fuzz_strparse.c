/* strparse: every conversion on any bytes, checked against each other.
 *
 * Input: [max selector] [frac digits] [host capacity] then the token.
 *
 * Properties:
 * - strparse_uint with a maximum accepts exactly the values <= max that it
 *   accepts with UINT64_MAX, and gives the same value;
 * - strparse_fixed: the whole part is strparse_uint of the digits before
 *   the dot, *inexact says whether a cut digit was not zero, and with no
 *   fraction digits it is strparse_uint itself;
 * - strparse_time accepts the grammar of strparse_fixed, its seconds are
 *   strparse_uint of the integer part, and its nanoseconds are
 *   strparse_fixed with nine digits (when that fits in 64 bits);
 * - strparse_coords: |lat| <= 90, |lng| <= 180, each with the sign its text
 *   has, and lng_off is the offset of the longitude's sign;
 * - strparse_hostport: a port from 1 to 65535 and a non-empty host that
 *   fits the capacity and is a substring of the token.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "strparse.h"

static const uint64_t maxima[] = {0,     1,          9,          20,
                                  65535, 1000000000, UINT32_MAX, UINT64_MAX};

static void check_uint(const char *p, size_t len, uint64_t max)
{
    uint64_t all = 0;
    uint64_t v = 0;
    int rc_all = strparse_uint(p, len, UINT64_MAX, &all);
    int rc = strparse_uint(p, len, max, &v);
    FUZZ_CHECK(strparse_strerror(rc) != NULL);
    if (rc_all != 0) {
        FUZZ_CHECK(rc == rc_all);
        return;
    }
    if (all > max) {
        FUZZ_CHECK(rc == STRPARSE_ERANGE);
        return;
    }
    FUZZ_CHECK(rc == 0 && v == all);
}

/* Length of the digits before a dot (or of the whole token). */
static size_t int_part(const char *p, size_t len)
{
    const char *dot = memchr(p, '.', len);
    return dot != NULL ? (size_t)(dot - p) : len;
}

static void check_fixed(const char *p, size_t len, unsigned frac_digits)
{
    uint64_t v = 0;
    int inexact = -1;
    int rc = strparse_fixed(p, len, frac_digits, &v, &inexact);
    if (frac_digits > 9) {
        FUZZ_CHECK(rc != 0);
        return;
    }
    uint64_t plain;
    if (frac_digits == 0 && memchr(p, '.', len) == NULL) {
        /* Which error a malformed and too long token gets may differ. */
        int rc_plain = strparse_uint(p, len, UINT64_MAX, &plain);
        FUZZ_CHECK((rc == 0) == (rc_plain == 0));
        FUZZ_CHECK(rc != 0 || v == plain);
    }
    if (rc != 0)
        return;
    uint64_t scale = 1;
    for (unsigned i = 0; i < frac_digits; i++)
        scale *= 10;
    size_t ilen = int_part(p, len);
    FUZZ_CHECK(ilen > 0);
    FUZZ_CHECK(strparse_uint(p, ilen, UINT64_MAX, &plain) == 0);
    FUZZ_CHECK(v / scale == plain);
    /* The fraction digits kept (zero-padded), then whether any cut one
     * was not zero. */
    const char *f = p + ilen + 1;
    size_t flen = ilen < len ? len - ilen - 1 : 0;
    uint64_t frac = 0;
    int cut = 0;
    for (size_t i = 0; i < flen || i < frac_digits; i++) {
        unsigned d = i < flen ? (unsigned)(f[i] - '0') : 0;
        FUZZ_CHECK(d <= 9);
        if (i < frac_digits)
            frac = frac * 10 + d;
        else if (d != 0)
            cut = 1;
    }
    FUZZ_CHECK(v % scale == frac);
    FUZZ_CHECK(inexact == cut);
}

static void check_time(const char *p, size_t len)
{
    uint64_t sec = 0;
    uint32_t nsec = 0;
    int rc = strparse_time(p, len, &sec, &nsec);
    uint64_t whole;
    int inexact;
    /* The same grammar as a fixed-point number with no fraction kept. */
    int rc_fixed = strparse_fixed(p, len, 0, &whole, &inexact);
    FUZZ_CHECK(rc == rc_fixed);
    if (rc != 0) {
        FUZZ_CHECK(rc == STRPARSE_EEMPTY || rc == STRPARSE_ESYNTAX ||
                   rc == STRPARSE_ERANGE);
        return;
    }
    FUZZ_CHECK(sec == whole);
    FUZZ_CHECK(nsec < 1000000000u);
    uint64_t plain;
    FUZZ_CHECK(strparse_uint(p, int_part(p, len), UINT64_MAX, &plain) == 0);
    FUZZ_CHECK(sec == plain);
    uint64_t ns;
    if (strparse_fixed(p, len, 9, &ns, &inexact) == 0)
        FUZZ_CHECK(ns % 1000000000u == nsec && ns / 1000000000u == sec);
}

static void check_coords(const char *p, size_t len)
{
    double lat = NAN;
    double lng = NAN;
    size_t off = SIZE_MAX;
    int rc = strparse_coords(p, len, &lat, &lng, &off);
    FUZZ_CHECK(strparse_strerror(rc) != NULL);
    if (rc != 0)
        return;
    FUZZ_CHECK(lat >= -90 && lat <= 90);
    FUZZ_CHECK(lng >= -180 && lng <= 180);
    FUZZ_CHECK(off > 1 && off + 1 < len);
    FUZZ_CHECK(p[0] == '+' || p[0] == '-');
    FUZZ_CHECK(p[off] == '+' || p[off] == '-');
    FUZZ_CHECK(p[0] == '+' ? lat >= 0 : lat <= 0);
    FUZZ_CHECK(p[off] == '+' ? lng >= 0 : lng <= 0);
    for (size_t i = 1; i < len; i++)
        FUZZ_CHECK(i == off || p[i] == '.' || (p[i] >= '0' && p[i] <= '9'));
}

static void check_hostport(const char *p, size_t len, size_t hostcap)
{
    char host[300];
    uint16_t port = 0;
    memset(host, 'X', sizeof host);
    int rc = strparse_hostport(p, len, host, hostcap, &port);
    FUZZ_CHECK(strparse_strerror(rc) != NULL);
    /* Nothing is ever written past the capacity. */
    for (size_t i = hostcap; i < sizeof host; i++)
        FUZZ_CHECK(host[i] == 'X');
    if (rc != 0)
        return;
    FUZZ_CHECK(port >= 1);
    size_t hlen = strnlen(host, hostcap);
    FUZZ_CHECK(hlen > 0 && hlen < hostcap);
    const char *at = p[0] == '[' ? p + 1 : p;
    FUZZ_CHECK(memcmp(at, host, hlen) == 0);
    FUZZ_CHECK(at[hlen] == (p[0] == '[' ? ']' : ':'));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in = {data, size};
    uint64_t max = maxima[fuzz_u8(&in) % (sizeof maxima / sizeof maxima[0])];
    unsigned frac_digits = fuzz_u8(&in) % 11;
    size_t hostcap = 1 + fuzz_u8(&in) % 256;
    const char *p = (const char *)in.p;
    size_t len = in.len;

    check_uint(p, len, max);
    check_fixed(p, len, frac_digits);
    check_time(p, len);
    check_coords(p, len);
    check_hostport(p, len, hostcap);
    return 0;
}
