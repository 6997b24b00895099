#!/usr/bin/env python3
"""Every file of the tree that the documentation names exists.

Scans README.md and docs/*.md (not docs/DESIGN.md, the design contract, whose layout section
names files by role and says where the tree departs from it, nor docs/STYLE.md, which cites
other projects' files as models) for paths under src/, include/,
tests/, bench/, scripts/, deploy/, examples/, proto/ and docs/ written in backticks or
links, and fails listing each one that names nothing. A name with a wildcard (`rpc_*.c`) or a
placeholder (`ctl_<group>.c`) must match at least one file.

Usage: check_paths.py [SOURCE_DIR]   (exit 0 all found, 1 some missing)
"""
import glob
import os
import re
import sys

ROOTS = ("src/", "include/", "tests/", "bench/", "scripts/", "deploy/", "examples/", "proto/",
         "docs/", ".ci/")
TOKEN = re.compile(r"`([^`\s]+)`|\]\(([^)\s#]+)")


def candidates(text):
    for m in TOKEN.finditer(text):
        p = m.group(1) or m.group(2)
        p = p.rstrip(".,:;)")
        p = re.sub(r":\d+(-\d+)?$", "", p)       # file.c:123
        p = re.sub(r"\(\)$", "", p)
        if p.startswith("../"):
            p = p[3:]
        if p.startswith(ROOTS) and not p.startswith("tests/jepsen/out/"):
            yield p  # (a run's artifacts are named as examples, not kept in the tree)


def exists(src, path):
    pat = re.sub(r"<[^>]+>", "*", path)
    if any(ch in pat for ch in "*?["):
        return bool(glob.glob(os.path.join(src, pat)))
    return os.path.exists(os.path.join(src, path))


def main(argv):
    src = os.path.abspath(argv[1] if len(argv) > 1 else ".")
    docs = [os.path.join(src, "README.md")] + sorted(
        p for p in glob.glob(os.path.join(src, "docs", "*.md"))
        if os.path.basename(p) not in ("DESIGN.md", "STYLE.md"))
    missing = []
    checked = 0
    for d in docs:
        with open(d) as f:
            for n, line in enumerate(f, 1):
                for p in candidates(line):
                    checked += 1
                    if not exists(src, p):
                        missing.append("%s:%d: %s names nothing in the tree"
                                       % (os.path.relpath(d, src), n, p))
    for m in missing:
        print(m)
    print("%d paths named in %d documents, %d missing" % (checked, len(docs), len(missing)))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
