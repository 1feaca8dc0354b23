#include "metrics.h"

int metrics_render(json_t *view, struct dynbuf *out)
{
    (void)view;
    (void)out;
    return 0;
}
