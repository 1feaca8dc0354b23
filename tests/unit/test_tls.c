/* TLS on memory buffers: the handshake by pre-shared key, records split
 * anywhere, and what a wrong key or a changed byte does. */
#include <string.h>

#include "test.h"
#include "tls.h"

static const unsigned char secret[] = "0123456789abcdef0123456789abcdef";
static const unsigned char other[] = "fedcba9876543210fedcba9876543210";

/* Moves what a has to send into b, step bytes at a time (0: at once). */
static int pass(struct tls_conn *a, struct tls_conn *b, size_t step)
{
    char buf[65536];
    size_t n;
    int moved = 0;
    while ((n = tls_take(a, buf, sizeof buf)) > 0) {
        for (size_t off = 0; off < n;) {
            size_t k = step == 0 || n - off < step ? n - off : step;
            CHECK_EQ_INT(tls_feed(b, buf + off, k), TLS_OK);
            off += k;
        }
        moved = 1;
    }
    return moved;
}

/* Runs both handshakes to their end, or to the first failure: TLS_OK
 * when both are done. */
static int handshake(struct tls_conn *d, struct tls_conn *a)
{
    for (int round = 0; round < 10; round++) {
        int rd = tls_handshake(d);
        pass(d, a, 7);
        int ra = tls_handshake(a);
        pass(a, d, 0);
        if (rd == TLS_EFAIL || ra == TLS_EFAIL) {
            if (getenv("TLS_DEBUG"))
                fprintf(stderr, "dial: %s / accept: %s\n",
                        rd == TLS_EFAIL ? tls_error(d) : "-",
                        ra == TLS_EFAIL ? tls_error(a) : "-");
            return TLS_EFAIL;
        }
        if (rd == TLS_OK && ra == TLS_OK && tls_pending(d) == 0 &&
            tls_pending(a) == 0)
            return TLS_OK;
    }
    return TLS_EAGAIN;
}

static size_t read_all(struct tls_conn *t, char *out, size_t cap)
{
    size_t got = 0;
    long n;
    while (got < cap && (n = tls_read(t, out + got, cap - got)) > 0)
        got += (size_t)n;
    return got;
}

static void test_psk_round_trip(void)
{
    char err[256];
    struct tls_ctx *ctx =
        tls_ctx_new(secret, 32, NULL, NULL, NULL, err, sizeof err);
    CHECK(ctx != NULL);
    CHECK(!tls_ctx_certs(ctx));
    struct tls_conn *d = tls_conn_new(ctx, 0, "Parker");
    struct tls_conn *a = tls_conn_new(ctx, 1, NULL);
    CHECK(d != NULL && a != NULL);
    CHECK(!tls_done(d) && !tls_done(a));
    CHECK_EQ_INT(handshake(d, a), TLS_OK);
    CHECK(tls_done(d) && tls_done(a));
    CHECK(tls_name_ok(a, "anyone")); /* a key names no one */

    /* 100 000 bytes of lines, fed back a byte at a time for the first
     * records, then at once: what comes out is what went in. */
    static char big[100000], got[100001];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = i % 61 == 60 ? '\n' : (char)('a' + i % 26);
    CHECK_EQ_INT(tls_write(d, big, sizeof big), TLS_OK);
    CHECK(tls_pending(d) > sizeof big); /* sealed: longer than the text */
    pass(d, a, 1);
    CHECK_EQ_INT(read_all(a, got, sizeof got), sizeof big);
    CHECK_EQ_MEM(got, big, sizeof big);
    CHECK_EQ_INT(tls_read(a, got, sizeof got), TLS_EAGAIN);
    /* And the other way. */
    CHECK_EQ_INT(tls_write(a, "PONG 1\n", 7), TLS_OK);
    pass(a, d, 0);
    CHECK_EQ_INT(read_all(d, got, sizeof got), 7);
    CHECK_EQ_MEM(got, "PONG 1\n", 7);
    tls_conn_free(d);
    tls_conn_free(a);
    tls_ctx_free(ctx);
}

static void test_wrong_key_fails(void)
{
    char err[256];
    struct tls_ctx *c1 =
        tls_ctx_new(secret, 32, NULL, NULL, NULL, err, sizeof err);
    struct tls_ctx *c2 =
        tls_ctx_new(other, 32, NULL, NULL, NULL, err, sizeof err);
    CHECK(c1 != NULL && c2 != NULL);
    struct tls_conn *d = tls_conn_new(c1, 0, NULL);
    struct tls_conn *a = tls_conn_new(c2, 1, NULL);
    CHECK_EQ_INT(handshake(d, a), TLS_EFAIL);
    CHECK(!tls_done(a));
    CHECK(strlen(tls_error(a)) > 0);
    tls_conn_free(d);
    tls_conn_free(a);
    tls_ctx_free(c1);
    tls_ctx_free(c2);
}

/* A byte changed on the way: the record is refused, nothing of it comes
 * out. */
static void test_tampered_record_fails(void)
{
    char err[256];
    struct tls_ctx *ctx =
        tls_ctx_new(secret, 32, NULL, NULL, NULL, err, sizeof err);
    struct tls_conn *d = tls_conn_new(ctx, 0, NULL);
    struct tls_conn *a = tls_conn_new(ctx, 1, NULL);
    CHECK_EQ_INT(handshake(d, a), TLS_OK);
    const char line[] = "AT Parker +0.1 kiwi +34.0-118.4 1621464827.9\n";
    CHECK_EQ_INT(tls_write(d, line, sizeof line - 1), TLS_OK);
    char buf[4096];
    size_t n = tls_take(d, buf, sizeof buf);
    CHECK(n > 20);
    buf[n - 20] ^= 0x01;
    CHECK_EQ_INT(tls_feed(a, buf, n), TLS_OK);
    CHECK_EQ_INT(tls_read(a, buf, sizeof buf), TLS_EFAIL);
    CHECK(strstr(tls_error(a), "bad record mac") != NULL ||
          strstr(tls_error(a), "decrypt") != NULL);
    tls_conn_free(d);
    tls_conn_free(a);
    tls_ctx_free(ctx);
}

/* Bytes in clear where a ClientHello belongs: refused, and said so. */
static void test_plaintext_hello_refused(void)
{
    char err[256];
    struct tls_ctx *ctx =
        tls_ctx_new(secret, 32, NULL, NULL, NULL, err, sizeof err);
    struct tls_conn *a = tls_conn_new(ctx, 1, NULL);
    const char hello[] = "HELLO herd/2 Alford 1 0 0 "
                         "00112233445566778899aabbccddeeff\n";
    CHECK_EQ_INT(tls_feed(a, hello, sizeof hello - 1), TLS_OK);
    CHECK_EQ_INT(tls_handshake(a), TLS_EFAIL);
    CHECK(strstr(tls_error(a), "in clear") != NULL);
    tls_conn_free(a);
    tls_ctx_free(ctx);
}

static void test_bad_settings(void)
{
    char err[256];
    CHECK(tls_ctx_new(NULL, 0, NULL, NULL, NULL, err, sizeof err) == NULL);
    CHECK(strstr(err, "secret") != NULL);
    CHECK(tls_ctx_new(NULL, 0, "/nonexistent/cert.pem", "/nonexistent/key",
                      "/nonexistent/ca.pem", err, sizeof err) == NULL);
    CHECK(strstr(err, "tls_cert /nonexistent/cert.pem") != NULL);
}

static const struct test tests[] = {
    {"psk_round_trip", test_psk_round_trip},
    {"wrong_key_fails", test_wrong_key_fails},
    {"tampered_record_fails", test_tampered_record_fails},
    {"plaintext_hello_refused", test_plaintext_hello_refused},
    {"bad_settings", test_bad_settings},
};

TEST_MAIN(tests)
