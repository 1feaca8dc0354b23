/* linebuf: framing must not depend on how the bytes arrive.
 *
 * Input: [max] [pause] [split seed, 2 bytes] then the stream.
 *   max    < 128: a line limit of max % 64 bytes (so ETOOLONG is reached
 *          often); otherwise LINEBUF_DEFAULT_MAX
 *   pause  the callback pauses on every pause-th line (0: never)
 *   seed   picks the chunk sizes; the low two bits pick their scale
 *
 * The reference feeds the stream in one call and never pauses. Two other
 * runs, the stream in chunks and the stream in one call, pause every
 * pause-th line and resume at once. All three must hand out the same lines
 * in the same order and end with the same result, linebuf_finish()
 * included.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "linebuf.h"

/* Every line handed out, each as its length (a size_t) then its bytes. */
struct lines {
    unsigned char *data;
    size_t len;
    size_t cap;
    size_t count;
    unsigned pause_every; /* 0: never pause */
};

static void lines_add(struct lines *l, const void *p, size_t n)
{
    if (l->len + n > l->cap) {
        size_t cap = l->cap ? l->cap : 256;
        while (cap < l->len + n)
            cap *= 2;
        unsigned char *d = realloc(l->data, cap);
        FUZZ_CHECK(d != NULL);
        l->data = d;
        l->cap = cap;
    }
    if (n > 0)
        memcpy(l->data + l->len, p, n);
    l->len += n;
}

static int on_line(void *arg, const char *line, size_t len)
{
    struct lines *l = arg;
    /* Lines never keep their terminator. */
    FUZZ_CHECK(len == 0 || memchr(line, '\n', len) == NULL);
    lines_add(l, &len, sizeof len);
    lines_add(l, line, len);
    l->count++;
    return l->pause_every != 0 && l->count % l->pause_every == 0;
}

/* Next chunk size, at most left; 0 now and then, as an empty read. */
static size_t next_chunk(uint64_t *state, unsigned scale, size_t left)
{
    static const size_t limits[] = {1, 4, 64, SIZE_MAX};
    uint64_t r = fuzz_rand(state);
    if (r % 16 == 0)
        return 0;
    size_t limit = limits[scale] < left ? limits[scale] : left;
    return 1 + (size_t)((r >> 4) % limit);
}

/* Feeds data in chunks (one chunk if whole), resuming after every pause,
 * then finishes. Returns 0 or the first linebuf error. */
static int run(const char *data, size_t n, size_t max, int whole, uint16_t seed,
               struct lines *l)
{
    struct linebuf lb;
    linebuf_init(&lb, max);
    uint64_t state = seed;
    unsigned scale = seed & 3u;
    size_t off = 0;
    int rc = 0;
    while (rc == 0 && (off < n || (whole && off == 0))) {
        size_t chunk = whole ? n : next_chunk(&state, scale, n - off);
        rc = linebuf_feed(&lb, data + off, chunk, on_line, l);
        off += chunk;
        while (rc == 1) {
            FUZZ_CHECK(lb.paused);
            rc = linebuf_resume(&lb, on_line, l);
        }
        if (rc == 0) {
            /* Between reads only an incomplete line is held, and it may
             * still get its "\r\n": one byte past the limit at most. */
            FUZZ_CHECK(!lb.paused);
            FUZZ_CHECK(linebuf_pending(&lb) <= max + 1);
            FUZZ_CHECK(linebuf_pending(&lb) == 0 ||
                       memchr(lb.data, '\n', linebuf_pending(&lb)) == NULL);
        }
        if (whole)
            break;
    }
    if (rc == 0) {
        rc = linebuf_finish(&lb, on_line, l);
        /* A pause on the last line leaves nothing to resume. */
        if (rc == 1)
            rc = linebuf_resume(&lb, on_line, l);
        FUZZ_CHECK(rc != 0 || linebuf_pending(&lb) == 0);
    }
    FUZZ_CHECK(rc == 0 || rc == LINEBUF_ETOOLONG);
    FUZZ_CHECK(linebuf_strerror(rc) != NULL);
    linebuf_close(&lb);
    FUZZ_CHECK(linebuf_pending(&lb) == 0);
    return rc;
}

static void check_same(const struct lines *a, int rca, const struct lines *b,
                       int rcb)
{
    FUZZ_CHECK(rca == rcb);
    FUZZ_CHECK(a->count == b->count);
    FUZZ_CHECK(a->len == b->len);
    FUZZ_CHECK(a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in = {data, size};
    uint8_t m = fuzz_u8(&in);
    size_t max = m < 128 ? (size_t)(m % 64) : LINEBUF_DEFAULT_MAX;
    unsigned pause_every = fuzz_u8(&in) % 8;
    uint16_t seed = fuzz_u16(&in);
    const char *stream = (const char *)in.p;

    struct lines ref = {NULL, 0, 0, 0, 0};
    struct lines chunked = {NULL, 0, 0, 0, pause_every};
    struct lines paused = {NULL, 0, 0, 0, pause_every};
    int rc_ref = run(stream, in.len, max, 1, seed, &ref);
    int rc_chunked = run(stream, in.len, max, 0, seed, &chunked);
    int rc_paused = run(stream, in.len, max, 1, seed, &paused);
    check_same(&ref, rc_ref, &chunked, rc_chunked);
    check_same(&ref, rc_ref, &paused, rc_paused);
    free(ref.data);
    free(chunked.data);
    free(paused.data);
    return 0;
}
