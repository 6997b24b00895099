"""bench/run's calls of rcbench (bench/rcbench.c), the client-library side of the benchmarks.

Job names are PREFIX + 7 digits; the job index k runs from 0. Times are µs since the epoch.
"""
import datetime
import json
import os
import subprocess


def iso(us):
    """µs since the epoch as RFC 3339 UTC with microseconds (what job keys take)."""
    dt = datetime.datetime.fromtimestamp(us // 1000000, datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + ".%06dZ" % (us % 1000000)


class RcBench:
    def __init__(self, bin_dir):
        self.exe = os.path.join(os.path.abspath(bin_dir), "rcbench")
        if not os.access(self.exe, os.X_OK):
            raise RuntimeError("%s not found (built with raftcron: cmake target rcbench)" % self.exe)

    def _run(self, args, timeout, check=True):
        p = subprocess.run([self.exe] + args, capture_output=True, text=True, timeout=timeout)
        try:
            out = json.loads(p.stdout) if p.stdout.strip() else {}
        except ValueError:
            out = {}
        if check and p.returncode != 0:
            raise RuntimeError("rcbench %s: exit %d: %s %s" % (args[0], p.returncode,
                                                               p.stdout.strip(),
                                                               p.stderr.strip()[-500:]))
        return out

    def create(self, endpoints, ns, count, keys, threads=16, spread_us=0, prefix="j", first=0,
               budget_s=0, timeout=7200):
        """Job.Put (create-only) count jobs defined by keys ({yaml key: text}), starting no put
        after budget_s (0: no budget); rcbench's JSON (created, failed, budget_hit, seconds,
        per_s, put_ms)."""
        args = ["create", "--endpoints", endpoints, "--ns", ns, "--count", str(count),
                "--threads", str(threads), "--prefix", prefix, "--first", str(first)]
        if budget_s:
            args += ["--seconds", str(budget_s)]
        if spread_us:
            args += ["--spread", str(spread_us)]
        for k, v in keys.items():
            args += ["--job", "%s=%s" % (k, v) if v is not None else k]
        return self._run(args, timeout)

    def runs(self, endpoint, ns, count, path, threads=8, limit=100, prefix="j", first=0,
             timeout=1800):
        """Every run of jobs 0..count-1, read (stale) from endpoint into path (iterRuns reads
        it); returns rcbench's JSON (runs, jobs_missing, failed, seconds)."""
        args = ["runs", "--endpoints", endpoint, "--ns", ns, "--count", str(count),
                "--threads", str(threads), "--limit", str(limit), "--out", path,
                "--prefix", prefix, "--first", str(first)]
        return self._run(args, timeout)

    def watch(self, endpoint, base, count, seconds, path):
        """Start polling endpoint for the highest run id applied (Popen; see watchResult)."""
        args = [self.exe, "watch", "--endpoints", endpoint, "--base", str(base), "--count",
                str(count), "--seconds", str(seconds), "--out", path]
        return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def putProbe(self, endpoints, ns, keys, seconds, threads=4, timeout_ms=250):
        """Popen of a loop of Job.Put from threads until one succeeds (JSON first_ok_us)."""
        args = [self.exe, "putprobe", "--endpoints", endpoints, "--ns", ns, "--threads",
                str(threads), "--timeout-ms", str(timeout_ms), "--seconds", str(seconds),
                "--prefix", "probe"]
        for k, v in keys.items():
            args += ["--job", "%s=%s" % (k, v)]
        return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


RUN_FIELDS = ("job", "id", "scheduled", "start_at", "started", "finished", "fired", "state",
              "worker", "attempt")


def iterRuns(path):
    """The runs rcbench runs wrote, as dicts of RUN_FIELDS; the runs of one job are adjacent."""
    with open(path) as f:
        for line in f:
            v = line.rstrip("\n").split("\t")
            if len(v) != len(RUN_FIELDS):
                continue
            r = dict(zip(RUN_FIELDS, v))
            for k in RUN_FIELDS:
                if k != "state":
                    r[k] = int(r[k])
            yield r


def readWatch(path):
    """[(wall_us, highest_id, search_began_us)] from rcbench watch."""
    out = []
    with open(path) as f:
        for line in f:
            v = line.split()
            if len(v) == 3:
                out.append((int(v[0]), int(v[1]), int(v[2])))
    return out
