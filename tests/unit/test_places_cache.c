/* Unit tests for server/places/places_cache: hits, expiry at the TTL,
 * eviction of the least recently used at the size bound, replacement, and
 * the references it holds. The time is the test's: the cache reads no
 * clock. (Identical requests in flight are joined by places.c, not here:
 * e2e.places_cache covers that.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "places_cache.h"
#include "test.h"

#define TTL ((uint64_t)1000)

static json_t *answer(const char *name)
{
    json_t *a = json_pack("{s:[], s:[{s:s}], s:s}", "html_attributions",
                          "results", "name", name, "status", "OK");
    CHECK(a != NULL);
    return a;
}

static void test_empty_misses(void)
{
    struct places_cache c;
    CHECK_EQ_INT(places_cache_init(&c, 10, TTL), 0);
    CHECK(places_cache_get(&c, "google|34.0689|-118.4451|10000", 0) == NULL);
    CHECK_EQ_INT(c.cached, 0);
    places_cache_close(&c);
}

/* A hit is the very answer put, borrowed: the cache holds a reference of
 * its own, and gives it back on close. */
static void test_hit(void)
{
    struct places_cache c;
    CHECK_EQ_INT(places_cache_init(&c, 10, TTL), 0);
    json_t *a = answer("Westwood");
    places_cache_put(&c, "k", a, 5000);
    CHECK_EQ_INT(a->refcount, 2);
    CHECK_EQ_INT(c.cached, 1);
    CHECK(places_cache_get(&c, "k", 5000) == a);
    CHECK(places_cache_get(&c, "k", 5001) == a);
    CHECK_EQ_INT(a->refcount, 2); /* a get takes no reference */
    CHECK(places_cache_get(&c, "K", 5000) == NULL);
    CHECK(places_cache_get(&c, "k ", 5000) == NULL);
    CHECK(places_cache_get(&c, "", 5000) == NULL);
    places_cache_close(&c);
    CHECK_EQ_INT(a->refcount, 1);
    json_decref(a);
}

/* Kept TTL from the put: a hit one millisecond before, a miss at the TTL
 * (and the answer dropped then). */
static void test_expiry_at_ttl(void)
{
    struct places_cache c;
    CHECK_EQ_INT(places_cache_init(&c, 10, TTL), 0);
    json_t *a = answer("Westwood");
    places_cache_put(&c, "k", a, 2000);
    CHECK(places_cache_get(&c, "k", 2000 + TTL - 1) == a);
    CHECK_EQ_INT(c.cached, 1);
    CHECK(places_cache_get(&c, "k", 2000 + TTL) == NULL);
    CHECK_EQ_INT(c.cached, 0);
    CHECK_EQ_INT(a->refcount, 1);
    CHECK(places_cache_get(&c, "k", 2000) == NULL); /* gone, not hidden */
    places_cache_close(&c);
    json_decref(a);
}

/* A hit makes an answer the most recently used, but does not make it
 * live longer. */
static void test_hit_does_not_extend(void)
{
    struct places_cache c;
    CHECK_EQ_INT(places_cache_init(&c, 10, TTL), 0);
    json_t *a = answer("Westwood");
    places_cache_put(&c, "k", a, 0);
    for (uint64_t t = 0; t < TTL; t += 100)
        CHECK(places_cache_get(&c, "k", t) == a);
    CHECK(places_cache_get(&c, "k", TTL) == NULL);
    places_cache_close(&c);
    json_decref(a);
}

/* An answer put again lives TTL from the second put. */
static void test_put_again_renews(void)
{
    struct places_cache c;
    CHECK_EQ_INT(places_cache_init(&c, 10, TTL), 0);
    json_t *a = answer("Westwood");
    places_cache_put(&c, "k", a, 0);
    places_cache_put(&c, "k", a, 600);
    CHECK_EQ_INT(c.cached, 1);
    CHECK_EQ_INT(a->refcount, 2);
    CHECK(places_cache_get(&c, "k", TTL) == a);
    CHECK(places_cache_get(&c, "k", 600 + TTL - 1) == a);
    CHECK(places_cache_get(&c, "k", 600 + TTL) == NULL);
    places_cache_close(&c);
    json_decref(a);
}

/* A second answer under a key replaces the first, whose reference goes. */
static void test_replace(void)
{
    struct places_cache c;
    CHECK_EQ_INT(places_cache_init(&c, 10, TTL), 0);
    json_t *a = answer("Westwood");
    json_t *b = answer("Century City");
    places_cache_put(&c, "k", a, 0);
    places_cache_put(&c, "k", b, 1);
    CHECK_EQ_INT(c.cached, 1);
    CHECK_EQ_INT(a->refcount, 1);
    CHECK_EQ_INT(b->refcount, 2);
    CHECK(places_cache_get(&c, "k", 2) == b);
    places_cache_close(&c);
    CHECK_EQ_INT(b->refcount, 1);
    json_decref(a);
    json_decref(b);
}

/* Full at the size bound: a new answer evicts the least recently put. */
static void test_eviction_at_size(void)
{
    struct places_cache c;
    CHECK_EQ_INT(places_cache_init(&c, 3, TTL), 0);
    json_t *v[4];
    const char *keys[4] = {"a", "b", "c", "d"};
    for (int i = 0; i < 4; i++)
        v[i] = answer(keys[i]);
    for (int i = 0; i < 3; i++)
        places_cache_put(&c, keys[i], v[i], (uint64_t)i);
    CHECK_EQ_INT(c.cached, 3);
    places_cache_put(&c, "d", v[3], 3);
    CHECK_EQ_INT(c.cached, 3);
    CHECK_EQ_INT(v[0]->refcount, 1);
    CHECK(places_cache_get(&c, "a", 4) == NULL);
    CHECK(places_cache_get(&c, "b", 4) == v[1]);
    CHECK(places_cache_get(&c, "c", 4) == v[2]);
    CHECK(places_cache_get(&c, "d", 4) == v[3]);
    places_cache_close(&c);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ_INT(v[i]->refcount, 1);
        json_decref(v[i]);
    }
}

/* A hit moves an answer to the front: the least recently used goes, not
 * the oldest put. */
static void test_eviction_is_lru(void)
{
    struct places_cache c;
    CHECK_EQ_INT(places_cache_init(&c, 3, TTL), 0);
    json_t *a = answer("a");
    json_t *b = answer("b");
    json_t *x = answer("c");
    json_t *d = answer("d");
    places_cache_put(&c, "a", a, 0);
    places_cache_put(&c, "b", b, 1);
    places_cache_put(&c, "c", x, 2);
    CHECK(places_cache_get(&c, "a", 3) == a);
    places_cache_put(&c, "d", d, 4);
    CHECK(places_cache_get(&c, "b", 5) == NULL);
    CHECK(places_cache_get(&c, "a", 5) == a);
    CHECK(places_cache_get(&c, "c", 5) == x);
    CHECK(places_cache_get(&c, "d", 5) == d);
    places_cache_close(&c);
    json_decref(a);
    json_decref(b);
    json_decref(x);
    json_decref(d);
}

/* Size 1: every put evicts the one before. */
static void test_size_one(void)
{
    struct places_cache c;
    CHECK_EQ_INT(places_cache_init(&c, 1, TTL), 0);
    json_t *a = answer("a");
    json_t *b = answer("b");
    places_cache_put(&c, "a", a, 0);
    CHECK(places_cache_get(&c, "a", 0) == a);
    places_cache_put(&c, "b", b, 0);
    CHECK_EQ_INT(c.cached, 1);
    CHECK(places_cache_get(&c, "a", 0) == NULL);
    CHECK(places_cache_get(&c, "b", 0) == b);
    places_cache_close(&c);
    json_decref(a);
    json_decref(b);
}

/* Many keys through a small cache (the table has at least 64 buckets, so
 * chains are long): exactly the last `size` stay, every other reference
 * is given back. */
static void test_many_keys(void)
{
    enum { SIZE = 100, N = 5000 };
    struct places_cache c;
    CHECK_EQ_INT(places_cache_init(&c, SIZE, TTL), 0);
    json_t *a = answer("shared");
    char key[64];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "overpass|%.4f|%.4f|%d", i * 1e-4, -i * 1e-4,
                 i % 7);
        places_cache_put(&c, key, a, 10);
        CHECK(c.cached <= SIZE);
    }
    CHECK_EQ_INT(c.cached, SIZE);
    CHECK_EQ_INT(a->refcount, 1 + SIZE);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "overpass|%.4f|%.4f|%d", i * 1e-4, -i * 1e-4,
                 i % 7);
        CHECK((places_cache_get(&c, key, 11) != NULL) == (i >= N - SIZE));
    }
    places_cache_close(&c);
    CHECK_EQ_INT(a->refcount, 1);
    json_decref(a);
}

/* Expired answers are dropped when looked up, and full or not, a put
 * makes room by evicting: an expired answer that was never looked up
 * still counts until then. */
static void test_expired_counts_until_dropped(void)
{
    struct places_cache c;
    CHECK_EQ_INT(places_cache_init(&c, 2, TTL), 0);
    json_t *a = answer("a");
    json_t *b = answer("b");
    json_t *x = answer("c");
    places_cache_put(&c, "a", a, 0);
    places_cache_put(&c, "b", b, 0);
    places_cache_put(&c, "c", x, 5 * TTL); /* evicts a, expired or not */
    CHECK_EQ_INT(c.cached, 2);
    CHECK_EQ_INT(a->refcount, 1);
    CHECK(places_cache_get(&c, "b", 5 * TTL) == NULL);
    CHECK_EQ_INT(c.cached, 1);
    CHECK(places_cache_get(&c, "c", 5 * TTL) == x);
    places_cache_close(&c);
    json_decref(a);
    json_decref(b);
    json_decref(x);
}

/* The table is a power of two at least as large as the bound (the hash
 * is masked), and never below 64 buckets. */
static void test_table_size(void)
{
    static const struct {
        size_t size, buckets;
    } cases[] = {{1, 64}, {64, 64}, {65, 128}, {10000, 16384}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct places_cache c;
        CHECK_EQ_INT(places_cache_init(&c, cases[i].size, TTL), 0);
        CHECK_EQ_INT(c.nbuckets, cases[i].buckets);
        places_cache_close(&c);
        CHECK(c.buckets == NULL);
    }
}

/* A cache that was never set up, or whose set-up failed, answers nothing
 * and keeps nothing. */
static void test_closed_cache(void)
{
    struct places_cache c;
    memset(&c, 0, sizeof c);
    json_t *a = answer("a");
    places_cache_put(&c, "a", a, 0);
    CHECK_EQ_INT(a->refcount, 1);
    CHECK(places_cache_get(&c, "a", 0) == NULL);
    places_cache_close(&c);
    json_decref(a);
}

/* New limits (a reload): a smaller size drops the least recently used
 * down to it at once; a larger one lets more in; a new TTL holds for
 * answers put from then on, those held keep theirs. */
static void test_set_limits(void)
{
    struct places_cache c;
    CHECK_EQ_INT(places_cache_init(&c, 4, TTL), 0);
    const char *keys[4] = {"a", "b", "c", "d"};
    json_t *v[4];
    for (int i = 0; i < 4; i++) {
        v[i] = answer(keys[i]);
        places_cache_put(&c, keys[i], v[i], 0);
    }
    CHECK(places_cache_get(&c, "a", 1) == v[0]); /* a: the most recent */
    places_cache_set_limits(&c, 2, 5 * TTL);
    CHECK_EQ_INT(c.cached, 2);
    CHECK(places_cache_get(&c, "b", 2) == NULL);
    CHECK(places_cache_get(&c, "c", 2) == NULL);
    CHECK(places_cache_get(&c, "d", 2) == v[3]);
    CHECK(places_cache_get(&c, "a", 2) == v[0]);
    CHECK_EQ_INT(v[1]->refcount, 1); /* the dropped ones' references went */
    CHECK_EQ_INT(v[2]->refcount, 1);
    /* The held ones keep the TTL they were put with. */
    CHECK(places_cache_get(&c, "a", TTL) == NULL);
    places_cache_put(&c, "b", v[1], TTL);
    CHECK(places_cache_get(&c, "b", 5 * TTL) == v[1]);
    CHECK(places_cache_get(&c, "b", 6 * TTL) == NULL);
    /* Grown past the table's buckets: still every answer. */
    places_cache_set_limits(&c, 1000, TTL);
    for (int i = 0; i < 500; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        places_cache_put(&c, k, v[2], 7 * TTL);
    }
    CHECK_EQ_INT(c.cached, 501); /* and d, expired, not yet dropped */
    CHECK(places_cache_get(&c, "k0", 7 * TTL) == v[2]);
    CHECK(places_cache_get(&c, "k499", 7 * TTL) == v[2]);
    places_cache_close(&c);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ_INT(v[i]->refcount, 1);
        json_decref(v[i]);
    }
}

static const struct test tests[] = {
    {"empty_misses", test_empty_misses},
    {"hit", test_hit},
    {"expiry_at_ttl", test_expiry_at_ttl},
    {"hit_does_not_extend", test_hit_does_not_extend},
    {"put_again_renews", test_put_again_renews},
    {"replace", test_replace},
    {"eviction_at_size", test_eviction_at_size},
    {"eviction_is_lru", test_eviction_is_lru},
    {"size_one", test_size_one},
    {"many_keys", test_many_keys},
    {"expired_counts_until_dropped", test_expired_counts_until_dropped},
    {"table_size", test_table_size},
    {"closed_cache", test_closed_cache},
    {"set_limits", test_set_limits},
};

TEST_MAIN(tests)
