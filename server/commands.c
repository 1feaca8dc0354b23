#include "commands.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn.h"
#include "log.h"
#include "places_json.h"
#include "proto.h"
#include "server.h"
#include "store.h"
#include "strparse.h"

/* A WHATSAT waiting on the places provider. */
struct whatsat {
    struct conn *c; /* holds a reference */
    struct conn_slot *slot;
    uint32_t bound;
    uint64_t start_ns; /* uv_hrtime() when its line was taken */
};

static void log_line(const struct conn *c, const char *dir, const char *line,
                     size_t len)
{
    log_conn_data(c->id, dir, line, len);
}

static void reply(struct conn *c, const char *line, size_t len)
{
    log_line(c, ">", line, len);
    conn_write_line(c, line, len);
}

/* Every client line is logged once, escaped once and cut (log.h): a valid
 * one as "conn N < LINE", an invalid one as "conn N invalid (WHY): LINE";
 * a line refused after it was logged adds "conn N invalid (WHY)" only. So
 * a flood of invalid lines costs the log a bounded multiple of its size.
 */

/* "? line" back for a line not logged yet; the log says why (a parse
 * error's text, or why) and shows the line. */
static void invalid(struct conn *c, const char *line, size_t len,
                    const char *why)
{
    ((struct server *)c->data)->stats.invalid++;
    char prefix[96];
    snprintf(prefix, sizeof prefix, "conn %lu invalid (%s): ", c->id, why);
    log_data(prefix, line, len);
    conn_write(c, "? ", 2);
    conn_write_line(c, line, len);
}

/* "? line" back for a line already logged ("conn N <"): the log says why. */
static void reject(struct conn *c, const char *line, size_t len,
                   const char *why)
{
    ((struct server *)c->data)->stats.invalid++;
    log_msg("conn %lu invalid (%s)", c->id, why);
    conn_write(c, "? ", 2);
    conn_write_line(c, line, len);
}

/* An IAMAT the store refused (STORE_EFULL, see server.c): "? line" as for
 * invalid input, and nothing else. It was not stored, logged or flooded,
 * so it is not acknowledged; the log's one line a second about the full
 * store (server.c) stands for every refusal, so none is logged here. */
static void refuse_full(struct conn *c, const char *line, size_t len)
{
    ((struct server *)c->data)->stats.invalid++;
    conn_write(c, "? ", 2);
    conn_write_line(c, line, len);
}

static int handle_iamat(struct server *srv, struct conn *c,
                        const struct proto_command *cmd, const char *line,
                        size_t len)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    /* A time far ahead would hold the client's record against every
     * later update, on every server, for as long as it is ahead. */
    if (proto_too_far_ahead(cmd->sec, cmd->nsec, (uint64_t)now.tv_sec,
                            (uint32_t)now.tv_nsec, srv->opt->max_future_s)) {
        reject(c, line, len, "client time too far ahead");
        return 0;
    }
    char diff[32];
    size_t dlen = proto_format_diff(diff, (uint64_t)now.tv_sec,
                                    (uint32_t)now.tv_nsec, cmd->sec, cmd->nsec);
    struct strparse_slice name = {srv->opt->name, strlen(srv->opt->name)};
    struct strparse_slice d = {diff, dlen};
    struct record *r = record_new(name, d, cmd);
    if (r == NULL) {
        conn_close(c, "out of memory");
        return 0;
    }
    const struct record *cur;
    int rc = server_offer(srv, r, NULL, &cur);
    if (rc == STORE_EFULL) {
        refuse_full(c, line, len);
        return 0;
    }
    if (rc == STORE_ENOMEM || cur == NULL) {
        conn_close(c, "out of memory");
        return 0;
    }
    /* A stale IAMAT is answered with what the server holds. */
    srv->stats.iamat++;
    reply(c, cur->line, cur->len);
    return 0;
}

static void finish_whatsat(struct whatsat *w, const json_t *answer)
{
    struct conn *c = w->c;
    struct server *srv = c->data;
    if (!c->closing) {
        struct dynbuf json;
        dynbuf_init(&json, SIZE_MAX);
        int rc = places_json_format(answer, w->bound, &json);
        if (rc == 0)
            rc = dynbuf_add(&json, "\n\n", 2);
        if (rc != 0) {
            conn_close(c, "out of memory");
        } else {
            const json_t *st = json_object_get(answer, "status");
            const json_t *res = json_object_get(answer, "results");
            size_t n = json_array_size(res);
            log_msg("conn %lu > places answer: %s, %zu result%s, %zu bytes",
                    c->id, json_is_string(st) ? json_string_value(st) : "?",
                    n < w->bound ? n : w->bound,
                    (n < w->bound ? n : w->bound) == 1 ? "" : "s", json.len);
            conn_slot_write(c, w->slot, json.data, json.len);
            hist_add_ns(&srv->stats.whatsat_latency, w->start_ns, uv_hrtime());
        }
        dynbuf_free(&json);
    }
    conn_release(c, w->slot);
}

static void on_places(void *arg, const json_t *answer)
{
    struct whatsat *w = arg;
    if (answer == NULL) {
        /* Cancelled at shutdown: the reply is dropped with the
         * connection. */
        conn_close(w->c, "server stopping");
        conn_release(w->c, w->slot);
    } else {
        finish_whatsat(w, answer);
    }
    conn_unref(w->c);
    free(w);
}

static int handle_whatsat(struct server *srv, struct conn *c,
                          const struct proto_command *cmd, const char *line,
                          size_t len)
{
    uint64_t start_ns = uv_hrtime();
    const struct record *r =
        store_get(&srv->store, cmd->client.p, cmd->client.len);
    if (r == NULL) {
        reject(c, line, len, "unknown client");
        return 0;
    }
    struct strparse_slice loc = record_location(r);
    struct places_query q;
    size_t lng_off;
    if (strparse_coords(loc.p, loc.len, &q.lat_deg, &q.lng_deg, &lng_off) !=
        0) {
        /* Cannot happen: stored locations were parsed on the way in. */
        log_msg("conn %lu: stored location does not parse", c->id);
        abort();
    }
    /* Coordinates go to the provider as written, without a '+'. */
    q.lat = loc.p + (loc.p[0] == '+');
    q.lat_len = lng_off - (loc.p[0] == '+');
    q.lng = loc.p + lng_off + (loc.p[lng_off] == '+');
    q.lng_len = loc.len - lng_off - (loc.p[lng_off] == '+');
    q.radius_mm = cmd->radius_mm;
    q.bound = cmd->bound;

    struct whatsat *w = malloc(sizeof *w);
    struct conn_slot *slot = w ? conn_hold(c) : NULL;
    if (slot == NULL) {
        free(w);
        conn_close(c, "out of memory");
        return 0;
    }
    w->c = c;
    w->slot = slot;
    w->bound = cmd->bound;
    w->start_ns = start_ns;
    srv->stats.whatsat++;
    /* Line 1 is the AT line as it is now, whatever arrives meanwhile. */
    log_line(c, ">", r->line, r->len);
    conn_slot_write(c, slot, r->line, r->len);
    conn_slot_write(c, slot, "\n", 1);

    json_t *now = NULL;
    int rc = places_search(&srv->places, &q, on_places, w, &now);
    if (rc == 0) {
        conn_ref(c);
        return 0;
    }
    if (rc < 0)
        now = places_json_error("UNKNOWN_ERROR", "out of memory");
    finish_whatsat(w, now);
    json_decref(now);
    free(w);
    return 0;
}

/* One row per command a client may send; AT comes only from peer links
 * (peers.c), so a client's AT is invalid. */
static int (*const handlers[PROTO_KIND_COUNT])(struct server *srv,
                                               struct conn *c,
                                               const struct proto_command *cmd,
                                               const char *line, size_t len) = {
    [PROTO_IAMAT] = handle_iamat,
    [PROTO_WHATSAT] = handle_whatsat,
    [PROTO_AT] = NULL,
};

int commands_client_line(struct conn *c, const char *line, size_t len)
{
    struct server *srv = c->data;
    struct proto_command cmd;
    int rc = proto_parse(line, len, &cmd);
    if (rc == PROTO_EBLANK)
        return 0;
    if (rc == 0)
        rc = proto_client_ok(cmd.client.len, srv->opt->max_client_id);
    if (rc != 0) {
        invalid(c, line, len, proto_strerror(rc));
        return 0;
    }
    if (handlers[cmd.kind] == NULL) {
        invalid(c, line, len, "AT from a client");
        return 0;
    }
    log_line(c, "<", line, len);
    return handlers[cmd.kind](srv, c, &cmd, line, len);
}
