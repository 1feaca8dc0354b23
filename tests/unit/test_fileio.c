/* fileio: private directories (made 0700, refused when another user owns
 * them or group or others may write them), files never opened through a
 * symbolic link, secrets that must be the user's alone (or a systemd
 * credential's). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fileio.h"
#include "test.h"

static char base[64];

/* Removes the test's directory; at exit too, a failed CHECK included. */
static void remove_base(void)
{
    if (base[0] == '\0')
        return;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", base);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", base);
    base[0] = '\0';
}

/* A fresh private temporary directory (mkdtemp: 0700, ours). */
static void fresh(void)
{
    static int registered;
    if (!registered) {
        registered = 1;
        atexit(remove_base);
    }
    remove_base();
    snprintf(base, sizeof base, "/tmp/herd-fileio-test-XXXXXX");
    CHECK(mkdtemp(base) != NULL);
}

static const char *at(const char *name)
{
    static char path[4][256];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, sizeof path[0], "%s/%s", base, name);
    return p;
}

static unsigned mode_of(const char *path)
{
    struct stat st;
    CHECK(lstat(path, &st) == 0);
    return (unsigned)(st.st_mode & 07777);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    CHECK(fd >= 0);
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    CHECK(close(fd) == 0);
    CHECK(chmod(path, mode) == 0);
}

static void read_file(const char *path, char *out, size_t cap)
{
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0);
    ssize_t n = read(fd, out, cap - 1);
    CHECK(n >= 0);
    out[n] = '\0';
    close(fd);
}

static void test_make_creates_0700(void)
{
    fresh();
    char err[FILEIO_ERR_MAX] = "";
    mode_t old = umask(0);
    int rc = fileio_make_private_dir(at("a/b/c"), err, sizeof err);
    umask(old);
    CHECK_EQ_STR(err, "");
    CHECK_EQ_INT(rc, 0);
    /* Every component it made, not only the last. */
    CHECK_EQ_INT(mode_of(at("a")), 0700);
    CHECK_EQ_INT(mode_of(at("a/b")), 0700);
    CHECK_EQ_INT(mode_of(at("a/b/c")), 0700);
    /* Again: it exists, and is still fine. */
    CHECK_EQ_INT(fileio_make_private_dir(at("a/b/c"), err, sizeof err), 0);
    /* A trailing slash is the same directory. */
    CHECK_EQ_INT(fileio_make_private_dir(at("a/b/c/"), err, sizeof err), 0);
}

static void test_existing_0755_accepted(void)
{
    fresh();
    char err[FILEIO_ERR_MAX];
    CHECK(mkdir(at("d"), 0755) == 0);
    CHECK(chmod(at("d"), 0755) == 0);
    CHECK_EQ_INT(fileio_make_private_dir(at("d"), err, sizeof err), 0);
    CHECK_EQ_INT(mode_of(at("d")), 0755); /* left as it was */
    CHECK_EQ_INT(fileio_check_private_dir(at("d"), err, sizeof err), 0);
}

static void test_writable_refused(void)
{
    fresh();
    static const struct {
        unsigned mode;
        const char *why;
    } cases[] = {
        {0777, "writable by group and others (mode 0777; chmod go-w it)"},
        {0770, "writable by group (mode 0770; chmod go-w it)"},
        {0703, "writable by others (mode 0703; chmod go-w it)"},
        {01777, "writable by group and others (mode 1777; chmod go-w it)"},
    };
    CHECK(mkdir(at("d"), 0700) == 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[FILEIO_ERR_MAX] = "";
        CHECK(chmod(at("d"), cases[i].mode) == 0);
        CHECK_EQ_INT(fileio_make_private_dir(at("d"), err, sizeof err), -1);
        CHECK_EQ_STR(err, cases[i].why);
        CHECK_EQ_INT(fileio_check_private_dir(at("d"), err, sizeof err), -1);
        /* A directory made under one that is open to others is private
         * itself: only the directory named is judged. */
        CHECK_EQ_INT(fileio_make_private_dir(at("d/sub"), err, sizeof err), 0);
        CHECK(rmdir(at("d/sub")) == 0);
    }
}

static void test_other_owner_refused(void)
{
    if (geteuid() != 0) {
        printf("# skipped: chown needs root\n");
        return;
    }
    fresh();
    char err[FILEIO_ERR_MAX] = "";
    CHECK(mkdir(at("d"), 0700) == 0);
    CHECK(chown(at("d"), 65534, (gid_t)-1) == 0);
    CHECK_EQ_INT(fileio_make_private_dir(at("d"), err, sizeof err), -1);
    CHECK_EQ_STR(err, "owned by uid 65534, not by this user (uid 0)");
}

static void test_not_a_directory(void)
{
    fresh();
    char err[FILEIO_ERR_MAX] = "";
    write_file(at("f"), "x", 0600);
    CHECK_EQ_INT(fileio_make_private_dir(at("f"), err, sizeof err), -1);
    CHECK_EQ_STR(err, "not a directory");
    /* Below a file: cannot be made. */
    CHECK_EQ_INT(fileio_make_private_dir(at("f/sub"), err, sizeof err), -1);
    CHECK(strstr(err, "cannot create") != NULL);
    CHECK_EQ_INT(fileio_make_private_dir("", err, sizeof err), -1);
}

static void test_symlinked_directory_is_judged_by_its_target(void)
{
    fresh();
    char err[FILEIO_ERR_MAX] = "";
    CHECK(mkdir(at("real"), 0700) == 0);
    CHECK(symlink(at("real"), at("link")) == 0);
    CHECK_EQ_INT(fileio_make_private_dir(at("link"), err, sizeof err), 0);
    CHECK(chmod(at("real"), 0777) == 0);
    CHECK_EQ_INT(fileio_make_private_dir(at("link"), err, sizeof err), -1);
    CHECK(strstr(err, "writable by group and others") != NULL);
}

static void test_open_creates_0600_exclusively(void)
{
    fresh();
    mode_t old = umask(0);
    int fd = fileio_open(at("f"), O_RDWR | O_CREAT | O_APPEND, 0600);
    umask(old);
    CHECK(fd >= 0);
    CHECK_EQ_INT(mode_of(at("f")), 0600);
    CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    CHECK_EQ_INT(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    CHECK(write(fd, "one\n", 4) == 4);
    close(fd);
    /* An existing file is opened, not replaced. */
    fd = fileio_open(at("f"), O_RDWR | O_CREAT | O_APPEND, 0600);
    CHECK(fd >= 0);
    CHECK(write(fd, "two\n", 4) == 4);
    close(fd);
    char buf[64];
    read_file(at("f"), buf, sizeof buf);
    CHECK_EQ_STR(buf, "one\ntwo\n");
    /* O_EXCL: only a new file. */
    errno = 0;
    CHECK_EQ_INT(fileio_open(at("f"), O_WRONLY | O_CREAT | O_EXCL, 0600), -1);
    CHECK_EQ_INT(errno, EEXIST);
    /* Without O_CREAT a missing file is ENOENT. */
    errno = 0;
    CHECK_EQ_INT(fileio_open(at("none"), O_RDONLY, 0), -1);
    CHECK_EQ_INT(errno, ENOENT);
}

static void test_open_refuses_symlinks(void)
{
    fresh();
    write_file(at("victim"), "precious\n", 0644);
    CHECK(symlink(at("victim"), at("link")) == 0);
    static const int flags[] = {
        O_RDONLY,
        O_RDWR | O_CREAT | O_APPEND,
        O_WRONLY | O_CREAT | O_TRUNC,
        O_WRONLY | O_CREAT | O_EXCL,
    };
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        errno = 0;
        CHECK_EQ_INT(fileio_open(at("link"), flags[i], 0600), -1);
        CHECK(errno == ELOOP || errno == EEXIST);
    }
    errno = 0;
    CHECK_EQ_INT(fileio_open(at("link"), O_RDWR | O_CREAT, 0600), -1);
    CHECK_EQ_INT(errno, ELOOP);
    CHECK_EQ_STR(fileio_strerror(ELOOP), "is a symbolic link");
    char buf[64];
    read_file(at("victim"), buf, sizeof buf);
    CHECK_EQ_STR(buf, "precious\n");
    CHECK_EQ_INT(mode_of(at("victim")), 0644);
    /* A dangling link: its target is not created. */
    CHECK(symlink(at("target"), at("dangling")) == 0);
    errno = 0;
    CHECK_EQ_INT(fileio_open(at("dangling"), O_WRONLY | O_CREAT, 0600), -1);
    CHECK_EQ_INT(errno, ELOOP);
    CHECK(access(at("target"), F_OK) != 0);
}

static void test_open_refuses_what_is_not_regular(void)
{
    fresh();
    /* A FIFO would block a writer without a reader: refused at once. */
    CHECK(mkfifo(at("fifo"), 0600) == 0);
    errno = 0;
    CHECK_EQ_INT(fileio_open(at("fifo"), O_WRONLY | O_APPEND | O_CREAT, 0600),
                 -1);
    CHECK_EQ_INT(errno, EINVAL);
    CHECK_EQ_STR(fileio_strerror(EINVAL), "is not a regular file");
    CHECK(mkdir(at("dir"), 0700) == 0);
    CHECK_EQ_INT(fileio_open(at("dir"), O_RDONLY, 0), -1);
    CHECK_EQ_INT(errno, EINVAL);
    CHECK_EQ_INT(fileio_open(at("dir"), O_RDWR | O_CREAT, 0600), -1);
}

static void test_secret(void)
{
    fresh();
    char err[FILEIO_ERR_MAX] = "";
    write_file(at("secret"), "0123456789abcdef\n", 0600);
    int fd = fileio_open_secret(at("secret"), err, sizeof err);
    CHECK(fd >= 0);
    char buf[32];
    CHECK_EQ_INT(read(fd, buf, 4), 4);
    CHECK_EQ_MEM(buf, "0123", 4);
    close(fd);
    CHECK(chmod(at("secret"), 0400) == 0);
    fd = fileio_open_secret(at("secret"), err, sizeof err);
    CHECK(fd >= 0);
    close(fd);

    CHECK(chmod(at("secret"), 0644) == 0);
    CHECK_EQ_INT(fileio_open_secret(at("secret"), err, sizeof err), -1);
    CHECK_EQ_STR(err, "open to group or others (mode 0644; chmod 600 it)");
    CHECK(chmod(at("secret"), 0640) == 0);
    CHECK_EQ_INT(fileio_open_secret(at("secret"), err, sizeof err), -1);
    CHECK(chmod(at("secret"), 0601) == 0);
    CHECK_EQ_INT(fileio_open_secret(at("secret"), err, sizeof err), -1);

    CHECK(chmod(at("secret"), 0600) == 0);
    CHECK(symlink(at("secret"), at("link")) == 0);
    CHECK_EQ_INT(fileio_open_secret(at("link"), err, sizeof err), -1);
    CHECK_EQ_STR(err, "is a symbolic link");

    CHECK_EQ_INT(fileio_open_secret(at("none"), err, sizeof err), -1);
    CHECK_EQ_STR(err, strerror(ENOENT));
    CHECK(mkdir(at("dir"), 0700) == 0);
    CHECK_EQ_INT(fileio_open_secret(at("dir"), err, sizeof err), -1);
    CHECK_EQ_STR(err, "is not a regular file");

    if (geteuid() == 0) {
        CHECK(chown(at("secret"), 65534, (gid_t)-1) == 0);
        CHECK_EQ_INT(fileio_open_secret(at("secret"), err, sizeof err), -1);
        CHECK_EQ_STR(err, "owned by uid 65534, not by this user (uid 0)");
    }
}

/* fileio_open_secret(path) in a child run as uid and gid 65534, with
 * $CREDENTIALS_DIRECTORY set to cred_dir (NULL: unset): 0 opened, 1
 * refused, 2 the child could not become that user. */
static int open_secret_as_nobody(const char *path, const char *cred_dir)
{
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        if (cred_dir != NULL)
            setenv("CREDENTIALS_DIRECTORY", cred_dir, 1);
        else
            unsetenv("CREDENTIALS_DIRECTORY");
        if (setgid(65534) != 0 || setuid(65534) != 0)
            _exit(2);
        char err[FILEIO_ERR_MAX];
        int fd = fileio_open_secret(path, err, sizeof err);
        _exit(fd >= 0 ? 0 : 1);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* path made with text, mode, and owner uid:gid. */
static void owned_file(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
    write_file(path, "0123456789abcdef\n", mode);
    CHECK(chown(path, uid, gid) == 0);
}

/* A credential of systemd 255 and later on tmpfs: root's, mode 0440 (the
 * mask of the ACL entry that lets the service's user read it; here the
 * group lets it). Accepted in $CREDENTIALS_DIRECTORY only, and only so. */
static void test_systemd_credential(void)
{
    if (geteuid() != 0)
        return; /* another user is needed */
    fresh();
    CHECK(chmod(base, 0711) == 0);
    CHECK(mkdir(at("creds"), 0711) == 0);
    owned_file(at("creds/secret"), 0440, 0, 65534);
    CHECK_EQ_INT(open_secret_as_nobody(at("creds/secret"), NULL), 1);
    CHECK_EQ_INT(open_secret_as_nobody(at("creds/secret"), at("creds")), 0);
    char slash[300];
    snprintf(slash, sizeof slash, "%s/", at("creds"));
    CHECK_EQ_INT(open_secret_as_nobody(at("creds/secret"), slash), 0);
    /* Its own, 0400, as systemd 252 leaves it on ramfs: as any secret. */
    owned_file(at("creds/own"), 0400, 65534, 65534);
    CHECK_EQ_INT(open_secret_as_nobody(at("creds/own"), at("creds")), 0);
    CHECK_EQ_INT(open_secret_as_nobody(at("creds/own"), NULL), 0);

    /* Open to others, writable by the group, another user's, or not
     * directly in the directory: refused all the same. */
    CHECK(chmod(at("creds/secret"), 0444) == 0);
    CHECK_EQ_INT(open_secret_as_nobody(at("creds/secret"), at("creds")), 1);
    CHECK(chmod(at("creds/secret"), 0460) == 0);
    CHECK_EQ_INT(open_secret_as_nobody(at("creds/secret"), at("creds")), 1);
    owned_file(at("creds/other"), 0440, 1234, 65534);
    CHECK_EQ_INT(open_secret_as_nobody(at("creds/other"), at("creds")), 1);
    CHECK(mkdir(at("creds/sub"), 0711) == 0);
    owned_file(at("creds/sub/secret"), 0440, 0, 65534);
    CHECK_EQ_INT(open_secret_as_nobody(at("creds/sub/secret"), at("creds")), 1);
    owned_file(at("secret"), 0440, 0, 65534);
    CHECK_EQ_INT(open_secret_as_nobody(at("secret"), at("creds")), 1);
}

static const struct test tests[] = {
    {"make_creates_0700", test_make_creates_0700},
    {"existing_0755_accepted", test_existing_0755_accepted},
    {"writable_refused", test_writable_refused},
    {"other_owner_refused", test_other_owner_refused},
    {"not_a_directory", test_not_a_directory},
    {"symlinked_directory_is_judged_by_its_target",
     test_symlinked_directory_is_judged_by_its_target},
    {"open_creates_0600_exclusively", test_open_creates_0600_exclusively},
    {"open_refuses_symlinks", test_open_refuses_symlinks},
    {"open_refuses_what_is_not_regular", test_open_refuses_what_is_not_regular},
    {"secret", test_secret},
    {"systemd_credential", test_systemd_credential},
};

TEST_MAIN(tests)
