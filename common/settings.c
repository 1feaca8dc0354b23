#include "settings.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strparse.h"

#define USAGE_WIDTH  78 /* and a margin, within 80 columns */
#define USAGE_INDENT 27 /* "  " + a 24-column option + " " */

#define SETTINGS_DEF_NUMBER(d) .def = (d)
#define SETTINGS_DEF_STRING(d) .def_text = (d)
#define SETTINGS_DEF_PATH(d)   .def_text = (d)
#define SETTINGS_DEF_CHOICE(d) .def_text = (d)
#define SETTINGS_LIVE          1
#define SETTINGS_FIXED         0
#define SETTINGS_ROW_(name_, where_, type_, flag_, meta_, min_, max_, def_, \
                      reload_, help_)                                       \
    {.name = #name_,                                                        \
     .where = SETTINGS_##where_,                                            \
     .type = SETTINGS_##type_,                                              \
     .flag = (flag_),                                                       \
     .meta = (meta_),                                                       \
     .min = (min_),                                                         \
     .max = (max_),                                                         \
     SETTINGS_DEF_##type_(def_),                                            \
     .live = SETTINGS_##reload_,                                            \
     .help = (help_),                                                       \
     .offset = offsetof(struct settings, name_)},

const struct setting settings_table[SETTINGS_COUNT] = {
    HERD_SETTINGS(SETTINGS_ROW_)};

uint64_t *settings_number(struct settings *s, const struct setting *st)
{
    return (uint64_t *)(void *)((char *)s + st->offset);
}

const char **settings_string(struct settings *s, const struct setting *st)
{
    return (const char **)(void *)((char *)s + st->offset);
}

static uint64_t number_of(const struct settings *s, const struct setting *st)
{
    return *(const uint64_t *)(const void *)((const char *)s + st->offset);
}

static const char *string_of(const struct settings *s, const struct setting *st)
{
    return *(const char *const *)(const void *)((const char *)s + st->offset);
}

static size_t id_of(const struct setting *st)
{
    return (size_t)(st - settings_table);
}

void settings_init(struct settings *s)
{
    memset(s, 0, sizeof *s);
    for (size_t i = 0; i < SETTINGS_COUNT; i++) {
        const struct setting *st = &settings_table[i];
        if (st->type == SETTINGS_NUMBER)
            *settings_number(s, st) = st->def;
        else
            *settings_string(s, st) = st->def_text;
        s->origin[i] = SETTINGS_DEFAULT;
    }
}

/* A string of the file's is ours: malloc'd by settings_set_file. The
 * field is const for everyone who borrows it. */
static void free_owned(const char *p)
{
    union {
        const char *borrowed;
        char *owned;
    } u = {.borrowed = p};
    free(u.owned);
}

void settings_free(struct settings *s)
{
    for (size_t i = 0; i < SETTINGS_COUNT; i++) {
        const struct setting *st = &settings_table[i];
        if (st->type != SETTINGS_NUMBER && s->origin[i] == SETTINGS_FILE)
            free_owned(string_of(s, st));
    }
    settings_init(s);
}

const struct setting *settings_by_key(const char *key, size_t len)
{
    for (size_t i = 0; i < SETTINGS_COUNT; i++) {
        const struct setting *st = &settings_table[i];
        if ((st->where & SETTINGS_FILE) && strlen(st->name) == len &&
            memcmp(st->name, key, len) == 0)
            return st;
    }
    return NULL;
}

const struct setting *settings_by_flag(const char *flag)
{
    for (size_t i = 0; i < SETTINGS_COUNT; i++) {
        const struct setting *st = &settings_table[i];
        if (st->flag != NULL && strcmp(st->flag, flag) == 0)
            return st;
    }
    return NULL;
}

__attribute__((format(printf, 3, 4))) static void say(char *why, size_t cap,
                                                      const char *fmt, ...)
{
    if (cap == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
}

static int parse_number(const struct setting *st, const char *val, size_t len,
                        uint64_t *out)
{
    uint64_t v;
    if (strparse_uint(val, len, st->max, &v) != 0 || v < st->min)
        return SETTINGS_ENUMBER;
    *out = v;
    return 0;
}

/* 1 if the len bytes at val are one of the words of st->meta ("a|b"). */
static int is_choice(const struct setting *st, const char *val, size_t len)
{
    const char *w = st->meta;
    for (;;) {
        const char *bar = strchr(w, '|');
        size_t wlen = bar != NULL ? (size_t)(bar - w) : strlen(w);
        if (wlen == len && memcmp(w, val, len) == 0)
            return 1;
        if (bar == NULL)
            return 0;
        w = bar + 1;
    }
}

/* The words of st->meta as a sentence does: "a or b", "a, b or c". */
static void choices_text(const struct setting *st, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    for (const char *w = st->meta; n + 1 < cap;) {
        const char *bar = strchr(w, '|');
        size_t wlen = bar != NULL ? (size_t)(bar - w) : strlen(w);
        const char *sep = "";
        if (w != st->meta)
            sep = bar != NULL ? ", " : " or ";
        int k = snprintf(out + n, cap - n, "%s%.*s", sep, (int)wlen, w);
        if (k < 0 || (size_t)k >= cap - n)
            break;
        n += (size_t)k;
        if (bar == NULL)
            break;
        w = bar + 1;
    }
}

int settings_set_file(struct settings *s, const struct setting *st,
                      const char *val, size_t len, const char *base_dir,
                      char *why, size_t cap)
{
    size_t id = id_of(st);
    if (st->type == SETTINGS_NUMBER) {
        uint64_t v;
        if (parse_number(st, val, len, &v) != 0) {
            say(why, cap, "'%.*s' is not a number from %llu to %llu", (int)len,
                val, (unsigned long long)st->min, (unsigned long long)st->max);
            return SETTINGS_ENUMBER;
        }
        *settings_number(s, st) = v;
        s->origin[id] = SETTINGS_FILE;
        return 0;
    }
    if (st->type == SETTINGS_CHOICE && !is_choice(st, val, len)) {
        char words[128];
        choices_text(st, words, sizeof words);
        say(why, cap, "%s takes %s", st->name, words);
        return SETTINGS_ECHOICE;
    }
    size_t blen = 0;
    if (st->type == SETTINGS_PATH && base_dir != NULL && val[0] != '/')
        blen = strlen(base_dir) + 1;
    char *copy = malloc(blen + len + 1);
    if (copy == NULL)
        return SETTINGS_ENOMEM;
    if (blen > 0) {
        memcpy(copy, base_dir, blen - 1);
        copy[blen - 1] = '/';
    }
    memcpy(copy + blen, val, len);
    copy[blen + len] = '\0';
    const char **dst = settings_string(s, st);
    if (s->origin[id] == SETTINGS_FILE)
        free_owned(*dst);
    *dst = copy;
    s->origin[id] = SETTINGS_FILE;
    return 0;
}

int settings_set_arg(struct settings *s, const char *flag, const char *val,
                     char *why, size_t cap)
{
    const struct setting *st = settings_by_flag(flag);
    if (st == NULL)
        return SETTINGS_EUNKNOWN;
    size_t id = id_of(st);
    if (st->type == SETTINGS_NUMBER) {
        uint64_t v;
        if (parse_number(st, val, strlen(val), &v) != 0) {
            say(why, cap, "%s wants a number from %llu to %llu, not '%s'", flag,
                (unsigned long long)st->min, (unsigned long long)st->max, val);
            return SETTINGS_ENUMBER;
        }
        *settings_number(s, st) = v;
    } else {
        if (st->type == SETTINGS_CHOICE && !is_choice(st, val, strlen(val))) {
            char words[128];
            choices_text(st, words, sizeof words);
            say(why, cap, "%s wants %s, not '%s'", flag, words, val);
            return SETTINGS_ECHOICE;
        }
        *settings_string(s, st) = val;
    }
    s->origin[id] = SETTINGS_ARGS;
    return 0;
}

void settings_merge(struct settings *dst, const struct settings *src)
{
    for (size_t i = 0; i < SETTINGS_COUNT; i++) {
        const struct setting *st = &settings_table[i];
        if (st->where != SETTINGS_BOTH || dst->origin[i] != SETTINGS_DEFAULT ||
            src->origin[i] == SETTINGS_DEFAULT)
            continue;
        if (st->type == SETTINGS_NUMBER)
            *settings_number(dst, st) = number_of(src, st);
        else
            *settings_string(dst, st) = string_of(src, st);
        dst->origin[i] = src->origin[i];
    }
}

/* Writes text from column col on, wrapped at spaces within USAGE_WIDTH,
 * continuing at USAGE_INDENT. A '\a' is a space not to wrap at. */
static void wrap(FILE *out, const char *text, size_t col)
{
    const char *p = text;
    while (*p == ' ')
        p++;
    while (*p != '\0') {
        size_t room = USAGE_WIDTH - col;
        size_t n = strlen(p);
        if (n > room) {
            n = room;
            while (n > 0 && p[n] != ' ')
                n--;
            if (n == 0) /* one word longer than the room */
                n = strcspn(p, " ");
        }
        for (size_t i = 0; i < n; i++)
            fputc(p[i] == '\a' ? ' ' : p[i], out);
        fputc('\n', out);
        p += n;
        while (*p == ' ')
            p++;
        if (*p != '\0')
            fprintf(out, "%*s", USAGE_INDENT, "");
        col = USAGE_INDENT;
    }
}

void settings_usage(FILE *out)
{
    for (size_t i = 0; i < SETTINGS_COUNT; i++) {
        const struct setting *st = &settings_table[i];
        if (st->flag == NULL)
            continue;
        char opt[64];
        snprintf(opt, sizeof opt, "%s %s", st->flag, st->meta);
        /* A LIVE row says so after its default: herd-server's --help
         * explains the word. */
        const char *live = st->live ? ",\alive" : "";
        char text[512];
        if (st->type == SETTINGS_NUMBER)
            snprintf(text, sizeof text, "%s (default\a%llu%s)", st->help,
                     (unsigned long long)st->def, live);
        else if (st->def_text != NULL)
            snprintf(text, sizeof text, "%s (default\a%s%s)", st->help,
                     st->def_text, live);
        else
            snprintf(text, sizeof text, "%s%s", st->help,
                     st->live ? " (live)" : "");
        int w = USAGE_INDENT - 3;
        if (strlen(opt) > (size_t)w)
            fprintf(out, "  %s\n%*s", opt, USAGE_INDENT, "");
        else
            fprintf(out, "  %-*s ", w, opt);
        wrap(out, text, USAGE_INDENT);
    }
}
