#include "places_json.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INDENT 3

json_t *places_json_error(const char *status, const char *message)
{
    return json_pack("{s:[], s:[], s:s, s:s}", "html_attributions", "results",
                     "status", status, "error_message", message);
}

/* "<what> (HTTP <code>)" */
json_t *places_json_error_http(const char *status, const char *what, long code)
{
    char msg[160];
    snprintf(msg, sizeof msg, "%s (HTTP %ld)", what, code);
    return places_json_error(status, msg);
}

const char *places_json_str(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int add_str(struct dynbuf *out, const char *s)
{
    return dynbuf_add(out, s, strlen(s));
}

static int add_indent(struct dynbuf *out, size_t n)
{
    static const char spaces[] = "                                ";
    while (n > 0) {
        size_t k = n < sizeof spaces - 1 ? n : sizeof spaces - 1;
        int rc = dynbuf_add(out, spaces, k);
        if (rc != 0)
            return rc;
        n -= k;
    }
    return 0;
}

static int add_string(struct dynbuf *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    int rc = dynbuf_addc(out, '"');
    size_t run = 0;
    for (size_t i = 0; i < len && rc == 0; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[7];
        switch (c) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\f':
            esc = "\\f";
            break;
        default:
            if (c < 0x20) {
                memcpy(u, "\\u00", 4);
                u[4] = hex[c >> 4];
                u[5] = hex[c & 15];
                u[6] = '\0';
                esc = u;
            }
        }
        if (esc == NULL) {
            run++;
            continue;
        }
        rc = dynbuf_add(out, s + i - run, run);
        run = 0;
        if (rc == 0)
            rc = add_str(out, esc);
    }
    if (rc == 0)
        rc = dynbuf_add(out, s + len - run, run);
    return rc != 0 ? rc : dynbuf_addc(out, '"');
}

/* Shortest text that reads back as the same double: 4.1 stays "4.1", and
 * a whole number keeps a plain ".0" form (10.0, not 1e+01). */
static int add_real(struct dynbuf *out, double v)
{
    char buf[40];
    if (v == floor(v) && fabs(v) < 1e16) {
        snprintf(buf, sizeof buf, "%.1f", v);
        return add_str(out, buf);
    }
    /* A double that is the nearest to a decimal of at most 15 digits
     * prints as that decimal at %.15g (%g drops the trailing zeros, and
     * picks the same notation as at the shorter precision), so 15 is the
     * shortest whenever it reads back; else 16, else 17 (always exact).
     * One conversion instead of up to seventeen. Subnormals carry fewer
     * digits: for them, every precision from 1. */
    for (int prec = fabs(v) >= DBL_MIN ? 15 : 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    /* At most 24 characters of 40: ".0" always fits. */
    size_t len = strlen(buf);
    if (strpbrk(buf, ".eEn") == NULL)
        snprintf(buf + len, sizeof buf - len, ".0");
    return add_str(out, buf);
}

static int is_scalar(const json_t *v)
{
    return !json_is_object(v) && !json_is_array(v);
}

/* dump, dump_array and dump_object recurse once per level of nesting. An
 * answer is built from a provider's body as json_loadb parsed it, and
 * jansson refuses a body nested deeper than JSON_PARSER_MAX_DEPTH (2048),
 * under the few levels of the answer's own shape: at most some two
 * thousand levels of small frames. */
static int dump(const json_t *v, size_t indent, struct dynbuf *out);

// NOLINTNEXTLINE(misc-no-recursion): depth bounded by jansson's 2048, above
static int dump_array(const json_t *a, size_t limit, size_t indent,
                      struct dynbuf *out)
{
    size_t n = json_array_size(a);
    if (n > limit)
        n = limit;
    if (n == 0)
        return add_str(out, "[]");
    int inline_all = 1;
    for (size_t i = 0; i < n; i++)
        if (!is_scalar(json_array_get(a, i)))
            inline_all = 0;
    int rc = add_str(out, inline_all ? "[ " : "[\n");
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!inline_all)
            rc = add_indent(out, indent + INDENT);
        if (rc == 0)
            rc = dump(json_array_get(a, i), indent + INDENT, out);
        if (rc == 0 && i + 1 < n)
            rc = add_str(out, inline_all ? ", " : ",\n");
    }
    if (rc != 0)
        return rc;
    if (inline_all)
        return add_str(out, " ]");
    rc = dynbuf_addc(out, '\n');
    if (rc == 0)
        rc = add_indent(out, indent);
    return rc != 0 ? rc : dynbuf_addc(out, ']');
}

/* An object; at the top level (results_limit != SIZE_MAX) the "results"
 * array is cut to the limit. */
// NOLINTNEXTLINE(misc-no-recursion): depth bounded by jansson's 2048, above
static int dump_object(const json_t *o, size_t indent, size_t results_limit,
                       struct dynbuf *out)
{
    if (json_object_size(o) == 0)
        return add_str(out, "{}");
    int rc = add_str(out, "{\n");
    size_t left = json_object_size(o);
    const char *key;
    const json_t *val;
    /* jansson keeps insertion order, which is the provider's order. Its
     * iterators take a json_t * though they only read; the cast through
     * uintptr_t drops the const without -Wcast-qual. */
    // NOLINTNEXTLINE(performance-no-int-to-ptr): a const drop, not arithmetic
    json_object_foreach((json_t *)(uintptr_t)o, key, val)
    {
        if (rc == 0)
            rc = add_indent(out, indent + INDENT);
        if (rc == 0)
            rc = add_string(out, key, strlen(key));
        if (rc == 0)
            rc = add_str(out, " : ");
        if (rc == 0 && json_is_array(val) && strcmp(key, "results") == 0)
            rc = dump_array(val, results_limit, indent + INDENT, out);
        else if (rc == 0)
            rc = dump(val, indent + INDENT, out);
        if (rc == 0)
            rc = add_str(out, --left > 0 ? ",\n" : "\n");
    }
    if (rc == 0)
        rc = add_indent(out, indent);
    return rc != 0 ? rc : dynbuf_addc(out, '}');
}

// NOLINTNEXTLINE(misc-no-recursion): depth bounded by jansson's 2048, above
static int dump(const json_t *v, size_t indent, struct dynbuf *out)
{
    char buf[32];
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return dump_object(v, indent, SIZE_MAX, out);
    case JSON_ARRAY:
        return dump_array(v, SIZE_MAX, indent, out);
    case JSON_STRING:
        return add_string(out, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(v));
        return add_str(out, buf);
    case JSON_REAL:
        return add_real(out, json_real_value(v));
    case JSON_TRUE:
        return add_str(out, "true");
    case JSON_FALSE:
        return add_str(out, "false");
    case JSON_NULL:
        return add_str(out, "null");
    }
    return add_str(out, "null");
}

int places_json_format(const json_t *answer, size_t bound, struct dynbuf *out)
{
    if (json_is_object(answer))
        return dump_object(answer, 0, bound, out);
    return dump(answer, 0, out);
}

int places_json_urlencode(struct dynbuf *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                    c == '_' || c == '~';
        int rc;
        if (plain) {
            rc = dynbuf_addc(out, (char)c);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            rc = dynbuf_add(out, e, 3);
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}
