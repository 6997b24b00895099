/*
 * Fuzz triggers through their public API (src/core/trigger.h), above all the time-zone / DST
 * walk of cron triggers (src/core/trigger.c, src/core/tz.c); fuzz_cron covers the parser and
 * the civil search beneath it.
 *
 * Input (missing bytes read as 0):
 *   [0]      zone, from zones[] below
 *   [1]      bit 0 dst_gap SKIP, bit 1 dst_repeat BOTH, bits 2-3 kind (0-1 cron, 2 interval,
 *            3 one-off), bit 4 start bound, bit 5 end bound, bit 6 jitter, bit 7 the zone as a
 *            CRON_TZ= prefix instead of the tz argument
 *   [2]      bit 0 start near one of the zone's offset changes (bits 1-2: which one of the
 *            year), bit 3 a fractional second, bit 5 a raw 64-bit start (interval, one-off)
 *   [3-4]    year 1900-2200;  [5-8] offset from the change or from Jan 1;  [9-11] microseconds
 *   [12-13]  start bound, minutes from the start (signed);  [14-15] end bound, 10 minutes after
 *   [16-17]  jitter in 50 ms;  [18] a counting window in 20 minutes;  [19] chain length 1-8
 *   [20-]    the cron expression; for the other kinds, interval [20-27], anchor or one-off
 *            instant [28-35] and the raw start [36-43]
 *
 * Whatever initialises must keep trigger.h's promises: next strictly after and prev strictly
 * before, within the bounds, whole seconds for cron; prev(next) and next(prev) agree; counting
 * agrees with stepping; jitter stays in [0, jitter] and before the next instant. Cron instants
 * must also be exactly those of an independent oracle that resolves every matching wall-clock
 * time with tzFromCivil and applies the DST rules (trigger.h, docs/scheduling.md).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/civil.h"
#include "core/cron.h"
#include "core/err.h"
#include "core/trigger.h"
#include "core/tz.h"

#include "fuzz_check.h"

#define HEADER     20
#define TEXT_MAX   200
#define CHAIN_MAX  8
#define STEP_MAX   64   /* instants stepped through to check a count */
#define ORACLE_MAX 4096 /* matching civil times the oracle resolves before giving up */
#define SEC        RC_USEC_PER_SEC
#define DAY_S      INT64_C(86400)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Zones with every kind of change: 1 h and 30 min DST, southern hemisphere, a skipped day
 * (Apia 2011), negative DST (Dublin, Casablanca), 2 h DST (Troll), changes at midnight (Sao
 * Paulo) or in the evening (Nuuk), offsets of odd minutes or seconds before 1972 (Amsterdam,
 * Monrovia, Moscow), no DST; "" is UTC by the empty id. */
static const char *const zones[] = {
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "America/Sao_Paulo",
    "Pacific/Apia",
    "Asia/Tokyo",
    "UTC",
    "Asia/Kathmandu",
    "America/St_Johns",
    "Africa/Casablanca",
    "Pacific/Chatham",
    "Antarctica/Troll",
    "Europe/Dublin",
    "America/Santiago",
    "Australia/Adelaide",
    "",
    "Europe/Amsterdam",
    "Africa/Monrovia",
    "Europe/Moscow",
    "America/Nuuk",
};

#define NZONES (sizeof zones / sizeof zones[0])

struct input {
    uint8_t head[HEADER];
    char text[TEXT_MAX + 1];
    uint8_t tail[24]; /* text bytes as numbers, for the non-cron kinds */
};

static uint64_t le(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = n; i > 0; i--) {
        v = v << 8 | p[i - 1];
    }
    return v;
}

static int64_t floorSec(int64_t us)
{
    return civilFloorDiv(us, SEC);
}

static int64_t satAdd(int64_t a, int64_t b)
{
    __int128 s = (__int128)a + b;
    return s > INT64_MAX ? INT64_MAX : s < INT64_MIN ? INT64_MIN : (int64_t)s;
}

static bool inBounds(const struct rc_trigger *t, int64_t us)
{
    return us >= t->start_us && us <= t->end_us;
}

/* ---------------------------------------------------------------------------------------------
 * The oracle: cron instants from civil time, by the rules of trigger.h.
 */

enum { ORACLE_NONE, ORACLE_FOUND, ORACLE_GAVE_UP };

/* The smallest and largest offsets in force over the instants [lo_s, hi_s]. */
static bool offsetRange(const struct rc_tz *tz, int64_t lo_s, int64_t hi_s, int *min, int *max)
{
    struct rc_tz_segment s;
    tzSegmentAt(tz, lo_s, &s);
    *min = *max = s.offset_s;
    for (int i = 0; s.to_s <= hi_s; i++) {
        if (i == ORACLE_MAX) {
            return false;
        }
        tzSegmentAt(tz, s.to_s, &s);
        *min = s.offset_s < *min ? s.offset_s : *min;
        *max = s.offset_s > *max ? s.offset_s : *max;
    }
    return true;
}

static void consider(const struct rc_trigger *t, int64_t u, int64_t lo_s, int64_t hi_s, bool *found,
                     int64_t *best)
{
    if (u > lo_s && u <= hi_s && inBounds(t, u * SEC) && (!*found || u < *best)) {
        *found = true;
        *best = u;
    }
}

/*
 * The first instant (seconds) in (lo_s, hi_s] the rules give. An instant u reads u + off(u),
 * and a time shifted out of a gap ending at u read at least u + the offset before it, so every
 * wall-clock time that can give an instant in the window lies in (lo_s + min, hi_s + max].
 */
static int oracleFirst(const struct rc_trigger *t, int64_t lo_s, int64_t hi_s, int64_t *first_s)
{
    int min, max;
    if (lo_s >= hi_s) {
        return ORACLE_NONE;
    }
    if (!offsetRange(t->tz, lo_s, hi_s, &min, &max)) {
        return ORACLE_GAVE_UP;
    }
    bool fixed = !cronHourIsWildcard(&t->cron);
    int64_t civil_hi = hi_s + max;
    struct rc_civil c, m;
    civilFromSeconds(civil_hi, &m);
    int limit = m.year;
    civilFromSeconds(lo_s + min, &c);
    bool found = false;
    int64_t best = 0;
    for (int i = 0; i < ORACLE_MAX; i++) {
        if (cronNextCivil(&t->cron, &c, limit, &m) != 0 || civilToSeconds(&m) > civil_hi) {
            *first_s = best;
            return found ? ORACLE_FOUND : ORACLE_NONE;
        }
        int64_t u[2];
        int k = tzFromCivil(t->tz, &m, u);
        if (k >= 1 || (fixed && t->dst_gap == RC_DST_GAP_SHIFT)) {
            consider(t, u[0], lo_s, hi_s, &found, &best);
        }
        if (k == 2 && (!fixed || t->dst_repeat == RC_DST_REPEAT_BOTH)) {
            consider(t, u[1], lo_s, hi_s, &found, &best);
        }
        c = m;
    }
    return ORACLE_GAVE_UP;
}

/* The oracle's first instant after after_us is next_us. */
static void oracleNext(const struct rc_trigger *t, int64_t after_us, int64_t next_us)
{
    int64_t first;
    int rv = oracleFirst(t, floorSec(after_us), next_us / SEC, &first);
    CHECK(rv == ORACLE_GAVE_UP || (rv == ORACLE_FOUND && first * SEC == next_us));
}

/* The oracle's last instant before before_us is prev_us: prev_us is an instant, and no
 * instant lies in (prev_us, before_us). */
static void oraclePrev(const struct rc_trigger *t, int64_t before_us, int64_t prev_us)
{
    int64_t first;
    int rv = oracleFirst(t, prev_us / SEC - 1, prev_us / SEC, &first);
    CHECK(rv == ORACLE_GAVE_UP || (rv == ORACLE_FOUND && first * SEC == prev_us));
    rv = oracleFirst(t, prev_us / SEC, floorSec(before_us - 1), &first);
    CHECK(rv != ORACLE_FOUND);
}

/* ---------------------------------------------------------------------------------------------
 * Invariants.
 */

/* A cron instant reads a matching wall-clock time, or is the end of a gap it was shifted to;
 * with dst_repeat ONCE a fixed time is never the second reading of a repeat. */
static void checkCronInstant(const struct rc_trigger *t, int64_t us)
{
    CHECK(us % SEC == 0);
    int64_t s = us / SEC;
    bool fixed = !cronHourIsWildcard(&t->cron);
    struct rc_civil c;
    tzToCivil(t->tz, s, &c, NULL);
    struct rc_tz_segment seg;
    tzSegmentAt(t->tz, s, &seg);
    bool gap_end = fixed && t->dst_gap == RC_DST_GAP_SHIFT && seg.from_s == s &&
                   seg.offset_s > seg.prev_offset_s;
    bool matches = cronMatches(&t->cron, &c);
    CHECK(matches || gap_end);
    int64_t u[2];
    if (matches && !gap_end && fixed && t->dst_repeat == RC_DST_REPEAT_ONCE &&
        tzFromCivil(t->tz, &c, u) == 2) {
        CHECK(u[0] == s);
    }
}

static void checkInstant(const struct rc_trigger *t, int64_t us)
{
    CHECK(inBounds(t, us));
    switch (t->kind) {
    case RC_TRIGGER_CRON:
        checkCronInstant(t, us);
        break;
    case RC_TRIGGER_INTERVAL:
        CHECK(((__int128)us - t->anchor_us) % t->interval_us == 0);
        break;
    case RC_TRIGGER_ONCE:
        CHECK(us == t->at_us);
        break;
    }
}

static void checkJitter(const struct rc_trigger *t, const char *key, int64_t us)
{
    int64_t j = triggerJitter(t, key, us);
    CHECK(j == triggerJitter(t, key, us));
    if (t->jitter_us <= 0) {
        CHECK(j == 0);
        return;
    }
    CHECK(j >= 0 && j <= t->jitter_us);
    int64_t next;
    if (triggerNext(t, us, &next) == 0) {
        CHECK((__int128)us + j < next);
    }
}

/* triggerCount over (from, to] agrees with stepping, when that takes at most STEP_MAX steps. */
static void checkCount(const struct rc_trigger *t, int64_t from, int64_t to)
{
    uint64_t n = 0;
    int64_t cur = from, last = 0, next;
    while (triggerNext(t, cur, &next) == 0 && next <= to) {
        if (++n > STEP_MAX) {
            return;
        }
        last = cur = next;
    }
    int64_t got = INT64_MIN;
    CHECK(triggerCount(t, from, to, &got) == n);
    CHECK(got == (n == 0 ? INT64_MIN : last));
}

/* Up to steps instants after `from`, then up to steps before it, each checked both ways. */
static void checkChains(const struct rc_trigger *t, const char *key, int64_t from, int steps)
{
    int64_t chain[CHAIN_MAX];
    int n = 0;
    int64_t cur = from, next, prev;
    for (; n < steps; n++) {
        int rv = triggerNext(t, cur, &next);
        if (rv != 0) {
            CHECK(rv == RC_ENEVER);
            int64_t first;
            if (t->kind == RC_TRIGGER_CRON) {
                int64_t lo = floorSec(cur);
                CHECK(oracleFirst(t, lo, lo + 2 * DAY_S, &first) != ORACLE_FOUND);
            }
            break;
        }
        CHECK(next > cur);
        checkInstant(t, next);
        if (t->kind == RC_TRIGGER_CRON) {
            oracleNext(t, cur, next);
        }
        rv = triggerPrev(t, next, &prev);
        if (n > 0) {
            CHECK(rv == 0 && prev == cur);
        } else if (rv == 0) {
            int64_t again;
            CHECK(prev <= cur && triggerNext(t, prev, &again) == 0 && again == next);
        }
        checkJitter(t, key, next);
        chain[n] = cur = next;
    }
    if (n > 0) {
        int64_t last = INT64_MIN;
        CHECK(triggerCount(t, from, chain[n - 1], &last) == (uint64_t)n && last == chain[n - 1]);
        last = INT64_MIN;
        CHECK(triggerCount(t, from, chain[n - 1] - 1, &last) == (uint64_t)n - 1);
        CHECK(last == (n > 1 ? chain[n - 2] : INT64_MIN));
        CHECK(triggerCount(t, chain[0], chain[n - 1], &last) == (uint64_t)n - 1);
    }

    cur = from;
    for (int i = 0; i < steps; i++) {
        int rv = triggerPrev(t, cur, &prev);
        if (rv != 0) {
            CHECK(rv == RC_ENEVER);
            int64_t first;
            if (t->kind == RC_TRIGGER_CRON) {
                int64_t hi = floorSec(cur - 1);
                CHECK(oracleFirst(t, hi - 2 * DAY_S, hi, &first) != ORACLE_FOUND);
            }
            break;
        }
        CHECK(prev < cur);
        checkInstant(t, prev);
        if (t->kind == RC_TRIGGER_CRON) {
            oraclePrev(t, cur, prev);
        }
        int64_t again, want;
        rv = triggerNext(t, prev, &again);
        if (i > 0) {
            CHECK(rv == 0 && again == cur);
        } else {
            int want_rv = triggerNext(t, cur - 1, &want);
            CHECK(rv == want_rv && (rv != 0 || again == want));
        }
        cur = prev;
    }
}

/* ---------------------------------------------------------------------------------------------
 * Building the trigger from the input.
 */

/* A start instant in 1900-2200, often within 36 hours of one of the zone's offset changes. */
static int64_t startInstant(const struct input *in, const struct rc_tz *tz)
{
    const uint8_t *h = in->head;
    int year = 1900 + (int)(le(h + 3, 2) % 301);
    int64_t s = civilDaysFromDate(year, 1, 1) * DAY_S;
    bool near = false;
    if ((h[2] & 1) && tz != NULL) {
        for (int i = 0; i <= ((h[2] >> 1) & 3); i++) {
            int64_t at;
            int before, after;
            if (tzNextTransition(tz, s, &at, &before, &after) != 0) {
                break;
            }
            s = at;
            near = true;
        }
    }
    if (near) {
        s += (int8_t)h[5] % 37 * 3600 + h[6] % 60 * 60 + h[7] % 60 - h[8] % 2;
    } else {
        s += (int64_t)(le(h + 5, 2) % 366) * DAY_S + h[7] % 24 * 3600 + h[8] % 60 * 60;
    }
    int64_t us = s * SEC;
    if (h[2] & 8) {
        us += (int64_t)(le(h + 9, 3) % (uint64_t)SEC);
    }
    return us;
}

static int initTrigger(struct rc_trigger *t, const struct input *in, const char *zone)
{
    const uint8_t *h = in->head;
    int kind = (h[1] >> 2) & 3;
    if (kind == 2) {
        int64_t interval = (int64_t)le(in->tail, 8);
        if (!(h[2] & 32)) {
            interval = 1 + (int64_t)(le(in->tail, 8) % (uint64_t)(400 * DAY_S * SEC));
        }
        int rv = triggerInitInterval(t, interval, (int64_t)le(in->tail + 8, 8));
        CHECK(rv == (interval > 0 ? 0 : RC_EINVAL));
        return rv;
    }
    if (kind == 3) {
        triggerInitOnce(t, 0); /* at_us is set from the start instant */
        return 0;
    }
    char expr[sizeof "CRON_TZ= " + RC_TZ_ID_MAX + TEXT_MAX];
    const char *tz_id = zone;
    if ((h[1] & 128) && zone[0] != '\0') {
        snprintf(expr, sizeof expr, "CRON_TZ=%s %s", zone, in->text);
        tz_id = NULL;
    } else {
        snprintf(expr, sizeof expr, "%s", in->text);
    }
    char err[RC_ERRMSG_SIZE];
    err[0] = '\0';
    int rv = triggerInitCron(t, expr, tz_id, 0, err, sizeof err);
    CHECK(rv == 0 || ((rv == RC_EPARSE || rv == RC_ETZ) && err[0] != '\0'));
    return rv;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in;
    memset(&in, 0, sizeof in);
    memcpy(in.head, data, size < HEADER ? size : HEADER);
    size_t text_len = size > HEADER ? size - HEADER : 0;
    text_len = text_len < TEXT_MAX ? text_len : TEXT_MAX;
    memcpy(in.text, data + HEADER, text_len);
    memcpy(in.tail, in.text, sizeof in.tail);
    const uint8_t *h = in.head;

    const char *zone = zones[h[0] % NZONES];
    const struct rc_tz *tz;
    char err[RC_ERRMSG_SIZE];
    CHECK(tzGet(zone, &tz, err, sizeof err) == 0); /* every listed zone must be known */

    struct rc_trigger t;
    if (initTrigger(&t, &in, zone) != 0) {
        return 0;
    }
    int64_t from = startInstant(&in, t.kind == RC_TRIGGER_CRON ? t.tz : tz);
    if (t.kind != RC_TRIGGER_CRON && (h[2] & 32)) {
        from = (int64_t)le(in.tail + 16, 8);
    }
    if (t.kind == RC_TRIGGER_ONCE) {
        t.at_us = satAdd(from, (int64_t)(int32_t)le(in.tail, 4) * 1000);
    }
    t.dst_gap = (h[1] & 1) ? RC_DST_GAP_SKIP : RC_DST_GAP_SHIFT;
    t.dst_repeat = (h[1] & 2) ? RC_DST_REPEAT_BOTH : RC_DST_REPEAT_ONCE;
    if (h[1] & 16) {
        t.start_us = satAdd(from, (int64_t)(int16_t)le(h + 12, 2) * 60 * SEC);
    }
    if (h[1] & 32) {
        t.end_us = satAdd(from, (int64_t)le(h + 14, 2) * 600 * SEC);
    }
    if (h[1] & 64) {
        t.jitter_us = (int64_t)le(h + 16, 2) * 50000;
    }

    checkChains(&t, in.text, from, 1 + h[19] % CHAIN_MAX);
    checkCount(&t, from, satAdd(from, (int64_t)h[18] * 1200 * SEC));
    return 0;
}
