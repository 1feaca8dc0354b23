/* places_curl: libcurl's multi interface driven by a libuv loop.
 *
 * One CURLM whose sockets each get one uv_poll_t (closed on
 * CURL_POLL_REMOVE) and whose timeouts one uv_timer_t (0 becomes 1 ms:
 * never call curl from inside its own callback): nothing blocks. A
 * transfer is a GET or a POST with a bounded answer; after every
 * curl_multi_socket_action every ended transfer is reported, also when
 * none is still running. Knows nothing of providers, waiters or the cache.
 */
#ifndef HERD_PLACES_CURL_H
#define HERD_PLACES_CURL_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <uv.h>

#include "dynbuf.h"

#define PLACES_CONNECT_TIMEOUT_MS 2000
#define PLACES_MAX_BODY           ((size_t)2 * 1024 * 1024)

struct places_curl_socket;
struct places_curl_transfer;

/* A transfer ended with curl's result and the HTTP status (0: none); it
 * has left the multi handle already, so the callback may free it. */
typedef void places_curl_done_cb(struct places_curl_transfer *t, CURLcode code,
                                 long http_code);
/* Runs each time curl has made progress, after the transfers that ended
 * were reported (also when none did). */
typedef void places_curl_after_cb(void *arg);

struct places_curl {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    struct places_curl_socket *sockets; /* one uv_poll_t per curl socket */
    places_curl_after_cb *after;
    void *arg;
};

struct places_curl_transfer {
    void *data; /* the caller's */
    CURL *easy;
    struct dynbuf body; /* the answer, at most PLACES_MAX_BODY bytes */
    struct curl_slist *headers;
    places_curl_done_cb *done;
    char errbuf[CURL_ERROR_SIZE];
};

/* Sets up the multi handle on loop; after(arg) runs each time curl has
 * made progress. Returns 0 or UV_ENOMEM. */
int places_curl_init(struct places_curl *c, uv_loop_t *loop,
                     places_curl_after_cb *after, void *arg);
/* Closes the multi handle, the poll handles left and the timer (their
 * memory goes in their close callbacks: run the loop). Cancel or finish
 * every transfer first. */
void places_curl_close(struct places_curl *c);

/* Prepares t (zeroed but for data), with no transfer yet: its answer
 * bounded by PLACES_MAX_BODY, its header lines (each NUL-terminated, as in
 * struct places_http) copied into curl's list. Returns 0 or UV_ENOMEM;
 * either way free t with places_curl_transfer_free. */
int places_curl_transfer_init(struct places_curl_transfer *t,
                              const struct dynbuf *lines);
/* Frees what t holds: after done ran, after a cancel, or when t never
 * started. */
void places_curl_transfer_free(struct places_curl_transfer *t);

/* Starts t: a GET of url, or a POST of body when body_len > 0 (url is
 * copied; body must stay valid until t ends), timing out after timeout_ms.
 * Returns 0 (done runs once, later, from the loop), or UV_ENOMEM (done
 * will not run). */
int places_curl_start(struct places_curl *c, struct places_curl_transfer *t,
                      const char *url, const char *body, size_t body_len,
                      uint64_t timeout_ms, places_curl_done_cb *done);
/* Takes a started t off the multi handle; done will not run. */
void places_curl_cancel(struct places_curl *c, struct places_curl_transfer *t);

#endif
