#include "store.h"

#include <stdlib.h>
#include <string.h>

#include "bytes.h"

/* A record of len bytes for an AT line of c's fields after a server
 * name and a difference of these lengths, single-spaced: every field but
 * the line itself set (hash and seq by store_apply, once it is kept). */
static struct record *record_alloc(size_t len, size_t server_len,
                                   size_t diff_len,
                                   const struct proto_command *c)
{
    if (len > UINT32_MAX || server_len > UINT16_MAX)
        return NULL;
    struct record *r = malloc(sizeof *r + len);
    if (r == NULL)
        return NULL;
    r->len = (uint32_t)len;
    r->sec = c->sec;
    r->nsec = c->nsec;
    r->server_len = (uint16_t)server_len;
    r->client_off = (uint32_t)(3 + server_len + 1 + diff_len + 1);
    r->client_len = (uint32_t)c->client.len;
    r->time_off = (uint32_t)(len - c->time.len);
    r->hash = 0;
    r->seq = 0;
    r->bprev = r->bnext = NULL;
    r->sub = 0;
    return r;
}

struct record *record_new(struct strparse_slice server,
                          struct strparse_slice diff,
                          const struct proto_command *c)
{
    size_t len = 3 + server.len + 1 + diff.len + 1 + c->client.len + 1 +
                 c->location.len + 1 + c->time.len;
    struct record *r = record_alloc(len, server.len, diff.len, c);
    if (r != NULL && proto_format_at(r->line, len, server, diff, c) != len) {
        free(r);
        return NULL;
    }
    return r;
}

/* Whether b starts one space after a ends. */
static int next_field(struct strparse_slice a, struct strparse_slice b)
{
    return b.p == a.p + a.len + 1 && a.p[a.len] == ' ';
}

struct record *record_from_at(const char *line, size_t len,
                              const struct proto_command *c)
{
    struct strparse_slice at = {line, 2};
    int canonical =
        len >= 2 && memcmp(line, "AT", 2) == 0 && next_field(at, c->server) &&
        next_field(c->server, c->diff) && next_field(c->diff, c->client) &&
        next_field(c->client, c->location) &&
        next_field(c->location, c->time) &&
        c->time.p + c->time.len == line + len;
    if (!canonical)
        return record_new(c->server, c->diff, c);
    /* The line is "AT server diff client location time", as record_new
     * would write it. */
    struct record *r = record_alloc(len, c->server.len, c->diff.len, c);
    if (r != NULL)
        memcpy(r->line, line, len);
    return r;
}

struct strparse_slice record_client(const struct record *r)
{
    struct strparse_slice s = {r->line + r->client_off, r->client_len};
    return s;
}

struct strparse_slice record_location(const struct record *r)
{
    /* The location sits between the client id and the time. */
    size_t start = r->client_off + r->client_len + 1;
    struct strparse_slice s = {r->line + start, r->time_off - 1 - start};
    return s;
}

/* Fraction digits past the ninth, trailing zeros dropped: compared as text
 * they order like the numbers they stand for. */
static struct strparse_slice time_tail(const struct record *r)
{
    const char *t = r->line + r->time_off;
    size_t tlen = r->len - r->time_off;
    const char *dot = memchr(t, '.', tlen);
    struct strparse_slice s = {t, 0};
    if (dot == NULL)
        return s;
    size_t flen = tlen - (size_t)(dot + 1 - t);
    if (flen <= 9)
        return s;
    s.p = dot + 10;
    s.len = flen - 9;
    while (s.len > 0 && s.p[s.len - 1] == '0')
        s.len--;
    return s;
}

static int compare_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n > 0 ? memcmp(a, b, n) : 0;
    if (c != 0)
        return c;
    return alen < blen ? -1 : alen > blen;
}

/* The time difference as the server wrote it: [+-]DIGITS.DIGITS{9}. */
static struct strparse_slice record_diff(const struct record *r)
{
    size_t start = 3 + (size_t)r->server_len + 1;
    struct strparse_slice s = {r->line + start, r->client_off - 1 - start};
    return s;
}

/* Numeric order of two differences; both are well formed. */
static int compare_diff(struct strparse_slice a, struct strparse_slice b)
{
    int na = a.p[0] == '-';
    int nb = b.p[0] == '-';
    if (na != nb)
        return na ? -1 : 1;
    /* Same sign: longer integer part is larger in magnitude, then the
     * digits decide (the fraction always has nine). */
    int mag = a.len != b.len
                  ? (a.len < b.len ? -1 : 1)
                  : compare_bytes(a.p + 1, a.len - 1, b.p + 1, b.len - 1);
    return na ? -mag : mag;
}

int record_compare(const struct record *a, const struct record *b)
{
    if (a->sec != b->sec)
        return a->sec < b->sec ? -1 : 1;
    if (a->nsec != b->nsec)
        return a->nsec < b->nsec ? -1 : 1;
    struct strparse_slice ta = time_tail(a);
    struct strparse_slice tb = time_tail(b);
    int c = compare_bytes(ta.p, ta.len, tb.p, tb.len);
    if (c != 0)
        return c;
    c = compare_bytes(a->line + 3, a->server_len, b->line + 3, b->server_len);
    if (c != 0)
        return c;
    /* Client id, location and time text. */
    c = compare_bytes(a->line + a->client_off, a->len - a->client_off,
                      b->line + b->client_off, b->len - b->client_off);
    if (c != 0)
        return c;
    /* The same IAMAT received twice by one server: the first receipt (the
     * smaller difference) is the one that stays, so a repeated IAMAT is
     * answered with the AT line the client already saw. */
    return -compare_diff(record_diff(a), record_diff(b));
}

/* SipHash-1-3: a keyed hash, so clients cannot pick ids that collide.
 * One round per word and three to finish, as in CPython's and Rust's hash
 * tables: the key is random per process and never leaves it, and a
 * client id is hashed by every server for every update it handles. */
static uint64_t rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

#define SIPROUND           \
    do {                   \
        v0 += v1;          \
        v1 = rotl(v1, 13); \
        v1 ^= v0;          \
        v0 = rotl(v0, 32); \
        v2 += v3;          \
        v3 = rotl(v3, 16); \
        v3 ^= v2;          \
        v0 += v3;          \
        v3 = rotl(v3, 21); \
        v3 ^= v0;          \
        v2 += v1;          \
        v1 = rotl(v1, 17); \
        v1 ^= v2;          \
        v2 = rotl(v2, 32); \
    } while (0)

uint64_t store_siphash(uint64_t k0, uint64_t k1, const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
    uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
    uint64_t v3 = 0x7465646279746573ULL ^ k1;
    uint64_t b = (uint64_t)len << 56;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t m = bytes_le64(p + i);
        v3 ^= m;
        SIPROUND;
        v0 ^= m;
    }
    b |= bytes_le_tail(p + i, len - i);
    v3 ^= b;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* MurmurHash3's 64-bit finalizer: every input bit reaches every output
 * bit. */
static uint64_t fmix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* Eight bytes a step, each word multiplied, rotated and folded in as
 * MurmurHash3 does; about a quarter of the instructions of SipHash over a
 * whole AT line, which every server hashes for every record it keeps. */
static uint64_t word_hash(const unsigned char *p, size_t len, uint64_t seed)
{
    const uint64_t c1 = 0x87c37b91114253d5ULL;
    const uint64_t c2 = 0x4cf5ad432745937fULL;
    uint64_t h = seed ^ ((uint64_t)len * c2);
    size_t i = 0;
    for (;; i += 8) {
        uint64_t m;
        if (i + 8 <= len) {
            m = bytes_le64(p + i);
        } else if (i < len) {
            m = bytes_le_tail(p + i, len - i);
        } else {
            break;
        }
        m *= c1;
        m = rotl(m, 31);
        m *= c2;
        h ^= m;
        h = rotl(h, 27) * 5 + 0x52dce729;
    }
    return fmix64(h ^ len);
}

uint64_t store_record_hash(const struct record *r)
{
    return word_hash((const unsigned char *)r->line, r->len,
                     0x6865726420646967ULL);
}

uint32_t store_client_key(const char *client, size_t len)
{
    return (uint32_t)(word_hash((const unsigned char *)client, len,
                                0x6865726420747265ULL) >>
                      32);
}

void store_init(struct store *s, uint64_t k0, uint64_t k1)
{
    s->bytes = 0;
    s->mem = 0;
    s->max_count = SIZE_MAX;
    s->max_mem = UINT64_MAX;
    s->full_why = STORE_BOUND_NONE;
    s->digest = 0;
    s->last_seq = 0;
    s->slots = NULL;
    s->cap = 0;
    s->count = 0;
    s->k0 = k0;
    s->k1 = k1;
    s->buckets = NULL;
    s->ck_keyed = 0;
}

void store_set_client_key(struct store *s, uint64_t k0, uint64_t k1)
{
    /* One hash for both: the table's slots take its low bits, the
     * client key its high ones. */
    s->k0 = k0;
    s->k1 = k1;
    s->ck_keyed = 1;
}

/* The client key of client, whose store_key_hash() is h. */
static uint32_t client_key(const struct store *s, uint64_t h,
                           const char *client, size_t len)
{
    return s->ck_keyed ? (uint32_t)(h >> 32) : store_client_key(client, len);
}

uint32_t store_key_of(const struct store *s, const char *client, size_t len)
{
    if (!s->ck_keyed)
        return store_client_key(client, len);
    return client_key(s, store_key_hash(s, client, len), client, len);
}

void store_prefetch_bucket(const struct store *s, uint64_t h)
{
    if (s->ck_keyed && s->buckets != NULL)
        __builtin_prefetch(&s->buckets[h >> (64 - STORE_BUCKET_BITS)], 1);
}

void store_close(struct store *s)
{
    for (size_t i = 0; i < s->cap; i++)
        free(s->slots[i].r);
    free(s->slots);
    free(s->buckets);
    s->buckets = NULL;
    s->slots = NULL;
    s->cap = 0;
    s->count = 0;
    s->bytes = 0;
    s->mem = 0;
    s->digest = 0;
}

uint64_t store_record_size(size_t len)
{
    uint64_t n = ((uint64_t)sizeof(struct record) + len + 8 + 15) & ~15ULL;
    return n < 32 ? 32 : n;
}

void store_set_bounds(struct store *s, size_t max_count, uint64_t max_mem)
{
    s->max_count = max_count;
    s->max_mem = max_mem;
}

int store_over_bounds(const struct store *s)
{
    return s->count > s->max_count || s->mem > s->max_mem;
}

uint64_t store_key_hash(const struct store *s, const char *client, size_t len)
{
    return store_siphash(s->k0, s->k1, client, len);
}

/* The slot holding client, or the empty one where it would go. A record
 * is read only when its slot's hash matches. */
static size_t find_slot(const struct store *s, uint64_t h, const char *client,
                        size_t len)
{
    size_t mask = s->cap - 1;
    size_t i = (size_t)h & mask;
    for (;;) {
        const struct store_slot *e = &s->slots[i];
        if (e->r == NULL ||
            (e->h == h && e->r->client_len == len &&
             memcmp(e->r->line + e->r->client_off, client, len) == 0))
            return i;
        i = (i + 1) & mask;
    }
}

/* Moves every entry to a table of cap slots. Rehashing reads only the
 * slots, never the records. */
static int resize(struct store *s, size_t cap)
{
    struct store_slot *old = s->slots;
    size_t old_cap = s->cap;
    struct store_slot *slots = calloc(cap, sizeof *slots);
    if (slots == NULL)
        return STORE_ENOMEM;
    size_t mask = cap - 1;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].r == NULL)
            continue;
        size_t j = (size_t)old[i].h & mask;
        while (slots[j].r != NULL)
            j = (j + 1) & mask;
        slots[j] = old[i];
    }
    s->slots = slots;
    s->cap = cap;
    s->mem += (uint64_t)(cap - old_cap) * sizeof *slots;
    free(old);
    return 0;
}

int store_reserve(struct store *s, size_t n)
{
    size_t cap = s->cap ? s->cap : 64;
    while (n * 4 > cap * 3) {
        if (cap > SIZE_MAX / 4)
            return STORE_ENOMEM;
        cap *= 2;
    }
    return cap > s->cap ? resize(s, cap) : 0;
}

/* rec into bucket b's list: a new client's (old NULL) in front, counted;
 * a newer record of a client in old's place, old's bytes and hash taken
 * out of the sums. */
static void link_record(struct store *s, struct store_bucket *b,
                        struct record *rec, const struct record *old)
{
    if (old == NULL) {
        s->count++;
        b->count++;
        rec->bprev = NULL;
        rec->bnext = b->head;
        if (b->head != NULL)
            b->head->bprev = rec;
        b->head = rec;
    } else {
        s->bytes -= old->len;
        s->digest ^= old->hash;
        b->digest ^= old->hash;
        /* In the old record's place: a walk of the bucket that stops at
         * a client finds its way on from the newer record. */
        rec->bprev = old->bprev;
        rec->bnext = old->bnext;
        if (rec->bprev != NULL)
            rec->bprev->bnext = rec;
        else
            b->head = rec;
        if (rec->bnext != NULL)
            rec->bnext->bprev = rec;
    }
}

int store_apply_hashed(struct store *s, struct record *rec, uint64_t h,
                       const struct record **cur)
{
    *cur = NULL;
    const char *client = rec->line + rec->client_off;
    /* Keep the load under 3/4 so probes stay short. */
    if (s->buckets == NULL)
        s->buckets = calloc(STORE_BUCKETS, sizeof *s->buckets);
    if (s->buckets == NULL || ((s->count + 1) * 4 > s->cap * 3 &&
                               resize(s, s->cap ? s->cap * 2 : 64) != 0)) {
        *cur = store_get_hashed(s, h, client, rec->client_len);
        return STORE_ENOMEM;
    }
    /* The bucket is a cache miss of its own on a large store: asked for
     * before the slot's, so the two loads overlap. */
    uint32_t key = client_key(s, h, client, rec->client_len);
    struct store_bucket *b = &s->buckets[key >> (32 - STORE_BUCKET_BITS)];
    __builtin_prefetch(b, 1);
    size_t i = find_slot(s, h, client, rec->client_len);
    struct record *old = s->slots[i].r;
    if (old != NULL && record_compare(rec, old) <= 0) {
        *cur = old;
        return STORE_STALE;
    }
    /* The bounds: one comparison or two, and the slow path only when
     * they are hit. */
    uint64_t size = store_record_size(rec->len);
    uint64_t old_size = old != NULL ? store_record_size(old->len) : 0;
    int full = old == NULL
                   ? s->count >= s->max_count || s->mem + size > s->max_mem
                   : size > old_size && s->mem + (size - old_size) > s->max_mem;
    if (__builtin_expect(full, 0)) {
        s->full_why = old == NULL && s->count >= s->max_count
                          ? STORE_BOUND_RECORDS
                          : STORE_BOUND_BYTES;
        *cur = old;
        return STORE_EFULL;
    }
    /* A new client goes in front of the bucket's first record, whose
     * line is fetched while the record is hashed. */
    if (old == NULL && b->head != NULL)
        __builtin_prefetch(b->head, 1);
    rec->hash = store_record_hash(rec);
    rec->seq = ++s->last_seq;
    s->slots[i].h = h;
    s->slots[i].r = rec;
    rec->sub = (uint16_t)key;
    link_record(s, b, rec, old);
    s->bytes += rec->len;
    s->mem = s->mem - old_size + size;
    s->digest ^= rec->hash;
    b->digest ^= rec->hash;
    free(old);
    *cur = rec;
    return STORE_CHANGED;
}

int store_apply(struct store *s, struct record *rec, const struct record **cur)
{
    return store_apply_hashed(
        s, rec, store_key_hash(s, rec->line + rec->client_off, rec->client_len),
        cur);
}

const struct record *store_get_hashed(const struct store *s, uint64_t h,
                                      const char *client, size_t len)
{
    if (s->cap == 0)
        return NULL;
    return s->slots[find_slot(s, h, client, len)].r;
}

const struct record *store_get(const struct store *s, const char *client,
                               size_t len)
{
    return store_get_hashed(s, store_key_hash(s, client, len), client, len);
}

void store_prefetch_slot(const struct store *s, uint64_t h)
{
    if (s->cap != 0)
        __builtin_prefetch(&s->slots[(size_t)h & (s->cap - 1)]);
}

void store_prefetch_record(const struct store *s, uint64_t h)
{
    if (s->cap == 0)
        return;
    const struct store_slot *e = &s->slots[(size_t)h & (s->cap - 1)];
    if (e->r != NULL && e->h == h) {
        /* The header, and the line's start (where the client id is). */
        __builtin_prefetch(e->r);
        __builtin_prefetch((const char *)e->r + 64);
    } else if (e->r == NULL && s->ck_keyed && s->buckets != NULL) {
        /* A new client: it goes in front of its bucket's first record. */
        const struct record *head =
            s->buckets[h >> (64 - STORE_BUCKET_BITS)].head;
        if (head != NULL)
            __builtin_prefetch(head, 1);
    }
}

int store_foreach(const struct store *s,
                  int (*fn)(void *arg, const struct record *r), void *arg)
{
    for (size_t i = 0; i < s->cap; i++) {
        if (s->slots[i].r == NULL)
            continue;
        int rc = fn(arg, s->slots[i].r);
        if (rc != 0)
            return rc;
    }
    return 0;
}
