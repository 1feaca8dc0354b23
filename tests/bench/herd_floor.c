/* herd-floor: the least work a relay of the herd could do, for the bound
 * that scripts/bench measures.
 *
 *   herd-floor --listen HOST:PORT --name NAME --wal FILE
 *              [--forward HOST:PORT ...]
 *
 * It accepts peer links on --listen. A link that starts with a HELLO gets
 * the acceptor's HELLO back (no secret, so the proof is "-"), as from a
 * herd-server named NAME holding nothing. From then on every chunk read is
 * appended to FILE with one write(2), as a write-ahead log would be, and
 * written to every --forward address (other herd-floors, connected once at
 * start), as a flood would be; the bytes are never looked at: no parsing,
 * no validation, no store, no log, no duplicate copies. Feeding a real
 * herd-server's neighbours with herd-floors along a spanning tree (one
 * message per server per update, where flooding the default graph sends
 * six for four servers) gives a herd whose relays cost the system calls
 * they cannot avoid and nothing else.
 *
 * On SIGINT or SIGTERM it closes everything and prints, on stderr,
 *   herd-floor NAME: B bytes in, W written to FILE, F forwarded
 * and exits 0; exit 1 when it cannot listen, open FILE or reach a
 * --forward address, 64 on bad usage.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "handshake.h"
#include "strparse.h"

#define MAX_FORWARDS 8
#define READ_BUF     65536

struct floor;

struct link_in {
    uv_tcp_t tcp;
    struct floor *f;
    int started; /* past the first line (the HELLO, if it is one) */
    char first[HANDSHAKE_LINE_MAX]; /* the first line, until complete */
    size_t first_len;
    char buf[READ_BUF];
};

struct forward {
    uv_tcp_t tcp;
    uv_connect_t connect;
    struct floor *f;
    char addr[80];
    int up;
};

struct write_req {
    uv_write_t req;
    char data[];
};

struct floor {
    uv_loop_t *loop;
    const char *name;
    const char *wal_path;
    int wal_fd;
    uv_tcp_t listener;
    uv_signal_t sigint, sigterm;
    struct forward fwd[MAX_FORWARDS];
    int nfwd;
    int connecting;
    int failed;
    int stopping; /* a signal came: connects cancelled now are no error */
    uint64_t bytes_in, bytes_wal, bytes_fwd;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: herd-floor --listen HOST:PORT --name NAME --wal FILE\n"
            "                  [--forward HOST:PORT ...]\n"
            "\n"
            "A stand-in relay for benchmarks: answers a herd-server's HELLO,\n"
            "then appends every chunk it reads to FILE and writes it to each\n"
            "--forward address (other herd-floors) without parsing it.\n");
}

static int parse_addr(const char *text, struct sockaddr_storage *out)
{
    char host[64];
    uint16_t port;
    if (strparse_hostport(text, strlen(text), host, sizeof host, &port) != 0)
        return -1;
    memset(out, 0, sizeof *out);
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)out) == 0 ||
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)out) == 0)
        return 0;
    return -1;
}

static void on_write_done(uv_write_t *req, int status)
{
    (void)status; /* a lost forward shows as fewer bytes downstream */
    free(req);
}

/* One write now if the socket takes it, else the rest queued (copied). */
static void send_bytes(struct forward *w, char *p, size_t n)
{
    uv_buf_t b = uv_buf_init(p, (unsigned)n);
    int done = uv_try_write((uv_stream_t *)&w->tcp, &b, 1);
    size_t sent = done > 0 ? (size_t)done : 0;
    if (done < 0 && done != UV_EAGAIN)
        return;
    w->f->bytes_fwd += sent;
    if (sent == n)
        return;
    size_t rest = n - sent;
    struct write_req *wr = malloc(sizeof *wr + rest);
    if (wr == NULL)
        return;
    memcpy(wr->data, p + sent, rest);
    b = uv_buf_init(wr->data, (unsigned)rest);
    if (uv_write(&wr->req, (uv_stream_t *)&w->tcp, &b, 1, on_write_done) != 0)
        free(wr);
    else
        w->f->bytes_fwd += rest;
}

static void relay(struct floor *f, char *p, size_t n)
{
    if (n == 0)
        return;
    ssize_t wrote = write(f->wal_fd, p, n);
    if (wrote > 0)
        f->bytes_wal += (uint64_t)wrote;
    for (int i = 0; i < f->nfwd; i++)
        send_bytes(&f->fwd[i], p, n);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct link_in *l = h->data;
    *buf = uv_buf_init(l->buf, sizeof l->buf);
}

static void on_link_closed(uv_handle_t *h)
{
    free(h->data);
}

/* The acceptor's HELLO: a server named f->name that holds nothing, so the
 * dialer sends everything it holds once, then its flood. */
static void answer_hello(struct link_in *l)
{
    unsigned char nonce[HANDSHAKE_NONCE] = {0};
    char line[HANDSHAKE_LINE_MAX];
    size_t n =
        handshake_format_hello(line, sizeof line, HANDSHAKE_ACCEPT, l->f->name,
                               uv_hrtime() | 1, 0, 0, nonce, NULL);
    uv_buf_t b = uv_buf_init(line, (unsigned)n);
    if (n == 0 || uv_try_write((uv_stream_t *)&l->tcp, &b, 1) != (int)n)
        fprintf(stderr, "herd-floor %s: cannot answer a HELLO\n", l->f->name);
}

static void on_link_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct link_in *l = s->data;
    struct floor *f = l->f;
    if (nread < 0) {
        uv_close((uv_handle_t *)s, on_link_closed);
        return;
    }
    char *p = buf->base;
    size_t n = (size_t)nread;
    f->bytes_in += n;
    if (!l->started && n > 0) {
        /* The first line, which may come in pieces: a HELLO is answered
         * and not passed on; anything else is passed on as it is. */
        char *nl = memchr(p, '\n', n);
        size_t take = nl != NULL ? (size_t)(nl + 1 - p) : n;
        if (take > sizeof l->first - l->first_len)
            take = sizeof l->first - l->first_len;
        memcpy(l->first + l->first_len, p, take);
        l->first_len += take;
        p += take;
        n -= take;
        int complete = l->first[l->first_len - 1] == '\n';
        size_t cmp = l->first_len < 6 ? l->first_len : 6;
        int hello = memcmp(l->first, "HELLO ", cmp) == 0;
        if (!complete && hello && l->first_len < sizeof l->first)
            return; /* more of it to come */
        l->started = 1;
        if (complete && hello && l->first_len >= 6)
            answer_hello(l);
        else
            relay(f, l->first, l->first_len);
    }
    relay(f, p, n);
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct floor *f = listener->data;
    if (status < 0)
        return;
    struct link_in *l = calloc(1, sizeof *l);
    if (l == NULL)
        return;
    l->f = f;
    uv_tcp_init(f->loop, &l->tcp);
    l->tcp.data = l;
    if (uv_accept(listener, (uv_stream_t *)&l->tcp) != 0 ||
        uv_read_start((uv_stream_t *)&l->tcp, on_alloc, on_link_read) != 0) {
        uv_close((uv_handle_t *)&l->tcp, on_link_closed);
        return;
    }
    uv_tcp_nodelay(&l->tcp, 1);
}

static void on_discard_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    static char sink[4096];
    *buf = uv_buf_init(sink, sizeof sink);
}

static void on_discard(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    struct forward *w = s->data;
    if (nread < 0 && w->up) {
        w->up = 0;
        uv_read_stop(s);
    }
}

static void on_forward_connected(uv_connect_t *req, int status)
{
    struct forward *w = req->data;
    struct floor *f = w->f;
    f->connecting--;
    if (status == UV_ECANCELED || f->stopping)
        return; /* closed at exit */
    if (status != 0) {
        fprintf(stderr, "herd-floor %s: cannot reach %s: %s\n", f->name,
                w->addr, uv_strerror(status));
        f->failed = 1;
        uv_stop(f->loop);
        return;
    }
    w->up = 1;
    uv_tcp_nodelay(&w->tcp, 1);
    uv_read_start((uv_stream_t *)&w->tcp, on_discard_alloc, on_discard);
}

/* At exit: accepted links free themselves; the rest is in struct floor. */
static void close_handle(uv_handle_t *h, void *arg)
{
    struct floor *f = arg;
    if (uv_is_closing(h))
        return;
    int is_link = h->type == UV_TCP && h != (uv_handle_t *)&f->listener;
    for (int i = 0; i < f->nfwd && is_link; i++)
        is_link = h != (uv_handle_t *)&f->fwd[i].tcp;
    uv_close(h, is_link ? on_link_closed : NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)signum;
    ((struct floor *)s->data)->stopping = 1;
    uv_stop(s->loop);
}

int main(int argc, char **argv)
{
    struct floor f;
    memset(&f, 0, sizeof f);
    const char *listen_at = NULL;
    const char *forwards[MAX_FORWARDS];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "herd-floor: %s needs a value\n", a);
            return 64;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--listen") == 0) {
            listen_at = v;
        } else if (strcmp(a, "--name") == 0) {
            f.name = v;
        } else if (strcmp(a, "--wal") == 0) {
            f.wal_path = v;
        } else if (strcmp(a, "--forward") == 0) {
            if (f.nfwd == MAX_FORWARDS) {
                fprintf(stderr, "herd-floor: at most %d --forward\n",
                        MAX_FORWARDS);
                return 64;
            }
            forwards[f.nfwd++] = v;
        } else {
            fprintf(stderr, "herd-floor: unknown option %s\n", a);
            usage(stderr);
            return 64;
        }
    }
    if (listen_at == NULL || f.name == NULL || f.wal_path == NULL ||
        strlen(f.name) > 64) {
        fprintf(stderr, "herd-floor: --listen, --name (at most 64 bytes) "
                        "and --wal are required\n");
        usage(stderr);
        return 64;
    }
    struct sockaddr_storage listen_sa;
    if (parse_addr(listen_at, &listen_sa) != 0) {
        fprintf(stderr, "herd-floor: bad address %s\n", listen_at);
        return 64;
    }
    struct sockaddr_storage fwd_sa[MAX_FORWARDS];
    for (int i = 0; i < f.nfwd; i++) {
        if (parse_addr(forwards[i], &fwd_sa[i]) != 0) {
            fprintf(stderr, "herd-floor: bad address %s\n", forwards[i]);
            return 64;
        }
    }
    f.wal_fd =
        open(f.wal_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (f.wal_fd < 0) {
        perror(f.wal_path);
        return 1;
    }
    f.loop = uv_default_loop();
    signal(SIGPIPE, SIG_IGN);
    uv_tcp_init(f.loop, &f.listener);
    f.listener.data = &f;
    int rc = uv_tcp_bind(&f.listener, (struct sockaddr *)&listen_sa, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&f.listener, 16, on_connection);
    if (rc != 0) {
        fprintf(stderr, "herd-floor %s: cannot listen on %s: %s\n", f.name,
                listen_at, uv_strerror(rc));
        return 1;
    }
    for (int i = 0; i < f.nfwd; i++) {
        struct forward *w = &f.fwd[i];
        w->f = &f;
        snprintf(w->addr, sizeof w->addr, "%s", forwards[i]);
        uv_tcp_init(f.loop, &w->tcp);
        w->tcp.data = w;
        w->connect.data = w;
        rc = uv_tcp_connect(&w->connect, &w->tcp, (struct sockaddr *)&fwd_sa[i],
                            on_forward_connected);
        if (rc == 0) {
            f.connecting++;
        } else {
            fprintf(stderr, "herd-floor %s: cannot reach %s: %s\n", f.name,
                    w->addr, uv_strerror(rc));
            f.failed = 1;
        }
    }
    uv_signal_init(f.loop, &f.sigint);
    uv_signal_init(f.loop, &f.sigterm);
    f.sigint.data = &f;
    f.sigterm.data = &f;
    uv_signal_start(&f.sigint, on_signal, SIGINT);
    uv_signal_start(&f.sigterm, on_signal, SIGTERM);
    if (!f.failed)
        uv_run(f.loop, UV_RUN_DEFAULT);
    f.stopping = 1; /* no callback may stop the loop while it closes */
    uv_walk(f.loop, close_handle, &f);
    uv_run(f.loop, UV_RUN_DEFAULT);
    uv_loop_close(f.loop);
    close(f.wal_fd);
    fprintf(stderr,
            "herd-floor %s: %llu bytes in, %llu written to %s, %llu "
            "forwarded\n",
            f.name, (unsigned long long)f.bytes_in,
            (unsigned long long)f.bytes_wal, f.wal_path,
            (unsigned long long)f.bytes_fwd);
    return f.failed;
}
