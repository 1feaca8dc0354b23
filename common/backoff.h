/* backoff: the restart policy, pure.
 *
 * After an exit nobody asked for, a server is restarted after a delay that
 * starts short and doubles up to a cap; a run that lasted past the stable
 * uptime resets the delay. Too many restarts within a window (a crash loop),
 * or an exit code that says restarting cannot help (bad usage or
 * configuration), gives up.
 */
#ifndef HERD_BACKOFF_H
#define HERD_BACKOFF_H

#include <stdint.h>

#define BACKOFF_LIMIT_MAX 1000

struct backoff_policy {
    uint64_t first_ms;  /* first delay (default 100) */
    uint64_t max_ms;    /* cap (default 5000) */
    uint64_t stable_ms; /* uptime that resets the delay (default 10000) */
    unsigned limit;     /* restarts allowed within window_ms (default 10) */
    uint64_t window_ms; /* (default 60000) */
};

enum backoff_verdict {
    BACKOFF_RESTART = 0,   /* restart after *delay_ms */
    BACKOFF_PERMANENT = 1, /* exit code says it cannot work: give up */
    BACKOFF_CRASH_LOOP = 2 /* too many restarts in the window: give up */
};

struct backoff {
    uint64_t next_ms;
    uint64_t *times; /* ring of the last `limit` restart times */
    unsigned count;
    unsigned head;
};

void backoff_policy_default(struct backoff_policy *p);
/* Returns 0 or -1 when memory runs out. */
int backoff_init(struct backoff *b, const struct backoff_policy *p);
void backoff_free(struct backoff *b);
/* Forgets the history (an operator's start after a failure). */
void backoff_reset(struct backoff *b, const struct backoff_policy *p);

/* An unexpected exit at now_ms after uptime_ms of running. exit_code is the
 * process's exit status, or -1 when a signal ended it. */
enum backoff_verdict backoff_on_exit(struct backoff *b,
                                     const struct backoff_policy *p,
                                     uint64_t now_ms, uint64_t uptime_ms,
                                     int exit_code, uint64_t *delay_ms);

/* Whether an exit code means "do not restart" (64 usage, 78 config). */
int backoff_permanent_code(int exit_code);

/* The delay after delay: doubled, at most max_ms (the doubling of both the
 * supervisor's restarts and the peer links' redials). */
uint64_t backoff_double(uint64_t delay_ms, uint64_t max_ms);

#endif
