package policy

import (
	"strings"
	"testing"

	"github.com/scope-gate/scope-gate/filter/bearer"
	"github.com/scope-gate/scope-gate/filter/pairs"
)

// Reference backend tokens (prefix + 43 base64url characters) used across the tests.
var (
	accountToken  = "dfoa_" + strings.Repeat("A", 43)
	ssoToken      = "dfoe_" + strings.Repeat("B", 43)
	scopedToken   = "dfoa_" + strings.Repeat("C", 43) // carries its own scopes in the static table
	expiredToken  = "dfoa_" + strings.Repeat("D", 43)
	unknownToken  = "dfoa_" + strings.Repeat("E", 43)
	serviceKey    = "app-" + strings.Repeat("F", 24)
	futureExpires = int64(4102444800) // 2100-01-01
	pastExpires   = int64(946684800)  // 2000-01-01
	now           = int64(1795000000)
)

func hashHex(tok string) string { return bearer.Sum(tok).Hex() }

// referenceConfig is the reference backend's setup: dfoa_/dfoe_ kinds and a static table.
func referenceConfig() string {
	return `{
  "token_kinds": [
    {"prefix": "dfoa_", "subject_type": "account", "scopes": ["full"]},
    {"prefix": "dfoe_", "subject_type": "external_sso", "scopes": ["apps:run", "apps:read:permitted-external"]}
  ],
  "validator": {"type": "static", "tokens": [
    {"sha256": "` + hashHex(accountToken) + `", "subject": "user@example.com"},
    {"sha256": "` + hashHex(ssoToken) + `", "subject": "sso@example.com", "expires_at": ` + itoa(futureExpires) + `},
    {"sha256": "` + strings.ToUpper(hashHex(scopedToken)) + `", "subject": "narrow", "scopes": ["apps:read", "workspace:read"]},
    {"sha256": "` + hashHex(expiredToken) + `", "subject": "old", "expires_at": ` + itoa(pastExpires) + `},
    {"sha256": "` + hashHex(serviceKey) + `", "subject": "service"}
  ]}
}`
}

func itoa(n int64) string {
	var b []byte
	if n == 0 {
		return "0"
	}
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

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
