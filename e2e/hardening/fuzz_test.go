package hardening

import (
	"strings"
	"testing"

	"github.com/scope-gate/scope-gate/filter/policy"
	"github.com/scope-gate/scope-gate/internal/envoyhost"
)

// FuzzModuleDecision is the differential test driven by the fuzzer: arbitrary Authorization values (one or
// two headers), arbitrary metadata leaves and forged identity values go through the compiled module, whose
// decision must equal the pure packages'. It needs the compiled module, so it lives here and not in
// filter/policy; the pure targets there cover the parsers alone. Run it with
//
//	go test ./e2e/hardening -run '^$' -fuzz FuzzModuleDecision -fuzztime 60s
//
// (one VM per fuzzing worker; the seed corpus below runs in every `go test`).
func FuzzModuleDecision(f *testing.F) {
	f.Add("Bearer "+advAccount, "", false, "apps:read", "", "forged")
	f.Add("Bearer "+advSSO, "", false, "apps:read", "", "")
	f.Add("bearer  "+advAccount+"  ", "Bearer x", true, "", "", "x")
	f.Add("Bearer\t"+advAccount, "", false, "", "none", "")
	f.Add("Bearer "+advAccount+"\r\n", "", false, "apps:run full", "bearer", "\x00")
	f.Add("Bearer dfoa_\xff", "", false, "a  b", "", "")
	f.Add("", "", false, "", "Bearer", "")
	f.Add("Basic "+advAccount, "Bearer "+advAccount, true, "apps:read", "none", "forged")

	// envoy-1.33, the stricter profile. (An earlier stall of the fuzzing worker here, 0 execs/s with no
	// failing input, did not recur after the stand-in's loop deadlock was fixed: 500k executions in 90 s.)
	h := newHost(f, envoyhost.Envoy133, nil)
	vm := newVM(f, h, advConfig())
	cfg, err := policy.Parse([]byte(advConfig()))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, auth1, auth2 string, two bool, scope, authLeaf, forgedValue string) {
		c := diffCase{headers: baseHeaders("/fuzz")}
		c.headers = append(c.headers, [2]string{"authorization", auth1})
		if two {
			c.headers = append(c.headers, [2]string{"Authorization", auth2})
		}
		if forgedValue != "" {
			c.headers = append(c.headers, [2]string{"X-Scope-Gate-Subject", forgedValue}, [2]string{"x-scope-gate-scopes", forgedValue})
		}
		block := map[string]any{}
		if scope != "" {
			block["required_scope"] = scope
		}
		if authLeaf != "" {
			block["auth"] = authLeaf
		}
		c.route = &envoyhost.Route{Name: "fuzz", Cluster: "backend", Metadata: map[string]any{"scope_gate": block}}
		want := native(cfg, c)
		before := h.Metrics()
		h.ResetLogs()
		got, err := runCase(vm, c)
		if err == nil {
			err = compare(want, got, before, h.Metrics())
		}
		if err != nil {
			t.Fatalf("%v\n%s", err, c.describe())
		}
		// Secrets: the configured tokens, and a fuzzed bearer of a configured kind. The misconfiguration log
		// line quotes the route's metadata (operator data, not a secret), so a token that also appears in a
		// fuzzed leaf is not checked.
		secrets := []string{advAccount, advSSO}
		for _, a := range []string{auth1, auth2} {
			i := strings.IndexByte(a, ' ')
			if i < 0 {
				continue
			}
			tok := strings.Trim(a[i+1:], " ")
			if (strings.HasPrefix(tok, "dfoa_") || strings.HasPrefix(tok, "dfoe_")) && len(tok) >= 12 &&
				!strings.Contains(scope, tok) && !strings.Contains(authLeaf, tok) {
				secrets = append(secrets, tok)
			}
		}
		checkNoSecretLogged(t, h, secrets)
	})
}
