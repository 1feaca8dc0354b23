#include "linebuf.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

void linebuf_init(struct linebuf *lb, size_t max)
{
    lb->data = NULL;
    lb->len = 0;
    lb->cap = 0;
    lb->max = max;
    lb->paused = 0;
    lb->ahead = NULL;
    lb->ahead_len = 0;
    lb->gen = 0;
}

/* Generations are unique in the process (one loop thread uses them). */
static uint64_t last_gen;

static void new_gen(struct linebuf *lb)
{
    lb->gen = ++last_gen;
}

const char *linebuf_ahead(const struct linebuf *lb, size_t *len, uint64_t *gen)
{
    *len = lb->ahead_len;
    *gen = lb->gen;
    return lb->ahead;
}

void linebuf_close(struct linebuf *lb)
{
    free(lb->data);
    linebuf_init(lb, lb->max);
}

size_t linebuf_pending(const struct linebuf *lb)
{
    return lb->len;
}

/* Replaces the kept bytes with [p, p + n): a tail of the kept bytes
 * themselves if own (a resume frames them), else the caller's bytes. */
static int keep(struct linebuf *lb, const char *p, size_t n, int own)
{
    if (n == 0) {
        free(lb->data);
        lb->data = NULL;
        lb->len = 0;
        lb->cap = 0;
        return 0;
    }
    if (own) {
        /* The last n > 0 of the kept bytes: there is a buffer. */
        assert(lb->data != NULL && p + n == lb->data + lb->len);
        memmove(lb->data, p, n);
        lb->len = n;
        return 0;
    }
    if (n > lb->cap) {
        char *d = realloc(lb->data, n);
        if (d == NULL)
            return LINEBUF_ENOMEM;
        lb->data = d;
        lb->cap = n;
    }
    memcpy(lb->data, p, n);
    lb->len = n;
    return 0;
}

static int emit(struct linebuf *lb, const char *line, size_t len,
                const char *end, linebuf_line_cb *cb, void *arg)
{
    lb->ahead = line + len + 1;
    lb->ahead_len = (size_t)(end - lb->ahead);
    if (len > 0 && line[len - 1] == '\r')
        len--;
    int rc = cb(arg, line, len);
    lb->ahead = NULL;
    lb->ahead_len = 0;
    return rc;
}

/* Hands out complete lines from [p, p + n); keeps the rest. own: the bytes
 * are the kept ones (a resume), not the caller's. */
static int frame(struct linebuf *lb, const char *p, size_t n, int own,
                 linebuf_line_cb *cb, void *arg)
{
    const char *end = p + n;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL)
            break;
        size_t len = (size_t)(nl - p);
        /* The limit excludes the terminator, "\r\n" included. */
        if (len > lb->max + (len > 0 && p[len - 1] == '\r'))
            return LINEBUF_ETOOLONG;
        int stop = emit(lb, p, len, end, cb, arg);
        p = nl + 1;
        if (stop) {
            lb->paused = 1;
            int rc = keep(lb, p, (size_t)(end - p), own);
            return rc != 0 ? rc : 1;
        }
    }
    /* An unterminated tail may still get its "\r\n": allow one byte. */
    if ((size_t)(end - p) > lb->max + 1)
        return LINEBUF_ETOOLONG;
    return keep(lb, p, (size_t)(end - p), own);
}

int linebuf_feed(struct linebuf *lb, const char *data, size_t n,
                 linebuf_line_cb *cb, void *arg)
{
    new_gen(lb);
    if (lb->len == 0)
        return frame(lb, data, n, 0, cb, arg);
    /* Complete the kept line with the bytes up to the first newline, then
     * frame the rest straight from the caller's bytes. */
    const char *nl = memchr(data, '\n', n);
    size_t head = nl != NULL ? (size_t)(nl - data) + 1 : n;
    if (lb->len + head > lb->max + 2)
        return LINEBUF_ETOOLONG;
    if (lb->len + head > lb->cap) {
        char *d = realloc(lb->data, lb->len + head);
        if (d == NULL)
            return LINEBUF_ENOMEM;
        lb->data = d;
        lb->cap = lb->len + head;
    }
    memcpy(lb->data + lb->len, data, head);
    lb->len += head;
    if (nl == NULL)
        return lb->len > lb->max + 1 ? LINEBUF_ETOOLONG : 0;
    size_t len = lb->len - 1;
    if (len > lb->max + (len > 0 && lb->data[len - 1] == '\r'))
        return LINEBUF_ETOOLONG;
    /* The callback may not touch lb, so the kept bytes stay valid. Past
     * this line come the caller's bytes. */
    lb->ahead = data + head;
    lb->ahead_len = n - head;
    if (len > 0 && lb->data[len - 1] == '\r')
        len--;
    int stop = cb(arg, lb->data, len);
    lb->ahead = NULL;
    lb->ahead_len = 0;
    lb->len = 0;
    if (stop) {
        lb->paused = 1;
        int rc = keep(lb, data + head, n - head, 0);
        return rc != 0 ? rc : 1;
    }
    return frame(lb, data + head, n - head, 0, cb, arg);
}

int linebuf_resume(struct linebuf *lb, linebuf_line_cb *cb, void *arg)
{
    lb->paused = 0;
    if (lb->len == 0)
        return 0;
    new_gen(lb);
    return frame(lb, lb->data, lb->len, 1, cb, arg);
}

int linebuf_finish(struct linebuf *lb, linebuf_line_cb *cb, void *arg)
{
    if (lb->len == 0)
        return 0;
    size_t len = lb->len;
    if (len > lb->max + (lb->data[len - 1] == '\r'))
        return LINEBUF_ETOOLONG;
    new_gen(lb); /* nothing ahead: ahead_len stays 0 */
    if (lb->data[len - 1] == '\r')
        len--;
    int stop = cb(arg, lb->data, len);
    free(lb->data);
    lb->data = NULL;
    lb->len = 0;
    lb->cap = 0;
    return stop ? 1 : 0;
}

const char *linebuf_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case LINEBUF_ETOOLONG:
        return "line too long";
    case LINEBUF_ENOMEM:
        return "out of memory";
    default:
        return "unknown error";
    }
}
