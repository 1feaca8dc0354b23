/* server: one herd-server process. Owns the loop and wires the modules:
 * listeners, connections, store, peers, places, log. */
#ifndef HERD_SERVER_H
#define HERD_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "config.h"
#include "conn.h"
#include "ctl.h"
#include "hist.h"
#include "peers.h"
#include "places.h"
#include "store.h"
#include "wal.h"

struct server_peer_opt {
    char name[CONFIG_NAME_MAX + 1];
    struct config_addr addr;
};

struct server_options {
    char name[CONFIG_NAME_MAX + 1];
    struct config_addr listen;
    struct config_addr peer_listen;
    struct server_peer_opt *peers;
    size_t npeers;
    const char *places_key;    /* from the environment, never argv */
    unsigned char secret[256]; /* herd secret from --secret-file */
    size_t secret_len;         /* 0: peer links are not authenticated */
    const char *control_path;  /* the control socket (ctl.h); NULL: none */
    int fsync_batch;           /* --fsync batch */
    int ready_fd;              /* -1: none */
    int lifeline_fd;           /* -1: none; EOF on it stops the server */
    /* What a reload needs (reload.h): the herd.conf read at start (NULL:
     * none, nothing to reload), and what the command line gave, which a
     * reload leaves as it is: the first npeers_args of peers (--peer),
     * the addresses, the control socket. */
    const char *config_path;
    size_t npeers_args;
    int listen_args, peer_listen_args, control_args;
    /* Settings the command line gave as the file read at start did
     * (reload_plan_follows): a reload reports their change in the file
     * as needing a restart. */
    unsigned char follows_file[SETTINGS_COUNT];
    /* opt->max_clients, opt->places, ...: every row of settings.h, from
     * the command line, herd.conf or the default (opt->origin says which;
     * strings borrowed from argv or the herd.conf read at start). Here
     * data_dir is this server's own directory (NULL: no write-ahead log)
     * and log_file NULL is stderr. */
    SETTINGS_EMBEDDED;
};

/* What the server counts, for its status (ctl.h) and its last log line:
 * totals since the start, plain increments on the loop thread. */
struct server_stats {
    unsigned long records_applied; /* newer records stored */
    unsigned long records_stale;   /* older than held (clients' too); more
                                      in peers.stats */
    unsigned long peer_stale;      /* of those, from neighbours */
    unsigned long refused;         /* client connections closed at once:
                                      max_clients, max_clients_per_addr */
    unsigned long connections;     /* client connections accepted, the
                                      refused ones too */
    /* Client lines: every one that is not blank is one of these (but
     * for one that met out of memory: its connection is closed). */
    unsigned long iamat;   /* IAMAT answered with an AT line */
    unsigned long whatsat; /* WHATSAT of a known client: its AT line
                              is queued, places asked */
    unsigned long invalid; /* answered "? LINE" */
    /* A WHATSAT from its line to its answer queued on the connection. */
    struct hist whatsat_latency;
};

/* The configuration's reloads, for the status (ctl.h). */
struct server_reloads {
    uint64_t loaded_ns;  /* uv_hrtime() at the start or the last reload
                            that succeeded */
    unsigned long count; /* reloads asked for, refused ones too */
    char last[256];      /* "ok", "error: WHY", or "" (none yet) */
};

struct server {
    uv_loop_t loop;
    /* The options now: the server's own copy, whose LIVE settings a
     * reload changes (strings still borrowed as server_options says). */
    struct server_options *opt;
    uv_tcp_t client_listener;
    uv_tcp_t peer_listener;
    uv_prepare_t flush;
    uv_idle_t spin; /* active while a catch-up has records and room */
    uint64_t turn_mark_ns, turn_mark_idle; /* the last flush's clock */
    uv_signal_t sigterm;
    uv_signal_t sigint;
    uv_signal_t sighup; /* reloads the configuration */
    uv_pipe_t lifeline;
    uv_timer_t sweep; /* timeouts: idle, slow lines, stalled handshakes */
    int has_lifeline;
    struct conn_pool pool;
    struct store store;
    struct peers peers;
    struct places places;
    struct wal wal;
    int has_wal;
    struct server_stats stats;
    unsigned long limit_refused; /* over max_clients (logged every 1000) */
    struct ctl ctl;
    uint64_t started_ns; /* uv_hrtime() at start */
    uint64_t epoch;      /* random per start, so neighbours can tell restarts */
    struct server_reloads reloads;
    int stopping;
};

/* Runs a server until SIGTERM or SIGINT (SIGHUP reloads the
 * configuration: reload.h) with a copy of the options given. Returns a
 * herd_exit code; prints a one-line reason on stderr when it cannot
 * start. */
int server_run(const struct server_options *given);

/* The peers_config of srv's options now (its limits, for
 * peers_set_limits). */
void server_peers_config(struct server *srv, struct peers_config *cfg);

/* Applies the LIVE settings of next (reload_plan) that differ from those
 * running: client limits on every connection, peer batching and link
 * timing, timeouts (the sweep's period), store bounds, the log's size,
 * places' limits and cache, the fsync mode (after the group queued so far
 * is written under the old one). */
void server_apply_settings(struct server *srv, const struct settings *next);

/* Offers a record to the store; a newer one is flooded to every neighbour
 * but `from` (NULL for a client's IAMAT). Takes ownership of rec. Returns
 * STORE_CHANGED, STORE_STALE, STORE_EFULL (a new client past the store's
 * bounds: nothing changed, logged) or STORE_ENOMEM; *cur is the record the
 * store now holds for the client (borrowed, may be NULL on STORE_ENOMEM or
 * STORE_EFULL). */
int server_offer(struct server *srv, struct record *rec, struct peer *from,
                 const struct record **cur);
/* server_offer given h = store_key_hash() of rec's client. */
int server_offer_hashed(struct server *srv, struct record *rec, uint64_t h,
                        struct peer *from, const struct record **cur);

#endif
