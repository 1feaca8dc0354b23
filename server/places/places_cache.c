#include "places_cache.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

struct places_cache_entry {
    char *key;
    json_t *answer;
    uint64_t expires_ms;
    struct places_cache_entry *hnext;
    struct places_cache_entry *newer, *older;
};

static size_t hash_key(const char *s)
{
    size_t h = 1469598103934665603ULL; /* FNV-1a: keys are our own text */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static struct places_cache_entry **cache_slot(struct places_cache *c,
                                              const char *key)
{
    struct places_cache_entry **pp =
        &c->buckets[hash_key(key) & (c->nbuckets - 1)];
    while (*pp != NULL && strcmp((*pp)->key, key) != 0)
        pp = &(*pp)->hnext;
    return pp;
}

static void lru_unlink(struct places_cache *c, struct places_cache_entry *e)
{
    if (e->newer)
        e->newer->older = e->older;
    else
        c->lru_head = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        c->lru_tail = e->newer;
    e->newer = e->older = NULL;
}

static void lru_push(struct places_cache *c, struct places_cache_entry *e)
{
    e->older = c->lru_head;
    e->newer = NULL;
    if (c->lru_head)
        c->lru_head->newer = e;
    c->lru_head = e;
    if (c->lru_tail == NULL)
        c->lru_tail = e;
}

/* Drops the entry in slot. The slot holds one: a key just found, or the
 * key of an entry on the LRU list, and every entry on the list is in the
 * table under its key (put links it into both or neither). */
static void cache_remove(struct places_cache *c,
                         struct places_cache_entry **slot)
{
    struct places_cache_entry *e = *slot;
    assert(e != NULL);
    *slot = e->hnext;
    lru_unlink(c, e);
    json_decref(e->answer);
    free(e->key);
    free(e);
    c->cached--;
}

int places_cache_init(struct places_cache *c, size_t size, uint64_t ttl_ms)
{
    memset(c, 0, sizeof *c);
    c->size = size;
    c->ttl_ms = ttl_ms;
    c->nbuckets = 64;
    while (c->nbuckets < c->size)
        c->nbuckets *= 2;
    c->buckets = calloc(c->nbuckets, sizeof(struct places_cache_entry *));
    if (c->buckets == NULL) {
        c->nbuckets = 0;
        return PLACES_CACHE_ENOMEM;
    }
    return 0;
}

json_t *places_cache_get(struct places_cache *c, const char *key,
                         uint64_t now_ms)
{
    if (c->nbuckets == 0)
        return NULL;
    struct places_cache_entry **slot = cache_slot(c, key);
    struct places_cache_entry *e = *slot;
    if (e == NULL)
        return NULL;
    if (now_ms >= e->expires_ms) {
        cache_remove(c, slot);
        return NULL;
    }
    lru_unlink(c, e);
    lru_push(c, e);
    return e->answer;
}

void places_cache_put(struct places_cache *c, const char *key, json_t *answer,
                      uint64_t now_ms)
{
    if (c->nbuckets == 0)
        return;
    struct places_cache_entry **slot = cache_slot(c, key);
    if (*slot != NULL)
        cache_remove(c, slot);
    while (c->cached >= c->size && c->lru_tail != NULL)
        cache_remove(c, cache_slot(c, c->lru_tail->key));
    struct places_cache_entry *e = calloc(1, sizeof *e);
    char *k = strdup(key);
    if (e == NULL || k == NULL) {
        free(e);
        free(k);
        return; /* a cache that cannot grow is still a correct cache */
    }
    e->key = k;
    e->answer = json_incref(answer);
    e->expires_ms = now_ms + c->ttl_ms;
    slot = cache_slot(c, key);
    e->hnext = *slot;
    *slot = e;
    lru_push(c, e);
    c->cached++;
}

void places_cache_set_limits(struct places_cache *c, size_t size,
                             uint64_t ttl_ms)
{
    c->size = size;
    c->ttl_ms = ttl_ms;
    while (c->cached > c->size && c->lru_tail != NULL)
        cache_remove(c, cache_slot(c, c->lru_tail->key));
}

void places_cache_close(struct places_cache *c)
{
    while (c->lru_head != NULL)
        cache_remove(c, cache_slot(c, c->lru_head->key));
    free(c->buckets);
    c->buckets = NULL;
    c->nbuckets = 0;
}
