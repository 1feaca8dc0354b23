/* test.h: the unit test harness, no dependency.
 * CHECK(expr), CHECK_EQ_INT(got, want), CHECK_EQ_STR(got, want) and
 * CHECK_EQ_MEM(got, want, n) print "file:line: expected ... got ..." and
 * exit 1. TEST_MAIN(tests) runs every case of a struct test table, or the
 * one named in argv[1], printing "ok N - name" and "N passed, 0 failed".
 */
#ifndef HERD_TEST_H
#define HERD_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct test {
    const char *name;
    void (*fn)(void);
};

static inline void test_fail_(const char *file, int line, const char *what)
{
    fflush(stdout);
    fprintf(stderr, "%s:%d: %s\n", file, line, what);
    exit(1);
}

static inline void test_eq_int_(const char *file, int line, const char *expr,
                                long long got, long long want)
{
    char msg[512];
    if (got == want)
        return;
    snprintf(msg, sizeof msg, "%s: expected %lld (%llu) got %lld (%llu)", expr,
             want, (unsigned long long)want, got, (unsigned long long)got);
    test_fail_(file, line, msg);
}

/* Up to 4000 bytes as a C string literal, or NULL. */
static inline void test_print_mem_(const char *p, size_t n)
{
    fputs(p == NULL ? "NULL" : "\"", stderr);
    for (size_t i = 0; p != NULL && i < n && i < 4000; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\n' || c == '"' || c == '\\')
            fprintf(stderr, "\\%c", c == '\n' ? 'n' : c);
        else
            fprintf(stderr, c >= 0x20 && c < 0x7f ? "%c" : "\\x%02x", c);
    }
    if (p != NULL)
        fprintf(stderr, n > 4000 ? "\"... (%zu bytes)" : "\" (%zu bytes)", n);
}

/* A length of (size_t)-1 means strlen. */
static inline void test_eq_mem_(const char *file, int line, const char *expr,
                                const char *got, size_t gn, const char *want,
                                size_t wn)
{
    gn = gn == (size_t)-1 && got != NULL ? strlen(got) : gn;
    wn = wn == (size_t)-1 && want != NULL ? strlen(want) : wn;
    size_t at = 0;
    while (got != NULL && want != NULL && at < gn && at < wn &&
           got[at] == want[at])
        at++;
    if ((got == NULL && want == NULL) ||
        (got != NULL && want != NULL && at == gn && at == wn))
        return;
    fflush(stdout);
    fprintf(stderr, "%s:%d: %s (differs at byte %zu): expected ", file, line,
            expr, at);
    test_print_mem_(want, wn);
    fputs(" got ", stderr);
    test_print_mem_(got, gn);
    fputc('\n', stderr);
    exit(1);
}

#define CHECK(expr)   \
    ((expr) ? (void)0 \
            : test_fail_(__FILE__, __LINE__, "expected " #expr " got false"))
#define CHECK_EQ_INT(got, want) \
    test_eq_int_(__FILE__, __LINE__, #got, (long long)(got), (long long)(want))
#define CHECK_EQ_STR(got, want)                                       \
    test_eq_mem_(__FILE__, __LINE__, #got, (got), (size_t)-1, (want), \
                 (size_t)-1)
#define CHECK_EQ_MEM(got, want, n)                                   \
    test_eq_mem_(__FILE__, __LINE__, #got, (const char *)(got), (n), \
                 (const char *)(want), (n))

static inline int test_run_(const struct test *t, size_t n, int argc,
                            char **argv)
{
    size_t passed = 0;
    for (size_t i = 0; i < n; i++) {
        if (argc <= 1 || strcmp(argv[1], t[i].name) == 0) {
            t[i].fn();
            printf("ok %zu - %s\n", ++passed, t[i].name);
            fflush(stdout);
        }
    }
    if (passed == 0 && argc > 1)
        fprintf(stderr, "no test named %s\n", argv[1]);
    else
        printf("%zu passed, 0 failed\n", passed);
    return passed == 0 && argc > 1;
}

#define TEST_MAIN(tests)                                                     \
    int main(int argc, char **argv)                                          \
    {                                                                        \
        return test_run_(tests, sizeof tests / sizeof tests[0], argc, argv); \
    }

#endif
