package gateway

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/scope-gate/scope-gate/e2e/scenarios"
	"github.com/scope-gate/scope-gate/internal/envoyconfig"
)

// The gateway selects a scenario's route by Host (its virtual host) and path prefix (its route), and
// rewrites the prefix away so that the upstream sees the scenario's own path: the same bootstrap the
// real-Envoy driver (e2e/realenvoy) generates, here served by serve over real HTTP.
const (
	hostSuffix  = scenarios.HostSuffix
	noRouteHost = "no-route" + hostSuffix // matches no virtual host: no route
	routePrefix = scenarios.RoutePrefix
)

// TestScenarios replays e2e/scenarios/scenarios.json through the gateway over loopback HTTP: status, body,
// reply headers, the headers the upstream received, counter deltas from the admin /stats, validator calls
// and log lines. Scenarios with no HTTP/Envoy form are skipped with the reason; at least 90% must run.
func TestScenarios(t *testing.T) {
	vhosts, unexpressible := table.EnvoyVirtualHosts()
	_, upstreamPort := echoUpstream(t)
	val, err := scenarios.StartValidatorStub(table)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(val.Close)
	refused := refusedPort(t)

	type group struct {
		key       string
		cfg       []byte
		rejected  bool
		scenarios []scenarios.Scenario
	}
	var groups []*group
	byKey := map[string]*group{}
	skipped := 0
	for _, s := range table.Scenarios {
		if s.Route != nil {
			if why, bad := unexpressible[*s.Route]; bad {
				t.Logf("SKIP %s: route %s has no Envoy form: %s", s.Name, *s.Route, why)
				skipped++
				continue
			}
		}
		if why := s.HTTPFormProblem(); why != "" {
			t.Logf("SKIP %s: %s", s.Name, why)
			skipped++
			continue
		}
		cfg := table.PluginConfiguration(s)
		key := table.GroupKey(s)
		g := byKey[key]
		if g == nil {
			g = &group{key: key, cfg: cfg, rejected: s.Expect.Configure == "rejected"}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.scenarios = append(g.scenarios, s)
	}
	ran := 0
	for _, g := range groups {
		spec := envoyconfig.BuildSpec{
			ModuleFilename: wasmPath, PluginConfiguration: g.cfg, VirtualHosts: vhosts, UpstreamPort: upstreamPort,
			ExtraClusters: map[string]uint32{"validator": val.Port(), "validator_refused": refused},
		}
		cfg := buildConfig(t, spec)
		tg, startErr := startGateway(t, cfg, 1)
		for _, s := range g.scenarios {
			ran++
			t.Run(s.Name, func(t *testing.T) {
				if g.rejected {
					checkRejected(t, startErr, s)
					return
				}
				if startErr != nil {
					t.Fatalf("gateway did not start: %v", startErr)
				}
				val.Set(s.Validator)
				runScenario(t, tg, s)
				if err := val.Check(s); err != nil {
					t.Error(err)
				}
				checkNoSecrets(t, tg, s)
			})
		}
	}
	total := len(table.Scenarios)
	t.Logf("scenarios: %d ran, %d skipped, of %d", ran, skipped, total)
	if ran+skipped != total {
		t.Fatalf("%d ran + %d skipped != %d in the table", ran, skipped, total)
	}
	if ran*10 < total*9 {
		t.Fatalf("only %d of %d scenarios ran (< 90%%)", ran, total)
	}
}

// noHTTPForm says why a scenario's request cannot be sent over HTTP/1.1 as written, "" when it can.

func checkRejected(t *testing.T, startErr error, s scenarios.Scenario) {
	if startErr == nil {
		t.Fatal("the gateway started with a configuration the plugin must reject")
	}
	msg := startErr.Error()
	if !strings.Contains(msg, "the plugin rejected its configuration") || strings.Contains(msg, "\n") {
		t.Fatalf("start error %q: want one line saying the plugin rejected its configuration", msg)
	}
	for _, w := range s.Expect.LogContains {
		if !strings.Contains(msg, w) {
			t.Errorf("start error %q does not contain %q", msg, w)
		}
	}
}

func runScenario(t *testing.T, tg *testGateway, s scenarios.Scenario) {
	before := tg.counters(t)
	logMark := tg.log.Len()
	host, path := noRouteHost, s.Request.Path
	if s.Route != nil {
		host = table.Routes[*s.Route].VirtualHost + hostSuffix
		path = routePrefix + *s.Route + s.Request.Path
	}
	req, err := http.NewRequest(s.Request.Method, tg.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for _, h := range s.Request.Headers {
		req.Header[h[0]] = append(req.Header[h[0]], h[1]) // the name as written: the server folds case
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	reached := resp.Header.Get(EchoMarker) != ""

	x := s.Expect
	if s.Route == nil && x.Upstream {
		// With no route, the router answers 404 once the filter lets the request through, as in Envoy.
		if resp.StatusCode != http.StatusNotFound || reached {
			t.Errorf("status %d (reached upstream %v), want the router's 404 after the filter let the request through", resp.StatusCode, reached)
		}
	} else {
		if resp.StatusCode != x.Status {
			t.Errorf("status %d, want %d (body %q)", resp.StatusCode, x.Status, body)
		}
		if reached != x.Upstream {
			t.Errorf("reached upstream = %v, want %v", reached, x.Upstream)
		}
	}
	if !x.Upstream {
		if x.Body != nil && string(body) != *x.Body {
			t.Errorf("body\n got  %s\n want %s", body, *x.Body)
		}
		for name, want := range x.Headers {
			if got := resp.Header.Values(name); len(got) != 1 || got[0] != want {
				t.Errorf("reply header %s = %q, want exactly [%q]", name, got, want)
			}
		}
		for _, name := range x.AbsentHeaders {
			if got := resp.Header.Values(name); len(got) > 0 {
				t.Errorf("reply header %s = %q, want absent", name, got)
			}
		}
	} else if reached {
		var echoed struct {
			Path    string              `json:"path"`
			Headers map[string][]string `json:"headers"`
		}
		if err := json.Unmarshal(body, &echoed); err != nil {
			t.Fatalf("upstream echo is not JSON: %v", err)
		}
		if echoed.Path != s.Request.Path {
			t.Errorf("upstream path %q, want %q (the route prefix rewritten away)", echoed.Path, s.Request.Path)
		}
		for name, want := range x.UpstreamHeaders {
			if got := echoed.Headers[strings.ToLower(name)]; len(got) != 1 || got[0] != want {
				t.Errorf("upstream header %s = %q, want exactly [%q]", name, got, want)
			}
		}
		for _, name := range x.UpstreamAbsent {
			if got, ok := echoed.Headers[strings.ToLower(name)]; ok {
				t.Errorf("upstream header %s = %q, want absent", name, got)
			}
		}
	}
	after := tg.counters(t)
	for _, p := range scenarios.MetricProblems(before, after, x.Metrics) {
		t.Error(p)
	}
	logs := tg.log.String()[logMark:]
	for _, w := range x.LogContains {
		if !strings.Contains(logs, w) {
			t.Errorf("no log line contains %q; logs:\n%s", w, logs)
		}
	}
}

// checkNoSecrets: no token or Authorization value in the access log or the plugin's log.
func checkNoSecrets(t *testing.T, tg *testGateway, s scenarios.Scenario) {
	all := tg.access.String() + tg.log.String()
	for _, sec := range table.Secrets(s) {
		if sec != "" && strings.Contains(all, sec) {
			t.Errorf("a log leaks a secret (%.12s...)", sec)
		}
	}
}
