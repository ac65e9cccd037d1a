// promql-metrics: the metric names each PromQL expression selects, parsed by a real PromQL
// parser (Debian's metricsql) so that the dashboards' name check cannot be fooled by a
// label, function or keyword that looks like a name.
// stdin: a JSON array of expressions; stdout: a JSON array of {"names": [...]} or
// {"error": "..."}, one per expression, in order.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"github.com/VictoriaMetrics/metricsql"
)

type result struct {
	Names []string `json:"names,omitempty"`
	Error string   `json:"error,omitempty"`
}

func names(expr string) result {
	parsed, err := metricsql.Parse(expr)
	if err != nil {
		return result{Error: err.Error()}
	}
	seen := map[string]bool{}
	bad := ""
	metricsql.VisitAll(parsed, func(e metricsql.Expr) {
		me, ok := e.(*metricsql.MetricExpr)
		if !ok {
			return
		}
		for _, f := range me.LabelFilters {
			if f.Label != "__name__" {
				continue
			}
			if f.IsRegexp || f.IsNegative {
				// A name by regex cannot be checked against an exposition.
				bad = fmt.Sprintf("metric name by regex or negation: %s", me.AppendString(nil))
				return
			}
			seen[f.Value] = true
		}
	})
	if bad != "" {
		return result{Error: bad}
	}
	r := result{Names: []string{}}
	for n := range seen {
		r.Names = append(r.Names, n)
	}
	sort.Strings(r.Names)
	return r
}

func main() {
	var exprs []string
	if err := json.NewDecoder(os.Stdin).Decode(&exprs); err != nil {
		fmt.Fprintln(os.Stderr, "promql-metrics: stdin is not a JSON array of strings:", err)
		os.Exit(2)
	}
	out := make([]result, len(exprs))
	for i, e := range exprs {
		out[i] = names(e)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		os.Exit(1)
	}
}
