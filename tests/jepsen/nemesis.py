"""Nemeses: the faults of a Jepsen run, scheduled at random from the run's seed.

One scheduler thread begins a fault every 1-5 s (uniform) and ends it 2-8 s later; every
choice (interval, nemesis, fault kind, victim when it is not "the leader") comes from one
random.Random(seed), so a seed replays the same schedule. What the cluster does in between
(who is leader when a fault needs one) is not under the seed's control.
Every begin and end goes to nemesis.jsonl with the fault's id "fid": an end names the fid of
the begin it ends (a fault that is over at once, a leadership transfer, has no end). The
checker reads these as the fault windows. The last line is {"phase": "end", "kind": "all"}
when everything has been healed.

At most (n-1)/2 nodes are out at a time (killed, paused or removed), so that a majority can
keep making progress between partitions; partitions and clock steps are not limited.

  partition  isolate-one | isolate-leader | split (random minority/majority) | bridge (two
             halves that both see one node) | ring (each node sees its ring neighbours only, a
             majority each, no two the same): nftables drops in the node namespaces; healed.
  kill       SIGKILL the leader or a random node; restarted from its data dir later.
  pause      SIGSTOP the leader (half the time) or a random node; SIGCONT later.
  clock      step one node's wall clock by +-2 s..5 min, or strobe it between two offsets
             every 100-500 ms; monotonic time is left alone (libfaketime); reset later.
  member     transfer leadership to a random voter (or the leader's choice); or remove a
             voter, stop it, and later add it back with a fresh data dir (--join), or instead
             add a brand-new voter (an id never used in the run, its own namespace and
             address) in its place; or grow: add a brand-new voter, and later remove it.
"""
import heapq
import itertools
import json
import random
import threading
import time

import net

ALL = ["partition", "kill", "pause", "clock", "member"]


class Scheduler:
    def __init__(self, cluster, ctl, seed, kinds, log_path):
        self.cluster = cluster
        self.ctl = ctl
        self.rng = random.Random("nemesis-%s" % seed)
        self.kinds = kinds
        self.log = open(log_path, "a")
        self.ends = []                   # heap of (time, seq, description, fn)
        self.seq = itertools.count()
        self.stop_ev = threading.Event()
        self.thread = None
        self.grudge = None
        self.strobes = {}
        self.member_busy = False
        self.counts = {}
        self.fids = itertools.count(1)
        self.partition_fid = None
        self.log_lock = threading.Lock()

    def record(self, phase, kind, fid=None, **kw):
        """Writes a begin (a new fid, returned) or the end of fault fid."""
        if phase == "begin" and fid is None:
            fid = next(self.fids)
        kw.update({"time": time.time(), "phase": phase, "kind": kind, "fid": fid})
        with self.log_lock:
            self.log.write(json.dumps(kw, sort_keys=True) + "\n")
            self.log.flush()
        if phase == "begin":
            self.counts[kind] = self.counts.get(kind, 0) + 1
        return fid

    # -- scheduling ----------------------------------------------------------------------------

    def start(self):
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        next_begin = time.time() + self.rng.uniform(1, 5)
        while not self.stop_ev.is_set():
            now = time.time()
            if self.ends and self.ends[0][0] <= now:
                _, _, _, fn = heapq.heappop(self.ends)
                fn()
                continue
            if now >= next_begin:
                kind = self.rng.choice(self.kinds)
                getattr(self, kind)()
                next_begin = time.time() + self.rng.uniform(1, 5)
                continue
            wake = min([next_begin] + [e[0] for e in self.ends[:1]])
            self.stop_ev.wait(max(0.0, wake - now))

    def later(self, what, fn):
        heapq.heappush(self.ends, (time.time() + self.rng.uniform(2, 8), next(self.seq), what, fn))

    def stopAndHeal(self):
        """Stops scheduling and ends every fault still on: the cluster is whole afterwards."""
        self.stop_ev.set()
        if self.thread:
            self.thread.join()
        self.healNet()                   # first, so that membership changes below can commit
        while self.ends:
            _, _, _, fn = heapq.heappop(self.ends)
            fn()
        self.healNet()
        for n in list(self.strobes):
            self.clockReset(n)
        for node in self.cluster.nodes.values():
            node.setClock(0)
            if node.state == "paused":
                node.resume()
            elif node.state == "killed":
                node.start()
        self.record("end", "all", fault="healed")
        self.log.close()

    # -- helpers -------------------------------------------------------------------------------

    def outCount(self):
        return sum(1 for nd in self.cluster.nodes.values() if nd.state != "running")

    def budget(self):
        return self.outCount() < (len(self.cluster.nodes) - 1) // 2

    def running(self):
        return [n for n, nd in sorted(self.cluster.nodes.items()) if nd.state == "running"]

    def victim(self, prefer_leader):
        """The leader when asked for and known and running, else a random running node."""
        choices = self.running()
        if not choices:
            return None, "none"
        pick = self.rng.choice(choices)
        if prefer_leader:
            leader = self.ctl.leader()
            if leader in choices:
                return leader, "leader"
        return pick, "random"

    # -- partition -----------------------------------------------------------------------------

    def partition(self):
        ids = self.cluster.ids()
        n = len(ids)
        kind = self.rng.choice(["isolate-one", "isolate-leader", "split", "bridge", "ring"])
        shuffled = ids[:]
        self.rng.shuffle(shuffled)
        if kind == "isolate-leader":
            leader = self.ctl.leader()
            if leader is None:
                kind = "isolate-one"
            else:
                shuffled.remove(leader)
                shuffled.insert(0, leader)
        if kind in ("isolate-one", "isolate-leader"):
            groups = [shuffled[:1], shuffled[1:]]
            grudge = self.groupsGrudge(groups)
        elif kind == "split":
            k = self.rng.randint(1, (n - 1) // 2) if n >= 3 else 1
            groups = [shuffled[:k], shuffled[k:]]
            grudge = self.groupsGrudge(groups)
        elif kind == "bridge":
            mid = n // 2
            groups = [shuffled[:mid], shuffled[mid + 1:]]
            grudge = self.groupsGrudge(groups)
            groups.insert(1, [shuffled[mid]])
        else:
            reach = (n // 2 + 1) // 2
            grudge = {}
            for i, a in enumerate(shuffled):
                grudge[a] = {b for j, b in enumerate(shuffled)
                             if min((i - j) % n, (j - i) % n) > reach}
            groups = [shuffled]
        net.applyGrudge(ids, grudge)
        self.grudge = grudge
        if self.partition_fid is not None:
            self.record("end", "partition", fid=self.partition_fid, fault="replaced")
        self.partition_fid = self.record("begin", "partition", fault=kind, groups=groups,
                                         grudge={str(k): sorted(v) for k, v in grudge.items()})
        self.ends = [e for e in self.ends if e[2] != "partition"]
        heapq.heapify(self.ends)
        self.later("partition", self.healNet)

    @staticmethod
    def groupsGrudge(groups):
        grudge = {}
        for g in groups:
            others = {x for h in groups if h is not g for x in h}
            for a in g:
                grudge[a] = others
        return grudge

    def healNet(self):
        if self.grudge is None:
            return
        net.applyGrudge(self.cluster.ids(), {})
        self.grudge = None
        self.record("end", "partition", fid=self.partition_fid, fault="heal")
        self.partition_fid = None

    # -- kill and pause ------------------------------------------------------------------------

    def kill(self):
        if not self.budget():
            return
        n, how = self.victim(self.rng.random() < 0.5)
        if n is None:
            return
        node = self.cluster.nodes[n]
        node.kill()
        fid = self.record("begin", "kill", node=n, target=how)

        def restart():
            if node.state == "killed":
                node.start()
                self.record("end", "kill", fid=fid, node=n, fault="restart")
        self.later("kill", restart)

    def pause(self):
        if not self.budget():
            return
        n, how = self.victim(self.rng.random() < 0.5)
        if n is None:
            return
        node = self.cluster.nodes[n]
        node.pause()
        fid = self.record("begin", "pause", node=n, target=how)

        def resume():
            if node.state == "paused":
                node.resume()
                self.record("end", "pause", fid=fid, node=n, fault="resume")
        self.later("pause", resume)

    # -- clock ---------------------------------------------------------------------------------

    def clock(self):
        n = self.rng.choice(self.cluster.ids())
        if n in self.strobes:
            return
        node = self.cluster.nodes[n]
        offset = self.rng.choice([2, 10, 30, 60, 120, 300]) * self.rng.choice([-1, 1])
        if self.rng.random() < 0.5:
            node.setClock(offset)
            fid = self.record("begin", "clock", node=n, fault="step", offset_s=offset)
            stop = None
        else:
            period = self.rng.uniform(0.1, 0.5)
            stop = threading.Event()
            threading.Thread(target=self.strobe, args=(node, offset, period, stop),
                             daemon=True).start()
            fid = self.record("begin", "clock", node=n, fault="strobe", offset_s=offset,
                              period_s=round(period, 3))
        self.strobes[n] = (stop, fid)
        self.later("clock", lambda: self.clockReset(n))

    @staticmethod
    def strobe(node, offset, period, stop):
        on = True
        while not stop.wait(period):
            node.setClock(offset if on else 0)
            on = not on

    def clockReset(self, n):
        if n not in self.strobes:
            return
        stop, fid = self.strobes.pop(n)
        if stop is not None:
            stop.set()
        time.sleep(0.01)
        node = self.cluster.nodes.get(n) or self.cluster.retired.get(n)
        node.setClock(0)
        self.record("end", "clock", fid=fid, node=n, fault="reset")

    # -- member --------------------------------------------------------------------------------

    def member(self):
        if self.member_busy:
            return
        r = self.rng.random()
        if r < 0.4:
            self.transfer()
        elif r < 0.8:
            self.removeVoter(replace=r >= 0.6)
        else:
            self.grow()

    def removeVoter(self, replace):
        """Removes a running voter and stops it; later adds it back with a fresh data dir, or
        (replace) adds a brand-new voter in its place and retires it."""
        if not self.budget():
            return
        n = self.rng.choice(self.running()) if self.running() else None
        if n is None:
            return
        others = [m for m in self.cluster.ids() if m != n]
        rc, _, err = self.ctl.run(["member", "remove", str(n)], timeout="5s",
                                  endpoints=self.cluster.endpoints(others))
        removed = rc == 0 or (rc != 1 or "unknown" in err) and not self.isMember(n, others)
        fid = self.record("begin", "member", fault="remove", node=n, exit=rc, error=err,
                          removed=removed, then="add-new" if replace else "re-add")
        if not removed:
            return
        node = self.cluster.nodes[n]
        node.kill()
        node.state = "removed"
        self.member_busy = True

        def readd():
            new = self.cluster.newId() if replace else None
            if new is None:
                node.wipe()
                node.start(join=others)
                self.member_busy = False
                self.record("end", "member", fid=fid, fault="add", node=n,
                            incarnation=node.incarnation)
                return
            self.cluster.retire(n)
            fresh = self.cluster.addNode(new)
            fresh.start(join=others)
            self.member_busy = False
            self.record("end", "member", fid=fid, fault="add-new", node=new, replaces=n)
        self.later("member", readd)

    def grow(self):
        """Adds a brand-new voter (an id never used in this run) with --join; later removes
        it again and retires it (if the removal cannot be confirmed, it stays a member)."""
        new = self.cluster.newId()
        if new is None:
            return
        members = self.cluster.ids()
        node = self.cluster.addNode(new)
        node.start(join=members)
        fid = self.record("begin", "member", fault="add-new", node=new, then="remove")
        self.member_busy = True

        def shrink():
            others = [m for m in self.cluster.ids() if m != new]
            rc, _, err = self.ctl.run(["member", "remove", str(new)], timeout="5s",
                                      endpoints=self.cluster.endpoints(others))
            if rc == 0 or not self.isMember(new, others):
                node.kill()
                node.state = "removed"
                self.cluster.retire(new)
                self.record("end", "member", fid=fid, fault="remove", node=new, exit=rc,
                            error=err)
            else:
                self.record("end", "member", fid=fid, fault="kept", node=new, exit=rc,
                            error=err)
            self.member_busy = False
        self.later("member", shrink)

    def isMember(self, n, others):
        st, _ = self.ctl.json(["member", "list"], "5s", endpoints=self.cluster.endpoints(others))
        if st is None:
            return True                  # cannot tell: leave the node alone
        return any(m.get("id") == n for m in st.get("members", []))

    def transfer(self):
        voters = self.running()
        target = self.rng.choice(voters + [None])
        args = ["member", "transfer"] + ([str(target)] if target else [])
        rc, out, err = self.ctl.run(args, timeout="5s")
        self.record("begin", "member", fault="transfer", target=target, exit=rc,
                    error=err, stdout=out.strip())
