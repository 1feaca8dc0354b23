#include "backoff.h"

#include <stdlib.h>

#include "exit_codes.h"

void backoff_policy_default(struct backoff_policy *p)
{
    p->first_ms = 100;
    p->max_ms = 5000;
    p->stable_ms = 10000;
    p->limit = 10;
    p->window_ms = 60000;
}

int backoff_init(struct backoff *b, const struct backoff_policy *p)
{
    unsigned n = p->limit ? p->limit : 1;
    b->times = calloc(n, sizeof *b->times);
    if (b->times == NULL)
        return -1;
    backoff_reset(b, p);
    return 0;
}

void backoff_free(struct backoff *b)
{
    free(b->times);
    b->times = NULL;
}

void backoff_reset(struct backoff *b, const struct backoff_policy *p)
{
    b->next_ms = p->first_ms;
    b->count = 0;
    b->head = 0;
}

int backoff_permanent_code(int exit_code)
{
    return exit_code == HERD_EXIT_USAGE || exit_code == HERD_EXIT_CONFIG;
}

enum backoff_verdict backoff_on_exit(struct backoff *b,
                                     const struct backoff_policy *p,
                                     uint64_t now_ms, uint64_t uptime_ms,
                                     int exit_code, uint64_t *delay_ms)
{
    if (backoff_permanent_code(exit_code))
        return BACKOFF_PERMANENT;
    if (uptime_ms >= p->stable_ms)
        b->next_ms = p->first_ms;
    /* Restarts still inside the window. */
    unsigned limit = p->limit ? p->limit : 1;
    unsigned recent = 0;
    for (unsigned i = 0; i < b->count; i++)
        if (now_ms - b->times[i] < p->window_ms)
            recent++;
    if (recent >= limit)
        return BACKOFF_CRASH_LOOP;
    b->times[b->head] = now_ms;
    b->head = (b->head + 1) % limit;
    if (b->count < limit)
        b->count++;
    *delay_ms = b->next_ms;
    b->next_ms = backoff_double(b->next_ms, p->max_ms);
    if (*delay_ms > p->max_ms)
        *delay_ms = p->max_ms;
    return BACKOFF_RESTART;
}

uint64_t backoff_double(uint64_t delay_ms, uint64_t max_ms)
{
    return delay_ms > max_ms / 2 ? max_ms : delay_ms * 2;
}
