#include "server.h"

#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bytes.h"
#include "commands.h"
#include "exit_codes.h"
#include "fileio.h"
#include "handshake.h"
#include "log.h"
#include "netaddr.h"
#include "notify.h"
#include "random.h"
#include "reload.h"
#include "uvsignal.h"

int server_offer(struct server *srv, struct record *rec, struct peer *from,
                 const struct record **cur)
{
    return server_offer_hashed(srv, rec,
                               store_key_hash(&srv->store,
                                              rec->line + rec->client_off,
                                              rec->client_len),
                               from, cur);
}

/* The store's bounds (max_records, max_store_mb; store.h).
 *
 * A record refused because the store is full (STORE_EFULL) changes
 * nothing: it is not stored, not written to the write-ahead log, not
 * flooded. A client's IAMAT refused so is answered "? line", as invalid
 * input, and never acknowledged (commands.c), so no acknowledged record
 * is lost; a neighbour's record is dropped. Either way the log says so in
 * one line a second at most: which bound, the client id of the record
 * that drew the line, where it came from, and how many were refused since
 * the previous line. One server per process: the state is the file's. */
static struct {
    uint64_t logged_ms;  /* uv_now() of the last line */
    int logged;          /* a line was written */
    unsigned long since; /* refused since that line, not logged */
    unsigned long total;
} store_full_log;

static void log_store_full(struct server *srv, const struct record *rec,
                           const struct peer *from)
{
    store_full_log.total++;
    uint64_t now = uv_now(&srv->loop);
    if (store_full_log.logged && now - store_full_log.logged_ms < 1000) {
        store_full_log.since++;
        return;
    }
    const struct store *st = &srv->store;
    char client[96];
    log_escape(client, sizeof client, rec->line + rec->client_off,
               rec->client_len);
    log_msg("store full: %s (%zu clients, %llu bytes; max_records %llu, "
            "max_store_mb %llu): refused the record of client %s from %s%s; "
            "%lu more refused since the last such line, %lu in all",
            st->full_why == STORE_BOUND_RECORDS ? "max_records reached"
                                                : "max_store_mb reached",
            st->count, (unsigned long long)st->mem,
            (unsigned long long)srv->opt->max_records,
            (unsigned long long)srv->opt->max_store_mb, client,
            from != NULL ? "link " : "a client",
            from != NULL ? peers_name(from) : "", store_full_log.since,
            store_full_log.total);
    store_full_log.logged = 1;
    store_full_log.logged_ms = now;
    store_full_log.since = 0;
}

int server_offer_hashed(struct server *srv, struct record *rec, uint64_t h,
                        struct peer *from, const struct record **cur)
{
    int rc = store_apply_hashed(&srv->store, rec, h, cur);
    if (rc == STORE_CHANGED) {
        srv->stats.records_applied++;
        /* Logged before anything about it leaves (flushed first in
         * on_flush / before_write). */
        if (srv->has_wal && wal_append(&srv->wal, rec) != 0)
            log_msg("write-ahead log: out of memory; a record is not "
                    "durable");
        peers_flood(&srv->peers, rec, from);
    } else {
        srv->stats.records_stale += rc == STORE_STALE;
        srv->stats.peer_stale += rc == STORE_STALE && from != NULL;
        if (rc == STORE_EFULL)
            log_store_full(srv, rec, from);
        free(rec);
    }
    return rc;
}

/* What the peer links ask of the server. */
static int on_peer_record(void *arg, struct record *r, uint64_t h,
                          struct peer *from)
{
    const struct record *cur;
    return server_offer_hashed(arg, r, h, from, &cur);
}

static void on_peer_reserve(void *arg, size_t n)
{
    struct server *srv = arg;
    store_reserve(&srv->store, n);
}

static const struct peers_ops peer_ops = {on_peer_record, on_peer_reserve};

void server_peers_config(struct server *srv, struct peers_config *cfg)
{
    const struct server_options *opt = srv->opt;
    const struct peers_config c = {
        .loop = &srv->loop,
        .pool = &srv->pool,
        .store = &srv->store,
        .name = opt->name,
        .epoch = srv->epoch,
        .max_peers = opt->npeers,
        .secret = opt->secret,
        .secret_len = opt->secret_len,
        .tls_cert = opt->tls_cert,
        .tls_key = opt->tls_key,
        .tls_ca = opt->tls_ca,
        .link_ping_ms = opt->link_ping_ms,
        .link_timeout_ms = opt->link_timeout_ms,
        .max_handshakes = opt->max_handshakes,
        .max_client_id = opt->max_client_id,
        .max_future_s = opt->max_future_s,
    };
    *cfg = c;
}

/* The peer links with this server's neighbours. Returns 0, or a herd_exit
 * code with a message on stderr. */
static int start_peers(struct server *srv)
{
    const struct server_options *opt = srv->opt;
    struct peers_config cfg;
    server_peers_config(srv, &cfg);
    int rc = peers_init(&srv->peers, &cfg, &peer_ops, srv);
    for (size_t i = 0; rc == 0 && i < opt->npeers; i++)
        peers_add(&srv->peers, opt->peers[i].name, &opt->peers[i].addr);
    return rc;
}

static void on_client_close(struct conn *c, const char *reason)
{
    log_msg("conn %lu closed: %s", c->id, reason);
}

/* Open client connections per source address (max_clients_per_addr > 0):
 * open addressing keyed by the address's 16 bytes (IPv4 as IPv4-mapped
 * IPv6), kept under half full, entries removed by backward shift. A
 * connection is counted once started, under the address conn_start()
 * wrote in c->addr (the same text at close, whatever the socket's state
 * then), and uncounted by on_counted_client_close. One server per
 * process: the table is the file's. */
struct addr_count {
    uint64_t h;
    unsigned char a[16];
    uint32_t n; /* open connections; 0: the slot is empty */
};

static struct {
    struct addr_count *v;
    size_t cap; /* power of two, or 0 */
    size_t used;
    uint64_t k0, k1;
    unsigned long refused;
} client_addrs;

/* The address of "host:port" or "[host]:port". Returns 0 or -1. */
static int addr_key(const char *text, unsigned char key[16])
{
    const char *end;
    if (text[0] == '[') {
        text++;
        end = strchr(text, ']');
    } else {
        end = strrchr(text, ':');
    }
    char host[64];
    if (end == NULL || (size_t)(end - text) >= sizeof host)
        return -1;
    memcpy(host, text, (size_t)(end - text));
    host[end - text] = '\0';
    if (uv_inet_pton(AF_INET6, host, key) == 0)
        return 0;
    unsigned char v4[4];
    if (uv_inet_pton(AF_INET, host, v4) != 0)
        return -1;
    memset(key, 0, 10);
    key[10] = key[11] = 0xff;
    memcpy(key + 12, v4, 4);
    return 0;
}

/* The slot of key (hash h), or the empty one where it would go. */
static size_t addr_find(uint64_t h, const unsigned char key[16])
{
    size_t mask = client_addrs.cap - 1;
    size_t i = (size_t)h & mask;
    while (
        client_addrs.v[i].n != 0 &&
        (client_addrs.v[i].h != h || memcmp(client_addrs.v[i].a, key, 16) != 0))
        i = (i + 1) & mask;
    return i;
}

static int addr_grow(void)
{
    size_t cap = client_addrs.cap ? client_addrs.cap * 2 : 64;
    struct addr_count *v = calloc(cap, sizeof *v);
    if (v == NULL)
        return -1;
    for (size_t i = 0; i < client_addrs.cap; i++) {
        const struct addr_count *e = &client_addrs.v[i];
        if (e->n == 0)
            continue;
        size_t j = (size_t)e->h & (cap - 1);
        while (v[j].n != 0)
            j = (j + 1) & (cap - 1);
        v[j] = *e;
    }
    free(client_addrs.v);
    client_addrs.v = v;
    client_addrs.cap = cap;
    return 0;
}

static void on_counted_client_close(struct conn *c, const char *reason)
{
    on_client_close(c, reason);
    unsigned char key[16];
    if (addr_key(c->addr, key) != 0 || client_addrs.cap == 0)
        return; /* cannot happen: it was counted under this text */
    uint64_t h = store_siphash(client_addrs.k0, client_addrs.k1, key, 16);
    size_t i = addr_find(h, key);
    if (client_addrs.v[i].n == 0 || --client_addrs.v[i].n > 0)
        return;
    /* The last one from there: shift back the entries after it that
     * probed past its slot. */
    size_t mask = client_addrs.cap - 1;
    for (size_t j = (i + 1) & mask; client_addrs.v[j].n != 0;
         j = (j + 1) & mask) {
        size_t home = (size_t)client_addrs.v[j].h & mask;
        /* j stays where it is if its home lies in (i, j], cyclically. */
        if (((j - home) & mask) < ((j - i) & mask))
            continue;
        client_addrs.v[i] = client_addrs.v[j];
        client_addrs.v[j].n = 0;
        i = j;
    }
    client_addrs.v[i].n = 0;
    client_addrs.used--;
}

/* Counts the started client connection c under its address; at the
 * limit, closes it instead (at once, as over max_clients), unless
 * existing (a connection open before the limit was set: counted only).
 * Returns 0 when c stays open. */
static int count_client_addr(struct server *srv, struct conn *c, int existing)
{
    unsigned char key[16];
    if (addr_key(c->addr, key) != 0)
        return 0; /* no address known: not counted */
    if (client_addrs.used + 1 > client_addrs.cap / 2 && addr_grow() != 0) {
        if (existing)
            return 0; /* left uncounted */
        conn_close(c, "out of memory");
        return -1;
    }
    uint64_t h = store_siphash(client_addrs.k0, client_addrs.k1, key, 16);
    struct addr_count *e = &client_addrs.v[addr_find(h, key)];
    uint64_t limit = srv->opt->max_clients_per_addr;
    if (e->n >= limit && !existing) {
        srv->stats.refused++;
        if (client_addrs.refused++ % 1000 == 0)
            log_msg("client limit of %llu per address reached (%s): closing "
                    "its new connections (%lu so far, all addresses)",
                    (unsigned long long)limit, c->addr, client_addrs.refused);
        c->on_close = NULL;
        conn_close(c, "client limit per address");
        return -1;
    }
    if (e->n == 0) {
        e->h = h;
        memcpy(e->a, key, 16);
        client_addrs.used++;
    }
    e->n++;
    c->on_close = on_counted_client_close;
    return 0;
}

static void on_client_connection(uv_stream_t *listener, int status)
{
    struct server *srv = listener->data;
    if (status < 0) {
        log_msg("accept failed: %s", uv_strerror(status));
        return;
    }
    struct conn *c = conn_new(&srv->pool, CONN_CLIENT);
    if (c == NULL) {
        log_msg("accept: out of memory");
        return;
    }
    /* Over the limit: take the connection off the queue and close it, so
     * it neither waits nor costs more. */
    int over = srv->pool.clients > srv->opt->max_clients;
    c->data = srv;
    c->on_line = commands_client_line;
    c->on_close = on_client_close;
    int rc = uv_accept(listener, (uv_stream_t *)&c->tcp);
    srv->stats.connections += rc == 0;
    if (rc == 0 && over) {
        if (srv->limit_refused++ % 1000 == 0)
            log_msg("client limit of %llu reached: closing new connections "
                    "(%lu so far)",
                    (unsigned long long)srv->opt->max_clients,
                    srv->limit_refused);
        srv->stats.refused++;
        c->on_close = NULL;
        conn_close(c, "client limit");
        return;
    }
    if (rc == 0)
        rc = conn_start(c);
    if (rc != 0) {
        conn_close(c, uv_strerror(rc));
        return;
    }
    if (srv->opt->max_clients_per_addr > 0 && count_client_addr(srv, c, 0) != 0)
        return;
    log_msg("conn %lu open from %s", c->id, c->addr);
}

static void on_peer_connection(uv_stream_t *listener, int status)
{
    struct server *srv = listener->data;
    if (status < 0) {
        log_msg("peer accept failed: %s", uv_strerror(status));
        return;
    }
    struct conn *c = conn_new(&srv->pool, CONN_PEER_IN);
    if (c == NULL) {
        log_msg("peer accept: out of memory");
        return;
    }
    int rc = peers_accept(&srv->peers, c) == 0 ? 0 : UV_ENOMEM;
    if (rc == 0)
        rc = uv_accept(listener, (uv_stream_t *)&c->tcp);
    if (rc == 0)
        rc = conn_start(c);
    if (rc != 0)
        conn_close(c, uv_strerror(rc));
}

static uint64_t live_bytes(const struct server *srv)
{
    return srv->store.bytes + wal_frame_size(0) * srv->store.count;
}

/* The group commit: one write (and one fsync under --fsync batch) for every
 * record the iteration accepted, before any reply or flood about them. */
static void flush_wal(void *arg)
{
    struct server *srv = arg;
    if (!srv->has_wal)
        return;
    int was_broken = srv->wal.broken;
    if (wal_flush(&srv->wal) != 0 && !was_broken)
        log_msg("write-ahead log %s: write failed: %s; records are no "
                "longer durable",
                srv->wal.path, strerror(srv->wal.sys_errno));
    if (wal_should_compact(&srv->wal, live_bytes(srv))) {
        uint64_t before = srv->wal.size;
        int rc = wal_compact(&srv->wal, &srv->store);
        if (rc != 0)
            log_msg("write-ahead log: compaction failed: %s",
                    strerror(srv->wal.sys_errno));
        else
            log_msg("write-ahead log compacted: %llu -> %llu bytes, %zu "
                    "records",
                    (unsigned long long)before,
                    (unsigned long long)srv->wal.size, srv->store.count);
    }
}

/* Runs once per loop iteration, before the loop sleeps: everything the
 * iteration produced goes out in as few writes as possible, the log of
 * records first. */
static void on_spin(uv_idle_t *h)
{
    (void)h; /* only keeps the loop from sleeping */
}

/* How long the loop worked since the last call: the time between two
 * flushes less what it slept in between. */
static uint64_t turn_ns(struct server *srv)
{
    uint64_t now = uv_hrtime();
    uint64_t idle = uv_metrics_idle_time(&srv->loop);
    uint64_t busy = now - srv->turn_mark_ns;
    uint64_t slept = idle - srv->turn_mark_idle;
    srv->turn_mark_ns = now;
    srv->turn_mark_idle = idle;
    return busy > slept ? busy - slept : 0;
}

static void on_flush(uv_prepare_t *h)
{
    struct server *srv = h->data;
    peers_pump(&srv->peers, turn_ns(srv));
    flush_wal(srv);
    conn_pool_flush(&srv->pool);
    log_flush();
    if (peers_pump_ready(&srv->peers) && !srv->stopping)
        uv_idle_start(&srv->spin, on_spin);
    else
        uv_idle_stop(&srv->spin);
}

static int replay_line(void *arg, const char *line, size_t len)
{
    struct server *srv = arg;
    struct proto_command cmd;
    if (proto_parse(line, len, &cmd) != 0 || cmd.kind != PROTO_AT)
        return -1;
    struct record *r = record_new(cmd.server, cmd.diff, &cmd);
    if (r == NULL)
        return -1;
    const struct record *cur;
    if (store_apply(&srv->store, r, &cur) != STORE_CHANGED)
        free(r);
    return 0;
}

/* Opens the data directory, replays the log, compacts it. Returns 0 or an
 * exit code with a message on stderr. */
static int open_wal(struct server *srv)
{
    const struct server_options *opt = srv->opt;
    if (opt->data_dir == NULL) {
        log_msg("no data directory: records live in memory only");
        return 0;
    }
    long holder = 0;
    int rc = wal_open(&srv->wal, opt->data_dir, opt->fsync_batch, &holder);
    if (rc == WAL_ELOCKED) {
        fprintf(stderr,
                "herd-server: data directory %s is in use by another "
                "server (pid %ld)\n",
                opt->data_dir, holder);
        return HERD_EXIT_CONFIG;
    }
    if (rc != 0) {
        fprintf(stderr, "herd-server: data directory %s: %s\n", opt->data_dir,
                rc == WAL_EIO ? strerror(srv->wal.sys_errno)
                              : wal_strerror(rc));
        return HERD_EXIT_CONFIG;
    }
    srv->has_wal = 1;
    uint64_t t0 = uv_hrtime();
    struct wal_replay_stats st;
    rc = wal_replay(&srv->wal, replay_line, srv, &st);
    if (rc != 0) {
        fprintf(stderr, "herd-server: cannot read %s: %s\n", srv->wal.path,
                strerror(srv->wal.sys_errno));
        return HERD_EXIT_CONFIG;
    }
    if (st.torn_bytes > 0)
        log_msg("write-ahead log %s: cut %llu bytes of a torn or damaged "
                "tail (a crash during a write)",
                srv->wal.path, (unsigned long long)st.torn_bytes);
    if (st.invalid > 0)
        log_msg("write-ahead log %s: skipped %lu invalid records",
                srv->wal.path, st.invalid);
    uint64_t before = srv->wal.size;
    if (srv->wal.size > live_bytes(srv) && wal_compact(&srv->wal, &srv->store))
        log_msg("write-ahead log: compaction failed: %s",
                strerror(srv->wal.sys_errno));
    log_msg("replayed %lu records (%zu clients) from %s in %.1f ms; log "
            "%llu -> %llu bytes, fsync %s",
            st.records, srv->store.count, srv->wal.path,
            (double)(uv_hrtime() - t0) / 1e6, (unsigned long long)before,
            (unsigned long long)srv->wal.size,
            opt->fsync_batch ? "batch" : "never");
    return 0;
}

/* The store's bounds hold from here on: set after the write-ahead log was
 * replayed, which keeps every record it holds even over (lowered) bounds.
 */
static void store_bounds(struct server *srv)
{
    const struct server_options *opt = srv->opt;
    store_set_bounds(
        &srv->store,
        opt->max_records > SIZE_MAX ? SIZE_MAX : (size_t)opt->max_records,
        opt->max_store_mb > UINT64_MAX >> 20 ? UINT64_MAX
                                             : opt->max_store_mb << 20);
}

static void set_store_bounds(struct server *srv)
{
    const struct server_options *opt = srv->opt;
    struct store *st = &srv->store;
    store_bounds(srv);
    if (store_over_bounds(st))
        log_msg("store over its bound after replay: %zu clients "
                "(max_records %llu), %llu bytes (max_store_mb %llu); every "
                "record is kept, records of new clients are refused until "
                "it is under again",
                st->count, (unsigned long long)opt->max_records,
                (unsigned long long)st->mem,
                (unsigned long long)opt->max_store_mb);
}

static void stop(struct server *srv, const char *why)
{
    if (srv->stopping)
        return;
    srv->stopping = 1;
    (void)notify_stopping(why);
    peers_stop(&srv->peers);
    srv->pool.peer_hold_ns = 0; /* nothing is held back from here on */
    const struct places_stats *ps = &srv->places.stats;
    log_msg("stopping (%s): %lu records held, %lu applied, %lu stale, "
            "%lu flooded, %lu withheld; places: %lu searches, %lu cache "
            "hits, %lu joined, %lu HTTP requests",
            why, (unsigned long)srv->store.count, srv->stats.records_applied,
            srv->stats.records_stale + srv->peers.stats.stale,
            srv->peers.stats.flood_sent, srv->peers.stats.flood_withheld,
            ps->searches, ps->cache_hits, ps->joined, ps->requests);
    /* What is already queued still gets one chance to leave. */
    conn_pool_flush(&srv->pool);
    uv_close((uv_handle_t *)&srv->client_listener, NULL);
    uv_close((uv_handle_t *)&srv->peer_listener, NULL);
    ctl_close(srv);
    places_close(&srv->places);
    peers_close(&srv->peers);
    conn_pool_close_all(&srv->pool, "server stopping");
    conn_pool_flush(&srv->pool);
    uv_close((uv_handle_t *)&srv->flush, NULL);
    uv_close((uv_handle_t *)&srv->spin, NULL);
    uv_close((uv_handle_t *)&srv->sigterm, NULL);
    uv_close((uv_handle_t *)&srv->sigint, NULL);
    uvsignal_close_ignoring(&srv->sighup, SIGHUP);
    uv_close((uv_handle_t *)&srv->sweep, NULL);
    if (srv->has_lifeline)
        uv_close((uv_handle_t *)&srv->lifeline, NULL);
}

/* Closes what has waited too long: idle clients, lines that never end
 * (slowloris), peer connections stuck in their handshake. */
static void on_sweep(uv_timer_t *t)
{
    struct server *srv = t->data;
    const struct server_options *opt = srv->opt;
    uint64_t now = uv_now(&srv->loop);
    struct conn *next;
    for (struct conn *c = srv->pool.all; c != NULL; c = next) {
        next = c->next;
        char why[96];
        why[0] = '\0';
        if (c->kind == CONN_CLIENT) {
            if (c->partial_since_ms != 0 &&
                now - c->partial_since_ms > opt->line_timeout_ms)
                snprintf(why, sizeof why, "line not completed within %llu ms",
                         (unsigned long long)opt->line_timeout_ms);
            else if (c->holds == 0 && conn_pending(c) == 0 &&
                     now - c->last_read_ms > opt->idle_timeout_ms)
                snprintf(why, sizeof why, "idle for %llu ms",
                         (unsigned long long)opt->idle_timeout_ms);
            else if (conn_pending(c) > 0 &&
                     now - c->last_write_ms > opt->idle_timeout_ms &&
                     now - c->last_read_ms > opt->idle_timeout_ms)
                snprintf(why, sizeof why, "reader took no output for %llu ms",
                         (unsigned long long)opt->idle_timeout_ms);
        } else if (peers_in_handshake(c) &&
                   now - c->opened_ms > PEERS_HANDSHAKE_TIMEOUT_MS) {
            snprintf(why, sizeof why, "no handshake within %d ms",
                     PEERS_HANDSHAKE_TIMEOUT_MS);
        }
        if (why[0] != '\0') {
            if (c->kind != CONN_CLIENT)
                log_msg("peer connection %s: %s", c->addr, why);
            conn_close(c, why);
        }
    }
}

static void on_signal(uv_signal_t *h, int signum)
{
    stop(h->data, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* SIGHUP: the configuration is read again (reload.h), and the outcome
 * logged. */
static void on_sighup(uv_signal_t *h, int signum)
{
    (void)signum;
    struct server *srv = h->data;
    if (!srv->stopping)
        free(reload_run(srv, "SIGHUP"));
}

static void on_lifeline_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char sink[64];
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(sink, sizeof sink);
}

/* The supervisor holds the other end and never writes: EOF means it is
 * gone, and a server must not outlive its supervisor. */
static void on_lifeline_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    if (nread < 0)
        stop(s->data, "supervisor gone");
}

static int watch_lifeline(struct server *srv, int fd)
{
    int rc = uv_pipe_init(&srv->loop, &srv->lifeline, 0);
    if (rc != 0)
        return rc;
    srv->has_lifeline = 1;
    srv->lifeline.data = srv;
    rc = uv_pipe_open(&srv->lifeline, fd);
    if (rc == 0)
        rc = uv_read_start((uv_stream_t *)&srv->lifeline, on_lifeline_alloc,
                           on_lifeline_read);
    return rc;
}

static int listen_on(struct server *srv, uv_tcp_t *t,
                     const struct config_addr *a, uv_connection_cb cb,
                     const char *what)
{
    struct sockaddr_storage ss;
    int rc = netaddr_literal(a, &ss);
    if (rc != 0 && strcmp(a->host, "localhost") == 0)
        rc = uv_ip4_addr("127.0.0.1", a->port, (struct sockaddr_in *)&ss);
    if (rc != 0) {
        /* A host name (this machine's, in a herd.conf shared by several):
         * resolved once, before the loop runs. */
        struct addrinfo hints;
        struct addrinfo *res = NULL;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_PASSIVE;
        char port[8];
        snprintf(port, sizeof port, "%u", a->port);
        int gai = getaddrinfo(a->host, port, &hints, &res);
        if (gai != 0 || res == NULL || res->ai_addrlen > sizeof ss) {
            fprintf(stderr,
                    "herd-server: %s address %s:%u: cannot resolve: %s\n", what,
                    a->host, a->port,
                    gai != 0 ? gai_strerror(gai) : "no address");
            if (res != NULL)
                freeaddrinfo(res);
            return HERD_EXIT_CONFIG;
        }
        memcpy(&ss, res->ai_addr, res->ai_addrlen);
        freeaddrinfo(res);
    }
    t->data = srv;
    rc = uv_tcp_bind(t, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)t, 511, cb);
    if (rc != 0) {
        fprintf(stderr, "herd-server: cannot listen on %s address %s:%u: %s\n",
                what, a->host, a->port, uv_strerror(rc));
        return HERD_EXIT_CONFIG;
    }
    return 0;
}

static uint64_t random64(void)
{
    uint64_t v = 0;
    if (random_bytes(&v, sizeof v) != 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        v = ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)ts.tv_nsec ^
            ((uint64_t)getpid() << 48);
    }
    return v;
}

static void signal_ready(int fd)
{
    if (fd < 0)
        return;
    (void)fileio_write_all(fd, "\n", 1); /* a supervisor gone: no matter */
    close(fd);
}

/* The log's rotation size (log_max_mb; 0: never). */
static void log_bound(const struct server_options *opt)
{
    log_set_max_bytes(
        opt->log_max_mb > (UINT64_MAX >> 20) ? 0 : opt->log_max_mb << 20);
}

/* The places options of opt. */
static struct places_options places_options_of(const struct server_options *opt)
{
    struct places_options po = {opt->places,
                                opt->places_url,
                                opt->places_key,
                                opt->places_index,
                                opt->places_timeout_ms,
                                opt->places_cache_ttl_ms,
                                opt->places_cache_size,
                                (unsigned)opt->places_max_inflight};
    return po;
}

/* Every client is a descriptor: raise the soft limit so max_clients fits
 * (beside the listeners, links, log, write-ahead log and HTTP requests),
 * as far as the hard limit allows, and say so when it does not. */
static void raise_fd_limit(const struct server_options *opt, size_t npeers)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = (rlim_t)(opt->max_clients + opt->max_handshakes + npeers * 2 +
                           opt->places_max_inflight + 64);
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        rlim_t old = rl.rlim_cur;
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want
                          ? want
                          : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            rl.rlim_cur = old;
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want)
        log_msg("warning: max_clients %llu needs about %llu file "
                "descriptors, but the limit is %llu: connections past it "
                "are refused (raise ulimit -n)",
                (unsigned long long)opt->max_clients, (unsigned long long)want,
                (unsigned long long)rl.rlim_cur);
}

/* The places client, from opt's places settings: HERD_EXIT_OK (then
 * *places_ok is 1), or the exit code for why it cannot be had, said on
 * stderr. */
static int start_places(struct server *srv, int *places_ok)
{
    const struct server_options *opt = srv->opt;
    struct places_options po = places_options_of(opt);
    int rc = places_init(&srv->places, &srv->loop, &po);
    if (rc == PLACES_EPROVIDER) {
        fprintf(stderr,
                "herd-server: unknown places provider '%s' (known: %s)\n",
                opt->places, places_provider_names());
        return HERD_EXIT_CONFIG;
    }
    if (rc == PLACES_ENOKEY) {
        fprintf(stderr,
                "herd-server: places provider '%s' needs an API key: set "
                "HERD_PLACES_KEY (or use 'places offline')\n",
                opt->places);
        return HERD_EXIT_CONFIG;
    }
    if (rc == PLACES_EINDEX) {
        fprintf(stderr,
                "herd-server: cannot use the offline places index %s: %s "
                "(rebuild it, or set places_index / --places-index)\n",
                opt->places_index ? opt->places_index : "(none)",
                "missing, unreadable or damaged");
        return HERD_EXIT_CONFIG;
    }
    if (rc != 0) {
        fprintf(stderr, "herd-server: cannot set up places: out of memory\n");
        return HERD_EXIT_OSERR;
    }
    *places_ok = 1;
    return HERD_EXIT_OK;
}

/* What serving needs once the links are set up, in this order: the
 * write-ahead log, the store's bounds, the operator's cuts, the client
 * and peer listeners, the lifeline and the control socket. The first
 * failure's exit code (said on stderr), or HERD_EXIT_OK. */
static int open_all(struct server *srv)
{
    const struct server_options *opt = srv->opt;
    int rc = open_wal(srv);
    if (rc != 0)
        return rc;
    set_store_bounds(srv);
    /* Cuts the operator made before a restart hold from the start: before
     * any link is accepted or dialled. */
    rc = ctl_load_cuts(srv);
    if (rc != 0)
        return rc;
    rc = listen_on(srv, &srv->client_listener, &opt->listen,
                   on_client_connection, "client");
    if (rc != 0)
        return rc;
    rc = listen_on(srv, &srv->peer_listener, &opt->peer_listen,
                   on_peer_connection, "peer");
    if (rc != 0)
        return rc;
    if (opt->lifeline_fd >= 0 && watch_lifeline(srv, opt->lifeline_fd) != 0) {
        fprintf(stderr, "herd-server: --lifeline-fd %d is not usable\n",
                opt->lifeline_fd);
        return HERD_EXIT_USAGE;
    }
    return ctl_start(srv, opt->control_path);
}

/* The sweep of timed-out connections: every quarter of the shorter of
 * line_timeout and idle_timeout, between 1 ms and 1 s. */
static void start_sweep(struct server *srv)
{
    const struct server_options *opt = srv->opt;
    uint64_t tick = opt->line_timeout_ms < opt->idle_timeout_ms
                        ? opt->line_timeout_ms
                        : opt->idle_timeout_ms;
    tick = tick / 4 < 1000 ? (tick / 4 ? tick / 4 : 1) : 1000;
    /* On the wall clock's whole ticks, where the links' heartbeats
     * fall too (peers.c): one wake-up for both on an idle server. */
    struct timespec ts;
    uint64_t first = tick;
    if (clock_gettime(CLOCK_REALTIME, &ts) == 0)
        first = tick -
                ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000) %
                    tick;
    uv_timer_start(&srv->sweep, on_sweep, first, tick);
}

/* Client connections open when max_clients_per_addr became a bound
 * (from 0): counted now, never closed for it, so that new ones from their
 * addresses meet the bound. */
static void count_open_clients(struct server *srv)
{
    struct conn *next;
    for (struct conn *c = srv->pool.all; c != NULL; c = next) {
        next = c->next;
        if (c->kind == CONN_CLIENT && c->on_close == on_client_close)
            (void)count_client_addr(srv, c, 1);
    }
}

#define CHANGED(field) (was.field != opt->field)

void server_apply_settings(struct server *srv, const struct settings *next)
{
    struct server_options *opt = srv->opt;
    const struct settings was = opt->settings;
    struct settings nx = *next;
    for (size_t i = 0; i < SETTINGS_COUNT; i++) {
        const struct setting *st = &settings_table[i];
        if (!st->live || st->where != SETTINGS_BOTH)
            continue;
        if (st->type == SETTINGS_NUMBER)
            *settings_number(&opt->settings, st) = *settings_number(&nx, st);
        opt->origin[i] = next->origin[i];
    }
    /* The one LIVE string: pointed at a constant, not at the file read. */
    int batch = next->fsync != NULL && strcmp(next->fsync, "batch") == 0;
    opt->fsync = batch ? "batch" : "never";
    if (batch != opt->fsync_batch) {
        flush_wal(srv); /* the group so far, under the mode it met */
        opt->fsync_batch = batch;
        srv->wal.fsync_batch = batch;
    }
    conn_pool_set_limits(&srv->pool, opt->max_line, opt->max_output,
                         (unsigned)opt->max_pending);
    if (!srv->stopping)
        srv->pool.peer_hold_ns = opt->peer_batch_us * 1000;
    if (CHANGED(idle_timeout_ms) || CHANGED(line_timeout_ms))
        start_sweep(srv);
    store_bounds(srv);
    if ((CHANGED(max_records) || CHANGED(max_store_mb)) &&
        store_over_bounds(&srv->store))
        log_msg("store over its new bound: %zu clients (max_records %llu), "
                "%llu bytes (max_store_mb %llu); every record is kept, "
                "records of new clients are refused until it is under again",
                srv->store.count, (unsigned long long)opt->max_records,
                (unsigned long long)srv->store.mem,
                (unsigned long long)opt->max_store_mb);
    log_bound(opt);
    struct places_options po = places_options_of(opt);
    places_set_limits(&srv->places, &po);
    if (was.max_clients_per_addr == 0 && opt->max_clients_per_addr > 0)
        count_open_clients(srv);
    struct peers_config pc;
    server_peers_config(srv, &pc);
    peers_set_limits(&srv->peers, &pc);
    if (CHANGED(max_clients) || CHANGED(max_handshakes) ||
        CHANGED(places_max_inflight))
        raise_fd_limit(opt, peers_count(&srv->peers));
}

#undef CHANGED

/* Everything set up: starts the flush, the signals and the sweep, says
 * so, starts the links and runs the loop until the server stops. */
static void serve(struct server *srv)
{
    const struct server_options *opt = srv->opt;
    uv_prepare_start(&srv->flush, on_flush);
    uv_signal_start(&srv->sigterm, on_signal, SIGTERM);
    uv_signal_start(&srv->sigint, on_signal, SIGINT);
    uv_signal_start(&srv->sighup, on_sighup, SIGHUP);
    start_sweep(srv);
    size_t npeers = peers_count(&srv->peers);
    const char *tls_mode = peers_tls_mode(&srv->peers);
    log_msg("%s listening: clients on %s:%u, neighbours on %s:%u, "
            "%zu neighbour%s, places %s",
            opt->name, opt->listen.host, opt->listen.port,
            opt->peer_listen.host, opt->peer_listen.port, npeers,
            npeers == 1 ? "" : "s", srv->places.provider ? opt->places : "?");
    if (tls_mode == NULL && npeers > 0)
        log_msg("warning: no herd secret (--secret-file): peer links are "
                "not authenticated; anyone who reaches the peer port can "
                "send records");
    else if (tls_mode != NULL)
        log_msg("peer links: TLS 1.3, authenticated by %s", tls_mode);
    peers_start(&srv->peers);
    log_flush();
    srv->turn_mark_ns = uv_hrtime();
    srv->turn_mark_idle = uv_metrics_idle_time(&srv->loop);
    signal_ready(opt->ready_fd);
    char status[2 * CONFIG_HOST_MAX + 96];
    snprintf(status, sizeof status,
             "listening: clients on %s:%u, neighbours on %s:%u",
             opt->listen.host, opt->listen.port, opt->peer_listen.host,
             opt->peer_listen.port);
    (void)notify_ready(status); /* no service manager: nothing to say */
    uv_run(&srv->loop, UV_RUN_DEFAULT);
}

/* Could not start: tears down what was set up (places_ok: the places
 * client was). */
static void close_unstarted(struct server *srv, int places_ok)
{
    srv->stopping = 1;
    uv_close((uv_handle_t *)&srv->pool.hold_timer, NULL);
    uv_close((uv_handle_t *)&srv->client_listener, NULL);
    uv_close((uv_handle_t *)&srv->peer_listener, NULL);
    uv_close((uv_handle_t *)&srv->flush, NULL);
    uv_close((uv_handle_t *)&srv->spin, NULL);
    uv_close((uv_handle_t *)&srv->sigterm, NULL);
    uv_close((uv_handle_t *)&srv->sigint, NULL);
    uvsignal_close_ignoring(&srv->sighup, SIGHUP);
    uv_close((uv_handle_t *)&srv->sweep, NULL);
    if (srv->has_lifeline)
        uv_close((uv_handle_t *)&srv->lifeline, NULL);
    if (places_ok)
        places_close(&srv->places);
    peers_close(&srv->peers);
    uv_run(&srv->loop, UV_RUN_DEFAULT);
}

int server_run(const struct server_options *given)
{
    struct server srv;
    memset(&srv, 0, sizeof srv);
    struct server_options live = *given; /* a reload changes this copy */
    const struct server_options *opt = &live;
    srv.opt = &live;
    srv.started_ns = uv_hrtime();
    srv.reloads.loaded_ns = srv.started_ns;
    /* Rotated past log_max_mb (0, or unset: never). */
    log_bound(opt);
    int rc = log_open(opt->log_file);
    if (rc != 0) {
        fprintf(stderr, "herd-server: cannot open log file %s: %s\n",
                opt->log_file, uv_strerror(rc));
        return HERD_EXIT_CONFIG;
    }
    if (uv_loop_init(&srv.loop) != 0) {
        fprintf(stderr, "herd-server: cannot create the event loop\n");
        log_close();
        return HERD_EXIT_OSERR;
    }
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit(opt, opt->npeers);
    srv.epoch = random64();
    store_init(&srv.store, random64(), random64());
    client_addrs.k0 = random64();
    client_addrs.k1 = random64();
    /* Client keys place clients in the tree that neighbours compare:
     * keyed by the herd secret, the same on every server, unknown to
     * clients. */
    unsigned char ck[HANDSHAKE_PROOF];
    if (opt->secret_len > 0 &&
        handshake_derive(opt->secret, opt->secret_len,
                         HANDSHAKE_PROTO " client key", ck) == 0)
        store_set_client_key(&srv.store, bytes_le64(ck), bytes_le64(ck + 8));
    conn_pool_init(&srv.pool, &srv.loop, opt->max_line, opt->max_output,
                   (unsigned)opt->max_pending);
    srv.pool.before_write = flush_wal;
    srv.pool.before_write_arg = &srv;
    uv_tcp_init(&srv.loop, &srv.client_listener);
    uv_tcp_init(&srv.loop, &srv.peer_listener);
    uv_loop_configure(&srv.loop, UV_METRICS_IDLE_TIME);
    uv_prepare_init(&srv.loop, &srv.flush);
    srv.flush.data = &srv;
    uv_idle_init(&srv.loop, &srv.spin);
    uv_signal_init(&srv.loop, &srv.sigterm);
    uv_signal_init(&srv.loop, &srv.sigint);
    uv_signal_init(&srv.loop, &srv.sighup);
    srv.sigterm.data = srv.sigint.data = srv.sighup.data = &srv;
    uv_timer_init(&srv.loop, &srv.sweep);
    srv.sweep.data = &srv;
    srv.pool.peer_hold_ns = opt->peer_batch_us * 1000;

    int places_ok = 0;
    int exit_code = start_places(&srv, &places_ok);
    if (exit_code == 0)
        exit_code = start_peers(&srv);
    if (exit_code == 0)
        exit_code = open_all(&srv);
    if (exit_code == 0)
        serve(&srv);
    else
        close_unstarted(&srv, places_ok);
    if (srv.has_wal) {
        flush_wal(&srv);
        wal_close(&srv.wal);
    }
    store_close(&srv.store);
    free(client_addrs.v);
    memset(&client_addrs, 0, sizeof client_addrs);
    ctl_free(&srv);
    if (uv_loop_close(&srv.loop) != 0) {
        log_msg("internal error: handles left open at exit");
        exit_code = exit_code ? exit_code : HERD_EXIT_SOFTWARE;
    }
    if (exit_code == 0)
        log_msg("stopped");
    log_close();
    return exit_code;
}
