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


class Ctl:
    """raftcronctl against some endpoints, from the bridge namespace."""

    def __init__(self, bin_dir, endpoints):
        self.path = bin_dir + "/raftcronctl"
        self.endpoints = endpoints

    def run(self, args, timeout="5s", endpoints=None, json_out=False):
        cmd = [self.path, "--endpoints", endpoints or self.endpoints, "--timeout", timeout]
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
    same job race each other. The jobs fire every second, for the firing checks to come."""

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
            args = ["job", kind, job, "--every", self.every, "--shell", "true",
                    "--description", desc]
            rec_args = {"every": self.every, "description": desc}
        t0 = time.time()
        rc, out, err = self.ctl.run(args, timeout="5s")
        t1 = time.time()
        self.history.append({"id": op_id, "process": process, "type": kind, "job": job,
                             "args": rec_args, "invoke": t0, "complete": t1,
                             "outcome": classify(rc, err), "exit": rc, "error": err,
                             "stdout": out.strip(), "node": None})
