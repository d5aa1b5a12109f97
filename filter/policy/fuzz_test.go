package policy

import (
	"github.com/scope-gate/scope-gate/filter/validator"
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
		d := c.Decide(req, authRequest(1, "Bearer tok"), func(bearer.Hash) validator.Validation { return validator.Validation{Result: validator.Invalid} })
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
			if d := c.Decide(req, authRequest(1, "Bearer "+accountToken), nil); d.Verdict != DenyMisconfigured {
				t.Fatalf("misconfigured route decided %v", d.Verdict)
			}
			return
		}
		if !req.Public {
			d := c.Decide(req, authRequest(1, "Bearer "+accountToken), func(bearer.Hash) validator.Validation { return validator.Validation{Result: validator.Invalid} })
			if d.Verdict != DenyInvalidBearer {
				t.Fatalf("invalid token on a bearer route: %v", d.Verdict)
			}
		}
	})
}

// FuzzDecide sends untrusted Authorization values (and header counts) through the whole decision with the
// reference configuration (token kinds, longest prefix first): never a panic, never an allow without a
// valid validation, and every denial with a reply.
func FuzzDecide(f *testing.F) {
	f.Add("Bearer "+accountToken, 1, "apps:read")
	f.Add("bearer   "+ssoToken+" ", 1, "apps:run")
	f.Add("Bearer dfoa_", 2, "")
	f.Add("Basic x", 1, "full")
	f.Add("Bearer \x00\xff", 1, "a b")
	c := mustParse(f, referenceConfig())
	s := c.Validator.(*validator.Static)
	f.Fuzz(func(t *testing.T, auth string, count int, scope string) {
		if count < 0 || count > 3 {
			count = 1
		}
		req := c.DecodeRequirement(block("required_scope", scope))
		d := c.Decide(req, authRequest(count, auth), func(h bearer.Hash) validator.Validation { return s.Lookup(h, now) })
		if d.Verdict == Allow {
			tok, ok := bearer.Parse(auth)
			if !ok || count != 1 || s.Lookup(bearer.Sum(tok), now).Result != validator.Valid || req.Problem != "" {
				t.Fatalf("allowed %q (count %d, scope %q)", auth, count, scope)
			}
		}
		if !d.Verdict.Allowed() && (d.Reply == nil || d.Reply.Status < 400) {
			t.Fatalf("denial %v without a proper reply", d.Verdict)
		}
	})
}
