/* Unit tests for common/log: escaping, the exact lines that
 * log_conn_data and log_msg write, the cut of long excerpts, the file's
 * mode, and rotation past the cap. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "test.h"

static void test_escape(void)
{
    char out[64];
    CHECK_EQ_INT(log_escape(out, sizeof out, "IAMAT a +1+1 2", 14), 14);
    CHECK_EQ_STR(out, "IAMAT a +1+1 2");
    CHECK_EQ_INT(log_escape(out, sizeof out, "a\\b\n\0\xff", 6), 18);
    CHECK_EQ_STR(out, "a\\x5cb\\x0a\\x00\\xff");
    /* Cut at the capacity, never inside an escape. */
    CHECK_EQ_INT(log_escape(out, 5, "abcdefgh", 8), 4);
    CHECK_EQ_STR(out, "abcd");
    CHECK_EQ_INT(log_escape(out, 6, "ab\x01zz", 5), 2);
    CHECK_EQ_STR(out, "ab");
    CHECK_EQ_INT(log_escape(out, 7, "ab\x01zz", 5), 6);
    CHECK_EQ_STR(out, "ab\\x01");
    CHECK_EQ_INT(log_escape(out, 1, "abc", 3), 0);
    CHECK_EQ_STR(out, "");
}

/* Byte by byte, the definition. */
static size_t reference_escape(char *out, const unsigned char *p, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
            out[o++] = (char)p[i];
        else
            o += (size_t)sprintf(out + o, "\\x%02x", p[i]);
    }
    out[o] = '\0';
    return o;
}

/* Every byte value at every place of a 24-byte run of plain text (the
 * word-at-a-time scan sees it in each lane and in the tail). */
static void test_escape_every_byte(void)
{
    for (int v = 0; v < 256; v++) {
        for (size_t at = 0; at < 24; at++) {
            unsigned char in[24];
            for (size_t i = 0; i < sizeof in; i++)
                in[i] = (unsigned char)('A' + i);
            in[at] = (unsigned char)v;
            char want[128], got[128];
            size_t wn = reference_escape(want, in, sizeof in);
            size_t gn =
                log_escape(got, sizeof got, (const char *)in, sizeof in);
            if (gn != wn || strcmp(got, want) != 0)
                fprintf(stderr, "byte 0x%02x at %zu\n", v, at);
            CHECK_EQ_INT(gn, wn);
            CHECK_EQ_STR(got, want);
        }
    }
}

/* Reads the file into buf (NUL terminated). */
static size_t slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return n;
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ " */
static void check_stamp(const char *p)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ ";
    for (size_t i = 0; i < sizeof shape - 1; i++) {
        if (shape[i] == 'd')
            CHECK(p[i] >= '0' && p[i] <= '9');
        else
            CHECK(p[i] == shape[i]);
    }
}

static void test_lines(void)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/herd-log-test-%d", (int)getpid());
    unlink(path);
    CHECK_EQ_INT(log_open(path), 0);
    log_conn_data(0, "<", "x", 1);
    log_conn_data(18446744073709551615UL, ">", "AT \x7f", 4);
    log_msg("stopping (%s)", "SIGTERM");
    log_data("conn 7 invalid (bad time): ", "IAMAT", 5);
    log_close();
    char buf[1024];
    slurp(path, buf, sizeof buf);
    unlink(path);
    const char *want[] = {
        "conn 0 < x",
        "conn 18446744073709551615 > AT \\x7f",
        "stopping (SIGTERM)",
        "conn 7 invalid (bad time): IAMAT",
    };
    char *p = buf;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char *nl = strchr(p, '\n');
        CHECK(nl != NULL);
        *nl = '\0';
        CHECK(strlen(p) > 25);
        check_stamp(p);
        CHECK_EQ_STR(p + 25, want[i]);
        p = nl + 1;
    }
    CHECK_EQ_STR(p, "");
}

/* ---- files in a private directory, removed at exit (also after a
 * failed CHECK, which exits) ---- */

static char dir[64];

static void remove_dir(void)
{
    static const char *const names[] = {"log", "log.1", "log.2", "link", "old"};
    char p[128];
    for (size_t i = 0; dir[0] && i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    if (dir[0])
        rmdir(dir);
}

/* DIR/name */
static const char *in_dir(const char *name)
{
    static char p[4][128];
    static int k;
    if (dir[0] == '\0') {
        snprintf(dir, sizeof dir, "/tmp/herd-log-test-XXXXXX");
        CHECK(mkdtemp(dir) != NULL);
        atexit(remove_dir);
    }
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static long long size_of(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    return (long long)st.st_size;
}

static int mode_of(const char *path)
{
    struct stat st;
    CHECK(stat(path, &st) == 0);
    return (int)(st.st_mode & 07777);
}

static void reset(void)
{
    log_close();
    log_set_max_bytes(0);
    unlink(in_dir("log"));
    unlink(in_dir("log.1"));
    unlink(in_dir("log.2"));
}

/* The one line in the log (without stamp and newline). */
static void check_only_line(const char *want)
{
    static char buf[8192];
    size_t n = slurp(in_dir("log"), buf, sizeof buf);
    CHECK(n > 26 && buf[n - 1] == '\n');
    buf[n - 1] = '\0';
    CHECK(strchr(buf, '\n') == NULL);
    check_stamp(buf);
    CHECK_EQ_STR(buf + 25, want);
}

/* Excerpts are cut at LOG_EXCERPT_MAX (log_data) or LOG_LINE_MAX
 * (log_conn_data) escaped bytes, never inside an escape, then
 * "... (N bytes)". */
static void test_cut(void)
{
    static char data[20000], want[4096];
    memset(data, 1, sizeof data);

    reset();
    CHECK_EQ_INT(log_open(in_dir("log")), 0);
    log_data("p: ", data, 10000);
    log_close();
    strcpy(want, "p: ");
    for (int i = 0; i < LOG_EXCERPT_MAX / 4; i++)
        strcat(want, "\\x01");
    strcat(want, "... (10000 bytes)");
    check_only_line(want);

    /* Exactly at the cap: whole, no mark. */
    reset();
    CHECK_EQ_INT(log_open(in_dir("log")), 0);
    log_data("p: ", data, LOG_EXCERPT_MAX / 4);
    log_close();
    want[3 + LOG_EXCERPT_MAX] = '\0';
    check_only_line(want);

    /* Printable bytes: the cap is in bytes of escaped text. */
    memset(data, 'a', sizeof data);
    reset();
    CHECK_EQ_INT(log_open(in_dir("log")), 0);
    log_data("p: ", data, LOG_EXCERPT_MAX);
    log_data("p: ", data, LOG_EXCERPT_MAX + 1);
    log_conn_data(7, "<", data, 20000);
    log_close();
    static char buf[8192];
    slurp(in_dir("log"), buf, sizeof buf);
    char *l1 = buf, *l2 = strchr(l1, '\n') + 1, *l3 = strchr(l2, '\n') + 1;
    l2[-1] = l3[-1] = '\0';
    *strchr(l3, '\n') = '\0';
    CHECK_EQ_INT(strlen(l1 + 25), 3 + LOG_EXCERPT_MAX);
    CHECK(strspn(l2 + 28, "a") == LOG_EXCERPT_MAX);
    CHECK_EQ_STR(l2 + 28 + LOG_EXCERPT_MAX, "... (257 bytes)");
    CHECK(strncmp(l3 + 25, "conn 7 < ", 9) == 0);
    CHECK(strspn(l3 + 34, "a") == LOG_LINE_MAX);
    CHECK_EQ_STR(l3 + 34 + LOG_LINE_MAX, "... (20000 bytes)");

    /* An escape that does not fit is left out whole. */
    memset(data, 'a', sizeof data);
    data[LOG_EXCERPT_MAX - 2] = '\n';
    reset();
    CHECK_EQ_INT(log_open(in_dir("log")), 0);
    log_data("", data, LOG_EXCERPT_MAX);
    log_close();
    memset(want, 'a', LOG_EXCERPT_MAX - 2);
    strcpy(want + LOG_EXCERPT_MAX - 2, "... (256 bytes)");
    check_only_line(want);
    reset();
}

/* Created 0600 whatever the umask; an existing 0644 file made 0600; a
 * symbolic link refused. */
static void test_mode(void)
{
    reset();
    mode_t old = umask(0);
    CHECK_EQ_INT(log_open(in_dir("log")), 0);
    umask(old);
    log_msg("x");
    log_close();
    CHECK_EQ_INT(mode_of(in_dir("log")), 0600);

    CHECK(chmod(in_dir("log"), 0644) == 0);
    CHECK_EQ_INT(log_open(in_dir("log")), 0);
    CHECK_EQ_INT(mode_of(in_dir("log")), 0600);
    log_close();

    unlink(in_dir("old"));
    FILE *f = fopen(in_dir("old"), "w");
    CHECK(f != NULL);
    fclose(f);
    unlink(in_dir("link"));
    CHECK(symlink(in_dir("old"), in_dir("link")) == 0);
    CHECK_EQ_INT(log_open(in_dir("link")), -ELOOP);
    CHECK_EQ_INT(size_of(in_dir("old")), 0);
    /* A dangling link: not created through either. */
    unlink(in_dir("old"));
    CHECK_EQ_INT(log_open(in_dir("link")), -ELOOP);
    CHECK_EQ_INT(size_of(in_dir("old")), -1);
    unlink(in_dir("link"));
    log_close();
    reset();
}

/* Past the cap: FILE -> FILE.1 (replacing the older one), a new FILE;
 * neither ever holds more than the cap; nothing else is made. */
static void test_rotation(void)
{
    reset();
    const long long cap = 4096;
    log_set_max_bytes((uint64_t)cap);
    CHECK_EQ_INT(log_open(in_dir("log")), 0);
    char line[100];
    memset(line, 'r', sizeof line);
    int rotations = 0;
    long long last = 0;
    for (int i = 0; i < 400; i++) {
        log_data("line: ", line, sizeof line);
        log_flush();
        long long now = size_of(in_dir("log"));
        CHECK(now > 0 && now <= cap);
        CHECK(size_of(in_dir("log.1")) <= cap);
        if (now < last)
            rotations++;
        last = now;
    }
    CHECK(rotations >= 10);
    CHECK_EQ_INT(mode_of(in_dir("log.1")), 0600);
    CHECK_EQ_INT(size_of(in_dir("log.2")), -1);
    log_close();
    static char buf[8192];
    slurp(in_dir("log"), buf, sizeof buf);
    CHECK(strstr(buf, "log rotated: the previous ") != NULL);

    /* The size of a file that was there counts: an existing file near the
     * cap is rotated at the first write. */
    reset();
    FILE *f = fopen(in_dir("log"), "w");
    CHECK(f != NULL);
    for (int i = 0; i < 40; i++)
        fputs("an older line of about a hundred bytes, written before the "
              "log was opened ........................\n",
              f);
    fclose(f);
    long long older = size_of(in_dir("log"));
    CHECK(older > cap - 200 && older <= cap);
    log_set_max_bytes((uint64_t)cap);
    CHECK_EQ_INT(log_open(in_dir("log")), 0);
    log_data("line: ", line, sizeof line);
    log_data("line: ", line, sizeof line);
    log_flush();
    CHECK_EQ_INT(size_of(in_dir("log.1")), older);
    CHECK(size_of(in_dir("log")) < 600);
    log_close();

    /* A cap of 0: never rotated. */
    reset();
    CHECK_EQ_INT(log_open(in_dir("log")), 0);
    for (int i = 0; i < 400; i++) {
        log_data("line: ", line, sizeof line);
        log_flush();
    }
    log_close();
    CHECK(size_of(in_dir("log")) > 400 * 100);
    CHECK_EQ_INT(size_of(in_dir("log.1")), -1);
    reset();
}

/* Lines flushed by the buffer's high-water mark (not by log_flush) are
 * counted and rotated too. */
static void test_rotation_buffered(void)
{
    reset();
    log_set_max_bytes(64 * 1024);
    CHECK_EQ_INT(log_open(in_dir("log")), 0);
    char line[200];
    memset(line, 'b', sizeof line);
    /* 400 KB through the buffer, flushed at its high-water mark only. */
    for (int i = 0; i < 2000; i++)
        log_data("line: ", line, sizeof line);
    log_flush();
    log_close();
    CHECK(size_of(in_dir("log.1")) > 0);
    CHECK_EQ_INT(size_of(in_dir("log.2")), -1);
    /* A single buffer larger than the cap goes whole into a new file. */
    CHECK(size_of(in_dir("log")) <= 256 * 1024 + 1024);
    CHECK(size_of(in_dir("log.1")) <= 256 * 1024 + 1024);
    reset();
}

static const struct test tests[] = {
    {"escape", test_escape},
    {"escape_every_byte", test_escape_every_byte},
    {"lines", test_lines},
    {"cut", test_cut},
    {"mode", test_mode},
    {"rotation", test_rotation},
    {"rotation_buffered", test_rotation_buffered},
};

TEST_MAIN(tests)
