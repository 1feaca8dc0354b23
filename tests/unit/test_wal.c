/* The write-ahead log: write, replay, torn tail, compaction, lock; and the
 * store digest that decides whether a link catch-up is needed. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "proto.h"
#include "store.h"
#include "test.h"
#include "wal.h"

static char dir[256];

static void fresh_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/herd-wal-test-%d", (int)getpid());
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

/* The log file in dir. */
static const char *log_path(void)
{
    static char path[300];
    snprintf(path, sizeof path, "%s/records.wal", dir);
    return path;
}

static struct record *rec(const char *line)
{
    struct proto_command c;
    CHECK_EQ_INT(proto_parse(line, strlen(line), &c), PROTO_OK);
    CHECK_EQ_INT(c.kind, PROTO_AT);
    struct record *r = record_new(c.server, c.diff, &c);
    CHECK(r != NULL);
    return r;
}

struct collected {
    int n;
    char lines[64][128];
};

static int collect(void *arg, const char *line, size_t len)
{
    struct collected *c = arg;
    CHECK(c->n < 64 && len < 128);
    memcpy(c->lines[c->n], line, len);
    c->lines[c->n][len] = '\0';
    c->n++;
    return 0;
}

static const char *lines[] = {
    "AT Alford +0.100000000 kiwi +34-118 1.5",
    "AT Bolden +0.200000000 emu -33.8+151.2 2.25",
    "AT Alford +0.300000000 kiwi +34-118 3.5",
};

static void open_ok(struct wal *w)
{
    long holder = -1;
    CHECK_EQ_INT(wal_open(w, dir, 0, &holder), 0);
}

/* Appends and flushes the first n of lines[]. */
static void append_lines(struct wal *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct record *r = rec(lines[i]);
        CHECK_EQ_INT(wal_append(w, r), 0);
        free(r);
    }
    CHECK_EQ_INT(wal_flush(w), 0);
}

static void test_write_and_replay(void)
{
    fresh_dir();
    struct wal w;
    open_ok(&w);
    for (size_t i = 0; i < 3; i++) {
        struct record *r = rec(lines[i]);
        CHECK_EQ_INT(wal_append(&w, r), 0);
        free(r);
    }
    CHECK_EQ_INT(w.size, 0); /* nothing written before the flush */
    CHECK_EQ_INT(wal_flush(&w), 0);
    CHECK_EQ_INT(w.writes, 1); /* one write for the group */
    wal_close(&w);

    open_ok(&w);
    struct collected c = {0};
    struct wal_replay_stats st;
    CHECK_EQ_INT(wal_replay(&w, collect, &c, &st), 0);
    CHECK_EQ_INT(st.records, 3);
    CHECK_EQ_INT(st.torn_bytes, 0);
    CHECK_EQ_INT(c.n, 3);
    for (int i = 0; i < 3; i++)
        CHECK_EQ_STR(c.lines[i], lines[i]);
    wal_close(&w);
}

static void test_torn_tail_is_cut(void)
{
    fresh_dir();
    struct wal w;
    open_ok(&w);
    append_lines(&w, 3);
    uint64_t full = w.size;
    wal_close(&w);
    /* A crash in the middle of the last frame. */
    const char *path = log_path();
    CHECK_EQ_INT(truncate(path, (off_t)(full - 5)), 0);
    open_ok(&w);
    struct collected c = {0};
    struct wal_replay_stats st;
    CHECK_EQ_INT(wal_replay(&w, collect, &c, &st), 0);
    CHECK_EQ_INT(c.n, 2);
    CHECK(st.torn_bytes > 0);
    CHECK_EQ_INT(w.size, full - wal_frame_size(strlen(lines[2])));
    /* Appending after the cut gives a clean log again. */
    struct record *r = rec(lines[2]);
    CHECK_EQ_INT(wal_append(&w, r), 0);
    free(r);
    CHECK_EQ_INT(wal_flush(&w), 0);
    wal_close(&w);
    open_ok(&w);
    struct collected c2 = {0};
    CHECK_EQ_INT(wal_replay(&w, collect, &c2, &st), 0);
    CHECK_EQ_INT(c2.n, 3);
    CHECK_EQ_INT(st.torn_bytes, 0);
    wal_close(&w);
}

static void test_damaged_crc_is_cut(void)
{
    fresh_dir();
    struct wal w;
    open_ok(&w);
    append_lines(&w, 3);
    wal_close(&w);
    const char *path = log_path();
    int fd = open(path, O_WRONLY);
    CHECK(fd >= 0);
    /* Flip a byte in the second frame's payload. */
    off_t at = (off_t)(wal_frame_size(strlen(lines[0])) + 8 + 3);
    CHECK_EQ_INT(pwrite(fd, "X", 1, at), 1);
    close(fd);
    open_ok(&w);
    struct collected c = {0};
    struct wal_replay_stats st;
    CHECK_EQ_INT(wal_replay(&w, collect, &c, &st), 0);
    CHECK_EQ_INT(c.n, 1);
    CHECK_EQ_STR(c.lines[0], lines[0]);
    wal_close(&w);
}

/* A crash can leave a zero-filled tail (the size grew, the data never
 * came): it is cut like a torn one, not read as empty records. */
static void test_zero_tail_is_cut(void)
{
    fresh_dir();
    struct wal w;
    open_ok(&w);
    append_lines(&w, 3);
    uint64_t good = w.size;
    wal_close(&w);
    const char *path = log_path();
    int fd = open(path, O_WRONLY | O_APPEND);
    CHECK(fd >= 0);
    static const char zeros[4096];
    CHECK_EQ_INT(write(fd, zeros, sizeof zeros), (long)sizeof zeros);
    close(fd);
    open_ok(&w);
    struct collected c = {0};
    struct wal_replay_stats st;
    CHECK_EQ_INT(wal_replay(&w, collect, &c, &st), 0);
    CHECK_EQ_INT(c.n, 3);
    CHECK_EQ_INT(st.invalid, 0);
    CHECK_EQ_INT(st.torn_bytes, sizeof zeros);
    CHECK(w.size == good);
    wal_close(&w);
    struct stat sb;
    CHECK_EQ_INT(stat(path, &sb), 0);
    CHECK(sb.st_size == (off_t)good);
}

static void put_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* A log written before frames carried CRC-32C (no flag bit, zlib's
 * CRC-32) is read, and what is appended after it is read too. */
static void test_old_crc32_frames_replay(void)
{
    fresh_dir();
    struct wal w;
    open_ok(&w);
    wal_close(&w);
    const char *path = log_path();
    int fd = open(path, O_WRONLY | O_TRUNC);
    CHECK(fd >= 0);
    for (size_t i = 0; i < 2; i++) {
        unsigned char h[8];
        size_t len = strlen(lines[i]);
        put_le32(h, (uint32_t)len);
        put_le32(h + 4,
                 (uint32_t)crc32(0L, (const Bytef *)lines[i], (uInt)len));
        CHECK_EQ_INT(write(fd, h, sizeof h), 8);
        CHECK_EQ_INT(write(fd, lines[i], len), (long)len);
    }
    close(fd);
    open_ok(&w);
    struct collected c = {0};
    struct wal_replay_stats st;
    CHECK_EQ_INT(wal_replay(&w, collect, &c, &st), 0);
    CHECK_EQ_INT(c.n, 2);
    CHECK_EQ_INT(st.torn_bytes, 0);
    struct record *r = rec(lines[2]);
    CHECK_EQ_INT(wal_append(&w, r), 0);
    free(r);
    CHECK_EQ_INT(wal_flush(&w), 0);
    wal_close(&w);
    open_ok(&w);
    struct collected d = {0};
    CHECK_EQ_INT(wal_replay(&w, collect, &d, &st), 0);
    CHECK_EQ_INT(d.n, 3);
    for (int i = 0; i < 3; i++)
        CHECK_EQ_STR(d.lines[i], lines[i]);
    CHECK_EQ_INT(st.torn_bytes, 0);
    wal_close(&w);
}

static void test_compaction_keeps_one_per_client(void)
{
    fresh_dir();
    struct wal w;
    open_ok(&w);
    struct store s;
    store_init(&s, 1, 2);
    for (size_t i = 0; i < 3; i++) {
        struct record *r = rec(lines[i]);
        CHECK_EQ_INT(wal_append(&w, r), 0);
        const struct record *cur;
        if (store_apply(&s, r, &cur) != STORE_CHANGED)
            free(r);
    }
    CHECK_EQ_INT(wal_flush(&w), 0);
    CHECK_EQ_INT(s.count, 2);
    CHECK_EQ_INT(wal_compact(&w, &s), 0);
    CHECK_EQ_INT(w.size, wal_frame_size(strlen(lines[1])) +
                             wal_frame_size(strlen(lines[2])));
    wal_close(&w);
    open_ok(&w);
    struct collected c = {0};
    struct wal_replay_stats st;
    CHECK_EQ_INT(wal_replay(&w, collect, &c, &st), 0);
    CHECK_EQ_INT(c.n, 2);
    int saw_new_kiwi = 0;
    for (int i = 0; i < c.n; i++)
        saw_new_kiwi |= strcmp(c.lines[i], lines[2]) == 0;
    CHECK(saw_new_kiwi);
    wal_close(&w);
    store_close(&s);
}

/* An AT line of exactly len bytes: the client id fills what the other
 * fields leave. */
static char *long_at(size_t len)
{
    static const char head[] = "AT Alford +0.100000000 ";
    static const char tail[] = " +34-118 1.5";
    size_t fixed = strlen(head) + strlen(tail);
    CHECK(len > fixed);
    char *line = malloc(len + 1);
    CHECK(line != NULL);
    memcpy(line, head, strlen(head));
    for (size_t i = strlen(head); i < len - strlen(tail); i++)
        line[i] = (char)('a' + i % 26);
    memcpy(line + len - strlen(tail), tail, strlen(tail) + 1);
    return line;
}

struct one_line {
    const char *want;
    size_t len;
    int seen;
};

static int check_long(void *arg, const char *line, size_t len)
{
    struct one_line *o = arg;
    if (o->seen++ == 0) {
        CHECK_EQ_INT(len, o->len);
        CHECK(memcmp(line, o->want, len) == 0);
    } else {
        CHECK_EQ_INT(len, strlen(lines[1]));
        CHECK_EQ_MEM(line, lines[1], len);
    }
    return 0;
}

/* Every record a server can make is read back: the longest one, from an
 * IAMAT of the longest max_line allowed (1 MiB) with the slack a record
 * adds, and one of exactly WAL_MAX_RECORD. One byte more is damage. */
static void test_longest_record_round_trips(void)
{
    CHECK(wal_record_bound(1 << 20) <= WAL_MAX_RECORD);
    CHECK(wal_record_bound(1 << 20) >= (1 << 20) + 92);
    const size_t sizes[] = {(size_t)wal_record_bound(1 << 20), WAL_MAX_RECORD};
    for (size_t i = 0; i < 2; i++) {
        fresh_dir();
        char *line = long_at(sizes[i]);
        struct wal w;
        open_ok(&w);
        struct record *r = rec(line);
        CHECK_EQ_INT(r->len, sizes[i]);
        CHECK_EQ_INT(wal_append(&w, r), 0);
        free(r);
        /* A short record after it: nothing past the long one is lost. */
        r = rec(lines[1]);
        CHECK_EQ_INT(wal_append(&w, r), 0);
        free(r);
        CHECK_EQ_INT(wal_flush(&w), 0);
        uint64_t size = w.size;
        wal_close(&w);

        open_ok(&w);
        struct one_line o = {line, sizes[i], 0};
        struct wal_replay_stats st;
        CHECK_EQ_INT(wal_replay(&w, check_long, &o, &st), 0);
        CHECK_EQ_INT(st.records, 2);
        CHECK_EQ_INT(st.torn_bytes, 0);
        CHECK_EQ_INT(o.seen, 2);
        CHECK_EQ_INT(w.size, size);
        wal_close(&w);
        free(line);
    }

    /* Past the limit: taken for a damaged length word and cut. */
    fresh_dir();
    char *line = long_at(WAL_MAX_RECORD + 1);
    struct wal w;
    open_ok(&w);
    struct record *r = rec(line);
    CHECK_EQ_INT(wal_append(&w, r), 0);
    free(r);
    CHECK_EQ_INT(wal_flush(&w), 0);
    wal_close(&w);
    open_ok(&w);
    struct one_line o = {line, WAL_MAX_RECORD + 1, 0};
    struct wal_replay_stats st;
    CHECK_EQ_INT(wal_replay(&w, check_long, &o, &st), 0);
    CHECK_EQ_INT(st.records, 0);
    CHECK_EQ_INT(st.torn_bytes, wal_frame_size(WAL_MAX_RECORD + 1));
    wal_close(&w);
    free(line);
}

static void test_should_compact(void)
{
    struct wal w;
    memset(&w, 0, sizeof w);
    w.size = WAL_COMPACT_MIN / 2;
    CHECK(!wal_should_compact(&w, 1)); /* small files are left alone */
    w.size = WAL_COMPACT_MIN * 2;
    CHECK(wal_should_compact(&w, WAL_COMPACT_MIN / 4));
    CHECK(!wal_should_compact(&w, WAL_COMPACT_MIN));
}

static void test_directory_lock(void)
{
    fresh_dir();
    struct wal a;
    open_ok(&a);
    /* fcntl locks are per process: a second holder must be another one. */
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        struct wal b;
        long holder = 0;
        int rc = wal_open(&b, dir, 0, &holder);
        _exit(rc == WAL_ELOCKED && holder == (long)getppid() ? 0 : 1);
    }
    int status = 0;
    CHECK_EQ_INT(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    wal_close(&a);
    fresh_dir(); /* leaves nothing behind */
}

static void test_digest_order_independent(void)
{
    static const char *set[] = {
        "AT Alford +0.100000000 a +1+1 1",   "AT Bolden +0.100000000 b +2+2 2",
        "AT Parker +0.100000000 a +3+3 5",   "AT Powell +0.100000000 c +4+4 3",
        "AT Hamilton +0.100000000 b +5+5 1",
    };
    struct store x, y;
    store_init(&x, 11, 12);
    store_init(&y, 99, 98); /* different table keys, same digest key */
    for (size_t i = 0; i < 5; i++) {
        struct record *r = rec(set[i]);
        const struct record *cur;
        if (store_apply(&x, r, &cur) != STORE_CHANGED)
            free(r);
    }
    for (size_t i = 5; i-- > 0;) {
        struct record *r = rec(set[i]);
        const struct record *cur;
        if (store_apply(&y, r, &cur) != STORE_CHANGED)
            free(r);
    }
    CHECK_EQ_INT(x.count, 3);
    CHECK_EQ_INT(y.count, 3);
    CHECK(x.digest == y.digest);
    CHECK(x.bytes == y.bytes);
    /* One more record on one side: the digests differ. */
    struct record *r = rec("AT Alford +0.100000000 d +1+1 9");
    const struct record *cur;
    CHECK_EQ_INT(store_apply(&x, r, &cur), STORE_CHANGED);
    CHECK(x.digest != y.digest);
    store_close(&x);
    store_close(&y);
}

static const struct test tests[] = {
    {"write_and_replay", test_write_and_replay},
    {"torn_tail_is_cut", test_torn_tail_is_cut},
    {"damaged_crc_is_cut", test_damaged_crc_is_cut},
    {"old_crc32_frames_replay", test_old_crc32_frames_replay},
    {"zero_tail_is_cut", test_zero_tail_is_cut},
    {"compaction_keeps_one_per_client", test_compaction_keeps_one_per_client},
    {"should_compact", test_should_compact},
    {"longest_record_round_trips", test_longest_record_round_trips},
    {"directory_lock", test_directory_lock},
    {"digest_order_independent", test_digest_order_independent},
};

TEST_MAIN(tests)
