/* Unit tests for common/dynbuf: the bound, growth, consume and take. */
#include <stdlib.h>
#include <string.h>

#include "dynbuf.h"
#include "test.h"

static void test_init_empty(void)
{
    struct dynbuf b;
    dynbuf_init(&b, 100);
    CHECK(b.data == NULL);
    CHECK_EQ_INT(b.len, 0);
    CHECK_EQ_INT(b.max, 100);
    dynbuf_free(&b);
    CHECK(b.data == NULL);
}

static void test_add_and_addc(void)
{
    struct dynbuf b;
    dynbuf_init(&b, 100);
    CHECK_EQ_INT(dynbuf_add(&b, "hello", 5), 0);
    CHECK_EQ_INT(dynbuf_addc(&b, ' '), 0);
    CHECK_EQ_INT(dynbuf_add(&b, "w\0rld", 5), 0);
    CHECK_EQ_INT(b.len, 11);
    CHECK_EQ_MEM(b.data, "hello w\0rld", 11);
    CHECK_EQ_INT(dynbuf_add(&b, "", 0), 0);
    CHECK_EQ_INT(b.len, 11);
    dynbuf_free(&b);
}

/* A line and its newline go in together, to the limit and not past it. */
static void test_add_line(void)
{
    struct dynbuf b;
    dynbuf_init(&b, 10);
    CHECK_EQ_INT(dynbuf_add_line(&b, "abc", 3), 0);
    CHECK_EQ_INT(dynbuf_add_line(&b, "", 0), 0);
    CHECK_EQ_INT(b.len, 5);
    CHECK_EQ_MEM(b.data, "abc\n\n", 5);
    /* "defg" and its newline fill the buffer exactly; one more is not
     * taken, not even in part. */
    CHECK_EQ_INT(dynbuf_add_line(&b, "defg", 4), 0);
    CHECK_EQ_INT(b.len, 10);
    CHECK_EQ_INT(dynbuf_add_line(&b, "", 0), DYNBUF_ETOOBIG);
    CHECK_EQ_INT(b.len, 10);
    CHECK_EQ_MEM(b.data, "abc\n\ndefg\n", 10);
    dynbuf_free(&b);
    dynbuf_init(&b, 10);
    CHECK_EQ_INT(dynbuf_add_line(&b, "0123456789", 10), DYNBUF_ETOOBIG);
    CHECK_EQ_INT(dynbuf_add_line(&b, "x", (size_t)-1), DYNBUF_ETOOBIG);
    CHECK(b.data == NULL);
    CHECK_EQ_INT(dynbuf_add_line(&b, "012345678", 9), 0);
    CHECK_EQ_MEM(b.data, "012345678\n", 10);
    dynbuf_free(&b);
}

static void test_limit_enforced(void)
{
    struct dynbuf b;
    dynbuf_init(&b, 10);
    CHECK_EQ_INT(dynbuf_add(&b, "0123456", 7), 0);
    const char *before = b.data;
    /* Past the limit: refused, buffer unchanged. */
    CHECK_EQ_INT(dynbuf_add(&b, "abcd", 4), DYNBUF_ETOOBIG);
    CHECK_EQ_INT(b.len, 7);
    CHECK(b.data == before);
    CHECK_EQ_MEM(b.data, "0123456", 7);
    CHECK_EQ_INT(dynbuf_printf(&b, "%s", "abcd"), DYNBUF_ETOOBIG);
    CHECK_EQ_INT(b.len, 7);
    CHECK_EQ_MEM(b.data, "0123456", 7);
    /* Exactly to the limit: fine; one more byte is not. */
    CHECK_EQ_INT(dynbuf_add(&b, "abc", 3), 0);
    CHECK_EQ_INT(b.len, 10);
    CHECK_EQ_MEM(b.data, "0123456abc", 10);
    CHECK_EQ_INT(dynbuf_addc(&b, 'x'), DYNBUF_ETOOBIG);
    CHECK_EQ_INT(dynbuf_printf(&b, "x"), DYNBUF_ETOOBIG);
    CHECK_EQ_INT(b.len, 10);
    CHECK_EQ_MEM(b.data, "0123456abc", 10);
    /* A huge length does not wrap around the check. */
    CHECK_EQ_INT(dynbuf_add(&b, "x", (size_t)-1), DYNBUF_ETOOBIG);
    CHECK_EQ_INT(b.len, 10);
    CHECK(dynbuf_reserve(&b, 1) == NULL);
    dynbuf_free(&b);
    /* A first add bigger than the limit leaves nothing allocated. */
    dynbuf_init(&b, 4);
    CHECK_EQ_INT(dynbuf_add(&b, "12345", 5), DYNBUF_ETOOBIG);
    CHECK(b.data == NULL);
    CHECK_EQ_INT(b.len, 0);
    dynbuf_free(&b);
}

static void test_printf_small(void)
{
    struct dynbuf b;
    dynbuf_init(&b, 1000);
    CHECK_EQ_INT(dynbuf_printf(&b, "%d-%s", 42, "x"), 0);
    CHECK_EQ_INT(dynbuf_printf(&b, "|%05u", 7u), 0);
    CHECK_EQ_INT(dynbuf_printf(&b, "%s", ""), 0);
    CHECK_EQ_INT(b.len, 10);
    CHECK_EQ_MEM(b.data, "42-x|00007", 10);
    dynbuf_free(&b);
    /* Exactly the limit through the short path. */
    dynbuf_init(&b, 100);
    CHECK_EQ_INT(dynbuf_printf(&b, "%100s", "y"), 0);
    CHECK_EQ_INT(b.len, 100);
    CHECK_EQ_INT(b.data[99], 'y');
    dynbuf_free(&b);
}

static void test_printf_growth_past_256(void)
{
    char big[1001];
    memset(big, 'x', 1000);
    big[1000] = '\0';
    struct dynbuf b;
    dynbuf_init(&b, 1 << 20);
    CHECK_EQ_INT(dynbuf_printf(&b, "<%s>", big), 0);
    CHECK_EQ_INT(b.len, 1002);
    CHECK_EQ_INT(b.data[0], '<');
    CHECK_EQ_MEM(b.data + 1, big, 1000);
    CHECK_EQ_INT(b.data[1001], '>');
    /* Appends after existing bytes. */
    CHECK_EQ_INT(dynbuf_printf(&b, "%d", 5), 0);
    CHECK_EQ_INT(dynbuf_printf(&b, "%s", big), 0);
    CHECK_EQ_INT(dynbuf_printf(&b, "%300d", 1), 0);
    CHECK_EQ_INT(b.len, 1002 + 1 + 1000 + 300);
    CHECK_EQ_INT(b.data[1002], '5');
    CHECK_EQ_MEM(b.data + 1003, big, 1000);
    CHECK_EQ_INT(b.data[2003], ' ');
    CHECK_EQ_INT(b.data[b.len - 1], '1');
    CHECK(b.cap >= b.len);
    dynbuf_free(&b);
    /* Exactly 256 and 255 bytes: both sides of the short buffer. */
    for (int n = 250; n <= 260; n++) {
        dynbuf_init(&b, 1000);
        CHECK_EQ_INT(dynbuf_printf(&b, "%.*s", n, big), 0);
        CHECK_EQ_INT(b.len, n);
        CHECK_EQ_MEM(b.data, big, (size_t)n);
        dynbuf_free(&b);
    }
}

static void test_printf_long_past_limit(void)
{
    char big[501];
    memset(big, 'q', 500);
    big[500] = '\0';
    struct dynbuf b;
    dynbuf_init(&b, 400);
    CHECK_EQ_INT(dynbuf_add(&b, "keep", 4), 0);
    CHECK_EQ_INT(dynbuf_printf(&b, "%s", big), DYNBUF_ETOOBIG);
    CHECK_EQ_INT(b.len, 4);
    CHECK_EQ_MEM(b.data, "keep", 4);
    dynbuf_free(&b);
}

/* The limit is the most bytes a buffer holds: a long printf that ends
 * exactly at it succeeds like dynbuf_add does. */
static void test_printf_long_up_to_limit(void)
{
    char big[301];
    memset(big, 'p', 300);
    big[300] = '\0';
    struct dynbuf b;
    dynbuf_init(&b, 300);
    CHECK_EQ_INT(dynbuf_printf(&b, "%s", big), 0);
    CHECK_EQ_INT(b.len, 300);
    dynbuf_free(&b);
    dynbuf_init(&b, 300);
    CHECK_EQ_INT(dynbuf_add(&b, big, 10), 0);
    CHECK_EQ_INT(dynbuf_printf(&b, "%s", big + 10), 0);
    CHECK_EQ_INT(b.len, 300);
    CHECK_EQ_MEM(b.data, big, 300);
    dynbuf_free(&b);
}

static void test_reserve(void)
{
    struct dynbuf b;
    dynbuf_init(&b, 64);
    char *p = dynbuf_reserve(&b, 10);
    CHECK(p != NULL);
    memcpy(p, "0123456789", 10);
    b.len += 10;
    CHECK_EQ_MEM(b.data, "0123456789", 10);
    CHECK(dynbuf_reserve(&b, 54) != NULL);
    CHECK(dynbuf_reserve(&b, 55) == NULL);
    CHECK_EQ_INT(b.len, 10);
    CHECK(b.cap <= 64);
    dynbuf_free(&b);
}

static void test_many_small_adds(void)
{
    struct dynbuf b;
    dynbuf_init(&b, 100000);
    for (int i = 0; i < 50000; i++)
        CHECK_EQ_INT(dynbuf_addc(&b, (char)('a' + i % 26)), 0);
    CHECK_EQ_INT(b.len, 50000);
    for (int i = 0; i < 50000; i++)
        if (b.data[i] != (char)('a' + i % 26))
            CHECK_EQ_INT(b.data[i], 'a' + i % 26);
    dynbuf_free(&b);
}

static void test_consume(void)
{
    struct dynbuf b;
    dynbuf_init(&b, 100);
    CHECK_EQ_INT(dynbuf_add(&b, "abcdefgh", 8), 0);
    dynbuf_consume(&b, 0);
    CHECK_EQ_INT(b.len, 8);
    dynbuf_consume(&b, 3);
    CHECK_EQ_INT(b.len, 5);
    CHECK_EQ_MEM(b.data, "defgh", 5);
    CHECK_EQ_INT(dynbuf_add(&b, "ij", 2), 0);
    CHECK_EQ_MEM(b.data, "defghij", 7);
    dynbuf_consume(&b, 7);
    CHECK_EQ_INT(b.len, 0);
    CHECK_EQ_INT(dynbuf_add(&b, "k", 1), 0);
    CHECK_EQ_MEM(b.data, "k", 1);
    /* Consumed bytes free room under the limit again. */
    dynbuf_free(&b);
    dynbuf_init(&b, 4);
    CHECK_EQ_INT(dynbuf_add(&b, "1234", 4), 0);
    CHECK_EQ_INT(dynbuf_add(&b, "5", 1), DYNBUF_ETOOBIG);
    dynbuf_consume(&b, 2);
    CHECK_EQ_INT(dynbuf_add(&b, "56", 2), 0);
    CHECK_EQ_MEM(b.data, "3456", 4);
    dynbuf_free(&b);
}

static void test_take(void)
{
    struct dynbuf b;
    dynbuf_init(&b, 100);
    size_t len = 99;
    char *p = dynbuf_take(&b, &len);
    CHECK(p == NULL);
    CHECK_EQ_INT(len, 0);
    CHECK_EQ_INT(dynbuf_add(&b, "taken", 5), 0);
    p = dynbuf_take(&b, &len);
    CHECK(p != NULL);
    CHECK_EQ_INT(len, 5);
    CHECK_EQ_MEM(p, "taken", 5);
    CHECK(b.data == NULL);
    CHECK_EQ_INT(b.len, 0);
    CHECK_EQ_INT(b.cap, 0);
    /* The buffer is usable again and independent of the taken bytes. */
    CHECK_EQ_INT(dynbuf_add(&b, "new", 3), 0);
    CHECK_EQ_MEM(p, "taken", 5);
    free(p);
    p = dynbuf_take(&b, NULL);
    CHECK_EQ_MEM(p, "new", 3);
    free(p);
    dynbuf_free(&b);
}

static void test_free_and_reuse(void)
{
    struct dynbuf b;
    dynbuf_init(&b, 16);
    CHECK_EQ_INT(dynbuf_add(&b, "abc", 3), 0);
    dynbuf_free(&b);
    CHECK(b.data == NULL);
    CHECK_EQ_INT(b.len, 0);
    CHECK_EQ_INT(b.max, 16);
    CHECK_EQ_INT(dynbuf_add(&b, "0123456789abcdef", 16), 0);
    CHECK_EQ_INT(dynbuf_addc(&b, 'x'), DYNBUF_ETOOBIG);
    dynbuf_free(&b);
}

static void test_cut(void)
{
    struct dynbuf b;
    dynbuf_init(&b, 100);
    CHECK_EQ_INT(dynbuf_add(&b, "aaXbbYYccZ", 10), 0);
    /* Nothing to cut: unchanged. */
    dynbuf_cut(&b, NULL, 0);
    CHECK_EQ_MEM(b.data, "aaXbbYYccZ", 10);
    /* Ranges at the start, in the middle, at the end; empty ones too. */
    const struct dynbuf_range r[] = {{2, 1}, {4, 0}, {5, 2}, {9, 1}};
    dynbuf_cut(&b, r, 4);
    CHECK_EQ_INT(b.len, 6);
    CHECK_EQ_MEM(b.data, "aabbcc", 6);
    const struct dynbuf_range first = {0, 2};
    dynbuf_cut(&b, &first, 1);
    CHECK_EQ_INT(b.len, 4);
    CHECK_EQ_MEM(b.data, "bbcc", 4);
    const struct dynbuf_range all = {0, 4};
    dynbuf_cut(&b, &all, 1);
    CHECK_EQ_INT(b.len, 0);
    dynbuf_free(&b);
}

static void test_strerror(void)
{
    CHECK(strcmp(dynbuf_strerror(DYNBUF_ETOOBIG),
                 dynbuf_strerror(DYNBUF_ENOMEM)) != 0);
    CHECK(strcmp(dynbuf_strerror(DYNBUF_ETOOBIG), dynbuf_strerror(-1)) != 0);
    CHECK(strcmp(dynbuf_strerror(0), dynbuf_strerror(-1)) != 0);
}

/* dynbuf_line: complete lines only, split in place, each asked for again
 * still whole. */
static void test_line(void)
{
    struct dynbuf b;
    dynbuf_init(&b, 100);
    CHECK(dynbuf_line(&b, 0) == NULL);
    CHECK_EQ_INT(dynbuf_add(&b, "ok cut\n{\"a\":1}\npart", 19), 0);
    CHECK_EQ_STR(dynbuf_line(&b, 1), "{\"a\":1}");
    CHECK_EQ_STR(dynbuf_line(&b, 0), "ok cut");
    CHECK_EQ_STR(dynbuf_line(&b, 1), "{\"a\":1}");
    CHECK(dynbuf_line(&b, 2) == NULL); /* "part" has no newline yet */
    CHECK(dynbuf_line(&b, 3) == NULL);
    dynbuf_free(&b);
}

static const struct test tests[] = {
    {"init_empty", test_init_empty},
    {"line", test_line},
    {"add_and_addc", test_add_and_addc},
    {"limit_enforced", test_limit_enforced},
    {"add_line", test_add_line},
    {"printf_small", test_printf_small},
    {"printf_growth_past_256", test_printf_growth_past_256},
    {"printf_long_past_limit", test_printf_long_past_limit},
    {"reserve", test_reserve},
    {"many_small_adds", test_many_small_adds},
    {"consume", test_consume},
    {"take", test_take},
    {"cut", test_cut},
    {"free_and_reuse", test_free_and_reuse},
    {"strerror", test_strerror},
    {"printf_long_up_to_limit", test_printf_long_up_to_limit},
};

TEST_MAIN(tests)
