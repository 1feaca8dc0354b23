/* proto: any bytes as one request line (no terminator).
 *
 * Properties:
 * - proto_parse never crashes, and every status has a name;
 * - WHATSAT: the radius is at most PROTO_RADIUS_MAX_KM (in millimetres) and
 *   the bound at most PROTO_BOUND_MAX; the radius in metres reads back as
 *   the same number of millimetres;
 * - IAMAT and AT: the record built from the command (record_new) is the
 *   line proto_format_at writes, and parsing it again gives an AT with the
 *   same server, difference, client, location and time, byte for byte, and
 *   the same numbers.
 */
#include <stdint.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"
#include "proto.h"
#include "store.h"
#include "strparse.h"

static int same(struct strparse_slice a, struct strparse_slice b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* Whether the slice lies inside [line, line + len). */
static int inside(struct strparse_slice s, const char *line, size_t len)
{
    return s.p >= line && s.len <= len &&
           s.p - line <= (ptrdiff_t)(len - s.len);
}

static void check_fields(const struct proto_command *c, const char *line,
                         size_t len)
{
    FUZZ_CHECK(inside(c->client, line, len) && c->client.len > 0);
    for (size_t i = 0; i < c->client.len; i++)
        FUZZ_CHECK(!strparse_is_space(c->client.p[i]));
    if (c->kind == PROTO_WHATSAT)
        return;
    FUZZ_CHECK(inside(c->location, line, len));
    FUZZ_CHECK(inside(c->time, line, len));
    /* Validated without converting; converting it agrees, in range. */
    double lat, lng;
    size_t lng_off;
    FUZZ_CHECK(strparse_coords(c->location.p, c->location.len, &lat, &lng,
                               &lng_off) == 0);
    FUZZ_CHECK(lat >= -90 && lat <= 90);
    FUZZ_CHECK(lng >= -180 && lng <= 180);
    FUZZ_CHECK(c->nsec < 1000000000u);
}

static void check_roundtrip(struct strparse_slice server,
                            struct strparse_slice diff,
                            const struct proto_command *c)
{
    struct record *r = record_new(server, diff, c);
    FUZZ_CHECK(r != NULL);
    FUZZ_CHECK(r->sec == c->sec && r->nsec == c->nsec);

    /* The record's line is exactly what proto_format_at writes, and one
     * byte less room is refused rather than cut. */
    char *buf = malloc(r->len);
    FUZZ_CHECK(buf != NULL);
    FUZZ_CHECK(proto_format_at(buf, r->len, server, diff, c) == r->len);
    FUZZ_CHECK(memcmp(buf, r->line, r->len) == 0);
    FUZZ_CHECK(proto_format_at(buf, r->len - 1, server, diff, c) == 0);
    free(buf);

    FUZZ_CHECK(same(record_client(r), c->client));
    FUZZ_CHECK(same(record_location(r), c->location));

    struct proto_command again;
    FUZZ_CHECK(proto_parse(r->line, r->len, &again) == PROTO_OK);
    FUZZ_CHECK(again.kind == PROTO_AT);
    FUZZ_CHECK(same(again.server, server));
    FUZZ_CHECK(same(again.diff, diff));
    FUZZ_CHECK(same(again.client, c->client));
    FUZZ_CHECK(same(again.location, c->location));
    FUZZ_CHECK(same(again.time, c->time));
    FUZZ_CHECK(again.sec == c->sec && again.nsec == c->nsec);
    free(r);
}

static void check_whatsat(const struct proto_command *c)
{
    FUZZ_CHECK(c->radius_mm <= (uint64_t)PROTO_RADIUS_MAX_KM * 1000000);
    FUZZ_CHECK(c->bound <= PROTO_BOUND_MAX);
    char metres[32];
    size_t n = proto_format_metres(metres, c->radius_mm);
    FUZZ_CHECK(n > 0 && n < sizeof metres && metres[n] == '\0');
    uint64_t mm;
    int inexact = 1;
    FUZZ_CHECK(strparse_fixed(metres, n, 3, &mm, &inexact) == 0);
    FUZZ_CHECK(mm == c->radius_mm && !inexact);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *line = (const char *)data;
    struct proto_command c;
    int rc = proto_parse(line, size, &c);
    FUZZ_CHECK(strcmp(proto_strerror(rc), "unknown error") != 0);
    if (rc != PROTO_OK)
        return 0;
    FUZZ_CHECK(strcmp(proto_kind_name(c.kind), "?") != 0);
    check_fields(&c, line, size);
    switch (c.kind) {
    case PROTO_WHATSAT:
        check_whatsat(&c);
        break;
    case PROTO_IAMAT: {
        /* As a server records it: its own name and the receipt delay. */
        static const char name[] = "Fuzz-1.herd_";
        char diff[32];
        size_t dlen =
            proto_format_diff(diff, 1700000000u, 123456789u, c.sec, c.nsec);
        FUZZ_CHECK(dlen >= 12 && dlen < sizeof diff);
        struct strparse_slice server = {name, sizeof name - 1};
        struct strparse_slice d = {diff, dlen};
        check_roundtrip(server, d, &c);
        break;
    }
    case PROTO_AT:
        FUZZ_CHECK(inside(c.server, line, size) && inside(c.diff, line, size));
        FUZZ_CHECK(config_valid_name(c.server.p, c.server.len));
        check_roundtrip(c.server, c.diff, &c);
        break;
    case PROTO_KIND_COUNT:
        fuzz_fail(__FILE__, __LINE__, "a parsed command has a real kind");
    }
    return 0;
}
