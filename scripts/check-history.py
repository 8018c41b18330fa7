#!/usr/bin/env python3
"""Compare a `mptscan history --format json --show-secrets` report with scripts/plant-history.py's expected
findings: every planted leak found exactly once, at the right path and line, attributed to the right commit
and author; nothing else reported unless listed with --allow-other.

usage: scripts/check-history.py EXPECTED.json REPORT.json [--allow-other N]
Exit 0 when everything matches, 1 otherwise (each problem printed).
"""
import argparse, json, sys

ap = argparse.ArgumentParser()
ap.add_argument("expected")
ap.add_argument("report")
ap.add_argument("--allow-other", type=int, default=0, help="findings not planted that are tolerated (pre-existing)")
a = ap.parse_args()
expected = json.load(open(a.expected))
findings = json.load(open(a.report))["findings"]
problems = []
planted = {e["token"] for e in expected}
for e in expected:
    hits = [f for f in findings if f["token"] == e["token"] and f["path"] == e["path"]]
    if len(hits) != 1:
        problems.append(f"{e['kind']} {e['path']}: found {len(hits)} times, expected once")
        continue
    f, g = hits[0], hits[0].get("git") or {}
    for key, want, got in [("line", e["line"], f["line"]), ("commit", e["commit"], g.get("commit")),
                           ("author_name", e["author_name"], g.get("author_name")),
                           ("author_email", e["author_email"], g.get("author_email"))]:
        if want != got:
            problems.append(f"{e['kind']} {e['path']}: {key} is {got!r}, expected {want!r}")
other = [f for f in findings if f["token"] not in planted]
if len(other) > a.allow_other:
    problems.append(f"{len(other)} findings that were not planted (allowed: {a.allow_other}), e.g. {other[0]['path']}")
for p in problems:
    print("check-history:", p, file=sys.stderr)
print(f"check-history: {len(expected) - sum(1 for p in problems if 'found' in p)}/{len(expected)} planted leaks found once; "
      f"{len(problems)} problem(s); {len(other)} other finding(s)", file=sys.stderr)
sys.exit(1 if problems else 0)
