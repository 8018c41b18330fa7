#!/usr/bin/env python3
"""Check a JUnit XML report and a GitLab secret detection report from the same scan.

Usage: check-reports.py JUNIT.xml GITLAB.json EXPECTED_FAILURES

JUnit: parsed with xml.etree (well-formed XML), one <testsuite> under <testsuites>, `failures` equal to the
failing <testcase> elements and to EXPECTED_FAILURES. GitLab: every field that the secret detection report schema
15.x requires (docs/REPORT-FORMATS.md), with the value shapes it demands, and one vulnerability per failure.
"""
import json
import re
import sys
import xml.etree.ElementTree as ET


def fail(message):
    print(f"check-reports: {message}", file=sys.stderr)
    sys.exit(1)


def main(argv):
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 64
    expected = int(argv[3])
    root = ET.parse(argv[1]).getroot()
    if root.tag != "testsuites" or len(root.findall("testsuite")) != 1:
        fail("JUnit: expected <testsuites> with one <testsuite>")
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    failing = [c for c in cases if c.find("failure") is not None]
    if int(suite.get("tests")) != len(cases) or int(suite.get("failures")) != len(failing) or len(failing) != expected:
        fail(f"JUnit: tests={suite.get('tests')} failures={suite.get('failures')}, {len(cases)} cases, {len(failing)} failing, expected {expected}")
    for c in cases:
        if not c.get("classname") or not c.get("name"):
            fail("JUnit: a testcase without classname or name")

    with open(argv[2], encoding="utf-8") as f:
        report = json.load(f)
    if not re.fullmatch(r"15\.\d+\.\d+", report.get("version", "")):
        fail(f"GitLab: version {report.get('version')!r} is not 15.x")
    scan = report.get("scan") or fail("GitLab: no scan")
    for part in ("analyzer", "scanner"):
        component = scan.get(part) or fail(f"GitLab: no scan.{part}")
        for key in ("id", "name", "version"):
            if not isinstance(component.get(key), str) or not component[key]:
                fail(f"GitLab: scan.{part}.{key} missing")
        if not (component.get("vendor") or {}).get("name"):
            fail(f"GitLab: scan.{part}.vendor.name missing")
    if scan.get("type") != "secret_detection":
        fail("GitLab: scan.type is not secret_detection")
    for key in ("start_time", "end_time"):
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", scan.get(key, "")):
            fail(f"GitLab: scan.{key} {scan.get(key)!r} is not YYYY-MM-DDTHH:MM:SS")
    if scan.get("status") not in ("success", "failure"):
        fail("GitLab: scan.status is not success or failure")
    vulnerabilities = report.get("vulnerabilities")
    if not isinstance(vulnerabilities, list) or len(vulnerabilities) != expected:
        fail(f"GitLab: expected {expected} vulnerabilities")
    ids = set()
    for i, v in enumerate(vulnerabilities):
        if not v.get("id") or v["id"] in ids:
            fail(f"GitLab: vulnerabilities[{i}].id missing or repeated")
        ids.add(v["id"])
        if v.get("severity") not in ("Info", "Unknown", "Low", "Medium", "High", "Critical"):
            fail(f"GitLab: vulnerabilities[{i}].severity {v.get('severity')!r}")
        identifiers = v.get("identifiers") or fail(f"GitLab: vulnerabilities[{i}].identifiers empty")
        for ident in identifiers:
            if not all(isinstance(ident.get(k), str) and ident[k] for k in ("type", "name", "value")):
                fail(f"GitLab: vulnerabilities[{i}].identifiers needs type, name and value")
        location = v.get("location") or fail(f"GitLab: vulnerabilities[{i}].location missing")
        if not location.get("file") or not isinstance(location.get("start_line"), int):
            fail(f"GitLab: vulnerabilities[{i}].location needs file and start_line")
        if not (location.get("commit") or {}).get("sha"):
            fail(f"GitLab: vulnerabilities[{i}].location.commit.sha missing")
    print(f"check-reports: JUnit {len(cases)} test cases ({len(failing)} failing), GitLab {len(vulnerabilities)} vulnerabilities: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
