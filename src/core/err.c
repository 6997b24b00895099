#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *rc_strerror(int code)
{
    switch (code) {
    case RC_OK:
        return "success";
#define RC__ERRNO_MSG(name, msg)                                                                   \
    case RC_E##name:                                                                               \
        return msg;
        RC_ERRNO_MAP(RC__ERRNO_MSG)
#undef RC__ERRNO_MSG
    default:
        return "unknown error";
    }
}

const char *rc_errname(int code)
{
    switch (code) {
    case RC_OK:
        return "RC_OK";
#define RC__ERRNO_NAME(name, msg)                                                                  \
    case RC_E##name:                                                                               \
        return "RC_E" #name;
        RC_ERRNO_MAP(RC__ERRNO_NAME)
#undef RC__ERRNO_NAME
    default:
        return "RC_EUNKNOWN";
    }
}

int errSet(char *buf, size_t len, int code, const char *fmt, ...)
{
    if (buf != NULL && len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, len, fmt, ap);
        va_end(ap);
    }
    return code;
}

const char *errQuote(char out[RC_ERRQUOTE_SIZE], const char *s, size_t n)
{
    size_t k = n > RC_ERRQUOTE_MAX ? RC_ERRQUOTE_MAX : n;
    for (size_t i = 0; i < k; i++) {
        unsigned char ch = (unsigned char)s[i];
        out[i] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
    if (k < n) {
        memcpy(out + k, "...", 3);
        k += 3;
    }
    out[k] = '\0';
    return out;
}

const char *rc_status_name(int status)
{
    switch (status) {
#define RC__STATUS_NAME(name, value)                                                               \
    case value:                                                                                    \
        return #name;
        RC_STATUS_MAP(RC__STATUS_NAME)
#undef RC__STATUS_NAME
    default:
        return "UNKNOWN_STATUS";
    }
}
