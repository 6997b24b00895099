#!/usr/bin/env python3
"""Commit latency of a write that follows a quiet spell, by Raft heartbeat interval.

A scheduler's writes come in bursts separated by quiet (one FireBatch a second): what matters
is the first commit after the quiet, not the throughput. libraft 0.22 moves a follower out of
pipelined replication when a heartbeat round finds nothing to send (checkContactQuorum →
PROBE), so the first entry after a quiet spell is sent only with the next heartbeat. This
measures it: a 3-node loopback cluster per heartbeat interval; after each quiet spell one
`job add` (a commit on a majority, acknowledged after apply) is timed, then a burst of writes
back to back for comparison. The time of one raftcronctl process is included in each figure
(it is the same in every column).

Usage: bench/quiet_commit.py [--bin build/bin] [--heartbeats 100ms,20ms] [--n 30] [--quiet 1.5]
"""
import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from localcluster import LocalCluster  # noqa: E402


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round((len(xs) - 1) * p / 100.0)))]


def timedAdd(ctl, endpoints, name):
    t0 = time.monotonic()
    r = subprocess.run([ctl, "--endpoints", endpoints, "--timeout", "10s", "job", "add", name,
                        "--every", "1h", "--noop", "--paused"], capture_output=True, text=True)
    dt = time.monotonic() - t0
    if r.returncode != 0:
        raise RuntimeError("job add %s: %s" % (name, r.stderr.strip()))
    return dt * 1000.0


def measure(bin_dir, heartbeat, n, quiet):
    c = LocalCluster(bin_dir, 3, extra_args=["--heartbeat-timeout", heartbeat])
    try:
        c.start()
        ctl = os.path.join(c.bin, "raftcronctl")
        timedAdd(ctl, c.endpoints, "warmup")
        after_quiet, burst = [], []
        for i in range(n):
            time.sleep(quiet)
            after_quiet.append(timedAdd(ctl, c.endpoints, "q%d" % i))
            burst.append(timedAdd(ctl, c.endpoints, "b%d" % i))
        return after_quiet, burst
    finally:
        c.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default="build/bin")
    ap.add_argument("--heartbeats", default="100ms,20ms")
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--quiet", type=float, default=1.5, help="seconds of quiet before a write")
    a = ap.parse_args()
    print("%-10s %-28s %-28s" % ("heartbeat", "write after quiet p50/p90/max",
                                 "write right after p50/p90/max"))
    for hb in a.heartbeats.split(","):
        q, b = measure(a.bin, hb, a.n, a.quiet)
        print("%-10s %6.1f / %6.1f / %6.1f ms    %6.1f / %6.1f / %6.1f ms"
              % (hb, pct(q, 50), pct(q, 90), max(q), pct(b, 50), pct(b, 90), max(b)))


if __name__ == "__main__":
    main()
