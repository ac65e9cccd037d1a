#!/usr/bin/python3
"""Every panel query of the dashboards, template variables substituted as Grafana would,
against a real Prometheus: each must return at least one finite sample somewhere in the
time window. Variables resolve through the same Prometheus (label_values over the window):
a multi-value variable becomes every value it offers, a single-value one its first.
--expect "TITLE/REFID>=MIN" also wants the query's largest sample to be at least MIN.
usage: query_panels.py --api URL --start UNIX --end UNIX [--set VAR=VALUE]... [--expect E]...
                       DASHBOARD...
"""
import argparse
import json
import math
import re
import sys
import urllib.parse
import urllib.request

VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


def get(api, path, params):
    url = f"{api}/{path}?{urllib.parse.urlencode(params, doseq=True)}"
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return json.load(r)["data"]
    except urllib.error.HTTPError as e:
        raise RuntimeError(json.load(e).get("error", str(e)))


def substitute(expr, values):
    def value(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name not in values:
            raise RuntimeError(f"no value for ${name}")
        return values[name]
    return VARIABLE.sub(value, expr)


def resolve(api, window, variables, values):
    for v in variables:
        name = v["name"]
        if v["type"] == "datasource" or name in values:
            continue
        if v["type"] == "custom":
            values[name] = v["current"]["value"]
            continue
        query = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", query.strip())
        selector, label = substitute(m.group(1), values), m.group(2)
        series = get(api, "series", {"match[]": selector, **window})
        found = sorted({s[label] for s in series if label in s})
        if not found:
            raise RuntimeError(f"variable {name}: {query} offers no value")
        if v.get("multi") or v.get("includeAll"):
            # As Grafana does: regex-escaped, then escaped again for the PromQL string.
            values[name] = "(" + "|".join(re.escape(x).replace("\\", "\\\\") for x in found) + ")"
        else:
            values[name] = found[0]
        print(f"  ${name} = {values[name]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--api", required=True)
    ap.add_argument("--start", required=True)
    ap.add_argument("--end", required=True)
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--expect", action="append", default=[])
    ap.add_argument("dashboards", nargs="+")
    args = ap.parse_args()
    expect = {k: float(v) for k, v in (e.split(">=") for e in args.expect)}
    seen = set()
    window = {"start": args.start, "end": args.end}
    failed = 0
    for path in args.dashboards:
        with open(path) as f:
            d = json.load(f)
        print(f"{path}:")
        values = dict(kv.split("=", 1) for kv in args.set)
        try:
            resolve(args.api, window, d["templating"]["list"], values)
        except RuntimeError as e:
            print(f"FAIL: {e}")
            failed = 1
            continue
        for p in d["panels"]:
            for t in p.get("targets", []):
                what = f"{p['title']!r} query {t['refId']}"
                try:
                    data = get(args.api, "query_range",
                               {"query": substitute(t["expr"], values), "step": "1", **window})
                except RuntimeError as e:
                    print(f"FAIL: {what}: {e}")
                    failed = 1
                    continue
                finite = [s for s in data["result"]
                          if any(math.isfinite(float(v)) for _, v in s["values"])]
                largest = max((float(v) for s in finite for _, v in s["values"]
                               if math.isfinite(float(v))), default=None)
                key = f"{p['title']}/{t['refId']}"
                if key in expect:
                    seen.add(key)
                    if largest is None or largest < expect[key]:
                        print(f"FAIL: {what}: largest sample {largest}, expected at least {expect[key]}")
                        failed = 1
                        continue
                if finite:
                    print(f"ok: {what}: {len(finite)} series, largest sample {largest:.6g}")
                else:
                    print(f"FAIL: {what}: no finite sample in the window "
                          f"({len(data['result'])} series)")
                    failed = 1
    for key in set(expect) - seen:
        print(f"FAIL: --expect {key}: no such panel query")
        failed = 1
    return failed


if __name__ == "__main__":
    sys.exit(main())
