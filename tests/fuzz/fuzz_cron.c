/*
 * libFuzzer target for the cron engine: arbitrary bytes must never crash the parser or the
 * duration parser (whose durations must print and parse back to themselves), and whatever parses
 * must search correctly: next() strictly after and matching, prev() strictly before and matching,
 * prev(next(t)) <= t, and the explanation NUL-terminated within its buffer at every size.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/civil.h"
#include "core/cron.h"
#include "core/duration.h"
#include "core/err.h"

#define INPUT_MAX 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
    if (!ok) {
        abort();
    }
}

/* A valid instant in 1900-2299 chosen by the input, so the fuzzer explores start points too. */
static struct rc_civil startFrom(const uint8_t *data, size_t size)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < size; i++) {
        h = (h ^ data[i]) * 1099511628211ULL;
    }
    struct rc_civil t;
    t.year = 1900 + (int)(h % 400);
    h /= 400;
    t.month = 1 + (int)(h % 12);
    h /= 12;
    t.day = 1 + (int)(h % (uint64_t)civilDaysInMonth(t.year, t.month));
    h /= 31;
    t.hour = (int)(h % 24);
    h /= 24;
    t.minute = (int)(h % 60);
    h /= 60;
    t.second = (int)(h % 60);
    return t;
}

static void checkExplain(const struct rc_cron *c)
{
    char full[2048];
    size_t want = cronExplain(c, full, sizeof full);
    check(want < sizeof full && strlen(full) == want);
    for (size_t len = 0; len <= 16; len++) {
        char small[18];
        memset(small, 'Z', sizeof small);
        check(cronExplain(c, small, len) == want);
        check(small[len] == 'Z' && small[len + 1] == 'Z');
        if (len > 0) {
            size_t kept = want < len - 1 ? want : len - 1;
            check(strlen(small) == kept && memcmp(small, full, kept) == 0);
        }
    }
}

static void checkSearch(const struct rc_cron *c, struct rc_civil t)
{
    struct rc_civil cur = t;
    for (int i = 0; i < 3; i++) {
        struct rc_civil next;
        if (cronNextCivil(c, &cur, cur.year + 400, &next) != 0) {
            break;
        }
        check(civilValid(&next) && cronMatches(c, &next) && civilCompare(&next, &cur) > 0);
        struct rc_civil back;
        check(cronPrevCivil(c, &next, next.year - 400, &back) == 0);
        check(cronMatches(c, &back) && civilCompare(&back, &cur) <= 0);
        check((civilCompare(&back, &cur) == 0) == cronMatches(c, &cur));
        cur = next;
    }
    cur = t;
    for (int i = 0; i < 3; i++) {
        struct rc_civil prev;
        if (cronPrevCivil(c, &cur, cur.year - 400, &prev) != 0) {
            break;
        }
        check(civilValid(&prev) && cronMatches(c, &prev) && civilCompare(&prev, &cur) < 0);
        struct rc_civil fwd;
        check(cronNextCivil(c, &prev, prev.year + 400, &fwd) == 0);
        check(civilCompare(&fwd, &cur) >= 0);
        cur = prev;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char text[INPUT_MAX + 1];
    size_t n = size < INPUT_MAX ? size : INPUT_MAX;
    memcpy(text, data, n);
    text[n] = '\0';

    char err[RC_ERRMSG_SIZE];
    int64_t us = 0;
    int rc = durationParse(text, &us, err, sizeof err);
    check(rc == 0 ? us > 0 : rc == RC_EPARSE && strlen(err) < sizeof err);
    if (rc == 0) {
        char spelled[RC_DURATION_MAX];
        int64_t back = 0;
        durationFormat(us, spelled);
        check(durationParse(spelled, &back, err, sizeof err) == 0 && back == us);
    }

    struct rc_cron c;
    rc = cronParse(text, &c, err, sizeof err);
    if (rc != 0) {
        check(rc == RC_EPARSE && err[0] != '\0');
        return 0;
    }
    check(strlen(c.tz) < RC_CRON_TZ_MAX);
    checkExplain(&c);
    if (c.every_us > 0) {
        return 0;
    }
    checkSearch(&c, startFrom(data, size));
    return 0;
}
