#!/usr/bin/env bash
# raftcronctl as kubectl and etcdctl users type it, against a `raftcrond --dev` node:
#   - global options anywhere on the line (before the group, after the command, at the end,
#     --name=value and -oVALUE forms), and their errors;
#   - -o yaml, and `job get -o yaml` / `job list -o yaml` (and -o json) output that
#     `job apply -f` takes back as "unchanged", for every kind of job definition; an edited copy
#     is "updated";
#   - bash completion: the script loads, and completes groups, commands, options, values and
#     the cluster's job names; the zsh script parses;
#   - colour only on a terminal and never with NO_COLOR; progress of a long job apply on a
#     terminal, none in a pipe.
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

# ---- usage errors of global options, without a cluster ----------------------------------------
closed=$(freeport)
expect 2 '-o: needs a value \(FMT\)' job list --endpoints "127.0.0.1:$closed" -o
expect 2 '--timeout: needs a value' job list --timeout
expect 2 'unknown output format "xml" \(table, json or yaml\)' job list -o xml
expect 2 '--timeout: invalid duration "soon"' cluster status --timeout=soon
expect 2 'unknown or incomplete option "--bogus"' --bogus cluster status
expect 0 'Global options \(anywhere on the line\)' --help

# ---- a --dev node ------------------------------------------------------------------------------
mkdir "$tmp/devtmp"
rpc="127.0.0.1:$(freeport)"
raft="127.0.0.1:$(freeport)"
TMPDIR="$tmp/devtmp" "$d" --dev --no-execute --rpc-addr "$rpc" --raft-addr "$raft" \
  >"$tmp/dev.log" 2>&1 &
dev_pid=$!
deadline=$((SECONDS + 30))
until "$ctl" --endpoints "$rpc" cluster status >/dev/null 2>&1; do
  if [ $SECONDS -ge $deadline ]; then
    fail "raftcrond --dev did not answer within 30 s: $(tail -3 "$tmp/dev.log")"
    finish test_ctl_habits
    exit 1
  fi
  sleep 0.1
done

# Global options anywhere: the README's tour line, and the same elsewhere on the line.
export RAFTCRON_ENDPOINTS="127.0.0.1:$closed" # wrong on purpose: --endpoints must win
expect 0 'created default/plain' job add plain --every 1h --paused --noop --endpoints "$rpc"
expect 0 '"jobs":\[\{"name":"plain"' job list -o json --endpoints "$rpc"
expect 0 '"jobs":\[\{"name":"plain"' --endpoints "$rpc" job list -o json
expect 0 '"jobs":\[\{"name":"plain"' job --endpoints="$rpc" list --output=json
expect 0 '"jobs":\[\{"name":"plain"' -ojson job list --timeout 5s --endpoints "$rpc"
expect 0 '^name +plain' job get --endpoints "$rpc" plain --timeout=5s
expect 0 '"state":"leader"' cluster --endpoints "$rpc" status --stale -o json
expect 1 'unavailable' job list # RAFTCRON_ENDPOINTS alone: the closed port
export RAFTCRON_ENDPOINTS="$rpc"
# A value that starts with "-" goes with "=": --description=-o is the description, not -o.
expect 0 'created default/dash' job add dash --every 1h --paused --noop --description=-o
expect 0 '^description +-o' job get dash

# -o yaml: the same document as -o json, in YAML.
expect 0 '^jobs:' job list -o yaml
expect 0 '^- name: plain|^  - name: plain' job list -o yaml
expect 0 '^every: "1h"' job get plain -o yaml
expect 0 '^leader:' cluster status -o yaml
expect 0 '^instants:' cron next '@daily' -o yaml

# ---- get -> apply round trip -------------------------------------------------------------------
cat >"$tmp/defs.yaml" <<'EOF'
namespace: rt
jobs:
  - name: nightly
    description: "yes"
    cron: "0 3 * * mon-fri"
    tz: Europe/Berlin
    dst_gap: skip
    dst_repeat: both
    shell: /usr/local/bin/backup --full # a comment
    workdir: /srv
    retries: 3
    backoff: exponential
    retry_delay: 30s
    retry_multiplier: 1.5
    retry_max_delay: 10m
    retry_jitter: 2s
    timeout_run: 2h
    misfire_grace: none
    overlap: queue-one
    env: {MODE: full, "EMPTY": "", QUOTE: "it's \"quoted\": yes # no"}
    target: {zone: eu-1, gpu: "true"}
    at_most_once: true
    paused: true
  - name: ping
    description: "# not a comment: 1.0 / null / ~ / 0x10 / é ✓"
    every: 45s
    anchor: 2030-01-01T00:00:00Z
    jitter: 500ms
    start: 2030-01-01T00:00:00Z
    end: 2031-01-01T00:00:00Z
    http: https://example.org/health?x=1&y=2
    method: PUT
    header: ["Accept: application/json", "X-Empty: ", "X-Colon: a: b"]
    body: "{\"a\": [1, 2]}\nline two\ttab"
    expect: [200, 204]
    follow_redirects: true
    insecure: true
    ca_file: /etc/ssl/ca.pem
    coalesce: false
    max_instances: 7
    overlap: allow
    paused: true
  - name: rollup
    cron: "*/5 * * * *"
    sql: "INSERT INTO t SELECT 1 -- rows: 'x'"
    conn: warehouse
    once: true
    paused: true
  - name: lookup
    at: 2035-06-01T12:00:00+02:00
    sql: SELECT 1
    dsn: host=db user=cron
    paused: true
  - name: "007"
    every: 1d
    noop: true
    paused: false
EOF
expect 0 'created rt/nightly' job apply -f "$tmp/defs.yaml"
expect 0 'unchanged rt/ping' job apply -f "$tmp/defs.yaml"
for j in nightly ping rollup lookup 007; do
  for fmt in yaml json; do
    checks=$((checks + 1))
    if ! "$ctl" job get "rt/$j" -o "$fmt" >"$tmp/$j.$fmt" 2>"$tmp/err"; then
      fail "job get rt/$j -o $fmt: $(cat "$tmp/err")"
      continue
    fi
    expect 0 "^unchanged rt/$j\$" job apply -f "$tmp/$j.$fmt"
    if [ "$(wc -l <"$tmp/out")" -ne 1 ]; then
      fail "job apply of job get rt/$j -o $fmt printed more than one line: $(cat "$tmp/out")"
    fi
  done
done
# The whole list, through a pipe, in both syntaxes.
for fmt in yaml json; do
  "$ctl" job list --namespace rt -o "$fmt" >"$tmp/all.$fmt"
  expect 0 'unchanged rt/nightly' job apply -f "$tmp/all.$fmt"
  if grep -vq '^unchanged ' "$tmp/out"; then
    fail "job apply of job list -o $fmt changed something: $(cat "$tmp/out")"
  fi
  if [ "$(grep -c '^unchanged ' "$tmp/out")" -ne 5 ]; then
    fail "job apply of job list -o $fmt: want 5 unchanged jobs: $(cat "$tmp/out")"
  fi
done
# An edited copy is an update, and the edit is stored: the round trip proves nothing if apply
# ignored the document.
sed 's/^every: "45s"$/every: "50s"/' "$tmp/ping.yaml" >"$tmp/ping-edit.yaml"
if cmp -s "$tmp/ping.yaml" "$tmp/ping-edit.yaml"; then
  fail "the YAML of rt/ping has no 'every: \"45s\"' line: $(cat "$tmp/ping.yaml")"
fi
expect 0 '^updated rt/ping$' job apply -f "$tmp/ping-edit.yaml"
expect 0 '^every +50s' job get rt/ping
# The state keys are read-only: a changed version or counter changes nothing.
sed -e 's/^version: .*/version: 99/' -e 's/^runs_total: .*/runs_total: 12/' "$tmp/rollup.yaml" \
  >"$tmp/rollup-state.yaml"
expect 0 '^unchanged rt/rollup$' job apply -f "$tmp/rollup-state.yaml"

# ---- completion --------------------------------------------------------------------------------
"$ctl" completion bash >"$tmp/comp.bash"
# complete WORDS...: the candidates bash offers for the last word (which may be empty).
complete_bash() {
  PATH="$bin:$PATH" bash --norc --noprofile -c '
    source "$1"; shift
    COMP_WORDS=(raftcronctl "$@"); COMP_CWORD=$#
    _raftcronctl
    printf "%s\n" "${COMPREPLY[@]}"' _ "$tmp/comp.bash" "$@"
}
# want CANDIDATE WORD...: CANDIDATE is among the completions of the last WORD (which may be
# empty: the cursor after a blank).
want() {
  local candidate=$1
  shift
  checks=$((checks + 1))
  if ! complete_bash "$@" | grep -qx -- "$candidate"; then
    fail "completing '$*': no '$candidate' in: $(complete_bash "$@" | tr '\n' ' ')"
  fi
}
want job ""
want job jo
want cluster c
want completion c
want apply job a
want add job a
want --misfire-grace job add x --mi
want --endpoints job add x --
want yaml job list -o ""
want json job list --output j
want retry_wait run list --state ret
want queue-one job add x --overlap q
want plain job get ""
want rt/nightly job get rt/n
want dash -o json job pause ""
want zsh completion ""
want save cluster snapshot ""
checks=$((checks + 1))
if complete_bash job get --endpoints "127.0.0.1:$closed" "" | grep -qx plain; then
  fail "completing job names at a closed port offered: $(complete_bash job get --endpoints "127.0.0.1:$closed" "")"
fi
if command -v zsh >/dev/null; then
  "$ctl" completion zsh >"$tmp/_raftcronctl"
  checks=$((checks + 1))
  zsh -n "$tmp/_raftcronctl" || fail "the zsh completion script does not parse"
  checks=$((checks + 1))
  zsh -f -c "autoload -U compinit && compinit -u -d '$tmp/zcomp' && source '$tmp/_raftcronctl' &&
             [ \"\${_comps[raftcronctl]}\" = _raftcronctl ]" ||
    fail "sourcing the zsh completion script does not register _raftcronctl"
elif [ -n "${RC_TESTS_COMPLETE:-}" ]; then
  fail "zsh not found (scripts/install-deps)"
fi
expect 2 'completion: unknown shell "fish"' completion fish

# ---- terminals: colour and progress -------------------------------------------------------------
# on_tty CMD...: run CMD with stdin, stdout and stderr on a pseudo-terminal; the screen's bytes.
on_tty() {
  local line
  line=$(printf '%q ' "$@")
  script -qec "$line" /dev/null </dev/null
}
checks=$((checks + 1))
if ! on_tty env TERM=xterm "$ctl" job list | grep -q $'\033\\[1mNAMESPACE'; then
  fail "job list on a terminal has no bold header"
fi
checks=$((checks + 1))
if on_tty env TERM=xterm NO_COLOR=1 "$ctl" job list | grep -q $'\033'; then
  fail "job list with NO_COLOR=1 wrote an escape sequence"
fi
checks=$((checks + 1))
if "$ctl" job list | grep -q $'\033'; then
  fail "job list into a pipe wrote an escape sequence"
fi
# 600 jobs: long enough that a terminal sees the progress line (redrawn every 100 ms).
{
  echo "namespace: bulk"
  echo "jobs:"
  for i in $(seq 1 600); do echo "  - {name: j$i, every: 1h, noop: true, paused: true}"; done
} >"$tmp/bulk.yaml"
on_tty env TERM=xterm "$ctl" job apply -f "$tmp/bulk.yaml" >"$tmp/tty.out"
checks=$((checks + 1))
if ! grep -qE 'job apply: [0-9]+/600 \([0-9]+%\)' "$tmp/tty.out"; then
  fail "job apply of 600 jobs on a terminal showed no progress: $(tail -c 300 "$tmp/tty.out")"
fi
checks=$((checks + 1))
if [ "$(grep -c 'created bulk/' "$tmp/tty.out")" -ne 600 ]; then
  fail "job apply on a terminal: want 600 created lines, got $(grep -c 'created bulk/' "$tmp/tty.out")"
fi
"$ctl" job apply -f "$tmp/bulk.yaml" >"$tmp/pipe.out" 2>"$tmp/pipe.err"
checks=$((checks + 1))
if [ -s "$tmp/pipe.err" ] || [ "$(grep -c '^unchanged bulk/' "$tmp/pipe.out")" -ne 600 ]; then
  fail "job apply into a pipe: want 600 unchanged lines and an empty stderr, got $(grep -c . "$tmp/pipe.out") lines, stderr $(head -c 200 "$tmp/pipe.err")"
fi

finish test_ctl_habits
