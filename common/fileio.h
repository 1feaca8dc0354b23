/* fileio: blocking file writes that the servers and the supervisor share. */
#ifndef HERD_FILEIO_H
#define HERD_FILEIO_H

#include <stddef.h>

/* Writes all len bytes to fd, retrying after EINTR and short writes.
 * Returns 0, or -1 with errno set. */
int fileio_write_all(int fd, const void *p, size_t len);

/* fsyncs the directory dir, so that a rename in it reaches the disk.
 * Best effort: nothing is returned. */
void fileio_sync_dir(const char *dir);

#endif
