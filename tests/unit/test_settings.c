/* Unit tests for common/settings: the table of settings, what herd.conf
 * and herd-server's command line make of each row, the merge and the
 * usage text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "config.h"
#include "linebuf.h"
#include "settings.h"
#include "test.h"

static int parse(struct config *cfg, const char *text, const char *base,
                 struct herd_error *err)
{
    config_init(cfg);
    memset(err, 0, sizeof *err);
    return config_parse(cfg, text, strlen(text), base, err);
}

/* "from MIN to MAX", as both parsers say a range. */
static void range_text(const struct setting *st, char *out, size_t cap)
{
    snprintf(out, cap, "from %llu to %llu", (unsigned long long)st->min,
             (unsigned long long)st->max);
}

/* The first word of a CHOICE row's words. */
static void first_choice(const struct setting *st, char *out, size_t cap)
{
    snprintf(out, cap, "%.*s", (int)strcspn(st->meta, "|"), st->meta);
}

/* One row: named, documented, reachable by its keyword and option. */
static void check_row(const struct setting *st)
{
    CHECK(st->name != NULL && st->name[0] != '\0');
    CHECK(st->help != NULL && st->help[0] != '\0');
    CHECK(st->meta != NULL && st->meta[0] != '\0');
    CHECK(st->where == SETTINGS_FILE || st->where == SETTINGS_ARGS ||
          st->where == SETTINGS_BOTH);
    /* An option exactly when the command line takes it. */
    CHECK((st->flag != NULL) == ((st->where & SETTINGS_ARGS) != 0));
    CHECK(st->flag == NULL || (strncmp(st->flag, "--", 2) == 0 &&
                               settings_by_flag(st->flag) == st));
    const struct setting *by_key = settings_by_key(st->name, strlen(st->name));
    CHECK(by_key == ((st->where & SETTINGS_FILE) ? st : NULL));
}

/* A row's range and default fit its type. */
static void check_row_values(const struct setting *st)
{
    if (st->type == SETTINGS_NUMBER)
        CHECK(st->min <= st->def && st->def <= st->max);
    else
        CHECK(st->min == 0 && st->max == 0);
    if (st->type != SETTINGS_CHOICE)
        return;
    CHECK(strchr(st->meta, '|') != NULL);
    CHECK(st->def_text != NULL);
    struct settings s;
    settings_init(&s);
    char why[256];
    CHECK_EQ_INT(settings_set_arg(&s, st->flag, st->def_text, why, sizeof why),
                 0);
}

static void test_table_is_sane(void)
{
    for (size_t i = 0; i < SETTINGS_COUNT; i++) {
        check_row(&settings_table[i]);
        check_row_values(&settings_table[i]);
    }
    CHECK(settings_by_key("server", 6) == NULL);
    CHECK(settings_by_key("link", 4) == NULL);
    CHECK(settings_by_key("max_lin", 7) == NULL);
    CHECK(settings_by_key("max_linex", 9) == NULL);
    CHECK(settings_by_flag("--listen") == NULL);
    CHECK(settings_by_flag("--max-lin") == NULL);
}

static void test_defaults(void)
{
    struct settings s;
    memset(&s, 0xa5, sizeof s);
    settings_init(&s);
    for (size_t i = 0; i < SETTINGS_COUNT; i++) {
        const struct setting *st = &settings_table[i];
        CHECK_EQ_INT(s.origin[i], SETTINGS_DEFAULT);
        if (st->type == SETTINGS_NUMBER)
            CHECK_EQ_INT(*settings_number(&s, st), st->def);
        else
            CHECK(*settings_string(&s, st) == st->def_text);
    }
    /* The defaults herd-server and herd had before the table. */
    CHECK_EQ_STR(s.places, "offline");
    CHECK(s.places_index == NULL);
    CHECK_EQ_STR(s.fsync, "never");
    CHECK(s.secret_file == NULL && s.run_dir == NULL && s.log_file == NULL);
    CHECK_EQ_INT(s.max_line, LINEBUF_DEFAULT_MAX);
    CHECK_EQ_INT(s.max_output, 4 * 1024 * 1024);
    CHECK_EQ_INT(s.max_clients, 10000);
    CHECK_EQ_INT(s.idle_timeout_ms, 5 * 60 * 1000);
    CHECK_EQ_INT(s.line_timeout_ms, 10000);
    CHECK_EQ_INT(s.max_pending, 64);
    CHECK_EQ_INT(s.max_client_id, 256);
    CHECK_EQ_INT(s.peer_batch_us, 2000);
    CHECK_EQ_INT(s.link_ping_ms, 500);
    CHECK_EQ_INT(s.link_timeout_ms, 2000);
    CHECK_EQ_INT(s.max_handshakes, 64);
    CHECK_EQ_INT(s.max_clients_per_addr, 0);
    CHECK_EQ_INT(s.max_records, 10000000);
    CHECK_EQ_INT(s.max_store_mb, 1024);
    CHECK_EQ_INT(s.log_max_mb, 64);
    CHECK_EQ_INT(s.max_future_s, 0);
    CHECK_EQ_INT(s.places_timeout_ms, 5000);
    CHECK_EQ_INT(s.places_cache_ttl_ms, 10 * 60 * 1000);
    CHECK_EQ_INT(s.places_cache_size, 10000);
    CHECK_EQ_INT(s.places_max_inflight, 64);
    /* The supervisor's restart policy: the table agrees with backoff. */
    struct backoff_policy p;
    backoff_policy_default(&p);
    CHECK_EQ_INT(s.restart_first_ms, p.first_ms);
    CHECK_EQ_INT(s.restart_max_ms, p.max_ms);
    CHECK_EQ_INT(s.restart_stable_ms, p.stable_ms);
    CHECK_EQ_INT(s.crash_limit, p.limit);
    CHECK_EQ_INT(s.crash_window_ms, p.window_ms);
    CHECK_EQ_INT(s.stop_grace_ms, 5000);
    CHECK_EQ_INT(s.ready_timeout_ms, 10000);
}

/* A NUMBER keyword takes the ends of its range and refuses one past
 * them, naming the line and the range. */
static void key_number(const struct setting *st)
{
    struct config cfg;
    struct herd_error err;
    char text[256];
    char range[128];
    range_text(st, range, sizeof range);
    snprintf(text, sizeof text, "# %s\n%s %llu\n", st->name, st->name,
             (unsigned long long)st->min);
    CHECK_EQ_INT(parse(&cfg, text, NULL, &err), 0);
    CHECK_EQ_INT(*settings_number(&cfg.settings, st), st->min);
    CHECK_EQ_INT(cfg.origin[st - settings_table], SETTINGS_FILE);
    config_free(&cfg);
    snprintf(text, sizeof text, "%s %llu\n", st->name,
             (unsigned long long)st->max);
    CHECK_EQ_INT(parse(&cfg, text, NULL, &err), 0);
    CHECK_EQ_INT(*settings_number(&cfg.settings, st), st->max);
    config_free(&cfg);
    snprintf(text, sizeof text, "\n%s %llu\n", st->name,
             (unsigned long long)st->max + 1);
    CHECK_EQ_INT(parse(&cfg, text, NULL, &err), CONFIG_ESYNTAX);
    CHECK_EQ_INT(err.line, 2);
    CHECK(strstr(err.text, range) != NULL);
    CHECK(strstr(err.text, "is not a number") != NULL);
    config_free(&cfg);
    if (st->min > 0) {
        snprintf(text, sizeof text, "%s %llu\n", st->name,
                 (unsigned long long)st->min - 1);
        CHECK_EQ_INT(parse(&cfg, text, NULL, &err), CONFIG_ESYNTAX);
        CHECK(strstr(err.text, range) != NULL);
        config_free(&cfg);
    }
    snprintf(text, sizeof text, "%s many\n", st->name);
    CHECK_EQ_INT(parse(&cfg, text, NULL, &err), CONFIG_ESYNTAX);
    CHECK(strstr(err.text, "'many'") != NULL);
    config_free(&cfg);
}

/* A CHOICE keyword takes each of its words and refuses another, naming
 * the keyword and the words. */
static void key_choice(const struct setting *st)
{
    struct config cfg;
    struct herd_error err;
    char text[256];
    for (const char *w = st->meta; *w != '\0';) {
        size_t n = strcspn(w, "|");
        snprintf(text, sizeof text, "%s %.*s\n", st->name, (int)n, w);
        CHECK_EQ_INT(parse(&cfg, text, NULL, &err), 0);
        CHECK_EQ_INT(strlen(*settings_string(&cfg.settings, st)), n);
        CHECK_EQ_MEM(*settings_string(&cfg.settings, st), w, n);
        config_free(&cfg);
        w += n + (w[n] == '|');
    }
    snprintf(text, sizeof text, "%s sometimes\n", st->name);
    CHECK_EQ_INT(parse(&cfg, text, NULL, &err), CONFIG_ESYNTAX);
    CHECK(strstr(err.text, st->name) != NULL);
    char first[64];
    first_choice(st, first, sizeof first);
    CHECK(strstr(err.text, first) != NULL);
    config_free(&cfg);
}

/* A STRING keyword takes its value as written; a PATH is relative to
 * herd.conf's directory unless absolute. */
static void key_string(const struct setting *st)
{
    struct config cfg;
    struct herd_error err;
    char text[256];
    snprintf(text, sizeof text, "%s some/thing\n", st->name);
    CHECK_EQ_INT(parse(&cfg, text, "/base", &err), 0);
    CHECK_EQ_STR(*settings_string(&cfg.settings, st),
                 st->type == SETTINGS_PATH ? "/base/some/thing" : "some/thing");
    CHECK_EQ_INT(cfg.origin[st - settings_table], SETTINGS_FILE);
    config_free(&cfg);
    snprintf(text, sizeof text, "%s /abs\n", st->name);
    CHECK_EQ_INT(parse(&cfg, text, "/base", &err), 0);
    CHECK_EQ_STR(*settings_string(&cfg.settings, st), "/abs");
    config_free(&cfg);
}

/* Every keyword takes one value, no more, no less. */
static void key_arity(const struct setting *st)
{
    struct config cfg;
    struct herd_error err;
    char text[256];
    snprintf(text, sizeof text, "%s\n", st->name);
    CHECK_EQ_INT(parse(&cfg, text, NULL, &err), CONFIG_ESYNTAX);
    CHECK(strstr(err.text, "takes one value") != NULL);
    config_free(&cfg);
    snprintf(text, sizeof text, "%s 1 2\n", st->name);
    CHECK_EQ_INT(parse(&cfg, text, NULL, &err), CONFIG_ESYNTAX);
    CHECK(strstr(err.text, "takes one value") != NULL);
    config_free(&cfg);
}

static void test_every_key_parses(void)
{
    for (size_t i = 0; i < SETTINGS_COUNT; i++) {
        const struct setting *st = &settings_table[i];
        if (!(st->where & SETTINGS_FILE))
            continue;
        if (st->type == SETTINGS_NUMBER)
            key_number(st);
        else if (st->type == SETTINGS_CHOICE)
            key_choice(st);
        else
            key_string(st);
        key_arity(st);
    }
}

/* A string given twice: the second replaces (and frees) the first. */
static void test_key_repeated(void)
{
    struct config cfg;
    struct herd_error err;
    CHECK_EQ_INT(parse(&cfg, "tls_ca a\ntls_ca b\nfsync batch\nfsync never\n",
                       "/d", &err),
                 0);
    CHECK_EQ_STR(cfg.tls_ca, "/d/b");
    CHECK_EQ_STR(cfg.fsync, "never");
    config_free(&cfg);
    CHECK(cfg.tls_ca == NULL);
    CHECK_EQ_INT(cfg.origin[SETTING_tls_ca], SETTINGS_DEFAULT);
}

/* Every option takes the ends of its range; one past them is refused in
 * a sentence naming the option, the range and the value. */
static void test_every_flag_parses(void)
{
    for (size_t i = 0; i < SETTINGS_COUNT; i++) {
        const struct setting *st = &settings_table[i];
        if (st->flag == NULL)
            continue;
        struct settings s;
        settings_init(&s);
        char why[256] = "";
        char val[64];
        if (st->type == SETTINGS_NUMBER) {
            snprintf(val, sizeof val, "%llu", (unsigned long long)st->min);
            CHECK_EQ_INT(settings_set_arg(&s, st->flag, val, why, sizeof why),
                         0);
            CHECK_EQ_INT(*settings_number(&s, st), st->min);
            CHECK_EQ_INT(s.origin[i], SETTINGS_ARGS);
            snprintf(val, sizeof val, "%llu", (unsigned long long)st->max);
            CHECK_EQ_INT(settings_set_arg(&s, st->flag, val, why, sizeof why),
                         0);
            CHECK_EQ_INT(*settings_number(&s, st), st->max);
            snprintf(val, sizeof val, "%llu", (unsigned long long)st->max + 1);
            CHECK_EQ_INT(settings_set_arg(&s, st->flag, val, why, sizeof why),
                         SETTINGS_ENUMBER);
            char want[256];
            snprintf(want, sizeof want,
                     "%s wants a number from %llu to %llu, not '%s'", st->flag,
                     (unsigned long long)st->min, (unsigned long long)st->max,
                     val);
            CHECK_EQ_STR(why, want);
            /* Unchanged by the refusal. */
            CHECK_EQ_INT(*settings_number(&s, st), st->max);
            if (st->min > 0) {
                snprintf(val, sizeof val, "%llu",
                         (unsigned long long)st->min - 1);
                CHECK_EQ_INT(
                    settings_set_arg(&s, st->flag, val, why, sizeof why),
                    SETTINGS_ENUMBER);
            }
            CHECK_EQ_INT(settings_set_arg(&s, st->flag, "", why, sizeof why),
                         SETTINGS_ENUMBER);
            CHECK_EQ_INT(settings_set_arg(&s, st->flag, "12x", why, sizeof why),
                         SETTINGS_ENUMBER);
        } else if (st->type == SETTINGS_CHOICE) {
            CHECK_EQ_INT(
                settings_set_arg(&s, st->flag, "sometimes", why, sizeof why),
                SETTINGS_ECHOICE);
            CHECK(strncmp(why, st->flag, strlen(st->flag)) == 0);
            CHECK(strstr(why, "'sometimes'") != NULL);
            CHECK(*settings_string(&s, st) == st->def_text);
        } else {
            /* Borrowed, as given: the command line is relative to the
             * working directory. */
            const char *v = "some/thing";
            CHECK_EQ_INT(settings_set_arg(&s, st->flag, v, why, sizeof why), 0);
            CHECK(*settings_string(&s, st) == v);
            CHECK_EQ_INT(s.origin[i], SETTINGS_ARGS);
        }
    }
    struct settings s;
    settings_init(&s);
    char why[256];
    CHECK_EQ_INT(settings_set_arg(&s, "--listen", "x", why, sizeof why),
                 SETTINGS_EUNKNOWN);
    CHECK_EQ_INT(settings_set_arg(&s, "max_line", "100", why, sizeof why),
                 SETTINGS_EUNKNOWN);
    CHECK_EQ_INT(settings_set_arg(&s, "--fsync", "always", why, sizeof why),
                 SETTINGS_ECHOICE);
    CHECK_EQ_STR(why, "--fsync wants never or batch, not 'always'");
    CHECK_EQ_INT(settings_set_arg(&s, "--fsync", "batch", why, sizeof why), 0);
    CHECK_EQ_STR(s.fsync, "batch");
}

/* The command line wins over herd.conf, herd.conf over the default; only
 * rows both take are merged. */
static void test_merge(void)
{
    struct config cfg;
    struct herd_error err;
    CHECK_EQ_INT(parse(&cfg,
                       "max_line 100\nmax_output 5000\nplaces google\n"
                       "peer_batch_us 0\nrun_dir r\ncrash_limit 3\n",
                       "/b", &err),
                 0);
    struct settings s;
    settings_init(&s);
    char why[256];
    CHECK_EQ_INT(settings_set_arg(&s, "--max-line", "200", why, sizeof why), 0);
    CHECK_EQ_INT(
        settings_set_arg(&s, "--log-file", "/dev/null", why, sizeof why), 0);
    settings_merge(&s, &cfg.settings);
    CHECK_EQ_INT(s.max_line, 200); /* the command line's */
    CHECK_EQ_INT(s.origin[SETTING_max_line], SETTINGS_ARGS);
    CHECK_EQ_INT(s.max_output, 5000); /* herd.conf's */
    CHECK_EQ_INT(s.origin[SETTING_max_output], SETTINGS_FILE);
    CHECK_EQ_INT(s.peer_batch_us, 0); /* 0 is a value */
    CHECK_EQ_STR(s.places, "google");
    CHECK(s.places == cfg.places);      /* borrowed */
    CHECK_EQ_INT(s.max_clients, 10000); /* the default */
    CHECK_EQ_INT(s.origin[SETTING_max_clients], SETTINGS_DEFAULT);
    CHECK_EQ_STR(s.log_file, "/dev/null");
    /* herd.conf only: not the server's. */
    CHECK(s.run_dir == NULL);
    CHECK_EQ_INT(s.crash_limit, 10);
    config_free(&cfg);
}

/* Row st's entry in the usage text: there, with its default when it has
 * one to show, and "live" when a reload changes it. */
static void check_usage_entry(const char *text, const struct setting *st)
{
    char want[128];
    snprintf(want, sizeof want, "\n  %s %s ", st->flag, st->meta);
    /* The first line has no newline before it. */
    CHECK(strstr(text, want) != NULL ||
          strncmp(text, want + 1, strlen(want + 1)) == 0);
    const char *at = strstr(text, want + 1);
    const char *next = strstr(at + 1, "\n  --");
    if (st->type == SETTINGS_NUMBER || st->def_text != NULL) {
        const char *dflt = strstr(at, "(default");
        CHECK(dflt != NULL && (next == NULL || dflt < next));
    }
    const char *live = strstr(at, "live)");
    CHECK((live != NULL && (next == NULL || live < next)) == st->live);
}

/* The usage text has a line for every option, within 80 columns. */
static void test_usage_lists_every_flag(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    CHECK(out != NULL);
    settings_usage(out);
    CHECK_EQ_INT(fclose(out), 0);
    CHECK(len > 0 && text[len - 1] == '\n');
    for (size_t i = 0; i < SETTINGS_COUNT; i++)
        if (settings_table[i].flag != NULL)
            check_usage_entry(text, &settings_table[i]);
    for (const char *p = text; *p != '\0';) {
        size_t n = strcspn(p, "\n");
        CHECK(n <= 80);
        CHECK(n == 0 || p[n - 1] != ' ');
        p += n + (p[n] == '\n');
    }
    free(text);
}

/* Which rows a reload changes in a running server: limits, timeouts and
 * the fsync mode; not its files, secret or places provider; and only rows
 * the server reads (on its command line too). */
static void test_live_rows(void)
{
    CHECK(settings_table[SETTING_max_line].live);
    CHECK(settings_table[SETTING_fsync].live);
    CHECK(settings_table[SETTING_places_cache_size].live);
    CHECK(settings_table[SETTING_link_timeout_ms].live);
    CHECK(!settings_table[SETTING_data_dir].live);
    CHECK(!settings_table[SETTING_secret_file].live);
    CHECK(!settings_table[SETTING_tls_cert].live);
    CHECK(!settings_table[SETTING_places].live);
    for (size_t i = 0; i < SETTINGS_COUNT; i++) {
        const struct setting *st = &settings_table[i];
        CHECK(!st->live || st->where == SETTINGS_BOTH);
    }
}

static const struct test tests[] = {
    {"table_is_sane", test_table_is_sane},
    {"defaults", test_defaults},
    {"every_key_parses", test_every_key_parses},
    {"key_repeated", test_key_repeated},
    {"every_flag_parses", test_every_flag_parses},
    {"merge", test_merge},
    {"usage_lists_every_flag", test_usage_lists_every_flag},
    {"live_rows", test_live_rows},
};

TEST_MAIN(tests)
