#!/usr/bin/env bash
# raftcronctl's HTTP and SQL job options: the spec rules are checked before anything is sent
# (exit 2, naming the option), and on a `raftcrond --dev` node the jobs are stored as given and
# shown back by job get (text and JSON), --body-file included; a dsn with a password is refused
# by the leader too when a client skips the local check.
set -u
bin="${RC_BIN:-build/bin}"
d="$bin/raftcrond"
ctl="$bin/raftcronctl"
cmd=$ctl
. "$(dirname "$0")/lib.sh"
dev_pid=
cleanup() {
  if [ -n "$dev_pid" ]; then kill -9 "$dev_pid" 2>/dev/null; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

closed=$(freeport)
N=(--endpoints "127.0.0.1:$closed" --timeout 300ms)
expect 2 '--sql: requires --dsn or --conn' "${N[@]}" job add a --every 1m --sql 'SELECT 1'
expect 2 '--sql: give --dsn or --conn, not both' "${N[@]}" job add a --every 1m --sql 'SELECT 1' \
  --dsn host=db --conn main
expect 2 'executor.sql.dsn: holds a password' "${N[@]}" job add a --every 1m --sql 'SELECT 1' \
  --dsn 'postgresql://app:hunter2@db/app'
expect 2 'executor.http.url: must start with http:// or https://' "${N[@]}" job add a --every 1m \
  --http ftp://example.org/x
expect 2 'executor.http.headers: X-Raftcron-Fence is set by raftcron' "${N[@]}" job add a \
  --every 1m --http http://h/ --header 'X-Raftcron-Fence: 1'
expect 2 '--once: requires --sql' "${N[@]}" job add a --every 1m --shell true --once
expect 2 '--body-file /no/such: No such file or directory' "${N[@]}" job add a --every 1m \
  --http http://h/ --body-file /no/such
printf '{"a": 1}' >"$tmp/body.json"
expect 2 '--body: given twice' "${N[@]}" job add a --every 1m --http http://h/ --body x \
  --body-file "$tmp/body.json"
expect 0 '--body-file F' job add --help

# A --dev node stores and shows the jobs.
mkdir "$tmp/devtmp"
rpc="127.0.0.1:$(freeport)"
raft="127.0.0.1:$(freeport)"
TMPDIR="$tmp/devtmp" "$d" --dev --no-execute --rpc-addr "$rpc" --raft-addr "$raft" \
  >"$tmp/dev.log" 2>&1 &
dev_pid=$!
E=(--endpoints "$rpc" --timeout 5s)
deadline=$((SECONDS + 30))
until "$ctl" "${E[@]}" cluster status >/dev/null 2>&1; do
  if [ $SECONDS -ge $deadline ]; then
    fail "raftcrond --dev did not answer within 30 s: $(tail -3 "$tmp/dev.log")"
    break
  fi
  sleep 0.1
done

expect 0 'created' "${E[@]}" job add hook --every 1h --paused --http https://hooks.example/x \
  --header 'Content-Type: application/json' --body-file "$tmp/body.json" --expect 200 \
  --expect 202 --follow-redirects --timeout-run 10s
expect 0 '^http +https://hooks.example/x' "${E[@]}" job get hook
expect 0 '^method +POST' "${E[@]}" job get hook
expect 0 '^header +Content-Type:application/json|^header +Content-Type: application/json' \
  "${E[@]}" job get hook
expect 0 '^body +\{"a": 1\}' "${E[@]}" job get hook
expect 0 '^follow_redirects +true' "${E[@]}" job get hook
expect 0 '"expect":\[200, ?202\]' "${E[@]}" -o json job get hook
expect 0 'created' "${E[@]}" job add rollup --every 1h --paused --sql 'INSERT INTO t VALUES (1)' \
  --conn warehouse --once
expect 0 '^conn +warehouse' "${E[@]}" job get rollup
expect 0 '^once +true' "${E[@]}" job get rollup
expect 0 'created' "${E[@]}" job add lookup --every 1h --paused --sql 'SELECT 1' \
  --dsn 'host=db user=cron'
expect 0 '^dsn +host=db user=cron' "${E[@]}" job get lookup

# The same rules on the leader, for a client that sends the spec as is (job apply reads a
# file; the YAML keys are the options).
cat >"$tmp/jobs.yaml" <<'EOF'
jobs:
  - name: leaky
    every: 1h
    sql: SELECT 1
    dsn: "host=db password=hunter2"
EOF
expect 2 'jobs.yaml:2: executor.sql.dsn: holds a password' "${E[@]}" job apply -f "$tmp/jobs.yaml"
if grep -q hunter2 "$tmp/dev.log"; then
  fail "the password reached the node's log"
fi
checks=$((checks + 1))

kill -TERM "$dev_pid"
wait "$dev_pid" 2>/dev/null
dev_pid=
finish test_ctl_exec
