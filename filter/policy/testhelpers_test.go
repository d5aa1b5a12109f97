package policy

import (
	"github.com/scope-gate/scope-gate/filter/internal/fixture"
	"testing"

	"github.com/scope-gate/scope-gate/filter/pairs"
)

// The shared fixtures (filter/internal/fixture), under the names these tests use.
var (
	accountToken = fixture.AccountToken
	ssoToken     = fixture.SSOToken
	scopedToken  = fixture.ScopedToken
	expiredToken = fixture.ExpiredToken
	unknownToken = fixture.UnknownToken
	serviceKey   = fixture.ServiceKey
	now          = fixture.Now
)

func hashHex(tok string) string { return fixture.HashHex(tok) }

func referenceConfig() string { return fixture.ReferenceConfig() }

func mustParse(t testing.TB, js string) *Policy {
	t.Helper()
	c, err := Parse([]byte(js))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

// block encodes a metadata block as Envoy's proxy_get_property does.
func block(kv ...string) []byte { return pairs.EncodeStrings(kv...) }

// authRequest is a GET of a plain path carrying count Authorization headers, the first being first.
func authRequest(count int, first string) Request {
	return Request{Path: "/openapi/v1/apps", Method: "GET", AuthCount: count, Authorization: first}
}

// deny is the decision Deny writes, as a value.
func deny(p *Policy, v Verdict, req *Requirement) (d Decision) {
	p.Deny(v, req, &d)
	return d
}
