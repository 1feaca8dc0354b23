/* herd-bench's parts (see herd_bench.c for what it does): the state of a
 * run, shared by the load mode (herd_bench.c), the propagation mode
 * (bench_prop.c), the idle mode (bench_idle.c) and the CPU accounting
 * (bench_cpu.c). */
#ifndef HERD_BENCH_H
#define HERD_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#define MAX_PORTS    16
#define MAX_PIPELINE 1024
#define MAX_PIDS     16
/* Idle mode's connects in flight at once: more only overflows the
 * servers' listen backlogs, and a dropped SYN costs a second. */
#define IDLE_CONNECTING 256
/* How long propagation mode waits past its planned end (and for its
 * connections at the start) before giving up. */
#define PROP_GRACE_NS (10 * 1000000000ull)

enum mode { MODE_LOAD, MODE_PROPAGATION, MODE_IDLE };

struct bench;

struct bconn {
    uv_tcp_t tcp;
    uv_connect_t connect;
    struct bench *b;
    int port_index;
    uint64_t sent_at[MAX_PIPELINE]; /* ring of send times */
    unsigned head, outstanding;
    unsigned char kinds[MAX_PIPELINE]; /* 1: WHATSAT */
    char *in;
    size_t in_len, in_cap;
    int closed;
    int seen; /* propagation: this observer has the current update */
};

/* Idle mode's connections: no rings, since there may be tens of
 * thousands. */
struct iconn {
    uv_tcp_t tcp;
    uv_connect_t connect;
    struct bench *b;
    int port_index;
    int closed;
};

/* Propagation mode: the update in flight and the pacing. */
struct prop {
    uv_timer_t timer;
    uint64_t rate;
    uint64_t planned;    /* updates to send at most */
    uint64_t stop_at;    /* hrtime: no new update from then (0: none) */
    uint64_t give_up_at; /* hrtime: fail if not finished by then */
    uint64_t sent, completed, probes;
    int stage; /* 0 idle, 1 IAMAT sent, 2 probing */
    unsigned id;
    char time[32]; /* the update's time text */
    size_t time_len;
    char probe[96]; /* the WHATSAT line for it */
    size_t probe_len;
    uint64_t t0; /* hrtime of the target's reply */
    uint64_t last_seen;
    int pending; /* observers that have not seen it */
};

struct bench {
    uv_loop_t *loop;
    enum mode mode;
    char host[64];
    int ports[MAX_PORTS];
    int nports;
    int conns;
    int pipeline;
    uint64_t requests; /* to send in all */
    uint64_t sent, done, errors;
    uint64_t duration_ns; /* 0: none */
    uint64_t stop_at;     /* hrtime after which nothing new is sent */
    int whatsat_pct;
    unsigned clients;
    int spread;
    int redis;
    const char *radius;
    int bound;
    uint64_t *lat; /* latency of each reply (or update), ns */
    uint64_t nlat, lat_cap;
    uint64_t start_ns, end_ns;
    uint64_t base_ns; /* wall clock at start: client times count from it */
    struct bconn *c;
    int connected;
    int finished;
    int failed;
    uint64_t seq;
    unsigned rng;
    /* --pids */
    int pids[MAX_PIDS];
    int npids;
    uint64_t pid_cpu[MAX_PIDS]; /* ns: at the start, then the difference */
    uint64_t self_cpu;
    int cpu_ok;
    struct prop prop;
    /* --idle */
    struct iconn *ic;
    int idle_next, connecting;
    uint64_t hold_ms;
    uv_timer_t hold;
    uv_signal_t sigint, sigterm;
};

/* herd_bench.c */
uint64_t now_ns(void);
/* The client time of request (or update) seq: SEC.NNNNNNNNN. */
unsigned long long time_sec(const struct bench *b, uint64_t seq);
unsigned time_nsec(const struct bench *b, uint64_t seq);
/* Writes now what the socket takes, and queues a copy of the rest. */
void send_bytes(struct bconn *c, const char *buf, size_t len);
void record_lat(struct bench *b, uint64_t t);
void close_conns(struct bench *b);
void client_location(const struct bench *b, unsigned id, char *out, size_t cap);
/* The length of the complete reply at p, or 0 if it has not all come. */
size_t reply_len(const char *p, size_t left, int whatsat);

/* bench_cpu.c: --pids. read_pids reads every pid's CPU time into now[]
 * (and says which it could not); cpu_start and cpu_end bracket a run;
 * print_cpu prints the cpu line for n requests or updates. */
int read_pids(const struct bench *b, uint64_t *now);
void cpu_start(struct bench *b);
void cpu_end(struct bench *b);
void print_cpu(const struct bench *b, uint64_t n);

/* bench_prop.c: the propagation mode's read callback, its pacing timer
 * (every millisecond from before the connections are up) and its start
 * once they are. */
void prop_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
void prop_on_timer(uv_timer_t *t);
void prop_start(struct bench *b);

/* bench_idle.c: connects the idle mode's connections; the loop then runs
 * until they are closed. */
void idle_start(struct bench *b);

#endif
