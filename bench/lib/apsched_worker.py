"""bench/run's APScheduler side of fire precision (run by the Python that has Debian's
python3-apscheduler): the workload raftcron gets, in APScheduler 3's BackgroundScheduler.

    apsched_worker.py --jobs N --shape same|spread --start-us S --end-us E --windows-from W0
                      --drain-s D --out FILE

Job k is an IntervalTrigger of 1 s from S (spread: S + k/N of a second) until E, a no-op
function, in the default in-memory job store, with the default ThreadPoolExecutor (10 threads),
coalesce off, no misfire limit and up to 1000 instances (so that every instant runs, as with
raftcron's misfire grace of an hour and overlap allowed). The start of a run is read by the
executor, from its own clock, when its thread picks the run up (the wrapper around
apscheduler.executors.pool.run_job below): that is what raftcron's executors report as a run's
start. After E the process waits until every instant from W0 to E has started, or D seconds,
then writes one line per run to FILE in rcbench's runs format and prints a JSON summary.
"""
import argparse
import datetime
import json
import os
import sys
import threading
import time

from apscheduler.executors import pool
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

US = 1000000
UTC = datetime.timezone.utc
records = []
window = [0.0, 0.0]  # [from, to) in seconds: the instants waited for
in_window = [0]
lock = threading.Lock()


def timedRunJob(job, jobstore_alias, run_times, logger_name, _orig=pool.run_job):
    now = time.time()
    for rt in run_times:
        t = rt.timestamp()
        records.append((job.id, t, now))
        if window[0] <= t < window[1]:
            with lock:
                in_window[0] += 1
    return _orig(job, jobstore_alias, run_times, logger_name)


pool.run_job = timedRunJob


def noop():
    pass


def schedstat():
    """(ns on a CPU, ns waiting for one) of every thread of this process."""
    run = wait = 0
    for tid in os.listdir("/proc/self/task"):
        try:
            with open("/proc/self/task/%s/schedstat" % tid) as f:
                v = f.read().split()
            run, wait = run + int(v[0]), wait + int(v[1])
        except (OSError, ValueError, IndexError):
            pass
    return run, wait


def rssKib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, required=True)
    ap.add_argument("--shape", choices=("same", "spread"), required=True)
    ap.add_argument("--start-us", type=int, required=True)
    ap.add_argument("--end-us", type=int, required=True)
    ap.add_argument("--windows-from", type=int, required=True)
    ap.add_argument("--drain-s", type=float, default=10)
    ap.add_argument("--threads", type=int, default=10)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    sched = BackgroundScheduler(
        executors={"default": pool.ThreadPoolExecutor(a.threads)},
        job_defaults={"coalesce": False, "max_instances": 1000, "misfire_grace_time": None},
        timezone=UTC)
    window[0], window[1] = a.windows_from / US, a.end_us / US
    rss0 = rssKib()
    t0 = time.time()
    end = datetime.datetime.fromtimestamp((a.end_us - 1) / US, UTC)
    for k in range(a.jobs):
        off = int(float(US) * k / a.jobs) if a.shape == "spread" else 0
        start = datetime.datetime.fromtimestamp((a.start_us + off) / US, UTC)
        sched.add_job(noop, IntervalTrigger(seconds=1, start_date=start, end_date=end,
                                            timezone=UTC), id="j%07d" % k)
    sched.start()
    added = time.time()
    rss1 = rssKib()

    expected = a.jobs * ((a.end_us - a.windows_from) // US)
    deadline = a.end_us / US + a.drain_s
    s0 = s1 = None
    while time.time() < deadline:
        now = time.time()
        if s0 is None and now >= a.windows_from / US:
            s0 = (schedstat(), now)
        if s1 is None and now >= a.end_us / US:
            s1 = (schedstat(), now)
        if now > a.end_us / US and in_window[0] >= expected:
            break
        wake = a.windows_from / US if s0 is None else a.end_us / US if s1 is None else now + 0.25
        time.sleep(max(0.005, min(0.25, wake - now)))
    cpu = None
    if s0 and s1 and s1[1] > s0[1]:
        secs = s1[1] - s0[1]
        cpu = {"cpu": round((s1[0][0] - s0[0][0]) / 1e9 / secs, 3),
               "runq": round((s1[0][1] - s0[0][1]) / 1e9 / secs, 3)}
    read_us = int(time.time() * US)
    sched.shutdown(wait=False)
    rows = sorted(records)
    with open(a.out, "w") as f:
        for jid, sched_s, start_s in rows:
            s_us = int(round(sched_s * US))
            st_us = int(round(start_s * US))
            f.write("%d\t0\t%d\t%d\t%d\t%d\t0\tsucceeded\t0\t1\n"
                    % (int(jid[1:]), s_us, s_us, st_us, st_us))
    print(json.dumps({"add_s": round(added - t0, 3), "added_at_us": int(added * US),
                      "rss_kib_before": rss0, "rss_kib_after": rss1, "read_us": read_us,
                      "runs": len(rows), "threads": a.threads, "cpu": cpu}))


if __name__ == "__main__":
    sys.exit(main())
