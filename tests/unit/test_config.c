/* Unit tests for common/config: herd.conf parsing and its errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "test.h"

static const char default_herd[] =
    "# herd.conf: the default herd, five servers on this machine.\n"
    "#\n"
    "#   server NAME HOST:PORT [peer HOST:PORT]\n"
    "\n"
    "server Alford   127.0.0.1:12010\n"
    "server Bolden   127.0.0.1:12011\n"
    "server Hamilton 127.0.0.1:12012\n"
    "server Parker   127.0.0.1:12013\n"
    "server Powell   127.0.0.1:12014\n"
    "\n"
    "link Alford  Parker\n"
    "link Alford  Powell\n"
    "link Bolden  Parker\n"
    "link Bolden  Powell\n"
    "link Hamilton Parker\n"
    "\n"
    "places google\n"
    "places_timeout_ms 5000\n"
    "\n"
    "run_dir  run\n"
    "log_dir  log\n"
    "data_dir data\n"
    "\n"
    "max_line 8192\n"
    "max_output 4194304\n";

static int parse(struct config *cfg, const char *text, const char *base,
                 struct herd_error *err)
{
    config_init(cfg);
    memset(err, 0, sizeof *err);
    return config_parse(cfg, text, strlen(text), base, err);
}

static void check_link(const struct config *cfg, size_t i, const char *a,
                       const char *b)
{
    CHECK(i < cfg->nlinks);
    CHECK_EQ_STR(cfg->servers[cfg->links[i].a].name, a);
    CHECK_EQ_STR(cfg->servers[cfg->links[i].b].name, b);
}

static void check_default(const struct config *cfg)
{
    static const char *const names[] = {"Alford", "Bolden", "Hamilton",
                                        "Parker", "Powell"};
    CHECK_EQ_INT(cfg->nservers, 5);
    for (size_t i = 0; i < 5; i++) {
        const struct config_server *s = &cfg->servers[i];
        CHECK_EQ_STR(s->name, names[i]);
        CHECK_EQ_STR(s->listen.host, "127.0.0.1");
        CHECK_EQ_INT(s->listen.port, 12010 + i);
        /* Peer port defaults to the client port + 10000. */
        CHECK_EQ_STR(s->peer.host, "127.0.0.1");
        CHECK_EQ_INT(s->peer.port, 22010 + i);
    }
    CHECK_EQ_INT(cfg->nlinks, 5);
    check_link(cfg, 0, "Alford", "Parker");
    check_link(cfg, 1, "Alford", "Powell");
    check_link(cfg, 2, "Bolden", "Parker");
    check_link(cfg, 3, "Bolden", "Powell");
    check_link(cfg, 4, "Hamilton", "Parker");
    CHECK_EQ_STR(cfg->places, "google");
    CHECK(cfg->places_url == NULL);
    CHECK_EQ_INT(cfg->places_timeout_ms, 5000);
    CHECK_EQ_INT(cfg->max_line, 8192);
    CHECK_EQ_INT(cfg->max_output, 4194304);
    CHECK(config_connected(cfg));
}

static void test_default_herd(void)
{
    struct config cfg;
    struct herd_error err;
    CHECK_EQ_INT(parse(&cfg, default_herd, NULL, &err), 0);
    check_default(&cfg);
    CHECK_EQ_INT(cfg.servers[0].line, 5);
    CHECK_EQ_INT(cfg.servers[4].line, 9);
    CHECK_EQ_STR(cfg.run_dir, "run");
    CHECK_EQ_STR(cfg.log_dir, "log");
    CHECK_EQ_STR(cfg.data_dir, "data");
    CHECK_EQ_INT(config_find(&cfg, "Parker", 6), 3);
    CHECK_EQ_INT(config_find(&cfg, "Alford", 6), 0);
    CHECK_EQ_INT(config_find(&cfg, "Park", 4), -1);
    CHECK_EQ_INT(config_find(&cfg, "Parkers", 7), -1);
    CHECK_EQ_INT(config_find(&cfg, "parker", 6), -1);
    CHECK_EQ_INT(config_find(&cfg, "", 0), -1);
    config_free(&cfg);
    CHECK(cfg.servers == NULL);
    CHECK_EQ_INT(cfg.nservers, 0);
}

static void test_default_herd_crlf(void)
{
    char text[sizeof default_herd * 2];
    size_t n = 0;
    for (const char *p = default_herd; *p != '\0'; p++) {
        if (*p == '\n')
            text[n++] = '\r';
        text[n++] = *p;
    }
    text[n] = '\0';
    struct config cfg;
    struct herd_error err;
    CHECK_EQ_INT(parse(&cfg, text, NULL, &err), 0);
    check_default(&cfg);
    CHECK_EQ_STR(cfg.run_dir, "run");
    config_free(&cfg);
}

static void test_explicit_peer(void)
{
    struct config cfg;
    struct herd_error err;
    CHECK_EQ_INT(parse(&cfg,
                       "server A 127.0.0.1:12010 peer 10.0.0.1:7000\n"
                       "server B [::1]:12011 peer [::1]:7001\n"
                       "server C localhost:60000 peer localhost:60001\n"
                       "link A B\nlink B C\n",
                       NULL, &err),
                 0);
    CHECK_EQ_INT(cfg.nservers, 3);
    CHECK_EQ_STR(cfg.servers[0].listen.host, "127.0.0.1");
    CHECK_EQ_INT(cfg.servers[0].listen.port, 12010);
    CHECK_EQ_STR(cfg.servers[0].peer.host, "10.0.0.1");
    CHECK_EQ_INT(cfg.servers[0].peer.port, 7000);
    CHECK_EQ_STR(cfg.servers[1].listen.host, "::1");
    CHECK_EQ_STR(cfg.servers[1].peer.host, "::1");
    CHECK_EQ_INT(cfg.servers[1].peer.port, 7001);
    CHECK_EQ_INT(cfg.servers[2].listen.port, 60000);
    CHECK_EQ_INT(cfg.servers[2].peer.port, 60001);
    CHECK(config_connected(&cfg));
    config_free(&cfg);
    /* The default peer keeps the client host. */
    CHECK_EQ_INT(parse(&cfg, "server A [::1]:1\n", NULL, &err), 0);
    CHECK_EQ_STR(cfg.servers[0].peer.host, "::1");
    CHECK_EQ_INT(cfg.servers[0].peer.port, 10001);
    config_free(&cfg);
    /* Same port on two hosts is no clash. */
    CHECK_EQ_INT(parse(&cfg,
                       "server A 127.0.0.1:1\nserver B 127.0.0.2:1\n"
                       "link A B\n",
                       NULL, &err),
                 0);
    CHECK_EQ_INT(cfg.nservers, 2);
    config_free(&cfg);
}

static void test_comments_and_blank_lines(void)
{
    struct config cfg;
    struct herd_error err;
    CHECK_EQ_INT(parse(&cfg,
                       "# leading comment\n"
                       "\n"
                       "   \t  \n"
                       "  # indented comment\n"
                       "server A 127.0.0.1:1 # trailing comment\n"
                       "\t server \t B \t 127.0.0.1:2\t\n"
                       "link A B#no space before the comment is a name\n"
                       "#server C 127.0.0.1:3\n"
                       "\r\n"
                       "\f\v\n",
                       NULL, &err),
                 CONFIG_ESYNTAX);
    /* "B#no" is a word, so that link line has too many fields. */
    CHECK_EQ_INT(err.line, 7);
    config_free(&cfg);

    CHECK_EQ_INT(parse(&cfg,
                       "# leading comment\n"
                       "\n"
                       "   \t  \n"
                       "  # indented comment\n"
                       "server A 127.0.0.1:1 # trailing comment\n"
                       "\t server \t B \t 127.0.0.1:2\t\n"
                       "link A B # both\n"
                       "#server C 127.0.0.1:3\n"
                       "\r\n"
                       "\f\v\n"
                       "# no newline at the end",
                       NULL, &err),
                 0);
    CHECK_EQ_INT(cfg.nservers, 2);
    CHECK_EQ_STR(cfg.servers[1].name, "B");
    CHECK_EQ_INT(cfg.servers[1].line, 6);
    CHECK_EQ_INT(cfg.nlinks, 1);
    config_free(&cfg);
    /* Empty text is an empty herd. */
    CHECK_EQ_INT(parse(&cfg, "", NULL, &err), 0);
    CHECK_EQ_INT(cfg.nservers, 0);
    config_free(&cfg);
    /* The last line needs no newline. */
    CHECK_EQ_INT(parse(&cfg, "server A 127.0.0.1:1", NULL, &err), 0);
    CHECK_EQ_INT(cfg.nservers, 1);
    config_free(&cfg);
}

static const struct {
    const char *text;
    int line;
    const char *word;
} error_cases[] = {
    {"bogus value\n", 1, "unknown"},
    {"server A 127.0.0.1:1\n\nSERVER B 127.0.0.1:2\n", 3, "unknown"},
    {"\n# c\nserver A 127.0.0.1:1\nserver A 127.0.0.1:2\n", 4, "duplicate"},
    /* port clashes: client/client, client/peer, peer/client, peer/peer */
    {"server A 127.0.0.1:1\nserver B 127.0.0.1:1\n", 2, "address"},
    {"server A 127.0.0.1:1\nserver B 127.0.0.1:10001\n", 2, "address"},
    {"server A 127.0.0.1:10001\nserver B 127.0.0.1:1\n", 2, "address"},
    {"server A 127.0.0.1:1 peer 127.0.0.1:5000\n"
     "server B 127.0.0.1:2 peer 127.0.0.1:5000\n",
     2, "address"},
    {"server A 127.0.0.1:1 peer 127.0.0.1:1\n", 1, "same"},
    /* links */
    {"server A 127.0.0.1:1\nlink A B\n", 2, "unknown"},
    {"server A 127.0.0.1:1\nlink B A\n", 2, "unknown"},
    {"server A 127.0.0.1:1\nlink A A\n", 2, "itself"},
    {"server A 127.0.0.1:1\nserver B 127.0.0.1:2\nlink A B\nlink B A\n", 4,
     "duplicate"},
    {"server A 127.0.0.1:1\nserver B 127.0.0.1:2\nlink A B\n\nlink A B\n", 5,
     "duplicate"},
    {"server A 127.0.0.1:1\nlink A\n", 2, "link"},
    {"server A 127.0.0.1:1\nlink A B C\n", 2, "link"},
    /* addresses */
    {"server A 127.0.0.1\n", 1, "address"},
    {"server A 127.0.0.1:\n", 1, "address"},
    {"server A 127.0.0.1:0\n", 1, "address"},
    {"server A 127.0.0.1:65536\n", 1, "address"},
    {"server A ::1:80\n", 1, "address"},
    {"server A [::1:80\n", 1, "address"},
    {"server A 127.0.0.1:80x\n", 1, "address"},
    {"server A 127.0.0.1:1 peer 127.0.0.1\n", 1, "peer"},
    {"server A 127.0.0.1:1 pear 127.0.0.1:2\n", 1, "peer"},
    {"server A 127.0.0.1:60000\n", 1, "peer"},
    {"server A\n", 1, "server"},
    {"server A 127.0.0.1:1 peer\n", 1, "server"},
    /* names */
    {"server A/B 127.0.0.1:1\n", 1, "name"},
    {"server A#B 127.0.0.1:1\n", 1, "name"},
    {"server \xc3\xa9 127.0.0.1:1\n", 1, "name"},
    {"server "
     "a123456789b123456789c123456789d123456789e123456789f123456789abcd "
     "127.0.0.1:1\n",
     1, "name"},
    /* numbers */
    {"max_line abc\n", 1, "number"},
    {"max_line -1\n", 1, "number"},
    {"max_line 63\n", 1, "number"},
    {"max_line 1048577\n", 1, "number"},
    {"max_line 8k\n", 1, "number"},
    {"max_line 99999999999999999999999\n", 1, "number"},
    {"max_line\n", 1, "max_line"},
    {"max_line 1 2\n", 1, "max_line"},
    {"places_timeout_ms 0\n", 1, "number"},
    {"max_output 10\n", 1, "number"},
    {"places\n", 1, "places"},
    {"run_dir a b\n", 1, "run_dir"},
    /* the line itself */
    {"server A 127.0.0.1:1 a b c d e f g h\n", 1, "many"},
};

static void test_errors(void)
{
    for (size_t i = 0; i < sizeof error_cases / sizeof error_cases[0]; i++) {
        struct config cfg;
        struct herd_error err;
        int rc = parse(&cfg, error_cases[i].text, NULL, &err);
        if (rc != CONFIG_ESYNTAX || err.line != error_cases[i].line ||
            strstr(err.text, error_cases[i].word) == NULL)
            fprintf(stderr, "case %zu: rc %d line %d: %s\n", i, rc, err.line,
                    err.text);
        CHECK_EQ_INT(rc, CONFIG_ESYNTAX);
        CHECK_EQ_INT(err.line, error_cases[i].line);
        CHECK(strstr(err.text, error_cases[i].word) != NULL);
        config_free(&cfg);
        /* A NULL err is allowed. */
        config_init(&cfg);
        CHECK_EQ_INT(config_parse(&cfg, error_cases[i].text,
                                  strlen(error_cases[i].text), NULL, NULL),
                     CONFIG_ESYNTAX);
        config_free(&cfg);
    }
}

static void test_error_names_offender(void)
{
    struct config cfg;
    struct herd_error err;
    CHECK_EQ_INT(
        parse(&cfg, "server A 127.0.0.1:1\nlink A Nobody\n", NULL, &err),
        CONFIG_ESYNTAX);
    CHECK(strstr(err.text, "Nobody") != NULL);
    config_free(&cfg);
    CHECK_EQ_INT(parse(&cfg, "frobnicate 1\n", NULL, &err), CONFIG_ESYNTAX);
    CHECK(strstr(err.text, "frobnicate") != NULL);
    config_free(&cfg);
    CHECK_EQ_INT(parse(&cfg,
                       "server Alpha 127.0.0.1:1\nserver Beta 127.0.0.1:1\n",
                       NULL, &err),
                 CONFIG_ESYNTAX);
    CHECK(strstr(err.text, "Alpha") != NULL);
    CHECK(strstr(err.text, "Beta") != NULL);
    config_free(&cfg);
}

static void test_nul_byte_in_line(void)
{
    static const char text[] = "server A 127.0.0.1:1\nserver B\0 127.0.0.1:2\n";
    struct config cfg;
    struct herd_error err;
    config_init(&cfg);
    memset(&err, 0, sizeof err);
    CHECK_EQ_INT(config_parse(&cfg, text, sizeof text - 1, NULL, &err),
                 CONFIG_ESYNTAX);
    CHECK_EQ_INT(err.line, 2);
    CHECK(strstr(err.text, "NUL") != NULL);
    config_free(&cfg);
}

static void test_relative_dirs_prefixed(void)
{
    struct config cfg;
    struct herd_error err;
    CHECK_EQ_INT(parse(&cfg,
                       "run_dir run\nlog_dir /var/log/herd\n"
                       "data_dir ./data\nplaces google\n"
                       "places_url http://127.0.0.1:9/x\n",
                       "/etc/herd", &err),
                 0);
    CHECK_EQ_STR(cfg.run_dir, "/etc/herd/run");
    CHECK_EQ_STR(cfg.log_dir, "/var/log/herd");
    CHECK_EQ_STR(cfg.data_dir, "/etc/herd/./data");
    /* Not directories: never prefixed. */
    CHECK_EQ_STR(cfg.places, "google");
    CHECK_EQ_STR(cfg.places_url, "http://127.0.0.1:9/x");
    config_free(&cfg);
    /* Without a base they stay as written. */
    CHECK_EQ_INT(parse(&cfg, "run_dir run\nlog_dir /l\n", NULL, &err), 0);
    CHECK_EQ_STR(cfg.run_dir, "run");
    CHECK_EQ_STR(cfg.log_dir, "/l");
    config_free(&cfg);
    /* A repeated keyword: the last one wins. */
    CHECK_EQ_INT(parse(&cfg,
                       "run_dir a\nrun_dir b\nmax_line 100\n"
                       "max_line 200\n",
                       "base", &err),
                 0);
    CHECK_EQ_STR(cfg.run_dir, "base/b");
    CHECK_EQ_INT(cfg.max_line, 200);
    config_free(&cfg);
}

static void test_unset_options(void)
{
    struct config cfg;
    struct herd_error err;
    CHECK_EQ_INT(parse(&cfg, "server A 127.0.0.1:1\n", "/b", &err), 0);
    /* Not set: the default (settings.h), and the origin says so. */
    for (size_t i = 0; i < SETTINGS_COUNT; i++)
        CHECK_EQ_INT(cfg.origin[i], SETTINGS_DEFAULT);
    CHECK_EQ_STR(cfg.places, "offline");
    CHECK(cfg.places_url == NULL);
    CHECK(cfg.run_dir == NULL);
    CHECK(cfg.log_dir == NULL);
    CHECK(cfg.data_dir == NULL);
    CHECK_EQ_INT(cfg.places_timeout_ms, 5000);
    CHECK_EQ_INT(cfg.max_line, 8192);
    CHECK_EQ_INT(cfg.max_output, 4194304);
    CHECK_EQ_INT(cfg.peer_batch_us, 2000);
    config_free(&cfg);
    /* Set: the origin says so, also where 0 is a value. */
    CHECK_EQ_INT(parse(&cfg, "max_line 8192\npeer_batch_us 0\n", NULL, &err),
                 0);
    CHECK_EQ_INT(cfg.origin[SETTING_max_line], SETTINGS_FILE);
    CHECK_EQ_INT(cfg.origin[SETTING_peer_batch_us], SETTINGS_FILE);
    CHECK_EQ_INT(cfg.peer_batch_us, 0);
    CHECK_EQ_INT(cfg.origin[SETTING_max_output], SETTINGS_DEFAULT);
    config_free(&cfg);
}

static void test_peer_batch(void)
{
    struct config cfg;
    struct herd_error err;
    CHECK_EQ_INT(parse(&cfg, "peer_batch_us 0\n", NULL, &err), 0);
    CHECK(cfg.peer_batch_us == 0);
    config_free(&cfg);
    CHECK_EQ_INT(parse(&cfg, "peer_batch_us 10000\n", NULL, &err), 0);
    CHECK(cfg.peer_batch_us == 10000);
    config_free(&cfg);
    CHECK(parse(&cfg, "peer_batch_us 10001\n", NULL, &err) != 0);
    CHECK_EQ_INT(err.line, 1);
    config_free(&cfg);
    CHECK(parse(&cfg, "\npeer_batch_us -1\n", NULL, &err) != 0);
    CHECK_EQ_INT(err.line, 2);
    config_free(&cfg);
}

static void test_number_bounds(void)
{
    struct config cfg;
    struct herd_error err;
    CHECK_EQ_INT(parse(&cfg,
                       "max_line 64\nplaces_timeout_ms 1\nmax_output 4096\n",
                       NULL, &err),
                 0);
    CHECK_EQ_INT(cfg.max_line, 64);
    CHECK_EQ_INT(cfg.places_timeout_ms, 1);
    CHECK_EQ_INT(cfg.max_output, 4096);
    config_free(&cfg);
    CHECK_EQ_INT(parse(&cfg,
                       "max_line 1048576\nplaces_timeout_ms 600000\n"
                       "max_output 4294967296\n",
                       NULL, &err),
                 0);
    CHECK_EQ_INT(cfg.max_line, 1048576);
    CHECK_EQ_INT(cfg.places_timeout_ms, 600000);
    CHECK_EQ_INT(cfg.max_output, 4294967296LL);
    config_free(&cfg);
}

static void test_connected(void)
{
    struct config cfg;
    struct herd_error err;
    /* A server with no links. */
    char text[2048];
    snprintf(text, sizeof text, "%sserver Lonely 127.0.0.1:12015\n",
             default_herd);
    CHECK_EQ_INT(parse(&cfg, text, NULL, &err), 0);
    CHECK_EQ_INT(cfg.nservers, 6);
    CHECK(!config_connected(&cfg));
    config_free(&cfg);
    /* Two islands. */
    CHECK_EQ_INT(parse(&cfg,
                       "server A 127.0.0.1:1\nserver B 127.0.0.1:2\n"
                       "server C 127.0.0.1:3\nserver D 127.0.0.1:4\n"
                       "link A B\nlink C D\n",
                       NULL, &err),
                 0);
    CHECK(!config_connected(&cfg));
    config_free(&cfg);
    /* A chain declared backwards is connected. */
    CHECK_EQ_INT(parse(&cfg,
                       "server A 127.0.0.1:1\nserver B 127.0.0.1:2\n"
                       "server C 127.0.0.1:3\nserver D 127.0.0.1:4\n"
                       "link C D\nlink B C\nlink A B\n",
                       NULL, &err),
                 0);
    CHECK(config_connected(&cfg));
    config_free(&cfg);
    /* One server alone, and no servers, are trivially connected. */
    CHECK_EQ_INT(parse(&cfg, "server A 127.0.0.1:1\n", NULL, &err), 0);
    CHECK(config_connected(&cfg));
    config_free(&cfg);
    CHECK_EQ_INT(parse(&cfg, "# nothing\n", NULL, &err), 0);
    CHECK(config_connected(&cfg));
    config_free(&cfg);
}

static void test_links_before_servers(void)
{
    struct config cfg;
    struct herd_error err;
    CHECK_EQ_INT(parse(&cfg,
                       "link Alford Bolden\n"
                       "server Alford 127.0.0.1:12010\n"
                       "link Bolden Hamilton\n"
                       "server Bolden 127.0.0.1:12011\n"
                       "server Hamilton 127.0.0.1:12012\n",
                       NULL, &err),
                 0);
    CHECK_EQ_INT(cfg.nlinks, 2);
    check_link(&cfg, 0, "Alford", "Bolden");
    check_link(&cfg, 1, "Bolden", "Hamilton");
    CHECK(config_connected(&cfg));
    config_free(&cfg);
    /* An unknown name in an early link is reported at its own line. */
    CHECK_EQ_INT(parse(&cfg,
                       "link Alford Nobody\n"
                       "server Alford 127.0.0.1:12010\n",
                       NULL, &err),
                 CONFIG_ESYNTAX);
    CHECK_EQ_INT(err.line, 1);
    config_free(&cfg);
}

static void test_valid_name(void)
{
    CHECK(config_valid_name("A", 1));
    CHECK(config_valid_name("a-b_c.d09", 9));
    CHECK(config_valid_name(
        "a123456789b123456789c123456789d123456789e123456789f123456789abc", 63));
    CHECK(!config_valid_name(
        "a123456789b123456789c123456789d123456789e123456789f123456789abcd",
        64));
    CHECK(!config_valid_name("", 0));
    CHECK(!config_valid_name("a b", 3));
    CHECK(!config_valid_name("a/b", 3));
    CHECK(!config_valid_name("a:b", 3));
    CHECK(!config_valid_name("\xc3\xa9", 2));
    CHECK(!config_valid_name("a\0", 2));
    /* Only len bytes count. */
    CHECK(config_valid_name("ab!", 2));
}

static void test_load_file(void)
{
    char dir[] = "/tmp/herd-config-test-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/herd.conf", dir);
    FILE *fp = fopen(path, "wb");
    CHECK(fp != NULL);
    CHECK_EQ_INT(fwrite(default_herd, 1, sizeof default_herd - 1, fp),
                 sizeof default_herd - 1);
    CHECK_EQ_INT(fclose(fp), 0);

    struct config cfg;
    struct herd_error err;
    config_init(&cfg);
    memset(&err, 0, sizeof err);
    CHECK_EQ_INT(config_load(&cfg, path, &err), 0);
    check_default(&cfg);
    /* Relative directories are taken from the file's directory. */
    char want[300];
    snprintf(want, sizeof want, "%s/run", dir);
    CHECK_EQ_STR(cfg.run_dir, want);
    snprintf(want, sizeof want, "%s/data", dir);
    CHECK_EQ_STR(cfg.data_dir, want);
    config_free(&cfg);

    char missing[300];
    snprintf(missing, sizeof missing, "%s/missing.conf", dir);
    config_init(&cfg);
    CHECK_EQ_INT(config_load(&cfg, missing, &err), CONFIG_EIO);
    CHECK(strstr(err.text, "missing.conf") != NULL);
    config_free(&cfg);

    CHECK_EQ_INT(unlink(path), 0);
    CHECK_EQ_INT(rmdir(dir), 0);
}

static const struct test tests[] = {
    {"peer_batch", test_peer_batch},
    {"default_herd", test_default_herd},
    {"default_herd_crlf", test_default_herd_crlf},
    {"explicit_peer", test_explicit_peer},
    {"comments_and_blank_lines", test_comments_and_blank_lines},
    {"errors", test_errors},
    {"error_names_offender", test_error_names_offender},
    {"nul_byte_in_line", test_nul_byte_in_line},
    {"relative_dirs_prefixed", test_relative_dirs_prefixed},
    {"unset_options", test_unset_options},
    {"number_bounds", test_number_bounds},
    {"connected", test_connected},
    {"links_before_servers", test_links_before_servers},
    {"valid_name", test_valid_name},
    {"load_file", test_load_file},
};

TEST_MAIN(tests)
