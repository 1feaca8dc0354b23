/* Unit tests for supervisor/settle: when a restarted server has settled
 * (linked to every neighbour that is up, in sync with each), from views
 * and logs written here. */
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

/* A server entry: name, state, digest, and its view of two neighbours. */
static char *server(const char *name, const char *state, const char *digest,
                    const char *n1, const char *s1, const char *n2,
                    const char *s2, int cut2)
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
    snprintf(out, 1024,
             "{\"name\":\"%s\",\"state\":\"%s\",\"digest\":\"%s\","
             "\"stats\":{\"name\":\"%s\",\"digest\":\"%s\",\"neighbours\":["
             "{\"name\":\"%s\",\"state\":\"%s\",\"cut\":false,\"why\":\"\"},"
             "{\"name\":\"%s\",\"state\":\"%s\",\"cut\":%s,\"why\":\"%s\"}]}}",
             name, state, digest, name, digest, n1, s1, n2, s2,
             cut2 ? "true" : "false", strcmp(s2, "up") == 0 ? "" : "refused");
    return out;
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

static int never(void *arg, const char *neighbour)
{
    (void)arg;
    (void)neighbour;
    return 0;
}

/* arg: the names caught up with, ",A,B,". */
static int listed(void *arg, const char *neighbour)
{
    char key[80];
    snprintf(key, sizeof key, ",%s,", neighbour);
    return strstr(arg, key) != NULL;
}

static void test_settled(void)
{
    char why[256] = "";
    json_t *v =
        view3(server("Alford", "up", "d1", "Parker", "up", "Bolden", "up", 0),
              server("Bolden", "up", "d1", "Parker", "up", "Alford", "up", 0),
              server("Parker", "up", "d1", "Alford", "up", "Bolden", "up", 0));
    CHECK(settle_check(v, "Parker", never, NULL, why, sizeof why));
    CHECK(settle_check(v, "Parker", NULL, NULL, why, sizeof why));
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
    CHECK(!settle_check(v, "Parker", never, NULL, why, sizeof why));
    CHECK_EQ_STR(why, "Parker is starting");
    json_decref(v);

    v = view3(
        server("Alford", "up", "d1", "Parker", "up", "Bolden", "up", 0),
        server("Bolden", "up", "d1", "Parker", "dialling", "Alford", "up", 0),
        server("Parker", "up", "d1", "Alford", "up", "Bolden", "dialling", 0));
    CHECK(!settle_check(v, "Parker", never, NULL, why, sizeof why));
    CHECK_EQ_STR(why, "not linked to Bolden yet (dialling: refused)");
    CHECK_EQ_STR((settle_check(v, "Nobody", never, NULL, why, sizeof why), why),
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
    CHECK(settle_check(v, "Parker", never, NULL, why, sizeof why));
    json_decref(v);

    v = view3(server("Alford", "up", "d1", "Parker", "up", "Bolden", "up", 0),
              server("Bolden", "up", "d2", "Parker", "cut", "Alford", "up", 0),
              server("Parker", "up", "d1", "Alford", "up", "Bolden", "cut", 1));
    CHECK(settle_check(v, "Parker", never, NULL, why, sizeof why));
    json_decref(v);
}

/* Digests that differ: settled only once the catch-up is done. */
static void test_digests(void)
{
    char why[256] = "";
    json_t *v =
        view3(server("Alford", "up", "d1", "Parker", "up", "Bolden", "up", 0),
              server("Bolden", "up", "d2", "Parker", "up", "Alford", "up", 0),
              server("Parker", "up", "d1", "Alford", "up", "Bolden", "up", 0));
    CHECK(!settle_check(v, "Parker", never, NULL, why, sizeof why));
    CHECK_EQ_STR(why, "not in sync with Bolden yet (its catch-up goes on)");
    CHECK(settle_check(v, "Parker", listed, ",Bolden,", why, sizeof why));
    CHECK(!settle_check(v, "Parker", listed, ",Alford,", why, sizeof why));
    json_decref(v);
}

static int caught(const char *log, const char *name)
{
    return settle_log_caught_up(log, strlen(log), name);
}

static void test_log(void)
{
    CHECK(!caught("", "Alford"));
    CHECK(caught("2026-01-01T00:00:00.000Z link Alford up (127.0.0.1:1, "
                 "dialled, in sync)\n",
                 "Alford"));
    /* No newline at the end yet. */
    CHECK(caught("T link Alford up (127.0.0.1:1, dialled, in sync)", "Alford"));
    const char *catching = "T link Alford up (127.0.0.1:1, accepted, "
                           "catching up)\n";
    CHECK(!caught(catching, "Alford"));
    char both[512];
    snprintf(both, sizeof both,
             "%sT link Alford: catch-up done in 0.1 ms: sent 0 records\n",
             catching);
    CHECK(caught(both, "Alford"));
    /* Another neighbour's line says nothing of this one. */
    CHECK(!caught("T link Alfordo up (127.0.0.1:1, dialled, in sync)\n",
                  "Alford"));
    snprintf(both, sizeof both, "%sT link Bolden: catch-up done in 0.1 ms\n",
             catching);
    CHECK(!caught(both, "Alford"));
    /* The last time the link came up counts: in sync once, catching up
     * since, not done. */
    snprintf(both, sizeof both,
             "T link Alford up (127.0.0.1:1, dialled, in sync)\n"
             "T link Alford down (silent)\n%s",
             catching);
    CHECK(!caught(both, "Alford"));
    /* A catch-up done before the link last came up is not this one. */
    snprintf(both, sizeof both,
             "%sT link Alford: catch-up done in 1 ms\nT link Alford down\n%s",
             catching, catching);
    CHECK(!caught(both, "Alford"));
}

static const struct test tests[] = {
    {"settled", test_settled},
    {"not_yet", test_not_yet},
    {"neighbour_down_or_cut", test_neighbour_down_or_cut},
    {"digests", test_digests},
    {"log", test_log},
};

TEST_MAIN(tests)
