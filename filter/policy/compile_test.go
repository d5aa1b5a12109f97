package policy

import (
	"errors"
	"strings"
	"testing"

	"github.com/scope-gate/scope-gate/filter/confjson"
)

// TestCompileDefaults: what Compile derives from the default configuration.
func TestCompileDefaults(t *testing.T) {
	for _, in := range []string{"", "{}"} {
		c := mustParse(t, in)
		if got := strings.Join(c.RouteBlockPath(), "."); got != "xds.route_metadata.filter_metadata.scope_gate" {
			t.Errorf("route path %s", got)
		}
		if got := strings.Join(c.VirtualHostBlockPath(), "."); got != "xds.virtual_host_metadata.filter_metadata.scope_gate" {
			t.Errorf("vhost path %s", got)
		}
		if got := strings.Join(c.SpoofableHeaders(), ","); got != "x-scope-gate-subject,x-scope-gate-subject-type,x-scope-gate-scopes,x-scope-gate-decision" {
			t.Errorf("spoofable %s", got)
		}
		// No validator: the default requirement (bearer) is a configuration error, never a pass.
		if c.DefaultRequirement().Problem == "" {
			t.Error("default bearer route without validator must be misconfigured")
		}
	}
}

func TestCompileAllKeys(t *testing.T) {
	c := mustParse(t, `{"metadata_namespace": "acme.auth", "default_route": "public",
		"upstream_headers": {"subject": "X-User", "subject_type": "", "scopes": "x-scopes", "decision": "x-d"}}`)
	if got := strings.Join(c.SpoofableHeaders(), ","); got != "x-user,x-scopes,x-d" {
		t.Fatalf("spoofable %s", got)
	}
	if got := strings.Join(c.RouteBlockPath(), "."); got != "xds.route_metadata.filter_metadata.acme.auth" {
		t.Fatalf("route path %s", got)
	}
	if !c.DefaultRequirement().Public {
		t.Fatal("default_route public")
	}
}

// TestCompileRouteErrors: a routes entry that is not a valid requirement rejects the configuration at start,
// with the entry's JSON path and the requirement's problem.
func TestCompileRouteErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"routes unknown key", `{"validator": {"type": "static", "tokens": []}, "routes": {"apps": {"scope": "a"}}}`, `$.routes["apps"]: unknown key "scope" (known: auth, required_scope, subject_types)`},
		{"routes scope on public", `{"routes": {"apps": {"auth": "none", "required_scope": "a"}}}`, `$.routes["apps"]: required_scope and subject_types need a bearer, but auth is "none"`},
		{"routes bearer without validator", `{"routes": {"apps": {"required_scope": "a"}}}`, `$.routes["apps"]: route requires a bearer token but no validator is configured`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.in))
			var ce *confjson.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Parse error = %v, want a *confjson.Error", err)
			}
			if got := ce.Path + ": " + ce.Msg; got != tc.want {
				t.Fatalf("error\n got  %s\n want %s", got, tc.want)
			}
		})
	}
}

func TestParseRoutesMap(t *testing.T) {
	c := mustParse(t, `{"validator": {"type": "static", "tokens": []}, "routes": {"apps-list": {"required_scope": "apps:read"}, "login": {"auth": "none"}}}`)
	if r := c.RouteRequirements["apps-list"]; r == nil || r.ScopeText != "apps:read" || r.Public {
		t.Fatalf("apps-list: %+v", r)
	}
	if r := c.RouteRequirements["login"]; r == nil || !r.Public {
		t.Fatalf("login: %+v", r)
	}
}
