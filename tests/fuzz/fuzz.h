/* Shared by the libFuzzer targets (tests/fuzz/fuzz_*.c).
 *
 * FUZZ_CHECK states a property of the code under test. It is not assert():
 * the fuzz build is RelWithDebInfo, where NDEBUG turns assert() off, and a
 * violated property must stop the run so that libFuzzer keeps the input.
 *
 * struct fuzz_input takes parameters (sizes, modes, split points) from the
 * front of the input, so the fuzzer mutates them along with the bytes; a
 * short input reads as zeros instead of failing.
 */
#ifndef HERD_FUZZ_H
#define HERD_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* The entry point libFuzzer calls once per input; returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                          \
    do {                                          \
        if (!(cond))                              \
            fuzz_fail(__FILE__, __LINE__, #cond); \
    } while (0)

__attribute__((noreturn)) static inline void
fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: property violated: %s\n", file, line, what);
    fflush(stderr);
    abort();
}

struct fuzz_input {
    const uint8_t *p;
    size_t len;
};

static inline uint8_t fuzz_u8(struct fuzz_input *in)
{
    if (in->len == 0)
        return 0;
    in->len--;
    return *in->p++;
}

static inline uint16_t fuzz_u16(struct fuzz_input *in)
{
    uint16_t lo = fuzz_u8(in);
    return (uint16_t)(lo | (uint16_t)(fuzz_u8(in) << 8));
}

static inline uint32_t fuzz_u32(struct fuzz_input *in)
{
    uint32_t lo = fuzz_u16(in);
    return lo | ((uint32_t)fuzz_u16(in) << 16);
}

/* xorshift64*: a deterministic stream from a seed taken from the input. */
static inline uint64_t fuzz_rand(uint64_t *state)
{
    uint64_t x = *state != 0 ? *state : 0x9e3779b97f4a7c15ULL;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dULL;
}

/* FNV-1a of the bytes, to seed fuzz_rand from the whole input. */
static inline uint64_t fuzz_hash(const uint8_t *p, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

#endif
