/*
 * Time zones from ICU (IANA ids). A zone is loaded once into a table of UTC offset
 * transitions, so that conversions are pure functions of that table: fast, thread-safe and
 * identical on every node given the same tzdata.
 *
 * Only the leader's trigger computation uses zones; the FSM never does (DESIGN.md §3).
 *
 * Coverage: the table holds ICU's transitions from 1900-01-01 to 2201-01-01 (UTC). Instants
 * before it use the offset of 1900-01-01; instants after it keep the last offset of the table
 * (no DST changes are modelled after 2200).
 * Ids are IANA system ids as ICU knows them; "" and "UTC" are UTC without asking ICU. Custom ids
 * ("GMT+05:00") and ids ICU does not know are rejected: ICU would silently fall back to GMT.
 */
#ifndef RC_CORE_TZ_H
#define RC_CORE_TZ_H

#include <stddef.h>
#include <stdint.h>

#include "civil.h"

struct rc_tz;

/* Longest zone id accepted, NUL included (the same limit as a cron CRON_TZ= prefix). */
#define RC_TZ_ID_MAX 64

/*
 * Look up a zone by IANA id ("Europe/Berlin", "UTC", "Etc/GMT+5"); "" means UTC. Zones are
 * cached for the life of the process: the returned pointer stays valid and is never freed by
 * the caller. Returns 0, or RC_ETZ with a message naming the id. Thread-safe.
 */
int tzGet(const char *id, const struct rc_tz **out, char *err, size_t errlen);

/* The zone's id as given to tzGet (e.g. "Europe/Berlin"; a link such as "US/Eastern" is kept
 * as given); "UTC" for "" and NULL. */
const char *tzName(const struct rc_tz *tz);

/* UTC offset in seconds (local = utc + offset) in force at the instant (seconds since epoch). */
int tzOffsetAt(const struct rc_tz *tz, int64_t unix_s);

/* Civil time at the instant, and the offset used. */
void tzToCivil(const struct rc_tz *tz, int64_t unix_s, struct rc_civil *out, int *offset_s);

/*
 * Resolve a civil time to instants. Returns how many instants have that wall-clock reading:
 *   1 — normal: out[0];
 *   2 — inside a fall-back repeat: out[0] < out[1] (first and second occurrence);
 *   0 — inside a spring-forward gap: out[0] is the first valid instant after the gap
 *       (the transition instant).
 */
int tzFromCivil(const struct rc_tz *tz, const struct rc_civil *c, int64_t out[2]);

/*
 * The first offset transition strictly after the instant: sets *at and the offsets before and
 * after it. Returns 0, or RC_ENOTFOUND when the zone has no later transition.
 */
int tzNextTransition(const struct rc_tz *tz, int64_t unix_s, int64_t *at, int *before_s,
                     int *after_s);

/*
 * A maximal stretch of instants with one UTC offset: [from_s, to_s) (from_s is INT64_MIN and
 * to_s INT64_MAX at the ends of the table), its offset, and the offset in force just before
 * from_s (equal to offset_s when from_s is INT64_MIN). The wall-clock times it covers are
 * [from_s + offset_s, to_s + offset_s).
 */
struct rc_tz_segment {
    int64_t from_s;
    int64_t to_s;
    int offset_s;
    int prev_offset_s;
};

/* The segment containing the instant (seconds since epoch). */
void tzSegmentAt(const struct rc_tz *tz, int64_t unix_s, struct rc_tz_segment *out);

#endif /* RC_CORE_TZ_H */
