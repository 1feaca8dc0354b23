/* settings: every simple setting of a herd, declared once.
 *
 * HERD_SETTINGS below is the table: one row per setting. From it come
 * - the fields of struct settings, which struct config (herd.conf) and
 *   struct server_options (herd-server) embed, so that cfg->max_line and
 *   opt->max_line name the same setting;
 * - the herd.conf keywords (config.c), herd-server's options and their
 *   --help text (server/main.c);
 * - the defaults, and the merge: the command line wins over herd.conf,
 *   herd.conf over the default.
 * Adding a setting is one row here, plus the code that uses it.
 *
 * A row is X(name, where, type, flag, meta, min, max, def, reload, help):
 *   name   the field, and the herd.conf keyword when where has FILE
 *   where  FILE (herd.conf only), ARGS (herd-server's command line only)
 *          or BOTH
 *   type   NUMBER   an integer from min to max (uint64_t)
 *          STRING   any text (const char *)
 *          PATH     a file or directory: in herd.conf, relative to the
 *                   file's own directory unless absolute
 *          CHOICE   one of the words of meta, e.g. "never|batch"
 *   flag   herd-server's option, or NULL (where is FILE)
 *   meta   what the option takes, for --help ("MS", "N", "FILE")
 *   min, max   the range of a NUMBER (0, 0 for the others)
 *   def    the default: a number, or a string (NULL: none, or one its
 *          user computes, such as run_dir beside herd.conf)
 *   reload LIVE: a running herd-server takes a new value from herd.conf
 *          when it reloads it (SIGHUP, or `reload` on its control
 *          socket), unless its command line gave the setting; FIXED: it
 *          keeps the value it started with, and a reload that finds
 *          another reports the setting as needing a restart. The rows
 *          only the supervisor reads are FIXED here: what herd does with
 *          them on a reload is the supervisor's to say. FIXED are the
 *          server's own files and identity (directories, the secret,
 *          certificates, the places provider and its index); every limit,
 *          timeout and the fsync mode are LIVE.
 *   help   for --help, a phrase; --help adds "(default ...)"
 *
 * Settings that are not simple values are written by hand: the server
 * and link lines of herd.conf; herd-server's --listen, --peer-listen,
 * --peer, --config, --data-dir (this server's own directory, where
 * herd.conf's data_dir holds one per server), --control, --ready-fd and
 * --lifeline-fd; the loading of the secret file.
 */
#ifndef HERD_SETTINGS_H
#define HERD_SETTINGS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* clang-format off */
#define HERD_SETTINGS(X)                                                      \
    /* where WHATSAT finds places */                                          \
    X(places, BOTH, STRING, "--places", "PROVIDER", 0, 0, "offline", FIXED,   \
      "places provider: offline (no key, no network), google, google-new, "   \
      "overpass")                                                             \
    X(places_url, BOTH, STRING, "--places-url", "URL", 0, 0, NULL, FIXED,     \
      "provider endpoint (tests use a stand-in)")                             \
    X(places_index, BOTH, PATH, "--places-index", "FILE", 0, 0, NULL, FIXED,  \
      "offline index (default: the built one)")                               \
    X(places_timeout_ms, BOTH, NUMBER, "--places-timeout", "MS",              \
      1, 600000, 5000, LIVE, "whole-request timeout")                         \
    X(places_cache_ttl_ms, BOTH, NUMBER, "--places-cache-ttl", "MS",          \
      1, 86400000, 600000, LIVE, "keep good answers this long")               \
    X(places_cache_size, BOTH, NUMBER, "--places-cache-size", "N",            \
      1, 10000000, 10000, LIVE, "at most N answers cached")                   \
    X(places_max_inflight, BOTH, NUMBER, "--places-max-inflight", "N",        \
      1, 100000, 64, LIVE, "HTTP requests at once")                           \
    /* files */                                                               \
    X(run_dir, FILE, PATH, NULL, "DIR", 0, 0, NULL, FIXED,                    \
      "sockets and the pid file (default: run beside herd.conf)")             \
    X(log_dir, FILE, PATH, NULL, "DIR", 0, 0, NULL, FIXED,                    \
      "the logs, NAME.log (default: log beside herd.conf)")                   \
    X(data_dir, FILE, PATH, NULL, "DIR", 0, 0, NULL, FIXED,                   \
      "write-ahead logs, one directory NAME per server (default: data "       \
      "beside herd.conf)")                                                    \
    X(server_bin, FILE, PATH, NULL, "PATH", 0, 0, NULL, FIXED,                \
      "herd-server for the supervisor (default: the one beside herd)")        \
    X(fsync, BOTH, CHOICE, "--fsync", "never|batch", 0, 0, "never", LIVE,     \
      "never: survive a process crash; batch: one fsync per group, survive "  \
      "a machine crash")                                                      \
    X(secret_file, BOTH, PATH, "--secret-file", "FILE", 0, 0, NULL, FIXED,    \
      "the herd secret (a regular file of ours, mode 0600): peer links run "  \
      "TLS 1.3 keyed by it; without it or certificates, links are in clear "  \
      "(a warning is logged)")                                                \
    X(log_file, ARGS, PATH, "--log-file", "FILE", 0, 0, NULL, FIXED,          \
      "log here (default: stderr, or LOG_DIR/NAME.log with --config)")        \
    /* clients */                                                             \
    X(max_line, BOTH, NUMBER, "--max-line", "BYTES",                          \
      64, 1 << 20, 8192, LIVE, "longest request line")                        \
    X(max_output, BOTH, NUMBER, "--max-output", "BYTES",                      \
      4096, 1ULL << 32, 4194304, LIVE,                                        \
      "output held per connection before a slow reader is cut off")           \
    X(max_clients, BOTH, NUMBER, "--max-clients", "N",                        \
      1, 10000000, 10000, LIVE, "client connections")                         \
    X(idle_timeout_ms, BOTH, NUMBER, "--idle-timeout", "MS",                  \
      1, 86400000, 300000, LIVE, "close a silent client")                     \
    X(line_timeout_ms, BOTH, NUMBER, "--line-timeout", "MS",                  \
      1, 86400000, 10000, LIVE, "close a line left unfinished")               \
    X(max_pending, BOTH, NUMBER, "--max-pending", "N",                        \
      1, 100000, 64, LIVE,                                                    \
      "WHATSATs waiting per connection before it stops being read")           \
    X(max_client_id, BOTH, NUMBER, "--max-client-id", "BYTES",                \
      1, 1 << 20, 256, LIVE, "longest client id")                             \
    /* peer links; the busy window is 10 ms */                                \
    X(peer_batch_us, BOTH, NUMBER, "--peer-batch-us", "N",                    \
      0, 10000, 2000, LIVE,                                                   \
      "under load, send to each neighbour at most once per N microseconds, "  \
      "0: every loop iteration; an idle server sends at once")                \
    X(link_ping_ms, BOTH, NUMBER, "--link-ping", "MS",                        \
      10, 600000, 500, LIVE,                                                  \
      "a link that sent nothing this long sends a heartbeat")                 \
    X(link_timeout_ms, BOTH, NUMBER, "--link-timeout", "MS",                  \
      50, 3600000, 2000, LIVE,                                                \
      "a link that heard nothing this long is closed and redialled; a dial "  \
      "unanswered this long too")                                             \
    X(tls_cert, BOTH, PATH, "--tls-cert", "FILE", 0, 0, NULL, FIXED,          \
      "certificate naming this server (PEM); with --tls-key and --tls-ca, "   \
      "a neighbour must prove the name it claims (default: the secret as a "  \
      "TLS 1.3 pre-shared key)")                                              \
    X(tls_key, BOTH, PATH, "--tls-key", "FILE", 0, 0, NULL, FIXED,            \
      "the key of --tls-cert (PEM)")                                          \
    X(tls_ca, BOTH, PATH, "--tls-ca", "FILE", 0, 0, NULL, FIXED,              \
      "the CA that signed every server's certificate (PEM)")                  \
    X(max_handshakes, BOTH, NUMBER, "--max-handshakes", "N",                  \
      1, 100000, 64, LIVE,                                                    \
      "peer connections still in their handshake; beyond: closed")            \
    /* bounds on what strangers grow */                                       \
    X(max_clients_per_addr, BOTH, NUMBER, "--max-clients-per-addr", "N",      \
      0, 10000000, 0, LIVE,                                                   \
      "client connections per source address, 0: no limit; mobile clients "   \
      "share carrier NAT addresses")                                          \
    X(max_records, BOTH, NUMBER, "--max-records", "N",                        \
      1, 1000000000, 10000000, LIVE, "clients stored")                        \
    X(max_store_mb, BOTH, NUMBER, "--max-store-mb", "N",                      \
      1, 1 << 24, 1024, LIVE,                                                 \
      "MiB of records stored; past either bound new client ids are "          \
      "refused, known ones still update")                                     \
    X(log_max_mb, BOTH, NUMBER, "--log-max-mb", "N",                          \
      0, 1 << 20, 64, LIVE,                                                   \
      "rotate the log file to FILE.1 past this size, 0: never")               \
    X(max_future_s, BOTH, NUMBER, "--max-future-s", "N",                      \
      0, 1ULL << 32, 0, LIVE,                                                 \
      "refuse client times more than N seconds ahead, 0: no bound")           \
    /* the supervisor */                                                      \
    X(http, FILE, STRING, NULL, "HOST:PORT", 0, 0, NULL, FIXED,               \
      "the web page and /metrics (loopback unless said otherwise), or off "   \
      "(default: off)")                                                       \
    X(restart_first_ms, FILE, NUMBER, NULL, "MS",                             \
      1, 3600000, 100, FIXED, "first restart delay (doubles)")                \
    X(restart_max_ms, FILE, NUMBER, NULL, "MS",                               \
      1, 3600000, 5000, FIXED, "restart delay cap")                           \
    X(restart_stable_ms, FILE, NUMBER, NULL, "MS",                            \
      1, 86400000, 10000, FIXED, "uptime that resets the delay")              \
    X(crash_limit, FILE, NUMBER, NULL, "N",                                   \
      1, 1000, 10, FIXED,                                                     \
      "restarts within crash_window_ms before a server is "                   \
      "marked failed")                                                        \
    X(crash_window_ms, FILE, NUMBER, NULL, "MS",                              \
      1, 86400000, 60000, FIXED, "the window of crash_limit")                 \
    X(stop_grace_ms, FILE, NUMBER, NULL, "MS",                                \
      1, 600000, 5000, FIXED, "SIGTERM to SIGKILL")                           \
    X(ready_timeout_ms, FILE, NUMBER, NULL, "MS",                             \
      1, 600000, 10000, FIXED, "spawn to ready, or the server is killed")
/* clang-format on */

enum settings_type {
    SETTINGS_NUMBER,
    SETTINGS_STRING,
    SETTINGS_PATH,
    SETTINGS_CHOICE
};

/* Where a setting may be given (a row's where), and where its value came
 * from (struct settings' origin; SETTINGS_DEFAULT: from neither). */
enum settings_source {
    SETTINGS_DEFAULT = 0,
    SETTINGS_FILE = 1,
    SETTINGS_ARGS = 2,
    SETTINGS_BOTH = SETTINGS_FILE | SETTINGS_ARGS
};

enum settings_status {
    SETTINGS_EUNKNOWN = -1901, /* no setting has this keyword or option */
    SETTINGS_ENUMBER = -1902,  /* not a number, or out of range */
    SETTINGS_ECHOICE = -1903,  /* not one of the words */
    SETTINGS_ENOMEM = -1904
};

/* SETTING_places, SETTING_max_line, ...: a row's index. */
#define SETTINGS_ID_(name, where, type, flag, meta, min, max, def, reload, \
                     help)                                                 \
    SETTING_##name,
enum setting_id { HERD_SETTINGS(SETTINGS_ID_) SETTINGS_COUNT };

#define SETTINGS_CTYPE_NUMBER uint64_t
#define SETTINGS_CTYPE_STRING const char *
#define SETTINGS_CTYPE_PATH   const char *
#define SETTINGS_CTYPE_CHOICE const char *
#define SETTINGS_FIELD_(name, where, type, flag, meta, min, max, def, reload, \
                        help)                                                 \
    SETTINGS_CTYPE_##type name;
#define SETTINGS_MEMBERS           \
    HERD_SETTINGS(SETTINGS_FIELD_) \
    unsigned char origin[SETTINGS_COUNT]; /* enum settings_source */

/* One value per row. Strings are borrowed, except in the struct that
 * settings_set_file filled, which owns those whose origin is
 * SETTINGS_FILE until settings_free. */
struct settings {
    SETTINGS_MEMBERS
};

/* Embeds struct settings in a struct as two views of the same bytes:
 * x.settings for the functions below, and x.NAME for each setting. The
 * union's two structs have the same members, so C11 lets either read what
 * the other wrote (their common initial sequence). */
#define SETTINGS_EMBEDDED         \
    union {                       \
        struct settings settings; \
        struct {                  \
            SETTINGS_MEMBERS      \
        };                        \
    }

/* A row of the table, as data. */
struct setting {
    const char *name;
    enum settings_source where;
    enum settings_type type;
    const char *flag; /* NULL: not on the command line */
    const char *meta;
    uint64_t min, max;
    uint64_t def;         /* NUMBER */
    const char *def_text; /* the others */
    int live;             /* reload: LIVE (1) or FIXED (0) */
    const char *help;
    size_t offset; /* of the value in struct settings */
};

/* The table, indexed by enum setting_id. */
extern const struct setting settings_table[SETTINGS_COUNT];

/* Every value its default, every origin SETTINGS_DEFAULT. */
void settings_init(struct settings *s);

/* Frees the strings s owns (origin SETTINGS_FILE) and settings_init()s
 * it. Only for a struct that settings_set_file filled. */
void settings_free(struct settings *s);

/* The row whose herd.conf keyword is the len bytes at key, or NULL. */
const struct setting *settings_by_key(const char *key, size_t len);

/* The row whose option is flag (e.g. "--max-line"), or NULL. */
const struct setting *settings_by_flag(const char *flag);

/* The value of row st in s. */
uint64_t *settings_number(struct settings *s, const struct setting *st);
const char **settings_string(struct settings *s, const struct setting *st);

/* Sets st (a row with FILE) from the len bytes at val, as herd.conf gives
 * it; a PATH is taken relative to base_dir (may be NULL) unless absolute.
 * s then owns a copy. Returns 0, or SETTINGS_ENUMBER or SETTINGS_ECHOICE
 * with a sentence in why, or SETTINGS_ENOMEM; s is unchanged on error. */
__attribute__((warn_unused_result)) int
settings_set_file(struct settings *s, const struct setting *st, const char *val,
                  size_t len, const char *base_dir, char *why, size_t cap);

/* Sets the row whose option is flag from the command line's val, which
 * s borrows (it must outlive s). Returns 0; SETTINGS_EUNKNOWN if no row
 * has that option; SETTINGS_ENUMBER or SETTINGS_ECHOICE with a sentence
 * naming the option in why. s is unchanged on error. */
__attribute__((warn_unused_result)) int settings_set_arg(struct settings *s,
                                                         const char *flag,
                                                         const char *val,
                                                         char *why, size_t cap);

/* For each row with BOTH that dst has at its default and src does not:
 * dst takes src's value (borrowed) and origin. Used as "the command line
 * (dst) wins over herd.conf (src)". */
void settings_merge(struct settings *dst, const struct settings *src);

/* Writes one entry per row with an option to out, for --help: the option
 * and what it takes, then the help and the default, and "live" for a LIVE
 * row, wrapped within 80 columns. */
void settings_usage(FILE *out);

#endif
