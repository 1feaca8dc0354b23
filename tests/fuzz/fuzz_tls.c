/* The TLS record path of a peer link (tls.h), down to its lines (linebuf).
 *
 * The first byte picks a mode:
 *   0  the rest is what a stranger sends to a peer port: fed to a fresh
 *      acceptor, which must fail or wait, never crash, and never hand
 *      out plaintext (nobody proved the key);
 *   1  the rest is a dialler's plaintext after a real handshake: sealed,
 *      the records cut at points taken from the input, fed to the
 *      acceptor, whose decrypted bytes must be the plaintext exactly, and
 *      whose lines (linebuf, as a link reads them) those of the plaintext;
 *   2  as 1, with one byte of the records changed (where, from the input):
 *      what comes out must be a prefix of the plaintext, never other bytes,
 *      and the session must fail or wait for more.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "linebuf.h"
#include "tls.h"

#define LINE_MAX_LEN (1u << 20)

static struct tls_ctx *ctx;

static void move(struct tls_conn *from, struct tls_conn *to)
{
    char buf[16384];
    size_t n;
    while ((n = tls_take(from, buf, sizeof buf)) > 0)
        FUZZ_CHECK(tls_feed(to, buf, n) == TLS_OK);
}

static int handshake(struct tls_conn *d, struct tls_conn *a)
{
    for (int i = 0; i < 8; i++) {
        int rd = tls_handshake(d);
        move(d, a);
        int ra = tls_handshake(a);
        move(a, d);
        if (rd == TLS_OK && ra == TLS_OK)
            return 0;
        if (rd == TLS_EFAIL || ra == TLS_EFAIL)
            return -1;
    }
    return -1;
}

struct lines {
    const uint8_t *want; /* the plaintext */
    size_t want_len;
    size_t at; /* where the next line must start */
};

static int on_line(void *arg, const char *line, size_t len)
{
    struct lines *l = arg;
    /* The line as sent, less its "\n" and one "\r" before it. */
    size_t sent =
        len + (l->at + len < l->want_len && l->want[l->at + len] == '\r');
    FUZZ_CHECK(l->at + sent < l->want_len);
    FUZZ_CHECK(memcmp(l->want + l->at, line, len) == 0);
    FUZZ_CHECK(l->want[l->at + sent] == '\n');
    l->at += sent + 1;
    return 0;
}

static void stranger(const uint8_t *data, size_t size)
{
    struct tls_conn *a = tls_conn_new(ctx, 1, NULL);
    FUZZ_CHECK(a != NULL);
    FUZZ_CHECK(tls_feed(a, (const char *)data, size) == TLS_OK);
    int rc = tls_handshake(a);
    FUZZ_CHECK(rc != TLS_OK); /* the key cannot be guessed */
    char buf[256];
    while (tls_take(a, buf, sizeof buf) > 0)
        ;
    tls_conn_free(a);
}

static void sealed(const uint8_t *data, size_t size, int flip)
{
    struct fuzz_input in = {data, size};
    uint64_t seed = fuzz_u32(&in);
    uint32_t flip_at = fuzz_u32(&in);
    const uint8_t *text = in.p;
    size_t text_len = in.len;
    struct tls_conn *d = tls_conn_new(ctx, 0, NULL);
    struct tls_conn *a = tls_conn_new(ctx, 1, NULL);
    FUZZ_CHECK(d != NULL && a != NULL);
    FUZZ_CHECK(handshake(d, a) == 0);
    FUZZ_CHECK(tls_write(d, (const char *)text, text_len) == TLS_OK);
    size_t wire_len = tls_pending(d);
    char *wire = malloc(wire_len + 1);
    char *out = malloc(text_len + 1);
    FUZZ_CHECK(wire != NULL && out != NULL);
    FUZZ_CHECK(tls_take(d, wire, wire_len) == wire_len);
    FUZZ_CHECK(text_len == 0 || wire_len > text_len);
    if (flip && wire_len > 0)
        wire[flip_at % wire_len] ^= (char)(1u << (flip_at >> 29));
    struct linebuf lb;
    linebuf_init(&lb, LINE_MAX_LEN);
    struct lines l = {text, text_len, 0};
    size_t got = 0;
    int failed = 0;
    for (size_t off = 0; off < wire_len && !failed;) {
        size_t step = 1 + fuzz_rand(&seed) % 700;
        if (step > wire_len - off)
            step = wire_len - off;
        FUZZ_CHECK(tls_feed(a, wire + off, step) == TLS_OK);
        off += step;
        for (;;) {
            long n = tls_read(a, out + got, text_len + 1 - got);
            if (n == TLS_EAGAIN)
                break;
            if (n < 0) {
                failed = 1;
                break;
            }
            FUZZ_CHECK(got + (size_t)n <= text_len);
            FUZZ_CHECK(memcmp(out + got, text + got, (size_t)n) == 0);
            FUZZ_CHECK(linebuf_feed(&lb, out + got, (size_t)n, on_line, &l) ==
                       0);
            got += (size_t)n;
        }
    }
    if (!flip) {
        FUZZ_CHECK(!failed && got == text_len);
        /* Every complete line came out; what is left is the last one's
         * unfinished part. */
        const uint8_t *nl =
            text_len ? memchr(text + l.at, '\n', text_len - l.at) : NULL;
        FUZZ_CHECK(nl == NULL);
    }
    linebuf_close(&lb);
    free(wire);
    free(out);
    tls_conn_free(d);
    tls_conn_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (ctx == NULL) {
        static const unsigned char secret[] = "fuzz-secret-0123456789abcdef";
        char err[256];
        ctx = tls_ctx_new(secret, sizeof secret - 1, NULL, NULL, NULL, err,
                          sizeof err);
        FUZZ_CHECK(ctx != NULL);
    }
    if (size == 0)
        return 0;
    switch (data[0] % 3) {
    case 0:
        stranger(data + 1, size - 1);
        break;
    case 1:
        sealed(data + 1, size - 1, 0);
        break;
    default:
        sealed(data + 1, size - 1, 1);
        break;
    }
    return 0;
}
