/* wal: the write-ahead log of one server's records.
 *
 * Every record the store accepts is appended before the AT reply for it
 * leaves: records collect in memory during a loop iteration and go to the
 * file in one write (group commit), with one fsync under --fsync batch.
 * The file is a run of frames
 *     uint32 length (little endian) | uint32 CRC of the payload | payload
 * whose payload is the record's AT line. The length word's top bit is set
 * when the CRC is CRC-32C (every frame written now); frames without it
 * carry zlib's CRC-32 (logs of earlier versions) and are still read. On start
 * the log is replayed; a torn or damaged tail (a crash mid-write) is cut off
 * and logged, never a reason to refuse to start. The log is compacted to one
 * record per client by writing a new file and renaming it over the old one.
 *
 * The data directory belongs to one server: a lock file refuses a second.
 * It must be private (fileio_make_private_dir: made 0700, refused when
 * another user owns it or group or others may write it), its files are
 * created 0600 and never opened through a symbolic link.
 */
#ifndef HERD_WAL_H
#define HERD_WAL_H

#include <stddef.h>
#include <stdint.h>

#include "dynbuf.h"

struct record;
struct store;

/* The longest record replay accepts; longer length words are taken for
 * damage. It must hold every record a server can make:
 * wal_record_bound(max_line) <= WAL_MAX_RECORD for every max_line allowed
 * (up to 1 MiB), which the server checks at start. */
#define WAL_MAX_RECORD ((size_t)2 * 1024 * 1024)
/* What a record may hold beyond max_line: an IAMAT line of max_line bytes
 * becomes "AT NAME DIFF CLIENT LOCATION TIME" ("IAMAT" turns into "AT",
 * plus a server name of up to 63 bytes, a time difference of up to 31 and
 * two spaces: 92 bytes), and a neighbour's AT line may be as long as a
 * catch-up line (SYNC_LINE_MAX, 300) when max_line is shorter. */
#define WAL_RECORD_SLACK   512
#define WAL_COMPACT_FACTOR 4
/* Below this a log is never compacted: a compaction rewrites the whole
 * store (and syncs it twice, in the loop), which for a small store under
 * load came every few seconds; 64 MiB replays in well under a second. */
#define WAL_COMPACT_MIN ((uint64_t)64 * 1024 * 1024)

enum wal_error {
    WAL_EIO = -1801,     /* errno is in wal->sys_errno */
    WAL_ELOCKED = -1802, /* another server holds the directory */
    WAL_ENOMEM = -1803,
    WAL_EDIR = -1804, /* the directory is not private (wal_strerror: why) */
    WAL_EFILE = -1805 /* a file in it is a symbolic link or not regular */
};

struct wal_replay_stats {
    unsigned long records; /* frames read */
    unsigned long invalid; /* frames whose payload is not an AT line */
    uint64_t torn_bytes;   /* cut from the end */
};

struct wal {
    int fd;
    int lock_fd;
    char *dir;
    char *path;
    int fsync_batch;
    struct dynbuf batch;
    uint64_t size; /* bytes in the file */
    /* For the server's status: records queued (wal_append), batches
     * written, fsync and fdatasync calls that succeeded (one a batch
     * under --fsync batch, and a compaction's), compactions done. */
    unsigned long appended, writes, fsyncs, compactions;
    int sys_errno;
    int broken; /* a write failed: durability is gone, the log says so */
};

/* Creates dir if needed, locks it and opens (or creates) its log. On
 * WAL_ELOCKED, *holder is the pid in the lock file (0 if unknown). */
__attribute__((warn_unused_result)) int wal_open(struct wal *w, const char *dir,
                                                 int fsync_batch, long *holder);
void wal_close(struct wal *w);

/* Reads the log from the start, calling apply for each AT line (valid only
 * during the call), and cuts a torn tail. */
int wal_replay(struct wal *w,
               int (*apply)(void *arg, const char *line, size_t len), void *arg,
               struct wal_replay_stats *st);

/* Queues a record for the next flush. */
int wal_append(struct wal *w, const struct record *r);
/* Writes what is queued (one write, one fsync under batch). */
int wal_flush(struct wal *w);
/* Whether the file has grown past WAL_COMPACT_FACTOR x the live size and
 * past WAL_COMPACT_MIN. */
int wal_should_compact(const struct wal *w, uint64_t live_bytes);
/* Rewrites the log with exactly the store's records. */
int wal_compact(struct wal *w, const struct store *s);

/* Size of the frame of a record of len bytes. */
uint64_t wal_frame_size(size_t len);

/* The longest record a server whose longest line is max_line can write:
 * max_line + WAL_RECORD_SLACK. Above WAL_MAX_RECORD, replay could not read
 * it back. */
uint64_t wal_record_bound(uint64_t max_line);

/* For WAL_EDIR and WAL_EFILE, the reason of the last wal_open that failed
 * so ("writable by group or others (mode 0777; ...)", "LOCK is a symbolic
 * link (refused)"). */
const char *wal_strerror(int err);

#endif
