#!/usr/bin/env python3
"""Compare mptscan findings with the tokens planted by scripts/plant-tokens.py.

usage: scripts/check-planted.py EXPECTED.json FINDINGS.json [--quiet]

  EXPECTED.json  written by plant-tokens.py (DEST_TREE/../<name>.expected.json); a bare list of
                 {path, line, column, fingerprint, context} is accepted too.
  FINDINGS.json  output of `mptscan scan --format json DEST_TREE` ("-" = stdin), paths relative to DEST_TREE.

Reports planted tokens that are missing, found more than once at the same path/line/column (duplicate),
found with the wrong fingerprint or suppressed, and findings that were not planted (unexpected: false
positives such as decoys, or real tokens already in the corpus). Exit 0 only if every planted token
is found exactly once at the right place with the right fingerprint and nothing unexpected; else 1.
"""
import argparse
import json
import sys
from collections import defaultdict


def load(path):
    with (sys.stdin if path == "-" else open(path, encoding="utf-8")) as f:
        return json.load(f)


def norm(p):
    p = p.replace("\\", "/")
    while p.startswith("./"):
        p = p[2:]
    return p


def where(x):
    return f"{x['path']}:{x['line']}:{x['column']}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("expected")
    ap.add_argument("findings")
    ap.add_argument("--quiet", action="store_true", help="print only the summary line")
    a = ap.parse_args()

    exp = load(a.expected)
    tokens = exp if isinstance(exp, list) else exp.get("tokens", [])
    decoys = [] if isinstance(exp, list) else exp.get("decoys", [])
    doc = load(a.findings)
    findings = doc.get("findings", []) if isinstance(doc, dict) else doc
    if isinstance(doc, dict) and doc.get("version") not in (None, 1):
        print(f"warning: findings version {doc.get('version')!r}", file=sys.stderr)

    key = lambda x: (norm(x["path"]), int(x["line"]), int(x["column"]))
    expected = {}
    for t in tokens:
        expected[key(t)] = t
    decoy_at = {key(d): d for d in decoys}
    found = defaultdict(list)
    for f in findings:
        found[key(f)].append(f)

    missing, duplicate, wrong_fp, suppressed, unexpected = [], [], [], [], []
    for k, t in sorted(expected.items()):
        hits = found.get(k, [])
        if not hits:
            missing.append(t)
            continue
        if len(hits) > 1:
            duplicate.append((t, hits))
        if not any(h.get("fingerprint") == t["fingerprint"] for h in hits):
            wrong_fp.append((t, hits))
        if all(h.get("suppressed") for h in hits):
            suppressed.append(t)
    for k, hits in sorted(found.items()):
        if k not in expected:
            unexpected.extend(hits)

    # hints: an unexpected finding carrying the fingerprint of a missing token in the same file = misplaced
    missing_fp = {(norm(t["path"]), t["fingerprint"]): t for t in missing}
    out = (lambda *x: None) if a.quiet else print
    if missing:
        out(f"MISSING ({len(missing)}): planted but not found")
        for t in missing:
            out(f"  {where(t)}  [{t.get('context', '?')}]  {t.get('token_id', '')}")
    if duplicate:
        out(f"DUPLICATE ({len(duplicate)}): found more than once at the same place")
        for t, hits in duplicate:
            out(f"  {where(t)}  [{t.get('context', '?')}]  x{len(hits)}  rules: "
                + ", ".join(str(h.get("rule_id")) for h in hits))
    if wrong_fp:
        out(f"WRONG FINGERPRINT ({len(wrong_fp)})")
        for t, hits in wrong_fp:
            out(f"  {where(t)}  [{t.get('context', '?')}]  expected {t['fingerprint'][:16]}…, got "
                + ", ".join(str(h.get("fingerprint"))[:16] + "…" for h in hits))
    if suppressed:
        out(f"SUPPRESSED ({len(suppressed)}): found but marked suppressed")
        for t in suppressed:
            out(f"  {where(t)}  [{t.get('context', '?')}]")
    if unexpected:
        out(f"UNEXPECTED ({len(unexpected)}): found but not planted (false positive, or a token already in the tree)")
        for f in unexpected:
            note = ""
            d = decoy_at.get(key(f))
            if d:
                note = f"  DECOY [{d['context']}]"
            m = missing_fp.get((norm(f["path"]), f.get("fingerprint")))
            if m:
                note += f"  MISPLACED: planted at {m['line']}:{m['column']} [{m.get('context', '?')}]"
            out(f"  {norm(f['path'])}:{f['line']}:{f['column']}  rule={f.get('rule_id')}  "
                f"id={f.get('token_id')}  fp={str(f.get('fingerprint'))[:16]}…"
                f"{'  (suppressed)' if f.get('suppressed') else ''}{note}")
    n_found = sum(1 for k in expected if k in found)
    print(f"planted {len(expected)}, found {n_found}, missing {len(missing)}, duplicate {len(duplicate)}, "
          f"unexpected {len(unexpected)}, wrong fingerprint {len(wrong_fp)}, suppressed {len(suppressed)}")
    ok = not (missing or duplicate or wrong_fp or suppressed or unexpected)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
