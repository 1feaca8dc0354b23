/* Unit tests for supervisor/metrics: the exact text of a small view
 * (HELP and TYPE once per family and only for families with samples,
 * counters named _total, cumulative buckets ending in +Inf, seconds as
 * exact decimals, escaped label values, a server that did not answer
 * giving only what the supervisor knows), and every family once over a
 * larger herd. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dynbuf.h"
#include "metrics.h"
#include "test.h"

/* Alford answers (a part of the stats: what is missing gives no family);
 * Parker does not. A places error's key and a neighbour's name need
 * escaping. */
static const char small_view[] =
    "{\"supervisor_pid\": 10, \"in_sync\": false, \"servers\": ["
    " {\"name\": \"Alford\", \"state\": \"up\", \"managed\": true,"
    "  \"pid\": 11, \"uptime_ms\": 61500, \"restarts\": 1, \"records\": 3,"
    "  \"clients\": 2, \"in_sync\": true,"
    "  \"stats\": {\"name\": \"Alford\","
    "   \"counters\": {\"iamat\": 7, \"whatsat\": 3},"
    "   \"places\": {\"errors\": {\"timeout\": 1, \"http_503\": 2,"
    "                            \"we\\\"ird\\\\x\\n\": 3},"
    "     \"latency\": {\"bounds_us\": [100, 250000, 1000000],"
    "                 \"counts\": [1, 0, 1, 0], \"sum_us\": 600100,"
    "                 \"count\": 2}},"
    "   \"wal\": {\"bytes\": 4096},"
    "   \"neighbours\": ["
    "    {\"name\": \"Parker\", \"state\": \"up\", \"cut\": false,"
    "     \"rtt_us\": 180, \"sent\": 3, \"last_heard_ms\": 250},"
    "    {\"name\": \"Po\\\"well\", \"state\": \"cut\", \"cut\": true,"
    "     \"rtt_us\": 0, \"sent\": 0, \"last_heard_ms\": null}]}},"
    " {\"name\": \"Parker\", \"state\": \"down\", \"managed\": true,"
    "  \"pid\": null, \"uptime_ms\": null, \"restarts\": 2,"
    "  \"records\": null, \"clients\": null, \"in_sync\": null,"
    "  \"stats\": null}]}";

static const char small_text[] =
    "# HELP herd_up 1 when the server is up (ready under this supervisor, "
    "or answering its control socket), else 0\n"
    "# TYPE herd_up gauge\n"
    "herd_up{server=\"Alford\"} 1\n"
    "herd_up{server=\"Parker\"} 0\n"
    "# HELP herd_restarts_total restarts of the server by this supervisor\n"
    "# TYPE herd_restarts_total counter\n"
    "herd_restarts_total{server=\"Alford\"} 1\n"
    "herd_restarts_total{server=\"Parker\"} 2\n"
    "# HELP herd_uptime_seconds time since the server was started\n"
    "# TYPE herd_uptime_seconds gauge\n"
    "herd_uptime_seconds{server=\"Alford\"} 61.5\n"
    "# HELP herd_records client records the server holds\n"
    "# TYPE herd_records gauge\n"
    "herd_records{server=\"Alford\"} 3\n"
    "# HELP herd_clients client connections open now\n"
    "# TYPE herd_clients gauge\n"
    "herd_clients{server=\"Alford\"} 2\n"
    "# HELP herd_in_sync 1 when the server's digest equals every answering "
    "neighbour's\n"
    "# TYPE herd_in_sync gauge\n"
    "herd_in_sync{server=\"Alford\"} 1\n"
    "# HELP herd_all_in_sync 1 when every server that answers holds the "
    "same records\n"
    "# TYPE herd_all_in_sync gauge\n"
    "herd_all_in_sync 0\n"
    "# HELP herd_iamat_total IAMAT lines answered\n"
    "# TYPE herd_iamat_total counter\n"
    "herd_iamat_total{server=\"Alford\"} 7\n"
    "# HELP herd_whatsat_total WHATSAT lines received\n"
    "# TYPE herd_whatsat_total counter\n"
    "herd_whatsat_total{server=\"Alford\"} 3\n"
    "# HELP herd_places_errors_total places requests that failed, by what "
    "went wrong\n"
    "# TYPE herd_places_errors_total counter\n"
    "herd_places_errors_total{server=\"Alford\",status=\"http_503\"} 2\n"
    "herd_places_errors_total{server=\"Alford\",status=\"timeout\"} 1\n"
    "herd_places_errors_total{server=\"Alford\",status=\"we\\\"ird\\\\x\\n\"} "
    "3\n"
    "# HELP herd_places_latency_seconds time from a places request to its "
    "answer\n"
    "# TYPE herd_places_latency_seconds histogram\n"
    "herd_places_latency_seconds_bucket{server=\"Alford\",le=\"0.0001\"} 1\n"
    "herd_places_latency_seconds_bucket{server=\"Alford\",le=\"0.25\"} 1\n"
    "herd_places_latency_seconds_bucket{server=\"Alford\",le=\"1\"} 2\n"
    "herd_places_latency_seconds_bucket{server=\"Alford\",le=\"+Inf\"} 2\n"
    "herd_places_latency_seconds_sum{server=\"Alford\"} 0.6001\n"
    "herd_places_latency_seconds_count{server=\"Alford\"} 2\n"
    "# HELP herd_wal_bytes size of the write-ahead log on disk\n"
    "# TYPE herd_wal_bytes gauge\n"
    "herd_wal_bytes{server=\"Alford\"} 4096\n"
    "# HELP herd_link_up 1 when the link to the peer is up\n"
    "# TYPE herd_link_up gauge\n"
    "herd_link_up{server=\"Alford\",peer=\"Parker\"} 1\n"
    "herd_link_up{server=\"Alford\",peer=\"Po\\\"well\"} 0\n"
    "# HELP herd_link_cut 1 when the link to the peer is cut by the "
    "operator\n"
    "# TYPE herd_link_cut gauge\n"
    "herd_link_cut{server=\"Alford\",peer=\"Parker\"} 0\n"
    "herd_link_cut{server=\"Alford\",peer=\"Po\\\"well\"} 1\n"
    "# HELP herd_link_rtt_seconds round trip of the link's last heartbeat\n"
    "# TYPE herd_link_rtt_seconds gauge\n"
    "herd_link_rtt_seconds{server=\"Alford\",peer=\"Parker\"} 0.00018\n"
    "# HELP herd_link_records_sent_total records sent to the peer\n"
    "# TYPE herd_link_records_sent_total counter\n"
    "herd_link_records_sent_total{server=\"Alford\",peer=\"Parker\"} 3\n"
    "herd_link_records_sent_total{server=\"Alford\",peer=\"Po\\\"well\"} 0\n"
    "# HELP herd_link_last_heard_seconds time since a byte came from the "
    "peer\n"
    "# TYPE herd_link_last_heard_seconds gauge\n"
    "herd_link_last_heard_seconds{server=\"Alford\",peer=\"Parker\"} 0.25\n";

static char *render(const char *text, size_t *len)
{
    json_error_t err;
    json_t *view = json_loads(text, 0, &err);
    if (view == NULL) {
        fprintf(stderr, "bad test view: %s at %d\n", err.text, err.position);
        exit(1);
    }
    struct dynbuf out;
    dynbuf_init(&out, (size_t)1 << 20);
    CHECK_EQ_INT(metrics_render(view, &out), 0);
    json_decref(view);
    CHECK(dynbuf_addc(&out, '\0') == 0);
    return dynbuf_take(&out, len);
}

static void test_small_view(void)
{
    size_t len;
    char *got = render(small_view, &len);
    CHECK_EQ_STR(got, small_text);
    free(got);
}

/* Nothing known, nothing written. */
static void test_empty(void)
{
    size_t len;
    char *got = render("{\"supervisor_pid\": null, \"in_sync\": null, "
                       "\"servers\": []}",
                       &len);
    CHECK_EQ_STR(got, "");
    free(got);
}

/* A histogram whose counts do not fit its bounds is left out, not
 * written wrong. */
static void test_malformed_histogram(void)
{
    size_t len;
    char *got = render(
        "{\"servers\": [{\"name\": \"A\", \"state\": \"up\", \"stats\": "
        "{\"whatsat_latency\": {\"bounds_us\": [1, 2], \"counts\": [1, 2],"
        " \"sum_us\": 3}}}]}",
        &len);
    CHECK_EQ_STR(got, "# HELP herd_up 1 when the server is up (ready under "
                      "this supervisor, or answering its control socket), "
                      "else 0\n"
                      "# TYPE herd_up gauge\n"
                      "herd_up{server=\"A\"} 1\n");
    free(got);
}

/* A histogram that is not one (a count not a count, bounds not rising,
 * a bound not a number) is left out: its buckets would not parse, and a
 * scrape that fails loses every server's metrics. */
static void test_histogram_checked(void)
{
    static const char *const bad[][2] = {
        /* bounds_us, counts */
        {"[1, 2]", "[1, \"x\", 3]"},
        {"[1, 2]", "[1, -2, 3]"},
        {"[2, 1]", "[1, 2, 3]"},
        {"[1, 1]", "[1, 2, 3]"},
        {"[1, null]", "[1, 2, 3]"},
        {"[1, 2]", "[1, 2.5, 3]"},
        {"[1]", "[9223372036854775807, 1]"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[512];
        snprintf(text, sizeof text,
                 "{\"servers\": [{\"name\": \"A\", \"state\": \"up\","
                 " \"stats\": {\"whatsat_latency\": {\"bounds_us\": %s,"
                 " \"counts\": %s, \"sum_us\": 3}}}]}",
                 bad[i][0], bad[i][1]);
        size_t len;
        char *got = render(text, &len);
        CHECK(strstr(got, "herd_whatsat_latency") == NULL);
        free(got);
    }
}

/* A neighbour named twice in a server's answer gives one series, not two
 * samples of the same series. */
static void test_neighbour_once(void)
{
    size_t len;
    char *got = render(
        "{\"servers\": [{\"name\": \"A\", \"state\": \"up\", \"stats\": "
        "{\"neighbours\": [{\"name\": \"B\", \"sent\": 1},"
        " {\"name\": \"C\", \"sent\": 2}, {\"name\": \"B\", \"sent\": 3}]}}]}",
        &len);
    CHECK(strstr(got,
                 "herd_link_records_sent_total{server=\"A\",peer=\"B\"} "
                 "1\nherd_link_records_sent_total{server=\"A\",peer=\"C\"} "
                 "2\n") != NULL);
    CHECK(strstr(got, "peer=\"B\"} 3") == NULL);
    free(got);
}

/* The stats of a server as the brief of the control socket has them. */
static const char full_stats[] =
    "{\"counters\": {\"iamat\": 1, \"whatsat\": 2, \"invalid\": 3,"
    "  \"stale\": 4, \"refused\": 5, \"connections\": 6},"
    " \"places\": {\"provider\": \"offline\", \"requests\": 7,"
    "  \"cache_hits\": 8, \"cache_misses\": 9, \"in_flight\": 10,"
    "  \"errors\": {\"timeout\": 11},"
    "  \"latency\": {\"bounds_us\": [100, 250], \"counts\": [1, 2, 3],"
    "   \"sum_us\": 12, \"count\": 6}},"
    " \"whatsat_latency\": {\"bounds_us\": [100], \"counts\": [4, 5],"
    "  \"sum_us\": 13, \"count\": 9},"
    " \"wal\": {\"bytes\": 14, \"records\": 15, \"fsyncs\": 16,"
    "  \"compactions\": 17},"
    " \"neighbours\": [{\"name\": \"B\", \"state\": \"up\", \"cut\": false,"
    "  \"last_heard_ms\": 18, \"rtt_us\": 19, \"sent\": 20, \"received\": 21,"
    "  \"bytes_sent\": 22, \"bytes_received\": 23, \"queued\": 24,"
    "  \"catchups\": 25, \"catchup_records\": 26, \"catchup_bytes\": 27}]}";

/* Three answering servers: every family's HELP and TYPE exactly once, in
 * one run of lines with its samples, counters ending in _total. */
static void test_every_family_once(void)
{
    char text[8192];
    snprintf(text, sizeof text,
             "{\"in_sync\": true, \"servers\": ["
             "{\"name\": \"A\", \"state\": \"up\", \"restarts\": 0,"
             " \"uptime_ms\": 5, \"records\": 1, \"clients\": 0,"
             " \"in_sync\": true, \"stats\": %s},"
             "{\"name\": \"B\", \"state\": \"up\", \"restarts\": 0,"
             " \"uptime_ms\": 5, \"records\": 1, \"clients\": 0,"
             " \"in_sync\": true, \"stats\": %s},"
             "{\"name\": \"C\", \"state\": \"up\", \"restarts\": 0,"
             " \"uptime_ms\": 5, \"records\": 1, \"clients\": 0,"
             " \"in_sync\": true, \"stats\": %s}]}",
             full_stats, full_stats, full_stats);
    size_t len;
    char *got = render(text, &len);
    int families = 0;
    char seen[64][64];
    char current[64] = "";
    for (char *line = strtok(got, "\n"); line != NULL;
         line = strtok(NULL, "\n")) {
        char name[64];
        char type[16];
        if (strncmp(line, "# HELP ", 7) == 0)
            continue;
        if (sscanf(line, "# TYPE %63s %15s", name, type) == 2) {
            for (int i = 0; i < families; i++)
                CHECK(strcmp(seen[i], name) != 0);
            CHECK(families < 64);
            snprintf(seen[families++], sizeof seen[0], "%s", name);
            snprintf(current, sizeof current, "%s", name);
            size_t n = strlen(name);
            CHECK((strcmp(type, "counter") == 0) ==
                  (n > 6 && strcmp(name + n - 6, "_total") == 0));
            continue;
        }
        /* A sample belongs to the family whose TYPE came last. */
        CHECK(strncmp(line, current, strlen(current)) == 0);
    }
    CHECK_EQ_INT(families, 36);
    free(got);
}

static const struct test tests[] = {
    {"small_view", test_small_view},
    {"empty", test_empty},
    {"malformed_histogram", test_malformed_histogram},
    {"histogram_checked", test_histogram_checked},
    {"neighbour_once", test_neighbour_once},
    {"every_family_once", test_every_family_once},
};

TEST_MAIN(tests)
