#!/usr/bin/env python3
"""Plant synthetic tokens in a git repository's history, for end-to-end checks and benchmarks.

usage: scripts/plant-history.py REPO [--count N] [--seed N] [--expected FILE]

REPO must be a throwaway clone (refs and objects are added to it). Leaks are planted with git plumbing (a
temporary index, commit-tree, update-ref), each on its own branch under refs/heads/plant/, from a base commit
picked by the seed. Kinds, in turn:
  side     a new file with the token on a side branch
  deleted  a file added with the token (line 3) and deleted by the next commit
  edit     the token appended to an existing file, then three more commits touching another file
  message  the token in a commit message
Every token comes from the same SplitMix64 generator as the Swift test support (synthetic, never a real
secret). The expected findings (token, path, line, commit, author) are written as JSON to --expected
(default: REPO/../<name>.history-expected.json); scripts/check-history.py compares a report against them.
"""
import argparse, json, os, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from synthetic import synthetic_token  # noqa: E402


def git(repo, *args, env=None, input=None):
    full = dict(os.environ)
    full.update(env or {})
    out = subprocess.run(["git", "-C", repo, *args], env=full, input=input, capture_output=True, check=True)
    return out.stdout.decode().strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("repo")
    ap.add_argument("--count", type=int, default=12)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--expected")
    a = ap.parse_args()
    repo = os.path.abspath(a.repo)
    expected_path = a.expected or os.path.join(os.path.dirname(repo), os.path.basename(repo) + ".history-expected.json")
    commits = git(repo, "rev-list", "--first-parent", "HEAD").split("\n")
    index = os.path.join(git(repo, "rev-parse", "--absolute-git-dir"), "plant-index")
    clock = 1_600_000_000
    expected = []

    def commit(tree, parent, message, author):
        nonlocal clock
        clock += 3600
        env = {"GIT_AUTHOR_NAME": author, "GIT_AUTHOR_EMAIL": author.lower().replace(" ", ".") + "@example.test",
               "GIT_AUTHOR_DATE": f"@{clock} +0000", "GIT_COMMITTER_NAME": author,
               "GIT_COMMITTER_EMAIL": "planter@example.test", "GIT_COMMITTER_DATE": f"@{clock} +0000"}
        return git(repo, "commit-tree", tree, "-p", parent, "-m", message, env=env)

    def tree_with(base, changes):
        env = {"GIT_INDEX_FILE": index}
        git(repo, "read-tree", base, env=env)
        for path, content in changes:
            if content is None:
                git(repo, "update-index", "--force-remove", "--", path, env=env)
            else:
                blob = git(repo, "hash-object", "-w", "--stdin", input=content)
                git(repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
        tree = git(repo, "write-tree", env=env)
        os.remove(index)
        return tree

    kinds = ["side", "deleted", "edit", "message"]
    for i in range(a.count):
        kind = kinds[i % len(kinds)]
        seed = a.seed * 1000 + i
        token = synthetic_token(seed)
        base = commits[(seed * 7919) % len(commits)]
        author = f"Planter {i}"
        email = author.lower().replace(" ", ".") + "@example.test"
        branch = f"refs/heads/plant/{kind}-{i}"
        if kind == "side":
            path = f"plant/side-{i}/config.env"
            c = commit(tree_with(base, [(path, f"MPT_API_TOKEN={token}\n".encode())]), base, f"add config {i}", author)
            git(repo, "update-ref", branch, c)
            expected.append(dict(token=token, path=path, line=1, commit=c, author_name=author, author_email=email, kind=kind))
        elif kind == "deleted":
            path = f"src/plant-deleted-{i}.h"
            c = commit(tree_with(base, [(path, f"/* keys */\n#define X 1\n#define MPT \"{token}\"\n".encode())]), base, f"keys {i}", author)
            d = commit(tree_with(c, [(path, None)]), c, f"remove keys {i}", f"Cleaner {i}")
            git(repo, "update-ref", branch, d)
            expected.append(dict(token=token, path=path, line=3, commit=c, author_name=author, author_email=email, kind=kind))
        elif kind == "edit":
            files = [p for p in git(repo, "ls-tree", "-r", "--name-only", base).split("\n") if p.endswith((".c", ".h", ".md", ".txt"))]
            path = files[(seed * 31) % len(files)]
            content = subprocess.run(["git", "-C", repo, "cat-file", "blob", f"{base}:{path}"], capture_output=True, check=True).stdout
            if content and not content.endswith(b"\n"):
                content += b"\n"
            line = content.count(b"\n") + 1
            c = commit(tree_with(base, [(path, content + f"// {token}\n".encode())]), base, f"debug {i}", author)
            tip = c
            for k in range(3):
                tip = commit(tree_with(tip, [(f"plant/edit-{i}/counter.txt", f"{k}\n".encode())]), tip, f"more {i}.{k}", f"Other {i}")
            git(repo, "update-ref", branch, tip)
            expected.append(dict(token=token, path=path, line=line, commit=c, author_name=author, author_email=email, kind=kind))
        else:
            c = commit(git(repo, "rev-parse", base + "^{tree}"), base, f"rotate token {token} for staging", author)
            git(repo, "update-ref", branch, c)
            expected.append(dict(token=token, path=f"(commit {c[:12]} message)", line=1, commit=c, author_name=author,
                                 author_email=email, kind=kind))
    with open(expected_path, "w") as f:
        json.dump(expected, f, indent=1)
    print(f"plant-history: {len(expected)} leaks planted in {repo}; expected findings in {expected_path}", file=sys.stderr)


if __name__ == "__main__":
    main()
