/*
 * Cron expressions.
 *
 * Parsing turns every field into a bitmap; the day-of-month and day-of-week specials (L, L-n,
 * nW, LW, wL, w#k) stay symbolic because their days depend on the month.
 *
 * Searching never scans: a month's matching days are one 32-bit mask computed from its length
 * and the weekday of its 1st, and every other field is a bitmap, so cronNextCivil moves from
 * the month down to the second, jumping to the next set bit of each field and carrying into the
 * field above when there is none. cronPrevCivil is the mirror image. A call costs a handful of
 * bit operations per visited month, which is what keeps rare schedules ("0 0 29 2 *") cheap.
 */
#include "cron.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "duration.h"
#include "err.h"

enum { F_SEC, F_MIN, F_HOUR, F_DOM, F_MON, F_DOW, F_COUNT };

struct field {
    const char *name;
    int lo;
    int hi;
    int span;                 /* number of distinct values: the largest sensible step */
    const char *const *names; /* three-letter names of the values from lo, or NULL */
    int name_count;
};

static const char *const month_abbr[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                         "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const dow_abbr[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

/* Day of week admits 7 for Sunday (cron(5)); it is folded onto 0 after parsing. */
static const struct field fields[F_COUNT] = {
    [F_SEC] = {"second", 0, 59, 60, NULL, 0},       [F_MIN] = {"minute", 0, 59, 60, NULL, 0},
    [F_HOUR] = {"hour", 0, 23, 24, NULL, 0},        [F_DOM] = {"day of month", 1, 31, 31, NULL, 0},
    [F_MON] = {"month", 1, 12, 12, month_abbr, 12}, [F_DOW] = {"day of week", 0, 7, 7, dow_abbr, 7},
};

static const char *const month_full[] = {"January",   "February", "March",    "April",
                                         "May",       "June",     "July",     "August",
                                         "September", "October",  "November", "December"};
static const char *const dow_full[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                       "Thursday", "Friday", "Saturday"};

/* Beyond every field's range: digits past it stop growing the value, so nothing overflows. */
#define NUMBER_CAP 100000

static bool isBlank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

static bool isDigit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static bool isAlpha(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static char lower(char ch)
{
    return (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
}

static bool equalsIgnoreCase(const char *s, size_t n, const char *word)
{
    size_t i = 0;
    for (; i < n && word[i] != '\0'; i++) {
        if (lower(s[i]) != word[i]) {
            return false;
        }
    }
    return i == n && word[i] == '\0';
}

/* ---------------------------------------------------------------------------------------------
 * Text
 */

/* Appends with snprintf semantics: counts everything, stores what fits, stays terminated. */
struct sbuf {
    char *buf;
    size_t len;
    size_t used;
};

static void put(struct sbuf *b, const char *s)
{
    for (; *s != '\0'; s++, b->used++) {
        if (b->used + 1 < b->len) {
            b->buf[b->used] = *s;
            b->buf[b->used + 1] = '\0';
        }
    }
}

static void putf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void putf(struct sbuf *b, const char *fmt, ...)
{
    char tmp[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    put(b, tmp);
}

static const char *ordinalSuffix(int n)
{
    if (n % 100 >= 11 && n % 100 <= 13) {
        return "th";
    }
    switch (n % 10) {
    case 1:
        return "st";
    case 2:
        return "nd";
    case 3:
        return "rd";
    default:
        return "th";
    }
}

static int popcount(uint64_t bits)
{
    return __builtin_popcountll(bits);
}

static void putValue(struct sbuf *b, int v, const char *const *names, int names_lo)
{
    if (names != NULL) {
        put(b, names[v - names_lo]);
    } else {
        putf(b, "%d", v);
    }
}

/* Joins items "a", "a and b", "a, b and c": call with the index and the count of items. */
static void putSeparator(struct sbuf *b, int index, int count)
{
    if (index > 0) {
        put(b, index == count - 1 ? " and " : ", ");
    }
}

/* The runs of consecutive values in bits over [lo, hi]; runs of three or more read "a through b".
 */
static int runs(uint64_t bits, int lo, int hi, int starts[], int ends[])
{
    int n = 0;
    for (int v = lo; v <= hi; v++) {
        if (!((bits >> v) & 1)) {
            continue;
        }
        int e = v;
        while (e + 1 <= hi && ((bits >> (e + 1)) & 1)) {
            e++;
        }
        if (e - v >= 2) {
            starts[n] = v;
            ends[n++] = e;
        } else {
            for (int x = v; x <= e; x++) {
                starts[n] = x;
                ends[n++] = x;
            }
        }
        v = e;
    }
    return n;
}

/* How many items putList will write (to join them with further items). */
static int listItems(uint64_t bits, int lo, int hi)
{
    int starts[64];
    int ends[64];
    return runs(bits, lo, hi, starts, ends);
}

static void putList(struct sbuf *b, uint64_t bits, int lo, int hi, const char *const *names,
                    int names_lo, int first, int total)
{
    int starts[64];
    int ends[64];
    int n = runs(bits, lo, hi, starts, ends);
    for (int i = 0; i < n; i++) {
        putSeparator(b, first + i, total);
        putValue(b, starts[i], names, names_lo);
        if (ends[i] != starts[i]) {
            put(b, " through ");
            putValue(b, ends[i], names, names_lo);
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * Parsing
 */

struct parser {
    struct rc_cron *c;
    int kind;          /* F_* */
    int number;        /* 1-based position of the field in the expression */
    const char *field; /* the field's text, not NUL-terminated */
    size_t field_len;
    char *err;
    size_t errlen;
};

static int fieldError(const struct parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int fieldError(const struct parser *p, const char *fmt, ...)
{
    char reason[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    return errSet(p->err, p->errlen, RC_EPARSE, "field %d (%s): %s", p->number,
                  fields[p->kind].name, reason);
}

/* A number or (for month and day of week) a name spanning exactly [s, e), in [lo, hi]. */
static int parseValueIn(const struct parser *p, const char *s, const char *e, int lo, int hi,
                        int *out)
{
    const struct field *f = &fields[p->kind];
    char q[RC_ERRQUOTE_SIZE];
    if (s == e) {
        return fieldError(p, "missing value in \"%s\"", errQuote(q, p->field, p->field_len));
    }
    if (isAlpha(*s)) {
        for (int i = 0; i < f->name_count; i++) {
            if (equalsIgnoreCase(s, (size_t)(e - s), f->names[i])) {
                *out = f->lo + i;
                return 0;
            }
        }
        if (f->names == NULL) {
            return fieldError(p, "\"%s\" is not a number", errQuote(q, s, (size_t)(e - s)));
        }
        return fieldError(p, "unknown name \"%s\"", errQuote(q, s, (size_t)(e - s)));
    }
    int v = 0;
    for (const char *i = s; i < e; i++) {
        if (!isDigit(*i)) {
            return fieldError(p, "invalid number \"%s\"", errQuote(q, s, (size_t)(e - s)));
        }
        v = v < NUMBER_CAP ? v * 10 + (*i - '0') : v;
    }
    if (v < lo || v > hi) {
        return fieldError(p, "%s is out of range %d-%d", errQuote(q, s, (size_t)(e - s)), lo, hi);
    }
    *out = v;
    return 0;
}

static int parseValue(const struct parser *p, const char *s, const char *e, int *out)
{
    return parseValueIn(p, s, e, fields[p->kind].lo, fields[p->kind].hi, out);
}

static int parseStep(const struct parser *p, const char *s, const char *e, int *out)
{
    char q[RC_ERRQUOTE_SIZE];
    int span = fields[p->kind].span;
    int v = 0;
    if (s == e) {
        return fieldError(p, "missing step in \"%s\"", errQuote(q, p->field, p->field_len));
    }
    for (const char *i = s; i < e; i++) {
        if (!isDigit(*i)) {
            return fieldError(p, "invalid step \"%s\"", errQuote(q, s, (size_t)(e - s)));
        }
        v = v < NUMBER_CAP ? v * 10 + (*i - '0') : v;
    }
    if (v == 0) {
        return fieldError(p, "step %s must be at least 1", errQuote(q, s, (size_t)(e - s)));
    }
    if (v > span) {
        return fieldError(p, "step %s is out of range 1-%d", errQuote(q, s, (size_t)(e - s)), span);
    }
    *out = v;
    return 0;
}

/* The largest value "*" and "a/n" reach: Sunday is 0 there, so day of week stops at 6. */
static int starHigh(int kind)
{
    return kind == F_DOW ? 6 : fields[kind].hi;
}

/* "*", "*\/n", "a", "a-b", "a-b/n", "a/n". */
static int parseRange(const struct parser *p, const char *s, const char *e, uint64_t *bits)
{
    char q[RC_ERRQUOTE_SIZE];
    const char *slash = memchr(s, '/', (size_t)(e - s));
    const char *re = slash != NULL ? slash : e;
    int lo;
    int hi;
    int step = 1;
    int rc;
    if (re - s == 1 && *s == '*') {
        lo = fields[p->kind].lo;
        hi = starHigh(p->kind);
    } else {
        const char *dash = memchr(s, '-', (size_t)(re - s));
        rc = parseValue(p, s, dash != NULL ? dash : re, &lo);
        if (rc != 0) {
            return rc;
        }
        hi = slash != NULL ? starHigh(p->kind) : lo;
        if (dash != NULL) {
            rc = parseValue(p, dash + 1, re, &hi);
            if (rc != 0) {
                return rc;
            }
            /* "mon-sun" reads naturally; Sunday may end a range as 7. */
            if (p->kind == F_DOW && hi == 0 && isAlpha(dash[1])) {
                hi = 7;
            }
            if (hi < lo) {
                /* No Quartz-style wraparound: say how to write it. */
                int max = starHigh(p->kind), min = fields[p->kind].lo;
                char a[16], b[16];
                snprintf(a, sizeof a, lo == max ? "%d" : "%d-%d", lo, max);
                snprintf(b, sizeof b, hi == min ? "%d" : "%d-%d", min, hi);
                return fieldError(p, "range %s is reversed (ranges do not wrap: write %s,%s)",
                                  errQuote(q, s, (size_t)(re - s)), a, b);
            }
        }
    }
    if (slash != NULL) {
        rc = parseStep(p, slash + 1, e, &step);
        if (rc != 0) {
            return rc;
        }
    }
    for (int v = lo; v <= hi; v += step) {
        *bits |= UINT64_C(1) << v;
    }
    return 0;
}

static bool allDigits(const char *s, const char *e)
{
    for (; s < e; s++) {
        if (!isDigit(*s)) {
            return false;
        }
    }
    return true;
}

static bool hasLetter(const char *s, const char *e, const char *letters)
{
    for (; s < e; s++) {
        if (strchr(letters, lower(*s)) != NULL && *s != '\0') {
            return true;
        }
    }
    return false;
}

/* The number of a special element ("L-3", "15W", "5#2"), named in messages as what. */
static int parseSpecialNumber(const struct parser *p, const char *s, const char *e, int lo, int hi,
                              const char *what, const char *element, size_t element_len, int *out)
{
    char q[RC_ERRQUOTE_SIZE];
    int v = 0;
    if (s == e || !allDigits(s, e)) {
        return fieldError(p, "%s in \"%s\" is not a number", what,
                          errQuote(q, element, element_len));
    }
    for (; s < e; s++) {
        v = v < NUMBER_CAP ? v * 10 + (*s - '0') : v;
    }
    if (v < lo || v > hi) {
        return fieldError(p, "%s in \"%s\" is out of range %d-%d", what,
                          errQuote(q, element, element_len), lo, hi);
    }
    *out = v;
    return 0;
}

/* "L", "L-n", "LW", "nW". *handled is false when the element is none of them. */
static int parseDomSpecial(const struct parser *p, const char *s, const char *e, bool *handled)
{
    struct rc_cron *c = p->c;
    size_t n = (size_t)(e - s);
    char q[RC_ERRQUOTE_SIZE];
    int v;
    *handled = true;
    if (equalsIgnoreCase(s, n, "l")) {
        c->dom_last_offsets |= 1u;
        return 0;
    }
    if (equalsIgnoreCase(s, n, "lw")) {
        c->dom_last_wd = true;
        return 0;
    }
    if (n > 2 && lower(s[0]) == 'l' && s[1] == '-') {
        int rc = parseSpecialNumber(p, s + 2, e, 0, 30, "offset", s, n, &v);
        if (rc != 0) {
            return rc;
        }
        c->dom_last_offsets |= UINT32_C(1) << v;
        return 0;
    }
    if (n > 1 && lower(e[-1]) == 'w' && allDigits(s, e - 1)) {
        int rc = parseSpecialNumber(p, s, e - 1, 1, 31, "day", s, n, &v);
        if (rc != 0) {
            return rc;
        }
        c->dom_nearest_wd |= UINT32_C(1) << v;
        return 0;
    }
    if (hasLetter(s, e, "lw")) {
        return fieldError(p, "invalid use of L or W in \"%s\" (use L, L-n, nW or LW)",
                          errQuote(q, s, n));
    }
    *handled = false;
    return 0;
}

/* "wL", "w#k". *handled is false when the element is neither. */
static int parseDowSpecial(const struct parser *p, const char *s, const char *e, bool *handled)
{
    struct rc_cron *c = p->c;
    size_t n = (size_t)(e - s);
    const char *hash = memchr(s, '#', n);
    char q[RC_ERRQUOTE_SIZE];
    int w;
    int k;
    int rc;
    *handled = true;
    if (hash != NULL) {
        rc = parseValue(p, s, hash, &w);
        if (rc == 0) {
            rc = parseSpecialNumber(p, hash + 1, e, 1, 5, "occurrence", s, n, &k);
        }
        if (rc == 0) {
            c->dow_nth[k] |= (uint8_t)(1u << (w % 7));
        }
        return rc;
    }
    if (n > 1 && lower(e[-1]) == 'l') {
        rc = parseValue(p, s, e - 1, &w);
        if (rc == 0) {
            c->dow_last |= (uint8_t)(1u << (w % 7));
        }
        return rc;
    }
    if (equalsIgnoreCase(s, n, "l")) {
        return fieldError(p, "\"%s\" needs a weekday, e.g. 5L for the last Friday",
                          errQuote(q, s, n));
    }
    *handled = false;
    return 0;
}

static int parseElement(const struct parser *p, const char *s, const char *e, uint64_t *bits)
{
    bool handled = false;
    int rc = 0;
    if (p->kind == F_DOM) {
        rc = parseDomSpecial(p, s, e, &handled);
    } else if (p->kind == F_DOW) {
        rc = parseDowSpecial(p, s, e, &handled);
    }
    if (rc != 0 || handled) {
        return rc;
    }
    return parseRange(p, s, e, bits);
}

static bool isAnyField(const char *s, size_t n)
{
    return (n == 1 && (*s == '*' || *s == '?')) || (n == 3 && memcmp(s, "*/1", 3) == 0);
}

/* Parses one field's comma-separated list into *bits (and the specials into p->c). */
static int parseField(const struct parser *p, uint64_t *bits, bool *any)
{
    const char *s = p->field;
    const char *end = s + p->field_len;
    char q[RC_ERRQUOTE_SIZE];
    *any = isAnyField(s, p->field_len);
    if (memchr(s, '?', p->field_len) != NULL) {
        if (p->kind != F_DOM && p->kind != F_DOW) {
            return fieldError(p, "'?' is only allowed in the day-of-month and day-of-week fields");
        }
        if (p->field_len != 1) {
            return fieldError(p, "'?' must be the whole field, not part of \"%s\"",
                              errQuote(q, s, p->field_len));
        }
        *bits = ((UINT64_C(1) << (starHigh(p->kind) + 1)) - 1) &
                ~((UINT64_C(1) << fields[p->kind].lo) - 1);
        return 0;
    }
    while (s <= end) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *e = comma != NULL ? comma : end;
        if (s == e) {
            return fieldError(p, "empty list element in \"%s\"",
                              errQuote(q, p->field, p->field_len));
        }
        int rc = parseElement(p, s, e, bits);
        if (rc != 0) {
            return rc;
        }
        s = e + 1;
    }
    return 0;
}

static void storeField(struct rc_cron *c, int kind, uint64_t bits, bool any)
{
    switch (kind) {
    case F_SEC:
        c->seconds = bits;
        break;
    case F_MIN:
        c->minutes = bits;
        break;
    case F_HOUR:
        c->hours = (uint32_t)bits;
        break;
    case F_DOM:
        c->dom = (uint32_t)bits;
        c->dom_any = any;
        break;
    case F_MON:
        c->months = (uint16_t)bits;
        break;
    default:
        /* 7 is Sunday too. */
        c->dow = (uint8_t)((bits | (bits >> 7)) & 0x7f);
        c->dow_any = any;
        break;
    }
}

/*
 * With day of week unrestricted a day matches only through day of month, so the expression is
 * dead when no selected month ever has a selected day (Feb 29 counts: it does occur).
 */
static bool domPossibleIn(const struct rc_cron *c, int month)
{
    static const int longest[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int dim = longest[month];
    uint32_t days = ((UINT32_C(1) << dim) - 1) << 1;
    return c->dom_last_wd || (c->dom & days) != 0 || (c->dom_nearest_wd & days) != 0 ||
           (c->dom_last_offsets & ((UINT32_C(1) << dim) - 1)) != 0;
}

static int checkPossible(const struct rc_cron *c, const struct parser *dom)
{
    char q[RC_ERRQUOTE_SIZE];
    char months[128];
    struct sbuf b = {months, sizeof months, 0};
    months[0] = '\0';
    if (!c->dow_star) {
        return 0; /* a restricted day of week matches on its own (or) */
    }
    for (int m = 1; m <= 12; m++) {
        if ((c->months & (1u << m)) && domPossibleIn(c, m)) {
            return 0;
        }
    }
    putList(&b, c->months, 1, 12, month_full, 1, 0, listItems(c->months, 1, 12));
    return fieldError(dom, "\"%s\" never occurs in %s", errQuote(q, dom->field, dom->field_len),
                      months);
}

/* Splits [s, end) into blank-separated fields; returns how many there are (at most max kept). */
static int splitFields(const char *s, const char *spans[][2], int max)
{
    int n = 0;
    while (*s != '\0') {
        while (isBlank(*s)) {
            s++;
        }
        if (*s == '\0') {
            break;
        }
        const char *start = s;
        while (*s != '\0' && !isBlank(*s)) {
            s++;
        }
        if (n < max) {
            spans[n][0] = start;
            spans[n][1] = s;
        }
        n++;
    }
    return n;
}

static int parseFields(const char *s, struct rc_cron *c, char *err, size_t errlen)
{
    const char *spans[6][2];
    int n = splitFields(s, spans, 6);
    if (n != 5 && n != 6) {
        return errSet(err, errlen, RC_EPARSE, "expected 5 or 6 fields, got %d", n);
    }
    c->has_seconds = n == 6;
    c->seconds = 1; /* five fields fire at second 0 */
    struct parser dom = {0};
    for (int i = 0; i < n; i++) {
        struct parser p = {
            c, i + (n == 5), i + 1, spans[i][0], (size_t)(spans[i][1] - spans[i][0]), err, errlen};
        uint64_t bits = 0;
        bool any;
        int rc = parseField(&p, &bits, &any);
        if (rc != 0) {
            return rc;
        }
        storeField(c, p.kind, bits, any);
        bool star = p.field_len > 0 && (p.field[0] == '*' || p.field[0] == '?');
        if (p.kind == F_DOM) {
            dom = p;
            c->dom_star = star;
        } else if (p.kind == F_DOW) {
            c->dow_star = star;
        }
    }
    return checkPossible(c, &dom);
}

static const struct {
    const char *name;
    const char *expr;
} macros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

static int parseEvery(const char *s, struct rc_cron *c, char *err, size_t errlen)
{
    const char *spans[2][2];
    char sub[RC_ERRMSG_SIZE];
    char text[RC_ERRQUOTE_MAX + 1];
    char q[RC_ERRQUOTE_SIZE];
    int n = splitFields(s, spans, 2);
    if (n == 0) {
        return errSet(err, errlen, RC_EPARSE, "@every: missing duration");
    }
    if (n > 1) {
        return errSet(err, errlen, RC_EPARSE, "@every: unexpected \"%s\" after the duration",
                      errQuote(q, spans[1][0], strlen(spans[1][0])));
    }
    size_t len = (size_t)(spans[0][1] - spans[0][0]);
    if (len > RC_ERRQUOTE_MAX) {
        return errSet(err, errlen, RC_EPARSE, "@every: invalid duration \"%s\": too long",
                      errQuote(q, spans[0][0], len));
    }
    memcpy(text, spans[0][0], len);
    text[len] = '\0';
    if (durationParse(text, &c->every_us, sub, sizeof sub) != 0) {
        return errSet(err, errlen, RC_EPARSE, "@every: %s", sub);
    }
    return 0;
}

static int parseMacro(const char *s, struct rc_cron *c, char *err, size_t errlen)
{
    const char *e = s;
    char q[RC_ERRQUOTE_SIZE];
    while (*e != '\0' && !isBlank(*e)) {
        e++;
    }
    size_t n = (size_t)(e - s);
    if (equalsIgnoreCase(s, n, "@every")) {
        return parseEvery(e, c, err, errlen);
    }
    for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++) {
        if (!equalsIgnoreCase(s, n, macros[i].name)) {
            continue;
        }
        const char *rest[1][2];
        if (splitFields(e, rest, 1) != 0) {
            return errSet(err, errlen, RC_EPARSE, "%s: unexpected \"%s\" after the macro",
                          macros[i].name, errQuote(q, rest[0][0], strlen(rest[0][0])));
        }
        return parseFields(macros[i].expr, c, err, errlen);
    }
    return errSet(err, errlen, RC_EPARSE, "unknown macro \"%s\"", errQuote(q, s, n));
}

/* Consumes a "CRON_TZ=Zone " or "TZ=Zone " prefix into c->tz. */
static int parseZone(const char **s, struct rc_cron *c, char *err, size_t errlen)
{
    const char *p = *s;
    size_t prefix = strncmp(p, "CRON_TZ=", 8) == 0 ? 8 : strncmp(p, "TZ=", 3) == 0 ? 3 : 0;
    char q[RC_ERRQUOTE_SIZE];
    if (prefix == 0) {
        return 0;
    }
    const char *z = p + prefix;
    const char *e = z;
    while (*e != '\0' && !isBlank(*e)) {
        e++;
    }
    size_t n = (size_t)(e - z);
    if (n == 0) {
        return errSet(err, errlen, RC_EPARSE, "%.*s: missing zone name", (int)prefix - 1, p);
    }
    if (n >= RC_CRON_TZ_MAX) {
        return errSet(err, errlen, RC_EPARSE, "%.*s: zone name \"%s\" is longer than %d bytes",
                      (int)prefix - 1, p, errQuote(q, z, n), RC_CRON_TZ_MAX - 1);
    }
    memcpy(c->tz, z, n);
    c->tz[n] = '\0';
    *s = e;
    return 0;
}

int cronParse(const char *expr, struct rc_cron *out, char *err, size_t errlen)
{
    struct rc_cron c;
    memset(&c, 0, sizeof c);
    if (expr == NULL) {
        return errSet(err, errlen, RC_EPARSE, "empty expression");
    }
    const char *s = expr;
    while (isBlank(*s)) {
        s++;
    }
    int rc = parseZone(&s, &c, err, errlen);
    if (rc != 0) {
        return rc;
    }
    while (isBlank(*s)) {
        s++;
    }
    if (*s == '\0') {
        return errSet(err, errlen, RC_EPARSE,
                      c.tz[0] != '\0' ? "empty expression after the time zone"
                                      : "empty expression");
    }
    rc = *s == '@' ? parseMacro(s, &c, err, errlen) : parseFields(s, &c, err, errlen);
    if (rc != 0) {
        return rc;
    }
    *out = c;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Matching
 */

/* Bits 1, 8, 15, 22 and 29: the days that share the weekday of the 1st. */
#define WEEKLY_DAYS UINT32_C(0x20408102)

static uint32_t daysUpTo(int dim)
{
    return ((UINT32_C(1) << dim) - 1) << 1;
}

static int weekdayOf(int wd1, int day)
{
    return (wd1 + day - 1) % 7;
}

/* Quartz "nW": Saturday moves to Friday and Sunday to Monday, never leaving the month. */
static int nearestWeekday(int day, int dim, int wd1)
{
    int wd = weekdayOf(wd1, day);
    if (wd == 6) {
        return day > 1 ? day - 1 : day + 2;
    }
    if (wd == 0) {
        return day < dim ? day + 1 : day - 2;
    }
    return day;
}

static int lastWeekday(int dim, int wd1)
{
    int wd = weekdayOf(wd1, dim);
    return wd == 6 ? dim - 1 : wd == 0 ? dim - 2 : dim;
}

static uint32_t domDays(const struct rc_cron *c, int dim, int wd1)
{
    uint32_t m = c->dom;
    for (uint32_t b = c->dom_last_offsets; b != 0; b &= b - 1) {
        int d = dim - __builtin_ctz(b);
        m |= d >= 1 ? UINT32_C(1) << d : 0;
    }
    for (uint32_t b = c->dom_nearest_wd & daysUpTo(dim); b != 0; b &= b - 1) {
        m |= UINT32_C(1) << nearestWeekday(__builtin_ctz(b), dim, wd1);
    }
    if (c->dom_last_wd) {
        m |= UINT32_C(1) << lastWeekday(dim, wd1);
    }
    return m & daysUpTo(dim);
}

static uint32_t dowDays(const struct rc_cron *c, int dim, int wd1)
{
    uint32_t m = 0;
    unsigned all = c->dow | c->dow_last | c->dow_nth[1] | c->dow_nth[2] | c->dow_nth[3] |
                   c->dow_nth[4] | c->dow_nth[5];
    for (unsigned b = all; b != 0; b &= b - 1) {
        int w = __builtin_ctz(b);
        int first = 1 + (w - wd1 + 7) % 7;
        if (c->dow & (1u << w)) {
            m |= WEEKLY_DAYS << (first - 1);
        }
        if (c->dow_last & (1u << w)) {
            m |= UINT32_C(1) << (first + 7 * ((dim - first) / 7));
        }
        for (int k = 1; k <= 5; k++) {
            int d = first + 7 * (k - 1);
            if ((c->dow_nth[k] & (1u << w)) && d <= dim) {
                m |= UINT32_C(1) << d;
            }
        }
    }
    return m & daysUpTo(dim);
}

/* The matching days of a month as bits 1-31 (cron(5): OR when both day fields are restricted,
 * AND when either starts with '*'). */
static uint32_t monthDays(const struct rc_cron *c, int year, int month)
{
    int dim = civilDaysInMonth(year, month);
    if (c->dom_any && c->dow_any) {
        return daysUpTo(dim);
    }
    int wd1 = civilWeekday(year, month, 1);
    if (c->dow_any) {
        return domDays(c, dim, wd1);
    }
    if (c->dom_any) {
        return dowDays(c, dim, wd1);
    }
    if (c->dom_star || c->dow_star) {
        return domDays(c, dim, wd1) & dowDays(c, dim, wd1);
    }
    return domDays(c, dim, wd1) | dowDays(c, dim, wd1);
}

bool cronMatchesDay(const struct rc_cron *c, int year, int month, int day)
{
    if (c->every_us > 0 || month < 1 || month > 12 || day < 1 || day > 31 ||
        !(c->months & (1u << month))) {
        return false;
    }
    return (monthDays(c, year, month) >> day) & 1;
}

bool cronMatches(const struct rc_cron *c, const struct rc_civil *t)
{
    return civilValid(t) && cronMatchesDay(c, t->year, t->month, t->day) &&
           ((c->hours >> t->hour) & 1) && ((c->minutes >> t->minute) & 1) &&
           ((c->seconds >> t->second) & 1);
}

bool cronHourIsWildcard(const struct rc_cron *c)
{
    return (c->hours & 0xffffffu) == 0xffffffu;
}

/* ---------------------------------------------------------------------------------------------
 * Searching
 */

struct month_cache {
    int year;
    int month; /* 0: empty */
    uint32_t days;
};

static uint32_t cachedDays(const struct rc_cron *c, struct month_cache *mc, int year, int month)
{
    if (mc->month != month || mc->year != year) {
        mc->year = year;
        mc->month = month;
        mc->days = monthDays(c, year, month);
    }
    return mc->days;
}

/* The smallest set bit >= from, or -1. */
static int lowestFrom(uint64_t bits, int from)
{
    if (from > 63) {
        return -1;
    }
    uint64_t m = bits & (~UINT64_C(0) << from);
    return m != 0 ? __builtin_ctzll(m) : -1;
}

/* The largest set bit <= to, or -1. */
static int highestTo(uint64_t bits, int to)
{
    if (to < 0) {
        return -1;
    }
    uint64_t m = to >= 63 ? bits : bits & ((UINT64_C(2) << to) - 1);
    return m != 0 ? 63 - __builtin_clzll(m) : -1;
}

static void timeLow(struct rc_civil *t)
{
    t->hour = 0;
    t->minute = 0;
    t->second = 0;
}

static void timeHigh(struct rc_civil *t)
{
    t->hour = 23;
    t->minute = 59;
    t->second = 59;
}

/* Carries fields that went one past their maximum upwards; false once past limit_year. */
static bool carryUp(struct rc_civil *t, int limit_year)
{
    if (t->second > 59) {
        t->second = 0;
        t->minute++;
    }
    if (t->minute > 59) {
        t->minute = 0;
        t->hour++;
    }
    if (t->hour > 23) {
        t->hour = 0;
        t->day++;
    }
    if (t->month <= 12 && t->day > civilDaysInMonth(t->year, t->month)) {
        t->day = 1;
        t->month++;
    }
    if (t->month > 12) {
        if (t->year >= limit_year) {
            return false;
        }
        t->month = 1;
        t->year++;
    }
    return t->year <= limit_year;
}

/* Borrows for fields that went one below their minimum; day 31 stands for "the last day". */
static bool carryDown(struct rc_civil *t, int limit_year)
{
    if (t->second < 0) {
        t->second = 59;
        t->minute--;
    }
    if (t->minute < 0) {
        t->minute = 59;
        t->hour--;
    }
    if (t->hour < 0) {
        t->hour = 23;
        t->day--;
    }
    if (t->day < 1) {
        t->day = 31;
        t->month--;
    }
    if (t->month < 1) {
        if (t->year <= limit_year) {
            return false;
        }
        t->month = 12;
        t->year--;
    }
    return t->year >= limit_year;
}

/* Moves *t to the first matching date at or after it; false when it must carry first. */
static bool seekDateUp(const struct rc_cron *c, struct rc_civil *t, struct month_cache *mc)
{
    int m = lowestFrom(c->months, t->month);
    if (m < 0) {
        t->month = 13;
        t->day = 1;
        timeLow(t);
        return false;
    }
    if (m != t->month) {
        t->month = m;
        t->day = 1;
        timeLow(t);
    }
    int d = lowestFrom(cachedDays(c, mc, t->year, t->month), t->day);
    if (d < 0) {
        t->month++;
        t->day = 1;
        timeLow(t);
        return false;
    }
    if (d != t->day) {
        t->day = d;
        timeLow(t);
    }
    return true;
}

static bool seekTimeUp(const struct rc_cron *c, struct rc_civil *t)
{
    int h = lowestFrom(c->hours, t->hour);
    if (h < 0) {
        t->day++;
        timeLow(t);
        return false;
    }
    if (h != t->hour) {
        t->hour = h;
        t->minute = 0;
        t->second = 0;
    }
    int mi = lowestFrom(c->minutes, t->minute);
    if (mi < 0) {
        t->hour++;
        t->minute = 0;
        t->second = 0;
        return false;
    }
    if (mi != t->minute) {
        t->minute = mi;
        t->second = 0;
    }
    int s = lowestFrom(c->seconds, t->second);
    if (s < 0) {
        t->minute++;
        t->second = 0;
        return false;
    }
    t->second = s;
    return true;
}

static bool seekDateDown(const struct rc_cron *c, struct rc_civil *t, struct month_cache *mc)
{
    int m = highestTo(c->months, t->month);
    if (m < 0) {
        t->month = 0;
        t->day = 31;
        timeHigh(t);
        return false;
    }
    if (m != t->month) {
        t->month = m;
        t->day = 31;
        timeHigh(t);
    }
    int d = highestTo(cachedDays(c, mc, t->year, t->month), t->day);
    if (d < 0) {
        t->day = 0;
        timeHigh(t);
        return false;
    }
    if (d != t->day) {
        t->day = d;
        timeHigh(t);
    }
    return true;
}

static bool seekTimeDown(const struct rc_cron *c, struct rc_civil *t)
{
    int h = highestTo(c->hours, t->hour);
    if (h < 0) {
        t->day--;
        timeHigh(t);
        return false;
    }
    if (h != t->hour) {
        t->hour = h;
        t->minute = 59;
        t->second = 59;
    }
    int mi = highestTo(c->minutes, t->minute);
    if (mi < 0) {
        t->hour--;
        t->minute = 59;
        t->second = 59;
        return false;
    }
    if (mi != t->minute) {
        t->minute = mi;
        t->second = 59;
    }
    int s = highestTo(c->seconds, t->second);
    if (s < 0) {
        t->minute--;
        t->second = 59;
        return false;
    }
    t->second = s;
    return true;
}

int cronNextCivil(const struct rc_cron *c, const struct rc_civil *after, int limit_year,
                  struct rc_civil *out)
{
    if (c->every_us > 0 || !civilValid(after)) {
        return RC_EINVAL;
    }
    struct month_cache mc = {0, 0, 0};
    struct rc_civil t = *after;
    t.second++;
    for (;;) {
        if (!carryUp(&t, limit_year)) {
            return RC_ENEVER;
        }
        if (seekDateUp(c, &t, &mc) && seekTimeUp(c, &t)) {
            *out = t;
            return 0;
        }
    }
}

int cronPrevCivil(const struct rc_cron *c, const struct rc_civil *before, int limit_year,
                  struct rc_civil *out)
{
    if (c->every_us > 0 || !civilValid(before)) {
        return RC_EINVAL;
    }
    struct month_cache mc = {0, 0, 0};
    struct rc_civil t = *before;
    t.second--;
    for (;;) {
        if (!carryDown(&t, limit_year)) {
            return RC_ENEVER;
        }
        if (seekDateDown(c, &t, &mc) && seekTimeDown(c, &t)) {
            *out = t;
            return 0;
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * Explaining
 */

enum shape { SHAPE_ALL, SHAPE_STEP, SHAPE_ONE, SHAPE_LIST };

struct component {
    uint64_t bits;
    int lo;
    int hi;
    const char *one;
    const char *many;
    enum shape shape;
    int step;
};

/* "*\/n" sets exactly lo, lo+n, ... up to hi. */
static int stepOf(uint64_t bits, int lo, int hi)
{
    for (int n = 2; n <= hi - lo; n++) {
        uint64_t want = 0;
        for (int v = lo; v <= hi; v += n) {
            want |= UINT64_C(1) << v;
        }
        if (want == bits) {
            return n;
        }
    }
    return 0;
}

static void classify(struct component *k)
{
    uint64_t all = (~UINT64_C(0) >> (63 - k->hi)) & (~UINT64_C(0) << k->lo);
    k->step = 0;
    if ((k->bits & all) == all) {
        k->shape = SHAPE_ALL;
    } else if (popcount(k->bits) == 1) {
        k->shape = SHAPE_ONE;
    } else if ((k->step = stepOf(k->bits, k->lo, k->hi)) != 0) {
        k->shape = SHAPE_STEP;
    } else {
        k->shape = SHAPE_LIST;
    }
}

static bool startsWithEvery(const struct component *k)
{
    return k->shape == SHAPE_ALL || k->shape == SHAPE_STEP;
}

static void putComponent(struct sbuf *b, const struct component *k, bool alone)
{
    int span = k->hi - k->lo + 1;
    switch (k->shape) {
    case SHAPE_ALL:
        putf(b, "every %s", k->one);
        break;
    case SHAPE_STEP:
        /* "every 7 minutes" would be wrong across the hour (56 -> 0 is 4 minutes). */
        if (alone && span % k->step == 0) {
            putf(b, "every %d %s", k->step, k->many);
        } else {
            putf(b, "every %d%s %s", k->step, ordinalSuffix(k->step), k->one);
        }
        break;
    case SHAPE_ONE:
        putf(b, "%s %d", k->one, __builtin_ctzll(k->bits));
        break;
    default:
        putf(b, "%s ", k->many);
        putList(b, k->bits, k->lo, k->hi, NULL, 0, 0, listItems(k->bits, k->lo, k->hi));
        break;
    }
}

/* Second (when not just :00), minute and hour, lowest first, joined by "past". */
static void putTimeGeneric(struct sbuf *b, const struct rc_cron *c)
{
    struct component k[3] = {
        {c->seconds, 0, 59, "second", "seconds", SHAPE_ALL, 0},
        {c->minutes, 0, 59, "minute", "minutes", SHAPE_ALL, 0},
        {c->hours, 0, 23, "hour", "hours", SHAPE_ALL, 0},
    };
    int first = (c->has_seconds && c->seconds != 1) ? 0 : 1;
    int last = 2;
    for (int i = first; i <= last; i++) {
        classify(&k[i]);
    }
    /* "every 5 minutes past every hour" says no more than "every 5 minutes". */
    while (last > first && k[last].shape == SHAPE_ALL && startsWithEvery(&k[last - 1])) {
        last--;
    }
    if (!startsWithEvery(&k[first])) {
        put(b, "at ");
    }
    for (int i = first; i <= last; i++) {
        if (i > first) {
            put(b, " past ");
        }
        putComponent(b, &k[i], first == last);
    }
}

/* "at 09:00", "at 09:00 and 17:00", "at 09:00:30"; false when the time is not that simple. */
static bool putClockTimes(struct sbuf *b, const struct rc_cron *c)
{
    int hours = popcount(c->hours);
    if (popcount(c->minutes) != 1 || popcount(c->seconds) != 1 || hours > 4) {
        return false;
    }
    int minute = __builtin_ctzll(c->minutes);
    int second = __builtin_ctzll(c->seconds);
    int i = 0;
    put(b, "at ");
    for (uint32_t h = c->hours; h != 0; h &= h - 1, i++) {
        putSeparator(b, i, hours);
        putf(b, "%02d:%02d", __builtin_ctz(h), minute);
        if (c->has_seconds) {
            putf(b, ":%02d", second);
        }
    }
    return true;
}

/* "every second during 09:30" */
static bool putDuringMinute(struct sbuf *b, const struct rc_cron *c)
{
    if (!c->has_seconds || popcount(c->minutes) != 1 || popcount(c->hours) != 1) {
        return false;
    }
    struct component k = {c->seconds, 0, 59, "second", "seconds", SHAPE_ALL, 0};
    classify(&k);
    if (k.shape == SHAPE_ONE) {
        return false;
    }
    if (!startsWithEvery(&k)) {
        put(b, "at ");
    }
    putComponent(b, &k, true);
    putf(b, " during %02d:%02d", __builtin_ctz(c->hours), __builtin_ctzll(c->minutes));
    return true;
}

static int domItems(const struct rc_cron *c)
{
    return listItems(c->dom, 1, 31) + popcount(c->dom_last_offsets) + popcount(c->dom_nearest_wd) +
           (c->dom_last_wd ? 1 : 0);
}

/* "day 1", "days 1 and 15", "the last day", "3 days before the last day", ... "of the month" */
static void putDom(struct sbuf *b, const struct rc_cron *c)
{
    int total = domItems(c);
    int i = listItems(c->dom, 1, 31);
    if (i > 0) {
        put(b, popcount(c->dom) == 1 ? "day " : "days ");
        putList(b, c->dom, 1, 31, NULL, 0, 0, total);
    }
    for (uint32_t o = c->dom_last_offsets; o != 0; o &= o - 1, i++) {
        int n = __builtin_ctz(o);
        putSeparator(b, i, total);
        if (n == 0) {
            put(b, "the last day");
        } else {
            putf(b, "the %d%s-to-last day", n + 1, ordinalSuffix(n + 1));
        }
    }
    for (uint32_t w = c->dom_nearest_wd; w != 0; w &= w - 1, i++) {
        putSeparator(b, i, total);
        putf(b, "the weekday nearest day %d", __builtin_ctz(w));
    }
    if (c->dom_last_wd) {
        putSeparator(b, i, total);
        put(b, "the last weekday");
    }
    put(b, " of the month");
}

/* "Monday through Friday", "the last Friday of the month", "the 2nd Monday of the month" */
static void putDow(struct sbuf *b, const struct rc_cron *c)
{
    int specials = popcount(c->dow_last);
    for (int k = 1; k <= 5; k++) {
        specials += popcount(c->dow_nth[k]);
    }
    int i = listItems(c->dow, 0, 6);
    int total = i + specials;
    putList(b, c->dow, 0, 6, dow_full, 0, 0, total);
    for (int k = 1; k <= 5; k++) {
        for (unsigned w = c->dow_nth[k]; w != 0; w &= w - 1, i++) {
            putSeparator(b, i, total);
            putf(b, "the %d%s %s", k, ordinalSuffix(k), dow_full[__builtin_ctz(w)]);
        }
    }
    for (unsigned w = c->dow_last; w != 0; w &= w - 1, i++) {
        putSeparator(b, i, total);
        putf(b, "the last %s", dow_full[__builtin_ctz(w)]);
    }
    if (specials > 0) {
        put(b, " of the month");
    }
}

static void putDays(struct sbuf *b, const struct rc_cron *c, bool clock)
{
    if (!c->dom_any) {
        put(b, " on ");
        putDom(b, c);
    }
    if (!c->dom_any && !c->dow_any) {
        put(b, c->dom_star || c->dow_star ? " and" : " or");
    }
    if (!c->dow_any) {
        put(b, " on ");
        putDow(b, c);
    }
    if (c->dom_any && c->dow_any && clock) {
        put(b, " every day");
    }
    if ((c->months & 0x1ffe) != 0x1ffe) {
        put(b, " in ");
        putList(b, c->months, 1, 12, month_full, 1, 0, listItems(c->months, 1, 12));
    }
}

size_t cronExplain(const struct rc_cron *c, char *buf, size_t len)
{
    struct sbuf b = {buf, len, 0};
    if (buf != NULL && len > 0) {
        buf[0] = '\0';
    } else {
        b.len = 0;
    }
    if (c->every_us > 0) {
        char every[RC_DURATION_MAX];
        durationFormat(c->every_us, every);
        put(&b, "every ");
        put(&b, every);
        return b.used;
    }
    bool clock = putClockTimes(&b, c);
    if (!clock && !putDuringMinute(&b, c)) {
        putTimeGeneric(&b, c);
    }
    putDays(&b, c, clock);
    if (c->tz[0] != '\0') {
        put(&b, " in time zone ");
        put(&b, c->tz);
    }
    return b.used;
}
