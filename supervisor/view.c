#include "view.h"

json_t *view_build(const struct config *cfg, json_t *sup, json_t *const *st)
{
    (void)cfg;
    (void)sup;
    (void)st;
    return json_object();
}

void view_rates(json_t *cur, json_t *prev, uint64_t dt_ms)
{
    (void)cur;
    (void)prev;
    (void)dt_ms;
}
