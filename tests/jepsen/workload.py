"""The client side of a Jepsen run: raftcronctl calls, and the job-write workload that records
each operation in history.jsonl.

A history line is one completed operation:
  {"id", "process", "type": add|update|delete, "job": "NS/NAME", "args": {...},
   "invoke": t0, "complete": t1, "outcome": ok|fail|info, "exit": code, "error": stderr,
   "node": null}
Times are the harness's wall clock (never faked) in seconds. "outcome" follows Jepsen:
  ok    exit 0: the write was acknowledged and must survive;
  fail  exit 1 with a status that says nothing was changed (ALREADY_EXISTS, NOT_FOUND,
        FAILED_PRECONDITION, ABORTED, INVALID_ARGUMENT), and no "outcome is unknown";
  info  anything else (timeouts, connection loss, no leader, a killed client): the write may
        or may not have happened.
raftcronctl does not say which node answered, so "node" stays null.
Every add and update writes a description "op-<id>", so the final state names the operation
that produced it; that is what lets the checker tell a surviving write from a superseded one.

Firing: every job's command is RECORD_CMD, which appends one line per execution to the
executing node's record file (cluster.recordsPath):
  JOB SCHEDULED_AT ATTEMPT RUN_ID FENCE NODE START
from the RAFTCRON_* variables the shell executor sets, RCJ_NODE (set by the harness when it
starts the node) and START, the real wall clock when the command began (date run without
LD_PRELOAD, so libfaketime does not fake it under the clock nemesis). One short `echo >>` is
one O_APPEND write: lines of concurrent runs do not interleave.
FiringJobs adds a few jobs at the start that nobody deletes (FIRING), so the checker can judge
their whole ledger; the JobWrites jobs fire too, and their executions are recorded as well.
Ledger snapshots (`job decisions` and `run list` of the firing jobs, raw raftcronctl JSON) go
to ledger.jsonl during the run, and of every job at the end, for the checker.
"""
import json
import random
import re
import subprocess
import threading
import time

DEFINITE = re.compile(r"\((ALREADY_EXISTS|NOT_FOUND|FAILED_PRECONDITION|ABORTED|"
                      r"INVALID_ARGUMENT)\)")
NAMESPACE = "jepsen"
RECORD_CMD = ('t=$(env -u LD_PRELOAD date +%s.%N); echo "$RAFTCRON_JOB $RAFTCRON_SCHEDULED_AT '
              '$RAFTCRON_ATTEMPT $RAFTCRON_RUN_ID $RAFTCRON_FENCE $RCJ_NODE $t" >> "$RCJ_RECORDS"')
# A run that lasts longer than its job's period: it records its start (RECORD_CMD), sleeps, and
# records its end in "$RCJ_RECORDS.end" (same fields, the end's real time last).
END_CMD = ('t=$(env -u LD_PRELOAD date +%s.%N); echo "$RAFTCRON_JOB $RAFTCRON_SCHEDULED_AT '
           '$RAFTCRON_ATTEMPT $RAFTCRON_RUN_ID $RAFTCRON_FENCE $RCJ_NODE $t" >> "$RCJ_RECORDS.end"')


def slowCmd(seconds):
    return "%s; sleep %d; %s" % (RECORD_CMD, seconds, END_CMD)


# The jobs nobody deletes: a 6-field cron and @every, with and without coalescing, a short
# misfire grace (so that faults make MISSED records), retries, at-most-once, one with every
# default (grace 60 s, coalesce, max_instances 1), and the overlap policies on runs longer than
# the period: replace (every run is cancelled by the next, 2 s into its 5 s: its process must
# be killed, so it never records its end) and queue-one (3 s runs every 2 s: each queued run
# starts after the active one ended, the next instant is SKIPPED while one is queued).
# (name, options, command or None for RECORD_CMD)
FIRING = [
    ("fire-cron", ["--cron", "* * * * * *", "--misfire-grace", "2s", "--max-instances", "30",
                   "--retries", "3", "--retry-delay", "1s"]),
    ("fire-cron-every", ["--cron", "@every 1s", "--misfire-grace", "5s", "--no-coalesce",
                         "--max-instances", "30", "--retries", "3", "--retry-delay", "1s"]),
    ("fire-every-amo", ["--every", "1s", "--misfire-grace", "3s", "--no-coalesce",
                        "--max-instances", "30", "--at-most-once"]),
    ("fire-defaults", ["--every", "1s"]),
    ("fire-replace", ["--every", "2s", "--overlap", "replace", "--misfire-grace", "5s",
                      "--no-coalesce"], slowCmd(5)),
    ("fire-queue", ["--every", "2s", "--overlap", "queue-one", "--misfire-grace", "5s",
                    "--no-coalesce"], slowCmd(3)),
]
FIRING = [f if len(f) == 3 else f + (None,) for f in FIRING]
# Added once the faults are over and the cluster is whole again, for the 15 s without faults
# that end a run: a clock fault's leader may have decided the FIRING jobs' instants minutes
# ahead (and nothing fires until real time catches up), but it cannot have touched a job made
# after it ended. They give checks 8 and 9 something to judge in every run.
TAIL = [
    ("tail-every", ["--every", "1s"], None),
    ("tail-replace", ["--every", "2s", "--overlap", "replace", "--misfire-grace", "5s",
                      "--no-coalesce"], slowCmd(5)),
    ("tail-queue", ["--every", "2s", "--overlap", "queue-one", "--misfire-grace", "5s",
                    "--no-coalesce"], slowCmd(3)),
]
READ_RETRY_S = 30.0            # a ledger reading that fails is tried again this long
LEDGER_LIMIT = 1000            # the most `run list` and `job decisions` print at once
SNAPSHOT_LIMIT = 300           # during the run, every 60 s: 5 times what a job makes meanwhile


class Ctl:
    """raftcronctl against some endpoints, from the bridge namespace."""

    TLS_ARGS = []  # --cacert/--cert/--key when the cluster runs with TLS (harness --tls)

    def __init__(self, bin_dir, endpoints):
        """endpoints: "host:port,..." or a function returning it (the members change)."""
        self.path = bin_dir + "/raftcronctl"
        self.endpoints = endpoints

    def run(self, args, timeout="5s", endpoints=None, json_out=False):
        if endpoints is None:
            endpoints = self.endpoints() if callable(self.endpoints) else self.endpoints
        cmd = [self.path, "--endpoints", endpoints, "--timeout", timeout] + Ctl.TLS_ARGS
        if json_out:
            cmd += ["-o", "json"]
        cmd += args
        limit = _seconds(timeout) + 10
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=limit)
            return p.returncode, p.stdout, p.stderr.strip()
        except subprocess.TimeoutExpired:
            return None, "", "raftcronctl did not return within %ds (killed)" % limit

    def json(self, args, timeout="5s", endpoints=None):
        rc, out, err = self.run(args, timeout, endpoints, json_out=True)
        if rc != 0:
            return None, err
        try:
            return json.loads(out), None
        except ValueError as e:
            return None, "bad JSON from %s: %s: %r" % (" ".join(args), e, out[:200])

    def leader(self, timeout="2s"):
        st, _ = self.json(["cluster", "status"], timeout)
        if st and "leader" in st:
            return st["leader"]["id"]
        return None


def _seconds(d):
    return float(d[:-2]) / 1000 if d.endswith("ms") else float(d.rstrip("s"))


def classify(rc, err):
    if rc == 0:
        return "ok"
    if rc == 1 and DEFINITE.search(err) and "unknown" not in err:
        return "fail"
    return "info"


class History:
    def __init__(self, path):
        self.f = open(path, "a")
        self.lock = threading.Lock()
        self.next_id = 0

    def newId(self):
        with self.lock:
            self.next_id += 1
            return self.next_id

    def append(self, rec):
        with self.lock:
            self.f.write(json.dumps(rec, sort_keys=True) + "\n")
            self.f.flush()

    def close(self):
        self.f.close()


class JobWrites:
    """Clients issuing job create/update/delete on a small key space, so that operations on the
    same job race each other. The jobs fire every second and record their executions."""

    def __init__(self, ctl, history, rng_seed, n_clients=3, n_keys=8, every="1s"):
        self.ctl = ctl
        self.history = history
        self.n_clients = n_clients
        self.keys = ["%s/j%d" % (NAMESPACE, k) for k in range(n_keys)]
        self.every = every
        self.seed = rng_seed
        self.stop_ev = threading.Event()
        self.threads = []

    def start(self):
        for c in range(self.n_clients):
            rng = random.Random("%s-client-%d" % (self.seed, c))
            t = threading.Thread(target=self.loop, args=(c, rng), daemon=True)
            t.start()
            self.threads.append(t)

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join()

    def loop(self, process, rng):
        while not self.stop_ev.is_set():
            self.once(process, rng)
            self.stop_ev.wait(rng.uniform(0.0, 0.2))

    def once(self, process, rng):
        kind = rng.choices(["add", "update", "delete"], weights=[4, 4, 2])[0]
        job = rng.choice(self.keys)
        op_id = self.history.newId()
        desc = "op-%d" % op_id
        if kind == "delete":
            args = ["job", "delete", job]
            rec_args = {}
        else:
            args = ["job", kind, job, "--every", self.every, "--shell", RECORD_CMD,
                    "--description", desc]
            rec_args = {"every": self.every, "description": desc}
        t0 = time.time()
        rc, out, err = self.ctl.run(args, timeout="5s")
        t1 = time.time()
        self.history.append({"id": op_id, "process": process, "type": kind, "job": job,
                             "args": rec_args, "invoke": t0, "complete": t1,
                             "outcome": classify(rc, err), "exit": rc, "error": err,
                             "stdout": out.strip(), "node": None})


class FiringJobs:
    """The FIRING jobs: added once at the start (recorded in the history like any add, so
    check 5 judges them too) and never deleted; and the ledger snapshots."""

    def __init__(self, ctl, history, ledger_path, snapshot_every=60.0):
        self.ctl = ctl
        self.history = history
        self.keys = []
        self.ledger = open(ledger_path, "a")
        self.lock = threading.Lock()
        self.snapshot_every = snapshot_every
        self.stop_ev = threading.Event()
        self.thread = None

    def create(self, jobs=FIRING, deadline_s=60):
        """Adds every job of jobs (FIRING, or TAIL later); returns the keys that could not be
        added."""
        failed = []
        keys = ["%s/%s" % (NAMESPACE, name) for name, _, _ in jobs]
        self.keys += [k for k in keys if k not in self.keys]
        for (name, opts, cmd), key in zip(jobs, keys):
            end = time.time() + deadline_s
            while True:
                op_id = self.history.newId()
                desc = "op-%d" % op_id
                args = ["job", "add", key, "--shell", cmd or RECORD_CMD, "--description",
                        desc] + opts
                t0 = time.time()
                rc, out, err = self.ctl.run(args, timeout="5s")
                t1 = time.time()
                outcome = classify(rc, err)
                self.history.append({"id": op_id, "process": "firing", "type": "add",
                                     "job": key, "args": {"opts": opts, "description": desc},
                                     "invoke": t0, "complete": t1, "outcome": outcome,
                                     "exit": rc, "error": err, "stdout": out.strip(),
                                     "node": None})
                if outcome == "ok" or "ALREADY_EXISTS" in err:
                    break
                if time.time() > end:
                    failed.append(key)
                    break
                time.sleep(0.5)
        return failed

    def snapshot(self, keys, final=False, retry_s=READ_RETRY_S):
        """`job decisions` and `run list` of each job, as raftcronctl prints them. A reading
        that fails is tried again for retry_s (faults last seconds): the checker takes a
        reading that still failed for a gap in what it knows, so the run is `unknown`."""
        limit = LEDGER_LIMIT if final else SNAPSHOT_LIMIT
        for key in keys:
            for what, args in (("decisions", ["job", "decisions", key]),
                               ("runs", ["run", "list", "--job", key])):
                failed = []
                end = time.time() + retry_s
                while True:
                    t0 = time.time()
                    doc, err = self.ctl.json(args + ["--limit", str(limit)], "10s")
                    if doc is not None or time.time() > end:
                        break
                    failed.append("%.3f: %s" % (t0, err))
                    time.sleep(1.0)
                rec = {"time": t0, "complete": time.time(), "what": what, "job": key,
                       "limit": limit, "final": final, "output": doc, "error": err,
                       "failed_before": failed}
                with self.lock:
                    self.ledger.write(json.dumps(rec, sort_keys=True) + "\n")
                    self.ledger.flush()

    def start(self):
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.stop_ev.wait(self.snapshot_every):
            self.snapshot(self.keys)

    def stop(self):
        self.stop_ev.set()
        if self.thread:
            self.thread.join()

    def close(self):
        self.ledger.close()
