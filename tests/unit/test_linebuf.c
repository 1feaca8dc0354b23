/* Unit tests for common/linebuf: framing, bounds, pause and resume. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "linebuf.h"
#include "test.h"

#define S(lit) lit, sizeof(lit) - 1

/* Collects every line handed out, as copies. */
struct sink {
    size_t n;
    size_t off[512];
    size_t len[512];
    size_t used;
    char bytes[1 << 16];
    size_t pause_after; /* pause when the line count reaches this (0: never) */
    int pause_every;    /* pause after every line */
};

static int on_line(void *arg, const char *line, size_t len)
{
    struct sink *s = arg;
    CHECK(s->n < 512);
    CHECK(s->used + len <= sizeof s->bytes);
    s->off[s->n] = s->used;
    s->len[s->n] = len;
    if (len > 0)
        memcpy(s->bytes + s->used, line, len);
    s->used += len;
    s->n++;
    return s->pause_every || (s->pause_after != 0 && s->n == s->pause_after);
}

static struct sink *sink_new(void)
{
    struct sink *s = calloc(1, sizeof *s);
    CHECK(s != NULL);
    return s;
}

static void check_line(const struct sink *s, size_t i, const char *want,
                       size_t len)
{
    if (i >= s->n)
        fprintf(stderr, "line %zu missing (have %zu)\n", i, s->n);
    CHECK(i < s->n);
    CHECK_EQ_MEM(s->bytes + s->off[i], want, len);
    CHECK_EQ_INT(s->len[i], len);
}

static void check_same(const struct sink *a, const struct sink *b)
{
    CHECK_EQ_INT(a->n, b->n);
    for (size_t i = 0; i < a->n; i++)
        check_line(b, i, a->bytes + a->off[i], a->len[i]);
}

static void test_lf_and_crlf(void)
{
    struct linebuf lb;
    struct sink *s = sink_new();
    linebuf_init(&lb, 64);
    CHECK_EQ_INT(linebuf_feed(&lb, S("a\nbb\r\nccc\n"), on_line, s), 0);
    CHECK_EQ_INT(s->n, 3);
    check_line(s, 0, S("a"));
    check_line(s, 1, S("bb"));
    check_line(s, 2, S("ccc"));
    linebuf_close(&lb);
    free(s);
}

static void test_only_one_cr_before_lf_dropped(void)
{
    struct linebuf lb;
    struct sink *s = sink_new();
    linebuf_init(&lb, 64);
    CHECK_EQ_INT(linebuf_feed(&lb, S("x\r\r\na\rb\n\rc\n\r\n"), on_line, s), 0);
    CHECK_EQ_INT(s->n, 4);
    check_line(s, 0, S("x\r"));
    check_line(s, 1, S("a\rb"));
    check_line(s, 2, S("\rc"));
    check_line(s, 3, S(""));
    linebuf_close(&lb);
    free(s);
}

static void test_empty_lines(void)
{
    struct linebuf lb;
    struct sink *s = sink_new();
    linebuf_init(&lb, 64);
    CHECK_EQ_INT(linebuf_feed(&lb, S("\n\r\n\nx\n\n"), on_line, s), 0);
    CHECK_EQ_INT(s->n, 5);
    check_line(s, 0, S(""));
    check_line(s, 1, S(""));
    check_line(s, 2, S(""));
    check_line(s, 3, S("x"));
    check_line(s, 4, S(""));
    linebuf_close(&lb);
    free(s);
}

static void test_nul_bytes_preserved(void)
{
    struct linebuf lb;
    struct sink *s = sink_new();
    linebuf_init(&lb, 64);
    CHECK_EQ_INT(linebuf_feed(&lb, S("a\0b\n\0\n\0\0\r\n"), on_line, s), 0);
    CHECK_EQ_INT(s->n, 3);
    check_line(s, 0, S("a\0b"));
    check_line(s, 1, S("\0"));
    check_line(s, 2, S("\0\0"));
    /* The same split in the middle of a NUL run. */
    CHECK_EQ_INT(linebuf_feed(&lb, S("x\0"), on_line, s), 0);
    CHECK_EQ_INT(linebuf_feed(&lb, S("\0y\n"), on_line, s), 0);
    check_line(s, 3, S("x\0\0y"));
    linebuf_close(&lb);
    free(s);
}

static void test_many_lines_per_feed(void)
{
    char in[4096];
    size_t n = 0;
    for (int i = 0; i < 300; i++)
        n += (size_t)snprintf(in + n, sizeof in - n, "%d%s", i,
                              i % 3 == 0 ? "\r\n" : "\n");
    struct linebuf lb;
    struct sink *s = sink_new();
    linebuf_init(&lb, 16);
    CHECK_EQ_INT(linebuf_feed(&lb, in, n, on_line, s), 0);
    CHECK_EQ_INT(s->n, 300);
    for (int i = 0; i < 300; i++) {
        char want[16];
        int w = snprintf(want, sizeof want, "%d", i);
        check_line(s, (size_t)i, want, (size_t)w);
    }
    CHECK_EQ_INT(linebuf_pending(&lb), 0);
    CHECK(lb.data == NULL);
    linebuf_close(&lb);
    free(s);
}

/* Feeds in in chunks of the given sizes (cycled), then finishes. */
static int feed_chunked(struct sink *s, size_t max, const char *in, size_t n,
                        const size_t *sizes, size_t nsizes)
{
    struct linebuf lb;
    linebuf_init(&lb, max);
    size_t at = 0;
    int rc = 0;
    for (size_t k = 0; at < n && rc == 0; k++) {
        size_t c = sizes[k % nsizes];
        if (c > n - at)
            c = n - at;
        rc = linebuf_feed(&lb, in + at, c, on_line, s);
        at += c;
        /* Held bytes: at most max + 1 (a line and its CR) while all is
         * well; an error stops the connection, whatever is held. */
        CHECK(linebuf_pending(&lb) <= max + 1 + (rc != 0));
    }
    if (rc == 0)
        rc = linebuf_finish(&lb, on_line, s);
    linebuf_close(&lb);
    return rc;
}

static const char chunk_input[] =
    "IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503\r\n"
    "\n"
    "WHATSAT kiwi.cs.ucla.edu 10 5\n"
    "\r\n"
    "a\0b\r\r\n"
    "0123456789abcdef\n"
    "0123456789abcdef\r\n"
    "\r"
    "\n"
    "last without newline\r";

static void test_split_byte_by_byte(void)
{
    const size_t n = sizeof chunk_input - 1;
    struct sink *whole = sink_new();
    struct sink *bytes = sink_new();
    size_t all = n;
    size_t one = 1;
    CHECK_EQ_INT(feed_chunked(whole, 128, chunk_input, n, &all, 1), 0);
    CHECK_EQ_INT(feed_chunked(bytes, 128, chunk_input, n, &one, 1), 0);
    CHECK_EQ_INT(whole->n, 9);
    check_line(whole, 0,
               S("IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 "
                 "1621464827.959498503"));
    check_line(whole, 4, S("a\0b\r"));
    check_line(whole, 5, S("0123456789abcdef"));
    check_line(whole, 7, S(""));
    check_line(whole, 8, S("last without newline"));
    check_same(whole, bytes);
    free(whole);
    free(bytes);
}

static void test_split_every_chunk_size(void)
{
    const size_t n = sizeof chunk_input - 1;
    struct sink *whole = sink_new();
    size_t all = n;
    CHECK_EQ_INT(feed_chunked(whole, 128, chunk_input, n, &all, 1), 0);
    for (size_t c = 1; c <= n; c++) {
        struct sink *s = sink_new();
        CHECK_EQ_INT(feed_chunked(s, 128, chunk_input, n, &c, 1), 0);
        check_same(whole, s);
        free(s);
    }
    /* Every split point into two feeds, with the tightest bound that
     * still holds the longest line (66 bytes + CR). */
    struct sink *tight = sink_new();
    CHECK_EQ_INT(feed_chunked(tight, 66, chunk_input, n, &all, 1), 0);
    check_same(whole, tight);
    free(tight);
    for (size_t cut = 0; cut <= n; cut++) {
        struct sink *s = sink_new();
        size_t sizes[2] = {cut == 0 ? n : cut, n};
        CHECK_EQ_INT(feed_chunked(s, 66, chunk_input, n, sizes, 2), 0);
        check_same(whole, s);
        free(s);
    }
    free(whole);
}

static void test_split_random_chunks(void)
{
    const size_t n = sizeof chunk_input - 1;
    struct sink *whole = sink_new();
    size_t all = n;
    CHECK_EQ_INT(feed_chunked(whole, 128, chunk_input, n, &all, 1), 0);
    uint32_t seed = 12345;
    for (int round = 0; round < 500; round++) {
        size_t sizes[16];
        for (size_t i = 0; i < 16; i++) {
            seed = seed * 1103515245u + 12345u;
            sizes[i] = 1 + (seed >> 16) % 20;
        }
        struct sink *s = sink_new();
        CHECK_EQ_INT(feed_chunked(s, 128, chunk_input, n, sizes, 16), 0);
        check_same(whole, s);
        free(s);
    }
    free(whole);
}

/* One line of len bytes of 'x', then the terminator, fed in chunks of c. */
static int feed_line(size_t max, size_t len, const char *term, size_t c,
                     struct sink *s)
{
    char in[64];
    memset(in, 'x', len);
    memcpy(in + len, term, strlen(term));
    size_t n = len + strlen(term);
    return feed_chunked(s, max, in, n, &c, 1);
}

static void test_line_at_max(void)
{
    const char *terms[] = {"\n", "\r\n"};
    for (size_t t = 0; t < 2; t++) {
        for (size_t c = 1; c <= 12; c++) {
            struct sink *s = sink_new();
            CHECK_EQ_INT(feed_line(8, 8, terms[t], c, s), 0);
            CHECK_EQ_INT(s->n, 1);
            check_line(s, 0, S("xxxxxxxx"));
            free(s);

            s = sink_new();
            CHECK_EQ_INT(feed_line(8, 9, terms[t], c, s), LINEBUF_ETOOLONG);
            CHECK_EQ_INT(s->n, 0);
            free(s);

            s = sink_new();
            CHECK_EQ_INT(feed_line(8, 20, terms[t], c, s), LINEBUF_ETOOLONG);
            CHECK_EQ_INT(s->n, 0);
            free(s);
        }
    }
    /* A CR that is not before the LF counts as a byte of the line. */
    for (size_t c = 1; c <= 11; c++) {
        struct sink *s = sink_new();
        CHECK_EQ_INT(feed_line(8, 8, "\r\r\n", c, s), LINEBUF_ETOOLONG);
        CHECK_EQ_INT(s->n, 0);
        free(s);
    }
}

static void test_lines_before_long_line_delivered(void)
{
    struct linebuf lb;
    struct sink *s = sink_new();
    linebuf_init(&lb, 4);
    CHECK_EQ_INT(linebuf_feed(&lb, S("ab\ncd\r\n0123456789\n"), on_line, s),
                 LINEBUF_ETOOLONG);
    CHECK_EQ_INT(s->n, 2);
    check_line(s, 0, S("ab"));
    check_line(s, 1, S("cd"));
    linebuf_close(&lb);
    free(s);
}

static void test_unterminated_tail_over_max(void)
{
    struct linebuf lb;
    struct sink *s = sink_new();
    /* One feed: rejected at once, nothing buffered. */
    linebuf_init(&lb, 8);
    CHECK_EQ_INT(linebuf_feed(&lb, S("0123456789"), on_line, s),
                 LINEBUF_ETOOLONG);
    CHECK(linebuf_pending(&lb) <= 9);
    linebuf_close(&lb);
    /* After complete lines in the same feed. */
    linebuf_init(&lb, 8);
    CHECK_EQ_INT(linebuf_feed(&lb, S("ok\n0123456789"), on_line, s),
                 LINEBUF_ETOOLONG);
    CHECK_EQ_INT(s->n, 1);
    check_line(s, 0, S("ok"));
    linebuf_close(&lb);
    /* Over several feeds: max + 1 bytes are held (the last may be a CR),
     * one more is refused. */
    linebuf_init(&lb, 8);
    CHECK_EQ_INT(linebuf_feed(&lb, S("01234"), on_line, s), 0);
    CHECK_EQ_INT(linebuf_pending(&lb), 5);
    CHECK_EQ_INT(linebuf_feed(&lb, S("5678"), on_line, s), 0);
    CHECK_EQ_INT(linebuf_pending(&lb), 9);
    CHECK_EQ_INT(linebuf_feed(&lb, S("9"), on_line, s), LINEBUF_ETOOLONG);
    CHECK(linebuf_pending(&lb) <= 10);
    linebuf_close(&lb);
    /* A megabyte without a newline is refused, not buffered. */
    size_t big = 1 << 20;
    char *in = malloc(big);
    CHECK(in != NULL);
    memset(in, 'z', big);
    linebuf_init(&lb, LINEBUF_DEFAULT_MAX);
    CHECK_EQ_INT(linebuf_feed(&lb, in, big, on_line, s), LINEBUF_ETOOLONG);
    CHECK(linebuf_pending(&lb) <= LINEBUF_DEFAULT_MAX + 1);
    CHECK(lb.cap <= LINEBUF_DEFAULT_MAX + 2);
    linebuf_close(&lb);
    linebuf_init(&lb, LINEBUF_DEFAULT_MAX);
    CHECK_EQ_INT(linebuf_feed(&lb, in, 100, on_line, s), 0);
    CHECK_EQ_INT(linebuf_feed(&lb, in, big, on_line, s), LINEBUF_ETOOLONG);
    CHECK(linebuf_pending(&lb) <= LINEBUF_DEFAULT_MAX + 1);
    CHECK(lb.cap <= LINEBUF_DEFAULT_MAX + 2);
    linebuf_close(&lb);
    free(in);
    CHECK_EQ_INT(s->n, 1);
    free(s);
}

static void test_finish_unterminated_line(void)
{
    struct linebuf lb;
    struct sink *s = sink_new();
    linebuf_init(&lb, 8);
    /* Nothing pending: nothing delivered. */
    CHECK_EQ_INT(linebuf_finish(&lb, on_line, s), 0);
    CHECK_EQ_INT(s->n, 0);
    CHECK_EQ_INT(linebuf_feed(&lb, S("one\ntw"), on_line, s), 0);
    CHECK_EQ_INT(linebuf_feed(&lb, S("o"), on_line, s), 0);
    CHECK_EQ_INT(linebuf_pending(&lb), 3);
    CHECK_EQ_INT(linebuf_finish(&lb, on_line, s), 0);
    CHECK_EQ_INT(s->n, 2);
    check_line(s, 1, S("two"));
    CHECK_EQ_INT(linebuf_pending(&lb), 0);
    CHECK(lb.data == NULL);
    /* A trailing CR is stripped, a NUL kept. */
    CHECK_EQ_INT(linebuf_feed(&lb, S("a\0b\r"), on_line, s), 0);
    CHECK_EQ_INT(linebuf_finish(&lb, on_line, s), 0);
    check_line(s, 2, S("a\0b"));
    /* Exactly max, with and without CR. */
    CHECK_EQ_INT(linebuf_feed(&lb, S("01234567"), on_line, s), 0);
    CHECK_EQ_INT(linebuf_finish(&lb, on_line, s), 0);
    check_line(s, 3, S("01234567"));
    CHECK_EQ_INT(linebuf_feed(&lb, S("01234567\r"), on_line, s), 0);
    CHECK_EQ_INT(linebuf_finish(&lb, on_line, s), 0);
    check_line(s, 4, S("01234567"));
    /* max + 1 without CR: too long. */
    CHECK_EQ_INT(linebuf_feed(&lb, S("012345678"), on_line, s), 0);
    CHECK_EQ_INT(linebuf_finish(&lb, on_line, s), LINEBUF_ETOOLONG);
    CHECK_EQ_INT(s->n, 5);
    linebuf_close(&lb);
    /* Finish after a lone CR: one empty line. */
    linebuf_init(&lb, 8);
    CHECK_EQ_INT(linebuf_feed(&lb, S("\r"), on_line, s), 0);
    CHECK_EQ_INT(linebuf_finish(&lb, on_line, s), 0);
    CHECK_EQ_INT(s->n, 6);
    check_line(s, 5, S(""));
    /* Finish twice: the second has nothing to do. */
    CHECK_EQ_INT(linebuf_finish(&lb, on_line, s), 0);
    CHECK_EQ_INT(s->n, 6);
    linebuf_close(&lb);
    free(s);
}

static void test_pause_then_resume(void)
{
    struct linebuf lb;
    struct sink *s = sink_new();
    linebuf_init(&lb, 16);
    s->pause_after = 2;
    CHECK_EQ_INT(linebuf_feed(&lb, S("a\nb\nc\r\nd\ne"), on_line, s), 1);
    CHECK_EQ_INT(s->n, 2);
    CHECK(linebuf_pending(&lb) > 0);
    CHECK_EQ_INT(linebuf_resume(&lb, on_line, s), 0);
    CHECK_EQ_INT(s->n, 4);
    check_line(s, 0, S("a"));
    check_line(s, 1, S("b"));
    check_line(s, 2, S("c"));
    check_line(s, 3, S("d"));
    CHECK_EQ_INT(linebuf_pending(&lb), 1);
    CHECK_EQ_INT(linebuf_feed(&lb, S("f\ng\n"), on_line, s), 0);
    check_line(s, 4, S("ef"));
    check_line(s, 5, S("g"));
    CHECK_EQ_INT(linebuf_pending(&lb), 0);
    CHECK(lb.data == NULL);
    linebuf_close(&lb);
    free(s);
}

static void test_pause_while_completing_kept_line(void)
{
    /* The pause comes on a line completed from held bytes. */
    struct linebuf lb;
    struct sink *s = sink_new();
    linebuf_init(&lb, 16);
    s->pause_after = 1;
    CHECK_EQ_INT(linebuf_feed(&lb, S("he"), on_line, s), 0);
    CHECK_EQ_INT(linebuf_feed(&lb, S("llo\nworld\nmore\npart"), on_line, s), 1);
    CHECK_EQ_INT(s->n, 1);
    check_line(s, 0, S("hello"));
    CHECK_EQ_INT(linebuf_resume(&lb, on_line, s), 0);
    CHECK_EQ_INT(s->n, 3);
    check_line(s, 1, S("world"));
    check_line(s, 2, S("more"));
    CHECK_EQ_INT(linebuf_finish(&lb, on_line, s), 0);
    check_line(s, 3, S("part"));
    CHECK(lb.data == NULL);
    linebuf_close(&lb);
    free(s);
}

static void test_pause_every_line(void)
{
    /* Pausing on every line and resuming gives the same lines, in order. */
    const size_t n = sizeof chunk_input - 1;
    struct sink *whole = sink_new();
    size_t all = n;
    CHECK_EQ_INT(feed_chunked(whole, 128, chunk_input, n, &all, 1), 0);
    for (size_t c = 1; c <= n; c += 7) {
        struct linebuf lb;
        struct sink *s = sink_new();
        s->pause_every = 1;
        linebuf_init(&lb, 128);
        for (size_t at = 0; at < n;) {
            size_t k = c < n - at ? c : n - at;
            int rc = linebuf_feed(&lb, chunk_input + at, k, on_line, s);
            at += k;
            while (rc == 1)
                rc = linebuf_resume(&lb, on_line, s);
            CHECK_EQ_INT(rc, 0);
        }
        CHECK_EQ_INT(linebuf_finish(&lb, on_line, s), 1);
        check_same(whole, s);
        CHECK_EQ_INT(linebuf_pending(&lb), 0);
        CHECK(lb.data == NULL);
        linebuf_close(&lb);
        free(s);
    }
    free(whole);
}

static void test_pause_on_last_line(void)
{
    struct linebuf lb;
    struct sink *s = sink_new();
    linebuf_init(&lb, 16);
    s->pause_after = 2;
    CHECK_EQ_INT(linebuf_feed(&lb, S("a\nb\n"), on_line, s), 1);
    CHECK_EQ_INT(linebuf_pending(&lb), 0);
    CHECK_EQ_INT(linebuf_resume(&lb, on_line, s), 0);
    CHECK_EQ_INT(s->n, 2);
    CHECK(lb.data == NULL);
    linebuf_close(&lb);
    free(s);
}

static void test_idle_buffer_freed(void)
{
    struct linebuf lb;
    struct sink *s = sink_new();
    linebuf_init(&lb, 64);
    CHECK(lb.data == NULL);
    CHECK_EQ_INT(linebuf_feed(&lb, S("a\nb\n"), on_line, s), 0);
    CHECK_EQ_INT(linebuf_pending(&lb), 0);
    CHECK(lb.data == NULL);
    /* A tail is held, then completed: freed again. */
    CHECK_EQ_INT(linebuf_feed(&lb, S("par"), on_line, s), 0);
    CHECK_EQ_INT(linebuf_pending(&lb), 3);
    CHECK(lb.data != NULL);
    CHECK_EQ_INT(linebuf_feed(&lb, S("tial\r\n"), on_line, s), 0);
    CHECK_EQ_INT(linebuf_pending(&lb), 0);
    CHECK(lb.data == NULL);
    check_line(s, 2, S("partial"));
    /* Completed and followed by more complete lines. */
    CHECK_EQ_INT(linebuf_feed(&lb, S("x"), on_line, s), 0);
    CHECK_EQ_INT(linebuf_feed(&lb, S("y\nz\n"), on_line, s), 0);
    CHECK_EQ_INT(linebuf_pending(&lb), 0);
    CHECK(lb.data == NULL);
    /* Zero bytes change nothing. */
    CHECK_EQ_INT(linebuf_feed(&lb, "", 0, on_line, s), 0);
    CHECK_EQ_INT(linebuf_pending(&lb), 0);
    CHECK(lb.data == NULL);
    CHECK_EQ_INT(s->n, 5);
    linebuf_close(&lb);
    free(s);
}

static void test_close_with_pending(void)
{
    struct linebuf lb;
    struct sink *s = sink_new();
    linebuf_init(&lb, 64);
    CHECK_EQ_INT(linebuf_feed(&lb, S("held"), on_line, s), 0);
    linebuf_close(&lb);
    CHECK(lb.data == NULL);
    CHECK_EQ_INT(linebuf_pending(&lb), 0);
    CHECK_EQ_INT(lb.max, 64);
    /* Usable again after close. */
    CHECK_EQ_INT(linebuf_feed(&lb, S("again\n"), on_line, s), 0);
    check_line(s, 0, S("again"));
    linebuf_close(&lb);
    free(s);
}

static void test_strerror(void)
{
    CHECK(strcmp(linebuf_strerror(LINEBUF_ETOOLONG),
                 linebuf_strerror(LINEBUF_ENOMEM)) != 0);
    CHECK(strcmp(linebuf_strerror(LINEBUF_ETOOLONG), linebuf_strerror(-1)) !=
          0);
    CHECK(strstr(linebuf_strerror(LINEBUF_ETOOLONG), "long") != NULL);
}

/* What linebuf_ahead shows each callback: the bytes after its line in
 * the same buffer, under a generation that every feed, resume and finish
 * of any linebuf changes. */
struct ahead_log {
    const struct linebuf *lb;
    size_t n;
    char ahead[8][64];
    size_t ahead_len[8];
    uint64_t gen[8];
    size_t pause_at; /* pause after this many lines (0: never) */
};

static int on_line_ahead(void *arg, const char *line, size_t len)
{
    (void)line;
    (void)len;
    struct ahead_log *a = arg;
    CHECK(a->n < 8);
    size_t n;
    uint64_t gen;
    const char *p = linebuf_ahead(a->lb, &n, &gen);
    CHECK(n < sizeof a->ahead[0]);
    if (n > 0)
        memcpy(a->ahead[a->n], p, n);
    a->ahead_len[a->n] = n;
    a->gen[a->n] = gen;
    a->n++;
    return a->pause_at != 0 && a->n == a->pause_at;
}

static void test_ahead(void)
{
    struct linebuf lb, other;
    linebuf_init(&lb, 64);
    linebuf_init(&other, 64);
    struct ahead_log a = {.lb = &lb};
    /* "ab\r\n" completes a kept "x": its ahead is the caller's bytes. */
    CHECK_EQ_INT(linebuf_feed(&lb, S("x"), on_line_ahead, &a), 0);
    CHECK_EQ_INT(linebuf_feed(&lb, S("ab\r\ncd\nef"), on_line_ahead, &a), 0);
    CHECK_EQ_INT(a.n, 2);
    CHECK_EQ_MEM(a.ahead[0], "cd\nef", a.ahead_len[0]);
    CHECK_EQ_INT(a.ahead_len[0], 5);
    CHECK_EQ_MEM(a.ahead[1], "ef", a.ahead_len[1]);
    CHECK_EQ_INT(a.ahead_len[1], 2);
    CHECK(a.gen[0] == a.gen[1] && a.gen[0] != 0);
    /* Another linebuf's feed, then this one's: new generations. */
    struct ahead_log b = {.lb = &other};
    CHECK_EQ_INT(linebuf_feed(&other, S("q\n"), on_line_ahead, &b), 0);
    CHECK(b.gen[0] != a.gen[0]);
    CHECK_EQ_INT(b.ahead_len[0], 0);
    a.pause_at = 3; /* the kept "ef", completed by the next feed */
    CHECK_EQ_INT(linebuf_feed(&lb, S("\ngh\nij\n"), on_line_ahead, &a), 1);
    CHECK_EQ_INT(a.n, 3);
    CHECK(a.gen[2] != a.gen[0] && a.gen[2] != b.gen[0]);
    CHECK_EQ_MEM(a.ahead[2], "gh\nij\n", a.ahead_len[2]);
    /* Resumed from the kept copy: another generation, the same bytes. */
    a.pause_at = 0;
    CHECK_EQ_INT(linebuf_resume(&lb, on_line_ahead, &a), 0);
    CHECK_EQ_INT(a.n, 5);
    CHECK(a.gen[3] != a.gen[2] && a.gen[3] == a.gen[4]);
    CHECK_EQ_MEM(a.ahead[3], "ij\n", a.ahead_len[3]);
    CHECK_EQ_INT(a.ahead_len[4], 0);
    /* An unterminated last line at the end: nothing ahead. */
    CHECK_EQ_INT(linebuf_feed(&lb, S("kl"), on_line_ahead, &a), 0);
    CHECK_EQ_INT(linebuf_finish(&lb, on_line_ahead, &a), 0);
    CHECK_EQ_INT(a.n, 6);
    CHECK_EQ_INT(a.ahead_len[5], 0);
    CHECK(a.gen[5] != a.gen[4]);
    /* Outside a callback: nothing. */
    size_t n;
    uint64_t gen;
    CHECK(linebuf_ahead(&lb, &n, &gen) == NULL && n == 0);
    linebuf_close(&lb);
    linebuf_close(&other);
}

static const struct test tests[] = {
    {"lf_and_crlf", test_lf_and_crlf},
    {"only_one_cr_before_lf_dropped", test_only_one_cr_before_lf_dropped},
    {"empty_lines", test_empty_lines},
    {"nul_bytes_preserved", test_nul_bytes_preserved},
    {"many_lines_per_feed", test_many_lines_per_feed},
    {"split_byte_by_byte", test_split_byte_by_byte},
    {"split_every_chunk_size", test_split_every_chunk_size},
    {"split_random_chunks", test_split_random_chunks},
    {"line_at_max", test_line_at_max},
    {"lines_before_long_line_delivered", test_lines_before_long_line_delivered},
    {"unterminated_tail_over_max", test_unterminated_tail_over_max},
    {"finish_unterminated_line", test_finish_unterminated_line},
    {"pause_then_resume", test_pause_then_resume},
    {"pause_while_completing_kept_line", test_pause_while_completing_kept_line},
    {"pause_every_line", test_pause_every_line},
    {"pause_on_last_line", test_pause_on_last_line},
    {"idle_buffer_freed", test_idle_buffer_freed},
    {"close_with_pending", test_close_with_pending},
    {"strerror", test_strerror},
    {"ahead", test_ahead},
};

TEST_MAIN(tests)
