#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strparse.h"

#define CONFIG_MAX_FIELDS 8
#define CONFIG_FILE_MAX   ((size_t)1024 * 1024)

void config_init(struct config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    settings_init(&cfg->settings);
}

void config_free(struct config *cfg)
{
    free(cfg->servers);
    free(cfg->links);
    settings_free(&cfg->settings);
    config_init(cfg);
}

__attribute__((format(printf, 3, 4))) static int
fail(struct herd_error *err, int line, const char *fmt, ...)
{
    if (err != NULL) {
        err->line = line;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->text, sizeof err->text, fmt, ap);
        va_end(ap);
    }
    return CONFIG_ESYNTAX;
}

int config_valid_name(const char *name, size_t len)
{
    if (len == 0 || len > CONFIG_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

long config_find(const struct config *cfg, const char *name, size_t len)
{
    for (size_t i = 0; i < cfg->nservers; i++)
        if (strlen(cfg->servers[i].name) == len &&
            memcmp(cfg->servers[i].name, name, len) == 0)
            return (long)i;
    return -1;
}

/* The length of the line's part before its comment: a '#' that starts a
 * field ends the line ("a#b" is one field). */
static size_t before_comment(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] == '#' && (i == 0 || strparse_is_space(p[i - 1])))
            return i;
    return len;
}

static int field_is(const struct strparse_slice *f, const char *word)
{
    return f->len == strlen(word) && memcmp(f->p, word, f->len) == 0;
}

static int parse_addr(struct config_addr *a, const struct strparse_slice *f)
{
    return strparse_hostport(f->p, f->len, a->host, sizeof a->host, &a->port);
}

static int same_addr(const struct config_addr *a, const struct config_addr *b)
{
    return a->port == b->port && strcmp(a->host, b->host) == 0;
}

static int add_server(struct config *cfg, const struct strparse_slice *f,
                      size_t n, int line, struct herd_error *err)
{
    if (n != 3 && n != 5)
        return fail(err, line, "server takes NAME HOST:PORT [peer HOST:PORT]");
    if (!config_valid_name(f[1].p, f[1].len))
        return fail(err, line,
                    "bad server name (1-%d characters of A-Z a-z 0-9 _ . -)",
                    CONFIG_NAME_MAX);
    if (config_find(cfg, f[1].p, f[1].len) >= 0)
        return fail(err, line, "duplicate server name '%.*s'", (int)f[1].len,
                    f[1].p);
    struct config_server s;
    memset(&s, 0, sizeof s);
    memcpy(s.name, f[1].p, f[1].len);
    s.line = line;
    if (parse_addr(&s.listen, &f[2]) != 0)
        return fail(err, line, "malformed address '%.*s' (want HOST:PORT)",
                    (int)f[2].len, f[2].p);
    if (n == 5) {
        if (!field_is(&f[3], "peer"))
            return fail(err, line,
                        "expected 'peer HOST:PORT' after the "
                        "address");
        if (parse_addr(&s.peer, &f[4]) != 0)
            return fail(err, line, "malformed peer address '%.*s'",
                        (int)f[4].len, f[4].p);
    } else {
        if (s.listen.port > 65535 - CONFIG_PEER_PORT_OFFSET)
            return fail(err, line,
                        "client port %u + %d is not a port: give 'peer "
                        "HOST:PORT'",
                        s.listen.port, CONFIG_PEER_PORT_OFFSET);
        s.peer = s.listen;
        s.peer.port = (uint16_t)(s.listen.port + CONFIG_PEER_PORT_OFFSET);
    }
    if (same_addr(&s.listen, &s.peer))
        return fail(err, line, "client and peer address are the same");
    for (size_t i = 0; i < cfg->nservers; i++) {
        const struct config_server *o = &cfg->servers[i];
        if (same_addr(&s.listen, &o->listen) ||
            same_addr(&s.listen, &o->peer) || same_addr(&s.peer, &o->listen) ||
            same_addr(&s.peer, &o->peer))
            return fail(err, line,
                        "server '%s' reuses an address of '%s' (line %d)",
                        s.name, o->name, o->line);
    }
    struct config_server *v =
        realloc(cfg->servers, (cfg->nservers + 1) * sizeof *v);
    if (v == NULL)
        return CONFIG_ENOMEM;
    cfg->servers = v;
    v[cfg->nservers++] = s;
    return 0;
}

/* Links may name servers defined later in the file, so they are kept as
 * text positions first and resolved at the end. */
struct pending_link {
    struct strparse_slice a, b;
    int line;
};

static int add_link(struct config *cfg, const struct pending_link *pl,
                    struct herd_error *err)
{
    long a = config_find(cfg, pl->a.p, pl->a.len);
    long b = config_find(cfg, pl->b.p, pl->b.len);
    if (a < 0)
        return fail(err, pl->line, "link names unknown server '%.*s'",
                    (int)pl->a.len, pl->a.p);
    if (b < 0)
        return fail(err, pl->line, "link names unknown server '%.*s'",
                    (int)pl->b.len, pl->b.p);
    if (a == b)
        return fail(err, pl->line, "server '%s' is linked to itself",
                    cfg->servers[a].name);
    for (size_t i = 0; i < cfg->nlinks; i++) {
        const struct config_link *l = &cfg->links[i];
        if ((l->a == (size_t)a && l->b == (size_t)b) ||
            (l->a == (size_t)b && l->b == (size_t)a))
            return fail(err, pl->line, "duplicate link %s - %s",
                        cfg->servers[a].name, cfg->servers[b].name);
    }
    struct config_link *v = realloc(cfg->links, (cfg->nlinks + 1) * sizeof *v);
    if (v == NULL)
        return CONFIG_ENOMEM;
    cfg->links = v;
    v[cfg->nlinks].a = (size_t)a;
    v[cfg->nlinks].b = (size_t)b;
    cfg->nlinks++;
    return 0;
}

static int parse_line(struct config *cfg, const struct strparse_slice *f,
                      size_t n, int line, const char *base_dir,
                      struct pending_link **links, size_t *nlinks,
                      struct herd_error *err)
{
    if (field_is(&f[0], "server"))
        return add_server(cfg, f, n, line, err);
    if (field_is(&f[0], "link")) {
        if (n != 3)
            return fail(err, line, "link takes two server names");
        struct pending_link *v = realloc(*links, (*nlinks + 1) * sizeof *v);
        if (v == NULL)
            return CONFIG_ENOMEM;
        *links = v;
        v[*nlinks].a = f[1];
        v[*nlinks].b = f[2];
        v[*nlinks].line = line;
        (*nlinks)++;
        return 0;
    }
    const struct setting *st = settings_by_key(f[0].p, f[0].len);
    if (st == NULL)
        return fail(err, line, "unknown keyword '%.*s'", (int)f[0].len, f[0].p);
    if (n != 2)
        return fail(err, line, "%s takes one value", st->name);
    char why[sizeof err->text];
    int rc = settings_set_file(&cfg->settings, st, f[1].p, f[1].len, base_dir,
                               why, sizeof why);
    if (rc == SETTINGS_ENOMEM)
        return CONFIG_ENOMEM;
    if (rc != 0)
        return fail(err, line, "%s", why);
    return 0;
}

int config_parse(struct config *cfg, const char *text, size_t len,
                 const char *base_dir, struct herd_error *err)
{
    struct pending_link *links = NULL;
    size_t nlinks = 0;
    int line = 0;
    int rc = 0;
    const char *p = text;
    const char *end = text + len;
    while (p < end && rc == 0) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl != NULL ? nl : end;
        line++;
        struct strparse_slice f[CONFIG_MAX_FIELDS];
        size_t n = strparse_split(p, before_comment(p, (size_t)(eol - p)), f,
                                  CONFIG_MAX_FIELDS);
        if (n > CONFIG_MAX_FIELDS)
            rc = fail(err, line, "too many fields");
        else if (n > 0 && memchr(p, '\0', (size_t)(eol - p)) != NULL)
            rc = fail(err, line, "NUL byte in line");
        else if (n > 0)
            rc = parse_line(cfg, f, n, line, base_dir, &links, &nlinks, err);
        p = eol + (nl != NULL);
    }
    for (size_t i = 0; i < nlinks && rc == 0; i++)
        rc = add_link(cfg, &links[i], err);
    free(links);
    if (rc == CONFIG_ENOMEM)
        fail(err, 0, "out of memory");
    return rc;
}

int config_load(struct config *cfg, const char *path, struct herd_error *err)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        int e = errno;
        fail(err, 0, "cannot open %s: %s", path, strerror(e));
        return CONFIG_EIO;
    }
    char *text = malloc(CONFIG_FILE_MAX + 1);
    if (text == NULL) {
        fclose(fp);
        fail(err, 0, "out of memory");
        return CONFIG_ENOMEM;
    }
    size_t len = fread(text, 1, CONFIG_FILE_MAX + 1, fp);
    int bad = ferror(fp);
    fclose(fp);
    if (bad || len > CONFIG_FILE_MAX) {
        free(text);
        fail(err, 0, bad ? "cannot read %s" : "%s is larger than 1 MiB", path);
        return CONFIG_EIO;
    }
    /* Relative directories are relative to the file, not to the caller's
     * working directory, so "herd -c /etc/herd/herd.conf" means one thing. */
    char base[4096];
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(base, sizeof base, ".");
    else if (slash == path)
        snprintf(base, sizeof base, "/");
    else
        snprintf(base, sizeof base, "%.*s", (int)(slash - path), path);
    int rc = config_parse(cfg, text, len, base, err);
    free(text);
    return rc;
}

int config_connected(const struct config *cfg)
{
    if (cfg->nservers <= 1)
        return 1;
    unsigned char *seen = calloc(cfg->nservers, 1);
    if (seen == NULL)
        return 1;
    seen[0] = 1;
    size_t count = 1;
    for (int changed = 1; changed;) {
        changed = 0;
        for (size_t i = 0; i < cfg->nlinks; i++) {
            size_t a = cfg->links[i].a;
            size_t b = cfg->links[i].b;
            if (seen[a] != seen[b]) {
                seen[a] = seen[b] = 1;
                count++;
                changed = 1;
            }
        }
    }
    free(seen);
    return count == cfg->nservers;
}

int config_run_dir(const struct config *cfg, const char *path, char *out,
                   size_t cap)
{
    int n;
    if (cfg->run_dir != NULL) {
        n = snprintf(out, cap, "%s", cfg->run_dir);
    } else {
        const char *slash = strrchr(path, '/');
        if (slash == NULL)
            n = snprintf(out, cap, "run");
        else
            n = snprintf(out, cap, "%.*s/run", (int)(slash - path), path);
    }
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

int config_control_path(const char *run_dir, const char *name, char *out,
                        size_t cap)
{
    int n = snprintf(out, cap, "%s/%s.sock", run_dir,
                     strcmp(name, "herd") == 0 ? "herd.server" : name);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}
