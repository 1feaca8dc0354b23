/* places_json: the legacy Nearby Search JSON shape, pure (jansson only).
 *
 * Every provider's answer becomes one json_t object in the shape of
 * Google's legacy Nearby Search response; places_json_format() prints it the
 * way Google does (3-space indentation, "key" : value, scalar arrays inline)
 * with the results cut to the client's bound. Also the helpers the
 * providers share: failure answers, reading a string field, URL encoding.
 */
#ifndef HERD_PLACES_JSON_H
#define HERD_PLACES_JSON_H

#include <stddef.h>

#include <jansson.h>

#include "dynbuf.h"

/* A new failure answer: no results, the given status, an error_message. */
json_t *places_json_error(const char *status, const char *message);

/* A new failure answer whose error_message is "<what> (HTTP <code>)". */
json_t *places_json_error_http(const char *status, const char *what, long code);

/* The string o[key] (borrowed from o), or NULL when absent or not a
 * string. */
const char *places_json_str(const json_t *o, const char *key);

/* Prints answer with "results" cut to bound; no trailing newline. Returns 0
 * or a dynbuf error. */
int places_json_format(const json_t *answer, size_t bound, struct dynbuf *out);

/* Appends s percent-encoded for a URL query value (RFC 3986 unreserved
 * bytes stay as they are). */
int places_json_urlencode(struct dynbuf *out, const char *s, size_t len);

#endif
