#include "places_index.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int offline_index_check(struct offline_index *ix, const void *data, size_t size)
{
    memset(ix, 0, sizeof *ix);
    const struct offline_header *h = data;
    size_t cells = OFFLINE_PLACES_OFFSET - sizeof *h;
    if (size < sizeof *h || memcmp(h->magic, OFFLINE_MAGIC, 8) != 0 ||
        h->version != OFFLINE_VERSION || ((uintptr_t)data & 7) != 0)
        return OFFLINE_EFORMAT;
    size_t places = (size_t)h->count * sizeof(struct offline_place);
    size_t need = sizeof *h + cells + places;
    if (h->count >
            (SIZE_MAX - sizeof *h - cells) / sizeof(struct offline_place) ||
        size < need || size - need != h->strings_size || h->strings_size == 0)
        return OFFLINE_EFORMAT;
    const char *base = data;
    ix->cell_start = (const uint32_t *)(const void *)(base + sizeof *h);
    ix->places =
        (const struct offline_place *)(const void *)(base + sizeof *h + cells);
    ix->strings = base + need;
    ix->strings_size = h->strings_size;
    ix->count = h->count;
    if (ix->strings[ix->strings_size - 1] != '\0')
        return OFFLINE_EFORMAT;
    for (size_t c = 0; c < OFFLINE_CELLS; c++)
        if (ix->cell_start[c] > ix->cell_start[c + 1])
            return OFFLINE_EFORMAT;
    if (ix->cell_start[0] != 0 || ix->cell_start[OFFLINE_CELLS] != h->count)
        return OFFLINE_EFORMAT;
    for (uint32_t i = 0; i < h->count; i++) {
        const struct offline_place *p = &ix->places[i];
        if (p->name >= ix->strings_size || p->vicinity >= ix->strings_size ||
            !(p->lat >= -90 && p->lat <= 90) ||
            !(p->lng >= -180 && p->lng <= 180))
            return OFFLINE_EFORMAT;
    }
    return 0;
}

int offline_index_open(struct offline_index *ix, const char *path)
{
    memset(ix, 0, sizeof *ix);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return OFFLINE_EIO;
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size <= 0) {
        close(fd);
        return OFFLINE_EIO;
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return OFFLINE_EIO;
    int rc = offline_index_check(ix, map, (size_t)st.st_size);
    if (rc != 0) {
        munmap(map, (size_t)st.st_size);
        memset(ix, 0, sizeof *ix);
        return rc;
    }
    ix->map = map;
    ix->size = (size_t)st.st_size;
    return 0;
}

void offline_index_close(struct offline_index *ix)
{
    if (ix->map != NULL)
        munmap(ix->map, ix->size);
    memset(ix, 0, sizeof *ix);
}

const char *offline_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case OFFLINE_EIO:
        return "cannot read the places index";
    case OFFLINE_EFORMAT:
        return "not a herd places index, or a damaged one";
    case OFFLINE_ENOMEM:
        return "out of memory";
    default:
        return "unknown error";
    }
}
