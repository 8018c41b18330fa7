#!/usr/bin/env python3
"""Generate a deterministic, realistic-looking source tree for benchmarks, then plant synthetic tokens.

usage: scripts/gen-tree.py DEST [--mb 300] [--seed 1] [--plant 30] [--force]

Writes about --mb megabytes of source-like text (JS/TS/JSON/Markdown/YAML/Python/CSS/HTML, a few
minified bundles with source maps, ~2% binary blobs) in nested package directories, then runs
scripts/plant-tokens.py to copy it to DEST with about --plant synthetic tokens and decoys planted
(0 = no planting). The expected findings go to DEST/../<name>.expected.json (see plant-tokens.py).
Same arguments, same bytes. Nothing here is a real credential.
"""
import argparse
import os
import random
import shutil
import string
import subprocess
import sys

WORDS = ("account agreement order subscription product listing catalog price buyer seller vendor client "
         "request response token user session cache config module handler router service store item "
         "invoice journal statement ledger charge export import render update create delete fetch parse "
         "format value index entry result error status message event queue worker batch stream").split()


def ident(rng, camel=True):
    w = [rng.choice(WORDS) for _ in range(rng.randint(1, 3))]
    return w[0] + "".join(x.capitalize() for x in w[1:]) if camel else "_".join(w)


def sentence(rng, n=None):
    return " ".join(rng.choice(WORDS) for _ in range(n or rng.randint(4, 14))).capitalize() + "."


def js_lines(rng, ts=False):
    a, b, c = ident(rng), ident(rng), ident(rng)
    T = (lambda t: f": {t}") if ts else (lambda t: "")
    k = rng.randrange(14)
    if k == 0:
        return [f"import {{ {a}, {b} }} from '../{rng.choice(WORDS)}/{rng.choice(WORDS)}';"]
    if k == 1:
        return [f"export function {a}({b}{T('string')}, {c}{T('number')} = {rng.randrange(100)}){T('boolean')} {{",
                f"  if (!{b}) {{", f"    throw new Error('{sentence(rng)}');", "  }",
                f"  return {b}.length > {c};", "}", ""]
    if k == 2:
        return [f"const {a} = await fetch(`${{baseUrl}}/public/v1/{rng.choice(WORDS)}s/${{{b}}}`, {{",
                "  method: 'GET',", "  headers: { Accept: 'application/json' },", "});"]
    if k == 3:
        return [f"  // {sentence(rng)}"]
    if k == 4:
        return ["/**", f" * {sentence(rng)}", f" * @param {{{rng.choice(['string', 'number', 'object'])}}} {a}",
                f" * @returns {{Promise<{rng.choice(['void', 'string', 'boolean'])}>}}", " */"]
    if k == 5:
        return [f"  {a}.{b} = {c}?.{rng.choice(WORDS)} ?? {rng.randrange(1000)};"]
    if k == 6:
        return [f"export class {a[0].upper() + a[1:]} extends Base {{",
                f"  private {b}{T('Map<string, number>')} = new Map();",
                f"  {c}() {{ return this.{b}.size; }}", "}", ""]
    if k == 7 and ts:
        return [f"export interface {a[0].upper() + a[1:]} {{", f"  {b}: string;", f"  {c}?: number;", "}", ""]
    if k == 8:
        return [f"describe('{sentence(rng, 4)}', () => {{", f"  it('{sentence(rng, 6)}', async () => {{",
                f"    expect(await {a}('{rng.choice(WORDS)}')).toBe({rng.choice(['true', 'false', 'null'])});",
                "  });", "});", ""]
    if k == 9:
        return [f"const {a} = {{ id: '{rng.choice(['ACC', 'ORD', 'PRD', 'AGR'])}-{rng.randrange(10000):04d}-"
                f"{rng.randrange(10000):04d}', name: '{sentence(rng, 3)}', count: {rng.randrange(100)} }};"]
    if k == 10:
        return [f"  for (const {a} of {b}) {{", f"    {c}.push({a}.{rng.choice(WORDS)});", "  }"]
    if k == 11:
        return [f"  const {a} = '{''.join(rng.choice(string.ascii_letters + string.digits) for _ in range(rng.randint(8, 40)))}';"]
    return [f"  return {a}.map(({b}) => {b}.{c}).filter(Boolean);"]


def json_lines(rng):
    return [f'  "{ident(rng)}": {rng.choice([str(rng.randrange(10**6)), "true", "null", chr(34) + sentence(rng) + chr(34)])},']


def md_lines(rng):
    k = rng.randrange(5)
    if k == 0:
        return ["", f"## {sentence(rng, 3)[:-1]}", ""]
    if k == 1:
        return [f"- {sentence(rng)}"]
    if k == 2:
        return ["```js", *js_lines(rng), "```"]
    return [" ".join(sentence(rng) for _ in range(rng.randint(2, 5)))]


def yaml_lines(rng):
    return [f"{ident(rng, False)}:", f"  {ident(rng, False)}: {rng.choice([str(rng.randrange(100)), 'true', sentence(rng, 3)])}",
            f"  {ident(rng, False)}: \"{rng.choice(WORDS)}-{rng.randrange(99)}\""]


def py_lines(rng):
    a, b = ident(rng, False), ident(rng, False)
    k = rng.randrange(4)
    if k == 0:
        return [f"def {a}({b}, *, timeout=30):", f"    \"\"\"{sentence(rng)}\"\"\"", f"    return {b}.get('{rng.choice(WORDS)}')", ""]
    if k == 1:
        return [f"from {rng.choice(WORDS)}.{rng.choice(WORDS)} import {a}"]
    if k == 2:
        return [f"    # {sentence(rng)}"]
    return [f"    {a} = [{b} for {b} in range({rng.randrange(100)}) if {b} % 2]"]


def css_lines(rng):
    return [f".{rng.choice(WORDS)}-{rng.choice(WORDS)} {{", f"  margin: {rng.randrange(32)}px {rng.randrange(32)}px;",
            f"  color: #{rng.randrange(16**6):06x};", "}"]


def html_lines(rng):
    return [f"<div class=\"{rng.choice(WORDS)}\"><span>{sentence(rng)}</span></div>"]


KINDS = {  # kind: (line generator, extensions, weight)
    "js": (lambda r: js_lines(r), [".js", ".mjs", ".jsx"], 34),
    "ts": (lambda r: js_lines(r, ts=True), [".ts", ".tsx", ".d.ts"], 28),
    "json": (json_lines, [".json"], 12),
    "md": (md_lines, [".md"], 7),
    "yaml": (yaml_lines, [".yml", ".yaml"], 4),
    "py": (py_lines, [".py"], 4),
    "css": (css_lines, [".css", ".scss"], 5),
    "html": (html_lines, [".html"], 3),
}


def make_pool(rng, gen, target_chars):
    out, n = [], 0
    while n < target_chars:
        for line in gen(rng):
            out.append(line)
            n += len(line) + 1
    return "\n".join(out) + "\n"


def minified(rng, n):
    parts, size = [], 0
    while size < n:
        a, b, c = (("".join(rng.choice(string.ascii_letters) for _ in range(rng.randint(1, 2)))) for _ in range(3))
        s = rng.choice([f"function {a}({b},{c}){{return {b}+{c}}}", f"var {a}={b}||{{}};", f"{a}.{b}=function(){{return this.{c}}};",
                        f"if({a}){{{b}({c})}}", f"const {a}=\"{rng.choice(WORDS)}\";"])
        parts.append(s)
        size += len(s)
    return "".join(parts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dest")
    ap.add_argument("--mb", type=float, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--plant", type=int, default=30, help="tokens to plant (0: none)")
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args()
    dest = os.path.abspath(a.dest.rstrip("/"))
    if os.path.lexists(dest):
        if not a.force:
            sys.exit(f"{dest} exists (use --force)")
        shutil.rmtree(dest)
    base = dest + ".base" if a.plant else dest
    if os.path.lexists(base):
        shutil.rmtree(base)
    rng = random.Random(a.seed)
    pools = {k: make_pool(rng, g, 4_000_000) for k, (g, _, _) in KINDS.items()}
    kinds = list(KINDS)
    weights = [KINDS[k][2] for k in kinds]
    target = int(a.mb * 1e6)
    total = files = 0
    pkgs = [f"{rng.choice(WORDS)}-{rng.choice(WORDS)}" for _ in range(60)]
    while total < target:
        pkg = rng.choice(pkgs)
        sub = [rng.choice(["src", "lib", "test", "__tests__", "fixtures", "components", "utils", "api", "docs"])]
        sub += [rng.choice(WORDS) for _ in range(rng.randint(0, 4))]
        d = os.path.join(base, "packages", pkg, *sub)
        os.makedirs(d, exist_ok=True)
        r = rng.random()
        if r < 0.02:        # binary blob
            size = int(min(rng.lognormvariate(9.5, 1.2), 4e6))
            path = os.path.join(d, f"{rng.choice(WORDS)}-{files}.{rng.choice(['png', 'woff2', 'gz', 'bin'])}")
            with open(path, "wb") as f:
                f.write(rng.randbytes(size))
        elif r < 0.025:     # minified bundle + map
            size = int(min(rng.lognormvariate(12.5, 1.0), 3e6))
            name = f"{rng.choice(WORDS)}.{files}.min.js"
            body = "!function(){" + minified(rng, size) + "}();\n//# sourceMappingURL=" + name + ".map\n"
            with open(os.path.join(d, name), "w") as f:
                f.write(body)
            with open(os.path.join(d, name + ".map"), "w") as f:
                f.write('{"version":3,"file":"%s","sources":["../src/index.ts"],"names":[],"mappings":"%s"}\n'
                        % (name, ";".join("AAAA,CAAC,GAAG" for _ in range(size // 200))))
            size += size // 200 * 15
        else:               # ordinary source file: a slice of a pool, starting at a line boundary
            k = rng.choices(kinds, weights)[0]
            pool = pools[k]
            size = int(min(max(rng.lognormvariate(8.3, 1.1), 120), 1.5e6))
            start = pool.find("\n", rng.randrange(len(pool) - 1)) + 1
            text = (pool[start:] + pool)[:size]
            text = text[: text.rfind("\n") + 1] or text
            path = os.path.join(d, f"{ident(rng)}-{files}{rng.choice(KINDS[k][1])}")
            with open(path, "w") as f:
                f.write(text)
            size = len(text)
        total += size
        files += 1
    print(f"generated {files} files, {total / 1e6:.1f} MB in {base}")
    if a.plant:
        here = os.path.dirname(os.path.abspath(__file__))
        subprocess.run([sys.executable, os.path.join(here, "plant-tokens.py"), base, dest, "--seed", str(a.seed),
                        "--count", str(a.plant)], check=True)
        shutil.rmtree(base)


if __name__ == "__main__":
    main()
