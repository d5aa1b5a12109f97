package scenarios

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scope-gate/scope-gate/e2e/testkit"
	"github.com/scope-gate/scope-gate/internal/envoyhost"
)

// TestScenarios replays the whole table against the compiled module under both WASI profiles.
func TestScenarios(t *testing.T) {
	if n := len(table.Scenarios); n < 80 {
		t.Fatalf("the table has %d scenarios; the suite promises at least 80", n)
	}
	for _, profile := range profiles {
		t.Run(string(profile), func(t *testing.T) {
			v, refused := startValidator(t)
			h := newHost(t, profile, map[string]string{"validator": v.Addr(), "validator_refused": refused})
			for _, s := range table.Scenarios {
				t.Run(s.Name, func(t *testing.T) {
					v.Set(s.Validator)
					runScenario(t, h, s)
					if err := v.Check(s); err != nil {
						t.Error(err)
					}
				})
			}
		})
	}
}

func runScenario(t *testing.T, h *envoyhost.Host, s Scenario) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h.ResetLogs()
	before := h.Metrics()
	defer checkNoSecretsLogged(t, h, s)

	// Each scenario gets its own vm_id, hence its own shared data: no cache entry crosses scenarios.
	cfg := testkit.PluginConfig(table.PluginConfiguration(s))
	cfg.VMID = "scenario." + s.Name
	vm, err := h.NewVM(ctx, cfg)
	if s.Expect.Configure == "rejected" {
		if !errors.Is(err, envoyhost.ErrConfigureRejected) {
			t.Fatalf("NewVM error = %v, want the configuration rejected", err)
		}
		checkLogs(t, h, s.Expect.LogContains)
		return
	}
	if err != nil {
		t.Fatalf("NewVM: %v", err)
	}
	defer vm.Close(ctx)

	res, err := vm.Do(ctx, envoyRequest(s))
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	if res.Trapped != nil || vm.Failed() {
		t.Fatalf("VM trapped: %v", res.Trapped)
	}
	e := s.Expect
	if res.Response.Status != e.Status {
		t.Fatalf("status %d, want %d (local reply body %q)", res.Response.Status, e.Status, body(res))
	}
	if (res.Upstream != nil) != e.Upstream {
		t.Fatalf("reached upstream = %v, want %v", res.Upstream != nil, e.Upstream)
	}
	if e.Upstream && res.LocalReply != nil {
		t.Fatalf("allowed request also got a local reply %d", res.LocalReply.Status)
	}
	if !e.Upstream && res.LocalReply == nil {
		t.Fatal("denied request has no local reply")
	}
	if e.Body != nil && body(res) != *e.Body {
		t.Fatalf("body\n got  %s\n want %s", body(res), *e.Body)
	}
	if res.LocalReply != nil {
		checkHeaders(t, "reply", res.LocalReply.Headers, e.Headers, e.AbsentHeaders)
		if d := res.LocalReply.Details; !strings.HasPrefix(d, "scope_gate_") || e.Details != "" && d != e.Details {
			t.Fatalf("local reply details %q, want %q (every reply of the filter names itself scope_gate_*)", d, e.Details)
		}
	}
	if res.Upstream != nil {
		checkHeaders(t, "upstream", res.Upstream.Headers, e.UpstreamHeaders, e.UpstreamAbsent)
	}
	checkMetrics(t, before, h.Metrics(), e.Metrics)
	checkLogs(t, h, e.LogContains)
}

func body(res envoyhost.Result) string {
	if res.LocalReply == nil {
		return ""
	}
	return string(res.LocalReply.Body)
}

// envoyRequest turns a scenario into the stand-in's request: pseudo-headers first, as Envoy's codec does.
func envoyRequest(s Scenario) envoyhost.Request {
	req := envoyhost.Request{Headers: [][2]string{
		{":method", s.Request.Method}, {":path", s.Request.Path}, {":authority", "api.example.com"}, {":scheme", "https"},
	}, SeparateRepeatedHeaders: s.Request.SeparateHeaders}
	req.Headers = append(req.Headers, s.Request.Headers...)
	if s.Route != nil {
		r := table.Routes[*s.Route]
		vh := table.VirtualHosts[r.VirtualHost]
		req.Route = &envoyhost.Route{
			Name:        r.Name,
			Metadata:    envoyhost.Metadata(r.Metadata),
			VirtualHost: &envoyhost.VirtualHost{Name: vh.Name, Metadata: envoyhost.Metadata(vh.Metadata)},
			Cluster:     "backend",
		}
	}
	return req
}

// checkHeaders: every wanted header has exactly one value, equal to the wanted one; absent ones are absent.
func checkHeaders(t *testing.T, where string, got [][2]string, want map[string]string, absent []string) {
	t.Helper()
	values := map[string][]string{}
	for _, h := range got {
		k := strings.ToLower(h[0])
		values[k] = append(values[k], h[1])
	}
	for k, v := range want {
		if vs := values[strings.ToLower(k)]; len(vs) != 1 || vs[0] != v {
			t.Errorf("%s header %s = %q, want exactly [%q]", where, k, vs, v)
		}
	}
	for _, k := range absent {
		if vs, ok := values[strings.ToLower(k)]; ok {
			t.Errorf("%s header %s = %q, want absent", where, k, vs)
		}
	}
}

// checkMetrics: listed counters moved by exactly their delta; every other scope_gate counter did not move.
func checkMetrics(t *testing.T, before, after map[string]uint64, want map[string]uint64) {
	t.Helper()
	names := map[string]bool{}
	for k := range after {
		if strings.HasPrefix(k, "scope_gate.") {
			names[k] = true
		}
	}
	for k := range want {
		names[k] = true
	}
	for k := range names {
		if d := after[k] - before[k]; d != want[k] {
			t.Errorf("metric %s moved by %d, want %d", k, d, want[k])
		}
	}
}

func checkLogs(t *testing.T, h *envoyhost.Host, want []string) {
	t.Helper()
	logs := h.Logs()
	for _, w := range want {
		if !slices.ContainsFunc(logs, func(l envoyhost.LogEntry) bool { return strings.Contains(l.Message, w) }) {
			var msgs []string
			for _, l := range logs {
				msgs = append(msgs, l.Message)
			}
			t.Errorf("no log line contains %q; logs:\n%s", w, strings.Join(msgs, "\n"))
		}
	}
}

// checkNoSecretsLogged: docs/spec.md §7, no token or Authorization value in any log line.
func checkNoSecretsLogged(t *testing.T, h *envoyhost.Host, s Scenario) {
	t.Helper()
	secrets := table.Secrets(s)
	for _, l := range h.Logs() {
		for _, sec := range secrets {
			if strings.Contains(l.Message, sec) {
				t.Errorf("log line leaks a token: %q", l.Message)
			}
		}
	}
}

// TestScenarioCount: the README states how many scenarios the table has; the number must be the table's.
func TestScenarioCount(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("`e2e/scenarios/scenarios.json`, %d scenarios,", len(table.Scenarios))
	if !strings.Contains(string(readme), want) {
		t.Fatalf("README.md does not say %q: update its scenario count", want)
	}
}
