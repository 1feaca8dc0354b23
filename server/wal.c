#include "wal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "crc32c.h"
#include "fileio.h"
#include "store.h"

#define HEADER 8

uint64_t wal_frame_size(size_t len)
{
    return HEADER + (uint64_t)len;
}

uint64_t wal_record_bound(uint64_t max_line)
{
    return max_line + WAL_RECORD_SLACK;
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

/* The top bit of the length word says which checksum the frame carries:
 * set, CRC-32C (what is written now); clear, zlib's CRC-32 (logs written
 * before), which replay still reads. */
#define LEN_CRC32C 0x80000000u

static int frame(struct dynbuf *b, const char *data, size_t len)
{
    /* One reservation for the header and the line: every record every
     * server keeps passes here. */
    if (len > SIZE_MAX - HEADER)
        return DYNBUF_ENOMEM;
    unsigned char *h = (unsigned char *)dynbuf_reserve(b, HEADER + len);
    if (h == NULL)
        return DYNBUF_ENOMEM;
    put32(h, (uint32_t)len | LEN_CRC32C);
    put32(h + 4, crc32c(data, len));
    memcpy(h + HEADER, data, len);
    b->len += HEADER + len;
    return 0;
}

static char *join(const char *dir, const char *file)
{
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = malloc(n);
    if (p != NULL)
        snprintf(p, n, "%s/%s", dir, file);
    return p;
}

static int fail_io(struct wal *w)
{
    w->sys_errno = errno;
    return WAL_EIO;
}

/* Why the last wal_open failed with WAL_EDIR or WAL_EFILE (one server per
 * process, so one message per process). */
static char why[FILEIO_ERR_MAX + 64];

/* A failed fileio_open of the file name in the log's directory: a symbolic
 * link or a file that is not regular is refused (WAL_EFILE), never
 * followed; anything else is an I/O error. */
static int fail_open(struct wal *w, const char *name)
{
    if (errno == ELOOP || errno == EINVAL) {
        snprintf(why, sizeof why, "%s %s (refused)", name,
                 fileio_strerror(errno));
        w->sys_errno = errno;
        return WAL_EFILE;
    }
    return fail_io(w);
}

int wal_open(struct wal *w, const char *dir, int fsync_batch, long *holder)
{
    memset(w, 0, sizeof *w);
    w->fd = w->lock_fd = -1;
    w->fsync_batch = fsync_batch;
    *holder = 0;
    dynbuf_init(&w->batch, SIZE_MAX);
    /* The directory is the log's only protection: no one else may plant,
     * replace or remove a file in it. */
    char err[FILEIO_ERR_MAX];
    if (fileio_make_private_dir(dir, err, sizeof err) != 0) {
        snprintf(why, sizeof why, "%s", err);
        return WAL_EDIR;
    }
    int rc;
    w->dir = strdup(dir);
    w->path = join(dir, "records.wal");
    char *lock = join(dir, "LOCK");
    if (w->dir == NULL || w->path == NULL || lock == NULL) {
        free(lock);
        wal_close(w);
        return WAL_ENOMEM;
    }
    /* A lock held for the process's life: the kernel drops it however the
     * process ends, so a crash never leaves the directory locked. */
    w->lock_fd = fileio_open(lock, O_RDWR | O_CREAT, 0600);
    free(lock);
    if (w->lock_fd < 0) {
        rc = fail_open(w, "LOCK");
        wal_close(w);
        return rc;
    }
    if (fileio_lock(w->lock_fd) != 0) {
        char buf[32] = "";
        ssize_t n = pread(w->lock_fd, buf, sizeof buf - 1, 0);
        if (n > 0) {
            buf[n] = '\0';
            *holder = strtol(buf, NULL, 10);
        }
        wal_close(w);
        return WAL_ELOCKED;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(w->lock_fd, 0) != 0 ||
        pwrite(w->lock_fd, pid, (size_t)n, 0) != n) {
        /* Only informative: the lock itself is what counts. */
    }
    w->fd = fileio_open(w->path, O_RDWR | O_CREAT | O_APPEND, 0600);
    if (w->fd < 0) {
        rc = fail_open(w, "records.wal");
        wal_close(w);
        return rc;
    }
    struct stat st;
    if (fstat(w->fd, &st) != 0) {
        rc = fail_io(w);
        wal_close(w);
        return rc;
    }
    w->size = (uint64_t)st.st_size;
    return 0;
}

void wal_close(struct wal *w)
{
    if (w->fd >= 0)
        close(w->fd);
    if (w->lock_fd >= 0)
        close(w->lock_fd);
    dynbuf_free(&w->batch);
    free(w->dir);
    free(w->path);
    w->fd = w->lock_fd = -1;
    w->dir = w->path = NULL;
}

int wal_replay(struct wal *w,
               int (*apply)(void *arg, const char *line, size_t len), void *arg,
               struct wal_replay_stats *st)
{
    memset(st, 0, sizeof *st);
    if (w->size == 0)
        return 0;
    unsigned char *data = malloc(w->size);
    if (data == NULL)
        return WAL_ENOMEM;
    size_t got = 0;
    while (got < w->size) {
        ssize_t n = pread(w->fd, data + got, w->size - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    size_t off = 0;
    while (off + HEADER <= got) {
        uint32_t word = get32(data + off);
        uint32_t crc = get32(data + off + 4);
        uint32_t len = word & ~LEN_CRC32C;
        /* No record is empty: a zero length is a zero-filled tail (some
         * file systems leave one after a crash), cut like a torn one. */
        if (len == 0 || len > WAL_MAX_RECORD || off + HEADER + len > got)
            break;
        const char *payload = (const char *)data + off + HEADER;
        uint32_t want = word & LEN_CRC32C
                            ? crc32c(payload, len)
                            : (uint32_t)crc32(0L, (const Bytef *)payload, len);
        if (want != crc)
            break;
        if (apply(arg, payload, len) != 0)
            st->invalid++;
        st->records++;
        off += HEADER + len;
    }
    free(data);
    if (off < w->size) {
        /* A torn or damaged tail: everything after the last good frame. */
        st->torn_bytes = w->size - off;
        if (ftruncate(w->fd, (off_t)off) != 0)
            return fail_io(w);
        w->size = off;
    }
    return 0;
}

int wal_append(struct wal *w, const struct record *r)
{
    int rc = frame(&w->batch, r->line, r->len);
    if (rc != 0)
        return WAL_ENOMEM;
    w->appended++;
    return 0;
}

int wal_flush(struct wal *w)
{
    if (w->batch.len == 0)
        return 0;
    int rc = 0;
    if (fileio_write_all(w->fd, w->batch.data, w->batch.len) != 0 ||
        (w->fsync_batch && fdatasync(w->fd) != 0)) {
        rc = fail_io(w);
        w->broken = 1;
    } else {
        w->size += w->batch.len;
        w->writes++;
        w->fsyncs += w->fsync_batch != 0;
    }
    w->batch.len = 0;
    if (w->batch.cap > (size_t)1024 * 1024)
        dynbuf_free(&w->batch);
    return rc;
}

int wal_should_compact(const struct wal *w, uint64_t live_bytes)
{
    return w->size > WAL_COMPACT_MIN &&
           w->size > WAL_COMPACT_FACTOR * live_bytes;
}

struct compact_ctx {
    int fd;
    struct dynbuf buf;
    int failed;
};

/* A compaction writes whenever this much is buffered. */
#define COMPACT_CHUNK ((size_t)1024 * 1024)
#define COMPACT_ROOM  (COMPACT_CHUNK + (size_t)64 * 1024)

static int write_record(void *arg, const struct record *r)
{
    struct compact_ctx *c = arg;
    if (frame(&c->buf, r->line, r->len) != 0) {
        c->failed = 1;
        return 1;
    }
    if (c->buf.len >= COMPACT_CHUNK) {
        if (fileio_write_all(c->fd, c->buf.data, c->buf.len) != 0) {
            c->failed = 1;
            return 1;
        }
        c->buf.len = 0;
    }
    return 0;
}

int wal_compact(struct wal *w, const struct store *s)
{
    char *tmp = join(w->dir, "records.wal.tmp");
    if (tmp == NULL)
        return WAL_ENOMEM;
    struct compact_ctx c;
    c.failed = 0;
    dynbuf_init(&c.buf, SIZE_MAX);
    /* Room for what is written at once (up to COMPACT_CHUNK and a record),
     * so the buffer is not grown and copied step by step; if it cannot be
     * had, it grows as it goes. */
    uint64_t total = s->bytes + (uint64_t)s->count * HEADER;
    (void)dynbuf_reserve(&c.buf,
                         total < COMPACT_ROOM ? (size_t)total : COMPACT_ROOM);
    /* A new file: one left by a crash (or planted, as a link to some
     * other file) is removed, not written through. */
    if (unlink(tmp) != 0 && errno != ENOENT) {
        int rc = fail_io(w);
        free(tmp);
        return rc;
    }
    c.fd = fileio_open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (c.fd < 0) {
        int rc = fail_io(w);
        free(tmp);
        return rc;
    }
    store_foreach(s, write_record, &c);
    if (!c.failed && c.buf.len > 0 &&
        fileio_write_all(c.fd, c.buf.data, c.buf.len) != 0)
        c.failed = 1;
    dynbuf_free(&c.buf);
    /* The new file must be on disk before it replaces the old one. */
    int bad = c.failed || fsync(c.fd) != 0;
    if (close(c.fd) != 0)
        bad = 1;
    if (bad) {
        int rc = fail_io(w);
        unlink(tmp);
        free(tmp);
        return rc;
    }
    if (rename(tmp, w->path) != 0) {
        int rc = fail_io(w);
        unlink(tmp);
        free(tmp);
        return rc;
    }
    free(tmp);
    fileio_sync_dir(w->dir);
    int fd = fileio_open(w->path, O_RDWR | O_APPEND, 0);
    if (fd < 0)
        return fail_io(w);
    close(w->fd);
    w->fd = fd;
    struct stat st;
    w->size = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    w->fsyncs++; /* the new file's, before the rename */
    w->compactions++;
    return 0;
}

const char *wal_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case WAL_EIO:
        return "I/O error";
    case WAL_ELOCKED:
        return "the data directory is in use by another server";
    case WAL_ENOMEM:
        return "out of memory";
    case WAL_EDIR:
    case WAL_EFILE:
        return why[0] != '\0' ? why : "refused";
    default:
        return "unknown error";
    }
}
