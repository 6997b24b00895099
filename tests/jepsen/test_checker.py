#!/usr/bin/env python3
"""Unit tests of the checker on hand-written histories: each check must say valid where the
history allows it and invalid, with the evidence, where it does not. No cluster, no root."""
import contextlib
import io
import json
import os
import sys
import shutil
import tempfile
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checker  # noqa: E402

J = "jepsen/j0"


def op(i, kind, outcome, t0, t1, job=J, error=""):
    return {"id": i, "type": kind, "job": job, "outcome": outcome, "invoke": t0, "complete": t1,
            "error": error, "args": {}}


def listing(*jobs):
    return {"jobs": [{"namespace": j.split("/")[0], "name": j.split("/")[1], "version": v,
                      "description": d} for j, v, d in jobs]}


class Writes(unittest.TestCase):
    def verdict(self, history, final):
        return checker.checkWrites(history, final)

    def test_last_acknowledged_write_present(self):
        h = [op(1, "add", "ok", 0, 1), op(2, "update", "ok", 2, 3)]
        self.assertEqual(self.verdict(h, listing((J, 2, "op-2")))[0], "valid")

    def test_acknowledged_write_lost_to_an_earlier_one(self):
        h = [op(1, "add", "ok", 0, 1), op(2, "update", "ok", 2, 3)]
        v, ev = self.verdict(h, listing((J, 1, "op-1")))
        self.assertEqual(v, "invalid")
        self.assertIn("acknowledged op 2", ev[0])

    def test_concurrent_writes_either_may_win(self):
        h = [op(1, "update", "ok", 0, 5), op(2, "update", "ok", 1, 3)]
        self.assertEqual(self.verdict(h, listing((J, 3, "op-1")))[0], "valid")
        self.assertEqual(self.verdict(h, listing((J, 3, "op-2")))[0], "valid")

    def test_indeterminate_write_may_supersede_later_acks(self):
        h = [op(1, "update", "info", 0, 1), op(2, "update", "ok", 5, 6)]
        self.assertEqual(self.verdict(h, listing((J, 3, "op-1")))[0], "valid")

    def test_rejected_write_must_not_appear(self):
        h = [op(1, "add", "ok", 0, 1), op(2, "add", "fail", 2, 3, error="(ALREADY_EXISTS)")]
        v, ev = self.verdict(h, listing((J, 1, "op-2")))
        self.assertEqual(v, "invalid")
        self.assertIn("rejected", ev[0])

    def test_job_nobody_wrote(self):
        v, ev = self.verdict([], listing(("jepsen/x", 1, "op-99")))
        self.assertEqual(v, "invalid")
        self.assertIn("no client operation wrote it", ev[0])

    def test_absent_after_acknowledged_delete(self):
        h = [op(1, "add", "ok", 0, 1), op(2, "delete", "ok", 2, 3)]
        self.assertEqual(self.verdict(h, listing())[0], "valid")

    def test_absent_after_indeterminate_delete(self):
        h = [op(1, "add", "ok", 0, 1), op(2, "delete", "info", 2, 3)]
        self.assertEqual(self.verdict(h, listing())[0], "valid")

    def test_absent_without_delete_is_a_lost_write(self):
        h = [op(1, "add", "ok", 0, 1), op(2, "delete", "fail", 2, 3, error="(NOT_FOUND)")]
        v, ev = self.verdict(h, listing())
        self.assertEqual(v, "invalid")
        self.assertIn("absent", ev[0])

    def test_delete_that_finished_before_the_add_cannot_explain_absence(self):
        h = [op(1, "delete", "ok", 0, 1), op(2, "add", "ok", 2, 3)]
        self.assertEqual(self.verdict(h, listing())[0], "invalid")

    def test_acknowledged_delete_lost(self):
        h = [op(1, "add", "ok", 0, 1), op(2, "delete", "ok", 2, 3)]
        v, ev = self.verdict(h, listing((J, 1, "op-1")))
        self.assertEqual(v, "invalid")
        self.assertIn("op 2 (delete", ev[0])

    def test_no_final_list_is_unknown(self):
        self.assertEqual(self.verdict([op(1, "add", "ok", 0, 1)], None)[0], "unknown")


class Digests(unittest.TestCase):
    def node(self, digest, index, jobs=()):
        return {"digest": {"digest": digest, "applied_index": index}, "list": listing(*jobs)}

    def test_equal(self):
        nodes = {"1": self.node("aa", 7), "2": self.node("aa", 7)}
        self.assertEqual(checker.checkDigests(nodes)[0], "valid")

    def test_different_digest(self):
        nodes = {"1": self.node("aa", 7), "2": self.node("bb", 7)}
        v, ev = checker.checkDigests(nodes)
        self.assertEqual(v, "invalid")
        self.assertIn("digests differ", ev[0])

    def test_different_tables(self):
        nodes = {"1": self.node("aa", 7, [(J, 1, "op-1")]), "2": self.node("aa", 7)}
        self.assertEqual(checker.checkDigests(nodes)[0], "invalid")

    def test_missing_node(self):
        nodes = {"1": self.node("aa", 7), "2": {"digest": None, "list": None, "error": "down"}}
        self.assertEqual(checker.checkDigests(nodes)[0], "invalid")


class Crashes(unittest.TestCase):
    def run_dir(self, logs, processes):
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d, True)
        for name, text in logs.items():
            with open(os.path.join(d, name), "w") as f:
                f.write(text)
        with open(os.path.join(d, "processes.jsonl"), "w") as f:
            for p in processes:
                f.write(json.dumps(p) + "\n")
        return d

    def test_clean(self):
        d = self.run_dir({"node1.log": "ts=x level=info msg=started\n"},
                         [{"event": "start", "node": 1, "pid": 5},
                          {"event": "exit", "node": 1, "pid": 5, "status": -9, "expected": True}])
        self.assertEqual(checker.checkCrashes(d, checker.readJsonl(
            os.path.join(d, "processes.jsonl")))[0], "valid")

    def test_floor_every_started_node_logged_and_ended(self):
        start = {"event": "start", "node": 2, "pid": 6}
        d = self.run_dir({"node1.log": "ok\n"}, [start])
        v, ev = checker.checkCrashes(d, [start])
        self.assertEqual(v, "unknown")
        self.assertTrue(any("node 2 started but left no log" in e for e in ev), ev)
        self.assertTrue(any("its end was not recorded" in e for e in ev), ev)
        self.assertEqual(checker.checkCrashes(d, [])[0], "unknown")     # nothing started

    def test_sanitizer_report(self):
        d = self.run_dir({"node2.log": "==1==ERROR: AddressSanitizer: heap-use-after-free\n"}, [])
        v, ev = checker.checkCrashes(d, [])
        self.assertEqual(v, "invalid")
        self.assertIn("node2.log:1", ev[0])

    def test_unexpected_exit(self):
        d = self.run_dir({"node1.log": ""},
                         [{"event": "exit", "node": 1, "pid": 5, "status": 1, "expected": False}])
        self.assertEqual(checker.checkCrashes(d, checker.readJsonl(
            os.path.join(d, "processes.jsonl")))[0], "invalid")

    def test_graceful_stop_must_exit_zero(self):
        d = self.run_dir({"node1.log": ""}, [{"event": "exit", "node": 1, "pid": 5, "status": 23,
                                              "expected": True, "graceful": True}])
        self.assertEqual(checker.checkCrashes(d, checker.readJsonl(
            os.path.join(d, "processes.jsonl")))[0], "invalid")


# -- checks 1-4: hand-written ledgers, records and fault windows ---------------------------------

T = checker.parseInstant("2030-01-01T00:00:00Z")        # microseconds
TS = T / checker.US                                      # the same instant, harness seconds
F = "jepsen/fire-cron"


def iso(us):
    secs, frac = divmod(us, checker.US)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    return base + ("" if frac == 0 else ".%06d" % frac) + "Z"


def sec(k):
    return T + int(k * checker.US)


def job(key=F, cursor=5, created=0.5, grace="2s", **trigger):
    ns, name = key.split("/")
    j = {"namespace": ns, "name": name, "created": iso(sec(created)), "cursor": iso(sec(cursor)),
         "misfire_grace": grace, "paused": True}
    j.update(trigger or {"cron": "* * * * * *"})
    return j


def dec(i, kind, first, last=None, count=1, run_id=None, reason=None, decided=None):
    """decided (seconds after T) defaults to what a leader without faults would write: a FIRED
    or SKIPPED instant 0.1 s before it (lookahead), a COALESCED one 1 s after its last, a MISSED
    one 10 s after its last (beyond the tests' 2 s grace)."""
    last = first if last is None else last
    if decided is None:
        decided = {"missed": last + 10, "coalesced": last + 1}.get(kind, first - 0.1)
    return {"id": i, "job": F, "decision": kind, "first": iso(sec(first)), "last": iso(sec(last)),
            "count": count, "run_id": run_id or 0, "manual": False,
            "decided_at": iso(sec(decided)),
            "reason": reason if reason is not None else ("" if kind == "fired" else "why")}


def run(i, at, state="succeeded", attempt=1, fence=None, reason=""):
    return {"id": i, "job": F, "scheduled_at": iso(sec(at)), "state": state, "attempt": attempt,
            "worker": 1, "fence": fence or i, "manual": False, "end_reason": reason, "error": "",
            "wait_reason": ""}


def snap(what, records, job_key=F, final=True, limit=1000, t=TS + 100):
    return {"time": t, "what": what, "job": job_key, "limit": limit, "final": final,
            "output": {what: records}, "error": None}


def ledger(decisions=(), runs=(), **kw):
    return checker.buildLedger([snap("decisions", list(decisions), **kw),
                                snap("runs", list(runs), **kw)])


def ex(run_id, at, attempt=1, fence=None, node=1, late=0.01, job_key=F):
    return {"job": job_key, "sched": sec(at), "attempt": attempt, "run": run_id,
            "fence": fence or run_id, "node": node, "start": TS + at + late,
            "where": "records/node%d.txt:%d" % (node, run_id)}


def fired(ks):
    """FIRED decisions and their succeeded runs for instants T+k, with the executions."""
    ds = [dec(k, "fired", k, run_id=k) for k in ks]
    rs = [run(k, k) for k in ks]
    return ds, rs, [ex(k, k) for k in ks]


def window(kind, begin, end, **kw):
    w = {"kind": kind, "fault": kw.pop("fault", None), "node": kw.pop("node", 1),
         "begin": TS + begin, "end": TS + end, "off": kw.pop("off", 0)}
    return w


class Decisions(unittest.TestCase):
    def verdict(self, decisions, j=None, paused=6.0, **kw):
        jobs = {F: j or job()}
        return checker.checkDecisions(jobs, ledger(decisions, **kw), {F: TS + paused})

    def test_one_decision_per_instant(self):
        ds, _, _ = fired([1, 2, 3, 4, 5])
        self.assertEqual(self.verdict(ds), ("valid", []))

    def test_missing_decision(self):
        ds, _, _ = fired([1, 2, 4, 5])
        v, ev = self.verdict(ds)
        self.assertEqual(v, "invalid")
        self.assertIn("1 instants in (creation", ev[0])
        self.assertIn("have no decision: 00:00:03", ev[0])

    def test_two_decisions_for_one_instant(self):
        ds, _, _ = fired([1, 2, 3, 4, 5])
        ds.append(dec(9, "missed", 3))
        v, ev = self.verdict(ds)
        self.assertEqual(v, "invalid")
        self.assertIn("instant 00:00:03 has 2 decisions", ev[0])

    def test_ranges_cover_their_instants(self):
        ds = [dec(1, "fired", 1, run_id=1), dec(2, "coalesced", 2, 4, count=3),
              dec(3, "fired", 5, run_id=3)]
        self.assertEqual(self.verdict(ds)[0], "valid")

    def test_range_with_a_wrong_count(self):
        ds = [dec(1, "fired", 1, run_id=1), dec(2, "coalesced", 2, 4, count=2),
              dec(3, "fired", 5, run_id=3)]
        v, ev = self.verdict(ds)
        self.assertEqual(v, "invalid")
        self.assertIn("covers 3 instants of the trigger, not 2", ev[0])

    def test_cursor_stopped_before_the_pause(self):
        ds, _, _ = fired([1, 2, 3])
        v, ev = self.verdict(ds, j=job(cursor=3), paused=10.0)
        self.assertEqual(v, "invalid")
        self.assertIn("the cursor stopped at 00:00:03", ev[0])
        self.assertIn("5 instants due by then", ev[0])

    def test_decision_after_the_cursor(self):
        ds, _, _ = fired([1, 2, 3, 4, 5, 6])
        v, ev = self.verdict(ds, paused=7.0)
        self.assertEqual(v, "invalid")
        self.assertIn("after the job's cursor", ev[0])

    def test_every_is_anchored_at_the_creation(self):
        j = job(every="1s", cursor=3.5)                   # instants 1.5, 2.5, 3.5
        ds = [dec(1, "fired", 1.5, run_id=1), dec(2, "fired", 2.5, run_id=2),
              dec(3, "fired", 3.5, run_id=3)]
        self.assertEqual(self.verdict(ds, j=j, paused=5.0)[0], "valid")
        ds[1] = dec(2, "fired", 2.0, run_id=2)
        v, ev = self.verdict(ds, j=j, paused=5.0)
        self.assertEqual(v, "invalid")
        self.assertTrue(any("names an instant the trigger does not" in e for e in ev))

    def test_truncated_listing_is_not_a_gap(self):
        ds, _, _ = fired([3, 4, 5])                        # 1 and 2 fell off a full listing
        v, ev = self.verdict(ds, limit=3)
        self.assertEqual(v, "unknown")
        self.assertIn("no reading covered them", ev[0])

    def test_floor_firing_job_missing_or_not_paused(self):
        ds, _, _ = fired([1, 2, 3, 4, 5])
        jobs = {F: job()}
        v, ev = checker.checkDecisions(jobs, ledger(ds), {F: TS + 6.0}, firing=[F, "jepsen/x"])
        self.assertEqual(v, "invalid")
        self.assertIn("firing job jepsen/x is not in the final job list", ev[0])
        v, ev = checker.checkDecisions(jobs, ledger(ds), {}, firing=[F])
        self.assertEqual(v, "unknown")
        self.assertIn("no pause was recorded", ev[0])
        activity = {}
        self.assertEqual(checker.checkDecisions(jobs, ledger(ds), {F: TS + 6.0}, firing=[F],
                                                activity=activity)[0], "valid")
        self.assertEqual(activity["instants"], 5)

    def test_earlier_snapshot_fills_the_gap(self):
        ds, _, _ = fired([1, 2, 3, 4, 5])
        snaps = [snap("decisions", ds[:3], final=False, limit=3, t=TS + 3.5),
                 snap("decisions", ds[2:], limit=3)]
        v, _ = checker.checkDecisions({F: job()}, checker.buildLedger(snaps), {F: TS + 6})
        self.assertEqual(v, "valid")


class Executions(unittest.TestCase):
    def test_once_each(self):
        _, rs, es = fired([1, 2, 3])
        self.assertEqual(checker.checkExecutions(es, ledger(runs=rs)), ("valid", []))

    def test_same_attempt_executed_twice(self):
        _, rs, es = fired([1, 2, 3])
        es.append(ex(2, 2, node=4))
        v, ev = checker.checkExecutions(es, ledger(runs=rs))
        self.assertEqual(v, "invalid")
        self.assertIn("attempt 1 executed 2 times", ev[0])
        self.assertIn("node 4", ev[0])

    def test_retry_after_a_committed_retry(self):
        es = [ex(7, 1, attempt=1, fence=7), ex(7, 1, attempt=2, fence=9, node=2)]
        rs = [run(7, 1, attempt=2, fence=9)]
        self.assertEqual(checker.checkExecutions(es, ledger(runs=rs))[0], "valid")

    def test_second_attempt_that_the_ledger_never_assigned(self):
        es = [ex(7, 1, attempt=1, fence=7), ex(7, 1, attempt=2, fence=9, node=2)]
        rs = [run(7, 1, attempt=1, fence=7)]
        v, ev = checker.checkExecutions(es, ledger(runs=rs))
        self.assertEqual(v, "invalid")
        self.assertTrue(any("never assigned" in e for e in ev), ev)

    def test_fences_must_increase(self):
        es = [ex(7, 1, attempt=1, fence=9), ex(7, 1, attempt=2, fence=8, node=2)]
        v, ev = checker.checkExecutions(es, ledger(runs=[run(7, 1, attempt=2, fence=8)]))
        self.assertEqual(v, "invalid")
        self.assertIn("fences must strictly increase", ev[0])

    def test_last_attempt_runs_with_the_ledger_fence(self):
        v, ev = checker.checkExecutions([ex(7, 1, fence=5)], ledger(runs=[run(7, 1, fence=6)]))
        self.assertEqual(v, "invalid")
        self.assertIn("the ledger says fence 6", ev[0])

    def test_one_instant_two_runs(self):
        es = [ex(7, 1), ex(8, 1, node=2)]
        v, ev = checker.checkExecutions(es, ledger())
        self.assertEqual(v, "invalid")
        self.assertTrue(any("two claims" in e for e in ev), ev)

    def test_no_records_is_unknown(self):
        self.assertEqual(checker.checkExecutions(None, {})[0], "unknown")


class AttemptOrder(unittest.TestCase):
    """Attempt n+1 only after attempt n ended FAILED, TIMED_OUT or LOST, from the ledger's
    readings and the real start of each execution."""

    def retried(self, nb=3.0):
        r = run(7, 1, attempt=2, fence=9)
        r["not_before"] = iso(sec(nb))
        return r

    def verdict(self, execs, readings, windows=()):
        snaps = [snap("runs", [r], final=(i == len(readings) - 1), t=TS + t)
                 for i, (t, r) in enumerate(readings)]
        return checker.checkExecutions(execs, checker.buildLedger(snaps), windows)

    def test_retry_after_its_not_before(self):
        es = [ex(7, 1, attempt=1, fence=7, late=0.01), ex(7, 1, attempt=2, fence=9, late=2.5)]
        self.assertEqual(self.verdict(es, [(100, self.retried())]), ("valid", []))

    def test_second_attempt_started_first(self):
        es = [ex(7, 1, attempt=1, fence=7, late=3.0), ex(7, 1, attempt=2, fence=9, late=2.5)]
        v, ev = self.verdict(es, [(100, self.retried(nb=1.5))])
        self.assertEqual(v, "invalid")
        self.assertTrue(any("attempt 1 started" in e and "after attempt 2" in e for e in ev), ev)

    def test_retry_before_its_not_before(self):
        es = [ex(7, 1, attempt=1, fence=7), ex(7, 1, attempt=2, fence=9, late=1.0)]
        v, ev = self.verdict(es, [(100, self.retried(nb=3.0))])
        self.assertEqual(v, "invalid")
        self.assertIn("before its retry's not_before 00:00:03", ev[0])
        # Not judged where a clock fault makes the leader's clock differ from the real one.
        w = [window("clock", 2, 4, off=5)]
        self.assertEqual(self.verdict(es, [(100, self.retried(nb=3.0))], w)[0], "valid")

    def test_earlier_attempt_started_after_the_retry(self):
        # Attempt 1 (a worker that resumed after it was declared LOST) started after the retry
        # to attempt 2 was committed: attempt 1 had not ended.
        es = [ex(7, 1, attempt=1, fence=7, late=2.2), ex(7, 1, attempt=2, fence=9, late=2.5)]
        v, ev = self.verdict(es, [(100, self.retried(nb=3.0))])
        self.assertEqual(v, "invalid")
        self.assertIn("after the retry to attempt 2", ev[0])

    def test_attempt_after_the_ledger_showed_success(self):
        first = run(7, 1, attempt=1, fence=7)                      # succeeded
        es = [ex(7, 1, attempt=1, fence=7), ex(7, 1, attempt=2, fence=9, late=40)]
        v, ev = self.verdict(es, [(30, first), (100, self.retried())])
        self.assertEqual(v, "invalid")
        self.assertTrue(any("after attempt 1 was read succeeded" in e for e in ev), ev)
        self.assertTrue(any("after the ledger read attempt 1 succeeded" in e for e in ev), ev)

    def test_attempt_started_while_the_ledger_still_ran_the_first(self):
        running = run(7, 1, state="running", attempt=1, fence=7)
        es = [ex(7, 1, attempt=1, fence=7), ex(7, 1, attempt=2, fence=9, late=3.5)]
        v, ev = self.verdict(es, [(5, running), (100, self.retried())])
        self.assertEqual(v, "invalid")
        self.assertIn("still had attempt 1 running", ev[0])
        self.assertEqual(self.verdict(es, [(4, running), (100, self.retried())])[0], "valid")

    def test_attempts_never_go_back(self):
        lost = run(7, 1, state="lost", attempt=1, fence=7)
        v, ev = self.verdict([], [(5, self.retried()), (100, lost)])
        self.assertEqual(v, "invalid")
        self.assertIn("shows attempt 1 after showing attempt 2", ev[0])


class Runs(unittest.TestCase):
    def verdict(self, decisions, runs, execs, never_deleted=(F,), windows=()):
        return checker.checkRuns(execs, ledger(decisions, runs), {F: job()}, set(never_deleted),
                                 windows)

    def test_every_run_executed(self):
        self.assertEqual(self.verdict(*fired([1, 2, 3])), ("valid", []))

    def test_fired_run_never_executed(self):
        ds, rs, es = fired([1, 2, 3])
        v, ev = self.verdict(ds, rs, es[:1] + es[2:])
        self.assertEqual(v, "invalid")
        self.assertIn("run 2", ev[0])
        self.assertIn("succeeded", ev[0])
        self.assertIn("never executed", ev[0])

    def test_dead_without_starting_needs_a_fault_on_its_worker(self):
        ds, rs, es = fired([1, 2, 3])
        rs[1] = run(2, 2, state="dead", reason="lost under at-most-once")
        rs[1]["finished_at"] = iso(sec(6))
        v, ev = self.verdict(ds, rs, es[:1] + es[2:])
        self.assertEqual(v, "invalid")
        self.assertIn("without ever starting", ev[0])
        kill = [window("kill", 3, 4, node=1)]
        self.assertEqual(self.verdict(ds, rs, es[:1] + es[2:], windows=kill)[0], "valid")
        # A fault on another node, or after the run ended, excuses nothing; any partition does.
        for w in (window("kill", 3, 4, node=2), window("pause", 8, 9, node=1)):
            self.assertEqual(self.verdict(ds, rs, es[:1] + es[2:], windows=[w])[0], "invalid")
        part = [window("partition", 5, 9, node=None)]
        self.assertEqual(self.verdict(ds, rs, es[:1] + es[2:], windows=part)[0], "valid")
        # A leader's clock ahead by 300 s claimed it (fired_at, scheduled_at far ahead): the
        # removal of its worker's node is still found, the clock fault's offset widening.
        skewed = dict(rs[1], fired_at=iso(sec(302)), scheduled_at=iso(sec(302)))
        ds2 = [ds[0], dec(2, "fired", 302, run_id=2), ds[2]]
        member = window("member", 5, 5, node=1, fault="remove")
        clock = window("clock", 1, 9, node=3, off=300)
        self.assertEqual(self.verdict(ds2, [rs[0], skewed, rs[2]], es[:1] + es[2:],
                                      windows=[member])[0], "invalid")
        self.assertEqual(self.verdict(ds2, [rs[0], skewed, rs[2]], es[:1] + es[2:],
                                      windows=[member, clock])[0], "valid")
        # Cancelled with a reason (replaced) needs no fault.
        rs[1] = run(2, 2, state="cancelled", reason="replaced by a newer run")
        self.assertEqual(self.verdict(ds, rs, es[:1] + es[2:])[0], "valid")

    def test_dead_without_a_reason(self):
        ds, rs, es = fired([1, 2, 3])
        rs[1] = run(2, 2, state="dead")
        self.assertEqual(self.verdict(ds, rs, es[:1] + es[2:])[0], "invalid")

    def test_run_still_in_flight_at_the_end(self):
        ds, rs, es = fired([1, 2, 3])
        rs[2] = run(3, 3, state="assigned")
        v, ev = self.verdict(ds, rs, es)
        self.assertEqual(v, "invalid")
        self.assertIn("still assigned", ev[0])

    def test_waiting_for_capacity_behind_early_claims(self):
        ds, rs, es = fired([1, 2, 3])
        rs[2] = run(3, 3, state="pending")
        rs[2]["wait_reason"] = "all matching workers at capacity"
        # Without runs claimed early, a run still pending at the end is stuck: invalid.
        v, ev = self.verdict(ds, rs, es[:2])
        self.assertEqual(v, "invalid")
        self.assertIn("at capacity", ev[0])
        # Behind a run claimed early (assigned, its start still to come) it is late, not lost.
        early = run(4, 200, state="assigned")
        early["start_at"] = iso(sec(200))
        v, ev = self.verdict(ds, rs + [early], es[:2])
        self.assertEqual(v, "valid")
        self.assertTrue(any("waits for capacity held by runs claimed early" in e for e in ev), ev)

    def test_execution_without_a_committed_run(self):
        ds, rs, es = fired([1, 2, 3])
        es.append(ex(9, 4))
        v, ev = self.verdict(ds, rs, es)
        self.assertEqual(v, "invalid")
        self.assertIn("ran without a committed claim", ev[0])
        self.assertEqual(self.verdict(ds, rs, es, never_deleted=())[0], "valid")

    def test_fired_decision_without_its_run(self):
        ds, rs, es = fired([1, 2, 3])
        v, ev = self.verdict(ds, rs[:2], es[:2])
        self.assertEqual(v, "invalid")
        self.assertIn("names run 3, which the ledger does not have", ev[0])

    def test_fired_decision_whose_run_no_reading_covered(self):
        # The run listing held only runs 2 and 3 (full at limit 2): run 1 may exist, unread.
        ds, rs, es = fired([1, 2, 3])
        led = checker.buildLedger([snap("decisions", ds), snap("runs", rs[1:], limit=2)])
        v, ev = checker.checkRuns(es[1:], led, {F: job()}, {F})
        self.assertEqual(v, "unknown")
        self.assertIn("names run 1, which no reading of the ledger covered", ev[0])

    def test_failed_reading_is_unknown(self):
        ds, rs, es = fired([1, 2, 3])
        snaps = [snap("decisions", ds), snap("runs", rs)]
        snaps.append(dict(snap("runs", [], final=False, t=TS + 50), output=None, error="down"))
        v, ev = checker.checkRuns(es, checker.buildLedger(snaps), {F: job()}, {F})
        self.assertEqual(v, "unknown")
        self.assertIn("a ledger reading failed", ev[0])

    def test_runs_not_read_after_quiescence(self):
        ds, rs, es = fired([1, 2, 3])
        led = checker.buildLedger([snap("decisions", ds), snap("runs", rs, final=False)])
        v, ev = checker.checkRuns(es, led, {F: job()}, {F})
        self.assertEqual(v, "unknown")
        self.assertTrue(any("runs were not read after quiescence" in e for e in ev), ev)

    def test_execution_of_another_instant(self):
        ds, rs, es = fired([1, 2])
        es[1] = ex(2, 7)
        v, ev = self.verdict(ds, rs, es)
        self.assertEqual(v, "invalid")
        self.assertIn("executed run 2 as", ev[0])


class Misses(unittest.TestCase):
    def verdict(self, decisions, windows, grace="2s", leaders=()):
        return checker.checkMisses({F: job(cursor=60, grace=grace)}, ledger(decisions), windows,
                                   [(TS + t, n) for t, n in leaders])

    def test_missed_inside_a_fault_window(self):
        ds = [dec(1, "missed", 5, 7, count=3), dec(2, "coalesced", 8), dec(3, "skipped", 9)]
        self.assertEqual(self.verdict(ds, [window("kill", 4, 7)])[0], "valid")

    def test_missed_outside_every_window(self):
        ds = [dec(1, "missed", 30)]
        v, ev = self.verdict(ds, [window("kill", 4, 6)])
        self.assertEqual(v, "invalid")
        self.assertIn("MISSED 00:00:30", ev[0])
        self.assertIn("no fault window covers", ev[0])

    def test_missed_needs_faults_over_its_whole_grace(self):
        # A MISSED instant t: faults (from 1 s before until 2 s after a leader exists again)
        # cover [t, t + grace].
        w = [window("pause", 4, 6)]                        # [3, 8]: t in [3, 6] with 2 s
        self.assertEqual(self.verdict([dec(1, "missed", 6)], w)[0], "valid")
        self.assertEqual(self.verdict([dec(1, "missed", 7)], w)[0], "invalid")
        self.assertEqual(self.verdict([dec(1, "missed", 3)], w)[0], "valid")
        self.assertEqual(self.verdict([dec(1, "missed", 2)], w)[0], "invalid")
        # A new leader activated 3 s after the end: the span reaches 2 s past it.
        self.assertEqual(self.verdict([dec(1, "missed", 9)], w, leaders=[(9, 2)])[0], "valid")
        self.assertEqual(self.verdict([dec(1, "missed", 10)], w, leaders=[(9, 2)])[0],
                         "invalid")
        # The older bound (end + 5 s + grace) let an instant be MISSED 7 s after the cluster was
        # whole again with a 2 s grace.
        self.assertEqual(self.verdict([dec(1, "missed", 13)], w)[0], "invalid")
        # A longer grace needs a longer outage; chained faults count as one.
        self.assertEqual(self.verdict([dec(1, "missed", 5, decided=70)], w, grace="1m")[0],
                         "invalid")
        chain = [window("pause", 4, 30), window("kill", 29, 70)]
        self.assertEqual(self.verdict([dec(1, "missed", 5, decided=70)], chain, grace="1m")[0],
                         "valid")

    def test_missed_within_its_grace(self):
        # Decided 1.5 s after the instant with a 2 s grace: the policy fires it, never misses it.
        w = [window("kill", 4, 12)]
        v, ev = self.verdict([dec(1, "missed", 6, decided=7.5)], w)
        self.assertEqual(v, "invalid")
        self.assertIn("within the misfire grace 2s", ev[0])
        self.assertEqual(self.verdict([dec(1, "missed", 6, decided=8.1)], w)[0], "valid")
        # A range is judged by its last instant; grace "none" never misses.
        v, ev = self.verdict([dec(1, "missed", 5, 7, count=3, decided=8.5)], w)
        self.assertEqual(v, "invalid")
        self.assertEqual(self.verdict([dec(1, "missed", 6, decided=500)], w, grace="none")[0],
                         "invalid")

    def test_coalesced_before_due(self):
        w = [window("kill", 4, 12)]
        v, ev = self.verdict([dec(1, "coalesced", 6, 8, count=3, decided=7.9)], w)
        self.assertEqual(v, "invalid")
        self.assertIn("before its instants were due", ev[0])
        self.assertEqual(self.verdict([dec(1, "coalesced", 6, 8, count=3, decided=8.2)], w)[0],
                         "valid")

    def test_coalesced_and_skipped_bound_is_leader_plus_election_plus_one(self):
        w = [window("pause", 4, 6)]                        # 6 + 1 + 1 = 8
        for kind in ("coalesced", "skipped"):
            self.assertEqual(self.verdict([dec(1, kind, 8)], w)[0], "valid")
            self.assertEqual(self.verdict([dec(1, kind, 9)], w)[0], "invalid")
            # The misfire grace no longer widens it (it used to: end + 5 s + grace).
            self.assertEqual(self.verdict([dec(1, kind, 9)], w, grace="1m")[0], "invalid")
            self.assertEqual(self.verdict([dec(1, kind, 3)], w)[0], "valid")
            self.assertEqual(self.verdict([dec(1, kind, 2)], w)[0], "invalid")
            # A leader elected 4 s after the end: 2 s past that; one 6 s after: not this fault's.
            self.assertEqual(self.verdict([dec(1, kind, 12)], w, leaders=[(10, 3)])[0], "valid")
            self.assertEqual(self.verdict([dec(1, kind, 13)], w, leaders=[(10, 3)])[0],
                             "invalid")
            self.assertEqual(self.verdict([dec(1, kind, 9)], w, leaders=[(12, 3)])[0], "invalid")

    def test_missed_reading_failed_is_unknown(self):
        led = ledger([dec(1, "missed", 5)])
        led[F].errors.append("decisions of %s: no leader" % F)
        v, ev = checker.checkMisses({F: job(cursor=60)}, led, [window("kill", 4, 30)])
        self.assertEqual(v, "unknown")
        self.assertIn("a ledger reading failed", ev[0])

    def test_clock_offset_widens_the_window(self):
        w = [window("clock", 4, 6, off=30)]                # 6 + 2 + 30 = 38
        self.assertEqual(self.verdict([dec(1, "coalesced", 38)], w)[0], "valid")
        self.assertEqual(self.verdict([dec(1, "coalesced", 39)], w)[0], "invalid")

    def test_non_fired_needs_a_reason(self):
        v, ev = self.verdict([dec(1, "skipped", 5, reason="")], [window("kill", 4, 6)])
        self.assertEqual(v, "invalid")
        self.assertIn("no reason", ev[0])

    def test_fault_windows_pair_by_fid(self):
        nem = [{"time": TS + 1, "phase": "begin", "kind": "kill", "fid": 1, "node": 2},
               {"time": TS + 2, "phase": "begin", "kind": "member", "fid": 2,
                "fault": "transfer"},
               {"time": TS + 3, "phase": "begin", "kind": "clock", "fid": 3, "node": 1,
                "offset_s": -30},
               {"time": TS + 4, "phase": "end", "kind": "kill", "fid": 1, "node": 2},
               {"time": TS + 9, "phase": "end", "kind": "all", "fid": None}]
        ws = checker.faultWindows(nem)
        self.assertEqual([(w["kind"], w["begin"] - TS, w["end"] - TS, w["off"]) for w in ws],
                         [("kill", 1, 4, 0), ("member", 2, 2, 0), ("clock", 3, 9, 30)])


class Lateness(unittest.TestCase):
    def test_phases(self):
        es = [ex(k, k, late=0.002) for k in range(1, 11)] + [ex(20, 20, late=1.5)]
        lat = checker.lateness(es, [window("kill", 19, 21)])
        self.assertEqual(lat["quiet"]["n"], 10)
        self.assertEqual(lat["quiet"]["p50_ms"], 2.0)
        self.assertEqual(lat["faulty"]["max_ms"], 1500.0)

    def judge(self, execs, windows=(), n=60):
        return checker.checkLateness(execs, windows, {F: [sec(k) for k in range(1, n + 1)]})

    def test_quiet_phase_on_time(self):
        v, ev, info = self.judge([ex(k, k) for k in range(1, 61)])
        self.assertEqual(v, "valid", ev)
        self.assertIn("60 first attempts in quiet phases judged", info[0])

    def test_late_in_a_quiet_phase(self):
        es = [ex(k, k) for k in range(1, 61)]
        es[29] = ex(30, 30, late=59.0)                   # 59 s late, no fault anywhere
        v, ev, _ = self.judge(es)
        self.assertEqual(v, "invalid")
        self.assertIn("00:00:30 started 59.000 s late in a quiet phase (bound 1 s)", ev[0])
        self.assertIn("ran on node 1 (run 30", ev[0])
        es[29] = ex(30, 30, late=checker.LATE_BOUND_S + 0.01)
        self.assertEqual(self.judge(es)[0], "invalid")
        es[29] = ex(30, 30, late=checker.LATE_BOUND_S - 0.01)
        self.assertEqual(self.judge(es)[0], "valid")

    def test_late_near_a_fault_is_reported_not_judged(self):
        es = [ex(k, k) for k in range(1, 61)]
        es[29] = ex(30, 30, late=12.0)
        w = [window("kill", 31, 35)]                     # within QUIET_S of the instant
        self.assertEqual(self.judge(es, w)[0], "valid")
        worst = checker.worstFaulty(es, w, [(TS, 3)])
        self.assertIn("00:00:30: 12.000 s late", worst[0])
        self.assertIn("scheduler on node 3", worst[0])
        self.assertIn("kill node 1", worst[0])
        # Farther than QUIET_S from the fault: quiet again.
        self.assertEqual(self.judge(es, [window("kill", 33, 35)])[0], "invalid")

    def test_early_start(self):
        es = [ex(k, k) for k in range(1, 61)]
        es[9] = ex(10, 10, late=-0.2)
        v, ev, _ = self.judge(es)
        self.assertEqual(v, "invalid")
        self.assertIn("started 0.200 s early on node 1", ev[0])
        # Early within a fault that is no clock fault: still wrong.
        self.assertEqual(self.judge(es, [window("kill", 8, 12)])[0], "invalid")
        # A clock fault on some node explains it.
        self.assertEqual(self.judge(es, [window("clock", 8, 12, off=30)])[0], "valid")
        # Within the clock error allowed: on time.
        es[9] = ex(10, 10, late=-checker.EARLY_TOL_S / 2)
        self.assertEqual(self.judge(es)[0], "valid")

    def test_too_short_a_quiet_phase_is_not_judged_for_lateness(self):
        es = [ex(k, k) for k in range(1, 61)]
        es[29] = ex(30, 30, late=20.0)
        v, ev, info = self.judge(es, [window("pause", 0, 55)])
        self.assertEqual(v, "valid")
        self.assertIn("lateness bound not judged", info[0])

    def test_job_made_after_a_clock_fault_is_quiet_again(self):
        # A clock fault ahead by 300 s: a job that existed then may have had its instants decided
        # minutes early, so it is not quiet; one made after the fault ended is.
        es = [ex(k, k) for k in range(20, 61)]
        es[10] = ex(30, 30, late=5.0)
        w = [window("clock", 2, 10, off=300)]
        exp = {F: [sec(k) for k in range(20, 61)]}
        v, _, info = checker.checkLateness(es, w, exp, created={F: TS + 1})
        self.assertEqual(v, "valid")
        self.assertIn("not judged", info[0])
        v, ev, _ = checker.checkLateness(es, w, exp, created={F: TS + 15})
        self.assertEqual(v, "invalid")
        self.assertIn("00:00:30 started 5.000 s late", ev[0])

    def test_floor_of_quiet_executions(self):
        v, ev, _ = self.judge([ex(k, k) for k in range(1, 21)])
        self.assertEqual(v, "unknown")
        self.assertIn("only 20 of 60 quiet firing-job instants executed", ev[0])


class Overlap(unittest.TestCase):
    """Check 9: runs longer than their period, started (records) and ended (records .end)."""

    def judge(self, policy, runs, execs, ends, windows=()):
        j = job(cursor=60, every="2s")
        j["overlap"] = policy
        return checker.checkOverlap({F: j}, ledger(runs=runs), execs, ends, windows)

    def replaced(self, i, at):
        return run(i, at, state="cancelled", reason=checker.REPLACED)

    def test_replaced_runs_are_killed(self):
        runs = [self.replaced(1, 2.5), self.replaced(2, 4.5), run(3, 6.5)]
        execs = [ex(1, 2.5), ex(2, 4.5), ex(3, 6.5)]
        ends = [ex(3, 6.5, late=5.0)]                     # only the last, never replaced, ends
        v, ev, info = self.judge("replace", runs, execs, ends)
        self.assertEqual(v, "valid", ev)
        self.assertIn("2 replaced runs judged", info[0])
        v, ev, _ = self.judge("replace", runs, execs, ends + [ex(2, 4.5, late=5.0)])
        self.assertEqual(v, "invalid")
        self.assertIn("run 2 (00:00:04.5) was replaced by a newer run (cancelled), but its "
                      "process ran to its end", ev[0])
        # Near a fault the cancel may not reach the worker: not judged (and then the floor).
        v, ev, _ = self.judge("replace", runs, execs, ends + [ex(2, 4.5, late=5.0)],
                              [window("partition", 0, 10)])
        self.assertEqual(v, "unknown")
        self.assertIn("replace jobs: nothing judged", ev[0])

    def test_queued_run_starts_after_the_active_one_ended(self):
        runs = [run(1, 2.5), run(2, 4.5), run(3, 8.5)]
        execs = [ex(1, 2.5), ex(2, 4.5, late=1.1), ex(3, 8.5, late=0.2)]
        ends = [ex(1, 2.5, late=3.05), ex(2, 4.5, late=4.15), ex(3, 8.5, late=3.25)]
        v, ev, info = self.judge("queue-one", runs, execs, ends)
        self.assertEqual(v, "valid", ev)
        self.assertIn("2 consecutive runs judged", info[0])
        execs[1] = ex(2, 4.5, late=0.5)                  # started while run 1 still ran
        v, ev, _ = self.judge("queue-one", runs, execs, ends)
        self.assertEqual(v, "invalid")
        self.assertIn("before run 1 (00:00:02.5) ended", ev[0])

    def test_queue_full_skips_are_the_policy(self):
        j = job(cursor=60, every="2s")
        j["overlap"] = "queue-one"
        skip = dec(1, "skipped", 6.5, reason=checker.QUEUE_FULL)
        self.assertEqual(checker.checkMisses({F: j}, ledger([skip]), [])[0], "valid")
        other = dec(1, "skipped", 6.5, reason="max instances already running")
        self.assertEqual(checker.checkMisses({F: j}, ledger([other]), [])[0], "invalid")
        j["overlap"] = "allow"
        self.assertEqual(checker.checkMisses({F: j}, ledger([skip]), [])[0], "invalid")


class Verdict(unittest.TestCase):
    """Whole run directories: a firing job fires every second for n seconds, a client adds,
    updates and deletes j0 three times a second, one node starts and stops."""

    def run_dir(self, execs=None, n=5, runs_output=True, nemesis=()):
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d, True)
        with open(os.path.join(d, "node1.log"), "w") as f:
            f.write("ok\n")
        with open(os.path.join(d, "processes.jsonl"), "w") as f:
            f.write(json.dumps({"event": "start", "node": 1, "pid": 5, "time": TS - 1}) + "\n")
            f.write(json.dumps({"event": "exit", "node": 1, "pid": 5, "status": 0,
                                "expected": True, "graceful": True}) + "\n")
        history = [dict(op(1, "add", "ok", TS, TS + 0.1, job=F), process="firing")]
        for k in range(n):
            for i, kind in enumerate(("add", "update", "delete")):
                t = TS + k + 0.3 * i
                history.append(op(2 + 3 * k + i, kind, "ok", t, t + 0.1, job=J))
        with open(os.path.join(d, "history.jsonl"), "w") as f:
            for o in history:
                f.write(json.dumps(o) + "\n")
        with open(os.path.join(d, "nemesis.jsonl"), "w") as f:
            for r in nemesis:
                f.write(json.dumps(r) + "\n")
        fj = job(cursor=n)
        fj["description"] = "op-1"
        with open(os.path.join(d, "final.json"), "w") as f:
            json.dump({"list": {"jobs": [fj]}, "paused": [{"job": F, "invoke": TS + n + 1}],
                       "members": [1],
                       "nodes": {"1": {"digest": {"digest": "a", "applied_index": 3},
                                       "list": {"jobs": [fj]}}}}, f)
        ds, rs, es = fired(range(1, n + 1))
        runs = snap("runs", rs)
        if not runs_output:
            runs.update(output=None, error="raftcronctl did not return within 20s (killed)")
        with open(os.path.join(d, "ledger.jsonl"), "w") as f:
            f.write(json.dumps(snap("decisions", ds)) + "\n")
            f.write(json.dumps(runs) + "\n")
        os.makedirs(os.path.join(d, "records"))
        with open(os.path.join(d, "records", "node1.txt"), "w") as f:
            for e in (es if execs is None else execs):
                f.write("%s %s %d %d %d %d %.9f\n" % (e["job"], iso(e["sched"]), e["attempt"],
                                                      e["run"], e["fence"], e["node"],
                                                      e["start"]))
        return d

    def verdicts(self, d):
        res = checker.check(d)
        return res, {k: c["verdict"] for k, c in res["checks"].items()}

    def exitOf(self, d):
        with contextlib.redirect_stdout(io.StringIO()) as out:
            rc = checker.main(["checker.py", d])
        return rc, out.getvalue()

    def test_whole_run_valid(self):
        for n in (5, 60):
            d = self.run_dir(n=n)
            res, vs = self.verdicts(d)
            self.assertEqual(vs, {k: "valid" for k in "123456789"}, res["checks"])
            self.assertEqual(res["valid"], "valid")
        rc, out = self.exitOf(d)
        self.assertEqual(rc, 0)
        self.assertIn("check 8", out)
        self.assertIn("60 first attempts in quiet phases judged", out)
        self.assertTrue(os.path.exists(os.path.join(d, "results.json")))

    def test_zero_executions_is_not_valid(self):
        # The case that once passed all seven checks with exit 0: 60 FIRED decisions, an empty
        # records directory, and a `run list` reading that failed.
        d = self.run_dir(execs=[], n=60, runs_output=False)
        res, vs = self.verdicts(d)
        self.assertNotEqual(res["valid"], "valid")
        for k in "238":
            self.assertNotEqual(vs[k], "valid", (k, res["checks"][k]))
        self.assertIn("firing jobs that never executed: jepsen/fire-cron",
                      res["checks"]["2"]["evidence"])
        self.assertTrue(any("a ledger reading failed" in e
                            for e in res["checks"]["3"]["evidence"]))
        self.assertTrue(any("no reading of the ledger covered" in e
                            for e in res["checks"]["3"]["evidence"]))
        self.assertNotEqual(self.exitOf(d)[0], 0)

    def test_sabotage_drop_executions(self):
        # What `--sabotage drop-executions` leaves: the ledger read well, no execution recorded.
        d = self.run_dir(execs=[], n=60)
        res, vs = self.verdicts(d)
        self.assertEqual(res["valid"], "invalid")
        self.assertEqual(vs["3"], "invalid")
        self.assertTrue(any("never executed" in e for e in res["checks"]["3"]["evidence"]))
        self.assertEqual(self.exitOf(d)[0], 1)

    def test_read_error_makes_the_run_unknown(self):
        d = self.run_dir(n=20, runs_output=False)
        res, vs = self.verdicts(d)
        self.assertEqual(res["valid"], "unknown")
        self.assertEqual(vs["2"], "unknown")
        self.assertEqual(vs["3"], "unknown")
        self.assertEqual(self.exitOf(d)[0], 2)

    def test_execution_floor(self):
        # Half of the instants executed, the rest FIRED with runs DEAD with a reason: check 3
        # accepts each, but the run did too little to be judged.
        d = self.run_dir(n=20)
        res, vs = self.verdicts(d)
        self.assertEqual(vs["2"], "valid")
        _, _, es = fired(range(1, 21))
        # (a kill of their worker's node excuses the dead runs that never started: check 3)
        kill = [{"time": TS + 9, "phase": "begin", "kind": "kill", "fid": 1, "node": 1},
                {"time": TS + 30, "phase": "end", "kind": "kill", "fid": 1}]
        d = self.run_dir(execs=es[:9], n=20, nemesis=kill)
        with open(os.path.join(d, "ledger.jsonl")) as f:
            lines = [json.loads(x) for x in f]
        for r in lines[1]["output"]["runs"][9:]:
            r.update(state="dead", end_reason="lost under at-most-once")
        with open(os.path.join(d, "ledger.jsonl"), "w") as f:
            f.write("".join(json.dumps(x) + "\n" for x in lines))
        res, vs = self.verdicts(d)
        self.assertEqual(vs["2"], "unknown")
        self.assertEqual(vs["3"], "unknown")
        self.assertTrue(any("fewer than the floor 10" in e for e in res["checks"]["2"]["evidence"]))
        # A clock fault may silence the firing: its instants are not counted.
        clock = [{"time": TS + 9, "phase": "begin", "kind": "clock", "fid": 1, "node": 1,
                  "offset_s": 30}, {"time": TS + 10, "phase": "end", "kind": "clock", "fid": 1}]
        d2 = self.run_dir(execs=es[:9], n=20, nemesis=clock)
        with open(os.path.join(d2, "ledger.jsonl"), "w") as f:
            f.write("".join(json.dumps(x) + "\n" for x in lines))
        self.assertEqual(self.verdicts(d2)[1]["2"], "valid")

    def test_write_floor(self):
        d = self.run_dir(n=20)
        with open(os.path.join(d, "history.jsonl")) as f:
            ops = [json.loads(x) for x in f]
        with open(os.path.join(d, "history.jsonl"), "w") as f:
            for o in ops:
                if o["job"] == J and o["type"] == "delete":
                    o.update(outcome="info", exit=None, error="no leader")
                f.write(json.dumps(o) + "\n")
        res, vs = self.verdicts(d)
        self.assertEqual(vs["5"], "unknown")
        self.assertTrue(any("no acknowledged delete" in e for e in res["checks"]["5"]["evidence"]))

    def test_digest_from_every_member(self):
        d = self.run_dir()
        with open(os.path.join(d, "final.json")) as f:
            final = json.load(f)
        final["members"] = [1, 2]
        with open(os.path.join(d, "final.json"), "w") as f:
            json.dump(final, f)
        res, vs = self.verdicts(d)
        self.assertEqual(vs["6"], "unknown")
        self.assertIn("members that reported nothing: 2", res["checks"]["6"]["evidence"])

    def test_firing_job_gone_from_the_final_list(self):
        d = self.run_dir(n=20)
        with open(os.path.join(d, "final.json")) as f:
            final = json.load(f)
        final["list"]["jobs"] = []
        with open(os.path.join(d, "final.json"), "w") as f:
            json.dump(final, f)
        res, vs = self.verdicts(d)
        self.assertEqual(vs["1"], "unknown")        # no job at all to judge
        self.assertEqual(res["valid"], "invalid")   # and check 5 misses the acknowledged add

    def test_double_execution_makes_the_run_invalid(self):
        _, _, es = fired([1, 2, 3, 4, 5])
        res = checker.check(self.run_dir(es + [ex(3, 3, node=2)]))
        self.assertEqual(res["checks"]["2"]["verdict"], "invalid")
        self.assertEqual(res["valid"], "invalid")

    def test_without_ledger_and_records_firing_checks_are_unknown(self):
        d = self.run_dir()
        os.remove(os.path.join(d, "ledger.jsonl"))
        shutil.rmtree(os.path.join(d, "records"))
        res = checker.check(d)
        self.assertEqual([res["checks"][k]["verdict"] for k in "12348"], ["unknown"] * 5)
        self.assertEqual(res["valid"], "unknown")


if __name__ == "__main__":
    unittest.main()
