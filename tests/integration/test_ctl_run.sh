#!/usr/bin/env bash
# raftcronctl run / dlq / job next / job decisions without a cluster: --help exits 0, usage
# errors exit 2 with the parser's message (and contact nobody: the endpoint is a closed port,
# so a command that wrongly tried the network would exit 1), and a real call exits 1.
set -u
bin="${RC_BIN:-build/bin}"
ctl="$bin/raftcronctl"
cmd=$ctl
. "$(dirname "$0")/lib.sh"
closed=$(freeport)
E=(--endpoints "127.0.0.1:$closed" --timeout 300ms)

help run --help
help dlq --help
help run list --help
help run get --help
help dlq list -h
help job next --help
help job decisions --help
expect 0 'run +list and show runs' --help
expect 0 'dlq +list dead letters' --help
expect 2 'Usage: raftcronctl run' run
expect 2 'Usage: raftcronctl run' dlq

expect 2 'run: unknown command "bogus" \(list, get, cancel or now\)' "${E[@]}" run bogus 3
expect 2 'dlq: unknown command "get" \(list or retry\)' "${E[@]}" dlq get 3
expect 2 'dlq retry: expected one run ID, got 0 arguments' "${E[@]}" dlq retry
expect 2 'run now: expected one job NAME, got 0 arguments' "${E[@]}" run now
expect 2 'run get: expected one run ID, got 0 arguments' "${E[@]}" run get
expect 2 'run ID: "x" is not a whole number' "${E[@]}" run get x
expect 2 'run ID: "0" is not a whole number' "${E[@]}" run get 0
expect 2 'run list: expected no argument, got 1 argument' "${E[@]}" run list x
expect 2 '--limit: "0" is not a whole number in 1..1000000000' "${E[@]}" run list --limit 0
expect 2 '--limit: "1000000001" is not a whole number in 1..1000000000' "${E[@]}" dlq list --limit 1000000001
expect 2 '--limit: "0" is not a whole number in 1..1000000000' "${E[@]}" job list --limit 0
expect 2 'events: unknown or incomplete option "--state"' "${E[@]}" events --state dead
expect 2 'events: expected no argument, got 1' "${E[@]}" events x
expect 2 '--count: "0" is not a whole number of at least 1' "${E[@]}" events --count 0
expect 2 'job stats: expected one NAME, got 0 arguments' "${E[@]}" job stats
expect 2 '--token-file .*/missing: No such file or directory' "${E[@]}" --token-file "$tmp/missing" job list
expect 2 'run list: unknown or incomplete option "--job"' "${E[@]}" run list --job
expect 2 'dlq list: unknown or incomplete option "--state"' "${E[@]}" dlq list --state dead
expect 2 'run get: unknown or incomplete option "--limit"' "${E[@]}" run get 3 --limit 2
expect 2 'run list: --job "/x": bad namespace' "${E[@]}" run list --job /x
expect 2 'job next: expected one NAME, got 0 arguments' "${E[@]}" job next
expect 2 '-n: "many" is not a whole number in 1..1000' "${E[@]}" job next a -n many
expect 2 '-n: "5000" is not a whole number' "${E[@]}" job next a --count 5000
expect 2 'job decisions: unknown or incomplete option "-n"' "${E[@]}" job decisions a -n 3
expect 2 '--limit: "-1" is not a whole number' "${E[@]}" job decisions a --limit -1

help events --help
help job stats --help
for args in "run list" "run get 7" "dlq list" "job next a" "job decisions a" "job stats a" "events --count 1"; do
  # shellcheck disable=SC2086
  expect 1 'unavailable' "${E[@]}" $args
  if [ -s "$tmp/out" ]; then
    fail "raftcronctl $args printed on stdout while failing"
  fi
done

finish test_ctl_run
