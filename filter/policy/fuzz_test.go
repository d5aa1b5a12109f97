package policy

import (
	"strings"
	"testing"

	"github.com/scope-gate/scope-gate/filter/bearer"
)

// FuzzParseConfig: any input either parses into a usable configuration or fails with one line naming a JSON
// path; never a panic.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(referenceConfig()))
	f.Add([]byte(`{"mode":"report","default_route":"deny","upstream_headers":{"subject":""}}`))
	f.Add([]byte(`{"token_kinds":[{"prefix":"a"},{"prefix":"ab"}],"validator":{"type":"static","tokens":[]}}`))
	f.Add([]byte(`{"cache":{"ttl_seconds":1e400}}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "scope-gate configuration: $") || strings.ContainsAny(msg, "\n\r") {
				t.Fatalf("bad error line %q", msg)
			}
			return
		}
		// A parsed configuration must decide without panicking and never allow a bearer route unvalidated.
		req := c.DecodeRequirement(block("required_scope", "apps:read"))
		d := c.Decide(req, 1, "Bearer tok", func(bearer.Hash) Validation { return Validation{Result: Invalid} })
		if d.Verdict.Allowed() {
			t.Fatalf("invalid token allowed: %v", d.Verdict)
		}
	})
}

// FuzzDecodeRequirement: any block bytes yield a requirement or a problem; a block that decodes without a
// problem only ever allows a bearer route through a valid validation.
func FuzzDecodeRequirement(f *testing.F) {
	f.Add(block("required_scope", "apps:read", "subject_types", "account"))
	f.Add(block("auth", "none"))
	f.Add([]byte{1, 0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 0})
	c := mustParse(f, referenceConfig())
	f.Fuzz(func(t *testing.T, raw []byte) {
		req := c.DecodeRequirement(raw)
		if req.Problem != "" {
			if req.Public || len(req.Scopes) > 0 {
				t.Fatal("misconfigured requirement carries a decision")
			}
			if d := c.Decide(req, 1, "Bearer "+accountToken, nil); d.Verdict != DenyMisconfigured {
				t.Fatalf("misconfigured route decided %v", d.Verdict)
			}
			return
		}
		if !req.Public {
			d := c.Decide(req, 1, "Bearer "+accountToken, func(bearer.Hash) Validation { return Validation{Result: Invalid} })
			if d.Verdict != DenyInvalidBearer {
				t.Fatalf("invalid token on a bearer route: %v", d.Verdict)
			}
		}
	})
}
