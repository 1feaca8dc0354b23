/* Unit tests for supervisor/view: the herd's view built from hand-made
 * answers of a supervisor and of servers, and the rates between two. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "test.h"
#include "view.h"

/* Four servers; Powell's only link is to Alford, Bolden's to Parker. */
static const char herd_conf[] = "server Alford 127.0.0.1:12010\n"
                                "server Bolden 127.0.0.1:12011\n"
                                "server Parker 127.0.0.1:12013 peer "
                                "127.0.0.1:13013\n"
                                "server Powell 127.0.0.1:12014\n"
                                "link Alford Parker\n"
                                "link Alford Powell\n"
                                "link Bolden Parker\n";

enum { ALFORD, BOLDEN, PARKER, POWELL, NSERVERS };

static struct config cfg;

/* herd_conf into cfg, once (each test may run alone). */
static void load_config(void)
{
    static int loaded;
    if (loaded++)
        return;
    struct herd_error err;
    config_init(&cfg);
    memset(&err, 0, sizeof err);
    CHECK_EQ_INT(config_parse(&cfg, herd_conf, strlen(herd_conf), NULL, &err),
                 0);
    CHECK_EQ_INT(cfg.nservers, NSERVERS);
    CHECK_EQ_INT(cfg.nlinks, 3);
}

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (v == NULL) {
        fprintf(stderr, "bad test JSON (%s): %s\n", jerr.text, text);
        exit(1);
    }
    return v;
}

/* The answers of the four servers, NULL where text is NULL. */
struct answers {
    json_t *st[NSERVERS];
};

static void answers_set(struct answers *a, int i, const char *text)
{
    json_decref(a->st[i]);
    a->st[i] = text != NULL ? parse(text) : NULL;
}

static void answers_free(struct answers *a)
{
    for (int i = 0; i < NSERVERS; i++) {
        json_decref(a->st[i]);
        a->st[i] = NULL;
    }
}

static json_t *server(json_t *view, int i)
{
    json_t *s = json_array_get(json_object_get(view, "servers"), (size_t)i);
    CHECK(json_is_object(s));
    return s;
}

static json_t *link_at(json_t *view, int i)
{
    json_t *l = json_array_get(json_object_get(view, "links"), (size_t)i);
    CHECK(json_is_object(l));
    return l;
}

static const char *str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    CHECK(json_is_string(v));
    return json_string_value(v);
}

static long long num(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    CHECK(json_is_integer(v));
    return (long long)json_integer_value(v);
}

/* key is present and null. */
static int is_null(json_t *o, const char *key)
{
    return json_is_null(json_object_get(o, key));
}

static void check_rate(json_t *rates, const char *key, double want)
{
    json_t *v = json_object_get(rates, key);
    if (!json_is_number(v) || fabs(json_number_value(v) - want) > 1e-9) {
        char *got = json_dumps(rates, JSON_COMPACT);
        fprintf(stderr, "rate %s: expected %g in %s\n", key, want,
                got ? got : "?");
        free(got);
        exit(1);
    }
}

static const char sup_all[] =
    "{\"supervisor_pid\": 4242, \"servers\": ["
    "{\"name\":\"Alford\",\"state\":\"up\",\"pid\":101,\"address\":\"x\","
    "\"uptime_ms\":5000,\"restarts\":2,\"last_exit\":\"signal 9 (KILL)\","
    "\"note\":\"\"},"
    "{\"name\":\"Bolden\",\"state\":\"failed\",\"pid\":null,"
    "\"uptime_ms\":null,\"restarts\":4,\"last_exit\":\"exit 3\","
    "\"note\":\"4 restarts within 60 s\"},"
    "{\"name\":\"Parker\",\"state\":\"up\",\"pid\":103,\"uptime_ms\":7000,"
    "\"restarts\":0,\"last_exit\":null,\"note\":\"\"},"
    "{\"name\":\"Powell\",\"state\":\"up\",\"pid\":104,\"uptime_ms\":7000,"
    "\"restarts\":0,\"last_exit\":null,\"note\":\"\"}]}";

/* A server's answer with digest d and its neighbours' entries nbs. */
static char *status_text(const char *name, const char *d, const char *nbs)
{
    static char buf[4][2048];
    static int turn;
    char *b = buf[turn++ % 4];
    snprintf(b, sizeof buf[0],
             "{\"name\":\"%s\",\"pid\":9%d,\"epoch\":\"00000000000000e1\","
             "\"uptime_ms\":1234,\"records\":3,\"digest\":\"%s\","
             "\"clients\":1,\"neighbours\":[%s]}",
             name, turn, d, nbs);
    return b;
}

static void test_servers_from_supervisor(void)
{
    load_config();
    struct answers a = {0};
    answers_set(&a, ALFORD, status_text("Alford", "aa", ""));
    answers_set(&a, PARKER, status_text("Parker", "aa", ""));
    json_t *sup = parse(sup_all);
    json_t *v = view_build(&cfg, sup, a.st);
    CHECK(v != NULL);
    CHECK_EQ_INT(num(v, "supervisor_pid"), 4242);
    CHECK_EQ_INT(json_array_size(json_object_get(v, "servers")), NSERVERS);
    CHECK_EQ_INT(json_array_size(json_object_get(v, "links")), 3);
    json_t *s = server(v, ALFORD);
    CHECK_EQ_STR(str(s, "name"), "Alford");
    CHECK_EQ_STR(str(s, "address"), "127.0.0.1:12010");
    CHECK_EQ_STR(str(s, "peer_address"), "127.0.0.1:22010");
    CHECK_EQ_STR(str(s, "state"), "up");
    CHECK(json_is_true(json_object_get(s, "managed")));
    CHECK_EQ_INT(num(s, "pid"), 101); /* the supervisor's, not the answer's */
    CHECK_EQ_INT(num(s, "uptime_ms"), 5000);
    CHECK_EQ_INT(num(s, "restarts"), 2);
    CHECK_EQ_STR(str(s, "last_exit"), "signal 9 (KILL)");
    CHECK_EQ_STR(str(s, "note"), "");
    CHECK_EQ_INT(num(s, "records"), 3);
    CHECK_EQ_STR(str(s, "digest"), "aa");
    CHECK_EQ_INT(num(s, "clients"), 1);
    CHECK(json_equal(json_object_get(s, "stats"), a.st[ALFORD]));
    CHECK(is_null(s, "rates"));
    CHECK_EQ_STR(str(server(v, PARKER), "peer_address"), "127.0.0.1:13013");

    /* Bolden failed: the supervisor's word, and nothing of its own. */
    s = server(v, BOLDEN);
    CHECK_EQ_STR(str(s, "state"), "failed");
    CHECK(is_null(s, "pid") && is_null(s, "uptime_ms"));
    CHECK_EQ_INT(num(s, "restarts"), 4);
    CHECK_EQ_STR(str(s, "note"), "4 restarts within 60 s");
    CHECK(is_null(s, "records") && is_null(s, "digest") &&
          is_null(s, "clients") && is_null(s, "stats") &&
          is_null(s, "in_sync"));
    json_decref(v);
    json_decref(sup);
    answers_free(&a);
}

static void test_servers_not_supervised(void)
{
    load_config();
    struct answers a = {0};
    answers_set(&a, PARKER, status_text("Parker", "aa", ""));
    /* This supervisor runs Alford only (--only). */
    json_t *sup = parse("{\"supervisor_pid\":7,\"servers\":[{\"name\":"
                        "\"Alford\",\"state\":\"down\",\"pid\":null,"
                        "\"restarts\":0,\"note\":\"stopped\"},"
                        "{\"name\":\"Nobody\",\"state\":\"up\"}]}");
    json_t *v = view_build(&cfg, sup, a.st);
    CHECK(v != NULL);
    CHECK_EQ_INT(json_array_size(json_object_get(v, "servers")), NSERVERS);
    json_t *s = server(v, ALFORD);
    CHECK(json_is_true(json_object_get(s, "managed")));
    CHECK_EQ_STR(str(s, "state"), "down");
    CHECK_EQ_STR(str(s, "note"), "stopped");
    CHECK(is_null(s, "last_exit"));
    /* Parker answers on its own: up, with its own pid and uptime. */
    s = server(v, PARKER);
    CHECK(json_is_false(json_object_get(s, "managed")));
    CHECK_EQ_STR(str(s, "state"), "up");
    CHECK(num(s, "pid") > 90);
    CHECK_EQ_INT(num(s, "uptime_ms"), 1234);
    CHECK(is_null(s, "restarts") && is_null(s, "last_exit"));
    CHECK(strstr(str(s, "note"), "not run by this supervisor") != NULL);
    /* Powell neither runs here nor answers. */
    s = server(v, POWELL);
    CHECK(json_is_false(json_object_get(s, "managed")));
    CHECK_EQ_STR(str(s, "state"), "unknown");
    CHECK(is_null(s, "pid") && is_null(s, "records") && is_null(s, "stats"));
    CHECK(strstr(str(s, "note"), "does not answer") != NULL);
    json_decref(v);

    /* No supervisor at all. */
    v = view_build(&cfg, NULL, a.st);
    CHECK(v != NULL);
    CHECK(is_null(v, "supervisor_pid"));
    CHECK_EQ_STR(str(server(v, PARKER), "state"), "up");
    CHECK_EQ_STR(str(server(v, ALFORD), "state"), "unknown");
    CHECK(json_is_false(json_object_get(server(v, ALFORD), "managed")));
    json_decref(v);
    json_decref(sup);
    answers_free(&a);
}

static void test_in_sync_nobody(void)
{
    load_config();
    struct answers a = {0};
    json_t *v = view_build(&cfg, NULL, a.st);
    CHECK(is_null(v, "in_sync")); /* nobody answered */
    for (int i = 0; i < NSERVERS; i++)
        CHECK(is_null(server(v, i), "in_sync"));
    json_decref(v);
    v = view_build(&cfg, NULL, NULL);
    CHECK(v != NULL && is_null(v, "in_sync"));
    json_decref(v);
}

static void test_in_sync_digests(void)
{
    load_config();
    struct answers a = {0};
    answers_set(&a, ALFORD, status_text("Alford", "aa", ""));
    answers_set(&a, BOLDEN, status_text("Bolden", "aa", ""));
    answers_set(&a, PARKER, status_text("Parker", "aa", ""));
    answers_set(&a, POWELL, status_text("Powell", "aa", ""));
    json_t *v = view_build(&cfg, NULL, a.st);
    CHECK(json_is_true(json_object_get(v, "in_sync")));
    for (int i = 0; i < NSERVERS; i++)
        CHECK(json_is_true(json_object_get(server(v, i), "in_sync")));
    json_decref(v);

    /* Powell differs: it and Alford (its only neighbour) are out of sync;
     * Parker and Bolden agree with all their neighbours. */
    answers_set(&a, POWELL, status_text("Powell", "bb", ""));
    v = view_build(&cfg, NULL, a.st);
    CHECK(json_is_false(json_object_get(v, "in_sync")));
    CHECK(json_is_false(json_object_get(server(v, POWELL), "in_sync")));
    CHECK(json_is_false(json_object_get(server(v, ALFORD), "in_sync")));
    CHECK(json_is_true(json_object_get(server(v, PARKER), "in_sync")));
    CHECK(json_is_true(json_object_get(server(v, BOLDEN), "in_sync")));
    json_decref(v);

    /* Alford silent: Powell has no answering neighbour (in sync with all
     * of them), the herd still disagrees. */
    answers_set(&a, ALFORD, NULL);
    v = view_build(&cfg, NULL, a.st);
    CHECK(json_is_false(json_object_get(v, "in_sync")));
    CHECK(is_null(server(v, ALFORD), "in_sync"));
    CHECK(json_is_true(json_object_get(server(v, POWELL), "in_sync")));
    json_decref(v);

    /* A digest that is not a string counts as no answer. */
    answers_set(&a, POWELL, "{\"name\":\"Powell\",\"digest\":17}");
    v = view_build(&cfg, NULL, a.st);
    CHECK(json_is_true(json_object_get(v, "in_sync")));
    CHECK(is_null(server(v, POWELL), "in_sync"));
    CHECK(is_null(server(v, POWELL), "digest"));
    CHECK_EQ_STR(str(server(v, POWELL), "state"), "up");
    json_decref(v);
    answers_free(&a);
}

/* Alford - Parker as the two ends say it (NULL: that end says nothing). */
static json_t *alford_parker(const char *at_alford, const char *at_parker)
{
    struct answers a = {0};
    answers_set(&a, ALFORD,
                at_alford ? status_text("Alford", "aa", at_alford) : NULL);
    answers_set(&a, PARKER,
                at_parker ? status_text("Parker", "aa", at_parker) : NULL);
    json_t *v = view_build(&cfg, NULL, a.st);
    CHECK(v != NULL);
    json_t *l = json_incref(link_at(v, 0));
    CHECK_EQ_STR(str(l, "a"), "Alford");
    CHECK_EQ_STR(str(l, "b"), "Parker");
    CHECK(is_null(l, "rates"));
    json_decref(v);
    answers_free(&a);
    return l;
}

#define NB_PARKER(state, since, why, rtt)                                      \
    "{\"name\":\"Parker\",\"state\":\"" state "\",\"cut\":false,"              \
    "\"since_ms\":" #since ",\"why\":\"" why "\",\"rtt_us\":" #rtt ",\"sent\"" \
    ":0,\"received\":0}"
#define NB_ALFORD(state, since, why, rtt)                                      \
    "{\"name\":\"Alford\",\"state\":\"" state "\",\"cut\":false,"              \
    "\"since_ms\":" #since ",\"why\":\"" why "\",\"rtt_us\":" #rtt ",\"sent\"" \
    ":0,\"received\":0}"

static void test_link_up(void)
{
    load_config();
    json_t *l = alford_parker(NB_PARKER("up", 9000, "", 250),
                              NB_ALFORD("up", 8000, "", 180));
    CHECK_EQ_STR(str(l, "state"), "up");
    CHECK_EQ_INT(num(l, "since_ms"), 8000); /* the shorter */
    CHECK_EQ_INT(num(l, "rtt_us"), 180);    /* the least */
    CHECK_EQ_STR(str(l, "why"), "");
    CHECK_EQ_STR(str(l, "note"), "");
    json_decref(l);

    /* Up at one end, down at the other: up; a zero rtt is no rtt. */
    l = alford_parker(NB_PARKER("up", 500, "", 0),
                      NB_ALFORD("dialling", 800, "refused", 0));
    CHECK_EQ_STR(str(l, "state"), "up");
    CHECK_EQ_INT(num(l, "since_ms"), 500);
    CHECK(is_null(l, "rtt_us"));
    CHECK_EQ_STR(str(l, "why"), "");
    json_decref(l);

    /* One end silent: the other's word, with a note. */
    l = alford_parker(NB_PARKER("up", 500, "", 90), NULL);
    CHECK_EQ_STR(str(l, "state"), "up");
    CHECK_EQ_INT(num(l, "rtt_us"), 90);
    CHECK_EQ_STR(str(l, "note"), "Parker does not answer");
    json_decref(l);
}

static void test_link_down(void)
{
    load_config();
    /* Down at both: the longer, with its why. */
    json_t *l = alford_parker(NB_PARKER("down", 12000, "silent", 0),
                              NB_ALFORD("dialling", 3000, "refused", 0));
    CHECK_EQ_STR(str(l, "state"), "down");
    CHECK_EQ_INT(num(l, "since_ms"), 12000);
    CHECK_EQ_STR(str(l, "why"), "silent");
    CHECK(is_null(l, "rtt_us"));
    json_decref(l);

    /* The longer says no why: the other's. */
    l = alford_parker(NB_PARKER("down", 12000, "", 40),
                      NB_ALFORD("down", 3000, "closed", 40));
    CHECK_EQ_STR(str(l, "why"), "closed");
    CHECK(is_null(l, "rtt_us")); /* no rtt for a link that is down */
    json_decref(l);

    /* Parker stopped: Alford's word only. */
    l = alford_parker(NB_PARKER("down", 12345, "silent", 0), NULL);
    CHECK_EQ_STR(str(l, "state"), "down");
    CHECK_EQ_INT(num(l, "since_ms"), 12345);
    CHECK_EQ_STR(str(l, "why"), "silent");
    CHECK_EQ_STR(str(l, "note"), "Parker does not answer");
    json_decref(l);

    /* A state it does not know is down; since_ms missing is null. */
    l = alford_parker("{\"name\":\"Parker\",\"state\":\"weird\"}", NULL);
    CHECK_EQ_STR(str(l, "state"), "down");
    CHECK(is_null(l, "since_ms"));
    CHECK_EQ_STR(str(l, "why"), "");
    json_decref(l);
}

static void test_link_cut(void)
{
    load_config();
    /* Cut at one end beats up at the other. */
    json_t *l = alford_parker(NB_PARKER("cut", 4000, "cut", 0),
                              NB_ALFORD("up", 9000, "", 100));
    CHECK_EQ_STR(str(l, "state"), "cut");
    CHECK_EQ_INT(num(l, "since_ms"), 4000);
    CHECK_EQ_STR(str(l, "why"), "cut");
    CHECK(is_null(l, "rtt_us"));
    CHECK_EQ_STR(str(l, "note"), "cut at Alford only");
    json_decref(l);

    /* "cut": true with another state is cut; a cut that says no why says
     * "cut"; cut at both ends has no note. */
    l = alford_parker(
        "{\"name\":\"Parker\",\"state\":\"down\",\"cut\":true,\"since_ms\":7}",
        NB_ALFORD("cut", 9, "", 0));
    CHECK_EQ_STR(str(l, "state"), "cut");
    CHECK_EQ_INT(num(l, "since_ms"), 9); /* the longer */
    CHECK_EQ_STR(str(l, "why"), "cut");
    CHECK_EQ_STR(str(l, "note"), "");
    json_decref(l);
}

static void test_link_unknown(void)
{
    load_config();
    json_t *l = alford_parker(NULL, NULL);
    CHECK_EQ_STR(str(l, "state"), "unknown");
    CHECK(is_null(l, "since_ms") && is_null(l, "rtt_us"));
    CHECK_EQ_STR(str(l, "why"), "");
    CHECK_EQ_STR(str(l, "note"), "neither end answers");
    json_decref(l);

    /* Both answered, neither lists the other: nothing said of the link. */
    l = alford_parker("{\"name\":\"Powell\",\"state\":\"up\"}",
                      "{\"name\":\"Bolden\",\"state\":\"up\"}");
    CHECK_EQ_STR(str(l, "state"), "unknown");
    json_decref(l);
}

static void test_malformed(void)
{
    load_config();
    static const char *const bad[] = {
        "[1,2,3]",
        "\"status\"",
        "17",
        "null",
        /* another server's answer at Alford's socket */
        "{\"name\":\"Bolden\",\"records\":3,\"digest\":\"aa\"}",
        "{\"name\":5}",
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        struct answers a = {0};
        answers_set(&a, ALFORD, bad[k]);
        answers_set(&a, PARKER, status_text("Parker", "aa", ""));
        json_t *v = view_build(&cfg, NULL, a.st);
        CHECK(v != NULL);
        json_t *s = server(v, ALFORD);
        CHECK_EQ_STR(str(s, "state"), "unknown");
        CHECK(is_null(s, "stats") && is_null(s, "records") &&
              is_null(s, "in_sync"));
        json_decref(v);
        answers_free(&a);
    }

    /* Fields of the wrong type are null; neighbours that are not a list,
     * or entries that are not objects, say nothing of the links. */
    struct answers a = {0};
    answers_set(&a, ALFORD,
                "{\"name\":\"Alford\",\"records\":\"many\",\"digest\":[],"
                "\"clients\":-0.5,\"pid\":\"x\",\"neighbours\":{\"Parker\":"
                "1}}");
    answers_set(&a, PARKER,
                "{\"neighbours\":[7,\"Alford\",{\"name\":3},{\"name\":"
                "\"Alford\",\"state\":5,\"since_ms\":\"long\",\"why\":[],"
                "\"rtt_us\":\"fast\",\"cut\":\"yes\"}]}");
    json_t *sup = parse("{\"supervisor_pid\":\"x\",\"servers\":[3,{\"name\":"
                        "\"Alford\",\"state\":7,\"pid\":\"y\",\"note\":1}]}");
    json_t *v = view_build(&cfg, sup, a.st);
    CHECK(v != NULL);
    CHECK(is_null(v, "supervisor_pid"));
    json_t *s = server(v, ALFORD);
    CHECK(json_is_true(json_object_get(s, "managed")));
    CHECK_EQ_STR(str(s, "state"), "up"); /* it answered */
    CHECK(is_null(s, "pid") && is_null(s, "records") && is_null(s, "digest") &&
          is_null(s, "clients"));
    CHECK_EQ_STR(str(s, "note"), "");
    json_t *l = link_at(v, 0);
    CHECK_EQ_STR(str(l, "state"), "down"); /* Parker's word, read as down */
    CHECK(is_null(l, "since_ms") && is_null(l, "rtt_us"));
    CHECK_EQ_STR(str(l, "why"), "");
    json_decref(v);
    json_decref(sup);

    /* A supervisor answer that is not an object is none. */
    sup = parse("[\"servers\"]");
    v = view_build(&cfg, sup, a.st);
    CHECK(v != NULL && is_null(v, "supervisor_pid"));
    json_decref(v);
    json_decref(sup);
    answers_free(&a);
}

/* An answer of server name with counters, one neighbour entry. */
static char *counted(const char *name, const char *epoch, int iamat,
                     int whatsat, int misses, const char *nb, int sent,
                     int received)
{
    static char buf[4][1024];
    static int turn;
    char *b = buf[turn++ % 4];
    snprintf(b, sizeof buf[0],
             "{\"name\":\"%s\",\"epoch\":\"%s\",\"records\":1,\"digest\":"
             "\"aa\",\"counters\":{\"iamat\":%d,\"whatsat\":%d},"
             "\"places\":{\"cache_misses\":%d},\"neighbours\":[{\"name\":"
             "\"%s\",\"state\":\"up\",\"sent\":%d,\"received\":%d}]}",
             name, epoch, iamat, whatsat, misses, nb, sent, received);
    return b;
}

static void test_rates(void)
{
    load_config();
    struct answers a = {0};
    answers_set(&a, POWELL,
                counted("Powell", "e1", 10, 4, 2, "Alford", 100, 50));
    answers_set(&a, ALFORD, counted("Alford", "e2", 0, 0, 0, "Powell", 7, 3));
    json_t *prev = view_build(&cfg, NULL, a.st);
    answers_set(&a, POWELL,
                counted("Powell", "e1", 30, 5, 2, "Alford", 160, 54));
    answers_set(&a, ALFORD, NULL);
    json_t *cur = view_build(&cfg, NULL, a.st);

    /* Without a previous view, or no time between: null. */
    view_rates(cur, NULL, 500);
    CHECK(is_null(server(cur, POWELL), "rates"));
    CHECK(is_null(link_at(cur, 1), "rates"));
    view_rates(cur, prev, 0);
    CHECK(is_null(server(cur, POWELL), "rates"));

    view_rates(cur, prev, 500);
    json_t *r = json_object_get(server(cur, POWELL), "rates");
    CHECK(json_is_object(r));
    check_rate(r, "iamat", 40.0);
    check_rate(r, "whatsat", 2.0);
    check_rate(r, "places_misses", 0.0);
    check_rate(r, "updates_out", 120.0);
    check_rate(r, "updates_in", 8.0);
    /* Alford did not answer now, Bolden never: no rates. */
    CHECK(is_null(server(cur, ALFORD), "rates"));
    CHECK(is_null(server(cur, BOLDEN), "rates"));
    /* Alford - Powell: Alford silent, so Powell's word both ways. */
    r = json_object_get(link_at(cur, 1), "rates");
    CHECK(json_is_object(r));
    check_rate(r, "a_to_b", 8.0);   /* what Powell received */
    check_rate(r, "b_to_a", 120.0); /* what Powell sent */
    /* Alford - Parker: neither answered both times. */
    CHECK(is_null(link_at(cur, 0), "rates"));
    json_decref(cur);

    /* Alford answers again: the sender's word is taken first. */
    answers_set(&a, ALFORD, counted("Alford", "e2", 0, 0, 0, "Powell", 17, 60));
    cur = view_build(&cfg, NULL, a.st);
    view_rates(cur, prev, 1000);
    r = json_object_get(link_at(cur, 1), "rates");
    check_rate(r, "a_to_b", 10.0); /* Alford sent 7 -> 17 */
    check_rate(r, "b_to_a", 60.0); /* Powell sent 100 -> 160 */
    json_decref(cur);

    /* Powell restarted (another epoch): its counters count from zero. */
    answers_set(&a, POWELL, counted("Powell", "e9", 6, 1, 3, "Alford", 2, 1));
    cur = view_build(&cfg, NULL, a.st);
    view_rates(cur, prev, 1000);
    r = json_object_get(server(cur, POWELL), "rates");
    check_rate(r, "iamat", 6.0);
    check_rate(r, "places_misses", 3.0);
    check_rate(r, "updates_out", 2.0);
    r = json_object_get(link_at(cur, 1), "rates");
    check_rate(r, "a_to_b", 10.0); /* Alford's, same process */
    check_rate(r, "b_to_a", 2.0);  /* Powell's, from zero */
    json_decref(cur);
    json_decref(prev);
    answers_free(&a);
}

static void test_rates_missing_counters(void)
{
    load_config();
    /* Answers without counters (an older server): each rate is null, the
     * object is there. */
    struct answers a = {0};
    answers_set(&a, PARKER, status_text("Parker", "aa", ""));
    json_t *prev = view_build(&cfg, NULL, a.st);
    json_t *cur = view_build(&cfg, NULL, a.st);
    view_rates(cur, prev, 1000);
    json_t *r = json_object_get(server(cur, PARKER), "rates");
    CHECK(json_is_object(r));
    CHECK(is_null(r, "iamat") && is_null(r, "whatsat") &&
          is_null(r, "places_misses"));
    check_rate(r, "updates_in", 0.0); /* no neighbours listed: none came */
    /* A counter that went back without a new epoch was reset. */
    answers_set(&a, POWELL, counted("Powell", "e1", 50, 0, 0, "Alford", 9, 9));
    json_decref(prev);
    prev = view_build(&cfg, NULL, a.st);
    answers_set(&a, POWELL, counted("Powell", "e1", 5, 0, 0, "Alford", 9, 9));
    json_decref(cur);
    cur = view_build(&cfg, NULL, a.st);
    view_rates(cur, prev, 1000);
    r = json_object_get(server(cur, POWELL), "rates");
    check_rate(r, "iamat", 5.0);
    json_decref(cur);
    json_decref(prev);
    answers_free(&a);
}

static void test_text(void)
{
    char b[64];
    static const struct {
        uint64_t ms;
        const char *want;
    } d[] = {
        {0, "0s"},           {999, "0s"},
        {12000, "12s"},      {59999, "59s"},
        {60000, "1m00s"},    {192000, "3m12s"},
        {3599999, "59m59s"}, {3600000, "1h00m"},
        {3900000, "1h05m"},  {86399999, "23h59m"},
        {86400000, "1d00h"}, {270000000, "3d03h"},
    };
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) {
        view_duration(b, sizeof b, d[i].ms);
        CHECK_EQ_STR(b, d[i].want);
    }
    view_duration(b, 3, 192000); /* cut short, terminated */
    CHECK_EQ_STR(b, "3m");

    static const struct {
        const char *link;
        const char *state;
        const char *detail;
    } l[] = {
        {"{\"state\":\"up\",\"since_ms\":192000,\"rtt_us\":200}", "up 3m12s",
         "rtt 0.2 ms"},
        {"{\"state\":\"up\",\"since_ms\":1,\"rtt_us\":80}", "up 0s",
         "rtt 80 us"},
        {"{\"state\":\"up\",\"rtt_us\":null}", "up", "rtt -"},
        {"{\"state\":\"down\",\"since_ms\":12000,\"why\":\"silent\"}",
         "down 12s", "(silent)"},
        {"{\"state\":\"down\",\"since_ms\":12000,\"why\":\"\"}", "down 12s",
         ""},
        {"{\"state\":\"cut\",\"since_ms\":5000,\"why\":\"cut\"}", "cut", ""},
        {"{\"state\":\"unknown\",\"since_ms\":null,\"why\":\"\"}", "unknown",
         ""},
        {"{\"state\":3}", "unknown", ""},
    };
    for (size_t i = 0; i < sizeof l / sizeof l[0]; i++) {
        json_t *link = parse(l[i].link);
        view_link_state(link, b, sizeof b);
        CHECK_EQ_STR(b, l[i].state);
        view_link_detail(link, b, sizeof b);
        CHECK_EQ_STR(b, l[i].detail);
        json_decref(link);
    }

    json_t *s = parse("{\"in_sync\":true}");
    CHECK_EQ_STR(view_sync_mark(s), "yes");
    json_object_set_new(s, "in_sync", json_false());
    CHECK_EQ_STR(view_sync_mark(s), "NO");
    json_object_set_new(s, "in_sync", json_null());
    CHECK_EQ_STR(view_sync_mark(s), "-");
    json_decref(s);
}

static const struct test tests[] = {
    {"servers_from_supervisor", test_servers_from_supervisor},
    {"servers_not_supervised", test_servers_not_supervised},
    {"in_sync_nobody", test_in_sync_nobody},
    {"in_sync_digests", test_in_sync_digests},
    {"link_up", test_link_up},
    {"link_down", test_link_down},
    {"link_cut", test_link_cut},
    {"link_unknown", test_link_unknown},
    {"malformed", test_malformed},
    {"rates", test_rates},
    {"rates_missing_counters", test_rates_missing_counters},
    {"text", test_text},
};

TEST_MAIN(tests)
