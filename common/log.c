#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dynbuf.h"
#include "fileio.h"
#include "strparse.h"

#define LOG_HIGH_WATER (256 * 1024)
#define LOG_MAX (64 * 1024 * 1024)

static struct dynbuf log_buf = {NULL, 0, 0, LOG_MAX};
static int log_fd = 2;
static int log_owned;
static unsigned long log_dropped;

int log_open(const char *path)
{
    if (path == NULL) {
        log_fd = 2;
        return 0;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    log_fd = fd;
    log_owned = 1;
    return 0;
}

void log_close(void)
{
    log_flush();
    if (log_owned)
        close(log_fd);
    log_fd = 2;
    log_owned = 0;
    dynbuf_free(&log_buf);
}

void log_flush(void)
{
    /* A failed write (a full disk) must not stop the server: the lines
     * are dropped. */
    (void)fileio_write_all(log_fd, log_buf.data, log_buf.len);
    log_buf.len = 0;
    if (log_buf.cap > LOG_HIGH_WATER * 4)
        dynbuf_free(&log_buf);
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ ", formatted once a second and patched once a
 * millisecond: every protocol line is logged, so no printf here. */
static void stamp(void)
{
    static time_t cached_sec = -1;
    static long cached_ms = -1;
    static char cached[40];
    static size_t cached_len;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long ms = ts.tv_nsec / 1000000;
    if (ts.tv_sec != cached_sec) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        size_t n = strftime(cached, sizeof cached - 6, "%Y-%m-%dT%H:%M:%S",
                            &tm);
        memcpy(cached + n, ".000Z ", 6);
        cached_len = n + 6;
        cached_sec = ts.tv_sec;
        cached_ms = -1;
    }
    if (ms != cached_ms) {
        char *d = cached + cached_len - 5;
        d[0] = (char)('0' + ms / 100);
        d[1] = (char)('0' + ms / 10 % 10);
        d[2] = (char)('0' + ms % 10);
        cached_ms = ms;
    }
    if (dynbuf_add(&log_buf, cached, cached_len) != 0)
        log_dropped++;
}

static void finish(void)
{
    if (dynbuf_addc(&log_buf, '\n') != 0)
        log_dropped++;
    if (log_buf.len >= LOG_HIGH_WATER)
        log_flush();
}

void log_msg(const char *fmt, ...)
{
    stamp();
    va_list ap;
    va_start(ap, fmt);
    if (dynbuf_vprintf(&log_buf, fmt, ap) != 0)
        log_dropped++;
    va_end(ap);
    finish();
}

static int plain(unsigned char c)
{
    return c >= 0x20 && c < 0x7f && c != '\\';
}

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* Whether all eight bytes of w are plain: none below 0x20, none 0x7f or
 * above, no backslash (bit tricks on the whole word; exact, because the
 * subtractions below never borrow across bytes for the bytes tested). */
static int plain_word(uint64_t w)
{
    uint64_t high = w & HIGHS;                       /* 0x80 and above */
    uint64_t low7 = w & ~HIGHS;
    uint64_t ctl = (low7 + ONES * (0x80 - 0x20)) & HIGHS; /* >= 0x20 */
    uint64_t del = (low7 + ONES * (0x80 - 0x7f)) & HIGHS; /* >= 0x7f */
    uint64_t bs = low7 ^ (ONES * '\\');
    uint64_t is_bs = ~((bs + ~HIGHS) | bs) & HIGHS;  /* == 0x5c */
    return high == 0 && ctl == HIGHS && del == 0 && is_bs == 0;
}

/* Length of the run of plain bytes at the start of p (at most len). */
static size_t plain_run(const char *p, size_t len)
{
    size_t i = 0;
    while (i + 8 <= len) {
        uint64_t w;
        memcpy(&w, p + i, sizeof w);
        if (!plain_word(w))
            break;
        i += 8;
    }
    while (i < len && plain((unsigned char)p[i]))
        i++;
    return i;
}

size_t log_escape(char *out, size_t cap, const char *data, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (cap == 0)
        return 0;
    size_t i = 0;
    while (i < len) {
        /* Runs of printable bytes are copied whole. */
        size_t run = plain_run(data + i, len - i);
        if (run > 0) {
            if (run > cap - 1 - o)
                run = cap - 1 - o;
            memcpy(out + o, data + i, run);
            o += run;
            i += run;
            if (o + 1 >= cap)
                break;
            continue;
        }
        unsigned char c = (unsigned char)data[i++];
        if (o + 4 >= cap)
            break;
        out[o++] = '\\';
        out[o++] = 'x';
        out[o++] = hex[c >> 4];
        out[o++] = hex[c & 15];
    }
    out[o] = '\0';
    return o;
}

/* Appends prefix, then the escaped bytes, then the newline. */
static void add_escaped(const char *prefix, size_t plen, const char *data,
                        size_t len)
{
    /* Worst case every byte becomes four. */
    char *p = dynbuf_reserve(&log_buf, plen + len * 4 + 1);
    if (p == NULL) {
        log_dropped++;
        finish();
        return;
    }
    memcpy(p, prefix, plen);
    size_t n = log_escape(p + plen, len * 4 + 1, data, len);
    log_buf.len += plen + n;
    finish();
}

void log_data(const char *prefix, const char *data, size_t len)
{
    stamp();
    add_escaped(prefix, strlen(prefix), data, len);
}

void log_conn_data(unsigned long id, const char *tag, const char *data,
                   size_t len)
{
    stamp();
    char prefix[64] = "conn ";
    size_t o = 5;
    o += strparse_format_u64(prefix + o, id);
    prefix[o++] = ' ';
    size_t tlen = strlen(tag);
    if (tlen > sizeof prefix - o - 1)
        tlen = sizeof prefix - o - 1;
    memcpy(prefix + o, tag, tlen);
    o += tlen;
    prefix[o++] = ' ';
    add_escaped(prefix, o, data, len);
}
