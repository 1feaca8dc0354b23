/* store: every order of the same updates ends in the same store.
 *
 * The input is lines. Each AT line that parses is a record as a peer floods
 * it; each IAMAT line is a record as server "Fuzz" takes it, received a
 * second later than the line before (so repeats differ in their time
 * difference only). The records go into three stores, with different hash
 * keys: in input order, in reverse order, and shuffled (seeded from the
 * input).
 *
 * Properties:
 * - record_compare is antisymmetric, and 0 only for identical lines;
 * - store_apply keeps a record only when it is newer than the current one,
 *   and *cur is the record that stays;
 * - every store ends with the newest record of each client (checked
 *   against all records), the same count, bytes and digest.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "proto.h"
#include "store.h"

#define MAX_RECORDS 512
/* All pairs are compared up to this many records. */
#define MAX_PAIRS 64

static int sign(int v)
{
    return (v > 0) - (v < 0);
}

static int same_line(const struct record *a, const struct record *b)
{
    return a->len == b->len && memcmp(a->line, b->line, a->len) == 0;
}

static struct record *copy(const struct record *r)
{
    struct record *d = malloc(sizeof *r + r->len);
    FUZZ_CHECK(d != NULL);
    memcpy(d, r, sizeof *r + r->len);
    return d;
}

static struct record *parse(const char *line, size_t len, unsigned seq)
{
    struct proto_command c;
    if (proto_parse(line, len, &c) != PROTO_OK)
        return NULL;
    if (c.kind == PROTO_AT)
        return record_new(c.server, c.diff, &c);
    if (c.kind != PROTO_IAMAT)
        return NULL;
    static const char name[] = "Fuzz";
    char diff[32];
    size_t dlen =
        proto_format_diff(diff, 1700000000u + seq, 500000000u, c.sec, c.nsec);
    struct strparse_slice server = {name, sizeof name - 1};
    struct strparse_slice d = {diff, dlen};
    return record_new(server, d, &c);
}

/* Offers a copy of every record, in order[], checking what apply says. */
static void fill(struct store *s, struct record *const *recs,
                 const size_t *order, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct record *r = recs[order[i]];
        struct strparse_slice client = record_client(r);
        const struct record *before = store_get(s, client.p, client.len);
        /* Decided before the call: a replaced record is freed by it. */
        int newer = before == NULL || record_compare(r, before) > 0;
        struct record *mine = copy(r);
        const struct record *cur = NULL;
        int rc = store_apply(s, mine, &cur);
        if (newer) {
            FUZZ_CHECK(rc == STORE_CHANGED);
            FUZZ_CHECK(cur == mine);
        } else {
            FUZZ_CHECK(rc == STORE_STALE);
            FUZZ_CHECK(cur == before);
            free(mine);
        }
        FUZZ_CHECK(store_get(s, client.p, client.len) == cur);
    }
}

struct compare_ctx {
    const struct store *other;
    size_t seen;
    uint64_t bytes;
};

static int same_in_other(void *arg, const struct record *r)
{
    struct compare_ctx *ctx = arg;
    struct strparse_slice client = record_client(r);
    const struct record *o = store_get(ctx->other, client.p, client.len);
    FUZZ_CHECK(o != NULL);
    FUZZ_CHECK(same_line(r, o));
    FUZZ_CHECK(r->sec == o->sec && r->nsec == o->nsec);
    ctx->seen++;
    ctx->bytes += r->len;
    return 0;
}

static void check_same(const struct store *a, const struct store *b)
{
    FUZZ_CHECK(a->count == b->count);
    FUZZ_CHECK(a->bytes == b->bytes);
    FUZZ_CHECK(a->digest == b->digest);
    struct compare_ctx ctx = {b, 0, 0};
    FUZZ_CHECK(store_foreach(a, same_in_other, &ctx) == 0);
    FUZZ_CHECK(ctx.seen == a->count && ctx.bytes == a->bytes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct record *recs[MAX_RECORDS];
    static size_t forward[MAX_RECORDS], backward[MAX_RECORDS],
        shuffled[MAX_RECORDS];
    size_t n = 0;
    const char *p = (const char *)data;
    const char *end = p + size;
    while (p < end && n < MAX_RECORDS) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl != NULL ? nl : end;
        struct record *r = parse(p, (size_t)(eol - p), (unsigned)n);
        if (r != NULL)
            recs[n++] = r;
        p = eol + (nl != NULL);
    }

    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(record_compare(recs[i], recs[i]) == 0);
        for (size_t j = 0; i < MAX_PAIRS && j < i; j++) {
            int ab = record_compare(recs[i], recs[j]);
            FUZZ_CHECK(sign(ab) == -sign(record_compare(recs[j], recs[i])));
            FUZZ_CHECK((ab == 0) == same_line(recs[i], recs[j]));
        }
    }

    uint64_t seed = fuzz_hash(data, size);
    for (size_t i = 0; i < n; i++) {
        forward[i] = i;
        backward[i] = n - 1 - i;
        shuffled[i] = i;
    }
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(fuzz_rand(&seed) % i);
        size_t t = shuffled[i - 1];
        shuffled[i - 1] = shuffled[j];
        shuffled[j] = t;
    }

    struct store a, b, c;
    store_init(&a, 1, 2);
    store_init(&b, 0x0123456789abcdefULL, 0xfedcba9876543210ULL);
    store_init(&c, seed, ~seed);
    fill(&a, recs, forward, n);
    fill(&b, recs, backward, n);
    fill(&c, recs, shuffled, n);

    /* The newest of each client's records is the one every store holds. */
    for (size_t i = 0; i < n; i++) {
        struct strparse_slice client = record_client(recs[i]);
        const struct record *kept = store_get(&a, client.p, client.len);
        FUZZ_CHECK(kept != NULL);
        FUZZ_CHECK(record_compare(kept, recs[i]) >= 0);
    }
    check_same(&a, &b);
    check_same(&a, &c);

    store_close(&a);
    store_close(&b);
    store_close(&c);
    FUZZ_CHECK(a.count == 0 && a.digest == 0);
    for (size_t i = 0; i < n; i++)
        free(recs[i]);
    return 0;
}
