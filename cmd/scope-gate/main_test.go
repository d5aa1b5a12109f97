package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/scope-gate/scope-gate/e2e/scenarios"
	"github.com/scope-gate/scope-gate/internal/envoyconfig"
)

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		code    int
		stdout  []string // substrings
		stderr  []string
		notInOu []string
	}{
		{"no command", nil, 2, nil, []string{"usage:"}, nil},
		{"unknown command", []string{"frobnicate"}, 2, nil, []string{`unknown command "frobnicate"`}, nil},
		{"check without files", []string{"check"}, 2, nil, []string{"no files"}, nil},
		{"check the demo", []string{"check", "../../envoy/envoy.yaml"}, 0,
			[]string{"VIRTUAL HOST", "apps_read", "bearer scope=apps:read", "routes map", "filter disabled"}, nil, []string{"error"}},
		{"check quiet", []string{"check", "-q", "../../envoy/envoy.yaml"}, 0, nil, nil, []string{"VIRTUAL HOST"}},
		{"check a broken file", []string{"check", "../../internal/envoyconfig/testdata/non_string_leaf.yaml"}, 1,
			[]string{`error: $.static_resources`, `key "required_scope" must be a string, got a number`, "1 error(s)"}, nil, nil},
		{"check a missing file", []string{"check", "no/such.yaml"}, 1, []string{"no/such.yaml: error"}, nil, nil},
		{"check help names the opt-out", []string{"check", "-h"}, 0, nil, []string{"-allow-unnormalized-paths", "path_with_escaped_slashes_action"}, nil},
		{"check without path normalization", []string{"check", "-q", "../../internal/envoyconfig/testdata/path_normalization_unset.yaml"}, 1,
			[]string{`error: $.static_resources.listeners[0].filter_chains[0].filters[0].typed_config: listener "ingress": the connection manager runs scope-gate without path normalization`, "1 error(s)"}, nil, nil},
		{"check without path normalization, allowed", []string{"check", "-q", "-allow-unnormalized-paths", "../../internal/envoyconfig/testdata/path_normalization_unset.yaml"}, 0,
			[]string{`warning: $.static_resources.listeners[0].filter_chains[0].filters[0].typed_config: listener "ingress"`, "reported as a warning because of -allow-unnormalized-paths"}, nil, []string{"error"}},
		{"e2e without envoy", []string{"e2e-envoy", "-envoy", "/nonexistent/envoy"}, 1, nil, []string{envoyMissing}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(tc.args, &out, &errb); code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out.String(), errb.String())
			}
			for _, s := range tc.stdout {
				if !strings.Contains(out.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, out.String())
				}
			}
			for _, s := range tc.stderr {
				if !strings.Contains(errb.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, errb.String())
				}
			}
			for _, s := range tc.notInOu {
				if strings.Contains(out.String(), s) {
					t.Errorf("stdout has %q:\n%s", s, out.String())
				}
			}
		})
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
