#!/usr/bin/env python3
"""Start lateness of runs on a local cluster: N jobs due every second, for T seconds.

  bench/fire_lateness.py --bin build/bin --jobs 100 --seconds 10 [--executor shell|noop]
                         [--shape same|spread] [--nodes 3] [--node-arg=--max-parallel=64]

same:   every job is `cron: "* * * * * *"` (all due at the same instant, the top of each second)
spread: job k is `every: 1s` anchored k/N of a second after a whole second

Lateness is the run's started_at (the worker's clock when the executor started it) minus its
scheduled instant, read from `run list -o json` after the window; runs finished per second is
the number of runs that reached succeeded within the window, divided by its length. Prints one
JSON object.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from localcluster import LocalCluster, parseTime, percentile  # noqa: E402


def jobsYaml(n, shape, executor, ns):
    lines = ["namespace: %s" % ns, "jobs:"]
    for k in range(n):
        lines.append("  - name: j%05d" % k)
        if shape == "same":
            lines.append('    cron: "* * * * * *"')
        else:
            lines.append("    every: 1s")
            lines.append("    anchor: \"2026-01-01T00:00:00.%06dZ\"" % (k * 1000000 // n))
        if executor == "noop":
            lines.append("    noop: true")
        else:
            lines.append("    shell: \"true\"")
        lines.append("    misfire_grace: 1h")
    return "\n".join(lines) + "\n"


def listRuns(c, ns, want):
    runs = []
    p = c.ctlJson(["run", "list", "--namespace", ns, "--limit", str(min(want, 1000))],
                  timeout="30s")
    runs.extend((p or {}).get("runs", []))
    return runs


def measure(args):
    extra = []
    for a in args.node_arg or []:
        extra += a.split("=", 1) if a.startswith("--") and "=" in a else [a]
    with LocalCluster(args.bin, nodes=args.nodes, extra_args=extra) as c:
        c.start()
        ns = "bench"
        path = os.path.join(c.dir, "jobs.yaml")
        with open(path, "w") as f:
            f.write(jobsYaml(args.jobs, args.shape, args.executor, ns))
        t0 = time.time()
        c.ctl(["job", "apply", "-f", path], timeout="120s")
        created = time.time() - t0
        # Skip the first two seconds (jobs created during the apply), then measure.
        start = int(time.time()) + 2
        end = start + args.seconds
        time.sleep(max(0, end + 1.5 - time.time()))
        runs = listRuns(c, ns, args.jobs * (args.seconds + 4))
        leader = c.leaderId()
    late = []
    finished = 0
    states = {}
    per_worker = {}
    for r in runs:
        sched = parseTime(r["scheduled_at"]) / 1e6
        if not (start <= sched < end):
            continue
        states[r["state"]] = states.get(r["state"], 0) + 1
        per_worker[r["worker"]] = per_worker.get(r["worker"], 0) + 1
        st = parseTime(r.get("started_at"))
        if st is not None and r.get("attempt", 1) == 1:
            late.append((st - parseTime(r["start_at"] or r["scheduled_at"])) / 1000.0)
        fin = parseTime(r.get("finished_at"))
        if r["state"] == "succeeded" and fin is not None and fin / 1e6 < end:
            finished += 1
    expected = args.jobs * args.seconds
    return {
        "jobs": args.jobs, "seconds": args.seconds, "shape": args.shape,
        "executor": args.executor, "nodes": args.nodes, "node_args": extra,
        "apply_s": round(created, 3), "expected_runs": expected, "runs_seen": sum(states.values()),
        "started": len(late), "states": states, "per_worker": per_worker, "leader": leader,
        "lateness_ms": {"p50": percentile(late, 50), "p99": percentile(late, 99),
                        "max": max(late) if late else None},
        "finished_per_s": round(finished / args.seconds, 1),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default="build/bin")
    ap.add_argument("--jobs", type=int, default=100)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--shape", choices=("same", "spread"), default="same")
    ap.add_argument("--executor", choices=("shell", "noop"), default="shell")
    ap.add_argument("--node-arg", action="append", help="extra raftcrond flag, e.g. --node-arg=--max-parallel=64")
    args = ap.parse_args()
    print(json.dumps(measure(args)))


if __name__ == "__main__":
    main()
