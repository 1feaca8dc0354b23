/* store: the newest location record of every client, pure.
 *
 * A record is one AT line ("AT server diff client location time") plus the
 * parsed client time; everything a server sends about a client is derived
 * from that line, never re-typed. Records are totally ordered
 * (record_compare), so every server settles on the same record whatever
 * order updates arrive in; applying a record that is not newer changes
 * nothing, which is what ends a flood.
 */
#ifndef HERD_STORE_H
#define HERD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

struct record {
    uint64_t hash; /* store_record_hash(), set when the store keeps it
                      (a stale copy is never hashed) */
    uint64_t seq;  /* set by the store when it keeps the record: unique
                      among the records of this process */
    uint64_t sec;  /* client time */
    /* The other records of the client-key bucket (store_client_key),
     * while the store keeps this one; a newer record of the client takes
     * the old one's place in the list. */
    struct record *bprev, *bnext;
    uint32_t nsec;
    uint32_t len;        /* of line */
    uint32_t client_off; /* client id within line */
    uint32_t client_len;
    uint32_t time_off;   /* client time text within line: the last field,
                            so it runs to len */
    uint16_t server_len; /* server name starts at line + 3 */
    uint16_t sub;        /* the low 16 bits of the client key, set when the
                            store keeps the record */
    char line[];         /* the AT line, no terminator, not NUL-terminated */
};

/* Builds the record "AT server diff client location time" from the client
 * fields of c (an IAMAT or an AT command), single-spaced whatever spacing
 * the input had. Returns a new record (free with free()) or NULL. */
struct record *record_new(struct strparse_slice server,
                          struct strparse_slice diff,
                          const struct proto_command *c);

/* The record of an AT command c that proto_parse read from [line, line +
 * len): the same as record_new(c->server, c->diff, c), but when the line
 * is already in that form (one space between fields, none around them;
 * what every server sends) it is copied as it is. */
struct record *record_from_at(const char *line, size_t len,
                              const struct proto_command *c);

/* <0, 0, >0 as a is older than, the same as, or newer than b: client time
 * first (seconds, nanoseconds, then fraction digits past the ninth), then
 * server name, then the client's fields as bytes, and last the smaller time
 * difference (the earlier receipt) counts as newer. */
int record_compare(const struct record *a, const struct record *b);

struct strparse_slice record_client(const struct record *r);
struct strparse_slice record_location(const struct record *r);

enum store_result {
    STORE_CHANGED = 1, /* the record is now the client's newest */
    STORE_STALE = 0,   /* not newer: nothing changed */
    STORE_ENOMEM = -1501,
    STORE_EFULL = -1502 /* newer, but over a bound (store_set_bounds):
                           nothing changed; s->full_why says which */
};

/* The bound a STORE_EFULL ran into. */
enum store_bound {
    STORE_BOUND_NONE = 0,
    STORE_BOUND_RECORDS, /* max_count clients held: no new one */
    STORE_BOUND_BYTES    /* the record would take mem past max_mem */
};

struct store_slot {
    uint64_t h;       /* keyed hash of the client id: probes and rehashing
                         compare it before touching the record */
    struct record *r; /* NULL: empty */
};

/* The client key: a 32-bit hash of a client id, the same on every server
 * (not keyed), that places the client in the tree the servers compare
 * when a link comes up (server/sync.h). Its top STORE_BUCKET_BITS bits
 * name the client's bucket; the rest are kept in record->sub. */
#define STORE_BUCKET_BITS 16
#define STORE_BUCKETS     (1u << STORE_BUCKET_BITS)

struct store_bucket {
    struct record *head; /* the bucket's records, newest client first */
    uint64_t digest;     /* XOR of their store_record_hash() */
    uint32_t count;
};

struct store {
    struct store_slot *slots; /* open addressing, linear probing */
    size_t cap;               /* power of two, or 0 */
    size_t count;
    uint64_t k0, k1; /* SipHash key: random per process */
    uint64_t bytes;  /* sum of the records' line lengths */
    /* What the store takes from the heap: store_record_size() of every
     * record plus the slot table (the 2^16 buckets, a fixed 1.5 MiB,
     * are not counted). */
    uint64_t mem;
    /* Bounds (store_set_bounds), none after store_init. */
    size_t max_count;
    uint64_t max_mem;
    enum store_bound full_why; /* of the last STORE_EFULL */
    /* XOR of store_record_hash() of every record: equal digests (and
     * counts) on two servers mean equal contents, whatever the order the
     * records arrived in. */
    uint64_t digest;
    uint64_t last_seq; /* the last record->seq handed out */
    /* STORE_BUCKETS of them once the first record is kept, else NULL:
     * the digest above, split by client key, with each bucket's records
     * in a list. */
    struct store_bucket *buckets;
    int ck_keyed; /* store_set_client_key was called: k0, k1 are the
                     herd's, and a client's key hash is its client key */
};

/* A hash of the record's line, the same on every server, for digests; a
 * record the store holds keeps it in r->hash. Not keyed: nothing is
 * looked up by it, so it need not resist chosen inputs, only tell
 * records apart (a change of a single bit changes about half of it). */
uint64_t store_record_hash(const struct record *r);

/* The client key of a client id (see STORE_BUCKET_BITS) in a store with
 * no client-key key: a fixed hash, which anyone can run backwards. */
uint32_t store_client_key(const char *client, size_t len);
/* The client key of a client id in s: keyed (SipHash-1-3) once
 * store_set_client_key was called, else store_client_key(). */
uint32_t store_key_of(const struct store *s, const char *client, size_t len);
/* A hint for a record of client hash h coming soon: its bucket's digest
 * and list head (keyed stores only). */
void store_prefetch_bucket(const struct store *s, uint64_t h);
/* Keys the client keys of s (and its table: one hash serves both), which
 * must be empty. Every server of a herd
 * sets the same key (servers derive it from the herd secret), so their
 * trees agree, while a client who does not know it cannot choose ids that
 * crowd one bucket (which would make every catch-up walk it). */
void store_set_client_key(struct store *s, uint64_t k0, uint64_t k1);

void store_init(struct store *s, uint64_t k0, uint64_t k1);
/* Frees every record. */
void store_close(struct store *s);

/* Makes room for n records without growing again on the way: a catch-up
 * that brings a neighbour's million clients would otherwise rehash the
 * table in one piece at each doubling. Returns 0 or STORE_ENOMEM. */
int store_reserve(struct store *s, size_t n);

/* The heap a record of a line of len bytes takes, as counted in mem: its
 * header and line, rounded up as glibc's malloc rounds a chunk (16-byte
 * steps, with 8 bytes of chunk header, at least 32). */
uint64_t store_record_size(size_t len);

/* Bounds what a stranger can make the store grow to: past them,
 * store_apply refuses with STORE_EFULL
 *   - a record for a client the store does not hold, when it holds
 *     max_count clients or when mem + store_record_size() of the record
 *     would pass max_mem;
 *   - a newer record of a client it holds whose size is larger than the
 *     old one's, when the difference would take mem past max_mem (a
 *     replacement as large or smaller is always taken).
 * A stale record is STORE_STALE whatever the bounds. The check costs a
 * comparison or two per offer, after the lookup. Bounds may be set on a
 * store already over them (the write-ahead log is replayed before they
 * are set, so that no acknowledged record is lost): nothing is dropped,
 * new clients are refused until it is back under them. SIZE_MAX and
 * UINT64_MAX: no bound (store_init's). */
void store_set_bounds(struct store *s, size_t max_count, uint64_t max_mem);
/* Whether s holds more than its bounds (after store_set_bounds on a store
 * that was filled without them). */
int store_over_bounds(const struct store *s);

/* Offers rec. On STORE_CHANGED the store owns rec (and has freed the older
 * record). On STORE_STALE, STORE_ENOMEM or STORE_EFULL the caller still
 * owns rec; *cur is then the record that stays (NULL if none). */
int store_apply(struct store *s, struct record *rec, const struct record **cur);

/* Borrowed; valid until the next store_apply or store_close. */
const struct record *store_get(const struct store *s, const char *client,
                               size_t len);

/* The table's keyed hash of a client id, for the *_hashed calls, which
 * are store_get and store_apply given h = store_key_hash() of the
 * client: a caller that looks a client up before offering its record
 * hashes the id once. */
uint64_t store_key_hash(const struct store *s, const char *client, size_t len);
const struct record *store_get_hashed(const struct store *s, uint64_t h,
                                      const char *client, size_t len);
int store_apply_hashed(struct store *s, struct record *rec, uint64_t h,
                       const struct record **cur);

/* Hints for a lookup of h coming soon: the slot where it starts, then
 * (once that slot has arrived) the record it holds if the slot's hash is
 * h. They only start loads; a wrong hint costs a wasted load. */
void store_prefetch_slot(const struct store *s, uint64_t h);
void store_prefetch_record(const struct store *s, uint64_t h);

/* Calls fn for every record, in no particular order, until it returns
 * non-zero (which is returned). */
int store_foreach(const struct store *s,
                  int (*fn)(void *arg, const struct record *r), void *arg);

uint64_t store_siphash(uint64_t k0, uint64_t k1, const void *data, size_t len);

#endif
