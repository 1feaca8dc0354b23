/* The peer handshake lines and proofs. */
#include <string.h>

#include "handshake.h"
#include "test.h"

static const unsigned char nd[HANDSHAKE_NONCE] = {
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const unsigned char na[HANDSHAKE_NONCE] = {
    16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1};
static const unsigned char secret[] = "0123456789abcdef0123456789abcdef";

static void test_hello_round_trip(void)
{
    char line[HANDSHAKE_LINE_MAX];
    size_t n =
        handshake_format_hello(line, sizeof line, HANDSHAKE_DIAL, "Alford", 42,
                               7, 0xdeadbeef01020304ULL, nd, NULL);
    CHECK(n > 0 && line[n - 1] == '\n');
    struct hello h;
    CHECK_EQ_INT(handshake_parse_hello(line, n - 1, &h), 0);
    CHECK_EQ_MEM(h.name.p, "Alford", 6);
    CHECK_EQ_INT(h.name.len, 6);
    CHECK_EQ_INT(h.epoch, 42);
    CHECK_EQ_INT(h.count, 7);
    CHECK(h.digest == 0xdeadbeef01020304ULL);
    CHECK_EQ_MEM((const char *)h.nonce, (const char *)nd, HANDSHAKE_NONCE);
    CHECK(!h.has_proof);

    unsigned char proof[HANDSHAKE_PROOF];
    CHECK_EQ_INT(handshake_proof(secret, 32, HANDSHAKE_ACCEPT, "Alford",
                                 "Parker", nd, na, proof),
                 0);
    n = handshake_format_hello(line, sizeof line, HANDSHAKE_ACCEPT, "Parker", 1,
                               0, 0, na, proof);
    CHECK_EQ_INT(handshake_parse_hello(line, n - 1, &h), 0);
    CHECK(h.has_proof && !h.proof_none);
    CHECK(handshake_proof_equal(h.proof, proof));
    n = handshake_format_hello(line, sizeof line, HANDSHAKE_ACCEPT, "Parker", 1,
                               0, 0, na, NULL);
    CHECK_EQ_INT(handshake_parse_hello(line, n - 1, &h), 0);
    CHECK(h.has_proof && h.proof_none);
}

static void test_hello_rejects(void)
{
    static const char *bad[] = {
        "",
        "HELLO",
        "HELLO herd/1 A 1 0 0000000000000000 0102030405060708090a0b0c0d0e0f10",
        "HELLO herd/2 A 1 0 000000000000000 0102030405060708090a0b0c0d0e0f10",
        "HELLO herd/2 A 1 0 0000000000000000 0102030405060708090a0b0c0d0e0f1",
        "HELLO herd/2 A 1 0 0000000000000000 0102030405060708090A0B0C0D0E0F10",
        "HELLO herd/2 A -1 0 0000000000000000 0102030405060708090a0b0c0d0e0f10",
        "HELLO herd/2 A/B 1 0 0000000000000000 "
        "0102030405060708090a0b0c0d0e0f10",
        "HELLO herd/2 A 1 0 0000000000000000 0102030405060708090a0b0c0d0e0f10 "
        "xyz",
        "HELLO herd/2 A 1 0 0000000000000000 0102030405060708090a0b0c0d0e0f10 "
        "- "
        "extra",
        "hello herd/2 A 1 0 0000000000000000 0102030405060708090a0b0c0d0e0f10",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct hello h;
        if (handshake_parse_hello(bad[i], strlen(bad[i]), &h) != -1) {
            fprintf(stderr, "accepted: %s\n", bad[i]);
            CHECK(0);
        }
    }
}

static void test_proofs_bind_everything(void)
{
    unsigned char a[HANDSHAKE_PROOF], b[HANDSHAKE_PROOF];
    CHECK_EQ_INT(
        handshake_proof(secret, 32, HANDSHAKE_DIAL, "A", "B", nd, na, a), 0);
    CHECK_EQ_INT(
        handshake_proof(secret, 32, HANDSHAKE_DIAL, "A", "B", nd, na, b), 0);
    CHECK(handshake_proof_equal(a, b)); /* deterministic */
    /* Role, names, each nonce, the secret: change any and it differs. */
    CHECK_EQ_INT(
        handshake_proof(secret, 32, HANDSHAKE_ACCEPT, "A", "B", nd, na, b), 0);
    CHECK(!handshake_proof_equal(a, b));
    CHECK_EQ_INT(
        handshake_proof(secret, 32, HANDSHAKE_DIAL, "B", "A", nd, na, b), 0);
    CHECK(!handshake_proof_equal(a, b));
    CHECK_EQ_INT(
        handshake_proof(secret, 32, HANDSHAKE_DIAL, "A", "B", na, nd, b), 0);
    CHECK(!handshake_proof_equal(a, b));
    CHECK_EQ_INT(
        handshake_proof(secret, 31, HANDSHAKE_DIAL, "A", "B", nd, na, b), 0);
    CHECK(!handshake_proof_equal(a, b));
}

static void test_proof_line(void)
{
    unsigned char p[HANDSHAKE_PROOF], q[HANDSHAKE_PROOF];
    CHECK_EQ_INT(
        handshake_proof(secret, 32, HANDSHAKE_DIAL, "A", "B", nd, na, p), 0);
    char line[HANDSHAKE_LINE_MAX];
    size_t n = handshake_format_proof(line, sizeof line, p);
    int none = 1;
    CHECK_EQ_INT(handshake_parse_proof(line, n - 1, q, &none), 0);
    CHECK(!none && handshake_proof_equal(p, q));
    n = handshake_format_proof(line, sizeof line, NULL);
    CHECK_EQ_STR(line, "PROOF -\n");
    CHECK_EQ_INT(handshake_parse_proof(line, n - 1, q, &none), 0);
    CHECK(none);
    CHECK_EQ_INT(handshake_parse_proof("PROOF", 5, q, &none), -1);
    CHECK_EQ_INT(handshake_parse_proof("PROOF ab", 8, q, &none), -1);
    CHECK_EQ_INT(handshake_parse_proof("AT x", 4, q, &none), -1);
}

static const struct test tests[] = {
    {"hello_round_trip", test_hello_round_trip},
    {"hello_rejects", test_hello_rejects},
    {"proofs_bind_everything", test_proofs_bind_everything},
    {"proof_line", test_proof_line},
};

TEST_MAIN(tests)
