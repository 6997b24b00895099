"""The raftcron nodes of a Jepsen run: processes in their namespaces, their data dirs, their
clocks, and the record of every start and exit (processes.jsonl) that check 7 reads.

Each node's stdout and stderr go to out/nodeN.log, appended across restarts, so that a
sanitizer report or an assertion of any incarnation stays there for the checker. A process
that exits when the harness did not ask for it (SIGKILL by the kill nemesis, SIGTERM at the
end) is a crash.

Every node runs with RCJ_NODE=N and RCJ_RECORDS=out/records/nodeN.txt in its environment; the
shell executor passes them on to the runs, whose command (workload.RECORD_CMD) appends one line
per execution there. The records directory is outside the namespaces (a network namespace
shares the file system), so the checker sees every execution of every incarnation.

The member nemesis can retire a node (removed for good) and add brand-new ones (an id never
used before): `nodes` holds the current members-to-be, `retired` the others.
"""
import json
import os
import shutil
import signal
import subprocess
import threading
import time

import net

FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
RPC_PORT = 7101
RAFT_PORT = 7201
# Keep the whole run's history in the ledger (default 100 finished runs per job), so the
# checker sees every run; and declare a silent worker down after 4 s (default 10 s), so that
# pauses and kills of 2-8 s make attempts LOST and retried, which check 2 is about.
HISTORY_RUNS = 10000  # the most a job keeps (policy.history_max)
WORKER_TIMEOUT = "4s"
# The nodes listen on 10.77.0.N, beyond loopback, which raftcrond refuses without TLS and
# client authentication (docs/security.md): they run with --insecure, or with mutual TLS when
# TLS_DIR is set (harness --tls): a CA and one certificate per node naming its address made by
# scripts/gen-certs there, client certificates required on RPC. Runs execute as root
# (--allow-root-jobs): the harness runs as root, and the records file is root's.
TLS_DIR = None


def securityArgs(src, n):
    # RCJ_NODE and RCJ_RECORDS reach the runs only when named (a run's environment is an
    # allow-list: docs/security.md).
    keep = ["--job-env-keep", "RCJ_NODE,RCJ_RECORDS"]
    if TLS_DIR is None:
        return ["--insecure", "--allow-root-jobs"] + keep
    cert = os.path.join(TLS_DIR, "node%d" % n)
    if not os.path.exists(cert + ".pem"):  # the member nemesis adds brand-new ids
        subprocess.run([os.path.join(src, "scripts", "gen-certs"), TLS_DIR, "node",
                        "node%d" % n, "IP:" + net.nodeIp(n)], check=True, capture_output=True)
    return keep + ["--allow-root-jobs", "--tls-ca", os.path.join(TLS_DIR, "ca.pem"),
            "--tls-cert", cert + ".pem", "--tls-key", cert + ".key",
            "--rpc-client-auth", "require"]


def recordsPath(out, n):
    return os.path.join(out, "records", "node%d.txt" % n)


def rpcAddr(n):
    return "%s:%d" % (net.nodeIp(n), RPC_PORT)


def raftAddr(n):
    return "%s:%d" % (net.nodeIp(n), RAFT_PORT)


class Node:
    def __init__(self, cluster, n):
        self.cluster = cluster
        self.n = n
        self.proc = None
        self.state = "down"        # down | running | paused | killed | removed
        self.watchers = []         # threads recording each process's exit
        self.incarnation = 0       # data dir generation; a member re-add starts a new one
        self.expected_exit = False
        self.graceful = False
        self.join_via = None       # the --join of the current incarnation's data dir
        self.clock_file = os.path.join(cluster.out, "node%d.clock" % n)
        self.log_path = os.path.join(cluster.out, "node%d.log" % n)
        self.setClock(0)

    def dataDir(self):
        return os.path.join(self.cluster.out, "node%d" % self.n, "data.%d" % self.incarnation)

    def setClock(self, offset_s):
        """Steps the node's wall clock to real time + offset_s (libfaketime re-reads the file
        on every call because of FAKETIME_NO_CACHE)."""
        tmp = self.clock_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%+d\n" % int(offset_s))
        os.replace(tmp, self.clock_file)

    def env(self):
        e = dict(os.environ)
        e["LSAN_OPTIONS"] = ("suppressions=%s:print_suppressions=0"
                             % os.path.join(self.cluster.src, "tests", "lsan.supp"))
        e.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        e["RCJ_NODE"] = str(self.n)
        e["RCJ_RECORDS"] = recordsPath(self.cluster.out, self.n)
        if self.cluster.faketime:
            # ASan wants to be first in the library list; libfaketime in LD_PRELOAD is not a
            # problem for it in practice (checked: clock steps show in the log's ts=).
            asan = e.get("ASAN_OPTIONS", "")
            e["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "verify_asan_link_order=0"
            e["LD_PRELOAD"] = FAKETIME_LIB
            e["FAKETIME_TIMESTAMP_FILE"] = self.clock_file
            e["FAKETIME_NO_CACHE"] = "1"
            e["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"
        return e

    def start(self, join=None, bootstrap=False):
        os.makedirs(self.dataDir(), exist_ok=True)
        if join:
            self.join_via = join
        elif not bootstrap and self.join_via and not self.holdsCluster():
            # Killed before its join completed: its data dir holds no cluster yet, and the node
            # refuses to start from it without --join (as an operator would restart it).
            join = self.join_via
        args = ["ip", "netns", "exec", net.nodeNs(self.n),
                os.path.join(self.cluster.bin, "raftcrond"), "--id", str(self.n),
                "--raft-addr", raftAddr(self.n), "--rpc-addr", rpcAddr(self.n),
                "--data", self.dataDir(), "--election-timeout", "1s",
                "--heartbeat-timeout", "100ms", "--history-runs", str(HISTORY_RUNS),
                "--worker-timeout", WORKER_TIMEOUT] + securityArgs(self.cluster.src, self.n)
        if bootstrap:
            args.append("--bootstrap")
        if join:
            args += ["--join", ",".join(rpcAddr(j) for j in join)]
        with open(self.log_path, "ab") as log:
            log.write(("# rcj harness: start node %d incarnation %d at %.6f: %s\n"
                       % (self.n, self.incarnation, time.time(), " ".join(args[4:]))).encode())
            log.flush()
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=self.env(),
                                         start_new_session=True)
        self.expected_exit = False
        self.graceful = False
        self.state = "running"
        self.cluster.record({"event": "start", "node": self.n, "pid": self.proc.pid,
                             "incarnation": self.incarnation, "join": bool(join),
                             "bootstrap": bootstrap})
        t = threading.Thread(target=self.watch, args=(self.proc,), daemon=True)
        self.watchers.append(t)
        t.start()

    def holdsCluster(self):
        """Whether the data dir holds Raft state (the metadata a joined node has written)."""
        return any(os.path.exists(os.path.join(self.dataDir(), m))
                   for m in ("metadata1", "metadata2"))

    def watch(self, proc):
        status = proc.wait()
        current = proc is self.proc
        expected = self.expected_exit if current else True
        # A member that finds itself removed stops by itself (status 0): not a crash.
        removed = status == 0 and self.logTailHas(b"removed from the cluster")
        self.cluster.record({"event": "exit", "node": self.n, "pid": proc.pid, "status": status,
                             "expected": expected or removed,
                             "graceful": (self.graceful and current) or removed})

    def logTailHas(self, text, tail=65536):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - tail))
                return text in f.read()
        except OSError:
            return False

    def signal(self, sig):
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self):
        self.expected_exit = True
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()
        self.state = "killed"

    def pause(self):
        self.signal(signal.SIGSTOP)
        self.state = "paused"

    def resume(self):
        self.signal(signal.SIGCONT)
        self.state = "running"

    def stop(self, timeout=15):
        """Graceful stop (SIGTERM). Returns the exit status, or None when it had to be killed."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.expected_exit = True
        self.graceful = True
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.proc.wait()
            self.cluster.record({"event": "stop-timeout", "node": self.n, "pid": self.proc.pid})
            return None

    def wipe(self):
        """A fresh data dir for a re-added member; the old one is kept for post-mortems."""
        self.incarnation += 1
        path = self.dataDir()
        if os.path.exists(path):
            shutil.rmtree(path)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


class Cluster:
    def __init__(self, bin_dir, src, out, n_nodes, faketime):
        self.bin = bin_dir
        self.src = src
        self.out = out
        self.faketime = faketime
        self.lock = threading.Lock()
        self.events = open(os.path.join(out, "processes.jsonl"), "a")
        os.makedirs(os.path.join(out, "records"), exist_ok=True)
        self.nodes = {n: Node(self, n) for n in range(1, n_nodes + 1)}
        self.retired = {}
        self.max_id = n_nodes

    def record(self, ev):
        ev["time"] = time.time()
        with self.lock:
            self.events.write(json.dumps(ev) + "\n")
            self.events.flush()

    def ids(self):
        return sorted(self.nodes)

    def endpoints(self, ids=None):
        return ",".join(rpcAddr(n) for n in (ids or self.ids()))

    def newId(self):
        """An id no node of this run ever had, or None when the subnet is full."""
        with self.lock:
            if self.max_id >= 250:
                return None
            self.max_id += 1
            return self.max_id

    def addNode(self, n):
        """A brand-new node n (namespace, address, clock file); start it with join=..."""
        net.addNode(n)
        self.nodes[n] = Node(self, n)
        return self.nodes[n]

    def retire(self, n):
        """Node n left the cluster for good (removed, stopped): no longer a member."""
        self.retired[n] = self.nodes.pop(n)

    def startAll(self):
        first = self.ids()[0]
        self.nodes[first].start(bootstrap=True)
        for n in self.ids()[1:]:
            self.nodes[n].start(join=[first])

    def stopAll(self):
        return {n: node.stop() for n, node in self.nodes.items()}

    def killAll(self):
        every = list(self.nodes.values()) + list(self.retired.values())
        for node in every:
            if node.alive():
                node.kill()
        # Each exit is recorded by its watcher thread, which may still be on its way there (a
        # removed member stopping by itself just now): wait for all before closing the file.
        for node in every:
            for t in node.watchers:
                t.join(10)
        with self.lock:
            self.events.close()
