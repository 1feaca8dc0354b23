/* fileio: blocking file work that the servers and the supervisor share:
 * writes, and the checks that keep their files out of others' reach. */
#ifndef HERD_FILEIO_H
#define HERD_FILEIO_H

#include <stddef.h>
#include <sys/types.h>

/* Writes all len bytes to fd, retrying after EINTR and short writes.
 * Returns 0, or -1 with errno set. */
int fileio_write_all(int fd, const void *p, size_t len);

/* fsyncs the directory dir, so that a rename in it reaches the disk.
 * Best effort: nothing is returned. */
void fileio_sync_dir(const char *dir);

/* Room for the reason a path is refused (one line, no newline). */
#define FILEIO_ERR_MAX 256

/* Whether path (a symbolic link to it is followed) is a directory owned by
 * the effective uid and not writable by group or others (mode & 022): a
 * directory whose files no one else can plant, replace or remove. Returns
 * 0, or -1 with the reason in err ("writable by group or others (mode
 * 0777)"). */
int fileio_check_private_dir(const char *path, char *err, size_t cap);

/* mkdir -p path, each directory it creates with mode 0700 (existing ones
 * are left as they are), then fileio_check_private_dir(path). Returns 0 or
 * -1 with the reason in err. */
int fileio_make_private_dir(const char *path, char *err, size_t cap);

/* Opens path (flags: O_RDONLY, O_WRONLY or O_RDWR, with O_APPEND, O_CREAT,
 * O_EXCL, O_TRUNC as wanted), never through a symbolic link: O_NOFOLLOW and
 * O_CLOEXEC are always added. With O_CREAT, an existing file is opened and
 * a missing one is created with O_EXCL and mode; with O_EXCL too, only a
 * new file will do. What is opened must be a regular file (a FIFO is
 * refused without blocking). Returns the fd, or -1 with errno: ELOOP when
 * path is a symbolic link, EINVAL when it is not a regular file
 * (fileio_strerror says so), EEXIST for O_EXCL and a file already there. */
int fileio_open(const char *path, int flags, mode_t mode);

struct dynbuf;

/* Reads fd into b until end of file, an error, b's bound, or (timeout_ms
 * >= 0) a wait for data longer than timeout_ms; EINTR is retried. What was
 * read stays in b either way. */
void fileio_read_to_end(int fd, struct dynbuf *b, int timeout_ms);

/* Takes a write lock on the whole of fd's file without waiting (fcntl
 * F_SETLK: the kernel drops it when the process ends, however it ends).
 * Returns 0, or -errno (EAGAIN or EACCES: another process holds it). */
int fileio_lock(int fd);

/* strerror for fileio_open's errors: ELOOP reads "is a symbolic link",
 * EINVAL "is not a regular file". */
const char *fileio_strerror(int e);

/* Opens a secret for reading: not through a symbolic link, a regular file,
 * owned by the effective uid, no permission for group or others
 * (mode & 077 == 0). A systemd credential (a file directly in
 * $CREDENTIALS_DIRECTORY) may also be root's and readable by the group bits
 * (an ACL's mask: systemd gives this user alone read access), never
 * writable by them nor open to others (mode & 027 == 0). Returns the fd
 * (close-on-exec), or -1 with the reason in err. */
int fileio_open_secret(const char *path, char *err, size_t cap);

#endif
