#include "peers.h"

#include <assert.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>

#include "backoff.h"
#include "conn.h"
#include "exit_codes.h"
#include "handshake.h"
#include "log.h"
#include "netaddr.h"
#include "proto.h"
#include "random.h"
#include "relay.h"
#include "store.h"
#include "strparse.h"
#include "sync.h"
#include "tls.h"

struct peer {
    struct peers *ps;
    char name[CONFIG_NAME_MAX + 1];
    char addr_text[CONFIG_HOST_MAX + 8];
    struct config_addr conf_addr; /* as configured */
    struct sockaddr_storage addr; /* an address literal, or the last
                                     resolution of the host name */
    int literal;                  /* the host is an address: never resolved */
    uv_getaddrinfo_t gai;         /* resolution at each dial of a name */
    int resolving;
    unsigned long dials;   /* picks which resolved address */
    uint64_t dial_ms;      /* uv_now() when the dial started */
    uint64_t ping_ns;      /* the PING in flight (its token) */
    uint64_t ping_sent_ms; /* uv_now() when it was queued */
    uint64_t rtt_ns;       /* the last heartbeat's round trip */
    int cut;               /* cut by the operator: no link, no dial,
                              no accept, until healed */
    int dialer;            /* we dial this neighbour */
    struct conn *link;     /* handshake done */
    struct conn *pending;  /* our dial, before the handshake completes */
    uv_timer_t timer;      /* reconnect */
    uint64_t backoff_ms;
    uint64_t remote_epoch;
    int down_logged; /* a failed dial was logged since the last success */
    /* Taken out of the configuration (peers_remove): no longer in ps->v,
     * freed once its timer closed and its resolution ended (holds). */
    int removed;
    int holds;
    /* The address changes (peers_move): a resolution started for an
     * older one (resolve_gen) is not used. */
    unsigned long addr_gen, resolve_gen;
    unsigned long sent, received; /* records (peers_status) */
    unsigned long future_dropped; /* records past max_future_s */
    struct relay_hint hint[2];    /* the next line, and the one after */
    struct relay_out out; /* copies queued on the link, not yet written */
    /* The catch-up of the current link. */
    struct sync sync;
    int sync_on;     /* sync is initialized */
    int sync_active; /* started and not finished */
    int sync_calls;  /* sync calls running (their writes may close
                        the link: its end waits for them) */
    int sync_end_pending;
    uint64_t sync_start_ns;      /* uv_hrtime() at link-up */
    uint64_t sync_worst_ns;      /* the longest loop turn since */
    unsigned long sync_received; /* records received since */
    /* For peers_status: the state since_ms dates ('u'p, 'c'ut or
     * 'd'own), why the link is not up, and what the connections that
     * closed carried. */
    int shown;
    uint64_t since_ms; /* uv_now() when it entered that state */
    char why[96];
    const char *closing_why; /* set by close_with around a conn_close */
    int heard;
    uint64_t heard_ms; /* the last byte read by a connection now closed */
    uint64_t bytes_sent, bytes_received;
    unsigned long catchups;
    uint64_t catchup_records, catchup_bytes; /* of catch-ups ended */
};

struct dial_req {
    uv_connect_t req;
    struct conn *c;
};

int peers_init(struct peers *ps, const struct peers_config *cfg,
               const struct peers_ops *ops, void *arg)
{
    memset(ps, 0, sizeof *ps);
    ps->cfg = *cfg;
    ps->ops = ops;
    ps->arg = arg;
    if (cfg->secret_len > 0 || cfg->tls_cert != NULL) {
        char err[256];
        ps->tls = tls_ctx_new(cfg->secret, cfg->secret_len, cfg->tls_cert,
                              cfg->tls_key, cfg->tls_ca, err, sizeof err);
        if (ps->tls == NULL) {
            fprintf(stderr, "herd-server: peer TLS: %s\n", err);
            return HERD_EXIT_CONFIG;
        }
    }
    ps->cap = cfg->max_peers ? cfg->max_peers : 4;
    ps->v = calloc(ps->cap, sizeof(struct peer *));
    if (ps->v == NULL) {
        tls_ctx_free(ps->tls);
        ps->tls = NULL;
        fprintf(stderr, "herd-server: out of memory\n");
        return HERD_EXIT_OSERR;
    }
    uv_timer_init(cfg->loop, &ps->heartbeat);
    ps->heartbeat.data = ps;
    return 0;
}

/* Where p is dialled. */
static void set_addr(struct peer *p, const struct config_addr *addr)
{
    snprintf(p->addr_text, sizeof p->addr_text, "%s:%u", addr->host,
             addr->port);
    /* A host name is resolved at every dial: its machine may not be
     * up yet, or come back with another address. */
    p->conf_addr = *addr;
    memset(&p->addr, 0, sizeof p->addr);
    p->literal = netaddr_literal(addr, &p->addr) == 0;
    p->dials = 0;
    p->addr_gen++;
}

static void dial(struct peer *p);

int peers_add(struct peers *ps, const char *name,
              const struct config_addr *addr)
{
    if (ps->n == ps->cap) {
        /* An array of pointers: a neighbour never moves in memory (its
         * timer is libuv's, and links, catch-ups and floods point to
         * it). */
        size_t cap = ps->cap * 2;
        struct peer **v = realloc(ps->v, cap * sizeof(struct peer *));
        if (v == NULL)
            return -1;
        ps->v = v;
        ps->cap = cap;
    }
    struct peer *p = calloc(1, sizeof *p);
    if (p == NULL)
        return -1;
    ps->v[ps->n] = p;
    p->ps = ps;
    snprintf(p->name, sizeof p->name, "%s", name);
    set_addr(p, addr);
    p->dialer = strcmp(ps->cfg.name, p->name) < 0;
    p->backoff_ms = PEERS_BACKOFF_FIRST_MS;
    p->shown = 'd';
    p->since_ms = uv_now(ps->cfg.loop);
    snprintf(p->why, sizeof p->why, "not yet connected");
    uv_timer_init(ps->cfg.loop, &p->timer);
    p->timer.data = p;
    ps->n++;
    if (ps->started && p->dialer)
        dial(p); /* added to a running server: at once */
    return 0;
}

/* The index of the neighbour named by the len bytes at name, or -1. */
static long find_index(const struct peers *ps, const char *name, size_t len)
{
    for (size_t i = 0; i < ps->n; i++) {
        const struct peer *p = ps->v[i];
        if (strlen(p->name) == len && memcmp(p->name, name, len) == 0)
            return (long)i;
    }
    return -1;
}

static struct peer *find_peer(struct peers *ps, const char *name, size_t len)
{
    long i = find_index(ps, name, len);
    return i < 0 ? NULL : ps->v[i];
}

/* What a peer connection waits for. A dialled one goes DIALLING, [TLS,]
 * HELLO_SENT, UP; an accepted one [TLS,] HELLO_WAIT, PROOF_WAIT, UP (TLS
 * with a secret or certificates). Closing ends it in any state. */
enum peer_link_state {
    PEER_DIALLING,   /* dialled: the TCP connect runs */
    PEER_TLS,        /* the TLS handshake runs: no line yet */
    PEER_HELLO_SENT, /* dialled: our HELLO is sent, the acceptor's awaited */
    PEER_HELLO_WAIT, /* accepted: the dialer's HELLO is awaited */
    PEER_PROOF_WAIT, /* accepted: our HELLO is sent, the dialer's PROOF
                        awaited */
    PEER_UP          /* the handshake is done: records, catch-up, heartbeats */
};

/* One peer connection, dialled or accepted: c->data of every CONN_PEER_*
 * connection, from peers_accept or connect_to until on_peer_close frees
 * it. */
struct link {
    struct peers *ps;
    struct conn *c;
    enum peer_link_state state;
    /* Its neighbour: a dial's from the start, an accepted connection's
     * once its HELLO names one. */
    struct peer *p;
    /* Accepted, before PEER_UP: in ps->hs_head's list, in age order. */
    struct link *prev, *next;
    int refused;    /* the reason is logged already */
    struct hello h; /* accepted: the dialer's HELLO, numbers only */
    unsigned char nonce[HANDSHAKE_NONCE]; /* ours in this handshake */
};

#ifndef NDEBUG
/* Whether a link may enter state `to` from state `from`. */
static int link_may(enum peer_link_state from, enum peer_link_state to)
{
    switch (to) {
    case PEER_DIALLING:
        return 0; /* a dial starts there, nothing goes back */
    case PEER_TLS:
        return from == PEER_DIALLING;
    case PEER_HELLO_SENT:
        return from == PEER_DIALLING || from == PEER_TLS;
    case PEER_HELLO_WAIT:
        return from == PEER_TLS;
    case PEER_PROOF_WAIT:
        return from == PEER_HELLO_WAIT;
    case PEER_UP:
        return from == PEER_HELLO_SENT || from == PEER_PROOF_WAIT;
    }
    return 0;
}
#endif

/* ---- what the status says of a neighbour ----------------------------- */

/* The state since_ms dates: 'u'p, 'c'ut or 'd'own (dialling or not). */
static int coarse_state(const struct peer *p)
{
    return p->link != NULL ? 'u' : p->cut ? 'c' : 'd';
}

/* After p's link went up, down or cut, or a dial failed: since_ms starts
 * again if the state changed, and why says why the link is not up (a cut
 * link: "cut"; one that is up: ""). */
static void note_state(struct peer *p, const char *why)
{
    int now = coarse_state(p);
    if (now != p->shown) {
        p->shown = now;
        p->since_ms = uv_now(p->ps->cfg.loop);
    }
    snprintf(p->why, sizeof p->why, "%s",
             now == 'u'   ? ""
             : now == 'c' ? "cut"
                          : why);
}

/* Closes c, a connection to p, with reason for the log and why for the
 * status (on_peer_close, called from inside conn_close, takes it). */
static void close_with(struct peer *p, struct conn *c, const char *reason,
                       const char *why)
{
    p->closing_why = why;
    conn_close(c, reason);
    p->closing_why = NULL;
}

static int reason_is(const char *reason, int uv_err)
{
    return strcmp(reason, uv_strerror(uv_err)) == 0;
}

/* A dial's connect failed with reason: "refused", "unreachable", or the
 * reason itself. */
static const char *why_dial_failed(const char *reason)
{
    if (reason_is(reason, UV_ECONNREFUSED))
        return "refused";
    if (reason_is(reason, UV_EHOSTUNREACH) ||
        reason_is(reason, UV_ENETUNREACH) || reason_is(reason, UV_ETIMEDOUT) ||
        reason_is(reason, UV_EHOSTDOWN) || reason_is(reason, UV_EADDRNOTAVAIL))
        return "unreachable";
    return reason;
}

/* A link that was up closed with reason: "closed" (the neighbour closed
 * or reset it), "silent" (what it sent went unacknowledged for
 * link_timeout_ms: TCP_USER_TIMEOUT), or the reason itself. */
static const char *why_up_closed(const char *reason)
{
    if (strcmp(reason, CONN_CLOSED_BY_PEER) == 0 ||
        reason_is(reason, UV_ECONNRESET) || reason_is(reason, UV_EPIPE) ||
        reason_is(reason, UV_EOF))
        return "closed";
    if (reason_is(reason, UV_ETIMEDOUT))
        return "silent";
    return reason;
}

/* Why p's link is down, in the status's words, once a connection to p
 * that was in state `was` closed with reason (close_with's word first). */
static void why_closed(const struct peer *p, enum peer_link_state was,
                       const char *reason, char *out, size_t size)
{
    if (p->closing_why != NULL)
        snprintf(out, size, "%s", p->closing_why);
    else if (was == PEER_DIALLING)
        snprintf(out, size, "%s", why_dial_failed(reason));
    else if (was == PEER_UP)
        snprintf(out, size, "%s", why_up_closed(reason));
    else
        snprintf(out, size, "handshake: %s", reason);
}

/* c, a connection to p, is closing: what it carried is p's now. */
static void account_closed(struct peer *p, const struct conn *c)
{
    p->bytes_sent += c->bytes_written;
    p->bytes_received += c->bytes_read;
    if (c->bytes_read > 0 && (!p->heard || c->last_read_ms > p->heard_ms)) {
        p->heard = 1;
        p->heard_ms = c->last_read_ms;
    }
}

static void link_enter(struct link *l, enum peer_link_state to)
{
    assert(link_may(l->state, to));
    l->state = to;
}

/* l, accepted, is no longer a handshake in progress (up, or closed):
 * unlinked. */
static void handshake_unlink(struct link *l)
{
    struct peers *ps = l->ps;
    assert(l->c->kind == CONN_PEER_IN && l->state != PEER_UP &&
           ps->hs_count > 0);
    if (l->prev)
        l->prev->next = l->next;
    else
        ps->hs_head = l->next;
    if (l->next)
        l->next->prev = l->prev;
    else
        ps->hs_tail = l->prev;
    l->prev = l->next = NULL;
    ps->hs_count--;
}

static void make_nonce(unsigned char out[HANDSHAKE_NONCE])
{
    if (random_bytes(out, HANDSHAKE_NONCE) != 0)
        abort(); /* no randomness: proofs would be worthless */
}

/* HELLO with our name, this start's epoch, a summary of what we hold (so a
 * link whose two ends agree sends nothing more), our nonce and, from the
 * acceptor, its proof. */
static void send_hello(struct peers *ps, struct conn *c,
                       enum handshake_role role,
                       const unsigned char nonce[HANDSHAKE_NONCE],
                       const unsigned char *proof)
{
    char line[HANDSHAKE_LINE_MAX];
    size_t n = handshake_format_hello(line, sizeof line, role, ps->cfg.name,
                                      ps->cfg.epoch, ps->cfg.store->count,
                                      ps->cfg.store->digest, nonce, proof);
    conn_write(c, line, n);
}

static void schedule_dial(struct peer *p);
static void arm_heartbeat(struct peers *ps);
static void closed_one(struct peers *ps);

/* A peer link takes lines at least as long as a catch-up message,
 * whatever max_line clients get. */
static void peer_line_limit(struct conn *c)
{
    if (c->in.max < SYNC_LINE_MAX)
        c->in.max = SYNC_LINE_MAX;
}

static void sync_send_line(void *arg, const char *line, size_t len)
{
    struct peer *p = arg;
    if (p->link != NULL)
        conn_write_line(p->link, line, len);
}

static void sync_send_record(void *arg, const struct record *r)
{
    struct peer *p = arg;
    if (p->link != NULL) {
        conn_write_line(p->link, r->line, r->len);
        p->sent++;
    }
}

static const struct sync_ops sync_ops = {sync_send_line, sync_send_record};

/* Logs the end of p's catch-up, once, when neither side waits for the
 * other any more. */
/* A link reads at most PEERS_READ_PER_TURN bytes a turn while its
 * catch-up runs (a catch-up's records arrive as fast as the socket
 * goes), and without a limit otherwise (the limit costs a relay two
 * system calls a turn under load). */
static void set_read_limit(struct peer *p)
{
    if (p->link != NULL)
        p->link->turn_read_max = p->sync_active ? PEERS_READ_PER_TURN : 0;
}

static void sync_check_done(struct peer *p)
{
    if (!p->sync_active || !sync_idle(&p->sync))
        return;
    p->sync_active = 0;
    set_read_limit(p);
    const struct sync_stats *st = &p->sync.st;
    log_msg("link %s: catch-up done in %.1f ms: sent %llu records (%llu "
            "bytes) and %llu messages (%llu bytes), received %lu records "
            "and %llu messages; longest loop turn %.2f ms",
            p->name, (double)(uv_hrtime() - p->sync_start_ns) / 1e6,
            (unsigned long long)st->records_sent,
            (unsigned long long)st->record_bytes,
            (unsigned long long)st->lines_sent,
            (unsigned long long)st->line_bytes, p->sync_received,
            (unsigned long long)st->lines_received,
            (double)p->sync_worst_ns / 1e6);
}

/* The link of p is gone: so is its catch-up (once no sync call runs). */
static void sync_end(struct peer *p, const char *why)
{
    if (p->sync_calls > 0) {
        p->sync_end_pending = 1;
        return;
    }
    p->sync_end_pending = 0;
    if (p->sync_active)
        log_msg("link %s: catch-up interrupted (%s) after %llu records "
                "sent, %lu received",
                p->name, why, (unsigned long long)p->sync.st.records_sent,
                p->sync_received);
    if (p->sync_on) {
        const struct sync_stats *st = &p->sync.st;
        p->catchup_records += st->records_sent;
        p->catchup_bytes += st->record_bytes + st->line_bytes;
        sync_close(&p->sync);
    }
    p->sync_on = p->sync_active = 0;
}

/* Around a sync call: a write in it may close the link, whose catch-up
 * then ends after the call. */
static void sync_enter(struct peer *p)
{
    p->sync_calls++;
}

static void sync_leave(struct peer *p, const char *why)
{
    if (--p->sync_calls == 0 && p->sync_end_pending)
        sync_end(p, why);
}

static void prepare_link_out(struct conn *c);

/* Data the neighbour does not acknowledge within ms fails the socket
 * (TCP_USER_TIMEOUT), instead of TCP's retransmissions for minutes. */
static void set_user_timeout(struct conn *c, uint64_t ms)
{
    uv_os_fd_t fd;
    unsigned v = ms > UINT_MAX ? UINT_MAX : (unsigned)ms;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
        (void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &v, sizeof v);
}

/* The handshake is done: the link carries records from now on. */
static void link_up(struct peer *p, struct conn *c, const struct hello *h)
{
    uint64_t epoch = h->epoch;
    struct peers *ps = p->ps;
    assert(((const struct link *)c->data)->state == PEER_UP &&
           ((const struct link *)c->data)->p == p);
    if (p->link != NULL && p->link != c)
        conn_close(p->link, "replaced by a newer link");
    if (p->pending == c)
        p->pending = NULL;
    p->link = c;
    note_state(p, "");
    p->backoff_ms = PEERS_BACKOFF_FIRST_MS;
    p->down_logged = 0;
    int restarted = p->remote_epoch != 0 && p->remote_epoch != epoch;
    p->remote_epoch = epoch;
    c->prepare_out = prepare_link_out;
    c->no_output_pause = 1;
    p->ping_ns = 0;
    p->ping_sent_ms = 0;
    set_user_timeout(c, ps->cfg.link_timeout_ms);
    arm_heartbeat(ps);
    /* Catch-up: whatever either side missed while the link was down
     * crosses once (sync.h); older copies stop at the receiver. Two ends
     * whose digests agree hold the same records and send nothing. */
    const struct store *st = ps->cfg.store;
    int same = h->count == st->count && h->digest == st->digest;
    log_msg("link %s up (%s, %s%s, %s)", p->name, c->addr,
            c->kind == CONN_PEER_OUT ? "dialled" : "accepted",
            restarted ? ", neighbour restarted" : "",
            same ? "in sync" : "catching up");
    /* The union of the two stores holds at least the larger: grown to
     * that now, while this store may be small, rather than doubled under
     * the catch-up. */
    if (!same && h->count > st->count && h->count <= 2 * st->count + (1u << 22))
        ps->ops->reserve(ps->arg, (size_t)h->count);
    sync_end(p, "replaced by a newer link");
    sync_init(&p->sync, st, &sync_ops, p, p->dialer);
    p->sync_on = 1;
    p->sync_active = 1;
    p->sync_start_ns = uv_hrtime();
    p->sync_worst_ns = 0;
    p->sync_received = 0;
    sync_enter(p);
    sync_start(&p->sync, h->count, h->digest);
    sync_leave(p, "link closed");
    if (same)
        p->sync_active = 0; /* nothing to log unless the other side asks */
    else
        p->catchups++;
    set_read_limit(p);
    sync_check_done(p);
}

static void log_refused(struct conn *c, const char *why, const char *line,
                        size_t len)
{
    char excerpt[160];
    log_escape(excerpt, sizeof excerpt, line, len);
    log_msg("peer connection %s refused: %s: %s", c->addr, why, excerpt);
}

static int refuse(struct conn *c, const char *why, const char *line, size_t len)
{
    log_refused(c, why, line, len);
    struct link *l = c->data;
    if (l != NULL) /* NULL: closed already */
        l->refused = 1;
    conn_close(c, why);
    return 1;
}

/* Whether a proof is acceptable: with a secret, it must be the right one;
 * without one, only "-" (a neighbour with a secret talks to no one
 * without). */
static int proof_ok(const struct peers *ps, enum handshake_role role,
                    const char *dialer, const char *acceptor,
                    const unsigned char dial_nonce[HANDSHAKE_NONCE],
                    const unsigned char accept_nonce[HANDSHAKE_NONCE],
                    const unsigned char got[HANDSHAKE_PROOF], int got_none)
{
    if (ps->cfg.secret_len == 0)
        return got_none;
    unsigned char want[HANDSHAKE_PROOF];
    return !got_none &&
           handshake_proof(ps->cfg.secret, ps->cfg.secret_len, role, dialer,
                           acceptor, dial_nonce, accept_nonce, want) == 0 &&
           handshake_proof_equal(want, got);
}

/* First line on a connection accepted on the peer port. */
static int on_hello_in(struct conn *c, const char *line, size_t len)
{
    struct link *l = c->data;
    struct peers *ps = l->ps;
    if (len >= 3 && line[0] == 0x16 && line[1] == 0x03)
        return refuse(c,
                      "the other end speaks TLS (a herd secret or "
                      "certificates there, none here?)",
                      line, len > 16 ? 16 : len);
    if (handshake_parse_hello(line, len, &l->h) != 0 || l->h.has_proof)
        return refuse(c,
                      len > 13 && memcmp(line, "HELLO herd/", 11) == 0 &&
                              memcmp(line, "HELLO " HANDSHAKE_PROTO " ",
                                     7 + strlen(HANDSHAKE_PROTO)) != 0
                          ? "another version of the peer protocol (this "
                            "server speaks " HANDSHAKE_PROTO ")"
                          : "not a herd handshake",
                      line, len);
    struct peer *p = find_peer(ps, l->h.name.p, l->h.name.len);
    if (p == NULL)
        return refuse(c, "not a configured neighbour", line, len);
    if (c->tls != NULL && !tls_name_ok(c->tls, p->name))
        return refuse(c,
                      "its certificate does not name the server it claims "
                      "to be",
                      line, len);
    if (p->cut)
        return refuse(c, "the link is cut (herd heal)", line, len);
    l->p = p;
    l->h.name.p = p->name; /* the line goes away after this call */
    make_nonce(l->nonce);
    unsigned char proof[HANDSHAKE_PROOF];
    int signed_ok = ps->cfg.secret_len > 0 &&
                    handshake_proof(ps->cfg.secret, ps->cfg.secret_len,
                                    HANDSHAKE_ACCEPT, p->name, ps->cfg.name,
                                    l->h.nonce, l->nonce, proof) == 0;
    if (ps->cfg.secret_len > 0 && !signed_ok)
        return refuse(c, "cannot compute a proof", line, len);
    link_enter(l, PEER_PROOF_WAIT);
    send_hello(ps, c, HANDSHAKE_ACCEPT, l->nonce, signed_ok ? proof : NULL);
    return 0;
}

/* The dialer's proof: nothing it sends is applied before it. */
static int on_proof_in(struct conn *c, const char *line, size_t len)
{
    struct link *l = c->data;
    struct peers *ps = l->ps;
    unsigned char got[HANDSHAKE_PROOF];
    int none = 0;
    if (handshake_parse_proof(line, len, got, &none) != 0)
        return refuse(c, "no proof after HELLO", line, len);
    if (!proof_ok(ps, HANDSHAKE_DIAL, l->p->name, ps->cfg.name, l->h.nonce,
                  l->nonce, got, none))
        return refuse(c,
                      none ? "neighbour sent no proof (no herd secret?)"
                           : "wrong proof (a different herd secret?)",
                      l->p->name, strlen(l->p->name));
    struct peer *p = l->p;
    if (p->cut)
        return refuse(c, "the link is cut (herd heal)", p->name,
                      strlen(p->name));
    struct hello h = l->h;
    handshake_unlink(l);
    link_enter(l, PEER_UP);
    link_up(p, c, &h);
    return 0;
}

/* The acceptor's HELLO: check its proof, send ours; the link is up. */
static int on_hello_out(struct conn *c, const char *line, size_t len)
{
    struct link *l = c->data;
    struct peer *p = l->p;
    struct peers *ps = l->ps;
    struct hello h;
    if (len > 11 && memcmp(line, "HELLO herd/", 11) == 0 &&
        memcmp(line, "HELLO " HANDSHAKE_PROTO " ",
               7 + strlen(HANDSHAKE_PROTO)) != 0)
        return refuse(c,
                      "another version of the peer protocol (this server "
                      "speaks " HANDSHAKE_PROTO ")",
                      line, len);
    if (handshake_parse_hello(line, len, &h) != 0 || !h.has_proof ||
        strlen(p->name) != h.name.len ||
        memcmp(p->name, h.name.p, h.name.len) != 0)
        return refuse(c, "unexpected handshake answer", line, len);
    if (!proof_ok(ps, HANDSHAKE_ACCEPT, ps->cfg.name, p->name, l->nonce,
                  h.nonce, h.proof, h.proof_none))
        return refuse(c,
                      h.proof_none ? "neighbour sent no proof (no herd "
                                     "secret?)"
                                   : "wrong proof (a different herd "
                                     "secret?)",
                      p->name, strlen(p->name));
    /* (Checked before our proof is queued: a refusal drops it unsent.) */
    if (p->cut)
        return refuse(c, "the link is cut (herd heal)", p->name,
                      strlen(p->name));
    unsigned char proof[HANDSHAKE_PROOF];
    int signed_ok =
        ps->cfg.secret_len > 0 &&
        handshake_proof(ps->cfg.secret, ps->cfg.secret_len, HANDSHAKE_DIAL,
                        ps->cfg.name, p->name, l->nonce, h.nonce, proof) == 0;
    link_enter(l, PEER_UP);
    char out[HANDSHAKE_LINE_MAX];
    conn_write(
        c, out,
        handshake_format_proof(out, sizeof out, signed_ok ? proof : NULL));
    h.name.p = p->name;
    link_up(p, c, &h);
    return 0;
}

/* Whether p's pending list describes its link's output as it is now. */
static int pend_valid(const struct peer *p)
{
    return p->link != NULL &&
           relay_out_valid(&p->out, p->link->id, p->link->flushes);
}

/* p just sent us r, which we hold: it has r (or something newer), so a
 * copy of r still waiting in our output to p need not go. On the default
 * graph two copies of every update cross on the Bolden links; with
 * batching the later one is usually still here when the earlier one
 * arrives. */
static void withhold(struct peer *p, const struct record *r)
{
    if (p->out.n == 0 || !pend_valid(p) ||
        !relay_out_withhold(&p->out, p->link->id, p->link->flushes, r->seq))
        return;
    p->sent--;
    p->ps->stats.flood_sent--;
    p->ps->stats.flood_withheld++;
}

/* The link's output is about to be written: withheld copies come out. */
static void prepare_link_out(struct conn *c)
{
    const struct link *l = c->data;
    assert(l->state == PEER_UP); /* set by link_up */
    struct peer *p = l->p;
    if (p->link != c)
        return;
    const struct dynbuf_range *cut;
    size_t n = relay_out_take(&p->out, c->id, c->flushes, &cut);
    if (n > 0)
        conn_take_back(c, cut, n);
}

/* PING TOKEN is answered with PONG TOKEN; our own PING's PONG gives the
 * round trip. Any line at all shows the link alive; these exist for links
 * with nothing else to say. */
static void on_heartbeat(struct peer *p, struct conn *c,
                         const struct strparse_slice *f)
{
    if (f[0].p[1] == 'I') {
        char line[40];
        int n = snprintf(line, sizeof line, "PONG %.*s",
                         (int)(f[1].len < 24 ? f[1].len : 24), f[1].p);
        conn_write_line(c, line, (size_t)n);
        return;
    }
    uint64_t token;
    if (p->ping_ns != 0 &&
        strparse_uint(f[1].p, f[1].len, UINT64_MAX, &token) == 0 &&
        token == p->ping_ns) {
        p->rtt_ns = uv_hrtime() - token;
        p->ping_ns = 0;
    }
}

/* Whether an AT record's client time is more than max_future_s ahead
 * of this server's clock (the same bound as for a client's IAMAT). */
static int too_far_ahead(const struct peers *ps,
                         const struct proto_command *cmd)
{
    struct timespec now;
    return clock_gettime(CLOCK_REALTIME, &now) == 0 &&
           proto_too_far_ahead(cmd->sec, cmd->nsec, (uint64_t)now.tv_sec,
                               (uint32_t)now.tv_nsec, ps->cfg.max_future_s);
}

/* Splits a line that came without a hint (into split) and returns its
 * number of fields, 0 for a blank line; *at: whether it is an AT record,
 * whose client is then hashed once, into *h, for the held-copy check
 * and the store. */
static size_t split_peer_line(const struct peers *ps, const char *line,
                              size_t len, struct strparse_slice *split, int *at,
                              uint64_t *h)
{
    size_t n = proto_split6(line, len, split); /* the form servers send */
    if (n == 0)
        n = strparse_split(line, len, split, PROTO_MAX_FIELDS);
    if (n == 0)
        return 0; /* blank */
    *at = n == 6 && split[0].len == 2 && memcmp(split[0].p, "AT", 2) == 0 &&
          proto_client_ok(split[3].len, ps->cfg.max_client_id) == PROTO_OK;
    if (*at)
        *h = store_key_hash(ps->cfg.store, split[3].p, split[3].len);
    return n;
}

/* A line of n fields f on a link that is not an AT record: a heartbeat
 * or a catch-up message, for which it returns what on_peer_line does;
 * -1 when it is neither (then it is taken for a bad record). */
static int on_other_line(struct peer *p, struct conn *c,
                         const struct strparse_slice *f, size_t n,
                         const char *line, size_t len)
{
    if (n == 2 && f[0].len == 4 &&
        (memcmp(f[0].p, "PING", 4) == 0 || memcmp(f[0].p, "PONG", 4) == 0)) {
        on_heartbeat(p, c, f);
        return 0;
    }
    sync_enter(p);
    int src = sync_on_line(&p->sync, f, n);
    sync_leave(p, "link closed");
    if (!p->sync_on)
        return c->closing;
    if (src == SYNC_ENOTSYNC)
        return -1;
    if (src == 0 && !p->sync_active && !sync_idle(&p->sync)) {
        p->sync_active = 1; /* the other side opened */
        p->catchups++;
        set_read_limit(p);
        p->sync_start_ns = uv_hrtime();
        p->sync_worst_ns = 0;
        p->sync_received = 0;
    }
    if (src == SYNC_EBAD) {
        char excerpt[160];
        log_escape(excerpt, sizeof excerpt, line, len);
        log_msg("link %s: dropped invalid catch-up message: %s", p->name,
                excerpt);
    } else if (src != 0) {
        conn_close(c, src == SYNC_EQUEUE ? "catch-up: too many ranges asked for"
                                         : "catch-up: out of memory");
        return 1;
    }
    sync_check_done(p);
    return 0;
}

/* A record (a line of n fields f, not held already) from a link: checked
 * like client input, then handed on (ops->on_record) with h, its
 * client's hash when it is a valid AT line. */
static int receive_record(struct peer *p, const struct strparse_slice *f,
                          size_t n, uint64_t h, const char *line, size_t len)
{
    struct peers *ps = p->ps;
    struct proto_command cmd;
    int rc = proto_parse_fields(f, n, &cmd);
    if (rc == 0)
        rc = proto_client_ok(cmd.client.len, ps->cfg.max_client_id);
    if (rc != 0 || cmd.kind != PROTO_AT) {
        /* Validated like client input; a bad record is dropped, the link
         * stays. */
        char excerpt[160];
        log_escape(excerpt, sizeof excerpt, line, len);
        log_msg("link %s: dropped invalid record (%s): %s", p->name,
                rc != 0 ? proto_strerror(rc) : "not an AT line", excerpt);
        return 0;
    }
    if (ps->cfg.max_future_s > 0 && too_far_ahead(ps, &cmd)) {
        /* The same bound as for a client's IAMAT: a record that slipped
         * past it elsewhere (a server without it) stops here. */
        if (p->future_dropped++ % 1000 == 0) {
            char excerpt[160];
            log_escape(excerpt, sizeof excerpt, line, len);
            log_msg("link %s: dropped a record more than max_future_s %llu "
                    "s ahead (%lu so far): %s",
                    p->name, (unsigned long long)ps->cfg.max_future_s,
                    p->future_dropped, excerpt);
        }
        return 0;
    }
    struct record *r = record_from_at(line, len, &cmd);
    if (r == NULL) {
        log_msg("link %s: out of memory for a record", p->name);
        return 0;
    }
    /* A valid AT line has six fields and a client within the limit, so h
     * is its client's hash. */
    ps->ops->on_record(ps->arg, r, h, p);
    p->sync_received += p->sync_active;
    return 0;
}

/* A line on a link that is up. (A write may close the link and free its
 * struct link: only p and c are used past the first lines.) */
static int on_peer_line(struct conn *c, const char *line, size_t len)
{
    struct peer *p = ((const struct link *)c->data)->p;
    struct peers *ps = p->ps;
    size_t ahead_len;
    uint64_t gen;
    const char *ahead = linebuf_ahead(&c->in, &ahead_len, &gen);
    /* The hint made for this very line, if any (look_ahead replaces it).
     * Such a line is split already, and checked against the held record
     * first: a copy already held needs nothing more. */
    struct relay_hint hint = p->hint[0];
    int hinted = relay_hint_matches(&hint, gen, line, len);
    relay_look_ahead(p->hint, ps->cfg.store, ps->cfg.max_client_id, ahead,
                     ahead_len, gen);
    struct strparse_slice split[PROTO_MAX_FIELDS];
    const struct strparse_slice *f = split;
    size_t n;
    uint64_t h = 0;
    int at;
    if (hinted) {
        f = hint.f; /* an AT line's six fields, its client hashed */
        n = 6;
        h = hint.h;
        at = 1;
    } else {
        n = split_peer_line(ps, line, len, split, &at, &h);
        if (n == 0)
            return 0; /* blank */
    }
    if (at) {
        p->received++;
        const struct record *held =
            relay_held(ps->cfg.store, h, f[3], line, len);
        if (held != NULL) {
            withhold(p, held);
            ps->stats.stale++;
            return 0;
        }
    } else {
        int rc = on_other_line(p, c, f, n, line, len);
        if (rc >= 0)
            return rc;
        p->received++; /* taken for a record, if a bad one */
    }
    return receive_record(p, f, n, h, line, len);
}

static void on_peer_close(struct conn *c, const char *reason)
{
    struct link *l = c->data;
    c->data = NULL;
    struct peer *p = l->p;
    enum peer_link_state was = l->state;
    char why[sizeof p->why];
    if (p != NULL) {
        account_closed(p, c);
        why_closed(p, was, reason, why, sizeof why);
    }
    if (c->kind == CONN_PEER_IN && was != PEER_UP) {
        if (!l->refused)
            log_msg("peer connection %s closed during the handshake: %s",
                    c->addr, reason);
        handshake_unlink(l);
        free(l); /* never became a link */
        /* Named a neighbour whose link is down: that is why. */
        if (p != NULL && p->link == NULL && !p->ps->stopping)
            note_state(p, why);
        return;
    }
    free(l);
    assert(p != NULL); /* dialled, or up */
    if (p->link == c) {
        p->link = NULL;
        p->rtt_ns = p->ping_ns = 0; /* a round trip of a link that is gone */
        log_msg("link %s down: %s", p->name, reason);
        sync_end(p, reason);
        note_state(p, why);
    }
    if (p->pending == c) {
        p->pending = NULL;
        if (p->link == NULL && !p->ps->stopping)
            note_state(p, why);
        /* Closed with no word during the TLS handshake: the acceptor
         * refused our key or certificate (it says why in its own log). */
        int in_tls = c->tls != NULL && !tls_done(c->tls) &&
                     strncmp(reason, "TLS: ", 5) != 0;
        if (!p->down_logged)
            log_msg("link %s: cannot connect to %s: %s%s (retrying)", p->name,
                    p->addr_text, reason,
                    in_tls ? " during the TLS handshake (another herd "
                             "secret or CA there, or none?)"
                           : "");
        p->down_logged = 1;
    }
    if (p->dialer && !p->ps->stopping && !p->cut && !p->removed)
        schedule_dial(p);
}

/* A dialled link can speak: inside TLS once its handshake is done, at
 * once without TLS. */
static void dial_secure(struct conn *c)
{
    struct link *l = c->data;
    link_enter(l, PEER_HELLO_SENT);
    make_nonce(l->nonce);
    send_hello(l->ps, c, HANDSHAKE_DIAL, l->nonce, NULL);
}

/* An accepted link's TLS handshake is done: its HELLO may come. */
static void accept_secure(struct conn *c)
{
    link_enter(c->data, PEER_HELLO_WAIT);
}

/* Every line of a peer connection, by its state. */
static int on_link_line(struct conn *c, const char *line, size_t len)
{
    const struct link *l = c->data;
    switch (l->state) {
    case PEER_UP:
        return on_peer_line(c, line, len);
    case PEER_HELLO_SENT:
        return on_hello_out(c, line, len);
    case PEER_HELLO_WAIT:
        return on_hello_in(c, line, len);
    case PEER_PROOF_WAIT:
        return on_proof_in(c, line, len);
    case PEER_DIALLING:
    case PEER_TLS:
        break;
    }
    assert(!"a line before the connection reads lines");
    return 1;
}

static void on_connect(uv_connect_t *req, int status)
{
    struct dial_req *d = (struct dial_req *)req;
    struct conn *c = d->c;
    free(d);
    if (status < 0) {
        conn_close(c, uv_strerror(status));
    } else if (!c->closing) {
        int rc = conn_start(c);
        struct link *l = c->data;
        struct tls_ctx *tls = l->ps->tls;
        struct tls_conn *t = NULL;
        if (rc == 0 && tls != NULL &&
            (t = tls_conn_new(tls, 0, l->p->name)) == NULL)
            rc = UV_ENOMEM;
        if (rc != 0) {
            conn_close(c, uv_strerror(rc));
        } else if (t != NULL) {
            link_enter(l, PEER_TLS);
            conn_start_tls(c, t, dial_secure); /* HELLO once secure */
        } else {
            dial_secure(c);
        }
    }
    conn_unref(c);
}

/* Connects to p->addr. */
static void connect_to(struct peer *p)
{
    struct peers *ps = p->ps;
    struct conn *c = conn_new(ps->cfg.pool, CONN_PEER_OUT);
    struct dial_req *d = c ? malloc(sizeof *d) : NULL;
    struct link *l = d ? calloc(1, sizeof *l) : NULL;
    if (l == NULL) {
        free(d);
        if (c != NULL)
            conn_close(c, "out of memory");
        else
            schedule_dial(p);
        return;
    }
    l->ps = ps;
    l->c = c;
    l->p = p;
    l->state = PEER_DIALLING;
    c->data = l;
    c->on_line = on_link_line;
    c->on_close = on_peer_close;
    c->max_output = PEERS_MAX_OUTPUT;
    peer_line_limit(c);
    snprintf(c->addr, sizeof c->addr, "%.*s", (int)sizeof c->addr - 1,
             p->addr_text);
    p->pending = c;
    p->dial_ms = uv_now(ps->cfg.loop); /* resolving a name is not counted */
    d->c = c;
    conn_ref(c);
    arm_heartbeat(ps);
    int rc = uv_tcp_connect(&d->req, &c->tcp, (struct sockaddr *)&p->addr,
                            on_connect);
    if (rc != 0) {
        free(d);
        conn_unref(c);
        conn_close(c, uv_strerror(rc));
    }
}

static void release_removed(struct peer *p);

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct peer *p = req->data;
    p->resolving = 0;
    int current = p->resolve_gen == p->addr_gen; /* not moved since */
    if (p->removed) {
        if (res != NULL)
            uv_freeaddrinfo(res);
        release_removed(p);
        return;
    }
    if (status == 0 && res != NULL && current) {
        /* Each dial takes the next of the name's addresses, so one that
         * refuses (::1 where the neighbour listens on 127.0.0.1, say)
         * does not hide the others. */
        size_t n = 0;
        for (const struct addrinfo *a = res; a != NULL; a = a->ai_next)
            n++;
        const struct addrinfo *a = res;
        for (size_t k = p->dials++ % n; k > 0; k--)
            a = a->ai_next;
        if (a->ai_addrlen <= sizeof p->addr) {
            memset(&p->addr, 0, sizeof p->addr);
            memcpy(&p->addr, a->ai_addr, a->ai_addrlen);
        }
    }
    if (res != NULL)
        uv_freeaddrinfo(res);
    if (p->ps->closing > 0) { /* peers_close waits for this one */
        closed_one(p->ps);
        return;
    }
    if (status == UV_ECANCELED || p->ps->stopping || p->cut)
        return;
    if (!current) { /* the name it resolved is not the address now */
        dial(p);
        return;
    }
    if (status != 0) {
        /* Its machine may not be up yet: retried like a refusal. */
        note_state(p, "unreachable: cannot resolve its name");
        if (!p->down_logged)
            log_msg("link %s: cannot resolve %s: %s (retrying)", p->name,
                    p->addr_text, uv_strerror(status));
        p->down_logged = 1;
        schedule_dial(p);
        return;
    }
    connect_to(p);
}

static void dial(struct peer *p)
{
    struct peers *ps = p->ps;
    if (p->link != NULL || p->pending != NULL || p->resolving || p->cut ||
        ps->stopping)
        return;
    if (p->literal) {
        connect_to(p);
        return;
    }
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    char port[8];
    snprintf(port, sizeof port, "%u", p->conf_addr.port);
    p->gai.data = p;
    p->resolve_gen = p->addr_gen;
    int rc = uv_getaddrinfo(ps->cfg.loop, &p->gai, on_resolved,
                            p->conf_addr.host, port, &hints);
    if (rc != 0) {
        log_msg("link %s: cannot resolve %s: %s (retrying)", p->name,
                p->addr_text, uv_strerror(rc));
        schedule_dial(p);
        return;
    }
    p->resolving = 1;
}

static void on_dial_timer(uv_timer_t *t)
{
    dial(t->data);
}

static void schedule_dial(struct peer *p)
{
    uv_timer_start(&p->timer, on_dial_timer, p->backoff_ms, 0);
    p->backoff_ms = backoff_double(p->backoff_ms, PEERS_BACKOFF_MAX_MS);
}

/* Bytes the kernel holds for c that the loop has not read yet: after a
 * long loop turn (timers run before sockets are read) a link can look
 * silent while its neighbour's lines wait here. Such a link is not. */
static int unread(struct conn *c)
{
    uv_os_fd_t fd;
    int n = 0;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0 ||
        ioctl(fd, FIONREAD, &n) != 0)
        return 0;
    if (n > 0)
        c->last_read_ms = uv_now(c->pool->loop); /* heard, if late */
    return n;
}

/* How long p's link may send nothing before it sends a PING. The
 * acceptor waits half as long again as the dialer: on an idle link the
 * dialer's PINGs come first, the acceptor's PONGs count as its sending,
 * and one PING and one PONG cross per interval, not two of each. The
 * acceptor still pings a link on which it only listens. */
static uint64_t ping_interval(const struct peer *p)
{
    uint64_t ms = p->ps->cfg.link_ping_ms;
    return p->dialer ? ms : 2 * ms;
}

/* The first beat at or after the loop time t: beats fall on multiples of
 * the ping interval of the wall clock, which every server of a machine
 * (and of an NTP-synchronised herd) shares, so a server's PINGs, and the
 * PINGs and PONGs that reach it, come together in fewer wake-ups, and
 * with the client sweep's (server.c, whole seconds). */
static uint64_t next_beat(const struct peers *ps, uint64_t t)
{
    uint64_t beat = ps->cfg.link_ping_ms;
    struct timespec ts;
    if (beat < 2 || clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return t;
    uint64_t now = uv_now(ps->cfg.loop);
    uint64_t wall = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    /* A PING leaves a little after its beat: a quarter beat early still
     * counts as the beat, or every other one would be skipped. */
    uint64_t slack = beat / 4;
    uint64_t at = wall + (t > now ? t - now : 0);
    uint64_t aligned = (at - slack + beat - 1) / beat * beat;
    return aligned > at ? t + (aligned - at) : t - (at - aligned);
}

/* When p's link last sent: the kernel took bytes, or a PING was queued. */
static uint64_t last_sent_ms(const struct peer *p)
{
    uint64_t w = p->link->last_write_ms;
    return p->ping_sent_ms > w ? p->ping_sent_ms : w;
}

/* Whether p's link sends a PING now: one is due, or due within a quarter
 * interval (the PINGs of a server's links go out in one wake-up), and
 * nothing waits to be written, or what waits has not gone out for a whole
 * interval past due. That last happens when every copy queued to a busy
 * neighbour is taken back (it sent them first): the link then says
 * nothing while the neighbour counts towards its timeout. */
static int ping_due(const struct peer *p, uint64_t now)
{
    uint64_t due = last_sent_ms(p) + ping_interval(p);
    if (now + p->ps->cfg.link_ping_ms / 4 < due)
        return 0;
    return conn_pending(p->link) == 0 || now >= due + ping_interval(p);
}

static void on_heartbeat_timer(uv_timer_t *t);

/* Arms the heartbeat timer for the earliest thing due: a PING, a silence
 * or a dial that has waited too long. An idle herd so wakes only when
 * something is due, not on a fixed tick. */
static void arm_heartbeat(struct peers *ps)
{
    const struct peers_config *cfg = &ps->cfg;
    uint64_t now = uv_now(ps->cfg.loop);
    uint64_t due = UINT64_MAX;
    for (size_t i = 0; i < ps->n; i++) {
        const struct peer *p = ps->v[i];
        if (p->link != NULL) {
            uint64_t silent = p->link->last_read_ms + cfg->link_timeout_ms;
            due = silent < due ? silent : due;
            /* Output waiting: it is on its way, no PING is due; look again
             * a quarter of the interval later (nothing else wakes us when
             * it drains). */
            uint64_t ping = next_beat(ps, last_sent_ms(p) + ping_interval(p));
            if (ping <= now && conn_pending(p->link) > 0)
                ping = now + cfg->link_ping_ms / 4 + 1; /* overdue, but
                                                           output waits */
            if (ping < due)
                due = ping;
        }
        if (p->pending != NULL && p->dial_ms + cfg->link_timeout_ms < due)
            due = p->dial_ms + cfg->link_timeout_ms;
    }
    if (due == UINT64_MAX || ps->stopping) {
        uv_timer_stop(&ps->heartbeat);
        return;
    }
    /* At least 1 ms: a timer due now re-armed from its own callback would
     * run again before the loop polls. */
    uv_timer_start(&ps->heartbeat, on_heartbeat_timer,
                   due > now ? due - now : 1, 0);
}

/* Every link: a heartbeat when it sent nothing for link_ping_ms, closed
 * when it heard nothing for link_timeout_ms (a cut cable sends no FIN);
 * every dial: closed when not up within link_timeout_ms (a SYN to a
 * machine that is gone waits minutes otherwise). */
static void on_heartbeat_timer(uv_timer_t *t)
{
    struct peers *ps = t->data;
    const struct peers_config *cfg = &ps->cfg;
    uint64_t now = uv_now(ps->cfg.loop);
    for (size_t i = 0; i < ps->n; i++) {
        struct peer *p = ps->v[i];
        struct conn *c = p->link;
        char why[64];
        if (c != NULL && now - c->last_read_ms >= cfg->link_timeout_ms &&
            unread(c) == 0) {
            snprintf(why, sizeof why, "silent for %.1f s",
                     (double)(now - c->last_read_ms) / 1000);
            close_with(p, c, why, "silent");
        } else if (c != NULL && ping_due(p, now)) {
            char line[32];
            p->ping_ns = uv_hrtime();
            p->ping_sent_ms = now;
            int n = snprintf(line, sizeof line, "PING %llu",
                             (unsigned long long)p->ping_ns);
            conn_write_line(c, line, (size_t)n);
        }
        if (p->pending != NULL && now - p->dial_ms >= cfg->link_timeout_ms) {
            /* No connection: no one there; a connection but no
             * handshake: the neighbour says nothing. */
            const struct link *l = p->pending->data;
            snprintf(why, sizeof why, "no answer within %.1f s",
                     (double)(now - p->dial_ms) / 1000);
            close_with(p, p->pending, why,
                       l->state == PEER_DIALLING ? "unreachable" : "silent");
        }
    }
    arm_heartbeat(ps);
}

static struct peer *peers_find(struct peers *ps, const char *name)
{
    return find_peer(ps, name, strlen(name));
}

int peers_set_cut(struct peers *ps, const char *name, int cut)
{
    struct peer *p = peers_find(ps, name);
    if (p == NULL)
        return -1;
    if (p->cut == !!cut)
        return 0;
    p->cut = !!cut;
    log_msg("link %s %s by the operator", p->name, cut ? "cut" : "healed");
    note_state(p, "not yet connected");
    if (cut) {
        uv_timer_stop(&p->timer);
        if (p->link != NULL)
            conn_close(p->link, "cut by the operator");
        if (p->pending != NULL)
            conn_close(p->pending, "cut by the operator");
        /* A resolution in flight finds the cut when it ends (dial). */
    } else if (p->dialer) {
        p->backoff_ms = PEERS_BACKOFF_FIRST_MS;
        dial(p);
    }
    return 0;
}

/* ---- changes of the configuration ----------------------------------- */

/* A removed neighbour's timer closed, or its resolution ended: the last
 * of them frees it. */
static void release_removed(struct peer *p)
{
    assert(p->removed && p->holds > 0);
    if (--p->holds == 0)
        free(p);
}

static void on_removed_timer_closed(uv_handle_t *h)
{
    release_removed(h->data);
}

/* Closes every connection to p: its link, its dial, and the accepted
 * ones still in their handshake that named it. */
static void close_all_of(struct peer *p, const char *reason, const char *why)
{
    struct peers *ps = p->ps;
    if (p->link != NULL)
        close_with(p, p->link, reason, why);
    if (p->pending != NULL)
        close_with(p, p->pending, reason, why);
    struct link *next;
    for (struct link *l = ps->hs_head; l != NULL; l = next) {
        next = l->next;
        if (l->p == p)
            close_with(p, l->c, reason, why);
    }
}

int peers_remove(struct peers *ps, const char *name)
{
    long i = find_index(ps, name, strlen(name));
    if (i < 0)
        return -1;
    struct peer *p = ps->v[i];
    memmove(&ps->v[i], &ps->v[i + 1],
            (ps->n - (size_t)i - 1) * sizeof(struct peer *));
    ps->n--;
    /* From here on its name is no neighbour's: a HELLO naming it is
     * refused, and nothing dials it. */
    p->removed = 1;
    log_msg("link %s: no longer a neighbour (the configuration changed)",
            p->name);
    uv_timer_stop(&p->timer);
    sync_end(p, "no longer a neighbour");
    close_all_of(p, "no longer a neighbour", "removed");
    relay_out_free(&p->out);
    p->holds = 1;
    p->timer.data = p;
    uv_close((uv_handle_t *)&p->timer, on_removed_timer_closed);
    if (p->resolving) {
        p->holds++; /* its callback comes, cancelled or not */
        uv_cancel((uv_req_t *)&p->gai);
    }
    arm_heartbeat(ps);
    return 0;
}

int peers_move(struct peers *ps, const char *name,
               const struct config_addr *addr)
{
    struct peer *p = find_peer(ps, name, strlen(name));
    if (p == NULL)
        return -1;
    char was[sizeof p->addr_text];
    snprintf(was, sizeof was, "%s", p->addr_text);
    set_addr(p, addr);
    log_msg("link %s: its peer address is now %s (was %s)%s", p->name,
            p->addr_text, was, p->dialer && ps->started ? ": redialling" : "");
    if (!p->dialer)
        return 0; /* it dials us: nothing here is at the old address */
    close_all_of(p, "the neighbour moved", "moved");
    uv_timer_stop(&p->timer); /* the close's retry: dialled now instead */
    p->backoff_ms = PEERS_BACKOFF_FIRST_MS;
    p->down_logged = 0;
    if (ps->started)
        dial(p); /* a resolution of the old name redials (on_resolved) */
    return 0;
}

void peers_set_limits(struct peers *ps, const struct peers_config *cfg)
{
    ps->cfg.link_ping_ms = cfg->link_ping_ms;
    ps->cfg.link_timeout_ms = cfg->link_timeout_ms;
    ps->cfg.max_handshakes = cfg->max_handshakes;
    ps->cfg.max_client_id = cfg->max_client_id;
    ps->cfg.max_future_s = cfg->max_future_s;
    for (size_t i = 0; i < ps->n; i++)
        if (ps->v[i]->link != NULL)
            set_user_timeout(ps->v[i]->link, cfg->link_timeout_ms);
    if (ps->started && !ps->stopping)
        arm_heartbeat(ps);
}

const struct config_addr *peers_addr(const struct peers *ps, size_t i)
{
    assert(i < ps->n);
    return &ps->v[i]->conf_addr;
}

void peers_start(struct peers *ps)
{
    ps->started = 1;
    for (size_t i = 0; i < ps->n; i++)
        if (ps->v[i]->dialer)
            dial(ps->v[i]);
}

int peers_accept(struct peers *ps, struct conn *c)
{
    /* Past the limit the oldest handshake goes, not the new one: a flood
     * of half-open connections then cannot keep a neighbour out, whose
     * handshake takes a round trip or two. */
    if (ps->hs_count >= ps->cfg.max_handshakes && ps->hs_head != NULL) {
        struct conn *old = ps->hs_head->c;
        if (ps->hs_evicted++ % 1000 == 0)
            log_msg("peer handshakes: %llu in progress, the limit: closing "
                    "the oldest (%lu so far)",
                    (unsigned long long)ps->cfg.max_handshakes, ps->hs_evicted);
        ps->hs_head->refused = 1; /* logged here, not once each */
        conn_close(old, "handshake limit");
    }
    struct link *l = calloc(1, sizeof *l);
    struct tls_conn *t = NULL;
    if (l == NULL ||
        (ps->tls != NULL && (t = tls_conn_new(ps->tls, 1, NULL)) == NULL)) {
        free(l);
        return -1;
    }
    l->ps = ps;
    l->c = c;
    l->state = t != NULL ? PEER_TLS : PEER_HELLO_WAIT;
    l->prev = ps->hs_tail;
    if (ps->hs_tail)
        ps->hs_tail->next = l;
    else
        ps->hs_head = l;
    ps->hs_tail = l;
    ps->hs_count++;
    c->data = l;
    c->on_line = on_link_line;
    c->on_close = on_peer_close;
    c->max_output = PEERS_MAX_OUTPUT;
    peer_line_limit(c);
    if (t != NULL)
        conn_start_tls(c, t, accept_secure); /* lines come once it is done */
    return 0;
}

size_t peers_count(const struct peers *ps)
{
    return ps->n;
}

static const char *peer_state(const struct peer *p)
{
    if (p->link != NULL)
        return "up";
    if (p->cut)
        return "cut";
    if (p->pending != NULL || p->resolving)
        return "dialling";
    return "down";
}

/* What c (a connection to p now open, or NULL) adds to st. */
static void add_open(struct peers_status *st, const struct conn *c,
                     uint64_t now)
{
    if (c == NULL)
        return;
    st->bytes_sent += c->bytes_written;
    st->bytes_received += c->bytes_read;
    if (c->bytes_read > 0 &&
        (!st->heard || now - c->last_read_ms < st->last_heard_ms)) {
        st->heard = 1;
        st->last_heard_ms = now - c->last_read_ms;
    }
}

void peers_status(const struct peers *ps, size_t i, struct peers_status *st)
{
    assert(i < ps->n);
    const struct peer *p = ps->v[i];
    uint64_t now = uv_now(ps->cfg.loop);
    st->name = p->name;
    st->state = peer_state(p);
    st->cut = p->cut;
    st->since_ms = now - p->since_ms;
    st->why = p->why;
    st->heard = p->heard;
    st->last_heard_ms = p->heard ? now - p->heard_ms : 0;
    st->rtt_ns = p->rtt_ns;
    st->sent = p->sent;
    st->received = p->received;
    st->bytes_sent = p->bytes_sent;
    st->bytes_received = p->bytes_received;
    add_open(st, p->link, now);
    add_open(st, p->pending, now);
    st->queued = p->link != NULL ? conn_pending(p->link) : 0;
    st->catchups = p->catchups;
    st->catchup_records = p->catchup_records;
    st->catchup_bytes = p->catchup_bytes;
    if (p->sync_on) { /* the catch-up of the link up now */
        st->catchup_records += p->sync.st.records_sent;
        st->catchup_bytes += p->sync.st.record_bytes + p->sync.st.line_bytes;
    }
    /* sync_on: from link_up to the link's end; sync_active: from link_up
     * (unless the digests agreed) or the other side's opening, to the
     * end of the catch-up. */
    st->synced = p->link != NULL && p->sync_on && !p->sync_active;
}

const char *peers_name(const struct peer *p)
{
    return p->name;
}

const char *peers_tls_mode(const struct peers *ps)
{
    return ps->tls != NULL ? tls_ctx_mode(ps->tls) : NULL;
}

int peers_in_handshake(const struct conn *c)
{
    if (c->kind == CONN_CLIENT)
        return 0;
    const struct link *l = c->data;
    assert(l != NULL); /* an open peer connection has its link */
    return l->state != PEER_UP;
}

void peers_flood(struct peers *ps, const struct record *rec,
                 const struct peer *except)
{
    for (size_t i = 0; i < ps->n; i++) {
        struct peer *p = ps->v[i];
        if (p == except || p->link == NULL)
            continue;
        size_t off;
        conn_write_line_at(p->link, rec->line, rec->len, &off);
        p->sent++;
        ps->stats.flood_sent++;
        if (off != SIZE_MAX)
            relay_out_remember(&p->out, p->link->id, p->link->flushes, rec->seq,
                               off, rec->len + 1);
    }
}

void peers_pump(struct peers *ps, uint64_t turn_ns)
{
    for (size_t i = 0; i < ps->n; i++) {
        struct peer *p = ps->v[i];
        if (p->sync_active && turn_ns > p->sync_worst_ns)
            p->sync_worst_ns = turn_ns;
        if (p->link == NULL || !p->sync_on || !sync_has_queue(&p->sync))
            continue;
        size_t pending = conn_pending(p->link);
        if (pending < PEERS_CATCHUP_ROOM) {
            size_t room = PEERS_CATCHUP_ROOM - pending;
            sync_enter(p);
            sync_pump(&p->sync,
                      room < PEERS_CATCHUP_SLICE ? room : PEERS_CATCHUP_SLICE);
            sync_leave(p, "link closed");
            if (p->sync_on && p->sync.broken && p->link != NULL)
                conn_close(p->link, "catch-up: out of memory");
            sync_check_done(p);
        }
    }
}

int peers_pump_ready(const struct peers *ps)
{
    for (size_t i = 0; i < ps->n; i++) {
        const struct peer *p = ps->v[i];
        if (p->link != NULL && p->sync_on && sync_has_queue(&p->sync) &&
            conn_pending(p->link) < PEERS_CATCHUP_ROOM)
            return 1;
    }
    return 0;
}

void peers_stop(struct peers *ps)
{
    ps->stopping = 1;
}

/* One of the things peers_close waits for is over (a handle closed, a
 * resolution ended): after the last, what peers_init made goes. */
static void closed_one(struct peers *ps)
{
    assert(ps->closing > 0);
    if (--ps->closing > 0)
        return;
    for (size_t i = 0; i < ps->n; i++)
        free(ps->v[i]);
    free(ps->v);
    ps->v = NULL;
    ps->n = 0;
    tls_ctx_free(ps->tls);
    ps->tls = NULL;
}

static void on_handle_closed(uv_handle_t *h)
{
    closed_one(h->data);
}

void peers_close(struct peers *ps)
{
    if (ps->v == NULL)
        return; /* peers_init did not succeed */
    ps->stopping = 1;
    ps->closing = 1 + ps->n; /* the timers */
    uv_timer_stop(&ps->heartbeat);
    uv_close((uv_handle_t *)&ps->heartbeat, on_handle_closed);
    for (size_t i = 0; i < ps->n; i++) {
        struct peer *p = ps->v[i];
        sync_end(p, "server stopping");
        if (p->resolving) {
            ps->closing++; /* its callback comes, cancelled or not */
            uv_cancel((uv_req_t *)&p->gai);
        }
        uv_timer_stop(&p->timer);
        p->timer.data = ps;
        uv_close((uv_handle_t *)&p->timer, on_handle_closed);
        relay_out_free(&p->out);
        if (p->link)
            conn_close(p->link, "server stopping");
        if (p->pending)
            conn_close(p->pending, "server stopping");
    }
}
