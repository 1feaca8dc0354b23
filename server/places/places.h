/* places: answers "what is near this point" through a provider.
 *
 * The front of server/places/: finds the provider by name
 * (places_provider.h), answers the offline one at once from its index
 * (places_offline.h), and for an HTTP provider looks in the answer cache
 * (places_cache.h), joins an identical request in flight, queues past
 * max_inflight and runs the request on the loop (places_curl.h): nothing
 * here ever blocks. Every answer, good or bad, reaches the caller as a
 * legacy Nearby Search shaped json_t (places_json.h).
 */
#ifndef HERD_PLACES_H
#define HERD_PLACES_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <jansson.h>
#include <uv.h>

#include "hist.h"
#include "places_cache.h"
#include "places_curl.h"
#include "places_provider.h"

#define PLACES_DEFAULT_TIMEOUT_MS 5000
#define PLACES_MAX_INFLIGHT       64
#define PLACES_CACHE_TTL_MS       ((uint64_t)10 * 60 * 1000)
#define PLACES_CACHE_SIZE         10000

enum places_error {
    PLACES_ENOMEM = -1601,
    PLACES_EPROVIDER = -1602, /* unknown provider name */
    PLACES_ENOKEY = -1603,    /* the provider needs HERD_PLACES_KEY */
    PLACES_EINDEX = -1604     /* the offline index cannot be used */
};

struct places_options {
    const char *provider; /* offline, google, google-new, overpass */
    const char *url;      /* NULL: the provider's endpoint */
    const char *key;      /* NULL: none (from HERD_PLACES_KEY) */
    const char *index;    /* offline: the index file */
    uint64_t timeout_ms;
    uint64_t cache_ttl_ms; /* 0: the default; answers kept this long */
    uint64_t cache_size;   /* 0: the default; answers kept at most */
    unsigned max_inflight; /* 0: the default; HTTP requests at once */
};

/* Failed answers of one kind (places_stats.errors). */
#define PLACES_ERROR_KINDS 16
#define PLACES_ERROR_WORD  24
struct places_error_count {
    char word[PLACES_ERROR_WORD]; /* "timeout", "http_503", ... */
    unsigned long n;
};

/* What places counts, for the server's status; plain increments on the
 * loop thread. */
struct places_stats {
    unsigned long searches;     /* places_search calls */
    unsigned long cache_hits;   /* answered from the cache */
    unsigned long cache_misses; /* HTTP providers: not in the cache (a new
                                   request, or one joined) */
    unsigned long joined;       /* shared an identical request in flight */
    unsigned long requests;     /* HTTP requests started */
    /* Failed answers by a short word: "timeout", "unreachable",
     * "too_large" (the request failed), "http_NNN" (an HTTP status other
     * than 2xx), or the provider's status in lower case
     * ("over_query_limit", "request_denied", "unknown_error"); past
     * PLACES_ERROR_KINDS - 1 words, "other". Each joined search counts. */
    struct places_error_count errors[PLACES_ERROR_KINDS];
    size_t nerrors;
    /* Every answered search, from places_search to its answer: cache
     * hits and the offline provider's answers too (cancelled ones not). */
    struct hist latency;
};

/* Called once per started search with a borrowed answer (valid during the
 * call), or with NULL when the search was cancelled by places_close(). */
typedef void places_cb(void *arg, const json_t *answer);

struct places_request;
struct offline_index;

struct places {
    uv_loop_t *loop;
    struct places_curl curl;
    const struct places_provider *provider;
    char *url;
    char *key;
    uint64_t timeout_ms;
    struct places_request *active; /* doubly linked */
    struct places_request *wait_head, *wait_tail;
    unsigned inflight;
    unsigned queued; /* requests in the wait list */
    unsigned max_inflight;
    struct offline_index *index; /* offline provider */
    struct places_cache cache;
    struct places_stats stats;
};

/* Returns 0 or a PLACES_E* code (the caller words each one). */
int places_init(struct places *pl, uv_loop_t *loop,
                const struct places_options *opt);
/* Takes opt's limits from now on (a reload of the configuration; the
 * provider, its URL, key and index stay): timeout_ms for requests that
 * start from now, max_inflight (queued requests start at once when it
 * grew), cache_size (the cache drops its least recently used answers
 * down to it) and cache_ttl_ms for answers put from now. */
void places_set_limits(struct places *pl, const struct places_options *opt);
/* Cancels every search (callbacks get NULL) and closes the handles. */
void places_close(struct places *pl);

/* Starts a search. Returns 0 (cb will be called later, never from inside
 * this call), or 1 with *now set to an answer the caller owns (cb will not
 * be called), or PLACES_ENOMEM (cb will not be called). */
int places_search(struct places *pl, const struct places_query *q,
                  places_cb *cb, void *arg, json_t **now);

/* What places counted so far (borrowed). */
const struct places_stats *places_get_stats(const struct places *pl);
/* Requests to the provider not answered yet: running, or queued past
 * max_inflight. */
unsigned places_in_flight(const struct places *pl);
/* The provider's name ("offline", "google", ...). */
const char *places_provider_name(const struct places *pl);

/* Names the providers this build knows, for --help. */
const char *places_provider_names(void);
int places_provider_known(const char *name);

#endif
