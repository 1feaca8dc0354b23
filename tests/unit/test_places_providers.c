/* Unit tests for the google-new and overpass halves of server/places_json:
 * request bodies, and answers turned into the legacy Nearby Search shape. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dynbuf.h"
#include "places_google_new.h"
#include "places_json.h"
#include "places_overpass.h"
#include "test.h"

#define S(lit)   lit, sizeof(lit) - 1
#define OSM_ATTR "\xc2\xa9 OpenStreetMap contributors"

/* UCLA: the centre of the overpass answers below. */
#define LAT 34.068930
#define LNG -118.445127

/* Formats answer with bound into a NUL-terminated string (caller frees). */
static char *format(const json_t *answer, size_t bound)
{
    struct dynbuf b;
    dynbuf_init(&b, 1 << 20);
    CHECK_EQ_INT(places_json_format(answer, bound, &b), 0);
    CHECK_EQ_INT(dynbuf_addc(&b, '\0'), 0);
    char *s = dynbuf_take(&b, NULL);
    CHECK(s != NULL);
    return s;
}

static void check_format(const json_t *answer, size_t bound, const char *want)
{
    char *got = format(answer, bound);
    CHECK_EQ_STR(got, want);
    free(got);
}

static const char *str_field(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    CHECK(json_is_string(v));
    return json_string_value(v);
}

/* The failure shape: members html_attributions [], results [], status,
 * error_message (non-empty), in that order. Returns the message. */
static const char *check_failure(const json_t *a, const char *status)
{
    CHECK(a != NULL);
    CHECK(json_is_object(a));
    CHECK_EQ_STR(str_field(a, "status"), status);
    const json_t *results = json_object_get(a, "results");
    CHECK(json_is_array(results));
    CHECK_EQ_INT(json_array_size(results), 0);
    const json_t *attr = json_object_get(a, "html_attributions");
    CHECK(json_is_array(attr));
    CHECK_EQ_INT(json_array_size(attr), 0);
    const char *msg = str_field(a, "error_message");
    CHECK(strlen(msg) > 0);
    CHECK_EQ_INT(json_object_size(a), 4);
    char want[1024];
    snprintf(want, sizeof want,
             "{\n"
             "   \"html_attributions\" : [],\n"
             "   \"results\" : [],\n"
             "   \"status\" : \"%s\",\n"
             "   \"error_message\" : ",
             status);
    char *text = format(a, 20);
    CHECK(strncmp(text, want, strlen(want)) == 0);
    free(text);
    return msg;
}

/* The names of the results, comma-separated (caller frees). */
static char *names(const json_t *a)
{
    struct dynbuf b;
    dynbuf_init(&b, 1 << 16);
    const json_t *r;
    size_t i;
    json_array_foreach(json_object_get(a, "results"), i, r)
    {
        CHECK_EQ_INT(
            dynbuf_printf(&b, "%s%s", i ? "," : "", str_field(r, "name")), 0);
    }
    CHECK_EQ_INT(dynbuf_addc(&b, '\0'), 0);
    return dynbuf_take(&b, NULL);
}

static void check_names(const json_t *a, const char *want)
{
    char *got = names(a);
    CHECK_EQ_STR(got, want);
    free(got);
}

/* --- Places API (New) ---------------------------------------------------*/

static const char new_ok[] =
    "{\"places\":["
    "{\"id\":\"p1\",\"types\":[\"cafe\",\"food\",\"establishment\"],"
    "\"formattedAddress\":\"580 Portola Plaza, Los Angeles, CA 90095, USA\","
    "\"location\":{\"latitude\":34.0689254,\"longitude\":-118.4429287},"
    "\"rating\":4.1,\"userRatingCount\":212,"
    "\"businessStatus\":\"OPERATIONAL\","
    "\"displayName\":{\"text\":\"Caf\\u00e9 \\\"Synapse\\\"\","
    "\"languageCode\":\"en\"},"
    "\"shortFormattedAddress\":\"580 Portola Plaza, Los Angeles\"},"
    "{\"location\":{\"latitude\":34,\"longitude\":-118},\"id\":\"p2\","
    "\"displayName\":{\"text\":\"Whole\"},"
    "\"formattedAddress\":\"Somewhere, CA, USA\",\"rating\":4,"
    "\"businessStatus\":\"CLOSED_TEMPORARILY\"},"
    "{\"displayName\":{\"text\":\"Bare\"},\"id\":\"p3\","
    "\"location\":{\"latitude\":-33.5,\"longitude\":151.25}}"
    "]}";

static const char new_ok_r1[] =
    "      {\n"
    "         \"geometry\" : {\n"
    "            \"location\" : {\n"
    "               \"lat\" : 34.0689254,\n"
    "               \"lng\" : -118.4429287\n"
    "            }\n"
    "         },\n"
    "         \"name\" : \"Caf\xc3\xa9 \\\"Synapse\\\"\",\n"
    "         \"place_id\" : \"p1\",\n"
    "         \"rating\" : 4.1,\n"
    "         \"user_ratings_total\" : 212,\n"
    "         \"business_status\" : \"OPERATIONAL\",\n"
    "         \"types\" : [ \"cafe\", \"food\", \"establishment\" ],\n"
    "         \"vicinity\" : \"580 Portola Plaza, Los Angeles\"\n"
    "      }";

static const char new_ok_r2[] =
    "      {\n"
    "         \"geometry\" : {\n"
    "            \"location\" : {\n"
    "               \"lat\" : 34.0,\n"
    "               \"lng\" : -118.0\n"
    "            }\n"
    "         },\n"
    "         \"name\" : \"Whole\",\n"
    "         \"place_id\" : \"p2\",\n"
    "         \"rating\" : 4,\n"
    "         \"business_status\" : \"CLOSED_TEMPORARILY\",\n"
    "         \"vicinity\" : \"Somewhere, CA, USA\"\n"
    "      }";

static const char new_ok_r3[] = "      {\n"
                                "         \"geometry\" : {\n"
                                "            \"location\" : {\n"
                                "               \"lat\" : -33.5,\n"
                                "               \"lng\" : 151.25\n"
                                "            }\n"
                                "         },\n"
                                "         \"name\" : \"Bare\",\n"
                                "         \"place_id\" : \"p3\"\n"
                                "      }";

static void test_new_ok_mapping_and_layout(void)
{
    json_t *a = places_json_from_google_new(S(new_ok), 200);
    CHECK(a != NULL);
    char want[4096];
    snprintf(want, sizeof want,
             "{\n   \"html_attributions\" : [],\n   \"results\" : [\n"
             "%s,\n%s,\n%s\n   ],\n   \"status\" : \"OK\"\n}",
             new_ok_r1, new_ok_r2, new_ok_r3);
    check_format(a, 20, want);
    snprintf(want, sizeof want,
             "{\n   \"html_attributions\" : [],\n   \"results\" : [\n"
             "%s\n   ],\n   \"status\" : \"OK\"\n}",
             new_ok_r1);
    check_format(a, 1, want);
    check_format(a, 0,
                 "{\n   \"html_attributions\" : [],\n   \"results\" : [],\n"
                 "   \"status\" : \"OK\"\n}");
    CHECK(json_object_get(a, "error_message") == NULL);
    json_decref(a);
}

static void test_new_zero_results(void)
{
    static const struct {
        const char *body;
        size_t len;
    } zero[] = {{S("{}")}, {S("{\"places\":[]}")}, {S("{}\n")}};
    for (size_t i = 0; i < sizeof zero / sizeof zero[0]; i++) {
        json_t *a = places_json_from_google_new(zero[i].body, zero[i].len, 200);
        CHECK(a != NULL);
        check_format(a, 20,
                     "{\n   \"html_attributions\" : [],\n   \"results\" : [],\n"
                     "   \"status\" : \"ZERO_RESULTS\"\n}");
        json_decref(a);
    }
}

static const struct {
    long code;
    const char *rpc;
    const char *legacy;
} new_errors[] = {
    {400, "INVALID_ARGUMENT", "INVALID_REQUEST"},
    {403, "PERMISSION_DENIED", "REQUEST_DENIED"},
    {401, "UNAUTHENTICATED", "REQUEST_DENIED"},
    {429, "RESOURCE_EXHAUSTED", "OVER_QUERY_LIMIT"},
    {500, "INTERNAL", "UNKNOWN_ERROR"},
    {503, "UNAVAILABLE", "UNKNOWN_ERROR"},
    {504, "DEADLINE_EXCEEDED", "UNKNOWN_ERROR"},
    {404, "NOT_FOUND", "UNKNOWN_ERROR"},
    {500, "UNKNOWN", "UNKNOWN_ERROR"},
};

static void test_new_http_errors_map_status(void)
{
    for (size_t i = 0; i < sizeof new_errors / sizeof new_errors[0]; i++) {
        char body[1024], msg[128];
        snprintf(msg, sizeof msg, "message %zu: \\u00e9 \\\"%s\\\"", i,
                 new_errors[i].rpc);
        snprintf(
            body, sizeof body,
            "{\n  \"error\": {\n    \"code\": %ld,\n    \"message\": "
            "\"%s\",\n    \"status\": \"%s\",\n    \"details\": [{\"@type\":"
            " \"type.googleapis.com/google.rpc.ErrorInfo\"}]\n  }\n}\n",
            new_errors[i].code, msg, new_errors[i].rpc);
        json_t *a =
            places_json_from_google_new(body, strlen(body), new_errors[i].code);
        const char *got = check_failure(a, new_errors[i].legacy);
        char want[128];
        snprintf(want, sizeof want, "message %zu: \xc3\xa9 \"%s\"", i,
                 new_errors[i].rpc);
        CHECK_EQ_STR(got, want);
        json_decref(a);
    }
}

static void test_new_http_errors_without_error_object(void)
{
    static const struct {
        long code;
        const char *body;
        size_t len;
        const char *legacy;
    } cases[] = {
        {429, S("<html>Too Many Requests</html>"), "OVER_QUERY_LIMIT"},
        {429, S(""), "OVER_QUERY_LIMIT"},
        {502, S("<html>Bad Gateway</html>"), "UNKNOWN_ERROR"},
        {500, S(""), "UNKNOWN_ERROR"},
        {503, S("{\"error\":\"unavailable\"}"), "UNKNOWN_ERROR"},
        {400, S("{\"error\":{\"code\":400}}"), "UNKNOWN_ERROR"},
        {404, S("[]"), "UNKNOWN_ERROR"},
        /* Even a body that looks fine is not an answer. */
        {301, S(new_ok), "UNKNOWN_ERROR"},
        {0, S(new_ok), "UNKNOWN_ERROR"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *a = places_json_from_google_new(cases[i].body, cases[i].len,
                                                cases[i].code);
        check_failure(a, cases[i].legacy);
        json_decref(a);
    }
}

static void test_new_malformed_bodies(void)
{
    static const struct {
        const char *body;
        size_t len;
    } bad[] = {
        {S("")},
        {S("{")},
        {S("not json")},
        {S("[]")},
        {S("null")},
        {S("\"places\"")},
        {S("{\"places\":5}")},
        {S("{\"places\":{}}")},
        {S("{\"places\":\"none\"}")},
        {S("{\"places\":[]}trailing")},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *a = places_json_from_google_new(bad[i].body, bad[i].len, 200);
        check_failure(a, "UNKNOWN_ERROR");
        json_decref(a);
    }
}

/* The contract maps INVALID_ARGUMENT, PERMISSION_DENIED, UNAUTHENTICATED
 * and RESOURCE_EXHAUSTED; every other google.rpc status is UNKNOWN_ERROR. */
static void test_new_other_rpc_statuses_unknown_error(void)
{
    static const struct {
        long code;
        const char *rpc;
    } others[] = {
        {400, "FAILED_PRECONDITION"},
        {400, "OUT_OF_RANGE"},
        {409, "ABORTED"},
        {409, "ALREADY_EXISTS"},
        {499, "CANCELLED"},
        {501, "UNIMPLEMENTED"},
        {500, "DATA_LOSS"},
    };
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        char body[512];
        snprintf(
            body, sizeof body,
            "{\"error\":{\"code\":%ld,\"message\":\"m\",\"status\":\"%s\"}}",
            others[i].code, others[i].rpc);
        json_t *a =
            places_json_from_google_new(body, strlen(body), others[i].code);
        CHECK(a != NULL);
        if (strcmp(str_field(a, "status"), "UNKNOWN_ERROR") != 0)
            fprintf(stderr, "HTTP %ld %s -> %s (want UNKNOWN_ERROR)\n",
                    others[i].code, others[i].rpc, str_field(a, "status"));
        CHECK_EQ_STR(check_failure(a, "UNKNOWN_ERROR"), "m");
        json_decref(a);
    }
}

static void test_new_request_body(void)
{
    static const struct {
        double lat, lng, radius;
    } cases[] = {
        {34.068930, -118.445127, 10000},
        {-33.8670522, 151.1957362, 500},
        {0, 0, 0},
        {-90, 180, 50000},
        {90, -180, 1250},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct dynbuf b;
        dynbuf_init(&b, 1 << 16);
        CHECK_EQ_INT(places_json_google_new_body(&b, cases[i].lat, cases[i].lng,
                                                 cases[i].radius, 20),
                     0);
        json_error_t err;
        json_t *j = json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, &err);
        if (j == NULL)
            fprintf(stderr, "body %.*s: %s\n", (int)b.len, b.data, err.text);
        CHECK(j != NULL);
        CHECK_EQ_INT(json_object_size(j), 2);
        const json_t *max = json_object_get(j, "maxResultCount");
        CHECK(json_is_integer(max));
        CHECK_EQ_INT(json_integer_value(max), 20);
        const json_t *lr = json_object_get(j, "locationRestriction");
        CHECK(json_is_object(lr));
        CHECK_EQ_INT(json_object_size(lr), 1);
        const json_t *circle = json_object_get(lr, "circle");
        CHECK(json_is_object(circle));
        CHECK_EQ_INT(json_object_size(circle), 2);
        const json_t *centre = json_object_get(circle, "center");
        CHECK(json_is_object(centre));
        CHECK_EQ_INT(json_object_size(centre), 2);
        const json_t *la = json_object_get(centre, "latitude");
        const json_t *ln = json_object_get(centre, "longitude");
        const json_t *r = json_object_get(circle, "radius");
        CHECK(json_is_number(la) && json_is_number(ln) && json_is_number(r));
        CHECK(fabs(json_number_value(la) - cases[i].lat) < 1e-7);
        CHECK(fabs(json_number_value(ln) - cases[i].lng) < 1e-7);
        CHECK(json_number_value(r) == cases[i].radius);
        json_decref(j);
        dynbuf_free(&b);
    }
    /* The count asked for is the one given. */
    struct dynbuf b;
    dynbuf_init(&b, 1 << 16);
    CHECK_EQ_INT(places_json_google_new_body(&b, 1, 2, 3, 7), 0);
    json_t *j = json_loadb(b.data, b.len, 0, NULL);
    CHECK(j != NULL);
    CHECK_EQ_INT(json_integer_value(json_object_get(j, "maxResultCount")), 7);
    json_decref(j);
    dynbuf_free(&b);
}

/* --- Overpass -----------------------------------------------------------*/

/* Provider order is not distance order; a nameless element sits nearest. */
static const char osm_ok[] =
    "{\"version\":0.6,\"generator\":\"Overpass API 0.7.62.1\","
    "\"osm3s\":{\"timestamp_osm_base\":\"2024-05-20T10:00:00Z\"},"
    "\"elements\":["
    "{\"type\":\"node\",\"id\":101,\"lat\":34.0800,\"lon\":-118.4451,"
    "\"tags\":{\"amenity\":\"library\",\"name\":\"Far\"}},"
    "{\"type\":\"node\",\"id\":102,\"lat\":34.06893,\"lon\":-118.445127,"
    "\"tags\":{\"amenity\":\"bench\"}},"
    "{\"type\":\"node\",\"id\":103,\"lat\":34,\"lon\":-118,"
    "\"tags\":{\"name\":\"Whole\",\"shop\":\"kiosk\"}},"
    "{\"type\":\"relation\",\"id\":104,\"center\":{\"lat\":34.0700,"
    "\"lon\":-118.4451},\"members\":[],\"tags\":{\"leisure\":\"garden\","
    "\"tourism\":\"museum\",\"name\":\"Rel\",\"addr:city\":\"Los Angeles\"}},"
    "{\"type\":\"node\",\"id\":105,\"lat\":34.0689,\"lon\":-118.4451},"
    "{\"type\":\"way\",\"id\":106,\"center\":{\"lat\":34.0690,"
    "\"lon\":-118.4452},\"nodes\":[1,2],\"tags\":{\"name\":\"Near "
    "\\u00e9\",\"shop\":\"books\",\"amenity\":\"cafe\","
    "\"addr:housenumber\":\"580\",\"addr:street\":\"Portola Plaza\","
    "\"addr:city\":\"Los Angeles\"}},"
    "{\"type\":\"node\",\"id\":107,\"lat\":34.0750,\"lon\":-118.4451,"
    "\"tags\":{\"name\":\"Street\",\"leisure\":\"park\","
    "\"addr:street\":\"Hilgard Ave\"}},"
    "{\"type\":\"node\",\"id\":108,\"lat\":34.0720,\"lon\":-118.4451,"
    "\"tags\":{\"name\":\"StreetCity\",\"tourism\":\"hotel\","
    "\"addr:street\":\"Le Conte Ave\",\"addr:city\":\"LA\"}}"
    "]}";

static const char osm_ok_want[] =
    "{\n"
    "   \"html_attributions\" : [ \"" OSM_ATTR "\" ],\n"
    "   \"results\" : [\n"
    "      {\n"
    "         \"geometry\" : {\n"
    "            \"location\" : {\n"
    "               \"lat\" : 34.069,\n"
    "               \"lng\" : -118.4452\n"
    "            }\n"
    "         },\n"
    "         \"name\" : \"Near \xc3\xa9\",\n"
    "         \"place_id\" : \"osm:way/106\",\n"
    "         \"types\" : [ \"cafe\", \"books\", \"point_of_interest\", "
    "\"establishment\" ],\n"
    "         \"vicinity\" : \"580 Portola Plaza, Los Angeles\"\n"
    "      },\n"
    "      {\n"
    "         \"geometry\" : {\n"
    "            \"location\" : {\n"
    "               \"lat\" : 34.07,\n"
    "               \"lng\" : -118.4451\n"
    "            }\n"
    "         },\n"
    "         \"name\" : \"Rel\",\n"
    "         \"place_id\" : \"osm:relation/104\",\n"
    "         \"types\" : [ \"museum\", \"garden\", \"point_of_interest\", "
    "\"establishment\" ],\n"
    "         \"vicinity\" : \"Los Angeles\"\n"
    "      },\n"
    "      {\n"
    "         \"geometry\" : {\n"
    "            \"location\" : {\n"
    "               \"lat\" : 34.072,\n"
    "               \"lng\" : -118.4451\n"
    "            }\n"
    "         },\n"
    "         \"name\" : \"StreetCity\",\n"
    "         \"place_id\" : \"osm:node/108\",\n"
    "         \"types\" : [ \"hotel\", \"point_of_interest\", "
    "\"establishment\" ],\n"
    "         \"vicinity\" : \"Le Conte Ave, LA\"\n"
    "      },\n"
    "      {\n"
    "         \"geometry\" : {\n"
    "            \"location\" : {\n"
    "               \"lat\" : 34.075,\n"
    "               \"lng\" : -118.4451\n"
    "            }\n"
    "         },\n"
    "         \"name\" : \"Street\",\n"
    "         \"place_id\" : \"osm:node/107\",\n"
    "         \"types\" : [ \"park\", \"point_of_interest\", "
    "\"establishment\" ],\n"
    "         \"vicinity\" : \"Hilgard Ave\"\n"
    "      },\n"
    "      {\n"
    "         \"geometry\" : {\n"
    "            \"location\" : {\n"
    "               \"lat\" : 34.08,\n"
    "               \"lng\" : -118.4451\n"
    "            }\n"
    "         },\n"
    "         \"name\" : \"Far\",\n"
    "         \"place_id\" : \"osm:node/101\",\n"
    "         \"types\" : [ \"library\", \"point_of_interest\", "
    "\"establishment\" ]\n"
    "      },\n"
    "      {\n"
    "         \"geometry\" : {\n"
    "            \"location\" : {\n"
    "               \"lat\" : 34.0,\n"
    "               \"lng\" : -118.0\n"
    "            }\n"
    "         },\n"
    "         \"name\" : \"Whole\",\n"
    "         \"place_id\" : \"osm:node/103\",\n"
    "         \"types\" : [ \"kiosk\", \"point_of_interest\", "
    "\"establishment\" ]\n"
    "      }\n"
    "   ],\n"
    "   \"status\" : \"OK\"\n"
    "}";

static void test_osm_ok_sorted_mapped(void)
{
    json_t *a = places_json_from_overpass(S(osm_ok), 200, LAT, LNG, 20);
    CHECK(a != NULL);
    check_format(a, 20, osm_ok_want);
    check_names(a, "Near \xc3\xa9,Rel,StreetCity,Street,Far,Whole");
    json_decref(a);
    /* At most max_results, the nearest. */
    a = places_json_from_overpass(S(osm_ok), 200, LAT, LNG, 2);
    check_names(a, "Near \xc3\xa9,Rel");
    CHECK_EQ_STR(str_field(a, "status"), "OK");
    json_decref(a);
    /* Sorted from the centre given: from (34.08, -118.4451) Far is nearest
     * and Whole farthest. */
    a = places_json_from_overpass(S(osm_ok), 200, 34.08, -118.4451, 20);
    check_names(a, "Far,Street,StreetCity,Rel,Near \xc3\xa9,Whole");
    json_decref(a);
}

/* 30 named nodes due north of the centre at 10 m * k, in a shuffled order. */
static char *osm_many(void)
{
    struct dynbuf b;
    dynbuf_init(&b, 1 << 20);
    CHECK_EQ_INT(dynbuf_printf(&b, "{\"elements\":["), 0);
    for (int i = 0; i < 30; i++) {
        int k = (i * 7) % 30 + 1; /* a permutation of 1..30 */
        CHECK_EQ_INT(
            dynbuf_printf(&b,
                          "%s{\"type\":\"node\",\"id\":%d,\"lat\":%.7f,"
                          "\"lon\":%.6f,\"tags\":{\"name\":\"n%02d\","
                          "\"shop\":\"s\"}}",
                          i ? "," : "", 1000 - k, LAT + k * 10 / 111195.08, LNG,
                          k),
            0);
    }
    CHECK_EQ_INT(dynbuf_printf(&b, "]}"), 0);
    CHECK_EQ_INT(dynbuf_addc(&b, '\0'), 0);
    return dynbuf_take(&b, NULL);
}

static void test_osm_keeps_nearest(void)
{
    char *body = osm_many();
    json_t *a =
        places_json_from_overpass(body, strlen(body), 200, LAT, LNG, 20);
    CHECK(a != NULL);
    check_names(a, "n01,n02,n03,n04,n05,n06,n07,n08,n09,n10,n11,n12,n13,n14,"
                   "n15,n16,n17,n18,n19,n20");
    json_decref(a);
    a = places_json_from_overpass(body, strlen(body), 200, LAT, LNG, 5);
    check_names(a, "n01,n02,n03,n04,n05");
    json_decref(a);
    /* From the far end the order reverses. */
    a = places_json_from_overpass(body, strlen(body), 200,
                                  LAT + 31 * 10 / 111195.08, LNG, 3);
    check_names(a, "n30,n29,n28");
    json_decref(a);
    free(body);
}

static void test_osm_zero_results(void)
{
    static const struct {
        const char *body;
        size_t len;
    } zero[] = {
        {S("{\"elements\":[]}")},
        {S("{\"version\":0.6,\"elements\":[],\"remark\":\"runtime remark: "
           "Timeout is 10\"}")},
        /* Nothing with a name. */
        {S("{\"elements\":[{\"type\":\"node\",\"id\":1,\"lat\":1,\"lon\":2,"
           "\"tags\":{\"amenity\":\"bench\"}},{\"type\":\"node\",\"id\":2,"
           "\"lat\":1,\"lon\":2}]}")},
    };
    for (size_t i = 0; i < sizeof zero / sizeof zero[0]; i++) {
        json_t *a = places_json_from_overpass(zero[i].body, zero[i].len, 200,
                                              LAT, LNG, 20);
        CHECK(a != NULL);
        check_format(a, 20,
                     "{\n   \"html_attributions\" : [ \"" OSM_ATTR "\" ],\n"
                     "   \"results\" : [],\n"
                     "   \"status\" : \"ZERO_RESULTS\"\n}");
        json_decref(a);
    }
}

static void test_osm_error_remark(void)
{
    const char body[] =
        "{\"version\":0.6,\"elements\":[],\"remark\":\"runtime error: Query "
        "timed out in \\\"query\\\" at line 1 after 11 seconds.\"}";
    json_t *a = places_json_from_overpass(S(body), 200, LAT, LNG, 20);
    CHECK_EQ_STR(check_failure(a, "UNKNOWN_ERROR"),
                 "runtime error: Query timed out in \"query\" at line 1 "
                 "after 11 seconds.");
    json_decref(a);
}

static void test_osm_http_errors(void)
{
    static const struct {
        long code;
        const char *legacy;
    } cases[] = {
        {429, "OVER_QUERY_LIMIT"}, {504, "UNKNOWN_ERROR"},
        {500, "UNKNOWN_ERROR"},    {400, "UNKNOWN_ERROR"},
        {403, "UNKNOWN_ERROR"},    {0, "UNKNOWN_ERROR"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *a = places_json_from_overpass(S("<html>busy</html>"),
                                              cases[i].code, LAT, LNG, 20);
        check_failure(a, cases[i].legacy);
        json_decref(a);
        /* Even a body that looks fine is not an answer. */
        a = places_json_from_overpass(S(osm_ok), cases[i].code, LAT, LNG, 20);
        check_failure(a, cases[i].legacy);
        json_decref(a);
    }
}

static void test_osm_malformed_bodies(void)
{
    static const struct {
        const char *body;
        size_t len;
    } bad[] = {
        {S("")},
        {S("{")},
        {S("<?xml version=\"1.0\"?><osm/>")},
        {S("[]")},
        {S("{}")},
        {S("{\"elements\":{}}")},
        {S("{\"elements\":null}")},
        {S("{\"elements\":[]}trailing")},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *a = places_json_from_overpass(bad[i].body, bad[i].len, 200, LAT,
                                              LNG, 20);
        check_failure(a, "UNKNOWN_ERROR");
        json_decref(a);
    }
}

static int hexval(int c)
{
    return isdigit(c) ? c - '0' : tolower(c) - 'a' + 10;
}

/* The Overpass QL of a form body "data=<urlencoded>", checking that it is
 * urlencoded (unreserved bytes, %XX, or '+' for a space). */
static void decode_form(const struct dynbuf *b, char *q, size_t size)
{
    CHECK(b->len > 5);
    CHECK(memcmp(b->data, "data=", 5) == 0);
    size_t n = 0;
    for (size_t i = 5; i < b->len; i++) {
        unsigned char c = (unsigned char)b->data[i];
        CHECK(n + 1 < size);
        if (c == '%') {
            CHECK(i + 2 < b->len && isxdigit((unsigned char)b->data[i + 1]) &&
                  isxdigit((unsigned char)b->data[i + 2]));
            q[n++] =
                (char)(hexval(b->data[i + 1]) * 16 + hexval(b->data[i + 2]));
            i += 2;
        } else if (c == '+') {
            q[n++] = ' ';
        } else {
            CHECK(isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~');
            q[n++] = (char)c;
        }
    }
    q[n] = '\0';
}

static void check_overpass_body(double lat, double lng, double radius,
                                unsigned max, const char *out)
{
    struct dynbuf b;
    dynbuf_init(&b, 1 << 16);
    CHECK_EQ_INT(places_json_overpass_body(&b, lat, lng, radius, max), 0);
    char q[2048];
    decode_form(&b, q, sizeof q);
    const char *around = strstr(q, "around:");
    CHECK(around != NULL);
    double r, la, ln;
    CHECK_EQ_INT(sscanf(around, "around:%lf,%lf,%lf)", &r, &la, &ln), 3);
    CHECK(fabs(r - radius) < 1e-9);
    CHECK(fabs(la - lat) < 1e-7);
    CHECK(fabs(ln - lng) < 1e-7);
    CHECK(strstr(q, "[\"name\"]") != NULL);
    CHECK(strstr(q, "amenity|shop|tourism|leisure") != NULL);
    CHECK(strstr(q, out) != NULL);
    CHECK(strstr(q, "[out:json]") != NULL);
    dynbuf_free(&b);
}

static void test_overpass_request_body(void)
{
    check_overpass_body(LAT, LNG, 10000, 200, "out center 200;");
    check_overpass_body(-33.8670522, 151.1957362, 1250, 200, "out center 200;");
    check_overpass_body(-90, 180, 0, 50, "out center 50;");
    check_overpass_body(90, -180, 50000, 200, "out center 200;");
}

static const struct test tests[] = {
    {"new_ok_mapping_and_layout", test_new_ok_mapping_and_layout},
    {"new_zero_results", test_new_zero_results},
    {"new_http_errors_map_status", test_new_http_errors_map_status},
    {"new_http_errors_without_error_object",
     test_new_http_errors_without_error_object},
    {"new_malformed_bodies", test_new_malformed_bodies},
    {"new_request_body", test_new_request_body},
    {"osm_ok_sorted_mapped", test_osm_ok_sorted_mapped},
    {"osm_keeps_nearest", test_osm_keeps_nearest},
    {"osm_zero_results", test_osm_zero_results},
    {"osm_error_remark", test_osm_error_remark},
    {"osm_http_errors", test_osm_http_errors},
    {"osm_malformed_bodies", test_osm_malformed_bodies},
    {"overpass_request_body", test_overpass_request_body},
    /* Last, so that a failure here leaves the cases above to run. */
    {"new_other_rpc_statuses_unknown_error",
     test_new_other_rpc_statuses_unknown_error},
};

TEST_MAIN(tests)
