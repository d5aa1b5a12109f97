package main

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
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

// TestProductDoesNotImportTheTestTree: the CLI and the internal packages never link e2e/ (tests, tables and
// drivers): product behaviour must not depend on a test harness.
func TestProductDoesNotImportTheTestTree(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("go not on PATH: ", err)
	}
	cmd := exec.Command(goTool, "list", "-deps", "./cmd/...", "./internal/...")
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/scope-gate/scope-gate/e2e/") {
			t.Errorf("product code depends on %s", pkg)
		}
	}
	if !strings.Contains(string(out), "github.com/scope-gate/scope-gate/internal/envoyhost") {
		t.Error("go list printed no envoyhost: the check looked at nothing")
	}
}
