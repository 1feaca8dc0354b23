/* strparse: strict conversions of protocol and configuration tokens.
 *
 * Every function takes a (ptr, len) token, accepts only the exact grammar it
 * documents (no leading or trailing junk, no sign where none is allowed, no
 * exponent, no nan/inf) and returns 0 or a negative STRPARSE_E* code. On
 * failure the outputs are unspecified. None of them allocates or touches
 * errno or the locale, so they are safe on untrusted bytes, NULs included.
 */
#ifndef HERD_STRPARSE_H
#define HERD_STRPARSE_H

#include <stddef.h>
#include <stdint.h>

#include "bytes.h"

enum strparse_error {
    STRPARSE_EEMPTY = -1101,  /* empty token */
    STRPARSE_ESYNTAX = -1102, /* not of the grammar */
    STRPARSE_ERANGE = -1103   /* of the grammar, but out of range */
};

/* DIGITS, value <= max. */
int strparse_uint(const char *p, size_t len, uint64_t max, uint64_t *out);

/* The other way: v in decimal, no NUL; returns the length (1 to 20). */
size_t strparse_format_u64(char out[20], uint64_t v);

/* DIGITS[.DIGITS], scaled by 10^frac_digits and truncated:
 * "1.2345" with frac_digits 3 gives 1234. *inexact is set when digits were
 * cut that were not all zero. At most 9 frac_digits. */
int strparse_fixed(const char *p, size_t len, unsigned frac_digits,
                   uint64_t *out, int *inexact);

/* POSIX time DIGITS[.DIGITS]: seconds fit in 64 bits; nsec from the first
 * nine fraction digits (later digits are kept only in the text). */
int strparse_time(const char *p, size_t len, uint64_t *sec, uint32_t *nsec);

/* ISO 6709 [+-]DIGITS[.DIGITS][+-]DIGITS[.DIGITS], latitude in [-90, 90],
 * longitude in [-180, 180]. *lng_off is the offset of the longitude's sign.
 * lat and lng may both be NULL to validate without converting (the range
 * check is on the digits, so it is the same; the conversion is most of the
 * cost). */
int strparse_coords(const char *p, size_t len, double *lat, double *lng,
                    size_t *lng_off);

/* HOST:PORT or [V6HOST]:PORT into a NUL-terminated host (without brackets)
 * and a port in 1..65535. */
int strparse_hostport(const char *p, size_t len, char *host, size_t hostcap,
                      uint16_t *port);

const char *strparse_strerror(int err);

/* A field of a line: a slice of the caller's bytes. */
struct strparse_slice {
    const char *p;
    size_t len;
};

/* Whether c is a field separator (space, tab, CR, FF, VT): the line
 * protocol's and herd.conf's alike. */
int strparse_is_space(char c);

/* strparse_is_space as a table (splitting runs over every byte of every
 * line, from clients and neighbours alike). */
extern const unsigned char strparse_space[256];

/* Splits a line into fields separated by runs of separators, filling at
 * most max; returns the real count (which may be larger than max, so
 * arity errors are still seen). Eight bytes a step. */
size_t strparse_split(const char *p, size_t len, struct strparse_slice *f,
                      size_t max);

/* The high bit of each of the eight bytes at p that is below 0x21, and
 * perhaps of a byte above one of those (the subtraction borrows): every
 * separator is flagged, a flag still has to be looked up in
 * strparse_space. */
static inline uint64_t strparse_low_bytes(const unsigned char *p)
{
    uint64_t w = bytes_le64(p);
    return (w - 0x2121212121212121ULL) & ~w & 0x8080808080808080ULL;
}

#endif
