"""A local raftcron cluster for benchmarks: N nodes on 127.0.0.1, data in a temporary
directory, started from a bin directory (raftcrond, raftcronctl), stopped with SIGTERM.

Nodes can be killed and restarted from their data dir (failover), and fresh nodes added
(snapshot install); each node's RSS and log are at hand. Standard library only. Ports are picked
free at start (below the ephemeral range).
"""
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time


def _portFree(port):
    for fam, addr in ((socket.AF_INET, "127.0.0.1"),):
        s = socket.socket(fam, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((addr, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def pickPorts(n):
    """n free TCP ports on 127.0.0.1, from a random base below the ephemeral range."""
    for _ in range(200):
        base = random.randrange(12000, 30000 - n)
        ports = list(range(base, base + n))
        if all(_portFree(p) for p in ports):
            return ports
    raise RuntimeError("no free ports")


class LocalCluster:
    def __init__(self, bin_dir, nodes=3, extra_args=(), workdir=None, env=None, log_level=None):
        self.bin = os.path.abspath(bin_dir)
        self.n = nodes
        self.extra = list(extra_args)
        self.own_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="raftcron-bench.")
        ports = pickPorts(2 * nodes)
        self.rpc = ["127.0.0.1:%d" % ports[i] for i in range(nodes)]
        self.raft = ["127.0.0.1:%d" % ports[nodes + i] for i in range(nodes)]
        self.procs = {}
        self.node_args = {}
        self.bad_exits = {}  # node id: exit status, for nodes that did not stop cleanly
        self.env = dict(os.environ)
        self.env.update(env or {})
        if log_level:
            self.env["RAFTCRON_LOG_LEVEL"] = log_level

    @property
    def endpoints(self):
        return ",".join(self.rpc[i - 1] for i in sorted(self.procs))

    def dataDir(self, i):
        return os.path.join(self.dir, "node%d" % i)

    def logPath(self, i):
        return os.path.join(self.dir, "node%d.log" % i)

    def startNode(self, i, first=False, args=None):
        """Start node i: a fresh data dir bootstraps (first) or joins the running members; a
        data dir that holds a node restarts it. args (kept for restarts) follow the cluster's."""
        if args is not None:
            self.node_args[i] = list(args)
        data = self.dataDir(i)
        fresh = not os.path.isdir(data) or not os.listdir(data)
        os.makedirs(data, exist_ok=True)
        cmd = [os.path.join(self.bin, "raftcrond"), "--id", str(i), "--raft-addr",
               self.raft[i - 1], "--rpc-addr", self.rpc[i - 1], "--data", data]
        if fresh:
            cmd += ["--bootstrap"] if first else ["--join", self.endpoints or self.rpc[0]]
        if os.geteuid() == 0 and self.rootJobsFlag():
            # Benchmarks run `true` as whoever runs them; a root daemon refuses shell jobs
            # unless told (docs/security.md). Binaries older than that flag run them anyway.
            cmd += ["--allow-root-jobs"]
        cmd += self.extra + self.node_args.get(i, [])
        log = open(self.logPath(i), "ab")
        self.procs[i] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        log.close()

    def rootJobsFlag(self):
        if not hasattr(self, "_root_jobs_flag"):
            out = subprocess.run([os.path.join(self.bin, "raftcrond"), "--help"],
                                 capture_output=True, text=True).stdout
            self._root_jobs_flag = "--allow-root-jobs" in out
        return self._root_jobs_flag

    def start(self, timeout=30):
        self.startNode(1, first=True)
        self.waitLeader(timeout)
        for i in range(2, self.n + 1):
            self.startNode(i)
        deadline = time.time() + timeout
        while time.time() < deadline:
            st = self.status()
            if st and sum(1 for m in st.get("members", []) if m.get("role") == "voter") == self.n:
                return
            dead = self.exited()
            if dead:
                raise RuntimeError("node(s) %s exited while the cluster formed (logs in %s)"
                                   % (dead, self.dir))
            time.sleep(0.1)
        raise RuntimeError("cluster did not form within %ds (logs in %s)" % (timeout, self.dir))

    def ctl(self, args, timeout="10s", check=True, endpoints=None, input=None):
        cmd = [os.path.join(self.bin, "raftcronctl"), "--endpoints", endpoints or self.endpoints,
               "--timeout", timeout] + list(args)
        p = subprocess.run(cmd, capture_output=True, text=True, input=input)
        if check and p.returncode != 0:
            raise RuntimeError("%s: exit %d: %s" % (" ".join(args), p.returncode, p.stderr.strip()))
        return p

    def ctlJson(self, args, **kw):
        p = self.ctl(["-o", "json"] + list(args), **kw)
        return json.loads(p.stdout) if p.returncode == 0 and p.stdout.strip() else None

    def status(self):
        try:
            return self.ctlJson(["cluster", "status"], timeout="2s", check=False)
        except ValueError:
            return None

    def leaderId(self):
        st = self.status()
        if not st:
            return 0
        leader = st.get("leader") or {}
        return int(leader.get("id") or 0)

    def waitLeader(self, timeout=30, exclude=()):
        deadline = time.time() + timeout
        while time.time() < deadline:
            lid = self.leaderId()
            if lid and lid not in exclude:
                return lid
            time.sleep(0.05)
        raise RuntimeError("no leader within %ds" % timeout)

    def kill(self, i, sig=signal.SIGKILL):
        p = self.procs.pop(i, None)
        if p is not None:
            p.send_signal(sig)
            p.wait()

    def addNode(self, args=None):
        """A new node (next id, fresh ports and data dir) that joins the running members.
        Returns its id; it is a member once its join is answered (waitMember)."""
        i = len(self.rpc) + 1
        taken = set(int(a.rsplit(":", 1)[1]) for a in self.rpc + self.raft)
        while True:
            ports = pickPorts(2)
            if not taken.intersection(ports):
                break
        self.rpc.append("127.0.0.1:%d" % ports[0])
        self.raft.append("127.0.0.1:%d" % ports[1])
        self.startNode(i, args=args)
        return i

    def pid(self, i):
        p = self.procs.get(i)
        return p.pid if p is not None and p.poll() is None else None

    def rssKib(self, i):
        """Resident set size of node i in KiB (VmRSS), or None when it is not running."""
        pid = self.pid(i)
        if pid is None:
            return None
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            return None
        return None

    def schedstat(self, i):
        """(ns on a CPU, ns runnable but waiting for one) of node i so far, or None."""
        return schedstat(self.pid(i))

    def exited(self):
        """Nodes that died without being asked to: {id: exit status}."""
        return {i: p.returncode for i, p in self.procs.items() if p.poll() is not None}

    def waitVoters(self, n, timeout=30, endpoints=None):
        """Wait until the leader reports n voters, all reachable."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            st = None
            try:
                st = self.ctlJson(["cluster", "status"], timeout="2s", check=False,
                                  endpoints=endpoints)
            except ValueError:
                pass
            members = (st or {}).get("members", [])
            voters = [m for m in members if m.get("role") == "voter"]
            if len(voters) == n and all(m.get("reachable", True) for m in voters):
                return st
            time.sleep(0.05)
        raise RuntimeError("the cluster did not report %d reachable voters within %ds (logs in %s)"
                           % (n, timeout, self.dir))

    def logEvents(self, i, msg):
        """(ts_us, term, role) of every line of node i's log whose msg is msg (logfmt)."""
        out = []
        try:
            with open(self.logPath(i), errors="replace") as f:
                for line in f:
                    if ('msg="%s"' % msg) not in line and ("msg=%s " % msg) not in line:
                        continue
                    kv = dict(tok.split("=", 1) for tok in line.split() if "=" in tok)
                    out.append((parseTime(kv.get("ts")), int(kv.get("term", 0) or 0),
                                kv.get("role")))
        except OSError:
            pass
        return out

    def stop(self):
        """SIGTERM every node; one that exits non-zero (or hangs, or died earlier) is recorded
        in bad_exits."""
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.time() + 15
        for i, p in self.procs.items():
            try:
                p.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                self.bad_exits[i] = "hung on SIGTERM"
                continue
            if p.returncode != 0:
                self.bad_exits[i] = p.returncode
        self.procs = {}

    def cleanup(self):
        self.stop()
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.cleanup()
        if exc_type is None and self.bad_exits:
            raise RuntimeError("node(s) did not stop cleanly: %s (logs in %s)"
                               % (self.bad_exits, self.dir))


def schedstat(pid):
    """(ns on a CPU, ns waiting in the run queue) of every thread of process pid, or None."""
    if pid is None:
        return None
    run = wait = 0
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                v = f.read().split()
            run += int(v[0])
            wait += int(v[1])
    except (OSError, ValueError, IndexError):
        return None
    return run, wait


def cpuShare(before, after, seconds):
    """{"cpu": share of one CPU used, "runq": share spent runnable but waiting for a CPU} between
    two schedstat readings seconds apart (None when either is missing)."""
    if not before or not after or seconds <= 0:
        return None
    return {"cpu": round((after[0] - before[0]) / 1e9 / seconds, 3),
            "runq": round((after[1] - before[1]) / 1e9 / seconds, 3)}


def parseTime(s):
    """RFC 3339 UTC ("2026-01-01T00:00:00.123456Z") to microseconds since the epoch."""
    if s is None:
        return None
    import calendar
    main, _, frac = s.rstrip("Z").partition(".")
    t = calendar.timegm(time.strptime(main, "%Y-%m-%dT%H:%M:%S"))
    us = int((frac + "000000")[:6]) if frac else 0
    return t * 1000000 + us


def percentile(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * (len(xs) - 1)))))
    return xs[k]
