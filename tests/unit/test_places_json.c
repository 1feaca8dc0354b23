/* Unit tests for server/places_json: Google's shape and layout. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dynbuf.h"
#include "places_google.h"
#include "places_json.h"
#include "test.h"

#define S(lit) lit, sizeof(lit) - 1

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

/* Parses JSON text the test wrote; it must be valid. */
static json_t *load(const char *text)
{
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);
    if (j == NULL)
        fprintf(stderr, "bad test JSON: %s\n", err.text);
    CHECK(j != NULL);
    return j;
}

/* Formats the JSON text with no bound and compares with want. */
static void check_format(const char *text, const char *want)
{
    json_t *j = load(text);
    char *got = format(j, (size_t)-1);
    CHECK_EQ_STR(got, want);
    free(got);
    json_decref(j);
}

static const char *str_field(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    CHECK(json_is_string(v));
    return json_string_value(v);
}

/* The failure shape: no results, the given status, an error message. */
static void check_failure(const json_t *a, const char *status)
{
    CHECK(a != NULL);
    CHECK(json_is_object(a));
    CHECK_EQ_STR(str_field(a, "status"), status);
    const json_t *results = json_object_get(a, "results");
    CHECK(json_is_array(results));
    CHECK_EQ_INT(json_array_size(results), 0);
    CHECK(json_is_array(json_object_get(a, "html_attributions")));
    CHECK(strlen(str_field(a, "error_message")) > 0);
    /* And it prints as one block with no blank line and no newline at the
     * end. */
    char *text = format(a, 20);
    CHECK(strncmp(text, "{\n", 2) == 0);
    CHECK(strstr(text, "\n   \"results\" : [],\n") != NULL);
    CHECK(strstr(text, "\n\n") == NULL);
    CHECK(text[strlen(text) - 1] == '}');
    free(text);
}

static const char google_ok[] =
    "{\"html_attributions\":[],\"next_page_token\":\"Aap_uEA\","
    "\"results\":["
    "{\"business_status\":\"OPERATIONAL\","
    "\"geometry\":{\"location\":{\"lat\":34.0522342,\"lng\":-118.2436849},"
    "\"viewport\":{\"northeast\":{\"lat\":34.3373061,\"lng\":-118.1552891},"
    "\"southwest\":{\"lat\":33.7036519,\"lng\":-118.6681759}}},"
    "\"icon\":\"https://maps.gstatic.com/mapfiles/place_api/icons/v1/png_71/"
    "geocode-71.png\","
    "\"name\":\"Los Angeles\","
    "\"photos\":[{\"height\":1366,\"html_attributions\":[\"A B\"],"
    "\"photo_reference\":\"ref1\",\"width\":2048}],"
    "\"place_id\":\"ChIJE9on3F3HwoAR9AhGJW_fL-I\",\"rating\":4.1,"
    "\"types\":[\"locality\",\"political\"],\"user_ratings_total\":4,"
    "\"vicinity\":\"Los Angeles\"},"
    "{\"geometry\":{\"location\":{\"lat\":34.068921,\"lng\":-118.4451811}},"
    "\"name\":\"UCLA\",\"opening_hours\":{\"open_now\":true},\"rating\":4.6,"
    "\"types\":[\"university\",\"point_of_interest\",\"establishment\"],"
    "\"user_ratings_total\":3516},"
    "{\"geometry\":{\"location\":{\"lat\":34.0689,\"lng\":-118.4452}},"
    "\"name\":\"Third\",\"permanently_closed\":false,\"plus_code\":{},"
    "\"types\":[]}"
    "],\"status\":\"OK\"}";

static const char google_ok_head[] = "{\n"
                                     "   \"html_attributions\" : [],\n"
                                     "   \"next_page_token\" : \"Aap_uEA\",\n"
                                     "   \"results\" : [\n";

static const char google_ok_r1[] =
    "      {\n"
    "         \"business_status\" : \"OPERATIONAL\",\n"
    "         \"geometry\" : {\n"
    "            \"location\" : {\n"
    "               \"lat\" : 34.0522342,\n"
    "               \"lng\" : -118.2436849\n"
    "            },\n"
    "            \"viewport\" : {\n"
    "               \"northeast\" : {\n"
    "                  \"lat\" : 34.3373061,\n"
    "                  \"lng\" : -118.1552891\n"
    "               },\n"
    "               \"southwest\" : {\n"
    "                  \"lat\" : 33.7036519,\n"
    "                  \"lng\" : -118.6681759\n"
    "               }\n"
    "            }\n"
    "         },\n"
    "         \"icon\" : "
    "\"https://maps.gstatic.com/mapfiles/place_api/icons/v1/png_71/"
    "geocode-71.png\",\n"
    "         \"name\" : \"Los Angeles\",\n"
    "         \"photos\" : [\n"
    "            {\n"
    "               \"height\" : 1366,\n"
    "               \"html_attributions\" : [ \"A B\" ],\n"
    "               \"photo_reference\" : \"ref1\",\n"
    "               \"width\" : 2048\n"
    "            }\n"
    "         ],\n"
    "         \"place_id\" : \"ChIJE9on3F3HwoAR9AhGJW_fL-I\",\n"
    "         \"rating\" : 4.1,\n"
    "         \"types\" : [ \"locality\", \"political\" ],\n"
    "         \"user_ratings_total\" : 4,\n"
    "         \"vicinity\" : \"Los Angeles\"\n"
    "      }";

static const char google_ok_r2[] =
    "      {\n"
    "         \"geometry\" : {\n"
    "            \"location\" : {\n"
    "               \"lat\" : 34.068921,\n"
    "               \"lng\" : -118.4451811\n"
    "            }\n"
    "         },\n"
    "         \"name\" : \"UCLA\",\n"
    "         \"opening_hours\" : {\n"
    "            \"open_now\" : true\n"
    "         },\n"
    "         \"rating\" : 4.6,\n"
    "         \"types\" : [ \"university\", \"point_of_interest\", "
    "\"establishment\" ],\n"
    "         \"user_ratings_total\" : 3516\n"
    "      }";

static const char google_ok_r3[] = "      {\n"
                                   "         \"geometry\" : {\n"
                                   "            \"location\" : {\n"
                                   "               \"lat\" : 34.0689,\n"
                                   "               \"lng\" : -118.4452\n"
                                   "            }\n"
                                   "         },\n"
                                   "         \"name\" : \"Third\",\n"
                                   "         \"permanently_closed\" : false,\n"
                                   "         \"plus_code\" : {},\n"
                                   "         \"types\" : []\n"
                                   "      }";

static const char google_ok_tail[] = "\n"
                                     "   ],\n"
                                     "   \"status\" : \"OK\"\n"
                                     "}";

static void test_from_google_ok_keeps_fields_and_order(void)
{
    json_t *a = places_json_from_google(S(google_ok), 200);
    CHECK(a != NULL);
    static const char *const keys[] = {"html_attributions", "next_page_token",
                                       "results", "status"};
    size_t i = 0;
    const char *key;
    json_t *val;
    json_object_foreach(a, key, val)
    {
        CHECK(i < 4);
        CHECK_EQ_STR(key, keys[i]);
        i++;
    }
    (void)val;
    CHECK_EQ_INT(i, 4);
    CHECK_EQ_STR(str_field(a, "status"), "OK");
    CHECK_EQ_INT(json_array_size(json_object_get(a, "results")), 3);
    CHECK(json_object_get(a, "error_message") == NULL);
    json_decref(a);
}

static void test_format_google_document_trimmed(void)
{
    json_t *a = places_json_from_google(S(google_ok), 200);
    CHECK(a != NULL);
    char want[8192];
    /* Bound 2 of 3. */
    snprintf(want, sizeof want, "%s%s,\n%s%s", google_ok_head, google_ok_r1,
             google_ok_r2, google_ok_tail);
    char *got = format(a, 2);
    CHECK_EQ_STR(got, want);
    free(got);
    /* Bound 1. */
    snprintf(want, sizeof want, "%s%s%s", google_ok_head, google_ok_r1,
             google_ok_tail);
    got = format(a, 1);
    CHECK_EQ_STR(got, want);
    free(got);
    /* Bound 3, and a bound larger than the count, keep all. */
    snprintf(want, sizeof want, "%s%s,\n%s,\n%s%s", google_ok_head,
             google_ok_r1, google_ok_r2, google_ok_r3, google_ok_tail);
    got = format(a, 3);
    CHECK_EQ_STR(got, want);
    free(got);
    got = format(a, 20);
    CHECK_EQ_STR(got, want);
    free(got);
    /* Formatting did not change the answer. */
    CHECK_EQ_INT(json_array_size(json_object_get(a, "results")), 3);
    json_decref(a);
}

static void test_format_bound_zero(void)
{
    json_t *a = places_json_from_google(S(google_ok), 200);
    CHECK(a != NULL);
    char *got = format(a, 0);
    CHECK_EQ_STR(got, "{\n"
                      "   \"html_attributions\" : [],\n"
                      "   \"next_page_token\" : \"Aap_uEA\",\n"
                      "   \"results\" : [],\n"
                      "   \"status\" : \"OK\"\n"
                      "}");
    free(got);
    json_decref(a);
}

static void test_format_second_document(void)
{
    /* Escapes, reals, scalars of every kind, nested arrays and objects. */
    check_format(
        "{\"html_attributions\":[\"Listings by \\\"X\\\" \\\\ Y\"],"
        "\"results\":[{\"name\":\"a\\\\b\\nc\\u0001d\\u001f\\te\\r\\b\\f/"
        "\xc3\xa9\\u00e9\\u4e2d\","
        "\"vals\":[1,2.5,1.0,-0.5,1e-3,100,-7,true,false,null,\"\"],"
        "\"nested\":[[1,2],[\"x\"],[],{},{\"k\":[]}],"
        "\"r\":4.0,\"i\":4,\"o\":{}}],"
        "\"status\":\"OK\"}",
        "{\n"
        "   \"html_attributions\" : [ \"Listings by \\\"X\\\" \\\\ Y\" ],\n"
        "   \"results\" : [\n"
        "      {\n"
        "         \"name\" : \"a\\\\b\\nc\\u0001d\\u001f\\te\\r\\b\\f/"
        "\xc3\xa9\xc3\xa9\xe4\xb8\xad\",\n"
        "         \"vals\" : [ 1, 2.5, 1.0, -0.5, 0.001, 100, -7, true, "
        "false, null, \"\" ],\n"
        "         \"nested\" : [\n"
        "            [ 1, 2 ],\n"
        "            [ \"x\" ],\n"
        "            [],\n"
        "            {},\n"
        "            {\n"
        "               \"k\" : []\n"
        "            }\n"
        "         ],\n"
        "         \"r\" : 4.0,\n"
        "         \"i\" : 4,\n"
        "         \"o\" : {}\n"
        "      }\n"
        "   ],\n"
        "   \"status\" : \"OK\"\n"
        "}");
}

static const struct {
    const char *json;
    const char *want;
} scalar_cases[] = {
    {"4.1", "4.1"},
    {"34.0522342", "34.0522342"},
    {"-118.2436849", "-118.2436849"},
    {"4", "4"},
    {"0", "0"},
    {"-3", "-3"},
    {"1.0", "1.0"},
    {"4.0", "4.0"},
    {"0.5", "0.5"},
    {"0.1", "0.1"},
    {"0.0", "0.0"},
    {"2.25", "2.25"},
    {"1234567890123", "1234567890123"},
    {"0.30000000000000004", "0.30000000000000004"},
    /* Shortest round trip at every length up to 17 digits. */
    {"0.1234567890123456", "0.1234567890123456"},
    {"0.12345678901234566", "0.12345678901234566"},
    {"123456789.12345", "123456789.12345"},
    {"1e-7", "1e-07"},
    {"1.5e300", "1.5e+300"},
    {"1e20", "1e+20"},
    {"4.9406564584124654e-324", "5e-324"},
    {"2.2250738585072009e-308", "2.225073858507201e-308"},
    {"\"\"", "\"\""},
    {"\"a\\\"b\"", "\"a\\\"b\""},
    {"\"a\\\\b\"", "\"a\\\\b\""},
    {"\"line\\nbreak\"", "\"line\\nbreak\""},
    {"\"\\u0000\"", NULL}, /* NUL: jansson refuses it by default */
    {"\"\\u0007\"", "\"\\u0007\""},
    {"\"\\u001b[0m\"", "\"\\u001b[0m\""},
    {"\"\\u007f\"", "\"\x7f\""},
    {"\"caf\\u00e9\"", "\"caf\xc3\xa9\""},
    {"\"\xf0\x9f\x8d\x95\"", "\"\xf0\x9f\x8d\x95\""},
    {"true", "true"},
    {"false", "false"},
    {"null", "null"},
    {"[]", "[]"},
    {"{}", "{}"},
};

static void test_scalars(void)
{
    for (size_t i = 0; i < sizeof scalar_cases / sizeof scalar_cases[0]; i++) {
        if (scalar_cases[i].want == NULL)
            continue;
        /* Wrapped in an object, so the layout around it is known too. */
        char text[256];
        char want[256];
        snprintf(text, sizeof text, "{\"v\":%s}", scalar_cases[i].json);
        snprintf(want, sizeof want, "{\n   \"v\" : %s\n}",
                 scalar_cases[i].want);
        check_format(text, want);
        /* And as a one-element array. */
        snprintf(text, sizeof text, "{\"a\":[%s]}", scalar_cases[i].json);
        if (strcmp(scalar_cases[i].json, "[]") == 0 ||
            strcmp(scalar_cases[i].json, "{}") == 0)
            snprintf(want, sizeof want, "{\n   \"a\" : [\n      %s\n   ]\n}",
                     scalar_cases[i].want);
        else
            snprintf(want, sizeof want, "{\n   \"a\" : [ %s ]\n}",
                     scalar_cases[i].want);
        check_format(text, want);
    }
}

static void test_key_escaping(void)
{
    check_format("{\"a\\\"b\\n\":1}", "{\n   \"a\\\"b\\n\" : 1\n}");
}

static void test_nested_results_not_trimmed(void)
{
    /* Only the top-level "results" is cut to the bound. */
    json_t *j = load("{\"results\":[{\"results\":[1,2,3]},{}],\"x\":{"
                     "\"results\":[4,5]}}");
    char *got = format(j, 1);
    CHECK_EQ_STR(got, "{\n"
                      "   \"results\" : [\n"
                      "      {\n"
                      "         \"results\" : [ 1, 2, 3 ]\n"
                      "      }\n"
                      "   ],\n"
                      "   \"x\" : {\n"
                      "      \"results\" : [ 4, 5 ]\n"
                      "   }\n"
                      "}");
    free(got);
    json_decref(j);
}

static void test_format_limit(void)
{
    json_t *a = places_json_from_google(S(google_ok), 200);
    struct dynbuf b;
    dynbuf_init(&b, 100);
    CHECK_EQ_INT(places_json_format(a, 20, &b), DYNBUF_ETOOBIG);
    CHECK(b.len <= 100);
    dynbuf_free(&b);
    json_decref(a);
}

static void test_zero_results_kept(void)
{
    json_t *a = places_json_from_google(
        S("{\"html_attributions\":[],\"results\":[],\"status\":"
          "\"ZERO_RESULTS\"}"),
        200);
    CHECK(a != NULL);
    char *got = format(a, 5);
    CHECK_EQ_STR(got, "{\n"
                      "   \"html_attributions\" : [],\n"
                      "   \"results\" : [],\n"
                      "   \"status\" : \"ZERO_RESULTS\"\n"
                      "}");
    free(got);
    json_decref(a);
}

static void test_request_denied_keeps_status_and_message(void)
{
    json_t *a = places_json_from_google(
        S("{\"error_message\":\"The provided API key is invalid.\","
          "\"html_attributions\":[],\"results\":[],\"status\":"
          "\"REQUEST_DENIED\"}"),
        200);
    check_failure(a, "REQUEST_DENIED");
    CHECK_EQ_STR(str_field(a, "error_message"),
                 "The provided API key is invalid.");
    json_decref(a);
    /* Results sent along with an error status are dropped. */
    a = places_json_from_google(
        S("{\"error_message\":\"no\",\"html_attributions\":[],\"results\":"
          "[{\"name\":\"x\"}],\"status\":\"INVALID_REQUEST\"}"),
        200);
    check_failure(a, "INVALID_REQUEST");
    CHECK_EQ_STR(str_field(a, "error_message"), "no");
    json_decref(a);
}

static void test_over_query_limit_without_message(void)
{
    json_t *a = places_json_from_google(
        S("{\"html_attributions\":[],\"results\":[],\"status\":"
          "\"OVER_QUERY_LIMIT\"}"),
        200);
    check_failure(a, "OVER_QUERY_LIMIT");
    json_decref(a);
}

static void test_http_error_is_unknown_error(void)
{
    static const long codes[] = {500, 503, 404, 403, 301, 0, 201};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        /* Even a body that looks fine does not count. */
        json_t *a = places_json_from_google(S(google_ok), codes[i]);
        check_failure(a, "UNKNOWN_ERROR");
        json_decref(a);
    }
    json_t *a = places_json_from_google(S("Internal Server Error"), 500);
    check_failure(a, "UNKNOWN_ERROR");
    CHECK(strstr(str_field(a, "error_message"), "500") != NULL);
    json_decref(a);
}

static const struct {
    const char *body;
    size_t len;
} bad_bodies[] = {
    {S("")},
    {S("{")},
    {S("not json")},
    {S("{\"status\":\"OK\",\"results\":[]")},
    {S("{\"status\":\"OK\",\"results\":[]}trailing")},
    {S("[]")},
    {S("[{\"status\":\"OK\",\"results\":[]}]")},
    {S("\"OK\"")},
    {S("null")},
    {S("42")},
    {S("{}")},
    {S("{\"results\":[]}")},
    {S("{\"status\":\"OK\"}")},
    {S("{\"status\":1,\"results\":[]}")},
    {S("{\"status\":null,\"results\":[]}")},
    {S("{\"status\":\"OK\",\"results\":{}}")},
    {S("{\"status\":\"OK\",\"results\":\"none\"}")},
    {S("{\"status\":\"OK\",\"results\":null}")},
    {S("{\"status\":\"OK\",\"status\":\"OK\",\"results\":[]}")},
    {S("{\"status\":\"OK\",\"results\":[]\0}")},
    {S("{\"status\":\"O\xffK\",\"results\":[]}")},
};

static void test_malformed_bodies_unknown_error(void)
{
    for (size_t i = 0; i < sizeof bad_bodies / sizeof bad_bodies[0]; i++) {
        json_t *a =
            places_json_from_google(bad_bodies[i].body, bad_bodies[i].len, 200);
        if (a == NULL || !json_is_object(a) ||
            !json_is_string(json_object_get(a, "status")) ||
            strcmp(json_string_value(json_object_get(a, "status")),
                   "UNKNOWN_ERROR") != 0)
            fprintf(stderr, "body %zu: %.*s\n", i, (int)bad_bodies[i].len,
                    bad_bodies[i].body);
        check_failure(a, "UNKNOWN_ERROR");
        json_decref(a);
    }
}

static void test_error_shape(void)
{
    json_t *a = places_json_error("UNKNOWN_ERROR", "places timed out");
    check_failure(a, "UNKNOWN_ERROR");
    CHECK_EQ_STR(str_field(a, "error_message"), "places timed out");
    json_decref(a);
}

static const struct {
    const char *in;
    size_t len;
    const char *want;
} url_cases[] = {
    {S(""), ""},
    {S("abcXYZ019-._~"), "abcXYZ019-._~"},
    {S("34.068930,-118.445127"), "34.068930%2C-118.445127"},
    {S(" "), "%20"},
    {S("+"), "%2B"},
    {S("a b+c"), "a%20b%2Bc"},
    {S("&=?/#:@!$'()*;[]%"),
     "%26%3D%3F%2F%23%3A%40%21%24%27%28%29%2A%3B%5B%5D%25"},
    {S("\"<>\\^`{|}"), "%22%3C%3E%5C%5E%60%7B%7C%7D"},
    {S("\xc3\xa9"), "%C3%A9"},
    {S("\xe4\xb8\xad"), "%E4%B8%AD"},
    {S("\xff\x00\x01\x7f\x80"), "%FF%00%01%7F%80"},
    {S("\n\r\t"), "%0A%0D%09"},
};

static void test_urlencode(void)
{
    for (size_t i = 0; i < sizeof url_cases / sizeof url_cases[0]; i++) {
        struct dynbuf b;
        dynbuf_init(&b, 1024);
        CHECK_EQ_INT(dynbuf_add(&b, "k=", 2), 0);
        CHECK_EQ_INT(
            places_json_urlencode(&b, url_cases[i].in, url_cases[i].len), 0);
        CHECK_EQ_INT(dynbuf_addc(&b, '\0'), 0);
        CHECK(strncmp(b.data, "k=", 2) == 0);
        CHECK_EQ_STR(b.data + 2, url_cases[i].want);
        dynbuf_free(&b);
    }
    /* The buffer's bound holds. */
    struct dynbuf b;
    dynbuf_init(&b, 5);
    CHECK_EQ_INT(places_json_urlencode(&b, S("\xff\xff")), DYNBUF_ETOOBIG);
    CHECK(b.len <= 5);
    dynbuf_free(&b);
}

/* A long provider message cut to fit must not become invalid UTF-8 (which
 * jansson refuses): the answer is never NULL unless memory runs out. */
static void test_long_utf8_error_message(void)
{
    for (size_t pad = 150; pad < 170; pad++) {
        char body[512];
        char msg[256];
        memset(msg, 'a', pad);
        memcpy(msg + pad, "\xc3\xa9\xe4\xb8\xad", 5);
        msg[pad + 5] = '\0';
        int n = snprintf(body, sizeof body,
                         "{\"error_message\":\"%s\",\"html_attributions\":[],"
                         "\"results\":[],\"status\":\"REQUEST_DENIED\"}",
                         msg);
        json_t *a = places_json_from_google(body, (size_t)n, 200);
        if (a == NULL)
            fprintf(stderr, "NULL answer for a message of %zu bytes\n",
                    pad + 5);
        check_failure(a, "REQUEST_DENIED");
        json_decref(a);
    }
}

/* Google prints a real that holds a whole number with ".0" (jsoncpp's
 * StyledWriter); an exponent form is not its layout. */
static void test_whole_reals_keep_layout(void)
{
    check_format("{\"v\":[10.0,100.0,-120.0,2000.0]}",
                 "{\n   \"v\" : [ 10.0, 100.0, -120.0, 2000.0 ]\n}");
}

static const struct test tests[] = {
    {"from_google_ok_keeps_fields_and_order",
     test_from_google_ok_keeps_fields_and_order},
    {"format_google_document_trimmed", test_format_google_document_trimmed},
    {"format_bound_zero", test_format_bound_zero},
    {"format_second_document", test_format_second_document},
    {"scalars", test_scalars},
    {"key_escaping", test_key_escaping},
    {"nested_results_not_trimmed", test_nested_results_not_trimmed},
    {"format_limit", test_format_limit},
    {"zero_results_kept", test_zero_results_kept},
    {"request_denied_keeps_status_and_message",
     test_request_denied_keeps_status_and_message},
    {"over_query_limit_without_message", test_over_query_limit_without_message},
    {"http_error_is_unknown_error", test_http_error_is_unknown_error},
    {"malformed_bodies_unknown_error", test_malformed_bodies_unknown_error},
    {"error_shape", test_error_shape},
    {"urlencode", test_urlencode},
    {"long_utf8_error_message", test_long_utf8_error_message},
    {"whole_reals_keep_layout", test_whole_reals_keep_layout},
};

TEST_MAIN(tests)
