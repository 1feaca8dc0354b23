#include "relay.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A hint for the line [p, p + n): its fields and its client's slot on
 * the way. Made only for an AT line in the single-spaced form servers
 * send; anything else is split when it is handled. */
void relay_hint_make(struct relay_hint *ph, const struct store *st,
                     uint64_t max_client_id, uint64_t gen, const char *p,
                     size_t n)
{
    ph->gen = 0;
    if (proto_split6(p, n, ph->f) != 6 || ph->f[0].len != 2 ||
        memcmp(ph->f[0].p, "AT", 2) != 0 ||
        proto_client_ok(ph->f[3].len, max_client_id) != PROTO_OK)
        return;
    ph->gen = gen;
    ph->line = p;
    ph->len = n;
    ph->h = store_key_hash(st, ph->f[3].p, ph->f[3].len);
    store_prefetch_slot(st, ph->h);
    store_prefetch_bucket(st, ph->h);
}

void relay_look_ahead(struct relay_hint hint[2], const struct store *st,
                      uint64_t max_client_id, const char *a, size_t n,
                      uint64_t gen)
{
    const char *end = a != NULL ? a + n : NULL;
    const char *b; /* the line after the next */
    if (a != NULL && hint[1].gen == gen && hint[1].line == a) {
        hint[0] = hint[1]; /* its slot was asked for a line ago */
        store_prefetch_record(st, hint[0].h);
        b = a + hint[0].len + 1;
    } else {
        const char *nl = a != NULL ? memchr(a, '\n', n) : NULL;
        if (nl == NULL) { /* no complete line ahead */
            hint[0].gen = hint[1].gen = 0;
            return;
        }
        relay_hint_make(&hint[0], st, max_client_id, gen, a, (size_t)(nl - a));
        b = nl + 1;
    }
    const char *nl = memchr(b, '\n', (size_t)(end - b));
    if (nl != NULL)
        relay_hint_make(&hint[1], st, max_client_id, gen, b, (size_t)(nl - b));
    else
        hint[1].gen = 0;
}

const struct record *relay_held(const struct store *st, uint64_t h,
                                struct strparse_slice client, const char *line,
                                size_t len)
{
    const struct record *held = store_get_hashed(st, h, client.p, client.len);
    return held != NULL && held->len == len &&
                   memcmp(held->line, line, len) == 0
               ? held
               : NULL;
}

int relay_out_valid(const struct relay_out *o, unsigned long conn,
                    uint64_t flushes)
{
    return o->conn == conn && o->flushes == flushes;
}

void relay_out_remember(struct relay_out *o, unsigned long conn,
                        uint64_t flushes, uint64_t seq, size_t off, size_t len)
{
    if (!relay_out_valid(o, conn, flushes)) {
        o->n = o->nwithheld = 0;
        o->conn = conn;
        o->flushes = flushes;
    }
    if (off > UINT32_MAX || len >= (1u << 31))
        return;
    if (o->n == o->cap) {
        if (o->cap == RELAY_MAX_PENDING)
            return; /* later copies stay as they are */
        size_t cap = o->cap ? o->cap * 2 : 64;
        struct relay_pending *v = realloc(o->v, cap * sizeof *v);
        if (v == NULL)
            return;
        o->v = v;
        o->cap = cap;
    }
    struct relay_pending *e = &o->v[o->n++];
    e->seq = seq;
    e->off = (uint32_t)off;
    e->len = (uint32_t)len;
    e->withheld = 0;
}

int relay_out_withhold(struct relay_out *o, unsigned long conn,
                       uint64_t flushes, uint64_t seq)
{
    if (o->n == 0 || !relay_out_valid(o, conn, flushes))
        return 0;
    size_t lo = 0;
    size_t hi = o->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (o->v[mid].seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    struct relay_pending *e = &o->v[lo];
    if (lo == o->n || e->seq != seq || e->withheld)
        return 0;
    if (o->nwithheld == o->cut_cap) {
        /* Room for its range when the output is written. */
        size_t cap = o->cut_cap ? o->cut_cap * 2 : 16;
        struct dynbuf_range *v = realloc(o->cut, cap * sizeof *v);
        if (v == NULL)
            return 0; /* not taken back: the copy goes, which is harmless */
        o->cut = v;
        o->cut_cap = cap;
    }
    e->withheld = 1;
    o->nwithheld++;
    return 1;
}

size_t relay_out_take(struct relay_out *o, unsigned long conn, uint64_t flushes,
                      const struct dynbuf_range **cut)
{
    size_t k = 0;
    if (o->nwithheld > 0 && relay_out_valid(o, conn, flushes)) {
        for (size_t i = 0; i < o->n; i++) {
            const struct relay_pending *e = &o->v[i];
            if (e->withheld)
                o->cut[k++] = (struct dynbuf_range){e->off, e->len};
        }
    }
    o->n = o->nwithheld = 0;
    *cut = o->cut;
    return k;
}

void relay_out_free(struct relay_out *o)
{
    free(o->v);
    free(o->cut);
    memset(o, 0, sizeof *o);
}
