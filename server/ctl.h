/* ctl: a server's control channel, a Unix stream socket for the operator.
 *
 * herd-server --control PATH listens on PATH; with --config the default is
 * RUN_DIR/NAME.sock (herd.conf's run_dir); --control none, or neither
 * option, means no control socket. The socket is made mode 0600, a stale
 * one left by a dead server is replaced (a live one makes the start fail),
 * and it is removed at a clean shutdown. Only a process of the server's
 * own uid, or root, may connect (SO_PEERCRED); at most CTL_MAX_CONNS
 * connections at once, each closed when CTL_IDLE_MS pass without a
 * complete command.
 *
 * The protocol: one command per line (at most CTL_LINE_MAX bytes), one
 * reply line per command, in order; the connection stays open.
 *
 *   cut NAME     cut the link to the neighbour NAME: it is closed and
 *                neither dialled nor accepted until healed
 *                -> "ok cut NAME"
 *   cut          cut every link -> "ok cut NAME..."
 *   heal NAME    heal it: this side dials again at once (if it is the
 *                dialer) -> "ok heal NAME"
 *   heal         heal every link -> "ok heal NAME..."
 *   status       -> one line of JSON, what the server knows about itself
 *                (counters are totals since it started, the rest values
 *                now; each read from the module that counts it, with
 *                plain increments on the loop: see server_stats,
 *                places_stats, struct wal, peers_status):
 *                {"name", "pid", "epoch" (16 hex digits), "uptime_ms",
 *                 "records", "digest" (16 hex digits), "clients" (client
 *                 connections now),
 *                 "counters": {"iamat", "whatsat" (answered), "invalid"
 *                   (lines answered "? LINE"), "stale" (neighbours'
 *                   records dropped: held already or older), "refused"
 *                   (connections closed by max_clients,
 *                   max_clients_per_addr, max_handshakes), "connections"
 *                   (client connections accepted)},
 *                 "places": {"provider", "requests", "cache_hits",
 *                   "cache_misses", "in_flight", "errors" ({WORD: N}),
 *                   "latency" (HISTOGRAM: a search to its answer)},
 *                 "whatsat_latency" (HISTOGRAM: a WHATSAT's line to its
 *                   answer queued),
 *                 "wal": {"bytes" (on disk now), "records" (appended),
 *                   "fsyncs", "compactions"} (0s without a data directory),
 *                 "neighbours": [{"name", "state" (up | dialling | cut |
 *                   down), "cut", "since_ms", "why" ("" when up),
 *                   "last_heard_ms" (null: never), "rtt_us" (0: not
 *                   measured yet), "sent", "received" (records),
 *                   "bytes_sent", "bytes_received", "queued" (bytes now),
 *                   "catchups", "catchup_records", "catchup_bytes" (sent
 *                   by this side), "synced" (up, and in sync as far as
 *                   this side knows: the link came up with equal digests,
 *                   or its catch-up has ended since; false while it runs
 *                   and while the link is down)}],
 *                where a HISTOGRAM is {"bounds_us": [...] (hist.h),
 *                "counts": [one per bucket, not cumulative, the last above
 *                the last bound], "sum_us", "count"}
 *                 "config": {"loaded_ms" (since the configuration was
 *                   read: the start, or the last reload that went through),
 *                   "reloads" (asked for, refused ones too), "last_reload"
 *                   ("ok", "error: WHY", null: none yet)}}
 *   reload       read herd.conf again and take the difference (reload.h):
 *                -> one line of JSON {"ok":true,"added":[...],...}, or
 *                "error FILE:LINE: WHAT" and nothing changed
 *   anything else -> "error MESSAGE" (so is an unknown neighbour)
 *
 * Cuts outlive a restart: the names of the cut neighbours are kept in
 * DATA_DIR/cuts (one a line, replaced atomically at every change) and
 * applied at start, before any link is dialled or accepted. A server
 * without a data directory keeps its cuts in memory only. A cut that
 * could not be saved is still applied, and answered with an error line.
 */
#ifndef HERD_CTL_H
#define HERD_CTL_H

#include <stddef.h>
#include <sys/types.h>

#include <uv.h>

#define CTL_MAX_CONNS 16
#define CTL_IDLE_MS   5000
#define CTL_LINE_MAX  1024
/* Unread replies before a close. */
#define CTL_MAX_OUTPUT ((size_t)1024 * 1024)
#define CTL_PATH_MAX   108 /* sun_path */

struct server;
struct ctl_conn;

struct ctl {
    struct server *srv;
    uv_pipe_t listener;
    int listening;
    char path[CTL_PATH_MAX];
    dev_t dev; /* of the socket file we made: removed only if still ours */
    ino_t ino;
    struct ctl_conn *conns;
    unsigned nconns;
    char *cuts_path; /* DATA_DIR/cuts, or NULL: cuts in memory only */
};

/* Reads DATA_DIR/cuts (when the server has a data directory) and cuts the
 * links it names; call after peers_init, before peers_start. Returns 0,
 * or a herd_exit code with a message on stderr. */
int ctl_load_cuts(struct server *srv);
/* Listens on path (NULL: no control socket). Returns 0, or a herd_exit
 * code with a message on stderr (then nothing is left open but handles
 * already closing). */
int ctl_start(struct server *srv, const char *path);
/* Rewrites DATA_DIR/cuts from the neighbours cut now (after a reload
 * removed some). Returns 0 or an errno value. */
int ctl_save_cuts(struct server *srv);
/* Stops listening, removes the socket file, closes every connection. */
void ctl_close(struct server *srv);
/* Frees what ctl_load_cuts kept; after the loop has ended. */
void ctl_free(struct server *srv);

#endif
