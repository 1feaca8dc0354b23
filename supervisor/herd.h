/* herd: what every command of the supervisor's command line, and the
 * supervisor itself, know about the herd of one herd.conf: the parsed
 * configuration and the paths derived from it (run, log and data
 * directories, the control socket, the pid file, the server binary, the
 * herd secret), and the set-up before a herd starts.
 *
 * Each function prints its own error on stderr ("herd: ...") and returns 0
 * or a herd_exit code (exit_codes.h). Nothing here talks to a running
 * supervisor or server.
 */
#ifndef HERD_HERD_H
#define HERD_HERD_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"

/* Everything a command needs to know about the herd. */
struct herd {
    struct config cfg;
    char conf[PATH_MAX];
    char run_dir[PATH_MAX];
    char log_dir[PATH_MAX];
    char data_dir[PATH_MAX];
    char sock[PATH_MAX];
    char pidfile[PATH_MAX];
    char server_bin[PATH_MAX];
    char secret_file[PATH_MAX];
    char http_token[PATH_MAX]; /* RUN_DIR/http-token: the web page's */
    /* herd.conf's http: the web page's address, when http_on. */
    int http_on;
    char http_host[CONFIG_HOST_MAX + 1];
    uint16_t http_port;
    const char *argv0; /* the command line's, for herd_prepare */
};

/* Reads herd.conf at path (made absolute) into h->cfg and derives the
 * directories, the control socket's, pid file's and web token's paths, and
 * the web page's address (a bad http value is refused). h->cfg is
 * initialised even on failure: the caller frees it with config_free. */
int herd_load(struct herd *h, const char *path);
/* herd_load, its errors written to out instead of stderr (a reload in
 * the supervisor: they go into the reply and the log). */
int herd_load_to(struct herd *h, const char *path, FILE *out);
/* The line of the file conf that sets key (the last such line: a later
 * one wins), or 0 when none does (the value is the default) or the file
 * cannot be read: what an error about a setting names. */
int herd_setting_line(const char *conf, const char *key);
/* Before a herd starts (h loaded): finds the herd-server binary (herd.conf's
 * server_bin, $HERD_SERVER_BIN, or the one next to this executable; argv0
 * when its path is unknown), makes the run, log and data directories 0700
 * (refused when another's or writable by others), warns when the graph is
 * not connected, sets up the herd secret (herd.conf's secret_file, checked,
 * or RUN_DIR/secret, made on the first start), and stops the servers a
 * supervisor that died without cleaning up left behind, as its pid file
 * names them (only processes still running that binary under that name). */
int herd_prepare(struct herd *h, const char *argv0);
/* Before a reload applies next (loaded) to the herd running as cur: finds
 * next's herd-server binary as herd_prepare does (cur's argv0), and makes
 * a new log_dir or data_dir 0700, or refuses it (dry_run: makes nothing,
 * refuses an existing one it would refuse). Errors go to out. Returns 0
 * or a herd_exit code. */
int herd_prepare_reload(struct herd *next, const struct herd *cur, int dry_run,
                        FILE *out);

/* Makes path, a new file (0600, never through a link), holding 32 random
 * bytes as 64 hex digits and a newline, and copies the digits (with a NUL)
 * to hex unless it is NULL. Returns 0; 1 when path exists (left as it
 * is); -1 with the reason in why, nothing left behind. */
int herd_make_secret(const char *path, char hex[65], char *why, size_t cap);

/* Prints "herd: MESSAGE (see herd --help)" on stderr; returns 64 (every
 * command's word for a bad command line). */
__attribute__((format(printf, 1, 2))) int herd_usage_error(const char *fmt,
                                                           ...);

#endif
