#!/usr/bin/env bash
# The dashboard (/ui/) in a real browser: a one-node cluster with jobs, headless Chromium driven
# by tests/integration/dashboard_check.py, which checks the rendered page, clicks Pause and sees
# it reflected, and sees events arrive live. Chromium is needed (scripts/install-deps): without
# it the test is skipped, or fails under make test (RC_TESTS_COMPLETE).
set -u
bin="${RC_BIN:-build/bin}"
src="${RC_SRC:-.}"
cmd="$bin/raftcronctl"
. "$(dirname "$0")/lib.sh"
if ! command -v chromium >/dev/null 2>&1; then
  echo "cannot run: chromium not found (scripts/install-deps)"
  [ -n "${RC_TESTS_COMPLETE:-}" ] && exit 1
  exit 77
fi
rpc=$(freeport); raft=$(freeport); http=$(freeport)
"$bin/raftcrond" --id 1 --bootstrap --rpc-addr "127.0.0.1:$rpc" --raft-addr "127.0.0.1:$raft" \
  --http-addr "127.0.0.1:$http" --data "$tmp/data" >"$tmp/node.log" 2>&1 &
node=$!
stop() {
  kill -TERM "$node" 2>/dev/null
  wait "$node"
  local rc=$?
  if [ "$rc" -ne 0 ] || grep -qE 'Sanitizer|runtime error' "$tmp/node.log"; then
    fail "raftcrond exited $rc or reported a problem: $(grep -E 'Sanitizer|runtime error' "$tmp/node.log" | head -3)"
  fi
}
for _ in $(seq 1 200); do
  curl -sf "http://127.0.0.1:$http/ready" >/dev/null && break
  sleep 0.05
done
checks=$((checks + 1))
curl -sf "http://127.0.0.1:$http/ready" >/dev/null || fail "the node did not become ready"
for j in hello other; do
  checks=$((checks + 1))
  code=$(curl -s -o "$tmp/out" -w '%{http_code}' -X POST "http://127.0.0.1:$http/v1/namespaces/demo/jobs" \
    -d "{\"name\":\"$j\",\"cron\":\"0 0 1 1 *\",\"noop\":true}")
  [ "$code" = 201 ] || fail "create demo/$j: $code $(cat "$tmp/out")"
done
checks=$((checks + 1))
if ! timeout 120 python3 "$src/tests/integration/dashboard_check.py" "127.0.0.1:$http" demo/hello \
  "$tmp" >"$tmp/check.log" 2>&1; then
  fail "$(cat "$tmp/check.log")"
else
  cat "$tmp/check.log"
fi
stop
finish test_dashboard
