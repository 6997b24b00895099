#!/usr/bin/env bash
# raftcrond's command line: --help and --version exit 0 on stdout; bad flags, missing settings
# and bad config files exit 2 naming what is wrong, before anything is created; a key file that
# cannot be read stops the start (exit 1) before the data dir is made; and `raftcrond --dev` serves a one-node
# cluster that stops cleanly on SIGTERM and removes its temporary data dir.
set -u
bin="${RC_BIN:-build/bin}"
d="$bin/raftcrond"
ctl="$bin/raftcronctl"
cmd=$d
. "$(dirname "$0")/lib.sh"
dev_pid=
cleanup() {
  if [ -n "$dev_pid" ]; then kill -9 "$dev_pid" 2>/dev/null; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

expect 0 '^Usage: raftcrond --id N' --help
[ -s "$tmp/err" ] && fail "raftcrond --help printed on stderr"
expect 0 'RAFTCRON_ELECTION_TIMEOUT, election_timeout; default 1s' -h
expect 0 '^raftcrond [0-9]+\.[0-9]+\.[0-9]+' --version

M=(--id 1 --raft-addr 127.0.0.1:1 --rpc-addr 127.0.0.1:2 --data "$tmp/never")
expect 2 '^raftcrond: --bogus: unknown option; see --help' --bogus
expect 2 'missing required setting --raft-addr \(or RAFTCRON_RAFT_ADDR, or raft_addr: in the config file\)' --id 1
expect 2 '--id' --id 0 --raft-addr 127.0.0.1:1 --rpc-addr 127.0.0.1:2 --data "$tmp/never" --bootstrap
expect 2 '--bootstrap.*--join|--join.*--bootstrap' "${M[@]}" --bootstrap --join 127.0.0.1:3
expect 2 'heartbeat' "${M[@]}" --bootstrap --heartbeat-timeout 2s --election-timeout 1s
expect 2 '--election-timeout' "${M[@]}" --bootstrap --election-timeout soon
printf 'id: 1\ncolour: red\n' >"$tmp/bad.yaml"
expect 2 "$tmp/bad.yaml:2: colour: unknown setting" --config "$tmp/bad.yaml"
printf 'id: [1\n' >"$tmp/broken.yaml"
expect 2 "$tmp/broken.yaml:[0-9]+" --config "$tmp/broken.yaml"
expect 2 '--http-addr: "127.0.0.1" needs a port' "${M[@]}" --bootstrap --http-addr 127.0.0.1
RAFTCRON_HTTP_ADDR=127.0.0.1:2 expect 2 'RAFTCRON_HTTP_ADDR.*also the address of' "${M[@]}" --bootstrap
expect 2 '--http-max-body: "10" is out of range 1024-67108864' "${M[@]}" --bootstrap --http-max-body 10
expect 1 "$tmp/no.pem: No such file or directory" "${M[@]}" --bootstrap --auth-jwt-public-key-file "$tmp/no.pem"
printf 'not a key\n' >"$tmp/bad.pem"
expect 1 "$tmp/bad.pem: not a PEM public key" "${M[@]}" --bootstrap --auth-jwt-public-key-file "$tmp/bad.pem"
printf 'short\n' >"$tmp/short.key"
expect 1 "$tmp/short.key: an HS256 secret needs at least 32 bytes" "${M[@]}" --bootstrap --auth-jwt-hs256-key-file "$tmp/short.key"
[ -e "$tmp/never" ] && fail "a refused start created its data dir"

# --dev: a single-node cluster in a temporary data dir under $TMPDIR, removed at exit.
mkdir "$tmp/devtmp"
rpc="127.0.0.1:$(freeport)"
raft="127.0.0.1:$(freeport)"
TMPDIR="$tmp/devtmp" "$d" --dev --rpc-addr "$rpc" --raft-addr "$raft" >"$tmp/dev.log" 2>&1 &
dev_pid=$!
E=(--endpoints "$rpc" --timeout 2s)
deadline=$((SECONDS + 30))
until "$ctl" "${E[@]}" cluster status >"$tmp/status" 2>&1; do
  if [ $SECONDS -ge $deadline ]; then
    fail "raftcrond --dev did not answer within 30 s: $(tail -3 "$tmp/dev.log")"
    break
  fi
  sleep 0.1
done
checks=$((checks + 1))
grep -qE '^leader +1 ' "$tmp/status" || fail "--dev: node 1 is not the leader: $(cat "$tmp/status")"
checks=$((checks + 1))
"$ctl" "${E[@]}" job add hello --every 1h --shell true >/dev/null || fail "--dev: job add failed"
checks=$((checks + 1))
devdir=$(ls -d "$tmp"/devtmp/raftcrond-dev-* 2>/dev/null)
[ -n "$devdir" ] && [ -d "$devdir" ] || fail "--dev: no data dir under \$TMPDIR"
grep -q "data=$devdir" "$tmp/dev.log" || fail "--dev: the start line does not name the data dir"
kill -TERM "$dev_pid"
deadline=$((SECONDS + 20))
while kill -0 "$dev_pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
  sleep 0.1
done
checks=$((checks + 1))
if kill -0 "$dev_pid" 2>/dev/null; then
  fail "--dev: still running 20 s after SIGTERM"
else
  wait "$dev_pid"
  rc=$?
  dev_pid=
  [ "$rc" -eq 0 ] || fail "--dev: exit status $rc after SIGTERM, want 0"
fi
checks=$((checks + 1))
[ -z "$(ls -A "$tmp/devtmp")" ] || fail "--dev: data dir left behind: $(ls "$tmp/devtmp")"

finish test_daemon_usage
