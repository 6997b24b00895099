#!/usr/bin/env bash
# raftcronctl's command line, without a cluster: --help on every group and command exits 0,
# usage errors exit 2 with the parser's message (and contact nobody), and a call to a closed
# port exits 1 with an "unavailable" message within its --timeout.
# Run by ctest with RC_BIN (the build's bin/); RC_SRC is the source tree.
set -u
bin="${RC_BIN:-build/bin}"
ctl="$bin/raftcronctl"
cmd=$ctl
. "$(dirname "$0")/lib.sh"

# A port nobody listens on; usage errors point at it too, so that a command that wrongly
# tried the network would fail with exit 1, not 2.
closed=$(freeport)
ep="127.0.0.1:$closed"

# ---- --help everywhere ------------------------------------------------------------------------
help --help
help -h
for g in cluster member job cron; do
  help "$g" --help
done
for c in status digest; do help cluster "$c" --help; done
for c in list add remove promote demote transfer; do help member "$c" --help; done
for c in add update get list delete pause resume apply; do help job "$c" --help; done
expect 2 'Usage: raftcronctl cluster' cluster
expect 2 'Usage: raftcronctl member' member
expect 2 'Usage: raftcronctl job' job

# ---- usage errors: exit 2 with the reason -----------------------------------------------------
E=(--endpoints "$ep" --timeout 5s)
expect 2 'unknown command group "jobs"' "${E[@]}" jobs list
expect 2 'unknown output format "xml"' -o xml "${E[@]}" job list
expect 2 '--endpoints: "nohost" is not a list of host:port' --endpoints nohost cluster status
expect 2 '--endpoints: "a:1,,b:2"' --endpoints a:1,,b:2 cluster status
expect 2 'cluster: unknown command "health"' "${E[@]}" cluster health
expect 2 'cluster status: unknown or incomplete option "--bogus"' "${E[@]}" cluster status --bogus
expect 2 'cluster digest: unexpected argument "x"' "${E[@]}" cluster digest x
expect 2 'member: unknown command "kick"' "${E[@]}" member kick 3
expect 2 'member add: expected 3 arguments, got 2' "${E[@]}" member add 4 127.0.0.1:7204
expect 2 'member: "0" is not a member id' "${E[@]}" member remove 0
expect 2 'member: "x" is not a member id' "${E[@]}" member promote x
expect 2 'member transfer: expected at most 1 argument, got 2' "${E[@]}" member transfer 1 2
expect 2 'member remove: unknown or incomplete option "--standby"' "${E[@]}" member remove 3 --standby
expect 2 'member list: unknown or incomplete option "--standby"' "${E[@]}" member list --standby
expect 2 'job: unknown command "run"' "${E[@]}" job run x
expect 2 'job get: expected one NAME, got 0 arguments' "${E[@]}" job get
expect 2 'job list: expected no argument, got 1 argument' "${E[@]}" job list x
expect 2 'job apply: -f FILE.yaml is required' "${E[@]}" job apply
help job backfill --help
expect 0 'raftcronctl job backfill NAME --from RFC3339 --to RFC3339' job --help
B=(--from 2025-01-01T00:00:00Z --to 2025-01-01T01:00:00Z)
expect 2 'job backfill: expected one NAME, got 0 arguments' "${E[@]}" job backfill "${B[@]}"
expect 2 'job backfill: --from and --to are required' "${E[@]}" job backfill x --from 2025-01-01T00:00:00Z
expect 2 'job backfill: --from and --to are required' "${E[@]}" job backfill x
expect 2 'job backfill: --to: ' "${E[@]}" job backfill x --from 2025-01-01T00:00:00Z --to soon
expect 2 'job backfill: --from: given twice' "${E[@]}" job backfill x "${B[@]}" --from 2025-01-01T00:00:00Z
expect 2 'job backfill: --from is after --to' "${E[@]}" job backfill x --from 2025-01-02T00:00:00Z --to 2025-01-01T00:00:00Z
expect 2 '--limit: "1001" is not a whole number in 1..1000' "${E[@]}" job backfill x "${B[@]}" --limit 1001
expect 2 'job backfill: unknown or incomplete option "--force"' "${E[@]}" job backfill x "${B[@]}" --force
expect 2 'job get: unknown or incomplete option "--from"' "${E[@]}" job get x --from 2025-01-01T00:00:00Z
expect 2 'job add: unknown or incomplete option "--if-version"' "${E[@]}" job add x --every 1m --shell true --if-version 2
expect 2 'job add: unknown or incomplete option "--cron"' "${E[@]}" job add x --cron
expect 2 '--if-version: "zero" is not a version' "${E[@]}" job delete x --if-version zero
expect 2 'job add: a trigger is required: --cron, --every or --at' "${E[@]}" job add x --shell true
expect 2 'job add: an executor is required: --shell, --http, --sql or --noop' "${E[@]}" job add x --every 1m
expect 2 'job add: --cron and --every exclude each other' "${E[@]}" job add x --cron '@daily' --every 1m --shell true
expect 2 'job add: --cron: field 2 \(hour\): 25 is out of range 0-23' "${E[@]}" job add x --cron '0 25 * * *' --shell true
expect 2 'job add: --tz: .*Mars/Olympus' "${E[@]}" job add x --cron '@daily' --tz Mars/Olympus --shell true
expect 2 'job add: --every: invalid duration "soon"' "${E[@]}" job add x --every soon --shell true
expect 2 'job add: --at: timestamp "tomorrow"' "${E[@]}" job add x --at tomorrow --shell true
expect 2 'job add: --overlap: "sometimes" is not allow, skip, replace or queue-one' "${E[@]}" job add x --every 1m --shell true --overlap sometimes
expect 2 'job add: --sql: requires --dsn' "${E[@]}" job add x --every 1m --sql 'SELECT 1'
expect 2 'job add: --header: "X" is not K:V' "${E[@]}" job add x --every 1m --http http://h/ --header X
expect 2 'job add: --every: given twice' "${E[@]}" job add x --every 1m --every 2m --shell true
expect 2 'job add: --coalesce: given twice' "${E[@]}" job add x --every 1m --shell true --coalesce --no-coalesce
expect 2 'job add: job name: character 0x20' "${E[@]}" job add 'a b' --every 1m --shell true
expect 2 'job get: "ops/a": give the namespace once' "${E[@]}" job get ops/a --namespace ops
expect 2 "job apply: $tmp/missing.yaml: No such file or directory" "${E[@]}" job apply -f "$tmp/missing.yaml"
printf 'jobs:\n  - name: a\n    every: 1m\n    shell: x\n    colour: red\n' >"$tmp/bad.yaml"
expect 2 "$tmp/bad.yaml:5: unknown key \"colour\"" "${E[@]}" job apply -f "$tmp/bad.yaml"
printf 'jobs:\n  - name: a\n    cron: "0 25 * * *"\n    shell: x\n' >"$tmp/badcron.yaml"
expect 2 "$tmp/badcron.yaml:3: cron: field 2 \\(hour\\)" "${E[@]}" job apply -f "$tmp/badcron.yaml"
printf 'jobs: [\n' >"$tmp/broken.yaml"
expect 2 "$tmp/broken.yaml:2: " "${E[@]}" job apply -f "$tmp/broken.yaml"

# The example file is valid: apply gets past checking it and fails only on the network.
src="${RC_SRC:-.}"
expect 1 'unavailable' --endpoints "$ep" --timeout 200ms job apply -f "$src/examples/jobs.yaml" --dry-run

# ---- a closed port: exit 1, "unavailable", within the timeout ---------------------------------
T=(--endpoints "$ep" --timeout 500ms)
for args in "cluster status" "cluster digest" "member list" "job list" "job get x" \
            "job add x --every 1m --shell true" "member remove 3" "job delete x"; do
  start=$(date +%s%N)
  # shellcheck disable=SC2086
  expect 1 'unavailable: no endpoint answered within 0.5s .*Connection refused' "${T[@]}" $args
  took_ms=$((($(date +%s%N) - start) / 1000000))
  if [ "$took_ms" -lt 450 ] || [ "$took_ms" -gt 4000 ]; then
    fail "raftcronctl $args took ${took_ms} ms against a closed port with --timeout 500ms"
  fi
  if [ -s "$tmp/out" ]; then
    fail "raftcronctl $args printed on stdout while failing"
  fi
done

finish test_ctl_usage
