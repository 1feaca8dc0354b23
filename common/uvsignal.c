#include "uvsignal.h"

#include <signal.h>

void uvsignal_close_ignoring(uv_signal_t *h, int signum)
{
    sigset_t one;
    sigset_t was;
    sigemptyset(&one);
    sigaddset(&one, signum);
    pthread_sigmask(SIG_BLOCK, &one, &was);
    uv_close((uv_handle_t *)h, NULL);
    signal(signum, SIG_IGN);
    pthread_sigmask(SIG_SETMASK, &was, NULL);
}
