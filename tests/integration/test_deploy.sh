#!/usr/bin/env bash
# What can be proven of deploy/ without images or a Kubernetes cluster (docs/operations.md says
# what is and is not exercised):
#   - the entrypoint turns StatefulSet pod names into node flags: raftcron-N is id N + 1 with
#     its own addresses, ordinal 0 bootstraps only a fresh cluster (not with a data dir, not
#     when a peer answers, not when told the cluster exists), the others join every peer;
#     workers get a stable id from their pod name; bad names and settings are refused (exit 2);
#   - the flags it makes are ones raftcrond accepts: a node started from them on loopback
#     serves;
#   - deploy/compose.yaml and deploy/k8s/*.yaml are well-formed YAML with the promised shape
#     (3 nodes and a worker with healthchecks; a StatefulSet of 3 behind a headless Service,
#     PVCs, PDB maxUnavailable 1, readiness probes, a worker Deployment), and the Dockerfile is
#     multi-stage on Debian 12 slim and runs as a non-root user.
set -u
bin="${RC_BIN:-build/bin}"
src="${RC_SRC:-.}"
ep="$src/deploy/docker/entrypoint.sh"
cmd=$ep
. "$(dirname "$0")/lib.sh"

# entry WANT_CODE PATTERN VAR=VALUE...: run the entrypoint (dry run) with these variables.
entry() {
  local code=$1 pattern=$2
  shift 2
  checks=$((checks + 1))
  env -i PATH="$bin:$PATH" RAFTCRON_ENTRYPOINT_DRY_RUN=1 RAFTCRON_DATA="$tmp/empty" "$@" \
    sh "$ep" >"$tmp/out" 2>"$tmp/err"
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
mkdir -p "$tmp/empty" "$tmp/used"
touch "$tmp/used/metadata1"

entry 0 "^raftcrond --id 1 --raft-addr $P0:7201 --rpc-addr $P0:7101 --data $tmp/empty --bootstrap\$" \
  HOSTNAME=raftcron-0 "$D"
entry 0 "^raftcrond --id 2 --raft-addr $P1:7201 --rpc-addr $P1:7101 --data $tmp/empty --join $P0:7101,$P2:7101\$" \
  HOSTNAME=raftcron-1 "$D"
entry 0 "^raftcrond --id 3 --raft-addr $P2:7201 --rpc-addr $P2:7101 --data $tmp/empty --join $P0:7101,$P1:7101\$" \
  HOSTNAME=raftcron-2 "$D"
# A restart: the data dir holds the cluster; node 0 must not bootstrap again.
entry 0 "^raftcrond --id 1 .* --data $tmp/used --join $P1:7101,$P2:7101\$" \
  HOSTNAME=raftcron-0 "$D" RAFTCRON_DATA="$tmp/used"
# Told that the cluster exists (a lost volume): join.
entry 0 "^raftcrond --id 1 .* --join $P1:7101,$P2:7101\$" \
  HOSTNAME=raftcron-0 "$D" RAFTCRON_INITIAL_CLUSTER_STATE=existing
# Five replicas, another set name, no domain (compose), other ports.
entry 0 "^raftcrond --id 5 --raft-addr sched-4:7301 --rpc-addr sched-4:7401 .* --join sched-0:7401,sched-1:7401,sched-2:7401,sched-3:7401\$" \
  HOSTNAME=sched-4 RAFTCRON_REPLICAS=5 RAFTCRON_RAFT_PORT=7301 RAFTCRON_RPC_PORT=7401
entry 0 "^raftcrond --id 1 --raft-addr solo-0:7201 .* --bootstrap\$" HOSTNAME=solo-0 RAFTCRON_REPLICAS=1
# Workers: a stable id from the pod name, every peer to join.
entry 0 "^raftcrond --worker --id [0-9]+ --join $P0:7101,$P1:7101,$P2:7101\$" \
  HOSTNAME=raftcron-worker-7f9c4-x2b8q "$D" RAFTCRON_ROLE=worker
id_a=$(sed -n 's/.*--id \([0-9]*\).*/\1/p' "$tmp/out")
entry 0 "--id $id_a " HOSTNAME=raftcron-worker-7f9c4-x2b8q "$D" RAFTCRON_ROLE=worker
entry 0 "--worker --id 42 " HOSTNAME=w RAFTCRON_ROLE=worker RAFTCRON_WORKER_ID=42
checks=$((checks + 1))
[ "$id_a" -ge 1000 ] 2>/dev/null || fail "a worker's derived id ($id_a) is below 1000, where node ids live"
entry 0 "--id [0-9]+" HOSTNAME=raftcron-worker-7f9c4-zzzzz "$D" RAFTCRON_ROLE=worker
id_b=$(sed -n 's/.*--id \([0-9]*\).*/\1/p' "$tmp/out")
checks=$((checks + 1))
[ "$id_a" != "$id_b" ] || fail "two worker pods got the same id $id_a"
# Refusals.
entry 2 'HOSTNAME "web" is not NAME-ORDINAL' HOSTNAME=web
entry 2 'HOSTNAME "raftcron-x" is not NAME-ORDINAL' HOSTNAME=raftcron-x
entry 2 'ordinal 3 is not below RAFTCRON_REPLICAS=3' HOSTNAME=raftcron-3
entry 2 'RAFTCRON_REPLICAS="three" is not a number' HOSTNAME=raftcron-0 RAFTCRON_REPLICAS=three
entry 2 'RAFTCRON_ROLE="voter" is neither node nor worker' HOSTNAME=raftcron-0 RAFTCRON_ROLE=voter
entry 2 'RAFTCRON_INITIAL_CLUSTER_STATE="maybe"' HOSTNAME=raftcron-0 RAFTCRON_INITIAL_CLUSTER_STATE=maybe

# ---- the flags it makes run a node -------------------------------------------------------------
# A one-replica set on loopback ports; the pod's name is the only name in the flags, and stands
# for its address, so 127.0.0.1 takes its place (as the cluster DNS would resolve it).
rpc=$(freeport)
raft=$(freeport)
mkdir -p "$tmp/node"
args=$(env -i PATH="$bin:$PATH" RAFTCRON_ENTRYPOINT_DRY_RUN=1 RAFTCRON_DATA="$tmp/node" \
  HOSTNAME=localhost-0 RAFTCRON_REPLICAS=1 RAFTCRON_RAFT_PORT="$raft" RAFTCRON_RPC_PORT="$rpc" sh "$ep")
# The only name in the flags is the pod's own; put 127.0.0.1 in its place and start it.
args=${args//localhost-0/127.0.0.1}
# shellcheck disable=SC2086
"$bin/"$args >"$tmp/node.log" 2>&1 &
node_pid=$!
deadline=$((SECONDS + 30))
until "$bin/raftcronctl" --endpoints "127.0.0.1:$rpc" --timeout 2s cluster status >/dev/null 2>&1; do
  if [ $SECONDS -ge $deadline ] || ! kill -0 "$node_pid" 2>/dev/null; then
    fail "a node started with the entrypoint's flags ($args) did not serve: $(tail -3 "$tmp/node.log")"
    break
  fi
  sleep 0.2
done
kill -TERM "$node_pid" 2>/dev/null
wait "$node_pid"

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
nodes = [n for n, s in svcs.items() if s.get("environment", {}).get("RAFTCRON_ROLE") != "worker"]
workers = [n for n, s in svcs.items() if s.get("environment", {}).get("RAFTCRON_ROLE") == "worker"]
check(sorted(nodes) == ["raftcron-0", "raftcron-1", "raftcron-2"], f"compose nodes: {nodes}")
check(len(workers) == 1, f"compose workers: {workers}")
for n, s in svcs.items():
    check("healthcheck" in s and "test" in s["healthcheck"], f"compose {n}: no healthcheck")
    if n in nodes:
        check(s.get("hostname") == n, f"compose {n}: hostname {s.get('hostname')} is not its name")
        check(any(v.endswith(":/var/lib/raftcron") for v in s.get("volumes", [])),
              f"compose {n}: no data volume")

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
    c = spec["template"]["spec"]["containers"][0]
    check("readinessProbe" in c, "no readiness probe on the nodes")
    check(any(m["mountPath"] == "/var/lib/raftcron" for m in c["volumeMounts"]), "data not mounted")
    env = {e["name"]: e.get("value") for e in c.get("env", [])}
    check(env.get("RAFTCRON_REPLICAS") == "3", "RAFTCRON_REPLICAS does not match replicas")
    check(spec["template"]["spec"]["securityContext"].get("runAsNonRoot") is True, "nodes may run as root")
    sel = spec["selector"]["matchLabels"]
    check(all(spec["template"]["metadata"]["labels"].get(k) == v for k, v in sel.items()),
          "the StatefulSet selector does not match its pods")
pdb = kinds.get("PodDisruptionBudget", [None])[0]
check(pdb is not None and pdb["spec"].get("maxUnavailable") == 1, "no PDB with maxUnavailable 1")
deps = kinds.get("Deployment", [])
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

finish test_deploy
