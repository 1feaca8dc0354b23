#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dynbuf.h"

int fileio_write_all(int fd, const void *p, size_t len)
{
    const char *b = p;
    while (len > 0) {
        ssize_t n = write(fd, b, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0) {
            errno = EIO;
            return -1;
        }
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

void fileio_read_to_end(int fd, struct dynbuf *b, int timeout_ms)
{
    struct pollfd pfd = {fd, POLLIN, 0};
    for (;;) {
        if (timeout_ms >= 0) {
            int r = poll(&pfd, 1, timeout_ms);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                return;
        }
        char *space = dynbuf_reserve(b, 4096);
        if (space == NULL)
            return;
        ssize_t n = read(fd, space, 4096);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        b->len += (size_t)n;
    }
}

int fileio_lock(int fd)
{
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    return fcntl(fd, F_SETLK, &fl) == 0 ? 0 : -errno;
}

void fileio_sync_dir(const char *dir)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
}

int fileio_check_private_dir(const char *path, char *err, size_t cap)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, cap, "%s", strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, cap, "not a directory");
        return -1;
    }
    uid_t me = geteuid();
    if (st.st_uid != me) {
        snprintf(err, cap, "owned by uid %lu, not by this user (uid %lu)",
                 (unsigned long)st.st_uid, (unsigned long)me);
        return -1;
    }
    if ((st.st_mode & 022) != 0) {
        snprintf(err, cap, "writable by %s (mode %04o; chmod go-w it)",
                 (st.st_mode & 022) == 022 ? "group and others"
                 : (st.st_mode & 002) != 0 ? "others"
                                           : "group",
                 (unsigned)(st.st_mode & 07777));
        return -1;
    }
    return 0;
}

int fileio_make_private_dir(const char *path, char *err, size_t cap)
{
    char tmp[4096];
    size_t n = strlen(path);
    if (n == 0) {
        snprintf(err, cap, "empty path");
        return -1;
    }
    if (n >= sizeof tmp) {
        snprintf(err, cap, "path too long");
        return -1;
    }
    memcpy(tmp, path, n + 1);
    /* Parents first; each one made here is private from the start, so no
     * one can plant anything in it before the check below. */
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0700) != 0 && errno != EEXIST) {
            snprintf(err, cap, "cannot create %s: %s", tmp, strerror(errno));
            return -1;
        }
        *p = '/';
    }
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST) {
        snprintf(err, cap, "cannot create it: %s", strerror(errno));
        return -1;
    }
    return fileio_check_private_dir(path, err, cap);
}

/* Closes fd and fails with e, errno preserved. */
static int close_fail(int fd, int e)
{
    close(fd);
    errno = e;
    return -1;
}

/* A FIFO planted in place of a file would block open(2): the file is
 * opened non-blocking, checked to be regular, then made blocking. */
static int regular_only(int fd, int flags)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return close_fail(fd, errno);
    if (!S_ISREG(st.st_mode))
        return close_fail(fd, EINVAL);
    if ((flags & O_NONBLOCK) == 0) {
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0)
            return close_fail(fd, errno);
    }
    return fd;
}

int fileio_open(const char *path, int flags, mode_t mode)
{
    int base =
        (flags & ~(O_CREAT | O_EXCL)) | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
    int fd;
    if ((flags & O_EXCL) != 0) {
        fd = open(path, base | O_CREAT | O_EXCL, mode);
    } else {
        /* Open what is there, or create it new: O_CREAT without O_EXCL
         * would follow a dangling link planted between the two. */
        for (int tries = 0;; tries++) {
            fd = open(path, base);
            if (fd >= 0 || errno != ENOENT || (flags & O_CREAT) == 0)
                break;
            fd = open(path, base | O_CREAT | O_EXCL, mode);
            if (fd >= 0 || errno != EEXIST || tries == 8)
                break;
        }
    }
    if (fd < 0) {
        /* ENXIO: a FIFO without a reader, a socket or a device without
         * its driver: not a regular file either way. */
        if (errno == ENXIO)
            errno = EINVAL;
        return -1;
    }
    return regular_only(fd, flags);
}

const char *fileio_strerror(int e)
{
    if (e == ELOOP)
        return "is a symbolic link";
    if (e == EINVAL)
        return "is not a regular file";
    return strerror(e);
}

/* Whether path names a file directly in $CREDENTIALS_DIRECTORY: a
 * credential systemd gave this service (LoadCredential=). */
static int is_credential(const char *path)
{
    const char *dir = getenv("CREDENTIALS_DIRECTORY");
    if (dir == NULL || dir[0] != '/')
        return 0;
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    return strncmp(path, dir, n) == 0 && path[n] == '/' &&
           path[n + 1] != '\0' && strchr(path + n + 1, '/') == NULL;
}

int fileio_open_secret(const char *path, char *err, size_t cap)
{
    int fd = fileio_open(path, O_RDONLY, 0);
    if (fd < 0) {
        snprintf(err, cap, "%s", fileio_strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(err, cap, "%s", strerror(errno));
        return close_fail(fd, errno);
    }
    /* systemd makes a credential read-only, in a directory only this
     * service reaches; where the file system has ACLs (tmpfs: systemd 255
     * and later on Linux 6.4 and later) the file stays root's, readable by
     * this user through an ACL entry, whose mask shows as the group's
     * bits. */
    int cred = is_credential(path);
    uid_t me = geteuid();
    if (st.st_uid != me && !(cred && st.st_uid == 0)) {
        snprintf(err, cap, "owned by uid %lu, not by this user (uid %lu)",
                 (unsigned long)st.st_uid, (unsigned long)me);
        return close_fail(fd, EPERM);
    }
    if ((st.st_mode & (cred ? 027 : 077)) != 0) {
        snprintf(err, cap, "open to group or others (mode %04o; chmod 600 it)",
                 (unsigned)(st.st_mode & 07777));
        return close_fail(fd, EPERM);
    }
    return fd;
}
