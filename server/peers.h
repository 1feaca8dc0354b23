/* peers: one persistent TCP link per neighbour, on the peer ports.
 *
 * Of the two ends of an edge, the one with the smaller name dials and the
 * other accepts, so an edge has one link. A link starts with a handshake
 * (handshake.h); only a configured neighbour is accepted. Then the two
 * ends catch up, sending each other only what differs (sync.h), while
 * both flood newer records as AT lines. A dialer whose link is down
 * retries with a capped backoff; a neighbour that is down costs nothing.
 *
 * The server hands peers what it needs once, at peers_init: the loop, the
 * connection pool, a read-only view of the store, this server's name,
 * epoch, secret and limits (struct peers_config). Every record a
 * neighbour sends goes back through struct peers_ops; peers asks nothing
 * else of the server.
 */
#ifndef HERD_PEERS_H
#define HERD_PEERS_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "config.h"

#define PEERS_BACKOFF_FIRST_MS     50
#define PEERS_BACKOFF_MAX_MS       1000
#define PEERS_HANDSHAKE_TIMEOUT_MS 5000
#define PEERS_MAX_OUTPUT           ((size_t)256 * 1024 * 1024)
/* A catch-up produces records only while a link's output holds less than
 * this, at most PEERS_CATCHUP_SLICE bytes a loop turn; a link reads at
 * most PEERS_READ_PER_TURN bytes a turn. Both keep a turn short. */
#define PEERS_CATCHUP_ROOM  ((size_t)512 * 1024)
#define PEERS_CATCHUP_SLICE ((size_t)128 * 1024)
#define PEERS_READ_PER_TURN (64u * 1024)

struct conn;
struct conn_pool;
struct link; /* one peer connection (peers.c) */
struct peer; /* one neighbour (peers.c) */
struct peers;
struct record;
struct store;
struct tls_ctx;

/* What peers_init needs; copied, but what it points to is borrowed and
 * must outlive the peers. */
struct peers_config {
    uv_loop_t *loop;
    struct conn_pool *pool;      /* links are connections of this pool */
    const struct store *store;   /* the records held: checked, summed in the
                                    handshake, sent in a catch-up */
    const char *name;            /* this server's */
    uint64_t epoch;              /* random per start */
    size_t max_peers;            /* neighbours expected (room made for
                                    them; peers_add grows past it) */
    const unsigned char *secret; /* the herd secret; secret_len 0: none */
    size_t secret_len;
    const char *tls_cert; /* certificates for the links; NULL: the */
    const char *tls_key;  /* secret alone (a pre-shared key) */
    const char *tls_ca;
    uint64_t link_ping_ms;    /* a link idle this long sends PING */
    uint64_t link_timeout_ms; /* a link silent this long is closed; a
                                 dial unanswered this long too */
    uint64_t max_handshakes;  /* peer connections not yet links */
    uint64_t max_client_id;   /* longest client id in a record */
    uint64_t max_future_s;    /* 0: client times unbounded */
};

/* What peers asks of its owner. */
struct peers_ops {
    /* A valid record r from the link of `from`, h = store_key_hash() of
     * its client: offered to the store, and flooded (peers_flood) if
     * newer. Takes r. Returns the store's STORE_* status. */
    int (*on_record)(void *arg, struct record *r, uint64_t h,
                     struct peer *from);
    /* A neighbour's handshake says a catch-up may bring the store to n
     * records: room for them now (store_reserve). */
    void (*reserve)(void *arg, size_t n);
};

/* Counters peers keeps; its owner reads them. */
struct peers_stats {
    unsigned long flood_sent;     /* AT lines queued to neighbours */
    unsigned long flood_withheld; /* taken back: the neighbour sent it */
    unsigned long stale;          /* copies of a record held already, dropped */
};

struct peers {
    struct peers_config cfg;
    const struct peers_ops *ops;
    void *arg;       /* of ops */
    struct peer **v; /* the neighbours, in the order added */
    size_t n, cap;
    int started; /* peers_start: a neighbour added is dialled at once */
    uv_timer_t heartbeat; /* heartbeats, silence, dial timeouts */
    /* TLS for every link (with a secret or certificates); NULL: links in
     * clear. */
    struct tls_ctx *tls;
    /* Accepted connections still in their handshake, oldest first: at
     * most max_handshakes; a new one past it pushes out the oldest. */
    struct link *hs_head, *hs_tail;
    size_t hs_count;
    unsigned long hs_evicted;
    struct peers_stats stats;
    int stopping;     /* peers_stop: no more dials */
    unsigned closing; /* handles and resolutions peers_close waits for */
};

/* Sets up ps with room for cfg->max_peers neighbours, with no neighbour
 * yet; ops and arg are kept (borrowed). Returns 0, or a herd_exit code
 * with a message on stderr (then nothing is left to close). */
int peers_init(struct peers *ps, const struct peers_config *cfg,
               const struct peers_ops *ops, void *arg);
/* Adds the neighbour name at addr (a host name is resolved at each dial,
 * not here); after peers_start, it is dialled at once (if this side
 * dials). Returns 0, or -1 when memory runs out. */
int peers_add(struct peers *ps, const char *name,
              const struct config_addr *addr);
/* The neighbour name is no longer one (a reload of the configuration):
 * its link, its dial and its handshakes in progress are closed (a
 * catch-up with it ends), it is neither dialled nor accepted any more,
 * and its cut goes with it. Other links are not touched. Returns 0, or -1
 * if there is no such neighbour. Logged. */
int peers_remove(struct peers *ps, const char *name);
/* The neighbour name now listens at addr: if this side dials, its link
 * is closed and dialled again at once at addr (the side that accepts has
 * nothing to do). Returns 0, or -1 if there is no such neighbour.
 * Logged. */
int peers_move(struct peers *ps, const char *name,
               const struct config_addr *addr);
/* Takes the limits of cfg (link_ping_ms, link_timeout_ms,
 * max_handshakes, max_client_id, max_future_s) from now on: links up get
 * the new timeout at once. */
void peers_set_limits(struct peers *ps, const struct peers_config *cfg);
/* Where neighbour i (i < peers_count) is dialled, as configured. */
const struct config_addr *peers_addr(const struct peers *ps, size_t i);
/* Starts dialling. */
void peers_start(struct peers *ps);
/* The server is stopping: no link is dialled again from here on (links
 * stay until peers_close). */
void peers_stop(struct peers *ps);
/* Closes links and timers; what peers_init made is freed once the loop
 * has run their close callbacks (and any resolution in flight ended).
 * Does nothing if peers_init did not succeed. */
void peers_close(struct peers *ps);
/* Takes a connection accepted on the peer port: it must say HELLO.
 * Returns 0 or -1 (out of memory; the caller closes it). */
int peers_accept(struct peers *ps, struct conn *c);
/* Cuts (cut = 1) or heals (cut = 0) the link to the neighbour named
 * name: a cut link is closed and neither dialled nor accepted until it is
 * healed; healing dials at once (if this side dials). Returns 0, or -1 if
 * there is no such neighbour. Logged. */
int peers_set_cut(struct peers *ps, const char *name, int cut);
/* The number of neighbours. */
size_t peers_count(const struct peers *ps);
/* A neighbour as `herd status` shows it: its link now, and totals since
 * the server started, over every link it had with the neighbour. */
struct peers_status {
    const char *name;
    const char *state; /* up, cut, dialling or down */
    int cut;           /* cut by the operator */
    uint64_t since_ms; /* in this state for this long: since the link went
                          up, down or cut (dialling and down are one: a
                          dialer between two tries is down) */
    /* Why the link is not up ("" when it is): "not yet connected",
     * "silent" (nothing heard for link_timeout_ms, or a dial's handshake
     * unanswered that long), "closed" (the neighbour closed it or reset
     * it), "refused" (a dial refused), "unreachable" (a dial that found
     * no one), "handshake: WHY" (the handshake failed), "cut", or the
     * reason the link closed with. A failed dial replaces the reason the
     * link went down. */
    const char *why;
    int heard;              /* a byte ever came from the neighbour */
    uint64_t last_heard_ms; /* and this long ago */
    uint64_t rtt_ns;        /* the last heartbeat's round trip (0: none) */
    unsigned long sent;     /* records: flooded and in catch-ups */
    unsigned long received; /* records: AT lines, held copies too */
    uint64_t bytes_sent;    /* what the sockets took, TLS included */
    uint64_t bytes_received;
    uint64_t queued;          /* bytes waiting to be written to it now */
    unsigned long catchups;   /* catch-ups run on its links */
    uint64_t catchup_records; /* records this side sent in them */
    uint64_t catchup_bytes;   /* bytes of their lines (records and
                                 messages) this side sent */
    /* The link is up, and its two ends hold the same records as far as
     * this side knows: the link came up with equal digests, or the
     * catch-up since it came up is done (this side has nothing left to
     * send or to wait for). 0 while it runs, and when the link is down.
     * The other side's own view says whether it waits for anything. */
    int synced;
};
/* Neighbour i (i < peers_count) now; the strings are borrowed from ps,
 * valid until the loop runs again. */
void peers_status(const struct peers *ps, size_t i, struct peers_status *st);
/* The neighbour's name (borrowed). */
const char *peers_name(const struct peer *p);
/* How the links are authenticated (tls_ctx_mode), or NULL: in clear. */
const char *peers_tls_mode(const struct peers *ps);
/* Whether a peer connection has not finished its handshake. */
int peers_in_handshake(const struct conn *c);
/* Queues rec to every neighbour whose link is up, but `except`. */
void peers_flood(struct peers *ps, const struct record *rec,
                 const struct peer *except);
/* Sends the next slice of every catch-up whose link has room; once per
 * loop turn, before the output is written. turn_ns is how long the last
 * turn worked (for the catch-up's log line). */
void peers_pump(struct peers *ps, uint64_t turn_ns);
/* Whether a catch-up could send more now (its link has room): then the
 * loop must not sleep, since a write the kernel took whole calls nothing
 * back. Otherwise the end of a write wakes it. */
int peers_pump_ready(const struct peers *ps);

#endif
