package realenvoy

import (
	"bytes"
	"strings"
	"testing"

	"github.com/scope-gate/scope-gate/e2e/scenarios"
	"github.com/scope-gate/scope-gate/internal/envoyconfig"
)

// TestMainWithoutEnvoy: no Envoy binary is a failure that says so, never a pass.
func TestMainWithoutEnvoy(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main([]string{"-envoy", "/nonexistent/envoy"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), EnvoyMissing) {
		t.Fatalf("exit %d, stderr %q: want 1 and %q", code, errb.String(), EnvoyMissing)
	}
}

// TestE2EPlan: every bootstrap the real-Envoy driver would start passes Envoy's rules, carries the group's
// configuration verbatim, and routes each scenario's route; skipped scenarios say why.
func TestE2EPlan(t *testing.T) {
	f, err := scenarios.Load("../../e2e/scenarios/scenarios.json")
	if err != nil {
		t.Fatal(err)
	}
	groups, skips := planE2E(f, "/abs/scope-gate.wasm")
	planned := 0
	for _, g := range groups {
		spec := g.Spec
		spec.ListenPort, spec.AdminPort, spec.UpstreamPort = 18080, 19901, 18081
		js, err := envoyconfig.MarshalBootstrap(envoyconfig.Build(spec))
		if err != nil {
			t.Fatal(err)
		}
		b, err := envoyconfig.ParseBootstrap(js)
		if err != nil {
			t.Fatalf("config %s: generated bootstrap rejected: %v", g.Key, err)
		}
		filters, err := envoyconfig.FindFilters(b)
		if err != nil || len(filters) != 1 {
			t.Fatalf("config %s: %d filters, %v", g.Key, len(filters), err)
		}
		if !bytes.Equal(filters[0].Configuration, g.Config) || filters[0].ModuleFilename != "/abs/scope-gate.wasm" {
			t.Errorf("config %s: configuration or module not carried verbatim", g.Key)
		}
		prefixes := map[string]bool{}
		for _, vh := range filters[0].HCM.GetRouteConfig().GetVirtualHosts() {
			for _, r := range vh.GetRoutes() {
				prefixes[vh.GetDomains()[0]+r.GetMatch().GetPrefix()] = true
			}
		}
		for _, s := range g.Scenarios {
			planned++
			if s.Route == nil {
				continue
			}
			key := f.Routes[*s.Route].VirtualHost + hostSuffix + routePrefix + *s.Route + "/"
			if !prefixes[key] {
				t.Errorf("%s: no route %s in the bootstrap", s.Name, key)
			}
		}
	}
	for _, s := range skips {
		if s.Reason == "" {
			t.Errorf("%s skipped without a reason", s.Name)
		}
	}
	if planned+len(skips) != len(f.Scenarios) {
		t.Errorf("%d planned + %d skipped != %d scenarios", planned, len(skips), len(f.Scenarios))
	}
	// Most of the table must run on a real Envoy; only Envoy-inexpressible and clock-bound rows are skipped.
	if len(skips)*4 > len(f.Scenarios) {
		t.Errorf("%d of %d scenarios skipped: %v", len(skips), len(f.Scenarios), skips)
	}
	t.Logf("%d scenarios in %d Envoy configurations, %d skipped", planned, len(groups), len(skips))
	for _, s := range skips {
		t.Logf("skip %s: %s", s.Name, s.Reason)
	}
}
