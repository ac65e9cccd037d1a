#!/usr/bin/python3
"""Static check of lpmon's Grafana dashboards, Prometheus rules and provisioning files.

Every panel has a title, a unit and PromQL queries on the ${datasource} variable; every
metric name in a panel, a template variable or a rule is one lpmon-exporter produced in
the given expositions (real scrapes), one a rule records, or one Prometheus makes itself
(up, scrape_*, ALERTS). Names come from a real PromQL parser (promql-metrics).
usage: check_dashboards.py --promql-metrics BIN --exposition FILE... --rules FILE...
                           --dashboard FILE... [--provisioning DIR]
"""
import argparse
import json
import re
import subprocess
import sys

import yaml
from prometheus_client.parser import text_string_to_metric_families

# Series Prometheus itself adds to every scrape and for alerts.
PROMETHEUS_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped",
                     "scrape_samples_post_metric_relabeling", "scrape_series_added",
                     "ALERTS", "ALERTS_FOR_STATE"}
# What a template variable or Grafana macro stands for while parsing (not evaluating).
PARSE_VALUES = {"__rate_interval": "5m", "__interval": "1m", "__range": "6h", "stall_after": "30"}
VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")

problems = []


def problem(where, what):
    problems.append(f"{where}: {what}")


def exposition_names(paths):
    names = set()
    for path in paths:
        with open(path) as f:
            for family in text_string_to_metric_families(f.read()):
                names.update(sample.name for sample in family.samples)
    return names


def substitute(expr, values):
    def value(m):
        name = m.group(1) or m.group(2) or m.group(3)
        return values.get(name, ".*")  # label-value variables: any regex will do for parsing
    return VARIABLE.sub(value, expr)


def parse_names(binary, exprs):
    out = subprocess.run([binary], input=json.dumps(exprs), capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def panels(dashboard):
    for p in dashboard.get("panels", []):
        yield p
        yield from p.get("panels", [])  # collapsed rows hold their panels


def check_dashboard(path, queries):
    with open(path) as f:
        d = json.load(f)
    if d.get("schemaVersion", 0) < 36:
        problem(path, f"schemaVersion {d.get('schemaVersion')} is older than Grafana 9")
    for key in ("uid", "title"):
        if not d.get(key):
            problem(path, f"no {key}")
    variables = {v["name"]: v for v in d.get("templating", {}).get("list", [])}
    ds = variables.get("datasource")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        problem(path, 'no template variable "datasource" of type datasource (query prometheus)')
    for name in ("instance", "patch"):
        if variables.get(name, {}).get("type") != "query":
            problem(path, f'no query template variable "{name}"')
    for name, v in variables.items():
        if v.get("type") != "query":
            continue
        if v.get("datasource", {}).get("uid") != "${datasource}":
            problem(path, f"variable {name}: datasource is not ${{datasource}}")
        query = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", query.strip())
        if not m:
            problem(path, f"variable {name}: not label_values(SELECTOR, LABEL): {query}")
            continue
        queries.append((f"{path}: variable {name}", substitute(m.group(1), PARSE_VALUES)))
    ids = set()
    for p in panels(d):
        if p.get("id") in ids:
            problem(path, f"panel id {p.get('id')} used twice")
        ids.add(p.get("id"))
        if p.get("type") == "row":
            continue
        title = p.get("title", "").strip()
        where = f"{path}: panel {title or p.get('id')!r}"
        if not title:
            problem(where, "no title")
        if not p.get("fieldConfig", {}).get("defaults", {}).get("unit"):
            problem(where, "no unit (fieldConfig.defaults.unit)")
        if p.get("datasource", {}).get("uid") != "${datasource}":
            problem(where, "datasource is not ${datasource}")
        targets = p.get("targets", [])
        if not targets:
            problem(where, "no query")
        for t in targets:
            if not t.get("expr", "").strip():
                problem(where, f"query {t.get('refId')}: empty")
                continue
            if t.get("datasource", {}).get("uid") != "${datasource}":
                problem(where, f"query {t.get('refId')}: datasource is not ${{datasource}}")
            queries.append((f"{where} query {t.get('refId')}", substitute(t["expr"], PARSE_VALUES)))


def check_rules(path, queries, recorded):
    with open(path) as f:
        spec = yaml.safe_load(f)
    for group in spec["groups"]:
        for rule in group.get("rules") or []:
            if "record" in rule:
                recorded.add(rule["record"])
                where = f"{path}: record {rule['record']}"
            else:
                where = f"{path}: alert {rule['alert']}"
                for key in ("summary", "description", "runbook"):
                    if not rule.get("annotations", {}).get(key, "").strip():
                        problem(where, f"no {key} annotation")
                if not rule.get("labels", {}).get("severity"):
                    problem(where, "no severity label")
            queries.append((where, rule["expr"]))


def check_provisioning(directory):
    with open(f"{directory}/datasources/lpmon.yaml") as f:
        sources = yaml.safe_load(f)["datasources"]
    if [s["type"] for s in sources] != ["prometheus"]:
        problem(directory, "datasources/lpmon.yaml: expected one prometheus datasource")
    with open(f"{directory}/dashboards/lpmon.yaml") as f:
        providers = yaml.safe_load(f)["providers"]
    if not providers or any(p.get("type") != "file" or not p.get("options", {}).get("path") for p in providers):
        problem(directory, "dashboards/lpmon.yaml: expected file providers with options.path")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--promql-metrics", required=True)
    ap.add_argument("--exposition", action="append", default=[])
    ap.add_argument("--rules", action="append", default=[])
    ap.add_argument("--dashboard", action="append", default=[])
    ap.add_argument("--provisioning")
    args = ap.parse_args()

    exported = exposition_names(args.exposition)
    if not any(n.startswith("lpmon_") for n in exported):
        sys.exit(f"no lpmon_ samples in {args.exposition}")
    queries, recorded = [], set()
    for path in args.rules:
        check_rules(path, queries, recorded)
    for path in args.dashboard:
        check_dashboard(path, queries)
    if args.provisioning:
        check_provisioning(args.provisioning)

    known = exported | recorded | PROMETHEUS_SERIES
    used = set()
    for (where, expr), result in zip(queries, parse_names(args.promql_metrics, [q for _, q in queries])):
        if "error" in result:
            problem(where, f"PromQL does not parse: {result['error']}")
            continue
        if not result.get("names") and ": record " not in where:  # vector(1) expectations
            problem(where, "selects no metric")
        for name in result.get("names") or []:
            used.add(name)
            if name not in known:
                problem(where, f"{name} is neither produced by lpmon-exporter "
                               f"(in {len(args.exposition)} real scrapes) nor recorded by a rule")
    for p in problems:
        print(p)
    print(f"{len(queries)} queries, {len(used)} metric names, "
          f"{len(used & exported)} of them from lpmon-exporter's scrapes: "
          f"{'FAILED, ' + str(len(problems)) + ' problem(s)' if problems else 'ok'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
