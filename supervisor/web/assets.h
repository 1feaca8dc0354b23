/* The web page's files, built into the supervisor (cmake/HerdEmbed.cmake
 * makes web_assets.c from supervisor/web at build time): the page works
 * with no network and no file beside the binary. */
#ifndef HERD_WEB_ASSETS_H
#define HERD_WEB_ASSETS_H

#include <stddef.h>

struct web_asset {
    const char *path; /* as requested: "/", "/app.js", ... */
    const char *type; /* Content-Type */
    const unsigned char *data;
    size_t len;
};

extern const struct web_asset web_assets[];
extern const size_t web_assets_count;

#endif
