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

#endif
