#include "places.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dynbuf.h"
#include "log.h"
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

struct places_curl_socket {
    uv_poll_t poll;
    curl_socket_t fd;
    struct places_curl *curl;
    struct places_curl_socket *prev, *next;
};

struct places_cache_entry {
    char *key;
    json_t *answer;
    uint64_t expires_ms;
    struct places_cache_entry *hnext;
    struct places_cache_entry *newer, *older;
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

int places_provider_needs_key(const char *name)
{
    const struct places_provider *p = find_provider(name);
    return p != NULL && p->needs_key;
}

const char *places_provider_names(void)
{
    return "offline, google, google-new, overpass";
}

const char *places_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case PLACES_ENOMEM:
        return "out of memory";
    case PLACES_EPROVIDER:
        return "unknown places provider";
    case PLACES_ENOKEY:
        return "this places provider needs a key in HERD_PLACES_KEY";
    case PLACES_EINDEX:
        return "cannot use the offline places index";
    default:
        return "unknown error";
    }
}

/* --- the answer cache ---------------------------------------------------*/

static uint64_t now_ms(const struct places *pl)
{
    return uv_now(pl->loop);
}

static size_t hash_key(const char *s)
{
    size_t h = 1469598103934665603ULL; /* FNV-1a: keys are our own text */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static struct places_cache_entry **cache_slot(struct places *pl,
                                              const char *key)
{
    struct places_cache_entry **pp =
        &pl->buckets[hash_key(key) & (pl->nbuckets - 1)];
    while (*pp != NULL && strcmp((*pp)->key, key) != 0)
        pp = &(*pp)->hnext;
    return pp;
}

static void lru_unlink(struct places *pl, struct places_cache_entry *e)
{
    if (e->newer)
        e->newer->older = e->older;
    else
        pl->lru_head = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        pl->lru_tail = e->newer;
    e->newer = e->older = NULL;
}

static void lru_push(struct places *pl, struct places_cache_entry *e)
{
    e->older = pl->lru_head;
    e->newer = NULL;
    if (pl->lru_head)
        pl->lru_head->newer = e;
    pl->lru_head = e;
    if (pl->lru_tail == NULL)
        pl->lru_tail = e;
}

static void cache_remove(struct places *pl, struct places_cache_entry **slot)
{
    struct places_cache_entry *e = *slot;
    *slot = e->hnext;
    lru_unlink(pl, e);
    json_decref(e->answer);
    free(e->key);
    free(e);
    pl->cached--;
}

/* A borrowed answer, or NULL when absent or expired. */
static const json_t *cache_get(struct places *pl, const char *key)
{
    if (pl->nbuckets == 0)
        return NULL;
    struct places_cache_entry **slot = cache_slot(pl, key);
    struct places_cache_entry *e = *slot;
    if (e == NULL)
        return NULL;
    if (now_ms(pl) >= e->expires_ms) {
        cache_remove(pl, slot);
        return NULL;
    }
    lru_unlink(pl, e);
    lru_push(pl, e);
    return e->answer;
}

static void cache_put(struct places *pl, const char *key, json_t *answer)
{
    if (pl->nbuckets == 0)
        return;
    struct places_cache_entry **slot = cache_slot(pl, key);
    if (*slot != NULL)
        cache_remove(pl, slot);
    while (pl->cached >= pl->cache_size && pl->lru_tail != NULL)
        cache_remove(pl, cache_slot(pl, pl->lru_tail->key));
    struct places_cache_entry *e = calloc(1, sizeof *e);
    char *k = strdup(key);
    if (e == NULL || k == NULL) {
        free(e);
        free(k);
        return; /* a cache that cannot grow is still a correct cache */
    }
    e->key = k;
    e->answer = json_incref(answer);
    e->expires_ms = now_ms(pl) + pl->cache_ttl_ms;
    slot = cache_slot(pl, key);
    e->hnext = *slot;
    *slot = e;
    lru_push(pl, e);
    pl->cached++;
}

static void cache_free(struct places *pl)
{
    while (pl->lru_head != NULL)
        cache_remove(pl, cache_slot(pl, pl->lru_head->key));
    free(pl->buckets);
    pl->buckets = NULL;
    pl->nbuckets = 0;
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

/* --- curl on the libuv loop ---------------------------------------------*/

static void check_done(struct places_curl *c);

static void socket_unlink(struct places_curl_socket *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        s->curl->sockets = s->next;
    if (s->next)
        s->next->prev = s->prev;
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct places_curl_socket *s = h->data;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running;
    curl_multi_socket_action(s->curl->multi, s->fd, flags, &running);
    check_done(s->curl);
}

static void on_socket_closed(uv_handle_t *h)
{
    free(h->data);
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp,
                          void *socketp)
{
    (void)easy;
    struct places_curl *c = userp;
    struct places_curl_socket *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s != NULL) {
            socket_unlink(s);
            uv_poll_stop(&s->poll);
            uv_close((uv_handle_t *)&s->poll, on_socket_closed);
            curl_multi_assign(c->multi, fd, NULL);
        }
        return 0;
    }
    if (s == NULL) {
        s = malloc(sizeof *s);
        if (s == NULL)
            return -1;
        if (uv_poll_init_socket(c->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->fd = fd;
        s->curl = c;
        s->poll.data = s;
        s->prev = NULL;
        s->next = c->sockets;
        if (c->sockets)
            c->sockets->prev = s;
        c->sockets = s;
        curl_multi_assign(c->multi, fd, s);
    }
    int events = 0;
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    return uv_poll_start(&s->poll, events, on_poll) == 0 ? 0 : -1;
}

static void on_timeout(uv_timer_t *t)
{
    struct places_curl *c = t->data;
    int running;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(c);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    struct places_curl *c = userp;
    if (timeout_ms < 0) {
        uv_timer_stop(&c->timer);
        return 0;
    }
    /* Never call back into curl from inside its own callback: a zero
     * timeout becomes 1 ms on the loop. */
    uv_timer_start(&c->timer, on_timeout,
                   timeout_ms == 0 ? 1 : (uint64_t)timeout_ms, 0);
    return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    struct places_curl_transfer *t = userp;
    size_t n = size * nmemb;
    if (dynbuf_add(&t->body, data, n) != 0)
        return 0; /* too large: curl fails the transfer */
    return n;
}

/* Reports every transfer that ended (also when none is still running: the
 * last one to time out must not be lost), then runs the after callback. */
static void check_done(struct places_curl *c)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(c->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        char *priv = NULL;
        long http = 0;
        CURLcode code = m->data.result;
        CURL *easy = m->easy_handle;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &http);
        curl_multi_remove_handle(c->multi, easy);
        struct places_curl_transfer *t = (void *)priv;
        t->done(t, code, http);
    }
    c->after(c->arg);
}

static int places_curl_init(struct places_curl *c, uv_loop_t *loop,
                            places_curl_after_cb *after, void *arg)
{
    memset(c, 0, sizeof *c);
    c->multi = curl_multi_init();
    if (c->multi == NULL)
        return UV_ENOMEM;
    c->loop = loop;
    c->after = after;
    c->arg = arg;
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    return 0;
}

static void places_curl_close(struct places_curl *c)
{
    curl_multi_cleanup(c->multi);
    c->multi = NULL;
    /* Cleanup does not always report the sockets of cached connections:
     * close whatever poll handles are left so the loop can close. */
    while (c->sockets != NULL) {
        struct places_curl_socket *s = c->sockets;
        socket_unlink(s);
        uv_poll_stop(&s->poll);
        uv_close((uv_handle_t *)&s->poll, on_socket_closed);
    }
    uv_close((uv_handle_t *)&c->timer, NULL);
}

static int places_curl_transfer_init(struct places_curl_transfer *t,
                                     const struct dynbuf *lines)
{
    dynbuf_init(&t->body, PLACES_MAX_BODY);
    for (size_t i = 0; i < lines->len; i += strlen(lines->data + i) + 1) {
        struct curl_slist *l = curl_slist_append(t->headers, lines->data + i);
        if (l == NULL)
            return UV_ENOMEM;
        t->headers = l;
    }
    return 0;
}

static void places_curl_transfer_free(struct places_curl_transfer *t)
{
    if (t->easy != NULL)
        curl_easy_cleanup(t->easy);
    t->easy = NULL;
    dynbuf_free(&t->body);
    curl_slist_free_all(t->headers);
    t->headers = NULL;
}

static int places_curl_start(struct places_curl *c,
                             struct places_curl_transfer *t, const char *url,
                             const char *body, size_t body_len,
                             uint64_t timeout_ms, places_curl_done_cb *done)
{
    CURL *e = curl_easy_init();
    if (e == NULL)
        return UV_ENOMEM;
    t->easy = e;
    t->done = done;
    curl_easy_setopt(e, CURLOPT_URL, url);
    if (body_len > 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    if (t->headers != NULL)
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(timeout_ms < PLACES_CONNECT_TIMEOUT_MS
                                ? timeout_ms
                                : PLACES_CONNECT_TIMEOUT_MS));
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)PLACES_MAX_BODY);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOPROXY, "localhost,127.0.0.1,::1");
    curl_easy_setopt(e, CURLOPT_USERAGENT, "herd/0.1");
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    if (curl_multi_add_handle(c->multi, e) != CURLM_OK)
        return UV_ENOMEM;
    return 0;
}

static void places_curl_cancel(struct places_curl *c,
                               struct places_curl_transfer *t)
{
    curl_multi_remove_handle(c->multi, t->easy);
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
    pl->max_inflight = opt->max_inflight ? opt->max_inflight
                                         : PLACES_MAX_INFLIGHT;
    pl->timeout_ms = opt->timeout_ms ? opt->timeout_ms
                                     : PLACES_DEFAULT_TIMEOUT_MS;
    pl->cache_ttl_ms = opt->cache_ttl_ms ? opt->cache_ttl_ms
                                         : PLACES_CACHE_TTL_MS;
    pl->cache_size = opt->cache_size ? opt->cache_size : PLACES_CACHE_SIZE;
    pl->nbuckets = 64;
    while (pl->nbuckets < pl->cache_size)
        pl->nbuckets *= 2;
    pl->buckets = calloc(pl->nbuckets, sizeof *pl->buckets);
    pl->url = strdup(opt->url ? opt->url : pl->provider->default_url);
    pl->key = strdup(opt->key ? opt->key : "");
    if (pl->buckets == NULL || pl->url == NULL || pl->key == NULL ||
        places_curl_init(&pl->curl, loop, start_waiting, pl) != 0) {
        free(pl->buckets);
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

/* Answers every waiter of r (answer NULL: cancelled). */
static void answer_waiters(struct places_request *r, const json_t *answer)
{
    struct places_waiter *w = r->waiters;
    r->waiters = NULL;
    while (w != NULL) {
        struct places_waiter *next = w->next;
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
        r->next = NULL;
        if (start_transfer(r) != 0) {
            json_t *a = places_json_error("UNKNOWN_ERROR",
                                          "cannot start the places request");
            answer_waiters(r, a);
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
    if (is_good(answer)) {
        cache_put(pl, r->key, answer);
    } else {
        const json_t *st = json_object_get(answer, "status");
        const json_t *m = json_object_get(answer, "error_message");
        log_msg("places error: %s: %s",
                json_is_string(st) ? json_string_value(st) : "?",
                json_is_string(m) ? json_string_value(m) : "");
    }
    unlink_active(r);
    pl->inflight--;
    answer_waiters(r, answer);
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
    if (pl->index != NULL) {
        *now = offline_search(pl->index, q->lat_deg, q->lng_deg,
                              (double)q->radius_mm / 1000.0,
                              PLACES_MAX_RESULTS);
        return *now != NULL ? 1 : PLACES_ENOMEM;
    }
    char *key = query_key(pl, q);
    struct places_waiter *w = malloc(sizeof *w);
    if (key == NULL || w == NULL) {
        free(key);
        free(w);
        return PLACES_ENOMEM;
    }
    const json_t *hit = cache_get(pl, key);
    if (hit != NULL) {
        pl->stats.cache_hits++;
        free(key);
        free(w);
        *now = json_incref((json_t *)(uintptr_t)hit);
        return 1;
    }
    w->cb = cb;
    w->arg = arg;
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
    return 0;
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
        answer_waiters(r, NULL);
        request_free(r);
    }
    while (pl->wait_head != NULL) {
        struct places_request *r = pl->wait_head;
        pl->wait_head = r->next;
        answer_waiters(r, NULL);
        request_free(r);
    }
    pl->wait_tail = NULL;
    pl->inflight = 0;
    cache_free(pl);
    places_curl_close(&pl->curl);
    free(pl->url);
    free(pl->key);
    pl->url = pl->key = NULL;
}
