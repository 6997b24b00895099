# shellcheck shell=bash
# Shared by the command-line tests (test_ctl_usage.sh, test_ctl_run.sh, test_daemon_usage.sh):
# source it after setting cmd to the program under test. It makes $tmp (removed at exit),
# counts checks and failures, and ends the script with `finish NAME`.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
checks=0
cmd_name=$(basename "$cmd")

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# expect CODE PATTERN ARGS...: exit status CODE, and PATTERN (grep -E) in stdout+stderr.
expect() {
  local code=$1 pattern=$2
  shift 2
  checks=$((checks + 1))
  "$cmd" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
  local rc=$?
  if [ "$rc" -ne "$code" ]; then
    fail "$cmd_name $* exited $rc, want $code; stderr: $(head -c 300 "$tmp/err")"
    return
  fi
  if ! cat "$tmp/out" "$tmp/err" | grep -qE -- "$pattern"; then
    fail "$cmd_name $*: no /$pattern/ in: $(head -c 300 "$tmp/out" "$tmp/err")"
  fi
}

# help ARGS...: exit 0 with a usage text on stdout and nothing on stderr.
help() {
  expect 0 "^Usage: $cmd_name" "$@"
  if [ -s "$tmp/err" ]; then
    fail "$cmd_name $* printed on stderr: $(head -c 200 "$tmp/err")"
  fi
}

# A port nobody listens on.
freeport() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# until_ok SECONDS WHAT CMD...: poll CMD until it succeeds (0.2 s apart), or fail naming WHAT.
until_ok() {
  local secs=$1 what=$2
  shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      fail "$what within ${secs}s"
      return 1
    fi
    sleep 0.2
  done
}

finish() {
  echo "$1: $checks checks, $failures failed"
  [ "$failures" -eq 0 ]
}
