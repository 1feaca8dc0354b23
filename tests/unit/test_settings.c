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

static void test_table_is_sane(void)
{
    for (size_t i = 0; i < SETTINGS_COUNT; i++) {
        const struct setting *st = &settings_table[i];
        CHECK(st->name != NULL && st->name[0] != '\0');
        CHECK(st->help != NULL && st->help[0] != '\0');
        CHECK(st->meta != NULL && st->meta[0] != '\0');
        CHECK(st->where == SETTINGS_FILE || st->where == SETTINGS_ARGS ||
              st->where == SETTINGS_BOTH);
        /* An option exactly when the command line takes it. */
        CHECK((st->flag != NULL) == ((st->where & SETTINGS_ARGS) != 0));
        if (st->flag != NULL) {
            CHECK(strncmp(st->flag, "--", 2) == 0);
            CHECK(settings_by_flag(st->flag) == st);
        }
        if (st->where & SETTINGS_FILE)
            CHECK(settings_by_key(st->name, strlen(st->name)) == st);
        else
            CHECK(settings_by_key(st->name, strlen(st->name)) == NULL);
        if (st->type == SETTINGS_NUMBER) {
            CHECK(st->min <= st->def && st->def <= st->max);
        } else {
            CHECK(st->min == 0 && st->max == 0);
        }
        if (st->type == SETTINGS_CHOICE) {
            CHECK(strchr(st->meta, '|') != NULL);
            CHECK(st->def_text != NULL);
        }
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

/* Every herd.conf keyword takes the ends of its range and refuses one
 * past them, naming the line and the range. */
static void test_every_key_parses(void)
{
    for (size_t i = 0; i < SETTINGS_COUNT; i++) {
        const struct setting *st = &settings_table[i];
        if (!(st->where & SETTINGS_FILE))
            continue;
        struct config cfg;
        struct herd_error err;
        char text[256];
        if (st->type == SETTINGS_NUMBER) {
            char range[128];
            range_text(st, range, sizeof range);
            snprintf(text, sizeof text, "# %s\n%s %llu\n", st->name, st->name,
                     (unsigned long long)st->min);
            CHECK_EQ_INT(parse(&cfg, text, NULL, &err), 0);
            CHECK_EQ_INT(*settings_number(&cfg.settings, st), st->min);
            CHECK_EQ_INT(cfg.origin[i], SETTINGS_FILE);
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
        } else if (st->type == SETTINGS_CHOICE) {
            for (const char *w = st->meta; *w != '\0';) {
                size_t n = strcspn(w, "|");
                snprintf(text, sizeof text, "%s %.*s\n", st->name, (int)n, w);
                CHECK_EQ_INT(parse(&cfg, text, NULL, &err), 0);
                CHECK(strlen(*settings_string(&cfg.settings, st)) == n);
                CHECK(memcmp(*settings_string(&cfg.settings, st), w, n) == 0);
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
        } else {
            snprintf(text, sizeof text, "%s some/thing\n", st->name);
            CHECK_EQ_INT(parse(&cfg, text, "/base", &err), 0);
            CHECK_EQ_STR(*settings_string(&cfg.settings, st),
                         st->type == SETTINGS_PATH ? "/base/some/thing"
                                                   : "some/thing");
            CHECK_EQ_INT(cfg.origin[i], SETTINGS_FILE);
            config_free(&cfg);
            snprintf(text, sizeof text, "%s /abs\n", st->name);
            CHECK_EQ_INT(parse(&cfg, text, "/base", &err), 0);
            CHECK_EQ_STR(*settings_string(&cfg.settings, st), "/abs");
            config_free(&cfg);
        }
        /* One value, no more, no less. */
        snprintf(text, sizeof text, "%s\n", st->name);
        CHECK_EQ_INT(parse(&cfg, text, NULL, &err), CONFIG_ESYNTAX);
        CHECK(strstr(err.text, "takes one value") != NULL);
        config_free(&cfg);
        snprintf(text, sizeof text, "%s 1 2\n", st->name);
        CHECK_EQ_INT(parse(&cfg, text, NULL, &err), CONFIG_ESYNTAX);
        CHECK(strstr(err.text, "takes one value") != NULL);
        config_free(&cfg);
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

static const struct test tests[] = {
    {"table_is_sane", test_table_is_sane},
    {"defaults", test_defaults},
    {"every_key_parses", test_every_key_parses},
    {"key_repeated", test_key_repeated},
};

TEST_MAIN(tests)
