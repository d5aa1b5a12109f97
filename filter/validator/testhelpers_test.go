package validator

import (
	"github.com/scope-gate/scope-gate/filter/internal/fixture"
	"testing"

	"github.com/scope-gate/scope-gate/filter/confjson"
	"github.com/scope-gate/scope-gate/filter/digest"
	"github.com/scope-gate/scope-gate/filter/strictjson"
)

// The shared fixtures (filter/internal/fixture), under the names these tests use.
var (
	accountToken  = fixture.AccountToken
	ssoToken      = fixture.SSOToken
	scopedToken   = fixture.ScopedToken
	expiredToken  = fixture.ExpiredToken
	unknownToken  = fixture.UnknownToken
	futureExpires = fixture.FutureExpires
	now           = fixture.Now
)

func referenceConfig() string { return fixture.ReferenceConfig() }

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
