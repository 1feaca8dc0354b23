/* places_index: the offline provider's index file, pure (no uv, no curl).
 *
 * GeoNames populated places in a binary index that every server on a
 * machine maps read-only (the page cache holds one copy). The index is a
 * 1-degree grid: places sorted by cell, each cell's places by population,
 * so a query reads only the cells its circle touches.
 *
 * File layout (native endianness, built by herd-places-index):
 *   struct offline_header
 *   uint32_t cell_start[OFFLINE_CELLS + 1]   index of each cell's first place
 *   zero padding to a multiple of 8          (places hold doubles)
 *   struct offline_place places[count]
 *   char strings[]                            NUL-terminated names, vicinities
 */
#ifndef HERD_PLACES_INDEX_H
#define HERD_PLACES_INDEX_H

#include <stddef.h>
#include <stdint.h>

#define OFFLINE_MAGIC   "HERDPLC1"
#define OFFLINE_ROWS    180
#define OFFLINE_COLS    360
#define OFFLINE_CELLS   ((size_t)OFFLINE_ROWS * OFFLINE_COLS)
#define OFFLINE_VERSION 2
/* Offset of the places array: 8-aligned. */
#define OFFLINE_PLACES_OFFSET                                                  \
    ((sizeof(struct offline_header) + (OFFLINE_CELLS + 1) * sizeof(uint32_t) + \
      7) &                                                                     \
     ~(size_t)7)

enum offline_kind {
    OFFLINE_LOCALITY = 0,   /* PPL and the rest */
    OFFLINE_CAPITAL = 1,    /* PPLC */
    OFFLINE_ADMIN_SEAT = 2, /* PPLA..PPLA5, PPLG */
    OFFLINE_SUBLOCALITY = 3 /* PPLX: a section of a populated place */
};

struct offline_header {
    char magic[8];
    uint32_t version;
    uint32_t count;
    uint64_t strings_size;
};

struct offline_place {
    double lat, lng;
    uint32_t id;
    uint32_t population;
    uint32_t name;     /* offset into strings */
    uint32_t vicinity; /* offset into strings: "Region, CC" */
    uint32_t kind;
    uint32_t reserved;
};

struct offline_index {
    void *map; /* the mapping (offline_index_open), or NULL */
    size_t size;
    uint32_t count;
    const uint32_t *cell_start;
    const struct offline_place *places;
    const char *strings;
    uint64_t strings_size;
};

enum offline_error {
    OFFLINE_EIO = -1701,     /* cannot open or map the file */
    OFFLINE_EFORMAT = -1702, /* not an index, or damaged */
    OFFLINE_ENOMEM = -1703
};

/* Validates a mapped index in memory (every offset in bounds). */
int offline_index_check(struct offline_index *ix, const void *data,
                        size_t size);
/* Maps the file read-only and checks it. */
int offline_index_open(struct offline_index *ix, const char *path);
void offline_index_close(struct offline_index *ix);

const char *offline_strerror(int err);

#endif
