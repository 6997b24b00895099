#!/usr/bin/env bash
# The backup and restore drill of docs/operations.md, on real processes: a 3-node cluster fires
# jobs; `raftcronctl cluster snapshot save` writes a backup; the cluster is destroyed (every
# node killed, every data dir wiped); `raftcrond --restore` seeds a new cluster (a new cluster
# id) on one node and the two others --join it. Then every job definition and every run of the
# history saved is back as it was, the three replicas agree (digest), and firing goes on.
# Also: a damaged, truncated or foreign file is refused with the reason and writes nothing; a
# data dir that holds a log is refused; --restore goes with none of --bootstrap, --join.
set -u
bin="${RC_BIN:-build/bin}"
d="$bin/raftcrond"
ctl="$bin/raftcronctl"
cmd=$ctl
. "$(dirname "$0")/lib.sh"
declare -A pid=()
cleanup() {
  for p in "${pid[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
[ -n "${RC_KEEP:-}" ] && trap - EXIT

declare -A raft rpc
for n in 1 2 3; do
  raft[$n]="127.0.0.1:$(freeport)"
  rpc[$n]="127.0.0.1:$(freeport)"
done
endpoints="${rpc[1]},${rpc[2]},${rpc[3]}"
export RAFTCRON_ENDPOINTS=$endpoints

# start N ARGS...: node N with its addresses and data dir, plus ARGS.
start() {
  local n=$1
  shift
  "$d" --id "$n" --raft-addr "${raft[$n]}" --rpc-addr "${rpc[$n]}" --data "$tmp/data$n" \
    --election-timeout 300ms "$@" >>"$tmp/node$n.log" 2>&1 &
  pid[$n]=$!
}

three_voters() {
  [ "$("$ctl" --timeout 2s -o json cluster status | python3 -c '
import json, sys
st = json.load(sys.stdin)
print(sum(1 for m in st["members"] if m["role"] == "voter" and m["reachable"]))')" = 3 ]
}

runs_at_least() { # N: the history holds at least N runs of default/tick
  [ "$("$ctl" --timeout 2s -o json run list --job tick --limit 1000 | python3 -c '
import json, sys; print(len(json.load(sys.stdin)["runs"]))')" -ge "$1" ]
}

# ---- the cluster to back up --------------------------------------------------------------------
start 1 --bootstrap
until_ok 30 "node 1 did not lead" "$ctl" --endpoints "${rpc[1]}" cluster status
start 2 --join "${rpc[1]}"
start 3 --join "${rpc[1]}"
until_ok 120 "three voters did not form" three_voters

"$ctl" job add tick --every 1s --shell 'echo tick' >/dev/null
"$ctl" job add fail --every 2s --shell 'exit 3' --retries 1 --retry-delay 100ms >/dev/null
"$ctl" job add ops/nightly --cron '0 3 * * *' --tz Europe/Berlin --http https://example.org/ \
  --header 'Accept: text/plain' --paused >/dev/null
"$ctl" job add ops/rollup --every 1h --sql 'SELECT 1' --conn warehouse --paused >/dev/null
# Bulk (HTTP bodies of 200 KiB), so that the snapshot travels in several 1 MiB chunks.
head -c 150000 /dev/urandom | base64 -w 100 >"$tmp/body"
for i in 1 2 3 4 5 6 7 8; do
  "$ctl" job add "bulk/b$i" --every 1h --http https://example.org/ --body-file "$tmp/body" \
    --paused >/dev/null
done
until_ok 60 "tick did not run 5 times" runs_at_least 5

# A backup taken while jobs fire restores too (checked at the end); the one compared exactly is
# taken once the jobs are paused and no run is active, so that the state it holds is the state
# read beside it.
expect 0 'snapshot saved to .*live.rcb: [0-9]+ bytes, applied index [0-9]+' \
  cluster snapshot save "$tmp/live.rcb"
"$ctl" job pause tick >/dev/null
"$ctl" job pause fail >/dev/null
quiet() {
  "$ctl" -o json run list --limit 1000 | python3 -c '
import json, sys
active = [r for r in json.load(sys.stdin)["runs"]
          if r["state"] in ("pending", "assigned", "running", "retry_wait")]
sys.exit(1 if active else 0)'
}
until_ok 30 "runs were still active after pausing the jobs" quiet
"$ctl" -o json job list >"$tmp/jobs.before"
"$ctl" -o json run list --limit 1000 >"$tmp/runs.before"
"$ctl" -o json cluster snapshot save "$tmp/backup.rcb" >"$tmp/save.json"
old_id=$("$ctl" -o json cluster status | python3 -c 'import json,sys; print(json.load(sys.stdin)["cluster_id"])')
checks=$((checks + 1))
if [ -e "$tmp/backup.rcb.part" ]; then fail "snapshot save left backup.rcb.part behind"; fi
checks=$((checks + 1))
python3 -c '
import json, os, sys
tmp = sys.argv[1]
s = json.load(open(tmp + "/save.json"))
runs = len(json.load(open(tmp + "/runs.before"))["runs"])
assert s["file"] == tmp + "/backup.rcb", s
assert s["bytes"] == os.path.getsize(tmp + "/backup.rcb"), s
assert s["jobs"] == 12 and s["runs"] == runs and runs >= 5, (s, runs)
assert s["bytes"] > 1024 * 1024, s  # more than one chunk
' "$tmp" || fail "snapshot save -o json does not describe the backup"

# ---- refusals, with nothing written ----------------------------------------------------------
R=(--id 9 --raft-addr "127.0.0.1:$(freeport)" --rpc-addr "127.0.0.1:$(freeport)")
cmd=$d
head -c 100 "$tmp/backup.rcb" >"$tmp/cut.rcb"
expect 1 'cut short or has bytes appended' "${R[@]}" --data "$tmp/r1" --restore "$tmp/cut.rcb"
cp "$tmp/backup.rcb" "$tmp/flip.rcb"
size=$(stat -c %s "$tmp/flip.rcb")
printf '\x7f' | dd of="$tmp/flip.rcb" bs=1 seek=$((size - 20)) conv=notrunc status=none
expect 1 'checksum trailer missing or wrong' "${R[@]}" --data "$tmp/r2" --restore "$tmp/flip.rcb"
expect 1 'not a raftcron backup' "${R[@]}" --data "$tmp/r3" --restore /etc/hostname
expect 1 'No such file' "${R[@]}" --data "$tmp/r4" --restore "$tmp/missing.rcb"
expect 1 'already holds a log' --id 1 --raft-addr "127.0.0.1:$(freeport)" \
  --rpc-addr "127.0.0.1:$(freeport)" --data "$tmp/data1" --restore "$tmp/backup.rcb"
expect 2 '--restore.*--bootstrap|--bootstrap.*--restore' "${R[@]}" --data "$tmp/r5" \
  --restore "$tmp/backup.rcb" --bootstrap
expect 2 '--restore.*--join|--join.*--restore' "${R[@]}" --data "$tmp/r5" \
  --restore "$tmp/backup.rcb" --join "${rpc[1]}"
for r in r1 r2 r3 r4; do
  checks=$((checks + 1))
  if ls "$tmp/$r" 2>/dev/null | grep -qE '^(snapshot|metadata|open|[0-9])'; then
    fail "a refused --restore wrote Raft files into $r: $(ls "$tmp/$r")"
  fi
done
cmd=$ctl

# ---- destroy the cluster ---------------------------------------------------------------------
for n in 1 2 3; do kill -9 "${pid[$n]}"; wait "${pid[$n]}" 2>/dev/null; unset "pid[$n]"; done
rm -rf "$tmp/data1" "$tmp/data2" "$tmp/data3"

# ---- restore: node 1 from the backup, nodes 2 and 3 join it ---------------------------------
start 1 --restore "$tmp/backup.rcb"
until_ok 30 "the restored node did not lead" "$ctl" --endpoints "${rpc[1]}" cluster status
checks=$((checks + 1))
grep -q 'restored from a backup' "$tmp/node1.log" || fail "node 1 did not log the restore"
start 2 --join "${rpc[1]}"
start 3 --join "${rpc[1]}"
until_ok 120 "the restored cluster did not get three voters" three_voters

new_id=$("$ctl" -o json cluster status | python3 -c 'import json,sys; print(json.load(sys.stdin)["cluster_id"])')
checks=$((checks + 1))
if [ -z "$new_id" ] || [ "$new_id" = "$old_id" ]; then
  fail "the restored cluster's id is \"$new_id\", the old one's \"$old_id\": it must be new"
fi

"$ctl" -o json job list >"$tmp/jobs.after"
"$ctl" -o json run list --limit 1000 >"$tmp/runs.after"
# Paused jobs and no active run: the restored cluster holds exactly what was saved.
checks=$((checks + 1))
if ! cmp -s "$tmp/jobs.before" "$tmp/jobs.after"; then
  fail "the jobs differ after the restore: $(diff <(tr ',' '\n' <"$tmp/jobs.before") <(tr ',' '\n' <"$tmp/jobs.after") | head -20)"
fi
checks=$((checks + 1))
if ! cmp -s "$tmp/runs.before" "$tmp/runs.after"; then
  fail "the run history differs after the restore: $(diff <(tr ',' '\n' <"$tmp/runs.before") <(tr ',' '\n' <"$tmp/runs.after") | head -20)"
fi

# The replicas agree, and the cluster goes on firing.
before_count=$("$ctl" -o json run list --job tick --limit 1000 | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["runs"]))')
"$ctl" job resume tick >/dev/null
until_ok 60 "tick did not fire after the restore" runs_at_least $((before_count + 3))
"$ctl" job pause tick >/dev/null
digests_agree() {
  local a b c
  a=$("$ctl" --endpoints "${rpc[1]}" -o json cluster digest | tr -d '\n')
  b=$("$ctl" --endpoints "${rpc[2]}" -o json cluster digest --stale | tr -d '\n')
  c=$("$ctl" --endpoints "${rpc[3]}" -o json cluster digest --stale | tr -d '\n')
  a=${a%%,\"node_id*}; b=${b%%,\"node_id*}; c=${c%%,\"node_id*}
  [ "$a" = "$b" ] && [ "$b" = "$c" ]
}
until_ok 60 "the three replicas' digests did not agree" digests_agree

# The backup taken while jobs fired seeds a cluster too.
for n in 1 2 3; do kill -9 "${pid[$n]}"; wait "${pid[$n]}" 2>/dev/null; unset "pid[$n]"; done
rm -rf "$tmp/data1"
start 1 --restore "$tmp/live.rcb"
until_ok 30 "a node restored from the live backup did not lead" "$ctl" --endpoints "${rpc[1]}" \
  cluster status
expect 0 'tick' --endpoints "${rpc[1]}" job list

finish test_backup
