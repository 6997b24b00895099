#!/usr/bin/env bash
# raftcronctl cron next|prev|explain: exact instants across DST changes, leap years, output
# formats, and usage errors (exit 2, message on stderr). No cluster needed.
set -u
bin=${RC_BIN:-build/bin}
ctl="$bin/raftcronctl"
fails=0
checks=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# expect_out "want (newline-separated)" args...
expect_out() {
  local want=$1; shift
  checks=$((checks + 1))
  local got rc
  got=$("$ctl" "$@" 2>/tmp/ctl_cron_err.$$); rc=$?
  [ $rc -eq 0 ] || { fail "raftcronctl $* exited $rc: $(cat /tmp/ctl_cron_err.$$)"; return; }
  [ "$got" = "$want" ] || fail "raftcronctl $*:
--- want
$want
--- got
$got"
}

# Europe/Berlin spring forward 2025-03-30 02:00 → 03:00: a fixed 02:30 job runs at 03:00 CEST.
expect_out "2025-03-29T02:30:00+01:00
2025-03-30T03:00:00+02:00
2025-03-31T02:30:00+02:00" cron next '30 2 * * *' --tz Europe/Berlin --from 2025-03-29T00:00:00Z -n 3
# ... or is skipped with --dst-gap skip.
expect_out "2025-03-29T02:30:00+01:00
2025-03-31T02:30:00+02:00
2025-04-01T02:30:00+02:00" cron next '30 2 * * *' --tz Europe/Berlin --from 2025-03-29T00:00:00Z -n 3 --dst-gap skip
# Fall back 2025-10-26 03:00 → 02:00: once by default, both occurrences with --dst-repeat both.
expect_out "2025-10-26T02:30:00+02:00
2025-10-27T02:30:00+01:00" cron next '30 2 * * *' --tz Europe/Berlin --from 2025-10-25T12:00:00Z -n 2
expect_out "2025-10-26T02:30:00+02:00
2025-10-26T02:30:00+01:00
2025-10-27T02:30:00+01:00" cron next '30 2 * * *' --tz Europe/Berlin --from 2025-10-25T12:00:00Z -n 3 --dst-repeat both
# A wildcard-hour job follows elapsed time through New York's repeated hour.
expect_out "2025-11-02T01:00:00-04:00
2025-11-02T01:30:00-04:00
2025-11-02T01:00:00-05:00
2025-11-02T01:30:00-05:00
2025-11-02T02:00:00-05:00" cron next '*/30 * * * *' --tz America/New_York --from 2025-11-02T04:50:00Z -n 5
# CRON_TZ prefix, 6 fields, leap day, last day of month, nth weekday, prev.
expect_out "2025-03-30T01:00:00+01:00" cron next 'CRON_TZ=Europe/Berlin 0 0 1 * * *' --from 2025-03-29T23:30:00Z -n 1
expect_out "2028-02-29T00:00:00Z
2032-02-29T00:00:00Z" cron next '0 0 29 2 *' --from 2025-01-01T00:00:00Z -n 2
expect_out "2025-02-28T23:59:00Z
2025-03-31T23:59:00Z" cron next '59 23 L * *' --from 2025-02-01T00:00:00Z -n 2
expect_out "2025-06-20T09:00:00Z" cron next '0 9 * * fri#3' --from 2025-06-01T00:00:00Z -n 1
expect_out "2026-11-20T09:00:00Z
2026-11-19T09:00:00Z" cron prev '0 9 * * mon-fri' --from 2026-11-23T00:00:00Z -n 2
# --explain prints the reading first; explain alone prints only it.
expect_out "at 09:00 on Monday through Friday
2026-11-23T09:00:00Z" cron next '0 9 * * 1-5' --from 2026-11-22T00:00:00Z -n 1 --explain
expect_out "every 5 minutes" cron explain '*/5 * * * *'
# JSON is valid and carries the instants.
checks=$((checks + 1))
json=$("$ctl" -o json cron next '@hourly' --from 2025-01-01T00:00:00Z -n 2)
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["instants"]==["2025-01-01T01:00:00Z","2025-01-01T02:00:00Z"], d; assert d["tz"]=="UTC"' "$json" \
  || fail "json output: $json"

# Usage errors: exit 2 with the parser's message on stderr, nothing on stdout.
expect_err() {
  local pattern=$1; shift
  checks=$((checks + 1))
  local out rc
  out=$("$ctl" "$@" 2>/tmp/ctl_cron_err.$$); rc=$?
  [ $rc -eq 2 ] || fail "raftcronctl $* exited $rc, want 2"
  [ -z "$out" ] || fail "raftcronctl $* printed on stdout: $out"
  grep -Eq "$pattern" /tmp/ctl_cron_err.$$ || fail "raftcronctl $*: stderr lacks /$pattern/: $(cat /tmp/ctl_cron_err.$$)"
}
expect_err 'field 2 \(hour\): 25 is out of range 0-23' cron next '0 25 * * *'
expect_err 'never occurs in February' cron next '* * 31 2 *'
expect_err 'expected 5 or 6 fields' cron next '* * *'
expect_err 'unknown time zone "Mars/Olympus"' cron next '@daily' --tz Mars/Olympus
expect_err 'timestamp' cron next '@daily' --from yesterday
expect_err 'is not a count' cron next '@daily' -n 0
expect_err 'exactly one EXPR' cron next
expect_err 'unknown command' cron bogus '@daily'

rm -f /tmp/ctl_cron_err.$$
echo "test_ctl_cron: $checks checks"
echo "$((checks - fails)) passed, $fails failed"
[ $fails -eq 0 ]
