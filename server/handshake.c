#include "handshake.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "config.h"
#include "strparse.h"

static int unhex(struct strparse_slice f, unsigned char *out, size_t n)
{
    if (f.len != 2 * n)
        return -1;
    for (size_t i = 0; i < 2 * n; i++) {
        char c = f.p[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else
            return -1;
        if (i % 2 == 0)
            out[i / 2] = (unsigned char)(d << 4);
        else
            out[i / 2] |= (unsigned char)d;
    }
    return 0;
}

static size_t hex(char *out, const unsigned char *in, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
    return 2 * n;
}

static int is(struct strparse_slice f, const char *word)
{
    return f.len == strlen(word) && memcmp(f.p, word, f.len) == 0;
}

int handshake_parse_hello(const char *line, size_t len, struct hello *h)
{
    struct strparse_slice f[9];
    size_t n = strparse_split(line, len, f, 9);
    unsigned char d8[8];
    memset(h, 0, sizeof *h);
    if ((n != 7 && n != 8) || !is(f[0], "HELLO") ||
        !is(f[1], HANDSHAKE_PROTO) || !config_valid_name(f[2].p, f[2].len) ||
        strparse_uint(f[3].p, f[3].len, UINT64_MAX, &h->epoch) != 0 ||
        strparse_uint(f[4].p, f[4].len, UINT64_MAX, &h->count) != 0 ||
        unhex(f[5], d8, sizeof d8) != 0 ||
        unhex(f[6], h->nonce, HANDSHAKE_NONCE) != 0)
        return -1;
    for (size_t i = 0; i < 8; i++)
        h->digest = h->digest << 8 | d8[i];
    h->name = f[2];
    if (n == 8) {
        h->has_proof = 1;
        if (is(f[7], "-"))
            h->proof_none = 1;
        else if (unhex(f[7], h->proof, HANDSHAKE_PROOF) != 0)
            return -1;
    }
    return 0;
}

int handshake_parse_proof(const char *line, size_t len,
                          unsigned char proof[HANDSHAKE_PROOF], int *none)
{
    struct strparse_slice f[3];
    size_t n = strparse_split(line, len, f, 3);
    if (n != 2 || !is(f[0], "PROOF"))
        return -1;
    *none = is(f[1], "-");
    if (*none)
        return 0;
    return unhex(f[1], proof, HANDSHAKE_PROOF);
}

size_t handshake_format_hello(char *buf, size_t cap, enum handshake_role role,
                              const char *name, uint64_t epoch, uint64_t count,
                              uint64_t digest,
                              const unsigned char nonce[HANDSHAKE_NONCE],
                              const unsigned char *proof)
{
    char n[2 * HANDSHAKE_NONCE + 1];
    char p[2 * HANDSHAKE_PROOF + 2];
    hex(n, nonce, HANDSHAKE_NONCE);
    p[0] = '\0';
    if (proof != NULL) {
        p[0] = ' ';
        hex(p + 1, proof, HANDSHAKE_PROOF);
    } else if (role == HANDSHAKE_ACCEPT) {
        snprintf(p, sizeof p, " -");
    }
    int len =
        snprintf(buf, cap, "HELLO %s %s %llu %llu %016llx %s%s\n",
                 HANDSHAKE_PROTO, name, (unsigned long long)epoch,
                 (unsigned long long)count, (unsigned long long)digest, n, p);
    return len > 0 && (size_t)len < cap ? (size_t)len : 0;
}

size_t handshake_format_proof(char *buf, size_t cap, const unsigned char *proof)
{
    char p[2 * HANDSHAKE_PROOF + 1] = "-";
    if (proof != NULL)
        hex(p, proof, HANDSHAKE_PROOF);
    int len = snprintf(buf, cap, "PROOF %s\n", p);
    return len > 0 && (size_t)len < cap ? (size_t)len : 0;
}

/* Appends len bytes at msg + *n: the proof's message is bytes (names
 * without their NULs, nonces), not a string. */
static void append(unsigned char *msg, size_t *n, const void *bytes, size_t len)
{
    memcpy(msg + *n, bytes, len);
    *n += len;
}

int handshake_proof(const unsigned char *secret, size_t secret_len,
                    enum handshake_role role, const char *dialer,
                    const char *acceptor,
                    const unsigned char dial_nonce[HANDSHAKE_NONCE],
                    const unsigned char accept_nonce[HANDSHAKE_NONCE],
                    unsigned char out[HANDSHAKE_PROOF])
{
    /* Names are at most 63 bytes of [A-Za-z0-9_.-]: with a separator the
     * message is unambiguous. */
    unsigned char msg[16 + 2 * (CONFIG_NAME_MAX + 1) + 2 * HANDSHAKE_NONCE];
    size_t n = 0;
    const char *r = role == HANDSHAKE_DIAL ? HANDSHAKE_PROTO " dial|"
                                           : HANDSHAKE_PROTO " accept|";
    size_t rl = strlen(r);
    size_t dl = strnlen(dialer, CONFIG_NAME_MAX);
    size_t al = strnlen(acceptor, CONFIG_NAME_MAX);
    append(msg, &n, r, rl);
    append(msg, &n, dialer, dl);
    msg[n++] = '|';
    append(msg, &n, acceptor, al);
    msg[n++] = '|';
    append(msg, &n, dial_nonce, HANDSHAKE_NONCE);
    append(msg, &n, accept_nonce, HANDSHAKE_NONCE);
    unsigned int outlen = HANDSHAKE_PROOF;
    if (HMAC(EVP_sha256(), secret, (int)secret_len, msg, n, out, &outlen) ==
            NULL ||
        outlen != HANDSHAKE_PROOF)
        return -1;
    return 0;
}

int handshake_proof_equal(const unsigned char a[HANDSHAKE_PROOF],
                          const unsigned char b[HANDSHAKE_PROOF])
{
    return CRYPTO_memcmp(a, b, HANDSHAKE_PROOF) == 0;
}

int handshake_derive(const unsigned char *secret, size_t secret_len,
                     const char *label, unsigned char out[HANDSHAKE_PROOF])
{
    unsigned outlen = 0;
    if (secret_len == 0 || secret_len > INT_MAX ||
        HMAC(EVP_sha256(), secret, (int)secret_len,
             (const unsigned char *)label, strlen(label), out,
             &outlen) == NULL ||
        outlen != HANDSHAKE_PROOF)
        return -1;
    return 0;
}
