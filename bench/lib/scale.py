"""Scale and memory (bench/run section 4): RSS per node and per schedule, job creation through
the client library, snapshot size and the time a fresh node takes to install it.

A fresh 3-node cluster (default settings). Jobs are noop cron jobs due once a year
(`0 0 1 1 *`): schedules that are held, heaped and snapshotted but do not fire during the
measurement, so that RSS counts the schedules and not a growing ledger.
  - creation: the first S jobs by one client, one Job.Put after another (sequential); the rest,
    up to each size, by 32 threads with one client each (pipelined: the library has no batch
    call, a client is not thread-safe); jobs/s = jobs / wall time, put latency p50/p99. Each
    step has a time budget: a size not reached within it is measured at the count reached,
    said so, and the larger sizes are skipped;
  - RSS: VmRSS of each node once every node has applied every put, minus its VmRSS before the
    first job, divided by the jobs (KiB per schedule);
  - snapshot: the newest snapshot file in the leader's data dir (libraft takes one every
    --snapshot-threshold 8192 entries), its size and the index it covers;
  - install: a fresh node started with --join --standby; time from its start until its applied
    index reaches the leader's commit index taken before the start, and whether a snapshot file
    arrived in its data dir (a snapshot install rather than a log replay). It is then removed.
"""
import os
import signal
import time

from localcluster import LocalCluster


def applied(c, i):
    try:
        st = c.ctlJson(["cluster", "status", "--stale"], timeout="5s", check=False,
                       endpoints=c.rpc[i - 1])
    except ValueError:
        return None
    return (st or {}).get("applied_index")


def commitIndex(c):
    st = c.ctlJson(["cluster", "status"], timeout="10s")
    return st["commit_index"]


def waitApplied(c, nodes, timeout):
    """Wait until every node of nodes has applied the leader's commit index (read once)."""
    target = commitIndex(c)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if all((applied(c, i) or 0) >= target for i in nodes):
            return target
        time.sleep(0.2)
    raise RuntimeError("nodes %s did not apply index %d within %ds" % (nodes, target, timeout))


def newestSnapshot(d):
    best = None
    for name in os.listdir(d):
        if not name.startswith("snapshot-") or name.endswith(".meta"):
            continue
        parts = name.split("-")
        try:
            index = int(parts[2])
        except (IndexError, ValueError):
            continue
        if best is None or index > best[0]:
            best = (index, os.path.getsize(os.path.join(d, name)))
    return {"index": best[0], "bytes": best[1]} if best else None


def installFresh(ctx, c, jobs, timeout):
    target = commitIndex(c)
    t0 = time.time()
    i = c.addNode(args=["--standby"])
    deadline = t0 + timeout
    while time.time() < deadline:
        a = applied(c, i)
        if a is not None and a >= target:
            break
        if c.exited():
            raise RuntimeError("node(s) exited: %s (logs in %s)" % (c.exited(), c.dir))
        time.sleep(0.05)
    else:
        raise RuntimeError("the fresh node did not reach index %d within %ds" % (target, timeout))
    secs = time.time() - t0
    dig = c.ctlJson(["cluster", "digest", "--stale"], timeout="60s", endpoints=c.rpc[i - 1])
    snap = newestSnapshot(c.dataDir(i))
    c.ctl(["member", "remove", str(i)], timeout="30s")
    c.kill(i, signal.SIGTERM)
    if dig.get("jobs") != jobs:
        raise RuntimeError("the fresh node holds %s jobs, not %d" % (dig.get("jobs"), jobs))
    return {"seconds": secs, "target_index": target, "snapshot_received": snap is not None,
            "snapshot": snap, "node": i}


HOW = ("a fresh 3-node loopback cluster; noop jobs due once a year; RSS = VmRSS once every "
       "node applied every put, minus VmRSS before the first job, per job; creates through the "
       "client library's Job.Put, sequential = one client, pipelined = 32 threads with a client "
       "each (no batch call exists); snapshot = newest snapshot file in the leader's data dir; "
       "install = a fresh --standby node from start until it applied the leader's commit index")


def run(ctx):
    sizes = ctx.p["scale_sizes"]
    seq = min(ctx.p["scale_seq"], sizes[0])
    keys = {"cron": "0 0 1 1 *", "noop": "true"}
    out = {"sizes": []}
    args = ctx.p.get("scale_node_args", [])
    with LocalCluster(ctx.bin, nodes=3, extra_args=args, workdir=ctx.workdir("scale")) as c:
        c.start()
        c.waitVoters(3)
        waitApplied(c, [1, 2, 3], 30)
        rss0 = {i: c.rssKib(i) for i in (1, 2, 3)}
        out["rss_kib_empty"] = rss0
        out["sequential"] = ctx.rc.create(c.endpoints, "scale", seq, keys, threads=1)
        ctx.learnCreateRate(out["sequential"])
        created = seq
        for target in sizes:
            ctx.log("scale: creating jobs %d..%d (32 threads, at most %ds)"
                    % (created, target, ctx.p["scale_budget_s"]))
            pr = ctx.rc.create(c.endpoints, "scale", target - created, keys, threads=32,
                               first=created, budget_s=ctx.p["scale_budget_s"])
            created += pr["created"]
            n = created
            waitApplied(c, [1, 2, 3], 600)
            lid = c.leaderId()
            rss = {i: c.rssKib(i) for i in (1, 2, 3)}
            per = {str(i): (rss[i] - rss0[i]) / float(n) for i in (1, 2, 3)}
            snap = newestSnapshot(c.dataDir(lid))
            inst = ctx.attempt("scale: snapshot install on a fresh node at %d jobs" % n,
                               installFresh, ctx, c, n, 120 + n / 2000)
            out["sizes"].append({
                "jobs": n, "target": target, "reached": n >= target, "pipelined": pr,
                "leader": lid,
                "rss_kib": {str(i): rss[i] for i in rss},
                "kib_per_schedule": per,
                "kib_per_schedule_max": max(per.values()),
                "snapshot": snap, "install": inst})
            if n < target:
                ctx.log("scale: %d of %d jobs within the budget; larger sizes skipped"
                        % (n, target))
                break
        if c.exited():
            raise RuntimeError("node(s) exited: %s (logs in %s)" % (c.exited(), c.dir))
    out["node_args"] = args
    out["how"] = HOW
    return out
