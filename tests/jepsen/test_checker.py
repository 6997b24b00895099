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
                         [{"event": "exit", "node": 1, "pid": 5, "status": -9, "expected": True}])
        self.assertEqual(checker.checkCrashes(d, checker.readJsonl(
            os.path.join(d, "processes.jsonl")))[0], "valid")

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


def dec(i, kind, first, last=None, count=1, run_id=None, reason=None):
    last = first if last is None else last
    return {"id": i, "job": F, "decision": kind, "first": iso(sec(first)), "last": iso(sec(last)),
            "count": count, "run_id": run_id or 0, "manual": False,
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
        self.assertIn("never assigned", ev[0])

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


class Runs(unittest.TestCase):
    def verdict(self, decisions, runs, execs, never_deleted=(F,)):
        return checker.checkRuns(execs, ledger(decisions, runs), {F: job()}, set(never_deleted))

    def test_every_run_executed(self):
        self.assertEqual(self.verdict(*fired([1, 2, 3])), ("valid", []))

    def test_fired_run_never_executed(self):
        ds, rs, es = fired([1, 2, 3])
        v, ev = self.verdict(ds, rs, es[:1] + es[2:])
        self.assertEqual(v, "invalid")
        self.assertIn("run 2", ev[0])
        self.assertIn("succeeded", ev[0])
        self.assertIn("never executed", ev[0])

    def test_dead_with_a_reason_needs_no_execution(self):
        ds, rs, es = fired([1, 2, 3])
        rs[1] = run(2, 2, state="dead", reason="lost under at-most-once")
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

    def test_execution_of_another_instant(self):
        ds, rs, es = fired([1, 2])
        es[1] = ex(2, 7)
        v, ev = self.verdict(ds, rs, es)
        self.assertEqual(v, "invalid")
        self.assertIn("executed run 2 as", ev[0])


class Misses(unittest.TestCase):
    def verdict(self, decisions, windows, grace="2s"):
        return checker.checkMisses({F: job(cursor=60, grace=grace)}, ledger(decisions), windows)

    def test_missed_inside_a_fault_window(self):
        ds = [dec(1, "missed", 5, 7, count=3), dec(2, "coalesced", 8), dec(3, "skipped", 9)]
        self.assertEqual(self.verdict(ds, [window("kill", 4, 6)])[0], "valid")

    def test_missed_outside_every_window(self):
        ds = [dec(1, "missed", 30)]
        v, ev = self.verdict(ds, [window("kill", 4, 6)])
        self.assertEqual(v, "invalid")
        self.assertIn("MISSED 00:00:30", ev[0])
        self.assertIn("outside every fault window", ev[0])

    def test_bound_is_end_plus_election_plus_grace(self):
        w = [window("pause", 4, 6)]                        # 6 + 5 + 2 = 13
        self.assertEqual(self.verdict([dec(1, "missed", 13)], w)[0], "valid")
        self.assertEqual(self.verdict([dec(1, "missed", 14)], w)[0], "invalid")
        self.assertEqual(self.verdict([dec(1, "missed", 14)], w, grace="1m")[0], "valid")
        self.assertEqual(self.verdict([dec(1, "missed", 3)], w)[0], "valid")
        self.assertEqual(self.verdict([dec(1, "missed", 2)], w)[0], "invalid")

    def test_clock_offset_widens_the_window(self):
        w = [window("clock", 4, 6, off=30)]
        self.assertEqual(self.verdict([dec(1, "coalesced", 40)], w)[0], "valid")
        self.assertEqual(self.verdict([dec(1, "coalesced", 44)], w)[0], "invalid")

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


class Verdict(unittest.TestCase):
    def run_dir(self, execs=None):
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d, True)
        with open(os.path.join(d, "node1.log"), "w") as f:
            f.write("ok\n")
        with open(os.path.join(d, "history.jsonl"), "w") as f:
            f.write(json.dumps(op(1, "add", "ok", TS, TS + 0.1, job=F)) + "\n")
        fj = job(cursor=5)
        fj["description"] = "op-1"
        with open(os.path.join(d, "final.json"), "w") as f:
            json.dump({"list": {"jobs": [fj]}, "paused": [{"job": F, "invoke": TS + 6}],
                       "nodes": {"1": {"digest": {"digest": "a", "applied_index": 3},
                                       "list": {"jobs": [fj]}}}}, f)
        ds, rs, es = fired([1, 2, 3, 4, 5])
        with open(os.path.join(d, "ledger.jsonl"), "w") as f:
            f.write(json.dumps(snap("decisions", ds)) + "\n")
            f.write(json.dumps(snap("runs", rs)) + "\n")
        os.makedirs(os.path.join(d, "records"))
        with open(os.path.join(d, "records", "node1.txt"), "w") as f:
            for e in (es if execs is None else execs):
                f.write("%s %s %d %d %d %d %.9f\n" % (e["job"], iso(e["sched"]), e["attempt"],
                                                      e["run"], e["fence"], e["node"],
                                                      e["start"]))
        return d

    def test_whole_run_valid(self):
        d = self.run_dir()
        res = checker.check(d)
        self.assertEqual({k: c["verdict"] for k, c in res["checks"].items()},
                         {k: "valid" for k in "1234567"})
        self.assertEqual(res["valid"], "valid")
        with contextlib.redirect_stdout(io.StringIO()) as out:
            self.assertEqual(checker.main(["checker.py", d]), 0)
        self.assertIn("check 4", out.getvalue())
        self.assertTrue(os.path.exists(os.path.join(d, "results.json")))

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
        self.assertEqual([res["checks"][k]["verdict"] for k in "1234"], ["unknown"] * 4)
        self.assertEqual(res["valid"], "unknown")


if __name__ == "__main__":
    unittest.main()
