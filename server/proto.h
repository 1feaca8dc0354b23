/* proto: the client and peer line protocol, pure.
 *
 * proto_parse() turns one line (no terminator) into a struct proto_command
 * whose text fields are slices into that line: it does no I/O and no
 * allocation. Formatting writes into a caller's buffer. See protocol.md for
 * the grammar; every rule there is enforced here.
 */
#ifndef HERD_PROTO_H
#define HERD_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "strparse.h"

#define PROTO_MAX_FIELDS 6
/* Radius limit in km and result bound limit (protocol.md). */
#define PROTO_RADIUS_MAX_KM 50
#define PROTO_BOUND_MAX     20

enum proto_kind { PROTO_IAMAT, PROTO_WHATSAT, PROTO_AT, PROTO_KIND_COUNT };

enum proto_status {
    PROTO_OK = 0,
    PROTO_EBLANK = -1401,    /* empty or all whitespace: ignore */
    PROTO_EUNKNOWN = -1402,  /* unknown command */
    PROTO_EARITY = -1403,    /* wrong number of fields */
    PROTO_ELOCATION = -1404, /* bad ISO 6709 location */
    PROTO_ETIME = -1405,     /* bad client time */
    PROTO_ERADIUS = -1406,   /* radius not a number or out of range */
    PROTO_EBOUND = -1407,    /* bound not a number or out of range */
    PROTO_ESERVER = -1408,   /* AT: bad server name */
    PROTO_EDIFF = -1409,     /* AT: bad time difference */
    PROTO_ECLIENT = -1410    /* client id longer than the server allows */
};

struct proto_command {
    enum proto_kind kind;
    struct strparse_slice client;   /* IAMAT, WHATSAT, AT */
    struct strparse_slice location; /* IAMAT, AT */
    struct strparse_slice time;     /* IAMAT, AT: the client's text */
    struct strparse_slice server;   /* AT */
    struct strparse_slice diff;     /* AT */
    uint64_t sec;                   /* IAMAT, AT: client time */
    uint32_t nsec;
    uint64_t radius_mm; /* WHATSAT: radius in millimetres (km x 10^6) */
    uint32_t bound;     /* WHATSAT */
};

/* Parses one line. Returns PROTO_OK or a negative enum proto_status. */
int proto_parse(const char *line, size_t len, struct proto_command *cmd);

/* proto_parse of a line already split: f and n as strparse_split(line, len,
 * f, PROTO_MAX_FIELDS) returned them, for a caller that looked at the
 * fields first. */
int proto_parse_fields(const struct strparse_slice *f, size_t n,
                       struct proto_command *cmd);

/* The server's limit on a client id (max_client_id): PROTO_OK, or
 * PROTO_ECLIENT for an id longer than max. The one place the rule lives:
 * client lines, neighbours' records and the relay's look-ahead ask it. */
static inline int proto_client_ok(size_t len, uint64_t max)
{
    return len <= max ? PROTO_OK : PROTO_ECLIENT;
}

/* Whether a client time (sec, nsec) is more than max_future_s seconds
 * after now (now_sec, now_nsec); max_future_s 0: no bound, never. The one
 * place the bound lives: a client's IAMAT and a neighbour's record ask
 * it. */
int proto_too_far_ahead(uint64_t sec, uint32_t nsec, uint64_t now_sec,
                        uint32_t now_nsec, uint64_t max_future_s);

/* Name of a command kind ("IAMAT"...). */
const char *proto_kind_name(enum proto_kind kind);

/* Formats a signed time difference now - client with exactly nine
 * fractional digits into out (NUL terminated); returns the length. */
size_t proto_format_diff(char out[32], uint64_t now_sec, uint32_t now_nsec,
                         uint64_t sec, uint32_t nsec);

/* Writes "AT server diff client location time" (no newline) into buf.
 * Returns the length, or 0 if it does not fit in cap. */
size_t proto_format_at(char *buf, size_t cap, struct strparse_slice server,
                       struct strparse_slice diff,
                       const struct proto_command *c);

/* Radius in metres as the provider wants it: "10000", "1234.5". */
size_t proto_format_metres(char out[32], uint64_t radius_mm);

/* strparse_split for the form every server sends: exactly six fields
 * with one space between them and none around (an AT line). Returns 6
 * with f filled as strparse_split would fill it, or 0 for any other line
 * (then strparse_split decides). One pass over the line. */
size_t proto_split6(const char *p, size_t len, struct strparse_slice f[6]);

const char *proto_strerror(int status);

#endif
