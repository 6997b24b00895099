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
  1-4  about fired runs: "not yet" until firing and its workload exist (never a fake pass).
  5    every acknowledged job write is present at the end, or superseded by a write that may
       have taken effect after it; the final state of a job was produced by a write that was
       not rejected; nothing appears that no client wrote.
  6    every node reports the same digest at the same applied index, and the same job table.
  7    no node crashed outside the nemesis's own kills: no unexpected process exit, and no
       sanitizer report, assertion failure or abort in any log.

Usage: checker.py RUN_DIR   (prints the verdict, writes RUN_DIR/results.json; exit 0 valid,
1 invalid, 2 unknown)
"""
import json
import os
import re
import sys

INF = float("inf")
NOT_YET = ("not yet: checks 1-4 judge fired runs (exactly-once claim, committed before run, "
           "bounded at-least-once execution, clocks cannot duplicate); the workload does not "
           "record executions and the ledger is not collected yet, so nothing is checked")
CRASH_PATTERNS = [
    r"ERROR: AddressSanitizer", r"ERROR: LeakSanitizer", r"runtime error:",
    r"UndefinedBehaviorSanitizer", r"WARNING: ThreadSanitizer", r"Assertion .* failed",
    r"assertion failed", r"\bSIGSEGV\b", r"Segmentation fault", r"\babort\(\)", r"\bpanic\b",
]


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
    return ("invalid" if evidence else "valid"), evidence


# -- verdict -----------------------------------------------------------------------------------

def check(run_dir):
    history = readJsonl(os.path.join(run_dir, "history.jsonl"))
    final_path = os.path.join(run_dir, "final.json")
    final = {}
    if os.path.exists(final_path):
        with open(final_path) as f:
            final = json.load(f)
    processes = readJsonl(os.path.join(run_dir, "processes.jsonl"))
    results = {}
    for k, name in (("1", "exactly-once claim per (job, instant)"),
                    ("2", "no run starts before its claim is committed"),
                    ("3", "at-least-once execution per claimed run, bounded"),
                    ("4", "clock steps never duplicate a fire")):
        results[k] = {"name": name, "verdict": "not-yet", "evidence": [NOT_YET]}
    v, e = checkWrites(history, final.get("list"))
    if final.get("list") is None and final.get("list_error"):
        e.append(final["list_error"])
    results["5"] = {"name": "acknowledged job writes survive, rejected ones never appear",
                    "verdict": v, "evidence": e}
    v, e = checkDigests(final.get("nodes", {}))
    results["6"] = {"name": "equal FSM digests after healing", "verdict": v, "evidence": e}
    v, e = checkCrashes(run_dir, processes)
    results["7"] = {"name": "no crash outside the nemesis's kills", "verdict": v, "evidence": e}
    judged = [r["verdict"] for r in results.values() if r["verdict"] != "not-yet"]
    if "invalid" in judged:
        overall = "invalid"
    elif "unknown" in judged:
        overall = "unknown"
    else:
        overall = "valid"
    counts = {}
    for o in history:
        key = "%s %s" % (o["type"], o["outcome"])
        counts[key] = counts.get(key, 0) + 1
    return {"valid": overall, "checks": results, "operations": counts}


def report(res, out=sys.stdout, max_evidence=20):
    for k in sorted(res["checks"], key=int):
        r = res["checks"][k]
        out.write("check %s (%s): %s\n" % (k, r["name"], r["verdict"]))
        if r["verdict"] == "not-yet":
            continue
        if r["verdict"] != "valid":
            for line in r["evidence"][:max_evidence]:
                out.write("    %s\n" % line)
            if len(r["evidence"]) > max_evidence:
                out.write("    ... %d more in results.json\n"
                          % (len(r["evidence"]) - max_evidence))
    if any(r["verdict"] == "not-yet" for r in res["checks"].values()):
        out.write("%s\n" % NOT_YET)
    out.write("operations: %s\n" % ", ".join(
        "%s=%d" % kv for kv in sorted(res["operations"].items())))
    out.write("%s\n" % res["valid"])


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: checker.py RUN_DIR\n")
        return 2
    res = check(argv[1])
    with open(os.path.join(argv[1], "results.json"), "w") as f:
        json.dump(res, f, indent=1, sort_keys=True)
    report(res)
    return {"valid": 0, "invalid": 1}.get(res["valid"], 2)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
