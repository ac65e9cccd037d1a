#!/usr/bin/python3
"""promtool test rules, with each alert's runbook annotation filled in from the rules.

promtool compares annotations exactly. The runbook is static text (this script refuses a
template in it), so copying it into every expected alert would test nothing; summary and
description, which are templates, stay written out in the test file.
usage: promtool_test.py TEST.yml...
"""
import os
import subprocess
import sys
import tempfile

import yaml


def runbooks(rule_files):
    books = {}
    for path in rule_files:
        with open(path) as f:
            for group in yaml.safe_load(f)["groups"]:
                for rule in group.get("rules") or []:
                    if "alert" not in rule:
                        continue
                    book = rule.get("annotations", {}).get("runbook", "")
                    if not book.strip() or "{{" in book:
                        sys.exit(f"{path}: alert {rule['alert']}: runbook missing or templated")
                    books[rule["alert"]] = book
    return books


def main(tests):
    failed = 0
    for test in tests:
        here = os.path.dirname(os.path.abspath(test))
        with open(test) as f:
            spec = yaml.safe_load(f)
        spec["rule_files"] = [os.path.join(here, p) for p in spec["rule_files"]]
        books = runbooks(spec["rule_files"])
        tested = set()
        for case in spec["tests"]:
            for alert_test in case.get("alert_rule_test", []):
                name = alert_test["alertname"]
                if name not in books:
                    sys.exit(f"{test}: no alert {name} in {spec['rule_files']}")
                tested.add((name, bool(alert_test["exp_alerts"])))
                for alert in alert_test["exp_alerts"]:
                    alert.setdefault("exp_annotations", {})["runbook"] = books[name]
        # Every alert must be tested both firing and not firing.
        missing = [f"{n} ({'fires' if fires else 'does not fire'})"
                   for n in sorted(books) for fires in (True, False) if (n, fires) not in tested]
        if missing:
            print(f"{test}: untested: {', '.join(missing)}")
            failed = 1
        with tempfile.NamedTemporaryFile("w", suffix=".yml", dir=here, delete=False) as out:
            yaml.safe_dump(spec, out, sort_keys=False)
        try:
            failed |= subprocess.run(["promtool", "test", "rules", out.name]).returncode != 0
        finally:
            os.unlink(out.name)
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
