/* Unit tests for the peer links' relay path, without sockets: the copies
 * queued to a neighbour and taken back when it sends them first
 * (relay_out), the look-ahead hints (relay_look_ahead), and a link of
 * peers driven line by line with a fake server behind it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "conn.h"
#include "dynbuf.h"
#include "handshake.h"
#include "linebuf.h"
#include "log.h"
#include "peers.h"
#include "proto.h"
#include "relay.h"
#include "store.h"
#include "test.h"

#define L1 "AT Alford +0.100000000 one +34.1-118.1 1700000000.1"
#define L2 "AT Alford +0.200000000 two +34.2-118.2 1700000000.2"
#define L3 "AT Parker +0.300000000 three +34.3-118.3 1700000000.3"
#define L4 "AT Parker +0.400000000 four +34.4-118.4 1700000000.4"
#define L5 "AT Powell +0.500000000 five +34.5-118.5 1700000000.5"

/* A link's output as peers queues it: each line at the offset it went
 * to, remembered under its record's seq. */
struct out {
    struct dynbuf buf;
    struct relay_out o;
    unsigned long conn;
    uint64_t flushes;
};

static void out_init(struct out *t, const char *before)
{
    memset(t, 0, sizeof *t);
    dynbuf_init(&t->buf, SIZE_MAX);
    CHECK_EQ_INT(dynbuf_add(&t->buf, before, strlen(before)), 0);
    t->conn = 7;
}

static void out_queue(struct out *t, uint64_t seq, const char *line)
{
    size_t off = t->buf.len;
    CHECK_EQ_INT(dynbuf_add_line(&t->buf, line, strlen(line)), 0);
    relay_out_remember(&t->o, t->conn, t->flushes, seq, off, strlen(line) + 1);
}

/* What conn does before the write (prepare_out, conn_take_back). */
static void out_prepare(struct out *t)
{
    const struct dynbuf_range *cut;
    size_t n = relay_out_take(&t->o, t->conn, t->flushes, &cut);
    dynbuf_cut(&t->buf, cut, n);
}

static void out_check(struct out *t, const char *want)
{
    test_eq_mem_(__FILE__, __LINE__, "output", t->buf.data, t->buf.len, want,
                 strlen(want));
}

static void out_free(struct out *t)
{
    relay_out_free(&t->o);
    dynbuf_free(&t->buf);
}

static void test_copy_taken_back(void)
{
    struct out t;
    out_init(&t, "PING 1\n");
    out_queue(&t, 10, L1);
    /* The neighbour sends us record 10 before our copy left. */
    CHECK_EQ_INT(relay_out_withhold(&t.o, t.conn, t.flushes, 10), 1);
    CHECK_EQ_INT(relay_out_withhold(&t.o, t.conn, t.flushes, 10), 0);
    out_prepare(&t);
    out_check(&t, "PING 1\n");
    /* The list is empty after the write: nothing is taken twice. */
    CHECK_EQ_INT(t.o.n, 0);
    CHECK_EQ_INT(relay_out_withhold(&t.o, t.conn, t.flushes, 10), 0);
    out_free(&t);
}

static void test_several_taken_back_in_order(void)
{
    struct out t;
    out_init(&t, "");
    out_queue(&t, 1, L1);
    out_queue(&t, 2, L2);
    out_queue(&t, 5, L3);
    out_queue(&t, 9, L4);
    out_queue(&t, 12, L5);
    /* In whatever order the neighbour's copies come. */
    CHECK_EQ_INT(relay_out_withhold(&t.o, t.conn, t.flushes, 9), 1);
    CHECK_EQ_INT(relay_out_withhold(&t.o, t.conn, t.flushes, 1), 1);
    CHECK_EQ_INT(relay_out_withhold(&t.o, t.conn, t.flushes, 3), 0);
    CHECK_EQ_INT(relay_out_withhold(&t.o, t.conn, t.flushes, 13), 0);
    CHECK_EQ_INT(relay_out_withhold(&t.o, t.conn, t.flushes, 5), 1);
    const struct dynbuf_range *cut;
    size_t n = relay_out_take(&t.o, t.conn, t.flushes, &cut);
    CHECK_EQ_INT(n, 3);
    for (size_t i = 1; i < n; i++)
        CHECK(cut[i].off >= cut[i - 1].off + cut[i - 1].len);
    dynbuf_cut(&t.buf, cut, n);
    out_check(&t, L2 "\n" L5 "\n");
    out_free(&t);
}

static void test_flush_invalidates(void)
{
    struct out t;
    out_init(&t, "");
    out_queue(&t, 1, L1);
    out_queue(&t, 2, L2);
    /* The output was written: the offsets say nothing any more. */
    t.flushes++;
    t.buf.len = 0;
    CHECK(!relay_out_valid(&t.o, t.conn, t.flushes));
    CHECK_EQ_INT(relay_out_withhold(&t.o, t.conn, t.flushes, 2), 0);
    out_queue(&t, 3, L3);
    CHECK_EQ_INT(t.o.n, 1); /* the old list went */
    CHECK_EQ_INT(relay_out_withhold(&t.o, t.conn, t.flushes, 1), 0);
    CHECK_EQ_INT(relay_out_withhold(&t.o, t.conn, t.flushes, 3), 1);
    /* A list about another output takes nothing back from this one. */
    const struct dynbuf_range *cut;
    CHECK_EQ_INT(relay_out_take(&t.o, t.conn, t.flushes + 1, &cut), 0);
    CHECK_EQ_INT(t.o.n, 0);
    out_check(&t, L3 "\n");
    /* Nor does one about another connection. */
    out_queue(&t, 4, L4);
    CHECK_EQ_INT(relay_out_withhold(&t.o, t.conn + 1, t.flushes, 4), 0);
    out_prepare(&t);
    out_check(&t, L3 "\n" L4 "\n");
    out_free(&t);
}

static void test_many_taken_back(void)
{
    struct out t;
    out_init(&t, "");
    char line[64];
    struct dynbuf want;
    dynbuf_init(&want, SIZE_MAX);
    for (uint64_t seq = 1; seq <= 1000; seq++) {
        snprintf(line, sizeof line, "AT A +0.100000000 c%llu +1+1 %llu.5",
                 (unsigned long long)seq, (unsigned long long)seq);
        out_queue(&t, seq * 2, line);
        if (seq % 3 != 0)
            CHECK_EQ_INT(dynbuf_add_line(&want, line, strlen(line)), 0);
    }
    for (uint64_t seq = 999; seq >= 3; seq -= 3)
        CHECK_EQ_INT(relay_out_withhold(&t.o, t.conn, t.flushes, seq * 2), 1);
    out_prepare(&t);
    test_eq_mem_(__FILE__, __LINE__, "output", t.buf.data, t.buf.len, want.data,
                 want.len);
    dynbuf_free(&want);
    out_free(&t);
}

static struct record *record_of(const char *line)
{
    struct proto_command c;
    CHECK_EQ_INT(proto_parse(line, strlen(line), &c), PROTO_OK);
    struct record *r = record_from_at(line, strlen(line), &c);
    CHECK(r != NULL);
    return r;
}

static void test_hint_only_single_spaced_at(void)
{
    struct store st;
    store_init(&st, 1, 2);
    static const char *no[] = {
        "AT  Alford +0.100000000 one +34.1-118.1 1700000000.1",
        "AT Alford +0.100000000 one +34.1-118.1 1700000000.1 ",
        "AT Alford +0.100000000 one\t+34.1-118.1 1700000000.1",
        "IAMAT one +34.1-118.1 1700000000.1",
        "AT Alford +0.100000000 one +34.1-118.1",
        "SUMS - 0 1 2 3 4 5 6 7 8 9 a b c d e f",
        "PING 42",
        "AT Alford +0.100000000 a-client-id-past-sixteen +34.1-118.1 1.1",
        "",
    };
    struct relay_hint h;
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        relay_hint_make(&h, &st, 16, 5, no[i], strlen(no[i]));
        CHECK_EQ_INT(h.gen, 0);
        CHECK(!relay_hint_matches(&h, 5, no[i], strlen(no[i])));
    }
    const char *yes = L3;
    relay_hint_make(&h, &st, 16, 5, yes, strlen(yes));
    CHECK_EQ_INT(h.gen, 5);
    CHECK(relay_hint_matches(&h, 5, yes, strlen(yes)));
    CHECK(!relay_hint_matches(&h, 6, yes, strlen(yes)));
    CHECK(!relay_hint_matches(&h, 5, yes, strlen(yes) - 1));
    CHECK_EQ_MEM(h.f[3].p, "three", 5);
    CHECK_EQ_INT(h.f[3].len, 5);
    CHECK(h.h == store_key_hash(&st, "three", 5));
    store_close(&st);
}

static void test_look_ahead_follows_lines(void)
{
    struct store st;
    store_init(&st, 1, 2);
    /* A read of four lines and the start of a fifth; the first is being
     * handled, so the look-ahead sees the rest. */
    static const char buf[] = L1 "\n" L2 "\nPING 9\n" L4 "\nAT Pow";
    const char *l2 = buf + strlen(L1) + 1;
    const char *ping = l2 + strlen(L2) + 1;
    const char *l4 = ping + strlen("PING 9") + 1;
    const char *end = buf + strlen(buf);
    struct relay_hint hint[2];
    memset(hint, 0, sizeof hint);
    relay_look_ahead(hint, &st, 256, l2, (size_t)(end - l2), 3);
    CHECK(relay_hint_matches(&hint[0], 3, l2, strlen(L2)));
    CHECK_EQ_INT(hint[1].gen, 0); /* PING: no hint */
    /* L2 is handled: its hint was hint[0]; PING is next. */
    relay_look_ahead(hint, &st, 256, ping, (size_t)(end - ping), 3);
    CHECK_EQ_INT(hint[0].gen, 0);
    CHECK(relay_hint_matches(&hint[1], 3, l4, strlen(L4)));
    CHECK(hint[1].h == store_key_hash(&st, "four", 4));
    /* PING handled: L4's hint, made a line ago, moves up. */
    relay_look_ahead(hint, &st, 256, l4, (size_t)(end - l4), 3);
    CHECK(relay_hint_matches(&hint[0], 3, l4, strlen(L4)));
    CHECK(hint[0].h == store_key_hash(&st, "four", 4));
    CHECK_EQ_INT(hint[1].gen, 0); /* the last line is not complete */
    /* A hint of another generation (the bytes were read again, perhaps
     * to the same address) is not taken for this line. */
    relay_look_ahead(hint, &st, 256, l2, (size_t)(end - l2), 4);
    CHECK(!relay_hint_matches(&hint[0], 3, l2, strlen(L2)));
    CHECK(relay_hint_matches(&hint[0], 4, l2, strlen(L2)));
    /* Nothing ahead: no hints. */
    relay_look_ahead(hint, &st, 256, NULL, 0, 4);
    CHECK_EQ_INT(hint[0].gen, 0);
    CHECK_EQ_INT(hint[1].gen, 0);
    relay_look_ahead(hint, &st, 256, "AT Pow", 6, 4);
    CHECK_EQ_INT(hint[0].gen, 0);
    store_close(&st);
}

static void test_held_copy(void)
{
    struct store st;
    store_init(&st, 1, 2);
    const struct record *cur;
    CHECK_EQ_INT(store_apply(&st, record_of(L1), &cur), STORE_CHANGED);
    uint64_t h = store_key_hash(&st, "one", 3);
    struct strparse_slice client = {"one", 3};
    const struct record *held = relay_held(&st, h, client, L1, strlen(L1));
    CHECK(held == cur);
    /* The same client, another record: not the held one. */
    const char *other = "AT Alford +0.100000000 one +34.1-118.1 1.2";
    CHECK(relay_held(&st, h, client, other, strlen(other)) == NULL);
    struct strparse_slice two = {"two", 3};
    CHECK(relay_held(&st, store_key_hash(&st, "two", 3), two, L2, strlen(L2)) ==
          NULL);
    store_close(&st);
}

/* A server behind peers, as server.c is: a store, and every record a
 * neighbour sends offered to it and flooded if newer. */
struct fake {
    uv_loop_t loop;
    struct conn_pool pool;
    struct store st;
    struct peers ps;
    int records; /* on_record calls */
};

static int fake_record(void *arg, struct record *r, uint64_t h,
                       struct peer *from)
{
    struct fake *f = arg;
    f->records++;
    CHECK(from != NULL);
    CHECK_EQ_STR(peers_name(from), "Alford");
    CHECK(h == store_key_hash(&f->st, r->line + r->client_off, r->client_len));
    const struct record *cur;
    int rc = store_apply_hashed(&f->st, r, h, &cur);
    if (rc == STORE_CHANGED)
        peers_flood(&f->ps, r, from);
    else
        free(r);
    return rc;
}

static void fake_reserve(void *arg, size_t n)
{
    struct fake *f = arg;
    CHECK_EQ_INT(store_reserve(&f->st, n), 0);
}

static const struct peers_ops fake_ops = {fake_record, fake_reserve};

/* Bolden, with the neighbours Alford (who dials Bolden) and Parker; not
 * started, so it dials no one. */
static void fake_init(struct fake *f)
{
    memset(f, 0, sizeof *f);
    CHECK_EQ_INT(log_open(NULL), 0);
    CHECK_EQ_INT(uv_loop_init(&f->loop), 0);
    conn_pool_init(&f->pool, &f->loop, 8192, 4 << 20, 64);
    store_init(&f->st, 1, 2);
    const struct peers_config cfg = {
        .loop = &f->loop,
        .pool = &f->pool,
        .store = &f->st,
        .name = "Bolden",
        .epoch = 7,
        .max_peers = 2,
        .link_ping_ms = 500,
        .link_timeout_ms = 2000,
        .max_handshakes = 64,
        .max_client_id = 256,
    };
    CHECK_EQ_INT(peers_init(&f->ps, &cfg, &fake_ops, f), 0);
    const struct config_addr a = {"127.0.0.1", 1};
    const struct config_addr b = {"127.0.0.1", 2};
    CHECK_EQ_INT(peers_add(&f->ps, "Alford", &a), 0);
    CHECK_EQ_INT(peers_add(&f->ps, "Parker", &b), 0);
    CHECK_EQ_INT(peers_count(&f->ps), 2);
}

/* Closes everything; the loop must close clean (no handle left). */
static void fake_close(struct fake *f)
{
    peers_close(&f->ps);
    conn_pool_close_all(&f->pool, "test over");
    CHECK_EQ_INT(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    CHECK(f->ps.v == NULL); /* freed once the timers closed */
    CHECK_EQ_INT(uv_loop_close(&f->loop), 0);
    store_close(&f->st);
    log_close();
}

static int feed_line(void *arg, const char *line, size_t len)
{
    struct conn *c = arg;
    return c->on_line(c, line, len);
}

/* Bytes the connection read, as one read: its lines go to peers. */
static void feed(struct conn *c, const char *data)
{
    CHECK_EQ_INT(linebuf_feed(&c->in, data, strlen(data), feed_line, c), 0);
}

/* A record Bolden took from a client: stored, and flooded. */
static void client_record(struct fake *f, const char *line)
{
    struct record *r = record_of(line);
    const struct record *cur;
    CHECK_EQ_INT(store_apply(&f->st, r, &cur), STORE_CHANGED);
    peers_flood(&f->ps, r, NULL);
}

/* What conn does right before it writes out. */
static void before_write(struct conn *c)
{
    c->prepare_out(c);
}

/* Alford's link to Bolden, up: what Bolden sent so far is its HELLO. */
static struct conn *accept_alford(struct fake *f)
{
    struct conn *c = conn_new(&f->pool, CONN_PEER_IN);
    CHECK(c != NULL);
    CHECK_EQ_INT(peers_accept(&f->ps, c), 0);
    CHECK(peers_in_handshake(c));
    static const unsigned char nonce[HANDSHAKE_NONCE] = {1, 2, 3};
    char hello[HANDSHAKE_LINE_MAX];
    CHECK(handshake_format_hello(hello, sizeof hello, HANDSHAKE_DIAL, "Alford",
                                 9, 0, 0, nonce, NULL) > 0);
    feed(c, hello);
    CHECK(peers_in_handshake(c));
    static const char want[] = "HELLO herd/2 Bolden 7 0 0000000000000000 ";
    CHECK(c->out.len > sizeof want);
    CHECK_EQ_MEM(c->out.data, want, sizeof want - 1);
    CHECK_EQ_MEM(c->out.data + c->out.len - 3, " -\n", 3);
    feed(c, "PROOF -\n");
    CHECK(!peers_in_handshake(c));
    struct peers_status st;
    peers_status(&f->ps, 0, &st);
    CHECK_EQ_STR(st.name, "Alford");
    CHECK_EQ_STR(st.state, "up");
    peers_status(&f->ps, 1, &st);
    CHECK_EQ_STR(st.state, "down");
    return c;
}

/* The link's output past its first `from` bytes. */
static void check_out(const struct conn *c, size_t from, const char *want)
{
    CHECK(c->out.len >= from);
    test_eq_mem_(__FILE__, __LINE__, "output", c->out.data + from,
                 c->out.len - from, want, strlen(want));
}

static void test_link_takes_back_copies(void)
{
    struct fake f;
    fake_init(&f);
    struct conn *c = accept_alford(&f);
    size_t hello = c->out.len;
    /* A record from Alford is the server's, and goes nowhere else (no
     * other link is up). */
    feed(c, L1 "\n");
    CHECK_EQ_INT(f.records, 1);
    CHECK_EQ_INT(f.st.count, 1);
    CHECK_EQ_INT(f.ps.stats.flood_sent, 0);
    check_out(c, hello, "");
    /* Ours, queued to Alford; Alford sends it first: taken back. */
    client_record(&f, L2);
    check_out(c, hello, L2 "\n");
    CHECK_EQ_INT(f.ps.stats.flood_sent, 1);
    feed(c, L2 "\n");
    CHECK_EQ_INT(f.records, 1); /* the held copy goes no further */
    CHECK_EQ_INT(f.ps.stats.stale, 1);
    CHECK_EQ_INT(f.ps.stats.flood_sent, 0);
    CHECK_EQ_INT(f.ps.stats.flood_withheld, 1);
    before_write(c);
    CHECK_EQ_INT(c->out.len, hello); /* the HELLO stays */
    /* Several in one read, in another order: the others stay, in order.
     * Lines read together go through the look-ahead's hints. */
    client_record(&f, L3);
    client_record(&f, L4);
    client_record(&f, L5);
    feed(c, L5 "\n" L3 "\n");
    CHECK_EQ_INT(f.ps.stats.flood_withheld, 3);
    CHECK_EQ_INT(f.ps.stats.flood_sent, 1);
    before_write(c);
    check_out(c, hello, L4 "\n");
    /* A line not in the single-spaced form is no hint, but a record all
     * the same, stored as servers send it. */
    feed(c, "AT Alford  +0.100000000 six +1+1 1.5\nPING 5\n");
    CHECK_EQ_INT(f.records, 2);
    const struct record *six = store_get(&f.st, "six", 3);
    CHECK(six != NULL);
    test_eq_mem_(__FILE__, __LINE__, "six", six->line, six->len,
                 "AT Alford +0.100000000 six +1+1 1.5", 35);
    check_out(c, hello, L4 "\nPONG 5\n");
    fake_close(&f);
}

static void test_link_write_between(void)
{
    struct fake f;
    fake_init(&f);
    struct conn *c = accept_alford(&f);
    client_record(&f, L1);
    /* The output is written (as conn's flush does) before Alford's copy
     * arrives: our copy is gone, and so is what the list knew. */
    c->out.len = 0;
    c->flushes++;
    feed(c, L1 "\n");
    CHECK_EQ_INT(f.ps.stats.stale, 1);
    CHECK_EQ_INT(f.ps.stats.flood_withheld, 0);
    CHECK_EQ_INT(f.ps.stats.flood_sent, 1);
    client_record(&f, L2);
    before_write(c);
    check_out(c, 0, L2 "\n"); /* nothing cut at the old offsets */
    fake_close(&f);
}

/* A connection accepted from a neighbour that sent its HELLO as name:
 * answered (PROOF_WAIT), or refused and closed. */
static struct conn *hello_from(struct fake *f, const char *name)
{
    struct conn *c = conn_new(&f->pool, CONN_PEER_IN);
    CHECK(c != NULL);
    CHECK_EQ_INT(peers_accept(&f->ps, c), 0);
    static const unsigned char nonce[HANDSHAKE_NONCE] = {4, 5, 6};
    char hello[HANDSHAKE_LINE_MAX];
    CHECK(handshake_format_hello(hello, sizeof hello, HANDSHAKE_DIAL, name, 9,
                                 0, 0, nonce, NULL) > 0);
    /* 1: refused, the connection closed, nothing more read. */
    int rc = linebuf_feed(&c->in, hello, strlen(hello), feed_line, c);
    CHECK(rc == 0 || (rc == 1 && c->closing));
    return c;
}

/* A removed neighbour: its link closes, it is no neighbour any more (a
 * new HELLO naming it is refused), the others stay as they were. */
static void test_remove_up_link(void)
{
    struct fake f;
    fake_init(&f);
    struct conn *c = accept_alford(&f);
    CHECK_EQ_INT(peers_remove(&f.ps, "Nobody"), -1);
    CHECK_EQ_INT(peers_remove(&f.ps, "Alford"), 0);
    CHECK(c->closing);
    CHECK_EQ_INT(peers_count(&f.ps), 1);
    struct peers_status st;
    peers_status(&f.ps, 0, &st);
    CHECK_EQ_STR(st.name, "Parker");
    CHECK_EQ_INT(peers_addr(&f.ps, 0)->port, 2);
    struct conn *again = hello_from(&f, "Alford");
    CHECK(again->closing);
    CHECK_EQ_INT(peers_remove(&f.ps, "Alford"), -1);
    /* Records flood to no one now, and nothing points to Alford. */
    client_record(&f, L1);
    CHECK_EQ_INT(f.ps.stats.flood_sent, 0);
    fake_close(&f);
}

/* Whether the connection's output holds text. */
static int out_has(const struct conn *c, const char *text)
{
    size_t n = strlen(text);
    for (size_t i = 0; i + n <= c->out.len; i++)
        if (memcmp(c->out.data + i, text, n) == 0)
            return 1;
    return 0;
}

/* Removed in the middle of a catch-up (the stores differ: Bolden holds a
 * record Alford lacks): the catch-up ends with the link, and nothing of
 * it is left to run. */
static void test_remove_during_catch_up(void)
{
    struct fake f;
    fake_init(&f);
    client_record(&f, L1);
    struct conn *c = hello_from(&f, "Alford");
    CHECK(!c->closing);
    feed(c, "PROOF -\n");
    CHECK(!peers_in_handshake(c));
    CHECK(out_has(c, "\nSUMS - ")); /* the opening */
    CHECK_EQ_INT(peers_count(&f.ps), 2);
    struct peers_status st;
    peers_status(&f.ps, 0, &st);
    CHECK_EQ_INT(st.catchups, 1);
    CHECK_EQ_INT(peers_remove(&f.ps, "Alford"), 0);
    CHECK(c->closing);
    CHECK(!peers_pump_ready(&f.ps));
    peers_pump(&f.ps, 0);
    fake_close(&f);
}

/* Removed during its handshake (our HELLO sent, its proof awaited): the
 * connection closes; removed while cut: the cut goes with it. */
static void test_remove_in_handshake_and_cut(void)
{
    struct fake f;
    fake_init(&f);
    struct conn *c = hello_from(&f, "Alford");
    CHECK(!c->closing && peers_in_handshake(c));
    CHECK_EQ_INT(peers_set_cut(&f.ps, "Parker", 1), 0);
    CHECK_EQ_INT(peers_remove(&f.ps, "Alford"), 0);
    CHECK(c->closing);
    CHECK_EQ_INT(f.ps.hs_count, 0);
    CHECK_EQ_INT(peers_remove(&f.ps, "Parker"), 0);
    CHECK_EQ_INT(peers_count(&f.ps), 0);
    /* Added again: a new neighbour, not cut. */
    const struct config_addr b = {"127.0.0.1", 3};
    CHECK_EQ_INT(peers_add(&f.ps, "Parker", &b), 0);
    struct peers_status st;
    peers_status(&f.ps, 0, &st);
    CHECK_EQ_STR(st.state, "down");
    CHECK(!st.cut);
    fake_close(&f);
}

/* Neighbours added past max_peers, with a link up: the table grows and
 * the link (and what points to its neighbour) stays as it was. */
static void test_add_grows(void)
{
    struct fake f;
    fake_init(&f);
    struct conn *c = accept_alford(&f);
    size_t hello = c->out.len;
    for (unsigned i = 0; i < 40; i++) {
        char name[16];
        snprintf(name, sizeof name, "Zed%u", i);
        const struct config_addr a = {"127.0.0.1", (uint16_t)(100 + i)};
        CHECK_EQ_INT(peers_add(&f.ps, name, &a), 0);
    }
    CHECK_EQ_INT(peers_count(&f.ps), 42);
    struct peers_status st;
    peers_status(&f.ps, 0, &st);
    CHECK_EQ_STR(st.name, "Alford");
    CHECK_EQ_STR(st.state, "up");
    peers_status(&f.ps, 41, &st);
    CHECK_EQ_STR(st.name, "Zed39");
    CHECK_EQ_INT(peers_addr(&f.ps, 41)->port, 139);
    CHECK(!c->closing);
    client_record(&f, L2); /* flooded on the link up */
    check_out(c, hello, L2 "\n");
    feed(c, L1 "\n"); /* and records from it still come in */
    CHECK_EQ_INT(f.records, 1);
    CHECK_EQ_INT(peers_remove(&f.ps, "Zed0"), 0);
    peers_status(&f.ps, 2, &st);
    CHECK_EQ_STR(st.name, "Zed1");
    CHECK(!c->closing);
    fake_close(&f);
}

/* A moved neighbour: its address is the new one; the link of one that
 * dials us stays up (nothing of ours was at the old address). */
static void test_move(void)
{
    struct fake f;
    fake_init(&f);
    struct conn *c = accept_alford(&f);
    const struct config_addr a = {"127.0.0.2", 7};
    CHECK_EQ_INT(peers_move(&f.ps, "Alford", &a), 0);
    CHECK(!c->closing);
    CHECK_EQ_STR(peers_addr(&f.ps, 0)->host, "127.0.0.2");
    CHECK_EQ_INT(peers_addr(&f.ps, 0)->port, 7);
    const struct config_addr b = {"localhost", 9};
    CHECK_EQ_INT(peers_move(&f.ps, "Parker", &b), 0);
    CHECK_EQ_STR(peers_addr(&f.ps, 1)->host, "localhost");
    CHECK_EQ_INT(peers_move(&f.ps, "Nobody", &b), -1);
    /* New limits: max_client_id 3 drops a longer client id. */
    struct peers_config cfg = f.ps.cfg;
    cfg.max_client_id = 3;
    cfg.link_timeout_ms = 900;
    peers_set_limits(&f.ps, &cfg);
    CHECK_EQ_INT(f.ps.cfg.link_timeout_ms, 900);
    feed(c, L1 "\n"); /* "one": kept */
    feed(c, L5 "\n"); /* "five": dropped */
    CHECK_EQ_INT(f.records, 1);
    fake_close(&f);
}

/* Neighbour i's status says synced. */
static int synced(const struct fake *f, size_t i)
{
    struct peers_status st;
    peers_status(&f->ps, i, &st);
    return st.synced;
}

/* "synced": a link that came up with equal digests is; one whose
 * catch-up runs is not until this side has sent all it was asked for and
 * heard the end of all it asked; a link down is not. */
static void test_synced(void)
{
    struct fake f;
    fake_init(&f);
    CHECK(!synced(&f, 0) && !synced(&f, 1)); /* not yet connected */
    struct conn *c = accept_alford(&f);      /* both empty */
    CHECK(synced(&f, 0));
    CHECK(!synced(&f, 1));
    /* Alford opens all the same (a record came to it in between): its
     * root differs in child 0. Bolden asks for that child and waits. */
    char sums[16 + 16 * 16 + 2] = "SUMS - 0000000000000001";
    size_t n = strlen(sums);
    const size_t rest = (size_t)15 * 16; /* children 1 to 15: 0 */
    memset(sums + n, '0', rest);
    sums[n + rest] = '\n';
    sums[n + rest + 1] = '\0';
    feed(c, sums);
    CHECK(out_has(c, "\nPULL 0\nDONE -\n"));
    CHECK(!synced(&f, 0));
    peers_pump(&f.ps, 0); /* nothing of Bolden's under 0 */
    CHECK(!synced(&f, 0));
    feed(c, "DONE 0\n");
    CHECK(synced(&f, 0));
    conn_close(c, "test");
    CHECK(!synced(&f, 0));

    /* Bolden holds a record Alford lacks: catching up from the start,
     * synced once Alford's answer (a PULL of the whole tree) is sent. */
    client_record(&f, L1);
    c = hello_from(&f, "Alford");
    feed(c, "PROOF -\n");
    CHECK(!peers_in_handshake(c));
    CHECK(!synced(&f, 0));
    feed(c, "PULL -\nDONE -\n");
    CHECK(!synced(&f, 0)); /* L1 is still to be sent */
    /* A walk of the whole tree takes more than one slice. */
    for (int i = 0; i < 8 && peers_pump_ready(&f.ps); i++) {
        CHECK(!synced(&f, 0));
        peers_pump(&f.ps, 0);
    }
    CHECK(out_has(c, L1 "\nDONE -\n"));
    CHECK(synced(&f, 0));
    fake_close(&f);
}

static const struct test tests[] = {
    {"copy_taken_back", test_copy_taken_back},
    {"several_taken_back_in_order", test_several_taken_back_in_order},
    {"flush_invalidates", test_flush_invalidates},
    {"many_taken_back", test_many_taken_back},
    {"hint_only_single_spaced_at", test_hint_only_single_spaced_at},
    {"look_ahead_follows_lines", test_look_ahead_follows_lines},
    {"held_copy", test_held_copy},
    {"link_takes_back_copies", test_link_takes_back_copies},
    {"link_write_between", test_link_write_between},
    {"remove_up_link", test_remove_up_link},
    {"remove_during_catch_up", test_remove_during_catch_up},
    {"remove_in_handshake_and_cut", test_remove_in_handshake_and_cut},
    {"add_grows", test_add_grows},
    {"move", test_move},
    {"synced", test_synced},
};

TEST_MAIN(tests)
