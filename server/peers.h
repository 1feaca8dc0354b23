/* peers: one persistent TCP link per neighbour, on the peer ports.
 *
 * Of the two ends of an edge, the one with the smaller name dials and the
 * other accepts, so an edge has one link. A link starts with a handshake
 * (handshake.h); only a configured neighbour is accepted. Then the two
 * ends catch up, sending each other only what differs (sync.h), while
 * both flood newer records as AT lines. A dialer whose link is down
 * retries with a capped backoff; a neighbour that is down costs nothing.
 */
#ifndef HERD_PEERS_H
#define HERD_PEERS_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "config.h"
#include "dynbuf.h"
#include "proto.h"
#include "store.h"
#include "sync.h"
#include "tls.h"

#define PEERS_BACKOFF_FIRST_MS 50
#define PEERS_BACKOFF_MAX_MS 1000
#define PEERS_HANDSHAKE_TIMEOUT_MS 5000
#define PEERS_MAX_OUTPUT (256u * 1024 * 1024)
/* A catch-up produces records only while a link's output holds less than
 * this, at most PEERS_CATCHUP_SLICE bytes a loop turn; a link reads at
 * most PEERS_READ_PER_TURN bytes a turn. Both keep a turn short. */
#define PEERS_CATCHUP_ROOM (512u * 1024)
#define PEERS_CATCHUP_SLICE (128u * 1024)
#define PEERS_READ_PER_TURN (64u * 1024)

struct server;
struct conn;
struct record;

/* What a link already knows about a line it has not handled yet: its
 * fields, split once, and the client's key hash, whose slot (and then
 * record) is being fetched. Made only for an AT line in the form servers
 * send (proto_split6); valid while the linebuf generation is gen (0:
 * none). */
struct relay_hint {
    uint64_t gen;
    const char *line;
    size_t len; /* of the line, without its newline */
    struct proto_slice f[PROTO_MAX_FIELDS];
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
                                struct proto_slice client, const char *line,
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
                        uint64_t flushes, uint64_t seq, size_t off,
                        size_t len);
/* The neighbour sent us the record seq: its copy waiting in that output
 * need not go. Returns 1 if it is marked to be taken back, 0 if there is
 * no such copy (already written, never remembered, or marked before). */
int relay_out_withhold(struct relay_out *o, unsigned long conn,
                       uint64_t flushes, uint64_t seq);
/* The output is about to be written: *cut is set to the ranges of the
 * copies to take back (ascending; valid until the next call on o) and
 * their count returned, 0 when none or when o is about another output.
 * The list is empty afterwards. */
size_t relay_out_take(struct relay_out *o, unsigned long conn,
                      uint64_t flushes, const struct dynbuf_range **cut);
void relay_out_free(struct relay_out *o);

struct peer {
    struct server *srv;
    char name[CONFIG_NAME_MAX + 1];
    char addr_text[CONFIG_HOST_MAX + 8];
    const struct config_addr *conf_addr; /* as configured */
    struct sockaddr_storage addr; /* an address literal, or the last
                                     resolution of the host name */
    int literal;                  /* the host is an address: never resolved */
    uv_getaddrinfo_t gai;         /* resolution at each dial of a name */
    int resolving;
    unsigned long dials;          /* picks which resolved address */
    uint64_t dial_ms;             /* uv_now() when the dial started */
    uint64_t ping_ns;             /* the PING in flight (its token) */
    uint64_t ping_sent_ms;        /* uv_now() when it was queued */
    uint64_t rtt_ns;              /* the last heartbeat's round trip */
    int cut;                      /* cut by the operator: no link, no dial,
                                     no accept, until healed */
    int dialer;           /* we dial this neighbour */
    struct conn *link;    /* handshake done */
    struct conn *pending; /* our dial, before the handshake completes */
    uv_timer_t timer;     /* reconnect */
    uint64_t backoff_ms;
    uint64_t remote_epoch;
    int down_logged; /* a failed dial was logged since the last success */
    unsigned char dial_nonce[16]; /* our nonce in the dial in progress */
    unsigned long sent, received;
    unsigned long future_dropped; /* records past max_future_s */
    struct relay_hint hint[2]; /* the next line, and the one after */
    struct relay_out out; /* copies queued on the link, not yet written */
    /* The catch-up of the current link. */
    struct sync sync;
    int sync_on;            /* sync is initialized */
    int sync_active;        /* started and not finished */
    int sync_calls;         /* sync calls running (their writes may close
                               the link: its end waits for them) */
    int sync_end_pending;
    uint64_t sync_start_ns; /* uv_hrtime() at link-up */
    uint64_t sync_worst_ns; /* the longest loop turn since */
    unsigned long sync_received; /* records received since */
};

struct handshake_in;

struct peers {
    struct peer *v;
    size_t n;
    uv_timer_t heartbeat; /* heartbeats, silence, dial timeouts */
    /* TLS for every link (with a secret or certificates); NULL: links in
     * clear. Freed by the server after the loop ends. */
    struct tls_ctx *tls;
    /* Accepted connections still in their handshake, oldest first: at
     * most max_handshakes; a new one past it pushes out the oldest. */
    struct handshake_in *hs_head, *hs_tail;
    size_t hs_count;
    unsigned long hs_evicted;
};

/* Sets up the neighbours (host names are resolved at each dial, not
 * here). Returns 0, or a herd_exit code with a message on stderr. */
int peers_init(struct server *srv);
/* Starts dialling. */
void peers_start(struct server *srv);
/* Closes links and timers. */
void peers_close(struct server *srv);
/* Takes a connection accepted on the peer port: it must say HELLO.
 * Returns 0 or -1 (out of memory; the caller closes it). */
int peers_accept(struct server *srv, struct conn *c);
/* Cuts (cut = 1) or heals (cut = 0) the link to the neighbour named
 * name: a cut link is closed and neither dialled nor accepted until it is
 * healed; healing dials at once (if this side dials). Returns 0, or -1 if
 * there is no such neighbour. Logged. */
int peers_set_cut(struct server *srv, const char *name, int cut);
/* The neighbour named name, or NULL. */
struct peer *peers_find(struct server *srv, const char *name);
/* Whether a peer connection has not finished its handshake. */
int peers_in_handshake(const struct conn *c);
/* Queues rec to every neighbour whose link is up, but `except`. */
void peers_flood(struct server *srv, const struct record *rec,
                 const struct peer *except);
/* Sends the next slice of every catch-up whose link has room; once per
 * loop turn, before the output is written. turn_ns is how long the last
 * turn worked (for the catch-up's log line). */
void peers_pump(struct server *srv, uint64_t turn_ns);
/* Whether a catch-up could send more now (its link has room): then the
 * loop must not sleep, since a write the kernel took whole calls nothing
 * back. Otherwise the end of a write wakes it. */
int peers_pump_ready(const struct server *srv);

#endif
