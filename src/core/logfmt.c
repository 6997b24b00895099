#include "logfmt.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "civil.h"
#include "err.h"
#include "utf8.h"

/*
 * Room kept at the end of the buffer so that a line cut short can still close its string and
 * say so: '"' + ',"truncated":true}' + '\n' is 21 bytes.
 */
#define TAIL_RESERVE 24
#define SPEC_MAX     32

static const char *const level_names[] = {"debug", "info", "warn", "error"};

const char *logfmtLevelName(enum rc_log_level level)
{
    if ((unsigned)level >= sizeof level_names / sizeof level_names[0]) {
        return "?";
    }
    return level_names[level];
}

int logfmtParseLevel(const char *text, enum rc_log_level *out)
{
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
        if (strcmp(text, level_names[i]) == 0) {
            *out = (enum rc_log_level)i;
            return 0;
        }
    }
    return RC_EINVAL;
}

int logfmtParseFormat(const char *text, enum rc_log_format *out)
{
    if (strcmp(text, "logfmt") == 0) {
        *out = RC_LOG_LOGFMT;
        return 0;
    }
    if (strcmp(text, "json") == 0) {
        *out = RC_LOG_JSON;
        return 0;
    }
    return RC_EINVAL;
}

/* ---- the output line ------------------------------------------------------------------------ */

struct line {
    char *buf;
    size_t limit; /* bytes usable before the tail reserve */
    size_t len;
    bool full; /* something did not fit: the line says truncated */
};

static void putBytes(struct line *l, const char *s, size_t n)
{
    if (l->full || l->len + n > l->limit) {
        l->full = true;
        return;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void putStr(struct line *l, const char *s)
{
    putBytes(l, s, strlen(s));
}

/* Writes into the tail reserve: only for the bytes that close a line that may be full. */
static void putTail(struct line *l, const char *s)
{
    size_t n = strlen(s);
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static bool needsQuotes(const char *s, size_t n)
{
    if (n == 0) {
        return true;
    }
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = utf8Len(p + i, n - i);
        if (k == 0 || p[i] <= ' ' || p[i] == '=' || p[i] == '"' || p[i] == 0x7F) {
            return true;
        }
        i += k;
    }
    return false;
}

/* The escape for one ASCII byte inside a quoted string, or NULL when it goes out as is. */
static const char *escapeFor(unsigned char c, enum rc_log_format f, char tmp[8])
{
    switch (c) {
    case '"':
        return "\\\"";
    case '\\':
        return "\\\\";
    case '\n':
        return "\\n";
    case '\r':
        return "\\r";
    case '\t':
        return "\\t";
    case '\b':
        return f == RC_LOG_JSON ? "\\b" : "\\u0008";
    case '\f':
        return f == RC_LOG_JSON ? "\\f" : "\\u000c";
    default:
        break;
    }
    if (c < 0x20 || (c == 0x7F && f == RC_LOG_LOGFMT)) {
        snprintf(tmp, 8, "\\u%04x", c);
        return tmp;
    }
    return NULL;
}

/* Copies s, escaping as inside quotes (when escape) and replacing malformed UTF-8 by U+FFFD;
 * stops at a character boundary when the line is full. */
static void putEscaped(struct line *l, const char *s, size_t n, enum rc_log_format f, bool escape)
{
    const unsigned char *p = (const unsigned char *)s;
    char tmp[8];
    for (size_t i = 0; i < n && !l->full;) {
        size_t k = utf8Len(p + i, n - i);
        if (k == 0) {
            putStr(l, RC_UTF8_REPLACEMENT);
            i++;
            continue;
        }
        const char *esc = k == 1 && escape ? escapeFor(p[i], f, tmp) : NULL;
        if (esc != NULL) {
            putStr(l, esc);
        } else {
            putBytes(l, s + i, k);
        }
        i += k;
    }
}

/* A string value: always quoted in JSON, quoted in logfmt only when needed. Cut short when the
 * line is full, but always closed. */
static void putString(struct line *l, const char *s, size_t n, enum rc_log_format f)
{
    bool quote = f == RC_LOG_JSON || needsQuotes(s, n);
    size_t before = l->len;
    if (quote) {
        putStr(l, "\"");
    }
    bool opened = quote && l->len > before;
    putEscaped(l, s, n, f, quote);
    if (opened) {
        putTail(l, "\"");
    }
}

static void putKey(struct line *l, const char *key, enum rc_log_format f)
{
    if (f == RC_LOG_JSON) {
        putStr(l, ",\"");
        putEscaped(l, key, strlen(key), f, true);
        putStr(l, "\":");
        return;
    }
    putStr(l, " ");
    if (*key == '\0') {
        putStr(l, "_");
    }
    for (const char *k = key; *k != '\0'; k++) {
        bool ok = *k > ' ' && *k < 0x7F && *k != '=' && *k != '"';
        putBytes(l, ok ? k : "_", 1);
    }
    putStr(l, "=");
}

/*
 * One key/value pair, all or nothing up to the value: a pair whose key does not fit is dropped
 * (so JSON stays well-formed); a value that does not fit is cut and closed.
 */
static void putPair(struct line *l, const char *key, const char *val, size_t n, bool raw,
                    enum rc_log_format f)
{
    size_t mark = l->len;
    putKey(l, key, f);
    size_t after_key = l->len;
    if (!l->full) {
        if (raw) {
            putBytes(l, val, n);
        } else {
            putString(l, val, n, f);
        }
    }
    if (l->full && (raw || l->len == after_key)) {
        l->len = mark;
    }
}

/* ---- values: a printf subset whose arguments are located from the format -------------------- */

struct value {
    char buf[LOGFMT_LINE_MAX];
    size_t len;
    bool numeric; /* the format was one numeric conversion and nothing else */
};

struct spec {
    char text[SPEC_MAX]; /* "%-08.3llx" */
    int star[2];
    int nstar;
    char length[3]; /* "", "hh", "h", "l", "ll", "j", "z", "t", "L" */
    char conv;
};

static void valueAppend(struct value *v, int wanted)
{
    size_t room = sizeof v->buf - v->len;
    if (wanted < 0) {
        return;
    }
    v->len += (size_t)wanted < room ? (size_t)wanted : room - 1;
}

/* Parses the conversion at *fmt (just after '%'); false for anything we cannot type. */
static bool parseSpec(const char **fmt, struct spec *sp, va_list *ap)
{
    const char *start = *fmt - 1;
    const char *p = *fmt;
    sp->nstar = 0;
    p += strspn(p, "-+ #0");
    for (int part = 0; part < 2; part++) {
        if (part == 1) {
            if (*p != '.') {
                break;
            }
            p++;
        }
        if (*p == '*') {
            sp->star[sp->nstar++] = va_arg(*ap, int);
            p++;
        } else {
            p += strspn(p, "0123456789");
        }
    }
    size_t ln = strspn(p, "hljztL");
    if (ln > 2) {
        return false;
    }
    memcpy(sp->length, p, ln);
    sp->length[ln] = '\0';
    p += ln;
    sp->conv = *p;
    if (sp->conv == '\0' || (size_t)(p + 1 - start) >= sizeof sp->text) {
        return false;
    }
    memcpy(sp->text, start, (size_t)(p + 1 - start));
    sp->text[p + 1 - start] = '\0';
    *fmt = p + 1;
    return true;
}

#define EMIT(v, sp, x)                                                                             \
    valueAppend((v), (sp)->nstar == 0   ? snprintf((v)->buf + (v)->len, sizeof(v)->buf - (v)->len, \
                                                   (sp)->text, (x))                                \
                     : (sp)->nstar == 1 ? snprintf((v)->buf + (v)->len, sizeof(v)->buf - (v)->len, \
                                                   (sp)->text, (sp)->star[0], (x))                 \
                                        : snprintf((v)->buf + (v)->len, sizeof(v)->buf - (v)->len, \
                                                   (sp)->text, (sp)->star[0], (sp)->star[1], (x)))

static bool convertSigned(struct value *v, const struct spec *sp, va_list *ap)
{
    const char *l = sp->length;
    if (*l == '\0' || strcmp(l, "h") == 0 || strcmp(l, "hh") == 0) {
        EMIT(v, sp, va_arg(*ap, int));
    } else if (strcmp(l, "l") == 0) {
        EMIT(v, sp, va_arg(*ap, long));
    } else if (strcmp(l, "ll") == 0) {
        EMIT(v, sp, va_arg(*ap, long long));
    } else if (strcmp(l, "j") == 0) {
        EMIT(v, sp, va_arg(*ap, intmax_t));
    } else if (strcmp(l, "z") == 0) {
        EMIT(v, sp, va_arg(*ap, ssize_t));
    } else if (strcmp(l, "t") == 0) {
        EMIT(v, sp, va_arg(*ap, ptrdiff_t));
    } else {
        return false;
    }
    return true;
}

static bool convertUnsigned(struct value *v, const struct spec *sp, va_list *ap)
{
    const char *l = sp->length;
    if (*l == '\0' || strcmp(l, "h") == 0 || strcmp(l, "hh") == 0) {
        EMIT(v, sp, va_arg(*ap, unsigned));
    } else if (strcmp(l, "l") == 0) {
        EMIT(v, sp, va_arg(*ap, unsigned long));
    } else if (strcmp(l, "ll") == 0) {
        EMIT(v, sp, va_arg(*ap, unsigned long long));
    } else if (strcmp(l, "j") == 0) {
        EMIT(v, sp, va_arg(*ap, uintmax_t));
    } else if (strcmp(l, "z") == 0) {
        EMIT(v, sp, va_arg(*ap, size_t));
    } else if (strcmp(l, "t") == 0) {
        EMIT(v, sp, va_arg(*ap, ptrdiff_t));
    } else {
        return false;
    }
    return true;
}

static bool convertOther(struct value *v, const struct spec *sp, va_list *ap)
{
    const char *l = sp->length;
    if (strchr("fFeEgGaA", sp->conv) != NULL) {
        if (strcmp(l, "L") == 0) {
            EMIT(v, sp, va_arg(*ap, long double));
        } else if (*l == '\0' || strcmp(l, "l") == 0) {
            EMIT(v, sp, va_arg(*ap, double));
        } else {
            return false;
        }
        return true;
    }
    if (*l != '\0') {
        return false; /* %lc, %ls and friends */
    }
    if (sp->conv == 'c') {
        EMIT(v, sp, va_arg(*ap, int));
    } else if (sp->conv == 's') {
        const char *s = va_arg(*ap, const char *);
        EMIT(v, sp, s != NULL ? s : "(null)");
    } else if (sp->conv == 'p') {
        EMIT(v, sp, va_arg(*ap, void *));
    } else {
        return false; /* %n, %m, unknown conversions */
    }
    return true;
}

static bool convert(struct value *v, const char **fmt, va_list *ap)
{
    struct spec sp;
    if (!parseSpec(fmt, &sp, ap)) {
        return false;
    }
    if (sp.conv == 'd' || sp.conv == 'i') {
        return convertSigned(v, &sp, ap);
    }
    if (strchr("ouxX", sp.conv) != NULL) {
        return convertUnsigned(v, &sp, ap);
    }
    return convertOther(v, &sp, ap);
}

/* JSON number grammar (RFC 8259 §6). */
static bool isJsonNumber(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && s[i] == '-') {
        i++;
    }
    size_t d = strspn(s + i, "0123456789");
    if (d == 0 || (d > 1 && s[i] == '0')) {
        return false;
    }
    i += d;
    if (i < n && s[i] == '.') {
        d = strspn(s + i + 1, "0123456789");
        if (d == 0) {
            return false;
        }
        i += 1 + d;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) {
            i++;
        }
        d = strspn(s + i, "0123456789");
        if (d == 0) {
            return false;
        }
        i += d;
    }
    return i == n;
}

/* Formats one value; false when the format cannot be followed (the argument list is lost). */
static bool formatValue(struct value *v, const char *fmt, va_list *ap)
{
    v->len = 0;
    v->buf[0] = '\0';
    int conversions = 0;
    bool numeric = false;
    const char *p = fmt != NULL ? fmt : "";
    while (*p != '\0') {
        const char *pct = strchr(p, '%');
        size_t lit = pct != NULL ? (size_t)(pct - p) : strlen(p);
        valueAppend(v, snprintf(v->buf + v->len, sizeof v->buf - v->len, "%.*s", (int)lit, p));
        if (pct == NULL) {
            break;
        }
        p = pct + 1;
        if (*p == '%') {
            valueAppend(v, snprintf(v->buf + v->len, sizeof v->buf - v->len, "%%"));
            p++;
            continue;
        }
        if (!convert(v, &p, ap)) {
            return false;
        }
        conversions++;
        numeric = strchr("diufFeEgG", p[-1]) != NULL && pct == fmt && *p == '\0';
    }
    v->numeric = conversions == 1 && numeric && isJsonNumber(v->buf, v->len);
    return true;
}

/* ---- the line -------------------------------------------------------------------------------- */

static void putTimestamp(struct line *l, int64_t ts_us)
{
    int64_t secs = civilFloorDiv(ts_us, RC_USEC_PER_SEC);
    struct rc_civil c;
    civilFromSeconds(secs, &c);
    char tmp[48];
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", c.year, c.month, c.day, c.hour,
             c.minute, c.second, (int)(ts_us - secs * RC_USEC_PER_SEC));
    putStr(l, tmp);
}

static void putHeader(struct line *l, const struct logfmt_context *ctx, int64_t ts_us,
                      enum rc_log_level level, const char *msg)
{
    bool json = ctx->format == RC_LOG_JSON;
    const char *role = ctx->role != NULL ? ctx->role : "none";
    char num[64];
    putStr(l, json ? "{\"ts\":\"" : "ts=");
    putTimestamp(l, ts_us);
    putStr(l, json ? "\",\"level\":\"" : " level=");
    putStr(l, logfmtLevelName(level));
    snprintf(num, sizeof num, json ? "\",\"node\":%llu,\"term\":%llu" : " node=%llu term=%llu",
             (unsigned long long)ctx->node_id, (unsigned long long)ctx->term);
    putStr(l, num);
    putPair(l, "role", role, strlen(role), false, ctx->format);
    msg = msg != NULL ? msg : "";
    putPair(l, "msg", msg, strlen(msg), false, ctx->format);
}

static void putPairs(struct line *l, enum rc_log_format f, va_list *ap)
{
    static const char bad[] = "!BADFORMAT";
    struct value v;
    const char *key;
    while (!l->full && (key = va_arg(*ap, const char *)) != NULL) {
        const char *fmt = va_arg(*ap, const char *);
        if (!formatValue(&v, fmt, ap)) {
            putPair(l, key, bad, sizeof bad - 1, false, f);
            return;
        }
        putPair(l, key, v.buf, v.len, f == RC_LOG_JSON && v.numeric, f);
    }
}

size_t logfmtLineV(char *buf, size_t len, const struct logfmt_context *ctx, int64_t ts_us,
                   enum rc_log_level level, const char *msg, va_list kv)
{
    assert(len >= 256);
    size_t cap = len < LOGFMT_LINE_MAX + 1 ? len : LOGFMT_LINE_MAX + 1;
    struct line l = {.buf = buf, .limit = cap - 1 - TAIL_RESERVE};
    bool json = ctx->format == RC_LOG_JSON;
    va_list ap;
    va_copy(ap, kv);
    putHeader(&l, ctx, ts_us, level, msg);
    putPairs(&l, ctx->format, &ap);
    va_end(ap);
    if (l.full) {
        putTail(&l, json ? ",\"truncated\":true" : " truncated=true");
    }
    putTail(&l, json ? "}\n" : "\n");
    buf[l.len] = '\0';
    return l.len;
}

size_t logfmtLine(char *buf, size_t len, const struct logfmt_context *ctx, int64_t ts_us,
                  enum rc_log_level level, const char *msg, ...)
{
    va_list ap;
    va_start(ap, msg);
    size_t n = logfmtLineV(buf, len, ctx, ts_us, level, msg, ap);
    va_end(ap);
    return n;
}
