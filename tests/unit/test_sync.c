/* Unit tests for server/sync: two stores reconcile through the catch-up
 * messages, over a link this file plays.
 *
 * The harness: two sides (A dials, B accepts), each a store and a sync
 * whose ops append to that side's outgoing FIFO of lines. A round pumps
 * both sides with a byte budget, then delivers queued lines to the other
 * side one by one, as a server would: an AT line is parsed and offered to
 * the store (kept if newer), anything else goes to sync_on_line, which
 * must take it. The run ends when both sides are idle and both FIFOs are
 * empty.
 *
 * Most cases describe the stores as a population of clients, each held by
 * A and by B at some version (0: not held); version v of client i is one
 * fixed AT line, and a larger version has a later client time. After a
 * catch-up both stores must hold, for every client, exactly the line of
 * the larger of the two versions.
 *
 * Every random choice comes from a PRNG seeded per case; HERD_SYNC_SEED=N
 * runs every case with seed N. The big cases have 200 000 and 400 000
 * clients, to stay within a few seconds under ASan; HERD_SYNC_BIG=1 runs
 * both with 1 000 000 (same bounds), HERD_SYNC_N and HERD_SYNC_ALL_N set
 * their sizes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto.h"
#include "store.h"
#include "sync.h"
#include "test.h"

/* ---- PRNG (splitmix64) and clock ------------------------------------- */

static uint64_t rng_state;

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static uint64_t rnd(void)
{
    rng_state += 0x9e3779b97f4a7c15ULL;
    return mix64(rng_state);
}

static uint64_t below(uint64_t n)
{
    return n == 0 ? 0 : rnd() % n;
}

static void seed_case(const char *name, uint64_t seed)
{
    const char *env = getenv("HERD_SYNC_SEED");
    if (env != NULL && *env != '\0')
        seed = strtoull(env, NULL, 0);
    rng_state = seed;
    printf("# %s: seed %#llx (HERD_SYNC_SEED=%llu repeats it)\n", name,
           (unsigned long long)seed, (unsigned long long)seed);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    CHECK(q != NULL);
    return q;
}

/* ---- AT lines and records ------------------------------------------- */

#define LINE_CAP 256
#define ID_CAP   16

/* An AT line and the command proto_parse would make of it. */
struct line {
    char buf[LINE_CAP];
    size_t len;
    struct proto_command c;
};

static size_t put_u64(char *p, uint64_t v)
{
    char t[24];
    size_t n = 0;
    do {
        t[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        p[i] = t[n - 1 - i];
    return n;
}

static size_t put_pad(char *p, uint64_t v, unsigned digits)
{
    for (unsigned i = digits; i-- > 0;) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return digits;
}

/* Appends a field (after a space unless first) and returns its slice. */
static struct strparse_slice add_field(struct line *l, const char *p, size_t n)
{
    CHECK(l->len + 1 + n <= LINE_CAP);
    if (l->len > 0)
        l->buf[l->len++] = ' ';
    memcpy(l->buf + l->len, p, n);
    struct strparse_slice s = {l->buf + l->len, n};
    l->len += n;
    return s;
}

static size_t longest_record; /* of every record line made here */

/* "AT server diff client location time" from its parts. */
static void build_line(struct line *l, const char *server, const char *diff,
                       size_t diff_len, const char *client, size_t client_len,
                       const char *loc, size_t loc_len, const char *time,
                       size_t time_len, uint64_t sec, uint32_t nsec)
{
    memset(&l->c, 0, sizeof l->c);
    l->len = 0;
    add_field(l, "AT", 2);
    l->c.kind = PROTO_AT;
    l->c.server = add_field(l, server, strlen(server));
    l->c.diff = add_field(l, diff, diff_len);
    l->c.client = add_field(l, client, client_len);
    l->c.location = add_field(l, loc, loc_len);
    l->c.time = add_field(l, time, time_len);
    l->c.sec = sec;
    l->c.nsec = nsec;
    if (l->len > longest_record)
        longest_record = l->len;
}

static unsigned long records_made;

/* The record of a line built here. The command was filled by hand (the
 * big cases make millions); now and then it is checked against what
 * proto_parse makes of the line. */
static struct record *make_record(const struct line *l)
{
    if (records_made++ % 256 == 0) {
        struct proto_command c;
        CHECK_EQ_INT(proto_parse(l->buf, l->len, &c), PROTO_OK);
        CHECK_EQ_INT(c.kind, PROTO_AT);
        CHECK(c.sec == l->c.sec);
        CHECK_EQ_INT(c.nsec, l->c.nsec);
        CHECK(c.server.p == l->c.server.p && c.server.len == l->c.server.len);
        CHECK(c.diff.p == l->c.diff.p && c.diff.len == l->c.diff.len);
        CHECK(c.client.p == l->c.client.p && c.client.len == l->c.client.len);
        CHECK(c.location.p == l->c.location.p &&
              c.location.len == l->c.location.len);
        CHECK(c.time.p == l->c.time.p && c.time.len == l->c.time.len);
    }
    struct record *r = record_from_at(l->buf, l->len, &l->c);
    CHECK(r != NULL);
    CHECK_EQ_INT(r->len, l->len);
    return r;
}

/* The record of an AT line given as text. */
static struct record *record_of(const char *text)
{
    struct proto_command c;
    size_t len = strlen(text);
    CHECK_EQ_INT(proto_parse(text, len, &c), PROTO_OK);
    CHECK_EQ_INT(c.kind, PROTO_AT);
    struct record *r = record_from_at(text, len, &c);
    CHECK(r != NULL);
    if (r->len > longest_record)
        longest_record = r->len;
    return r;
}

static struct record *dup_record(const struct record *r)
{
    struct record *d = malloc(sizeof *r + r->len);
    CHECK(d != NULL);
    memcpy(d, r, sizeof *r + r->len);
    return d;
}

static void check_record_line(const struct record *r, const char *want,
                              size_t len)
{
    CHECK(r != NULL);
    if (r->len != len || memcmp(r->line, want, len) != 0)
        test_eq_mem_(__FILE__, __LINE__, "record line", r->line, r->len, want,
                     len);
}

/* ---- crafted client ids ---------------------------------------------- */

static uint64_t inv_odd(uint64_t a)
{
    uint64_t x = a; /* right to 3 bits; each step doubles that */
    for (int i = 0; i < 6; i++)
        x *= 2 - a * x;
    return x;
}

static uint64_t rotr64(uint64_t x, unsigned r)
{
    return (x >> r) | (x << (64 - r));
}

static int id_byte_ok(unsigned char b)
{
    return b != 0 && b != '\n' && !strparse_is_space((char)b);
}

static int craft_fallback_noted;

/* An 8-byte client id (no separator, newline or NUL in it) whose client
 * key has the top bits (16: a bucket, 32: the whole key) want. Brute force
 * would take 2^bits tries; instead, store.c's word_hash of one 8-byte
 * word is run backwards from a hash with those bits (each of its steps is
 * a bijection), and the result checked with store_client_key itself. If
 * the hash ever changes, a bucket is found by brute force (slow). */
static void craft_id(uint32_t want, unsigned bits, char id[8])
{
    const uint64_t c1 = 0x87c37b91114253d5ULL, c2 = 0x4cf5ad432745937fULL;
    const uint64_t seed = 0x6865726420747265ULL;
    for (int tries = 0; tries < 64; tries++) {
        uint64_t h = (uint64_t)want << (64 - bits) |
                     (rnd() & ((1ULL << (64 - bits)) - 1));
        h ^= h >> 33; /* fmix64, backwards */
        h *= inv_odd(0xc4ceb9fe1a85ec53ULL);
        h ^= h >> 33;
        h *= inv_odd(0xff51afd7ed558ccdULL);
        h ^= h >> 33;
        h ^= 8; /* the length folded in */
        h = rotr64((h - 0x52dce729) * inv_odd(5), 27);
        uint64_t m = h ^ (seed ^ 8 * c2);
        m = rotr64(m * inv_odd(c2), 31) * inv_odd(c1);
        int ok = 1;
        for (int i = 0; i < 8; i++) {
            unsigned char b = (unsigned char)(m >> (8 * i));
            ok &= id_byte_ok(b);
            id[i] = (char)b;
        }
        if (!ok)
            continue;
        if ((store_client_key(id, 8) >> (32 - bits)) == want)
            return;
        break; /* the hash is not the one inverted here */
    }
    if (!craft_fallback_noted) {
        craft_fallback_noted = 1;
        printf("# craft_id: store_client_key changed, brute force (slow)\n");
    }
    CHECK(bits <= 16);
    for (;;) {
        uint64_t m = rnd();
        for (int i = 0; i < 8; i++)
            id[i] = (char)('a' + ((m >> (5 * i)) & 31));
        if ((store_client_key(id, 8) >> (32 - bits)) == want)
            return;
    }
}

/* ---- populations of clients ------------------------------------------ */

static const char *const server_names[] = {"Alford", "Bolden", "Hamilton",
                                           "Parker", "Powell"};

struct pop {
    size_t n, cap;
    uint64_t salt;
    uint16_t *v[2]; /* the version A (0) and B (1) hold; 0: none */
    /* What both stores must hold after a catch-up: the hash of the newer
     * of the two versions of each client, and over all clients. */
    uint64_t *want_hash;
    uint64_t want_digest;
    size_t want_count;
    char (*id)[ID_CAP];
    uint8_t *idlen;
    uint32_t *map; /* id -> index + 1, built when first asked */
    size_t mapcap;
};

/* The newer of the versions the two sides hold of client i. */
static unsigned newest(const struct pop *p, size_t i)
{
    return p->v[0][i] > p->v[1][i] ? p->v[0][i] : p->v[1][i];
}

static void pop_init(struct pop *p, uint64_t salt)
{
    memset(p, 0, sizeof *p);
    p->salt = salt;
}

static void pop_free(struct pop *p)
{
    free(p->v[0]);
    free(p->v[1]);
    free(p->want_hash);
    free(p->id);
    free(p->idlen);
    free(p->map);
    memset(p, 0, sizeof *p);
}

static uint64_t id_hash(const char *id, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)id[i]) * 0x100000001b3ULL;
    return mix64(h);
}

static void map_insert(struct pop *p, size_t i)
{
    size_t mask = p->mapcap - 1;
    size_t k = (size_t)id_hash(p->id[i], p->idlen[i]) & mask;
    while (p->map[k] != 0)
        k = (k + 1) & mask;
    p->map[k] = (uint32_t)i + 1;
}

static void map_build(struct pop *p, size_t need)
{
    size_t cap = 1024;
    while (cap < 2 * need)
        cap *= 2;
    free(p->map);
    p->map = calloc(cap, sizeof *p->map);
    CHECK(p->map != NULL);
    p->mapcap = cap;
    for (size_t i = 0; i < p->n; i++)
        map_insert(p, i);
}

/* The index of a client, or SIZE_MAX. */
static size_t pop_find(struct pop *p, const char *id, size_t len)
{
    if (p->map == NULL)
        map_build(p, p->n);
    size_t mask = p->mapcap - 1;
    for (size_t k = (size_t)id_hash(id, len) & mask; p->map[k] != 0;
         k = (k + 1) & mask) {
        size_t i = p->map[k] - 1;
        if (p->idlen[i] == len && memcmp(p->id[i], id, len) == 0)
            return i;
    }
    return SIZE_MAX;
}

static size_t pop_add(struct pop *p, const char *id, size_t len)
{
    CHECK(len > 0 && len <= ID_CAP);
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 1024;
        p->v[0] = xrealloc(p->v[0], p->cap * sizeof *p->v[0]);
        p->v[1] = xrealloc(p->v[1], p->cap * sizeof *p->v[1]);
        p->want_hash = xrealloc(p->want_hash, p->cap * sizeof *p->want_hash);
        p->id = xrealloc(p->id, p->cap * sizeof *p->id);
        p->idlen = xrealloc(p->idlen, p->cap * sizeof *p->idlen);
    }
    size_t i = p->n++;
    p->v[0][i] = p->v[1][i] = 0;
    p->want_hash[i] = 0;
    memcpy(p->id[i], id, len);
    p->idlen[i] = (uint8_t)len;
    if (p->map != NULL) {
        if (2 * p->n > p->mapcap)
            map_build(p, p->n);
        else
            map_insert(p, i);
    }
    return i;
}

/* A new client "c<number>". */
static size_t pop_add_numbered(struct pop *p)
{
    char id[ID_CAP];
    int n = snprintf(id, sizeof id, "c%zu", p->n);
    CHECK(n > 0 && (size_t)n < sizeof id);
    return pop_add(p, id, (size_t)n);
}

/* A new client whose client key starts with the bits of want. */
static size_t pop_add_keyed(struct pop *p, uint32_t want, unsigned bits)
{
    char id[8];
    for (;;) {
        craft_id(want, bits, id);
        if (p->n == 0 || pop_find(p, id, 8) == SIZE_MAX)
            return pop_add(p, id, 8);
    }
}

/* A new client whose id lands in bucket top. */
static size_t pop_add_in_bucket(struct pop *p, uint16_t top)
{
    return pop_add_keyed(p, top, 16);
}

/* Version v (>= 1) of client i's record: a later client time for a
 * larger v, everything else (server, difference, location, time digits)
 * varied with i and v. */
static void gen_line(const struct pop *p, size_t i, unsigned v, struct line *l)
{
    uint64_t hc = mix64(p->salt ^ mix64((uint64_t)i + 1));
    uint64_t hv = mix64(hc ^ ((uint64_t)v << 40) ^ v);
    char diff[32], loc[48], tm[48];
    size_t dn = 0, ln = 0, tn = 0;
    diff[dn++] = (hv >> 8) & 1 ? '-' : '+';
    dn += put_u64(diff + dn, (hv >> 9) % 3);
    diff[dn++] = '.';
    dn += put_pad(diff + dn, (hv >> 12) % 1000000000u, 9);
    loc[ln++] = (hv >> 62) & 1 ? '-' : '+';
    ln += put_u64(loc + ln, (hv >> 16) % 90);
    loc[ln++] = '.';
    ln += put_pad(loc + ln, (hv >> 24) % 1000000u, 6);
    loc[ln++] = (hv >> 63) & 1 ? '-' : '+';
    ln += put_u64(loc + ln, (hv >> 32) % 180);
    loc[ln++] = '.';
    ln += put_pad(loc + ln, (hv >> 40) % 1000000u, 6);
    uint64_t sec = 1600000000u + hc % 100000000u + v;
    uint32_t nsec = (uint32_t)((hv >> 3) % 1000000000u);
    tn += put_u64(tm, sec);
    tm[tn++] = '.';
    tn += put_pad(tm + tn, nsec, 9);
    build_line(l, server_names[hv % 5], diff, dn, p->id[i], p->idlen[i], loc,
               ln, tm, tn, sec, nsec);
}

/* ---- the link -------------------------------------------------------- */

/* Lines on their way, oldest first: each a 4-byte length and the bytes. */
struct fifo {
    char *buf;
    size_t head, tail, cap;
    size_t n;
    size_t bytes; /* with a newline each */
};

static void fifo_push(struct fifo *f, const char *p, size_t len)
{
    size_t need = 4 + len;
    if (f->tail + need > f->cap) {
        if (f->head > 0 && f->head >= f->cap / 2) {
            memmove(f->buf, f->buf + f->head, f->tail - f->head);
            f->tail -= f->head;
            f->head = 0;
        }
        size_t cap = f->cap ? f->cap : 4096;
        while (f->tail + need > cap)
            cap *= 2;
        if (cap != f->cap) {
            f->buf = xrealloc(f->buf, cap);
            f->cap = cap;
        }
    }
    uint32_t l = (uint32_t)len;
    memcpy(f->buf + f->tail, &l, 4);
    memcpy(f->buf + f->tail + 4, p, len);
    f->tail += need;
    f->n++;
    f->bytes += len + 1;
}

/* The oldest line, in a block of its own size (so that a read past its
 * end is caught); the caller frees it. */
static char *fifo_pop(struct fifo *f, size_t *len)
{
    CHECK(f->n > 0);
    uint32_t l;
    memcpy(&l, f->buf + f->head, 4);
    char *c = malloc(l ? l : 1);
    CHECK(c != NULL);
    memcpy(c, f->buf + f->head + 4, l);
    f->head += 4 + (size_t)l;
    f->n--;
    f->bytes -= (size_t)l + 1;
    if (f->n == 0)
        f->head = f->tail = 0;
    *len = l;
    return c;
}

struct side {
    int idx; /* which version of a pop it holds: 0 (A) or 1 (B) */
    const char *name;
    struct store store;
    struct sync sync;
    struct fifo out; /* lines to the other side */
    int synced;      /* sync_init was called */
    /* Counted by the harness since link-up, for what this side sent. */
    uint64_t msg_lines, msg_bytes, recs, rec_bytes, floods, flood_bytes;
    uint64_t pump_rec_bytes; /* in the current sync_pump call */
    uint32_t last_rec_len;
    uint64_t full_bytes; /* all its records with newlines, at link-up */
    uint64_t full_count;
    uint64_t recv_recs, recv_kept; /* records it received */
};

static void side_init(struct side *s, int idx, const char *name, uint64_t k)
{
    memset(s, 0, sizeof *s);
    s->idx = idx;
    s->name = name;
    store_init(&s->store, k, mix64(k));
}

static void side_close(struct side *s)
{
    if (s->synced)
        sync_close(&s->sync);
    store_close(&s->store);
    free(s->out.buf);
    memset(s, 0, sizeof *s);
}

static void on_send_line(void *arg, const char *line, size_t len)
{
    struct side *s = arg;
    CHECK(len > 0 && len <= SYNC_LINE_MAX);
    CHECK(memchr(line, '\n', len) == NULL);
    s->msg_lines++;
    s->msg_bytes += len + 1;
    fifo_push(&s->out, line, len);
}

static void on_send_record(void *arg, const struct record *r)
{
    struct side *s = arg;
    /* Only what the store held at link-up. */
    CHECK(r->seq != 0 && r->seq <= s->sync.start_seq);
    if (s->recs % 16 == 0) /* and the client's current record */
        CHECK(store_get(&s->store, r->line + r->client_off, r->client_len) ==
              r);
    s->recs++;
    s->rec_bytes += (uint64_t)r->len + 1;
    s->pump_rec_bytes += (uint64_t)r->len + 1;
    s->last_rec_len = r->len;
    fifo_push(&s->out, r->line, r->len);
}

static const struct sync_ops test_ops = {on_send_line, on_send_record};

/* The link comes up: a dials, b accepts; each is told the other's count
 * and digest (as its HELLO would carry them). */
static void link_up_with(struct side *a, struct side *b, uint64_t a_sees_count,
                         uint64_t a_sees_digest, uint64_t b_sees_count,
                         uint64_t b_sees_digest)
{
    struct side *sides[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        struct side *s = sides[k];
        CHECK_EQ_INT(s->out.n, 0);
        if (s->synced)
            sync_close(&s->sync);
        sync_init(&s->sync, &s->store, &test_ops, s, k == 0);
        s->synced = 1;
        s->msg_lines = s->msg_bytes = s->recs = s->rec_bytes = 0;
        s->floods = s->flood_bytes = s->recv_recs = s->recv_kept = 0;
        s->full_bytes = s->store.bytes + s->store.count;
        s->full_count = s->store.count;
    }
    sync_start(&a->sync, a_sees_count, a_sees_digest);
    sync_start(&b->sync, b_sees_count, b_sees_digest);
}

static void link_up(struct side *a, struct side *b)
{
    link_up_with(a, b, b->store.count, b->store.digest, a->store.count,
                 a->store.digest);
}

/* A line arrives at to, as the server takes it. */
static void deliver(struct side *to, const char *line, size_t len)
{
    if (len > 3 && memcmp(line, "AT ", 3) == 0) { /* how servers send it */
        struct proto_command c;
        CHECK_EQ_INT(proto_parse(line, len, &c), PROTO_OK);
        CHECK_EQ_INT(c.kind, PROTO_AT);
        struct record *r = record_from_at(line, len, &c);
        CHECK(r != NULL);
        const struct record *cur;
        int rc = store_apply(&to->store, r, &cur);
        CHECK(rc == STORE_CHANGED || rc == STORE_STALE);
        to->recv_recs++;
        if (rc == STORE_CHANGED)
            to->recv_kept++;
        else
            free(r);
        return;
    }
    struct strparse_slice f[PROTO_MAX_FIELDS];
    size_t n = strparse_split(line, len, f, PROTO_MAX_FIELDS);
    int rc = sync_on_line(&to->sync, f, n);
    if (rc != 0) {
        fflush(stdout);
        fprintf(stderr, "%s: sync_on_line returned %d for \"%.*s\"\n", to->name,
                rc, (int)len, line);
    }
    CHECK_EQ_INT(rc, 0);
}

struct run_cfg {
    const size_t *budgets; /* one picked at random per sync_pump call */
    size_t nbudgets;
    size_t room; /* pump only while fewer bytes wait on the link; 0: any */
    int partial; /* deliver a random share of the waiting lines a round */
    void (*hook)(struct side *a, struct side *b, void *arg); /* each round */
    void *arg;
    unsigned long max_rounds; /* stop there, done or not (0: run to the end) */
};

static size_t max_pump; /* the largest sync_pump return of a run */

static void pump(struct side *s, const struct run_cfg *cfg)
{
    size_t budget = cfg->budgets[below(cfg->nbudgets)];
    if (cfg->room != 0) {
        if (s->out.bytes >= cfg->room)
            return;
        if (budget > cfg->room - s->out.bytes)
            budget = cfg->room - s->out.bytes;
    }
    s->pump_rec_bytes = 0;
    size_t got = sync_pump(&s->sync, budget);
    CHECK(got == s->pump_rec_bytes);
    /* Flow control: it stops once budget bytes went out, so everything but
     * the last record went out under the budget. */
    if (got > 0)
        CHECK(got - (s->last_rec_len + 1) < budget);
    if (got > max_pump)
        max_pump = got;
}

static void deliver_some(struct side *from, struct side *to, int partial)
{
    size_t k = from->out.n;
    if (partial && k > 0)
        k = 1 + (size_t)below(k);
    for (size_t i = 0; i < k; i++) {
        size_t len;
        char *line = fifo_pop(&from->out, &len);
        deliver(to, line, len);
        free(line);
    }
}

static int link_quiet(const struct side *a, const struct side *b)
{
    return sync_idle(&a->sync) && sync_idle(&b->sync) && a->out.n == 0 &&
           b->out.n == 0;
}

/* Runs the link until both sides are done; returns the rounds. */
static unsigned long run(struct side *a, struct side *b,
                         const struct run_cfg *cfg)
{
    unsigned long round = 0;
    max_pump = 0;
    while (!link_quiet(a, b)) {
        if (cfg->max_rounds != 0 && round == cfg->max_rounds)
            break;
        CHECK(round < 1000000);
        round++;
        pump(a, cfg);
        pump(b, cfg);
        if (cfg->hook != NULL)
            cfg->hook(a, b, cfg->arg);
        if (below(2)) {
            deliver_some(a, b, cfg->partial);
            deliver_some(b, a, cfg->partial);
        } else {
            deliver_some(b, a, cfg->partial);
            deliver_some(a, b, cfg->partial);
        }
        /* Nothing on the way, nothing to send, and yet someone waits: a
         * DONE that will never come. */
        if (a->out.n == 0 && b->out.n == 0 && !sync_has_queue(&a->sync) &&
            !sync_has_queue(&b->sync) && !link_quiet(a, b)) {
            fflush(stdout);
            fprintf(stderr, "stuck: A outstanding %llu, B outstanding %llu\n",
                    (unsigned long long)a->sync.outstanding,
                    (unsigned long long)b->sync.outstanding);
            CHECK(!"catch-up stuck");
        }
    }
    return round;
}

static void report(const char *what, const struct side *a, const struct side *b,
                   unsigned long rounds, double secs)
{
    const struct side *sides[2] = {a, b};
    printf("# %s: %lu rounds, %.2f s\n", what, rounds, secs);
    for (int k = 0; k < 2; k++) {
        const struct side *s = sides[k];
        printf("#   %s->%s: %llu messages (%llu bytes; sync_stats %llu), "
               "%llu records (%llu bytes), %llu floods; full exchange "
               "%llu records (%llu bytes)\n",
               s->name, sides[1 - k]->name, (unsigned long long)s->msg_lines,
               (unsigned long long)s->msg_bytes,
               (unsigned long long)s->sync.st.line_bytes,
               (unsigned long long)s->recs, (unsigned long long)s->rec_bytes,
               (unsigned long long)s->floods, (unsigned long long)s->full_count,
               (unsigned long long)s->full_bytes);
    }
}

/* The harness's counts agree with the module's. */
static void check_stats(const struct side *s)
{
    CHECK(s->sync.st.lines_sent == s->msg_lines);
    CHECK(s->sync.st.line_bytes == s->msg_bytes);
    CHECK(s->sync.st.records_sent == s->recs);
    CHECK(s->sync.st.record_bytes == s->rec_bytes);
}

/* ---- checks ----------------------------------------------------------- */

/* The buckets of a store: digests and counts add up to the store's, and
 * each list holds, once, exactly the records of its clients. */
static void check_buckets(const struct store *s)
{
    if (s->buckets == NULL) {
        CHECK_EQ_INT(s->count, 0);
        CHECK(s->digest == 0);
        return;
    }
    uint64_t digest = 0, total = 0;
    for (uint32_t b = 0; b < STORE_BUCKETS; b++) {
        const struct store_bucket *bk = &s->buckets[b];
        digest ^= bk->digest;
        total += bk->count;
        uint64_t d = 0;
        uint32_t n = 0;
        const struct record *prev = NULL;
        for (const struct record *r = bk->head; r != NULL; r = r->bnext) {
            CHECK(r->bprev == prev);
            CHECK(n < bk->count); /* no cycle, no stray records */
            const char *id = r->line + r->client_off;
            uint32_t key = store_key_of(s, id, r->client_len);
            CHECK_EQ_INT(key >> (32 - STORE_BUCKET_BITS), b);
            CHECK_EQ_INT((uint16_t)key, r->sub);
            CHECK(r->hash == store_record_hash(r));
            CHECK(store_get(s, id, r->client_len) == r);
            d ^= r->hash;
            n++;
            prev = r;
        }
        CHECK_EQ_INT(n, bk->count);
        CHECK(d == bk->digest);
    }
    CHECK(digest == s->digest);
    CHECK_EQ_INT(total, s->count);
}

struct same_arg {
    const struct store *other;
    uint64_t bytes;
};

static int same_in_other(void *arg, const struct record *r)
{
    struct same_arg *sa = arg;
    const struct record *o =
        store_get(sa->other, r->line + r->client_off, r->client_len);
    CHECK(o != NULL);
    check_record_line(o, r->line, r->len);
    sa->bytes += r->len;
    return 0;
}

/* Both stores hold the same records. */
static void check_same(const struct side *a, const struct side *b)
{
    CHECK_EQ_INT(a->store.count, b->store.count);
    CHECK(a->store.digest == b->store.digest);
    CHECK(a->store.bytes == b->store.bytes);
    struct same_arg sa = {&b->store, 0};
    CHECK_EQ_INT(store_foreach(&a->store, same_in_other, &sa), 0);
    CHECK(sa.bytes == a->store.bytes);
}

/* Both stores hold, for every client of p, the line of the larger of the
 * versions A and B held; from now on both hold that. */
static void check_pop(const struct side *a, const struct side *b, struct pop *p)
{
    struct line l;
    size_t want = 0;
    for (size_t i = 0; i < p->n; i++) {
        unsigned v = p->v[0][i] > p->v[1][i] ? p->v[0][i] : p->v[1][i];
        const struct record *ra = store_get(&a->store, p->id[i], p->idlen[i]);
        const struct record *rb = store_get(&b->store, p->id[i], p->idlen[i]);
        if (v == 0) {
            CHECK(ra == NULL && rb == NULL);
            continue;
        }
        want++;
        gen_line(p, i, v, &l);
        check_record_line(ra, l.buf, l.len);
        check_record_line(rb, l.buf, l.len);
        p->v[0][i] = p->v[1][i] = (uint16_t)v;
    }
    CHECK_EQ_INT(a->store.count, want);
    CHECK_EQ_INT(b->store.count, want);
    CHECK_EQ_INT(p->want_count, want);
    CHECK(a->store.digest == p->want_digest);
    CHECK(a->store.digest == b->store.digest);
    CHECK(a->store.bytes == b->store.bytes);
}

/* check_pop in one pass over the stores, for the big ones: the same
 * count and digest as the newer versions make (so every client holds the
 * newer one, but for a 64-bit hash collision), the same line for every
 * client in both, and the exact lines of the clients in changed[] and of
 * a sample of the others. */
static void check_pop_fast(const struct side *a, const struct side *b,
                           struct pop *p, const size_t *changed,
                           size_t nchanged)
{
    CHECK_EQ_INT(a->store.count, p->want_count);
    CHECK(a->store.digest == p->want_digest);
    check_same(a, b);
    struct line l;
    for (size_t k = 0; k < nchanged + 2000; k++) {
        size_t i = k < nchanged ? changed[k] : (size_t)below(p->n);
        gen_line(p, i, newest(p, i), &l);
        check_record_line(store_get(&a->store, p->id[i], p->idlen[i]), l.buf,
                          l.len);
    }
    for (size_t i = 0; i < p->n; i++)
        p->v[0][i] = p->v[1][i] = (uint16_t)newest(p, i);
}

/* ---- stores from a population ---------------------------------------- */

/* Side idx now holds r, version v of client i. */
static void pop_note(struct pop *p, int idx, size_t i, unsigned v,
                     const struct record *r)
{
    CHECK(v > p->v[idx][i] && v <= UINT16_MAX);
    CHECK(r->hash == store_record_hash(r));
    if (v > newest(p, i)) {
        if (newest(p, i) == 0)
            p->want_count++;
        p->want_digest ^= p->want_hash[i] ^ r->hash;
        p->want_hash[i] = r->hash;
    }
    p->v[idx][i] = (uint16_t)v;
}

/* s keeps version v of client i (newer than what it has). */
static const struct record *side_put(struct side *s, struct pop *p, size_t i,
                                     unsigned v)
{
    struct line l;
    gen_line(p, i, v, &l);
    struct record *r = make_record(&l);
    const struct record *cur;
    CHECK_EQ_INT(store_apply(&s->store, r, &cur), STORE_CHANGED);
    pop_note(p, s->idx, i, v, r);
    return r;
}

/* s keeps a copy of r, version v of client i. */
static void side_put_copy(struct side *s, struct pop *p, size_t i, unsigned v,
                          const struct record *r)
{
    const struct record *cur;
    CHECK_EQ_INT(store_apply(&s->store, dup_record(r), &cur), STORE_CHANGED);
    pop_note(p, s->idx, i, v, cur);
}

/* s gets an update newer than anything either side has of client i, and
 * floods it to the other side (it goes on the link after whatever waits
 * there already). */
static void flood_newer(struct side *s, struct pop *p, size_t i)
{
    const struct record *r = side_put(s, p, i, newest(p, i) + 1);
    s->floods++;
    s->flood_bytes += r->len + 1;
    fifo_push(&s->out, r->line, r->len);
}

/* n new clients held by both sides at version 1. */
static void add_common(struct side *a, struct side *b, struct pop *p, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        size_t i = pop_add_numbered(p);
        const struct record *r = side_put(a, p, i, 1);
        side_put_copy(b, p, i, 1, r);
    }
}

/* d differences between the stores, about a quarter of each kind: a
 * client newer on A, newer on B, a new client only on A, only on B. */
static void add_differences(struct side *a, struct side *b, struct pop *p,
                            size_t d)
{
    size_t n0 = p->n;
    for (size_t k = 0; k < d; k++) {
        switch (k % 4) {
        case 0:
        case 1: {
            struct side *s = k % 4 == 0 ? a : b;
            size_t i;
            do
                i = (size_t)below(n0);
            while (p->v[0][i] != p->v[1][i]); /* one difference each */
            side_put(s, p, i, newest(p, i) + 1 + (unsigned)below(3));
            break;
        }
        default: {
            size_t i = pop_add_numbered(p);
            side_put(k % 4 == 2 ? a : b, p, i, 1 + (unsigned)below(5));
            break;
        }
        }
    }
}

/* ---- the cases --------------------------------------------------------- */

static const size_t budgets_small[] = {1, 100, 1024, 1024, 1500};
static const size_t budgets_mixed[] = {1024, 1024, 16384, 262144, 1u << 20};
static const size_t budgets_large[] = {1u << 20};

static void check_idle_at_once(struct side *a, struct side *b)
{
    CHECK_EQ_INT(a->out.n, 0);
    CHECK_EQ_INT(b->out.n, 0);
    CHECK(sync_idle(&a->sync));
    CHECK(sync_idle(&b->sync));
    CHECK(!sync_has_queue(&a->sync));
    CHECK(!sync_has_queue(&b->sync));
    CHECK_EQ_INT(sync_pump(&a->sync, 1u << 20), 0);
    CHECK_EQ_INT(sync_pump(&b->sync, 1u << 20), 0);
    CHECK_EQ_INT(a->out.n + b->out.n, 0);
}

/* Case 1: equal stores (and two empty ones) send nothing at all. */
static void test_identical_stores_send_nothing(void)
{
    seed_case("identical", 0x1d);
    struct side a, b;
    side_init(&a, 0, "A", 1);
    side_init(&b, 1, "B", 2);
    link_up(&a, &b);
    check_idle_at_once(&a, &b);

    struct pop p;
    pop_init(&p, 0x1d);
    add_common(&a, &b, &p, 20000);
    link_up(&a, &b);
    check_idle_at_once(&a, &b);
    struct run_cfg cfg = {budgets_small, 5, 0, 0, NULL, NULL, 0};
    CHECK_EQ_INT(run(&a, &b, &cfg), 0);
    CHECK_EQ_INT(a.msg_lines + b.msg_lines + a.recs + b.recs, 0);
    check_pop(&a, &b, &p);
    check_buckets(&a.store);
    side_close(&a);
    side_close(&b);
    pop_free(&p);
}

static size_t env_size(const char *name, size_t dflt)
{
    const char *env = getenv(name);
    if (env != NULL && *env != '\0')
        return (size_t)strtoull(env, NULL, 0);
    return dflt;
}

static int env_big(void)
{
    const char *env = getenv("HERD_SYNC_BIG");
    return env != NULL && strcmp(env, "1") == 0;
}

/* One catch-up of the big stores; changed[] are the clients that
 * differed. */
static void big_round(struct side *a, struct side *b, struct pop *p,
                      const char *what, const struct run_cfg *cfg,
                      const size_t *changed, size_t nchanged)
{
    double t = now_s();
    link_up(a, b);
    unsigned long rounds = run(a, b, cfg);
    report(what, a, b, rounds, now_s() - t);
    check_stats(a);
    check_stats(b);
    t = now_s();
    check_pop_fast(a, b, p, changed, nchanged);
    printf("#   checked in %.2f s\n", now_s() - t);
}

/* Case 2: N common clients (200 000; 1 000 000 with HERD_SYNC_BIG=1) and
 * k differences, k = 0, 1 and 100 (k = all: test_all_differ). For k = 100
 * the messages stay under 64 KiB each way (about 45 KB at 200 000, 52 KB
 * at 1 000 000) and the records sent near k: an exchanged node carries
 * its few (SYNC_DIRECT) records from each side, not only the one that
 * differs. */
static void test_big_differences(void)
{
    seed_case("big", 0xb16);
    size_t n = env_size("HERD_SYNC_N", env_big() ? 1000000 : 200000);
    double t = now_s();
    struct pop p;
    pop_init(&p, 0xb16);
    struct side a, b;
    side_init(&a, 0, "A", 11);
    side_init(&b, 1, "B", 12);
    CHECK_EQ_INT(store_reserve(&a.store, n + n / 8), 0);
    CHECK_EQ_INT(store_reserve(&b.store, n + n / 8), 0);
    add_common(&a, &b, &p, n);
    printf("# big: %zu clients on both sides, built in %.2f s\n", n,
           now_s() - t);

    /* k = 0 */
    link_up(&a, &b);
    check_idle_at_once(&a, &b);
    CHECK(a.store.digest == p.want_digest && b.store.digest == p.want_digest);

    /* k = 1: a client newer on B. */
    struct run_cfg small = {budgets_small, 5, 65536, 0, NULL, NULL, 0};
    size_t changed[100];
    changed[0] = (size_t)below(p.n);
    side_put(&b, &p, changed[0], newest(&p, changed[0]) + 1);
    big_round(&a, &b, &p, "big k=1", &small, changed, 1);
    CHECK(a.recs <= 2 && b.recs <= 2);
    CHECK(b.recs >= 1);
    CHECK(a.msg_bytes <= 4096 && b.msg_bytes <= 4096);

    /* k = 100 (25 newer on A, 25 on B, 25 only on A, 25 only on B), mixed
     * budgets, lines delivered in random shares. */
    struct run_cfg mixed = {budgets_mixed, 5, 262144, 1, NULL, NULL, 0};
    size_t n0 = p.n;
    add_differences(&a, &b, &p, 100);
    size_t nc = 0;
    for (size_t i = 0; i < p.n; i++)
        if (p.v[0][i] != p.v[1][i]) {
            CHECK(nc < 100);
            changed[nc++] = i;
        }
    CHECK_EQ_INT(nc, 100);
    CHECK_EQ_INT(p.n - n0, 50);
    big_round(&a, &b, &p, "big k=100", &mixed, changed, nc);
    CHECK(a.msg_bytes <= 65536);
    CHECK(b.msg_bytes <= 65536);
    CHECK(a.recs <= 100 + 50);
    CHECK(b.recs <= 100 + 50);

    t = now_s();
    check_buckets(&a.store);
    printf("# big: buckets of A checked in %.2f s\n", now_s() - t);
    side_close(&a);
    side_close(&b);
    pop_free(&p);
}

/* Case 2, k = all: every client's record differs, newer on one side or
 * the other, and one in a hundred clients is on one side only. Sent whole
 * (level-3 nodes whose 16 children all differ), the catch-up costs a full
 * exchange and some 1.2 MB of SUMS for the levels above it: within 5%
 * (400 000 here, 1 000 000 with HERD_SYNC_BIG=1). A level-3 node whose
 * children differ except some empty on both sides is sent whole too
 * (without that rule a sparse store cost 1.23 full exchanges at
 * 200 000). */
static void test_all_differ(void)
{
    seed_case("all differ", 0xa11);
    size_t n = env_size("HERD_SYNC_ALL_N", env_big() ? 1000000 : 400000);
    double t = now_s();
    struct pop p;
    pop_init(&p, 0xa11);
    struct side a, b;
    side_init(&a, 0, "A", 13);
    side_init(&b, 1, "B", 14);
    CHECK_EQ_INT(store_reserve(&a.store, n), 0);
    CHECK_EQ_INT(store_reserve(&b.store, n), 0);
    for (size_t k = 0; k < n; k++) {
        size_t i = pop_add_numbered(&p);
        unsigned va = 1 + (unsigned)below(2);
        if (k % 100 == 99) {
            side_put(va == 1 ? &a : &b, &p, i, 1);
            continue;
        }
        side_put(&a, &p, i, va);
        side_put(&b, &p, i, 3 - va);
    }
    printf("# all differ: %zu clients, built in %.2f s\n", n, now_s() - t);
    struct run_cfg large = {budgets_large, 1, 0, 0, NULL, NULL, 0};
    big_round(&a, &b, &p, "all differ", &large, NULL, 0);
    double ra = (double)(a.msg_bytes + a.rec_bytes) / (double)a.full_bytes;
    double rb = (double)(b.msg_bytes + b.rec_bytes) / (double)b.full_bytes;
    printf("#   sent/full exchange: A->B %.4f, B->A %.4f\n", ra, rb);
    if (n >= 400000) {
        CHECK(ra <= 1.05);
        CHECK(rb <= 1.05);
    }
    /* Each side sends its records, less those the other's newer copies
     * replaced before its walk came to them. */
    CHECK(a.recs <= a.full_count && b.recs <= b.full_count);
    CHECK(a.recs + b.recs >= p.n);
    t = now_s();
    check_buckets(&a.store);
    printf("# all differ: buckets of A checked in %.2f s\n", now_s() - t);
    side_close(&a);
    side_close(&b);
    pop_free(&p);
}

/* Case 3: records that differ only in the time, or only in a tie-break,
 * converge to the one record_compare says is newer. */
static const char *const tie_pairs[][2] = {
    /* a later time, same place */
    {"AT Alford +0.100000000 t1 +1+1 100",
     "AT Alford +0.100000000 t1 +1+1 100.000000001"},
    {"AT Alford +0.100000000 t2 +1+1 100.0000000001",
     "AT Alford +0.100000000 t2 +1+1 100"},
    {"AT Bolden +0.100000000 t3 +34.068930-118.445127 1621464827.959498503",
     "AT Bolden +0.100000000 t3 +34.068930-118.445127 1621464828"},
    /* the same time, another server name */
    {"AT Bolden +0.100000000 t4 +1+1 100",
     "AT Alford +0.100000000 t4 +1+1 100"},
    {"AT Al +0.100000000 t5 +1+1 100", "AT Alford +0.100000000 t5 +1+1 100"},
    /* the same time written otherwise */
    {"AT Alford +0.100000000 t6 +1+1 100.5",
     "AT Alford +0.100000000 t6 +1+1 100.500"},
    /* the same everything but the time difference */
    {"AT Alford +0.500000000 t7 +1+1 100",
     "AT Alford +0.100000000 t7 +1+1 100"},
    {"AT Alford -0.100000000 t8 +1+1 100",
     "AT Alford +0.100000000 t8 +1+1 100"},
    {"AT Alford +10.000000000 t9 +1+1 100",
     "AT Alford +9.999999999 t9 +1+1 100"},
    /* another place at the same time: the bytes decide */
    {"AT Alford +0.100000000 t10 +1+2 100",
     "AT Alford +0.100000000 t10 +1+1 100"},
};
#define NTIES (sizeof tie_pairs / sizeof tie_pairs[0])

static void test_ties_converge_to_newer(void)
{
    seed_case("ties", 0x71e5);
    for (int round = 0; round < 4; round++) {
        struct side a, b;
        side_init(&a, 0, "A", 21);
        side_init(&b, 1, "B", 22);
        struct pop p;
        pop_init(&p, 0x71e5 + (uint64_t)round);
        add_common(&a, &b, &p, 3000);
        /* Rounds 0 and 2 give A the first of each pair, 1 and 3 the
         * second; 2 and 3 add 200 more pairs, in one bucket. */
        const char *want[NTIES];
        for (size_t k = 0; k < NTIES; k++) {
            struct record *ra = record_of(tie_pairs[k][round & 1]);
            struct record *rb = record_of(tie_pairs[k][!(round & 1)]);
            int c = record_compare(ra, rb);
            CHECK(c != 0);
            CHECK(record_compare(rb, ra) * c < 0);
            want[k] = tie_pairs[k][c > 0 ? round & 1 : !(round & 1)];
            const struct record *cur;
            CHECK_EQ_INT(store_apply(&a.store, ra, &cur), STORE_CHANGED);
            CHECK_EQ_INT(store_apply(&b.store, rb, &cur), STORE_CHANGED);
        }
        if (round >= 2) {
            /* Many pairs of crafted clients in one bucket: the same line
             * but the difference (even i) or the server name (odd i). */
            uint16_t top = (uint16_t)below(65536);
            for (int i = 0; i < 200; i++) {
                size_t ix = pop_add_in_bucket(&p, top);
                char da[16], db[16];
                snprintf(da, sizeof da, "+0.%09d", i & 1 ? 7 : 100 + i);
                snprintf(db, sizeof db, "+0.%09d", i & 1 ? 7 : 200 + i);
                struct line l;
                gen_line(&p, ix, 1, &l); /* client, location, time */
                struct line ta, tb;
                build_line(&ta, i & 1 ? "X1" : "X", da, 12, l.c.client.p,
                           l.c.client.len, l.c.location.p, l.c.location.len,
                           l.c.time.p, l.c.time.len, l.c.sec, l.c.nsec);
                build_line(&tb, "X", db, 12, l.c.client.p, l.c.client.len,
                           l.c.location.p, l.c.location.len, l.c.time.p,
                           l.c.time.len, l.c.sec, l.c.nsec);
                struct record *ra = make_record(&ta);
                struct record *rb = make_record(&tb);
                CHECK(record_compare(ra, rb) > 0); /* X1 > X; 100+i < 200+i */
                const struct record *cur;
                CHECK_EQ_INT(store_apply(&a.store, ra, &cur), STORE_CHANGED);
                CHECK_EQ_INT(store_apply(&b.store, rb, &cur), STORE_CHANGED);
            }
        }
        struct run_cfg cfg = {budgets_small, 5, 4096, 1, NULL, NULL, 0};
        link_up(&a, &b);
        unsigned long rounds = run(&a, &b, &cfg);
        char what[64];
        snprintf(what, sizeof what, "ties round %d", round);
        report(what, &a, &b, rounds, 0);
        check_same(&a, &b);
        for (size_t k = 0; k < NTIES; k++) {
            char id[8];
            int n = snprintf(id, sizeof id, "t%zu", k + 1);
            const struct record *r = store_get(&a.store, id, (size_t)n);
            check_record_line(r, want[k], strlen(want[k]));
        }
        if (round >= 2) {
            /* A's crafted records (the newer) everywhere. */
            for (size_t i = 3000; i < p.n; i++) {
                const struct record *r =
                    store_get(&b.store, p.id[i], p.idlen[i]);
                CHECK(r != NULL);
                CHECK(r->len > 5 && r->line[3] == 'X');
                CHECK(r->seq > b.sync.start_seq); /* replaced by A's */
            }
        }
        check_buckets(&a.store);
        check_buckets(&b.store);
        side_close(&a);
        side_close(&b);
        pop_free(&p);
    }
}

/* Case 4: one side empty, the other with many records; either way round. */
static void test_one_side_empty(void)
{
    seed_case("empty side", 0xe5);
    for (int empty = 0; empty < 2; empty++) {
        struct side a, b;
        side_init(&a, 0, "A", 31);
        side_init(&b, 1, "B", 32);
        struct side *full = empty == 0 ? &b : &a;
        struct pop p;
        pop_init(&p, 0xe5);
        for (size_t k = 0; k < 50000; k++)
            side_put(full, &p, pop_add_numbered(&p), 1 + (unsigned)below(9));
        struct run_cfg cfg = {budgets_mixed, 5, 65536, 0, NULL, NULL, 0};
        double t = now_s();
        link_up(&a, &b);
        unsigned long rounds = run(&a, &b, &cfg);
        report(empty == 0 ? "A (dialer) empty" : "B (acceptor) empty", &a, &b,
               rounds, now_s() - t);
        check_stats(&a);
        check_stats(&b);
        check_pop(&a, &b, &p);
        struct side *none = full == &a ? &b : &a;
        CHECK_EQ_INT(none->recs, 0);
        CHECK_EQ_INT(full->recs, 50000);
        CHECK(full->msg_bytes + full->rec_bytes <=
              full->full_bytes + full->full_bytes / 20);
        CHECK(none->msg_bytes <= full->full_bytes / 20);
        check_buckets(&a.store);
        check_buckets(&b.store);
        side_close(&a);
        side_close(&b);
        pop_free(&p);
    }
}

/* Changes made while a walk is inside a bucket. */
struct churn {
    struct pop *p;
    unsigned events, max_events;
    unsigned next_replaced, others_replaced, added, other_side;
    uint64_t last_walk_id; /* to see the walk move on */
};

/* While a side's walk has stopped inside a bucket: the record it goes on
 * from, and a few others of the bucket, get newer versions, and a new
 * client joins the bucket; sometimes the other side gets an update too.
 * Each is flooded to the other side. */
static void churn_hook(struct side *a, struct side *b, void *arg)
{
    struct churn *ch = arg;
    struct pop *p = ch->p;
    struct side *sides[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        struct side *s = sides[k];
        if (ch->events >= ch->max_events || !s->sync.walk_started ||
            !s->sync.walk_has_next || below(3) != 0)
            continue;
        ch->events++;
        uint32_t bucket = s->sync.walk_bucket;
        size_t i = pop_find(p, s->sync.walk_id, s->sync.walk_id_len);
        CHECK(i != SIZE_MAX);
        CHECK_EQ_INT(store_client_key(p->id[i], p->idlen[i]) >> 16, bucket);
        flood_newer(s, p, i);
        ch->next_replaced++;
        /* Two more of the bucket, anywhere in its list. */
        size_t len = s->store.buckets[bucket].count;
        for (int j = 0; j < 2 && len > 1; j++) {
            size_t at = (size_t)below(len);
            const struct record *r = s->store.buckets[bucket].head;
            while (at-- > 0)
                r = r->bnext;
            size_t ri = pop_find(p, r->line + r->client_off, r->client_len);
            CHECK(ri != SIZE_MAX);
            flood_newer(s, p, ri);
            ch->others_replaced++;
        }
        size_t ni = pop_add_in_bucket(p, (uint16_t)bucket);
        flood_newer(s, p, ni);
        ch->added++;
        if (below(2)) {
            struct side *o = sides[1 - k];
            flood_newer(o, p, (size_t)below(p->n));
            ch->other_side++;
        }
    }
}

static void make_dense(struct side *a, struct side *b, struct pop *p,
                       uint16_t top, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        size_t i = pop_add_in_bucket(p, top);
        const struct record *r = side_put(a, p, i, 1);
        side_put_copy(b, p, i, 1, r);
    }
}

/* Case 5: small budgets, and the stores change under the walks. */
static void test_flow_control_and_churn(void)
{
    seed_case("flow control", 0xf10);
    for (int round = 0; round < 3; round++) {
        struct side a, b;
        side_init(&a, 0, "A", 41);
        side_init(&b, 1, "B", 42);
        struct pop p;
        pop_init(&p, 0xf10 + (uint64_t)round);
        add_common(&a, &b, &p, 30000);
        /* Two dense buckets that differ everywhere (each is sent whole),
         * and scattered differences elsewhere. */
        for (int d = 0; d < 2; d++) {
            uint16_t top = (uint16_t)below(65536);
            size_t first = p.n;
            make_dense(&a, &b, &p, top, 1500);
            for (size_t i = first; i < p.n; i++)
                side_put(below(2) ? &a : &b, &p, i, 2);
        }
        add_differences(&a, &b, &p, 3000);
        struct churn ch = {&p, 0, 300, 0, 0, 0, 0, 0};
        struct run_cfg cfg = {
            budgets_small, 5, round == 2 ? 0 : 2048, round == 1, churn_hook,
            &ch,           0};
        double t = now_s();
        link_up(&a, &b);
        unsigned long rounds = run(&a, &b, &cfg);
        report("flow control", &a, &b, rounds, now_s() - t);
        printf("#   %u changes mid-walk: %u next records replaced, %u others, "
               "%u clients added, %u on the other side; largest pump %zu "
               "bytes (longest record %zu)\n",
               ch.events, ch.next_replaced, ch.others_replaced, ch.added,
               ch.other_side, max_pump, longest_record);
        CHECK(ch.events >= 20);
        CHECK(max_pump <= 1500 + longest_record);
        check_stats(&a);
        check_stats(&b);
        check_pop(&a, &b, &p);
        check_buckets(&a.store);
        check_buckets(&b.store);
        side_close(&a);
        side_close(&b);
        pop_free(&p);
    }
}

/* Case 6: thousands of clients in one bucket, a few of them different. */
static void test_dense_bucket(void)
{
    seed_case("dense bucket", 0xde5e);
    for (int round = 0; round < 2; round++) {
        struct side a, b;
        side_init(&a, 0, "A", 51);
        side_init(&b, 1, "B", 52);
        struct pop p;
        pop_init(&p, 0xde5e + (uint64_t)round);
        add_common(&a, &b, &p, 20000);
        uint16_t top = (uint16_t)below(65536);
        size_t first = p.n;
        make_dense(&a, &b, &p, top, 3000);
        /* 5 differences in the bucket (one a new client), 1 outside. */
        size_t nd = round == 0 ? 5 : 12;
        for (size_t d = 0; d + 1 < nd; d++) {
            size_t i = first + (size_t)below(3000);
            side_put(d & 1 ? &a : &b, &p, i, newest(&p, i) + 1);
        }
        side_put(&a, &p, pop_add_in_bucket(&p, top), 1);
        /* Six clients with one whole key (down to level 8), three of them
         * different, one of those on B only. */
        uint32_t key = (uint32_t)top << 16 | (uint32_t)below(65536);
        for (int k = 0; k < 6; k++) {
            size_t i = pop_add_keyed(&p, key, 32);
            CHECK_EQ_INT(store_client_key(p.id[i], 8), key);
            if (k == 5) {
                side_put(&b, &p, i, 1);
                continue;
            }
            const struct record *r = side_put(&a, &p, i, 1);
            side_put_copy(&b, &p, i, 1, r);
            if (k < 2)
                side_put(k ? &a : &b, &p, i, 2);
        }
        nd += 3;
        size_t o = (size_t)below(first);
        side_put(&b, &p, o, newest(&p, o) + 1);
        struct run_cfg cfg = {budgets_small, 5, 4096, 1, NULL, NULL, 0};
        double t = now_s();
        link_up(&a, &b);
        unsigned long rounds = run(&a, &b, &cfg);
        char what[80];
        snprintf(what, sizeof what, "dense bucket %04x, %zu differences",
                 (unsigned)top, nd + 1);
        report(what, &a, &b, rounds, now_s() - t);
        check_pop(&a, &b, &p);
        /* About seven SUMS a difference at most, shared near the root. */
        CHECK(a.msg_bytes <= (nd + 1) * 7 * 280);
        CHECK(b.msg_bytes <= (nd + 1) * 7 * 280);
        CHECK(a.recs <= 3 * (nd + 1) && b.recs <= 3 * (nd + 1));
        check_buckets(&a.store);
        check_buckets(&b.store);
        side_close(&a);
        side_close(&b);
        pop_free(&p);
    }
}

/* Only one side opens (the other was told the stores agree, as when a
 * store changed between the HELLO and link-up): its descent alone must do. */
static void test_one_side_opens(void)
{
    seed_case("one opener", 0x0e);
    for (int opener = 0; opener < 2; opener++) {
        struct side a, b;
        side_init(&a, 0, "A", 61);
        side_init(&b, 1, "B", 62);
        struct pop p;
        pop_init(&p, 0x0e);
        add_common(&a, &b, &p, 20000);
        add_differences(&a, &b, &p, 40);
        if (opener == 0) /* A opens, B thinks all is equal */
            link_up_with(&a, &b, b.store.count, b.store.digest, b.store.count,
                         b.store.digest);
        else
            link_up_with(&a, &b, a.store.count, a.store.digest, a.store.count,
                         a.store.digest);
        CHECK_EQ_INT(a.sync.opened, opener == 0);
        CHECK_EQ_INT(b.sync.opened, opener == 1);
        struct run_cfg cfg = {budgets_small, 5, 4096, 1, NULL, NULL, 0};
        unsigned long rounds = run(&a, &b, &cfg);
        report(opener == 0 ? "only A opens" : "only B opens", &a, &b, rounds,
               0);
        check_pop(&a, &b, &p);
        side_close(&a);
        side_close(&b);
        pop_free(&p);
    }
}

/* ---- malformed and foreign lines ------------------------------------- */

static int on_text(struct sync *s, const char *text)
{
    struct strparse_slice f[PROTO_MAX_FIELDS];
    size_t len = strlen(text);
    char *copy = malloc(len ? len : 1); /* exactly the line: reads past it
                                           are caught */
    CHECK(copy != NULL);
    memcpy(copy, text, len);
    size_t n = strparse_split(copy, len, f, PROTO_MAX_FIELDS);
    int rc = sync_on_line(s, f, n);
    free(copy);
    return rc;
}

static void expect_rc(struct side *s, const char *text, int want)
{
    int rc = on_text(&s->sync, text);
    if (rc != want) {
        fflush(stdout);
        fprintf(stderr, "line \"%s\": got %d, expected %d\n", text, rc, want);
    }
    CHECK_EQ_INT(rc, want);
}

static void sums_line(char *out, size_t cap, const char *prefix, size_t nhex,
                      char fill)
{
    int n = snprintf(out, cap, "SUMS %s ", prefix);
    CHECK(n > 0 && (size_t)n + nhex < cap);
    memset(out + n, fill, nhex);
    out[(size_t)n + nhex] = '\0';
}

/* Case 7. */
static void test_malformed_lines(void)
{
    seed_case("malformed", 0xbad);
    struct side a, b;
    side_init(&a, 0, "A", 71);
    side_init(&b, 1, "B", 72);
    struct pop p;
    pop_init(&p, 0xbad);
    add_common(&a, &b, &p, 500);
    link_up(&a, &b);
    check_idle_at_once(&a, &b);
    struct side *s = &b;

    /* Not catch-up messages. */
    struct strparse_slice none[1];
    CHECK_EQ_INT(sync_on_line(&s->sync, none, 0), SYNC_ENOTSYNC);
    static const char *const foreign[] = {
        "AT Alford +0.100000000 c +1+1 100",
        "IAMAT c +1+1 100",
        "WHATSAT c 10 5",
        "HELLO x",
        "sums - 0",
        "Sums -",
        "pull -",
        "done -",
        "SUMSX -",
        "PULLS -",
        "DON -",
        "DONE\xff -",
        "X",
    };
    for (size_t i = 0; i < sizeof foreign / sizeof foreign[0]; i++)
        expect_rc(s, foreign[i], SYNC_ENOTSYNC);

    char line[600];
    /* Wrong field counts. */
    static const char *const arity[] = {
        "SUMS",     "SUMS -", "PULL",     "PULL - 0",
        "PULL 0 1", "DONE",   "DONE - -", "SUMS - 0 0",
    };
    for (size_t i = 0; i < sizeof arity / sizeof arity[0]; i++)
        expect_rc(s, arity[i], SYNC_EBAD);
    sums_line(line, sizeof line, "-", 256, '0');
    strcat(line, " extra");
    expect_rc(s, line, SYNC_EBAD);

    /* Bad prefixes, in each message. */
    static const char *const prefixes[] = {
        "123456789", "ABC", "0A", "12g",       "--",   "-1",
        "+1",        "0x1", " ",  "fffffffff", "\xff", "-0",
    };
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        if (strcmp(prefixes[i], " ") == 0)
            continue; /* no field at all: the arity cases */
        snprintf(line, sizeof line, "PULL %s", prefixes[i]);
        expect_rc(s, line, SYNC_EBAD);
        snprintf(line, sizeof line, "DONE %s", prefixes[i]);
        expect_rc(s, line, SYNC_EBAD);
        sums_line(line, sizeof line, prefixes[i], 256, '0');
        expect_rc(s, line, SYNC_EBAD);
    }
    /* An empty prefix field and one with a NUL in it, as slices. */
    {
        struct strparse_slice f[3] = {{"PULL", 4}, {"", 0}, {NULL, 0}};
        CHECK_EQ_INT(sync_on_line(&s->sync, f, 2), SYNC_EBAD);
        f[0].p = "DONE";
        CHECK_EQ_INT(sync_on_line(&s->sync, f, 2), SYNC_EBAD);
        char sums[256];
        memset(sums, '0', sizeof sums);
        f[0].p = "SUMS";
        f[2].p = sums;
        f[2].len = sizeof sums;
        CHECK_EQ_INT(sync_on_line(&s->sync, f, 3), SYNC_EBAD);
        static const char nul[] = {'1', '\0', '2'};
        f[1].p = nul;
        f[1].len = sizeof nul;
        CHECK_EQ_INT(sync_on_line(&s->sync, f, 3), SYNC_EBAD);
        f[0].p = "PULL";
        CHECK_EQ_INT(sync_on_line(&s->sync, f, 2), SYNC_EBAD);
    }
    /* SUMS at level 8 (no children), and digests of the wrong shape. */
    sums_line(line, sizeof line, "01234567", 256, '0');
    expect_rc(s, line, SYNC_EBAD);
    sums_line(line, sizeof line, "-", 255, '0');
    expect_rc(s, line, SYNC_EBAD);
    sums_line(line, sizeof line, "-", 257, '0');
    expect_rc(s, line, SYNC_EBAD);
    sums_line(line, sizeof line, "-", 0, '0');
    expect_rc(s, line, SYNC_EBAD);
    sums_line(line, sizeof line, "1", 256, 'A');
    expect_rc(s, line, SYNC_EBAD);
    sums_line(line, sizeof line, "1", 256, 'g');
    expect_rc(s, line, SYNC_EBAD);
    sums_line(line, sizeof line, "1", 256, '0');
    line[strlen(line) - 100] = 'F';
    expect_rc(s, line, SYNC_EBAD);
    /* A DONE when nothing is outstanding. */
    expect_rc(s, "DONE -", SYNC_EBAD);
    expect_rc(s, "DONE 0", SYNC_EBAD);
    expect_rc(s, "DONE 01234567", SYNC_EBAD);
    /* None of it sent anything or changed anything. */
    CHECK_EQ_INT(a.out.n + b.out.n, 0);
    CHECK(sync_idle(&a.sync) && sync_idle(&b.sync));

    /* Good lines do what they say: a SUMS of level 7 answered (all zero
     * digests against an empty node: DONE only), a PULL of a whole key
     * and of everything, then a DONE for our own SUMS. */
    sums_line(line, sizeof line, "0123456", 256, '0');
    expect_rc(s, line, 0);
    CHECK_EQ_INT(b.out.n, 1);
    size_t len;
    char *got = fifo_pop(&b.out, &len);
    CHECK_EQ_MEM(got, "DONE 0123456", len);
    CHECK_EQ_INT(len, 12);
    free(got);
    expect_rc(s, "PULL 01234567", 0);
    expect_rc(s, "PULL -", 0);
    CHECK(sync_has_queue(&s->sync));
    CHECK(!sync_idle(&s->sync));
    while (sync_has_queue(&s->sync))
        sync_pump(&s->sync, 1000);
    CHECK_EQ_INT(b.recs, 500); /* everything, once */
    /* The last two lines: the DONEs, after the records. */
    CHECK_EQ_INT(b.out.n, 502);
    size_t dones = 0;
    while (b.out.n > 0) {
        got = fifo_pop(&b.out, &len);
        if (b.out.n == 501)
            CHECK(len == 13 && memcmp(got, "DONE 01234567", 13) == 0);
        else if (b.out.n == 0)
            CHECK(len == 6 && memcmp(got, "DONE -", 6) == 0);
        else
            CHECK(len > 2 && memcmp(got, "AT ", 3) == 0);
        dones += got[0] == 'D';
        free(got);
    }
    CHECK_EQ_INT(dones, 2);
    CHECK(sync_idle(&s->sync));
    /* An outstanding SUMS takes one DONE, and no more. */
    link_up_with(&a, &b, 1, 1, b.store.count, b.store.digest);
    CHECK_EQ_INT(a.out.n, 1);
    CHECK_EQ_INT(a.sync.outstanding, 1);
    free(fifo_pop(&a.out, &len));
    CHECK_EQ_INT(on_text(&a.sync, "DONE 5"), 0); /* DONEs name no range */
    CHECK(sync_idle(&a.sync));
    CHECK_EQ_INT(on_text(&a.sync, "DONE -"), SYNC_EBAD);
    side_close(&a);
    side_close(&b);
    pop_free(&p);
}

/* The link drops in the middle of a catch-up (whatever was on its way is
 * lost) and comes up again, a few times: the last catch-up completes. */
static void test_interrupted_link(void)
{
    seed_case("interrupted", 0x1e7);
    struct side a, b;
    side_init(&a, 0, "A", 91);
    side_init(&b, 1, "B", 92);
    struct pop p;
    pop_init(&p, 0x1e7);
    add_common(&a, &b, &p, 20000);
    add_differences(&a, &b, &p, 4000);
    struct run_cfg cfg = {budgets_small, 5, 2048, 1, NULL, NULL, 0};
    for (int drop = 0; drop < 4; drop++) {
        cfg.max_rounds = 1 + (unsigned long)below(40);
        link_up(&a, &b);
        unsigned long rounds = run(&a, &b, &cfg);
        printf("# interrupted after %lu rounds: %llu and %llu records sent, "
               "%zu and %zu lines lost\n",
               rounds, (unsigned long long)a.recs, (unsigned long long)b.recs,
               a.out.n, b.out.n);
        CHECK(!link_quiet(&a, &b)); /* it was cut short */
        size_t len;
        while (a.out.n > 0)
            free(fifo_pop(&a.out, &len));
        while (b.out.n > 0)
            free(fifo_pop(&b.out, &len));
    }
    cfg.max_rounds = 0;
    link_up(&a, &b);
    unsigned long rounds = run(&a, &b, &cfg);
    report("after the drops", &a, &b, rounds, 0);
    check_pop(&a, &b, &p);
    check_buckets(&a.store);
    check_buckets(&b.store);
    side_close(&a);
    side_close(&b);
    pop_free(&p);
}

/* Pumps s until its queue is empty, with budget; returns the calls. */
static unsigned pump_all(struct side *s, size_t budget)
{
    unsigned calls = 0;
    while (sync_has_queue(&s->sync)) {
        CHECK(calls < 100000);
        s->pump_rec_bytes = 0;
        CHECK(sync_pump(&s->sync, budget) == s->pump_rec_bytes);
        calls++;
    }
    return calls;
}

/* Takes the records s sent off its FIFO, up to a DONE (which must be
 * done_line); marks each client in seen[] (once only) and returns how
 * many. */
static size_t take_range(struct side *s, struct pop *p, unsigned char *seen,
                         const char *done_line)
{
    size_t n = 0, len;
    for (;;) {
        CHECK(s->out.n > 0);
        char *line = fifo_pop(&s->out, &len);
        if (len > 3 && memcmp(line, "AT ", 3) == 0) {
            struct proto_command c;
            CHECK_EQ_INT(proto_parse(line, len, &c), PROTO_OK);
            size_t i = pop_find(p, c.client.p, c.client.len);
            CHECK(i != SIZE_MAX);
            CHECK(!seen[i]);
            seen[i] = 1;
            n++;
            free(line);
            continue;
        }
        test_eq_mem_(__FILE__, __LINE__, "DONE line", line, len, done_line,
                     strlen(done_line));
        free(line);
        return n;
    }
}

/* A walk stops after PUMP_MAX_VISITS records or buckets whatever the
 * budget, in the middle of a bucket of 70 000 clients, and goes on from
 * there (the record it stopped at replaced meanwhile). */
static void test_pump_visit_limit(void)
{
    seed_case("visit limit", 0x515);
    struct side a, b;
    side_init(&a, 0, "A", 95);
    side_init(&b, 1, "B", 96);
    struct pop p;
    pop_init(&p, 0x515);
    uint16_t top = (uint16_t)below(65536);
    for (size_t k = 0; k < 70000; k++)
        side_put(&a, &p, pop_add_in_bucket(&p, top), 1);
    for (size_t k = 0; k < 1000; k++)
        side_put(&a, &p, pop_add_numbered(&p), 1);
    /* Neither side opens: B asks by hand. */
    link_up_with(&a, &b, a.store.count, a.store.digest, 0, 0);
    CHECK(!a.sync.opened && !b.sync.opened);
    unsigned char *seen = calloc(p.n + 16, 1);
    CHECK(seen != NULL);
    char line[32];

    /* One whole key in the big bucket. */
    size_t j = (size_t)below(70000);
    uint32_t key = store_client_key(p.id[j], p.idlen[j]);
    snprintf(line, sizeof line, "PULL %08x", (unsigned)key);
    CHECK_EQ_INT(on_text(&a.sync, line), 0);
    a.pump_rec_bytes = 0;
    CHECK(sync_pump(&a.sync, SIZE_MAX / 2) == a.pump_rec_bytes);
    CHECK(a.sync.walk_has_next); /* stopped in the bucket, not for bytes */
    size_t w = pop_find(&p, a.sync.walk_id, a.sync.walk_id_len);
    CHECK(w != SIZE_MAX);
    if (w != j)
        side_put(&a, &p, w, 2); /* after link-up: not sent */
    unsigned calls = 1 + pump_all(&a, SIZE_MAX / 2);
    CHECK(calls >= 2);
    /* 70 000 clients share 65 536 keys of the bucket: j's key may be
     * others' too, and they all go (but w, if replaced). */
    size_t want = 0;
    for (size_t i = 0; i < p.n; i++)
        want +=
            store_client_key(p.id[i], p.idlen[i]) == key && (i != w || w == j);
    snprintf(line, sizeof line, "DONE %08x", (unsigned)key);
    CHECK_EQ_INT(take_range(&a, &p, seen, line), want);
    CHECK(seen[j]);
    memset(seen, 0, p.n);

    /* The whole bucket, then everything: each record once. */
    snprintf(line, sizeof line, "PULL %04x", (unsigned)top);
    CHECK_EQ_INT(on_text(&a.sync, line), 0);
    CHECK_EQ_INT(on_text(&a.sync, "PULL -"), 0);
    calls = pump_all(&a, SIZE_MAX / 2);
    printf("# visit limit: %u calls for %llu records\n", calls,
           (unsigned long long)a.recs);
    CHECK(calls >= 3);
    snprintf(line, sizeof line, "DONE %04x", (unsigned)top);
    want = 0; /* one of the other 1000 may be in the bucket too */
    for (size_t i = 0; i < p.n; i++)
        want += store_client_key(p.id[i], p.idlen[i]) >> 16 == top;
    CHECK(want >= 70000);
    CHECK_EQ_INT(take_range(&a, &p, seen, line), want - (w != j));
    memset(seen, 0, p.n);
    CHECK_EQ_INT(take_range(&a, &p, seen, "DONE -"), 71000 - (w != j));
    CHECK(w == j || !seen[w]);
    CHECK_EQ_INT(a.out.n, 0);
    free(seen);
    side_close(&a);
    side_close(&b);
    pop_free(&p);
}

/* Ranges asked for are sent in the order asked, each whole and followed
 * by its DONE, while the queue grows and wraps; past SYNC_MAX_QUEUE
 * ranges, SYNC_EQUEUE. */
static void test_pull_queue_order(void)
{
    seed_case("queue", 0x9e);
    struct side a, b;
    side_init(&a, 0, "A", 97);
    side_init(&b, 1, "B", 98);
    struct pop p;
    pop_init(&p, 0x9e);
    for (size_t k = 0; k < 5000; k++)
        side_put(&a, &p, pop_add_numbered(&p), 1);
    uint32_t *keys = malloc(p.n * sizeof *keys);
    CHECK(keys != NULL);
    for (size_t i = 0; i < p.n; i++)
        keys[i] = store_client_key(p.id[i], p.idlen[i]);
    link_up_with(&a, &b, a.store.count, a.store.digest, 0, 0);
    unsigned char *seen = calloc(p.n, 1);
    CHECK(seen != NULL);
    enum { NPULL = 2000 };
    static char dones[NPULL][16];
    static uint8_t levels[NPULL];
    static uint32_t prefixes[NPULL];
    size_t taken = 0;
    for (size_t k = 0; k < NPULL; k++) {
        unsigned level = 2 + (unsigned)below(7);
        uint32_t key = k % 3 ? keys[below(p.n)] : (uint32_t)rnd();
        uint32_t prefix = key >> (32 - 4 * level);
        char line[32];
        snprintf(line, sizeof line, "PULL %0*x", (int)level, (unsigned)prefix);
        CHECK_EQ_INT(on_text(&a.sync, line), 0);
        snprintf(dones[k], sizeof dones[k], "DONE %0*x", (int)level,
                 (unsigned)prefix);
        levels[k] = (uint8_t)level;
        prefixes[k] = prefix;
        if (below(4) == 0)
            CHECK(sync_pump(&a.sync, 1 + (size_t)below(300)) <
                  300 + longest_record + 1);
        if (below(8) == 0 || k == NPULL - 1) {
            if (k == NPULL - 1)
                pump_all(&a, 1 + (size_t)below(300));
            /* The DONEs out so far, in order, each after its records. */
            for (; taken < NPULL; taken++) {
                /* Is a DONE waiting? Count the lines up to it. */
                size_t off = a.out.head, lines = 0;
                int found = 0;
                while (off < a.out.tail) {
                    uint32_t l;
                    memcpy(&l, a.out.buf + off, 4);
                    lines++;
                    if (l > 4 && memcmp(a.out.buf + off + 4, "DONE", 4) == 0) {
                        found = 1;
                        break;
                    }
                    off += 4 + l;
                }
                if (!found)
                    break;
                memset(seen, 0, p.n);
                size_t got = take_range(&a, &p, seen, dones[taken]);
                size_t want = 0;
                for (size_t i = 0; i < p.n; i++)
                    if (keys[i] >> (32 - 4 * levels[taken]) ==
                        prefixes[taken]) {
                        want++;
                        CHECK(seen[i]);
                    }
                CHECK_EQ_INT(got, want);
                CHECK_EQ_INT(lines, got + 1);
            }
        }
    }
    CHECK_EQ_INT(taken, NPULL);
    CHECK_EQ_INT(a.out.n, 0);
    CHECK(sync_idle(&a.sync));
    printf("# queue: %d ranges, %llu records, queue grew to %zu\n", NPULL,
           (unsigned long long)a.recs, a.sync.qcap);

    /* SYNC_MAX_QUEUE ranges wait; one more is refused. */
    struct strparse_slice f[2] = {{"PULL", 4}, {"0123abcd", 8}};
    for (size_t k = 0; k < SYNC_MAX_QUEUE; k++)
        if (sync_on_line(&b.sync, f, 2) != 0)
            CHECK(!"PULL refused before the queue was full");
    CHECK_EQ_INT(sync_on_line(&b.sync, f, 2), SYNC_EQUEUE);
    CHECK_EQ_INT(b.sync.qlen, SYNC_MAX_QUEUE);
    /* The first few are answered; then the link goes (sync_close). */
    sync_pump(&b.sync, 1000);
    CHECK(b.out.n > 0);
    size_t len;
    while (b.out.n > 0)
        free(fifo_pop(&b.out, &len));
    free(seen);
    free(keys);
    side_close(&a);
    side_close(&b);
    pop_free(&p);
}

/* ---- sync_children and the store's buckets --------------------------- */

/* Case 8: after random applies the buckets add up, and sync_children
 * agrees with a count made from every record's client key. */
struct kid_arg {
    unsigned level;
    uint32_t prefix;
    uint64_t digest[16], count[16];
};

static int kid_visit(void *arg, const struct record *r)
{
    struct kid_arg *k = arg;
    uint32_t key = store_client_key(r->line + r->client_off, r->client_len);
    if (k->level > 0 && key >> (32 - 4 * k->level) != k->prefix)
        return 0;
    unsigned c = (key >> (32 - 4 * (k->level + 1))) & 15;
    k->digest[c] ^= store_record_hash(r);
    k->count[c]++;
    return 0;
}

static void check_children(const struct store *s, unsigned level,
                           uint32_t prefix)
{
    struct kid_arg k;
    memset(&k, 0, sizeof k);
    k.level = level;
    k.prefix = prefix;
    store_foreach(s, kid_visit, &k);
    uint64_t d[16], n[16];
    sync_children(s, level, prefix, d, n);
    for (unsigned c = 0; c < 16; c++) {
        CHECK(d[c] == k.digest[c]);
        CHECK(n[c] == k.count[c]);
    }
}

static void test_bucket_invariants(void)
{
    seed_case("buckets", 0xb0c);
    struct side a;
    side_init(&a, 0, "A", 81);
    struct pop p;
    pop_init(&p, 0xb0c);
    check_buckets(&a.store);
    uint16_t tops[3] = {0, 0xffff, (uint16_t)below(65536)};
    for (int t = 0; t < 3; t++)
        for (int k = 0; k < 300; k++)
            pop_add_in_bucket(&p, tops[t]);
    while (p.n < 20000)
        pop_add_numbered(&p);
    size_t stale = 0;
    for (size_t step = 1; step <= 100000; step++) {
        size_t i = (size_t)below(p.n);
        unsigned v = 1 + (unsigned)below(60);
        struct line l;
        gen_line(&p, i, v, &l);
        struct record *r = make_record(&l);
        const struct record *cur;
        int rc = store_apply(&a.store, r, &cur);
        if (v > p.v[0][i]) {
            CHECK_EQ_INT(rc, STORE_CHANGED);
            p.v[0][i] = (uint16_t)v;
        } else {
            CHECK_EQ_INT(rc, STORE_STALE);
            free(r);
            stale++;
        }
        if (step % 25000 == 0 || step == 1 || step == 10)
            check_buckets(&a.store);
    }
    printf("# buckets: %zu records, %zu stale offers\n", a.store.count, stale);
    /* Every record where the population says. */
    for (size_t i = 0; i < p.n; i++) {
        const struct record *r = store_get(&a.store, p.id[i], p.idlen[i]);
        if (p.v[0][i] == 0) {
            CHECK(r == NULL);
            continue;
        }
        struct line l;
        gen_line(&p, i, p.v[0][i], &l);
        check_record_line(r, l.buf, l.len);
    }
    /* sync_children at every level, at nodes that hold records. */
    for (int k = 0; k < 40; k++) {
        size_t i = (size_t)below(p.n);
        if (k < 8)
            i = (size_t)k * 300 % 900; /* in the dense buckets */
        uint32_t key = store_client_key(p.id[i], p.idlen[i]);
        for (unsigned level = 0; level < SYNC_LEVELS; level++)
            check_children(&a.store, level,
                           level == 0 ? 0 : key >> (32 - 4 * level));
    }
    check_children(&a.store, 3, 0xabc);
    side_close(&a);
    pop_free(&p);
}

/* A store keyed as servers key it from the herd secret: ids crafted into
 * one bucket of the unkeyed client key (what a client could do) spread
 * over the buckets, and two stores keyed alike converge as before. */
static void test_keyed_client_keys(void)
{
    seed_case("keyed", 0x4b);
    struct store s;
    store_init(&s, 1, 2);
    store_set_client_key(&s, 0x0123456789abcdefULL, 0x0fedcba987654321ULL);
    static unsigned char seen[STORE_BUCKETS / 8];
    memset(seen, 0, sizeof seen);
    unsigned distinct = 0;
    uint32_t want = (uint32_t)below(65536);
    for (int i = 0; i < 300; i++) {
        char id[8];
        craft_id(want, 16, id);
        CHECK_EQ_INT(store_client_key(id, 8) >> 16, want);
        uint32_t b = store_key_of(&s, id, 8) >> 16;
        if (!(seen[b / 8] & (1u << (b % 8)))) {
            seen[b / 8] |= (unsigned char)(1u << (b % 8));
            distinct++;
        }
    }
    printf("# keyed: 300 ids crafted into bucket %04x land in %u buckets\n",
           (unsigned)want, distinct);
    CHECK(distinct >= 280);
    store_close(&s);

    struct pop p;
    pop_init(&p, 0x4b);
    struct side a, b;
    side_init(&a, 0, "A", 61);
    side_init(&b, 1, "B", 62);
    store_set_client_key(&a.store, 5, 6);
    store_set_client_key(&b.store, 5, 6);
    add_common(&a, &b, &p, 20000);
    add_differences(&a, &b, &p, 100);
    struct run_cfg cfg = {budgets_mixed, 5, 262144, 1, NULL, NULL, 0};
    double t = now_s();
    link_up(&a, &b);
    unsigned long rounds = run(&a, &b, &cfg);
    report("keyed k=100", &a, &b, rounds, now_s() - t);
    check_pop(&a, &b, &p);
    CHECK(a.msg_bytes <= 65536 && b.msg_bytes <= 65536);
    check_buckets(&a.store);
    check_buckets(&b.store);
    side_close(&a);
    side_close(&b);
    pop_free(&p);
}

static const struct test tests[] = {
    {"keyed_client_keys", test_keyed_client_keys},
    {"identical_stores_send_nothing", test_identical_stores_send_nothing},
    {"malformed_lines", test_malformed_lines},
    {"bucket_invariants", test_bucket_invariants},
    {"ties_converge_to_newer", test_ties_converge_to_newer},
    {"one_side_empty", test_one_side_empty},
    {"one_side_opens", test_one_side_opens},
    {"dense_bucket", test_dense_bucket},
    {"flow_control_and_churn", test_flow_control_and_churn},
    {"interrupted_link", test_interrupted_link},
    {"pump_visit_limit", test_pump_visit_limit},
    {"pull_queue_order", test_pull_queue_order},
    {"big_differences", test_big_differences},
    {"all_differ", test_all_differ},
};

TEST_MAIN(tests)
