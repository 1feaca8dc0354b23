#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dynbuf.h"
#include "fileio.h"
#include "strparse.h"

#define LOG_HIGH_WATER ((size_t)256 * 1024)
#define LOG_MAX        ((size_t)64 * 1024 * 1024)

static struct dynbuf log_buf = {NULL, 0, 0, LOG_MAX};
static int log_fd = 2;
static int log_owned;
static unsigned long log_dropped;
/* Rotation: only of a regular file we opened (log_path, log_old set). */
static char *log_path;    /* FILE */
static char *log_old;     /* FILE.1 */
static uint64_t log_size; /* bytes in FILE: fstat at open, then counted */
static uint64_t log_max;  /* 0: never rotate */

/* Opens path for appending, never through a symbolic link, created 0600
 * (an existing file of ours with group or other bits is made 0600). A FIFO
 * must not block the open: O_NONBLOCK until it is known, then cleared.
 * Sets *size and *regular (0 on failure). Returns the fd or a negative
 * errno. */
static int open_file(const char *path, uint64_t *size, int *regular)
{
    *size = 0;
    *regular = 0;
    int fd = open(path,
                  O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW |
                      O_NONBLOCK,
                  0600);
    if (fd < 0)
        return -errno;
    struct stat st;
    int fl = fcntl(fd, F_GETFL);
    if (fstat(fd, &st) != 0 || fl < 0 ||
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    *regular = S_ISREG(st.st_mode);
    *size = *regular ? (uint64_t)st.st_size : 0;
    if (*regular && (st.st_mode & 0177) != 0 && st.st_uid == geteuid())
        (void)fchmod(fd, 0600); /* best effort */
    return fd;
}

static void forget_path(void)
{
    free(log_path);
    free(log_old);
    log_path = log_old = NULL;
}

int log_open(const char *path)
{
    if (log_owned) {
        log_flush();
        close(log_fd);
        log_owned = 0;
    }
    forget_path();
    log_fd = 2;
    if (path == NULL)
        return 0;
    uint64_t size;
    int regular;
    int fd = open_file(path, &size, &regular);
    if (fd < 0)
        return fd;
    log_fd = fd;
    log_owned = 1;
    log_size = size;
    if (regular) {
        size_t n = strlen(path);
        log_path = malloc(n + 1);
        log_old = malloc(n + 3);
        if (log_path == NULL || log_old == NULL) {
            forget_path(); /* logs, but never rotates */
        } else {
            memcpy(log_path, path, n + 1);
            memcpy(log_old, path, n);
            memcpy(log_old + n, ".1", 3);
        }
    }
    return 0;
}

void log_set_max_bytes(uint64_t max)
{
    log_max = max;
}

void log_close(void)
{
    log_flush();
    if (log_owned)
        close(log_fd);
    log_fd = 2;
    log_owned = 0;
    forget_path();
    dynbuf_free(&log_buf);
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* FILE -> FILE.1, and a new FILE. Should that fail, the file is emptied
 * instead (the bound holds, the history is lost); should that fail too,
 * rotation stops. A line about it goes to the new file with the lines
 * that did not fit the old one. */
static void rotate(void)
{
    uint64_t was = log_size;
    int e = 0;
    /* ENOENT: the file was removed under us; start a new one. */
    if (rename(log_path, log_old) != 0 && errno != ENOENT) {
        e = errno;
    } else {
        uint64_t size;
        int regular;
        int fd = open_file(log_path, &size, &regular);
        if (fd >= 0 && regular) {
            close(log_fd);
            log_fd = fd;
            log_size = size;
            note("log rotated: the previous %llu bytes are in %s",
                 (unsigned long long)was, log_old);
            return;
        }
        if (fd >= 0)
            close(fd);
        e = fd < 0 ? -fd : EINVAL;
        /* The old file goes back to its name. */
        (void)rename(log_old, log_path);
    }
    if (ftruncate(log_fd, 0) != 0) {
        note("log %s passed %llu bytes and cannot be rotated (%s) nor "
             "emptied (%s): it is no longer bounded",
             log_path, (unsigned long long)log_max, strerror(e),
             strerror(errno));
        forget_path();
        return;
    }
    log_size = 0;
    note("log %s passed %llu bytes and cannot be rotated to %s (%s): "
         "emptied instead",
         log_path, (unsigned long long)log_max, log_old, strerror(e));
}

/* Writes the buffer out. A failed write (a full disk) must not stop the
 * server: the lines are dropped (and counted as written, so that a
 * rotation comes no later). */
static void write_out(void)
{
    if (log_buf.len == 0)
        return;
    (void)fileio_write_all(log_fd, log_buf.data, log_buf.len);
    log_size += log_buf.len;
    log_buf.len = 0;
}

void log_flush(void)
{
    /* Rotated before a write that would pass the cap: each file holds at
     * most log_max bytes (or a single write, if one is larger). */
    if (log_max > 0 && log_path != NULL && log_size > 0 && log_buf.len > 0 &&
        log_size + log_buf.len > log_max)
        rotate();
    write_out();
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
        size_t n =
            strftime(cached, sizeof cached - 6, "%Y-%m-%dT%H:%M:%S", &tm);
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

/* Ends the line; flushes past the high-water mark. */
static void finish(void)
{
    if (dynbuf_addc(&log_buf, '\n') != 0)
        log_dropped++;
    if (log_buf.len >= LOG_HIGH_WATER)
        log_flush();
}

/* The stamp and the text of a line, not yet ended. */
static void add_text(const char *fmt, va_list ap)
    __attribute__((format(printf, 1, 0)));
static void add_text(const char *fmt, va_list ap)
{
    stamp();
    if (dynbuf_vprintf(&log_buf, fmt, ap) != 0)
        log_dropped++;
}

void log_msg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_text(fmt, ap);
    va_end(ap);
    finish();
}

/* log_msg for rotate(), inside log_flush: the line is only added, never
 * flushed from here (log_flush writes it next). A flush from here would
 * rotate again, and again without end while rotating fails. */
static void note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_text(fmt, ap);
    va_end(ap);
    if (dynbuf_addc(&log_buf, '\n') != 0)
        log_dropped++;
}

static int plain(unsigned char c)
{
    return c >= 0x20 && c < 0x7f && c != '\\';
}

#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* Whether all eight bytes of w are plain: none below 0x20, none 0x7f or
 * above, no backslash (bit tricks on the whole word; exact, because the
 * subtractions below never borrow across bytes for the bytes tested). */
static int plain_word(uint64_t w)
{
    uint64_t high = w & HIGHS; /* 0x80 and above */
    uint64_t low7 = w & ~HIGHS;
    uint64_t ctl = (low7 + ONES * (0x80 - 0x20)) & HIGHS; /* >= 0x20 */
    uint64_t del = (low7 + ONES * (0x80 - 0x7f)) & HIGHS; /* >= 0x7f */
    uint64_t bs = low7 ^ (ONES * '\\');
    uint64_t is_bs = ~((bs + ~HIGHS) | bs) & HIGHS; /* == 0x5c */
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

/* log_escape, and *used: how many bytes of data made it. */
static size_t escape(char *out, size_t cap, const char *data, size_t len,
                     size_t *used)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    *used = 0;
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
        if (o + 4 >= cap)
            break;
        unsigned char c = (unsigned char)data[i++];
        out[o++] = '\\';
        out[o++] = 'x';
        out[o++] = hex[c >> 4];
        out[o++] = hex[c & 15];
    }
    out[o] = '\0';
    *used = i;
    return o;
}

size_t log_escape(char *out, size_t cap, const char *data, size_t len)
{
    size_t used;
    return escape(out, cap, data, len, &used);
}

/* Appends prefix, then the escaped bytes (at most max of them, then
 * "... (N bytes)" if that cut the data), then the newline. */
static void add_escaped(const char *prefix, size_t plen, const char *data,
                        size_t len, size_t max)
{
    /* Worst case every byte becomes four. */
    size_t room = len <= max / 4 ? len * 4 : max;
    char *p = dynbuf_reserve(&log_buf, plen + room + 48);
    if (p == NULL) {
        log_dropped++;
        finish();
        return;
    }
    memcpy(p, prefix, plen);
    size_t used;
    size_t n = escape(p + plen, room + 1, data, len, &used);
    if (used < len) {
        /* Each with its NUL, which the next bytes overwrite (the 48
         * bytes reserved past the escaped ones have room for it). */
        memcpy(p + plen + n, "... (", 6);
        n += 5;
        n += strparse_format_u64(p + plen + n, len);
        memcpy(p + plen + n, " bytes)", 8);
        n += 7;
    }
    log_buf.len += plen + n;
    finish();
}

void log_data(const char *prefix, const char *data, size_t len)
{
    stamp();
    add_escaped(prefix, strlen(prefix), data, len, LOG_EXCERPT_MAX);
}

void log_conn_data(unsigned long id, const char *tag, const char *data,
                   size_t len)
{
    stamp();
    char prefix[64] = "conn ";
    size_t o = 5;
    o += strparse_format_u64(prefix + o, id);
    prefix[o++] = ' ';
    /* The tag (a byte or two: "<", ">"), cut to leave room for the ' '. */
    while (*tag != '\0' && o < sizeof prefix - 1)
        prefix[o++] = *tag++;
    prefix[o++] = ' ';
    add_escaped(prefix, o, data, len, LOG_LINE_MAX);
}
