#!/usr/bin/env python3
"""Start lateness of runs on a local cluster: N jobs due every second, for T seconds.

  bench/fire_lateness.py --bin build/bin --jobs 100 --seconds 10 [--executor shell|noop]
                         [--shape same|spread] [--nodes 3] [--node-arg=--max-parallel=64]

same:   every job is due at each whole second (`every: 1s` anchored on a whole second)
spread: job k is `every: 1s` anchored k/N of a second after a whole second

One row of bench/run's fire precision (bench/lib/fire.py), with the knobs a tuning session
wants: the jobs fire for 2 s of warm-up, then T measured seconds. Lateness is the run's
started_at (the worker's clock when the executor started it) minus its scheduled instant, over
every instant of the T seconds, read back through the client library (an instant whose run had
not started when read counts as a lower bound); runs finished per second is the number of runs
that succeeded within the T seconds, divided by T. Prints one JSON object.
"""
import argparse
import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import benchctx  # noqa: E402
import fire  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default="build/bin")
    ap.add_argument("--jobs", type=int, default=100)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--shape", choices=("same", "spread"), default="same")
    ap.add_argument("--executor", choices=("shell", "noop"), default="shell")
    ap.add_argument("--node-arg", action="append",
                    help="extra raftcrond flag, e.g. --node-arg=--max-parallel=64")
    args = ap.parse_args()
    extra = []
    for a in args.node_arg or []:
        extra += a.split("=", 1) if a.startswith("--") and "=" in a else [a]
    ctx = benchctx.Ctx(args.bin, "quick", None)
    ctx.p.update({"warm_s": 2, "windows": 1, "window_s": args.seconds, "drain_s": 15})
    try:
        r = fire.runRaftcron(ctx, args.jobs, args.shape, args.executor, node_args=extra,
                             nodes=args.nodes)
    finally:
        ctx.cleanup()
    a = r["all"]
    val = lambda k: a[k]["value"] if k in a else None  # noqa: E731
    print(json.dumps({
        "jobs": args.jobs, "seconds": args.seconds, "shape": args.shape,
        "executor": args.executor, "nodes": args.nodes, "node_args": extra,
        "apply_s": r["create"]["seconds"], "expected_runs": args.jobs * args.seconds,
        "started": a["count"] - a["censored"], "not_started": a["censored"],
        "duplicates": r["duplicates"], "states": r["states"], "per_worker": r["per_worker"],
        "leader": r["leader"],
        "lateness_ms": {"p50": val("p50"), "p99": val("p99"), "max": val("max"),
                        "lower_bound": a.get("max", {}).get("lower_bound", False)},
        "finished_per_s": round(sum(r["finished_per_worker"].values()) / args.seconds, 1)}))


if __name__ == "__main__":
    main()
