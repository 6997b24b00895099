"""Fire precision (bench/run section 1): how late runs start, raftcron next to APScheduler.

Workload: N jobs, each due once a second. Shape "spread": job k's instants are k/N of a second
after each whole second; shape "same": every job is due at each whole second (the top-of-the-
hour case, every second). The jobs start at a whole second S (after they have all been
created), fire for `warm` seconds that are not measured, then for `windows` consecutive windows
of `window` seconds that are, and end. Lateness of an instant = the start its executor reported
(its own clock) minus the instant (raftcron: minus start_at, which is the instant: no jitter).
An instant with no started run when the ledger is read counts as a lower bound (benchstats).

raftcron: a fresh 3-node cluster on 127.0.0.1, default settings but --max-parallel 256 (so that
shell runs are not held to 3 processes a node), jobs with misfire_grace 1h, created through
the client library (rcbench create), runs read back through it (rcbench runs, from the leader).
APScheduler: apsched_worker.py, same instants.
"""
import array
import json
import math
import os
import subprocess
import time

import benchstats as bs
from localcluster import LocalCluster, cpuShare
from rcdriver import iso, iterRuns

US = 1000000
FINISHED = ("succeeded", "failed", "timed_out", "dead", "cancelled", "lost")


class Plan:
    """Instants of one measurement: jobs fire from start_us (a whole second) for warm_s
    seconds, then windows x window_s seconds that are measured, then stop."""

    def __init__(self, start_us, warm_s, windows, window_s):
        self.start_us = start_us
        self.first_us = start_us + warm_s * US
        self.windows = [(self.first_us + w * window_s * US, self.first_us + (w + 1) * window_s * US)
                        for w in range(windows)]
        self.end_us = self.windows[-1][1]

    def asDict(self):
        return {"start": iso(self.start_us), "measured_from": iso(self.first_us),
                "end": iso(self.end_us), "windows": len(self.windows),
                "window_s": (self.windows[0][1] - self.windows[0][0]) // US}


def plan(ctx, seconds):
    """A Plan whose start is seconds from now (whole second)."""
    start = int(math.ceil(time.time() + seconds))
    return Plan(start * US, ctx.p["warm_s"], ctx.p["windows"], ctx.p["window_s"])


def offset(k, n, shape):
    """Job k's offset in the second; the same arithmetic as rcbench's --spread."""
    return int(float(US) * k / n) if shape == "spread" else 0


def analyze(path, n, shape, pl, read_us, usable_from_us=0):
    """Lateness per window and over all windows, from a runs file (rcbench format)."""
    vals = [array.array("d") for _ in pl.windows]
    cens = [array.array("d") for _ in pl.windows]
    counts = {"duplicates": 0, "missing": 0, "not_started": 0, "skipped_instants": 0,
              "states": {}, "per_worker": {}}
    seen = set()

    def flush(k, runs):
        if k in seen:
            raise RuntimeError("runs of job %d are not adjacent in %s" % (k, path))
        seen.add(k)
        off = offset(k, n, shape)
        for w, (ws, we) in enumerate(pl.windows):
            for sec in range(ws // US, we // US):
                inst = sec * US + off
                if inst < usable_from_us:
                    counts["skipped_instants"] += 1
                    continue
                rs = runs.get(inst)
                if rs is None:
                    counts["missing"] += 1
                    cens[w].append((read_us - inst) / 1000.0)
                    continue
                if len(rs) > 1:
                    counts["duplicates"] += len(rs) - 1
                r = rs[0]
                counts["states"][r["state"]] = counts["states"].get(r["state"], 0) + 1
                wk = str(r["worker"])
                counts["per_worker"][wk] = counts["per_worker"].get(wk, 0) + 1
                if r["started"] > 0:
                    vals[w].append((r["started"] - (r["start_at"] or r["scheduled"])) / 1000.0)
                else:
                    counts["not_started"] += 1
                    cens[w].append((read_us - inst) / 1000.0)

    cur, runs = None, {}
    for r in iterRuns(path):
        if r["job"] != cur:
            if cur is not None:
                flush(cur, runs)
            cur, runs = r["job"], {}
        runs.setdefault(r["scheduled"], []).append(r)
    if cur is not None:
        flush(cur, runs)
    for k in range(n):
        if k not in seen:
            flush(k, {})
    per = [bs.summarize(v, c) for v, c in zip(vals, cens)]
    allv = array.array("d")
    allc = array.array("d")
    for v, c in zip(vals, cens):
        allv.extend(v)
        allc.extend(c)
    out = dict(counts)
    out["all"] = bs.summarize(allv, allc)
    out["windows"] = per
    p99s = [w["p99"]["value"] for w in per if "p99" in w]
    out["p99_windows_min"] = min(p99s) if p99s else None
    out["p99_windows_max"] = max(p99s) if p99s else None
    out["p50_windows_median"] = bs.median([w["p50"]["value"] for w in per if "p50" in w])
    return out


def finishedPerWorker(path, pl, usable_from_us=0):
    """{worker: runs it finished (succeeded) within the measured windows}."""
    per = {}
    lo = max(pl.first_us, usable_from_us)
    for r in iterRuns(path):
        if r["state"] == "succeeded" and lo <= r["finished"] < pl.end_us:
            per[str(r["worker"])] = per.get(str(r["worker"]), 0) + 1
    return per


def waitWindows(c, pl):
    """Wait until the measured windows are over, watching that no node dies; returns each
    node's CPU use and time waiting for a CPU over the windows ({id: cpuShare})."""
    sched0 = None
    while True:
        now = time.time()
        if now >= pl.end_us / US:
            break
        if c.exited():
            raise RuntimeError("node(s) exited during the measurement: %s (logs in %s)"
                               % (c.exited(), c.dir))
        if sched0 is None and now >= pl.first_us / US:
            sched0 = ({i: c.schedstat(i) for i in c.procs}, now)
        wake = pl.first_us / US if sched0 is None else pl.end_us / US
        time.sleep(max(0.005, min(0.2, wake - now)))
    if sched0 is None:
        return {}
    secs = time.time() - sched0[1]
    return {str(i): cpuShare(sched0[0].get(i), c.schedstat(i), secs) for i in c.procs}


def usableFrom(pl):
    """Called once the jobs exist: 0, or when their creation overran the warm-up, the instant
    from which the measurement can count (a second later); an error if that leaves nothing."""
    now = int(time.time() * US)
    if now <= pl.first_us - US:
        return 0
    if now + US >= pl.end_us - US:
        raise RuntimeError("creating the jobs took until %s, past the measured windows (%s)"
                           % (iso(now), pl.asDict()))
    return now + US


def executorKeys(executor):
    if executor == "noop":
        return {"noop": "true"}
    if executor == "shell":
        return {"shell": "true"}
    raise ValueError(executor)


def waitDrained(ctx, c, ns, n, pl, deadline):
    """Wait until the sample of jobs due last in the second has a finished run for every
    measured instant, or until deadline (time.time())."""
    m = min(n, 50)
    path = os.path.join(c.dir, "drain.tsv")
    want = m * sum((we - ws) // US for ws, we in pl.windows)
    while time.time() < deadline:
        lid = c.leaderId()
        if lid:
            ctx.rc.runs(c.rpc[lid - 1], ns, m, path, threads=2, first=n - m)
            done = sum(1 for r in iterRuns(path)
                       if pl.first_us <= r["scheduled"] < pl.end_us and r["state"] in FINISHED)
            if done >= want:
                return True
        time.sleep(0.5)
    return False


def runRaftcron(ctx, n, shape, executor, node_args=None, nodes=3):
    """One measurement on a fresh cluster; returns the analysis plus how it was set up."""
    node_args = ["--max-parallel", "256"] if node_args is None else list(node_args)
    with LocalCluster(ctx.bin, nodes=nodes, extra_args=node_args,
                      workdir=ctx.workdir("fire-%s-%s-%d" % (executor, shape, n))) as c:
        c.start()
        c.waitVoters(3)
        pl = plan(ctx, ctx.startIn(n))
        keys = {"every": "1s", "anchor": iso(pl.start_us), "start": iso(pl.start_us),
                "end": iso(pl.end_us - 1), "misfire_grace": "1h"}
        keys.update(executorKeys(executor))
        cr = ctx.rc.create(c.endpoints, "bench", n, keys, threads=16,
                           spread_us=US if shape == "spread" else 0)
        ctx.learnCreateRate(cr)
        usable = usableFrom(pl)
        lid0 = c.leaderId()
        cpu = waitWindows(c, pl)
        drained = waitDrained(ctx, c, "bench", n, pl, pl.end_us / US + ctx.p["drain_s"])
        lid = c.leaderId()
        read_us = int(time.time() * US)
        path = os.path.join(c.dir, "runs.tsv")
        info = ctx.rc.runs(c.rpc[lid - 1], "bench", n, path, threads=8, limit=100)
        res = analyze(path, n, shape, pl, read_us, usable)
        res["rss_kib"] = {str(i): c.rssKib(i) for i in sorted(c.procs)}
        res["leader"] = lid
        res["cpu"] = cpu
        res["cpu_leader"] = cpu.get(str(lid0)) if lid0 == lid else None
        res["finished_per_worker"] = finishedPerWorker(path, pl)
        if c.exited():
            raise RuntimeError("node(s) exited: %s (logs in %s)" % (c.exited(), c.dir))
    res.update({"system": "raftcron", "jobs": n, "shape": shape, "executor": executor,
                "fires_per_s": n, "plan": pl.asDict(), "create": cr, "read": info,
                "drained": drained, "usable_from": iso(usable) if usable else None,
                "node_args": node_args})
    return res


def runApscheduler(ctx, n, shape):
    pl = plan(ctx, 2.0 * n / ctx.aps_rate + ctx.p["margin_s"])
    path = os.path.join(ctx.workdir("aps-%s-%d" % (shape, n)), "runs.tsv")
    worker = os.path.join(os.path.dirname(os.path.abspath(__file__)), "apsched_worker.py")
    cmd = [ctx.aps_python, "-B", worker, "--jobs", str(n), "--shape", shape,
           "--start-us", str(pl.start_us), "--end-us", str(pl.end_us),
           "--windows-from", str(pl.first_us), "--drain-s", str(ctx.p["drain_s"]),
           "--out", path]
    p = subprocess.run(cmd, capture_output=True, text=True,
                       timeout=(pl.end_us / US - time.time()) + ctx.p["drain_s"] + 120)
    if p.returncode != 0:
        raise RuntimeError("apsched_worker: exit %d: %s" % (p.returncode, p.stderr[-800:]))

    info = json.loads(p.stdout.strip().splitlines()[-1])
    if info["add_s"] > 0:
        ctx.aps_rate = max(100.0, n / info["add_s"])
    usable = 0
    if info["added_at_us"] > pl.first_us - US:
        usable = info["added_at_us"] + US
    res = analyze(path, n, shape, pl, info["read_us"], usable)
    res["cpu_leader"] = info.get("cpu")
    res.update({"system": "apscheduler", "jobs": n, "shape": shape, "executor": "noop",
                "fires_per_s": n, "plan": pl.asDict(), "worker": info,
                "usable_from": iso(usable) if usable else None})
    return res


HOW = ("a fresh 3-node loopback cluster per row (default settings, --max-parallel 256); N jobs "
       "due once a second for warm-up + windows of measured seconds, created first through the "
       "client library; lateness = the run's start as its executor reported it minus its "
       "instant, over every instant of the windows (a run not started when read counts as a "
       "lower bound, '>='); 'not run' = instants without a started run; APScheduler 3 "
       "BackgroundScheduler, in-memory store, 10 threads, no-op function, same instants, start "
       "read by the executor thread; ratio = raftcron p99 / APScheduler p99 of the same row")


def run(ctx):
    rows = []
    aps_rss = None
    for executor, sizes in (("noop", ctx.p["fire_sizes"]), ("shell", ctx.p["shell_sizes"])):
        for n in sizes:
            shapes = ctx.p.get("shell_shapes", ["spread", "same"]) if executor == "shell" \
                else ["spread", "same"]
            for shape in shapes:
                row = {"jobs": n, "shape": shape, "executor": executor}
                row["raftcron"] = ctx.attempt("fire: raftcron %d %s jobs, %s" % (n, executor,
                                                                                shape),
                                              runRaftcron, ctx, n, shape, executor)
                rc = row["raftcron"]
                if "error" not in rc and rc["duplicates"]:
                    ctx.errors.append("fire: %d instants ran more than once (%d %s jobs, %s)"
                                      % (rc["duplicates"], n, executor, shape))
                if executor == "noop":
                    ap = ctx.attempt("fire: APScheduler %d jobs, %s" % (n, shape),
                                     runApscheduler, ctx, n, shape)
                    row["apscheduler"] = ap
                    if "error" not in ap and ap["worker"]["rss_kib_after"]:
                        w = ap["worker"]
                        aps_rss = ((w["rss_kib_after"] - w["rss_kib_before"]) / float(n), n)
                rows.append(row)
                ctx.log("fire: %s" % json.dumps(
                    {k: (v["all"] if isinstance(v, dict) and "all" in v else v)
                     for k, v in row.items()})[:600])
    out = {"rows": rows, "how": HOW}
    if aps_rss:
        out["apscheduler_rss_kib_per_job"], out["apscheduler_rss_jobs"] = aps_rss
    return out
