/* sync: catch-up messages from a neighbour never crash a server, never
 * make it send a line longer than SYNC_LINE_MAX, and every range it was
 * asked for is sent to the end in bounded slices.
 *
 * The store holds the same 300 records for every input (clients c0..c299,
 * some sharing buckets' neighbourhoods by chance). The input is lines, each
 * split as a peer link splits it and handed to sync_on_line; after each,
 * sync_pump runs with a small budget. At the end the queue is drained.
 *
 * Properties:
 * - sync_on_line returns 0 or one of the SYNC_E* codes;
 * - every line sent fits SYNC_LINE_MAX and is itself a catch-up message;
 * - a pump sends at most its budget plus one record;
 * - every record sent is the store's current record of its client;
 * - draining the queue ends (bounded calls) and leaves it empty.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "proto.h"
#include "store.h"
#include "sync.h"

#define RECORDS 300
#define BUDGET  512

static struct store store;
static int ready;

static void setup(void)
{
    store_init(&store, 0x0123456789abcdefULL, 0xfedcba9876543210ULL);
    for (unsigned i = 0; i < RECORDS; i++) {
        char line[128];
        int n = snprintf(line, sizeof line,
                         "AT Fuzz +0.000000001 c%u +34.068930-118.445127 "
                         "1621464827.%09u",
                         i, i);
        struct proto_command c;
        FUZZ_CHECK(proto_parse(line, (size_t)n, &c) == PROTO_OK);
        struct record *r = record_from_at(line, (size_t)n, &c);
        FUZZ_CHECK(r != NULL);
        const struct record *cur;
        FUZZ_CHECK(store_apply(&store, r, &cur) == STORE_CHANGED);
    }
    ready = 1;
}

static void on_line(void *arg, const char *line, size_t len)
{
    (void)arg;
    FUZZ_CHECK(len < SYNC_LINE_MAX);
    FUZZ_CHECK(len >= 6 && (memcmp(line, "SUMS ", 5) == 0 ||
                            memcmp(line, "PULL ", 5) == 0 ||
                            memcmp(line, "DONE ", 5) == 0));
}

static void on_record(void *arg, const struct record *r)
{
    (void)arg;
    FUZZ_CHECK(store_get(&store, r->line + r->client_off, r->client_len) == r);
}

static const struct sync_ops ops = {on_line, on_record};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready)
        setup();
    struct sync s;
    sync_init(&s, &store, &ops, NULL, size > 0 && (data[0] & 1));
    sync_start(&s, 0, 0); /* differs: opens */
    const char *p = (const char *)data;
    const char *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
        struct strparse_slice f[PROTO_MAX_FIELDS];
        size_t n = strparse_split(p, len, f, PROTO_MAX_FIELDS);
        int rc = sync_on_line(&s, f, n);
        FUZZ_CHECK(rc == 0 || rc == SYNC_ENOTSYNC || rc == SYNC_EBAD ||
                   rc == SYNC_ENOMEM || rc == SYNC_EQUEUE);
        size_t sent = sync_pump(&s, BUDGET);
        FUZZ_CHECK(sent <= BUDGET + 128);
        p += len + (nl != NULL);
    }
    /* Every range asked for goes out to its end. */
    for (unsigned i = 0; i < 100000 && sync_has_queue(&s); i++)
        sync_pump(&s, 1 << 20);
    FUZZ_CHECK(!sync_has_queue(&s));
    sync_close(&s);
    return 0;
}
