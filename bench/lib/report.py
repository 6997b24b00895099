"""bench/run's table: one plain-text table per section, each figure with how it was taken, the
peers beside raftcron, ratios from the same run, and the issue's targets with the gap."""
import benchstats as bs

TARGETS = {
    "fire_10k": 1.0,  # ms p99 at 10k fires/s
    "fire_50k": 2.0,  # ms p99 at 50k fires/s (checked at 100k here)
    "claim": 100000.0,  # committed decisions/s
    "failover_p50": 1200.0,  # ms
    "failover_max": 1500.0,  # ms
    "kib_per_schedule": 0.5,  # at 1M schedules
    "create_batched": 50000.0,  # jobs/s
    "create_sequential": 2000.0,  # jobs/s
}


def gapBelow(v, target):
    """For a figure that should be at most target."""
    if v is None:
        return "-"
    return "met" if v <= target else "%.3gx over" % (v / target)


def gapAbove(v, target):
    """For a figure that should be at least target."""
    if v is None:
        return "-"
    return "met" if v >= target else "%.3gx short" % (target / v if v else float("inf"))


def table(header, rows):
    cols = len(header)
    w = [max(len(str(r[i])) for r in [header] + rows) for i in range(cols)]
    line = lambda r: "  ".join(str(r[i]).ljust(w[i]) for i in range(cols)).rstrip()  # noqa
    return "\n".join([line(header), line(["-" * x for x in w])] + [line(r) for r in rows])


def err(res):
    return isinstance(res, dict) and "error" in res


def errText(res):
    return "ERROR: " + res["error"].splitlines()[0][:150]


def lat3(s):
    """p50 / p99 / max of a summarize() result."""
    if not s or "p50" not in s:
        return ("-", "-", "-")
    return (bs.fmtStat(s["p50"]), bs.fmtStat(s["p99"]), bs.fmtStat(s["max"]))


def cpuText(c):
    """"cpu%/runq%" of one process over the measured windows."""
    if not c:
        return "-"
    return "%.0f%%/%.0f%%" % (100 * c["cpu"], 100 * c["runq"])


def fireSection(f):
    out = ["1. Fire precision: start lateness of runs due once a second (executor's own clock)"]
    rows = []
    for row in f.get("rows", []):
        rc, ap = row.get("raftcron"), row.get("apscheduler")
        r3 = ("-", "-", "-") if rc is None or err(rc) else lat3(rc["all"])
        a3 = ("-", "-", "-") if ap is None or err(ap) else lat3(ap["all"])
        lost = "-"
        if rc and not err(rc):
            lost = "%d/%d" % (rc["missing"] + rc["not_started"], rc["all"]["count"])
            if rc["duplicates"]:
                lost += " DUP %d" % rc["duplicates"]
        ratio = "-"
        if rc and ap and not err(rc) and not err(ap):
            ratio = bs.fmtRatio(bs.ratio(rc["all"]["p99"]["value"], ap["all"]["p99"]["value"]))
        target = "-"
        if row["executor"] == "noop" and rc and not err(rc):
            p99 = rc["all"]["p99"]["value"]
            if row["jobs"] == 10000:
                target = "<=1 ms: " + gapBelow(p99, TARGETS["fire_10k"])
            elif row["jobs"] >= 50000:
                target = "<=2 ms@50k/s: " + gapBelow(p99, TARGETS["fire_50k"])
        rows.append([row["jobs"], bs.fmtRate(row["jobs"]), row["shape"], row["executor"],
                     r3[0], r3[1], r3[2], lost,
                     cpuText(rc.get("cpu_leader")) if rc and not err(rc) else "-",
                     a3[0], a3[1], a3[2],
                     cpuText(ap.get("cpu_leader")) if ap and not err(ap) else "-",
                     ratio, target])
        for sysname, res in (("raftcron", rc), ("APScheduler", ap)):
            if res is not None and err(res):
                rows.append(["", "", "", "", sysname + " " + errText(res)] + [""] * 10)
    out.append(table(["jobs", "fires", "shape", "exec", "rc p50", "rc p99", "rc max",
                      "not run", "leader cpu/runq", "APS p50", "APS p99", "APS max",
                      "APS cpu/runq", "p99 rc/APS", "target"], rows))
    out.append("cpu/runq: share of one CPU the leader (APScheduler's process) ran, and spent "
               "runnable but waiting for a CPU, over the measured windows (/proc schedstat)")
    if f.get("apscheduler_rss_kib_per_job") is not None:
        out.append("APScheduler RSS: %.2f KiB per job (in memory, %d jobs)"
                   % (f["apscheduler_rss_kib_per_job"], f["apscheduler_rss_jobs"]))
    out.append("How: %s" % f.get("how", ""))
    return "\n".join(out)


def claimSection(c):
    out = ["2. Claim throughput: fire decisions committed per second, next to the machine"]
    b, fs, rb = c.get("burst"), c.get("fsync"), c.get("raft_benchmark")
    rows = []
    if err(b):
        rows.append(["raftcron burst", errText(b), "", ""])
    else:
        rows.append(["raftcron: %d jobs due at one instant" % b["jobs"],
                     bs.fmtRate(b["decisions_per_s"]) + " decisions",
                     "commit p50 %s p99 %s (poll %s)" % (
                         bs.fmtMs(b["commit_ms"]["p50"]), bs.fmtMs(b["commit_ms"]["p99"]),
                         bs.fmtMs(b["poll_ms"]["p50"])),
                     ">=100k/s: " + gapAbove(b["decisions_per_s"], TARGETS["claim"])])
    if err(fs):
        rows.append(["fsync", errText(fs), "", ""])
    else:
        rows.append(["fsync of 4 KiB, data dir's disk", bs.fmtRate(fs["per_s_sequential"]) +
                     " sequential", "p50 %s p99 %s" % (bs.fmtMs(fs["p50_ms"]),
                                                      bs.fmtMs(fs["p99_ms"])), ""])
    if err(rb):
        rows.append(["raft-benchmark submit", errText(rb), "", ""])
    else:
        rows.append(["raft-benchmark submit (libraft, 1 node)",
                     bs.fmtRate(1000.0 / rb["p50_ms"]) + " sequential",
                     "p50 %s (median of %d)" % (bs.fmtMs(rb["p50_ms"]), rb["repeats"]), ""])
    out.append(table(["what", "rate", "latency", "target"], rows))
    out.append("Ratios: decisions per fsync time %s; commit p50 / raft-benchmark p50 %s"
               % (bs.fmtRatio(c.get("decisions_per_fsync_time")),
                  bs.fmtRatio(c.get("commit_vs_raft_benchmark"))))
    if not err(b):
        ahead = b["first_applied_vs_due_ms"]
        out.append("Burst: decided in %d leader plans (%.0f decisions each); the first applied %s "
                   "%s the instant; rate from %s (%d polls); from the plans' proposal times: %s"
                   % (b["plans"], b["decisions_per_plan"] or 0, bs.fmtMs(abs(ahead)),
                      "before" if ahead < 0 else "after", b["rate_from"],
                      b["polls_seeing_the_burst"], bs.fmtRate(b["decisions_per_s_by_plans"])))
    out.append("How: %s" % c.get("how", ""))
    return "\n".join(out)


def failoverSection(f):
    out = ["3. Failover: leader SIGKILL until service is back (election timeout 1 s)"]
    r, e = f.get("raftcron"), f.get("etcd")
    rows = []
    if err(r):
        rows.append(["raftcron", errText(r), "", "", ""])
    else:
        ff = r["first_fire_ms"]
        rows.append(["raftcron: first run fired by the new leader", ff["n"], bs.fmtMs(ff["p50"]),
                     bs.fmtMs(ff["max"]), "p50<=1.2 s: %s; max<=1.5 s: %s" % (
                         gapBelow(ff["p50"], TARGETS["failover_p50"]),
                         gapBelow(ff["max"], TARGETS["failover_max"]))])
        sa = r["scheduler_active_ms"]
        rows.append(["raftcron: new leader's scheduler active", sa["n"], bs.fmtMs(sa["p50"]),
                     bs.fmtMs(sa["max"]), ""])
        po = r["put_ok_ms"]
        rows.append(["raftcron: first Job.Put that succeeds", po["n"], bs.fmtMs(po["p50"]),
                     bs.fmtMs(po["max"]), ""])
    if err(e):
        rows.append(["etcd", errText(e), "", "", ""])
    else:
        po = e["put_ok_ms"]
        rows.append(["etcd 3.4: first put that succeeds", po["n"], bs.fmtMs(po["p50"]),
                     bs.fmtMs(po["max"]), ""])
    out.append(table(["what", "trials", "p50", "max", "target"], rows))
    if not err(r):
        out.append("Instants lost (no decision) in the outages: %d; decided other than fired: "
                   "%s%s" % (r["lost_instants"], r["not_fired"] or "none",
                             "" if r["history_covers_trials"] else
                             " (the ledger no longer held every trial's instants)"))
    out.append("Ratios (p50): raftcron first fire / etcd put %s; raftcron put / etcd put %s"
               % (bs.fmtRatio(f.get("first_fire_vs_etcd_put")),
                  bs.fmtRatio(f.get("put_vs_etcd_put"))))
    out.append("How: %s" % f.get("how", ""))
    return "\n".join(out)


def scaleSection(s, f, fo):
    out = ["4. Scale and memory"]
    if err(s):
        out.append(errText(s))
        return "\n".join(out)
    rows = []
    for z in s["sizes"]:
        per = z["kib_per_schedule"]
        ld = str(z["leader"])
        fol = [per[k] for k in per if k != ld]
        inst = z["install"]
        snap = z["snapshot"]
        it = errText(inst) if err(inst) else "%.1f s%s" % (
            inst["seconds"], "" if inst["snapshot_received"] else " (log replay, no snapshot)")
        target = "-"
        if z.get("target", z["jobs"]) >= 1000000:
            target = "<=0.5 KiB: " + gapBelow(max(per.values()), TARGETS["kib_per_schedule"])
        label = str(z["jobs"]) if z.get("reached", True) else "%d (of %d: budget)" % (
            z["jobs"], z["target"])
        rows.append([label, "%d MiB" % (z["rss_kib"][ld] // 1024),
                     "%.2f KiB" % per[ld], "%.2f KiB" % max(fol) if fol else "-",
                     "%.1f MiB" % (snap["bytes"] / 1048576.0) if snap else "none", it, target])
    out.append(table(["schedules", "leader RSS", "leader/sched", "follower/sched", "snapshot",
                      "install on fresh node", "target"], rows))
    seq = s["sequential"]
    pip = s["sizes"][0]["pipelined"]
    out.append(table(["job creates (client library)", "jobs", "rate", "put p50", "put p99",
                      "target"],
                     [["sequential, one client", seq["created"], bs.fmtRate(seq["per_s"]),
                       bs.fmtMs(seq["put_ms"]["p50"]), bs.fmtMs(seq["put_ms"]["p99"]),
                       ">=2k/s: " + gapAbove(seq["per_s"], TARGETS["create_sequential"])],
                      ["pipelined, 32 clients", pip["created"], bs.fmtRate(pip["per_s"]),
                       bs.fmtMs(pip["put_ms"]["p50"]), bs.fmtMs(pip["put_ms"]["p99"]),
                       ">=50k/s: " + gapAbove(pip["per_s"], TARGETS["create_batched"])]]))
    peers = []
    if f and f.get("apscheduler_rss_kib_per_job") is not None:
        peers.append("APScheduler %.2f KiB per job" % f["apscheduler_rss_kib_per_job"])
    e = (fo or {}).get("etcd")
    if e and not err(e):
        peers.append("etcd sequential puts %s (p50 %s, Python client)" % (
            bs.fmtRate(e["sequential"]["per_s"]), bs.fmtMs(e["sequential"]["p50_ms"])))
    if peers:
        out.append("Peers in this run: " + "; ".join(peers))
    out.append("How: %s" % s.get("how", ""))
    return "\n".join(out)


def execSection(x):
    out = ["5. Executor overhead"]
    rows = []
    for k in ("shell", "http"):
        r = x.get(k)
        if r is None:
            continue
        if err(r):
            rows.append([k, errText(r), "", "", "", ""])
            continue
        per = ", ".join("%s: %.0f" % (w, v) for w, v in sorted(r["per_node_per_s"].items()))
        cpus = ", ".join("%s: %s" % (i, cpuText(v)) for i, v in sorted(r.get("cpu", {}).items()))
        rows.append([k, "%d/s" % r["offered_per_s"], "%.0f/s" % r["finished_per_s"],
                     "%.0f/s (%s)" % (r["per_node_mean"], per),
                     "saturated" if r["saturated"] else "kept up (capacity is higher)",
                     "p50 %s p99 %s" % lat3(r["lateness"])[:2], cpus or "-"])
    out.append(table(["executor", "offered", "finished", "per node", "", "lateness",
                      "cpu/runq per node"], rows))
    c = x.get("concurrent_http")
    if c is not None:
        if err(c):
            out.append("concurrent HTTP: " + errText(c))
        else:
            q, l_ = lat3(c["quiet"]), lat3(c["loaded"])
            out.append("%d noop probe jobs beside %d HTTP jobs (%d in flight at most): probe "
                       "lateness p50/p99/max %s/%s/%s without, %s/%s/%s with them; p99 x%s"
                       % (c["probes"], c["http_jobs"], c["http_in_flight_max"], q[0], q[1], q[2],
                          l_[0], l_[1], l_[2], bs.fmtRatio(c["p99_ratio"]).rstrip("x")))
    out.append("How: %s" % x.get("how", ""))
    return "\n".join(out)


def render(res):
    m = res["machine"]
    head = ["raftcron bench/run %s: %s, %s (%.0f min)%s" % (
        " ".join(res["argv"]) or "(full)", res["started"], res["revision"],
        res["seconds"] / 60.0, "" if res["mode"] != "dry" else
        "  DRY RUN: tiny sizes, the figures mean nothing"),
        "machine: %s; %s; load average %s at the start, %s at the end" % (
            m["cpu"], m["os"], m["load_start"], m.get("load_end", "?")),
        "peers: %s" % ", ".join("%s %s" % kv for kv in sorted(res["peers"].items()))]
    parts = ["\n".join(head)]
    s = res["sections"]
    if "fire" in s:
        parts.append(errText(s["fire"]) if err(s["fire"]) else fireSection(s["fire"]))
    if "claim" in s:
        parts.append(errText(s["claim"]) if err(s["claim"]) else claimSection(s["claim"]))
    if "failover" in s:
        parts.append(errText(s["failover"]) if err(s["failover"]) else
                     failoverSection(s["failover"]))
    if "scale" in s:
        parts.append(scaleSection(s["scale"], s.get("fire"), s.get("failover")))
    if "exec" in s:
        parts.append(errText(s["exec"]) if err(s["exec"]) else execSection(s["exec"]))
    if res["errors"]:
        parts.append("ERRORS (%d):\n" % len(res["errors"]) +
                     "\n".join("  - " + e.splitlines()[0][:300] for e in res["errors"]))
    return "\n\n".join(parts) + "\n"
