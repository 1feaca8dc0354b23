/* herd-tls-tunnel: carries plaintext TCP connections over a peer link's
 * TLS, so that tests written in a language without TLS pre-shared keys
 * can speak the peer protocol to a server, as a neighbour or as an
 * impostor.
 *
 *   herd-tls-tunnel --dial --listen HOST:PORT --to HOST:PORT AUTH
 *       each plaintext connection accepted on --listen is carried to --to
 *       in the dialler's role; once the TLS handshake is done the
 *       plaintext side first reads "TUNNEL <local port>\n" (the port the
 *       server sees), then the link; a failed handshake reads
 *       "TUNNEL-FAILED <reason>\n" and the end of the connection.
 *   herd-tls-tunnel --accept --listen HOST:PORT --to HOST:PORT AUTH
 *       each TLS connection accepted on --listen (the acceptor's role) is
 *       carried, once its handshake is done, in clear to --to.
 *
 *   AUTH: --secret-file FILE, or --tls-cert FILE --tls-key FILE
 *         --tls-ca FILE [--name NAME] (the name a dialled certificate must
 *         carry).
 *
 * Prints "listening PORT" once it listens (PORT 0 picks one). Every
 * connection is a child process that ends with its connection or with
 * the tunnel. Loopback tests only: no limits, blocking writes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tls.h"

struct opts {
    int dial;
    struct sockaddr_in listen, to;
    const char *secret_file, *cert, *key, *ca, *name;
};

static void die(const char *what)
{
    fprintf(stderr, "herd-tls-tunnel: %s\n", what);
    exit(2);
}

static void parse_addr(const char *s, struct sockaddr_in *a)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    if (colon == NULL || (size_t)(colon - s) >= sizeof host)
        die("want HOST:PORT");
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    a->sin_port = htons((unsigned short)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
        die("want an IPv4 address");
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            exit(0); /* the other end went away */
        p += w;
        n -= (size_t)w;
    }
}

/* What TLS has to send goes out. */
static void send_tls(struct tls_conn *t, int fd)
{
    char buf[65536];
    size_t n;
    while ((n = tls_take(t, buf, sizeof buf)) > 0)
        write_all(fd, buf, n);
}

/* Runs the handshake over fd for at most 5 s: 0, or -1. */
static int handshake(struct tls_conn *t, int fd)
{
    time_t end = time(NULL) + 5;
    for (;;) {
        int rc = tls_handshake(t);
        send_tls(t, fd);
        if (rc == TLS_OK)
            return 0;
        if (rc == TLS_EFAIL || time(NULL) > end)
            return -1;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 1000) <= 0)
            continue;
        char buf[65536];
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0)
            return -1;
        tls_feed(t, buf, (size_t)n);
    }
}

/* Copies plain <-> TLS until either side ends. */
static void pump(struct tls_conn *t, int tls_fd, int plain_fd)
{
    char buf[65536];
    /* Records that came with the handshake's last flight (a dialler's
     * first line follows its Finished at once) are in the session. */
    long k;
    while ((k = tls_read(t, buf, sizeof buf)) > 0)
        write_all(plain_fd, buf, (size_t)k);
    for (;;) {
        struct pollfd p[2] = {{tls_fd, POLLIN, 0}, {plain_fd, POLLIN, 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        if (p[0].revents) {
            ssize_t n = read(tls_fd, buf, sizeof buf);
            if (n <= 0)
                return;
            tls_feed(t, buf, (size_t)n);
            while ((k = tls_read(t, buf, sizeof buf)) > 0)
                write_all(plain_fd, buf, (size_t)k);
            send_tls(t, tls_fd);
            if (k == TLS_EFAIL || k == TLS_ECLOSED)
                return;
        }
        if (p[1].revents) {
            ssize_t n = read(plain_fd, buf, sizeof buf);
            if (n <= 0)
                return;
            if (tls_write(t, buf, (size_t)n) != TLS_OK)
                return;
            send_tls(t, tls_fd);
        }
    }
}

static int dial_to(const struct sockaddr_in *to)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (const struct sockaddr *)to, sizeof *to) != 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void serve(const struct opts *o, struct tls_ctx *ctx, int conn)
{
    char line[256];
    if (o->dial) {
        int fd = dial_to(&o->to);
        struct tls_conn *t = tls_conn_new(ctx, 0, o->name);
        if (fd < 0 || t == NULL) {
            int n =
                snprintf(line, sizeof line,
                         "TUNNEL-FAILED cannot connect: %s\n", strerror(errno));
            write_all(conn, line, (size_t)n);
            exit(0);
        }
        if (handshake(t, fd) != 0) {
            int n =
                snprintf(line, sizeof line, "TUNNEL-FAILED %s\n", tls_error(t));
            write_all(conn, line, (size_t)n);
            exit(0);
        }
        struct sockaddr_in me;
        socklen_t len = sizeof me;
        getsockname(fd, (struct sockaddr *)&me, &len);
        int n = snprintf(line, sizeof line, "TUNNEL %u\n",
                         (unsigned)ntohs(me.sin_port));
        write_all(conn, line, (size_t)n);
        pump(t, fd, conn);
        tls_conn_free(t);
        exit(0);
    }
    struct tls_conn *t = tls_conn_new(ctx, 1, NULL);
    if (t == NULL || handshake(t, conn) != 0) {
        if (t != NULL)
            fprintf(stderr, "herd-tls-tunnel: handshake: %s\n", tls_error(t));
        exit(0);
    }
    int fd = dial_to(&o->to);
    if (fd < 0)
        exit(0);
    pump(t, conn, fd);
    tls_conn_free(t);
    exit(0);
}

static struct tls_ctx *make_ctx(const struct opts *o)
{
    unsigned char secret[256];
    size_t len = 0;
    if (o->secret_file != NULL) {
        FILE *fp = fopen(o->secret_file, "rb");
        if (fp == NULL)
            die("cannot read the secret file");
        len = fread(secret, 1, sizeof secret, fp);
        fclose(fp);
        while (len > 0 && (secret[len - 1] == '\n' || secret[len - 1] == '\r' ||
                           secret[len - 1] == ' ' || secret[len - 1] == '\t'))
            len--;
    }
    char err[256];
    struct tls_ctx *ctx =
        tls_ctx_new(secret, len, o->cert, o->key, o->ca, err, sizeof err);
    if (ctx == NULL)
        die(err);
    return ctx;
}

int main(int argc, char **argv)
{
    struct opts o;
    memset(&o, 0, sizeof o);
    int have_listen = 0, have_to = 0, have_role = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--dial") == 0 || strcmp(a, "--accept") == 0) {
            o.dial = a[2] == 'd';
            have_role = 1;
            continue;
        }
        if (v == NULL)
            die("an option wants a value (see the comment in tls_tunnel.c)");
        i++;
        if (strcmp(a, "--listen") == 0)
            parse_addr(v, &o.listen), have_listen = 1;
        else if (strcmp(a, "--to") == 0)
            parse_addr(v, &o.to), have_to = 1;
        else if (strcmp(a, "--secret-file") == 0)
            o.secret_file = v;
        else if (strcmp(a, "--tls-cert") == 0)
            o.cert = v;
        else if (strcmp(a, "--tls-key") == 0)
            o.key = v;
        else if (strcmp(a, "--tls-ca") == 0)
            o.ca = v;
        else if (strcmp(a, "--name") == 0)
            o.name = v;
        else
            die("unknown option");
    }
    if (!have_listen || !have_to || !have_role)
        die("usage: herd-tls-tunnel --dial|--accept --listen HOST:PORT --to "
            "HOST:PORT (--secret-file FILE | --tls-cert F --tls-key F "
            "--tls-ca F [--name NAME])");
    struct tls_ctx *ctx = make_ctx(&o);
    signal(SIGCHLD, SIG_IGN); /* children reap themselves */
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lfd, (struct sockaddr *)&o.listen, sizeof o.listen) != 0 ||
        listen(lfd, 64) != 0)
        die("cannot listen");
    struct sockaddr_in me;
    socklen_t len = sizeof me;
    getsockname(lfd, (struct sockaddr *)&me, &len);
    printf("listening %u\n", (unsigned)ntohs(me.sin_port));
    fflush(stdout);
    for (;;) {
        int conn = accept(lfd, NULL, NULL);
        if (conn < 0) {
            if (errno == EINTR)
                continue;
            die("accept failed");
        }
        pid_t pid = fork();
        if (pid == 0) {
            close(lfd);
            prctl(PR_SET_PDEATHSIG, SIGKILL); /* ends with the tunnel */
            if (getppid() == 1)
                exit(0);
            serve(&o, ctx, conn);
        }
        close(conn);
    }
}
