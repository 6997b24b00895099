"""Failover (bench/run section 3): SIGKILL the leader, time until service is back; raftcron next
to etcd (Debian etcd-server) as the reference for Raft failover on this machine.

raftcron: a 3-node cluster with --election-timeout 1s (and --history-runs 10000, so that the
ledger keeps every decision of the run) and J noop jobs every 250 ms (anchors spread over the
period), coalesce off, misfire grace 1h, max_instances 10 (a run held by the killed node does
not make the next instants SKIPPED). Each trial waits until the three
voters are reachable, SIGKILLs the leader at t_kill (the harness's clock, which is the nodes'
clock too), then measures:
  - first fire: the earliest start (executor's clock) of a run whose FireBatch the new leader
    proposed after t_kill (fired_us > t_kill), minus t_kill;
  - scheduler active: the new leader's log line "scheduler active" (after its barrier);
  - put ok: the first Job.Put that succeeds after t_kill (rcbench putprobe: 4 threads, each a
    call with a 250 ms deadline after another, staggered by 5 ms), as for etcd;
The killed node is restarted from its data dir before the next trial. After the last trial,
every job's decisions are read: an instant from t_kill - 1 s to the first fire + 1 s of any
trial without a decision is lost, one decided other than FIRED is listed by its decision (there
must be neither: the grace covers the outage).

etcd 3.4: 3 members on 127.0.0.1, --election-timeout 1000 --heartbeat-interval 100 (its
defaults), each trial SIGKILLs the leader (from /v3/maintenance/status) and measures the first
put (JSON gateway /v3/kv/put, 4 threads, each request with a 250 ms timeout after another) that
succeeds on a surviving member. Before the trials, sequential puts for a few seconds give its
put latency and rate (the reference next to raftcron's sequential job creates).
"""
import base64
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.request

import benchstats as bs
from localcluster import LocalCluster, parseTime, pickPorts
from rcdriver import iso, iterRuns

US = 1000000
PERIOD_US = 250000


def summary(xs):
    xs = [x for x in xs if x is not None]
    return {"n": len(xs), "p50": bs.pct(xs, 50), "max": max(xs) if xs else None,
            "min": min(xs) if xs else None, "all": [round(x, 1) for x in xs]}


# ---- raftcron -------------------------------------------------------------------------------

def raftcronTrial(ctx, c, jobs, path):
    c.waitVoters(3, timeout=60)
    lid = c.leaderId()
    if not lid:
        raise RuntimeError("no leader before the trial")
    survivors = ",".join(c.rpc[i - 1] for i in sorted(c.procs) if i != lid)
    t_kill = int(time.time() * US)
    c.kill(lid)
    probe = ctx.rc.putProbe(survivors, "probe", {"at": "2099-01-01T00:00:00Z", "noop": "true"},
                            seconds=20, threads=4, timeout_ms=250)
    first = None
    deadline = time.time() + 30
    while time.time() < deadline and first is None:
        time.sleep(0.1)
        try:
            ctx.rc.runs(survivors.split(",")[0], "fo", jobs, path, threads=1, limit=100)
        except RuntimeError:
            continue
        starts = [r["started"] for r in iterRuns(path) if r["fired"] > t_kill and r["started"]]
        if starts:
            first = min(starts)
    out, _ = probe.communicate()
    put = json.loads(out) if out.strip() else {}
    if first is None:
        raise RuntimeError("no run fired by a new leader within 30 s of the kill")
    active = [ts for i in c.procs for ts, _, role in c.logEvents(i, "scheduler active")
              if ts and ts > t_kill]
    nl = c.leaderId()
    c.startNode(lid)
    return {"killed": lid, "new_leader": nl, "t_kill_us": t_kill, "first_us": first,
            "first_fire_ms": (first - t_kill) / 1000.0,
            "scheduler_active_ms": (min(active) - t_kill) / 1000.0 if active else None,
            "put_ok_ms": (put["first_ok_us"] - t_kill) / 1000.0 if put.get("first_ok_us")
            else None}


def decisions(c, jobs):
    """{job index: [(first_us, last_us, decision)]} of the failover jobs (whole history)."""
    out = {}
    for k in range(jobs):
        d = c.ctlJson(["job", "decisions", "--namespace", "fo", "j%07d" % k, "--limit", "1000"],
                      timeout="30s")
        out[k] = [(parseTime(x["first"]), parseTime(x["last"]), x["decision"])
                  for x in (d or {}).get("decisions", [])]
    return out


def holes(trials, decs, jobs):
    """Per trial, over [t_kill - 1 s, first fire + 1 s]: instants without a decision, and
    decisions other than fired (a fire that did not happen, with its kind)."""
    lost, other, covered = 0, {}, True
    for tr in trials:
        lo, hi = tr["t_kill_us"] - US, tr["first_us"] + US
        for k in range(jobs):
            ds = decs.get(k, [])
            if not ds or min(d[0] for d in ds) > lo:
                covered = False
            off = k * PERIOD_US // jobs
            t = (lo - off) // PERIOD_US * PERIOD_US + off
            while t <= hi:
                if t >= lo:
                    hit = [d for d in ds if d[0] <= t <= d[1]]
                    if not hit:
                        lost += 1
                    elif hit[0][2] != "fired":
                        other[hit[0][2]] = other.get(hit[0][2], 0) + 1
                t += PERIOD_US
    return {"lost_instants": lost, "not_fired": other, "history_covers_trials": covered}


def raftcronFailover(ctx):
    jobs = ctx.p["failover_jobs"]
    args = ["--election-timeout", "1s", "--history-runs", "10000"]
    with LocalCluster(ctx.bin, nodes=3, extra_args=args,
                      workdir=ctx.workdir("failover-raftcron")) as c:
        c.start()
        c.waitVoters(3)
        keys = {"every": "%dms" % (PERIOD_US // 1000), "anchor": iso(int(time.time()) * US),
                "noop": "true", "coalesce": "false", "misfire_grace": "1h", "max_instances": "10"}
        ctx.rc.create(c.endpoints, "fo", jobs, keys, threads=1, spread_us=PERIOD_US)
        path = os.path.join(c.dir, "runs.tsv")
        # Trials begin once every job has been firing for over a second.
        deadline = time.time() + 30
        while True:
            ctx.rc.runs(c.endpoints, "fo", jobs, path, threads=1, limit=100)
            n = {}
            for r in iterRuns(path):
                n[r["job"]] = n.get(r["job"], 0) + (1 if r["started"] else 0)
            if len(n) == jobs and min(n.values()) * PERIOD_US > 1.2 * US:
                break
            if time.time() > deadline:
                raise RuntimeError("the failover jobs did not start firing (logs in %s)" % c.dir)
            time.sleep(0.2)
        trials = []
        for t in range(ctx.p["failover_trials"]):
            trials.append(raftcronTrial(ctx, c, jobs, path))
            ctx.log("failover raftcron trial %d: first fire %.0f ms, put ok %s ms" % (
                t + 1, trials[-1]["first_fire_ms"], trials[-1]["put_ok_ms"]))
        c.waitVoters(3, timeout=60)
        time.sleep(2)  # the catch-up of the last outage's instants
        check = holes(trials, decisions(c, jobs), jobs)
        if c.exited():
            raise RuntimeError("node(s) exited: %s (logs in %s)" % (c.exited(), c.dir))
    out = {"election_timeout_ms": 1000, "jobs": jobs, "period_ms": PERIOD_US // 1000,
           "trials": trials,
           "first_fire_ms": summary([t["first_fire_ms"] for t in trials]),
           "scheduler_active_ms": summary([t["scheduler_active_ms"] for t in trials]),
           "put_ok_ms": summary([t["put_ok_ms"] for t in trials])}
    out.update(check)
    return out


# ---- etcd -----------------------------------------------------------------------------------

class Etcd:
    def __init__(self, workdir, n=3):
        self.exe = shutil.which("etcd")
        if self.exe is None:
            raise RuntimeError("etcd not found (Debian etcd-server)")
        self.dir = workdir
        ports = pickPorts(2 * n)
        self.n = n
        self.client = ["http://127.0.0.1:%d" % ports[i] for i in range(n)]
        self.peer = ["http://127.0.0.1:%d" % ports[n + i] for i in range(n)]
        self.procs = {}

    def startMember(self, i):
        cluster = ",".join("e%d=%s" % (j + 1, self.peer[j]) for j in range(self.n))
        cmd = [self.exe, "--name", "e%d" % i, "--data-dir", os.path.join(self.dir, "e%d" % i),
               "--listen-client-urls", self.client[i - 1],
               "--advertise-client-urls", self.client[i - 1],
               "--listen-peer-urls", self.peer[i - 1],
               "--initial-advertise-peer-urls", self.peer[i - 1],
               "--initial-cluster", cluster, "--initial-cluster-state", "new",
               "--initial-cluster-token", "bench", "--election-timeout", "1000",
               "--heartbeat-interval", "100", "--logger", "zap", "--log-level", "error"]
        log = open(os.path.join(self.dir, "e%d.log" % i), "ab")
        self.procs[i] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def start(self):
        for i in range(1, self.n + 1):
            self.startMember(i)
        self.waitHealthy()

    def post(self, i, path, body, timeout):
        req = urllib.request.Request(self.client[i - 1] + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read() or b"{}")

    def put(self, i, key, value, timeout):
        b64 = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731
        return self.post(i, "/v3/kv/put", {"key": b64(key), "value": b64(value)}, timeout)

    def leader(self):
        """(member index, leader member id) as the first live member that answers sees it."""
        ids = {}
        lead = None
        for i in sorted(self.procs):
            try:
                st = self.post(i, "/v3/maintenance/status", {}, 1)
            except Exception:  # noqa: BLE001 - a member that does not answer
                continue
            ids[st["header"]["member_id"]] = i
            lead = lead or st.get("leader")
        return ids.get(lead) if lead else None

    def waitHealthy(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            live = sorted(self.procs)
            try:
                if self.leader() and all(self.put(i, "health", "x", 1) for i in live):
                    return
            except Exception:  # noqa: BLE001
                pass
            time.sleep(0.1)
        raise RuntimeError("etcd did not become healthy within %ds (logs in %s)"
                           % (timeout, self.dir))

    def kill(self, i):
        p = self.procs.pop(i)
        p.send_signal(signal.SIGKILL)
        p.wait()

    def stop(self):
        for p in self.procs.values():
            p.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = {}


def etcdSequential(e, seconds):
    lat = []
    end = time.time() + seconds
    k = 0
    while time.time() < end:
        t0 = time.perf_counter()
        e.put(1, "seq/%d" % k, "v", 5)
        lat.append((time.perf_counter() - t0) * 1000.0)
        k += 1
    return {"puts": k, "per_s": k / seconds, "p50_ms": bs.pct(lat, 50), "p99_ms": bs.pct(lat, 99),
            "client": "python urllib, one connection per put"}


def etcdTrial(e):
    e.waitHealthy(60)
    lid = e.leader()
    survivors = [i for i in sorted(e.procs) if i != lid]
    t_kill = time.time()
    e.kill(lid)
    first = []
    stop = threading.Event()

    def loop(n):
        time.sleep(n * 0.005)
        k = 0
        while not stop.is_set() and time.time() < t_kill + 20:
            try:
                e.put(survivors[(n + k) % len(survivors)], "fo/%d/%d" % (n, k), "v", 0.25)
                first.append(time.time())
                stop.set()
            except Exception:  # noqa: BLE001 - not yet: try again
                pass
            k += 1

    ths = [threading.Thread(target=loop, args=(n,)) for n in range(4)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    e.startMember(lid)
    if not first:
        raise RuntimeError("no etcd put succeeded within 20 s of the kill")
    return {"killed": lid, "put_ok_ms": (min(first) - t_kill) * 1000.0}


def etcdFailover(ctx):
    e = Etcd(ctx.workdir("failover-etcd"))
    try:
        e.start()
        seq = etcdSequential(e, 1 if ctx.mode == "dry" else 3)
        trials = []
        for t in range(ctx.p["failover_trials"]):
            trials.append(etcdTrial(e))
            ctx.log("failover etcd trial %d: put ok %.0f ms" % (t + 1, trials[-1]["put_ok_ms"]))
        e.waitHealthy(60)
    finally:
        e.stop()
    return {"election_timeout_ms": 1000, "heartbeat_ms": 100, "trials": trials,
            "put_ok_ms": summary([t["put_ok_ms"] for t in trials]), "sequential": seq}


HOW = ("SIGKILL of the leader of a 3-node loopback cluster, then the killed node restarted, "
       "per trial; raftcron: first run fired by the new leader = earliest executor start of a "
       "run proposed after the kill, of noop jobs every 250 ms (coalesce off, grace 1h); "
       "scheduler active = the new leader's log line; put = first Job.Put to succeed, 4 "
       "threads of calls with 250 ms deadlines; etcd: first /v3/kv/put to succeed on a "
       "survivor, the same 4 threads of 250 ms requests; every outage's instants checked for "
       "a FIRED decision in the ledger afterwards")


def run(ctx):
    out = {"raftcron": ctx.attempt("failover: raftcron, %d leader kills"
                                   % ctx.p["failover_trials"], raftcronFailover, ctx),
           "etcd": ctx.attempt("failover: etcd, %d leader kills" % ctx.p["failover_trials"],
                               etcdFailover, ctx)}
    r, e = out["raftcron"], out["etcd"]
    if "error" not in r and "error" not in e:
        out["first_fire_vs_etcd_put"] = bs.ratio(r["first_fire_ms"]["p50"], e["put_ok_ms"]["p50"])
        out["put_vs_etcd_put"] = bs.ratio(r["put_ok_ms"]["p50"], e["put_ok_ms"]["p50"])
    if "error" not in r and (r["lost_instants"] or r["not_fired"]):
        ctx.errors.append("failover: instants within the misfire grace were not fired: %d "
                          "without a decision, %s" % (r["lost_instants"], r["not_fired"]))
    out["how"] = HOW
    return out
