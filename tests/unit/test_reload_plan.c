/* Unit tests for server/reload_plan: what a reload of herd.conf changes
 * in a running server. A "running" server is made of a first file as
 * herd-server's start makes it (the merge, its own directories, its
 * neighbours); a second file is then compared with it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "reload_plan.h"
#include "settings.h"
#include "test.h"

#define PATH "/etc/herd/herd.conf"

static const char base[] = "server Alford  127.0.0.1:12010\n"
                           "server Bolden  127.0.0.1:12011\n"
                           "server Chester 127.0.0.1:12012 peer "
                           "127.0.0.1:13012\n"
                           "link Alford Bolden\n"
                           "link Bolden Chester\n"
                           "run_dir run\n"
                           "data_dir data\n"
                           "log_dir log\n"
                           "max_line 8192\n";

/* A server as started from a file, with what its command line gave. */
struct running {
    struct config cfg; /* the file read at start: the strings' owner */
    struct settings args;
    struct reload_peer peers[16];
    struct reload_peer fixed[4];
    size_t nfixed;
    char data[256], log[256], ctl[256];
    struct reload_running run;
};

static void parse(struct config *cfg, const char *text)
{
    struct herd_error err = {0, ""};
    config_init(cfg);
    int rc = config_parse(cfg, text, strlen(text), "/etc/herd", &err);
    if (rc != 0)
        fprintf(stderr, "line %d: %s\n", err.line, err.text);
    CHECK_EQ_INT(rc, 0);
}

/* Starts name from text as herd-server does (main.c's apply_config):
 * the command line's settings r->args (origin SETTINGS_ARGS) and fixed
 * neighbours r->fixed win. */
static void start(struct running *r, const char *text, const char *name)
{
    parse(&r->cfg, text);
    long me = config_find(&r->cfg, name, strlen(name));
    CHECK(me >= 0);
    struct reload_running *run = &r->run;
    memset(run, 0, sizeof *run);
    run->name = name;
    run->config_path = PATH;
    run->listen = r->cfg.servers[me].listen;
    run->peer_listen = r->cfg.servers[me].peer;
    settings_merge(&r->args, &r->cfg.settings);
    snprintf(r->data, sizeof r->data, "%s/%s", r->cfg.data_dir, name);
    r->args.data_dir = r->data;
    snprintf(r->log, sizeof r->log, "%s/%s.log", r->cfg.log_dir, name);
    r->args.log_file = r->log;
    char dir[200];
    CHECK_EQ_INT(config_run_dir(&r->cfg, PATH, dir, sizeof dir), 0);
    CHECK_EQ_INT(config_control_path(dir, name, r->ctl, sizeof r->ctl), 0);
    run->control_path = r->ctl;
    run->settings = &r->args;
    size_t n = 0;
    for (size_t i = 0; i < r->nfixed; i++)
        r->peers[n++] = r->fixed[i];
    for (size_t i = 0; i < r->cfg.nlinks; i++) {
        const struct config_link *l = &r->cfg.links[i];
        size_t other = l->a == (size_t)me ? l->b : l->a;
        if (l->a != (size_t)me && l->b != (size_t)me)
            continue;
        int named = 0;
        for (size_t j = 0; j < r->nfixed; j++)
            named |= strcmp(r->fixed[j].name, r->cfg.servers[other].name) == 0;
        if (named)
            continue;
        snprintf(r->peers[n].name, sizeof r->peers[n].name, "%s",
                 r->cfg.servers[other].name);
        r->peers[n++].addr = r->cfg.servers[other].peer;
    }
    run->peers = r->peers;
    run->npeers = n;
    run->fixed = r->fixed;
    run->nfixed = r->nfixed;
}

static void init(struct running *r)
{
    memset(r, 0, sizeof *r);
    settings_init(&r->args);
}

static void finish(struct running *r)
{
    config_free(&r->cfg);
}

/* The plan of text for r; the file is kept in *cfg. */
static int plan(struct reload_plan *pl, const struct running *r,
                struct config *cfg, const char *text, char *why, size_t cap)
{
    parse(cfg, text);
    return reload_plan_make(pl, &r->run, cfg, why, cap);
}

/* text with extra appended. */
static const char *with(const char *extra)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s%s", base, extra);
    return buf;
}

static void check_restart(const struct reload_plan *pl, const char *want)
{
    char got[512] = "";
    for (size_t i = 0; i < pl->nrestart; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s",
                 i ? " " : "", pl->restart[i]);
    CHECK_EQ_STR(got, want);
}

static void test_same_file(void)
{
    struct running r;
    init(&r);
    start(&r, base, "Bolden");
    struct reload_plan pl;
    struct config cfg;
    char why[256];
    CHECK_EQ_INT(plan(&pl, &r, &cfg, base, why, sizeof why), 0);
    CHECK(reload_plan_empty(&pl));
    CHECK_EQ_INT(pl.next.max_line, 8192);
    /* The same file with its lines in another order, comments, and a
     * setting given at its default: still nothing. */
    reload_plan_free(&pl);
    config_free(&cfg);
    CHECK_EQ_INT(plan(&pl, &r, &cfg,
                      "# moved around\n"
                      "link Chester Bolden\n"
                      "server Chester 127.0.0.1:12012 peer 127.0.0.1:13012\n"
                      "server Alford  127.0.0.1:12010\n"
                      "server Bolden  127.0.0.1:12011\n"
                      "link Bolden Alford\n"
                      "run_dir run\ndata_dir data\nlog_dir log\n"
                      "max_clients 10000\n",
                      why, sizeof why),
                 0);
    CHECK(reload_plan_empty(&pl));
    reload_plan_free(&pl);
    config_free(&cfg);
    finish(&r);
}

static void test_neighbours(void)
{
    struct running r;
    init(&r);
    start(&r, base, "Chester");
    struct reload_plan pl;
    struct config cfg;
    char why[256];
    /* Dunn added and linked to Chester; Chester's link to Bolden gone. */
    CHECK_EQ_INT(plan(&pl, &r, &cfg,
                      "server Alford  127.0.0.1:12010\n"
                      "server Bolden  127.0.0.1:12011\n"
                      "server Chester 127.0.0.1:12012 peer 127.0.0.1:13012\n"
                      "server Dunn    127.0.0.1:12013\n"
                      "link Alford Bolden\n"
                      "link Chester Dunn\n"
                      "link Alford Dunn\n"
                      "run_dir run\ndata_dir data\nlog_dir log\n",
                      why, sizeof why),
                 0);
    CHECK_EQ_INT(pl.nadded, 1);
    CHECK_EQ_STR(pl.added[0].name, "Dunn");
    CHECK_EQ_STR(pl.added[0].addr.host, "127.0.0.1");
    CHECK_EQ_INT(pl.added[0].addr.port, 22013);
    CHECK_EQ_INT(pl.nremoved, 1);
    CHECK_EQ_STR(pl.removed[0].name, "Bolden");
    CHECK_EQ_INT(pl.nmoved, 0);
    CHECK_EQ_INT(pl.nchanged, 0);
    CHECK_EQ_INT(pl.nrestart, 0);
    CHECK(!reload_plan_empty(&pl));
    reload_plan_free(&pl);
    config_free(&cfg);
    /* Bolden's peer address moved: Chester redials it. */
    CHECK_EQ_INT(plan(&pl, &r, &cfg,
                      "server Alford  127.0.0.1:12010\n"
                      "server Bolden  127.0.0.1:12011 peer 127.0.0.1:14011\n"
                      "server Chester 127.0.0.1:12012 peer 127.0.0.1:13012\n"
                      "link Alford Bolden\nlink Bolden Chester\n"
                      "run_dir run\ndata_dir data\nlog_dir log\n",
                      why, sizeof why),
                 0);
    CHECK_EQ_INT(pl.nadded + pl.nremoved, 0);
    CHECK_EQ_INT(pl.nmoved, 1);
    CHECK_EQ_STR(pl.moved[0].name, "Bolden");
    CHECK_EQ_INT(pl.moved[0].addr.port, 14011);
    reload_plan_free(&pl);
    config_free(&cfg);
    finish(&r);
}

/* A neighbour the command line gave (--peer) stays, whatever the file
 * says of it. */
static void test_fixed_neighbour(void)
{
    struct running r;
    init(&r);
    snprintf(r.fixed[0].name, sizeof r.fixed[0].name, "Bolden");
    snprintf(r.fixed[0].addr.host, sizeof r.fixed[0].addr.host, "10.0.0.1");
    r.fixed[0].addr.port = 5000;
    r.nfixed = 1;
    start(&r, base, "Chester");
    CHECK_EQ_INT(r.run.npeers, 1);
    struct reload_plan pl;
    struct config cfg;
    char why[256];
    /* The file drops the link: the --peer stays. */
    CHECK_EQ_INT(plan(&pl, &r, &cfg,
                      "server Alford  127.0.0.1:12010\n"
                      "server Bolden  127.0.0.1:12011\n"
                      "server Chester 127.0.0.1:12012 peer 127.0.0.1:13012\n"
                      "link Alford Bolden\nlink Alford Chester\n"
                      "run_dir run\ndata_dir data\nlog_dir log\n",
                      why, sizeof why),
                 0);
    CHECK_EQ_INT(pl.nremoved, 0);
    CHECK_EQ_INT(pl.nmoved, 0);
    CHECK_EQ_INT(pl.nadded, 1);
    CHECK_EQ_STR(pl.added[0].name, "Alford");
    reload_plan_free(&pl);
    config_free(&cfg);
    finish(&r);
}

static void test_live_settings(void)
{
    struct running r;
    init(&r);
    start(&r, with("fsync never\nlink_ping_ms 200\n"), "Alford");
    struct reload_plan pl;
    struct config cfg;
    char why[256];
    CHECK_EQ_INT(plan(&pl, &r, &cfg,
                      with("max_line 100\nfsync batch\nplaces_cache_size 5\n"
                           "link_timeout_ms 900\n"),
                      why, sizeof why),
                 0);
    CHECK_EQ_INT(pl.nchanged, 5);
    CHECK(pl.changed[SETTING_max_line]);
    CHECK(pl.changed[SETTING_fsync]);
    CHECK(pl.changed[SETTING_places_cache_size]);
    CHECK(pl.changed[SETTING_link_timeout_ms]);
    CHECK(pl.changed[SETTING_link_ping_ms]); /* back to its default */
    CHECK_EQ_INT(pl.next.max_line, 100);
    CHECK_EQ_STR(pl.next.fsync, "batch");
    CHECK_EQ_INT(pl.next.places_cache_size, 5);
    CHECK_EQ_INT(pl.next.link_timeout_ms, 900);
    CHECK_EQ_INT(pl.next.link_ping_ms, 500);
    CHECK_EQ_INT(pl.next.origin[SETTING_link_ping_ms], SETTINGS_DEFAULT);
    CHECK_EQ_INT(pl.next.origin[SETTING_max_line], SETTINGS_FILE);
    CHECK_EQ_INT(pl.nrestart, 0);
    CHECK(!reload_plan_empty(&pl));
    reload_plan_free(&pl);
    config_free(&cfg);
    finish(&r);
}

/* What the command line gave never changes, and is no restart either. */
static void test_command_line_wins(void)
{
    struct running r;
    init(&r);
    char why[256];
    CHECK_EQ_INT(
        settings_set_arg(&r.args, "--max-line", "300", why, sizeof why), 0);
    CHECK_EQ_INT(
        settings_set_arg(&r.args, "--places", "offline", why, sizeof why), 0);
    start(&r, base, "Alford");
    CHECK_EQ_INT(r.args.max_line, 300);
    struct reload_plan pl;
    struct config cfg;
    CHECK_EQ_INT(plan(&pl, &r, &cfg,
                      with("max_line 100\nplaces google\nmax_clients 7\n"), why,
                      sizeof why),
                 0);
    CHECK_EQ_INT(pl.nchanged, 1);
    CHECK(pl.changed[SETTING_max_clients]);
    CHECK_EQ_INT(pl.next.max_line, 300);
    CHECK_EQ_INT(pl.next.origin[SETTING_max_line], SETTINGS_ARGS);
    CHECK_EQ_INT(pl.next.max_clients, 7);
    CHECK_EQ_INT(pl.nrestart, 0);
    reload_plan_free(&pl);
    config_free(&cfg);
    finish(&r);
}

/* FIXED settings and this server's own addresses and files: listed,
 * left as they run, and listed again at the next reload. */
static void test_restart_needed(void)
{
    struct running r;
    init(&r);
    start(&r, base, "Alford");
    struct reload_plan pl;
    struct config cfg;
    char why[256];
    CHECK_EQ_INT(plan(&pl, &r, &cfg,
                      "server Alford  127.0.0.1:12020\n"
                      "server Bolden  127.0.0.1:12011\n"
                      "server Chester 127.0.0.1:12012 peer 127.0.0.1:13012\n"
                      "link Alford Bolden\nlink Bolden Chester\n"
                      "run_dir run2\ndata_dir /var/data\nlog_dir log\n"
                      "places google\nsecret_file s\ntls_cert c\n"
                      "tls_key k\ntls_ca a\nmax_line 8192\n"
                      "restart_max_ms 7\nhttp 127.0.0.1:1\n",
                      why, sizeof why),
                 0);
    check_restart(&pl, "listen peer_listen places run_dir data_dir "
                       "secret_file tls_cert tls_key tls_ca");
    CHECK_EQ_INT(pl.nchanged, 0);
    CHECK_EQ_STR(pl.next.places, "offline");
    CHECK(pl.next.tls_cert == NULL);
    CHECK_EQ_STR(pl.next.data_dir, r.data);
    CHECK(!reload_plan_empty(&pl));
    reload_plan_free(&pl);
    config_free(&cfg);
    /* The log directory alone; a setting taken out of the file goes back
     * to its default, which is what runs: nothing to do. */
    CHECK_EQ_INT(plan(&pl, &r, &cfg,
                      "server Alford  127.0.0.1:12010\n"
                      "server Bolden  127.0.0.1:12011\n"
                      "server Chester 127.0.0.1:12012 peer 127.0.0.1:13012\n"
                      "link Alford Bolden\nlink Bolden Chester\n"
                      "run_dir run\ndata_dir data\nlog_dir /var/log/herd\n",
                      why, sizeof why),
                 0);
    check_restart(&pl, "log_dir");
    reload_plan_free(&pl);
    config_free(&cfg);
    finish(&r);
}

/* A default its user computes (the offline index) is the same default
 * when the file still gives none. */
static void test_computed_default(void)
{
    struct running r;
    init(&r);
    start(&r, base, "Alford");
    r.args.places_index = "/usr/share/herd/places.idx"; /* as main does */
    struct reload_plan pl;
    struct config cfg;
    char why[256];
    CHECK_EQ_INT(plan(&pl, &r, &cfg, base, why, sizeof why), 0);
    CHECK(reload_plan_empty(&pl));
    reload_plan_free(&pl);
    config_free(&cfg);
    CHECK_EQ_INT(plan(&pl, &r, &cfg, with("places_index /tmp/other.idx\n"), why,
                      sizeof why),
                 0);
    check_restart(&pl, "places_index");
    reload_plan_free(&pl);
    config_free(&cfg);
    finish(&r);
}

/* Files a start would refuse change nothing. */
static void test_refused(void)
{
    struct running r;
    init(&r);
    start(&r, base, "Chester");
    struct reload_plan pl;
    struct config cfg;
    char why[256];
    CHECK_EQ_INT(plan(&pl, &r, &cfg,
                      "server Alford 127.0.0.1:12010\n"
                      "server Bolden 127.0.0.1:12011\n"
                      "link Alford Bolden\n",
                      why, sizeof why),
                 RELOAD_PLAN_EREFUSED);
    CHECK_EQ_STR(why, "no server named 'Chester'");
    config_free(&cfg);
    CHECK_EQ_INT(plan(&pl, &r, &cfg,
                      with("link_ping_ms 1000\nlink_timeout_ms 1000\n"), why,
                      sizeof why),
                 RELOAD_PLAN_EREFUSED);
    CHECK(strstr(why, "link timeout (1000 ms) must be longer") != NULL);
    config_free(&cfg);
    CHECK_EQ_INT(plan(&pl, &r, &cfg, with("tls_cert c\n"), why, sizeof why),
                 RELOAD_PLAN_EREFUSED);
    CHECK_EQ_STR(why, "tls_cert, tls_key and tls_ca go together");
    config_free(&cfg);
    /* Named nowhere, but given --listen: its --peer neighbours alone. */
    r.run.listen_args = 1;
    CHECK_EQ_INT(plan(&pl, &r, &cfg,
                      "server Alford 127.0.0.1:12010\n"
                      "server Bolden 127.0.0.1:12011\n"
                      "link Alford Bolden\n",
                      why, sizeof why),
                 0);
    CHECK_EQ_INT(pl.nremoved, 1);
    CHECK_EQ_STR(pl.removed[0].name, "Bolden");
    reload_plan_free(&pl);
    config_free(&cfg);
    finish(&r);
}

/* Started as herd starts a server: --data-dir, --log-file and
 * --secret-file on the command line, made from the file (data and log
 * beside it when it names none). A change of them in the file needs a
 * restart by herd, and is reported; values of the operator's own are
 * not the file's business. */
static void test_follows_herd(void)
{
    struct running r;
    init(&r);
    char why[256];
    static const char text[] = "server Alford 127.0.0.1:12010\n"
                               "server Bolden 127.0.0.1:12011\n"
                               "link Alford Bolden\n"
                               "secret_file secret\n";
    CHECK_EQ_INT(settings_set_arg(&r.args, "--secret-file", "/etc/herd/secret",
                                  why, sizeof why),
                 0);
    CHECK_EQ_INT(settings_set_arg(&r.args, "--log-file",
                                  "/etc/herd/log/Alford.log", why, sizeof why),
                 0);
    CHECK_EQ_INT(
        settings_set_arg(&r.args, "--places", "offline", why, sizeof why), 0);
    start(&r, text, "Alford");
    r.args.data_dir = "/etc/herd/data/Alford"; /* herd's --data-dir */
    r.args.origin[SETTING_data_dir] = SETTINGS_ARGS;
    r.args.log_file = "/etc/herd/log/Alford.log";
    unsigned char follows[SETTINGS_COUNT];
    reload_plan_follows(&r.cfg, PATH, "Alford", &r.args, follows);
    CHECK(follows[SETTING_data_dir]);
    CHECK(follows[SETTING_log_file]);
    CHECK(follows[SETTING_secret_file]);
    CHECK(!follows[SETTING_places]); /* the file names none */
    CHECK(!follows[SETTING_max_line]);
    r.run.follows = follows;
    struct reload_plan pl;
    struct config cfg;
    CHECK_EQ_INT(plan(&pl, &r, &cfg, text, why, sizeof why), 0);
    CHECK(reload_plan_empty(&pl));
    reload_plan_free(&pl);
    config_free(&cfg);
    CHECK_EQ_INT(plan(&pl, &r, &cfg,
                      "server Alford 127.0.0.1:12010\n"
                      "server Bolden 127.0.0.1:12011\n"
                      "link Alford Bolden\n"
                      "secret_file /srv/secret\n"
                      "data_dir /srv/data\nlog_dir /srv/log\n"
                      "places google\n",
                      why, sizeof why),
                 0);
    check_restart(&pl, "log_dir data_dir secret_file");
    CHECK_EQ_STR(pl.next.data_dir, "/etc/herd/data/Alford");
    CHECK_EQ_STR(pl.next.secret_file, "/etc/herd/secret");
    reload_plan_free(&pl);
    config_free(&cfg);
    /* The operator's own --data-dir: the file's data_dir is not its. */
    r.args.data_dir = "/mine";
    reload_plan_follows(&r.cfg, PATH, "Alford", &r.args, follows);
    CHECK(!follows[SETTING_data_dir]);
    CHECK_EQ_INT(plan(&pl, &r, &cfg,
                      with("secret_file secret\ndata_dir /srv/data\n"), why,
                      sizeof why),
                 0);
    CHECK_EQ_INT(pl.nrestart, 0);
    reload_plan_free(&pl);
    config_free(&cfg);
    finish(&r);
}

static const struct test tests[] = {
    {"same_file", test_same_file},
    {"neighbours", test_neighbours},
    {"fixed_neighbour", test_fixed_neighbour},
    {"live_settings", test_live_settings},
    {"command_line_wins", test_command_line_wins},
    {"restart_needed", test_restart_needed},
    {"computed_default", test_computed_default},
    {"refused", test_refused},
    {"follows_herd", test_follows_herd},
};

TEST_MAIN(tests)
