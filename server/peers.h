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
#include "relay.h"
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
