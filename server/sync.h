/* sync: the catch-up of a peer link, pure (no I/O, no loop).
 *
 * When a link comes up, its two ends find what differs between their
 * stores and send each other only that, whatever the stores' size.
 *
 * The tree. Every client has a 32-bit client key (store_key_of: the same
 * on every server of a herd, keyed by the herd secret). A node of the
 * tree is a key prefix of L hex digits (level L, 0 to 8); its 16 children
 * add one digit. A node's
 * digest is the XOR of store_record_hash() of the records whose client
 * key starts with its prefix (the root's is the store's digest, which the
 * HELLO carries). The store keeps the digests of its 2^16 buckets (level
 * 4) as records change; nodes above are XORs of buckets, nodes below are
 * computed from a bucket's list when asked.
 *
 * The messages (lines on the link, among the AT records; PREFIX is "-"
 * for the root, else 1 to 8 lowercase hex digits):
 *
 *   SUMS PREFIX D0D1...D15   the sender's digests of the node's 16
 *                            children (16 hex digits each, 256 in all);
 *                            "compare, and descend where we differ"
 *   PULL PREFIX              "send me every record of this range";
 *                            the sender is sending its own
 *   DONE PREFIX              the answer to a SUMS or a PULL is complete
 *
 * A side that receives SUMS compares each child with its own digest. A
 * child that differs is answered with SUMS for it (one level down), or,
 * when this side holds at most SYNC_DIRECT records under it (or it is a
 * whole client key), by sending those records and a PULL for it; a node
 * of level 3 or more whose 16 children all differ (at least 12 of them,
 * the others empty on both sides) is sent whole the same way (stores that
 * differ everywhere cost a full exchange and little more). Then DONE. A PULL is
 * answered with the records of the range, then DONE. The receiver of a record
 * keeps it if it is newer, as for any flood, so the order of records, floods
 * and catch-up does not matter.
 *
 * Who starts. At link-up each side compares the other's HELLO (count and
 * digest) with its own store; a side that sees a difference sends SUMS -
 * (the opening). Both may: the dialer answers the acceptor's opening only
 * when it did not open itself (it answers DONE and nothing else), so the
 * two descents are one.
 *
 * What is sent. Only records the store held when the link came up
 * (seq <= start_seq): a record kept later came from this link or was
 * flooded to it already.
 *
 * Flow control. Records are never produced in answer to a line; a range
 * to send goes in a queue, and sync_pump() produces the next slice when
 * the caller says the link has room. A walk through a range survives the
 * store changing under it: it remembers the client id of the next record,
 * whose place in its bucket's list a newer record of the client takes.
 */
#ifndef HERD_SYNC_H
#define HERD_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "store.h"

#define SYNC_LEVELS    8 /* hex digits of a client key */
#define SYNC_DIRECT    2 /* at most this many records: sent, not compared */
#define SYNC_MAX_QUEUE (1u << 20) /* ranges waiting to be sent */
#define SYNC_LINE_MAX  300        /* the longest message line */

enum {
    SYNC_ENOTSYNC = -2101, /* not a catch-up message */
    SYNC_EBAD = -2102,     /* a catch-up message, malformed */
    SYNC_ENOMEM = -2103,
    SYNC_EQUEUE = -2104 /* more ranges asked for than SYNC_MAX_QUEUE */
};

/* The callbacks must not call sync_close on the sync that called them
 * (a caller whose write may close the link defers it). */
struct sync_ops {
    /* A message line (no newline). */
    void (*send_line)(void *arg, const char *line, size_t len);
    /* A record, as its AT line. */
    void (*send_record)(void *arg, const struct record *r);
};

/* A range to send: a node of the tree, and whether a DONE follows it. */
struct sync_range {
    uint32_t prefix; /* level hex digits, in the low bits */
    uint8_t level;
    uint8_t pull; /* answers the other side's PULL */
};

struct sync_stats {
    uint64_t lines_sent, line_bytes;     /* SUMS, PULL, DONE */
    uint64_t records_sent, record_bytes; /* with their newlines */
    uint64_t lines_received;
};

struct sync {
    const struct store *store;
    const struct sync_ops *ops;
    void *arg;
    int dialer;
    int opened;  /* this side sent the opening */
    int started; /* sync_start was called */
    int broken;  /* out of memory mid-walk: the link must go (a range
                    would be left half sent) */
    uint64_t start_seq;
    uint64_t outstanding; /* SUMS and PULL sent, not yet DONE */
    struct sync_range *q; /* ring of ranges to send */
    size_t qhead, qlen, qcap;
    /* The walk through q[qhead]: the bucket it is in, and the client id
     * of the next record there (none: the bucket's start). */
    uint32_t walk_bucket;
    int walk_started;
    int walk_has_next;
    char *walk_id;
    size_t walk_id_len, walk_id_cap;
    struct sync_stats st;
};

void sync_init(struct sync *s, const struct store *store,
               const struct sync_ops *ops, void *arg, int dialer);
/* The link is up; remote_count and remote_digest are from the other
 * side's HELLO. Sends the opening if the stores differ. */
void sync_start(struct sync *s, uint64_t remote_count, uint64_t remote_digest);
/* A line from the link, split into n fields. Returns 0 (handled),
 * SYNC_ENOTSYNC (not a catch-up message: an AT record, say), SYNC_EBAD,
 * SYNC_ENOMEM or SYNC_EQUEUE. */
int sync_on_line(struct sync *s, const struct strparse_slice *f, size_t n);
/* Sends queued records until about budget bytes went out or nothing is
 * left. Returns the bytes sent. */
size_t sync_pump(struct sync *s, size_t budget);
/* Whether records wait to be sent. */
int sync_has_queue(const struct sync *s);
/* Whether this side has nothing left to do or to wait for. */
int sync_idle(const struct sync *s);
void sync_close(struct sync *s);

/* The digests and record counts of the 16 children of the node (level,
 * prefix), level < SYNC_LEVELS. */
void sync_children(const struct store *store, unsigned level, uint32_t prefix,
                   uint64_t digest[16], uint64_t count[16]);

#endif
