/* Process exit codes shared by herd and herd-server (sysexits.h values).
 *
 * The supervisor treats HERD_EXIT_USAGE and HERD_EXIT_CONFIG as permanent:
 * restarting a server that exits with them cannot help, so it is marked
 * failed instead.
 */
#ifndef HERD_EXIT_CODES_H
#define HERD_EXIT_CODES_H

enum herd_exit {
    HERD_EXIT_OK = 0,
    HERD_EXIT_FAILURE = 1,
    HERD_EXIT_USAGE = 64,    /* EX_USAGE: bad command line */
    HERD_EXIT_SOFTWARE = 70, /* EX_SOFTWARE: internal error */
    HERD_EXIT_OSERR = 71,    /* EX_OSERR: out of memory, fork failed, ... */
    HERD_EXIT_CONFIG = 78    /* EX_CONFIG: unusable configuration or address */
};

#endif
