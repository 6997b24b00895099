#!/usr/bin/env python3
"""Proves that the nemeses really do what they claim, on a 3-node cluster (about 20 s, root):

  clock      a leader whose libfaketime file says +300 s stamps a job it creates ~300 s ahead
             (the "created" instant comes from the leader's wall clock), and its log's ts= too;
  partition  a node behind nftables drops is reported unreachable by the leader, and is
             reachable again after the heal;
  pause      a SIGSTOPped node is unreachable, and reachable after SIGCONT;
  kill       a SIGKILLed node restarts from its data dir and the leader reaches it again;
  member     a brand-new node (id 4, its own namespace) joins as a reachable voter;
  records    a job running workload.RECORD_CMD leaves one well-formed line per execution in
             the executing node's record file, and the command records the real time even
             under a libfaketime clock 300 s ahead.

Usage: tests/jepsen/selftest.py [--bin DIR]. Exit 0 all passed, 1 a failure, 77 skipped.
"""
import argparse
import datetime
import os
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster as clustermod  # noqa: E402
import harness  # noqa: E402
import net  # noqa: E402
import workload  # noqa: E402


def parseInstant(s):
    return datetime.datetime.strptime(s[:19], "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def reachable(ctl, n):
    st, err = ctl.json(["cluster", "status"], "3s")
    if st is None or "leader" not in st:
        return False, err or "no leader"
    m = [m for m in st["members"] if m["id"] == n]
    return bool(m and m[0].get("reachable")), st


def expect(what, cond):
    print("%s: %s" % ("ok  " if cond else "FAIL", what))
    return 0 if cond else 1


def main(argv):
    p = argparse.ArgumentParser()
    p.add_argument("--bin", default=os.environ.get("RC_BIN", os.path.join(harness.SRC, "build",
                                                                            "bin")))
    a = p.parse_args(argv)
    why = net.available()
    if why or not os.path.exists(clustermod.FAKETIME_LIB):
        print("SKIP: " + (why or "libfaketime missing"))
        return 77
    base = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")
    os.makedirs(base, exist_ok=True)
    out = tempfile.mkdtemp(prefix="selftest-", dir=base)
    held = net.lock()  # noqa: F841 (kept open until exit)
    net.removeAll()
    net.create([1, 2, 3])
    net.enterBridge()
    cl = clustermod.Cluster(os.path.abspath(a.bin), harness.SRC, out, 3, faketime=True)
    ctl = workload.Ctl(cl.bin, cl.endpoints())
    failures = 0
    try:
        cl.startAll()
        ok, _ = harness.waitFor("cluster", lambda: harness.clusterWhole(ctl, 3), 60)
        failures += expect("cluster of 3 formed", ok)
        leader = ctl.leader()
        victim = [n for n in cl.ids() if n != leader][0]

        # Behind, not ahead: a node whose clock is ahead of the client's refuses every request
        # ("deadline already passed on arrival"), as the run below shows.
        cl.nodes[leader].setClock(-300)
        time.sleep(0.2)
        rc, _, err = ctl.run(["job", "add", "clk", "--every", "1m", "--shell", "true"], "10s")
        j, _ = ctl.json(["job", "get", "clk"], "10s")
        skew = parseInstant(j["created"]) - time.time() if j else None
        failures += expect("leader at -300 s stamps created %s s off (add exit %s %s)"
                           % (None if skew is None else round(skew), rc, err),
                           skew is not None and -310 < skew < -290)
        cl.nodes[leader].setClock(120)
        time.sleep(0.2)
        rc, _, err = ctl.run(["job", "delete", "clk"], "3s")
        print("note: with the leader's clock 120 s ahead, job delete: exit %s %s" % (rc, err))
        cl.nodes[leader].setClock(0)

        net.setBlocked(victim, [m for m in cl.ids() if m != victim])
        for m in cl.ids():
            if m != victim:
                net.setBlocked(m, [victim])
        ok, _ = harness.waitFor("cut", lambda: (not reachable(ctl, victim)[0], None), 10)
        failures += expect("partitioned node %d unreachable" % victim, ok)
        net.applyGrudge(cl.ids(), {})
        ok, _ = harness.waitFor("healed", lambda: reachable(ctl, victim), 15)
        failures += expect("healed node %d reachable" % victim, ok)

        cl.nodes[victim].pause()
        ok, _ = harness.waitFor("paused", lambda: (not reachable(ctl, victim)[0], None), 10)
        failures += expect("paused node %d unreachable" % victim, ok)
        cl.nodes[victim].resume()
        ok, _ = harness.waitFor("resumed", lambda: reachable(ctl, victim), 15)
        failures += expect("resumed node %d reachable" % victim, ok)

        cl.nodes[victim].kill()
        failures += expect("killed node %d is gone" % victim, not cl.nodes[victim].alive())
        cl.nodes[victim].start()
        ok, _ = harness.waitFor("restarted", lambda: reachable(ctl, victim), 20)
        failures += expect("restarted node %d reachable" % victim, ok)

        # The member nemesis adds brand-new voters: an id never used, its own namespace.
        fresh = cl.addNode(4)
        fresh.start(join=[1, 2, 3])
        ok, why = harness.waitFor("grown", lambda: harness.clusterWhole(ctl, 4), 30)
        failures += expect("brand-new node 4 joined as a reachable voter (%s)" % why, ok)

        # The firing workload's record of an execution: one line with the run's variables,
        # the node id and the real start time.
        rc, _, err = ctl.run(["job", "add", "rec", "--every", "1s", "--shell",
                              workload.RECORD_CMD], "10s")
        time.sleep(3.5)
        ctl.run(["job", "pause", "rec"], "10s")
        lines = []
        for n in cl.ids():
            path = clustermod.recordsPath(out, n)
            if os.path.exists(path):
                lines += [ln.split() for ln in open(path)]
        good = [f for f in lines if len(f) == 7 and f[0] == "default/rec" and f[5] in
                [str(n) for n in cl.ids()] and abs(float(f[6]) - parseInstant(f[1])) < 5]
        failures += expect("job rec recorded %d executions, %d well-formed (add exit %s %s)"
                           % (len(lines), len(good), rc, err), len(good) >= 2
                           and len(good) == len(lines))
        statuses = cl.stopAll()
        failures += expect("graceful stop exit statuses %s" % statuses,
                           all(s == 0 for s in statuses.values()))
    finally:
        cl.killAll()
        net.removeAll()
    failures += recordUnfaked(out)
    print("artifacts: " + out)
    return 1 if failures else 0


def recordUnfaked(out):
    """RECORD_CMD under libfaketime at +300 s records the real time, not the faked one."""
    clock = os.path.join(out, "unfaked.clock")
    with open(clock, "w") as f:
        f.write("+300\n")
    rec = os.path.join(out, "unfaked.txt")
    env = dict(os.environ, LD_PRELOAD=clustermod.FAKETIME_LIB, FAKETIME_TIMESTAMP_FILE=clock,
               FAKETIME_NO_CACHE="1", RCJ_NODE="9", RCJ_RECORDS=rec, RAFTCRON_JOB="ns/j",
               RAFTCRON_SCHEDULED_AT="2030-01-01T00:00:00Z", RAFTCRON_ATTEMPT="1",
               RAFTCRON_RUN_ID="5", RAFTCRON_FENCE="6")
    faked = subprocess.run(["date", "+%s"], env=env, capture_output=True, text=True).stdout
    subprocess.run(["/bin/sh", "-c", workload.RECORD_CMD], env=env, check=True)
    f = open(rec).read().split()
    skew = float(f[6]) - time.time()
    return expect("RECORD_CMD under a +300 s libfaketime clock records the real time (%+.1f s; "
                  "date says %+.0f s): %s" % (skew, float(faked or 0) - time.time(), " ".join(f)),
                  abs(skew) < 5 and f[:6] == ["ns/j", "2030-01-01T00:00:00Z", "1", "5", "6", "9"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
