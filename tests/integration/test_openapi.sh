#!/usr/bin/env bash
# docs/openapi.json (served at /v1/openapi.json) is a well-formed OpenAPI 3 document: every
# $ref resolves, every operation has a unique operationId and responses, and every route of the
# table in docs/rest.md is in it with its method (test_rest.c checks that the node serves it).
set -u
src="${RC_SRC:-.}"
python3 - "$src/docs/openapi.json" "$src/docs/rest.md" <<'PY'
import json, re, sys
doc = json.load(open(sys.argv[1]))
rest = open(sys.argv[2]).read()
fails = []
assert doc["openapi"].startswith("3."), "not OpenAPI 3"

def walk(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                parts = v.lstrip("#/").split("/")
                cur = doc
                for p in parts:
                    cur = cur.get(p) if isinstance(cur, dict) else None
                if cur is None:
                    fails.append(f"unresolved $ref {v}")
            else:
                walk(v)
    elif isinstance(node, list):
        for v in node:
            walk(v)

walk(doc)
ids = set()
methods = {"get", "put", "post", "patch", "delete"}
for path, item in doc["paths"].items():
    for m, op in item.items():
        if m not in methods:
            continue
        oid = op.get("operationId")
        if not oid or oid in ids:
            fails.append(f"{m.upper()} {path}: operationId missing or repeated ({oid})")
        ids.add(oid)
        if not op.get("responses"):
            fails.append(f"{m.upper()} {path}: no responses")
        names = {p["name"] for p in op.get("parameters", []) + item.get("parameters", [])
                 if isinstance(p, dict) and p.get("in") == "path"}
        for want in re.findall(r"\{(\w+)\}", path):
            if want not in names:
                fails.append(f"{m.upper()} {path}: path parameter {want} not described")
# The routes of docs/rest.md's table: `METHOD /path` (several methods may share a cell).
checked = 0
for row in re.findall(r"^\| `([^|]+)` \|", rest, re.M):
    for cell in re.findall(r"([A-Z]+(?:/[A-Z]+)* /[^`,]+)", row):
        verbs, path = cell.split(" ", 1)
        path = path.split("?")[0].strip()
        if "…" in path or not path.startswith("/"):
            continue
        full = path if path.startswith("/v1") else "/v1" + path
        for v in verbs.split("/"):
            if full not in doc["paths"] or v.lower() not in doc["paths"][full]:
                fails.append(f"docs/rest.md names {v} {full}, the OpenAPI document does not")
            checked += 1
if checked < 10:
    fails.append(f"only {checked} routes found in docs/rest.md's table")
for f in fails:
    print("FAIL:", f)
print(f"test_openapi: {len(doc['paths'])} paths, {len(ids)} operations, {checked} routes of "
      f"docs/rest.md, {len(fails)} failed")
sys.exit(1 if fails else 0)
PY
