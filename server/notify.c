#include "notify.h"

#include <systemd/sd-daemon.h>

int notify_ready(const char *status)
{
    return sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

int notify_stopping(const char *why)
{
    return sd_notifyf(0, "STOPPING=1\nSTATUS=stopping (%s)", why);
}
