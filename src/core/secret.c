#include "secret.h"

#include <stdint.h>
#include <string.h>

bool secretEqualBytes(const void *a, const void *b, size_t n)
{
    const volatile uint8_t *x = a;
    const volatile uint8_t *y = b;
    uint8_t diff = 0;
    for (size_t i = 0; i < n; i++) {
        diff |= (uint8_t)(x[i] ^ y[i]);
    }
    return diff == 0;
}

bool secretEqual(const char *given, const char *secret)
{
    size_t n = strlen(secret);
    /* Walk the secret's length whatever was given: read given only up to its own end, so a
     * shorter one never reads past its terminator. */
    const volatile char *g = given;
    uint8_t diff = 0;
    size_t i = 0;
    bool ended = false;
    for (; i < n; i++) {
        char c = ended ? '\0' : g[i];
        ended = ended || c == '\0';
        diff |= (uint8_t)((uint8_t)c ^ (uint8_t)secret[i]);
    }
    diff |= (uint8_t)(ended ? 1 : (uint8_t)g[n]); /* given is longer, or ended early */
    return diff == 0;
}
