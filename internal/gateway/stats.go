package gateway

import (
	"sort"
	"strconv"
	"strings"
)

// customStatNamespace is where Envoy stores every metric a Wasm plugin defines: Context::defineMetric
// prefixes the plugin's name with Wasm's custom_stat_namespace_, "wasmcustom" (CustomStatNamespace in
// envoyproxy/envoy v1.33.0 source/extensions/common/wasm/stats_handler.h, used in context.cc), and the
// Wasm filter registers that namespace with Stats::CustomStatNamespaces
// (source/extensions/filters/http/wasm/config.h).
const customStatNamespace = "wasmcustom."

// statName is the name Envoy's stats store holds for a metric the plugin defined as name.
func statName(name string) string { return customStatNamespace + name }

// statsText renders the plugin's metrics as Envoy's admin /stats does: "<stat name>: <value>", one per line,
// sorted by name. The stat name keeps the "wasmcustom." namespace: the text renderer writes the stored name
// as it is (StatsTextRender::generate in envoyproxy/envoy v1.33.0 source/server/admin/stats_render.cc);
// only the Prometheus format strips registered custom namespaces. ?filter=<regex> is matched against that
// full name, as Envoy's StatsParams filter is, so "scope_gate\." still selects them.
func (g *Gateway) statsText(filter interface{ MatchString(string) bool }) string {
	var b strings.Builder
	for _, s := range g.stats(filter) {
		b.WriteString(s.name)
		b.WriteString(": ")
		b.WriteString(strconv.FormatUint(s.value, 10))
		b.WriteByte('\n')
	}
	return b.String()
}

// statsPrometheus renders the plugin's metrics as Envoy's /stats/prometheus does for stats in a registered
// custom namespace (PrometheusStatsFormatter::metricName in envoyproxy/envoy v1.33.0
// source/server/admin/prometheus_stats.cc): the namespace is stripped, every character outside
// [a-zA-Z0-9_] becomes '_', no "envoy_" prefix is added, and a name that ends up empty or starting with a
// digit is left out. Each metric is a group "# TYPE <name> counter" then "<name>{} <value>" (Envoy writes
// the braces even without tags, and a stat of the custom namespace has none). Every metric is typed as a
// counter: scope-gate defines only counters, and envoyhost does not say which kind a metric is. Envoy would
// also list its own stats (envoy_*); serve has only the plugin's.
func (g *Gateway) statsPrometheus(filter interface{ MatchString(string) bool }) string {
	var b strings.Builder
	for _, s := range g.stats(filter) {
		name := prometheusName(strings.TrimPrefix(s.name, customStatNamespace))
		if name == "" {
			continue
		}
		b.WriteString("# TYPE " + name + " counter\n")
		b.WriteString(name + "{} " + strconv.FormatUint(s.value, 10) + "\n")
	}
	return b.String()
}

// prometheusName sanitizes a metric name as Envoy's sanitizeName does ([^a-zA-Z0-9_] -> '_'), or returns ""
// when Prometheus would refuse it (empty, or starting with a digit), which Envoy leaves out.
func prometheusName(name string) string {
	out := []byte(name)
	for i, c := range out {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			out[i] = '_'
		}
	}
	if len(out) == 0 || out[0] >= '0' && out[0] <= '9' {
		return ""
	}
	return string(out)
}

type stat struct {
	name  string // as Envoy's stats store holds it: "wasmcustom.<plugin's name>"
	value uint64
}

// stats lists the plugin's metrics by Envoy stat name, sorted, keeping those the filter regex matches.
func (g *Gateway) stats(filter interface{ MatchString(string) bool }) []stat {
	if g.host == nil {
		return nil
	}
	var out []stat
	for name, v := range g.host.Metrics() {
		full := statName(name)
		if filter == nil || filter.MatchString(full) {
			out = append(out, stat{full, v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}
