/* Unit tests for supervisor/settle: when a restarted server has settled
 * (linked to every neighbour that is up, in sync with each), from views
 * written here. */
#include <stdlib.h>
#include <string.h>

#include "settle.h"
#include "test.h"

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, 0, &jerr);
    if (v == NULL) {
        fprintf(stderr, "bad test JSON (%s): %s\n", jerr.text, text);
        exit(1);
    }
    return v;
}

/* Parker's neighbours are Alford and Bolden. */
#define LINKS                                                          \
    "\"links\":[{\"a\":\"Alford\",\"b\":\"Parker\",\"state\":\"up\"}," \
    "{\"a\":\"Bolden\",\"b\":\"Parker\",\"state\":\"up\"},"            \
    "{\"a\":\"Alford\",\"b\":\"Bolden\",\"state\":\"up\"}]"

/* How a server's status says "synced" of a link: true, false, or not at
 * all (a build from before the field). */
enum synced { SYNCED_NO, SYNCED_YES, SYNCED_ABSENT };

static const char *synced_field(enum synced s)
{
    return s == SYNCED_YES  ? ",\"synced\":true"
           : s == SYNCED_NO ? ",\"synced\":false"
                            : "";
}

/* A server entry: name, state, digest, and its view of two neighbours
 * (the second maybe cut), each link synced as sync1 and sync2 say. */
static char *server_s(const char *name, const char *state, const char *digest,
                      const char *n1, const char *s1, enum synced sync1,
                      const char *n2, const char *s2, int cut2,
                      enum synced sync2)
{
    char *out = malloc(1024);
    CHECK(out != NULL);
    if (digest == NULL) {
        snprintf(out, 1024,
                 "{\"name\":\"%s\",\"state\":\"%s\",\"digest\":null,"
                 "\"stats\":null}",
                 name, state);
        return out;
    }
    snprintf(
        out, 1024,
        "{\"name\":\"%s\",\"state\":\"%s\",\"digest\":\"%s\","
        "\"stats\":{\"name\":\"%s\",\"digest\":\"%s\",\"neighbours\":["
        "{\"name\":\"%s\",\"state\":\"%s\",\"cut\":false,\"why\":\"\"%s},"
        "{\"name\":\"%s\",\"state\":\"%s\",\"cut\":%s,\"why\":\"%s\"%s}]}}",
        name, state, digest, name, digest, n1, s1, synced_field(sync1), n2, s2,
        cut2 ? "true" : "false", strcmp(s2, "up") == 0 ? "" : "refused",
        synced_field(sync2));
    return out;
}

/* The same, every link that is up synced. */
static char *server(const char *name, const char *state, const char *digest,
                    const char *n1, const char *s1, const char *n2,
                    const char *s2, int cut2)
{
    return server_s(name, state, digest, n1, s1,
                    strcmp(s1, "up") == 0 ? SYNCED_YES : SYNCED_NO, n2, s2,
                    cut2, strcmp(s2, "up") == 0 ? SYNCED_YES : SYNCED_NO);
}

static json_t *view3(char *a, char *b, char *p)
{
    char text[4096];
    snprintf(text, sizeof text, "{\"servers\":[%s,%s,%s]," LINKS "}", a, b, p);
    free(a);
    free(b);
    free(p);
    return parse(text);
}

static void test_settled(void)
{
    char why[256] = "";
    json_t *v =
        view3(server("Alford", "up", "d1", "Parker", "up", "Bolden", "up", 0),
              server("Bolden", "up", "d1", "Parker", "up", "Alford", "up", 0),
              server("Parker", "up", "d1", "Alford", "up", "Bolden", "up", 0));
    CHECK(settle_check(v, "Parker", why, sizeof why));
    json_decref(v);
}

/* Not answering, or not linked yet. */
static void test_not_yet(void)
{
    char why[256] = "";
    json_t *v =
        view3(server("Alford", "up", "d1", "Parker", "up", "Bolden", "up", 0),
              server("Bolden", "up", "d1", "Parker", "up", "Alford", "up", 0),
              server("Parker", "starting", NULL, "", "", "", "", 0));
    CHECK(!settle_check(v, "Parker", why, sizeof why));
    CHECK_EQ_STR(why, "Parker is starting");
    json_decref(v);

    v = view3(
        server("Alford", "up", "d1", "Parker", "up", "Bolden", "up", 0),
        server("Bolden", "up", "d1", "Parker", "dialling", "Alford", "up", 0),
        server("Parker", "up", "d1", "Alford", "up", "Bolden", "dialling", 0));
    CHECK(!settle_check(v, "Parker", why, sizeof why));
    CHECK_EQ_STR(why, "not linked to Bolden yet (dialling: refused)");
    CHECK_EQ_STR((settle_check(v, "Nobody", why, sizeof why), why),
                 "Nobody is not in herd.conf");
    json_decref(v);
}

/* A neighbour down, or the link cut: not waited for. */
static void test_neighbour_down_or_cut(void)
{
    char why[256] = "";
    json_t *v = view3(
        server("Alford", "up", "d1", "Parker", "up", "Bolden", "down", 0),
        server("Bolden", "down", NULL, "", "", "", "", 0),
        server("Parker", "up", "d1", "Alford", "up", "Bolden", "down", 0));
    CHECK(settle_check(v, "Parker", why, sizeof why));
    json_decref(v);

    v = view3(server("Alford", "up", "d1", "Parker", "up", "Bolden", "up", 0),
              server("Bolden", "up", "d2", "Parker", "cut", "Alford", "up", 0),
              server("Parker", "up", "d1", "Alford", "up", "Bolden", "cut", 1));
    CHECK(settle_check(v, "Parker", why, sizeof why));
    json_decref(v);
}

/* Digests that differ (updates flow): settled once both ends say the
 * link is synced, whatever the digests. */
static void test_synced(void)
{
    char why[256] = "";
    /* Parker (restarted) still catches up with Bolden. */
    json_t *v =
        view3(server("Alford", "up", "d1", "Parker", "up", "Bolden", "up", 0),
              server("Bolden", "up", "d2", "Parker", "up", "Alford", "up", 0),
              server_s("Parker", "up", "d1", "Alford", "up", SYNCED_YES,
                       "Bolden", "up", 0, SYNCED_NO));
    CHECK(!settle_check(v, "Parker", why, sizeof why));
    CHECK_EQ_STR(why, "not in sync with Bolden yet (the catch-up goes on)");
    json_decref(v);

    /* Parker is done, Bolden's side is not. */
    v = view3(server("Alford", "up", "d1", "Parker", "up", "Bolden", "up", 0),
              server_s("Bolden", "up", "d2", "Parker", "up", SYNCED_NO,
                       "Alford", "up", 0, SYNCED_YES),
              server("Parker", "up", "d1", "Alford", "up", "Bolden", "up", 0));
    CHECK(!settle_check(v, "Parker", why, sizeof why));
    CHECK_EQ_STR(why, "not in sync with Bolden yet (its side of the catch-up "
                      "goes on)");
    json_decref(v);

    /* Bolden has the link up only on Parker's side so far. */
    v = view3(
        server("Alford", "up", "d1", "Parker", "up", "Bolden", "up", 0),
        server("Bolden", "up", "d2", "Parker", "dialling", "Alford", "up", 0),
        server("Parker", "up", "d1", "Alford", "up", "Bolden", "up", 0));
    CHECK(!settle_check(v, "Parker", why, sizeof why));
    json_decref(v);

    /* Both ends synced: settled, though the digests differ. */
    v = view3(server("Alford", "up", "d1", "Parker", "up", "Bolden", "up", 0),
              server("Bolden", "up", "d2", "Parker", "up", "Alford", "up", 0),
              server("Parker", "up", "d1", "Alford", "up", "Bolden", "up", 0));
    CHECK(settle_check(v, "Parker", why, sizeof why));
    json_decref(v);

    /* Equal digests need no word on the catch-up. */
    v = view3(server_s("Alford", "up", "d1", "Parker", "up", SYNCED_NO,
                       "Bolden", "up", 0, SYNCED_NO),
              server_s("Bolden", "up", "d1", "Parker", "up", SYNCED_NO,
                       "Alford", "up", 0, SYNCED_NO),
              server_s("Parker", "up", "d1", "Alford", "up", SYNCED_NO,
                       "Bolden", "up", 0, SYNCED_NO));
    CHECK(settle_check(v, "Parker", why, sizeof why));
    json_decref(v);
}

/* Servers of a build that does not report "synced": a restarted one is
 * settled by digests only; a neighbour's silence leaves it to the
 * restarted server's word. */
static void test_older_build(void)
{
    char why[256] = "";
    json_t *v =
        view3(server("Alford", "up", "d1", "Parker", "up", "Bolden", "up", 0),
              server("Bolden", "up", "d2", "Parker", "up", "Alford", "up", 0),
              server_s("Parker", "up", "d1", "Alford", "up", SYNCED_ABSENT,
                       "Bolden", "up", 0, SYNCED_ABSENT));
    CHECK(!settle_check(v, "Parker", why, sizeof why));
    CHECK(strstr(why, "not in sync with Bolden yet (the digests differ") ==
          why);
    json_decref(v);

    v = view3(server("Alford", "up", "d1", "Parker", "up", "Bolden", "up", 0),
              server_s("Bolden", "up", "d2", "Parker", "up", SYNCED_ABSENT,
                       "Alford", "up", 0, SYNCED_ABSENT),
              server("Parker", "up", "d1", "Alford", "up", "Bolden", "up", 0));
    CHECK(settle_check(v, "Parker", why, sizeof why));
    json_decref(v);
}

static const struct test tests[] = {
    {"settled", test_settled},
    {"not_yet", test_not_yet},
    {"neighbour_down_or_cut", test_neighbour_down_or_cut},
    {"synced", test_synced},
    {"older_build", test_older_build},
};

TEST_MAIN(tests)
