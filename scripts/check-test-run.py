#!/usr/bin/env python3
"""Compares the tests that ran (CTest's JUnit report) with the tests registered (ctest
--show-only=json-v1, same filters), per label: every registered test must have run and
passed. A skipped test (GTEST_SKIP, a guest scenario's SKIP) or one that never ran fails the
check; so does, when the whole suite was asked for (--expect-labels), a label with no test at
all: a suite that vanished at configure time. Prints a table per label.

usage: check-test-run.py --registered REGISTERED.json --junit RESULTS.xml
                         [--expect-labels unit,bench,...]
"""
import argparse
import json
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict


def registered_tests(path):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    tests = {}
    for test in data.get("tests", []):
        labels = []
        for prop in test.get("properties", []):
            if prop.get("name") == "LABELS":
                labels = list(prop.get("value", []))
        tests[test["name"]] = labels or ["(no label)"]
    return tests


def results(path):
    """name -> passed | failed | skipped (CTest's status attribute, and its child elements)."""
    outcome = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        status = case.get("status", "")
        if case.find("skipped") is not None or status in ("notrun", "disabled"):
            outcome[case.get("name")] = "skipped"
        elif case.find("failure") is not None or case.find("error") is not None or status != "run":
            outcome[case.get("name")] = "failed"
        else:
            outcome[case.get("name")] = "passed"
    return outcome


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registered", required=True)
    parser.add_argument("--junit", required=True)
    parser.add_argument("--expect-labels", default="")
    args = parser.parse_args()

    try:
        tests = registered_tests(args.registered)
        outcome = results(args.junit)
    except (OSError, ValueError, ET.ParseError) as e:
        print(f"check-test-run: cannot read the test lists: {e}", file=sys.stderr)
        return 1

    counts = defaultdict(lambda: defaultdict(int))
    problems = []
    for name, labels in sorted(tests.items()):
        state = outcome.get(name, "missing")
        for label in labels:
            counts[label][state] += 1
            counts[label]["registered"] += 1
        if state != "passed":
            problems.append(f"  {name}: {state}")
    for name in sorted(set(outcome) - set(tests)):
        problems.append(f"  {name}: ran, but is not registered (a stale report?)")
    expected = [label for label in args.expect_labels.split(",") if label]
    for label in expected:
        if counts[label]["registered"] == 0:
            problems.append(f"  label {label}: no test registered (a suite vanished at configure time)")

    columns = ("registered", "passed", "failed", "skipped", "missing")
    print("tests by label: " + " / ".join(columns))
    for label in sorted(set(counts) | set(expected)):
        print(f"  {label:<12} " + " / ".join(str(counts[label][c]) for c in columns))
    if problems:
        print("check-test-run: FAIL: every registered test must run and pass:")
        print("\n".join(problems))
        return 1
    print(f"check-test-run: all {len(tests)} registered tests ran and passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
