#include "dynbuf.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dynbuf_init(struct dynbuf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void dynbuf_free(struct dynbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

char *dynbuf_reserve(struct dynbuf *b, size_t n)
{
    if (n > b->max || b->len > b->max - n)
        return NULL;
    size_t need = b->len + n;
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < need)
            cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        if (cap > b->max)
            cap = b->max;
        char *p = realloc(b->data, cap);
        if (p == NULL)
            return NULL;
        b->data = p;
        b->cap = cap;
    }
    return b->data + b->len;
}

int dynbuf_add(struct dynbuf *b, const void *data, size_t n)
{
    if (n == 0)
        return 0;
    if (n > b->max || b->len > b->max - n)
        return DYNBUF_ETOOBIG;
    char *p = dynbuf_reserve(b, n);
    if (p == NULL)
        return DYNBUF_ENOMEM;
    memcpy(p, data, n);
    b->len += n;
    return 0;
}

int dynbuf_add_line(struct dynbuf *b, const void *data, size_t n)
{
    if (n >= b->max || b->len > b->max - n - 1)
        return DYNBUF_ETOOBIG;
    char *p = dynbuf_reserve(b, n + 1);
    if (p == NULL)
        return DYNBUF_ENOMEM;
    if (n > 0)
        memcpy(p, data, n);
    p[n] = '\n';
    b->len += n + 1;
    return 0;
}

int dynbuf_addc(struct dynbuf *b, char c)
{
    return dynbuf_add(b, &c, 1);
}

int dynbuf_vprintf(struct dynbuf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return DYNBUF_ENOMEM;
    if ((size_t)n < sizeof small)
        return dynbuf_add(b, small, (size_t)n);
    if ((size_t)n > b->max || b->len > b->max - (size_t)n)
        return DYNBUF_ETOOBIG;
    /* vsnprintf writes a NUL after the text, which may not fit under the
     * limit: format into a scratch buffer, then append. */
    char *tmp = malloc((size_t)n + 1);
    if (tmp == NULL)
        return DYNBUF_ENOMEM;
    vsnprintf(tmp, (size_t)n + 1, fmt, ap);
    int rc = dynbuf_add(b, tmp, (size_t)n);
    free(tmp);
    return rc;
}

int dynbuf_printf(struct dynbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = dynbuf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void dynbuf_consume(struct dynbuf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void dynbuf_cut(struct dynbuf *b, const struct dynbuf_range *r, size_t n)
{
    /* What is kept moves from `from` to `to`. */
    size_t to = 0;
    size_t from = 0;
    for (size_t i = 0; i < n; i++) {
        assert(r[i].off >= from && r[i].off <= b->len &&
               r[i].len <= b->len - r[i].off);
        if (to != from)
            memmove(b->data + to, b->data + from, r[i].off - from);
        to += r[i].off - from;
        from = r[i].off + r[i].len;
    }
    if (to != from) {
        memmove(b->data + to, b->data + from, b->len - from);
        b->len = to + (b->len - from);
    }
}

char *dynbuf_take(struct dynbuf *b, size_t *len)
{
    char *p = b->data;
    if (len != NULL)
        *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}

const char *dynbuf_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case DYNBUF_ETOOBIG:
        return "buffer limit reached";
    case DYNBUF_ENOMEM:
        return "out of memory";
    default:
        return "unknown error";
    }
}

char *dynbuf_line(struct dynbuf *b, int k)
{
    char *p = b->data;
    char *end = b->data + b->len;
    for (; p != NULL && p < end; k--) {
        char *nl = p;
        while (nl < end && *nl != '\n' && *nl != '\0') /* \0: split already */
            nl++;
        if (nl == end)
            return NULL;
        *nl = '\0';
        if (k == 0)
            return p;
        p = nl + 1;
    }
    return NULL;
}
