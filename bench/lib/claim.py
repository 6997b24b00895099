"""Claim throughput (bench/run section 2): fire decisions committed per second in a burst, and
the commit latency at that rate, next to the machine's limits measured in the same run.

raftcron: a fresh 3-node cluster (default settings) and N noop one-off jobs (`at`) all due at
the same instant T, created beforehand. While the leader decides them, rcbench watch asks a
follower (stale Run.Get, a read of its applied state, one call at a time) for the highest run
id it has applied: a run exists once its FIRED decision is committed and applied, and run ids
are dense. A follower applies an entry once it learns that it is committed, at most a
heartbeat after the leader (20 ms, less under load: every append carries the commit index);
it is asked rather than the leader because the leader's loop is the one being saturated, and
a poll waits for it. Each poll gives (time, decisions applied so far). Afterwards every run is
read back: its fired_us is the leader's clock when it proposed the FireBatch holding it.
  - decisions/s: the slope of the applied count from 10 % to 90 % of N (the sustained part of
    the burst; both ends are ramps); when fewer than 3 polls saw the burst, N over first
    proposal to last poll (an undercount);
  - commit latency: for each run, the first poll that saw it minus its fired_us (proposal to
    applied on a follower; the precision is one poll, reported beside it);
  - cross-check from the leader's own clock: the leader plans again only once its previous
    plan's entries are applied, so the proposal times of successive plans bound their commit
    times: (N - the last plan's decisions) / (last proposal - first proposal).
The runs execute (noop), so the decisions share the log with the dispatcher's entries, as they
do in use.

Machine limits, in the same run, on the file system of the clusters' data dirs:
  - fsync: 4 KiB appended to a file then fdatasync, one after another (the latency of one
    durable log append);
  - raft-benchmark submit (Debian libraft-tools): libraft's own single-node sequential submit
    of 4 KiB entries on raft_uv; it reports the median (and min, max) of the submit latency.
"""
import json
import os
import shutil
import subprocess
import time

import benchstats as bs
from localcluster import LocalCluster
from rcdriver import iso, iterRuns, readWatch

US = 1000000


def fsyncLatency(directory, samples):
    """p50/p99/max in ms of a 4 KiB append + fdatasync, samples times, in directory."""
    path = os.path.join(directory, "fsync.bench")
    buf = b"\xa5" * 4096
    lat = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for _ in range(samples):
            t0 = time.perf_counter()
            os.write(fd, buf)
            os.fdatasync(fd)
            lat.append((time.perf_counter() - t0) * 1000.0)
    finally:
        os.close(fd)
        os.unlink(path)
    return {"samples": samples, "p50_ms": bs.pct(lat, 50), "p99_ms": bs.pct(lat, 99),
            "max_ms": max(lat), "per_s_sequential": 1000.0 / bs.pct(lat, 50)}


def raftBenchmark(directory, entries, repeats):
    """raft-benchmark submit, repeats times: the median of its reported medians (ms)."""
    exe = shutil.which("raft-benchmark")
    if exe is None:
        raise RuntimeError("raft-benchmark not found (Debian libraft-tools)")
    runs = []
    for _ in range(repeats):
        d = os.path.join(directory, "raft-benchmark")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        cmd = [exe, "submit", "-d", d, "-b", "4096", "-s", str(4096 * entries)]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        shutil.rmtree(d, ignore_errors=True)
        try:
            rep = json.loads(p.stdout)
        except ValueError:
            raise RuntimeError("raft-benchmark: exit %d: %s %s" % (p.returncode, p.stdout[-300:],
                                                                   p.stderr[-300:]))
        m = rep["submit:4096"]["latency"]
        runs.append({"p50_ms": m["value"] / 1e6, "min_ms": m["lower_bound"] / 1e6,
                     "max_ms": m["upper_bound"] / 1e6})
    return {"entries": entries, "repeats": repeats, "runs": runs,
            "p50_ms": bs.median([r["p50_ms"] for r in runs]),
            "command": "raft-benchmark submit -d DIR -b 4096 -s %d" % (4096 * entries)}


def burst(ctx, n):
    with LocalCluster(ctx.bin, nodes=3, workdir=ctx.workdir("claim-%d" % n)) as c:
        c.start()
        c.waitVoters(3)
        base = 0  # a fresh cluster: the burst's runs are ids 1..n
        t_create = ctx.startIn(n) + 3
        due_us = int((time.time() + t_create) * US) // US * US
        keys = {"at": iso(due_us), "noop": "true", "misfire_grace": "1h"}
        cr = ctx.rc.create(c.endpoints, "claim", n, keys, threads=16)
        ctx.learnCreateRate(cr)
        if time.time() > due_us / US - 2.5:
            raise RuntimeError("creating %d jobs took %.1fs, past the planned instant"
                               % (n, cr.get("seconds", 0)))
        lid = c.leaderId()
        fid = [i for i in sorted(c.procs) if i != lid][0]
        wpath = os.path.join(c.dir, "watch.tsv")
        w = ctx.rc.watch(c.rpc[fid - 1], base, n, due_us / US - time.time() + 120, wpath)
        out, err = w.communicate()
        if w.returncode != 0:
            raise RuntimeError("rcbench watch: exit %d: %s %s" % (w.returncode, out, err))
        watch = json.loads(out)
        if c.leaderId() != lid:
            raise RuntimeError("the leader changed during the burst")
        rpath = os.path.join(c.dir, "runs.tsv")
        info = ctx.rc.runs(c.rpc[lid - 1], "claim", n, rpath, threads=8, limit=5)
        runs = [r for r in iterRuns(rpath)]
        series = readWatch(wpath)
    if watch["highest"] < base + n:
        raise RuntimeError("only %d of %d decisions were applied within the watch"
                           % (watch["highest"] - base, n))
    # When each run id became visible: the first poll whose highest id covers it.
    vis = {}
    prev = base
    polls = []
    for t, hi, began in series:
        for rid in range(prev + 1, hi + 1):
            vis[rid] = t
        polls.append((t - began) / 1000.0)
        prev = hi
    lat = [(vis[r["id"]] - r["fired"]) / 1000.0 for r in runs if r["id"] in vis and r["fired"]]

    def when(frac):
        target = base + max(1, int(frac * n))
        for t, hi, _ in series:
            if hi >= target:
                return t
        return None

    t10, t90 = when(0.10), when(0.90)
    first, last = series[0][0], series[-1][0]
    fired = sorted(set(r["fired"] for r in runs if r["fired"]))
    per_plan = {}
    for r in runs:
        per_plan[r["fired"]] = per_plan.get(r["fired"], 0) + 1
    by_plans = None
    if len(fired) >= 2:
        by_plans = (n - per_plan[fired[-1]]) / ((fired[-1] - fired[0]) / US)
    if t10 and t90 and t90 > t10 and len(series) >= 3:
        rate, how = 0.8 * n / ((t90 - t10) / US), "10-90 % of the applied count"
    else:
        # Too few polls saw the burst (it was applied within one or two): from the first
        # proposal to the last poll instead, which undercounts the rate.
        rate, how = n / ((last - fired[0]) / US), "first proposal to last poll"
    return {
        "jobs": n, "due": iso(due_us), "create": cr, "read": info,
        "decisions_per_s": rate, "rate_from": how, "polls_seeing_the_burst": len(series),
        "decisions_per_s_by_plans": by_plans, "watched_node": fid,
        "first_to_last_s": (last - first) / US,
        "first_applied_vs_due_ms": (first - due_us) / 1000.0,
        "commit_ms": {"p50": bs.pct(lat, 50), "p99": bs.pct(lat, 99), "max": max(lat) if lat
                      else None, "runs": len(lat)},
        "poll_ms": {"p50": bs.pct(polls, 50), "max": max(polls) if polls else None},
        "plans": len(fired),
        "decisions_per_plan": n / len(fired) if fired else None,
    }


HOW = ("decisions/s = slope of a follower's applied run count (stale Run.Get polls, one at a "
       "time) from 10 % to 90 % of a burst of noop one-off jobs all due at one instant, on a "
       "fresh 3-node loopback cluster with default settings; commit = first poll that saw the "
       "run minus its FireBatch's proposal time (fired_us); fsync = 4 KiB append + fdatasync "
       "in the data dirs' file system, one after another; raft-benchmark submit = libraft's "
       "single-node sequential 4 KiB submit, median of its medians over repeats")


def run(ctx):
    d = ctx.workdir("limits")
    out = {"fsync": ctx.attempt("claim: fsync latency of the data dir", fsyncLatency, d,
                                ctx.p["fsync_samples"]),
           "raft_benchmark": ctx.attempt("claim: raft-benchmark submit", raftBenchmark, d,
                                         ctx.p["raftbench_entries"],
                                         ctx.p["raftbench_repeats"]),
           "burst": ctx.attempt("claim: %d jobs due at one instant" % ctx.p["claim_jobs"], burst,
                                ctx, ctx.p["claim_jobs"])}
    b, f, r = out["burst"], out["fsync"], out["raft_benchmark"]
    if "error" not in b and "error" not in f:
        # how many decisions one fsync's time carries
        out["decisions_per_fsync_time"] = bs.ratio(b["decisions_per_s"], f["per_s_sequential"])
    if "error" not in b and "error" not in r:
        out["commit_vs_raft_benchmark"] = bs.ratio(b["commit_ms"]["p50"], r["p50_ms"])
    out["how"] = HOW
    return out
