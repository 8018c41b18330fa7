#!/usr/bin/env python3
"""Export the HEAD tree of a (possibly partial) bare git repo into a directory.

usage: scripts/export-tree.py GIT_DIR DEST [--rev REV]

Like `git archive REV | tar -x`, but skips blobs missing from the object store
(partial mirrors) instead of aborting; symlinks are written as symlinks and
submodules (gitlinks) are skipped. Prints files written / skipped and bytes.
"""
import argparse, os, subprocess, sys

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("git_dir"); ap.add_argument("dest"); ap.add_argument("--rev", default="HEAD")
    a = ap.parse_args()
    g = ["git", "--git-dir", a.git_dir]
    out = subprocess.run(g + ["ls-tree", "-r", "-z", a.rev], check=True, capture_output=True).stdout
    entries = []
    for rec in out.split(b"\0"):
        if not rec:
            continue
        meta, path = rec.split(b"\t", 1)
        mode, typ, sha = meta.split()
        if typ != b"blob":
            continue
        entries.append((mode.decode(), sha.decode(), os.fsdecode(path)))
    p = subprocess.Popen(g + ["cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    written = skipped = nbytes = 0
    for mode, sha, path in entries:
        p.stdin.write(sha.encode() + b"\n"); p.stdin.flush()
        header = p.stdout.readline().split()
        if len(header) < 3 or header[1] == b"missing":
            skipped += 1
            continue
        size = int(header[2])
        data = p.stdout.read(size); p.stdout.read(1)
        dst = os.path.join(a.dest, path)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if mode == "120000":
            if os.path.lexists(dst):
                os.unlink(dst)
            os.symlink(os.fsdecode(data), dst)
        else:
            with open(dst, "wb") as f:
                f.write(data)
            if mode == "100755":
                os.chmod(dst, 0o755)
            nbytes += size
        written += 1
    p.stdin.close(); p.wait()
    print(f"{a.dest}: {written} files written, {skipped} missing blobs skipped, {nbytes/1e6:.1f} MB")

if __name__ == "__main__":
    sys.exit(main())
