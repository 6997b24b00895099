"""What every section of bench/run shares: binaries, sizes of the mode, a work directory, the
creation rates learned so far (to plan when jobs start), progress lines, and errors."""
import os
import shutil
import sys
import tempfile
import time
import traceback

from rcdriver import RcBench

# Sizes and durations per mode. dry: seconds of each benchmark at tiny sizes (CI checks that the
# harness works, not the figures); quick: the sizes of `bench/run --quick`; full: the issue's.
PRESETS = {
    "dry": {
        "fire_sizes": [30], "shell_sizes": [30], "shell_shapes": ["same"], "warm_s": 1,
        "windows": 1, "window_s": 2,
        "drain_s": 5, "margin_s": 1,
        "claim_jobs": 300, "fsync_samples": 50, "raftbench_entries": 50, "raftbench_repeats": 1,
        "failover_trials": 2, "failover_jobs": 3,
        "scale_sizes": [300], "scale_seq": 50, "scale_budget_s": 120,
        # so that even 300 jobs make the fresh node install a snapshot rather than replay
        "scale_node_args": ["--snapshot-threshold", "64", "--snapshot-trailing", "16"],
        "exec_jobs": 20, "exec_window_s": 2, "exec_windows": 1, "concurrent_http": 20,
        "probe_jobs": 10,
    },
    "quick": {
        "fire_sizes": [1000, 10000], "shell_sizes": [1000], "warm_s": 2, "windows": 2,
        "window_s": 5, "drain_s": 15, "margin_s": 3,
        "claim_jobs": 20000, "fsync_samples": 1000, "raftbench_entries": 1000,
        "raftbench_repeats": 3,
        "failover_trials": 10, "failover_jobs": 5,
        "scale_sizes": [100000], "scale_seq": 5000, "scale_budget_s": 900,
        "exec_jobs": 1500, "exec_window_s": 5, "exec_windows": 2, "concurrent_http": 1000,
        "probe_jobs": 100,
    },
    "full": {
        "fire_sizes": [1000, 10000, 100000], "shell_sizes": [1000, 10000], "warm_s": 2,
        "windows": 3, "window_s": 10, "drain_s": 30, "margin_s": 3,
        "claim_jobs": 100000, "fsync_samples": 2000, "raftbench_entries": 2000,
        "raftbench_repeats": 3,
        "failover_trials": 15, "failover_jobs": 5,
        "scale_sizes": [100000, 1000000], "scale_seq": 10000, "scale_budget_s": 1800,
        "exec_jobs": 3000, "exec_window_s": 10, "exec_windows": 3, "concurrent_http": 1000,
        "probe_jobs": 100,
    },
}


class Ctx:
    def __init__(self, bin_dir, mode, aps_python, keep=False, work=None):
        self.src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        self.bin = os.path.abspath(bin_dir)
        self.mode = mode
        self.p = dict(PRESETS[mode])
        self.rc = RcBench(self.bin)
        self.aps_python = aps_python
        self.keep = keep
        self.work = work or tempfile.mkdtemp(prefix="raftcron-bench-run.")
        os.makedirs(self.work, exist_ok=True)
        self.creates = []  # (jobs, seconds) of the pipelined creations so far, to plan ahead
        self.aps_rate = 5000.0  # APScheduler add_job/s, learned as we go
        self.errors = []
        self.t0 = time.time()

    def workdir(self, name):
        d = os.path.join(self.work, name)
        if os.path.isdir(d):
            shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        return d

    def log(self, msg):
        sys.stderr.write("[bench/run %6.1fs] %s\n" % (time.time() - self.t0, msg))
        sys.stderr.flush()

    def learnCreateRate(self, created):
        if created.get("created") and created.get("seconds") and created.get("threads", 1) > 1:
            self.creates.append((created["created"], created["seconds"]))

    def createEstimate(self, n):
        """Seconds to create n jobs on a fresh cluster, from the creations seen so far. A put
        costs more the more jobs exist, so t(n) = a n + b n^2 is fitted to the two largest
        samples (b >= 0); with one sample, its rate; with none, 500 jobs/s."""
        pts = sorted(set(self.creates))[-2:]
        if len(pts) == 2 and pts[0][0] != pts[1][0]:
            (n1, t1), (n2, t2) = pts
            b = max(0.0, (t2 / n2 - t1 / n1) / (n2 - n1))
            a = max(1e-6, t2 / n2 - b * n2)
            return a * n + b * n * n
        if pts:
            return pts[-1][1] * n / pts[-1][0]
        return n / 500.0

    def startIn(self, n):
        """Seconds from now at which jobs to be created now may start firing: twice the
        estimate and a margin (an overrun is measured around, see fire.usableFrom)."""
        return 2.0 * self.createEstimate(n) + self.p["margin_s"]

    def attempt(self, what, fn, *args, **kw):
        """fn(*args, **kw), or {"error": …} (recorded: bench/run then exits non-zero)."""
        self.log("%s ..." % what)
        t = time.time()
        try:
            res = fn(*args, **kw)
            self.log("%s: done in %.1fs" % (what, time.time() - t))
            return res
        except Exception as e:  # noqa: BLE001 - every failure is reported, none hides another
            msg = "%s: %s" % (what, e)
            self.errors.append(msg)
            self.log("ERROR %s" % msg)
            return {"error": str(e), "traceback": traceback.format_exc()}

    def cleanup(self):
        """Remove the work directory, unless asked to keep it or something failed (its logs
        and data dirs then say why)."""
        if self.keep or self.errors:
            self.log("work directory kept: %s" % self.work)
            return
        shutil.rmtree(self.work, ignore_errors=True)
