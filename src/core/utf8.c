#include "utf8.h"

#include <string.h>

/* The second byte's range depends on the first (table 3-7); later bytes are 0x80..0xBF. */
size_t utf8Len(const void *s, size_t n)
{
    const unsigned char *p = s;
    unsigned char c = p[0];
    if (c < 0x80) {
        return 1;
    }
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
        return 0;
    }
    if (n < need || p[1] < lo || p[1] > hi) {
        return 0;
    }
    for (size_t i = 2; i < need; i++) {
        if (p[i] < 0x80 || p[i] > 0xBF) {
            return 0;
        }
    }
    return need;
}

bool utf8Valid(const void *s, size_t n, bool no_nul)
{
    const unsigned char *p = s;
    for (size_t i = 0; i < n;) {
        size_t k = utf8Len(p + i, n - i);
        if (k == 0 || (no_nul && p[i] == 0)) {
            return false;
        }
        i += k;
    }
    return true;
}

size_t utf8Repair(char *out, const void *s, size_t n, bool nul_too)
{
    const unsigned char *p = s;
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        size_t k = utf8Len(p + i, n - i);
        if (k == 0 || (nul_too && p[i] == 0)) {
            memcpy(out + w, RC_UTF8_REPLACEMENT, 3);
            w += 3;
            i++;
            continue;
        }
        memcpy(out + w, p + i, k);
        w += k;
        i += k;
    }
    return w;
}
