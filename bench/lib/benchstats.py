"""Statistics for bench/run: percentiles over samples some of which are only lower bounds.

A lateness sample is exact, or censored: the run had not started when the benchmark read the
ledger (or the instant had no run at all), and its value is the time from its instant to that
reading, a lower bound of its true lateness. A percentile at or above the smallest censored
sample is itself only a lower bound, and is shown as ">= x".
"""
import math
import statistics


def rank(n, p):
    """The index of the p-th percentile (nearest rank) in a sorted list of n."""
    if n == 0:
        return None
    return min(n - 1, max(0, int(math.ceil(p / 100.0 * n)) - 1))


def summarize(values, censored=(), ps=(50, 99, 99.9)):
    """{count, censored, pNN: {value, lower_bound}, max: {...}, min} of lateness samples:
    values (ms) are exact, censored (ms) are lower bounds. A percentile is a lower bound when
    some censored sample is at or below it."""
    xs = sorted(list(values) + list(censored))
    n = len(xs)
    out = {"count": n, "censored": len(censored)}
    if n == 0:
        return out
    cmin = min(censored) if len(censored) else None
    for p in ps:
        v = xs[rank(n, p)]
        out["p%s" % ("%g" % p).replace(".", "_")] = {
            "value": round(v, 3), "lower_bound": cmin is not None and cmin <= v}
    out["max"] = {"value": round(xs[-1], 3), "lower_bound": cmin is not None}
    out["min"] = round(xs[0], 3)
    return out


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def pct(xs, p):
    """Nearest-rank percentile of plain numbers (None when empty)."""
    xs = sorted(x for x in xs if x is not None)
    k = rank(len(xs), p)
    return None if k is None else xs[k]


def fmtMs(v, lower=False):
    """A duration in ms for the table: µs below 1 ms, s above 10 s."""
    if v is None:
        return "-"
    pre = ">=" if lower else ""
    if abs(v) < 1:
        return "%s%.0f us" % (pre, v * 1000)
    if abs(v) < 10000:
        return "%s%.1f ms" % (pre, v) if abs(v) < 100 else "%s%.0f ms" % (pre, v)
    return "%s%.1f s" % (pre, v / 1000)


def fmtStat(stat):
    """A summarize() entry ({value, lower_bound}) for the table."""
    if not stat:
        return "-"
    return fmtMs(stat["value"], stat["lower_bound"])


def fmtRate(v):
    if v is None:
        return "-"
    if v >= 10000:
        return "%.0fk/s" % (v / 1000)
    if v >= 1000:
        return "%.1fk/s" % (v / 1000)
    return "%.0f/s" % v


def ratio(a, b):
    """a / b, or None when either is missing or b is 0."""
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmtRatio(r):
    if r is None:
        return "-"
    return "%.2fx" % r if r < 10 else "%.0fx" % r
