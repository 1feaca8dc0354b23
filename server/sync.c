#include "sync.h"

#include <stdlib.h>
#include <string.h>

#define BUCKET_DIGITS (STORE_BUCKET_BITS / 4) /* the level of a bucket */
#define SUB_BITS      (32 - STORE_BUCKET_BITS)

static const char hexdigits[] = "0123456789abcdef";

void sync_init(struct sync *s, const struct store *store,
               const struct sync_ops *ops, void *arg, int dialer)
{
    memset(s, 0, sizeof *s);
    s->store = store;
    s->ops = ops;
    s->arg = arg;
    s->dialer = dialer;
}

void sync_close(struct sync *s)
{
    free(s->q);
    free(s->walk_id);
    s->q = NULL;
    s->walk_id = NULL;
    s->qlen = s->qcap = s->qhead = 0;
}

/* Whether r, a record of the bucket of node (level, prefix), is under
 * that node. */
static int under(const struct record *r, unsigned level, uint32_t prefix)
{
    if (level <= BUCKET_DIGITS)
        return 1;
    unsigned bits = 4 * (level - BUCKET_DIGITS); /* of sub, from the top */
    uint32_t want = prefix & ((1u << bits) - 1);
    return ((uint32_t)r->sub >> (SUB_BITS - bits)) == want;
}

/* The buckets [*b0, *b1) that hold node (level, prefix). */
static void bucket_span(unsigned level, uint32_t prefix, uint32_t *b0,
                        uint32_t *b1)
{
    if (level <= BUCKET_DIGITS) {
        unsigned shift = 4 * (BUCKET_DIGITS - level);
        *b0 = prefix << shift;
        *b1 = (prefix + 1) << shift;
    } else {
        *b0 = prefix >> (4 * (level - BUCKET_DIGITS));
        *b1 = *b0 + 1;
    }
}

void sync_children(const struct store *store, unsigned level, uint32_t prefix,
                   uint64_t digest[16], uint64_t count[16])
{
    memset(digest, 0, 16 * sizeof *digest);
    memset(count, 0, 16 * sizeof *count);
    const struct store_bucket *bk = store->buckets;
    if (bk == NULL)
        return;
    if (level < BUCKET_DIGITS) {
        /* Children of level <= 4: sums of whole buckets. */
        unsigned per = 1u << (4 * (BUCKET_DIGITS - level - 1));
        uint32_t b = prefix << (4 * (BUCKET_DIGITS - level));
        for (unsigned c = 0; c < 16; c++)
            for (unsigned i = 0; i < per; i++, b++) {
                digest[c] ^= bk[b].digest;
                count[c] += bk[b].count;
            }
        return;
    }
    /* Inside one bucket: walk its list. */
    uint32_t b0;
    uint32_t b1;
    bucket_span(level, prefix, &b0, &b1);
    unsigned shift = SUB_BITS - 4 * (level - BUCKET_DIGITS) - 4;
    for (const struct record *r = bk[b0].head; r != NULL; r = r->bnext) {
        if (!under(r, level, prefix))
            continue;
        unsigned c = ((unsigned)r->sub >> shift) & 15;
        digest[c] ^= r->hash;
        count[c]++;
    }
}

/* PREFIX as it is written: "-" or level hex digits. */
static size_t format_prefix(char *out, unsigned level, uint32_t prefix)
{
    if (level == 0) {
        out[0] = '-';
        return 1;
    }
    for (unsigned i = 0; i < level; i++)
        out[i] = hexdigits[(prefix >> (4 * (level - 1 - i))) & 15];
    return level;
}

/* The value of the (lower-case) hex digit c; -1: not one. */
static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int parse_prefix(struct strparse_slice f, unsigned *level,
                        uint32_t *prefix)
{
    *prefix = 0;
    if (f.len == 1 && f.p[0] == '-') {
        *level = 0;
        return 0;
    }
    if (f.len == 0 || f.len > SYNC_LEVELS)
        return -1;
    for (size_t i = 0; i < f.len; i++) {
        int d = hexval(f.p[i]);
        if (d < 0)
            return -1;
        *prefix = *prefix << 4 | (uint32_t)d;
    }
    *level = (unsigned)f.len;
    return 0;
}

static void send_line(struct sync *s, const char *line, size_t len)
{
    s->st.lines_sent++;
    s->st.line_bytes += len + 1;
    s->ops->send_line(s->arg, line, len);
}

/* "WORD PREFIX" (word: four letters) at the head of line, which is not
 * a string (it goes with its length); that length. */
static size_t format_head(char *line, const char *word, unsigned level,
                          uint32_t prefix)
{
    memcpy(line, word, 4);
    line[4] = ' ';
    return 5 + format_prefix(line + 5, level, prefix);
}

static void send_short(struct sync *s, const char *word, unsigned level,
                       uint32_t prefix)
{
    char line[16];
    size_t n = format_head(line, word, level, prefix);
    send_line(s, line, n);
}

static void send_sums(struct sync *s, unsigned level, uint32_t prefix,
                      const uint64_t digest[16])
{
    char line[SYNC_LINE_MAX];
    size_t n = format_head(line, "SUMS", level, prefix);
    line[n++] = ' ';
    for (unsigned c = 0; c < 16; c++)
        for (int i = 15; i >= 0; i--)
            line[n++] = hexdigits[(digest[c] >> (4 * i)) & 15];
    send_line(s, line, n);
}

static int enqueue(struct sync *s, unsigned level, uint32_t prefix, int pull)
{
    if (s->qlen == SYNC_MAX_QUEUE)
        return SYNC_EQUEUE;
    if (s->qlen == s->qcap) {
        size_t cap = s->qcap ? s->qcap * 2 : 64;
        struct sync_range *q = malloc(cap * sizeof *q);
        if (q == NULL)
            return SYNC_ENOMEM;
        for (size_t i = 0; i < s->qlen; i++)
            q[i] = s->q[(s->qhead + i) & (s->qcap - 1)];
        free(s->q);
        s->q = q;
        s->qcap = cap;
        s->qhead = 0;
    }
    struct sync_range *e = &s->q[(s->qhead + s->qlen) & (s->qcap - 1)];
    e->prefix = prefix;
    e->level = (uint8_t)level;
    e->pull = (uint8_t)pull;
    s->qlen++;
    return 0;
}

/* Our records of a node go over, and theirs are asked for. */
static int exchange(struct sync *s, unsigned level, uint32_t prefix)
{
    int rc = enqueue(s, level, prefix, 0);
    if (rc != 0)
        return rc;
    send_short(s, "PULL", level, prefix);
    s->outstanding++;
    return 0;
}

void sync_start(struct sync *s, uint64_t remote_count, uint64_t remote_digest)
{
    s->started = 1;
    s->start_seq = s->store->last_seq;
    if (remote_count == s->store->count && remote_digest == s->store->digest)
        return;
    uint64_t digest[16];
    uint64_t count[16];
    sync_children(s->store, 0, 0, digest, count);
    send_sums(s, 0, 0, digest);
    s->outstanding++;
    s->opened = 1;
}

static int unhex64(const char *p, uint64_t *out)
{
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        int d = hexval(p[i]);
        if (d < 0)
            return -1;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return 0;
}

static int on_sums(struct sync *s, unsigned level, uint32_t prefix,
                   struct strparse_slice sums)
{
    uint64_t theirs[16];
    if (level >= SYNC_LEVELS || sums.len != (size_t)16 * 16)
        return SYNC_EBAD;
    for (unsigned c = 0; c < 16; c++)
        if (unhex64(sums.p + (size_t)16 * c, &theirs[c]) != 0)
            return SYNC_EBAD;
    if (level == 0 && s->dialer && s->opened) {
        /* Our own descent covers it. */
        send_short(s, "DONE", level, prefix);
        return 0;
    }
    uint64_t ours[16];
    uint64_t count[16];
    sync_children(s->store, level, prefix, ours, count);
    /* A child empty on both sides agrees without saying anything about
     * the others: a sparse store that differs everywhere has some. */
    unsigned ndiff = 0;
    unsigned nempty = 0;
    for (unsigned c = 0; c < 16; c++) {
        ndiff += ours[c] != theirs[c];
        nempty += ours[c] == theirs[c] && count[c] == 0;
    }
    int rc = 0;
    if (level >= 3 && ndiff >= 12 && ndiff + nempty == 16) {
        rc = exchange(s, level, prefix); /* differs everywhere */
    } else {
        for (unsigned c = 0; c < 16 && rc == 0; c++) {
            if (ours[c] == theirs[c])
                continue;
            unsigned cl = level + 1;
            uint32_t cp = prefix << 4 | c;
            if (count[c] <= SYNC_DIRECT || cl == SYNC_LEVELS) {
                rc = exchange(s, cl, cp);
            } else {
                uint64_t d[16];
                uint64_t n[16];
                sync_children(s->store, cl, cp, d, n);
                send_sums(s, cl, cp, d);
                s->outstanding++;
            }
        }
    }
    send_short(s, "DONE", level, prefix);
    return rc;
}

int sync_on_line(struct sync *s, const struct strparse_slice *f, size_t n)
{
    if (n == 0 || f[0].len != 4)
        return SYNC_ENOTSYNC;
    int sums = memcmp(f[0].p, "SUMS", 4) == 0;
    int pull = memcmp(f[0].p, "PULL", 4) == 0;
    int done = memcmp(f[0].p, "DONE", 4) == 0;
    if (!sums && !pull && !done)
        return SYNC_ENOTSYNC;
    s->st.lines_received++;
    unsigned level;
    uint32_t prefix;
    if (n != (sums ? 3u : 2u) || parse_prefix(f[1], &level, &prefix) != 0)
        return SYNC_EBAD;
    if (sums)
        return on_sums(s, level, prefix, f[2]);
    if (pull)
        return enqueue(s, level, prefix, 1);
    if (s->outstanding == 0)
        return SYNC_EBAD; /* a DONE for nothing we asked */
    s->outstanding--;
    return 0;
}

int sync_has_queue(const struct sync *s)
{
    return s->qlen > 0;
}

int sync_idle(const struct sync *s)
{
    return s->started && s->outstanding == 0 && s->qlen == 0;
}

/* Remembers r as the next record of the walk. */
static int walk_remember(struct sync *s, const struct record *r)
{
    if (r->client_len > s->walk_id_cap) {
        char *id = realloc(s->walk_id, r->client_len);
        if (id == NULL)
            return SYNC_ENOMEM;
        s->walk_id = id;
        s->walk_id_cap = r->client_len;
    }
    memcpy(s->walk_id, r->line + r->client_off, r->client_len);
    s->walk_id_len = r->client_len;
    s->walk_has_next = 1;
    return 0;
}

/* Records looked at per call, sent or not, so that a call stays short
 * whatever the ranges hold. */
#define PUMP_MAX_VISITS 65536

/* Sends the records of r's bucket list from r on that are of the
 * snapshot (seq <= start_seq) and under range e, until the list ends
 * (NULL) or *sent reaches budget or *visits PUMP_MAX_VISITS: then the
 * record it stopped at, remembered for the next call (walk_remember;
 * s->broken if that failed). */
static const struct record *send_bucket(struct sync *s,
                                        const struct sync_range *e,
                                        const struct record *r, size_t budget,
                                        size_t *sent, size_t *visits)
{
    for (; r != NULL; r = r->bnext) {
        (*visits)++;
        if (*sent >= budget || *visits >= PUMP_MAX_VISITS) {
            if (walk_remember(s, r) != 0)
                s->broken = 1;
            return r;
        }
        if (r->seq > s->start_seq || !under(r, e->level, e->prefix))
            continue;
        s->ops->send_record(s->arg, r);
        s->st.records_sent++;
        s->st.record_bytes += (uint64_t)r->len + 1;
        *sent += (size_t)r->len + 1;
    }
    return NULL;
}

/* Walks range e (the queue's head) from bucket s->walk_bucket, and the
 * record remembered in it, up to bucket b1, within budget and
 * PUMP_MAX_VISITS (send_bucket); whether it stopped before the end. */
static int walk_range(struct sync *s, const struct sync_range *e, uint32_t b1,
                      size_t budget, size_t *sent, size_t *visits)
{
    const struct store *st = s->store;
    while (s->walk_bucket < b1 && *sent < budget && *visits < PUMP_MAX_VISITS) {
        const struct record *r = NULL;
        if (s->walk_has_next) {
            r = store_get(st, s->walk_id, s->walk_id_len);
            s->walk_has_next = 0;
        } else if (st->buckets != NULL) {
            r = st->buckets[s->walk_bucket].head;
        }
        if (send_bucket(s, e, r, budget, sent, visits) != NULL)
            return 1; /* stopped inside the bucket */
        s->walk_bucket++;
        (*visits)++;
    }
    return s->walk_bucket < b1;
}

size_t sync_pump(struct sync *s, size_t budget)
{
    size_t sent = 0;
    size_t visits = 0;
    while (s->qlen > 0 && sent < budget && visits < PUMP_MAX_VISITS) {
        const struct sync_range *e = &s->q[s->qhead];
        uint32_t b0;
        uint32_t b1;
        bucket_span(e->level, e->prefix, &b0, &b1);
        if (!s->walk_started) {
            s->walk_started = 1;
            s->walk_bucket = b0;
            s->walk_has_next = 0;
        }
        if (walk_range(s, e, b1, budget, &sent, &visits))
            break; /* out of budget (or of memory: s->broken) */
        if (e->pull)
            send_short(s, "DONE", e->level, e->prefix);
        s->walk_started = 0;
        s->qhead = (s->qhead + 1) & (s->qcap - 1);
        s->qlen--;
    }
    return sent;
}
