#include "proto.h"

#include <stdio.h>
#include <string.h>

#include "bytes.h"
#include "config.h"
#include "strparse.h"

size_t proto_split6(const char *p, size_t len, struct strparse_slice f[6])
{
    const unsigned char *u = (const unsigned char *)p;
    size_t sep[5];
    size_t nsep = 0;
    size_t i = 0;
    /* One pass, a word at a time: each byte below 0x21 the word test
     * flags is looked up (as in strparse_split); a separator must be a single
     * space, and there must be exactly five. */
    for (;; i += 8) {
        uint64_t m;
        if (i + 8 <= len) {
            m = strparse_low_bytes(u + i);
        } else {
            m = 0;
            for (size_t k = i; k < len; k++)
                m |= (uint64_t)(u[k] < 0x21) << (8 * (k - i) + 7);
        }
        for (; m != 0; m &= m - 1) {
            size_t k = i + ((size_t)__builtin_ctzll(m) >> 3);
            if (!strparse_space[u[k]])
                continue; /* field content (or a borrow's false flag) */
            if (u[k] != ' ' || nsep == 5)
                return 0;
            sep[nsep++] = k;
        }
        if (i + 8 >= len)
            break;
    }
    if (nsep != 5 || sep[0] == 0 || sep[4] + 1 == len)
        return 0;
    size_t start = 0;
    for (size_t k = 0; k < 5; k++) {
        if (sep[k] == start)
            return 0; /* two spaces in a row, or a leading one */
        f[k].p = p + start;
        f[k].len = sep[k] - start;
        start = sep[k] + 1;
    }
    f[5].p = p + start;
    f[5].len = len - start;
    return 6;
}

static int parse_location(struct proto_command *c, struct strparse_slice f)
{
    size_t lng_off;
    if (strparse_coords(f.p, f.len, NULL, NULL, &lng_off) != 0)
        return PROTO_ELOCATION;
    c->location = f;
    return 0;
}

static int parse_time(struct proto_command *c, struct strparse_slice f)
{
    if (strparse_time(f.p, f.len, &c->sec, &c->nsec) != 0)
        return PROTO_ETIME;
    c->time = f;
    return 0;
}

static int parse_iamat(struct proto_command *c, const struct strparse_slice *f)
{
    c->client = f[1];
    int rc = parse_location(c, f[2]);
    return rc != 0 ? rc : parse_time(c, f[3]);
}

static int parse_whatsat(struct proto_command *c,
                         const struct strparse_slice *f)
{
    c->client = f[1];
    uint64_t mm;
    int inexact = 0;
    /* km with six fraction digits is millimetres. */
    if (strparse_fixed(f[2].p, f[2].len, 6, &mm, &inexact) != 0)
        return PROTO_ERADIUS;
    if (mm > (uint64_t)PROTO_RADIUS_MAX_KM * 1000000 ||
        (mm == (uint64_t)PROTO_RADIUS_MAX_KM * 1000000 && inexact))
        return PROTO_ERADIUS;
    c->radius_mm = mm;
    uint64_t bound;
    if (strparse_uint(f[3].p, f[3].len, PROTO_BOUND_MAX, &bound) != 0)
        return PROTO_EBOUND;
    c->bound = (uint32_t)bound;
    return 0;
}

/* [+-]DIGITS.DIGITS{9}, as proto_format_diff writes it, with DIGITS a
 * 64-bit number: one pass, since every record a server receives has one. */
static int valid_diff(struct strparse_slice f)
{
    if (f.len < 12 || (f.p[0] != '+' && f.p[0] != '-'))
        return 0;
    size_t dot = f.len - 10; /* at least 2 */
    if (f.p[dot] != '.')
        return 0;
    unsigned bad = 0;
    for (size_t i = 1; i < f.len; i++)
        bad |= i != dot && (unsigned)(unsigned char)f.p[i] - '0' > 9;
    if (bad)
        return 0;
    /* Up to 19 digits always fit; more may not (leading zeros aside). */
    uint64_t v;
    return dot - 1 <= 19 ||
           strparse_uint(f.p + 1, dot - 1, UINT64_MAX, &v) == 0;
}

static int parse_at(struct proto_command *c, const struct strparse_slice *f)
{
    if (!config_valid_name(f[1].p, f[1].len))
        return PROTO_ESERVER;
    if (!valid_diff(f[2]))
        return PROTO_EDIFF;
    c->server = f[1];
    c->diff = f[2];
    c->client = f[3];
    int rc = parse_location(c, f[4]);
    return rc != 0 ? rc : parse_time(c, f[5]);
}

static const struct {
    const char *name;
    enum proto_kind kind;
    size_t nfields;
    int (*parse)(struct proto_command *c, const struct strparse_slice *f);
} commands[] = {
    {"IAMAT", PROTO_IAMAT, 4, parse_iamat},
    {"WHATSAT", PROTO_WHATSAT, 4, parse_whatsat},
    {"AT", PROTO_AT, 6, parse_at},
};

int proto_parse_fields(const struct strparse_slice *f, size_t n,
                       struct proto_command *cmd)
{
    if (n == 0)
        return PROTO_EBLANK;
    memset(cmd, 0, sizeof *cmd);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        size_t nlen = strlen(commands[i].name);
        if (f[0].len != nlen || memcmp(f[0].p, commands[i].name, nlen) != 0)
            continue;
        if (n != commands[i].nfields)
            return PROTO_EARITY;
        cmd->kind = commands[i].kind;
        return commands[i].parse(cmd, f);
    }
    return PROTO_EUNKNOWN;
}

int proto_parse(const char *line, size_t len, struct proto_command *cmd)
{
    struct strparse_slice f[PROTO_MAX_FIELDS];
    size_t n = strparse_split(line, len, f, PROTO_MAX_FIELDS);
    return proto_parse_fields(f, n, cmd);
}

const char *proto_kind_name(enum proto_kind kind)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (commands[i].kind == kind)
            return commands[i].name;
    return "?";
}

size_t proto_format_diff(char out[32], uint64_t now_sec, uint32_t now_nsec,
                         uint64_t sec, uint32_t nsec)
{
    /* Integer nanoseconds throughout; the sign is handled apart so that no
     * value ever overflows, whatever 64-bit time the client sent. */
    char sign = '+';
    uint64_t ds;
    uint32_t dn;
    if (now_sec > sec || (now_sec == sec && now_nsec >= nsec)) {
        ds = now_sec - sec;
        if (now_nsec >= nsec) {
            dn = now_nsec - nsec;
        } else {
            ds--;
            dn = now_nsec + 1000000000u - nsec;
        }
    } else {
        sign = '-';
        ds = sec - now_sec;
        if (nsec >= now_nsec) {
            dn = nsec - now_nsec;
        } else {
            ds--;
            dn = nsec + 1000000000u - now_nsec;
        }
    }
    /* "%c%llu.%09u" by hand: this runs for every IAMAT. */
    size_t o = 0;
    out[o++] = sign;
    o += strparse_format_u64(out + o, ds);
    out[o++] = '.';
    for (int i = 8; i >= 0; i--) {
        out[o + (size_t)i] = (char)('0' + dn % 10);
        dn /= 10;
    }
    o += 9;
    out[o] = '\0';
    return o;
}

size_t proto_format_at(char *buf, size_t cap, struct strparse_slice server,
                       struct strparse_slice diff,
                       const struct proto_command *c)
{
    const struct strparse_slice parts[] = {
        {"AT", 2}, server, diff, c->client, c->location, c->time,
    };
    size_t o = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        size_t need = parts[i].len + (i > 0);
        if (need > cap - o)
            return 0;
        if (i > 0)
            buf[o++] = ' ';
        memcpy(buf + o, parts[i].p, parts[i].len);
        o += parts[i].len;
    }
    return o;
}

size_t proto_format_metres(char out[32], uint64_t radius_mm)
{
    int n;
    uint64_t m = radius_mm / 1000;
    unsigned frac = (unsigned)(radius_mm % 1000);
    if (frac == 0) {
        n = snprintf(out, 32, "%llu", (unsigned long long)m);
    } else {
        n = snprintf(out, 32, "%llu.%03u", (unsigned long long)m, frac);
        while (n > 0 && out[n - 1] == '0')
            out[--n] = '\0';
    }
    return n > 0 ? (size_t)n : 0;
}

const char *proto_strerror(int status)
{
    switch (status) {
    case PROTO_OK:
        return "ok";
    case PROTO_EBLANK:
        return "blank line";
    case PROTO_EUNKNOWN:
        return "unknown command";
    case PROTO_EARITY:
        return "wrong number of fields";
    case PROTO_ELOCATION:
        return "bad location";
    case PROTO_ETIME:
        return "bad client time";
    case PROTO_ERADIUS:
        return "bad radius";
    case PROTO_EBOUND:
        return "bad bound";
    case PROTO_ESERVER:
        return "bad server name";
    case PROTO_ECLIENT:
        return "client id too long";
    case PROTO_EDIFF:
        return "bad time difference";
    default:
        return "unknown error";
    }
}

int proto_too_far_ahead(uint64_t sec, uint32_t nsec, uint64_t now_sec,
                        uint32_t now_nsec, uint64_t max_future_s)
{
    if (max_future_s == 0)
        return 0;
    uint64_t limit = now_sec + max_future_s;
    return sec > limit || (sec == limit && nsec > now_nsec);
}
