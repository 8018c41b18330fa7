#!/usr/bin/env python3
"""Create a git repository with a synthetic history (no tokens), for scripts/plant-history.py on machines
without a real repository at hand (CI).

usage: scripts/make-history-repo.py DIR [--commits N] [--seed N]

Writes N commits (default 300) on main through `git fast-import`: C sources and Markdown files edited, added
and deleted, with a merge every 25 commits and a tag every 50. Deterministic for a seed.
"""
import argparse, os, random, subprocess, sys

ap = argparse.ArgumentParser()
ap.add_argument("dir")
ap.add_argument("--commits", type=int, default=300)
ap.add_argument("--seed", type=int, default=1)
a = ap.parse_args()
if os.path.exists(a.dir):
    sys.exit(f"make-history-repo: {a.dir} exists")
subprocess.run(["git", "init", "-q", "-b", "main", a.dir], check=True)
r = random.Random(a.seed)
files = {f"src/file{k}.c": f"int f{k}(void) {{ return {k}; }}\n" for k in range(20)}
files["README.md"] = "# synthetic\n"
out = []
mark = 0
clock = 1_500_000_000
def data(text):
    b = text.encode()
    return f"data {len(b)}\n".encode() + b + b"\n"
last_main = None
side = None
for i in range(a.commits):
    clock += 600
    mark += 1
    changes = []
    for _ in range(r.randint(1, 3)):
        op = r.random()
        if op < 0.7 or len(files) < 5:
            path = r.choice(sorted(files)) if r.random() < 0.8 else f"src/new{i}.c"
            files[path] = files.get(path, "") + f"/* change {i} */\n"
            changes.append(b"M 100644 inline " + path.encode() + b"\n" + data(files[path]))
        else:
            path = r.choice(sorted(files))
            del files[path]
            changes.append(b"D " + path.encode() + b"\n")
    head = f"commit refs/heads/main\nmark :{mark}\nauthor Dev {i % 7} <dev{i % 7}@example.test> {clock} +0000\n"
    head += f"committer Dev {i % 7} <dev{i % 7}@example.test> {clock} +0000\n"
    out.append(head.encode() + data(f"commit {i}"))
    if last_main:
        out.append(f"from :{last_main}\n".encode())
    if i % 25 == 24 and side:
        out.append(f"merge :{side}\n".encode())
    out.extend(changes)
    out.append(b"\n")
    last_main = mark
    if i % 25 == 10:
        side = mark
    if i % 50 == 49:
        out.append(f"tag v{i // 50}\nfrom :{mark}\ntagger Dev <dev@example.test> {clock} +0000\n".encode() + data(f"release {i // 50}"))
subprocess.run(["git", "-C", a.dir, "fast-import", "--quiet"], input=b"".join(out), check=True)
subprocess.run(["git", "-C", a.dir, "checkout", "-q", "-f", "main"], check=True)
print(f"make-history-repo: {a.commits} commits in {a.dir}", file=sys.stderr)
