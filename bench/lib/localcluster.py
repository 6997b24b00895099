"""A local raftcron cluster for benchmarks: N nodes on 127.0.0.1, data in a temporary
directory, started from a bin directory (raftcrond, raftcronctl), stopped with SIGTERM.

Standard library only. Ports are picked free at start (below the ephemeral range).
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
        self.env = dict(os.environ)
        self.env.update(env or {})
        if log_level:
            self.env["RAFTCRON_LOG_LEVEL"] = log_level

    @property
    def endpoints(self):
        return ",".join(self.rpc[i - 1] for i in sorted(self.procs))

    def startNode(self, i, first=False, args=()):
        data = os.path.join(self.dir, "node%d" % i)
        fresh = not os.path.isdir(data) or not os.listdir(data)
        os.makedirs(data, exist_ok=True)
        cmd = [os.path.join(self.bin, "raftcrond"), "--id", str(i), "--raft-addr",
               self.raft[i - 1], "--rpc-addr", self.rpc[i - 1], "--data", data]
        if fresh:
            cmd += ["--bootstrap"] if first else ["--join", self.rpc[0]]
        cmd += self.extra + list(args)
        log = open(os.path.join(self.dir, "node%d.log" % i), "ab")
        self.procs[i] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        log.close()

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

    def stop(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.time() + 15
        for p in self.procs.values():
            try:
                p.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = {}

    def cleanup(self):
        self.stop()
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()


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
