/* Unit tests for server/store: records, their order, and the table. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "store.h"
#include "test.h"

#define S(lit) lit, sizeof(lit) - 1

static struct strparse_slice slice(const char *s)
{
    struct strparse_slice r = {s, strlen(s)};
    return r;
}

/* A record for an IAMAT line (n bytes) received by server with diff. */
static struct record *from_iamat_n(const char *server, const char *diff,
                                   const char *line, size_t n)
{
    struct proto_command c;
    CHECK_EQ_INT(proto_parse(line, n, &c), PROTO_OK);
    CHECK_EQ_INT(c.kind, PROTO_IAMAT);
    struct record *r = record_new(slice(server), slice(diff), &c);
    CHECK(r != NULL);
    return r;
}

static struct record *from_iamat(const char *server, const char *diff,
                                 const char *line)
{
    return from_iamat_n(server, diff, line, strlen(line));
}

/* A record for a whole AT line, as a peer floods it. */
static struct record *from_at(const char *line)
{
    struct proto_command c;
    CHECK_EQ_INT(proto_parse(line, strlen(line), &c), PROTO_OK);
    CHECK_EQ_INT(c.kind, PROTO_AT);
    struct record *r = record_new(c.server, c.diff, &c);
    CHECK(r != NULL);
    return r;
}

static struct record *dup_record(const struct record *r)
{
    struct record *d = malloc(sizeof *r + r->len);
    CHECK(d != NULL);
    memcpy(d, r, sizeof *r + r->len);
    return d;
}

static void check_line(const struct record *r, const char *want)
{
    CHECK(r != NULL);
    test_eq_mem_(__FILE__, __LINE__, "record line", r->line, r->len, want,
                 strlen(want));
}

static int sign(int v)
{
    return (v > 0) - (v < 0);
}

static void test_record_new_single_spaced(void)
{
    struct record *r =
        from_iamat("Alford", "+0.263873386",
                   "  IAMAT \t kiwi.cs.ucla.edu\t\t+34.068930-118.445127 \v\f "
                   "1621464827.959498503 \r");
    check_line(r, "AT Alford +0.263873386 kiwi.cs.ucla.edu "
                  "+34.068930-118.445127 1621464827.959498503");
    struct strparse_slice c = record_client(r);
    CHECK_EQ_INT(c.len, 16);
    CHECK_EQ_MEM(c.p, "kiwi.cs.ucla.edu", c.len);
    struct strparse_slice l = record_location(r);
    CHECK_EQ_INT(l.len, 21);
    CHECK_EQ_MEM(l.p, "+34.068930-118.445127", l.len);
    CHECK(r->sec == 1621464827u);
    CHECK_EQ_INT(r->nsec, 959498503);
    CHECK_EQ_INT(r->server_len, 6);
    CHECK_EQ_INT(r->len - r->time_off, 20);
    CHECK_EQ_MEM(r->line + r->time_off, "1621464827.959498503", 20);
    free(r);
}

static void test_record_new_from_at(void)
{
    static const char line[] = "AT Bolden -1.500000000 \xff\x01 +1-2 3";
    struct record *r = from_at("AT\tBolden  -1.500000000 \xff\x01\v+1-2   3");
    check_line(r, line);
    struct strparse_slice c = record_client(r);
    CHECK_EQ_INT(c.len, 2);
    CHECK_EQ_MEM(c.p, "\xff\x01", 2);
    struct strparse_slice l = record_location(r);
    CHECK_EQ_INT(l.len, 4);
    CHECK_EQ_MEM(l.p, "+1-2", 4);
    CHECK(r->sec == 3);
    CHECK_EQ_INT(r->nsec, 0);
    free(r);
}

static void test_newer_time_wins(void)
{
    struct store s;
    store_init(&s, 1, 2);
    const struct record *cur = NULL;
    struct record *a = from_iamat("Alford", "+0.100000000", "IAMAT c +1+1 100");
    CHECK_EQ_INT(store_apply(&s, a, &cur), STORE_CHANGED);
    CHECK(cur == a);
    struct record *b =
        from_iamat("Alford", "+9.000000000", "IAMAT c +2+2 100.000000001");
    CHECK_EQ_INT(store_apply(&s, b, &cur), STORE_CHANGED);
    CHECK(cur == b);
    check_line(store_get(&s, "c", 1),
               "AT Alford +9.000000000 c +2+2 100.000000001");
    struct record *d = from_iamat("Bolden", "+0.000000000", "IAMAT c +3+3 101");
    CHECK_EQ_INT(store_apply(&s, d, &cur), STORE_CHANGED);
    check_line(store_get(&s, "c", 1), "AT Bolden +0.000000000 c +3+3 101");
    CHECK_EQ_INT(s.count, 1);
    store_close(&s);
}

static void test_equal_or_older_is_stale(void)
{
    struct store s;
    store_init(&s, 3, 4);
    const struct record *cur = NULL;
    struct record *a =
        from_iamat("Bolden", "+0.100000000", "IAMAT c +1+1 100.5");
    CHECK_EQ_INT(store_apply(&s, a, &cur), STORE_CHANGED);
    /* Older: stale; the caller keeps rec, cur is the old record. */
    struct record *older =
        from_iamat("Bolden", "+0.100000000", "IAMAT c +2+2 100.4999999999");
    CHECK_EQ_INT(store_apply(&s, older, &cur), STORE_STALE);
    CHECK(cur == a);
    CHECK(store_get(&s, "c", 1) == a);
    free(older);
    /* The very same line: stale. */
    struct record *same = dup_record(a);
    CHECK_EQ_INT(store_apply(&s, same, &cur), STORE_STALE);
    CHECK(cur == a);
    free(same);
    /* Same time, smaller server name: stale. */
    struct record *alford =
        from_iamat("Alford", "+0.100000000", "IAMAT c +1+1 100.5");
    CHECK_EQ_INT(store_apply(&s, alford, &cur), STORE_STALE);
    CHECK(cur == a);
    free(alford);
    check_line(store_get(&s, "c", 1), "AT Bolden +0.100000000 c +1+1 100.5");
    CHECK_EQ_INT(s.count, 1);
    store_close(&s);
}

static void test_same_time_tie_on_server_name(void)
{
    struct record *a = from_iamat("Alford", "+0.100000000", "IAMAT c +1+1 5.5");
    struct record *b = from_iamat("Bolden", "+0.100000000", "IAMAT c +1+1 5.5");
    struct record *b2 =
        from_iamat("Bolden", "+0.100000000", "IAMAT c +1+1 5.500");
    CHECK(record_compare(a, b) < 0);
    CHECK(record_compare(b, a) > 0);
    /* 5.5 and 5.500 are the same time: the server name decides first. */
    CHECK(record_compare(a, b2) < 0);
    /* The server name is compared as bytes: "Al" < "Alford" < "B". */
    struct record *al = from_iamat("Al", "+0.100000000", "IAMAT c +1+1 5.5");
    CHECK(record_compare(al, a) < 0);
    struct record *lower =
        from_iamat("alford", "+0.100000000", "IAMAT c +1+1 5.5");
    CHECK(record_compare(b, lower) < 0);

    struct store s;
    store_init(&s, 5, 6);
    const struct record *cur;
    CHECK_EQ_INT(store_apply(&s, a, &cur), STORE_CHANGED);
    CHECK_EQ_INT(store_apply(&s, b, &cur), STORE_CHANGED);
    CHECK(cur == b);
    struct record *a_again =
        from_iamat("Alford", "+0.100000000", "IAMAT c +1+1 5.5");
    CHECK_EQ_INT(store_apply(&s, a_again, &cur), STORE_STALE);
    CHECK(cur == b);
    free(a_again);
    free(b2);
    free(al);
    free(lower);
    store_close(&s);
}

static void test_digits_past_ninth(void)
{
    struct record *base =
        from_iamat("A", "+0.100000000", "IAMAT c +1+1 1.000000000");
    struct record *one = from_iamat("A", "+0.100000000", "IAMAT c +1+1 1");
    struct record *tail =
        from_iamat("A", "+0.100000000", "IAMAT c +1+1 1.0000000001");
    struct record *tail0 =
        from_iamat("A", "+0.100000000", "IAMAT c +1+1 1.0000000010");
    struct record *ns =
        from_iamat("A", "+0.100000000", "IAMAT c +1+1 1.000000001");
    struct record *t05 =
        from_iamat("A", "+0.100000000", "IAMAT c +1+1 1.00000000005");
    struct record *t99 =
        from_iamat("A", "+0.100000000", "IAMAT c +1+1 1.9999999999999");
    struct record *two = from_iamat("A", "+0.100000000", "IAMAT c +1+1 2");
    /* Server "Z" would win a tie, but the tenth digit is not a tie. */
    struct record *zbase =
        from_iamat("Z", "+0.100000000", "IAMAT c +1+1 1.000000000");

    CHECK(record_compare(tail, base) > 0);
    CHECK(record_compare(base, tail) < 0);
    CHECK(record_compare(tail, one) > 0);
    CHECK(record_compare(tail, zbase) > 0);
    CHECK(record_compare(t05, tail) < 0);
    CHECK(record_compare(t05, base) > 0);
    CHECK(record_compare(ns, tail) > 0);
    CHECK(record_compare(t99, two) < 0);
    CHECK(record_compare(t99, ns) > 0);
    /* 1.0000000010 and 1.000000001 are the same number: the tail compare
     * ties, and the time text as bytes decides (the longer one). */
    CHECK(record_compare(tail0, ns) > 0);
    CHECK(record_compare(ns, tail0) < 0);
    CHECK(record_compare(tail0, tail) > 0);
    /* 1 and 1.000000000: the same time, the text decides. */
    CHECK(record_compare(base, one) != 0);
    CHECK_EQ_INT(sign(record_compare(base, one)),
                 -sign(record_compare(one, base)));

    free(base);
    free(one);
    free(tail);
    free(tail0);
    free(ns);
    free(t05);
    free(t99);
    free(two);
    free(zbase);
}

static void test_same_iamat_twice_larger_diff_stale(void)
{
    static const char iamat[] =
        "IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503";
    struct store s;
    store_init(&s, 7, 8);
    const struct record *cur;
    struct record *first = from_iamat("Alford", "+0.263873386", iamat);
    struct record *second = from_iamat("Alford", "+5.000000000", iamat);
    CHECK_EQ_INT(store_apply(&s, first, &cur), STORE_CHANGED);
    CHECK_EQ_INT(store_apply(&s, second, &cur), STORE_STALE);
    CHECK(cur == first);
    check_line(store_get(&s, S("kiwi.cs.ucla.edu")),
               "AT Alford +0.263873386 kiwi.cs.ucla.edu "
               "+34.068930-118.445127 1621464827.959498503");
    free(second);
    /* A larger difference with more integer digits is stale too. */
    struct record *third = from_iamat("Alford", "+10.000000000", iamat);
    CHECK_EQ_INT(store_apply(&s, third, &cur), STORE_STALE);
    free(third);
    store_close(&s);

    /* The smaller difference is the earlier receipt, whatever the signs. */
    static const char *const diffs[] = {
        "-10.000000000", "-9.000000000",  "-1.500000000", "-0.000000001",
        "+0.000000000",  "+0.000000001",  "+0.263873386", "+1.000000000",
        "+9.999999999",  "+10.000000000",
    };
    const size_t n = sizeof diffs / sizeof diffs[0];
    for (size_t i = 0; i < n; i++) {
        struct record *ri = from_iamat("Alford", diffs[i], iamat);
        for (size_t j = 0; j < n; j++) {
            struct record *rj = from_iamat("Alford", diffs[j], iamat);
            int c = record_compare(ri, rj);
            if (sign(c) != (i < j) - (i > j))
                fprintf(stderr, "%s vs %s: %d\n", diffs[i], diffs[j], c);
            CHECK_EQ_INT(sign(c), (i < j) - (i > j));
            free(rj);
        }
        free(ri);
    }
}

/* A sample of records for one client, all different. */
static const char *const sample_lines[] = {
    "AT Alford +0.100000000 c +1+1 100",
    "AT Alford +0.200000000 c +1+1 100",
    "AT Alford -0.200000000 c +1+1 100",
    "AT Alford +0.100000000 c +1+1 100.0",
    "AT Alford +0.100000000 c +1+1 100.000000000",
    "AT Alford +0.100000000 c +1+1 100.0000000000",
    "AT Alford +0.100000000 c +1+1 100.0000000001",
    "AT Alford +0.100000000 c +1+1 100.00000000010",
    "AT Alford +0.100000000 c +1+1 100.000000001",
    "AT Alford +0.100000000 c +2+2 100",
    "AT Alford +0.100000000 c -1-1 100",
    "AT Alford +12.100000000 c +1+1 100",
    "AT Bolden +0.100000000 c +1+1 100",
    "AT Bolden +0.100000000 c +1+1 99.999999999999",
    "AT Bolden +0.100000000 c +1+1 101",
    "AT Hamilton -5.000000000 c +1+1 100",
    "AT Parker +0.100000000 c +90-180 18446744073709551615.999999999",
    "AT Parker +0.100000000 c +90-180 18446744073709551615.9999999999",
    "AT Powell +0.100000000 c +1+1 0",
    "AT Powell -18446744073709551615.999999999 c +1+1 0.5",
    "AT Powell +18446744073709551615.999999999 c +1+1 0.5",
};
#define NSAMPLES (sizeof sample_lines / sizeof sample_lines[0])

static void test_compare_antisymmetric(void)
{
    struct record *r[NSAMPLES];
    for (size_t i = 0; i < NSAMPLES; i++)
        r[i] = from_at(sample_lines[i]);
    for (size_t i = 0; i < NSAMPLES; i++) {
        CHECK_EQ_INT(record_compare(r[i], r[i]), 0);
        struct record *d = dup_record(r[i]);
        CHECK_EQ_INT(record_compare(r[i], d), 0);
        free(d);
        for (size_t j = 0; j < NSAMPLES; j++) {
            if (i == j)
                continue;
            int ab = record_compare(r[i], r[j]);
            int ba = record_compare(r[j], r[i]);
            if (ab == 0 || sign(ab) != -sign(ba))
                fprintf(stderr, "%s / %s: %d %d\n", sample_lines[i],
                        sample_lines[j], ab, ba);
            CHECK(ab != 0);
            CHECK_EQ_INT(sign(ab), -sign(ba));
        }
    }
    for (size_t i = 0; i < NSAMPLES; i++)
        free(r[i]);
}

static void test_compare_transitive(void)
{
    struct record *r[NSAMPLES];
    for (size_t i = 0; i < NSAMPLES; i++)
        r[i] = from_at(sample_lines[i]);
    /* Insertion sort, then every pair of the sorted list is in order. */
    for (size_t i = 1; i < NSAMPLES; i++)
        for (size_t j = i; j > 0 && record_compare(r[j - 1], r[j]) > 0; j--) {
            struct record *t = r[j];
            r[j] = r[j - 1];
            r[j - 1] = t;
        }
    for (size_t i = 0; i < NSAMPLES; i++)
        for (size_t j = i + 1; j < NSAMPLES; j++)
            CHECK(record_compare(r[i], r[j]) < 0);
    /* And every triple directly. */
    for (size_t a = 0; a < NSAMPLES; a++)
        for (size_t b = 0; b < NSAMPLES; b++)
            for (size_t c = 0; c < NSAMPLES; c++)
                if (record_compare(r[a], r[b]) <= 0 &&
                    record_compare(r[b], r[c]) <= 0)
                    CHECK(record_compare(r[a], r[c]) <= 0);
    /* The time order comes first. */
    check_line(r[0], "AT Powell +0.100000000 c +1+1 0");
    check_line(r[NSAMPLES - 1], "AT Parker +0.100000000 c +90-180 "
                                "18446744073709551615.9999999999");
    for (size_t i = 0; i < NSAMPLES; i++)
        free(r[i]);
}

/* Applies the records in order to a fresh store; returns the final one. */
static void apply_all(struct record *const *recs, const size_t *order, size_t n,
                      const struct record *want)
{
    struct store s;
    store_init(&s, 11, 12);
    for (size_t i = 0; i < n; i++) {
        struct record *r = dup_record(recs[order[i]]);
        const struct record *cur;
        int rc = store_apply(&s, r, &cur);
        CHECK(rc == STORE_CHANGED || rc == STORE_STALE);
        if (rc == STORE_STALE)
            free(r);
        CHECK(cur != NULL);
    }
    const struct record *got = store_get(&s, "c", 1);
    CHECK(got != NULL);
    test_eq_mem_(__FILE__, __LINE__, "final record", got->line, got->len,
                 want->line, want->len);
    store_close(&s);
}

static void test_every_permutation_same_result(void)
{
    static const size_t pick[] = {0, 1, 5, 7, 8, 12, 13};
    const size_t n = sizeof pick / sizeof pick[0];
    struct record *r[sizeof pick / sizeof pick[0]];
    const struct record *max = NULL;
    for (size_t i = 0; i < n; i++) {
        r[i] = from_at(sample_lines[pick[i]]);
        if (max == NULL || record_compare(r[i], max) > 0)
            max = r[i];
    }
    /* Heap's algorithm over all 7! orders. */
    size_t order[sizeof pick / sizeof pick[0]];
    size_t c[sizeof pick / sizeof pick[0]];
    for (size_t i = 0; i < n; i++) {
        order[i] = i;
        c[i] = 0;
    }
    size_t count = 1;
    apply_all(r, order, n, max);
    for (size_t i = 1; i < n;) {
        if (c[i] < i) {
            size_t k = i % 2 == 0 ? 0 : c[i];
            size_t t = order[k];
            order[k] = order[i];
            order[i] = t;
            apply_all(r, order, n, max);
            count++;
            c[i]++;
            i = 1;
        } else {
            c[i] = 0;
            i++;
        }
    }
    CHECK_EQ_INT(count, 5040);
    for (size_t i = 0; i < n; i++)
        free(r[i]);
}

static void test_random_orders_same_result(void)
{
    struct record *r[NSAMPLES];
    const struct record *max = NULL;
    for (size_t i = 0; i < NSAMPLES; i++) {
        r[i] = from_at(sample_lines[i]);
        if (max == NULL || record_compare(r[i], max) > 0)
            max = r[i];
    }
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    size_t order[NSAMPLES * 2];
    for (int round = 0; round < 2000; round++) {
        /* Each record once or twice (duplicates arrive by flooding). */
        size_t n = 0;
        for (size_t i = 0; i < NSAMPLES; i++) {
            order[n++] = i;
            if (i % 3 == 0)
                order[n++] = i;
        }
        for (size_t i = n - 1; i > 0; i--) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            size_t j = (size_t)(seed % (i + 1));
            size_t t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        apply_all(r, order, n, max);
    }
    for (size_t i = 0; i < NSAMPLES; i++)
        free(r[i]);
}

static int count_visit(void *arg, const struct record *r)
{
    size_t *n = arg;
    CHECK(r != NULL);
    (*n)++;
    return 0;
}

static int stop_at_three(void *arg, const struct record *r)
{
    size_t *n = arg;
    (void)r;
    return ++*n == 3 ? 42 : 0;
}

static void test_growth_many_clients(void)
{
    enum { N = 20000 };
    struct store s;
    store_init(&s, 0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL);
    for (int i = 0; i < N; i++) {
        char line[96];
        snprintf(line, sizeof line, "IAMAT client%d +%d-%d %d.5", i, i % 90,
                 i % 180, i);
        struct record *r = from_iamat("Alford", "+0.000000001", line);
        const struct record *cur;
        CHECK_EQ_INT(store_apply(&s, r, &cur), STORE_CHANGED);
        CHECK(cur == r);
    }
    CHECK_EQ_INT(s.count, N);
    CHECK(s.cap >= N);
    for (int i = 0; i < N; i++) {
        char id[32];
        char want[128];
        int n = snprintf(id, sizeof id, "client%d", i);
        snprintf(want, sizeof want,
                 "AT Alford +0.000000001 client%d +%d-%d %d.5", i, i % 90,
                 i % 180, i);
        const struct record *r = store_get(&s, id, (size_t)n);
        if (r == NULL)
            fprintf(stderr, "lost %s\n", id);
        check_line(r, want);
    }
    CHECK(store_get(&s, S("client20000")) == NULL);
    CHECK(store_get(&s, S("client")) == NULL);
    CHECK(store_get(&s, S("")) == NULL);
    size_t visits = 0;
    CHECK_EQ_INT(store_foreach(&s, count_visit, &visits), 0);
    CHECK_EQ_INT(visits, N);
    visits = 0;
    CHECK_EQ_INT(store_foreach(&s, stop_at_three, &visits), 42);
    CHECK_EQ_INT(visits, 3);
    /* Updating every client keeps the count. */
    for (int i = 0; i < N; i += 7) {
        char line[96];
        snprintf(line, sizeof line, "IAMAT client%d +0-0 %d.6", i, i);
        struct record *r = from_iamat("Bolden", "+0.000000001", line);
        const struct record *cur;
        CHECK_EQ_INT(store_apply(&s, r, &cur), STORE_CHANGED);
    }
    CHECK_EQ_INT(s.count, N);
    check_line(store_get(&s, S("client7")),
               "AT Bolden +0.000000001 client7 +0-0 7.6");
    store_close(&s);
    CHECK(s.slots == NULL);
    CHECK_EQ_INT(s.count, 0);
}

static void test_empty_store(void)
{
    struct store s;
    store_init(&s, 1, 1);
    CHECK(store_get(&s, S("nobody")) == NULL);
    size_t visits = 0;
    CHECK_EQ_INT(store_foreach(&s, count_visit, &visits), 0);
    CHECK_EQ_INT(visits, 0);
    store_close(&s);
    /* Usable again after close. */
    struct record *r = from_iamat("A", "+0.000000000", "IAMAT x +0+0 0");
    const struct record *cur = NULL;
    CHECK_EQ_INT(store_apply(&s, r, &cur), STORE_CHANGED);
    CHECK(store_get(&s, S("x")) == r);
    store_close(&s);
}

static void test_client_ids_arbitrary_bytes(void)
{
    static const struct {
        const char *line;
        size_t len;
        const char *id;
        size_t idlen;
    } ids[] = {
        {S("IAMAT \xff +0+0 1"), S("\xff")},
        {S("IAMAT \xff\xfe\xfd +0+0 1"), S("\xff\xfe\xfd")},
        {S("IAMAT \0 +0+0 1"), S("\0")},
        {S("IAMAT a\0b +0+0 1"), S("a\0b")},
        {S("IAMAT a +0+0 1"), S("a")},
        {S("IAMAT a\0 +0+0 1"), S("a\0")},
        {S("IAMAT \xc3\xa9t\xc3\xa9 +0+0 1"), S("\xc3\xa9t\xc3\xa9")},
        {S("IAMAT \x01\x7f +0+0 1"), S("\x01\x7f")},
    };
    const size_t n = sizeof ids / sizeof ids[0];
    struct store s;
    store_init(&s, 99, 100);
    for (size_t i = 0; i < n; i++) {
        struct record *r =
            from_iamat_n("Alford", "+0.000000000", ids[i].line, ids[i].len);
        struct strparse_slice c = record_client(r);
        CHECK_EQ_INT(c.len, ids[i].idlen);
        CHECK_EQ_MEM(c.p, ids[i].id, c.len);
        const struct record *cur;
        CHECK_EQ_INT(store_apply(&s, r, &cur), STORE_CHANGED);
    }
    CHECK_EQ_INT(s.count, n);
    for (size_t i = 0; i < n; i++) {
        const struct record *r = store_get(&s, ids[i].id, ids[i].idlen);
        CHECK(r != NULL);
        struct strparse_slice c = record_client(r);
        CHECK_EQ_INT(c.len, ids[i].idlen);
        CHECK_EQ_MEM(c.p, ids[i].id, c.len);
    }
    CHECK(store_get(&s, S("\xfe")) == NULL);
    CHECK(store_get(&s, S("b")) == NULL);
    CHECK(store_get(&s, S("a\0b\0")) == NULL);
    store_close(&s);
}

static void test_siphash(void)
{
    /* SipHash-1-3, key 00..0f, message 00..(n-1). The values come from a
     * reference model that reproduces the SipHash-2-4 vectors of the
     * SipHash paper with two and four rounds, and CPython's hash() of
     * bytes (SipHash-1-3, key 0 under PYTHONHASHSEED=0) with one and
     * three. */
    const uint64_t k0 = 0x0706050403020100ULL;
    const uint64_t k1 = 0x0f0e0d0c0b0a0908ULL;
    unsigned char msg[64];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (unsigned char)i;
    CHECK(store_siphash(k0, k1, msg, 0) == 0xabac0158050fc4dcULL);
    CHECK(store_siphash(k0, k1, msg, 8) == 0x369095118d299a8eULL);
    CHECK(store_siphash(k0, k1, msg, 15) == 0xd320d86d2a519956ULL);
    CHECK(store_siphash(k0, k1, msg, 63) == 0x9d199062b7bbb3a8ULL);
    /* Deterministic for one key, different for another. */
    CHECK(store_siphash(1, 2, "kiwi", 4) == store_siphash(1, 2, "kiwi", 4));
    CHECK(store_siphash(1, 2, "kiwi", 4) != store_siphash(1, 3, "kiwi", 4));
    CHECK(store_siphash(1, 2, "kiwi", 4) != store_siphash(2, 2, "kiwi", 4));
    CHECK(store_siphash(1, 2, "kiwi", 4) != store_siphash(1, 2, "kiwj", 4));
    CHECK(store_siphash(1, 2, "a", 1) != store_siphash(1, 2, "a\0", 2));
    /* Different keys spread a set of ids differently. */
    size_t same = 0;
    for (int i = 0; i < 100; i++) {
        char id[16];
        int n = snprintf(id, sizeof id, "c%d", i);
        if ((store_siphash(1, 2, id, (size_t)n) & 63) ==
            (store_siphash(3, 4, id, (size_t)n) & 63))
            same++;
    }
    CHECK(same < 20);
}

/* record_from_at builds exactly what record_new does, copying a line
 * that is already single-spaced and re-spacing any other. */
static void test_record_from_at_matches_record_new(void)
{
    static const char *const lines[] = {
        ("AT Alford +0.000123456 kiwi.cs.ucla.edu +34.068930-118.445127 "
         "1621464827.959498503"),
        "AT Bolden -1.500000000 \xff\x01 +1-2 3",
        "AT\tBolden  -1.500000000 \xff\x01\v+1-2   3",
        " AT Bolden -1.500000000 c +1-2 3",
        "AT Bolden -1.500000000 c +1-2 3 ",
        "AT Bolden -1.500000000 c +1-2 3\r",
        "AT Bolden -1.500000000 c\t+1-2 3",
        "AT Bolden -1.500000000 c +1-2\f3",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        const char *line = lines[i];
        size_t len = strlen(line);
        struct proto_command c;
        CHECK_EQ_INT(proto_parse(line, len, &c), PROTO_OK);
        struct record *a = record_from_at(line, len, &c);
        struct record *b = record_new(c.server, c.diff, &c);
        CHECK(a != NULL && b != NULL);
        CHECK_EQ_MEM(a->line, b->line, b->len);
        CHECK_EQ_INT(a->len, b->len);
        CHECK_EQ_INT(a->client_off, b->client_off);
        CHECK_EQ_INT(a->client_len, b->client_len);
        CHECK_EQ_INT(a->time_off, b->time_off);
        CHECK_EQ_INT(a->server_len, b->server_len);
        CHECK(a->sec == b->sec);
        CHECK_EQ_INT(a->nsec, b->nsec);
        CHECK(record_compare(a, b) == 0);
        if (i < 2) /* already single-spaced: the bytes as they came */
            CHECK_EQ_MEM(a->line, line, len);
        free(a);
        free(b);
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The digest hash: the same on every server and every version that
 * shares digests (so these values are pinned), different for lines that
 * differ in one digit, and every input bit reaches about half of the
 * output bits. */
static void test_record_hash(void)
{
    struct record *r = from_at("AT Alford +0.000123456 kiwi.cs.ucla.edu "
                               "+34.068930-118.445127 1621464827.959498503");
    CHECK(store_record_hash(r) == 0x3df03b3f15c2762fULL);
    struct record *e = from_at("AT A +0.000000000 c +1-2 3");
    CHECK(store_record_hash(e) == 0xa4b79b1b1451872eULL);
    /* One bit flipped anywhere, at every length a tail can have. */
    for (uint32_t len = r->len - 8; len <= r->len; len++) {
        uint32_t saved = r->len;
        r->len = len;
        uint64_t base = store_record_hash(r);
        unsigned total = 0, least = 64;
        for (uint32_t bit = 0; bit < len * 8; bit++) {
            r->line[bit / 8] ^= (char)(1u << (bit % 8));
            unsigned d =
                (unsigned)__builtin_popcountll(base ^ store_record_hash(r));
            r->line[bit / 8] ^= (char)(1u << (bit % 8));
            total += d;
            least = d < least ? d : least;
        }
        double mean = (double)total / (len * 8);
        CHECK(mean > 29.0 && mean < 35.0);
        CHECK(least >= 12);
        r->len = saved;
    }
    /* 200 000 updates of one client in a row: no two hash alike. */
    size_t n = 200000;
    uint64_t *h = malloc(n * sizeof *h);
    CHECK(h != NULL);
    for (size_t i = 0; i < n; i++) {
        char line[128];
        snprintf(line, sizeof line,
                 "AT Alford +0.000%06zu bench.client.%zu +34.%06zu-118.445127 "
                 "1764579096.%09zu",
                 i % 1000000, i % 10000, i % 999983, i);
        struct record *x = from_at(line);
        h[i] = store_record_hash(x);
        free(x);
    }
    qsort(h, n, sizeof *h, cmp_u64);
    size_t dup = 0;
    for (size_t i = 1; i < n; i++)
        dup += h[i] == h[i - 1];
    CHECK_EQ_INT(dup, 0);
    free(h);
    free(r);
    free(e);
}

/* The *_hashed calls are store_get and store_apply with the hash given;
 * the prefetch hints change nothing. */
static void test_hashed_calls(void)
{
    struct store s;
    store_init(&s, 5, 6);
    store_prefetch_slot(&s, 1); /* empty: no table yet */
    store_prefetch_record(&s, 1);
    CHECK(store_get_hashed(&s, store_key_hash(&s, S("kiwi")), S("kiwi")) ==
          NULL);
    for (int i = 0; i < 500; i++) {
        char line[96];
        snprintf(line, sizeof line, "IAMAT c%d +1-2 %d", i % 50, i);
        struct record *r = from_iamat("A", "+0.000000000", line);
        struct strparse_slice c = record_client(r);
        uint64_t h = store_key_hash(&s, c.p, c.len);
        store_prefetch_slot(&s, h);
        store_prefetch_record(&s, h);
        CHECK(store_get_hashed(&s, h, c.p, c.len) == store_get(&s, c.p, c.len));
        const struct record *cur;
        CHECK_EQ_INT(store_apply_hashed(&s, r, h, &cur), STORE_CHANGED);
        CHECK(cur == r);
        CHECK(store_get(&s, c.p, c.len) == r);
    }
    CHECK_EQ_INT(s.count, 50);
    store_close(&s);
}

/* mem is every record's store_record_size() plus the slot table. */
static uint64_t mem_of(const struct store *s)
{
    uint64_t m = (uint64_t)s->cap * sizeof *s->slots;
    for (size_t i = 0; i < s->cap; i++)
        if (s->slots[i].r != NULL)
            m += store_record_size(s->slots[i].r->len);
    return m;
}

/* A record of client cid at time t whose location has pad zeros more
 * ("+1.000...-2"). */
static struct record *sized(const char *cid, size_t pad, unsigned t)
{
    char line[2048];
    CHECK(pad < 1500);
    int n = snprintf(line, sizeof line, "IAMAT %s +1", cid);
    CHECK(n > 0);
    if (pad > 0) {
        line[n++] = '.';
        memset(line + n, '0', pad);
        n += (int)pad;
    }
    n += snprintf(line + n, sizeof line - (size_t)n, "-2 %u", t);
    return from_iamat_n("A", "+0.000000000", line, (size_t)n);
}

static void test_record_size(void)
{
    /* Header and line, in glibc's 16-byte chunks with their 8-byte
     * header. */
    for (size_t len = 0; len < 300; len++) {
        uint64_t n = store_record_size(len);
        CHECK(n >= sizeof(struct record) + len + 8);
        CHECK(n < sizeof(struct record) + len + 8 + 16);
        CHECK_EQ_INT(n % 16, 0);
    }
    CHECK_EQ_INT(store_record_size(8000) + 16, store_record_size(8016));
}

static void test_byte_accounting(void)
{
    struct store s;
    store_init(&s, 7, 8);
    CHECK_EQ_INT(s.mem, 0);
    const struct record *cur;
    for (unsigned i = 0; i < 300; i++) {
        char cid[32];
        snprintf(cid, sizeof cid, "c%u", i % 100);
        struct record *r = sized(cid, (i * 37) % 700, i);
        CHECK_EQ_INT(store_apply(&s, r, &cur), STORE_CHANGED);
        CHECK_EQ_INT(s.mem, mem_of(&s));
    }
    CHECK_EQ_INT(s.count, 100);
    /* Stale: nothing changes. */
    uint64_t before = s.mem;
    struct record *old = sized("c5", 900, 1);
    CHECK_EQ_INT(store_apply(&s, old, &cur), STORE_STALE);
    free(old);
    CHECK_EQ_INT(s.mem, before);
    /* Shorter and longer replacements. */
    struct record *r = sized("c7", 0, 1000);
    CHECK_EQ_INT(store_apply(&s, r, &cur), STORE_CHANGED);
    CHECK_EQ_INT(s.mem, mem_of(&s));
    r = sized("c7", 1400, 1001);
    CHECK_EQ_INT(store_apply(&s, r, &cur), STORE_CHANGED);
    CHECK_EQ_INT(s.mem, mem_of(&s));
    CHECK(!store_over_bounds(&s));
    store_close(&s);
    CHECK_EQ_INT(s.mem, 0);
}

static void test_bound_records(void)
{
    struct store s;
    store_init(&s, 9, 10);
    store_set_bounds(&s, 3, UINT64_MAX);
    const struct record *cur;
    for (unsigned i = 0; i < 3; i++) {
        char cid[8];
        snprintf(cid, sizeof cid, "k%u", i);
        CHECK_EQ_INT(store_apply(&s, sized(cid, 0, 10), &cur), STORE_CHANGED);
    }
    uint64_t digest = s.digest, mem = s.mem, seq = s.last_seq;
    /* A fourth client: refused, the caller keeps the record. */
    struct record *r = sized("k3", 0, 10);
    cur = r;
    CHECK_EQ_INT(store_apply(&s, r, &cur), STORE_EFULL);
    CHECK(cur == NULL);
    CHECK_EQ_INT(s.full_why, STORE_BOUND_RECORDS);
    CHECK(store_get(&s, S("k3")) == NULL);
    CHECK_EQ_INT(s.count, 3);
    CHECK(s.digest == digest && s.mem == mem && s.last_seq == seq);
    free(r);
    /* A known client's newer record replaces its old one; a stale one
     * is stale, not refused. */
    r = sized("k1", 0, 11);
    CHECK_EQ_INT(store_apply(&s, r, &cur), STORE_CHANGED);
    CHECK(cur == r);
    r = sized("k2", 0, 9);
    CHECK_EQ_INT(store_apply(&s, r, &cur), STORE_STALE);
    check_line(cur, "AT A +0.000000000 k2 +1-2 10");
    free(r);
    CHECK(!store_over_bounds(&s));
    store_close(&s);
}

static void test_bound_bytes(void)
{
    struct store s;
    store_init(&s, 11, 12);
    const struct record *cur;
    CHECK_EQ_INT(store_apply(&s, sized("a", 100, 1), &cur), STORE_CHANGED);
    CHECK_EQ_INT(store_apply(&s, sized("b", 100, 1), &cur), STORE_CHANGED);
    /* Room for 200 bytes more. */
    store_set_bounds(&s, SIZE_MAX, s.mem + 200);
    uint64_t mem = s.mem;
    /* A new client that needs more: refused. */
    struct record *r = sized("c", 150, 1);
    CHECK(store_record_size(r->len) > 200);
    CHECK_EQ_INT(store_apply(&s, r, &cur), STORE_EFULL);
    CHECK(cur == NULL);
    CHECK_EQ_INT(s.full_why, STORE_BOUND_BYTES);
    CHECK_EQ_INT(s.mem, mem);
    free(r);
    /* One that fits: kept. */
    r = sized("d", 0, 1);
    CHECK(store_record_size(r->len) <= 200);
    CHECK_EQ_INT(store_apply(&s, r, &cur), STORE_CHANGED);
    mem = s.mem;
    CHECK(mem <= s.max_mem);
    /* A replacement of the same size: kept, even with no room left. */
    r = sized("a", 100, 2);
    CHECK_EQ_INT(store_apply(&s, r, &cur), STORE_CHANGED);
    CHECK_EQ_INT(s.mem, mem);
    /* A longer one past the bound: refused, the old record stays. */
    r = sized("a", 100 + 16 * 20, 3);
    CHECK_EQ_INT(store_apply(&s, r, &cur), STORE_EFULL);
    CHECK(cur != NULL && cur->sec == 2 && cur->len == r->len - 16 * 20);
    CHECK_EQ_INT(s.full_why, STORE_BOUND_BYTES);
    CHECK_EQ_INT(s.mem, mem);
    free(r);
    /* A shorter one: kept, and it makes room. */
    r = sized("a", 0, 4);
    CHECK_EQ_INT(store_apply(&s, r, &cur), STORE_CHANGED);
    CHECK(s.mem < mem);
    CHECK_EQ_INT(s.mem, mem_of(&s));
    CHECK_EQ_INT(s.count, 3);
    store_close(&s);
}

/* Bounds set on a store already past them (a replayed log under lowered
 * bounds): nothing goes, new clients wait until there is room. */
static void test_bounds_on_a_full_store(void)
{
    struct store s;
    store_init(&s, 13, 14);
    const struct record *cur;
    for (unsigned i = 0; i < 20; i++) {
        char cid[8];
        snprintf(cid, sizeof cid, "r%u", i);
        CHECK_EQ_INT(store_apply(&s, sized(cid, 50, 1), &cur), STORE_CHANGED);
    }
    store_set_bounds(&s, 10, s.mem / 2);
    CHECK(store_over_bounds(&s));
    CHECK_EQ_INT(s.count, 20);
    struct record *r = sized("new", 0, 1);
    CHECK_EQ_INT(store_apply(&s, r, &cur), STORE_EFULL);
    free(r);
    r = sized("r3", 50, 2);
    CHECK_EQ_INT(store_apply(&s, r, &cur), STORE_CHANGED);
    CHECK(store_get(&s, S("r3")) == r);
    r = sized("r4", 66, 2);
    CHECK_EQ_INT(store_apply(&s, r, &cur), STORE_EFULL);
    free(r);
    store_set_bounds(&s, SIZE_MAX, UINT64_MAX);
    CHECK(!store_over_bounds(&s));
    r = sized("new", 0, 1);
    CHECK_EQ_INT(store_apply(&s, r, &cur), STORE_CHANGED);
    store_close(&s);
}

static const struct test tests[] = {
    {"record_new_single_spaced", test_record_new_single_spaced},
    {"record_new_from_at", test_record_new_from_at},
    {"newer_time_wins", test_newer_time_wins},
    {"equal_or_older_is_stale", test_equal_or_older_is_stale},
    {"same_time_tie_on_server_name", test_same_time_tie_on_server_name},
    {"digits_past_ninth", test_digits_past_ninth},
    {"same_iamat_twice_larger_diff_stale",
     test_same_iamat_twice_larger_diff_stale},
    {"compare_antisymmetric", test_compare_antisymmetric},
    {"compare_transitive", test_compare_transitive},
    {"every_permutation_same_result", test_every_permutation_same_result},
    {"random_orders_same_result", test_random_orders_same_result},
    {"growth_many_clients", test_growth_many_clients},
    {"empty_store", test_empty_store},
    {"client_ids_arbitrary_bytes", test_client_ids_arbitrary_bytes},
    {"siphash", test_siphash},
    {"record_from_at_matches_record_new",
     test_record_from_at_matches_record_new},
    {"record_hash", test_record_hash},
    {"hashed_calls", test_hashed_calls},
    {"record_size", test_record_size},
    {"byte_accounting", test_byte_accounting},
    {"bound_records", test_bound_records},
    {"bound_bytes", test_bound_bytes},
    {"bounds_on_a_full_store", test_bounds_on_a_full_store},
};

TEST_MAIN(tests)
