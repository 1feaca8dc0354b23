#include "places.h"

#include <stdlib.h>
#include <string.h>

#include "dynbuf.h"
#include "log.h"
#include "places_json.h"
#include "proto.h"

#define URL_MAX 65536

struct places_provider {
    const char *name;
    const char *default_url;
    int needs_key;
    /* Writes the request URL for q into url. */
    int (*build_url)(const struct places *pl, const struct places_query *q,
                     struct dynbuf *url);
    json_t *(*parse)(const char *body, size_t len, long http_code);
};

struct places_request {
    struct places *pl;
    CURL *easy;
    struct dynbuf body;
    places_cb *cb;
    void *arg;
    char *url;
    struct places_request *prev, *next;
    char errbuf[CURL_ERROR_SIZE];
};

struct places_socket {
    uv_poll_t poll;
    curl_socket_t fd;
    struct places *pl;
    struct places_socket *prev, *next;
};

static void socket_unlink(struct places_socket *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        s->pl->sockets = s->next;
    if (s->next)
        s->next->prev = s->prev;
}

static int google_url(const struct places *pl, const struct places_query *q,
                      struct dynbuf *url)
{
    char metres[32];
    proto_format_metres(metres, q->radius_mm);
    int rc = dynbuf_add(url, pl->url, strlen(pl->url));
    if (rc == 0)
        rc = dynbuf_add(url, strchr(pl->url, '?') ? "&" : "?", 1);
    if (rc == 0)
        rc = dynbuf_printf(url, "location=%.*s,%.*s&radius=%s&key=",
                           (int)q->lat_len, q->lat, (int)q->lng_len, q->lng,
                           metres);
    if (rc == 0)
        rc = places_json_urlencode(url, pl->key, strlen(pl->key));
    return rc;
}

static const struct places_provider providers[] = {
    {"google", "https://maps.googleapis.com/maps/api/place/nearbysearch/json",
     1, google_url, places_json_from_google},
};

static const struct places_provider *find_provider(const char *name)
{
    for (size_t i = 0; i < sizeof providers / sizeof providers[0]; i++)
        if (strcmp(providers[i].name, name) == 0)
            return &providers[i];
    return NULL;
}

int places_provider_known(const char *name)
{
    return find_provider(name) != NULL;
}

const char *places_provider_names(void)
{
    return "google";
}

static void check_done(struct places *pl);

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct places_socket *s = h->data;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running;
    curl_multi_socket_action(s->pl->multi, s->fd, flags, &running);
    check_done(s->pl);
}

static void on_socket_closed(uv_handle_t *h)
{
    free(h->data);
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp,
                          void *socketp)
{
    (void)easy;
    struct places *pl = userp;
    struct places_socket *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s != NULL) {
            socket_unlink(s);
            uv_poll_stop(&s->poll);
            uv_close((uv_handle_t *)&s->poll, on_socket_closed);
            curl_multi_assign(pl->multi, fd, NULL);
        }
        return 0;
    }
    if (s == NULL) {
        s = malloc(sizeof *s);
        if (s == NULL)
            return -1;
        if (uv_poll_init_socket(pl->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->fd = fd;
        s->pl = pl;
        s->poll.data = s;
        s->prev = NULL;
        s->next = pl->sockets;
        if (pl->sockets)
            pl->sockets->prev = s;
        pl->sockets = s;
        curl_multi_assign(pl->multi, fd, s);
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
    struct places *pl = t->data;
    int running;
    curl_multi_socket_action(pl->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(pl);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    struct places *pl = userp;
    if (timeout_ms < 0) {
        uv_timer_stop(&pl->timer);
        return 0;
    }
    /* Never call back into curl from inside its own callback: a zero
     * timeout becomes 1 ms on the loop. */
    uv_timer_start(&pl->timer, on_timeout,
                   timeout_ms == 0 ? 1 : (uint64_t)timeout_ms, 0);
    return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    struct places_request *r = userp;
    size_t n = size * nmemb;
    if (dynbuf_add(&r->body, data, n) != 0)
        return 0; /* too large: curl fails the transfer */
    return n;
}

int places_init(struct places *pl, uv_loop_t *loop,
                const struct places_options *opt)
{
    memset(pl, 0, sizeof *pl);
    pl->provider = find_provider(opt->provider ? opt->provider : "google");
    if (pl->provider == NULL)
        return PLACES_EPROVIDER;
    pl->loop = loop;
    pl->max_inflight = PLACES_MAX_INFLIGHT;
    pl->timeout_ms = opt->timeout_ms ? opt->timeout_ms
                                     : PLACES_DEFAULT_TIMEOUT_MS;
    pl->url = strdup(opt->url ? opt->url : pl->provider->default_url);
    pl->key = opt->key ? strdup(opt->key) : NULL;
    pl->multi = curl_multi_init();
    if (pl->url == NULL || (opt->key && pl->key == NULL) ||
        pl->multi == NULL) {
        free(pl->url);
        free(pl->key);
        if (pl->multi)
            curl_multi_cleanup(pl->multi);
        return PLACES_ENOMEM;
    }
    uv_timer_init(loop, &pl->timer);
    pl->timer.data = pl;
    curl_multi_setopt(pl->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(pl->multi, CURLMOPT_SOCKETDATA, pl);
    curl_multi_setopt(pl->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(pl->multi, CURLMOPT_TIMERDATA, pl);
    return 0;
}

static void request_free(struct places_request *r)
{
    if (r->easy != NULL)
        curl_easy_cleanup(r->easy);
    dynbuf_free(&r->body);
    free(r->url);
    free(r);
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

static int start_transfer(struct places_request *r)
{
    struct places *pl = r->pl;
    CURL *e = curl_easy_init();
    if (e == NULL)
        return PLACES_ENOMEM;
    r->easy = e;
    curl_easy_setopt(e, CURLOPT_URL, r->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)pl->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(pl->timeout_ms < PLACES_CONNECT_TIMEOUT_MS
                                ? pl->timeout_ms
                                : PLACES_CONNECT_TIMEOUT_MS));
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
                     (curl_off_t)PLACES_MAX_BODY);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOPROXY, "localhost,127.0.0.1,::1");
    curl_easy_setopt(e, CURLOPT_USERAGENT, "herd/0.1");
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    if (curl_multi_add_handle(pl->multi, e) != CURLM_OK)
        return PLACES_ENOMEM;
    r->next = pl->active;
    if (pl->active)
        pl->active->prev = r;
    pl->active = r;
    pl->inflight++;
    pl->requests++;
    return 0;
}

/* Starts queued requests while there is room. A request that cannot start
 * is answered with a failure, never dropped. */
static void start_waiting(struct places *pl)
{
    while (pl->wait_head != NULL && pl->inflight < pl->max_inflight) {
        struct places_request *r = pl->wait_head;
        pl->wait_head = r->next;
        if (pl->wait_head == NULL)
            pl->wait_tail = NULL;
        r->next = NULL;
        if (start_transfer(r) != 0) {
            json_t *a = places_json_error("UNKNOWN_ERROR",
                                          "cannot start the places request");
            r->cb(r->arg, a);
            json_decref(a);
            request_free(r);
        }
    }
}

static void finish(struct places_request *r, CURLcode code)
{
    struct places *pl = r->pl;
    long http = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &http);
    json_t *answer;
    if (code == CURLE_OK) {
        answer = pl->provider->parse(r->body.data ? r->body.data : "",
                                     r->body.len, http);
    } else {
        char msg[CURL_ERROR_SIZE + 64];
        snprintf(msg, sizeof msg, "places provider unreachable: %s",
                 code == CURLE_WRITE_ERROR || code == CURLE_FILESIZE_EXCEEDED
                     ? "answer too large"
                 : r->errbuf[0] ? r->errbuf
                                : curl_easy_strerror(code));
        answer = places_json_error("UNKNOWN_ERROR", msg);
    }
    const json_t *status = json_object_get(answer, "status");
    const char *st = json_is_string(status) ? json_string_value(status) : "";
    if (strcmp(st, "OK") != 0 && strcmp(st, "ZERO_RESULTS") != 0) {
        const json_t *m = json_object_get(answer, "error_message");
        log_msg("places error: %s: %s", st,
                json_is_string(m) ? json_string_value(m) : "");
    }
    curl_multi_remove_handle(pl->multi, r->easy);
    unlink_active(r);
    pl->inflight--;
    r->cb(r->arg, answer);
    json_decref(answer);
    request_free(r);
}

static void check_done(struct places *pl)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(pl->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        char *priv = NULL;
        CURLcode code = m->data.result;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
        finish((struct places_request *)(void *)priv, code);
    }
    start_waiting(pl);
}

int places_search(struct places *pl, const struct places_query *q,
                  places_cb *cb, void *arg, json_t **now)
{
    *now = NULL;
    if (pl->provider->needs_key && (pl->key == NULL || pl->key[0] == '\0')) {
        *now = places_json_error("REQUEST_DENIED",
                                 "no places API key: set HERD_PLACES_KEY");
        return *now != NULL ? 1 : PLACES_ENOMEM;
    }
    struct places_request *r = calloc(1, sizeof *r);
    if (r == NULL)
        return PLACES_ENOMEM;
    r->pl = pl;
    r->cb = cb;
    r->arg = arg;
    dynbuf_init(&r->body, PLACES_MAX_BODY);
    struct dynbuf url;
    dynbuf_init(&url, URL_MAX);
    if (pl->provider->build_url(pl, q, &url) != 0 ||
        dynbuf_addc(&url, '\0') != 0) {
        dynbuf_free(&url);
        free(r);
        return PLACES_ENOMEM;
    }
    r->url = dynbuf_take(&url, NULL);
    if (pl->inflight < pl->max_inflight) {
        if (start_transfer(r) != 0) {
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
    while (pl->active != NULL) {
        struct places_request *r = pl->active;
        curl_multi_remove_handle(pl->multi, r->easy);
        unlink_active(r);
        r->cb(r->arg, NULL);
        request_free(r);
    }
    while (pl->wait_head != NULL) {
        struct places_request *r = pl->wait_head;
        pl->wait_head = r->next;
        r->cb(r->arg, NULL);
        request_free(r);
    }
    pl->wait_tail = NULL;
    pl->inflight = 0;
    /* Cleanup removes curl's sockets through on_curl_socket, which closes
     * their poll handles. */
    curl_multi_cleanup(pl->multi);
    pl->multi = NULL;
    /* Cleanup does not always report the sockets of cached connections:
     * close whatever poll handles are left so the loop can close. */
    while (pl->sockets != NULL) {
        struct places_socket *s = pl->sockets;
        socket_unlink(s);
        uv_poll_stop(&s->poll);
        uv_close((uv_handle_t *)&s->poll, on_socket_closed);
    }
    uv_close((uv_handle_t *)&pl->timer, NULL);
    free(pl->url);
    free(pl->key);
    pl->url = pl->key = NULL;
}
