#!/bin/sh
# Container entrypoint of raftcrond (deploy/docker/Dockerfile): turns a stable network identity
# into the node's flags, as a Kubernetes StatefulSet or compose gives one.
#
#   node   (default) HOSTNAME is NAME-ORDINAL (raftcron-0, raftcron-1, ...): the node id is
#          ORDINAL + 1; its addresses are HOSTNAME.RAFTCRON_PEER_DOMAIN:7201 (Raft) and :7101
#          (RPC); the peers are NAME-0 .. NAME-(RAFTCRON_REPLICAS - 1).
#          On a first start (empty data dir) ordinal 0 bootstraps the cluster, unless
#          RAFTCRON_INITIAL_CLUSTER_STATE=existing or a peer already answers (a lost volume
#          must not make a second cluster: it joins instead); every other ordinal joins.
#          On a restart the data dir remembers the cluster, and the flags are harmless.
#   worker RAFTCRON_ROLE=worker: a worker agent; its id is RAFTCRON_WORKER_ID, or one derived
#          from HOSTNAME (1000 + a hash: a Deployment's pod names are unique), and it joins
#          every peer.
#
# Settings: RAFTCRON_PEER_DOMAIN (the headless Service's domain, e.g. raftcron.default.svc;
# compose: empty), RAFTCRON_REPLICAS (3), RAFTCRON_DATA (/var/lib/raftcron), RAFTCRON_ROLE.
# Other RAFTCRON_* variables reach raftcrond as they are (docs/configuration.md).
# RAFTCRON_ENTRYPOINT_DRY_RUN=1 prints the command instead of running it (for tests).
set -eu

fail() {
  echo "entrypoint: $*" >&2
  exit 2
}

host=${HOSTNAME:-$(hostname)}
domain=${RAFTCRON_PEER_DOMAIN-}
replicas=${RAFTCRON_REPLICAS:-3}
data=${RAFTCRON_DATA:-/var/lib/raftcron}
role=${RAFTCRON_ROLE:-node}
raft_port=${RAFTCRON_RAFT_PORT:-7201}
rpc_port=${RAFTCRON_RPC_PORT:-7101}
# The options below are this script's, not raftcrond's: keep them out of its environment.
unset RAFTCRON_PEER_DOMAIN RAFTCRON_REPLICAS RAFTCRON_ROLE RAFTCRON_RAFT_PORT RAFTCRON_RPC_PORT \
  2>/dev/null || true

case $replicas in
'' | *[!0-9]*) fail "RAFTCRON_REPLICAS=\"$replicas\" is not a number" ;;
esac
[ "$replicas" -ge 1 ] || fail "RAFTCRON_REPLICAS must be at least 1"

fqdn() { # NAME: NAME, with the peer domain when there is one
  if [ -n "$domain" ]; then echo "$1.$domain"; else echo "$1"; fi
}

# The set's name: HOSTNAME without its ordinal (worker pods: RAFTCRON_SET, default raftcron).
peers() { # SET [SKIP]: the RPC addresses of the members, leaving out ordinal SKIP
  i=0
  list=""
  while [ "$i" -lt "$replicas" ]; do
    if [ "$i" != "${2:-}" ]; then
      list="$list${list:+,}$(fqdn "$1-$i"):$rpc_port"
    fi
    i=$((i + 1))
  done
  echo "$list"
}

run() {
  if [ "${RAFTCRON_ENTRYPOINT_DRY_RUN:-}" = 1 ]; then
    echo "$*"
    exit 0
  fi
  exec "$@"
}

if [ "$role" = worker ]; then
  set_name=${RAFTCRON_SET:-raftcron}
  id=${RAFTCRON_WORKER_ID:-}
  if [ -z "$id" ]; then
    id=$((1000 + $(printf '%s' "$host" | cksum | cut -d' ' -f1) % 1000000000))
  fi
  unset RAFTCRON_WORKER_ID RAFTCRON_SET
  run raftcrond --worker --id "$id" --join "$(peers "$set_name")"
fi
[ "$role" = node ] || fail "RAFTCRON_ROLE=\"$role\" is neither node nor worker"

ordinal=${host##*-}
set_name=${host%-*}
case $ordinal in
'' | *[!0-9]*) fail "HOSTNAME \"$host\" is not NAME-ORDINAL (a StatefulSet pod's name)" ;;
esac
[ "$set_name" != "$host" ] && [ -n "$set_name" ] || fail "HOSTNAME \"$host\" has no NAME before the ordinal"
[ "$ordinal" -lt "$replicas" ] || fail "ordinal $ordinal is not below RAFTCRON_REPLICAS=$replicas"
id=$((ordinal + 1))
self=$(fqdn "$host")
others=$(peers "$set_name" "$ordinal")
set -- raftcrond --id "$id" --raft-addr "$self:$raft_port" --rpc-addr "$self:$rpc_port" --data "$data"

fresh=1
if [ -d "$data" ] && [ -n "$(ls -A "$data" 2>/dev/null)" ]; then
  fresh=0
fi
state=${RAFTCRON_INITIAL_CLUSTER_STATE:-new}
unset RAFTCRON_INITIAL_CLUSTER_STATE
case $state in new | existing) ;; *) fail "RAFTCRON_INITIAL_CLUSTER_STATE=\"$state\" is neither new nor existing" ;; esac
if [ "$ordinal" = 0 ] && [ $fresh = 1 ] && [ "$state" = new ]; then
  # A peer that answers means the cluster exists (this pod lost its volume): join it.
  if [ -n "$others" ] && raftcronctl --endpoints "$others" --timeout 3s cluster status --stale \
    >/dev/null 2>&1; then
    set -- "$@" --join "$others"
  else
    set -- "$@" --bootstrap
  fi
elif [ -n "$others" ]; then
  set -- "$@" --join "$others"
fi
run "$@"
