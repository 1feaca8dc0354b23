/* linebuf: bounded line framing.
 *
 * Bytes go in with linebuf_feed(); every complete line goes to a callback as
 * a borrowed (ptr, len) slice without its "\n" and without one "\r" right
 * before it. A line (or an unterminated tail) longer than the maximum is an
 * error: the bytes are never buffered past the bound.
 *
 * Complete lines are handed out straight from the caller's bytes; only an
 * incomplete tail (or input left over when the callback asks to pause) is
 * copied, so an idle connection holds no buffer at all.
 */
#ifndef HERD_LINEBUF_H
#define HERD_LINEBUF_H

#include <stddef.h>
#include <stdint.h>

#define LINEBUF_DEFAULT_MAX 8192

enum linebuf_error {
    LINEBUF_ETOOLONG = -1201, /* a line is longer than the maximum */
    LINEBUF_ENOMEM = -1202
};

/* Called once per line. The slice is valid only during the call. Return 0
 * to go on, or 1 to pause: the bytes not yet handed out are kept, and
 * linebuf_resume() hands them out later. */
typedef int linebuf_line_cb(void *arg, const char *line, size_t len);

struct linebuf {
    char *data; /* pending bytes: an incomplete line, or paused input */
    size_t len;
    size_t cap;
    size_t max; /* longest line accepted, terminator excluded */
    int paused;
    /* During a callback: the bytes after the current line that are already
     * here (the next lines, and perhaps the start of one not complete),
     * and the generation of the buffer they are in. */
    const char *ahead;
    size_t ahead_len;
    uint64_t gen;
};

void linebuf_init(struct linebuf *lb, size_t max);
void linebuf_close(struct linebuf *lb);

/* Frames n bytes. Returns 0, 1 if the callback paused (the rest is kept),
 * or LINEBUF_ETOOLONG / LINEBUF_ENOMEM. Must not be called while paused
 * (stop reading instead). */
int linebuf_feed(struct linebuf *lb, const char *data, size_t n,
                 linebuf_line_cb *cb, void *arg);

/* Hands out the lines kept by a pause. Same return values as feed. */
int linebuf_resume(struct linebuf *lb, linebuf_line_cb *cb, void *arg);

/* At end of input: hands out a final unterminated line, if any. Returns 0,
 * 1 if the callback paused, or an error. */
int linebuf_finish(struct linebuf *lb, linebuf_line_cb *cb, void *arg);

/* For a callback that wants to start work on the lines to come (a
 * prefetch): the bytes already read past the current line, valid during
 * the callback only, and *gen, a number that no other feed, resume or
 * finish of any linebuf in the process hands out, so that something
 * remembered about the bytes at an address is known to be about these
 * same bytes while *gen is unchanged. */
const char *linebuf_ahead(const struct linebuf *lb, size_t *len, uint64_t *gen);

/* Number of bytes held (an incomplete line or paused input). */
size_t linebuf_pending(const struct linebuf *lb);

const char *linebuf_strerror(int err);

#endif
