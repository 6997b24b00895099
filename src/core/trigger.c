#include "trigger.h"

#include <string.h>

#include "err.h"
#include "hash.h"

/*
 * Cron triggers are computed in whole seconds over years 1..9999 (UTC): far beyond any real
 * schedule, well inside what the civil calendar and an int64 microsecond count can hold.
 */
#define CRON_MIN_S   INT64_C(-62135596800) /* 0001-01-01T00:00:00Z */
#define CRON_MAX_S   INT64_C(253402300799) /* 9999-12-31T23:59:59Z */
#define SEARCH_YEARS 400

static void initBase(struct rc_trigger *t, enum rc_trigger_kind kind)
{
    memset(t, 0, sizeof *t);
    t->kind = kind;
    t->dst_gap = RC_DST_GAP_SHIFT;
    t->dst_repeat = RC_DST_REPEAT_ONCE;
    t->start_us = RC_TIME_NONE_LO;
    t->end_us = RC_TIME_NONE_HI;
}

int triggerInitInterval(struct rc_trigger *t, int64_t interval_us, int64_t anchor_us)
{
    if (interval_us <= 0) {
        return RC_EINVAL;
    }
    initBase(t, RC_TRIGGER_INTERVAL);
    t->interval_us = interval_us;
    t->anchor_us = anchor_us;
    return 0;
}

void triggerInitOnce(struct rc_trigger *t, int64_t at_us)
{
    initBase(t, RC_TRIGGER_ONCE);
    t->at_us = at_us;
}

/* The zone named by the expression's CRON_TZ= prefix wins over an empty tz_id argument. */
static int pickZone(const struct rc_cron *c, const char *tz_id, const char **zone, char *err,
                    size_t errlen)
{
    const char *arg = tz_id == NULL ? "" : tz_id;
    if (c->tz[0] == '\0') {
        *zone = arg;
        return 0;
    }
    if (arg[0] != '\0' && strcmp(arg, c->tz) != 0) {
        return errSet(err, errlen, RC_EPARSE,
                      "conflicting time zones: the expression says CRON_TZ=%s, the trigger says %s",
                      c->tz, arg);
    }
    *zone = c->tz;
    return 0;
}

int triggerInitCron(struct rc_trigger *t, const char *expr, const char *tz_id, int64_t anchor_us,
                    char *err, size_t errlen)
{
    initBase(t, RC_TRIGGER_CRON);
    int rv = cronParse(expr, &t->cron, err, errlen);
    if (rv != 0) {
        return rv;
    }
    const char *zone = "";
    rv = pickZone(&t->cron, tz_id, &zone, err, errlen);
    if (rv != 0) {
        return rv;
    }
    rv = tzGet(zone, &t->tz, err, errlen);
    if (rv != 0) {
        return rv;
    }
    if (t->cron.every_us > 0) {
        t->kind = RC_TRIGGER_INTERVAL;
        t->interval_us = t->cron.every_us;
        t->anchor_us = anchor_us;
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Interval and one-off: arithmetic. 128-bit intermediates keep anchor + k * interval exact for
 * any int64 inputs, so bounds near INT64_MIN / INT64_MAX need no special cases.
 */

static __int128 floorDiv128(__int128 a, int64_t b)
{
    __int128 q = a / b;
    if (a % b != 0 && a < 0) {
        q--;
    }
    return q;
}

static __int128 ceilDiv128(__int128 a, int64_t b)
{
    return -floorDiv128(-a, b);
}

/* The first k with anchor + k * interval >= lo. */
static __int128 stepAtOrAfter(const struct rc_trigger *t, __int128 lo)
{
    return ceilDiv128(lo - t->anchor_us, t->interval_us);
}

/* The last k with anchor + k * interval <= hi. */
static __int128 stepAtOrBefore(const struct rc_trigger *t, __int128 hi)
{
    return floorDiv128(hi - t->anchor_us, t->interval_us);
}

static __int128 stepInstant(const struct rc_trigger *t, __int128 k)
{
    return t->anchor_us + k * t->interval_us;
}

static __int128 max128(__int128 a, __int128 b)
{
    return a > b ? a : b;
}

static __int128 min128(__int128 a, __int128 b)
{
    return a < b ? a : b;
}

static int intervalNext(const struct rc_trigger *t, int64_t after_us, int64_t *out_us)
{
    __int128 lo = max128((__int128)after_us + 1, t->start_us);
    __int128 u = stepInstant(t, stepAtOrAfter(t, lo));
    if (u > t->end_us) {
        return RC_ENEVER;
    }
    *out_us = (int64_t)u;
    return 0;
}

static int intervalPrev(const struct rc_trigger *t, int64_t before_us, int64_t *out_us)
{
    __int128 hi = min128((__int128)before_us - 1, t->end_us);
    __int128 u = stepInstant(t, stepAtOrBefore(t, hi));
    if (u < t->start_us) {
        return RC_ENEVER;
    }
    *out_us = (int64_t)u;
    return 0;
}

static uint64_t intervalCount(const struct rc_trigger *t, int64_t from_us, int64_t to_us,
                              int64_t *last_us)
{
    __int128 lo = max128((__int128)from_us + 1, t->start_us);
    __int128 hi = min128(to_us, t->end_us);
    if (lo > hi) {
        return 0;
    }
    __int128 k_lo = stepAtOrAfter(t, lo);
    __int128 k_hi = stepAtOrBefore(t, hi);
    if (k_hi < k_lo) {
        return 0;
    }
    *last_us = (int64_t)stepInstant(t, k_hi);
    return (uint64_t)(k_hi - k_lo + 1);
}

static bool onceIn(const struct rc_trigger *t, __int128 lo, __int128 hi)
{
    return t->at_us >= lo && t->at_us <= hi && t->at_us >= t->start_us && t->at_us <= t->end_us;
}

static int onceNext(const struct rc_trigger *t, int64_t after_us, int64_t *out_us)
{
    if (!onceIn(t, (__int128)after_us + 1, INT64_MAX)) {
        return RC_ENEVER;
    }
    *out_us = t->at_us;
    return 0;
}

static int oncePrev(const struct rc_trigger *t, int64_t before_us, int64_t *out_us)
{
    if (!onceIn(t, INT64_MIN, (__int128)before_us - 1)) {
        return RC_ENEVER;
    }
    *out_us = t->at_us;
    return 0;
}

static uint64_t onceCount(const struct rc_trigger *t, int64_t from_us, int64_t to_us,
                          int64_t *last_us)
{
    if (!onceIn(t, (__int128)from_us + 1, to_us)) {
        return 0;
    }
    *last_us = t->at_us;
    return 1;
}

/* ---------------------------------------------------------------------------------------------
 * Cron: the zone's constant-offset segments.
 *
 * Within a segment of offset o over instants [a, b) the wall clock reads [a + o, b + o), so the
 * instants of the segment are the matches of the expression in that civil range, minus o.
 * Walking segment by segment turns the DST rules of trigger.h into civil-range limits:
 *   - a spring-forward gap is the civil range [a + prev, a + o) that no segment covers; matches
 *     there vanish (wildcard hour, SKIP) or become the single instant a (SHIFT);
 *   - a fall-back repeat is the start [a + o, a + prev) of the later segment's civil range,
 *     already covered by the earlier segment; a fixed-time ONCE trigger starts its civil range
 *     at a + prev instead.
 */

/* Every civil time strictly between key and match is known not to match (in the direction of
 * the search), so a neighbouring segment usually needs no new search. */
struct civil_memo {
    bool valid;
    int rv;
    int64_t key;
    int64_t match;
};

struct cron_walk {
    const struct rc_trigger *t;
    const struct rc_tz *tz;
    bool fixed;     /* the hour field is not a wildcard: dst_gap / dst_repeat apply */
    int limit_year; /* the civil search gives up past this year (RC_ENEVER) */
    struct civil_memo memo;
};

static void walkInit(struct cron_walk *w, const struct rc_trigger *t, int64_t near_s, int years)
{
    w->t = t;
    w->fixed = !cronHourIsWildcard(&t->cron);
    w->memo.valid = false;
    if (t->tz == NULL) {
        tzGet("", &w->tz, NULL, 0);
    } else {
        w->tz = t->tz;
    }
    struct rc_civil c;
    tzToCivil(w->tz, near_s, &c, NULL);
    w->limit_year = c.year + years;
}

static int remember(struct civil_memo *m, int64_t key, int rv, const struct rc_civil *found,
                    int64_t *match)
{
    m->valid = true;
    m->rv = rv;
    m->key = key;
    m->match = rv == 0 ? civilToSeconds(found) : 0;
    *match = m->match;
    return rv;
}

/* The first matching civil time (seconds) strictly after civil time x. */
static int civilNext(struct cron_walk *w, int64_t x, int64_t *match)
{
    const struct civil_memo *m = &w->memo;
    if (m->valid && m->key <= x && (m->rv != 0 || x < m->match)) {
        *match = m->match;
        return m->rv;
    }
    struct rc_civil after, found;
    civilFromSeconds(x, &after);
    int rv = cronNextCivil(&w->t->cron, &after, w->limit_year, &found);
    return remember(&w->memo, x, rv, &found, match);
}

/* The last matching civil time strictly before civil time x (a walk searches one way only, so
 * the memo always holds a search in the same direction). */
static int civilPrev(struct cron_walk *w, int64_t x, int64_t *match)
{
    const struct civil_memo *m = &w->memo;
    if (m->valid && m->key >= x && (m->rv != 0 || x > m->match)) {
        *match = m->match;
        return m->rv;
    }
    struct rc_civil before, found;
    civilFromSeconds(x, &before);
    int rv = cronPrevCivil(&w->t->cron, &before, w->limit_year, &found);
    return remember(&w->memo, x, rv, &found, match);
}

static bool segIsGapEnd(const struct cron_walk *w, const struct rc_tz_segment *s)
{
    return w->fixed && w->t->dst_gap == RC_DST_GAP_SHIFT && s->from_s != INT64_MIN &&
           s->offset_s > s->prev_offset_s;
}

/* The lowest civil time of the segment the trigger uses (see the block comment above). */
static int64_t segCivilFrom(const struct cron_walk *w, const struct rc_tz_segment *s)
{
    if (s->from_s == INT64_MIN) {
        return INT64_MIN;
    }
    bool skip_repeat =
        w->fixed && w->t->dst_repeat == RC_DST_REPEAT_ONCE && s->offset_s < s->prev_offset_s;
    return s->from_s + (skip_repeat ? s->prev_offset_s : s->offset_s);
}

/*
 * Whether a shifted instant fires at s->from_s: some match lies in the gap before it. The
 * search stops at the gap's year and bypasses the memo, so walks in either direction share it.
 */
static bool gapHasMatch(const struct cron_walk *w, const struct rc_tz_segment *s)
{
    int64_t gap_from = s->from_s + s->prev_offset_s;
    int64_t gap_to = s->from_s + s->offset_s;
    struct rc_civil after, found;
    civilFromSeconds(gap_from - 1, &after);
    civilFromSeconds(gap_to, &found);
    int limit = found.year;
    if (cronNextCivil(&w->t->cron, &after, limit, &found) != 0) {
        return false;
    }
    return civilToSeconds(&found) < gap_to;
}

/* The first instant of segment s strictly after after_s; RC_ENOTFOUND to try the next one. */
static int segNext(struct cron_walk *w, const struct rc_tz_segment *s, int64_t after_s,
                   int64_t *out_s)
{
    if (s->from_s > after_s && segIsGapEnd(w, s) && gapHasMatch(w, s)) {
        *out_s = s->from_s;
        return 0;
    }
    int64_t x = after_s + s->offset_s;
    int64_t civil_from = segCivilFrom(w, s);
    if (civil_from != INT64_MIN && civil_from - 1 > x) {
        x = civil_from - 1;
    }
    int64_t match;
    int rv = civilNext(w, x, &match);
    if (rv != 0) {
        return rv;
    }
    if (s->to_s != INT64_MAX && match - s->offset_s >= s->to_s) {
        return RC_ENOTFOUND;
    }
    *out_s = match - s->offset_s;
    return 0;
}

/* The last instant of segment s strictly before before_s; RC_ENOTFOUND to try the previous. */
static int segPrev(struct cron_walk *w, const struct rc_tz_segment *s, int64_t before_s,
                   int64_t *out_s)
{
    int64_t upper = s->to_s < before_s ? s->to_s : before_s;
    int64_t match;
    int rv = civilPrev(w, upper + s->offset_s, &match);
    if (rv != 0) {
        return rv;
    }
    int64_t civil_from = segCivilFrom(w, s);
    if (civil_from == INT64_MIN || match >= civil_from) {
        *out_s = match - s->offset_s;
        return 0;
    }
    if (segIsGapEnd(w, s) && gapHasMatch(w, s)) {
        *out_s = s->from_s;
        return 0;
    }
    return RC_ENOTFOUND;
}

static int cronNextS(const struct rc_trigger *t, int64_t after_s, int64_t *out_s)
{
    struct cron_walk w;
    walkInit(&w, t, after_s, SEARCH_YEARS);
    struct rc_tz_segment s;
    tzSegmentAt(w.tz, after_s, &s);
    for (;;) {
        int rv = segNext(&w, &s, after_s, out_s);
        if (rv != RC_ENOTFOUND) {
            return rv;
        }
        tzSegmentAt(w.tz, s.to_s, &s);
    }
}

static int cronPrevS(const struct rc_trigger *t, int64_t before_s, int64_t *out_s)
{
    struct cron_walk w;
    walkInit(&w, t, before_s - 1, -SEARCH_YEARS);
    struct rc_tz_segment s;
    tzSegmentAt(w.tz, before_s - 1, &s);
    for (;;) {
        int rv = segPrev(&w, &s, before_s, out_s);
        if (rv != RC_ENOTFOUND) {
            return rv;
        }
        tzSegmentAt(w.tz, s.from_s - 1, &s);
    }
}

static int64_t floorSec(int64_t us)
{
    return civilFloorDiv(us, RC_USEC_PER_SEC);
}

/* Instants are whole seconds: u * 1e6 > after_us exactly when u > floor(after_us / 1e6). */
static int cronNext(const struct rc_trigger *t, int64_t after_us, int64_t *out_us)
{
    int64_t lo_us = t->start_us > after_us ? t->start_us - 1 : after_us;
    int64_t after_s = floorSec(lo_us);
    if (after_s >= CRON_MAX_S) {
        return RC_ENEVER;
    }
    if (after_s < CRON_MIN_S - 1) {
        after_s = CRON_MIN_S - 1;
    }
    int64_t u;
    int rv = cronNextS(t, after_s, &u);
    if (rv != 0) {
        return rv;
    }
    if (u > CRON_MAX_S || u * RC_USEC_PER_SEC > t->end_us) {
        return RC_ENEVER;
    }
    *out_us = u * RC_USEC_PER_SEC;
    return 0;
}

/* u * 1e6 < before_us exactly when u <= floor((before_us - 1) / 1e6). */
static int cronPrev(const struct rc_trigger *t, int64_t before_us, int64_t *out_us)
{
    if (before_us == INT64_MIN) {
        return RC_ENEVER;
    }
    int64_t hi_us = t->end_us < before_us - 1 ? t->end_us : before_us - 1;
    int64_t before_s = floorSec(hi_us) + 1;
    if (before_s <= CRON_MIN_S) {
        return RC_ENEVER;
    }
    if (before_s > CRON_MAX_S + 1) {
        before_s = CRON_MAX_S + 1;
    }
    int64_t u;
    int rv = cronPrevS(t, before_s, &u);
    if (rv != 0) {
        return rv;
    }
    if (u < CRON_MIN_S || u * RC_USEC_PER_SEC < t->start_us) {
        return RC_ENEVER;
    }
    *out_us = u * RC_USEC_PER_SEC;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Cron counting. Enumerating instant by instant is too slow for an every-second job after a
 * long outage, so matches are counted per civil day from the field bit masks: a matching day
 * holds H * M * S matches, and a partial day is a difference of two prefix counts. The segment
 * walk and its gap/repeat limits are the same as for next, so the count agrees with it.
 */

static int popcount64(uint64_t bits)
{
    return __builtin_popcountll(bits);
}

static uint64_t below(int n)
{
    return n >= 64 ? ~UINT64_C(0) : (UINT64_C(1) << n) - 1;
}

/* Matches in the first `sod` seconds (0..86400) of a matching day. */
static uint64_t dayPrefix(const struct rc_cron *c, int64_t sod)
{
    uint64_t per_minute = (uint64_t)popcount64(c->seconds);
    uint64_t per_hour = (uint64_t)popcount64(c->minutes) * per_minute;
    if (sod >= 86400) {
        return (uint64_t)popcount64(c->hours & 0xffffffu) * per_hour;
    }
    int h = (int)(sod / 3600);
    int m = (int)(sod % 3600 / 60);
    int s = (int)(sod % 60);
    uint64_t n = (uint64_t)popcount64(c->hours & below(h)) * per_hour;
    if (!((c->hours >> h) & 1)) {
        return n;
    }
    n += (uint64_t)popcount64(c->minutes & below(m)) * per_minute;
    if (!((c->minutes >> m) & 1)) {
        return n;
    }
    return n + (uint64_t)popcount64(c->seconds & below(s));
}

/* Matching civil times in [lo, hi] (seconds, lo <= hi). */
static uint64_t countCivil(const struct rc_cron *c, int64_t lo, int64_t hi)
{
    int64_t d_lo = civilFloorDiv(lo, 86400);
    int64_t d_hi = civilFloorDiv(hi, 86400);
    uint64_t n = 0;
    for (int64_t d = d_lo; d <= d_hi; d++) {
        int y, mo, day;
        civilDateFromDays(d, &y, &mo, &day);
        if (!cronMatchesDay(c, y, mo, day)) {
            continue;
        }
        int64_t from = d == d_lo ? lo - d * 86400 : 0;
        int64_t to = d == d_hi ? hi - d * 86400 + 1 : 86400;
        n += dayPrefix(c, to) - dayPrefix(c, from);
    }
    return n;
}

static bool civilMatches(const struct rc_cron *c, int64_t x)
{
    struct rc_civil t;
    civilFromSeconds(x, &t);
    return cronMatches(c, &t);
}

/* Instants of segment s in (after_s, to_s]. */
static uint64_t segCount(const struct cron_walk *w, const struct rc_tz_segment *s, int64_t after_s,
                         int64_t to_s)
{
    const struct rc_cron *c = &w->t->cron;
    uint64_t n = 0;
    int64_t lo = s->from_s > after_s ? s->from_s : after_s + 1;
    int64_t hi = s->to_s - 1 < to_s ? s->to_s - 1 : to_s;
    if (s->from_s > after_s && segIsGapEnd(w, s) && !civilMatches(c, s->from_s + s->offset_s) &&
        gapHasMatch(w, s)) {
        n++;
    }
    int64_t civil_lo = lo + s->offset_s;
    int64_t civil_from = segCivilFrom(w, s);
    if (civil_from != INT64_MIN && civil_from > civil_lo) {
        civil_lo = civil_from;
    }
    if (civil_lo <= hi + s->offset_s) {
        n += countCivil(c, civil_lo, hi + s->offset_s);
    }
    return n;
}

static uint64_t cronCount(const struct rc_trigger *t, int64_t from_us, int64_t to_us,
                          int64_t *last_us)
{
    int64_t lo_us = t->start_us > from_us ? t->start_us - 1 : from_us;
    int64_t hi_us = t->end_us < to_us ? t->end_us : to_us;
    if (lo_us >= hi_us) {
        return 0;
    }
    int64_t after_s = floorSec(lo_us);
    int64_t to_s = floorSec(hi_us);
    after_s = after_s < CRON_MIN_S - 1 ? CRON_MIN_S - 1 : after_s;
    to_s = to_s > CRON_MAX_S ? CRON_MAX_S : to_s;
    if (after_s >= to_s) {
        return 0;
    }
    struct cron_walk w;
    walkInit(&w, t, after_s, SEARCH_YEARS);
    uint64_t n = 0;
    struct rc_tz_segment s;
    tzSegmentAt(w.tz, after_s + 1, &s);
    for (;;) {
        n += segCount(&w, &s, after_s, to_s);
        if (s.to_s > to_s) {
            break;
        }
        tzSegmentAt(w.tz, s.to_s, &s);
    }
    if (n > 0) {
        int64_t last_s;
        if (cronPrevS(t, to_s + 1, &last_s) == 0) {
            *last_us = last_s * RC_USEC_PER_SEC;
        }
    }
    return n;
}

/* ---------------------------------------------------------------------------------------------
 * Dispatch.
 */

int triggerNext(const struct rc_trigger *t, int64_t after_us, int64_t *out_us)
{
    switch (t->kind) {
    case RC_TRIGGER_CRON:
        return cronNext(t, after_us, out_us);
    case RC_TRIGGER_INTERVAL:
        return t->interval_us > 0 ? intervalNext(t, after_us, out_us) : RC_EINVAL;
    case RC_TRIGGER_ONCE:
        return onceNext(t, after_us, out_us);
    }
    return RC_EINVAL;
}

int triggerPrev(const struct rc_trigger *t, int64_t before_us, int64_t *out_us)
{
    switch (t->kind) {
    case RC_TRIGGER_CRON:
        return cronPrev(t, before_us, out_us);
    case RC_TRIGGER_INTERVAL:
        return t->interval_us > 0 ? intervalPrev(t, before_us, out_us) : RC_EINVAL;
    case RC_TRIGGER_ONCE:
        return oncePrev(t, before_us, out_us);
    }
    return RC_EINVAL;
}

uint64_t triggerCount(const struct rc_trigger *t, int64_t from_us, int64_t to_us, int64_t *last_us)
{
    if (from_us >= to_us) {
        return 0;
    }
    switch (t->kind) {
    case RC_TRIGGER_CRON:
        return cronCount(t, from_us, to_us, last_us);
    case RC_TRIGGER_INTERVAL:
        return t->interval_us > 0 ? intervalCount(t, from_us, to_us, last_us) : 0;
    case RC_TRIGGER_ONCE:
        return onceCount(t, from_us, to_us, last_us);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Jitter: a pure function of (key, instant), so every leader computes the same start time for
 * the same fire and a replayed decision does not move (DESIGN.md §1.5).
 */

int64_t triggerJitter(const struct rc_trigger *t, const char *key, int64_t instant_us)
{
    if (t->jitter_us <= 0) {
        return 0;
    }
    uint64_t x = hashSplitmix(hashFnvStr(RC_HASH_FNV_OFFSET, key == NULL ? "" : key) ^
                              hashSplitmix((uint64_t)instant_us));
    /* Lemire's multiply-shift maps x onto [0, jitter] with a bias below 2^-63 per value. */
    uint64_t span = (uint64_t)t->jitter_us + 1;
    uint64_t delay = (uint64_t)(((unsigned __int128)x * span) >> 64);
    int64_t next;
    if (triggerNext(t, instant_us, &next) == 0) {
        uint64_t room = (uint64_t)next - (uint64_t)instant_us - 1;
        if (delay > room) {
            delay = room;
        }
    }
    return (int64_t)delay;
}
