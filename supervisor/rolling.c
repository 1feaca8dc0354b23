/* rolling: herd restart --rolling (rolling.h). */
#include "rolling.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "client.h"
#include "config.h"
#include "control.h"
#include "dynbuf.h"
#include "exit_codes.h"
#include "settle.h"
#include "strparse.h"

struct roll {
    struct herd *h;
    uint64_t timeout_ms;
    char (*names)[CONFIG_NAME_MAX + 1]; /* to restart, in order */
    /* The servers up when the roll began, " A, B," (see listed). */
    struct dynbuf up;
    size_t n;
    size_t done; /* restarted and settled */
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void pause_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static double seconds(uint64_t ms)
{
    return (double)ms / 1000.0;
}

/* ---- what the supervisor says --------------------------------------- */

/* The supervisor's status-json object, or NULL (the error printed). */
static json_t *supervisor_status(struct herd *h)
{
    struct dynbuf body;
    dynbuf_init(&body, (size_t)16 * 1024 * 1024);
    json_t *o = NULL;
    if (client_request(h, "status-json\n", &body, 0, 5000) == 0 &&
        body.data != NULL) {
        o = json_loads(body.data, 0, NULL);
        if (!json_is_object(o)) {
            fprintf(stderr, "herd: the supervisor's status is not JSON\n");
            json_decref(o);
            o = NULL;
        }
    }
    dynbuf_free(&body);
    return o;
}

/* The entry of the server named name in the supervisor's status, or
 * NULL. */
static json_t *sup_entry(json_t *sup, const char *name)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(sup, "servers"), i, s)
    {
        const char *n = json_string_value(json_object_get(s, "name"));
        if (n != NULL && strcmp(n, name) == 0)
            return s;
    }
    return NULL;
}

static const char *str_of(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "";
}

/* ---- the arguments -------------------------------------------------- */

/* The servers to restart: the names given (each run by the supervisor),
 * or all it runs, in herd.conf's order. Returns 0 or an exit code. */
static int pick_names(struct roll *r, json_t *sup, char **names, int n)
{
    json_t *servers = json_object_get(sup, "servers");
    size_t cap = (size_t)n + json_array_size(servers) + 1;
    r->names = calloc(cap, sizeof *r->names);
    if (r->names == NULL) {
        fprintf(stderr, "herd: out of memory\n");
        return HERD_EXIT_OSERR;
    }
    if (n == 0) {
        size_t i;
        json_t *s;
        json_array_foreach(servers, i, s)
        {
            snprintf(r->names[r->n++], sizeof r->names[0], "%s",
                     str_of(s, "name"));
        }
        return 0;
    }
    for (int i = 0; i < n; i++) {
        if (config_find(&r->h->cfg, names[i], strlen(names[i])) < 0) {
            fprintf(stderr, "herd: no server named '%s' in %s\n", names[i],
                    r->h->conf);
            return HERD_EXIT_FAILURE;
        }
        if (sup_entry(sup, names[i]) == NULL) {
            fprintf(stderr, "herd: %s is not run by this supervisor (--only)\n",
                    names[i]);
            return HERD_EXIT_FAILURE;
        }
        for (size_t k = 0; k < r->n; k++)
            if (strcmp(r->names[k], names[i]) == 0)
                return herd_usage_error("restart: %s named twice", names[i]);
        snprintf(r->names[r->n++], sizeof r->names[0], "%s", names[i]);
    }
    return 0;
}

static int parse_args(struct roll *r, int argc, char **argv, char ***names,
                      int *nnames)
{
    *names = calloc((size_t)argc + 1, sizeof **names);
    if (*names == NULL)
        return HERD_EXIT_OSERR;
    *nnames = 0;
    r->timeout_ms = ROLLING_TIMEOUT_MS;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = NULL;
        if (strcmp(a, "--rolling") == 0)
            continue;
        if (strcmp(a, "--timeout-ms") == 0 && i + 1 < argc)
            v = argv[++i];
        else if (strncmp(a, "--timeout-ms=", 13) == 0)
            v = a + 13;
        if (v != NULL) {
            uint64_t ms;
            if (strparse_uint(v, strlen(v), 86400000, &ms) != 0 || ms < 100)
                return herd_usage_error("restart: --timeout-ms takes 100 to "
                                        "86400000, not '%s'",
                                        v);
            r->timeout_ms = ms;
            continue;
        }
        if (a[0] == '-' || !config_valid_name(a, strlen(a)))
            return herd_usage_error("restart: '%s' is not a server name", a);
        (*names)[(*nnames)++] = argv[i];
    }
    return 0;
}

/* ---- the steps ------------------------------------------------------ */

/* Whether list (" A, B,") names n. */
static int listed(const struct dynbuf *list, const char *n)
{
    char key[CONFIG_NAME_MAX + 3];
    snprintf(key, sizeof key, " %s,", n);
    return list->data != NULL && strstr(list->data, key) != NULL;
}

/* Adds n to list (" A, B,", kept a string); out of memory: left out. */
static void list_add(struct dynbuf *list, const char *n)
{
    if (dynbuf_printf(list, " %s,", n) == 0 && dynbuf_addc(list, '\0') == 0)
        list->len--;
}

enum others { OTHERS_CALM, OTHERS_BUSY, OTHERS_DOWN };

/* One server s of the supervisor's status, not name, as others_of says. */
static enum others other_of(const struct roll *r, json_t *s, char *why,
                            size_t cap, struct dynbuf *noted)
{
    const char *n = str_of(s, "name");
    const char *state = str_of(s, "state");
    const char *note = str_of(s, "note");
    const char *open = note[0] ? " (" : "";
    const char *close = note[0] ? ")" : "";
    if (strcmp(state, "up") == 0)
        return OTHERS_CALM;
    if (strcmp(state, "starting") == 0 || strcmp(state, "stopping") == 0 ||
        strncmp(note, "restart in", 10) == 0) {
        snprintf(why, cap, "%s is %s%s%s%s", n, state, open, note, close);
        return OTHERS_BUSY;
    }
    /* Stopped by the operator, or failed: it stays down. */
    if (listed(&r->up, n)) {
        snprintf(why, cap,
                 "%s %s during the roll%s%s%s and stays down: another "
                 "server down would make two",
                 n, strcmp(state, "failed") == 0 ? "failed" : "was stopped",
                 open, note, close);
        return OTHERS_DOWN;
    }
    if (!listed(noted, n)) {
        printf("note: %s is %s%s%s%s: not waited for\n", n, state, open, note,
               close);
        fflush(stdout);
        list_add(noted, n);
    }
    return OTHERS_CALM;
}

/* The other servers of the supervisor's (other than name), before name
 * goes down: OTHERS_BUSY (why says which) while one is starting,
 * stopping or about to be restarted; OTHERS_DOWN (why says which) when
 * one that was up when the roll began is down for good now (failed, or
 * stopped by the operator): taking name down too would make two.
 * OTHERS_CALM otherwise; those down since before the roll are noted
 * (once) and not waited for. */
static enum others others_of(const struct roll *r, json_t *sup,
                             const char *name, char *why, size_t cap,
                             struct dynbuf *noted)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(sup, "servers"), i, s)
    {
        if (strcmp(str_of(s, "name"), name) == 0)
            continue;
        enum others o = other_of(r, s, why, cap, noted);
        if (o != OTHERS_CALM)
            return o;
    }
    return OTHERS_CALM;
}

/* Waits until no other server is on its way up or down. Returns 0, or
 * -1 with why (at once when one went down for good). */
static int wait_others(const struct roll *r, const char *name,
                       uint64_t deadline, char *why, size_t cap,
                       struct dynbuf *noted)
{
    for (;;) {
        json_t *sup = supervisor_status(r->h);
        if (sup == NULL) {
            snprintf(why, cap, "the supervisor does not answer");
            return -1;
        }
        enum others o = others_of(r, sup, name, why, cap, noted);
        json_decref(sup);
        if (o == OTHERS_CALM)
            return 0;
        if (o == OTHERS_DOWN || now_ms() >= deadline)
            return -1;
        pause_ms(ROLLING_POLL_MS);
    }
}

/* Waits until name has settled (settle.h). Returns 0, or -1 with why. */
static int wait_settled(const struct roll *r, const char *name,
                        uint64_t deadline, char *why, size_t cap)
{
    for (;;) {
        json_t *view = client_view(r->h);
        int ok = view != NULL && settle_check(view, name, why, cap);
        if (view == NULL)
            snprintf(why, cap, "out of memory");
        json_decref(view);
        if (ok)
            return 0;
        if (now_ms() >= deadline)
            return -1;
        pause_ms(ROLLING_POLL_MS);
    }
}

static int pid_of(struct herd *h, const char *name)
{
    json_t *sup = supervisor_status(h);
    json_t *pid = json_object_get(sup_entry(sup, name), "pid");
    int v = json_is_integer(pid) ? (int)json_integer_value(pid) : 0;
    json_decref(sup);
    return v;
}

/* Restarts server k and waits until it has settled. Returns 0, or -1
 * with why. */
static int roll_one(const struct roll *r, size_t k, char *why, size_t cap,
                    struct dynbuf *noted)
{
    const char *name = r->names[k];
    uint64_t t0 = now_ms();
    uint64_t deadline = t0 + r->timeout_ms;
    if (wait_others(r, name, deadline, why, cap, noted) != 0)
        return -1;
    int old = pid_of(r->h, name);
    printf("[%zu/%zu] %s: restarting (pid %d)\n", k + 1, r->n, name, old);
    fflush(stdout);
    char line[CONFIG_NAME_MAX + 16];
    snprintf(line, sizeof line, "restart %s\n", name);
    struct dynbuf body;
    dynbuf_init(&body, (size_t)1 << 20);
    int rc = client_request(r->h, line, &body, 0,
                            (int)(r->timeout_ms + CONTROL_WAIT_MS));
    if (rc != 0) {
        fwrite(body.data != NULL ? body.data : "", 1, body.len, stderr);
        snprintf(why, cap, "the restart failed (above)");
    }
    dynbuf_free(&body);
    if (rc == 0) {
        uint64_t up = now_ms();
        printf("[%zu/%zu] %s: up (pid %d) after %.1f s\n", k + 1, r->n, name,
               pid_of(r->h, name), seconds(up - t0));
        fflush(stdout);
        rc = wait_settled(r, name, deadline, why, cap);
        if (rc == 0)
            printf("[%zu/%zu] %s: linked and in sync after %.1f s\n", k + 1,
                   r->n, name, seconds(now_ms() - up));
        fflush(stdout);
    }
    return rc;
}

/* The failure's report: where it stopped, what was done, what is left. */
static void stopped_at(const struct roll *r, size_t k, const char *why)
{
    fprintf(stderr, "herd: rolling restart stopped at %s: %s\n", r->names[k],
            why);
    fprintf(stderr, "herd: restarted: ");
    for (size_t i = 0; i < k; i++)
        fprintf(stderr, "%s%s", i ? ", " : "", r->names[i]);
    fprintf(stderr, "%s; not restarted: ", k == 0 ? "none" : "");
    for (size_t i = k + 1; i < r->n; i++)
        fprintf(stderr, "%s%s", i > k + 1 ? ", " : "", r->names[i]);
    fprintf(stderr, "%s\n", k + 1 == r->n ? "none" : "");
}

int rolling_restart(struct herd *h, int argc, char **argv)
{
    struct roll r;
    memset(&r, 0, sizeof r);
    r.h = h;
    char **names = NULL;
    int nnames = 0;
    int rc = parse_args(&r, argc, argv, &names, &nnames);
    json_t *sup = rc == 0 ? supervisor_status(h) : NULL;
    if (rc == 0 && sup == NULL)
        rc = HERD_EXIT_FAILURE;
    if (rc == 0)
        rc = pick_names(&r, sup, names, nnames);
    dynbuf_init(&r.up, (size_t)1 << 20);
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(sup, "servers"), i, s)
    {
        if (strcmp(str_of(s, "state"), "up") == 0)
            list_add(&r.up, str_of(s, "name"));
    }
    json_decref(sup);
    free(names);
    if (rc != 0) {
        dynbuf_free(&r.up);
        free(r.names);
        return rc;
    }
    uint64_t t0 = now_ms();
    struct dynbuf noted;
    dynbuf_init(&noted, (size_t)1 << 20);
    char why[512] = "";
    for (size_t k = 0; k < r.n && rc == 0; k++) {
        if (roll_one(&r, k, why, sizeof why, &noted) != 0) {
            stopped_at(&r, k, why);
            rc = HERD_EXIT_FAILURE;
        }
    }
    if (rc == 0)
        printf("rolling restart done: %zu server%s in %.1f s\n", r.n,
               r.n == 1 ? "" : "s", seconds(now_ms() - t0));
    dynbuf_free(&noted);
    dynbuf_free(&r.up);
    free(r.names);
    return rc;
}
