#!/usr/bin/env python3
"""The checker of a Jepsen run: judges what the workload recorded against what the cluster
reports at the end. It shares no code with raftcron (nor with the rest of the harness): its
inputs are files in the run's directory, written by the harness:

  history.jsonl     one line per client operation (see workload.py for the fields)
  final.json        {"list": `job list -o json` through the leader (or null),
                     "list_error": text, "nodes": {"N": {"digest": `cluster digest --stale`,
                     "list": `job list --stale`, "error": text}}}
  processes.jsonl   every node process start and exit, and whether the harness caused the exit
  nodeN.log         each node's output, all incarnations

Checks (numbered as in the issue):
  1    one decision per (job, instant): every instant of every job's trigger from its
       creation to its cursor has exactly one decision record in the ledger (a COALESCED,
       MISSED or SKIPPED range covers its instants), none lies outside, and the cursor
       reached the instants due 2 s before the job was paused at the end.
  2    no (job, instant, attempt) executed twice, no instant executed under two runs; a
       second attempt only where the ledger committed a retry (attempt n+1 exists only after
       attempt n ended FAILED, TIMED_OUT or LOST: ledger.md), in order (attemptOrder: from
       the ledger's readings, each retry's not_before and the real starts); fences strictly
       increase across a run's attempts, and the last attempt ran with the ledger's fence.
  3    every run of the ledger was executed at least once, unless it ended CANCELLED with a
       reason, or DEAD with a reason and a fault touched its worker between its claim and its
       end (WORKER_FAULTS); no run is still in flight after quiescence; every FIRED decision names
       a run of its instant (one no reading covered: unknown); every execution of a job
       nobody deleted is a run of the ledger (nothing ran without a committed claim).
  4    MISSED only when decided more than the grace after the instant (decided_at) and with
       faults over its whole grace (judgeMissed); COALESCED only once due, and with SKIPPED
       only for instants near a fault: within [begin - 1 s - |clock offset|, L + 2 s +
       |clock offset|] of some fault window of nemesis.jsonl, where L is when a leader existed
       again (the fault's end, or a later scheduler activation within 5 s of it) and 2 s is
       the election timeout + 1 s (a queue-one job's "a run is already queued" is the policy);
       every other instant FIRED.
  5    every acknowledged job write is present at the end, or superseded by a write that may
       have taken effect after it; the final state of a job was produced by a write that was
       not rejected; nothing appears that no client wrote.
  6    every node reports the same digest at the same applied index, and the same job table.
  7    no node crashed outside the nemesis's own kills: no unexpected process exit, and no
       sanitizer report, assertion failure or abort in any log.
  8    runs start on time in quiet phases: a first attempt whose instant lies farther than
       QUIET_S from every fault window starts at most LATE_BOUND_S after it; no execution
       starts before its instant (beyond EARLY_TOL_S) unless a clock fault explains it.
  9    overlap policies in quiet phases: a replaced run's process never reached its end; no
       two runs of a queue-one job overlap (records/nodeN.txt.end hold the runs' ends).
A reading of the ledger that failed, or was not taken after quiescence, makes the checks that
need it unknown. Besides the verdicts: fire lateness (execution start on the real clock minus the scheduled
instant, first attempts) per phase, quiet or faulty (scheduled within [begin - QUIET_S - |clock
offset|, end + QUIET_S + |clock offset|] of a fault), the worst faulty-phase cases with the
faults around them, and plot() draws timeline.png with gnuplot.

A check with too little to judge is not valid: a run whose ledger could not be read, or whose
firing jobs made fewer decisions, executions or writes than the floors below (proportional to
the run's length), is `unknown`; each floor is printed with what the run reached.

More inputs for checks 1-4 and the lateness:
  records/nodeN.txt one line per execution on node N (workload.RECORD_CMD):
                    JOB SCHEDULED_AT ATTEMPT RUN_ID FENCE NODE START (START: real clock, s)
  ledger.jsonl      raw `job decisions` and `run list --job` JSON of the firing jobs every
                    60 s, and of every job at the end ("final": true), with when it was read
  nemesis.jsonl     the faults, begin and end (paired by "fid"), harness clock
  final.json        also "paused": the harness's `job pause` of each job at the end

Usage: checker.py RUN_DIR   (prints the verdict, writes RUN_DIR/results.json and
RUN_DIR/timeline.png; exit 0 valid, 1 invalid, 2 unknown)
"""
import calendar
import json
import os
import re
import shutil
import subprocess
import sys
import time

INF = float("inf")
US = 1000000
PRE_S = 1.0          # a fault may disturb the instants claimed just before it (lookahead, commit)
ELECTION_S = 5.0     # after a fault ends: a new leader (1-2 s timeouts, pre-vote), its barrier
# Check 4: a MISSED, COALESCED or SKIPPED instant is excused from a fault's start (less PRE_S)
# until AFTER_LEADER_S after a leader exists again: the later of the fault's end and the last
# scheduler activation (a new leader's, from the node logs) between the fault's begin and
# ELECTION_S after its end. AFTER_LEADER_S is the harness's election timeout + 1 s: a leader that
# has its barrier decides every due instant in its first plan.
ELECTION_TIMEOUT_S = 1.0
AFTER_LEADER_S = ELECTION_TIMEOUT_S + 1.0
# Check 3: a run that ended DEAD (or LOST) without any execution is excused only when a fault
# touched its worker (a kill, pause or removal of its node, or any partition) between its claim
# (less PRE_S) and its end: the worker may have accepted it and died, or been cut off, before
# its start instant, and at-most-once forbids a second attempt.
WORKER_FAULTS = ("kill", "pause", "member")
LIVENESS_S = 2.0     # instants due this long before a job's pause must have a decision
# Check 8. The harness starts the nodes with --election-timeout 1s: an instant farther than that
# plus 1 s from every fault window (widened by a clock fault's offset) is in a quiet phase, where
# nothing excuses a late start; LATE_BOUND_S is far above what a quiet cluster shows (p99 of a
# few ms, docs/jepsen.md) and far below a heartbeat-driven or failover-driven delay.
QUIET_S = 2.0
LATE_BOUND_S = 1.0
EARLY_TOL_S = 0.001  # every node reads one machine's clock, unless the clock nemesis fakes it
QUIET_MIN_S = 10     # check 8 judges the lateness bound on this many quiet instants, at least
# Floors (activity a run must show for its checks to be judged, else `unknown`), with W the
# seconds from a firing job's creation to its pause:
#   checks 1, 4  every firing job is in the final list with an instant per period of W - 3 s;
#   checks 2, 3  the firing jobs executed at least ACTIVITY_SHARE of their instants that no clock
#                fault touched (those a skewed leader may have decided early: see Known limits);
#   check 5      at least WRITE_RATE acknowledged writes per second of the workload, of each kind;
#   check 6      a digest from every member; check 7: a log of every node that started;
#   check 8      at least ACTIVITY_SHARE of the quiet instants of the firing jobs executed.
ACTIVITY_SHARE = 0.5
WRITE_RATE = 0.5
WORST_CASES = 10     # faulty-phase first attempts listed with their fault context
CRASH_PATTERNS = [
    r"ERROR: AddressSanitizer", r"ERROR: LeakSanitizer", r"runtime error:",
    r"UndefinedBehaviorSanitizer", r"WARNING: ThreadSanitizer", r"Assertion .* failed",
    r"assertion failed", r"\bSIGSEGV\b", r"Segmentation fault", r"\babort\(\)", r"\bpanic\b",
]
NON_FIRED = ("missed", "coalesced", "skipped")
QUEUE_FULL = "a run is already queued"       # the reason of a queue-one job's SKIPPED instant
REPLACED = "replaced by a newer run"         # the end reason of a run cancelled by replace
REPLACE_RUN_S = 5.0                          # how long a run of the workload's replace job lasts
FINAL_STATES = ("succeeded", "dead", "cancelled")


def readJsonl(path):
    out = []
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                out.append(json.loads(line))
    return out


def jobKey(j):
    return "%s/%s" % (j.get("namespace", "default"), j["name"])


# -- times -------------------------------------------------------------------------------------

def parseInstant(s):
    """RFC 3339 UTC as raftcronctl and the shell executor print it -> integer microseconds."""
    if not s:
        return None
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z", s)
    if not m:
        return None
    secs = calendar.timegm(tuple(int(m.group(i)) for i in range(1, 7)) + (0, 0, 0))
    frac = (m.group(7) or "").ljust(6, "0")[:6]
    return secs * US + int(frac)


def fmtInstant(us):
    if us is None:
        return "-"
    if us in (INF, -INF):
        return str(us)
    secs, frac = divmod(int(us), US)
    return time.strftime("%H:%M:%S", time.gmtime(secs)) + (".%06d" % frac).rstrip("0").rstrip(".")


def parseDuration(s):
    """raftcronctl's durations (1m, 3s, 1m30s, 500ms, none) -> microseconds (INF for none)."""
    if s in (None, "", "none"):
        return INF
    units = {"us": 1, "ms": 1000, "s": US, "m": 60 * US, "h": 3600 * US, "d": 86400 * US}
    total, pos = 0, 0
    for m in re.finditer(r"(\d+(?:\.\d+)?)(us|ms|s|m|h|d)", s):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * units[m.group(2)]
        pos = m.end()
    return int(total) if pos == len(s) and pos else None


def toUs(t):
    return int(round(t * US))


# -- inputs of checks 1-4 ----------------------------------------------------------------------

def readRecords(run_dir, suffix=".txt"):
    """Every recorded execution (records/nodeN.txt; with suffix ".txt.end", the ends that
    runs longer than their period record): (executions, malformed lines)."""
    execs, bad = [], []
    d = os.path.join(run_dir, "records")
    if not os.path.isdir(d):
        return None, []
    for name in sorted(os.listdir(d)):
        if not name.endswith(suffix):
            continue
        with open(os.path.join(d, name), errors="replace") as f:
            for i, line in enumerate(f, 1):
                parsed = parseRecord(line)
                if parsed is None:
                    bad.append("records/%s:%d: %r" % (name, i, line[:200]))
                    continue
                parsed["where"] = "records/%s:%d" % (name, i)
                execs.append(parsed)
    return execs, bad


def parseRecord(line):
    f = line.split()
    if len(f) != 7:
        return None
    try:
        r = {"job": f[0], "sched": parseInstant(f[1]), "attempt": int(f[2]), "run": int(f[3]),
             "fence": int(f[4]), "node": int(f[5]), "start": float(f[6])}
    except ValueError:
        return None
    return r if r["sched"] is not None else None


class JobLedger:
    """What raftcronctl printed about one job's ledger, merged over snapshots: decisions by
    id, runs by id (the latest reading wins), and which instants and run ids some reading
    covered completely (a reading of `limit` records may have left older ones out)."""

    def __init__(self):
        self.decisions = {}
        self.runs = {}           # id -> (reading time, run, read after quiescence)
        self.readings = {}       # id -> [(reading time, run)] in time order: what each showed
        self.dspans = []         # (from instant, to instant): decisions known complete
        self.rspans = []         # (from id, to id): runs known complete
        self.errors = []         # readings that failed: nothing they would have shown is known
        self.final = set()       # "decisions", "runs": read after quiescence

    def decisionsCover(self, t):
        return any(a <= t <= b for a, b in self.dspans)

    def runsCover(self, rid):
        return any(a <= rid <= b for a, b in self.rspans)


def buildLedger(snapshots):
    """snapshots: the lines of ledger.jsonl. Returns {job: JobLedger}."""
    out = {}
    for snap in sorted(snapshots, key=lambda s: s["time"]):
        jl = out.setdefault(snap["job"], JobLedger())
        doc = snap.get("output")
        if doc is None:
            jl.errors.append("%s of %s at %.3f: %s" % (snap["what"], snap["job"], snap["time"],
                                                      snap.get("error")))
            continue
        full = snap.get("final", False)
        if full:
            jl.final.add(snap["what"])
        if snap["what"] == "decisions":
            recs = doc.get("decisions", [])
            for d in recs:
                jl.decisions[d["id"]] = d
            firsts = [parseInstant(d["first"]) for d in recs]
            lasts = [parseInstant(d["last"]) for d in recs]
            lo = -INF if len(recs) < snap["limit"] else min(firsts)
            hi = INF if full else (max(lasts) if lasts else -INF)
            jl.dspans.append((lo, hi))
        else:
            recs = doc.get("runs", [])
            for r in recs:
                jl.runs[r["id"]] = (snap["time"], r, full)
                jl.readings.setdefault(r["id"], []).append((snap["time"], r))
            ids = [r["id"] for r in recs]
            lo = -INF if len(recs) < snap["limit"] else min(ids)
            hi = INF if full else (max(ids) if ids else -INF)
            jl.rspans.append((lo, hi))
    return out


class Trigger:
    """The instants of a job: anchor + k * period, strictly after its creation. Knows the
    triggers the workload uses: every D, cron @every D (anchored at the creation), and the
    6-field cron "* * * * * *" (every whole second)."""

    def __init__(self, job):
        self.created = parseInstant(job.get("created"))
        self.period = None
        self.why = None
        cron = job.get("cron")
        if job.get("start") or job.get("end") or job.get("anchor"):
            self.why = "start/end/anchor bounds are not modelled"
        elif job.get("every"):
            self.period, self.anchor = parseDuration(job["every"]), self.created
        elif cron and cron.startswith("@every "):
            self.period, self.anchor = parseDuration(cron.split(None, 1)[1]), self.created
        elif cron == "* * * * * *":
            self.period, self.anchor = US, 0
        else:
            self.why = "the checker enumerates only every D, @every D and * * * * * *"
        if self.period is None and self.why is None or self.created is None:
            self.why = self.why or "cannot read the trigger"
            self.period = None

    def onGrid(self, t):
        return (t - self.anchor) % self.period == 0

    def between(self, lo, hi):
        """Instants t with lo < t <= hi, after the creation."""
        lo = max(lo, self.created)
        if hi == INF:
            raise ValueError("unbounded")
        k = (lo - self.anchor) // self.period + 1
        t = self.anchor + k * self.period
        out = []
        while t <= hi:
            out.append(t)
            t += self.period
        return out


def faultWindows(nemesis):
    """Fault windows [begin, end] (harness seconds) from nemesis.jsonl, begins paired with ends
    by fid; a transfer is over at once; a fault that never ended ends with the final heal."""
    begins, ends, heal = [], {}, None
    for r in nemesis:
        if r.get("kind") == "all":
            heal = r["time"]
        elif r.get("phase") == "begin":
            begins.append(r)
        elif r.get("phase") == "end" and r.get("fid") is not None:
            ends.setdefault(r["fid"], r["time"])
    last = max([r["time"] for r in nemesis], default=None)
    out = []
    for b in begins:
        if b.get("kind") == "member" and b.get("fault") == "transfer":
            end = b["time"]
        elif b.get("kind") == "member" and b.get("fault") == "remove" and not b.get("removed"):
            end = b["time"]
        else:
            end = ends.get(b.get("fid"), heal if heal is not None else last)
        signed = b.get("offset_s", 0) if b.get("kind") == "clock" else 0
        out.append({"kind": b["kind"], "fault": b.get("fault"), "node": b.get("node"),
                    "begin": b["time"], "end": end, "off": abs(signed), "offset": signed})
    return out


def describeWindow(w):
    return "%s%s%s [%s, %s]%s" % (w["kind"], " " + w["fault"] if w.get("fault") else "",
                                  " node %s" % w["node"] if w.get("node") is not None else "",
                                  fmtInstant(toUs(w["begin"])), fmtInstant(toUs(w["end"])),
                                  " offset %ds" % w["off"] if w["off"] else "")


def leaderAgain(w, leaders):
    """When a leader existed again after fault w (harness seconds): the later of its end and
    the last scheduler activation between its begin and ELECTION_S after its end."""
    starts = [t for t, _ in leaders if w["begin"] <= t <= w["end"] + ELECTION_S]
    return max([w["end"]] + starts)


def excuseSpan(w, leaders):
    """[lo, hi] (us): the instants a fault may leave without a FIRED decision."""
    return (toUs(w["begin"] - PRE_S - w["off"]),
            toUs(leaderAgain(w, leaders) + AFTER_LEADER_S + w["off"]))


def allowedNonFired(t, windows, leaders=()):
    """Whether instant t (us) may be undecided-on-time because of a fault; and the window."""
    for w in windows:
        lo, hi = excuseSpan(w, leaders)
        if lo <= t <= hi:
            return True, w
    return False, None


def inFaultPhase(t, windows, created_s=None):
    """Whether instant t (us) lies within QUIET_S (and widening()) of a fault."""
    if created_s is not None:
        return not quietSpan(t / US, t / US, windows, created_s)
    return bool(faultsNear(t, windows))


def widening(w, created_s):
    """How far a fault reaches beyond its window, for a job made at created_s (harness clock,
    or None if not known): a clock fault's offset (a skewed leader decides that far ahead or
    behind, a skewed worker starts that far off), unless the job was made after the fault
    ended, when no skewed clock had decided any of its instants."""
    return w["off"] if created_s is None or created_s <= w["end"] else 0


def quietSpan(lo_s, hi_s, windows, created_s=None):
    """Whether no fault window (widened by QUIET_S and widening()) meets [lo_s, hi_s]
    (harness seconds)."""
    return not any(w["begin"] - QUIET_S - widening(w, created_s) <= hi_s and
                   lo_s <= w["end"] + QUIET_S + widening(w, created_s) for w in windows)


def faultsNear(t, windows):
    return [w for w in windows
            if toUs(w["begin"] - QUIET_S - w["off"]) <= t <= toUs(w["end"] + QUIET_S + w["off"])]


def ranges(instants):
    """Runs of instants one grid step apart, as (first, last, count), for the evidence."""
    out = []
    for t in sorted(instants):
        if out and (out[-1][2] == 1 or t - out[-1][1] == out[-1][3]) and t - out[-1][1] <= 60 * US:
            out[-1][3] = t - out[-1][1]
            out[-1][1] = t
            out[-1][2] += 1
        else:
            out.append([t, t, 1, None])
    return [(a, b, c) for a, b, c, _ in out]


def fmtRanges(instants, limit=5):
    rs = ranges(instants)
    txt = ", ".join(fmtInstant(a) if c == 1 else "%s..%s (%d)" % (fmtInstant(a), fmtInstant(b), c)
                    for a, b, c in rs[:limit])
    return txt + (" and %d more" % (len(rs) - limit) if len(rs) > limit else "")


# -- check 1 -----------------------------------------------------------------------------------

def checkDecisions(jobs, ledger, paused, firing=(), activity=None):
    """jobs: the final `job list` entries; ledger: buildLedger(); paused: {job: pause invoke
    time (harness seconds)}; firing: the jobs the harness added to fire all run long, which
    must show the floor of decisions; activity: a dict that receives the instants checked."""
    if not jobs:
        return "unknown", ["no job in the final job list"]
    evidence, unknown, instants_checked = [], [], {}
    for key, job in sorted(jobs.items()):
        jl = ledger.get(key)
        if jl is None or not jl.dspans:
            unknown.append("%s: no decision listing was read%s" % (
                key, ": " + "; ".join(jl.errors[-2:]) if jl and jl.errors else ""))
            continue
        unknown += readProblems(key, jl, ("decisions",))
        trig = Trigger(job)
        if trig.why:
            unknown.append("%s: %s" % (key, trig.why))
            continue
        cursor = parseInstant(job.get("cursor"))
        hi = cursor if cursor is not None else trig.created
        covered = {}
        for d in sorted(jl.decisions.values(), key=lambda d: d["id"]):
            if d.get("manual"):
                continue
            f, l, c = parseInstant(d["first"]), parseInstant(d["last"]), d.get("count", 1)
            what = "decision %d (%s %s..%s count %d)" % (d["id"], d["decision"],
                                                         fmtInstant(f), fmtInstant(l), c)
            if f is None or l is None or l < f:
                evidence.append("%s: %s is malformed" % (key, what))
                continue
            if not (trig.onGrid(f) and trig.onGrid(l)):
                evidence.append("%s: %s names an instant the trigger does not" % (key, what))
            if f <= trig.created:
                evidence.append("%s: %s is at or before the job's creation %s"
                                % (key, what, fmtInstant(trig.created)))
            if l > hi:
                evidence.append("%s: %s lies after the job's cursor %s"
                                % (key, what, fmtInstant(cursor)))
            ts = trig.between(f - 1, l)
            if len(ts) != c:
                evidence.append("%s: %s covers %d instants of the trigger, not %d"
                                % (key, what, len(ts), c))
            for t in ts:
                covered.setdefault(t, []).append(d)
        window = trig.between(trig.created, hi)
        missing, uncollected = [], 0
        for t in window:
            ds = covered.get(t, [])
            if len(ds) > 1:
                evidence.append("%s: instant %s has %d decisions: %s" % (
                    key, fmtInstant(t), len(ds), ", ".join(
                        "%d %s (run %s)" % (d["id"], d["decision"], d.get("run_id") or "-")
                        for d in ds)))
            elif not ds:
                if jl.decisionsCover(t):
                    missing.append(t)
                else:
                    uncollected += 1
        instants_checked[key] = len(window)
        if missing:
            evidence.append("%s: %d instants in (creation %s, cursor %s] have no decision: %s"
                            % (key, len(missing), fmtInstant(trig.created), fmtInstant(cursor),
                               fmtRanges(missing)))
        if uncollected:
            unknown.append("%s: %d instants have no decision in what was read, but no reading "
                           "covered them completely" % (key, uncollected))
        if key in paused:
            due = toUs(paused[key] - LIVENESS_S)
            late = trig.between(hi, due) if due > hi else []
            if late:
                evidence.append("%s: the cursor stopped at %s, but the job was paused only at "
                                "%s: %d instants due by then have no decision: %s"
                                % (key, fmtInstant(cursor), fmtInstant(toUs(paused[key])),
                                   len(late), fmtRanges(late)))
    evidence += decisionFloor(jobs, paused, firing, instants_checked, unknown)
    if activity is not None:
        activity["instants"] = sum(instants_checked.values())
    return verdictOf(evidence, unknown), evidence + unknown


def decisionFloor(jobs, paused, firing, checked, unknown):
    """Checks 1 and 4 judge a run only if every firing job is there, was paused, and had its
    instants from creation to pause decided: W - LIVENESS_S - 1 s of them at least."""
    evidence = []
    for key in firing:
        if key not in jobs:
            evidence.append("firing job %s is not in the final job list (nobody deletes it)" % key)
            continue
        if key not in paused:
            unknown.append("firing job %s: no pause was recorded, so the window in which every "
                           "instant needs a decision has no end" % key)
            continue
        trig = Trigger(jobs[key])
        if trig.why:
            unknown.append("firing job %s: %s" % (key, trig.why))
            continue
        span_s = paused[key] - trig.created / US
        need = int((span_s - LIVENESS_S - 1) * US // trig.period)
        if checked.get(key, 0) < need:
            unknown.append("firing job %s: %d instants checked, fewer than the floor %d (one per "
                           "period of the %.1f s from its creation to its pause, less %g s)"
                           % (key, checked.get(key, 0), need, span_s, LIVENESS_S + 1))
    return evidence


def readProblems(key, jl, need):
    """Why what was read of a job's ledger cannot be judged whole: a reading that failed (the
    harness retries each; one that still failed leaves its records unknown), or no reading
    after quiescence of what `need` names ("decisions", "runs")."""
    out = ["%s: a ledger reading failed: %s" % (key, err) for err in jl.errors]
    out += ["%s: its %s were not read after quiescence" % (key, what)
            for what in need if what not in jl.final]
    return out


def verdictOf(evidence, unknown):
    return "invalid" if evidence else ("unknown" if unknown else "valid")


# -- check 2 -----------------------------------------------------------------------------------

def checkExecutions(execs, ledger, windows=()):
    if execs is None:
        return "unknown", ["no records directory: the executions were not recorded"]
    evidence, unknown = [], []
    by_attempt, by_instant, by_run = {}, {}, {}
    for e in execs:
        by_attempt.setdefault((e["job"], e["sched"], e["attempt"]), []).append(e)
        by_instant.setdefault((e["job"], e["sched"]), set()).add(e["run"])
        by_run.setdefault(e["run"], []).append(e)
    for (job, sched, attempt), es in sorted(by_attempt.items()):
        if len(es) > 1:
            evidence.append("%s instant %s attempt %d executed %d times: %s" % (
                job, fmtInstant(sched), attempt, len(es), "; ".join(
                    "node %d run %d fence %d at %.3f (%s)" % (e["node"], e["run"], e["fence"],
                                                              e["start"], e["where"])
                    for e in es)))
    for (job, sched), rids in sorted(by_instant.items()):
        if len(rids) > 1:
            evidence.append("%s instant %s executed under %d runs (two claims): %s"
                            % (job, fmtInstant(sched), len(rids), sorted(rids)))
    runs, readings = {}, {}
    for key, jl in sorted(ledger.items()):
        unknown += ["%s: a ledger reading failed, so the runs' attempts and fences are not all "
                    "known: %s" % (key, err) for err in jl.errors]
        for rid, (_, r, _) in jl.runs.items():
            runs[rid] = r
            readings[rid] = jl.readings.get(rid, [])
    for rid in sorted(set(by_run) | set(readings)):
        es = sorted(by_run.get(rid, []), key=lambda e: (e["attempt"], e["start"]))
        evidence += attemptOrder(rid, es, readings.get(rid, []), windows)
        if not es:
            continue
        attempts = sorted({e["attempt"] for e in es})
        for a, b in zip(es, es[1:]):
            if a["attempt"] < b["attempt"] and not a["fence"] < b["fence"]:
                evidence.append("run %d (%s %s): attempt %d ran with fence %d, attempt %d with "
                                "fence %d: fences must strictly increase"
                                % (rid, a["job"], fmtInstant(a["sched"]), a["attempt"],
                                   a["fence"], b["attempt"], b["fence"]))
        r = runs.get(rid)
        if r is None:
            continue
        if max(attempts) > r["attempt"]:
            evidence.append("run %d (%s %s) executed attempt(s) %s, but the ledger's run is at "
                            "attempt %d (%s): an attempt ran that was never assigned"
                            % (rid, r["job"], r["scheduled_at"], attempts, r["attempt"],
                               r["state"]))
        last = [e for e in es if e["attempt"] == r["attempt"]]
        if last and r.get("fence") and any(e["fence"] != r["fence"] for e in last):
            evidence.append("run %d (%s %s) attempt %d ran with fence(s) %s; the ledger says "
                            "fence %d" % (rid, r["job"], r["scheduled_at"], r["attempt"],
                                          sorted({e["fence"] for e in last}), r["fence"]))
    return verdictOf(evidence, unknown), evidence + unknown


def clockTouches(t_s, windows):
    """Whether a clock fault (widened by its offset) covers harness time t_s: there a node's
    reading of the wall clock is not the real one."""
    return any(w["kind"] == "clock" and w["begin"] - w["off"] - QUIET_S <= t_s
               <= w["end"] + w["off"] + QUIET_S for w in windows)


def attemptOrder(rid, es, readings, windows):
    """Attempt n+1 only after attempt n ended FAILED, TIMED_OUT or LOST (ledger.md, RunRetry):
    judged from what the ledger showed at each reading and from the real start of each
    execution (records are on the real clock).
      - executions start in attempt order;
      - the attempt a reading shows never goes back, and none follows one it showed ended
        (succeeded, dead, cancelled);
      - an attempt the ledger still showed pending, assigned or running at a reading had no
        successor executing before that reading;
      - attempt n >= 2 exists through a committed RunRetry whose not_before separates the two:
        attempt n-1 started before it, attempt n at or after it (not judged where a clock fault
        makes the leader's clock, which wrote not_before, differ from the real one)."""
    out = []
    some = readings[-1][1] if readings else None
    what = "run %d (%s %s)" % (rid, es[0]["job"] if es else some["job"],
                               fmtInstant(es[0]["sched"]) if es else some["scheduled_at"])
    by_start = sorted(es, key=lambda e: e["start"])
    for a, b in zip(by_start, by_start[1:]):
        if b["attempt"] < a["attempt"]:
            out.append("%s: attempt %d started at %.3f (%s), after attempt %d at %.3f (%s)"
                       % (what, b["attempt"], b["start"], b["where"], a["attempt"], a["start"],
                          a["where"]))
    seen_attempt, ended = 0, None
    for t, r in readings:
        k, state = r["attempt"], r["state"]
        if k < seen_attempt:
            out.append("%s: the ledger read at %.3f shows attempt %d after showing attempt %d"
                       % (what, t, k, seen_attempt))
        if ended is not None and k > ended[1]:
            out.append("%s: attempt %d exists (read at %.3f) after attempt %d was read %s at "
                       "%.3f" % (what, k, t, ended[1], ended[2], ended[0]))
        seen_attempt = max(seen_attempt, k)
        if state in FINAL_STATES and ended is None:
            ended = (t, k, state)
        if state in ("pending", "assigned", "running"):
            for e in es:
                if e["attempt"] > k and e["start"] < t:
                    out.append("%s: attempt %d started at %.3f (%s), but the ledger read at %.3f "
                               "still had attempt %d %s" % (what, e["attempt"], e["start"],
                                                            e["where"], t, k, state))
    if ended is not None:
        for e in es:
            if e["attempt"] > ended[1]:
                out.append("%s: attempt %d executed at %.3f (%s), after the ledger read attempt "
                           "%d %s at %.3f" % (what, e["attempt"], e["start"], e["where"],
                                              ended[1], ended[2], ended[0]))
    not_before = {}
    for _, r in readings:
        nb = parseInstant(r.get("not_before"))
        if r["attempt"] >= 2 and nb is not None:
            not_before[r["attempt"]] = nb
    for k, nb in sorted(not_before.items()):
        nb_s = nb / US
        if clockTouches(nb_s, windows):
            continue
        for e in es:
            if e["attempt"] == k and e["start"] < nb_s - EARLY_TOL_S:
                out.append("%s: attempt %d started at %.3f (%s), before its retry's not_before %s"
                           % (what, k, e["start"], e["where"], fmtInstant(nb)))
            if e["attempt"] == k - 1 and e["start"] >= nb_s:
                out.append("%s: attempt %d started at %.3f (%s), after the retry to attempt %d "
                           "(not_before %s) was committed: it had not ended"
                           % (what, k - 1, e["start"], e["where"], k, fmtInstant(nb)))
    return out


# -- check 3 -----------------------------------------------------------------------------------

def workerTouched(r, windows):
    """The fault that may have taken run r from its worker before it started: a kill, pause or
    removal of the worker's node, or any partition, between its claim and its end; or None."""
    # The times are leaders' clocks: a clock fault may have put them minutes off the harness's,
    # even out of order (claimed by a leader ahead, ended by one behind).
    times = [parseInstant(r.get(k)) for k in ("fired_at", "scheduled_at", "finished_at")]
    times = [t for t in times if t is not None]
    if not times:
        return None
    skew = toUs(max([w["off"] for w in windows if w["kind"] == "clock"], default=0))
    lo = min(times) - skew
    hi = (max(times) if r.get("finished_at") else INF) + skew
    for w in windows:
        mine = w["kind"] in WORKER_FAULTS and w.get("node") == r.get("worker")
        if not (mine or w["kind"] == "partition"):
            continue
        if toUs(w["begin"] - PRE_S - w["off"]) <= hi and lo <= toUs(w["end"] + w["off"]):
            return w
    return None


def checkRuns(execs, ledger, jobs, never_deleted, windows=()):
    """Every run of the ledger executed (or ended CANCELLED/DEAD with a reason), nothing in
    flight after quiescence, every FIRED decision a run of its instant, and every execution
    of a never-deleted job a run of the ledger."""
    if execs is None:
        return "unknown", ["no records directory: the executions were not recorded"]
    if not ledger:
        return "unknown", ["no ledger was read (ledger.jsonl)"]
    evidence, unknown, early = [], [], []
    capacity = []                        # pending because every matching worker is full
    executed = {}
    for e in execs:
        executed.setdefault(e["run"], []).append(e)
    for key in sorted(set(ledger) | set(jobs)):
        jl = ledger.get(key)
        if key not in jobs:
            continue                     # deleted before the end: its runs are gone
        if jl is None:
            unknown.append("%s: its ledger was never read" % key)
            continue
        unknown += readProblems(key, jl, ("decisions", "runs"))
        for rid, (read_at, r, final) in sorted(jl.runs.items()):
            if r.get("manual"):
                continue
            state = r["state"]
            reason = r.get("end_reason") or r.get("error") or ""
            if state not in FINAL_STATES:
                at = r.get("not_before") if state == "retry_wait" else r.get("start_at")
                if state in ("pending", "assigned", "retry_wait") and final \
                        and (parseInstant(at) or -INF) > toUs(read_at + 1):
                    early.append("%s run %d (%s) is %s until %s, after the last reading at %s: "
                                 "claimed early (a leader's clock was ahead), not yet due"
                                 % (key, rid, r["scheduled_at"], state, at,
                                    fmtInstant(toUs(read_at))))
                elif final:
                    stuck = ("%s run %d (%s) is still %s (attempt %d, worker %s%s) after "
                             "every job was paused and the cluster went quiet"
                             % (key, rid, r["scheduled_at"], state, r["attempt"],
                                r.get("worker"), ", " + r["wait_reason"]
                                if r.get("wait_reason") else ""))
                    if state == "pending" and "at capacity" in (r.get("wait_reason") or ""):
                        capacity.append(stuck)
                    else:
                        evidence.append(stuck)
                else:
                    unknown.append("%s run %d was last read %s and not at the end"
                                   % (key, rid, state))
                continue
            es = executed.get(rid, [])
            if es:
                wrong = [e for e in es if e["job"] != key
                         or e["sched"] != parseInstant(r["scheduled_at"])]
                for e in wrong:
                    evidence.append("%s: %s executed run %d as %s %s, but the ledger's run %d "
                                    "is %s %s" % (e["where"], key, rid, e["job"],
                                                  fmtInstant(e["sched"]), rid, key,
                                                  r["scheduled_at"]))
                continue
            if state == "cancelled" and reason:
                continue
            if state == "dead" and reason and workerTouched(r, windows) is not None:
                continue                 # accepted, then its worker died or was cut off
            if state == "dead" and reason:
                evidence.append("%s run %d (%s) ended dead (attempt %d, worker %s, %s) without "
                                "ever starting, and no fault touched its worker between its "
                                "claim and its end" % (key, rid, r["scheduled_at"], r["attempt"],
                                                       r.get("worker"), reason))
                continue
            evidence.append("%s run %d (%s) is %s (attempt %d, worker %s%s) but was never "
                            "executed" % (key, rid, r["scheduled_at"], state, r["attempt"],
                                          r.get("worker"), ", " + reason if reason else ""))
        for d in sorted(jl.decisions.values(), key=lambda d: d["id"]):
            if d["decision"] != "fired" or d.get("manual"):
                continue
            rid = d.get("run_id")
            got = jl.runs.get(rid)
            if got is None:
                if jl.runsCover(rid or 0):
                    evidence.append("%s: FIRED decision %d (%s) names run %s, which the ledger "
                                    "does not have" % (key, d["id"], d["first"], rid))
                else:
                    unknown.append("%s: FIRED decision %d (%s) names run %s, which no reading "
                                   "of the ledger covered: whether it ran is not known"
                                   % (key, d["id"], d["first"], rid))
                continue
            if parseInstant(got[1]["scheduled_at"]) != parseInstant(d["first"]):
                evidence.append("%s: FIRED decision %d is for %s, its run %d for %s"
                                % (key, d["id"], d["first"], rid, got[1]["scheduled_at"]))
    if early:
        # Runs claimed early by a leader whose clock was ahead hold their workers' slots until
        # their real start comes (they are assigned, waiting for start_at): a run waiting for
        # capacity behind them is late, not lost, and cannot be judged before they start.
        early += [x + ": waits for capacity held by runs claimed early, not yet due"
                  for x in capacity]
    else:
        evidence += capacity
    for e in execs:
        if e["job"] not in never_deleted or e["job"] not in ledger:
            continue
        jl = ledger[e["job"]]
        if e["run"] not in jl.runs and jl.runsCover(e["run"]):
            evidence.append("%s: %s instant %s attempt %d run %d fence %d was executed on node "
                            "%d, but the ledger has no such run (the job was never deleted): "
                            "it ran without a committed claim"
                            % (e["where"], e["job"], fmtInstant(e["sched"]), e["attempt"],
                               e["run"], e["fence"], e["node"]))
    return verdictOf(evidence, unknown), evidence + unknown + early


# -- check 4 -----------------------------------------------------------------------------------

def checkMisses(jobs, ledger, windows, leaders=()):
    if not jobs:
        return "unknown", ["no job in the final job list"]
    evidence, unknown = [], []
    merged = mergeSpans([excuseSpan(w, leaders) for w in windows])
    for key, job in sorted(jobs.items()):
        jl = ledger.get(key)
        if jl is None:
            unknown.append("%s: no decision listing was read" % key)
            continue
        unknown += readProblems(key, jl, ("decisions",))
        trig = Trigger(job)
        if trig.why:
            unknown.append("%s: %s" % (key, trig.why))
            continue
        grace = parseDuration(job.get("misfire_grace", "60s"))
        if grace is None:
            unknown.append("%s: cannot read misfire_grace %r" % (key, job.get("misfire_grace")))
            continue
        for d in sorted(jl.decisions.values(), key=lambda d: d["id"]):
            if d["decision"] == "fired" or d.get("manual"):
                continue
            f, l = parseInstant(d["first"]), parseInstant(d["last"])
            if f is None or l is None:
                continue
            what = "%s %s %s..%s (decision %d, count %d, reason %r)" % (
                key, d["decision"].upper(), fmtInstant(f), fmtInstant(l), d["id"],
                d.get("count", 1), d.get("reason", ""))
            if d["decision"] not in NON_FIRED:
                evidence.append("%s: unknown decision" % what)
                continue
            if not d.get("reason"):
                evidence.append("%s: no reason recorded" % what)
            decided = parseInstant(d.get("decided_at"))
            if decided is None:
                unknown.append("%s: no decided_at" % what)
                continue
            if d["decision"] == "missed":
                evidence += judgeMissed(what, trig, f, l, decided, grace, merged)
                continue
            if d["decision"] == "coalesced" and not l < decided:
                evidence.append("%s: decided at %s, before its instants were due (only past-due "
                                "instants coalesce)" % (what, fmtInstant(decided)))
            if d["decision"] == "skipped" and job.get("overlap") == "queue-one" \
                    and d.get("reason") == QUEUE_FULL:
                continue                 # the policy itself: one run active, one queued
            outside = [t for t in trig.between(f - 1, l)
                       if not allowedNonFired(t, windows, leaders)[0]]
            if outside:
                evidence.append("%s: %d instants outside every fault window (from %gs before "
                                "it until %gs after a leader exists again): %s"
                                % (what, len(outside), PRE_S, AFTER_LEADER_S,
                                   fmtRanges(outside)))
    return verdictOf(evidence, unknown), evidence + unknown


def mergeSpans(spans):
    """Spans [(lo, hi)] (us), overlapping ones joined, sorted."""
    spans = sorted(spans)
    out = []
    for lo, hi in spans:
        if out and lo <= out[-1][1]:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return [tuple(x) for x in out]


def covered(merged, lo, hi):
    return any(a <= lo and hi <= b for a, b in merged)


def judgeMissed(what, trig, first, last, decided, grace, merged):
    """A MISSED instant t: the leader decided it more than the grace after t (by the clock it
    wrote into the entry, decided_at: the policy's own input), and faults cover the whole grace
    [t, t + grace] (each fault's excuseSpan): had the cluster been whole for a moment of it, a
    leader would have fired t within its grace."""
    out = []
    if not decided - last > grace:
        out.append("%s: decided at %s, %.3f s after its last instant, within the misfire grace "
                   "%s: it should have fired" % (what, fmtInstant(decided), (decided - last) / US,
                                                 fmtGrace(grace)))
    bare = [t for t in trig.between(first - 1, last) if not covered(merged, t, t + grace)]
    if bare:
        out.append("%s: %d instants whose grace [instant, instant + %s] no fault window covers "
                   "(from %gs before a fault until %gs after a leader exists again, widened by "
                   "clock offsets): %s" % (what, len(bare), fmtGrace(grace), PRE_S,
                                           AFTER_LEADER_S, fmtRanges(bare)))
    return out


def fmtGrace(us):
    return "none" if us == INF else "%gs" % (us / US)


def boundsText(windows):
    return ("a MISSED, COALESCED or SKIPPED instant must lie within [begin - %gs - |clock offset|"
            ", L + %gs + |clock offset|] of one of %d fault windows, L = when a leader existed "
            "again (the end, or a scheduler activation up to %gs after it); a transfer ends when "
            "it begins" % (PRE_S, AFTER_LEADER_S, len(windows), ELECTION_S))


# -- lateness ----------------------------------------------------------------------------------

def percentile(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    k = max(0, min(len(xs) - 1, int(-(-p * len(xs) // 100)) - 1))
    return xs[k]


def lateness(execs, windows, queued=(), created=None):
    """Execution start (real clock) minus scheduled instant, of first attempts, per phase; not
    of queue-one jobs, whose runs wait for the one before by design."""
    out = {}
    if not execs:
        return out
    created = created or {}
    for phase in ("quiet", "faulty"):
        xs = [e["start"] - e["sched"] / US for e in execs
              if e["attempt"] == 1 and e["job"] not in queued and
              inFaultPhase(e["sched"], windows, created.get(e["job"])) == (phase == "faulty")]
        out[phase] = {"n": len(xs), "p50_ms": ms(percentile(xs, 50)),
                      "p99_ms": ms(percentile(xs, 99)), "max_ms": ms(max(xs) if xs else None),
                      "early": sum(1 for x in xs if x < 0)}
    out["retried_executions"] = sum(1 for e in execs if e["attempt"] > 1)
    return out


def ms(x):
    return None if x is None else round(x * 1000, 3)


def checkedInstants(jobs, paused, firing):
    """{firing job: its instants in (creation, pause - LIVENESS_S]}: what it had to decide."""
    out = {}
    for key in firing:
        job = jobs.get(key)
        if job is None or key not in paused or Trigger(job).why:
            continue
        trig = Trigger(job)
        out[key] = trig.between(trig.created, toUs(paused[key] - LIVENESS_S))
    return out


def clockSilenced(t_s, windows):
    """Whether a clock fault may have kept instant t_s from firing at all: a leader whose clock
    is behind decides nothing until its clock reaches the cursor, one ahead by d decides the
    next d seconds at once (most MISSED or COALESCED), and nothing fires until real time
    catches up with the cursor it left."""
    return any(w["kind"] == "clock" and w["begin"] - QUIET_S <= t_s
               <= w["end"] + max(w.get("offset", w["off"]), 0) + QUIET_S for w in windows)


def executionFloor(execs, expected, windows):
    """Checks 2 and 3 judge a run only if it executed enough: every firing job at least once,
    and ACTIVITY_SHARE of the firing jobs' instants that no clock fault may have silenced
    (clockSilenced). Returns why not, or None; and the numbers, for the report."""
    if not expected:
        return "no firing job to judge (none in the history, the final list and the pauses)", ""
    done = {(e["job"], e["sched"]) for e in execs or [] if e["job"] in expected}
    fireable = [(k, t) for k, ts in expected.items() for t in ts
                if not clockSilenced(t / US, windows)]
    ran = sum(1 for x in fireable if x in done)
    need = int(ACTIVITY_SHARE * len(fireable) + 0.999999)
    text = ("floor: %d of %d firing-job instants that no clock fault silenced executed (at "
            "least %d); "
            "every firing job at least once" % (ran, len(fireable), need))
    idle = [k for k in sorted(expected) if not any(j == k for j, _ in done)]
    if idle:
        return "firing jobs that never executed: %s" % ", ".join(idle), text
    if ran < need:
        return ("only %d of the %d firing-job instants that no clock fault touched were "
                "executed: fewer than the floor %d (%g of them)"
                % (ran, len(fireable), need, ACTIVITY_SHARE)), text
    return None, text


def checkLateness(execs, windows, expected, leaders=(), queued=(), created=None):
    """Check 8: quiet-phase first attempts start within LATE_BOUND_S of their instant, and no
    execution starts before its instant unless a clock fault explains it. The lateness bound is
    judged when the firing jobs have QUIET_MIN_S quiet instants; its floor: ACTIVITY_SHARE of
    them executed. created: {job: creation (harness seconds)}, for widening()."""
    if execs is None:
        return "unknown", ["no records directory: the executions were not recorded"], []
    evidence, unknown, info = [], [], []
    for e in execs:
        if e["start"] < e["sched"] / US - EARLY_TOL_S and not clockTouches(e["start"], windows) \
                and not clockTouches(e["sched"] / US, windows):
            evidence.append("%s instant %s attempt %d started %.3f s early on node %d (run %d, "
                            "%s), no clock fault near" % (e["job"], fmtInstant(e["sched"]),
                                                          e["attempt"], e["sched"] / US - e["start"],
                                                          e["node"], e["run"], e["where"]))
    created = created or {}
    quiet = {(k, t) for k, ts in expected.items() if k not in queued for t in ts
             if not inFaultPhase(t, windows, created.get(k))}
    if len(quiet) < QUIET_MIN_S:
        info.append("lateness bound not judged: the firing jobs have %d quiet instants, fewer "
                    "than %g" % (len(quiet), QUIET_MIN_S))
        return verdictOf(evidence, unknown), evidence + unknown, info
    # A queue-one job's runs start when the one before ends, by design: check 9 judges them.
    first = [e for e in execs if e["attempt"] == 1 and e["job"] not in queued
             and not inFaultPhase(e["sched"], windows, created.get(e["job"]))]
    for e in sorted(first, key=lambda e: e["sched"] / US - e["start"]):
        late = e["start"] - e["sched"] / US
        if late > LATE_BOUND_S:
            evidence.append("%s instant %s started %.3f s late in a quiet phase (bound %g s): %s"
                            % (e["job"], fmtInstant(e["sched"]), late, LATE_BOUND_S,
                               lateContext(e, windows, leaders)))
    ran = len({(e["job"], e["sched"]) for e in first} & quiet)
    need = int(ACTIVITY_SHARE * len(quiet) + 0.999999)
    info.append("%d first attempts in quiet phases judged; floor: %d of %d quiet firing-job "
                "instants executed (at least %d)" % (len(first), ran, len(quiet), need))
    if ran < need:
        unknown.append("only %d of %d quiet firing-job instants executed: fewer than the floor %d"
                       % (ran, len(quiet), need))
    return verdictOf(evidence, unknown), evidence + unknown, info


def checkOverlap(jobs, ledger, execs, ends, windows, created=None):
    """Check 9, on the jobs whose runs outlast their period (workload FIRING, records of their
    ends in records/nodeN.txt.end), for instants in quiet phases:
      replace    a run cancelled as replaced by a newer run never records its end: its process
                 was killed (it sleeps 3 s past the replacement);
      queue-one  no two runs of the job overlap: each starts after the one before recorded its
                 end (max one active, the next queued behind it).
    Floor: with such jobs in the final list, one replaced run and one queued pair judged, over
    all jobs of the policy (a clock fault may leave some without a quiet instant)."""
    if execs is None or ends is None:
        return "unknown", ["no records directory: the executions were not recorded"], []
    evidence, unknown, info = [], [], []
    created = created or {}
    by_policy = {}
    ended = {(e["run"], e["attempt"]): e for e in ends}
    for key, job in sorted(jobs.items()):
        policy = job.get("overlap")
        if policy not in ("replace", "queue-one"):
            continue
        mine = [e for e in execs if e["job"] == key]
        made = created.get(key)
        judged = 0
        if policy == "replace":
            runs = ledger.get(key, JobLedger()).runs
            for e in mine:
                # Quiet from the instant to well past the end the run would have reached.
                if not quietSpan(e["sched"] / US, e["start"] + REPLACE_RUN_S + 1, windows, made):
                    continue
                got = runs.get(e["run"])
                if got is None or got[1]["state"] != "cancelled" or \
                        got[1].get("end_reason") != REPLACED:
                    continue
                judged += 1
                end = ended.get((e["run"], e["attempt"]))
                if end is not None:
                    evidence.append("%s run %d (%s) was replaced by a newer run (cancelled), but "
                                    "its process ran to its end at %.3f on node %d (%s): it was "
                                    "not killed" % (key, e["run"], fmtInstant(e["sched"]),
                                                    end["start"], end["node"], end["where"]))
            info.append("%s: %d replaced runs judged" % (key, judged))
        else:
            mine.sort(key=lambda e: e["start"])
            for a, b in zip(mine, mine[1:]):
                end = ended.get((a["run"], a["attempt"]))
                if end is None or a["run"] == b["run"] or \
                        not quietSpan(a["sched"] / US, max(b["start"], end["start"]), windows,
                                      made):
                    continue
                judged += 1
                if b["start"] < end["start"]:
                    evidence.append("%s run %d (%s) started at %.3f on node %d, before run %d (%s) "
                                    "ended at %.3f on node %d: queue-one ran two at once"
                                    % (key, b["run"], fmtInstant(b["sched"]), b["start"], b["node"],
                                       a["run"], fmtInstant(a["sched"]), end["start"],
                                       end["node"]))
            info.append("%s: %d consecutive runs judged" % (key, judged))
        by_policy[policy] = by_policy.get(policy, 0) + judged
    for policy, judged in sorted(by_policy.items()):
        if judged == 0:
            unknown.append("%s jobs: nothing judged in quiet phases (floor: 1)" % policy)
    if not info:
        info.append("no replace or queue-one job in the final list: not judged")
    return verdictOf(evidence, unknown), evidence + unknown, info


def lateContext(e, windows, leaders):
    """Where a late start happened: the node it ran on, its run and fence, the active
    scheduler (leader) at the instant by the node logs, and the faults around the instant."""
    lead = [n for t, n in leaders if t <= e["sched"] / US]
    near = [w for w in windows
            if w["begin"] - 30 - w["off"] <= e["sched"] / US <= w["end"] + 30 + w["off"]]
    near.sort(key=lambda w: abs(w["begin"] - e["sched"] / US))
    return "ran on node %d (run %d fence %d, %s); scheduler on node %s; faults within 30 s: %s" % (
        e["node"], e["run"], e["fence"], e["where"], lead[-1] if lead else "?",
        "; ".join(describeWindow(w) for w in near[:4]) or "none")


def worstFaulty(execs, windows, leaders, queued=(), n=WORST_CASES):
    """The latest first attempts of the faulty phase, with the faults that explain them."""
    xs = [e for e in execs or [] if e["attempt"] == 1 and e["job"] not in queued
          and inFaultPhase(e["sched"], windows)]
    xs.sort(key=lambda e: e["sched"] / US - e["start"])
    return ["%s %s: %.3f s late; %s" % (e["job"], fmtInstant(e["sched"]),
                                        e["start"] - e["sched"] / US,
                                        lateContext(e, windows, leaders)) for e in xs[:n]]


def schedulerStarts(run_dir):
    """[(time, node)]: when each node's scheduler became active (it is the leader's), from the
    node logs ("scheduler active"; a node's log time is its own clock, faked or not)."""
    out = []
    for name in sorted(os.listdir(run_dir)):
        m = re.fullmatch(r"node(\d+)\.log", name)
        if not m:
            continue
        with open(os.path.join(run_dir, name), errors="replace") as f:
            for line in f:
                if "scheduler active" in line:
                    ts = re.match(r"ts=(\S+)", line)
                    us = parseInstant(ts.group(1)) if ts else None
                    if us is not None:
                        out.append((us / US, int(m.group(1))))
    return sorted(out)


# -- check 5 -----------------------------------------------------------------------------------

def mayFollow(later, earlier):
    """True when `later` can be ordered after `earlier` in real time: it did not complete
    before `earlier` began. An indeterminate operation never completes."""
    end = later["complete"] if later["outcome"] == "ok" else INF
    return end > earlier["invoke"]


def checkWrites(history, final_list):
    if final_list is None:
        return "unknown", ["the final job list could not be read, nothing to compare with"]
    ops = [o for o in history if o["type"] in ("add", "update", "delete")]
    by_id = {o["id"]: o for o in ops}
    writes_of = {}
    for o in ops:
        writes_of.setdefault(o["job"], []).append(o)
    final = {jobKey(j): j for j in final_list.get("jobs", [])}
    evidence = []
    for job in sorted(set(writes_of) | set(final)):
        evidence += judgeJob(job, writes_of.get(job, []), final.get(job), by_id)
    return ("invalid" if evidence else "valid"), evidence


def judgeJob(job, ops, present, by_id):
    acked = [o for o in ops if o["outcome"] == "ok"]
    if present is not None:
        desc = present.get("description", "")
        m = re.fullmatch(r"op-(\d+)", desc)
        src = by_id.get(int(m.group(1))) if m else None
        if src is None or src["job"] != job or src["type"] == "delete":
            return ["%s is present (version %s, description %r) but no client operation wrote "
                    "it" % (job, present.get("version"), desc)]
        if src["outcome"] == "fail":
            return ["%s holds the write of op %d (%s), which was rejected: %s"
                    % (job, src["id"], src["type"], src["error"])]
        lost = [w for w in acked if w is not src and not mayFollow(src, w)]
        return ["%s: acknowledged op %d (%s, completed %.3f) is lost: the job holds op %d (%s, "
                "%s, invoked %.3f, completed %.3f), which finished before op %d began"
                % (job, w["id"], w["type"], w["complete"], src["id"], src["type"],
                   src["outcome"], src["invoke"], src["complete"], w["id"]) for w in lost]
    deletes = [o for o in ops if o["type"] == "delete" and o["outcome"] != "fail"]
    puts = [w for w in acked if w["type"] != "delete"]
    if not puts:
        return []
    last_put = max(puts, key=lambda w: w["invoke"])
    if any(mayFollow(d, last_put) for d in deletes):
        return []
    return ["%s is absent, but acknowledged op %d (%s, invoked %.3f, completed %.3f) was never "
            "followed by a delete that could have removed it"
            % (job, last_put["id"], last_put["type"], last_put["invoke"], last_put["complete"])]


# -- check 6 -----------------------------------------------------------------------------------

def checkDigests(nodes):
    if not nodes:
        return "unknown", ["no node reported a digest"]
    evidence = []
    seen = {}
    for n, rep in sorted(nodes.items(), key=lambda kv: int(kv[0])):
        d = rep.get("digest")
        if d is None:
            evidence.append("node %s reported no digest: %s" % (n, rep.get("error")))
            continue
        seen[n] = (d["digest"], d["applied_index"])
    if len(set(seen.values())) > 1:
        evidence.append("digests differ: " + ", ".join(
            "node %s %s@%s" % (n, dg, ix) for n, (dg, ix) in sorted(seen.items())))
    tables = {n: sorted((jobKey(j), j.get("version"), j.get("description"))
                        for j in rep["list"]["jobs"])
              for n, rep in nodes.items() if rep.get("list") is not None}
    if len({json.dumps(t) for t in tables.values()}) > 1:
        evidence.append("job tables differ between nodes: " + json.dumps(tables))
    return ("invalid" if evidence else "valid"), evidence


# -- check 7 -----------------------------------------------------------------------------------

def checkCrashes(run_dir, processes):
    evidence = []
    for ev in processes:
        if ev.get("event") == "exit" and not ev.get("expected"):
            evidence.append("node %s (pid %s) exited on its own with status %s"
                            % (ev["node"], ev["pid"], ev["status"]))
        if ev.get("event") == "exit" and ev.get("expected") and ev.get("graceful") \
                and ev["status"] != 0:
            evidence.append("node %s (pid %s) exited with status %s after SIGTERM"
                            % (ev["node"], ev["pid"], ev["status"]))
        if ev.get("event") == "stop-timeout":
            evidence.append("node %s (pid %s) did not stop within 15 s of SIGTERM"
                            % (ev["node"], ev["pid"]))
    pattern = re.compile("|".join(CRASH_PATTERNS))
    logs = sorted(f for f in os.listdir(run_dir) if re.fullmatch(r"node\d+\.log", f))
    for name in logs:
        with open(os.path.join(run_dir, name), errors="replace") as f:
            for i, line in enumerate(f, 1):
                if pattern.search(line):
                    evidence.append("%s:%d: %s" % (name, i, line.rstrip()[:300]))
    if not logs:
        return "unknown", ["no node logs found"]
    # Floor: every process the harness started left a log and was seen to end.
    unknown = []
    started = {ev["pid"]: ev["node"] for ev in processes if ev.get("event") == "start"}
    ended = {ev["pid"] for ev in processes if ev.get("event") == "exit"}
    if not started:
        unknown.append("processes.jsonl records no node start")
    for node in sorted(set(started.values())):
        path = os.path.join(run_dir, "node%d.log" % node)
        if not os.path.exists(path) or os.path.getsize(path) == 0:
            unknown.append("node %d started but left no log" % node)
    unknown += ["node %s (pid %s) started, but its end was not recorded" % (n, pid)
                for pid, n in sorted(started.items()) if pid not in ended]
    return verdictOf(evidence, unknown), evidence + unknown


# -- verdict -----------------------------------------------------------------------------------

NAMES = {
    "1": "one decision per (job, instant), none missing",
    "2": "no (job, instant, attempt) executed twice; retries only after a committed retry; "
         "fences increase",
    "3": "every claimed run executed (or ended with a reason), none in flight at the end; "
         "nothing ran without a claim",
    "4": "MISSED/COALESCED/SKIPPED only near faults; every other instant FIRED",
    "5": "acknowledged job writes survive, rejected ones never appear",
    "6": "equal FSM digests after healing",
    "7": "no crash outside the nemesis's kills",
    "8": "runs start on time in quiet phases (within %gs), never before their instant" % (
        LATE_BOUND_S),
    "9": "overlap in quiet phases: a replaced run's process is killed; a queued run starts "
         "after the active one ended",
}


class Run:
    """Everything the checker reads from one run directory."""

    def __init__(self, run_dir):
        self.dir = run_dir
        self.history = readJsonl(os.path.join(run_dir, "history.jsonl"))
        self.final = {}
        path = os.path.join(run_dir, "final.json")
        if os.path.exists(path):
            with open(path) as f:
                self.final = json.load(f)
        self.processes = readJsonl(os.path.join(run_dir, "processes.jsonl"))
        self.snapshots = readJsonl(os.path.join(run_dir, "ledger.jsonl"))
        self.ledger = buildLedger(self.snapshots)
        self.nemesis = readJsonl(os.path.join(run_dir, "nemesis.jsonl"))
        self.windows = faultWindows(self.nemesis)
        self.execs, self.bad_records = readRecords(run_dir)
        self.ends, bad_ends = readRecords(run_dir, ".txt.end")
        self.bad_records += bad_ends
        lst = self.final.get("list")
        self.jobs = {jobKey(j): j for j in lst.get("jobs", [])} if lst else {}
        self.paused = {p["job"]: p["invoke"] for p in self.final.get("paused", [])}
        deleted = {o["job"] for o in self.history
                   if o["type"] == "delete" and o["outcome"] != "fail"}
        self.never_deleted = set(self.jobs) - deleted
        self.firing = sorted({o["job"] for o in self.history if o.get("process") == "firing"})
        self.expected = checkedInstants(self.jobs, self.paused, self.firing)


def check(run_dir):
    r = Run(run_dir)
    results = {}
    have_ledger = bool(r.snapshots)
    leaders = schedulerStarts(run_dir)

    def put(k, verdict, evidence, info=()):
        results[k] = {"name": NAMES[k], "verdict": verdict, "evidence": evidence,
                      "info": list(info)}

    def floor(verdict, evidence, why):
        """A check whose run fell below its floor is unknown (unless already invalid)."""
        if why is None:
            return verdict, evidence
        return ("invalid" if verdict == "invalid" else "unknown"), evidence + [why]

    activity = {}
    if not have_ledger:
        put("1", "unknown", ["no ledger.jsonl: the ledger was not collected"])
        put("4", "unknown", ["no ledger.jsonl: the ledger was not collected"])
    elif r.final.get("list") is None:
        put("1", "unknown", ["no final job list"])
        put("4", "unknown", ["no final job list"])
    else:
        v, e = checkDecisions(r.jobs, r.ledger, r.paused, r.firing, activity)
        v, e = floor(v, e, None if r.firing else "no firing job in the history: nothing ran "
                     "long enough to judge")
        put("1", v, e, ["%d jobs, %d instants from creation to cursor; %d decision records; "
                        "floor: each of the %d firing jobs decided one instant per period "
                        "from its creation to its pause, less %g s"
                        % (len(r.jobs), activity.get("instants", 0),
                           sum(len(r.ledger[k].decisions) for k in r.jobs if k in r.ledger),
                           len(r.firing), LIVENESS_S + 1)])
        v, e = checkMisses(r.jobs, r.ledger, r.windows, leaders)
        v, e = floor(v, e, None if r.expected else "no firing job's instants to judge")
        put("4", v, e, [boundsText(r.windows)] + ["  " + describeWindow(w)
                                                    for w in r.windows[:12]]
            + (["  ... %d more in results.json" % (len(r.windows) - 12)]
               if len(r.windows) > 12 else []))
    short, floor_text = executionFloor(r.execs, r.expected, r.windows)
    v, e = checkExecutions(r.execs, r.ledger, r.windows)
    if r.bad_records:
        e = e + ["malformed record line: " + b for b in r.bad_records]
        v = "invalid" if v == "invalid" else "unknown"
    v, e = floor(v, e, short)
    execs = r.execs or []
    put("2", v, e, ["%d executions recorded on %d nodes, %d of them retries"
                    % (len(execs), len({x["node"] for x in execs}),
                       sum(1 for x in execs if x["attempt"] > 1)), floor_text])
    if not have_ledger:
        put("3", "unknown", ["no ledger.jsonl: the ledger was not collected"])
    else:
        v, e = checkRuns(r.execs, r.ledger, r.jobs, r.never_deleted, r.windows)
        v, e = floor(v, e, short)
        states, reasons = {}, {}
        for k in r.jobs:
            for _, run, _ in r.ledger.get(k, JobLedger()).runs.values():
                states[run["state"]] = states.get(run["state"], 0) + 1
                if run["state"] in ("dead", "cancelled"):
                    why = "%s: %s" % (run["state"], run.get("end_reason") or run.get("error"))
                    reasons[why] = reasons.get(why, 0) + 1
        info = ["runs of the jobs at the end: " + (", ".join(
            "%s=%d" % kv for kv in sorted(states.items())) or "none"), floor_text]
        info += ["%d %s" % (n, why) for why, n in sorted(reasons.items())]
        early = [x for x in e if "not yet due" in x]
        if early:
            info.append("%d runs claimed early by a leader whose clock was ahead, not yet due "
                        "at the end (not judged); e.g. %s" % (len(early), early[0]))
        put("3", v, e, info)
    v, e = checkWrites(r.history, r.final.get("list"))
    if r.final.get("list") is None and r.final.get("list_error"):
        e.append(r.final["list_error"])
    short, text = writeFloor(r.history)
    v, e = floor(v, e, short)
    put("5", v, e, [text])
    v, e = checkDigests(r.final.get("nodes", {}))
    missing = sorted(set(str(n) for n in r.final.get("members", [])) -
                     set(r.final.get("nodes", {})))
    v, e = floor(v, e, "members that reported nothing: %s" % ", ".join(missing)
                 if missing else None)
    put("6", v, e)
    v, e = checkCrashes(run_dir, r.processes)
    put("7", v, e)
    queued = {k for k, j in r.jobs.items() if j.get("overlap") == "queue-one"}
    # When the firing jobs were made, by the harness's clock: the invoke of their add, a lower
    # bound that no skewed leader's clock (which stamps `created`) can move.
    created = {o["job"]: o["invoke"] for o in r.history
               if o.get("process") == "firing" and o["type"] == "add"}
    v, e, info = checkLateness(r.execs, r.windows, r.expected, leaders, queued, created)
    put("8", v, e, info)
    v, e, info = checkOverlap(r.jobs, r.ledger, r.execs, r.ends, r.windows, created)
    put("9", v, e, info)
    judged = [x["verdict"] for x in results.values()]
    if "invalid" in judged:
        overall = "invalid"
    elif "unknown" in judged:
        overall = "unknown"
    else:
        overall = "valid"
    counts = {}
    for o in r.history:
        key = "%s %s" % (o["type"], o["outcome"])
        counts[key] = counts.get(key, 0) + 1
    return {"valid": overall, "checks": results, "operations": counts,
            "lateness": lateness(execs, r.windows, queued, created),
            "worst_faulty": worstFaulty(execs, r.windows, leaders, queued),
            "windows": r.windows, "notes": r.final.get("notes", [])}


def writeFloor(history):
    """Check 5 judges a run only if the clients got writes acknowledged: WRITE_RATE a second of
    the workload at least, and (over 10 s or more) an add, an update and a delete."""
    ops = [o for o in history if o["type"] in ("add", "update", "delete")]
    if not ops:
        return "no job write in the history", "floor: no write"
    span = max(o["complete"] for o in ops) - min(o["invoke"] for o in ops)
    acked = [o for o in ops if o["outcome"] == "ok"]
    need = max(1, int(WRITE_RATE * span))
    kinds = {o["type"] for o in acked}
    text = ("floor: %d writes acknowledged in %.0f s of workload (at least %d; of each kind "
            "over 10 s)" % (len(acked), span, need))
    if len(acked) < need:
        return "only %d writes acknowledged in %.0f s: fewer than the floor %d" % (
            len(acked), span, need), text
    if span >= 10 and kinds != {"add", "update", "delete"}:
        return "no acknowledged %s in %.0f s of workload" % (
            " or ".join(sorted({"add", "update", "delete"} - kinds)), span), text
    return None, text


def report(res, out=None, max_evidence=20):
    out = out or sys.stdout
    for k in sorted(res["checks"], key=int):
        r = res["checks"][k]
        out.write("check %s (%s): %s\n" % (k, r["name"], r["verdict"]))
        for line in r.get("info", []):
            out.write("    %s\n" % line)
        if r["verdict"] != "valid":
            ev = [x for x in r["evidence"] if x not in r.get("info", [])]
            for line in ev[:max_evidence]:
                out.write("    %s\n" % line)
            if len(ev) > max_evidence:
                out.write("    ... %d more in results.json\n" % (len(ev) - max_evidence))
    lat = res.get("lateness") or {}
    for phase in ("quiet", "faulty"):
        x = lat.get(phase)
        if x and x["n"]:
            out.write("fire lateness, %s (first attempts, real clock): n=%d p50=%s ms p99=%s ms "
                      "max=%s ms%s\n" % (phase, x["n"], x["p50_ms"], x["p99_ms"], x["max_ms"],
                                         ", %d early" % x["early"] if x["early"] else ""))
    worst = res.get("worst_faulty") or []
    if worst:
        out.write("latest first attempts of the faulty phase, with the faults around them:\n")
        for line in worst:
            out.write("    %s\n" % line)
    if lat:
        out.write("retried executions: %d\n" % lat.get("retried_executions", 0))
    out.write("operations: %s\n" % ", ".join(
        "%s=%d" % kv for kv in sorted(res["operations"].items())))
    out.write("%s\n" % res["valid"])


# -- timeline ----------------------------------------------------------------------------------

COLORS = {"partition": "#ff9900", "kill": "#d62728", "pause": "#1f77b4", "clock": "#2ca02c",
          "member": "#9467bd"}
FLOOR_MS = 0.1


def plot(run_dir, res=None):
    """timeline.png: fault windows shaded, executions as points (lateness on a log y axis),
    non-FIRED instants as marks at the bottom. Returns what it did, for the log."""
    if shutil.which("gnuplot") is None:
        return "gnuplot not found: no timeline.png (install gnuplot-nox to get one)"
    r = Run(run_dir)
    execs = r.execs or []
    starts = [o["invoke"] for o in r.history] + [w["begin"] for w in r.windows]
    if not execs or not starts:
        return "nothing executed: no timeline.png"
    t0 = min(starts)
    files = {k: open(os.path.join(run_dir, "timeline-%s.dat" % k), "w")
             for k in ("first", "retry", "early", "nonfired")}
    for e in execs:
        late = (e["start"] - e["sched"] / US) * 1000
        kind = "early" if late < FLOOR_MS else ("first" if e["attempt"] == 1 else "retry")
        files[kind].write("%.6f %.6f %d %d\n" % (e["sched"] / US - t0, max(late, FLOOR_MS),
                                                e["attempt"], e["node"]))
    for key, jl in sorted(r.ledger.items()):
        job = r.jobs.get(key)
        if job is None or Trigger(job).why:
            continue
        trig = Trigger(job)
        for d in jl.decisions.values():
            if d["decision"] in NON_FIRED:
                for t in trig.between(parseInstant(d["first"]) - 1, parseInstant(d["last"])):
                    files["nonfired"].write("%.6f %d\n" % (t / US - t0,
                                                           NON_FIRED.index(d["decision"])))
    for f in files.values():
        f.close()
    gp = ["set terminal pngcairo size 1600,700 font ',10'",
          "set output '%s'" % os.path.join(run_dir, "timeline.png"),
          "set title 'fire lateness (execution start, real clock, minus scheduled instant) "
          "and fault windows'",
          "set xlabel 'scheduled instant, seconds since the run began'",
          "set ylabel 'lateness (ms, log)'", "set logscale y", "set grid",
          "set key outside right top", "set yrange [%g:*]" % (FLOOR_MS * 0.4)]
    for i, w in enumerate(r.windows, 1):
        x0, x1 = w["begin"] - t0, max(w["end"] - t0, w["begin"] - t0 + 0.3)
        gp.append("set object %d rect from %.3f, graph 0 to %.3f, graph 1 behind "
                  "fc rgb '%s' fs transparent solid 0.18 noborder"
                  % (i, x0, x1, COLORS.get(w["kind"], "#888888")))
    series = []
    for kind, color in sorted(COLORS.items()):
        if any(w["kind"] == kind for w in r.windows):
            series.append("NaN with boxes fs solid 0.3 lc rgb '%s' title '%s'" % (color, kind))
    dat = lambda k: "'%s'" % os.path.join(run_dir, "timeline-%s.dat" % k)  # noqa: E731
    series += [
        "%s using 1:2 with points pt 7 ps 0.35 lc rgb 'black' title 'first attempt'"
        % dat("first"),
        "%s using 1:2 with points pt 9 ps 0.8 lc rgb 'red' title 'retry'" % dat("retry"),
        "%s using 1:2 with points pt 11 ps 0.8 lc rgb 'blue' title 'early (at the floor)'"
        % dat("early"),
    ]
    for i, (kind, pt) in enumerate(zip(NON_FIRED, (2, 1, 3))):
        series.append("%s using 1:($2 == %d ? %g : NaN) with points pt %d ps 0.7 lc rgb '%s' "
                      "title '%s instant'" % (dat("nonfired"), i, FLOOR_MS * (0.6 + 0.25 * i),
                                              pt, ("#cc00cc", "#008080", "#996600")[i], kind))
    gp.append("plot " + ", \\\n     ".join(series))
    script = os.path.join(run_dir, "timeline.gp")
    with open(script, "w") as f:
        f.write("\n".join(gp) + "\n")
    p = subprocess.run(["gnuplot", script], capture_output=True, text=True)
    if p.returncode != 0:
        return "gnuplot failed (%d): %s" % (p.returncode, p.stderr.strip()[:300])
    return "timeline: %s" % os.path.join(run_dir, "timeline.png")


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: checker.py RUN_DIR\n")
        return 2
    res = check(argv[1])
    with open(os.path.join(argv[1], "results.json"), "w") as f:
        json.dump(res, f, indent=1, sort_keys=True)
    report(res)
    print(plot(argv[1], res))
    return {"valid": 0, "invalid": 1}.get(res["valid"], 2)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
