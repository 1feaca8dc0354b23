/* reload_plan: what re-reading herd.conf changes in a running server,
 * pure (no I/O, no loop).
 *
 * A server started with --config takes from the file its addresses, its
 * neighbours (its links) and its settings, but for what its command line
 * gave, which wins (settings_merge). A reload reads the file again and
 * compares what the same merge would give now with what runs:
 *
 *   neighbours   added (a new link), removed (a link gone), moved (the
 *                neighbour's peer address changed); a neighbour given by
 *                --peer stays as it is
 *   settings     a LIVE row (settings.h) whose value differs is applied;
 *                a FIXED one is listed as needing a restart, and so are
 *                this server's own addresses ("listen", "peer_listen"),
 *                its data directory ("data_dir"), log file ("log_dir")
 *                and control socket ("run_dir") when herd.conf moves them
 *
 * A FIXED setting is compared with what runs, not with the file read
 * before: it stays listed on every reload until the server restarts. One
 * the command line gave is compared only when it follows the file
 * (reload_plan_follows): herd passes herd.conf's own data directory, log
 * file and secret on the command line, and a restart by herd takes the
 * file's new ones; a value of the operator's own stays.
 * The file is refused whole (nothing changes) when it does not name this
 * server (and the command line gave no --listen), or when the merged
 * values are ones a start would refuse: a link timeout not longer than
 * the ping interval, tls_cert, tls_key and tls_ca not given together.
 */
#ifndef HERD_RELOAD_PLAN_H
#define HERD_RELOAD_PLAN_H

#include <stddef.h>

#include "config.h"
#include "settings.h"

/* Names in a plan's restart list, at most. */
#define RELOAD_PLAN_RESTART_MAX (SETTINGS_COUNT + 4)

struct reload_peer {
    char name[CONFIG_NAME_MAX + 1];
    struct config_addr addr;
};

/* What runs now, as the plan compares it. Everything is borrowed. */
struct reload_running {
    const char *name;
    const char *config_path; /* the file: run_dir defaults beside it */
    /* Every value now. A row whose origin is SETTINGS_ARGS came from the
     * command line and never changes; data_dir and log_file are this
     * server's own (DATA_DIR/NAME, LOG_DIR/NAME.log). */
    const struct settings *settings;
    struct config_addr listen, peer_listen;
    int listen_args, peer_listen_args; /* given on the command line */
    const char *control_path;          /* NULL: none */
    int control_args;                  /* --control given */
    const struct reload_peer *peers;   /* every neighbour now */
    size_t npeers;
    const struct reload_peer *fixed; /* those of them given by --peer */
    size_t nfixed;
    /* Per row (reload_plan_follows): given on the command line, but as
     * the file read at start gave it, as a supervisor passes herd.conf's
     * own data directory, log file and secret. Such a FIXED row is
     * compared with the file like one the file gave. NULL: none. */
    const unsigned char *follows;
};

struct reload_plan {
    struct reload_peer *added; /* to link to */
    size_t nadded;
    struct reload_peer *removed; /* to unlink (addr: as it was) */
    size_t nremoved;
    struct reload_peer *moved; /* addr: the new one */
    size_t nmoved;
    /* The settings after the reload: the running ones with the LIVE rows
     * that change in their new values (strings borrowed from the
     * config). */
    struct settings next;
    unsigned char changed[SETTINGS_COUNT]; /* 1: a LIVE row that changes */
    size_t nchanged;
    /* Names that differ from what runs but need a restart, in table
     * order after "listen" and "peer_listen". */
    const char *restart[RELOAD_PLAN_RESTART_MAX];
    size_t nrestart;
};

enum reload_plan_status {
    RELOAD_PLAN_EREFUSED = -2201, /* the file cannot be used: why says */
    RELOAD_PLAN_ENOMEM = -2202
};

/* Which rows of s (the settings a server starts with) that the command
 * line gave are what cfg (read from config_path) gives server name: a
 * FIXED row of the table with the file's value; data_dir and log_file
 * when they are DIR/NAME and DIR/NAME.log, DIR being the file's data_dir
 * and log_dir, or data and log beside the file (as herd passes them). */
void reload_plan_follows(const struct config *cfg, const char *config_path,
                         const char *name, const struct settings *s,
                         unsigned char follows[SETTINGS_COUNT]);

/* Compares cfg (read from run->config_path) with what runs. Returns 0
 * with *pl filled (reload_plan_free it), or RELOAD_PLAN_EREFUSED with a
 * sentence in why, or RELOAD_PLAN_ENOMEM; *pl needs no freeing then. */
__attribute__((warn_unused_result)) int
reload_plan_make(struct reload_plan *pl, const struct reload_running *run,
                 const struct config *cfg, char *why, size_t cap);
void reload_plan_free(struct reload_plan *pl);

/* Whether the plan changes nothing and lists nothing to restart. */
int reload_plan_empty(const struct reload_plan *pl);

#endif
