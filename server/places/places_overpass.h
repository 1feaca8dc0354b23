/* places_overpass: OpenStreetMap's Overpass API, keyless, pure (jansson).
 *
 * The request is a POST of an Overpass QL query for named amenities,
 * shops, tourism and leisure around the point; the answer's elements are
 * turned into legacy results, nearest first (Overpass cuts the count in
 * its own order, not by distance), with the OSM attribution.
 */
#ifndef HERD_PLACES_OVERPASS_H
#define HERD_PLACES_OVERPASS_H

#include <stddef.h>

#include <jansson.h>

#include "dynbuf.h"
#include "places_provider.h"

#define PLACES_OSM_ATTRIBUTION "\xc2\xa9 OpenStreetMap contributors"

extern const struct places_provider places_overpass_provider;

/* The answer turned into the legacy shape: a new reference (a failure
 * answer on any error), never NULL unless memory runs out. lat/lng are
 * the query's centre. Named amenities, shops, tourism and leisure, sorted
 * by distance from the centre, at most max_results. */
json_t *places_json_from_overpass(const char *body, size_t len, long http_code,
                                  double lat, double lng, size_t max_results);

/* The request body. */
int places_json_overpass_body(struct dynbuf *out, double lat, double lng,
                              double radius_m, unsigned max_elements);

#endif
