#include "check.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "exit_codes.h"
#include "places.h"
#include "strparse.h"

#define SUN_PATH_MAX sizeof(((struct sockaddr_un *)0)->sun_path)

struct check {
    const struct herd *h;
    FILE *out;
    unsigned errors;
    unsigned warnings;
};

enum severity { CHECK_WARNING, CHECK_ERROR };

/* One problem, one line on stderr: "herd: FILE:LINE: what" (no LINE when
 * it is 0: a default, or the file as a whole). */
__attribute__((format(printf, 4, 5))) static void
report(struct check *c, enum severity sev, int line, const char *fmt, ...)
{
    if (line > 0)
        fprintf(c->out, "herd: %s:%d: ", c->h->conf, line);
    else
        fprintf(c->out, "herd: %s: ", c->h->conf);
    if (sev == CHECK_WARNING)
        fputs("warning: ", c->out);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(c->out, fmt, ap);
    va_end(ap);
    fputc('\n', c->out);
    if (sev == CHECK_ERROR)
        c->errors++;
    else
        c->warnings++;
}

/* The line of herd.conf that sets key, 0 when none does. */
static int setting_line(const struct herd *h, const char *key)
{
    return herd_setting_line(h->conf, key);
}

/* The places provider the servers would look up (server/places). */
static void check_places(struct check *c)
{
    const struct config *cfg = &c->h->cfg;
    if (!places_provider_known(cfg->places))
        report(c, CHECK_ERROR, setting_line(c->h, "places"),
               "unknown places provider '%s' (known: %s)", cfg->places,
               places_provider_names());
}

/* Certificates name every server, or none does: the servers refuse one
 * or two of the three. */
static void check_tls(struct check *c)
{
    const struct config *cfg = &c->h->cfg;
    const char *const keys[] = {"tls_cert", "tls_key", "tls_ca"};
    const char *const vals[] = {cfg->tls_cert, cfg->tls_key, cfg->tls_ca};
    int given = 0;
    int line = 0;
    for (size_t i = 0; i < 3; i++) {
        if (vals[i] == NULL)
            continue;
        given++;
        if (line == 0)
            line = setting_line(c->h, keys[i]);
    }
    if (given != 0 && given != 3)
        report(c, CHECK_ERROR, line,
               "tls_cert, tls_key and tls_ca go together (%d of the three "
               "given)",
               given);
}

/* A link closed for silence before its heartbeat is due would flap. */
static void check_link_timing(struct check *c)
{
    const struct config *cfg = &c->h->cfg;
    if (cfg->link_timeout_ms > cfg->link_ping_ms)
        return;
    int line = setting_line(c->h, "link_timeout_ms");
    if (line == 0)
        line = setting_line(c->h, "link_ping_ms");
    report(c, CHECK_ERROR, line,
           "link_timeout_ms (%llu) must be longer than link_ping_ms (%llu)",
           (unsigned long long)cfg->link_timeout_ms,
           (unsigned long long)cfg->link_ping_ms);
}

/* The supervisor's web page: off, or an address none of the servers
 * uses (herd_load has refused one that is no address). */
static void check_http(struct check *c)
{
    const struct config *cfg = &c->h->cfg;
    struct config_addr a;
    if (cfg->http == NULL || strcmp(cfg->http, "off") == 0 ||
        strparse_hostport(cfg->http, strlen(cfg->http), a.host, sizeof a.host,
                          &a.port) != 0)
        return;
    for (size_t i = 0; i < cfg->nservers; i++) {
        const struct config_server *s = &cfg->servers[i];
        if ((s->listen.port == a.port && strcmp(s->listen.host, a.host) == 0) ||
            (s->peer.port == a.port && strcmp(s->peer.host, a.host) == 0))
            report(c, CHECK_ERROR, setting_line(c->h, "http"),
                   "http %s is an address of server '%s' (line %d)", cfg->http,
                   s->name, s->line);
    }
}

/* Each server's control socket, RUN_DIR/NAME.sock, must fit a Unix
 * socket's address (herd_load checked only the supervisor's). */
static void check_control_sockets(struct check *c)
{
    const struct config *cfg = &c->h->cfg;
    for (size_t i = 0; i < cfg->nservers; i++) {
        const struct config_server *s = &cfg->servers[i];
        char path[PATH_MAX];
        if (config_control_path(c->h->run_dir, s->name, path, sizeof path) !=
                0 ||
            strlen(path) >= SUN_PATH_MAX)
            report(c, CHECK_ERROR, s->line,
                   "the control socket of '%s' in run_dir %s is too long for "
                   "a Unix socket (at most %zu bytes): use a shorter run_dir",
                   s->name, c->h->run_dir, SUN_PATH_MAX - 1);
    }
}

/* A file herd.conf names, on this machine: a warning when it is not
 * there, is not a regular file, or (secret) is open to others, which
 * the servers refuse. */
static void check_file(struct check *c, const char *key, const char *path,
                       int secret)
{
    if (path == NULL)
        return;
    struct stat st;
    if (stat(path, &st) != 0) {
        report(c, CHECK_WARNING, setting_line(c->h, key),
               "%s %s: %s on this machine", key, path, strerror(errno));
        return;
    }
    if (!S_ISREG(st.st_mode))
        report(c, CHECK_WARNING, setting_line(c->h, key),
               "%s %s is not a regular file", key, path);
    else if (secret && (st.st_mode & 077) != 0)
        report(c, CHECK_WARNING, setting_line(c->h, key),
               "%s %s is open to group or others (mode %04o): the servers "
               "refuse it (chmod 600 it)",
               key, path, (unsigned)(st.st_mode & 07777));
}

/* What depends on the machine the file is checked on. */
static void check_machine(struct check *c)
{
    const struct config *cfg = &c->h->cfg;
    if (!config_connected(cfg))
        report(c, CHECK_WARNING, 0,
               "the graph is not connected: some servers never hear of "
               "some updates");
    check_file(c, "secret_file", cfg->secret_file, 1);
    check_file(c, "tls_cert", cfg->tls_cert, 0);
    check_file(c, "tls_key", cfg->tls_key, 1);
    check_file(c, "tls_ca", cfg->tls_ca, 0);
    check_file(c, "places_index", cfg->places_index, 0);
    check_file(c, "server_bin", cfg->server_bin, 0);
    if (cfg->server_bin != NULL && access(cfg->server_bin, X_OK) != 0 &&
        errno != ENOENT)
        report(c, CHECK_WARNING, setting_line(c->h, "server_bin"),
               "server_bin %s is not executable: %s", cfg->server_bin,
               strerror(errno));
}

unsigned check_config(const struct herd *h, FILE *out, unsigned *warnings)
{
    struct check c = {h, out, 0, 0};
    check_places(&c);
    check_tls(&c);
    check_link_timing(&c);
    check_http(&c);
    check_control_sockets(&c);
    check_machine(&c);
    *warnings = c.warnings;
    return c.errors;
}

int check_run(struct herd *h, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    struct check c = {h, stderr, 0, 0};
    c.errors = check_config(h, stderr, &c.warnings);
    if (c.errors > 0) {
        fprintf(stderr, "herd: %s: %u error%s\n", h->conf, c.errors,
                c.errors == 1 ? "" : "s");
        return HERD_EXIT_CONFIG;
    }
    printf("herd: %s: ok: %zu server%s, %zu link%s", h->conf, h->cfg.nservers,
           h->cfg.nservers == 1 ? "" : "s", h->cfg.nlinks,
           h->cfg.nlinks == 1 ? "" : "s");
    if (c.warnings > 0)
        printf(", %u warning%s", c.warnings, c.warnings == 1 ? "" : "s");
    putchar('\n');
    return HERD_EXIT_OK;
}
