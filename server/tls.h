/* tls: TLS 1.3 for peer links, on memory BIOs.
 *
 * No socket of its own: the connection feeds what it read (tls_feed),
 * takes plaintext out (tls_read), hands plaintext in (tls_write) and sends
 * what comes out (tls_take). So the loop drives it, and the tests and the
 * fuzzer drive it with nothing but buffers.
 *
 * Two ways to authenticate, chosen per server:
 *
 *   psk    the herd secret as a TLS 1.3 external pre-shared key (the key
 *          HMAC-SHA256(secret, "herd/2 tls psk"), identity "herd"), with
 *          an (EC)DHE exchange on top for forward secrecy. No certificates
 *          to manage; whoever holds the secret is in the herd.
 *   certs  a certificate and key per server, one CA for the herd; both
 *          ends present theirs, and a neighbour's certificate must name
 *          the server it claims to be (tls_name_ok), so holding the herd's
 *          material is not enough to pass for another server.
 *
 * Only TLS 1.3, no session tickets, no resumption, no 0-RTT: a link is a
 * long-lived connection made seldom.
 */
#ifndef HERD_TLS_H
#define HERD_TLS_H

#include <stddef.h>

#define TLS_PSK_IDENTITY "herd"
#define TLS_PSK_LABEL    "herd/2 tls psk"
#define TLS_ERR_MAX      160

struct tls_ctx;
struct tls_conn;

/* A context for one server. With cert, key and ca all non-NULL, the
 * certificate mode; otherwise the psk mode keyed by secret (which must
 * then be non-empty). Returns NULL with err filled in. */
struct tls_ctx *tls_ctx_new(const unsigned char *secret, size_t secret_len,
                            const char *cert, const char *key, const char *ca,
                            char *err, size_t err_cap);
void tls_ctx_free(struct tls_ctx *ctx);
/* "a pre-shared key from the herd secret" or "certificates". */
const char *tls_ctx_mode(const struct tls_ctx *ctx);
/* Whether peers must be checked with tls_name_ok. */
int tls_ctx_certs(const struct tls_ctx *ctx);

/* One side of a connection: accept (the server role) or dial (the
 * client role). The dialler's expect_name, in the certificate mode, is
 * the name the neighbour's certificate must carry. NULL when memory runs
 * out. */
struct tls_conn *tls_conn_new(struct tls_ctx *ctx, int accept,
                              const char *expect_name);
void tls_conn_free(struct tls_conn *t);

enum tls_status {
    TLS_OK = 0,
    TLS_EAGAIN = -1,  /* nothing more until more is fed */
    TLS_ECLOSED = -2, /* the other end closed the TLS session */
    TLS_EFAIL = -3    /* broken: tls_error says why; close the link */
};

/* Bytes read from the socket. TLS_OK or TLS_EFAIL (out of memory). */
int tls_feed(struct tls_conn *t, const char *data, size_t len);
/* Advances the handshake: TLS_OK once it is complete (and on every call
 * after), TLS_EAGAIN while it waits for the other end, TLS_EFAIL. */
int tls_handshake(struct tls_conn *t);
int tls_done(const struct tls_conn *t);
/* Decrypts up to cap bytes: the count (> 0), TLS_EAGAIN, TLS_ECLOSED or
 * TLS_EFAIL. Only after the handshake. */
long tls_read(struct tls_conn *t, char *buf, size_t cap);
/* Encrypts len bytes (all of them). TLS_OK or TLS_EFAIL. Only after the
 * handshake. */
int tls_write(struct tls_conn *t, const char *data, size_t len);
/* Bytes waiting to be sent. */
size_t tls_pending(const struct tls_conn *t);
/* Moves up to cap bytes to be sent into buf: the count. */
size_t tls_take(struct tls_conn *t, char *buf, size_t cap);
/* Why the connection broke (the TLS library's words). */
const char *tls_error(const struct tls_conn *t);
/* Certificate mode: whether the other end's certificate names name; in
 * the psk mode always 1 (the secret does not name anyone). */
int tls_name_ok(const struct tls_conn *t, const char *name);

#endif
