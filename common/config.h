/* config: herd.conf, the one file that describes a herd.
 *
 *   # comment                         blank lines are fine
 *   server NAME HOST:PORT [peer HOST:PORT]
 *   link NAME NAME                    undirected edge
 *   KEYWORD VALUE                     a setting: the keywords, their
 *                                     values and defaults are the rows of
 *                                     settings.h with FILE
 *
 * The peer address defaults to the client host with the client port plus
 * 10000. Relative directories are taken from the file's own directory.
 */
#ifndef HERD_CONFIG_H
#define HERD_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "settings.h"

#define CONFIG_NAME_MAX         63
#define CONFIG_HOST_MAX         255
#define CONFIG_PEER_PORT_OFFSET 10000

enum config_status {
    CONFIG_ESYNTAX = -1301, /* the file is wrong; err says where */
    CONFIG_ENOMEM = -1302,
    CONFIG_EIO = -1303 /* cannot read the file */
};

struct config_addr {
    char host[CONFIG_HOST_MAX + 1];
    uint16_t port;
};

struct config_server {
    char name[CONFIG_NAME_MAX + 1];
    struct config_addr listen;
    struct config_addr peer;
    int line;
};

struct config_link {
    size_t a, b; /* indexes into servers */
};

struct config {
    struct config_server *servers;
    size_t nservers;
    struct config_link *links;
    size_t nlinks;
    /* cfg->max_line, cfg->run_dir, ...: every row of settings.h, the
     * file's value or the default; cfg->origin[SETTING_max_line] says
     * which. Strings from the file are cfg's until config_free. */
    SETTINGS_EMBEDDED;
};

void config_init(struct config *cfg);
void config_free(struct config *cfg);

/* Parses text. base_dir (may be NULL) is prepended to relative
 * directories. On error returns CONFIG_ESYNTAX with err filled in. */
__attribute__((warn_unused_result)) int
config_parse(struct config *cfg, const char *text, size_t len,
             const char *base_dir, struct herd_error *err);

/* Reads and parses a file. */
__attribute__((warn_unused_result)) int
config_load(struct config *cfg, const char *path, struct herd_error *err);

/* Index of the server named name, or -1. */
long config_find(const struct config *cfg, const char *name, size_t len);

/* 1 if every server can reach every other through links. */
int config_connected(const struct config *cfg);

/* Server name rule: 1..63 bytes of [A-Za-z0-9_.-]. */
int config_valid_name(const char *name, size_t len);

/* The directory of runtime files (sockets, pid file): cfg's run_dir, or
 * "run" beside the file at path (what herd uses). Returns 0, or -1 if it
 * does not fit in cap. */
int config_run_dir(const struct config *cfg, const char *path, char *out,
                   size_t cap);

/* The control socket of the server named name: RUN_DIR/NAME.sock, except
 * for a server named "herd", whose is RUN_DIR/herd.server.sock (herd.sock
 * is the supervisor's). Returns 0, or -1 if it does not fit in cap. */
int config_control_path(const char *run_dir, const char *name, char *out,
                        size_t cap);

#endif
