/* herd top: the view (view.h) every interval, with the rates since the
 * one before.
 *
 * The first sample only starts the clock: every frame, the first
 * included, comes one interval after the sample before it, so each shows
 * rates. On a terminal each frame replaces the last (ANSI home and clear);
 * otherwise frames follow one another, a blank line between them, each
 * under a header with the time. Ctrl-C (or SIGTERM) ends it with exit 0.
 */
/* ppoll is Linux's. */
#define _GNU_SOURCE
#include "top.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "client.h"
#include "dynbuf.h"
#include "exit_codes.h"
#include "strparse.h"
#include "view.h"

#define TOP_INTERVAL_MS     1000
#define TOP_INTERVAL_MIN_MS 100
#define TOP_INTERVAL_MAX_MS 3600000
#define TOP_COUNT_MAX       1000000000
#define TOP_FRAME_MAX       ((size_t)4 * 1024 * 1024)

struct top_opts {
    uint64_t count; /* frames; 0: until Ctrl-C */
    uint64_t interval_ms;
};

static volatile sig_atomic_t top_stop;

static void on_stop_signal(int sig)
{
    (void)sig;
    top_stop = 1;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- the command line ----------------------------------------------- */

/* A number of option opt between min and max. Returns 0 or 64. */
static int parse_number(const char *opt, const char *s, uint64_t min,
                        uint64_t max, uint64_t *out)
{
    uint64_t v;
    if (strparse_uint(s, strlen(s), max, &v) != 0 || v < min)
        return herd_usage_error(
            "top: %s takes a number from %llu to %llu, not '%s'", opt,
            (unsigned long long)min, (unsigned long long)max, s);
    *out = v;
    return 0;
}

/* --count N, --interval MS, each also as --NAME=VALUE. */
static int parse_args(int argc, char **argv, struct top_opts *o)
{
    o->count = 0;
    o->interval_ms = TOP_INTERVAL_MS;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        const char *eq = strchr(arg, '=');
        size_t n = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
        int count = n == 7 && strncmp(arg, "--count", n) == 0;
        int interval = n == 10 && strncmp(arg, "--interval", n) == 0;
        if (!count && !interval)
            return herd_usage_error("top: unexpected argument '%s'", arg);
        const char *v = eq != NULL ? eq + 1 : NULL;
        if (v == NULL && i + 1 < argc)
            v = argv[++i];
        if (v == NULL)
            return herd_usage_error("top: %s needs a value", arg);
        int rc = count ? parse_number("--count", v, 1, TOP_COUNT_MAX, &o->count)
                       : parse_number("--interval", v, TOP_INTERVAL_MIN_MS,
                                      TOP_INTERVAL_MAX_MS, &o->interval_ms);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- a frame -------------------------------------------------------- */

/* A rate as text: one decimal, or "-" when unknown. */
static void rate_text(json_t *rates, const char *key, char *out, size_t cap)
{
    json_t *v = json_object_get(rates, key);
    if (json_is_number(v))
        snprintf(out, cap, "%.1f", json_number_value(v));
    else
        snprintf(out, cap, "-");
}

static const char *text_of(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "?";
}

static int render_header(struct dynbuf *b, json_t *view, uint64_t interval)
{
    char when[64] = "";
    time_t t = time(NULL);
    struct tm tm;
    if (localtime_r(&t, &tm) != NULL)
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    json_t *pid = json_object_get(view, "supervisor_pid");
    char sup[48] = "no supervisor";
    if (json_is_integer(pid))
        snprintf(sup, sizeof sup, "supervisor %lld",
                 (long long)json_integer_value(pid));
    json_t *sync = json_object_get(view, "in_sync");
    return dynbuf_printf(b, "herd top  %s  every %llu ms  %s  in sync: %s\n",
                         when, (unsigned long long)interval, sup,
                         json_is_true(sync)    ? "yes"
                         : json_is_false(sync) ? "NO"
                                               : "-");
}

static int render_server(struct dynbuf *b, json_t *s, int name_w)
{
    static const char *const keys[] = {"updates_in", "updates_out", "whatsat",
                                       "iamat", "places_misses"};
    char r[5][32];
    json_t *rates = json_object_get(s, "rates");
    for (size_t k = 0; k < 5; k++)
        rate_text(rates, keys[k], r[k], sizeof r[k]);
    char records[24] = "-";
    json_t *rec = json_object_get(s, "records");
    if (json_is_integer(rec))
        snprintf(records, sizeof records, "%lld",
                 (long long)json_integer_value(rec));
    return dynbuf_printf(b, "%-*s %-9s %9s %-4s %9s %9s %9s %9s %9s\n", name_w,
                         text_of(s, "name"), text_of(s, "state"), records,
                         view_sync_mark(s), r[0], r[1], r[2], r[3], r[4]);
}

static int render_servers(struct dynbuf *b, json_t *view)
{
    json_t *servers = json_object_get(view, "servers");
    int name_w = 8;
    size_t i;
    json_t *s;
    json_array_foreach(servers, i, s)
    {
        int w = (int)strlen(text_of(s, "name"));
        name_w = w > name_w ? w : name_w;
    }
    int rc = dynbuf_printf(b, "%-*s %-9s %9s %-4s %9s %9s %9s %9s %9s\n",
                           name_w, "NAME", "STATE", "RECORDS", "SYNC", "IN/s",
                           "OUT/s", "WHATSAT/s", "IAMAT/s", "MISSES/s");
    json_array_foreach(servers, i, s)
    {
        rc |= render_server(b, s, name_w);
    }
    return rc;
}

static int render_links(struct dynbuf *b, json_t *view)
{
    json_t *links = json_object_get(view, "links");
    if (json_array_size(links) == 0)
        return 0;
    int pair_w = 4;
    size_t i;
    json_t *l;
    json_array_foreach(links, i, l)
    {
        int w = (int)(strlen(text_of(l, "a")) + 3 + strlen(text_of(l, "b")));
        pair_w = w > pair_w ? w : pair_w;
    }
    int rc = dynbuf_printf(b, "\n%-*s  %-14s %9s %9s\n", pair_w, "LINK",
                           "STATE", "A->B/s", "B->A/s");
    json_array_foreach(links, i, l)
    {
        char pair[160];
        char state[64];
        char ab[32];
        char ba[32];
        snprintf(pair, sizeof pair, "%s - %s", text_of(l, "a"),
                 text_of(l, "b"));
        view_link_state(l, state, sizeof state);
        json_t *rates = json_object_get(l, "rates");
        rate_text(rates, "a_to_b", ab, sizeof ab);
        rate_text(rates, "b_to_a", ba, sizeof ba);
        rc |= dynbuf_printf(b, "%-*s  %-14s %9s %9s\n", pair_w, pair, state, ab,
                            ba);
    }
    return rc;
}

/* Writes one frame of view to stdout. Returns 0, HERD_EXIT_OSERR, or
 * HERD_EXIT_FAILURE after saying why (quietly when the reader left). */
static int show_frame(json_t *view, const struct top_opts *o, int tty,
                      uint64_t frame)
{
    struct dynbuf b;
    dynbuf_init(&b, TOP_FRAME_MAX);
    int rc = 0;
    if (tty)
        rc |= dynbuf_printf(&b, "\033[H\033[2J");
    else if (frame > 0)
        rc |= dynbuf_printf(&b, "\n");
    rc |= render_header(&b, view, o->interval_ms);
    rc |= render_servers(&b, view);
    rc |= render_links(&b, view);
    if (rc != 0) {
        dynbuf_free(&b);
        return HERD_EXIT_OSERR;
    }
    fwrite(b.data, 1, b.len, stdout);
    dynbuf_free(&b);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        if (errno != EPIPE)
            fprintf(stderr, "herd: top: cannot write: %s\n", strerror(errno));
        return HERD_EXIT_FAILURE;
    }
    return 0;
}

/* ---- the loop ------------------------------------------------------- */

/* Sleeps until the monotonic time until (ms), or a stop signal. The
 * signals are blocked but while waiting (ppoll), so one that comes after
 * the check of top_stop still ends the wait instead of being slept
 * through for a whole interval. */
static void sleep_until(uint64_t until)
{
    sigset_t stops;
    sigset_t old;
    sigemptyset(&stops);
    sigaddset(&stops, SIGINT);
    sigaddset(&stops, SIGTERM);
    sigprocmask(SIG_BLOCK, &stops, &old);
    for (;;) {
        uint64_t now = now_ms();
        if (top_stop || now >= until)
            break;
        uint64_t left = until - now;
        struct timespec ts = {(time_t)(left / 1000),
                              (long)(left % 1000) * 1000000};
        if (ppoll(NULL, 0, &ts, &old) < 0 && errno != EINTR)
            break;
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
}

static int run_frames(struct herd *h, const struct top_opts *o, int tty)
{
    uint64_t then = now_ms();
    json_t *prev = client_view(h);
    int rc = prev != NULL ? 0 : HERD_EXIT_OSERR;
    for (uint64_t f = 0; rc == 0 && (o->count == 0 || f < o->count); f++) {
        sleep_until(then + o->interval_ms);
        if (top_stop)
            break;
        uint64_t now = now_ms();
        json_t *cur = client_view(h);
        if (cur == NULL) {
            rc = HERD_EXIT_OSERR;
            break;
        }
        view_rates(cur, prev, now - then);
        json_decref(prev);
        prev = cur;
        then = now;
        if (!top_stop)
            rc = show_frame(cur, o, tty, f);
    }
    json_decref(prev);
    if (rc == HERD_EXIT_OSERR)
        fprintf(stderr, "herd: top: out of memory\n");
    return rc;
}

int top_run(struct herd *h, int argc, char **argv)
{
    struct top_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc != 0)
        return rc;
    struct sigaction sa;
    struct sigaction old_int;
    struct sigaction old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal; /* no SA_RESTART: waits end early */
    sigemptyset(&sa.sa_mask);
    top_stop = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    rc = run_frames(h, &o, isatty(STDOUT_FILENO));
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return rc;
}
