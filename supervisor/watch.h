/* watch: the supervisor's view of its servers' control sockets. */
#ifndef HERD_WATCH_H
#define HERD_WATCH_H

#endif
