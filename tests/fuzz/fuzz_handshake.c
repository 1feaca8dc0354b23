/* The peer handshake parser: HELLO and PROOF lines from any bytes.
 *
 * Properties: parsing never crashes; a HELLO that parses formats back
 * (with the same role and proof) to a line that parses to the same fields;
 * the same for PROOF. */
#include <string.h>

#include "fuzz.h"
#include "handshake.h"

static void check_hello(const char *line, size_t len)
{
    struct hello h;
    if (handshake_parse_hello(line, len, &h) != 0)
        return;
    FUZZ_CHECK(h.name.len > 0 && h.name.len < 64);
    char name[64];
    memcpy(name, h.name.p, h.name.len);
    name[h.name.len] = '\0';
    enum handshake_role role = h.has_proof ? HANDSHAKE_ACCEPT : HANDSHAKE_DIAL;
    char out[HANDSHAKE_LINE_MAX];
    size_t n = handshake_format_hello(
        out, sizeof out, role, name, h.epoch, h.count, h.digest, h.nonce,
        h.has_proof && !h.proof_none ? h.proof : NULL);
    FUZZ_CHECK(n > 1 && out[n - 1] == '\n');
    struct hello g;
    FUZZ_CHECK(handshake_parse_hello(out, n - 1, &g) == 0);
    FUZZ_CHECK(g.name.len == h.name.len &&
               memcmp(g.name.p, name, h.name.len) == 0);
    FUZZ_CHECK(g.epoch == h.epoch && g.count == h.count &&
               g.digest == h.digest);
    FUZZ_CHECK(memcmp(g.nonce, h.nonce, HANDSHAKE_NONCE) == 0);
    FUZZ_CHECK(g.has_proof == h.has_proof && g.proof_none == h.proof_none);
    if (h.has_proof && !h.proof_none)
        FUZZ_CHECK(handshake_proof_equal(g.proof, h.proof));
}

static void check_proof(const char *line, size_t len)
{
    unsigned char p[HANDSHAKE_PROOF], q[HANDSHAKE_PROOF];
    int none = 0, none2 = 0;
    if (handshake_parse_proof(line, len, p, &none) != 0)
        return;
    char out[HANDSHAKE_LINE_MAX];
    size_t n = handshake_format_proof(out, sizeof out, none ? NULL : p);
    FUZZ_CHECK(n > 1);
    FUZZ_CHECK(handshake_parse_proof(out, n - 1, q, &none2) == 0);
    FUZZ_CHECK(none2 == none);
    if (!none)
        FUZZ_CHECK(handshake_proof_equal(p, q));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *line = (const char *)data;
    check_hello(line, size);
    check_proof(line, size);
    return 0;
}
