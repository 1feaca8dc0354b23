/* config: herd.conf, the one file that describes a herd.
 *
 *   # comment                         blank lines are fine
 *   server NAME HOST:PORT [peer HOST:PORT]
 *   link NAME NAME                    undirected edge
 *   places PROVIDER                   offline, google, google-new, overpass
 *   places_url URL                    provider endpoint override
 *   places_index FILE                 the offline index
 *   places_timeout_ms N               whole-request timeout for HTTP
 *   places_cache_ttl_ms N             how long good answers are kept
 *   places_cache_size N               how many answers are kept
 *   places_max_inflight N             HTTP requests at once
 *   run_dir DIR | log_dir DIR | data_dir DIR
 *   secret_file FILE                  the herd secret (peer links prove they
 *                                     know it); herd start makes one in
 *                                     run_dir when none is named
 *   fsync never|batch                 write-ahead log: process or machine
 *                                     crashes
 *   max_line BYTES                    longest request line
 *   max_output BYTES                  output buffered per connection
 *   max_clients N                     client connections per server
 *   idle_timeout_ms N                 a silent client is closed
 *   line_timeout_ms N                 a line left unfinished is closed
 *   max_pending N                     WHATSATs waiting per connection
 *   max_client_id BYTES               longest client id
 *   peer_batch_us N                   a busy server sends to a neighbour
 *                                     at most once per N us (0: every
 *                                     loop iteration)
 *   link_ping_ms N                    a link that sent nothing this long
 *                                     sends a heartbeat
 *   link_timeout_ms N                 a link that heard nothing this long
 *                                     (or a dial not answered) is closed
 *   tls_cert FILE | tls_key FILE      peer links authenticated by
 *   tls_ca FILE                       certificates naming each server
 *                                     (instead of by the secret alone)
 *   max_handshakes N                  peer connections still in their
 *                                     handshake (beyond: closed)
 *   max_clients_per_addr N            client connections per source
 *                                     address (0: no limit)
 *   max_records N                     clients stored (new ones refused
 *   max_store_mb N                    beyond either bound)
 *   log_max_mb N                      a log past this is rotated (.1;
 *                                     0: never)
 *   max_future_s N                    a client time further ahead is
 *                                     refused (0: no bound)
 *   server_bin PATH                   herd-server for the supervisor
 *   restart_first_ms N                first restart delay (doubles)
 *   restart_max_ms N                  restart delay cap
 *   restart_stable_ms N               uptime that resets the delay
 *   crash_limit N                     restarts within crash_window_ms
 *   crash_window_ms N                 before a server is marked failed
 *   stop_grace_ms N                   SIGTERM to SIGKILL
 *   ready_timeout_ms N                spawn to ready, or it is killed
 *
 * The peer address defaults to the client host with the client port plus
 * 10000. Relative directories are taken from the file's own directory.
 */
#ifndef HERD_CONFIG_H
#define HERD_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"

#define CONFIG_NAME_MAX 63
#define CONFIG_HOST_MAX 255
#define CONFIG_PEER_PORT_OFFSET 10000
#define CONFIG_UNSET UINT64_MAX        /* for settings where 0 is a value */
#define CONFIG_PEER_BATCH_MAX_US 10000 /* the busy window is 10 ms */
#define CONFIG_PEER_BATCH_DEFAULT_US 2000
#define CONFIG_LINK_PING_DEFAULT_MS 500
#define CONFIG_LINK_TIMEOUT_DEFAULT_MS 2000
#define CONFIG_MAX_HANDSHAKES_DEFAULT 64
#define CONFIG_MAX_RECORDS_DEFAULT 10000000
#define CONFIG_MAX_STORE_MB_DEFAULT 1024
#define CONFIG_LOG_MAX_MB_DEFAULT 64

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
    char *places;     /* NULL: not set */
    char *places_url; /* NULL: the provider's own endpoint */
    char *run_dir;
    char *log_dir;
    char *data_dir;
    char *server_bin;
    char *places_index;
    char *fsync;
    char *secret_file;
    char *tls_cert;
    char *tls_key;
    char *tls_ca;
    uint64_t places_timeout_ms; /* 0: not set */
    uint64_t places_cache_ttl_ms;
    uint64_t places_cache_size;
    uint64_t places_max_inflight;
    uint64_t max_line;          /* 0: not set */
    uint64_t max_output;        /* 0: not set */
    uint64_t max_clients;
    uint64_t idle_timeout_ms;
    uint64_t line_timeout_ms;
    uint64_t max_pending;
    uint64_t max_client_id;
    uint64_t peer_batch_us; /* CONFIG_UNSET: not set */
    uint64_t link_ping_ms;  /* 0: not set */
    uint64_t link_timeout_ms;
    uint64_t max_handshakes;      /* 0: not set */
    uint64_t max_clients_per_addr; /* CONFIG_UNSET: not set */
    uint64_t max_records;         /* 0: not set */
    uint64_t max_store_mb;
    uint64_t log_max_mb;   /* CONFIG_UNSET: not set */
    uint64_t max_future_s; /* CONFIG_UNSET: not set */
    uint64_t restart_first_ms;  /* supervisor settings; 0: not set */
    uint64_t restart_max_ms;
    uint64_t restart_stable_ms;
    uint64_t crash_limit;
    uint64_t crash_window_ms;
    uint64_t stop_grace_ms;
    uint64_t ready_timeout_ms;
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
