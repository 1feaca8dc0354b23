#include "strparse.h"

#include <stdlib.h>
#include <string.h>

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Scans DIGITS[.DIGITS] from p; returns the length or 0 if none. */
static size_t scan_decimal(const char *p, size_t len, size_t *int_len)
{
    size_t i = 0;
    while (i < len && is_digit(p[i]))
        i++;
    if (i == 0)
        return 0;
    *int_len = i;
    if (i < len && p[i] == '.') {
        size_t j = i + 1;
        while (j < len && is_digit(p[j]))
            j++;
        if (j == i + 1)
            return 0; /* "12." has no fraction digits */
        i = j;
    }
    return i;
}

/* The digit value of c, or something above 9: one comparison decides. */
static unsigned digit(char c)
{
    return (unsigned)(unsigned char)c - '0';
}

/* Leading DIGITS of p as a number: returns how many there are; *over is
 * set when they do not fit in 64 bits. The first 19 always fit, so only
 * later ones pay for an overflow check. */
static size_t scan_digits(const char *p, size_t len, uint64_t *v, int *over)
{
    uint64_t x = 0;
    int o = 0;
    size_t n = len < 19 ? len : 19;
    size_t i = 0;
    unsigned d;
    for (; i < n && (d = digit(p[i])) <= 9; i++)
        x = x * 10 + d;
    if (i == 19)
        for (; i < len && (d = digit(p[i])) <= 9; i++)
            if (__builtin_mul_overflow(x, 10, &x) ||
                __builtin_add_overflow(x, (uint64_t)d, &x))
                o = 1;
    *v = x;
    *over = o;
    return i;
}

int strparse_uint(const char *p, size_t len, uint64_t max, uint64_t *out)
{
    if (len == 0)
        return STRPARSE_EEMPTY;
    uint64_t v;
    int over;
    size_t n = scan_digits(p, len, &v, &over);
    /* An overflow is in the digits before any non-digit, so it is the
     * first error, as it would be digit by digit. */
    if (over)
        return STRPARSE_ERANGE;
    if (n != len)
        return STRPARSE_ESYNTAX;
    if (v > max)
        return STRPARSE_ERANGE;
    *out = v;
    return 0;
}

size_t strparse_format_u64(char out[20], uint64_t v)
{
    char digits[20];
    size_t n = 0;
    do
        digits[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    for (size_t i = 0; i < n; i++)
        out[i] = digits[n - 1 - i];
    return n;
}

int strparse_fixed(const char *p, size_t len, unsigned frac_digits,
                   uint64_t *out, int *inexact)
{
    if (len == 0)
        return STRPARSE_EEMPTY;
    if (frac_digits > 9)
        return STRPARSE_ERANGE;
    size_t int_len = 0;
    if (scan_decimal(p, len, &int_len) != len)
        return STRPARSE_ESYNTAX;
    uint64_t scale = 1;
    for (unsigned i = 0; i < frac_digits; i++)
        scale *= 10;
    uint64_t whole;
    int rc = strparse_uint(p, int_len, UINT64_MAX / scale, &whole);
    if (rc != 0)
        return rc;
    uint64_t frac = 0;
    int cut = 0;
    const char *f = p + int_len + 1;
    size_t flen = int_len < len ? len - int_len - 1 : 0;
    for (unsigned i = 0; i < frac_digits; i++)
        frac = frac * 10 + (i < flen ? (uint64_t)(f[i] - '0') : 0);
    for (size_t i = frac_digits; i < flen; i++)
        if (f[i] != '0')
            cut = 1;
    if (whole * scale > UINT64_MAX - frac)
        return STRPARSE_ERANGE;
    *out = whole * scale + frac;
    if (inexact != NULL)
        *inexact = cut;
    return 0;
}

int strparse_time(const char *p, size_t len, uint64_t *sec, uint32_t *nsec)
{
    /* One pass: every IAMAT and every flooded record has a time. */
    if (len == 0)
        return STRPARSE_EEMPTY;
    uint64_t v;
    int overflow;
    size_t i = scan_digits(p, len, &v, &overflow);
    if (i == 0)
        return STRPARSE_ESYNTAX;
    uint32_t ns = 0;
    size_t frac = 0;
    if (i < len) {
        if (p[i] != '.')
            return STRPARSE_ESYNTAX;
        i++;
        size_t nine = len - i < 9 ? len - i : 9;
        unsigned d;
        for (; frac < nine && (d = digit(p[i])) <= 9; i++, frac++)
            ns = ns * 10 + d;
        if (frac == 9) /* digits past the ninth: checked, not used */
            for (; i < len && digit(p[i]) <= 9; i++, frac++)
                ;
        if (frac == 0 || i != len)
            return STRPARSE_ESYNTAX; /* "12." or junk after the digits */
    }
    if (overflow)
        return STRPARSE_ERANGE;
    for (; frac < 9; frac++)
        ns *= 10;
    *sec = v;
    *nsec = ns;
    return 0;
}

/* Parses one signed coordinate [+-]DIGITS[.DIGITS] at the start of p and
 * checks |value| <= limit exactly (on the digits, not on a double). Returns
 * the length consumed or a negative error. */
static long parse_coord(const char *p, size_t len, unsigned limit, double *val)
{
    if (len == 0)
        return STRPARSE_EEMPTY;
    if (p[0] != '+' && p[0] != '-')
        return STRPARSE_ESYNTAX;
    /* One pass over [+-]DIGITS[.DIGITS]: the integer part saturates (a
     * value past the limit is out of range however many digits it has),
     * and syntax is decided before range, as scan_decimal would. */
    size_t i = 1;
    uint64_t whole = 0;
    int over = 0;
    unsigned d;
    for (; i < len && (d = digit(p[i])) <= 9; i++) {
        whole = whole * 10 + d;
        if (whole > limit) {
            over = 1;
            whole = limit + 1u;
        }
    }
    size_t int_len = i - 1;
    if (int_len == 0)
        return STRPARSE_ESYNTAX;
    int frac_nonzero = 0;
    if (i < len && p[i] == '.') {
        size_t j = i + 1;
        unsigned f;
        for (; j < len && (f = digit(p[j])) <= 9; j++)
            frac_nonzero |= f != 0;
        if (j == i + 1)
            return STRPARSE_ESYNTAX; /* "12." has no fraction digits */
        i = j;
    }
    size_t n = i - 1; /* DIGITS[.DIGITS], without the sign */
    if (over || (whole == limit && frac_nonzero))
        return STRPARSE_ERANGE;
    /* The double is for distance maths only; the text is what is echoed.
     * Leading zeros and digits past the 20th fraction digit change nothing
     * a double can hold, so a bounded copy is enough for strtod. */
    if (val == NULL)
        return (long)(n + 1); /* validation only: no conversion */
    char tmp[48];
    size_t t = 0;
    tmp[t++] = p[0];
    size_t start = 0;
    while (start + 1 < int_len && p[1 + start] == '0')
        start++;
    for (size_t k = start; k < n && t < sizeof tmp - 1; k++)
        tmp[t++] = p[1 + k];
    tmp[t] = '\0';
    *val = strtod(tmp, NULL);
    return (long)(n + 1);
}

int strparse_coords(const char *p, size_t len, double *lat, double *lng,
                    size_t *lng_off)
{
    if (len == 0)
        return STRPARSE_EEMPTY;
    long a = parse_coord(p, len, 90, lat);
    if (a < 0)
        return (int)a;
    size_t off = (size_t)a;
    long b = parse_coord(p + off, len - off, 180, lng);
    if (b < 0)
        return b == STRPARSE_EEMPTY ? STRPARSE_ESYNTAX : (int)b;
    if (off + (size_t)b != len)
        return STRPARSE_ESYNTAX;
    *lng_off = off;
    return 0;
}

int strparse_hostport(const char *p, size_t len, char *host, size_t hostcap,
                      uint16_t *port)
{
    if (len == 0)
        return STRPARSE_EEMPTY;
    const char *h;
    size_t hlen;
    const char *rest;
    if (p[0] == '[') {
        const char *close = memchr(p, ']', len);
        if (close == NULL || close + 1 >= p + len || close[1] != ':')
            return STRPARSE_ESYNTAX;
        h = p + 1;
        hlen = (size_t)(close - h);
        rest = close + 2;
    } else {
        const char *colon = NULL;
        for (size_t i = 0; i < len; i++)
            if (p[i] == ':') {
                if (colon != NULL)
                    return STRPARSE_ESYNTAX; /* bare IPv6 needs brackets */
                colon = p + i;
            }
        if (colon == NULL)
            return STRPARSE_ESYNTAX;
        h = p;
        hlen = (size_t)(colon - p);
        rest = colon + 1;
    }
    if (hlen == 0 || hlen >= hostcap || memchr(h, '\0', hlen) != NULL)
        return STRPARSE_ESYNTAX;
    uint64_t v;
    int rc = strparse_uint(rest, (size_t)(p + len - rest), 65535, &v);
    if (rc != 0)
        return rc == STRPARSE_EEMPTY ? STRPARSE_ESYNTAX : rc;
    if (v == 0)
        return STRPARSE_ERANGE;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (uint16_t)v;
    return 0;
}

const char *strparse_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case STRPARSE_EEMPTY:
        return "empty value";
    case STRPARSE_ESYNTAX:
        return "malformed value";
    case STRPARSE_ERANGE:
        return "value out of range";
    default:
        return "unknown error";
    }
}

int strparse_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

const unsigned char strparse_space[256] = {
    [' '] = 1, ['\t'] = 1, ['\r'] = 1, ['\f'] = 1, ['\v'] = 1,
};

/* The first separator at or after i, or len. Eight bytes a step: a word
 * with no byte below 0x21 holds none; in one that has some, each such
 * byte (lowest first) is looked up, since the word test also flags a few
 * that are not separators (other control bytes, and a byte above one
 * that borrowed). */
static size_t next_space(const unsigned char *u, size_t i, size_t len)
{
    for (; i + 8 <= len; i += 8) {
        for (uint64_t m = strparse_low_bytes(u + i); m != 0; m &= m - 1) {
            size_t k = i + ((size_t)__builtin_ctzll(m) >> 3);
            if (strparse_space[u[k]])
                return k;
        }
    }
    while (i < len && !strparse_space[u[i]])
        i++;
    return i;
}

size_t strparse_split(const char *p, size_t len, struct strparse_slice *f,
                      size_t max)
{
    const unsigned char *u = (const unsigned char *)p;
    size_t n = 0;
    size_t i = 0;
    for (;;) {
        while (i < len && strparse_space[u[i]])
            i++;
        if (i >= len)
            return n;
        size_t s = i;
        i = next_space(u, i, len);
        if (n < max) {
            f[n].p = p + s;
            f[n].len = i - s;
        }
        n++;
    }
}
