#include "places_curl.h"

#include <stdlib.h>
#include <string.h>

struct places_curl_socket {
    uv_poll_t poll;
    curl_socket_t fd;
    struct places_curl *curl;
    struct places_curl_socket *prev, *next;
};

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

int places_curl_init(struct places_curl *c, uv_loop_t *loop,
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

void places_curl_close(struct places_curl *c)
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

int places_curl_transfer_init(struct places_curl_transfer *t,
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

void places_curl_transfer_free(struct places_curl_transfer *t)
{
    if (t->easy != NULL)
        curl_easy_cleanup(t->easy);
    t->easy = NULL;
    dynbuf_free(&t->body);
    curl_slist_free_all(t->headers);
    t->headers = NULL;
}

int places_curl_start(struct places_curl *c, struct places_curl_transfer *t,
                      const char *url, const char *body, size_t body_len,
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

void places_curl_cancel(struct places_curl *c, struct places_curl_transfer *t)
{
    curl_multi_remove_handle(c->multi, t->easy);
}
