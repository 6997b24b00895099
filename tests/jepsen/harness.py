"""The Jepsen run: network, cluster, workload and nemesis for --time seconds, then heal, wait
for quiescence, collect what the cluster reports, stop it, and hand everything to the checker.

Exit status: 0 valid, 1 invalid, 2 unknown or harness error, 77 skipped (not root, or no
network namespaces or nftables).
"""
import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
import traceback

import checker
import cluster as clustermod
import nemesis as nemesismod
import net
import workload as workloadmod

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
SKIP = 77
QUIET_TAIL_S = 15.0  # after healing, clients and jobs go on this long without faults


def parseArgs(argv):
    p = argparse.ArgumentParser(prog="tests/jepsen/run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", default=os.environ.get("RC_BIN", os.path.join(SRC, "build", "bin")),
                   help="directory of raftcrond and raftcronctl (default $RC_BIN, else build/bin)")
    p.add_argument("--time", type=float, default=60, help="seconds of faults (default 60)")
    p.add_argument("--nemesis", default="partition,kill,pause",
                   help="comma list of %s, or all (default partition,kill,pause)"
                   % ",".join(nemesismod.ALL))
    p.add_argument("--seed", type=int, default=None, help="seed of the schedule (default random)")
    p.add_argument("--tls", action="store_true",
                   help="mutual TLS between the nodes and to raftcronctl (default: --insecure)")
    p.add_argument("--nodes", type=int, default=5, help="cluster size (default 5)")
    p.add_argument("--clients", type=int, default=3, help="concurrent clients (default 3)")
    p.add_argument("--out", default=None, help="run directory (default tests/jepsen/out/TS-SEED)")
    p.add_argument("--sabotage", choices=["none", "delete-acked", "crash", "drop-executions"],
                   default="none",
                   help="break the run on purpose, to prove the checker notices: delete an "
                   "acknowledged job behind the workload's back, crash a node (SIGSEGV), or "
                   "drop every recorded execution before the checker reads them")
    a = p.parse_args(argv)
    kinds = nemesismod.ALL if a.nemesis == "all" else [k for k in a.nemesis.split(",") if k]
    bad = [k for k in kinds if k not in nemesismod.ALL + ["none"]]
    if bad:
        p.error("unknown nemesis: " + ",".join(bad))
    a.kinds = [k for k in kinds if k != "none"]
    a.bin = os.path.abspath(a.bin)
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(1, 1 << 31)
    if a.nodes < 3 or a.nodes > 9:
        p.error("--nodes must be 3..9")
    return a


def replayCommand(a):
    return ("cd %s && tests/jepsen/run --bin %s --time %g --nemesis %s --seed %d --nodes %d --clients %d%s%s"
            % (SRC, a.bin, a.time, ",".join(a.kinds) or "none", a.seed, a.nodes, a.clients,
               "" if a.sabotage == "none" else " --sabotage " + a.sabotage,
               " --tls" if a.tls else ""))


def say(msg):
    sys.stdout.write("[jepsen %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stdout.flush()


def waitFor(what, fn, timeout, interval=0.5):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        ok, last = fn()
        if ok:
            return True, last
        time.sleep(interval)
    return False, last


def clusterWhole(ctl, n_nodes):
    st, err = ctl.json(["cluster", "status"], "3s")
    if st is None or "leader" not in st:
        return False, err or "no leader"
    voters = [m for m in st.get("members", []) if m.get("role") == "voter"]
    reach = [m for m in voters if m.get("reachable")]
    return len(reach) == n_nodes, "%d/%d voters reachable" % (len(reach), n_nodes)


def digests(ctl, cl):
    out = {}
    for n in cl.ids():
        d, err = ctl.json(["cluster", "digest", "--stale"], "3s", endpoints=clustermod.rpcAddr(n))
        out[n] = (d, err)
    return out


def quiescent(ctl, cl):
    ds = digests(ctl, cl)
    idx = {n: d["applied_index"] for n, (d, _) in ds.items() if d}
    ok = len(idx) == len(cl.ids()) and len(set(idx.values())) == 1
    return ok, idx


def quiesceFiring(ctl, paused):
    """Stops the jobs from firing (pause) and waits until no run is in flight or waiting for a
    retry decision, so that the replicas can be compared at one applied index and every run
    has its final state. Each pause goes to `paused` (job, invoke, complete, exit, error): the
    end of the window in which the checker wants a decision for every instant. Returns a note
    when that did not happen."""
    lst, err = None, None
    for _ in range(3):
        lst, err = ctl.json(["job", "list"], "10s")
        if lst is not None:
            break
    if lst is None:
        return "could not list jobs to pause them: %s" % err
    for j in lst.get("jobs", []):
        t0 = time.time()
        rc, _, perr = ctl.run(["job", "pause", j["name"], "--namespace", j["namespace"]], "10s")
        paused.append({"job": "%s/%s" % (j["namespace"], j["name"]), "invoke": t0,
                       "complete": time.time(), "exit": rc, "error": perr})
    busy = {}

    def due(r):
        """Whether the run should be moving: a leader whose clock was ahead claims instants
        early, and their runs wait (assigned, or retry_wait) until their real time comes."""
        at = r.get("not_before") if r["state"] == "retry_wait" else r.get("start_at")
        us = checker.parseInstant(at)
        return r["state"] not in ("pending", "assigned", "retry_wait") or us is None \
            or us / 1e6 <= time.time() + 1

    def idle():
        busy.clear()
        for state in ("pending", "assigned", "running", "retry_wait", "failed", "timed_out",
                      "lost"):
            runs, rerr = ctl.json(["run", "list", "--state", state, "--limit", "1000"], "5s")
            if runs is None:
                busy["error"] = rerr
                return False, busy
            rs = runs.get("runs", [])
            busy[state] = sum(1 for r in rs if due(r))
            if len(rs) > busy[state]:
                busy[state + " not yet due"] = len(rs) - busy[state]
            if busy[state]:
                return False, busy
        return True, busy

    ok, why = waitFor("idle runs", idle, 60)
    if not ok:
        return "runs still in flight 60 s after pausing every job: %s" % why
    early = {k: v for k, v in why.items() if k.endswith("not yet due")}
    return "runs claimed early, not yet due: %s" % early if early else None


def collect(ctl, cl):
    final = {"nodes": {}}
    lst, err = None, None
    for _ in range(3):
        lst, err = ctl.json(["job", "list"], "10s")
        if lst is not None:
            break
    final["list"], final["list_error"] = lst, err
    for n in cl.ids():
        ep = clustermod.rpcAddr(n)
        d, derr = ctl.json(["cluster", "digest", "--stale"], "5s", endpoints=ep)
        l, lerr = ctl.json(["job", "list", "--stale"], "5s", endpoints=ep)
        final["nodes"][str(n)] = {"digest": d, "list": l, "error": derr or lerr}
    return final


def sabotageDelete(ctl, history_path):
    """Deletes, unrecorded, a job whose latest operation is an acknowledged add or update."""
    last = {}
    for op in checker.readJsonl(history_path):
        if op["job"] not in last or op["invoke"] > last[op["job"]]["invoke"]:
            last[op["job"]] = op
    for job, op in sorted(last.items()):
        if op["outcome"] == "ok" and op["type"] != "delete":
            rc, _, err = ctl.run(["job", "delete", job], "10s")
            return "deleted %s behind the workload's back (its last op %d was an acknowledged " \
                   "%s): exit %s %s" % (job, op["id"], op["type"], rc, err)
    return "found no acknowledged job to delete"


def dropExecutions(out):
    """Empties every record file: the cluster ran, the evidence of its executions is gone."""
    d = os.path.join(out, "records")
    n = 0
    for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        with open(os.path.join(d, name), "r+") as f:
            n += sum(1 for _ in f)
            f.truncate(0)
    return "dropped %d recorded executions" % n


def run(a):
    why = net.available()
    if why:
        print("SKIP: jepsen needs root, network namespaces and nftables: " + why)
        return SKIP
    for b in ("raftcrond", "raftcronctl"):
        if not os.access(os.path.join(a.bin, b), os.X_OK):
            print("jepsen: %s not found in --bin %s (build first, or set RC_BIN)" % (b, a.bin))
            return 2
    faketime = "clock" in a.kinds
    if faketime and not os.path.exists(clustermod.FAKETIME_LIB):
        print("SKIP: the clock nemesis needs libfaketime (%s)" % clustermod.FAKETIME_LIB)
        return SKIP
    out = a.out or os.path.join(HERE, "out", "%s-%d" % (time.strftime("%Y%m%dT%H%M%S"), a.seed))
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "command"), "w") as f:
        f.write(replayCommand(a) + "\n")
    say("seed %d, nemesis %s, %d nodes, %gs; artifacts in %s"
        % (a.seed, ",".join(a.kinds) or "none", a.nodes, a.time, out))
    if a.tls:
        certs = os.path.join(out, "certs")
        gen = os.path.join(SRC, "scripts", "gen-certs")
        subprocess.run([gen, certs, "ca"], check=True, capture_output=True)
        subprocess.run([gen, certs, "client", "admin"], check=True, capture_output=True)
        clustermod.TLS_DIR = certs
        workloadmod.Ctl.TLS_ARGS = ["--cacert", os.path.join(certs, "ca.pem"),
                                    "--cert", os.path.join(certs, "admin.pem"),
                                    "--key", os.path.join(certs, "admin.key")]
    held = net.lock()  # noqa: F841 (kept open until exit)
    net.removeAll()
    net.create(range(1, a.nodes + 1))
    net.enterBridge()
    cl = clustermod.Cluster(a.bin, SRC, out, a.nodes, faketime)
    ctl = workloadmod.Ctl(a.bin, cl.endpoints)
    notes = []
    try:
        t_start = time.time()
        cl.startAll()
        ok, why = waitFor("cluster", lambda: clusterWhole(ctl, a.nodes), 60)
        if not ok:
            say("the cluster did not form within 60 s: %s" % why)
            return 2
        say("cluster of %d voters up in %.1fs" % (a.nodes, time.time() - t_start))
        history = workloadmod.History(os.path.join(out, "history.jsonl"))
        firing = workloadmod.FiringJobs(ctl, history, os.path.join(out, "ledger.jsonl"))
        failed = firing.create()
        if failed:
            say("could not add the firing jobs %s within 60 s" % ",".join(failed))
            return 2
        say("firing jobs added: %s" % ", ".join(firing.keys))
        wl = workloadmod.JobWrites(ctl, history, a.seed, n_clients=a.clients)
        nem = nemesismod.Scheduler(cl, ctl, a.seed, a.kinds, os.path.join(out, "nemesis.jsonl"))
        wl.start()
        firing.start()
        if a.kinds:
            nem.start()
        crash_at = time.time() + a.time / 2
        end = time.time() + a.time
        while time.time() < end:
            time.sleep(min(1.0, max(0.0, end - time.time())))
            if a.sabotage == "crash" and time.time() >= crash_at:
                victim = cl.nodes[cl.ids()[-1]]
                victim.signal(signal.SIGSEGV)
                notes.append("sabotage: sent SIGSEGV to node %d" % victim.n)
                crash_at = float("inf")
        say("faults over (%s); healing" % json.dumps(nem.counts, sort_keys=True))
        nem.stopAndHeal()
        for node in cl.nodes.values():
            if not node.alive():
                node.start()
        # A quiet phase long enough for check 8 to judge lateness: faults come every 1-5 s and
        # last 2-8 s, so during the faults almost no instant is QUIET_S away from one.
        ok, why = waitFor("whole", lambda: clusterWhole(ctl, len(cl.ids())), 60)
        if not ok:
            notes.append("after healing the cluster was not whole within 60 s: %s" % why)
        failed = firing.create(workloadmod.TAIL)
        if failed:
            notes.append("could not add the tail jobs %s" % ",".join(failed))
        say("healed; %g s without faults" % QUIET_TAIL_S)
        time.sleep(QUIET_TAIL_S)
        wl.stop()
        firing.stop()
        history.close()
        if a.sabotage == "delete-acked":
            notes.append("sabotage: " + sabotageDelete(ctl, os.path.join(out, "history.jsonl")))
        ok, why = waitFor("whole", lambda: clusterWhole(ctl, len(cl.ids())), 60)
        if not ok:
            notes.append("after healing the cluster was not whole within 60 s: %s" % why)
        paused = []
        note = quiesceFiring(ctl, paused)
        if note:
            notes.append(note)
        ok, idx = waitFor("quiescence", lambda: quiescent(ctl, cl), 30)
        if not ok:
            notes.append("applied indexes did not converge within 30 s: %s" % idx)
        final = collect(ctl, cl)
        final["notes"] = notes
        final["paused"] = paused
        final["members"] = cl.ids()
        final["retired"] = sorted(cl.retired)
        if final["list"] is not None:
            firing.snapshot([checker.jobKey(j) for j in final["list"].get("jobs", [])],
                            final=True)
        firing.close()
        with open(os.path.join(out, "final.json"), "w") as f:
            json.dump(final, f, indent=1, sort_keys=True)
        cl.stopAll()
    finally:
        cl.killAll()
        net.removeAll()
    if a.sabotage == "drop-executions":
        notes.append("sabotage: " + dropExecutions(out))
    for n in notes:
        say(n)
    res = checker.check(out)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(res, f, indent=1, sort_keys=True)
    checker.report(res)
    say(checker.plot(out, res))
    say("%s in %.0fs; seed %d; artifacts %s" % (res["valid"], time.time() - t_start, a.seed, out))
    if res["valid"] != "valid":
        say("replay: " + replayCommand(a))
        say("re-check: tests/jepsen/checker.py " + out)
    return {"valid": 0, "invalid": 1}.get(res["valid"], 2)


def main(argv):
    a = parseArgs(argv)

    def interrupted(signum, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, interrupted)
    try:
        return run(a)
    except KeyboardInterrupt:
        say("interrupted; namespaces and nodes removed; seed %d" % a.seed)
        return 2
    except Exception:
        traceback.print_exc()
        say("harness error (not a verdict); seed %d; replay: %s" % (a.seed, replayCommand(a)))
        return 2
    finally:
        if os.geteuid() == 0:
            net.removeAll()
