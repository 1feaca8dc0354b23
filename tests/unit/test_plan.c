/* Unit tests for supervisor/plan: what a reload changes, between two
 * herd.confs written here, and its text. */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dynbuf.h"
#include "plan.h"
#include "test.h"

/* The default herd's shape. */
#define SERVERS                         \
    "server Alford 127.0.0.1:12000\n"   \
    "server Bolden 127.0.0.1:12001\n"   \
    "server Hamilton 127.0.0.1:12002\n" \
    "server Parker 127.0.0.1:12003\n"   \
    "server Powell 127.0.0.1:12004\n"
#define LINKS              \
    "link Alford Parker\n" \
    "link Alford Powell\n" \
    "link Bolden Parker\n" \
    "link Bolden Powell\n" \
    "link Hamilton Parker\n"

static const unsigned char all_managed[16] = {1, 1, 1, 1, 1, 1, 1, 1,
                                              1, 1, 1, 1, 1, 1, 1, 1};

static void parse(struct config *cfg, const char *text)
{
    struct herd_error err;
    memset(&err, 0, sizeof err);
    config_init(cfg);
    int rc = config_parse(cfg, text, strlen(text), "/tmp", &err);
    if (rc != 0)
        fprintf(stderr, "line %d: %s\n", err.line, err.text);
    CHECK_EQ_INT(rc, 0);
}

/* The plan from old_text to next_text, all servers managed (or, with
 * only, those of managed). */
static void build(struct plan *p, const char *old_text, const char *next_text,
                  const unsigned char *managed, int only)
{
    struct config old;
    struct config next;
    parse(&old, old_text);
    parse(&next, next_text);
    CHECK_EQ_INT(plan_build(p, &old, &next, managed, only), 0);
    /* The plan keeps nothing of the configs. */
    config_free(&old);
    config_free(&next);
}

static char *render(const struct plan *p, int dry_run)
{
    struct dynbuf b;
    dynbuf_init(&b, 1 << 20);
    CHECK_EQ_INT(plan_render(p, dry_run, &b), 0);
    CHECK_EQ_INT(dynbuf_addc(&b, '\0'), 0);
    size_t len;
    return dynbuf_take(&b, &len);
}

static const struct plan_setting *find_setting(const struct plan *p,
                                               enum setting_id id)
{
    for (size_t i = 0; i < p->nsettings; i++)
        if (p->settings[i].id == id)
            return &p->settings[i];
    return NULL;
}

/* The same file: nothing to do. */
static void test_unchanged(void)
{
    struct plan p;
    build(&p, SERVERS LINKS, SERVERS LINKS, all_managed, 0);
    CHECK(!p.changed);
    CHECK(p.connected);
    CHECK_EQ_INT(p.nservers, 5);
    CHECK_EQ_INT(p.nsettings, 0);
    for (size_t i = 0; i < p.nservers; i++)
        CHECK(!p.servers[i].tell && p.servers[i].restart == NULL);
    char *text = render(&p, 1);
    CHECK_EQ_STR(text, "herd.conf has not changed: nothing to do\n");
    free(text);
    plan_free(&p);
}

/* The lines in another order, a comment: still nothing. */
static void test_reordered(void)
{
    struct plan p;
    build(&p, SERVERS LINKS,
          "# moved around\n"
          "server Powell 127.0.0.1:12004\n"
          "link Hamilton Parker\n"
          "server Parker 127.0.0.1:12003\n"
          "server Hamilton 127.0.0.1:12002\n"
          "server Bolden 127.0.0.1:12001\n"
          "server Alford 127.0.0.1:12000\n"
          "link Powell Bolden\nlink Parker Bolden\nlink Powell Alford\n"
          "link Parker Alford\n",
          all_managed, 0);
    CHECK(!p.changed);
    /* In the new file's order. */
    CHECK_EQ_STR(p.servers[0].name, "Powell");
    CHECK_EQ_INT(p.servers[0].old_index, 4);
    CHECK_EQ_INT(p.servers[0].new_index, 0);
    plan_free(&p);
}

/* A sixth server linked to Hamilton and Powell. */
static void test_add_server(void)
{
    struct plan p;
    build(&p, SERVERS LINKS,
          SERVERS "server Zed 127.0.0.1:12005\n" LINKS
                  "link Zed Hamilton\nlink Powell Zed\n",
          all_managed, 0);
    CHECK(p.changed);
    CHECK_EQ_INT(p.nservers, 6);
    struct plan_server *z = plan_find(&p, "Zed");
    CHECK(z != NULL && z->old_index == -1 && z->new_index == 5);
    CHECK(z->managed);
    CHECK_EQ_STR(z->changes, "127.0.0.1:12005, neighbours Hamilton, Powell");
    struct plan_server *h = plan_find(&p, "Hamilton");
    CHECK(h->tell);
    CHECK_EQ_STR(h->changes, "neighbours +Zed");
    CHECK(plan_find(&p, "Powell")->tell);
    CHECK(!plan_find(&p, "Alford")->tell);
    CHECK(!plan_find(&p, "Parker")->tell);
    CHECK(!plan_find(&p, "Bolden")->tell);
    CHECK_EQ_STR(p.links_added, "Zed - Hamilton, Powell - Zed");
    CHECK(p.links_removed == NULL);
    char *text = render(&p, 1);
    CHECK_EQ_STR(text, "would add Zed (127.0.0.1:12005, neighbours Hamilton, "
                       "Powell)\n"
                       "would tell Hamilton to reload (neighbours +Zed)\n"
                       "would tell Powell to reload (neighbours +Zed)\n"
                       "links to add: Zed - Hamilton, Powell - Zed\n");
    free(text);
    /* Applied: the outcomes. */
    CHECK_EQ_INT(plan_set_outcome(z, "up (pid 7)", 0), 0);
    CHECK_EQ_INT(plan_set_outcome(h, "linked to Zed", 0), 0);
    CHECK_EQ_INT(plan_set_outcome(plan_find(&p, "Powell"), "no answer", 1), 0);
    CHECK(plan_failed(&p));
    text = render(&p, 0);
    CHECK_EQ_STR(text,
                 "added Zed (127.0.0.1:12005, neighbours Hamilton, Powell): "
                 "up (pid 7)\n"
                 "told Hamilton to reload (neighbours +Zed): linked to Zed\n"
                 "told Powell to reload (neighbours +Zed): no answer\n"
                 "links added: Zed - Hamilton, Powell - Zed\n");
    free(text);
    plan_free(&p);
}

/* A link goes, then a server (whose going cuts Hamilton off). */
static void test_remove(void)
{
    struct plan p;
    build(&p, SERVERS LINKS,
          SERVERS "link Alford Powell\nlink Bolden Parker\n"
                  "link Bolden Powell\nlink Hamilton Parker\n",
          all_managed, 0);
    CHECK(p.changed && p.connected);
    CHECK_EQ_STR(plan_find(&p, "Alford")->changes, "neighbours -Parker");
    CHECK_EQ_STR(plan_find(&p, "Parker")->changes, "neighbours -Alford");
    CHECK(!plan_find(&p, "Powell")->tell);
    CHECK_EQ_STR(p.links_removed, "Alford - Parker");
    plan_free(&p);

    build(&p, SERVERS LINKS,
          "server Alford 127.0.0.1:12000\n"
          "server Bolden 127.0.0.1:12001\n"
          "server Hamilton 127.0.0.1:12002\n"
          "server Powell 127.0.0.1:12004\n"
          "link Alford Powell\nlink Bolden Powell\n",
          all_managed, 0);
    CHECK(!p.connected); /* Hamilton alone */
    CHECK_EQ_INT(p.nservers, 5);
    struct plan_server *pk = plan_find(&p, "Parker");
    CHECK(pk != NULL && pk->new_index == -1 && pk->old_index == 3);
    CHECK_EQ_STR(plan_find(&p, "Hamilton")->changes, "neighbours -Parker");
    CHECK_EQ_STR(plan_find(&p, "Bolden")->changes, "neighbours -Parker");
    char *text = render(&p, 1);
    CHECK_EQ_STR(text, "would remove Parker (its data directory stays)\n"
                       "would tell Alford to reload (neighbours -Parker)\n"
                       "would tell Bolden to reload (neighbours -Parker)\n"
                       "would tell Hamilton to reload (neighbours -Parker)\n"
                       "links to remove: Alford - Parker, Bolden - Parker, "
                       "Hamilton - Parker\n");
    free(text);
    plan_free(&p);
}

/* Addresses: a server's own needs a restart; its neighbours redial. */
static void test_addresses(void)
{
    struct plan p;
    build(&p, SERVERS LINKS,
          "server Alford 127.0.0.1:12000\n"
          "server Bolden 127.0.0.1:12001\n"
          "server Hamilton 127.0.0.1:12002\n"
          "server Parker 127.0.0.1:12003 peer 127.0.0.1:23003\n"
          "server Powell 127.0.0.1:12104\n" LINKS,
          all_managed, 0);
    struct plan_server *pk = plan_find(&p, "Parker");
    CHECK(pk->tell);
    CHECK_EQ_STR(pk->restart,
                 "peer address 127.0.0.1:22003 -> 127.0.0.1:23003");
    CHECK_EQ_STR(pk->changes, "its own address");
    struct plan_server *pw = plan_find(&p, "Powell");
    /* Its client port moves, and with it the default peer port. */
    CHECK_EQ_STR(pw->restart, "address 127.0.0.1:12004 -> 127.0.0.1:12104; "
                              "peer address 127.0.0.1:22004 -> "
                              "127.0.0.1:22104");
    CHECK_EQ_STR(plan_find(&p, "Alford")->changes,
                 "new peer address of Parker, Powell");
    CHECK_EQ_STR(plan_find(&p, "Hamilton")->changes,
                 "new peer address of Parker");
    CHECK(plan_find(&p, "Alford")->restart == NULL);
    char *text = render(&p, 1);
    CHECK(strstr(text, "restart needed: Parker (peer address "
                       "127.0.0.1:22003 -> 127.0.0.1:23003): herd restart "
                       "Parker\n") != NULL);
    free(text);
    plan_free(&p);
}

/* Settings, by who reads them. */
static void test_settings(void)
{
    struct plan p;
    build(&p, SERVERS LINKS "stop_grace_ms 3000\nmax_clients 100\n",
          SERVERS LINKS "stop_grace_ms 2000\nmax_clients 200\n"
                        "server_bin /opt/herd-server\ncrash_limit 5\n"
                        "http 127.0.0.1:12080\n",
          all_managed, 0);
    CHECK(p.changed && !p.refused);
    const struct plan_setting *s = find_setting(&p, SETTING_stop_grace_ms);
    CHECK(s != NULL && s->effect == PLAN_SUPERVISOR);
    CHECK_EQ_STR(s->from, "3000");
    CHECK_EQ_STR(s->to, "2000");
    s = find_setting(&p, SETTING_max_clients);
    CHECK(s != NULL && s->effect == PLAN_SERVERS);
    CHECK(find_setting(&p, SETTING_crash_limit)->effect == PLAN_SUPERVISOR);
    s = find_setting(&p, SETTING_server_bin);
    CHECK(s != NULL && s->effect == PLAN_NEXT_START);
    CHECK_EQ_STR(s->from, "(none)");
    CHECK_EQ_STR(s->to, "/opt/herd-server");
    CHECK(find_setting(&p, SETTING_http)->effect == PLAN_RESTART_HERD);
    CHECK(find_setting(&p, SETTING_idle_timeout_ms) == NULL);
    /* A setting every server reads: each is told. */
    for (size_t i = 0; i < p.nservers; i++) {
        CHECK(p.servers[i].tell);
        CHECK_EQ_STR(p.servers[i].changes, "settings");
    }
    char *text = render(&p, 0);
    CHECK(strstr(text, "changed stop_grace_ms 3000 -> 2000 (the "
                       "supervisor's, in effect now)\n") != NULL);
    CHECK(strstr(text, "did not change http (none) -> 127.0.0.1:12080 (not "
                       "applied while the supervisor runs") != NULL);
    free(text);
    plan_free(&p);

    /* Only the supervisor's: no server is told. */
    build(&p, SERVERS LINKS, SERVERS LINKS "ready_timeout_ms 20000\n",
          all_managed, 0);
    CHECK(p.changed);
    for (size_t i = 0; i < p.nservers; i++)
        CHECK(!p.servers[i].tell);
    plan_free(&p);

    /* run_dir cannot change. */
    build(&p, SERVERS LINKS, SERVERS LINKS "run_dir /tmp/elsewhere\n",
          all_managed, 0);
    CHECK(p.refused);
    CHECK(find_setting(&p, SETTING_run_dir)->effect == PLAN_REFUSED);
    plan_free(&p);
}

/* With --only: a server added is not run here, and servers run
 * elsewhere are not told. */
static void test_only(void)
{
    static const unsigned char only_two[5] = {1, 0, 0, 1, 0};
    struct plan p;
    build(&p, SERVERS LINKS,
          SERVERS "server Zed 127.0.0.1:12005\n" LINKS
                  "link Zed Parker\nlink Zed Powell\n",
          only_two, 1);
    struct plan_server *z = plan_find(&p, "Zed");
    CHECK(!z->managed);
    CHECK(plan_find(&p, "Parker")->managed && plan_find(&p, "Parker")->tell);
    CHECK(!plan_find(&p, "Powell")->managed);
    char *text = render(&p, 1);
    CHECK_EQ_STR(text,
                 "would add Zed (127.0.0.1:12005, neighbours Parker, Powell) "
                 "(run by another supervisor)\n"
                 "would tell Parker to reload (neighbours +Zed)\n"
                 "Powell (neighbours +Zed): run by another supervisor: herd "
                 "reload there\n"
                 "links to add: Zed - Parker, Zed - Powell\n");
    free(text);
    plan_free(&p);
}

/* A server renamed is one removed and one added. */
static void test_rename(void)
{
    struct plan p;
    build(&p, SERVERS LINKS,
          "server Alford 127.0.0.1:12000\n"
          "server Bolden 127.0.0.1:12001\n"
          "server Hamilton 127.0.0.1:12002\n"
          "server Parks 127.0.0.1:12003\n"
          "server Powell 127.0.0.1:12004\n"
          "link Alford Parks\nlink Alford Powell\nlink Bolden Parks\n"
          "link Bolden Powell\nlink Hamilton Parks\n",
          all_managed, 0);
    CHECK(plan_find(&p, "Parks")->old_index == -1);
    CHECK(plan_find(&p, "Parker")->new_index == -1);
    CHECK_EQ_STR(plan_find(&p, "Alford")->changes, "neighbours +Parks -Parker");
    plan_free(&p);
}

static const struct test tests[] = {
    {"unchanged", test_unchanged},
    {"reordered", test_reordered},
    {"add_server", test_add_server},
    {"remove", test_remove},
    {"addresses", test_addresses},
    {"settings", test_settings},
    {"only", test_only},
    {"rename", test_rename},
};

TEST_MAIN(tests)
