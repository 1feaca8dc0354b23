#include "tls.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define TLS_PSK_LEN    32
#define TLS_PSK_SUITES "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256"

struct tls_ctx {
    SSL_CTX *dial;
    SSL_CTX *accept;
    int certs;
    unsigned char psk[TLS_PSK_LEN];
};

struct tls_conn {
    SSL *ssl;
    BIO *rbio; /* what the other end sent, fed by the connection */
    BIO *wbio; /* what goes to the other end, taken by the connection */
    struct tls_ctx *ctx;
    int done;
    int first; /* the first byte the other end sent; -1: none yet */
    char err[TLS_ERR_MAX];
};

/* The library's first queued error, or what, into out. */
static void error_text(char *out, size_t cap, const char *what)
{
    unsigned long e = ERR_get_error();
    const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;
    snprintf(out, cap, "%s", reason != NULL ? reason : what);
    ERR_clear_error();
}

/* The session that carries the pre-shared key: TLS 1.3 with
 * TLS_AES_128_GCM_SHA256 (its hash is the one the key is bound to). */
static SSL_SESSION *psk_session(SSL *ssl, const struct tls_ctx *ctx)
{
    static const unsigned char aes128gcm_sha256[] = {0x13, 0x01};
    const SSL_CIPHER *cipher = SSL_CIPHER_find(ssl, aes128gcm_sha256);
    SSL_SESSION *s = SSL_SESSION_new();
    if (cipher == NULL || s == NULL ||
        !SSL_SESSION_set1_master_key(s, ctx->psk, sizeof ctx->psk) ||
        !SSL_SESSION_set_cipher(s, cipher) ||
        !SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION)) {
        SSL_SESSION_free(s);
        return NULL;
    }
    return s;
}

/* The dialler offers the key, named by its identity. */
static int use_psk(SSL *ssl, const EVP_MD *md, const unsigned char **id,
                   size_t *id_len, SSL_SESSION **sess)
{
    const struct tls_conn *t = SSL_get_app_data(ssl);
    SSL_SESSION *s = psk_session(ssl, t->ctx);
    if (s == NULL)
        return 0;
    if (md != NULL &&
        md != SSL_CIPHER_get_handshake_digest(SSL_SESSION_get0_cipher(s))) {
        /* A retry for another hash: the key is bound to SHA-256. */
        SSL_SESSION_free(s);
        *sess = NULL;
        *id = NULL;
        *id_len = 0;
        return 1;
    }
    *sess = s;
    *id = (const unsigned char *)TLS_PSK_IDENTITY;
    *id_len = strlen(TLS_PSK_IDENTITY);
    return 1;
}

/* The acceptor knows one identity; anything else finds no key, and with
 * no certificate to fall back on the handshake fails. */
static int find_psk(SSL *ssl, const unsigned char *id, size_t id_len,
                    SSL_SESSION **sess)
{
    const struct tls_conn *t = SSL_get_app_data(ssl);
    *sess = NULL;
    if (id_len != strlen(TLS_PSK_IDENTITY) ||
        memcmp(id, TLS_PSK_IDENTITY, id_len) != 0)
        return 1;
    *sess = psk_session(ssl, t->ctx);
    return *sess != NULL;
}

static SSL_CTX *new_ctx(const SSL_METHOD *method)
{
    SSL_CTX *c = SSL_CTX_new(method);
    if (c == NULL)
        return NULL;
    if (!SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION) ||
        !SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION)) {
        SSL_CTX_free(c);
        return NULL;
    }
    /* A link lives long and is made seldom: no tickets, no resumption,
     * no early data (which could be replayed). */
    SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(c, 0);
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_max_early_data(c, 0);
    return c;
}

static int load_certs(SSL_CTX *c, const char *cert, const char *key,
                      const char *ca, char *err, size_t err_cap)
{
    if (SSL_CTX_use_certificate_chain_file(c, cert) != 1) {
        char why[TLS_ERR_MAX];
        error_text(why, sizeof why, "unreadable");
        snprintf(err, err_cap, "tls_cert %s: %s", cert, why);
        return -1;
    }
    if (SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(c) != 1) {
        char why[TLS_ERR_MAX];
        error_text(why, sizeof why, "does not match the certificate");
        snprintf(err, err_cap, "tls_key %s: %s", key, why);
        return -1;
    }
    if (SSL_CTX_load_verify_locations(c, ca, NULL) != 1) {
        char why[TLS_ERR_MAX];
        error_text(why, sizeof why, "unreadable");
        snprintf(err, err_cap, "tls_ca %s: %s", ca, why);
        return -1;
    }
    /* Both ends present a certificate, and it must chain to the CA. */
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                       NULL);
    return 0;
}

struct tls_ctx *tls_ctx_new(const unsigned char *secret, size_t secret_len,
                            const char *cert, const char *key, const char *ca,
                            char *err, size_t err_cap)
{
    struct tls_ctx *ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL) {
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    ctx->certs = cert != NULL && key != NULL && ca != NULL;
    ctx->dial = new_ctx(TLS_client_method());
    ctx->accept = new_ctx(TLS_server_method());
    if (ctx->dial == NULL || ctx->accept == NULL) {
        error_text(err, err_cap, "cannot create a TLS context");
        tls_ctx_free(ctx);
        return NULL;
    }
    if (ctx->certs) {
        if (load_certs(ctx->dial, cert, key, ca, err, err_cap) != 0 ||
            load_certs(ctx->accept, cert, key, ca, err, err_cap) != 0) {
            tls_ctx_free(ctx);
            return NULL;
        }
        return ctx;
    }
    unsigned int len = 0;
    if (secret_len == 0 || secret_len > INT_MAX ||
        HMAC(EVP_sha256(), secret, (int)secret_len,
             (const unsigned char *)TLS_PSK_LABEL, strlen(TLS_PSK_LABEL),
             ctx->psk, &len) == NULL ||
        len != TLS_PSK_LEN) {
        snprintf(err, err_cap, "no herd secret to key TLS with");
        tls_ctx_free(ctx);
        return NULL;
    }
    /* The key is bound to SHA-256: only suites of that hash, or a client
     * preferring TLS_AES_256_GCM_SHA384 would find no key to use. */
    if (SSL_CTX_set_ciphersuites(ctx->dial, TLS_PSK_SUITES) != 1 ||
        SSL_CTX_set_ciphersuites(ctx->accept, TLS_PSK_SUITES) != 1) {
        error_text(err, err_cap, "cannot choose TLS suites");
        tls_ctx_free(ctx);
        return NULL;
    }
    SSL_CTX_set_psk_use_session_callback(ctx->dial, use_psk);
    SSL_CTX_set_psk_find_session_callback(ctx->accept, find_psk);
    return ctx;
}

void tls_ctx_free(struct tls_ctx *ctx)
{
    if (ctx == NULL)
        return;
    SSL_CTX_free(ctx->dial);
    SSL_CTX_free(ctx->accept);
    OPENSSL_cleanse(ctx->psk, sizeof ctx->psk);
    free(ctx);
}

const char *tls_ctx_mode(const struct tls_ctx *ctx)
{
    return ctx->certs ? "certificates"
                      : "a pre-shared key from the herd "
                        "secret";
}

int tls_ctx_certs(const struct tls_ctx *ctx)
{
    return ctx->certs;
}

struct tls_conn *tls_conn_new(struct tls_ctx *ctx, int accept,
                              const char *expect_name)
{
    struct tls_conn *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->ctx = ctx;
    t->first = -1;
    t->ssl = SSL_new(accept ? ctx->accept : ctx->dial);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (t->ssl == NULL || t->rbio == NULL || t->wbio == NULL) {
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        SSL_free(t->ssl);
        free(t);
        ERR_clear_error();
        return NULL;
    }
    /* An empty memory BIO means "nothing yet", not end of file. */
    BIO_set_mem_eof_return(t->rbio, -1);
    BIO_set_mem_eof_return(t->wbio, -1);
    SSL_set_bio(t->ssl, t->rbio, t->wbio); /* the SSL owns both now */
    SSL_set_app_data(t->ssl, t);
    if (accept) {
        SSL_set_accept_state(t->ssl);
    } else {
        SSL_set_connect_state(t->ssl);
        if (ctx->certs && expect_name != NULL) {
            /* The neighbour's certificate must name it, exactly. */
            SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_WILDCARDS);
            if (SSL_set1_host(t->ssl, expect_name) != 1) {
                tls_conn_free(t);
                ERR_clear_error();
                return NULL;
            }
        }
    }
    return t;
}

void tls_conn_free(struct tls_conn *t)
{
    if (t == NULL)
        return;
    SSL_free(t->ssl); /* and its BIOs */
    free(t);
}

/* Records why t broke; a failed certificate check says what failed. */
static int fail(struct tls_conn *t, const char *what)
{
    char why[TLS_ERR_MAX / 2];
    error_text(why, sizeof why, what);
    if (!t->done && t->first == 'H') {
        /* "HELLO herd/2 ...": a server that speaks in clear. */
        snprintf(t->err, sizeof t->err,
                 "the other end speaks in clear, not TLS (no herd secret "
                 "there?)");
        return TLS_EFAIL;
    }
    long v = SSL_get_verify_result(t->ssl);
    if (t->ctx->certs && v != X509_V_OK && v != X509_V_ERR_UNSPECIFIED)
        snprintf(t->err, sizeof t->err, "%s (certificate: %s)", why,
                 X509_verify_cert_error_string(v));
    else
        snprintf(t->err, sizeof t->err, "%s", why);
    return TLS_EFAIL;
}

int tls_feed(struct tls_conn *t, const char *data, size_t len)
{
    if (t->first < 0 && len > 0)
        t->first = (unsigned char)data[0];
    while (len > 0) {
        int n = len > INT_MAX ? INT_MAX : (int)len;
        int w = BIO_write(t->rbio, data, n);
        if (w <= 0)
            return fail(t, "out of memory");
        data += w;
        len -= (size_t)w;
    }
    return TLS_OK;
}

int tls_handshake(struct tls_conn *t)
{
    if (t->done)
        return TLS_OK;
    ERR_clear_error();
    int rc = SSL_do_handshake(t->ssl);
    if (rc == 1) {
        t->done = 1;
        return TLS_OK;
    }
    int e = SSL_get_error(t->ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return TLS_EAGAIN;
    return fail(t, "handshake failed");
}

int tls_done(const struct tls_conn *t)
{
    return t->done;
}

long tls_read(struct tls_conn *t, char *buf, size_t cap)
{
    ERR_clear_error();
    int n = SSL_read(t->ssl, buf, cap > INT_MAX ? INT_MAX : (int)cap);
    if (n > 0)
        return n;
    int e = SSL_get_error(t->ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return TLS_EAGAIN;
    if (e == SSL_ERROR_ZERO_RETURN)
        return TLS_ECLOSED;
    return fail(t, "cannot read a record");
}

int tls_write(struct tls_conn *t, const char *data, size_t len)
{
    while (len > 0) {
        ERR_clear_error();
        int n = len > INT_MAX ? INT_MAX : (int)len;
        int w = SSL_write(t->ssl, data, n);
        if (w <= 0)
            return fail(t, "cannot write a record");
        data += w;
        len -= (size_t)w;
    }
    return TLS_OK;
}

size_t tls_pending(const struct tls_conn *t)
{
    return BIO_ctrl_pending(t->wbio);
}

size_t tls_take(struct tls_conn *t, char *buf, size_t cap)
{
    int n = BIO_read(t->wbio, buf, cap > INT_MAX ? INT_MAX : (int)cap);
    return n > 0 ? (size_t)n : 0;
}

const char *tls_error(const struct tls_conn *t)
{
    return t->err[0] != '\0' ? t->err : "TLS failure";
}

int tls_name_ok(const struct tls_conn *t, const char *name)
{
    if (!t->ctx->certs)
        return 1;
    X509 *x = SSL_get0_peer_certificate(t->ssl);
    return x != NULL &&
           X509_check_host(x, name, strlen(name), X509_CHECK_FLAG_NO_WILDCARDS,
                           NULL) == 1;
}
