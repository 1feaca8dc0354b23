/* plan: what a reload changes in a running herd, from the herd.conf it
 * runs and the one just read.
 *
 * Pure (no I/O): the supervisor (daemon.c) builds a plan, prints it for
 * herd reload --dry-run, or applies it and fills in each server's outcome
 * before printing it the same way. Unit tested on its own.
 *
 * Per server (by name):
 *   added     in the new file only: started (when run by this supervisor)
 *   removed   in the old file only: stopped, its data directory left
 *   told      still there and running: told "reload" on its control socket
 *             when its neighbours (who, or where they listen), its own
 *             addresses or a setting the servers read changed; it opens
 *             and closes links and takes live settings itself
 *   restart   its own address changed: only herd restart NAME moves it
 * Per setting (settings.h), by who reads it:
 *   servers     every running server is told (it says what took effect)
 *   supervisor  the restart policy, grace and ready timeout: from now on
 *   next start  server_bin, log_dir, data_dir: each server's next start
 *   herd restart  http, secret_file: herd stop, then herd start
 *   refused     run_dir: the control sockets live there; the reload is
 *               refused (nothing changes)
 */
#ifndef HERD_PLAN_H
#define HERD_PLAN_H

#include <stddef.h>

#include "config.h"
#include "dynbuf.h"
#include "settings.h"

enum plan_effect {
    PLAN_SERVERS,      /* each running server re-reads herd.conf */
    PLAN_SUPERVISOR,   /* the supervisor's own, now */
    PLAN_NEXT_START,   /* from each server's next start */
    PLAN_RESTART_HERD, /* herd stop, then herd start */
    PLAN_REFUSED       /* not while the herd runs: the reload is refused */
};

struct plan_server {
    char name[CONFIG_NAME_MAX + 1];
    long old_index; /* in the old herd.conf; -1: added */
    long new_index; /* in the new one; -1: removed */
    int managed;    /* run by this supervisor (--only) */
    int tell;       /* kept, and something it reads changed */
    /* Kept: what changed for it, e.g. "neighbours +Bolden -Clark; new
     * peer address of Parker; settings" ("" when nothing). Added: where
     * it listens and its neighbours. Removed: NULL. */
    char *changes;
    /* Why it needs herd restart NAME (its own address), or NULL. */
    char *restart;
    /* What was done, set by the reload (plan_set_outcome); NULL: not
     * done (a dry run, or not yet). */
    char *outcome;
    int failed; /* the outcome is a failure */
};

struct plan_setting {
    enum setting_id id;
    enum plan_effect effect;
    char *from, *to; /* the values as herd.conf writes them */
};

struct plan {
    /* The new herd.conf's servers in its order, then those removed in the
     * old one's. */
    struct plan_server *servers;
    size_t nservers;
    struct plan_setting *settings;
    size_t nsettings;
    char *links_added;   /* "A - B, C - D", or NULL */
    char *links_removed; /* the same */
    int connected;       /* the new graph is connected */
    int refused;         /* a setting that cannot change (run_dir) did */
    int changed;         /* anything at all differs */
};

/* The plan from old (running) to next (just read). managed[i]: whether
 * this supervisor runs old's server i; only: it runs with --only (a
 * server added is not run here). Returns 0, or -1 when out of memory
 * (nothing to free). */
int plan_build(struct plan *p, const struct config *old,
               const struct config *next, const unsigned char *managed,
               int only);
void plan_free(struct plan *p);

/* The server named name in p, or NULL. */
struct plan_server *plan_find(struct plan *p, const char *name);
/* Sets s's outcome to text (copied); failed marks it a failure. Returns
 * 0, or -1 when out of memory. */
int plan_set_outcome(struct plan_server *s, const char *text, int failed);

/* The plan as text, one line per change: "would ..." for a dry run, else
 * what was done (the outcomes). "herd.conf has not changed" when nothing
 * did. (A graph in pieces is herd check's warning, not the plan's.)
 * Returns 0 or a dynbuf error. */
int plan_render(const struct plan *p, int dry_run, struct dynbuf *out);
/* Whether any outcome is a failure. */
int plan_failed(const struct plan *p);
/* The words of an effect, for the log and the reply. */
const char *plan_effect_text(enum plan_effect e);

#endif
