#!/bin/sh
# Container entrypoint of raftcrond (deploy/docker/Dockerfile): turns a stable network identity
# and mounted credentials into the node's flags, as a Kubernetes StatefulSet or compose gives
# them.
#
#   node   (default) HOSTNAME is NAME-ORDINAL (raftcron-0, raftcron-1, ...): the node id is
#          ORDINAL + 1; its addresses are HOSTNAME.RAFTCRON_PEER_DOMAIN:7201 (Raft) and :7101
#          (RPC); the peers are NAME-0 .. NAME-(RAFTCRON_REPLICAS - 1).
#          On a first start (empty data dir) ordinal 0 bootstraps the cluster, unless
#          RAFTCRON_INITIAL_CLUSTER_STATE=existing or a peer knows a leader (a lost volume
#          must not make a second cluster: it joins instead); every other ordinal joins.
#          On a restart the data dir remembers the cluster, and the flags are harmless.
#          The REST API (/health, /ready, /metrics) listens on RAFTCRON_HTTP_ADDR
#          (0.0.0.0:7301; empty: none).
#   worker RAFTCRON_ROLE=worker: a worker agent; its id is RAFTCRON_WORKER_ID, or one derived
#          from HOSTNAME (1000 + a hash: a Deployment's pod names are unique), and it joins
#          every peer.
#
# Credentials (docs/security.md; a node listens on its pod's address, beyond loopback, and
# raftcrond refuses that without TLS and client authentication):
#   RAFTCRON_TLS_DIR (/etc/raftcron/tls)       ca.crt, tls.crt, tls.key: the names of a
#                                              Kubernetes TLS Secret with its CA (as
#                                              cert-manager writes it). Nodes need all three;
#                                              workers need ca.crt, and use tls.crt/tls.key
#                                              when present (their client certificate).
#   RAFTCRON_SECRET_DIR (/etc/raftcron/secret) token (nodes and workers: the RPC token,
#                                              required unless RAFTCRON_RPC_CLIENT_AUTH=require
#                                              or a worker has a certificate) and
#                                              cluster-secret (nodes, optional: Raft peers
#                                              prove it too).
#   RAFTCRON_PRIVATE_DIR (/run/raftcron)       where the key, token and secret are handed to
#                                              raftcrond: a symlink to the mounted file when it
#                                              is private to this user (0600; SIGHUP then reads
#                                              a renewed one), else a private copy (a Secret
#                                              mounted with fsGroup is group-readable, which
#                                              raftcrond refuses; a renewal then takes effect
#                                              at the next start).
#   RAFTCRON_INSECURE=1                        start without TLS material (nodes get
#                                              --insecure); without it, missing material stops
#                                              the start (exit 2).
#   RAFTCRON_PEER_TLS_NAME                     passed as --peer-tls-name (Raft peers' shared
#                                              certificate name) when set.
# One certificate may serve the whole set when it names every pod, e.g.
# DNS:*.raftcron.<namespace>.svc: Raft peers and RPC clients (joins, workers, raftcronctl)
# dial the pods by those names and check the certificate against them.
#
# Settings: RAFTCRON_PEER_DOMAIN (the headless Service's domain, e.g. raftcron.default.svc;
# compose: empty), RAFTCRON_REPLICAS (3), RAFTCRON_DATA (/var/lib/raftcron), RAFTCRON_ROLE,
# RAFTCRON_RAFT_PORT (7201), RAFTCRON_RPC_PORT (7101).
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
http_addr=${RAFTCRON_HTTP_ADDR-0.0.0.0:7301}
tls_dir=${RAFTCRON_TLS_DIR:-/etc/raftcron/tls}
secret_dir=${RAFTCRON_SECRET_DIR:-/etc/raftcron/secret}
private_dir=${RAFTCRON_PRIVATE_DIR:-/run/raftcron}
insecure=${RAFTCRON_INSECURE:-}
peer_tls_name=${RAFTCRON_PEER_TLS_NAME:-}
client_auth=${RAFTCRON_RPC_CLIENT_AUTH:-}
# The options below are this script's, not raftcrond's, or become flags: keep them out of its
# environment.
unset RAFTCRON_PEER_DOMAIN RAFTCRON_REPLICAS RAFTCRON_ROLE RAFTCRON_RAFT_PORT RAFTCRON_RPC_PORT \
  RAFTCRON_HTTP_ADDR RAFTCRON_TLS_DIR RAFTCRON_SECRET_DIR RAFTCRON_PRIVATE_DIR \
  RAFTCRON_INSECURE RAFTCRON_PEER_TLS_NAME 2>/dev/null || true

case $replicas in
'' | *[!0-9]*) fail "RAFTCRON_REPLICAS=\"$replicas\" is not a number" ;;
esac
[ "$replicas" -ge 1 ] || fail "RAFTCRON_REPLICAS must be at least 1"
# The spellings raftcrond accepts for a boolean (docs/configuration.md, Values).
case $(printf '%s' "$insecure" | tr '[:upper:]' '[:lower:]') in
1 | true | yes | on) insecure=1 ;;
'' | 0 | false | no | off) insecure=0 ;;
*) fail "RAFTCRON_INSECURE=\"$insecure\" is not a boolean (1 or 0)" ;;
esac

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

# private NAME FILE: the path raftcrond is given for a key or secret FILE, in the private dir:
# a symlink to FILE when FILE is private (mode 0600 or stricter: raftcrond refuses more), else
# a copy private to this user.
private() {
  [ -r "$2" ] || fail "$2 cannot be read by uid $(id -u) (mount it readable by the container's user)"
  if ! mkdir -p "$private_dir" 2>/dev/null || [ ! -w "$private_dir" ]; then
    fail "RAFTCRON_PRIVATE_DIR $private_dir cannot be written (mount an emptyDir there)"
  fi
  rm -f "$private_dir/$1"
  mode=$(stat -L -c %a "$2")
  case $mode in
  [0-7]00 | [0-7]) ln -s "$2" "$private_dir/$1" ;;
  *)
    (umask 077 && cp "$2" "$private_dir/$1") || fail "cannot copy $2 to $private_dir"
    echo "entrypoint: $2 is readable by group or others (mode $mode); raftcrond is given a" \
      "private copy, $private_dir/$1 (a renewed file takes effect at the next start)" >&2
    ;;
  esac
  echo "$private_dir/$1"
}

# Credentials: TLS from $tls_dir, the token and the cluster secret from $secret_dir. tls and
# ctl (raftcronctl's flags) are set; tls is empty without TLS.
ca=$tls_dir/ca.crt
cert=$tls_dir/tls.crt
key=$tls_dir/tls.key
tls=""
ctl=""
have=0
for f in "$ca" "$cert" "$key"; do
  [ -e "$f" ] && have=$((have + 1))
done
tls_missing() { # WHAT: the reason to refuse, or --insecure
  fail "$1 in RAFTCRON_TLS_DIR=$tls_dir: nodes listen on the pod's address, beyond loopback," \
    "where raftcrond needs TLS (docs/security.md). Mount ca.crt, tls.crt and tls.key there" \
    "(a Kubernetes TLS Secret with ca.crt, as cert-manager makes it; scripts/gen-certs), or" \
    "set RAFTCRON_INSECURE=1 to run without (anyone who reaches the ports can run commands" \
    "on every worker)"
}
if [ "$role" = worker ]; then
  if [ -e "$ca" ]; then
    tls="--tls-ca $ca"
    ctl="--cacert $ca"
    if [ -e "$cert" ] && [ -e "$key" ]; then
      k=$(private tls.key "$key")
      tls="$tls --tls-cert $cert --tls-key $k"
      ctl="$ctl --cert $cert --key $k"
    elif [ -e "$cert" ] || [ -e "$key" ]; then
      fail "RAFTCRON_TLS_DIR=$tls_dir has only one of tls.crt and tls.key"
    fi
  elif [ "$insecure" = 0 ]; then
    fail "no ca.crt in RAFTCRON_TLS_DIR=$tls_dir: a worker agent checks the cluster's" \
      "certificates against it (docs/security.md). Mount it, or set RAFTCRON_INSECURE=1 to" \
      "connect without TLS"
  fi
elif [ $have = 3 ]; then
  k=$(private tls.key "$key")
  tls="--tls-ca $ca --tls-cert $cert --tls-key $k"
  ctl="--cacert $ca --cert $cert --key $k"
  if [ -n "$peer_tls_name" ]; then
    tls="$tls --peer-tls-name $peer_tls_name"
  fi
elif [ $have != 0 ]; then
  tls_missing "only some of ca.crt, tls.crt and tls.key are"
elif [ "$insecure" = 0 ]; then
  tls_missing "no TLS material (ca.crt, tls.crt, tls.key)"
fi
ca_flags=$tls # empty: no TLS
token=""
if [ -e "$secret_dir/token" ]; then
  token=$(private token "$secret_dir/token")
  tls="$tls --auth-token-file $token"
  ctl="$ctl --token-file $token"
elif [ -n "$ca_flags" ] && [ "$client_auth" != require ] &&
  { [ "$role" != worker ] || [ ! -e "$cert" ]; }; then
  fail "no token in RAFTCRON_SECRET_DIR=$secret_dir: the RPC port authenticates its clients" \
    "with it (docs/security.md). Mount it (e.g. openssl rand -hex 32), set" \
    "RAFTCRON_RPC_CLIENT_AUTH=require with client certificates, or RAFTCRON_INSECURE=1"
fi
if [ "$role" != worker ] && [ -e "$secret_dir/cluster-secret" ]; then
  tls="$tls --cluster-secret-file $(private cluster-secret "$secret_dir/cluster-secret")"
fi
if [ -z "$ca_flags" ] && [ "$insecure" = 1 ]; then
  echo "entrypoint: RAFTCRON_INSECURE=1: no TLS; anyone who reaches the ports can run" \
    "commands on every worker" >&2
fi

if [ "$role" = worker ]; then
  set_name=${RAFTCRON_SET:-raftcron}
  id=${RAFTCRON_WORKER_ID:-}
  if [ -z "$id" ]; then
    id=$((1000 + $(printf '%s' "$host" | cksum | cut -d' ' -f1) % 1000000000))
  fi
  unset RAFTCRON_WORKER_ID RAFTCRON_SET
  # shellcheck disable=SC2086 # $tls is a list of flags; the paths hold no spaces
  run raftcrond --worker --id "$id" --join "$(peers "$set_name")" $tls
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
if [ -n "$http_addr" ]; then
  set -- "$@" --http-addr "$http_addr"
fi
if [ -z "$ca_flags" ] && [ "$insecure" = 1 ]; then
  set -- "$@" --insecure
fi
# shellcheck disable=SC2086 # $tls is a list of flags; the paths hold no spaces
set -- "$@" $tls

# raftcrond listens on its own name's address: wait until the cluster's DNS has it (a headless
# Service publishes a new pod's name a moment after the pod starts).
if [ "${RAFTCRON_ENTRYPOINT_DRY_RUN:-}" != 1 ]; then
  waited=0
  until getent hosts "$self" >/dev/null 2>&1; do
    [ $waited -lt 120 ] || fail "$self does not resolve after 120 s (the headless Service must" \
      "publish not-ready pods: publishNotReadyAddresses: true)"
    sleep 1
    waited=$((waited + 1))
  done
fi

fresh=1
if [ -d "$data" ] && [ -n "$(ls -A "$data" 2>/dev/null)" ]; then
  fresh=0
fi
state=${RAFTCRON_INITIAL_CLUSTER_STATE:-new}
unset RAFTCRON_INITIAL_CLUSTER_STATE
case $state in new | existing) ;; *) fail "RAFTCRON_INITIAL_CLUSTER_STATE=\"$state\" is neither new nor existing" ;; esac
if [ "$ordinal" = 0 ] && [ $fresh = 1 ] && [ "$state" = new ]; then
  # A peer that knows a leader means the cluster exists (this pod lost its volume): join it.
  # Answering is not enough: on a first start the peers start at the same moment and answer,
  # waiting to join, with no leader (--stale would make node 0 join them and nobody bootstrap).
  # shellcheck disable=SC2086 # $ctl is a list of flags
  if [ -n "$others" ] && raftcronctl --endpoints "$others" --timeout 3s $ctl cluster status \
    >/dev/null 2>&1; then
    set -- "$@" --join "$others"
  else
    set -- "$@" --bootstrap
  fi
elif [ -n "$others" ]; then
  set -- "$@" --join "$others"
fi
run "$@"
