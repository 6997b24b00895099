#!/usr/bin/env bash
# What can be proven of deploy/ without images or a Kubernetes cluster (docs/operations.md says
# what is and is not exercised):
#   - the entrypoint turns StatefulSet pod names into node flags: raftcron-N is id N + 1 with
#     its own addresses, ordinal 0 bootstraps only a fresh cluster (not with a data dir, not
#     when a peer knows a leader, not when told the cluster exists), the others join every
#     peer; workers get a stable id from their pod name; bad names and settings are refused
#     (exit 2);
#   - it passes the mounted credentials (TLS, token, cluster secret; private copies of
#     group-readable ones) and the REST address, refuses to start without TLS material, and
#     passes --insecure only when RAFTCRON_INSECURE says so;
#   - three pods started through it for real (names resolved by a private /etc/hosts in a mount
#     namespace) form a cluster over TLS with one certificate for the set: /ready is 200 on
#     each, raftcronctl reaches it with the CA and the token, every node answers GET
#     /v1/cluster (followers forward to the leader by its name), a worker agent started through
#     it with its own certificate registers, and all exit cleanly on SIGTERM;
#   - deploy/compose.yaml and deploy/k8s/*.yaml are well-formed YAML with the promised shape
#     (a certs service, 3 nodes and a worker with healthchecks on /ready, credentials mounted;
#     a StatefulSet of 3 behind a headless Service, PVCs, PDB maxUnavailable 1, probes on
#     /ready and /health at 7301, Secrets mounted 0400, a worker Deployment with its own), and
#     the Dockerfile is multi-stage on Debian 12 slim, runs as a non-root user, exposes 7301 and
#     installs the package of every library the binaries link.
set -u
bin="${RC_BIN:-build/bin}"
src="${RC_SRC:-.}"
ep="$src/deploy/docker/entrypoint.sh"
cmd=$ep
. "$(dirname "$0")/lib.sh"

# Credentials as the pods get them (docs/operations.md): one certificate for the whole set,
# naming every pod of the headless Service's domain, its CA, the token and the cluster secret.
if ! "$src/scripts/gen-certs" "$tmp/pki" ca >/dev/null ||
  ! "$src/scripts/gen-certs" "$tmp/pki" node set 'DNS:*.raftcron.test.svc' DNS:localhost \
    IP:127.0.0.1 >/dev/null; then
  fail "scripts/gen-certs could not make the set's certificate"
fi
mkdir -p "$tmp/tls" "$tmp/secret"
cp "$tmp/pki/ca.pem" "$tmp/tls/ca.crt"
cp "$tmp/pki/set.pem" "$tmp/tls/tls.crt"
cp "$tmp/pki/set.key" "$tmp/tls/tls.key"
chmod 600 "$tmp/tls/tls.key"
openssl rand -hex 32 >"$tmp/secret/token"
openssl rand -hex 32 >"$tmp/secret/cluster-secret"
chmod 600 "$tmp/secret/token"
# A Secret mounted with an fsGroup is group-readable (0440); raftcrond refuses that, so the
# entrypoint hands it a private copy.
chmod 640 "$tmp/secret/cluster-secret"

# entry WANT_CODE PATTERN VAR=VALUE...: run the entrypoint (dry run) with these variables.
entry() {
  local code=$1 pattern=$2
  shift 2
  checks=$((checks + 1))
  env -i PATH="$bin:$PATH" RAFTCRON_ENTRYPOINT_DRY_RUN=1 RAFTCRON_DATA="$tmp/empty" \
    RAFTCRON_TLS_DIR="$tmp/tls" RAFTCRON_SECRET_DIR="$tmp/secret" RAFTCRON_PRIVATE_DIR="$tmp/priv" \
    "$@" sh "$ep" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  if [ "$rc" -ne "$code" ]; then
    fail "entrypoint $* exited $rc, want $code: $(cat "$tmp/out" "$tmp/err")"
  elif ! cat "$tmp/out" "$tmp/err" | grep -qE -- "$pattern"; then
    fail "entrypoint $*: no /$pattern/ in: $(cat "$tmp/out" "$tmp/err")"
  fi
}
D=RAFTCRON_PEER_DOMAIN=raftcron.prod.svc
P0=raftcron-0.raftcron.prod.svc
P1=raftcron-1.raftcron.prod.svc
P2=raftcron-2.raftcron.prod.svc
# The flags every node gets from the mounted credentials (key and secrets in the private dir).
H="--http-addr 0.0.0.0:7301"
T="--tls-ca $tmp/tls/ca.crt --tls-cert $tmp/tls/tls.crt --tls-key $tmp/priv/tls.key"
T="$T --auth-token-file $tmp/priv/token --cluster-secret-file $tmp/priv/cluster-secret"
mkdir -p "$tmp/empty" "$tmp/used"
touch "$tmp/used/metadata1"

entry 0 "^raftcrond --id 1 --raft-addr $P0:7201 --rpc-addr $P0:7101 --data $tmp/empty $H $T --bootstrap\$" \
  HOSTNAME=raftcron-0 "$D"
entry 0 "^raftcrond --id 2 --raft-addr $P1:7201 --rpc-addr $P1:7101 --data $tmp/empty $H $T --join $P0:7101,$P2:7101\$" \
  HOSTNAME=raftcron-1 "$D"
entry 0 "^raftcrond --id 3 --raft-addr $P2:7201 --rpc-addr $P2:7101 --data $tmp/empty $H $T --join $P0:7101,$P1:7101\$" \
  HOSTNAME=raftcron-2 "$D"
# The private dir: a link to the key that is private already (SIGHUP reads a renewed one), a
# private copy of the group-readable secret, equal to it.
checks=$((checks + 1))
[ "$(readlink "$tmp/priv/tls.key")" = "$tmp/tls/tls.key" ] ||
  fail "the private key (mode 0600) is not linked from the private dir: $(ls -l "$tmp/priv")"
checks=$((checks + 1))
[ ! -L "$tmp/priv/cluster-secret" ] && [ "$(stat -c %a "$tmp/priv/cluster-secret")" = 600 ] &&
  cmp -s "$tmp/priv/cluster-secret" "$tmp/secret/cluster-secret" ||
  fail "the group-readable cluster secret has no private copy: $(ls -l "$tmp/priv")"
grep -q 'cluster-secret is readable by group or others (mode 640); raftcrond is given a private copy' \
  "$tmp/err" || fail "the entrypoint does not say it copied the group-readable secret: $(cat "$tmp/err")"
# Options: another REST address or none; a shared peer certificate name.
entry 0 "^raftcrond --id 1 .* --data $tmp/empty --http-addr 10.1.2.3:8080 --tls-ca " \
  HOSTNAME=raftcron-0 "$D" RAFTCRON_HTTP_ADDR=10.1.2.3:8080
entry 0 "^raftcrond --id 1 .* --data $tmp/empty --tls-ca " HOSTNAME=raftcron-0 "$D" RAFTCRON_HTTP_ADDR=
entry 0 " --tls-key $tmp/priv/tls.key --peer-tls-name raftcron-peer --auth-token-file " \
  HOSTNAME=raftcron-1 "$D" RAFTCRON_PEER_TLS_NAME=raftcron-peer
# A restart: the data dir holds the cluster; node 0 must not bootstrap again.
entry 0 "^raftcrond --id 1 .* --data $tmp/used $H $T --join $P1:7101,$P2:7101\$" \
  HOSTNAME=raftcron-0 "$D" RAFTCRON_DATA="$tmp/used"
# Told that the cluster exists (a lost volume): join.
entry 0 "^raftcrond --id 1 .* --join $P1:7101,$P2:7101\$" \
  HOSTNAME=raftcron-0 "$D" RAFTCRON_INITIAL_CLUSTER_STATE=existing
# Five replicas, another set name, no domain (compose), other ports.
entry 0 "^raftcrond --id 5 --raft-addr sched-4:7301 --rpc-addr sched-4:7401 .* --join sched-0:7401,sched-1:7401,sched-2:7401,sched-3:7401\$" \
  HOSTNAME=sched-4 RAFTCRON_REPLICAS=5 RAFTCRON_RAFT_PORT=7301 RAFTCRON_RPC_PORT=7401
entry 0 "^raftcrond --id 1 --raft-addr solo-0:7201 .* --bootstrap\$" HOSTNAME=solo-0 RAFTCRON_REPLICAS=1
# Workers: a stable id from the pod name, every peer to join, the CA and the token (no key of
# their own: the nodes' certificate is not theirs).
mkdir -p "$tmp/wtls"
cp "$tmp/tls/ca.crt" "$tmp/wtls/ca.crt"
entry 0 "^raftcrond --worker --id [0-9]+ --join $P0:7101,$P1:7101,$P2:7101 --tls-ca $tmp/wtls/ca.crt --auth-token-file $tmp/priv/token\$" \
  HOSTNAME=raftcron-worker-7f9c4-x2b8q "$D" RAFTCRON_ROLE=worker RAFTCRON_TLS_DIR="$tmp/wtls"
id_a=$(sed -n 's/.*--id \([0-9]*\).*/\1/p' "$tmp/out")
entry 0 "--id $id_a " HOSTNAME=raftcron-worker-7f9c4-x2b8q "$D" RAFTCRON_ROLE=worker
entry 0 "--worker --id 42 " HOSTNAME=w RAFTCRON_ROLE=worker RAFTCRON_WORKER_ID=42
checks=$((checks + 1))
[ "$id_a" -ge 1000 ] 2>/dev/null || fail "a worker's derived id ($id_a) is below 1000, where node ids live"
entry 0 "--id [0-9]+" HOSTNAME=raftcron-worker-7f9c4-zzzzz "$D" RAFTCRON_ROLE=worker
id_b=$(sed -n 's/.*--id \([0-9]*\).*/\1/p' "$tmp/out")
checks=$((checks + 1))
[ "$id_a" != "$id_b" ] || fail "two worker pods got the same id $id_a"
# A worker with a client certificate of its own presents it; the cluster secret is not its.
entry 0 "^raftcrond --worker --id 7 --join .* --tls-ca $tmp/tls/ca.crt --tls-cert $tmp/tls/tls.crt --tls-key $tmp/priv/tls.key --auth-token-file $tmp/priv/token\$" \
  HOSTNAME=w RAFTCRON_ROLE=worker RAFTCRON_WORKER_ID=7
# Without TLS material: refused with the reason and the way out, unless RAFTCRON_INSECURE says
# so explicitly (then --insecure, and a warning).
entry 2 "no TLS material \(ca.crt, tls.crt, tls.key\) in RAFTCRON_TLS_DIR=$tmp/none: .*beyond loopback.*RAFTCRON_INSECURE=1" \
  HOSTNAME=raftcron-0 "$D" RAFTCRON_TLS_DIR="$tmp/none"
entry 2 "only some of ca.crt, tls.crt and tls.key are in RAFTCRON_TLS_DIR=$tmp/wtls" \
  HOSTNAME=raftcron-0 "$D" RAFTCRON_TLS_DIR="$tmp/wtls"
entry 2 "no ca.crt in RAFTCRON_TLS_DIR=$tmp/none: a worker agent checks" \
  HOSTNAME=w RAFTCRON_ROLE=worker RAFTCRON_TLS_DIR="$tmp/none"
entry 2 "no token in RAFTCRON_SECRET_DIR=$tmp/none" HOSTNAME=raftcron-0 "$D" RAFTCRON_SECRET_DIR="$tmp/none"
entry 2 'RAFTCRON_INSECURE="maybe" is not a boolean' HOSTNAME=raftcron-0 RAFTCRON_INSECURE=maybe
entry 0 "^raftcrond --id 1 --raft-addr $P0:7201 --rpc-addr $P0:7101 --data $tmp/empty $H --insecure --bootstrap\$" \
  HOSTNAME=raftcron-0 "$D" RAFTCRON_TLS_DIR="$tmp/none" RAFTCRON_SECRET_DIR="$tmp/none" RAFTCRON_INSECURE=1
grep -q 'RAFTCRON_INSECURE=1: no TLS' "$tmp/err" || fail "no warning with RAFTCRON_INSECURE=1: $(cat "$tmp/err")"
entry 0 "^raftcrond --worker --id 42 --join [^ ]*\$" HOSTNAME=w RAFTCRON_ROLE=worker RAFTCRON_WORKER_ID=42 \
  RAFTCRON_TLS_DIR="$tmp/none" RAFTCRON_SECRET_DIR="$tmp/none" RAFTCRON_INSECURE=true
# With the material, RAFTCRON_INSECURE=1 changes nothing: TLS is used, --insecure not given.
entry 0 "--data $tmp/empty $H $T --bootstrap\$" HOSTNAME=raftcron-0 "$D" RAFTCRON_INSECURE=1
# Refusals.
entry 2 'HOSTNAME "web" is not NAME-ORDINAL' HOSTNAME=web
entry 2 'HOSTNAME "raftcron-x" is not NAME-ORDINAL' HOSTNAME=raftcron-x
entry 2 'ordinal 3 is not below RAFTCRON_REPLICAS=3' HOSTNAME=raftcron-3
entry 2 'RAFTCRON_REPLICAS="three" is not a number' HOSTNAME=raftcron-0 RAFTCRON_REPLICAS=three
entry 2 'RAFTCRON_ROLE="voter" is neither node nor worker' HOSTNAME=raftcron-0 RAFTCRON_ROLE=voter
entry 2 'RAFTCRON_INITIAL_CLUSTER_STATE="maybe"' HOSTNAME=raftcron-0 RAFTCRON_INITIAL_CLUSTER_STATE=maybe

# ---- the entrypoint starts a cluster ------------------------------------------------------------
# Three pods of a StatefulSet, for real: the entrypoint (not a dry run) starts raftcrond with the
# mounted credentials, node 0 bootstraps and the others join by the pods' names, over TLS with
# the one certificate of the set. The names are the cluster DNS's: a private /etc/hosts (a
# mount namespace of the node's own) resolves raftcron-N.raftcron.test.svc to 127.0.0.(N+2),
# addresses nothing else on the machine listens on. A name is not loopback to raftcrond, so it
# refuses to start without the TLS flags; each node's /ready must answer 200.
ns=""
if unshare -m true 2>/dev/null; then
  ns="unshare -m"
elif unshare -rm true 2>/dev/null; then
  ns="unshare -rm"
fi
if [ -z "$ns" ]; then
  echo "test_deploy: SKIP the 3-node start: no mount namespace here (unshare -m, unshare -rm)"
else
  raft=$(freeport)
  rpc=$(freeport)
  for i in 0 1 2; do
    echo "127.0.0.$((i + 2)) raftcron-$i.raftcron.test.svc"
  done >"$tmp/hosts"
  cat /etc/hosts >>"$tmp/hosts"
  pids=""
  for i in 0 1 2; do
    mkdir -p "$tmp/pod$i/data"
    http[i]=$(freeport)
    env -i PATH="$bin:$PATH" HOSTNAME="raftcron-$i" RAFTCRON_PEER_DOMAIN=raftcron.test.svc \
      RAFTCRON_DATA="$tmp/pod$i/data" RAFTCRON_TLS_DIR="$tmp/tls" RAFTCRON_SECRET_DIR="$tmp/secret" \
      RAFTCRON_PRIVATE_DIR="$tmp/pod$i/run" RAFTCRON_RAFT_PORT="$raft" RAFTCRON_RPC_PORT="$rpc" \
      RAFTCRON_HTTP_ADDR="127.0.0.$((i + 2)):${http[i]}" RAFTCRON_ELECTION_TIMEOUT=300ms \
      ASAN_OPTIONS="${ASAN_OPTIONS:-}" LSAN_OPTIONS="${LSAN_OPTIONS:-}" \
      UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" \
      $ns sh -c 'mount --bind "$1" /etc/hosts && shift && exec sh "$@"' sh "$tmp/hosts" "$ep" \
      >"$tmp/pod$i/log" 2>&1 &
    pids="$pids $!"
    pid[i]=$!
  done
  for i in 0 1 2; do
    # HTTPS with the set's certificate, which names the pods (curl --resolve: the host names).
    host="raftcron-$i.raftcron.test.svc"
    url="https://$host:${http[i]}/ready"
    checks=$((checks + 1))
    deadline=$((SECONDS + 60))
    until [ "$(curl -s -o "$tmp/ready$i" -w '%{http_code}' --cacert "$tmp/tls/ca.crt" \
      --resolve "$host:${http[i]}:127.0.0.$((i + 2))" "$url")" = 200 ]; do
      if [ $SECONDS -ge $deadline ] || ! kill -0 "${pid[i]}" 2>/dev/null; then
        fail "pod raftcron-$i: $url did not answer 200 ($(cat "$tmp/ready$i" 2>/dev/null)): $(tail -5 "$tmp/pod$i/log")"
        break
      fi
      sleep 0.2
    done
  done
  # The flags each node was started with: TLS, the token and the secret, the REST address.
  for i in 0 1 2; do
    checks=$((checks + 1))
    args=$(tr '\0' ' ' <"/proc/${pid[i]}/cmdline" 2>/dev/null)
    case $args in
    *"--tls-cert $tmp/tls/tls.crt --tls-key $tmp/pod$i/run/tls.key --auth-token-file $tmp/pod$i/run/token --cluster-secret-file $tmp/pod$i/run/cluster-secret"*) ;;
    *) fail "pod raftcron-$i runs without the credentials' flags: $args" ;;
    esac
  done
  # The cluster over TLS with the token, as an operator sees it: three voters, one leader.
  checks=$((checks + 1))
  $ns sh -c 'mount --bind "$1" /etc/hosts && shift && exec "$@"' sh "$tmp/hosts" \
    "$bin/raftcronctl" --endpoints "raftcron-1.raftcron.test.svc:$rpc" --cacert "$tmp/tls/ca.crt" \
    --token-file "$tmp/secret/token" --timeout 5s -o json cluster status >"$tmp/status" 2>&1 ||
    fail "raftcronctl cluster status over TLS: $(cat "$tmp/status")"
  grep -o '"id": *[0-9]*' "$tmp/status" >/dev/null || fail "cluster status: $(cat "$tmp/status")"
  # The REST API on every node: a follower forwards a linearizable read to the leader, whose
  # RPC address is its pod's name.
  for i in 0 1 2; do
    checks=$((checks + 1))
    host="raftcron-$i.raftcron.test.svc"
    code=$(curl -s -o "$tmp/cluster$i" -w '%{http_code}' --max-time 10 --cacert "$tmp/tls/ca.crt" \
      --resolve "$host:${http[i]}:127.0.0.$((i + 2))" \
      -H "Authorization: Bearer $(cat "$tmp/secret/token")" "https://$host:${http[i]}/v1/cluster")
    [ "$code" = 200 ] || fail "pod raftcron-$i: GET /v1/cluster answered $code: $(cat "$tmp/cluster$i")"
  done
  # A worker agent through the entrypoint, with its own client certificate and the token (as
  # the worker Deployment's Secrets hold them): it registers, and the ledger counts 4 alive
  # workers (the three nodes' own and it).
  mkdir -p "$tmp/agent/tls" "$tmp/agent/secret"
  "$src/scripts/gen-certs" "$tmp/pki" client worker >/dev/null || fail "gen-certs client worker"
  cp "$tmp/tls/ca.crt" "$tmp/agent/tls/ca.crt"
  cp "$tmp/pki/worker.pem" "$tmp/agent/tls/tls.crt"
  cp "$tmp/pki/worker.key" "$tmp/agent/tls/tls.key"
  cp "$tmp/secret/token" "$tmp/agent/secret/token"
  env -i PATH="$bin:$PATH" HOSTNAME=raftcron-worker-5d8f-abcde RAFTCRON_ROLE=worker \
    RAFTCRON_PEER_DOMAIN=raftcron.test.svc RAFTCRON_RPC_PORT="$rpc" RAFTCRON_WORKER_ID=101 \
    RAFTCRON_TLS_DIR="$tmp/agent/tls" RAFTCRON_SECRET_DIR="$tmp/agent/secret" \
    RAFTCRON_PRIVATE_DIR="$tmp/agent/run" ASAN_OPTIONS="${ASAN_OPTIONS:-}" \
    LSAN_OPTIONS="${LSAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" \
    $ns sh -c 'mount --bind "$1" /etc/hosts && shift && exec sh "$@"' sh "$tmp/hosts" "$ep" \
    >"$tmp/agent/log" 2>&1 &
  agent=$!
  checks=$((checks + 1))
  deadline=$((SECONDS + 60))
  metrics() {
    curl -s --cacert "$tmp/tls/ca.crt" --resolve "raftcron-0.raftcron.test.svc:${http[0]}:127.0.0.2" \
      -H "Authorization: Bearer $(cat "$tmp/secret/token")" \
      "https://raftcron-0.raftcron.test.svc:${http[0]}/metrics"
  }
  until metrics | grep -q '^raftcron_workers{state="alive"} 4$'; do
    if [ $SECONDS -ge $deadline ] || ! kill -0 "$agent" 2>/dev/null; then
      fail "the worker agent did not register: $(metrics |
        grep '^raftcron_workers') $(tail -5 "$tmp/agent/log")"
      break
    fi
    sleep 0.2
  done
  kill -TERM "$agent" 2>/dev/null
  checks=$((checks + 1))
  wait "$agent" || fail "the worker agent did not exit cleanly on SIGTERM: $(tail -5 "$tmp/agent/log")"
  for p in $pids; do kill -TERM "$p" 2>/dev/null; done
  for i in 0 1 2; do
    checks=$((checks + 1))
    wait "${pid[i]}" || fail "pod raftcron-$i did not exit cleanly on SIGTERM: $(tail -5 "$tmp/pod$i/log")"
  done
fi

# ---- manifests ---------------------------------------------------------------------------------
# Debian's interpreter, where python3-yaml installs (scripts/install-deps).
py=/usr/bin/python3
checks=$((checks + 1))
if ! "$py" -c 'import yaml' 2>/dev/null; then
  fail "python3-yaml is missing (scripts/install-deps)"
else
  "$py" - "$src/deploy" <<'EOF' >"$tmp/manifests" 2>&1 || fail "manifests: $(cat "$tmp/manifests")"
import glob, sys, yaml
root = sys.argv[1]
errors = []
def check(cond, what):
    if not cond:
        errors.append(what)

compose = yaml.safe_load(open(f"{root}/compose.yaml"))
svcs = compose["services"]
role = lambda s: (s.get("environment") or {}).get("RAFTCRON_ROLE")
pods = {n: s for n, s in svcs.items() if "hostname" in s}
nodes = [n for n, s in pods.items() if role(s) != "worker"]
workers = [n for n, s in pods.items() if role(s) == "worker"]
check(sorted(nodes) == ["raftcron-0", "raftcron-1", "raftcron-2"], f"compose nodes: {nodes}")
check(len(workers) == 1, f"compose workers: {workers}")
certs = svcs.get("certs")
check(certs is not None and "raftcron-gen-certs" in "".join(certs.get("command", [])),
      "compose: no one-shot certs service running raftcron-gen-certs")
for n, s in svcs.items():
    check("INSECURE" not in str(s.get("environment")), f"compose {n}: runs insecure")
for n, s in pods.items():
    check("healthcheck" in s and "test" in s["healthcheck"], f"compose {n}: no healthcheck")
    check((s.get("depends_on") or {}).get("certs", {}).get("condition")
          == "service_completed_successfully", f"compose {n}: does not wait for the certs")
    mounts = [v.split(":")[1] for v in s.get("volumes", [])]
    check("/etc/raftcron/tls" in mounts and "/etc/raftcron/secret" in mounts,
          f"compose {n}: TLS material or secrets not mounted: {mounts}")
    if n in nodes:
        check(s.get("hostname") == n, f"compose {n}: hostname {s.get('hostname')} is not its name")
        check("/var/lib/raftcron" in mounts, f"compose {n}: no data volume")
        check("https://localhost:7301/ready" in s["healthcheck"]["test"],
              f"compose {n}: the healthcheck is not GET /ready on 7301")

docs = []
for path in sorted(glob.glob(f"{root}/k8s/*.yaml")):
    docs += [d for d in yaml.safe_load_all(open(path)) if d]
kinds = {}
for d in docs:
    kinds.setdefault(d["kind"], []).append(d)
sts = kinds.get("StatefulSet", [None])[0]
check(sts is not None, "no StatefulSet")
if sts:
    spec = sts["spec"]
    check(spec["replicas"] == 3, "StatefulSet replicas != 3")
    headless = [s for s in kinds.get("Service", []) if s["metadata"]["name"] == spec["serviceName"]]
    check(headless and headless[0]["spec"].get("clusterIP") == "None",
          "the StatefulSet's serviceName is not a headless Service")
    check(headless and headless[0]["spec"].get("publishNotReadyAddresses") is True,
          "the headless Service does not publish not-ready peers")
    check(spec.get("volumeClaimTemplates"), "no volumeClaimTemplates")
    pod = spec["template"]["spec"]
    c = pod["containers"][0]
    for probe, path in (("readinessProbe", "/ready"), ("livenessProbe", "/health")):
        g = c.get(probe, {}).get("httpGet", {})
        check(g.get("path") == path and g.get("port") == 7301 and g.get("scheme") == "HTTPS",
              f"the nodes' {probe} is not GET {path} on 7301: {c.get(probe)}")
    check(any(p["containerPort"] == 7301 for p in c["ports"]), "port 7301 not declared")
    check(any(p["port"] == 7301 for p in headless[0]["spec"]["ports"]) if headless else False,
          "the headless Service has no port 7301")
    check(any(m["mountPath"] == "/var/lib/raftcron" for m in c["volumeMounts"]), "data not mounted")
    env = {e["name"]: e.get("value") for e in c.get("env", [])}
    check(env.get("RAFTCRON_REPLICAS") == "3", "RAFTCRON_REPLICAS does not match replicas")
    check(spec["template"]["spec"]["securityContext"].get("runAsNonRoot") is True, "nodes may run as root")
    sel = spec["selector"]["matchLabels"]
    check(all(spec["template"]["metadata"]["labels"].get(k) == v for k, v in sel.items()),
          "the StatefulSet selector does not match its pods")
pdb = kinds.get("PodDisruptionBudget", [None])[0]
check(pdb is not None and pdb["spec"].get("maxUnavailable") == 1, "no PDB with maxUnavailable 1")
# Secrets: the entrypoint's directories, 0400, and an emptyDir for the private copies.
def secrets_ok(what, podspec, secret_names):
    c = podspec["containers"][0]
    vols = {v["name"]: v for v in podspec.get("volumes", [])}
    mounts = {m["mountPath"]: vols.get(m["name"], {}) for m in c.get("volumeMounts", [])}
    for path, name in zip(("/etc/raftcron/tls", "/etc/raftcron/secret"), secret_names):
        sec = mounts.get(path, {}).get("secret", {})
        check(sec.get("secretName") == name and sec.get("defaultMode") == 0o400,
              f"{what}: {path} is not Secret {name} mode 0400: {sec}")
    check("emptyDir" in mounts.get("/run/raftcron", {}), f"{what}: no emptyDir at /run/raftcron")
    check("INSECURE" not in str(c.get("env")), f"{what}: runs insecure")
if sts:
    secrets_ok("StatefulSet", sts["spec"]["template"]["spec"], ("raftcron-tls", "raftcron-secret"))
deps = kinds.get("Deployment", [])
for d in deps:
    secrets_ok("Deployment " + d["metadata"]["name"], d["spec"]["template"]["spec"],
               ("raftcron-worker-tls", "raftcron-worker-secret"))
check(any(e.get("value") == "worker" for d in deps
          for e in d["spec"]["template"]["spec"]["containers"][0].get("env", [])
          if e["name"] == "RAFTCRON_ROLE"), "no worker Deployment")
for e in errors:
    print(e)
sys.exit(1 if errors else 0)
EOF
fi
df="$src/deploy/docker/Dockerfile"
checks=$((checks + 1))
[ "$(grep -c '^FROM debian:12-slim' "$df")" -ge 2 ] || fail "the Dockerfile is not multi-stage on debian:12-slim"
checks=$((checks + 1))
grep -qE '^USER [a-z]' "$df" && ! grep -qE '^USER (root|0)' "$df" || fail "the Dockerfile does not run as a non-root user"
checks=$((checks + 1))
grep -q 'raftcron-entrypoint' "$df" || fail "the Dockerfile does not use the entrypoint"
checks=$((checks + 1))
grep -qE '^EXPOSE .*\b7301\b' "$df" || fail "the Dockerfile does not expose the REST port 7301"
# The runtime stage installs the package of every library the binaries link (as this machine's
# Debian 12 packages them), and what the health checks and the certs service run.
# The runtime stage's words, one a line.
runtime=$(awk '/^FROM/{n++} n==2' "$df" | tr -s ' \t\\' '\n\n\n')
for lib in $(for f in "$bin/raftcrond" "$bin/raftcronctl"; do
  readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'
done | sort -u); do
  case $lib in libc.so.* | libm.so.* | libasan.so.* | libubsan.so.* | libraftcron.so.*) continue ;; esac
  pkg=$(dpkg -S "*/$lib" 2>/dev/null | grep -v -- '-dev' | head -1 | cut -d: -f1)
  checks=$((checks + 1))
  if [ -z "$pkg" ]; then
    fail "no Debian package holds $lib (linked by the binaries)"
  elif ! printf '%s\n' "$runtime" | grep -qxF "$pkg"; then
    fail "the Dockerfile's runtime stage does not install $pkg ($lib)"
  fi
done
for tool in curl openssl; do
  checks=$((checks + 1))
  printf '%s\n' "$runtime" | grep -qxF "$tool" ||
    fail "the Dockerfile's runtime stage does not install $tool (health checks, certs service)"
done
checks=$((checks + 1))
grep -q 'scripts/gen-certs /usr/local/bin/raftcron-gen-certs' "$df" ||
  fail "the image lacks raftcron-gen-certs (compose's certs service runs it)"

finish test_deploy
