/* herd-server: one server of the herd. */
#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <uv.h>

#include "config.h"
#include "exit_codes.h"
#include "fileio.h"
#include "places.h"
#include "reload_plan.h"
#include "server.h"
#include "strparse.h"

#define MAX_PEERS 256

/* The usage around the table's options (settings_usage): the options
 * that are not simple settings. */
static const char usage_head[] =
    "usage: herd-server NAME --listen HOST:PORT [options]\n"
    "\n"
    "One server of a herd: answers IAMAT and WHATSAT on its client port and\n"
    "floods location updates to its neighbours over persistent links.\n"
    "\n"
    "  --listen HOST:PORT       client port (the line protocol)\n"
    "  --peer-listen HOST:PORT  where neighbours link to this server\n"
    "                           (default: client host, client port + 10000)\n"
    "  --peer NAME=HOST:PORT    a neighbour and its peer address (repeat)\n"
    "  --config FILE            herd.conf: takes this server's addresses,\n"
    "                           neighbours and settings from the file;\n"
    "                           options given here win\n"
    "  --data-dir DIR           write-ahead log of records (one server per\n"
    "                           directory; default with --config:\n"
    "                           DATA_DIR/NAME; none: memory only)\n"
    "  --control PATH|none      the control socket (cut, heal, status,\n"
    "                           reload; mode 0600; default with --config:\n"
    "                           RUN_DIR/NAME.sock; none: no socket)\n";
static const char usage_tail[] =
    "  --ready-fd FD            write a newline to FD once listening\n"
    "  --lifeline-fd FD         stop when FD reaches end of file (the\n"
    "                           supervisor holds its other end)\n"
    "  --help                   this text\n"
    "\n"
    "The places API key comes from the environment variable HERD_PLACES_KEY.\n"
    "\n"
    "With --config, SIGHUP (or 'reload' on the control socket) reads the\n"
    "file again: new neighbours are linked, removed ones unlinked, the\n"
    "settings marked live above take their new values; the others and this\n"
    "server's own addresses need a restart (the reload lists them). What\n"
    "the command line gave never changes.\n"
    "\n"
    "Exit status: 0 after SIGTERM/SIGINT, 64 bad arguments, 78 unusable\n"
    "configuration or address.\n";

struct args {
    struct server_options opt;
    const char *config;
    int has_listen;
    int has_peer_listen;
    struct server_peer_opt peers[MAX_PEERS];
    size_t npeers;
    const char *control; /* --control as given; NULL: not given */
    /* The paths apply_config makes from herd.conf; opt points into them,
     * so they live as long as the args (static, in main). */
    char log_path[4200];
    char data_path[4200];
    char ctl_path[4200];
};

/* Reads the herd secret: 16 to 256 bytes, trailing whitespace dropped.
 * The file must be this user's alone (fileio_open_secret): a regular file,
 * not a symbolic link, owned by the effective uid, mode 0600 or tighter. */
static int load_secret(struct server_options *opt, const char *path)
{
    char why[FILEIO_ERR_MAX];
    int fd = fileio_open_secret(path, why, sizeof why);
    FILE *fp = fd < 0 ? NULL : fdopen(fd, "rb");
    if (fp == NULL) {
        if (fd >= 0)
            snprintf(why, sizeof why, "%s", strerror(errno));
        fprintf(stderr, "herd-server: refusing secret file %s: %s\n", path,
                why);
        if (fd >= 0)
            close(fd);
        return HERD_EXIT_CONFIG;
    }
    size_t n = fread(opt->secret, 1, sizeof opt->secret, fp);
    int more = fgetc(fp) != EOF;
    fclose(fp);
    while (n > 0 && (opt->secret[n - 1] == '\n' || opt->secret[n - 1] == '\r' ||
                     opt->secret[n - 1] == ' ' || opt->secret[n - 1] == '\t'))
        n--;
    if (more || n < 16) {
        fprintf(stderr,
                "herd-server: secret file %s must hold 16 to %zu bytes\n", path,
                sizeof opt->secret);
        return HERD_EXIT_CONFIG;
    }
    opt->secret_len = n;
    return 0;
}

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt,
                                                             ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "herd-server: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see herd-server --help)\n");
    va_end(ap);
    return HERD_EXIT_USAGE;
}

/* A malformed address is an unusable address (exit 78, like the same
 * mistake in herd.conf), not a misuse of the command line. */
__attribute__((format(printf, 1, 2))) static int address_error(const char *fmt,
                                                               ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "herd-server: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return HERD_EXIT_CONFIG;
}

static int parse_addr(struct config_addr *a, const char *s)
{
    return strparse_hostport(s, strlen(s), a->host, sizeof a->host, &a->port);
}

static int add_peer(struct args *a, const char *spec)
{
    const char *eq = strchr(spec, '=');
    if (eq == NULL || !config_valid_name(spec, (size_t)(eq - spec)))
        return usage_error("--peer wants NAME=HOST:PORT, not '%s'", spec);
    if (a->npeers == MAX_PEERS)
        return usage_error("too many --peer options (%s)", spec);
    struct server_peer_opt *p = NULL;
    for (size_t i = 0; i < a->npeers; i++)
        if (strlen(a->peers[i].name) == (size_t)(eq - spec) &&
            memcmp(a->peers[i].name, spec, (size_t)(eq - spec)) == 0)
            p = &a->peers[i];
    struct server_peer_opt tmp;
    memset(&tmp, 0, sizeof tmp);
    memcpy(tmp.name, spec, (size_t)(eq - spec));
    if (parse_addr(&tmp.addr, eq + 1) != 0)
        return address_error("--peer: malformed address in '%s' (want "
                             "NAME=HOST:PORT)",
                             spec);
    if (p == NULL)
        p = &a->peers[a->npeers++];
    *p = tmp;
    return 0;
}

static int number(const char *opt, const char *s, uint64_t min, uint64_t max,
                  uint64_t *out)
{
    if (strparse_uint(s, strlen(s), max, out) != 0 || *out < min) {
        fprintf(stderr,
                "herd-server: %s wants a number from %llu to %llu, not '%s'\n",
                opt, (unsigned long long)min, (unsigned long long)max, s);
        return HERD_EXIT_USAGE;
    }
    return 0;
}

/* The server NAME: the one argument that is not an option. */
static int parse_name(struct args *a, const char *arg)
{
    if (a->opt.name[0] != '\0')
        return usage_error("unexpected argument '%s'", arg);
    if (!config_valid_name(arg, strlen(arg)))
        return usage_error("bad server name '%s' (1-63 characters "
                           "of A-Z a-z 0-9 _ . -)",
                           arg);
    snprintf(a->opt.name, sizeof a->opt.name, "%s", arg);
    return 0;
}

/* --opt VALUE or --opt=VALUE: the option's name into key (key_cap bytes)
 * and its value into *val, taken from the next argument (*i moves on to
 * it) when the option has no '='. */
static int split_option(int argc, char **argv, int *i, char *key,
                        size_t key_cap, const char **val)
{
    const char *arg = argv[*i];
    const char *eq = strchr(arg, '=');
    size_t klen = eq ? (size_t)(eq - arg) : strlen(arg);
    if (klen >= key_cap)
        return usage_error("unknown option '%s'", arg);
    memcpy(key, arg, klen);
    key[klen] = '\0';
    if (eq)
        *val = eq + 1;
    else if (*i + 1 < argc)
        *val = argv[++*i];
    else
        return usage_error("%s needs a value", key);
    return 0;
}

/* An option that is none of main's own: one of the settings' table
 * (settings_set_arg); arg is the option as given. */
static int parse_setting(struct args *a, const char *arg, const char *key,
                         const char *val)
{
    char why[256];
    int rc = settings_set_arg(&a->opt.settings, key, val, why, sizeof why);
    if (rc == SETTINGS_EUNKNOWN)
        return usage_error("unknown option '%s'", arg);
    if (rc == SETTINGS_ECHOICE)
        return usage_error("%s", why);
    if (rc != 0) {
        fprintf(stderr, "herd-server: %s\n", why);
        return HERD_EXIT_USAGE;
    }
    return 0;
}

/* One option, key with its value val; arg is the option as given. */
static int parse_option(struct args *a, const char *arg, const char *key,
                        const char *val)
{
    int rc = 0;
    uint64_t n;
    if (strcmp(key, "--listen") == 0) {
        if (parse_addr(&a->opt.listen, val) != 0)
            return address_error("--listen: malformed address '%s' "
                                 "(want HOST:PORT)",
                                 val);
        a->has_listen = 1;
    } else if (strcmp(key, "--peer-listen") == 0) {
        if (parse_addr(&a->opt.peer_listen, val) != 0)
            return address_error("--peer-listen: malformed address '%s' "
                                 "(want HOST:PORT)",
                                 val);
        a->has_peer_listen = 1;
    } else if (strcmp(key, "--peer") == 0) {
        rc = add_peer(a, val);
    } else if (strcmp(key, "--config") == 0) {
        a->config = val;
    } else if (strcmp(key, "--data-dir") == 0) {
        /* This server's own directory; herd.conf's data_dir holds one
         * per server (apply_config). */
        a->opt.data_dir = val;
        a->opt.origin[SETTING_data_dir] = SETTINGS_ARGS;
    } else if (strcmp(key, "--control") == 0) {
        if (val[0] == '\0')
            return usage_error("--control wants a path or none");
        a->control = val;
    } else if (strcmp(key, "--ready-fd") == 0) {
        rc = number(key, val, 0, 1 << 20, &n);
        if (rc == 0)
            a->opt.ready_fd = (int)n;
    } else if (strcmp(key, "--lifeline-fd") == 0) {
        rc = number(key, val, 0, 1 << 20, &n);
        if (rc == 0)
            a->opt.lifeline_fd = (int)n;
    } else {
        rc = parse_setting(a, arg, key, val);
    }
    return rc;
}

static int parse_args(struct args *a, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(usage_head, stdout);
            settings_usage(stdout);
            fputs(usage_tail, stdout);
            exit(0);
        }
        int rc;
        if (strncmp(arg, "--", 2) != 0) {
            rc = parse_name(a, arg);
        } else {
            char key[32];
            const char *val = NULL;
            rc = split_option(argc, argv, &i, key, sizeof key, &val);
            if (rc == 0) {
                assert(val != NULL); /* split_option sets it when it is 0 */
                rc = parse_option(a, arg, key, val);
            }
        }
        if (rc != 0)
            return rc;
    }
    if (a->opt.name[0] == '\0')
        return usage_error("missing server NAME");
    /* What the command line gave, which a reload leaves alone. */
    a->opt.npeers_args = a->npeers;
    a->opt.listen_args = a->has_listen;
    a->opt.peer_listen_args = a->has_peer_listen;
    a->opt.control_args = a->control != NULL;
    a->opt.config_path = a->config;
    return 0;
}

/* mkdir -p dir (0700 for what it creates), and refuse it unless it is
 * private (fileio_make_private_dir): what lies in it must be ours alone. */
static int private_dir(const char *what, const char *dir)
{
    char why[FILEIO_ERR_MAX];
    if (fileio_make_private_dir(dir, why, sizeof why) == 0)
        return 0;
    fprintf(stderr, "herd-server: refusing the %s %s: %s\n", what, dir, why);
    return HERD_EXIT_CONFIG;
}

/* private_dir() of the directory a file is in. */
static int private_parent(const char *what, const char *file)
{
    char dir[4200];
    if (snprintf(dir, sizeof dir, "%s", file) >= (int)sizeof dir) {
        fprintf(stderr, "herd-server: %s: path too long\n", file);
        return HERD_EXIT_CONFIG;
    }
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        snprintf(dir, sizeof dir, ".");
    else
        slash[slash == dir] = '\0'; /* "/f" is in "/" */
    return private_dir(what, dir);
}

/* Where the server keeps its files: its data directory, the directory of
 * its control socket and that of its log file, each made 0700 when
 * missing and refused (exit 78) when another user owns it or group or
 * others may write it. A log "file" that is a device or a pipe
 * (/dev/null, /dev/stderr) is nothing to protect. Then a max_line whose
 * records the write-ahead log could not read back is refused. */
static int check_files(const struct server_options *opt)
{
    int rc = 0;
    if (opt->data_dir != NULL)
        rc = private_dir("data directory", opt->data_dir);
    if (rc == 0 && opt->control_path != NULL)
        rc = private_parent("control socket directory", opt->control_path);
    struct stat st;
    if (rc == 0 && opt->log_file != NULL &&
        (stat(opt->log_file, &st) != 0 || S_ISREG(st.st_mode)))
        rc = private_parent("log directory", opt->log_file);
    if (rc == 0 && opt->data_dir != NULL &&
        wal_record_bound(opt->max_line) > WAL_MAX_RECORD) {
        fprintf(stderr,
                "herd-server: max_line %llu is too long for the write-ahead "
                "log: its records could exceed %u bytes, which replay would "
                "cut as damage (at most %llu)\n",
                (unsigned long long)opt->max_line, (unsigned)WAL_MAX_RECORD,
                (unsigned long long)(WAL_MAX_RECORD - WAL_RECORD_SLACK));
        rc = HERD_EXIT_CONFIG;
    }
    return rc;
}

/* This server's neighbours in herd.conf (server me's links) that the
 * command line did not name, up to MAX_PEERS in all. */
static void add_config_peers(struct args *a, const struct config *cfg,
                             size_t me)
{
    for (size_t i = 0; i < cfg->nlinks; i++) {
        size_t other;
        if (cfg->links[i].a == me)
            other = cfg->links[i].b;
        else if (cfg->links[i].b == me)
            other = cfg->links[i].a;
        else
            continue;
        int known = 0;
        for (size_t j = 0; j < a->npeers; j++)
            known |= strcmp(a->peers[j].name, cfg->servers[other].name) == 0;
        if (known || a->npeers == MAX_PEERS)
            continue;
        struct server_peer_opt *p = &a->peers[a->npeers++];
        snprintf(p->name, sizeof p->name, "%s", cfg->servers[other].name);
        p->addr = cfg->servers[other].peer;
    }
}

/* Fills in what the command line left out from herd.conf. */
static int apply_config(struct args *a, struct config *cfg)
{
    struct herd_error err = {0, ""};
    if (config_load(cfg, a->config, &err) != 0) {
        if (err.line > 0)
            fprintf(stderr, "herd-server: %s:%d: %s\n", a->config, err.line,
                    err.text);
        else
            fprintf(stderr, "herd-server: %s\n", err.text);
        return HERD_EXIT_CONFIG;
    }
    long me = config_find(cfg, a->opt.name, strlen(a->opt.name));
    if (me >= 0) {
        const struct config_server *s = &cfg->servers[me];
        if (!a->has_listen) {
            a->opt.listen = s->listen;
            a->has_listen = 1;
        }
        if (!a->has_peer_listen) {
            a->opt.peer_listen = s->peer;
            a->has_peer_listen = 1;
        }
        add_config_peers(a, cfg, (size_t)me);
    } else if (!a->has_listen) {
        fprintf(stderr, "herd-server: %s: no server named '%s'\n", a->config,
                a->opt.name);
        return HERD_EXIT_CONFIG;
    }
    settings_merge(&a->opt.settings, &cfg->settings);
    if (a->opt.origin[SETTING_data_dir] == SETTINGS_DEFAULT &&
        cfg->data_dir != NULL) {
        snprintf(a->data_path, sizeof a->data_path, "%s/%s", cfg->data_dir,
                 a->opt.name);
        a->opt.data_dir = a->data_path;
    }
    if (a->opt.origin[SETTING_log_file] == SETTINGS_DEFAULT &&
        cfg->log_dir != NULL) {
        snprintf(a->log_path, sizeof a->log_path, "%s/%s.log", cfg->log_dir,
                 a->opt.name);
        a->opt.log_file = a->log_path;
    }
    reload_plan_follows(cfg, a->config, a->opt.name, &a->opt.settings,
                        a->opt.follows_file);
    if (a->control == NULL) {
        char run_dir[4096];
        if (config_run_dir(cfg, a->config, run_dir, sizeof run_dir) != 0 ||
            config_control_path(run_dir, a->opt.name, a->ctl_path,
                                sizeof a->ctl_path) != 0) {
            fprintf(stderr, "herd-server: %s: run_dir is too long\n",
                    a->config);
            return HERD_EXIT_CONFIG;
        }
        /* run_dir itself: made and checked with the other directories
         * (check_files). */
        a->opt.control_path = a->ctl_path;
    }
    return 0;
}

/* The offline index when neither --places-index nor herd.conf names one:
 * the installed one, HERD_PLACES_INDEX_FROM_BIN from this executable's
 * directory (bin/../share/herd/places.idx), when it is there; else the
 * build tree's, HERD_PLACES_INDEX. buf (cap bytes) holds the path. */
static const char *default_places_index(char *buf, size_t cap)
{
    size_t len = cap;
    if (uv_exepath(buf, &len) != 0)
        return HERD_PLACES_INDEX;
    /* Up one directory for each "../", so that messages name a plain
     * path: /usr/bin/herd-server gives /usr/share/herd/places.idx. */
    const char *rel = HERD_PLACES_INDEX_FROM_BIN;
    char *end = strrchr(buf, '/');
    while (end != NULL && strncmp(rel, "../", 3) == 0) {
        *end = '\0';
        end = strrchr(buf, '/');
        rel += 3;
    }
    if (end == NULL)
        return HERD_PLACES_INDEX;
    size_t dir = (size_t)(end + 1 - buf);
    int n = snprintf(buf + dir, cap - dir, "%s", rel);
    if (n < 0 || (size_t)n >= cap - dir || access(buf, R_OK) != 0)
        return HERD_PLACES_INDEX;
    return buf;
}

int main(int argc, char **argv)
{
    /* A SIGHUP before the loop listens for it is no reason to die: the
     * file is being read now anyway. */
    signal(SIGHUP, SIG_IGN);
    static struct args a;
    settings_init(&a.opt.settings);
    a.opt.ready_fd = -1;
    a.opt.lifeline_fd = -1;
    int rc = parse_args(&a, argc, argv);
    if (rc != 0)
        return rc;
    struct config cfg;
    config_init(&cfg);
    if (a.config != NULL) {
        rc = apply_config(&a, &cfg);
        if (rc != 0) {
            config_free(&cfg);
            return rc;
        }
    }
    if (!a.has_listen) {
        config_free(&cfg);
        return usage_error("missing --listen HOST:PORT");
    }
    if (!a.has_peer_listen) {
        if (a.opt.listen.port > 65535 - CONFIG_PEER_PORT_OFFSET) {
            config_free(&cfg);
            return usage_error("client port + 10000 is not a port: give "
                               "--peer-listen");
        }
        a.opt.peer_listen = a.opt.listen;
        a.opt.peer_listen.port =
            (uint16_t)(a.opt.listen.port + CONFIG_PEER_PORT_OFFSET);
    }
    for (size_t i = 0; i < a.npeers; i++)
        if (strcmp(a.peers[i].name, a.opt.name) == 0) {
            config_free(&cfg);
            return usage_error("server '%s' cannot be its own neighbour",
                               a.opt.name);
        }
    if (a.control != NULL)
        a.opt.control_path = strcmp(a.control, "none") == 0 ? NULL : a.control;
    a.opt.peers = a.peers;
    a.opt.npeers = a.npeers;
    int tls_files = (a.opt.tls_cert != NULL) + (a.opt.tls_key != NULL) +
                    (a.opt.tls_ca != NULL);
    if (tls_files != 0 && tls_files != 3) {
        config_free(&cfg);
        return usage_error("tls_cert, tls_key and tls_ca go together");
    }
    if (a.opt.link_timeout_ms <= a.opt.link_ping_ms) {
        config_free(&cfg);
        return usage_error("link timeout (%llu ms) must be longer than the "
                           "link ping interval (%llu ms)",
                           (unsigned long long)a.opt.link_timeout_ms,
                           (unsigned long long)a.opt.link_ping_ms);
    }
    static char index_path[4200];
    if (a.opt.places_index == NULL)
        a.opt.places_index =
            default_places_index(index_path, sizeof index_path);
    if (!places_provider_known(a.opt.places)) {
        fprintf(stderr,
                "herd-server: unknown places provider '%s' (known: %s)\n",
                a.opt.places, places_provider_names());
        config_free(&cfg);
        return HERD_EXIT_CONFIG;
    }
    a.opt.places_key = getenv("HERD_PLACES_KEY");
    if (a.opt.secret_file != NULL) {
        rc = load_secret(&a.opt, a.opt.secret_file);
        if (rc != 0) {
            config_free(&cfg);
            return rc;
        }
    }
    a.opt.fsync_batch = strcmp(a.opt.fsync, "batch") == 0;
    rc = check_files(&a.opt);
    if (rc != 0) {
        config_free(&cfg);
        return rc;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "herd-server: cannot initialize libcurl\n");
        config_free(&cfg);
        return HERD_EXIT_OSERR;
    }
    rc = server_run(&a.opt);
    curl_global_cleanup();
    config_free(&cfg);
    return rc;
}
