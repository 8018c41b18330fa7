#!/usr/bin/env python3
"""Build a tree of every hostile input (issue 8) with synthetic tokens planted among them, scan it with a built
mptscan, and check the defined outcome of each case.

usage: scripts/hostile-tree.py --binary PATH [--dir DIR] [--sparse-gb N] [--keep] [--jobs N]

  --binary PATH   the mptscan to check (copied next to the tree so that user nobody can run it)
  --dir DIR       where to build (default: a new directory under /tmp, removed afterwards unless --keep);
                  must not exist. Made world-traversable: the scan runs as user nobody when we are root
  --sparse-gb N   size of the sparse file, in GiB (default 10: the whole check takes about a minute with a
                  release build and two with a debug build, on two shared cores)

What the tree holds, and what must happen (every token is a seeded synthetic one, scripts/synthetic.py):

  a-slow/1-big.img      N GiB sparse file, token at its end        streamed (no size limit), token found
  a-slow/2-small.img    1 GiB sparse file                          keeps the second worker busy
  archives/ratio-bomb.zip        16 MiB of zeros (1030:1) + token   --max-archive-ratio reached; token found
  archives/member-bomb.zip       160 MiB at 167:1                   --max-archive-member-bytes reached
  archives/nested.zip            10 zips deep, token at level 2     --max-archive-depth reached; token found
  archives/many.zip              100,000 members (ZIP64), token last  all read, token found
  archives/truncated.zip         end of central directory cut off   unreadable: scanned as plain bytes
  archives/overlap.zip           entries sharing a local header     read once, reported
  archives/traversal.zip, .tar   ../../ and absolute member names   labels only, tokens found, nothing written
  a-slow/3-gone.txt              listed, then deleted while both     reported: vanished during the scan
                                 threads read the two sparse files  (with --jobs 2: a third thread would open it first)
  c-grow/growing.log             appended to during the scan        scanned as it was when opened; token found
  encoded/base64x3.txt           token in Base64 three times        found
  encoded/base64x4.txt           token in Base64 four times         --max-decode-depth reached
  locked/secret.env              directory mode 0700, root's        unreadable for nobody: reported once
  maps/app.js.map                a million sources, token in the last  found with its original source
  special/fifo, socket, zero -> /dev/zero, urandom -> /dev/urandom, loop1 <-> loop2, dirloop -> .
                                                                     skipped, listed, never read; with
                                                                     --follow-symlinks devices stay skipped
  text/line-50mb.min.js          one 50 MB line, tokens at start, middle, end  found
  text/invalid-utf8.txt, text/utf16-surrogates.txt                  tokens found
  text/many-tokens.env           1,500 findings                     --max-findings-per-file reached
  repo/                          git repository whose config, hooks and attribute drivers name programs
                                 that create a marker: history, staged, pre-push, sweep and scan never do

Checks: the scan finishes, exits 1 (leaks take precedence over 2), prints each problem exactly once on
stderr, counts them (and every limit reached) in the summary and says the scan is incomplete; the JSON
summary agrees; every planted token's fingerprint is found; no planted secret appears in any output; the
marker directory stays empty. Exit 0 when all hold, 1 otherwise (each failure printed).
"""
import argparse
import base64
import hashlib
import io
import json
import os
import shutil
import socket
import stat
import struct
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import zipfile

sys.dont_write_bytecode = True  # no __pycache__ in the repository
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from synthetic import synthetic_token  # noqa: E402

NOBODY = 65534
failures = []


def fail(message):
    failures.append(message)
    print(f"hostile-tree: FAIL: {message}", file=sys.stderr)


def fingerprint(token):
    return hashlib.sha256(token.encode()).hexdigest()


class Tree:
    def __init__(self, root):
        self.root = root
        self.planted = {}  # fingerprint -> where
        self.secrets = []  # every planted secret, to grep the outputs for
        self.seed = 3000

    def token(self, where, plant=True):
        """A new synthetic token; `plant`: it must be found (else it is behind a limit or unreadable)."""
        self.seed += 1
        t = synthetic_token(self.seed)
        self.secrets.append(t.rsplit(":", 1)[1])
        if plant:
            self.planted[fingerprint(t)] = where
        return t

    def path(self, rel):
        p = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        return p

    def write(self, rel, data):
        with open(self.path(rel), "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())


def zip_bytes(members, method=zipfile.ZIP_DEFLATED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = method
            z.writestr(info, data)
    return buf.getvalue()


def overlap_zip(token):
    """Three central entries pointing at one local header: the same data under three names."""
    z = bytearray(zip_bytes([("outer.bin", f"k={token}\n".encode())], zipfile.ZIP_DEFLATED))
    eocd = len(z) - 22
    cd_size, cd_offset = struct.unpack_from("<II", z, eocd + 12)
    entry = bytes(z[cd_offset:cd_offset + cd_size])
    z[eocd:eocd] = entry + entry
    eocd += 2 * len(entry)
    struct.pack_into("<HHI", z, eocd + 8, 3, 3, 3 * cd_size)
    return bytes(z)


def sparse(path, size, tail=b""):
    with open(path, "wb") as f:
        f.truncate(size)
        if tail:
            f.seek(size - len(tail) - 16)
            f.write(tail)


def build(tree, sparse_gb, markers):
    t = tree
    # slow files first in walk order: two threads busy while a-slow/3-gone.txt, listed with them, disappears
    big = t.token("a-slow/1-big.img (end)")
    sparse(t.path("a-slow/1-big.img"), sparse_gb << 30, f"\nk={big}\n".encode())
    sparse(t.path("a-slow/2-small.img"), 1 << 30)

    ratio = t.token("archives/ratio-bomb.zip!after.txt")
    t.write("archives/ratio-bomb.zip", zip_bytes([("zeros.bin", bytes(16 << 20)), ("after.txt", f"k={ratio}\n")]))
    data = bytearray(160 << 20)
    for i in range(0, len(data), 600):
        data[i] = 1 + (i * 7919) % 255
    t.write("archives/member-bomb.zip", zip_bytes([("big.bin", bytes(data))]))
    del data
    # nested.zip > level1.zip (holding token.txt, at depth 2) > level2.zip > … > level9.zip: ten zips
    level2 = t.token("archives/nested.zip!level1.zip!token.txt")
    inner = zip_bytes([("bottom.txt", "the bottom of ten zips\n")])
    for level in range(8, 0, -1):
        members = [(f"level{level + 1}.zip", inner)] + ([("token.txt", f"k={level2}\n")] if level == 1 else [])
        inner = zip_bytes(members)
    t.write("archives/nested.zip", zip_bytes([("level1.zip", inner)]))
    last = t.token("archives/many.zip!m/99999")
    t.write("archives/many.zip", zip_bytes([(f"m/{i}", "x" if i < 99_999 else f"k={last}\n") for i in range(100_000)], zipfile.ZIP_STORED))
    cut = t.token("archives/truncated.zip (plain bytes)")
    t.write("archives/truncated.zip", zip_bytes([("a.txt", f"k={cut}\n")], zipfile.ZIP_STORED)[:-30])
    t.write("archives/overlap.zip", overlap_zip(t.token("archives/overlap.zip!outer.bin")))
    escape = "../../../../../../../../tmp/mptscan-hostile-pwned"
    t.write("archives/traversal.zip", zip_bytes([(escape, f"k={t.token('archives/traversal.zip!' + escape)}\n"),
                                                 ("/etc/cron.d/mptscan", "x"), ("..\\..\\windows\\x.txt", "y")]))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        payload = f"k={t.token('archives/traversal.tar!' + escape)}\n".encode()
        info = tarfile.TarInfo(escape)
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    t.write("archives/traversal.tar", buf.getvalue())

    t.write("a-slow/3-gone.txt", "vanishes while the workers are busy\n")
    t.write("c-grow/growing.log", f"k={t.token('c-grow/growing.log')}\n")

    b64 = t.token("encoded/base64x3.txt")
    text = "key: " + b64
    for _ in range(3):
        text = base64.b64encode(text.encode()).decode()
    t.write("encoded/base64x3.txt", f"blob = {text}\n")
    text = "key: " + t.token("encoded/base64x4.txt", plant=False)
    for _ in range(4):
        text = base64.b64encode(text.encode()).decode()
    t.write("encoded/base64x4.txt", f"blob = {text}\n")

    t.write("locked/secret.env", f"k={t.token('locked/secret.env', plant=False)}\n")

    mapped = t.token("maps/app.js.map (sourcesContent[999999])")
    with open(t.path("maps/app.js.map"), "w") as f:
        f.write('{"version":3,"file":"app.js","sources":[')
        f.write(",".join(f'"s/{i}.js"' for i in range(1_000_000)))
        f.write('],"sourcesContent":[')
        f.write(",".join('"x"' for _ in range(999_999)))
        f.write(f',"const k = \'{mapped}\';\\n"],"mappings":""}}\n')

    special = t.path("special/x")
    os.mkfifo(os.path.join(os.path.dirname(special), "fifo"))
    s = socket.socket(socket.AF_UNIX)
    s.bind(os.path.join(os.path.dirname(special), "socket"))
    s.close()
    for name, target in [("zero", "/dev/zero"), ("urandom", "/dev/urandom"), ("loop1", "loop2"), ("loop2", "loop1"), ("dirloop", ".")]:
        os.symlink(target, os.path.join(os.path.dirname(special), name))

    a, m, z = (t.token(f"text/line-50mb.min.js ({w})") for w in ("start", "middle", "end"))
    filler = b"a" * 25_000_000
    t.write("text/line-50mb.min.js", f'var a="{a}";'.encode() + filler + f';var b="{m}";'.encode() + filler + f';var c="{z}"\n'.encode())
    t.write("text/invalid-utf8.txt", bytes([0xFF, 0x80, 0xC3, 0xE2, 0x82, 0xC0, 0xAF]) + f"k={t.token('text/invalid-utf8.txt')}\n".encode()
            + bytes([0xED, 0xA0, 0x80, 0xF8]))
    units = [0xD800, 0x41, 0xDC00, 0xDBFF, 0x0A] + [ord(c) for c in "k=" + t.token("text/utf16-surrogates.txt")] + [0xD83D]
    t.write("text/utf16-surrogates.txt", b"\xff\xfe" + b"".join(struct.pack("<H", u) for u in units) + b"A")
    t.write("text/many-tokens.env", f"k={t.token('text/many-tokens.env')}\n" * 1500)
    t.write("plain/ordinary.ts", f'export const TOKEN = "{t.token("plain/ordinary.ts")}";\n')

    build_repo(t, markers)


HOSTILE_CONFIG = ["core.fsmonitor", "core.pager", "pager.log", "pager.diff", "diff.external", "diff.evil.textconv",
                  "diff.evil.command", "filter.evil.smudge", "filter.evil.clean", "filter.evil.process", "merge.evil.driver",
                  "core.sshCommand", "core.editor", "sequence.editor", "gpg.program", "core.askPass",
                  "uploadpack.packObjectsHook", "core.alternateRefsCommand", "core.gitProxy"]
HOOKS = ["pre-commit", "post-checkout", "pre-push", "post-index-change", "reference-transaction", "pre-auto-gc",
         "post-rewrite", "fsmonitor-watchman"]


def git(repo, *args, env=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    e.update({"GIT_CONFIG_NOSYSTEM": "1", "HOME": repo, "GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@example.test",
              "GIT_COMMITTER_NAME": "A", "GIT_COMMITTER_EMAIL": "a@example.test",
              "GIT_AUTHOR_DATE": "@1700000000 +0000", "GIT_COMMITTER_DATE": "@1700000000 +0000"})
    e.update(env or {})
    return subprocess.run(["git", *args], cwd=repo, env=e, check=True, capture_output=True, text=True).stdout.strip()


def build_repo(t, markers):
    repo = t.path("repo/x")
    repo = os.path.dirname(repo)
    git(repo, "init", "-q", "-b", "main")
    t.write("repo/.gitattributes", "* filter=evil diff=evil merge=evil\n")
    t.write("repo/a.txt", f"k={t.token('repo/a.txt (and in history)')}\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--no-verify", "-m", "init")
    git(repo, "checkout", "-q", "-b", "feature")
    t.write("repo/b.txt", f"k={t.token('repo/b.txt (and in history)')}\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--no-verify", "-m", "feature")
    t.write("repo/c.txt", f"k={t.token('repo/c.txt (staged)')}\n")
    git(repo, "add", "c.txt")
    hooks = os.path.join(os.path.dirname(repo), "evil-hooks")
    os.makedirs(hooks, exist_ok=True)
    for hook in HOOKS:
        for d in (hooks, os.path.join(repo, ".git", "hooks")):
            os.makedirs(d, exist_ok=True)
            p = os.path.join(d, hook)
            with open(p, "w") as f:
                f.write(f"#!/bin/sh\ntouch '{markers}/hook-{hook}'\nexit 0\n")
            os.chmod(p, 0o755)
    for key in HOSTILE_CONFIG:
        git(repo, "config", key, f"touch '{markers}/{key}'; cat")
    git(repo, "config", "credential.helper", f"!touch '{markers}/credential.helper'")
    git(repo, "config", "filter.evil.required", "true")
    git(repo, "config", "core.hooksPath", hooks)
    git(repo, "config", "remote.origin.url", "ssh://git@example.invalid/repo.git")
    return repo


def run(argv, as_nobody, stdin=None, cwd=None, timeout=900, during=None):
    """Runs `argv` (as user nobody when asked and root); `during(pid, done)` runs on a thread meanwhile, `done`
    (an Event) set once the process has ended."""
    if as_nobody:
        argv = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"] + argv
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NO_COLOR": "1", "HOME": "/tmp"}
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, env=env)
    done = threading.Event()
    helper = threading.Thread(target=during, args=(p.pid, done)) if during else None
    if helper:
        helper.start()
    try:
        out, err = p.communicate(stdin.encode() if stdin else None, timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        fail(f"{' '.join(argv[-3:])} did not finish within {timeout} s")
    done.set()
    if helper:
        helper.join()
    return p.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def open_files(pid):
    try:
        return {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
    except OSError:
        return set()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--dir")
    ap.add_argument("--sparse-gb", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    base = a.dir or tempfile.mkdtemp(prefix="mptscan-hostile-", dir="/tmp")
    if a.dir:
        os.makedirs(base)
    os.chmod(base, 0o755)
    root = os.geteuid() == 0
    if root and not shutil.which("setpriv"):
        sys.exit("hostile-tree: running as root needs setpriv (util-linux) to scan as user nobody: root reads everything")
    try:
        return check(a, base, root)
    finally:
        locked = os.path.join(base, "tree", "locked")
        if os.path.isdir(locked):
            os.chmod(locked, 0o755)
        if not a.keep:
            shutil.rmtree(base, ignore_errors=True)
        else:
            print(f"hostile-tree: kept {base}")


def check(a, base, root):
    binary = os.path.join(base, "mptscan")
    shutil.copy(a.binary, binary)
    os.chmod(binary, 0o755)
    markers = os.path.join(base, "markers")
    os.makedirs(markers)
    os.chmod(markers, 0o777)  # so that even a scan run as nobody could create one
    tree = Tree(os.path.join(base, "tree"))
    started = time.time()
    build(tree, a.sparse_gb, markers)
    for dirpath, dirnames, filenames in os.walk(tree.root):
        os.chmod(dirpath, 0o755)
    os.chmod(os.path.join(tree.root, "locked"), 0o700 if root else 0o000)
    if markers_present(markers):
        fail(f"building the repository ran a command: {os.listdir(markers)}")
    print(f"hostile-tree: built {tree.root} in {time.time() - started:.0f} s ({len(tree.planted)} planted tokens)")

    outputs = []
    repo = os.path.join(tree.root, "repo")
    # the git commands, as ourselves (git refuses a repository another user owns)
    main_id, feature_id = (git(repo, "rev-parse", b) for b in ("main", "feature"))
    listing = os.path.join(base, "repos.txt")
    with open(listing, "w") as f:
        f.write(repo + "\n")
    push = f"refs/heads/feature {feature_id} refs/heads/feature {main_id}\n"
    for args, stdin, cwd in [(["history", repo], None, None), (["history", "--range", "main..feature", repo], None, None),
                             (["staged", repo], None, None), (["staged"], None, repo),
                             (["pre-push", "--repository", repo, "origin", "ssh://git@example.invalid/repo.git"], push, None),
                             (["sweep", "--repos", listing], None, None), (["scan", repo], None, None)]:
        code, out, err = run([binary] + args, False, stdin=stdin, cwd=cwd)
        outputs += [out, err]
        if code != 1:
            fail(f"mptscan {' '.join(args)}: exit {code}, expected 1 (leaks): {err.strip()[:400]}")
        if markers_present(markers):
            fail(f"mptscan {' '.join(args)} ran a program the repository names: {sorted(os.listdir(markers))}")

    # the tree, as nobody: a file grows and another vanishes while the workers are busy with the sparse files
    def during(pid, done):
        def grow():
            with open(os.path.join(tree.root, "c-grow/growing.log"), "ab") as f:
                while not done.is_set():
                    f.write(b"more log\n" * 1000)
                    f.flush()
                    time.sleep(0.01)
        grower = threading.Thread(target=grow)
        grower.start()
        while not done.is_set():
            opened = open_files(pid)
            if any(p.endswith("1-big.img") for p in opened) and any(p.endswith("2-small.img") for p in opened):
                time.sleep(0.3)  # both threads are reading; 3-gone.txt was listed with them and waits
                os.remove(os.path.join(tree.root, "a-slow/3-gone.txt"))
                break
            time.sleep(0.005)
        else:
            fail("the two sparse files were never open at once: the vanishing file could not be timed")
        grower.join()

    started = time.time()
    code, out, err = run([binary, "scan", "--format", "json", "--jobs", str(a.jobs), tree.root], root, during=during)
    seconds = time.time() - started
    outputs += [out, err]
    print(f"hostile-tree: scan of the tree as {'nobody' if root else 'this user'}: exit {code} in {seconds:.0f} s")
    print("\n".join("  " + line for line in err.splitlines()))
    if code != 1:
        fail(f"scan exit {code}, expected 1 (leaks take precedence over 2)")
    try:
        report = json.loads(out)
    except ValueError:
        fail("the JSON report does not parse")
        report = {"findings": [], "summary": {}}
    found = {f["fingerprint"] for f in report["findings"]}
    for fp, where in sorted(tree.planted.items(), key=lambda x: x[1]):
        if fp not in found:
            fail(f"planted token not found: {where}")

    expected_errors = [  # (path, text in the message, limit or None)
        ("archives/member-bomb.zip", "inflates past", "max-archive-member-bytes"),
        ("archives/nested.zip", "nested deeper than 3 levels", "max-archive-depth"),
        ("archives/overlap.zip", "sharing a local header", None),
        ("archives/ratio-bomb.zip", "inflates past", "max-archive-ratio"),
        ("archives/truncated.zip", "archive unreadable, scanned as plain bytes", None),
        ("a-slow/3-gone.txt", "vanished during the scan", None),
        ("encoded/base64x4.txt", "--max-decode-depth", "max-decode-depth"),
        ("locked", "cannot open directory: Permission denied", None),
        ("text/many-tokens.env", "past --max-findings-per-file 1000 not reported", "max-findings-per-file"),
    ]
    error_lines = [line for line in err.splitlines() if line.startswith("mptscan: error: ")]
    for path, text, _ in expected_errors:
        matching = [line for line in error_lines if line.startswith(f"mptscan: error: {path}: ") and text in line]
        if len(matching) != 1:
            fail(f"expected one error line for {path} ({text}), got {len(matching)}")
    if len(error_lines) != len(expected_errors):
        fail(f"{len(error_lines)} error lines, expected {len(expected_errors)}: {error_lines}")
    limits = sorted({limit for _, _, limit in expected_errors if limit})
    for limit in limits:
        if sum(1 for line in err.splitlines() if line.startswith(f"mptscan: limit --{limit} ")) != 1:
            fail(f"expected one summary line for --{limit}")
    with_limit = sum(1 for _, _, limit in expected_errors if limit)
    counted = f"mptscan: {with_limit} paths left partly unscanned at a limit, {len(expected_errors) - with_limit} could not be read: the scan is incomplete"
    if counted not in err:
        fail(f"summary line missing: {counted}")
    if "skipped (not content): 5 symlinks, 1 fifo, 1 socket" not in err:
        fail("the skipped entries are not counted in the summary")

    summary = report.get("summary", {})
    if summary.get("complete") is not False:
        fail("JSON summary: complete is not false")
    if sorted(r["limit"] for r in summary.get("limits_reached", [])) != limits:
        fail(f"JSON summary: limits_reached {summary.get('limits_reached')} != {limits}")
    if sorted(u["path"] for u in summary.get("unreadable", [])) != sorted(p for p, _, _ in expected_errors):
        fail(f"JSON summary: unreadable {[u['path'] for u in summary.get('unreadable', [])]}")
    skipped = {s["path"]: s["reason"] for s in summary.get("skipped", [])}
    for path, reason in [("special/fifo", "fifo"), ("special/socket", "socket"), ("special/zero", "symlink"),
                         ("special/urandom", "symlink"), ("special/loop1", "symlink"), ("special/dirloop", "symlink")]:
        if skipped.get(path) != reason:
            fail(f"{path}: skipped as {skipped.get(path)}, expected {reason}")
    if summary.get("bytes_scanned", 0) < (a.sparse_gb << 30) + (1 << 30):
        fail("the sparse files were not read to their ends")
    if os.path.exists("/tmp/mptscan-hostile-pwned"):
        fail("a member name wrote a file")

    # links followed: devices stay skipped, loops end, nothing is read from /dev/zero
    code, out, err = run([binary, "scan", "--follow-symlinks", "--format", "json", os.path.join(tree.root, "special")], root, timeout=60)
    outputs += [out, err]
    try:
        followed = {s["path"]: s["reason"] for s in json.loads(out)["summary"]["skipped"]}
    except (ValueError, KeyError):
        followed = {}
    expected_followed = {"fifo": "fifo", "socket": "socket", "zero": "device", "urandom": "device", "loop1": "symlink-loop",
                         "loop2": "symlink-loop", "dirloop": "symlink-loop"}
    if code != 0 or followed != expected_followed:
        fail(f"--follow-symlinks on special/: exit {code}, skipped {followed}")

    for secret in tree.secrets:
        if any(secret in o for o in outputs):
            fail(f"a planted secret appears in an output (…{secret[-6:]})")
    if markers_present(markers):
        fail(f"a marker was created: {sorted(os.listdir(markers))}")
    if failures:
        print(f"hostile-tree: {len(failures)} check(s) failed", file=sys.stderr)
        return 1
    print(f"hostile-tree: ok: {len(tree.planted)} planted tokens found, {len(expected_errors)} problems reported once each, "
          f"{len(limits)} limits counted, no marker, no secret in any output")
    return 0


def markers_present(markers):
    return bool(os.listdir(markers))


if __name__ == "__main__":
    sys.exit(main())
