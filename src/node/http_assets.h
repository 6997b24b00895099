/*
 * Files the node serves as they are: the dashboard (src/node/ui/, under /ui/) and the OpenAPI
 * document (docs/openapi.json, at /v1/openapi.json). They are embedded in the binary at build
 * time (CMakeLists.txt writes http_assets_data.c from the files), so a node needs no file
 * beside it and serves the version it was built with.
 */
#ifndef RC_NODE_HTTP_ASSETS_H
#define RC_NODE_HTTP_ASSETS_H

#include <stddef.h>

struct http_asset {
    const char *path; /* "/ui/index.html" */
    const char *type; /* Content-Type */
    const unsigned char *data;
    size_t len;
};

/* The asset served at path, or NULL. */
const struct http_asset *httpAsset(const char *path);

#endif /* RC_NODE_HTTP_ASSETS_H */
