"""Executor overhead (bench/run section 5): runs per second per node for shell `true` and for
HTTP to a local server, and what 1,000 concurrent HTTP runs do to other jobs' fire precision.

Runs per second: a fresh 3-node cluster (--max-parallel 256), N jobs each due once a second,
spread over the second (N runs/s offered), for the measured windows of fire.Plan. A node's rate
is the runs it finished (succeeded) within the windows divided by their length; the offered
rate is beside it, and a total below 95 % of it means the executors were saturated (the figure
is then their capacity here; otherwise only a lower bound of it). Start lateness of those runs
is given as in section 1. The HTTP server is tests/integration/http_server.py (one Python
asyncio process, GET /ok answered at once; its request log goes to /dev/null); it shares the
machine's cores with the nodes.

Concurrent HTTP: P noop probe jobs due once a second, spread, for 2R windows. From the start
of window R on, C HTTP jobs are due together every window length and each asks /slow/(window
- 0.5 s), so about C requests are in flight through the second half. The probes' lateness in
the first R windows (no HTTP load) and in the last R (the load) is compared; the number of HTTP
runs in flight at once is computed from their start and finish times.
"""
import os
import signal
import subprocess
import time

import benchstats as bs
from fire import Plan, analyze, finishedPerWorker, usableFrom, waitDrained, waitWindows
from localcluster import LocalCluster
from rcdriver import iso, iterRuns

US = 1000000
NODE_ARGS = ["--max-parallel", "256"]


class HttpServer:
    def __init__(self, src_dir):
        path = os.path.join(src_dir, "tests", "integration", "http_server.py")
        self.p = subprocess.Popen(["python3", path, "/dev/null"], stdout=subprocess.PIPE,
                                  text=True)
        line = self.p.stdout.readline().split()
        if len(line) != 2:
            self.stop()
            raise RuntimeError("the HTTP server did not start")
        self.port = int(line[0])

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            self.p.wait()


def planFor(ctx, n, windows, window_s):
    now = time.time()
    start = int(now + ctx.startIn(n)) + 1
    return Plan(start * US, ctx.p["warm_s"], windows, window_s)


def throughput(ctx, kind, server):
    n = ctx.p["exec_jobs"]
    keys = {"shell": "true"} if kind == "shell" else {"http": server.url("/ok")}
    with LocalCluster(ctx.bin, nodes=3, extra_args=NODE_ARGS,
                      workdir=ctx.workdir("exec-%s" % kind)) as c:
        c.start()
        c.waitVoters(3)
        pl = planFor(ctx, n, ctx.p["exec_windows"], ctx.p["exec_window_s"])
        keys.update({"every": "1s", "anchor": iso(pl.start_us), "start": iso(pl.start_us),
                     "end": iso(pl.end_us - 1), "misfire_grace": "1h"})
        cr = ctx.rc.create(c.endpoints, "exec", n, keys, threads=16, spread_us=US)
        ctx.learnCreateRate(cr)
        usable = usableFrom(pl)
        cpu = waitWindows(c, pl)
        drained = waitDrained(ctx, c, "exec", n, pl, pl.end_us / US + ctx.p["drain_s"])
        lid = c.leaderId()
        read_us = int(time.time() * US)
        path = os.path.join(c.dir, "runs.tsv")
        ctx.rc.runs(c.rpc[lid - 1], "exec", n, path, threads=8)
        lat = analyze(path, n, "spread", pl, read_us, usable)
        per = finishedPerWorker(path, pl, usable)
        if c.exited():
            raise RuntimeError("node(s) exited: %s (logs in %s)" % (c.exited(), c.dir))
    secs = (pl.end_us - max(pl.first_us, usable)) / US
    per_s = {w: v / secs for w, v in per.items()}
    total = sum(per_s.values())
    return {"kind": kind, "offered_per_s": n, "finished_per_s": total,
            "per_node_per_s": per_s, "per_node_mean": total / 3.0,
            "saturated": total < 0.95 * n, "drained": drained, "cpu": cpu,
            "lateness": lat["all"], "states": lat["states"], "missing": lat["missing"],
            "not_started": lat["not_started"]}


def maxConcurrent(path):
    ev = []
    for r in iterRuns(path):
        if r["started"]:
            ev.append((r["started"], 1))
            ev.append((r["finished"] or 2 ** 62, -1))
    ev.sort()
    cur = best = 0
    for _, d in ev:
        cur += d
        best = max(best, cur)
    return best


def concurrentHttp(ctx, server):
    probes, conc = ctx.p["probe_jobs"], ctx.p["concurrent_http"]
    rwin, wlen = ctx.p["exec_windows"], ctx.p["exec_window_s"]
    with LocalCluster(ctx.bin, nodes=3, extra_args=NODE_ARGS,
                      workdir=ctx.workdir("exec-concurrent")) as c:
        c.start()
        c.waitVoters(3)
        pl = planFor(ctx, probes + conc, 2 * rwin, wlen)
        loaded_us = pl.windows[rwin][0]
        pk = {"every": "1s", "anchor": iso(pl.start_us), "start": iso(pl.start_us),
              "end": iso(pl.end_us - 1), "misfire_grace": "1h", "noop": "true"}
        hk = {"every": "%ds" % wlen, "anchor": iso(loaded_us), "start": iso(loaded_us),
              "end": iso(pl.end_us - 1), "misfire_grace": "1h", "max_instances": "2",
              "http": server.url("/slow/%d" % (wlen * 1000 - 500)),
              "timeout_run": "%ds" % (wlen + 5)}
        ctx.rc.create(c.endpoints, "probe", probes, pk, threads=8, spread_us=US)
        ctx.rc.create(c.endpoints, "http", conc, hk, threads=16)
        usable = usableFrom(pl)
        if usable >= loaded_us - US:
            raise RuntimeError("creating the jobs took until the loaded windows")
        waitWindows(c, pl)
        waitDrained(ctx, c, "probe", probes, pl, pl.end_us / US + ctx.p["drain_s"])
        lid = c.leaderId()
        read_us = int(time.time() * US)
        ppath = os.path.join(c.dir, "probes.tsv")
        hpath = os.path.join(c.dir, "http.tsv")
        ctx.rc.runs(c.rpc[lid - 1], "probe", probes, ppath, threads=4)
        ctx.rc.runs(c.rpc[lid - 1], "http", conc, hpath, threads=8)
        base = Plan(pl.start_us, ctx.p["warm_s"], rwin, wlen)
        loaded = Plan(loaded_us - ctx.p["warm_s"] * US, ctx.p["warm_s"], rwin, wlen)
        quiet = analyze(ppath, probes, "spread", base, read_us, usable)
        busy = analyze(ppath, probes, "spread", loaded, read_us)
        http_states = {}
        for r in iterRuns(hpath):
            http_states[r["state"]] = http_states.get(r["state"], 0) + 1
        inflight = maxConcurrent(hpath)
        if c.exited():
            raise RuntimeError("node(s) exited: %s (logs in %s)" % (c.exited(), c.dir))
    return {"probes": probes, "http_jobs": conc, "http_in_flight_max": inflight,
            "http_states": http_states, "quiet": quiet["all"], "loaded": busy["all"],
            "p99_ratio": bs.ratio(busy["all"].get("p99", {}).get("value"),
                                  quiet["all"].get("p99", {}).get("value"))}


HOW = ("a fresh 3-node loopback cluster (--max-parallel 256) per row; N jobs due once a second "
       "spread over the second (N/s offered); per node = runs it finished within the measured "
       "windows / their length; HTTP: GET to a local Python asyncio server on the same cores; "
       "concurrent: probe lateness in the windows before and while the HTTP jobs' slow "
       "requests are in flight")


def run(ctx):
    server = HttpServer(ctx.src)
    try:
        return {"how": HOW, "shell": ctx.attempt("exec: shell true runs/s", throughput, ctx, "shell", server),
                "http": ctx.attempt("exec: HTTP runs/s", throughput, ctx, "http", server),
                "concurrent_http": ctx.attempt(
                    "exec: %d concurrent HTTP runs beside noop probes" % ctx.p["concurrent_http"],
                    concurrentHttp, ctx, server)}
    finally:
        server.stop()
