#include "crc32c.h"

#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define HAVE_X86_CRC 1
#endif

#define POLY 0x82f63b78u /* Castagnoli, reflected */

static uint32_t table[256];
static int table_ready;

static void make_table(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ POLY : c >> 1;
        table[i] = c;
    }
    table_ready = 1;
}

uint32_t crc32c_portable(const void *data, size_t len)
{
    if (!table_ready)
        make_table();
    const unsigned char *p = data;
    uint32_t c = 0xffffffffu;
    while (len-- > 0)
        c = table[(c ^ *p++) & 0xff] ^ (c >> 8);
    return ~c;
}

#ifdef HAVE_X86_CRC
__attribute__((target("sse4.2"))) static uint32_t hw(const void *data,
                                                     size_t len)
{
    const unsigned char *p = data;
    uint64_t c = 0xffffffffu;
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, sizeof v);
        c = _mm_crc32_u64(c, v);
        p += 8;
        len -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (len-- > 0)
        c32 = _mm_crc32_u8(c32, *p++);
    return ~c32;
}
#endif

uint32_t crc32c(const void *data, size_t len)
{
#ifdef HAVE_X86_CRC
    static int has_hw = -1;
    if (has_hw < 0) {
        __builtin_cpu_init();
        has_hw = __builtin_cpu_supports("sse4.2") != 0;
    }
    if (has_hw)
        return hw(data, len);
#endif
    return crc32c_portable(data, len);
}
