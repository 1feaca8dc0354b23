#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dynbuf.h"

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
    size_t off = 0;
    while (off < log_buf.len) {
        ssize_t n = write(log_fd, log_buf.data + off, log_buf.len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* a full disk must not stop the server */
        off += (size_t)n;
    }
    log_buf.len = 0;
    if (log_buf.cap > LOG_HIGH_WATER * 4)
        dynbuf_free(&log_buf);
}

static void stamp(void)
{
    static time_t cached_sec = -1;
    static char cached[32];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != cached_sec) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &tm);
        cached_sec = ts.tv_sec;
    }
    if (dynbuf_printf(&log_buf, "%s.%03ldZ ", cached, ts.tv_nsec / 1000000) !=
        0)
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

size_t log_escape(char *out, size_t cap, const char *data, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (cap == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)data[i];
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            if (o + 1 >= cap)
                break;
            out[o++] = (char)c;
        } else {
            if (o + 4 >= cap)
                break;
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return o;
}

void log_data(const char *prefix, const char *data, size_t len)
{
    stamp();
    size_t plen = strlen(prefix);
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
