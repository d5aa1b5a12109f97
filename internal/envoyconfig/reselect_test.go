package envoyconfig

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/scope-gate/scope-gate/filter/policy"
)

// checkText checks one bootstrap or Kubernetes file given as text (written to a temporary file, so that the
// file path is known) and returns its errors and warnings, leaving out the module-file warning.
func checkText(t *testing.T, name, text string) (errs, warns []Finding) {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range CheckFiles([]string{p}, Options{}).Findings {
		switch {
		case allowedWarning(f):
		case f.Warning:
			warns = append(warns, f)
		default:
			errs = append(errs, f)
		}
		if strings.Contains(f.String(), "\n") {
			t.Errorf("finding spans lines: %q", f)
		}
	}
	return errs, warns
}

func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// edit replaces old (which must be there) by new.
func edit(t *testing.T, text, old, new string) string {
	t.Helper()
	if !strings.Contains(text, old) {
		t.Fatalf("no %q in the fixture", old)
	}
	return strings.Replace(text, old, new, 1)
}

// TestAcceptedFixtures: FAIL_RELOAD, a WasmPlugin without failStrategy, and a matcher on Authorization while
// the filter leaves it alone pass without a finding.
func TestAcceptedFixtures(t *testing.T) {
	for _, f := range []string{"fail_reload.yaml", "wasmplugin_default_fail_strategy.yaml"} {
		errs, warns := checkText(t, f, fixture(t, f))
		if len(errs)+len(warns) != 0 {
			t.Errorf("%s: %v %v", f, errs, warns)
		}
	}
}

// TestWrittenHeaders: the headers scope-gate modifies follow the configuration.
func TestWrittenHeaders(t *testing.T) {
	for _, c := range []struct {
		conf string
		want []string
	}{
		{`{}`, []string{"x-scope-gate-decision", "x-scope-gate-scopes", "x-scope-gate-subject", "x-scope-gate-subject-type"}},
		{`{"upstream_headers":{"subject":"x-user","scopes":"","decision":"","subject_type":"","strip_authorization":true}}`, []string{"authorization", "x-user"}},
	} {
		cfg, err := policy.Parse([]byte(c.conf))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for name := range WrittenHeaders(cfg.Config) {
			got = append(got, name)
		}
		sort.Strings(got)
		if strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("%s: %v, want %v", c.conf, got, c.want)
		}
	}
}

// TestRouteMatchOnWrittenHeaders: a route header matcher is refused exactly when the filter, with this plugin
// configuration, adds, replaces or removes that header; on routes with the filter disabled too.
func TestRouteMatchOnWrittenHeaders(t *testing.T) {
	const where = "$.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].match.headers[0].name"
	base := fixture(t, "match_on_identity_header.yaml")
	const token = `{"sha256":"1d91a47e03a70e6d9855a06a5924ce178a9815b45afba713fcf0c5fdbbc7be4a"}]}`
	for _, c := range []struct {
		name     string
		header   string // the matcher's header name
		upstream string // upstream_headers JSON ("" for defaults)
		disabled bool   // the matching route has the filter disabled
		want     string // "" when accepted
	}{
		{"default subject header", "x-scope-gate-subject", "", false, `"x-scope-gate-subject", which scope-gate sets on allowed requests and removes from every request (upstream_headers.subject)`},
		{"name in another case", "X-Scope-Gate-Subject-Type", "", false, `"x-scope-gate-subject-type"`},
		{"scopes", "x-scope-gate-scopes", "", false, `(upstream_headers.scopes)`},
		{"decision header, enforce mode (still removed from every request)", "x-scope-gate-decision", "", false, `sets in report mode and removes from every request (upstream_headers.decision)`},
		{"renamed subject header", "x-user", `{"subject":"x-user"}`, false, `"x-user"`},
		{"default name after renaming", "x-scope-gate-subject", `{"subject":"x-user"}`, false, ""},
		{"turned off", "x-scope-gate-subject", `{"subject":""}`, false, ""},
		{"authorization kept", "authorization", "", false, ""},
		{"authorization stripped", "authorization", `{"strip_authorization":true}`, false, `(upstream_headers.strip_authorization)`},
		{"unrelated header", "x-tenant", "", false, ""},
		{"route with the filter disabled", "x-scope-gate-subject", "", true, `"x-scope-gate-subject"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			text := edit(t, base, "name: X-Scope-Gate-Subject", "name: "+c.header)
			if c.upstream != "" {
				text = edit(t, text, token, token+`,"upstream_headers":`+c.upstream)
			}
			if c.disabled {
				text = edit(t, text, "                route: {cluster: backend}\n", `                route: {cluster: backend}
                typed_per_filter_config:
                  scope_gate:
                    "@type": type.googleapis.com/envoy.config.route.v3.FilterConfig
                    disabled: true
`)
			}
			errs, warns := checkText(t, "envoy.yaml", text)
			if len(warns) != 0 {
				t.Errorf("warnings: %v", warns)
			}
			switch {
			case c.want == "" && len(errs) != 0:
				t.Fatalf("refused: %v", errs)
			case c.want == "":
			case len(errs) != 1:
				t.Fatalf("%d errors, want 1: %v", len(errs), errs)
			case errs[0].Where != where || !strings.Contains(errs[0].Msg, c.want) || !strings.HasPrefix(errs[0].Msg, `route "internal" matches on header `):
				t.Fatalf("got  %s\nwant %s: ...%s...", errs[0], where, c.want)
			}
		})
	}
}

// TestKubeMatchOnWrittenHeaders: VirtualService headers and withoutHeaders, HTTPRoute headers; the headers
// come from the platform's plugin configurations among the inputs.
func TestKubeMatchOnWrittenHeaders(t *testing.T) {
	vs := fixture(t, "virtualservice_match_on_identity_header.yaml")
	plugin := fixture(t, "wasmplugin_default_fail_strategy.yaml")
	for _, c := range []struct {
		name, text, want string
	}{
		{"withoutHeaders", edit(t, vs, "headers: {x-scope-gate-scopes", "withoutHeaders: {x-scope-gate-scopes"), `spec.http[0].match[0].withoutHeaders["x-scope-gate-scopes"]`},
		{"unrelated header", edit(t, vs, "x-scope-gate-scopes", "x-tenant"), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			errs, _ := checkText(t, "istio.yaml", c.text)
			switch {
			case c.want == "" && len(errs) != 0:
				t.Fatalf("refused: %v", errs)
			case c.want == "":
			case len(errs) != 1 || !strings.HasSuffix(errs[0].Where, c.want):
				t.Fatalf("errors %v, want one at ...%s", errs, c.want)
			}
		})
	}
	// The same VirtualService, its scopes header renamed in the WasmPlugin: the old name is free, the new one not.
	renamed := edit(t, plugin, "pluginConfig: {validator: {type: static, tokens: []}}",
		`pluginConfig: {validator: {type: static, tokens: []}, upstream_headers: {scopes: x-roles}}`)
	if errs, _ := checkText(t, "istio.yaml", renamed+"---\n"+vs); len(errs) != 0 {
		t.Errorf("x-scope-gate-scopes is not written once renamed, but: %v", errs)
	}
	if errs, _ := checkText(t, "istio.yaml", renamed+"---\n"+strings.ReplaceAll(vs, "x-scope-gate-scopes", "x-roles")); len(errs) != 1 || !strings.Contains(errs[0].Msg, `"x-roles"`) {
		t.Errorf("x-roles: %v", errs)
	}
}
