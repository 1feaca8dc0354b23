#include "places.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dynbuf.h"
#include "log.h"
#include "places_cache.h"
#include "places_curl.h"
#include "places_google.h"
#include "places_google_new.h"
#include "places_index.h"
#include "places_json.h"
#include "places_offline.h"
#include "places_overpass.h"

#define URL_MAX 65536

struct places_waiter {
    places_cb *cb;
    void *arg;
    uint64_t start_ns; /* uv_hrtime() at places_search */
    struct places_waiter *next;
};

struct places_request {
    struct places *pl;
    struct places_curl_transfer t;
    struct places_http http;
    struct places_query q; /* lat/lng text not kept: only the numbers */
    char *key;             /* cache and in-flight key */
    struct places_waiter *waiters;
    struct places_request *prev, *next;
};

/* --- providers ----------------------------------------------------------*/

static const struct places_provider *const providers[] = {
    &places_offline_provider,
    &places_google_provider,
    &places_google_new_provider,
    &places_overpass_provider,
};

static const struct places_provider *find_provider(const char *name)
{
    for (size_t i = 0; i < sizeof providers / sizeof providers[0]; i++)
        if (strcmp(providers[i]->name, name) == 0)
            return providers[i];
    return NULL;
}

int places_provider_known(const char *name)
{
    return find_provider(name) != NULL;
}

const char *places_provider_names(void)
{
    return "offline, google, google-new, overpass";
}

/* Same provider, location rounded to 1e-4 degrees (about 11 m), same
 * radius: the same answer. The bound is not part of it. */
static char *query_key(const struct places *pl, const struct places_query *q)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s|%.4f|%.4f|%llu", pl->provider->name,
             q->lat_deg, q->lng_deg, (unsigned long long)q->radius_mm);
    return strdup(buf);
}

/* --- searches -----------------------------------------------------------*/

static void start_waiting(void *arg);

int places_init(struct places *pl, uv_loop_t *loop,
                const struct places_options *opt)
{
    memset(pl, 0, sizeof *pl);
    pl->provider = find_provider(opt->provider ? opt->provider : "offline");
    if (pl->provider == NULL)
        return PLACES_EPROVIDER;
    if (pl->provider->needs_key && (opt->key == NULL || opt->key[0] == '\0'))
        return PLACES_ENOKEY;
    pl->loop = loop;
    if (pl->provider->build == NULL) {
        pl->index = malloc(sizeof *pl->index);
        if (pl->index == NULL)
            return PLACES_ENOMEM;
        if (opt->index == NULL ||
            offline_index_open(pl->index, opt->index) != 0) {
            free(pl->index);
            pl->index = NULL;
            return PLACES_EINDEX;
        }
        return 0;
    }
    pl->max_inflight =
        opt->max_inflight ? opt->max_inflight : PLACES_MAX_INFLIGHT;
    pl->timeout_ms =
        opt->timeout_ms ? opt->timeout_ms : PLACES_DEFAULT_TIMEOUT_MS;
    int cache_rc = places_cache_init(
        &pl->cache, opt->cache_size ? opt->cache_size : PLACES_CACHE_SIZE,
        opt->cache_ttl_ms ? opt->cache_ttl_ms : PLACES_CACHE_TTL_MS);
    pl->url = strdup(opt->url ? opt->url : pl->provider->default_url);
    pl->key = strdup(opt->key ? opt->key : "");
    if (cache_rc != 0 || pl->url == NULL || pl->key == NULL ||
        places_curl_init(&pl->curl, loop, start_waiting, pl) != 0) {
        places_cache_close(&pl->cache);
        free(pl->url);
        free(pl->key);
        memset(pl, 0, sizeof *pl);
        return PLACES_ENOMEM;
    }
    return 0;
}

static void request_free(struct places_request *r)
{
    places_curl_transfer_free(&r->t);
    dynbuf_free(&r->http.url);
    dynbuf_free(&r->http.body);
    dynbuf_free(&r->http.headers);
    while (r->waiters != NULL) {
        struct places_waiter *w = r->waiters;
        r->waiters = w->next;
        free(w);
    }
    free(r->key);
    free(r);
}

/* Counts a failed answer under word (places_stats.errors). */
static void count_error(struct places *pl, const char *word)
{
    struct places_stats *st = &pl->stats;
    size_t i = 0;
    while (i < st->nerrors && strcmp(st->errors[i].word, word) != 0)
        i++;
    if (i == st->nerrors) {
        if (i >= PLACES_ERROR_KINDS - 1) { /* the last slot takes the rest */
            i = PLACES_ERROR_KINDS - 1;
            word = "other";
        }
        if (i == st->nerrors) {
            snprintf(st->errors[i].word, sizeof st->errors[i].word, "%s", word);
            st->nerrors++;
        }
    }
    st->errors[i].n++;
}

/* Answers every waiter of r (answer NULL: cancelled); error is the word
 * a failed answer is counted under, NULL for a good one. */
static void answer_waiters(struct places_request *r, const json_t *answer,
                           const char *error)
{
    struct places *pl = r->pl;
    struct places_waiter *w = r->waiters;
    r->waiters = NULL;
    uint64_t now = answer != NULL ? uv_hrtime() : 0;
    while (w != NULL) {
        struct places_waiter *next = w->next;
        if (answer != NULL) {
            hist_add_ns(&pl->stats.latency, w->start_ns, now);
            if (error != NULL)
                count_error(pl, error);
        }
        w->cb(w->arg, answer);
        free(w);
        w = next;
    }
}

static void unlink_active(struct places_request *r)
{
    struct places *pl = r->pl;
    if (r->prev)
        r->prev->next = r->next;
    else
        pl->active = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

static void finish(struct places_curl_transfer *t, CURLcode code, long http);

static int start_transfer(struct places_request *r)
{
    struct places *pl = r->pl;
    if (places_curl_start(&pl->curl, &r->t, r->http.url.data, r->http.body.data,
                          r->http.body.len, pl->timeout_ms, finish) != 0)
        return PLACES_ENOMEM;
    r->next = pl->active;
    if (pl->active)
        pl->active->prev = r;
    pl->active = r;
    pl->inflight++;
    pl->stats.requests++;
    return 0;
}

/* Starts queued requests while there is room. A request that cannot start
 * is answered with a failure, never dropped. */
static void start_waiting(void *arg)
{
    struct places *pl = arg;
    while (pl->wait_head != NULL && pl->inflight < pl->max_inflight) {
        struct places_request *r = pl->wait_head;
        pl->wait_head = r->next;
        if (pl->wait_head == NULL)
            pl->wait_tail = NULL;
        pl->queued--;
        r->next = NULL;
        if (start_transfer(r) != 0) {
            json_t *a = places_json_error("UNKNOWN_ERROR",
                                          "cannot start the places request");
            answer_waiters(r, a, "unknown_error");
            json_decref(a);
            request_free(r);
        }
    }
}

static int is_good(const json_t *answer)
{
    const json_t *st = json_object_get(answer, "status");
    const char *s = json_is_string(st) ? json_string_value(st) : "";
    return strcmp(s, "OK") == 0 || strcmp(s, "ZERO_RESULTS") == 0;
}

/* The word a failed answer is counted under (places_stats.errors): how
 * the transfer failed, else an HTTP status other than 2xx, else the
 * answer's status in lower case. */
static void error_word(char *out, size_t size, CURLcode code, long http,
                       const json_t *answer)
{
    if (code == CURLE_OPERATION_TIMEDOUT) {
        snprintf(out, size, "timeout");
    } else if (code == CURLE_WRITE_ERROR || code == CURLE_FILESIZE_EXCEEDED) {
        snprintf(out, size, "too_large");
    } else if (code != CURLE_OK) {
        snprintf(out, size, "unreachable");
    } else if (http < 200 || http > 299) {
        snprintf(out, size, "http_%ld", http);
    } else {
        const json_t *st = json_object_get(answer, "status");
        const char *s = json_is_string(st) ? json_string_value(st) : "";
        size_t i = 0;
        for (; s[i] != '\0' && i + 1 < size; i++)
            out[i] =
                (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
        out[i] = '\0';
        if (i == 0)
            snprintf(out, size, "unknown_error");
    }
}

/* A transfer ended (it has left the multi handle). */
static void finish(struct places_curl_transfer *t, CURLcode code, long http)
{
    struct places_request *r = t->data;
    struct places *pl = r->pl;
    json_t *answer;
    if (code == CURLE_OK) {
        answer = pl->provider->parse(t->body.data ? t->body.data : "",
                                     t->body.len, http, &r->q);
    } else {
        char msg[CURL_ERROR_SIZE + 64];
        snprintf(msg, sizeof msg, "places provider unreachable: %s",
                 code == CURLE_WRITE_ERROR || code == CURLE_FILESIZE_EXCEEDED
                     ? "answer too large"
                 : t->errbuf[0] ? t->errbuf
                                : curl_easy_strerror(code));
        answer = places_json_error("UNKNOWN_ERROR", msg);
    }
    if (answer == NULL)
        answer = places_json_error("UNKNOWN_ERROR", "out of memory");
    char word[PLACES_ERROR_WORD] = "";
    int good = is_good(answer);
    if (good) {
        places_cache_put(&pl->cache, r->key, answer, uv_now(pl->loop));
    } else {
        error_word(word, sizeof word, code, http, answer);
        const json_t *st = json_object_get(answer, "status");
        const json_t *m = json_object_get(answer, "error_message");
        log_msg("places error: %s: %s",
                json_is_string(st) ? json_string_value(st) : "?",
                json_is_string(m) ? json_string_value(m) : "");
    }
    unlink_active(r);
    pl->inflight--;
    answer_waiters(r, answer, good ? NULL : word);
    json_decref(answer);
    request_free(r);
}

/* A request in flight (or queued) for the same key. */
static struct places_request *find_pending(struct places *pl, const char *key)
{
    for (struct places_request *r = pl->active; r != NULL; r = r->next)
        if (strcmp(r->key, key) == 0)
            return r;
    for (struct places_request *r = pl->wait_head; r != NULL; r = r->next)
        if (strcmp(r->key, key) == 0)
            return r;
    return NULL;
}

int places_search(struct places *pl, const struct places_query *q,
                  places_cb *cb, void *arg, json_t **now)
{
    *now = NULL;
    pl->stats.searches++;
    uint64_t start_ns = uv_hrtime();
    if (pl->index != NULL) {
        *now =
            offline_search(pl->index, q->lat_deg, q->lng_deg,
                           (double)q->radius_mm / 1000.0, PLACES_MAX_RESULTS);
        if (*now == NULL)
            return PLACES_ENOMEM;
        hist_add_ns(&pl->stats.latency, start_ns, uv_hrtime());
        return 1;
    }
    char *key = query_key(pl, q);
    struct places_waiter *w = malloc(sizeof *w);
    if (key == NULL || w == NULL) {
        free(key);
        free(w);
        return PLACES_ENOMEM;
    }
    json_t *hit = places_cache_get(&pl->cache, key, uv_now(pl->loop));
    if (hit != NULL) {
        pl->stats.cache_hits++;
        free(key);
        free(w);
        *now = json_incref(hit);
        hist_add_ns(&pl->stats.latency, start_ns, uv_hrtime());
        return 1;
    }
    pl->stats.cache_misses++;
    w->cb = cb;
    w->arg = arg;
    w->start_ns = start_ns;
    w->next = NULL;
    struct places_request *same = find_pending(pl, key);
    if (same != NULL) {
        /* Identical queries in flight share one request. */
        pl->stats.joined++;
        w->next = same->waiters;
        same->waiters = w;
        free(key);
        return 0;
    }
    struct places_request *r = calloc(1, sizeof *r);
    if (r == NULL) {
        free(key);
        free(w);
        return PLACES_ENOMEM;
    }
    r->pl = pl;
    r->key = key;
    r->waiters = w;
    r->q = *q;
    r->q.lat = r->q.lng = NULL;
    r->t.data = r;
    dynbuf_init(&r->http.url, URL_MAX);
    dynbuf_init(&r->http.body, URL_MAX);
    dynbuf_init(&r->http.headers, URL_MAX);
    if (pl->provider->build(pl->url, pl->key, q, &r->http) != 0 ||
        dynbuf_addc(&r->http.url, '\0') != 0 ||
        dynbuf_addc(&r->http.body, '\0') != 0 ||
        places_curl_transfer_init(&r->t, &r->http.headers) != 0) {
        request_free(r);
        return PLACES_ENOMEM;
    }
    r->http.body.len--; /* the NUL is for curl, not part of the body */
    if (pl->inflight < pl->max_inflight) {
        if (start_transfer(r) != 0) {
            r->waiters = NULL; /* the caller keeps its callback */
            free(w);
            request_free(r);
            return PLACES_ENOMEM;
        }
        return 0;
    }
    if (pl->wait_tail)
        pl->wait_tail->next = r;
    else
        pl->wait_head = r;
    pl->wait_tail = r;
    pl->queued++;
    return 0;
}

void places_set_limits(struct places *pl, const struct places_options *opt)
{
    if (pl->provider == NULL || pl->provider->build == NULL)
        return; /* not started, or offline: no requests, no cache */
    pl->timeout_ms =
        opt->timeout_ms ? opt->timeout_ms : PLACES_DEFAULT_TIMEOUT_MS;
    pl->max_inflight =
        opt->max_inflight ? opt->max_inflight : PLACES_MAX_INFLIGHT;
    places_cache_set_limits(
        &pl->cache, opt->cache_size ? opt->cache_size : PLACES_CACHE_SIZE,
        opt->cache_ttl_ms ? opt->cache_ttl_ms : PLACES_CACHE_TTL_MS);
    start_waiting(pl); /* a larger max_inflight lets queued ones go */
}

const struct places_stats *places_get_stats(const struct places *pl)
{
    return &pl->stats;
}

unsigned places_in_flight(const struct places *pl)
{
    return pl->inflight + pl->queued;
}

const char *places_provider_name(const struct places *pl)
{
    return pl->provider != NULL ? pl->provider->name : "";
}

void places_close(struct places *pl)
{
    if (pl->index != NULL) {
        offline_index_close(pl->index);
        free(pl->index);
        pl->index = NULL;
        return;
    }
    while (pl->active != NULL) {
        struct places_request *r = pl->active;
        places_curl_cancel(&pl->curl, &r->t);
        unlink_active(r);
        answer_waiters(r, NULL, NULL);
        request_free(r);
    }
    while (pl->wait_head != NULL) {
        struct places_request *r = pl->wait_head;
        pl->wait_head = r->next;
        answer_waiters(r, NULL, NULL);
        request_free(r);
    }
    pl->wait_tail = NULL;
    pl->inflight = 0;
    pl->queued = 0;
    places_cache_close(&pl->cache);
    places_curl_close(&pl->curl);
    free(pl->url);
    free(pl->key);
    pl->url = pl->key = NULL;
}
