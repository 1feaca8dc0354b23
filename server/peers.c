#include "peers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "exit_codes.h"
#include "log.h"
#include "proto.h"
#include "server.h"
#include "store.h"
#include "strparse.h"

#define HELLO_PROTO "herd/1"

struct dial_req {
    uv_connect_t req;
    struct conn *c;
};

static int resolve(const struct config_addr *a, struct sockaddr_storage *out)
{
    memset(out, 0, sizeof *out);
    if (uv_ip4_addr(a->host, a->port, (struct sockaddr_in *)out) == 0)
        return 0;
    if (uv_ip6_addr(a->host, a->port, (struct sockaddr_in6 *)out) == 0)
        return 0;
    /* A host name: resolved once at start (a blocking lookup is fine
     * before the loop runs). */
    uv_getaddrinfo_t req;
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    char port[8];
    snprintf(port, sizeof port, "%u", a->port);
    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0)
        return UV_ENOMEM;
    int rc = uv_getaddrinfo(&loop, &req, NULL, a->host, port, &hints);
    if (rc == 0) {
        memcpy(out, req.addrinfo->ai_addr, req.addrinfo->ai_addrlen);
        uv_freeaddrinfo(req.addrinfo);
    }
    uv_loop_close(&loop);
    return rc;
}

int peers_init(struct server *srv)
{
    const struct server_options *opt = srv->opt;
    struct peers *ps = &srv->peers;
    ps->n = 0;
    ps->v = calloc(opt->npeers ? opt->npeers : 1, sizeof *ps->v);
    if (ps->v == NULL) {
        fprintf(stderr, "herd-server: out of memory\n");
        return HERD_EXIT_OSERR;
    }
    for (size_t i = 0; i < opt->npeers; i++) {
        struct peer *p = &ps->v[i];
        const struct server_peer_opt *po = &opt->peers[i];
        p->srv = srv;
        snprintf(p->name, sizeof p->name, "%s", po->name);
        snprintf(p->addr_text, sizeof p->addr_text, "%s:%u", po->addr.host,
                 po->addr.port);
        int rc = resolve(&po->addr, &p->addr);
        if (rc != 0) {
            fprintf(stderr, "herd-server: neighbour %s: cannot resolve %s: %s\n",
                    p->name, p->addr_text, uv_strerror(rc));
            return HERD_EXIT_CONFIG;
        }
        p->dialer = strcmp(opt->name, p->name) < 0;
        p->backoff_ms = PEERS_BACKOFF_FIRST_MS;
        uv_timer_init(&srv->loop, &p->timer);
        p->timer.data = p;
        ps->n++;
    }
    return 0;
}

size_t peers_up(const struct server *srv)
{
    size_t n = 0;
    for (size_t i = 0; i < srv->peers.n; i++)
        n += srv->peers.v[i].link != NULL;
    return n;
}

static struct peer *find_peer(struct server *srv, const char *name,
                              size_t len)
{
    for (size_t i = 0; i < srv->peers.n; i++) {
        struct peer *p = &srv->peers.v[i];
        if (strlen(p->name) == len && memcmp(p->name, name, len) == 0)
            return p;
    }
    return NULL;
}

/* HELLO herd/1 NAME EPOCH COUNT DIGEST: who we are, which start of ours
 * this is, and a summary of what we hold, so a link whose two ends already
 * agree sends nothing more. */
static void send_hello(struct server *srv, struct conn *c)
{
    char line[CONFIG_NAME_MAX + 128];
    int n = snprintf(line, sizeof line, "HELLO %s %s %llu %zu %016llx\n",
                     HELLO_PROTO, srv->opt->name,
                     (unsigned long long)srv->epoch, srv->store.count,
                     (unsigned long long)srv->store.digest);
    conn_write(c, line, (size_t)n);
}

struct hello {
    struct proto_slice name;
    uint64_t epoch;
    uint64_t count;
    uint64_t digest;
};

static void schedule_dial(struct peer *p);

static int send_record(void *arg, const struct record *r)
{
    struct conn *c = arg;
    conn_write(c, r->line, r->len);
    conn_write(c, "\n", 1);
    return c->closing;
}

static int on_peer_line(struct conn *c, const char *line, size_t len);

/* The handshake is done: the link carries records from now on. */
static void link_up(struct peer *p, struct conn *c, const struct hello *h)
{
    uint64_t epoch = h->epoch;
    struct server *srv = p->srv;
    if (p->link != NULL && p->link != c)
        conn_close(p->link, "replaced by a newer link");
    if (p->pending == c)
        p->pending = NULL;
    p->link = c;
    p->backoff_ms = PEERS_BACKOFF_FIRST_MS;
    p->down_logged = 0;
    int restarted = p->remote_epoch != 0 && p->remote_epoch != epoch;
    p->remote_epoch = epoch;
    c->on_line = on_peer_line;
    /* Catch-up: whatever either side missed while the link was down
     * crosses once; older copies stop at the receiver. Two ends whose
     * digests agree hold the same records and send nothing. */
    int same = h->count == srv->store.count && h->digest == srv->store.digest;
    log_msg("link %s up (%s, %s%s, %s)", p->name, c->addr,
            c->kind == CONN_PEER_OUT ? "dialled" : "accepted",
            restarted ? ", neighbour restarted" : "",
            same ? "in sync" : "sending every record");
    if (!same) {
        size_t before = conn_pending(c);
        store_foreach(&srv->store, send_record, c);
        log_msg("link %s: catch-up of %zu records, %zu bytes", p->name,
                srv->store.count, conn_pending(c) - before);
    }
}

static int parse_hex64(struct proto_slice f, uint64_t *out)
{
    if (f.len != 16)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < 16; i++) {
        char ch = f.p[i];
        unsigned d;
        if (ch >= '0' && ch <= '9')
            d = (unsigned)(ch - '0');
        else if (ch >= 'a' && ch <= 'f')
            d = (unsigned)(ch - 'a' + 10);
        else
            return -1;
        v = v << 4 | d;
    }
    *out = v;
    return 0;
}

/* HELLO herd/1 NAME EPOCH COUNT DIGEST */
static int parse_hello(const char *line, size_t len, struct hello *h)
{
    struct proto_slice f[7];
    size_t n = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && proto_is_space(line[i]))
            i++;
        if (i >= len)
            break;
        size_t s = i;
        while (i < len && !proto_is_space(line[i]))
            i++;
        if (n == 7)
            return -1;
        f[n].p = line + s;
        f[n].len = i - s;
        n++;
    }
    if (n != 6 || f[0].len != 5 || memcmp(f[0].p, "HELLO", 5) != 0 ||
        f[1].len != strlen(HELLO_PROTO) ||
        memcmp(f[1].p, HELLO_PROTO, f[1].len) != 0 ||
        !config_valid_name(f[2].p, f[2].len) ||
        strparse_uint(f[3].p, f[3].len, UINT64_MAX, &h->epoch) != 0 ||
        strparse_uint(f[4].p, f[4].len, UINT64_MAX, &h->count) != 0 ||
        parse_hex64(f[5], &h->digest) != 0)
        return -1;
    h->name = f[2];
    return 0;
}

static void log_refused(struct conn *c, const char *why, const char *line,
                        size_t len)
{
    char excerpt[160];
    log_escape(excerpt, sizeof excerpt, line, len);
    log_msg("peer connection %s refused: %s: %s", c->addr, why, excerpt);
}

/* First line on a connection accepted on the peer port. */
static int on_hello_in(struct conn *c, const char *line, size_t len)
{
    struct server *srv = c->data;
    struct hello h;
    if (parse_hello(line, len, &h) != 0) {
        log_refused(c, "not a herd handshake", line, len);
        conn_close(c, "bad handshake");
        return 1;
    }
    struct peer *p = find_peer(srv, h.name.p, h.name.len);
    if (p == NULL) {
        log_refused(c, "not a configured neighbour", line, len);
        conn_close(c, "unknown neighbour");
        return 1;
    }
    c->data = p;
    send_hello(srv, c);
    link_up(p, c, &h);
    return 0;
}

/* The neighbour's answer to our HELLO. */
static int on_hello_out(struct conn *c, const char *line, size_t len)
{
    struct peer *p = c->data;
    struct hello h;
    if (parse_hello(line, len, &h) != 0 || strlen(p->name) != h.name.len ||
        memcmp(p->name, h.name.p, h.name.len) != 0) {
        log_refused(c, "unexpected handshake answer", line, len);
        conn_close(c, "bad handshake");
        return 1;
    }
    link_up(p, c, &h);
    return 0;
}

static int on_peer_line(struct conn *c, const char *line, size_t len)
{
    struct peer *p = c->data;
    struct server *srv = p->srv;
    struct proto_command cmd;
    int rc = proto_parse(line, len, &cmd);
    if (rc == PROTO_EBLANK)
        return 0;
    p->received++;
    if (rc != 0 || cmd.kind != PROTO_AT) {
        /* Validated like client input; a bad record is dropped, the link
         * stays. */
        char excerpt[160];
        log_escape(excerpt, sizeof excerpt, line, len);
        log_msg("link %s: dropped invalid record (%s): %s", p->name,
                rc != 0 ? proto_strerror(rc) : "not an AT line", excerpt);
        return 0;
    }
    struct record *r = record_new(cmd.server, cmd.diff, &cmd);
    if (r == NULL) {
        log_msg("link %s: out of memory for a record", p->name);
        return 0;
    }
    const struct record *cur;
    server_offer(srv, r, p, &cur);
    return 0;
}

static void on_peer_close(struct conn *c, const char *reason)
{
    if (c->kind == CONN_PEER_IN && c->on_line == on_hello_in)
        return; /* never got as far as naming a neighbour */
    struct peer *p = c->data;
    if (p->link == c) {
        p->link = NULL;
        log_msg("link %s down: %s", p->name, reason);
    }
    if (p->pending == c) {
        p->pending = NULL;
        if (!p->down_logged)
            log_msg("link %s: cannot connect to %s: %s (retrying)", p->name,
                    p->addr_text, reason);
        p->down_logged = 1;
    }
    if (p->dialer && !p->srv->stopping)
        schedule_dial(p);
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
        if (rc != 0)
            conn_close(c, uv_strerror(rc));
        else
            send_hello(((struct peer *)c->data)->srv, c);
    }
    conn_unref(c);
}

static void dial(struct peer *p)
{
    struct server *srv = p->srv;
    if (p->link != NULL || p->pending != NULL || srv->stopping)
        return;
    struct conn *c = conn_new(&srv->pool, CONN_PEER_OUT);
    struct dial_req *d = c ? malloc(sizeof *d) : NULL;
    if (d == NULL) {
        if (c != NULL)
            conn_close(c, "out of memory");
        else
            schedule_dial(p);
        return;
    }
    c->data = p;
    c->on_line = on_hello_out;
    c->on_close = on_peer_close;
    c->max_output = PEERS_MAX_OUTPUT;
    snprintf(c->addr, sizeof c->addr, "%.*s", (int)sizeof c->addr - 1,
             p->addr_text);
    p->pending = c;
    d->c = c;
    conn_ref(c);
    int rc = uv_tcp_connect(&d->req, &c->tcp, (struct sockaddr *)&p->addr,
                            on_connect);
    if (rc != 0) {
        free(d);
        conn_unref(c);
        conn_close(c, uv_strerror(rc));
    }
}

static void on_dial_timer(uv_timer_t *t)
{
    dial(t->data);
}

static void schedule_dial(struct peer *p)
{
    uv_timer_start(&p->timer, on_dial_timer, p->backoff_ms, 0);
    p->backoff_ms *= 2;
    if (p->backoff_ms > PEERS_BACKOFF_MAX_MS)
        p->backoff_ms = PEERS_BACKOFF_MAX_MS;
}

void peers_start(struct server *srv)
{
    for (size_t i = 0; i < srv->peers.n; i++)
        if (srv->peers.v[i].dialer)
            dial(&srv->peers.v[i]);
}

void peers_accept(struct server *srv, struct conn *c)
{
    c->data = srv;
    c->on_line = on_hello_in;
    c->on_close = on_peer_close;
    c->max_output = PEERS_MAX_OUTPUT;
}

void peers_flood(struct server *srv, const struct record *rec,
                 const struct peer *except)
{
    for (size_t i = 0; i < srv->peers.n; i++) {
        struct peer *p = &srv->peers.v[i];
        if (p == except || p->link == NULL)
            continue;
        conn_write(p->link, rec->line, rec->len);
        conn_write(p->link, "\n", 1);
        p->sent++;
        srv->stats.flood_sent++;
    }
}

void peers_close(struct server *srv)
{
    for (size_t i = 0; i < srv->peers.n; i++) {
        struct peer *p = &srv->peers.v[i];
        uv_timer_stop(&p->timer);
        uv_close((uv_handle_t *)&p->timer, NULL);
        if (p->link)
            conn_close(p->link, "server stopping");
        if (p->pending)
            conn_close(p->pending, "server stopping");
    }
}
