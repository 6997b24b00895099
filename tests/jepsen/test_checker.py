#!/usr/bin/env python3
"""Unit tests of the checker on hand-written histories: each check must say valid where the
history allows it and invalid, with the evidence, where it does not. No cluster, no root."""
import json
import os
import sys
import tempfile
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


class Verdict(unittest.TestCase):
    def test_firing_checks_are_not_yet_and_do_not_count(self):
        d = tempfile.mkdtemp()
        with open(os.path.join(d, "node1.log"), "w") as f:
            f.write("ok\n")
        with open(os.path.join(d, "history.jsonl"), "w") as f:
            f.write(json.dumps(op(1, "add", "ok", 0, 1)) + "\n")
        with open(os.path.join(d, "final.json"), "w") as f:
            json.dump({"list": listing((J, 1, "op-1")),
                       "nodes": {"1": {"digest": {"digest": "a", "applied_index": 3},
                                       "list": listing((J, 1, "op-1"))}}}, f)
        res = checker.check(d)
        self.assertEqual(res["valid"], "valid")
        self.assertEqual([res["checks"][k]["verdict"] for k in "1234"], ["not-yet"] * 4)
        self.assertEqual(checker.main(["checker.py", d]), 0)


if __name__ == "__main__":
    unittest.main()
