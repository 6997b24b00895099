#!/usr/bin/env bash
# The Debian package on this machine, as an operator meets it (docs/operations.md, "Installing
# the Debian package"): `make deb`'s build (scripts/make-deb) from this source tree; lintian
# with no error; dpkg -i and apt-get -f install; the raftcron system user, /var/lib/raftcron
# (0700, the user's), /etc/raftcron/raftcrond.yaml as a conffile, the man pages, completion,
# and the library: a program built with `pkg-config raftcron` talks to the node. The node is
# started through systemd when it runs here, else with the unit's own ExecStart and User=, on
# free ports (RAFTCRON_* variables, as a `systemctl edit` drop-in would set them);
# `raftcronctl cluster status` answers; SIGTERM stops it with exit 0; dpkg --purge removes it
# all. Needs root and dpkg; it refuses to touch a raftcron package it did not install.
set -u
bin="${RC_BIN:-build/bin}"
src="${RC_SRC:-.}"
cmd=/usr/bin/raftcronctl
. "$(dirname "$0")/lib.sh"
skip() {
  echo "cannot run: $*"
  exit "$([ -n "${RC_TESTS_COMPLETE:-}" ] && echo 1 || echo 77)"
}
[ "$(id -u)" -eq 0 ] || skip "needs root (it installs a package)"
command -v dpkg-buildpackage >/dev/null && command -v lintian >/dev/null ||
  skip "dpkg-buildpackage or lintian missing (scripts/install-deps)"
if dpkg-query -W -f='${Status}' raftcron 2>/dev/null | grep -q 'install ok'; then
  skip "a raftcron package is already installed here; this test installs and purges its own"
fi
node_pid=
installed=
cleanup() {
  if [ -n "$node_pid" ]; then kill -9 "$node_pid" 2>/dev/null; fi
  if [ -n "$installed" ]; then dpkg --purge raftcron >/dev/null 2>&1; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# ---- build and lint ----------------------------------------------------------------------------
out="$(dirname "$bin")/deb"
deb=$(bash "$src/scripts/make-deb" "$out" 2>"$tmp/make-deb.err" | tail -1)
checks=$((checks + 1))
if [ ! -f "$deb" ]; then
  fail "scripts/make-deb made no package: $(tail -20 "$tmp/make-deb.err")"
  finish test_deb
  exit 1
fi
checks=$((checks + 1))
case "$(basename "$deb")" in
raftcron_*_"$(dpkg --print-architecture)".deb) ;;
*) fail "package file name $(basename "$deb") is not raftcron_VERSION_ARCH.deb" ;;
esac
lintian --tag-display-limit 0 "$deb" >"$tmp/lintian" 2>&1
checks=$((checks + 1))
if grep -q '^E: ' "$tmp/lintian"; then
  fail "lintian reports errors: $(grep '^E: ' "$tmp/lintian")"
fi
checks=$((checks + 1))
if ! dpkg-deb -f "$deb" Depends | grep -q 'libraft0 (>= 0.22'; then
  fail "Depends does not name libraft0 >= 0.22: $(dpkg-deb -f "$deb" Depends)"
fi

# ---- install ------------------------------------------------------------------------------------
installed=1
dpkg -i "$deb" >"$tmp/dpkg.log" 2>&1 || true
DEBIAN_FRONTEND=noninteractive apt-get -f install -y -qq >>"$tmp/dpkg.log" 2>&1
checks=$((checks + 1))
if ! dpkg-query -W -f='${Status}' raftcron | grep -q 'install ok installed'; then
  fail "raftcron is not installed: $(tail -20 "$tmp/dpkg.log")"
  finish test_deb
  exit 1
fi
check() { # WHAT CMD...: CMD succeeds
  local what=$1
  shift
  checks=$((checks + 1))
  "$@" >/dev/null 2>&1 || fail "$what"
}
check "no raftcron system user" bash -c '[ "$(id -u raftcron)" -lt 1000 ]'
check "/var/lib/raftcron is not 0700 raftcron:raftcron" \
  bash -c '[ "$(stat -c %a:%U:%G /var/lib/raftcron)" = 700:raftcron:raftcron ]'
check "/etc/raftcron/raftcrond.yaml is not a conffile" \
  bash -c 'dpkg-query -W -f="\${Conffiles}" raftcron | grep -q /etc/raftcron/raftcrond.yaml'
check "/etc/raftcron/raftcrond.yaml is readable by others" \
  bash -c '[ "$(stat -c %a:%G /etc/raftcron/raftcrond.yaml)" = 640:raftcron ]'
check "man raftcronctl(1) missing" test -f /usr/share/man/man1/raftcronctl.1.gz
check "man raftcrond(8) missing" test -f /usr/share/man/man8/raftcrond.8.gz
check "the man page lacks the job group's help" \
  bash -c 'zcat /usr/share/man/man1/raftcronctl.1.gz | grep -q "raftcronctl job apply"'
check "bash completion missing" test -f /usr/share/bash-completion/completions/raftcronctl
check "zsh completion missing" test -f /usr/share/zsh/vendor-completions/_raftcronctl
check "raftcrond.service missing" test -f /lib/systemd/system/raftcrond.service
check "raftcrond@.service missing" test -f /lib/systemd/system/raftcrond@.service
check "raftcrond-worker@.service missing" test -f /lib/systemd/system/raftcrond-worker@.service
check "raftcrond --version fails" /usr/bin/raftcrond --version
check "pkg-config raftcron fails" pkg-config --exists raftcron
cc "$src/examples/client_example.c" -o "$tmp/client_example" $(pkg-config --cflags --libs raftcron) \
  >"$tmp/cc.log" 2>&1 || fail "client_example does not build against the package: $(cat "$tmp/cc.log")"

# ---- start a node as the unit does -------------------------------------------------------------
rpc="127.0.0.1:$(freeport)"
raft="127.0.0.1:$(freeport)"
unit=/lib/systemd/system/raftcrond.service
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
user=$(sed -n 's/^User=//p' "$unit")
checks=$((checks + 1))
[ "$exec_start" = "/usr/bin/raftcrond --config /etc/raftcron/raftcrond.yaml" ] ||
  fail "unexpected ExecStart: $exec_start"
if [ -d /run/systemd/system ]; then
  mkdir -p /etc/systemd/system/raftcrond.service.d
  printf '[Service]\nEnvironment=RAFTCRON_RPC_ADDR=%s RAFTCRON_RAFT_ADDR=%s\n' "$rpc" "$raft" \
    >/etc/systemd/system/raftcrond.service.d/test.conf
  systemctl daemon-reload
  check "systemctl start raftcrond" systemctl start raftcrond
  started_by=systemd
else
  # setpriv execs the command as User= (runuser would stand between it and the signal).
  # shellcheck disable=SC2086
  RAFTCRON_RPC_ADDR=$rpc RAFTCRON_RAFT_ADDR=$raft setpriv --reuid="$user" --regid="$user" \
    --init-groups -- $exec_start >"$tmp/node.log" 2>&1 &
  node_pid=$!
  started_by="ExecStart as $user"
fi
deadline=$((SECONDS + 30))
until /usr/bin/raftcronctl --endpoints "$rpc" --timeout 2s cluster status >/dev/null 2>&1; do
  if [ $SECONDS -ge $deadline ]; then
    fail "the packaged node ($started_by) did not answer within 30 s: $(tail -5 "$tmp/node.log" 2>/dev/null)"
    break
  fi
  sleep 0.2
done
expect 0 'node +1 leader' --endpoints "$rpc" cluster status
expect 0 'created default/pkg' --endpoints "$rpc" job add pkg --every 1h --noop --paused
checks=$((checks + 1))
"$tmp/client_example" "$rpc" >"$tmp/example.out" 2>&1 ||
  fail "client_example against the packaged node: $(tail -5 "$tmp/example.out")"
check "the data dir is not the raftcron user's" \
  bash -c '[ "$(stat -c %U /var/lib/raftcron/cluster-id)" = raftcron ]'
if [ "$started_by" = systemd ]; then
  check "systemctl stop raftcrond" systemctl stop raftcrond
  rm -rf /etc/systemd/system/raftcrond.service.d
  systemctl daemon-reload
else
  kill -TERM "$node_pid"
  wait "$node_pid"
  rc=$?
  node_pid=
  checks=$((checks + 1))
  [ "$rc" -eq 0 ] || fail "the node exited $rc on SIGTERM: $(tail -5 "$tmp/node.log")"
fi

# ---- purge --------------------------------------------------------------------------------------
dpkg --purge raftcron >"$tmp/purge.log" 2>&1
installed=
check "dpkg --purge failed: $(tail -3 "$tmp/purge.log")" \
  bash -c '! dpkg-query -W -f="\${Status}" raftcron 2>/dev/null | grep -q "ok installed"'
check "purge left /var/lib/raftcron" test ! -e /var/lib/raftcron
check "purge left /etc/raftcron" test ! -e /etc/raftcron
check "purge left /usr/bin/raftcrond" test ! -e /usr/bin/raftcrond
check "purge left the raftcron user" bash -c '! getent passwd raftcron'

finish test_deb
