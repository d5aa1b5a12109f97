package validator

import (
	"strconv"
	"strings"
	"testing"

	"github.com/scope-gate/scope-gate/filter/confjson"
	"github.com/scope-gate/scope-gate/filter/digest"
	"github.com/scope-gate/scope-gate/filter/strictjson"
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

func hashOf(tok string) digest.Hash { return digest.Sum(tok) }

// testConfig is the part of a plugin configuration this package reads: the validator object (the rest of a
// test's document is ignored here; filter/config checks it).
type testConfig struct{ Validator Validator }

// Parse reads a plugin configuration document and decodes its validator object at $.validator, as
// config.Parse does.
func Parse(data []byte) (*testConfig, error) {
	root, err := strictjson.Parse(data, strictjson.DefaultMaxDepth)
	if err != nil {
		return nil, confjson.At("$", err.Error())
	}
	c := &testConfig{}
	if v, ok := root.Get("validator"); ok {
		if c.Validator, err = Decode(v, "$.validator"); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func mustParse(t testing.TB, js string) *testConfig {
	t.Helper()
	c, err := Parse([]byte(js))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func hashHex(tok string) string { return digest.Sum(tok).Hex() }

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
