/* dynbuf: a growable byte buffer with a mandatory maximum size.
 *
 * Every buffer that holds bytes from the network or for the network has a
 * bound: appending past it fails with DYNBUF_ETOOBIG and leaves the buffer
 * unchanged, so the caller decides (disconnect, error reply) instead of
 * growing without end.
 */
#ifndef HERD_DYNBUF_H
#define HERD_DYNBUF_H

#include <stdarg.h>
#include <stddef.h>

enum dynbuf_error {
    DYNBUF_ETOOBIG = -1001, /* would grow past the buffer's maximum */
    DYNBUF_ENOMEM = -1002   /* malloc failed */
};

struct dynbuf {
    char *data; /* NULL until the first append */
    size_t len;
    size_t cap;
    size_t max;
};

void dynbuf_init(struct dynbuf *b, size_t max);
/* Frees the storage; the buffer is empty and usable again afterwards. */
void dynbuf_free(struct dynbuf *b);
__attribute__((warn_unused_result)) int dynbuf_add(struct dynbuf *b,
                                                   const void *data, size_t n);
__attribute__((warn_unused_result)) int dynbuf_addc(struct dynbuf *b, char c);
/* dynbuf_add of data and then "\n", in one reservation: both or neither. */
__attribute__((warn_unused_result)) int
dynbuf_add_line(struct dynbuf *b, const void *data, size_t n);
__attribute__((warn_unused_result, format(printf, 2, 3))) int
dynbuf_printf(struct dynbuf *b, const char *fmt, ...);
__attribute__((warn_unused_result, format(printf, 2, 0))) int
dynbuf_vprintf(struct dynbuf *b, const char *fmt, va_list ap);
/* Makes room for n more bytes; returns a pointer to them or NULL. */
char *dynbuf_reserve(struct dynbuf *b, size_t n);
/* Drops the first n bytes (n <= len). */
void dynbuf_consume(struct dynbuf *b, size_t n);
/* A range of a buffer's bytes: [off, off + len). */
struct dynbuf_range {
    size_t off;
    size_t len;
};
/* Takes the n ranges r (ascending, disjoint, within len) out of b, in
 * one pass: the bytes around them keep their order. */
void dynbuf_cut(struct dynbuf *b, const struct dynbuf_range *r, size_t n);
/* The k-th line of b (k from 0), without its newline, NUL-terminated in
 * place (so a line asked for twice stays whole); NULL if b holds no k-th
 * complete line. */
char *dynbuf_line(struct dynbuf *b, int k);
/* Hands the storage to the caller (who frees it) and empties the buffer. */
char *dynbuf_take(struct dynbuf *b, size_t *len);
const char *dynbuf_strerror(int err);

#endif
