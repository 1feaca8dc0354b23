/* config: any bytes as herd.conf, relative directories under "/base".
 *
 * Properties of a configuration that parses:
 * - every link joins two different servers by index < nservers, and no
 *   two links join the same pair;
 * - names are valid and unique, and config_find finds each at its index;
 * - no two addresses of the herd (client and peer addresses of every
 *   server) are the same;
 * - directories are absolute, fsync is never/batch, numbers are 0 (not
 *   set) or within the range the keyword allows.
 * A failure says where: a sentence, and a line of the text (0 when it is
 * not about a line). config_free releases both.
 */
#include <stdint.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"

static int same_addr(const struct config_addr *a, const struct config_addr *b)
{
    return a->port == b->port && strcmp(a->host, b->host) == 0;
}

static void check_addr(const struct config_addr *a)
{
    size_t n = strnlen(a->host, sizeof a->host);
    FUZZ_CHECK(n > 0 && n < sizeof a->host);
    FUZZ_CHECK(a->port >= 1);
}

static void check_servers(const struct config *cfg)
{
    FUZZ_CHECK(cfg->nservers == 0 || cfg->servers != NULL);
    for (size_t i = 0; i < cfg->nservers; i++) {
        const struct config_server *s = &cfg->servers[i];
        size_t n = strnlen(s->name, sizeof s->name);
        FUZZ_CHECK(n < sizeof s->name && config_valid_name(s->name, n));
        FUZZ_CHECK(config_find(cfg, s->name, n) == (long)i);
        FUZZ_CHECK(s->line >= 1);
        check_addr(&s->listen);
        check_addr(&s->peer);
        FUZZ_CHECK(!same_addr(&s->listen, &s->peer));
        for (size_t j = 0; j < i; j++) {
            const struct config_server *o = &cfg->servers[j];
            FUZZ_CHECK(!same_addr(&s->listen, &o->listen));
            FUZZ_CHECK(!same_addr(&s->listen, &o->peer));
            FUZZ_CHECK(!same_addr(&s->peer, &o->listen));
            FUZZ_CHECK(!same_addr(&s->peer, &o->peer));
        }
    }
}

static void check_links(const struct config *cfg)
{
    FUZZ_CHECK(cfg->nlinks == 0 || cfg->links != NULL);
    for (size_t i = 0; i < cfg->nlinks; i++) {
        const struct config_link *l = &cfg->links[i];
        FUZZ_CHECK(l->a < cfg->nservers && l->b < cfg->nservers);
        FUZZ_CHECK(l->a != l->b);
        for (size_t j = 0; j < i; j++) {
            const struct config_link *o = &cfg->links[j];
            FUZZ_CHECK(!(o->a == l->a && o->b == l->b));
            FUZZ_CHECK(!(o->a == l->b && o->b == l->a));
        }
    }
    int connected = config_connected(cfg);
    FUZZ_CHECK(connected == 0 || connected == 1);
    FUZZ_CHECK(cfg->nservers > 1 || connected);
}

static void check_dir(const char *dir)
{
    FUZZ_CHECK(dir == NULL || dir[0] == '/');
}

static void check_number(uint64_t v, uint64_t min, uint64_t max)
{
    FUZZ_CHECK(v == 0 || (v >= min && v <= max));
}

static void check_settings(const struct config *cfg)
{
    check_dir(cfg->run_dir);
    check_dir(cfg->log_dir);
    check_dir(cfg->data_dir);
    check_dir(cfg->server_bin);
    check_dir(cfg->places_index);
    FUZZ_CHECK(cfg->fsync == NULL || strcmp(cfg->fsync, "never") == 0 ||
               strcmp(cfg->fsync, "batch") == 0);
    FUZZ_CHECK(cfg->places == NULL || cfg->places[0] != '\0');
    FUZZ_CHECK(cfg->places_url == NULL || cfg->places_url[0] != '\0');
    check_number(cfg->places_timeout_ms, 1, 600000);
    check_number(cfg->places_cache_ttl_ms, 1, 86400000);
    check_number(cfg->places_cache_size, 1, 10000000);
    check_number(cfg->places_max_inflight, 1, 100000);
    check_number(cfg->max_line, 64, 1 << 20);
    check_number(cfg->max_output, 4096, 1ULL << 32);
    check_number(cfg->restart_first_ms, 1, 3600000);
    check_number(cfg->restart_max_ms, 1, 3600000);
    check_number(cfg->restart_stable_ms, 1, 86400000);
    check_number(cfg->crash_limit, 1, 1000);
    check_number(cfg->crash_window_ms, 1, 86400000);
    check_number(cfg->stop_grace_ms, 1, 600000);
    check_number(cfg->ready_timeout_ms, 1, 600000);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    size_t lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += text[i] == '\n';

    struct config cfg;
    config_init(&cfg);
    struct herd_error err;
    memset(&err, 0, sizeof err);
    err.line = -1;
    int rc = config_parse(&cfg, text, size, "/base", &err);
    if (rc == 0) {
        check_servers(&cfg);
        check_links(&cfg);
        check_settings(&cfg);
    } else {
        FUZZ_CHECK(rc == CONFIG_ESYNTAX);
        FUZZ_CHECK(err.line >= 0 && (size_t)err.line <= lines);
        FUZZ_CHECK(err.text[0] != '\0');
        FUZZ_CHECK(memchr(err.text, '\0', sizeof err.text) != NULL);
    }
    config_free(&cfg);
    FUZZ_CHECK(cfg.servers == NULL && cfg.nservers == 0);
    return 0;
}
