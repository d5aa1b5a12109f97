package policy

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"

	"github.com/scope-gate/scope-gate/filter/pairs"
)

func f64(v float64) string {
	return string(binary.LittleEndian.AppendUint64(nil, math.Float64bits(v)))
}

// TestRequirementErrors covers every configuration error of docs/spec.md §3, with the reason logged.
func TestRequirementErrors(t *testing.T) {
	nested := string(block("a", "b")) // a struct leaf, as Envoy encodes it
	tests := []struct {
		name   string
		config string
		block  []byte
		want   string
	}{
		{"not pairs at all", "", []byte{1, 2}, "metadata block is not a map of strings (pairs: buffer shorter than its header)"},
		{"count past the end", "", []byte{9, 0, 0, 0, 0, 0, 0, 0}, "metadata block is not a map of strings (pairs: count larger than the buffer can hold)"},
		{"unknown key", "", block("required_scopes", "apps:read"), `unknown key "required_scopes" (known: auth, required_scope, subject_types)`},
		{"duplicate key", "", pairs.EncodeStrings("auth", "bearer", "auth", "none"), `key "auth" appears twice`},
		{"bad auth", "", block("auth", "Bearer"), `auth must be "bearer" or "none", got "Bearer"`},
		{"auth as a bool leaf", "", block("auth", "\x01"), `auth must be "bearer" or "none", got "\x01"`},
		{"empty scope", "", block("required_scope", ""), "required_scope is empty"},
		{"scope with quote", "", block("required_scope", `apps"read`), `required_scope "apps\"read": "apps\"read" is not an RFC 6749 scope token`},
		{"scope with backslash", "", block("required_scope", `a\b`), `required_scope "a\\b": "a\\b" is not an RFC 6749 scope token`},
		{"scope with non-ASCII", "", block("required_scope", "apps:réad"), `required_scope "apps:r\xc3\xa9ad": "apps:r\xc3\xa9ad" is not an RFC 6749 scope token`},
		{"double space", "", block("required_scope", "a  b"), `required_scope "a  b": scopes must be separated by single spaces`},
		{"leading space", "", block("required_scope", " a"), `required_scope " a": scopes must be separated by single spaces`},
		{"trailing space", "", block("required_scope", "a "), `required_scope "a ": scopes must be separated by single spaces`},
		{"tab separator", "", block("required_scope", "a\tb"), `required_scope "a\tb": "a\tb" is not an RFC 6749 scope token`},
		{"number leaf", "", block("required_scope", f64(3)), `required_scope "\x00\x00\x00\x00\x00\x00\b@": "\x00\x00\x00\x00\x00\x00\b@" is not an RFC 6749 scope token`},
		{"struct leaf", "", block("required_scope", nested), `required_scope "\x01\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00a\x00b\x00": "\x01\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00a\x00b\x00" is not an RFC 6749 scope token`},
		{"list leaf", "", block("subject_types", string(block("account", ""))), `subject_types "\x01\x00\x00\x00\a\x00\x00\x00\x00\x00\x00\x00account\x00\x00": "\x01\x00\x00\x00\a\x00\x00\x00\x00\x00\x00\x00account\x00\x00" is not a valid subject type`},
		{"empty subject types", "", block("subject_types", ""), `subject_types "": must be non-empty, separated by single spaces`},
		{"scope on a public route", "", block("auth", "none", "required_scope", "apps:read"), `required_scope and subject_types need a bearer, but auth is "none"`},
		{"subject types on a public route", "", block("subject_types", "account", "auth", "none"), `required_scope and subject_types need a bearer, but auth is "none"`},
		{"bearer without validator", "{}", block("auth", "bearer"), "route requires a bearer token but no validator is configured"},
		{"scope without validator", "{}", block("required_scope", "apps:read"), "route requires a bearer token but no validator is configured"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			js := tc.config
			if js == "" {
				js = referenceConfig()
			}
			r := mustParse(t, js).DecodeRequirement(tc.block)
			if r.Problem != tc.want {
				t.Fatalf("problem\n got  %q\n want %q", r.Problem, tc.want)
			}
			if strings.Contains(r.Problem, "\n") {
				t.Fatal("problem spans lines")
			}
		})
	}
}

func TestRequirementAccepts(t *testing.T) {
	c := mustParse(t, referenceConfig())
	tests := []struct {
		name     string
		block    []byte
		public   bool
		scopes   string
		subjects string
	}{
		{"empty block", block(), false, "", ""},
		{"bearer", block("auth", "bearer"), false, "", ""},
		{"public", block("auth", "none"), true, "", ""},
		{"one scope", block("required_scope", "apps:read"), false, "apps:read", ""},
		{"several scopes, order kept", block("required_scope", "workspace:write apps:read"), false, "workspace:write apps:read", ""},
		{"every allowed scope byte", block("required_scope", "!#[]~"), false, "!#[]~", ""},
		{"subject types", block("subject_types", "account external_sso", "auth", "bearer"), false, "", "account external_sso"},
	}
	for _, tc := range tests {
		r := c.DecodeRequirement(tc.block)
		if r.Problem != "" || r.Public != tc.public || r.ScopeText != tc.scopes || strings.Join(r.Scopes, " ") != tc.scopes || strings.Join(r.SubjectTypes, " ") != tc.subjects {
			t.Errorf("%s: %+v", tc.name, r)
		}
	}
}

func TestRequirementCache(t *testing.T) {
	c := mustParse(t, referenceConfig())
	rc := NewRequirementCache(c, 2)
	a, b, d := block("required_scope", "a"), block("required_scope", "b"), block("required_scope", "d")
	ra := rc.Get(a)
	if rc.Get(append([]byte(nil), a...)) != ra {
		t.Fatal("same block decoded twice")
	}
	rc.Get(b)
	rd1, rd2 := rc.Get(d), rc.Get(d)
	if rd1 == rd2 {
		t.Fatal("cache grew past its bound")
	}
	if rd1.ScopeText != "d" || rd2.ScopeText != "d" {
		t.Fatal("uncached block decoded wrongly")
	}
	if n := testing.AllocsPerRun(100, func() { rc.Get(a) }); n != 0 {
		t.Fatalf("cache hit allocated %v times", n)
	}
}
