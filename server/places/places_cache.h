/* places_cache: the HTTP providers' answers, kept a while; pure (jansson;
 * no uv, no clock).
 *
 * A hash table of answers by key (the caller's text: places.c makes it of
 * the provider, the location rounded to 1e-4 degrees and the radius) with
 * an LRU list. An answer is kept ttl_ms from when it was put; past size
 * answers, the least recently used goes first. The time is the caller's
 * (the loop's uv_now), passed to each call. It holds answers only: joining
 * identical requests in flight is places.c's.
 */
#ifndef HERD_PLACES_CACHE_H
#define HERD_PLACES_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct places_cache_entry;

enum places_cache_error { PLACES_CACHE_ENOMEM = -2001 };

/* Answer cache: a hash table with an LRU list. */
struct places_cache {
    struct places_cache_entry **buckets;
    size_t nbuckets;
    struct places_cache_entry *lru_head, *lru_tail; /* head: newest */
    size_t cached;
    size_t size;     /* answers kept at most */
    uint64_t ttl_ms; /* each answer kept this long */
};

/* An empty cache of at most size (at least 1) answers, each kept ttl_ms.
 * Returns 0 or PLACES_CACHE_ENOMEM (then places_cache_close is safe). */
int places_cache_init(struct places_cache *c, size_t size, uint64_t ttl_ms);
/* New bounds: at most size (at least 1) answers, the least recently used
 * dropped now until they fit; answers put from now on are kept ttl_ms
 * (those held keep the time they were given). The table keeps its number
 * of buckets: a cache grown past it has longer chains. */
void places_cache_set_limits(struct places_cache *c, size_t size,
                             uint64_t ttl_ms);
/* Drops every answer and the table. */
void places_cache_close(struct places_cache *c);

/* The answer under key, borrowed (valid until the cache next changes, or
 * json_incref it), or NULL when there is none or it expired by now_ms (it
 * is dropped then). A hit becomes the most recently used. */
json_t *places_cache_get(struct places_cache *c, const char *key,
                         uint64_t now_ms);
/* Keeps answer (with a reference of its own) under key until now_ms +
 * ttl_ms, in place of any answer under key; when the cache is full the
 * least recently used answers go first. Out of memory, nothing is kept: a
 * cache that cannot grow is still a correct cache. */
void places_cache_put(struct places_cache *c, const char *key, json_t *answer,
                      uint64_t now_ms);

#endif
