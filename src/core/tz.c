#include "tz.h"

#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <unicode/ucal.h>

#include "err.h"

/* 1900-01-01T00:00:00Z and 2201-01-01T00:00:00Z: the span the transition table covers. */
#define TABLE_FROM_S INT64_C(-2208988800)
#define TABLE_TO_S   INT64_C(7289654400)

struct rc_tz {
    char id[RC_TZ_ID_MAX];
    int initial_offset_s; /* in force before at_s[0] (or always, when count is 0) */
    size_t count;
    int64_t *at_s; /* (owned) transition instants, strictly increasing */
    int *offset_s; /* (owned) offset_s[i] in force from at_s[i] */
};

/*
 * The process-wide zone cache, the core's one piece of global state: it only saves reloading
 * immutable data, so no result depends on it. Zones are loaded on first use, never freed and
 * never changed afterwards, so a pointer handed out by tzGet is used without the lock; the
 * mutex guards the list itself while it is searched or grown (and serialises ICU loads).
 */
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rc_tz **cache;
static size_t cache_len;
static size_t cache_cap;

static struct rc_tz utc_zone = {.id = "UTC"};

/* Only what IANA ids use: ICU's UChar conversion needs invariant characters anyway. */
static bool idCharsValid(const char *id)
{
    for (const char *p = id; *p != '\0'; p++) {
        char ch = *p;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '/' || ch == '_' || ch == '-' || ch == '+';
        if (!ok) {
            return false;
        }
    }
    return true;
}

static void toUChars(const char *id, UChar *out, int32_t *len)
{
    int32_t n = 0;
    for (; id[n] != '\0'; n++) {
        out[n] = (UChar)id[n];
    }
    *len = n;
}

/* ICU answers every unknown id with GMT; only a known system id is a real zone. */
static bool icuKnows(const UChar *uid, int32_t len)
{
    UChar canonical[RC_TZ_ID_MAX * 2];
    UBool is_system = 0;
    UErrorCode status = U_ZERO_ERROR;
    ucal_getCanonicalTimeZoneID(
        uid, len, canonical, (int32_t)(sizeof canonical / sizeof *canonical), &is_system, &status);
    return U_SUCCESS(status) && is_system;
}

static int offsetNow(UCalendar *cal, UErrorCode *status)
{
    int32_t zone = ucal_get(cal, UCAL_ZONE_OFFSET, status);
    int32_t dst = ucal_get(cal, UCAL_DST_OFFSET, status);
    return (int)((zone + dst) / 1000);
}

static int appendTransition(struct rc_tz *tz, size_t *cap, int64_t at_s, int offset_s)
{
    if (tz->count == *cap) {
        size_t ncap = *cap == 0 ? 256 : *cap * 2;
        int64_t *at = realloc(tz->at_s, ncap * sizeof *at);
        if (at == NULL) {
            return RC_ENOMEM;
        }
        tz->at_s = at;
        int *off = realloc(tz->offset_s, ncap * sizeof *off);
        if (off == NULL) {
            return RC_ENOMEM;
        }
        tz->offset_s = off;
        *cap = ncap;
    }
    tz->at_s[tz->count] = at_s;
    tz->offset_s[tz->count] = offset_s;
    tz->count++;
    return 0;
}

/*
 * ICU also reports transitions that change only the split between raw and DST offset (or the
 * abbreviation); they do not move wall-clock time, so they are dropped and the table holds only
 * real offset changes — the segments the trigger walk relies on.
 */
static int readTransitions(UCalendar *cal, struct rc_tz *tz, char *err, size_t errlen)
{
    UErrorCode status = U_ZERO_ERROR;
    size_t cap = 0;
    ucal_setMillis(cal, (UDate)TABLE_FROM_S * 1000.0, &status);
    tz->initial_offset_s = offsetNow(cal, &status);
    int prev = tz->initial_offset_s;
    UDate at_ms;
    while (U_SUCCESS(status) &&
           ucal_getTimeZoneTransitionDate(cal, UCAL_TZ_TRANSITION_NEXT, &at_ms, &status) &&
           at_ms < (UDate)TABLE_TO_S * 1000.0) {
        ucal_setMillis(cal, at_ms, &status);
        int off = offsetNow(cal, &status);
        if (U_FAILURE(status) || off == prev) {
            continue;
        }
        int rv = appendTransition(tz, &cap, (int64_t)(at_ms / 1000.0), off);
        if (rv != 0) {
            return errSet(err, errlen, rv, "time zone \"%s\": out of memory", tz->id);
        }
        prev = off;
    }
    if (U_FAILURE(status)) {
        return errSet(err, errlen, RC_ETZ, "time zone \"%s\": ICU error %s", tz->id,
                      u_errorName(status));
    }
    return 0;
}

static void zoneFree(struct rc_tz *tz)
{
    free(tz->at_s);
    free(tz->offset_s);
    free(tz);
}

static int zoneLoad(const char *id, struct rc_tz **out, char *err, size_t errlen)
{
    UChar uid[RC_TZ_ID_MAX];
    int32_t len;
    toUChars(id, uid, &len);
    if (!icuKnows(uid, len)) {
        return errSet(err, errlen, RC_ETZ, "unknown time zone \"%s\"", id);
    }
    struct rc_tz *tz = calloc(1, sizeof *tz);
    if (tz == NULL) {
        return errSet(err, errlen, RC_ENOMEM, "time zone \"%s\": out of memory", id);
    }
    memcpy(tz->id, id, strlen(id) + 1);
    UErrorCode status = U_ZERO_ERROR;
    UCalendar *cal = ucal_open(uid, len, "en_US_POSIX", UCAL_GREGORIAN, &status);
    int rv;
    if (U_FAILURE(status)) {
        rv = errSet(err, errlen, RC_ETZ, "time zone \"%s\": ICU error %s", id, u_errorName(status));
        goto err_after_alloc;
    }
    rv = readTransitions(cal, tz, err, errlen);
    ucal_close(cal);
    if (rv != 0) {
        goto err_after_alloc;
    }
    *out = tz;
    return 0;

err_after_alloc:
    assert(rv != 0);
    zoneFree(tz);
    return rv;
}

static struct rc_tz *cacheFind(const char *id)
{
    for (size_t i = 0; i < cache_len; i++) {
        if (strcmp(cache[i]->id, id) == 0) {
            return cache[i];
        }
    }
    return NULL;
}

static int cacheAdd(struct rc_tz *tz)
{
    if (cache_len == cache_cap) {
        size_t ncap = cache_cap == 0 ? 16 : cache_cap * 2;
        struct rc_tz **grown = realloc(cache, ncap * sizeof *grown);
        if (grown == NULL) {
            return RC_ENOMEM;
        }
        cache = grown;
        cache_cap = ncap;
    }
    cache[cache_len++] = tz;
    return 0;
}

static int getLocked(const char *id, const struct rc_tz **out, char *err, size_t errlen)
{
    struct rc_tz *tz = cacheFind(id);
    if (tz != NULL) {
        *out = tz;
        return 0;
    }
    int rv = zoneLoad(id, &tz, err, errlen);
    if (rv != 0) {
        return rv;
    }
    if (cacheAdd(tz) != 0) {
        zoneFree(tz);
        return errSet(err, errlen, RC_ENOMEM, "time zone \"%s\": out of memory", id);
    }
    *out = tz;
    return 0;
}

int tzGet(const char *id, const struct rc_tz **out, char *err, size_t errlen)
{
    if (id == NULL || id[0] == '\0' || strcmp(id, "UTC") == 0) {
        *out = &utc_zone;
        return 0;
    }
    if (strlen(id) >= RC_TZ_ID_MAX) {
        return errSet(err, errlen, RC_ETZ,
                      "unknown time zone \"%.32s...\": id longer than %d bytes", id,
                      RC_TZ_ID_MAX - 1);
    }
    if (!idCharsValid(id)) {
        return errSet(err, errlen, RC_ETZ, "unknown time zone \"%s\"", id);
    }
    pthread_mutex_lock(&cache_lock);
    int rv = getLocked(id, out, err, errlen);
    pthread_mutex_unlock(&cache_lock);
    return rv;
}

const char *tzName(const struct rc_tz *tz)
{
    return tz->id;
}

/* Index of the last transition at or before the instant, or -1 when there is none. */
static ptrdiff_t lastAtOrBefore(const struct rc_tz *tz, int64_t unix_s)
{
    size_t lo = 0;
    size_t hi = tz->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->at_s[mid] <= unix_s) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return (ptrdiff_t)lo - 1;
}

static int offsetAfter(const struct rc_tz *tz, ptrdiff_t i)
{
    return i < 0 ? tz->initial_offset_s : tz->offset_s[i];
}

int tzOffsetAt(const struct rc_tz *tz, int64_t unix_s)
{
    return offsetAfter(tz, lastAtOrBefore(tz, unix_s));
}

void tzToCivil(const struct rc_tz *tz, int64_t unix_s, struct rc_civil *out, int *offset_s)
{
    int off = tzOffsetAt(tz, unix_s);
    civilFromSeconds(unix_s + off, out);
    if (offset_s != NULL) {
        *offset_s = off;
    }
}

void tzSegmentAt(const struct rc_tz *tz, int64_t unix_s, struct rc_tz_segment *out)
{
    ptrdiff_t i = lastAtOrBefore(tz, unix_s);
    out->offset_s = offsetAfter(tz, i);
    out->from_s = i < 0 ? INT64_MIN : tz->at_s[i];
    out->prev_offset_s = i < 0 ? out->offset_s : offsetAfter(tz, i - 1);
    out->to_s = (size_t)(i + 1) < tz->count ? tz->at_s[i + 1] : INT64_MAX;
}

int tzNextTransition(const struct rc_tz *tz, int64_t unix_s, int64_t *at, int *before_s,
                     int *after_s)
{
    ptrdiff_t i = lastAtOrBefore(tz, unix_s) + 1;
    if ((size_t)i >= tz->count) {
        return RC_ENOTFOUND;
    }
    *at = tz->at_s[i];
    *before_s = offsetAfter(tz, i - 1);
    *after_s = tz->offset_s[i];
    return 0;
}

/* The transition whose skipped wall-clock range [at + before, at + after) holds local. */
static int64_t gapEnd(const struct rc_tz *tz, ptrdiff_t first, ptrdiff_t last, int64_t local)
{
    for (ptrdiff_t i = first < 0 ? 0 : first; i <= last; i++) {
        int64_t at = tz->at_s[i];
        if (at + offsetAfter(tz, i - 1) <= local && local < at + tz->offset_s[i]) {
            return at;
        }
    }
    return local - offsetAfter(tz, last);
}

/*
 * Offsets are below a day in magnitude, so every instant that reads `local` lies within a day
 * of `local` taken as UTC: only the segments overlapping that window are candidates, and
 * segment i holds a reading of local exactly when local - offset_i falls inside it. Segments
 * are ordered, so the readings come out in increasing order.
 */
int tzFromCivil(const struct rc_tz *tz, const struct rc_civil *c, int64_t out[2])
{
    int64_t local = civilToSeconds(c);
    ptrdiff_t first = lastAtOrBefore(tz, local - 86400);
    ptrdiff_t last = lastAtOrBefore(tz, local + 86400);
    int n = 0;
    for (ptrdiff_t i = first; i <= last && n < 2; i++) {
        int64_t u = local - offsetAfter(tz, i);
        if (lastAtOrBefore(tz, u) == i) {
            out[n++] = u;
        }
    }
    if (n == 0) {
        out[0] = gapEnd(tz, first, last, local);
    }
    return n;
}
