#!/usr/bin/env bash
# A rolling upgrade as docs/operations.md ("Upgrades") tells it: a 3-node cluster fires a job
# every second and takes writes from a client the whole time, while each node in turn (the
# followers, then the leader) is stopped with SIGTERM, has its binary replaced, and is started
# on its data dir; the next node waits until every voter is reachable again. Afterwards:
#   - every write the client saw acknowledged is there (no job lost);
#   - every instant of the ticking job from before the first stop to after the last start has
#     exactly one decision (fired, or coalesced during a leader change) and no gap;
#   - the replicas agree (equal digests) and the job still fires.
#
# Which binaries: the "new" ones are this build's (RC_BIN). The "old" ones are, by default,
# copies of the same build: that proves the procedure (graceful stop, binary swap, restart on
# the same data dir, one node at a time) loses nothing and keeps firing, not that two given
# versions interoperate. RC_UPGRADE_FROM=REV builds the old binaries from git revision REV of
# the source tree (a release build, a few minutes) and so tests that upgrade for real, including
# the data dir and snapshot formats across the two.
set -u
bin="${RC_BIN:-build/bin}"
src="${RC_SRC:-.}"
ctl="$bin/raftcronctl"
cmd=$ctl
. "$(dirname "$0")/lib.sh"
declare -A pid=()
writer_pid=
cleanup() {
  if [ -n "$writer_pid" ]; then kill "$writer_pid" 2>/dev/null; fi
  for p in "${pid[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT

mkdir -p "$tmp/old" "$tmp/new"
cp "$bin/raftcrond" "$tmp/new/raftcrond"
if [ -n "${RC_UPGRADE_FROM:-}" ]; then
  git -C "$src" archive --format=tar --prefix=src/ "$RC_UPGRADE_FROM" | tar -C "$tmp/old" -xf - ||
    { fail "cannot read revision $RC_UPGRADE_FROM"; # Every node stops cleanly on the new binary.
for n in 1 2 3; do
  kill -TERM "${pid[$n]}"
  wait "${pid[$n]}"
  rc=$?
  unset "pid[$n]"
  checks=$((checks + 1))
  [ "$rc" -eq 0 ] || fail "node $n exited $rc on SIGTERM after the upgrade: $(tail -3 "$tmp/node$n.log")"
done

finish test_upgrade; exit 1; }
  (cmake -S "$tmp/old/src" -B "$tmp/old/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRC_TESTS=OFF \
    -DRC_BENCHES=OFF && cmake --build "$tmp/old/build" -j"$(nproc)" --target raftcrond) \
    >"$tmp/old/build.log" 2>&1 ||
    { fail "building $RC_UPGRADE_FROM: $(tail -5 "$tmp/old/build.log")"; # Every node stops cleanly on the new binary.
for n in 1 2 3; do
  kill -TERM "${pid[$n]}"
  wait "${pid[$n]}"
  rc=$?
  unset "pid[$n]"
  checks=$((checks + 1))
  [ "$rc" -eq 0 ] || fail "node $n exited $rc on SIGTERM after the upgrade: $(tail -3 "$tmp/node$n.log")"
done

finish test_upgrade; exit 1; }
  cp "$tmp/old/build/bin/raftcrond" "$tmp/old/raftcrond"
  echo "upgrading from $RC_UPGRADE_FROM"
else
  cp "$bin/raftcrond" "$tmp/old/raftcrond"
  echo "upgrading from this build to itself (RC_UPGRADE_FROM=REV for another version)"
fi

declare -A raft rpc
for n in 1 2 3; do
  raft[$n]="127.0.0.1:$(freeport)"
  rpc[$n]="127.0.0.1:$(freeport)"
  mkdir -p "$tmp/bin$n"
  cp "$tmp/old/raftcrond" "$tmp/bin$n/raftcrond" # what each node's "package" holds
done
export RAFTCRON_ENDPOINTS="${rpc[1]},${rpc[2]},${rpc[3]}"

start() { # N [ARGS...]
  local n=$1
  shift
  "$tmp/bin$n/raftcrond" --id "$n" --raft-addr "${raft[$n]}" --rpc-addr "${rpc[$n]}" \
    --data "$tmp/data$n" --election-timeout 300ms "$@" >>"$tmp/node$n.log" 2>&1 &
  pid[$n]=$!
}

three_voters() {
  [ "$("$ctl" --timeout 2s -o json cluster status | python3 -c '
import json, sys
st = json.load(sys.stdin)
print(sum(1 for m in st["members"] if m["role"] == "voter" and m["reachable"]))')" = 3 ]
}

leader() {
  "$ctl" --timeout 2s -o json cluster status 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["leader"]["id"])' 2>/dev/null
}

start 1 --bootstrap
until_ok 30 "node 1 did not lead" "$ctl" --endpoints "${rpc[1]}" cluster status
start 2 --join "${rpc[1]}"
start 3 --join "${rpc[1]}"
until_ok 120 "three voters did not form" three_voters
"$ctl" job add tick --every 1s --noop >/dev/null

# A client writing the whole time: one job per write, each acknowledged one recorded.
(
  i=0
  while :; do
    i=$((i + 1))
    if "$ctl" --timeout 10s job add "w$i" --every 1h --noop --paused >/dev/null 2>&1; then
      echo "w$i" >>"$tmp/acked"
    fi
    sleep 0.05
  done
) &
writer_pid=$!
acked_at_least() { [ "$(cat "$tmp/acked" 2>/dev/null | wc -l)" -ge "$1" ]; }
tick_runs_at_least() {
  [ "$("$ctl" --timeout 2s -o json run list --job tick --limit 1000 | python3 -c '
import json, sys; print(len(json.load(sys.stdin)["runs"]))')" -ge "$1" ]
}
# Writes and instants before the first stop.
until_ok 30 "no write was acknowledged before the upgrade" acked_at_least 5
until_ok 30 "tick did not fire before the upgrade" tick_runs_at_least 3

# Followers first, the leader last: one leader change instead of up to three.
lead=$(leader)
order=()
for n in 1 2 3; do [ "$n" = "$lead" ] || order+=("$n"); done
order+=("$lead")
for n in "${order[@]}"; do
  kill -TERM "${pid[$n]}"
  wait "${pid[$n]}"
  rc=$?
  unset "pid[$n]"
  checks=$((checks + 1))
  [ "$rc" -eq 0 ] || fail "node $n exited $rc on SIGTERM before its upgrade"
  cp "$tmp/new/raftcrond" "$tmp/bin$n/raftcrond"
  start "$n"
  until_ok 60 "the cluster did not get three reachable voters back after upgrading node $n" \
    three_voters
done
# Writes after the last restart.
acked=$(wc -l <"$tmp/acked")
until_ok 30 "no write was acknowledged after the upgrade" acked_at_least $((acked + 5))
kill "$writer_pid"
wait "$writer_pid" 2>/dev/null
writer_pid=

# ---- nothing lost --------------------------------------------------------------------------------
"$ctl" -o json job list >"$tmp/jobs.json"
checks=$((checks + 1))
python3 - "$tmp" <<'EOF' || fail "acknowledged writes are missing (above)"
import json, sys
tmp = sys.argv[1]
have = {j["name"] for j in json.load(open(f"{tmp}/jobs.json"))["jobs"]}
acked = [l.strip() for l in open(f"{tmp}/acked") if l.strip()]
missing = [a for a in acked if a not in have]
if missing or len(acked) < 20:
    print(f"{len(acked)} acknowledged, missing: {missing[:20]}")
    sys.exit(1)
print(f"{len(acked)} acknowledged writes, all present")
EOF
"$ctl" job pause tick >/dev/null
"$ctl" -o json job decisions tick --limit 1000 >"$tmp/decisions.json"
checks=$((checks + 1))
python3 - "$tmp" <<'EOF' || fail "the ticking job's instants are not each decided once (above)"
import json, sys
from datetime import datetime
tmp = sys.argv[1]
ds = json.load(open(f"{tmp}/decisions.json"))["decisions"]
t = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
spans = sorted((t(d["first"]), t(d["last"]), d["count"], d["decision"]) for d in ds)
bad = []
for a, b in zip(spans, spans[1:]):
    gap = round(b[0] - a[1], 3)
    if gap != 1.0:
        bad.append(f"{a} then {b}: {'overlap' if gap < 1 else 'gap'} of {gap}s")
for first, last, count, decision in spans:
    if decision not in ("fired", "coalesced") or round(last - first) + 1 != count:
        bad.append(f"record {first}..{last} x{count} {decision}")
if bad or len(spans) < 10:
    print(len(spans), "records;", bad[:10])
    sys.exit(1)
print(f"{len(spans)} decision records, {sum(s[2] for s in spans)} instants, no gap, no overlap")
EOF

# ---- the replicas agree, and it still fires --------------------------------------------------
digests_agree() {
  local a b c
  a=$("$ctl" --endpoints "${rpc[1]}" -o json cluster digest --stale | tr -d '\n')
  b=$("$ctl" --endpoints "${rpc[2]}" -o json cluster digest --stale | tr -d '\n')
  c=$("$ctl" --endpoints "${rpc[3]}" -o json cluster digest --stale | tr -d '\n')
  a=${a%%,\"node_id*}; b=${b%%,\"node_id*}; c=${c%%,\"node_id*}
  [ "$a" = "$b" ] && [ "$b" = "$c" ]
}
until_ok 60 "the replicas' digests did not agree after the upgrade" digests_agree
runs() { "$ctl" -o json run list --job tick --limit 1000 | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["runs"]))'; }
n0=$(runs)
"$ctl" job resume tick >/dev/null
more() { [ "$(runs)" -ge $((n0 + 3)) ]; }
until_ok 30 "tick did not fire after the upgrade" more

# Every node stops cleanly on the new binary.
for n in 1 2 3; do
  kill -TERM "${pid[$n]}"
  wait "${pid[$n]}"
  rc=$?
  unset "pid[$n]"
  checks=$((checks + 1))
  [ "$rc" -eq 0 ] || fail "node $n exited $rc on SIGTERM after the upgrade: $(tail -3 "$tmp/node$n.log")"
done

finish test_upgrade
