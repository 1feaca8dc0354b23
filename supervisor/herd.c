#include "herd.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "exit_codes.h"
#include "fileio.h"
#include "random.h"
#include "strparse.h"

/* out = a "/" b; -1 when it does not fit. */
static int join(char *out, size_t cap, const char *a, const char *b)
{
    size_t la = strlen(a);
    size_t lb = strlen(b);
    if (la + lb + 2 > cap)
        return -1;
    (void)snprintf(out, cap, "%s/%s", a, b); /* fits: checked above */
    return 0;
}

/* A secret must be ours alone (fileio_open_secret): a regular file, not a
 * symbolic link, owned by the effective uid, mode 0600 or tighter. The
 * servers check it again when they read it. */
static int check_secret(const char *path)
{
    char why[FILEIO_ERR_MAX];
    int fd = fileio_open_secret(path, why, sizeof why);
    if (fd < 0) {
        fprintf(stderr, "herd: refusing secret file %s: %s\n", path, why);
        return HERD_EXIT_CONFIG;
    }
    close(fd);
    return 0;
}

int herd_make_secret(const char *path, char hex[65], char *why, size_t cap)
{
    int fd =
        open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST)
        return 1;
    if (fd < 0) {
        snprintf(why, cap, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    unsigned char raw[32];
    char text[65];
    if (random_bytes(raw, sizeof raw) != 0) {
        close(fd);
        unlink(path);
        snprintf(why, cap, "no randomness for %s", path);
        return -1;
    }
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(text + 2 * i, 3, "%02x", raw[i]);
    if (hex != NULL)
        memcpy(hex, text, 65); /* with its NUL */
    text[64] = '\n';
    int ok = fileio_write_all(fd, text, sizeof text) == 0;
    if (close(fd) != 0 || !ok) {
        unlink(path);
        snprintf(why, cap, "cannot write %s", path);
        return -1;
    }
    return 0;
}

/* The herd secret: herd.conf's secret_file, or run_dir/secret, made on the
 * first start (0600, 32 random bytes in hex). Returns 0 or an exit code. */
static int ensure_secret(struct herd *h)
{
    if (h->cfg.secret_file != NULL) {
        snprintf(h->secret_file, sizeof h->secret_file, "%s",
                 h->cfg.secret_file);
        return check_secret(h->secret_file);
    }
    if (join(h->secret_file, sizeof h->secret_file, h->run_dir, "secret") != 0)
        return HERD_EXIT_CONFIG;
    char why[PATH_MAX + 64];
    int rc = herd_make_secret(h->secret_file, NULL, why, sizeof why);
    if (rc == 1)
        return check_secret(h->secret_file); /* made by an earlier start */
    if (rc != 0) {
        fprintf(stderr, "herd: %s\n", why);
        return HERD_EXIT_CONFIG;
    }
    return 0;
}

int herd_setting_line(const char *conf, const char *key)
{
    FILE *fp = fopen(conf, "r");
    if (fp == NULL)
        return 0;
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n;
    int line = 0;
    int found = 0;
    size_t klen = strlen(key);
    while ((n = getline(&buf, &cap, fp)) >= 0) {
        line++;
        struct strparse_slice first;
        if (strparse_split(buf, (size_t)n, &first, 1) > 0 &&
            first.len == klen && memcmp(first.p, key, klen) == 0)
            found = line;
    }
    free(buf);
    fclose(fp);
    return found;
}

/* "herd: FILE:LINE: " where herd.conf sets key, "herd: FILE: " when it does
 * not (a default), on out: the head of an error about that setting. */
static void setting_error_head(FILE *out, const char *conf, const char *key)
{
    int line = herd_setting_line(conf, key);
    if (line > 0)
        fprintf(out, "herd: %s:%d: ", conf, line);
    else
        fprintf(out, "herd: %s: ", conf);
}

/* herd.conf's http: off (no line, or "off"), or HOST:PORT. */
static int load_http(struct herd *h, FILE *err)
{
    const char *v = h->cfg.http;
    h->http_on = 0;
    if (v == NULL || strcmp(v, "off") == 0)
        return 0;
    if (strparse_hostport(v, strlen(v), h->http_host, sizeof h->http_host,
                          &h->http_port) != 0) {
        setting_error_head(err, h->conf, "http");
        fprintf(err,
                "http '%s' is neither HOST:PORT nor off (for example: http "
                "127.0.0.1:12080)\n",
                v);
        return HERD_EXIT_CONFIG;
    }
    h->http_on = 1;
    return 0;
}

static void dir_default(char *out, const char *set, const char *conf,
                        const char *name)
{
    if (set != NULL) {
        snprintf(out, PATH_MAX, "%s", set);
        return;
    }
    const char *slash = strrchr(conf, '/');
    snprintf(out, PATH_MAX, "%.*s/%s", (int)(slash - conf), conf, name);
}

int herd_load(struct herd *h, const char *path)
{
    return herd_load_to(h, path, stderr);
}

int herd_load_to(struct herd *h, const char *path, FILE *out)
{
    config_init(&h->cfg);
    if (realpath(path, h->conf) == NULL) {
        fprintf(out, "herd: cannot read %s: %s\n", path, strerror(errno));
        return HERD_EXIT_CONFIG;
    }
    struct herd_error err = {0, ""};
    if (config_load(&h->cfg, h->conf, &err) != 0) {
        if (err.line > 0)
            fprintf(out, "herd: %s:%d: %s\n", path, err.line, err.text);
        else
            fprintf(out, "herd: %s\n", err.text);
        return HERD_EXIT_CONFIG;
    }
    if (h->cfg.nservers == 0) {
        fprintf(out, "herd: %s: no servers\n", path);
        return HERD_EXIT_CONFIG;
    }
    dir_default(h->run_dir, h->cfg.run_dir, h->conf, "run");
    dir_default(h->log_dir, h->cfg.log_dir, h->conf, "log");
    dir_default(h->data_dir, h->cfg.data_dir, h->conf, "data");
    if (join(h->sock, sizeof h->sock, h->run_dir, "herd.sock") != 0 ||
        join(h->pidfile, sizeof h->pidfile, h->run_dir, "herd.pid") != 0 ||
        join(h->http_token, sizeof h->http_token, h->run_dir, "http-token") !=
            0 ||
        strlen(h->sock) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        setting_error_head(out, h->conf, "run_dir");
        fprintf(out,
                "control socket path %s is too long for a Unix socket: use "
                "a shorter run_dir\n",
                h->sock);
        return HERD_EXIT_CONFIG;
    }
    return load_http(h, out);
}

static int find_server_bin(struct herd *h, const char *argv0, FILE *out)
{
    const char *env = getenv("HERD_SERVER_BIN");
    if (h->cfg.server_bin != NULL) {
        snprintf(h->server_bin, sizeof h->server_bin, "%s", h->cfg.server_bin);
    } else if (env != NULL && env[0] != '\0') {
        snprintf(h->server_bin, sizeof h->server_bin, "%s", env);
    } else {
        char exe[PATH_MAX];
        size_t len = sizeof exe;
        if (uv_exepath(exe, &len) != 0)
            snprintf(exe, sizeof exe, "%s", argv0);
        char *slash = strrchr(exe, '/');
        if (slash != NULL)
            *slash = '\0';
        else
            snprintf(exe, sizeof exe, ".");
        /* Installed side by side, or in the build tree. */
        if (join(h->server_bin, sizeof h->server_bin, exe, "herd-server") !=
                0 ||
            access(h->server_bin, X_OK) != 0)
            join(h->server_bin, sizeof h->server_bin, exe,
                 "../server/herd-server");
    }
    char real[PATH_MAX];
    if (realpath(h->server_bin, real) == NULL || access(real, X_OK) != 0) {
        fprintf(out,
                "herd: cannot find an executable herd-server at %s (set "
                "server_bin in herd.conf or HERD_SERVER_BIN)\n",
                h->server_bin);
        return HERD_EXIT_CONFIG;
    }
    snprintf(h->server_bin, sizeof h->server_bin, "%s", real);
    return 0;
}

/* Whether pid runs `server_bin name` (so a recycled pid is left alone). */
static int is_our_server(pid_t pid, const char *server_bin, const char *name)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char buf[PATH_MAX + 128];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    size_t a0 = strlen(buf);
    return strcmp(buf, server_bin) == 0 && (size_t)n > a0 + 1 &&
           strcmp(buf + a0 + 1, name) == 0;
}

/* One line of the pid file, "NAME PID\n" (daemon.c's write_pidfile), into
 * name (cap bytes) and *pid. Returns 0, or -1 when it is not such a line. */
static int pidfile_line(const char *line, char *name, size_t cap, int *pid)
{
    const char *sp = strchr(line, ' ');
    if (sp == NULL || sp == line || (size_t)(sp - line) >= cap)
        return -1;
    size_t nlen = (size_t)(sp - line);
    uint64_t v;
    if (strparse_uint(sp + 1, strcspn(sp + 1, "\n"), INT_MAX, &v) != 0)
        return -1;
    memcpy(name, line, nlen);
    name[nlen] = '\0';
    *pid = (int)v;
    return 0;
}

/* A supervisor killed with SIGKILL leaves its pid file (and its servers
 * stop on their own when their lifeline closes). Make sure none of them
 * still holds a port before starting anew. */
static void reap_leftovers(const struct herd *h)
{
    FILE *fp = fopen(h->pidfile, "r");
    if (fp == NULL)
        return;
    char line[CONFIG_NAME_MAX + 32];
    char name[CONFIG_NAME_MAX + 2];
    int pid;
    while (fgets(line, sizeof line, fp) != NULL &&
           pidfile_line(line, name, sizeof name, &pid) == 0) {
        if (pid <= 1 || strcmp(name, "supervisor") == 0 ||
            !is_our_server(pid, h->server_bin, name))
            continue;
        fprintf(stderr,
                "herd: stopping %s (pid %d), left by a supervisor "
                "that did not exit cleanly\n",
                name, pid);
        kill(pid, SIGTERM);
        for (int i = 0; i < 100 && kill(pid, 0) == 0; i++) {
            struct timespec ts = {0, 50L * 1000 * 1000};
            nanosleep(&ts, NULL);
            if (!is_our_server(pid, h->server_bin, name))
                break;
        }
        if (is_our_server(pid, h->server_bin, name))
            kill(pid, SIGKILL);
    }
    fclose(fp);
}

/* Makes dir 0700 when missing; refuses it when another user owns it or
 * group or others may write it: no one else may plant a file (a link to
 * another file) where the herd writes. */
static int private_dir(const char *key, const char *dir, FILE *out)
{
    char why[FILEIO_ERR_MAX];
    if (fileio_make_private_dir(dir, why, sizeof why) == 0)
        return 0;
    fprintf(out, "herd: refusing %s %s: %s\n", key, dir, why);
    return HERD_EXIT_CONFIG;
}

/* A dry run's private_dir: refuses an existing directory private_dir
 * would refuse, makes nothing. */
static int check_dir(const char *key, const char *dir, FILE *out)
{
    char why[FILEIO_ERR_MAX];
    if (access(dir, F_OK) != 0 ||
        fileio_check_private_dir(dir, why, sizeof why) == 0)
        return 0;
    fprintf(out, "herd: refusing %s %s: %s\n", key, dir, why);
    return HERD_EXIT_CONFIG;
}

int herd_prepare_reload(struct herd *next, const struct herd *cur, int dry_run,
                        FILE *out)
{
    int (*dir)(const char *, const char *, FILE *) =
        dry_run ? check_dir : private_dir;
    int rc = find_server_bin(next, cur->argv0, out);
    if (rc == 0 && strcmp(next->log_dir, cur->log_dir) != 0)
        rc = dir("log_dir", next->log_dir, out);
    if (rc == 0 && strcmp(next->data_dir, cur->data_dir) != 0)
        rc = dir("data_dir", next->data_dir, out);
    return rc;
}

int herd_prepare(struct herd *h, const char *argv0)
{
    int rc = find_server_bin(h, argv0, stderr);
    if (rc != 0)
        return rc;
    const char *dirs[] = {h->run_dir, h->log_dir, h->data_dir};
    const char *keys[] = {"run_dir", "log_dir", "data_dir"};
    for (size_t i = 0; i < 3; i++)
        if (private_dir(keys[i], dirs[i], stderr) != 0)
            return HERD_EXIT_CONFIG;
    if (!config_connected(&h->cfg))
        fprintf(stderr,
                "herd: warning: the graph of %s is not connected: "
                "some servers never hear of some updates\n",
                h->conf);
    rc = ensure_secret(h);
    if (rc != 0)
        return rc;
    reap_leftovers(h);
    return 0;
}

int herd_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("herd: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (see herd --help)\n", stderr);
    va_end(ap);
    return HERD_EXIT_USAGE;
}
