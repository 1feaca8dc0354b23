/* handshake: the peer link handshake, pure (parsing, formatting, proofs).
 *
 *   dialer   -> HELLO herd/2 NAME EPOCH COUNT DIGEST NONCE
 *   acceptor -> HELLO herd/2 NAME EPOCH COUNT DIGEST NONCE PROOF
 *   dialer   -> PROOF PROOF
 *
 * NONCE is 16 fresh random bytes from each side (hex). With a herd secret,
 * each PROOF is HMAC-SHA256(secret, role | dialer | acceptor | dialer nonce
 * | acceptor nonce) with role "accept" or "dial" (hex), so each side proves
 * it knows the secret for this very pair of nonces and names: a recorded
 * handshake cannot be replayed, and one side's proof cannot be reflected
 * as the other's. Without a secret the proofs are "-".
 */
#ifndef HERD_HANDSHAKE_H
#define HERD_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define HANDSHAKE_PROTO    "herd/2"
#define HANDSHAKE_NONCE    16
#define HANDSHAKE_PROOF    32
#define HANDSHAKE_LINE_MAX 256

enum handshake_role { HANDSHAKE_DIAL, HANDSHAKE_ACCEPT };

struct hello {
    struct strparse_slice name;
    uint64_t epoch;
    uint64_t count;
    uint64_t digest;
    unsigned char nonce[HANDSHAKE_NONCE];
    int has_proof;  /* the acceptor's HELLO carries one */
    int proof_none; /* it was "-" */
    unsigned char proof[HANDSHAKE_PROOF];
};

/* Parses a HELLO line (6 fields plus the nonce, and an optional proof).
 * Returns 0 or -1. */
int handshake_parse_hello(const char *line, size_t len, struct hello *h);

/* Parses "PROOF hex|-": 0 with *none set when it is "-", or -1. */
int handshake_parse_proof(const char *line, size_t len,
                          unsigned char proof[HANDSHAKE_PROOF], int *none);

/* Formats a HELLO line with "\n". The dialer's has no proof field; the
 * acceptor's (role HANDSHAKE_ACCEPT) has proof, or "-" when proof is NULL.
 * Returns the length or 0 if cap is too small. */
size_t handshake_format_hello(char *buf, size_t cap, enum handshake_role role,
                              const char *name, uint64_t epoch, uint64_t count,
                              uint64_t digest,
                              const unsigned char nonce[HANDSHAKE_NONCE],
                              const unsigned char *proof);

/* "PROOF hex\n" or "PROOF -\n" when proof is NULL. */
size_t handshake_format_proof(char *buf, size_t cap,
                              const unsigned char *proof);

/* The proof of role for this pair of names and nonces. Returns 0, or -1
 * if the HMAC could not be computed (then nothing may be accepted). */
int handshake_proof(const unsigned char *secret, size_t secret_len,
                    enum handshake_role role, const char *dialer,
                    const char *acceptor,
                    const unsigned char dial_nonce[HANDSHAKE_NONCE],
                    const unsigned char accept_nonce[HANDSHAKE_NONCE],
                    unsigned char out[HANDSHAKE_PROOF]);

/* Constant-time comparison of two proofs: 1 when equal. */
int handshake_proof_equal(const unsigned char a[HANDSHAKE_PROOF],
                          const unsigned char b[HANDSHAKE_PROOF]);

/* A key for label derived from the herd secret: HMAC-SHA256(secret,
 * label), the same on every server of the herd. Returns 0, or -1. */
int handshake_derive(const unsigned char *secret, size_t secret_len,
                     const char *label, unsigned char out[HANDSHAKE_PROOF]);

#endif
