/* places_json: any bytes as a provider's HTTP answer, then the reply.
 *
 * Input: [provider] [http] [bound] [where] then the body.
 *   provider % 3   legacy Nearby Search, Places API (New), Overpass
 *   http           200 unless it is 0xe0 or more: then a code from a table
 *   bound % 32     the client's result bound (the protocol allows 0..20)
 *   where          Overpass: the query's centre (% 8) and the result cap
 *                  (/ 8 % 22)
 *
 * Properties:
 * - the answer is never NULL, and is an object with a "status" string and
 *   a "results" array (Overpass: at most the cap);
 * - places_json_format prints it; the text parses back (json_loadb) to an
 *   object with the same status and min(bound, results) results, and
 *   printing that again gives the same text.
 */
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "dynbuf.h"
#include "fuzz.h"
#include "places_google.h"
#include "places_google_new.h"
#include "places_json.h"
#include "places_overpass.h"

static const long http_codes[] = {0,   100, 201, 204, 301, 304, 400, 401,
                                  403, 404, 408, 429, 500, 502, 503, 504,
                                  -1,  999, 200, 299, 418, 451, 599, 1000};

static const struct {
    double lat, lng;
} centres[] = {
    {34.068930, -118.445127},
    {0, 0},
    {90, 0},
    {-90, 180},
    {51.5, -0.12},
    {0, 180},
    {-33.87, 151.2},
    {89.9999, -180},
};

static void check_shape(const json_t *answer)
{
    FUZZ_CHECK(answer != NULL);
    FUZZ_CHECK(json_is_object(answer));
    FUZZ_CHECK(json_is_string(json_object_get(answer, "status")));
    FUZZ_CHECK(json_is_array(json_object_get(answer, "results")));
}

/* Prints v with bound into a new buffer; the text is NUL-terminated. */
static void format(const json_t *v, size_t bound, struct dynbuf *out)
{
    dynbuf_init(out, (size_t)1 << 26);
    FUZZ_CHECK(places_json_format(v, bound, out) == 0);
    FUZZ_CHECK(dynbuf_addc(out, '\0') == 0);
    out->len--;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in = {data, size};
    unsigned provider = fuzz_u8(&in) % 3;
    uint8_t h = fuzz_u8(&in);
    long http = h < 0xe0 ? 200
                         : http_codes[(h - 0xe0) % (sizeof http_codes /
                                                    sizeof http_codes[0])];
    size_t bound = fuzz_u8(&in) % 32;
    uint8_t where = fuzz_u8(&in);
    double lat = centres[where % 8].lat;
    double lng = centres[where % 8].lng;
    size_t cap = (size_t)(where / 8) % 22;
    const char *body = (const char *)in.p;

    json_t *answer;
    switch (provider) {
    case 0:
        answer = places_json_from_google(body, in.len, http);
        break;
    case 1:
        answer = places_json_from_google_new(body, in.len, http);
        break;
    default:
        answer = places_json_from_overpass(body, in.len, http, lat, lng, cap);
        break;
    }
    check_shape(answer);
    const json_t *results = json_object_get(answer, "results");
    if (provider == 2)
        FUZZ_CHECK(json_array_size(results) <= cap);
    size_t want =
        json_array_size(results) < bound ? json_array_size(results) : bound;

    struct dynbuf text;
    format(answer, bound, &text);
    json_error_t jerr;
    json_t *back =
        json_loadb(text.data, text.len, JSON_REJECT_DUPLICATES, &jerr);
    if (back == NULL)
        fprintf(stderr, "reply does not parse back: %s (line %d)\n%s\n",
                jerr.text, jerr.line, text.data);
    check_shape(back);
    FUZZ_CHECK(json_array_size(json_object_get(back, "results")) == want);
    FUZZ_CHECK(strcmp(json_string_value(json_object_get(back, "status")),
                      json_string_value(json_object_get(answer, "status"))) ==
               0);

    struct dynbuf again;
    format(back, SIZE_MAX, &again);
    FUZZ_CHECK(again.len == text.len);
    FUZZ_CHECK(memcmp(again.data, text.data, text.len) == 0);

    dynbuf_free(&again);
    dynbuf_free(&text);
    json_decref(back);
    json_decref(answer);
    return 0;
}
