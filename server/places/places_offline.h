/* places_offline: the embedded places provider, pure (no uv, no curl).
 *
 * It makes no request: a search reads the cells of the index
 * (places_index.h) that its circle touches and answers at once, in the
 * legacy shape with the GeoNames attribution.
 */
#ifndef HERD_PLACES_OFFLINE_H
#define HERD_PLACES_OFFLINE_H

#include <stddef.h>

#include <jansson.h>

#include "places_index.h"
#include "places_provider.h"

#define OFFLINE_ATTRIBUTION \
    "Contains data from GeoNames (geonames.org), CC BY 4.0"

extern const struct places_provider places_offline_provider;

/* Great-circle distance in metres. */
double offline_distance_m(double lat1, double lng1, double lat2, double lng2);

/* Up to max_results places within radius_m of (lat, lng), most prominent
 * first: log10(population + 1) - 3 * distance / radius, then nearest. A new
 * legacy Nearby Search answer; NULL when memory runs out. */
json_t *offline_search(const struct offline_index *ix, double lat, double lng,
                       double radius_m, size_t max_results);

#endif
