#!/usr/bin/env python3
"""Plant synthetic SoftwareOne Marketplace API tokens (and decoys) into a copy of a source tree.

usage: scripts/plant-tokens.py SRC_TREE DEST_TREE [--seed N] [--count N] [--force]

Copies SRC_TREE to DEST_TREE (without .git), then plants about --count (default 60) synthetic tokens
into existing files (lines added at the start or end) and into new files, in many contexts and encodings
(JS/TS constants, commented-out lines, `Bearer ${...}` templates, JSON, .env, Helm YAML, Python
fixtures, Markdown, block comments, a ~1 MB minified line + its source map, escaped separators,
CRLF, UTF-16LE/BE with BOM, multibyte text before the token, legacy pairs), plus decoys that must NOT
be reported. Writes DEST_TREE/../<basename>.expected.json (outside the tree):

  {"version": 1, "seed": N, "tree": "...", "tokens": [ {path, line, column, fingerprint, token_id,
   context, legacy}... ], "decoys": [ {path, line, column, context}... ]}

line: 1-based, counting LF; column: 1-based, in Unicode scalars of the decoded text (UTF-16 files are
decoded, the BOM is not counted), pointing at the first character of the token as written (the `i` of
`idt`, even when the separator after it is escaped; for a legacy `MPT_API_TOKEN=<secret>` the first
character of the secret; for a legacy `TKN-...:<secret>` the `T`). fingerprint: sha256 hex of the
canonical `idt:TKN-...:<64>` (legacy: of `TKN-...:<secret>`).

All secrets are synthetic (random.Random(seed)); nothing here is a real credential.
Check a scan with: scripts/check-planted.py DEST.expected.json FINDINGS.json
"""
import argparse
import hashlib
import json
import math
import os
import random
import shutil
import string
import sys
from collections import Counter

ALNUM = string.ascii_letters + string.digits
TEXT_EXTS = {
    "js": {".js", ".mjs", ".cjs", ".jsx"},
    "ts": {".ts", ".tsx"},
    "md": {".md"},
    "yaml": {".yml", ".yaml"},
    "py": {".py"},
    "sh": {".sh"},
    "css": {".css", ".scss"},
    "c": {".c", ".h", ".cc", ".cpp", ".rs", ".go", ".java", ".swift"},
}
SKIP_DIRS = {".git", "node_modules"}
MAX_EXISTING = 2 * 1024 * 1024


def entropy(s):
    c = Counter(s)
    return -sum(n / len(s) * math.log2(n / len(s)) for n in c.values())


class Planter:
    def __init__(self, dest, rng):
        self.dest = dest
        self.rng = rng
        self.new_files = {}      # rel -> {"parts": [str], "enc": str, "crlf": bool}
        self.edits = {}          # rel -> {"pre": [str], "post": [str]}
        self.records = []        # {"path", "anchor", "kind", ...}
        self.used_ids = set()
        self.candidates = self._scan_candidates()
        self.dirs = self._scan_dirs()

    # ---------- tree discovery ----------
    def _scan_candidates(self):
        by_kind = {k: [] for k in TEXT_EXTS}
        for root, dirs, files in os.walk(self.dest):
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
            for f in sorted(files):
                p = os.path.join(root, f)
                if os.path.islink(p) or not os.path.isfile(p):
                    continue
                ext = os.path.splitext(f)[1].lower()
                if f.endswith((".min.js", ".map")):
                    continue
                for kind, exts in TEXT_EXTS.items():
                    if ext in exts:
                        by_kind[kind].append(os.path.relpath(p, self.dest))
        return by_kind

    def _scan_dirs(self):
        out = []
        for root, dirs, files in os.walk(self.dest):
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
            rel = os.path.relpath(root, self.dest)
            if rel != "." and not os.path.islink(root):
                out.append(rel)
        return out or ["."]

    def _usable(self, rel):
        p = os.path.join(self.dest, rel)
        try:
            if os.path.getsize(p) > MAX_EXISTING:
                return False
            data = open(p, "rb").read()
            if data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")) or b"\0" in data:
                return False
            data.decode("utf-8")
            return True
        except (OSError, UnicodeDecodeError):
            return False

    def existing(self, kinds):
        """A random existing UTF-8 file of one of `kinds`, not yet edited; None if there is none."""
        pool = [r for k in kinds for r in self.candidates.get(k, [])]
        for _ in range(200):
            if not pool:
                return None
            rel = self.rng.choice(pool)
            if rel in self.edits or rel in self.new_files:
                pool.remove(rel)
                continue
            if self._usable(rel):
                return rel
            pool.remove(rel)
        return None

    def new_path(self, name, subdir=None):
        """A fresh relative path for a new file called `name`, in a random existing dir or `subdir`."""
        for i in range(1000):
            d = subdir if subdir else self.rng.choice(self.dirs)
            base, ext = os.path.splitext(name)
            if name.startswith(".") and not ext:
                base, ext = name, ""
            cand = os.path.normpath(os.path.join(d, name if i == 0 else f"{base}-{i}{ext}"))
            if cand in self.new_files or cand in self.edits or os.path.lexists(os.path.join(self.dest, cand)):
                continue
            return cand
        raise RuntimeError("no free path for " + name)

    # ---------- token material ----------
    def secret(self):
        while True:
            s = "".join(self.rng.choice(ALNUM) for _ in range(64))
            if (any(c.isupper() for c in s) and any(c.islower() for c in s)
                    and any(c.isdigit() for c in s) and entropy(s) > 5.0):
                return s

    def token_id(self, third=False):
        while True:
            g = [f"{self.rng.randrange(10000):04d}" for _ in range(3 if third else 2)]
            tid = "TKN-" + "-".join(g)
            if tid not in self.used_ids and not tid.startswith("TKN-1234-5678"):
                self.used_ids.add(tid)
                return tid

    def token(self, third=None):
        if third is None:
            third = self.rng.random() < 0.1
        tid = self.token_id(third)
        return tid, self.secret()

    # ---------- recording ----------
    def _rec(self, path, anchor, kind, context, canonical=None, token_id=None, legacy=False):
        r = {"path": path, "anchor": anchor, "kind": kind, "context": context}
        if kind == "token":
            r.update(fingerprint=hashlib.sha256(canonical.encode()).hexdigest(), token_id=token_id,
                     legacy=legacy)
        self.records.append(r)

    def tok(self, path, context, tid, sec, written=None, anchor=None):
        """Record a current-form token; returns the text as written (default: canonical)."""
        canonical = f"idt:{tid}:{sec}"
        written = canonical if written is None else written
        self._rec(path, anchor or written, "token", context, canonical, tid)
        return written

    def legacy(self, path, context, tid, sec, anchor):
        self._rec(path, anchor, "token", context, f"{tid}:{sec}", tid, legacy=True)

    def decoy(self, path, context, written):
        self._rec(path, written, "decoy", context)
        return written

    def add_new(self, rel, text, enc="utf-8", crlf=False):
        self.new_files[rel] = {"text": text, "enc": enc, "crlf": crlf}

    def add_edit(self, rel, pre="", post=""):
        e = self.edits.setdefault(rel, {"pre": "", "post": ""})
        e["pre"] += pre
        e["post"] += post

    # ---------- writing ----------
    def write(self):
        for rel, e in self.edits.items():
            p = os.path.join(self.dest, rel)
            orig = open(p, "rb").read().decode("utf-8")
            if e["post"] and orig and not orig.endswith("\n"):
                orig += "\n"
            with open(p, "wb") as f:
                f.write((e["pre"] + orig + e["post"]).encode("utf-8"))
        for rel, nf in self.new_files.items():
            p = os.path.join(self.dest, rel)
            os.makedirs(os.path.dirname(p) or ".", exist_ok=True)
            text = nf["text"].replace("\n", "\r\n") if nf["crlf"] else nf["text"]
            if nf["enc"] == "utf-16-le":
                data = b"\xff\xfe" + text.encode("utf-16-le")
            elif nf["enc"] == "utf-16-be":
                data = b"\xfe\xff" + text.encode("utf-16-be")
            else:
                data = text.encode("utf-8")
            with open(p, "wb") as f:
                f.write(data)

    def positions(self):
        """Locate every record's anchor in the decoded file; same anchor twice in a file = in order."""
        texts = {}
        seen = Counter()
        out_tokens, out_decoys = [], []
        for r in self.records:
            path = r["path"]
            if path not in texts:
                data = open(os.path.join(self.dest, path), "rb").read()
                if data.startswith(b"\xff\xfe"):
                    texts[path] = data[2:].decode("utf-16-le")
                elif data.startswith(b"\xfe\xff"):
                    texts[path] = data[2:].decode("utf-16-be")
                else:
                    texts[path] = data.decode("utf-8")
            text = texts[path]
            key = (path, r["anchor"])
            n = seen[key]
            seen[key] += 1
            idx = -1
            for _ in range(n + 1):
                idx = text.find(r["anchor"], idx + 1)
                if idx < 0:
                    raise RuntimeError(f"anchor not found: {path}: {r['anchor'][:40]}")
            line = text.count("\n", 0, idx) + 1
            col = idx - (text.rfind("\n", 0, idx) + 1) + 1
            if r["kind"] == "decoy" and text.count(r["anchor"]) < seen[key]:
                raise RuntimeError("decoy count mismatch")
            entry = {"path": path.replace(os.sep, "/"), "line": line, "column": col}
            if r["kind"] == "token":
                if text.count(r["anchor"]) != sum(1 for x in self.records
                                                  if x["path"] == path and x["anchor"] == r["anchor"]):
                    raise RuntimeError(f"anchor occurs an unexpected number of times: {path}")
                entry.update(fingerprint=r["fingerprint"], token_id=r["token_id"], context=r["context"],
                             legacy=r["legacy"])
                out_tokens.append(entry)
            else:
                entry["context"] = r["context"]
                out_decoys.append(entry)
        key = lambda e: (e["path"], e["line"], e["column"])
        return sorted(out_tokens, key=key), sorted(out_decoys, key=key)


# ---------------------------------------------------------------------------------------------
# contexts: each plants exactly one real token (one record), possibly with decoys alongside
# ---------------------------------------------------------------------------------------------

def c_js_const(P):
    rel = P.existing(["ts", "js"])
    if rel is None:
        return c_new_ts_const(P)
    tid, sec = P.token()
    forms = ['const TOKEN = "{t}";\n', "export const MPT_API_TOKEN = '{t}';\n",
             'const apiToken = "{t}"; // TODO: move to env\n', 'let token = `{t}`;\n']
    line = P.rng.choice(forms).format(t=P.tok(rel, "js-string-constant", tid, sec))
    if P.rng.random() < 0.5:
        P.add_edit(rel, pre=line)
    else:
        P.add_edit(rel, post=line)


def c_new_ts_const(P):
    rel = P.new_path(P.rng.choice(["config.ts", "constants.tsx", "token.ts"]))
    tid, sec = P.token()
    t = P.tok(rel, "ts-const-new-file", tid, sec)
    P.add_new(rel, f'import {{ Client }} from "@swo/mpt-client";\n\nexport const MPT_TOKEN = "{t}";\n'
                   f"export const client = new Client({{ token: MPT_TOKEN }});\n")


def c_js_comment(P):
    rel = P.existing(["ts", "js"])
    if rel is None:
        return c_commented_imports(P)
    tid, sec = P.token()
    t = P.tok(rel, "js-commented-out", tid, sec)
    line = P.rng.choice(["//{t}\n", "// {t}\n", '// const TOKEN = "{t}";\n']).format(t=t)
    if P.rng.random() < 0.5:
        P.add_edit(rel, pre=line)
    else:
        P.add_edit(rel, post=line)


def c_commented_imports(P):
    rel = P.new_path(P.rng.choice(["App.tsx", "api.ts", "index.tsx"]))
    tid, sec = P.token()
    t = P.tok(rel, "commented-under-imports", tid, sec)
    P.add_new(rel, 'import React from "react";\nimport { useQuery } from "@tanstack/react-query";\n'
                   f"//{t}\n//idt:TKN-XXXX-XXXX:your_token_here\n\n"
                   "export default function App() {\n  return <div />;\n}\n")
    P.decoy(rel, "placeholder-your_token_here", "idt:TKN-XXXX-XXXX:your_token_here")


def c_bearer(P):
    rel = P.existing(["ts", "js"])
    tid, sec = P.token()
    if rel is None:
        rel = P.new_path("handler.ts")
        P.add_new(rel, "")
    t = P.tok(rel, "bearer-template", tid, sec)
    if P.rng.random() < 0.5:
        body = ("\nexport async function getTokenInfo(id) {\n"
                "  const res = await fetch(`https://api.platform.softwareone.com/public/v1/accounts/api-tokens/${id}`, {\n"
                f'    headers: {{ Authorization: `Bearer ${{"{t}"}}` }},\n'
                "  });\n  return res.json();\n}\n")
    else:
        body = ("\nfunction authHeaders() {\n"
                f"  return {{ Authorization: `Bearer {t}`, 'Content-Type': 'application/json' }};\n}}\n")
    if rel in P.new_files:
        P.new_files[rel]["text"] = body.lstrip("\n")
    else:
        P.add_edit(rel, post=body)


def c_block_comment(P):
    rel = P.existing(["ts", "js", "css", "c"])
    tid, sec = P.token()
    if rel is None:
        rel = P.new_path("util.c")
        P.add_new(rel, "")
    t = P.tok(rel, "c-block-comment", tid, sec)
    if P.rng.random() < 0.5:
        txt, where = f"/* dev token: {t} */\n", "pre"
    else:
        txt, where = f"/*\n * Staging credentials (do not ship)\n *   {t}\n */\n", "post"
    if rel in P.new_files:
        P.new_files[rel]["text"] = txt + "int main(void) { return 0; }\n"
    elif where == "pre":
        P.add_edit(rel, pre=txt)
    else:
        P.add_edit(rel, post=txt)


def c_markdown(P):
    rel = P.existing(["md"]) or P.new_path("NOTES.md")
    tid, sec = P.token()
    t = P.tok(rel, "markdown", tid, sec)
    txt = ("\n## Calling the Marketplace API\n\n```sh\n"
           f'curl -H "Authorization: Bearer {t}" \\\n'
           "  https://api.platform.softwareone.com/public/v1/accounts/api-tokens\n```\n")
    if os.path.exists(os.path.join(P.dest, rel)):
        P.add_edit(rel, post=txt)
    else:
        P.add_new(rel, "# Notes\n" + txt)


def c_yaml(P):
    tid, sec = P.token()
    if P.rng.random() < 0.5 and (rel := P.existing(["yaml"])):
        t = P.tok(rel, "yaml-existing", tid, sec)
        P.add_edit(rel, post=f"\nmpt:\n  apiToken: \"{t}\"\n")
        return
    rel = P.new_path("values.yaml", subdir=os.path.join(P.rng.choice(P.dirs), "helm", "mpt-connector"))
    t = P.tok(rel, "helm-values", tid, sec)
    P.add_new(rel, "replicaCount: 2\nimage:\n  repository: ghcr.io/example/mpt-connector\n  tag: \"1.4.2\"\n"
                   f"mpt:\n  baseUrl: https://api.platform.softwareone.com/public/v1\n  apiToken: {t}\n"
                   "  # apiToken: idt:TKN-XXXX-XXXX:your_token_here\n")
    P.decoy(rel, "placeholder-your_token_here", "idt:TKN-XXXX-XXXX:your_token_here")


def c_python(P):
    tid, sec = P.token()
    rel = P.existing(["py"])
    if rel is not None and P.rng.random() < 0.5:
        t = P.tok(rel, "python-existing", tid, sec)
        P.add_edit(rel, post=f'\nMPT_TOKEN = "{t}"\n')
        return
    rel = P.new_path("conftest.py", subdir=os.path.join(P.rng.choice(P.dirs), "tests"))
    t = P.tok(rel, "python-fixture", tid, sec)
    P.add_new(rel, "import pytest\n\n\n@pytest.fixture\ndef api_token():\n"
                   f'    return "{t}"\n\n\n@pytest.fixture\ndef fake_token():\n'
                   '    return "idt:TKN-1234-5678:abc123"\n')
    P.decoy(rel, "placeholder-abc123", "idt:TKN-1234-5678:abc123")


def c_json(P):
    tid, sec = P.token()
    rel = P.new_path(P.rng.choice(["api-token.json", "mock-response.json", "token.fixture.json"]))
    t = P.tok(rel, "json-mock-response", tid, sec)
    P.add_new(rel, json.dumps({
        "id": tid, "name": "CI pipeline", "status": "Active",
        "account": {"id": "ACC-%04d-%04d" % (P.rng.randrange(10000), P.rng.randrange(10000)), "name": "Contoso"},
        "token": t, "lastAccessAt": "2024-05-01T10:00:00Z"}, indent=2) + "\n")


def c_mcp(P):
    tid, sec = P.token()
    rel = P.new_path("mcp.json", subdir=os.path.join(P.rng.choice(P.dirs), ".vscode"))
    t = P.tok(rel, "mcp-json", tid, sec, written=f"Bearer idt:{tid}:{sec}", anchor=f"idt:{tid}:{sec}")
    P.add_new(rel, json.dumps({"servers": {"softwareone-marketplace": {
        "type": "http", "url": "https://mcp.platform.softwareone.com/mcp",
        "headers": {"X-MPT-Authorization": t}}}}, indent=2) + "\n")


def c_accounts(P):
    tid, sec = P.token()
    rel = P.new_path("accounts.json", subdir=os.path.join(P.rng.choice(P.dirs), ".swocli"))
    t = P.tok(rel, "cli-accounts-json", tid, sec)
    P.add_new(rel, json.dumps([{"environment": "https://api.s1.show", "account_id": "ACC-0000-1111",
                                "token": t, "token_id": tid, "active": True}], indent=2) + "\n")


def c_dotenv(P):
    tid, sec = P.token()
    rel = P.new_path(P.rng.choice([".env", ".env.local", ".env.production"]))
    t = P.tok(rel, "dotenv", tid, sec)
    P.add_new(rel, "NODE_ENV=production\nPORT=8080\n"
                   f"MPT_API_TOKEN={t}\nMPT_BASE_URL=https://api.platform.softwareone.com/public/v1\n")


def c_shell(P):
    tid, sec = P.token()
    rel = P.existing(["sh"])
    if rel is None:
        return c_dotenv(P)
    t = P.tok(rel, "shell-export", tid, sec)
    P.add_edit(rel, post=f'export MPT_API_TOKEN="{t}"\n')


COMMON = [c_js_const, c_js_const, c_js_comment, c_commented_imports, c_bearer, c_block_comment, c_markdown,
          c_yaml, c_python, c_json, c_mcp, c_accounts, c_dotenv, c_shell, c_new_ts_const]


# ---------------------------------------------------------------------------------------------
# special cases: each planted once
# ---------------------------------------------------------------------------------------------

def minified_filler(rng, n):
    """~n chars of minified-looking JS, no newline, no 'TKN', with some non-ASCII string literals."""
    words = ["function", "return", "var", "this", "null", "void 0", "new Map", "Object.keys", "Array.isArray"]
    ids = ["".join(rng.choice(string.ascii_letters) for _ in range(rng.randint(1, 3))) for _ in range(300)]
    strs = ['"caf\u00e9"', '"\u20ac"', '"na\u00efve"', '"\u65e5\u672c"', '"ok"', '"data-id"', '"\U0001d11e"']
    out, size = [], 0
    while size < n:
        a, b, c = rng.choice(ids), rng.choice(ids), rng.choice(ids)
        k = rng.randrange(6)
        if k == 0:
            s = f"function {a}({b},{c}){{return {b}*{c}+{rng.randrange(999)}}}"
        elif k == 1:
            s = f"var {a}={rng.choice(strs)},{b}={rng.choice(words)};"
        elif k == 2:
            s = f"if({a}.{b}&&{c}){{{a}.{b}({c},{rng.randrange(99)})}}"
        elif k == 3:
            s = f"{a}.prototype.{b}=function(){{return this.{c}}};"
        elif k == 4:
            s = f"const {a}={{{b}:{rng.choice(strs)},{c}:[{rng.randrange(9)},{rng.randrange(9)}]}};"
        else:
            s = f"export{{{a} as {b}}};"
        out.append(s)
        size += len(s)
    return "".join(out)


def plant_specials(P):
    rng = P.rng
    dist = os.path.join(rng.choice(P.dirs), "dist")

    # 1) minified bundle: one ~1 MB line, token near column 500,000; and its source map (sourcesContent)
    tid, sec = P.token(third=False)
    js = P.new_path("app.min.js", subdir=dist)
    head = minified_filler(rng, 500_000)
    tail = minified_filler(rng, 520_000)
    t = P.tok(js, "minified-1MB-line", tid, sec)
    P.add_new(js, f'!function(){{{head}var __mpt="{t}";{tail}}}();\n//# sourceMappingURL=app.min.js.map\n')
    mp = os.path.normpath(js + ".map")
    P.tok(mp, "sourcemap-sourcesContent", tid, sec)
    P.add_new(mp, json.dumps({"version": 3, "file": "app.min.js", "sources": ["../src/config.ts"],
                              "sourcesContent": [f'export const MPT_TOKEN = "idt:{tid}:{sec}";\nexport const n = 1;\n'],
                              "names": [], "mappings": "AAAA,OAAO,MAAM"}, separators=(",", ":")) + "\n")

    # 2) escaped separators
    def esc(label, fname, build):
        tid, sec = P.token(third=False)
        rel = P.new_path(fname)
        written = build(tid, sec)
        P.tok(rel, label, tid, sec, written=written, anchor=written)
        return rel, written

    rel, w = esc("escape-json-u003a", "bootstrap-state.json",
                 lambda i, s: f"idt\\u003a{i}\\u003a{s}")
    P.add_new(rel, '{\n  "config": {\n    "apiToken": "' + w + '",\n    "region": "eu"\n  }\n}\n')
    rel, w = esc("escape-js-x3a", "env.generated.js", lambda i, s: f"idt\\x3a{i}\\x3a{s}")
    P.add_new(rel, "window.__ENV__ = {\n  MPT_TOKEN: '" + w + "',\n};\n")
    rel, w = esc("escape-percent-3A", "redirect.txt", lambda i, s: f"idt%3A{i}%3A{s}")
    P.add_new(rel, "GET /callback?state=xyz&token=" + w + "&next=%2Fhome HTTP/1.1\n")
    rel, w = esc("escape-percent-3a-lower", "access.log", lambda i, s: f"idt%3a{i}%3a{s}")
    P.add_new(rel, '10.0.0.7 - - [01/May/2024:10:00:00 +0000] "GET /api?t=' + w + ' HTTP/1.1" 200 512\n')
    rel, w = esc("escape-html-&#58;", "index.html", lambda i, s: f"idt&#58;{i}&#58;{s}")
    P.add_new(rel, "<!doctype html>\n<html>\n<body>\n  <meta name=\"mpt-token\" content=\"" + w + "\">\n</body>\n</html>\n")
    rel, w = esc("escape-html-&#x3a;", "embed.html", lambda i, s: f"idt&#x3a;{i}&#x3a;{s}")
    P.add_new(rel, "<div data-token=\"" + w + "\"></div>\n")
    rel, w = esc("escape-json-in-json-u003a", "events.json", lambda i, s: f"idt\\\\u003a{i}\\\\u003a{s}")
    P.add_new(rel, '[\n  {"type": "config", "payload": "{\\"token\\":\\"' + w + '\\"}"}\n]\n')

    # 3) letters right before (literal backslash-n inside a JSON string) and right after the token
    tid, sec = P.token(third=False)
    rel = P.new_path("log-entry.json")
    t = P.tok(rel, "preceded-by-backslash-n", tid, sec)
    P.add_new(rel, '{"level":"debug","msg":"loaded credentials:\\n' + t + '\\nusing env eu"}\n')
    tid, sec = P.token(third=False)
    rel = P.new_path("strings.bin.txt")
    t = P.tok(rel, "followed-by-letters", tid, sec, written=f"idt:{tid}:{sec}XYZabc",
              anchor=f"idt:{tid}:{sec}XYZabc")
    P.add_new(rel, "__cxa_atexit\n_ZN3mpt6Client4initEv\nversion-2.3.1-" + t + "\nlibc.so.6\n")

    # 4) CRLF files
    tid, sec = P.token()
    rel = P.new_path("Settings.cs")
    t = P.tok(rel, "crlf-csharp", tid, sec)
    P.add_new(rel, "namespace Contoso.Mpt\n{\n    public static class Settings\n    {\n"
                   f"        public const string ApiToken = \"{t}\";\n    }}\n}}\n", crlf=True)
    tid, sec = P.token()
    rel = P.new_path("deploy.ps1")
    t = P.tok(rel, "crlf-powershell", tid, sec)
    P.add_new(rel, f"$ErrorActionPreference = 'Stop'\n$env:MPT_API_TOKEN = '{t}'\n"
                   "Invoke-RestMethod -Uri $url -Headers @{ Authorization = \"Bearer $env:MPT_API_TOKEN\" }\n",
              crlf=True)

    # 5) UTF-16 files with BOM (token never on line 1, so the BOM never matters)
    tid, sec = P.token()
    rel = P.new_path("appsettings.Development.json")
    t = P.tok(rel, "utf16le-bom-crlf", tid, sec)
    P.add_new(rel, '{\n  "Mpt": {\n    "ApiToken": "' + t + '"\n  }\n}\n', enc="utf-16-le", crlf=True)
    tid, sec = P.token()
    rel = P.new_path("credentials.reg.txt")
    t = P.tok(rel, "utf16le-bom-multibyte", tid, sec)
    P.add_new(rel, "Windows Registry Editor Version 5.00\n\n[HKEY_CURRENT_USER\\Software\\Contoso]\n"
                   f"\"Note\"=\"caf\u00e9 \u20ac \U0001d11e\" \"Token\"=\"{t}\"\n", enc="utf-16-le")
    tid, sec = P.token()
    rel = P.new_path("notes-utf16be.txt")
    t = P.tok(rel, "utf16be-bom", tid, sec)
    P.add_new(rel, f"Meeting notes\nstaging token \u00e9t\u00e9: {t}\nend\n", enc="utf-16-be")

    # 6) multibyte characters before the token on the same line (UTF-8)
    for label, pre in [("multibyte-e-acute", "// cl\u00e9 d'acc\u00e8s: "), ("multibyte-euro", "price \u20ac5 token="),
                       ("multibyte-astral-G-clef", "\U0001d11e\U0001d11e music api \u2192 ")]:
        tid, sec = P.token()
        rel = P.existing(["ts", "js", "md"])
        if rel is None:
            rel = P.new_path("i18n.txt")
            P.add_new(rel, "")
        t = P.tok(rel, label, tid, sec)
        if rel in P.new_files:
            P.new_files[rel]["text"] = pre + t + "\n"
        else:
            P.add_edit(rel, post=pre + t + "\n")

    # 7) token at the very start of a file, and at the very end without a trailing newline
    tid, sec = P.token()
    rel = P.new_path("token.txt")
    t = P.tok(rel, "start-of-file", tid, sec)
    P.add_new(rel, t + "\n")
    tid, sec = P.token()
    rel = P.new_path("last-token.txt")
    t = P.tok(rel, "end-of-file-no-newline", tid, sec)
    P.add_new(rel, "token: " + t)

    # 8) three-group ids
    for i in range(2):
        tid, sec = P.token(third=True)
        rel = P.new_path("legacy-client.ts" if i == 0 else "tenant.env")
        t = P.tok(rel, "three-group-id", tid, sec)
        P.add_new(rel, (f'export const token = "{t}";\n' if i == 0 else f"TENANT=eu\nMPT_TOKEN={t}\n"))

    # 9) the same token twice in one file (two findings, one fingerprint)
    tid, sec = P.token()
    rel = P.new_path("docker-compose.yml")
    P.tok(rel, "same-token-twice-1", tid, sec)
    P.tok(rel, "same-token-twice-2", tid, sec)
    P.add_new(rel, "services:\n  api:\n    environment:\n"
                   f"      MPT_API_TOKEN: idt:{tid}:{sec}\n  worker:\n    environment:\n"
                   f"      MPT_API_TOKEN: idt:{tid}:{sec}\n")

    # 10) legacy forms (lower confidence; position = first char of the token as written)
    tid, sec = P.token(third=False)
    rel = P.new_path("legacy.properties")
    P.legacy(rel, "legacy-TKN-colon-secret", tid, sec, anchor=f"{tid}:{sec}")
    P.add_new(rel, f"mpt.url=https://api.platform.softwareone.com\nmpt.credentials={tid}:{sec}\n")
    tid, sec = P.token(third=False)
    rel = P.new_path(".env.legacy")
    P.legacy(rel, "legacy-MPT_API_TOKEN-id-above", tid, sec, anchor=sec)
    P.add_new(rel, f"MPT_TOKEN_ID={tid}\nMPT_API_TOKEN={sec}\n")
    tid, sec = P.token(third=False)
    rel = P.new_path("legacy.env")
    P.legacy(rel, "legacy-MPT_API_TOKEN-id-below", tid, sec, anchor=sec)
    P.add_new(rel, f"# MPT connector\nMPT_API_TOKEN={sec}\nMPT_API_TOKEN_ID={tid}\n")


def plant_decoys(P):
    rng = P.rng
    lower = "".join(rng.choice(string.ascii_lowercase) for _ in range(64))
    mixed = "".join(rng.choice(ALNUM) for _ in range(64))
    short = "".join(rng.choice(ALNUM) for _ in range(63))
    decoys = [
        ("placeholder-your_token_here", "idt:TKN-XXXX-XXXX:your_token_here"),
        ("placeholder-abc123", "idt:TKN-1234-5678:abc123"),
        ("placeholder-SECRET", "idt:TKN-1234-5678:SECRET"),
        ("placeholder-angle-token", "idt:TKN-1234-5678:<token>"),
        ("placeholder-env-var", "idt:TKN-1234-5678:${MPT_TOKEN}"),
        ("placeholder-secret-2", "idt:TKN-1234-5678:secret 2"),
        ("repeated-char-64", "idt:TKN-1234-5678:" + "a" * 64),
        ("repeated-char-64-upper", "idt:TKN-1234-5678:" + "X" * 64),
        ("sequential-64", "idt:TKN-1234-5678:abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ab"),
        ("all-lowercase-64", "idt:TKN-1234-5678:" + lower),
        ("malformed-id-TKN-A-B", "idt:TKN-A-B:" + mixed),
        ("secret-63-chars", f"idt:TKN-1234-5678:{short}"),
        ("legacy-placeholder", "MPT_API_TOKEN=your_token_here"),
    ]
    rel = P.new_path("API-EXAMPLES.md", subdir=rng.choice(P.dirs))
    lines = ["# Marketplace API examples", "", "Replace the placeholder with your own token:", ""]
    for label, d in decoys:
        P.decoy(rel, label, d)
        lines.append(f"    Authorization: Bearer {d}" if d.startswith("idt") else f"    {d}")
        lines.append("")
    P.add_new(rel, "\n".join(lines))
    rel = P.new_path(".env.example")
    P.decoy(rel, "placeholder-your_token_here", "idt:TKN-XXXX-XXXX:your_token_here")
    P.decoy(rel, "legacy-placeholder", "MPT_API_TOKEN=your_token_here")
    P.add_new(rel, "MPT_TOKEN=idt:TKN-XXXX-XXXX:your_token_here\nMPT_API_TOKEN=your_token_here\n")
    # decoys in existing files
    for label, d in [decoys[3], decoys[8], decoys[10]]:
        rel = P.existing(["ts", "js"])
        if rel is None:
            break
        P.decoy(rel, label, d)
        P.add_edit(rel, post=f'// example: "{d}"\n')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src")
    ap.add_argument("dest")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=60, help="about how many real tokens (default 60)")
    ap.add_argument("--force", action="store_true", help="replace DEST_TREE if it exists")
    a = ap.parse_args()
    src, dest = os.path.abspath(a.src), os.path.abspath(a.dest.rstrip("/"))
    if not os.path.isdir(src):
        sys.exit(f"not a directory: {src}")
    if dest == src or dest.startswith(src + os.sep):
        sys.exit("DEST_TREE must not be inside SRC_TREE")
    if os.path.lexists(dest):
        if not a.force:
            sys.exit(f"{dest} exists (use --force to replace it)")
        shutil.rmtree(dest)
    shutil.copytree(src, dest, symlinks=True, ignore=shutil.ignore_patterns(".git"))

    P = Planter(dest, random.Random(a.seed))
    plant_specials(P)
    plant_decoys(P)
    i = 0
    while sum(1 for r in P.records if r["kind"] == "token") < a.count:
        COMMON[i % len(COMMON)](P)
        i += 1
    P.write()
    tokens, decoys = P.positions()
    out = os.path.join(os.path.dirname(dest), os.path.basename(dest) + ".expected.json")
    with open(out, "w") as f:
        json.dump({"version": 1, "seed": a.seed, "tree": dest, "tokens": tokens, "decoys": decoys}, f, indent=1)
        f.write("\n")
    files = len({t["path"] for t in tokens})
    print(f"planted {len(tokens)} tokens ({sum(t['legacy'] for t in tokens)} legacy) in {files} files, "
          f"{len(decoys)} decoys; expected -> {out}")


if __name__ == "__main__":
    main()
