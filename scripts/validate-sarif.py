#!/usr/bin/env python3
"""Validate SARIF logs against the SARIF 2.1.0 JSON schema with the `jsonschema` package (not a homemade check).

Usage: validate-sarif.py SCHEMA LOG [LOG ...]

Also checks what the schema cannot express but GitHub code scanning relies on: rule ids unique, every result's
ruleIndex pointing at the rule named by its ruleId; every artifact `uri` an RFC 3986 URI reference (checked with
`rfc3987`, as the draft-04 format checker does not know `uri-reference`). Exits 1 with every problem listed, 0 when all logs are valid.
"""
import json
import sys

import jsonschema
import rfc3987


def uris(value, where=""):
    """Yield (path, uri) for every artifactLocation-like {"uri": …} object in a SARIF log."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "uri" and isinstance(item, str):
                yield where + "/uri", item
            else:
                yield from uris(item, f"{where}/{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from uris(item, f"{where}/{i}")


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 64
    with open(argv[1], encoding="utf-8") as f:
        schema = json.load(f)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    problems = 0
    for path in argv[2:]:
        with open(path, encoding="utf-8") as f:
            log = json.load(f)
        before = problems
        for error in sorted(validator.iter_errors(log), key=lambda e: list(e.absolute_path)):
            problems += 1
            where = "/".join(str(p) for p in error.absolute_path)
            print(f"{path}: {where}: {error.message}", file=sys.stderr)
        for where, uri in uris(log):
            try:
                rfc3987.parse(uri, rule="URI_reference")
            except ValueError:
                problems += 1
                print(f"{path}: {where}: not an RFC 3986 URI reference: {uri!r}", file=sys.stderr)
        results = 0
        for r, run in enumerate(log.get("runs", [])):
            ids = [rule["id"] for rule in run["tool"]["driver"].get("rules", [])]
            if len(ids) != len(set(ids)):
                problems += 1
                print(f"{path}: runs/{r}: duplicate rule ids {ids}", file=sys.stderr)
            for i, result in enumerate(run.get("results", [])):
                results += 1
                index = result.get("ruleIndex")
                if index is None or index >= len(ids) or ids[index] != result.get("ruleId"):
                    problems += 1
                    print(f"{path}: runs/{r}/results/{i}: ruleIndex {index} does not name rule {result.get('ruleId')}", file=sys.stderr)
        print(f"{path}: {'valid' if problems == before else 'INVALID'} SARIF 2.1.0 ({results} results)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
