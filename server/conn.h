/* conn: one TCP connection, client or peer.
 *
 * Reads go through linebuf to the owner's on_line callback. Replies are
 * buffered and written once per loop iteration by conn_pool_flush(): one
 * uv_try_write, then one uv_write for whatever the kernel did not take.
 * Replies that must wait (a WHATSAT on the network) hold a slot, so every
 * reply leaves in request order. A connection is refcounted: the socket
 * holds one reference, and so does every piece of async work that points
 * to it; it is freed only when the last one goes, after uv_close.
 */
#ifndef HERD_CONN_H
#define HERD_CONN_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "dynbuf.h"
#include "linebuf.h"
#include "tls.h"

#define CONN_READ_BUF   (64 * 1024)
#define CONN_HIGH_WATER ((size_t)256 * 1024)
/* A held peer link goes out past this. */
#define CONN_PEER_BATCH ((size_t)64 * 1024)
/* An emptied output buffer keeps its storage up to this size: a client's
 * small (10 000 of them may idle), a peer link's a batch and more (a few
 * links, each refilled every iteration or hold). */
#define CONN_CLIENT_KEEP_OUT ((size_t)16 * 1024)
#define CONN_PEER_KEEP_OUT   (2 * CONN_PEER_BATCH)
/* A peer link is busy, and may be held, once it carried this many bytes
 * in the last 10 ms window (about 5000 records a second): below that a
 * record leaves in the iteration that made it. */
#define CONN_PEER_WINDOW_NS  10000000u
#define CONN_PEER_BUSY_BYTES 5000u
/* The reason a connection closes with when the other end closed it and
 * everything owed to it was written. */
#define CONN_CLOSED_BY_PEER "closed by the other end"

enum conn_kind {
    CONN_CLIENT,
    CONN_PEER_IN, /* a neighbour dialled us */
    CONN_PEER_OUT /* we dialled a neighbour */
};

struct conn;
struct conn_slot;

/* One line from the peer; the slice is valid during the call only. Return
 * 0 to go on, 1 to stop reading for now. */
typedef int conn_line_cb(struct conn *c, const char *line, size_t len);
/* The connection is closing (called once, from conn_close). */
typedef void conn_close_cb(struct conn *c, const char *reason);

struct conn_pool {
    uv_loop_t *loop;
    struct conn *all; /* open connections */
    struct conn *dirty;
    struct conn *resume;
    size_t count;
    unsigned long next_id;
    size_t max_line;
    size_t max_output;
    unsigned max_pending; /* replies waiting per connection before pausing */
    size_t clients;       /* open client connections */
    /* Called after paused readers ran their lines and before anything is
     * written (the write-ahead log goes first). */
    void (*before_write)(void *arg);
    void *before_write_arg;
    /* Peer-link batching: a busy link (CONN_PEER_BUSY_BYTES) flushed less
     * than peer_hold_ns ago keeps what is new (up to CONN_PEER_BATCH
     * bytes) for a later iteration, so a busy server wakes each neighbour
     * a few thousand times a second, not once per iteration, while a
     * quiet one sends at once. 0: every iteration. The timer bounds the
     * wait when the loop would otherwise sleep. */
    uint64_t peer_hold_ns;
    struct conn *held;      /* peer links keeping output back */
    struct conn *throttled; /* read their share of this turn; go on next */
    uint64_t turn;          /* conn_pool_flush calls: one per loop turn */
    uv_timer_t hold_timer;
    char read_buf[CONN_READ_BUF];
};

struct conn {
    uv_tcp_t tcp;
    struct conn_pool *pool;
    enum conn_kind kind;
    unsigned long id;
    int refs;
    unsigned closing : 1;
    unsigned eof : 1;
    unsigned writing : 1;
    unsigned reading : 1;
    unsigned dirty : 1;
    unsigned paused : 1;
    unsigned on_resume : 1;
    unsigned throttled : 1;
    /* Reading never pauses for this connection's own output (peer links:
     * what they send is either a flood from elsewhere or a catch-up that
     * produces only when there is room; pausing could make two ends wait
     * for each other). max_output still cuts it off. */
    unsigned no_output_pause : 1;
    /* At most this many bytes are read per loop turn (0: no limit), so
     * that one busy connection cannot make a turn long. */
    size_t turn_read_max;
    size_t turn_read;
    uint64_t turn_id;
    struct linebuf in;
    struct dynbuf out;
    size_t write_len; /* bytes in the uv_write in flight */
    struct conn_slot *head, *tail;
    unsigned holds; /* slots still waiting */
    uint64_t opened_ms;
    uint64_t last_read_ms;
    uint64_t last_write_ms;    /* the kernel last took bytes */
    uint64_t partial_since_ms; /* an incomplete line waits since; 0: none */
    uint64_t flushed_ns;       /* peer links: last flush (uv_hrtime) */
    uint64_t window_ns;        /* start of the current 10 ms window */
    size_t window_bytes;       /* flushed in it */
    size_t last_window_bytes;  /* in the one before (0 if idle since) */
    size_t queued;             /* bytes in slots */
    size_t max_output;         /* close past this many bytes waiting */
    conn_line_cb *on_line;
    conn_close_cb *on_close;
    /* Called when out is about to be written; it may take bytes out of
     * it with conn_take_back (peer links drop copies the neighbour sent
     * first). */
    void (*prepare_out)(struct conn *c);
    /* A peer link inside TLS (conn_start_tls): lines come from decrypted
     * records, out is sealed into records in wire when it is written. */
    struct tls_conn *tls;
    struct dynbuf wire;
    /* The TLS handshake completed; nothing was read or written before. */
    void (*on_secure)(struct conn *c);
    uint64_t flushes; /* times out was handed to the kernel */
    /* Bytes the kernel gave and took (TLS records with their overhead),
     * for the server's status. */
    uint64_t bytes_read, bytes_written;
    void *data; /* the owner's */
    struct conn *prev, *next;
    struct conn *dirty_next, *resume_next, *throttled_next;
    char addr[64]; /* the other end, for logs */
};

void conn_pool_init(struct conn_pool *pool, uv_loop_t *loop, size_t max_line,
                    size_t max_output, unsigned max_pending);
/* New limits (a reload of the configuration): every connection opened
 * from now on takes them, and so do the open client connections (a line
 * longer than max_line, or more output than max_output, closes them as
 * it would a new one; a WHATSAT past max_pending waits). Open peer links
 * take a longer max_line, never a shorter one. */
void conn_pool_set_limits(struct conn_pool *pool, size_t max_line,
                          size_t max_output, unsigned max_pending);
/* Resumes paused readers, then writes what is buffered: peer links first,
 * then clients. Called once per loop iteration. */
void conn_pool_flush(struct conn_pool *pool);
/* Closes every connection, then the pool's own timer; what is buffered
 * gets one last flush, held peer output included. */
void conn_pool_close_all(struct conn_pool *pool, const char *reason);

/* A new connection with an initialized, unconnected handle (one reference,
 * the socket's). NULL when memory runs out. */
struct conn *conn_new(struct conn_pool *pool, enum conn_kind kind);
/* Starts reading once the handle is connected. Returns 0 or a uv error. */
int conn_start(struct conn *c);
/* Runs the connection inside TLS: takes t (freed with the connection),
 * starts the handshake (the dialler's first flight leaves at the next
 * flush) and calls on_secure once it completes. Before that nothing in
 * out is sent and no line is read. Call before conn_start or right after
 * it, from the same loop turn. */
void conn_start_tls(struct conn *c, struct tls_conn *t,
                    void (*on_secure)(struct conn *c));

void conn_ref(struct conn *c);
void conn_unref(struct conn *c);

/* Queues bytes after every earlier reply. Over the output limit the
 * connection is closed. */
void conn_write(struct conn *c, const char *data, size_t len);
/* conn_write of data and then "\n". */
void conn_write_line(struct conn *c, const char *data, size_t len);

/* conn_write_line, and where the line went: *off is its offset in out,
 * valid until out is next written (flushes changes), or SIZE_MAX when it
 * waits behind a held reply or was not queued. */
void conn_write_line_at(struct conn *c, const char *data, size_t len,
                        size_t *off);
/* From prepare_out only: takes the n ranges r of out (offsets as
 * conn_write_line_at gave them; ascending, disjoint) back, unsent. */
void conn_take_back(struct conn *c, const struct dynbuf_range *r, size_t n);

/* Reserves the place of a reply that comes later. Returns NULL when memory
 * runs out. */
struct conn_slot *conn_hold(struct conn *c);
/* Adds bytes to a held reply. */
void conn_slot_write(struct conn *c, struct conn_slot *s, const char *data,
                     size_t len);
/* The held reply is complete: it leaves once every earlier one has. Safe on
 * a closing connection (the bytes are dropped). */
void conn_release(struct conn *c, struct conn_slot *s);

/* Closes now (idempotent); the reason goes to the log. */
void conn_close(struct conn *c, const char *reason);

/* Bytes buffered and not yet taken by the kernel. */
size_t conn_pending(const struct conn *c);

#endif
