/* relay: the hot path of a peer link, pure (no I/O, no loop).
 *
 * Input: hints for the lines already read past the one being handled
 * (their fields split once, their client's slot and record fetched ahead),
 * and whether a line is the very record the store holds (a copy come back
 * round a cycle). Output: the records flooded on a link and not yet
 * written, so that a copy the neighbour sends us first is taken back
 * before the write.
 */
#ifndef HERD_RELAY_H
#define HERD_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "dynbuf.h"
#include "proto.h"
#include "store.h"

/* What a link already knows about a line it has not handled yet: its
 * fields, split once, and the client's key hash, whose slot (and then
 * record) is being fetched. Made only for an AT line in the form servers
 * send (proto_split6); valid while the linebuf generation is gen (0:
 * none). */
struct relay_hint {
    uint64_t gen;
    const char *line;
    size_t len; /* of the line, without its newline */
    struct strparse_slice f[PROTO_MAX_FIELDS];
    uint64_t h; /* of the client, f[3] */
};

/* Whether h was made for the line [line, line + len) of generation gen. */
static inline int relay_hint_matches(const struct relay_hint *h, uint64_t gen,
                                     const char *line, size_t len)
{
    return h->gen == gen && h->line == line && h->len == len;
}

/* The hint for the line [p, p + n) of generation gen into *ph (ph->gen 0:
 * none, the line is not an AT line in the single-spaced form, or its
 * client id is longer than max_client_id); its client's slot and bucket
 * in st are fetched. */
void relay_hint_make(struct relay_hint *ph, const struct store *st,
                     uint64_t max_client_id, uint64_t gen, const char *p,
                     size_t n);
/* A relay's lookups would each wait for two cache misses (the slot, then
 * the record) on a store larger than the cache. The lines already read
 * get their loads started early instead: while a line is handled, the
 * next one's record and the one after's slot are on their way. Each line
 * is split once, when its hint is made, two lines ahead. [a, a + n) are
 * the bytes after the line being handled (linebuf_ahead), hint[0] becomes
 * the next line's, hint[1] the one after's. */
void relay_look_ahead(struct relay_hint hint[2], const struct store *st,
                      uint64_t max_client_id, const char *a, size_t n,
                      uint64_t gen);

/* Whether line is, byte for byte, the one held for its client (h its
 * key hash in st): a flood that came back round a cycle (two of the six
 * copies of every update on the default graph). Such a copy is stale,
 * and valid, since the held one was. Returns the held record or NULL. */
const struct record *relay_held(const struct store *st, uint64_t h,
                                struct strparse_slice client, const char *line,
                                size_t len);

/* A record queued on a link and not yet written: where its line is in
 * the link's output, so that it can be taken back. */
struct relay_pending {
    uint64_t seq; /* the record's */
    uint32_t off;
    uint32_t len : 31;
    uint32_t withheld : 1;
};

/* Most records remembered per link between two writes; past it, later
 * copies are not taken back. */
#define RELAY_MAX_PENDING 65536

/* Records flooded on a link since its output was last written, in order
 * (so by seq); valid while the link is connection conn and its flush
 * count flushes (conn_write_line_at's offsets hold until the next
 * write). Zeroed: empty. */
struct relay_out {
    struct relay_pending *v;
    size_t n, cap, nwithheld;
    struct dynbuf_range *cut; /* room for the withheld ones' ranges */
    size_t cut_cap;
    unsigned long conn;
    uint64_t flushes;
};

/* Whether o describes output flushes of connection conn. */
int relay_out_valid(const struct relay_out *o, unsigned long conn,
                    uint64_t flushes);
/* The record seq was just queued at [off, off + len) of that output (a
 * list about another output is dropped first). */
void relay_out_remember(struct relay_out *o, unsigned long conn,
                        uint64_t flushes, uint64_t seq, size_t off, size_t len);
/* The neighbour sent us the record seq: its copy waiting in that output
 * need not go. Returns 1 if it is marked to be taken back, 0 if there is
 * no such copy (already written, never remembered, or marked before). */
int relay_out_withhold(struct relay_out *o, unsigned long conn,
                       uint64_t flushes, uint64_t seq);
/* The output is about to be written: *cut is set to the ranges of the
 * copies to take back (ascending; valid until the next call on o) and
 * their count returned, 0 when none or when o is about another output.
 * The list is empty afterwards. */
size_t relay_out_take(struct relay_out *o, unsigned long conn, uint64_t flushes,
                      const struct dynbuf_range **cut);
void relay_out_free(struct relay_out *o);

#endif
