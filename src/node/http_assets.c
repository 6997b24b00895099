#include "http_assets.h"

#include <string.h>

/* Written by the build (scripts/embed-assets.cmake). */
extern const struct http_asset httpAssets[];
extern const size_t httpAssetsCount;

const struct http_asset *httpAsset(const char *path)
{
    for (size_t i = 0; i < httpAssetsCount; i++) {
        if (strcmp(httpAssets[i].path, path) == 0) {
            return &httpAssets[i];
        }
    }
    return NULL;
}
