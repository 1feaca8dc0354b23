/* bytes: little-endian words of a byte string, for code that reads text
 * eight bytes a step (hashing, splitting). */
#ifndef HERD_BYTES_H
#define HERD_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The eight bytes at p as a little-endian word (p[0] lowest); memcpy
 * compiles to one load. */
static inline uint64_t bytes_le64(const unsigned char *p)
{
    uint64_t w;
    memcpy(&w, p, sizeof w);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

/* The n < 8 bytes at p the same way, the missing high bytes zero: a tail
 * that must not be read past. */
static inline uint64_t bytes_le_tail(const unsigned char *p, size_t n)
{
    uint64_t w = 0;
    for (size_t j = n; j-- > 0;)
        w = w << 8 | p[j];
    return w;
}

#endif
