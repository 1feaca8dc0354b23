/* Unit tests for common/crc32c: the published check value, the hardware
 * and table versions agreeing at every length and alignment. */
#include <stdint.h>
#include <string.h>

#include "crc32c.h"
#include "test.h"

static void test_check_value(void)
{
    CHECK(crc32c("123456789", 9) == 0xe3069283u);
    CHECK(crc32c_portable("123456789", 9) == 0xe3069283u);
    CHECK(crc32c("", 0) == 0);
    /* 32 zero bytes (RFC 3720, B.4). */
    unsigned char z[32];
    memset(z, 0, sizeof z);
    CHECK(crc32c(z, sizeof z) == 0x8a9136aau);
    unsigned char ff[32];
    memset(ff, 0xff, sizeof ff);
    CHECK(crc32c(ff, sizeof ff) == 0x62a8ab43u);
}

static void test_versions_agree(void)
{
    unsigned char buf[300];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof buf; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (unsigned char)(x >> 16);
    }
    for (size_t off = 0; off < 8; off++)
        for (size_t len = 0; off + len <= sizeof buf; len += 7)
            CHECK(crc32c(buf + off, len) == crc32c_portable(buf + off, len));
}

static void test_detects_a_flipped_bit(void)
{
    char line[] =
        "AT Alford +0.263873386 kiwi.cs.ucla.edu +34.068930-118.445127 "
        "1621464827.959498503";
    uint32_t good = crc32c(line, sizeof line - 1);
    for (size_t i = 0; i < sizeof line - 1; i++)
        for (int b = 0; b < 8; b++) {
            line[i] ^= (char)(1 << b);
            CHECK(crc32c(line, sizeof line - 1) != good);
            line[i] ^= (char)(1 << b);
        }
}

static const struct test tests[] = {
    {"check_value", test_check_value},
    {"versions_agree", test_versions_agree},
    {"detects_a_flipped_bit", test_detects_a_flipped_bit},
};

TEST_MAIN(tests)
