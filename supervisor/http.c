#include "http.h"

int http_print_url(struct herd *h, int argc, char **argv)
{
    (void)h;
    (void)argc;
    (void)argv;
    return 1;
}
