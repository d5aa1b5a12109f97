package jwt

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scope-gate/scope-gate/internal/envoyhost"
)

// maxJWTModuleBytes bounds the JWT variant (the standard library's RSA, ECDSA and Ed25519 verifiers: about
// 5.0 MB today; the go-jose backend, -tags jwt,jwt_gojose, is 6.4 MB): the budget is there to notice a jump,
// not to hold it to the default module's 3 MB.
const maxJWTModuleBytes = 5_500_000

func TestModuleSizeAndImports(t *testing.T) {
	if n := len(wasmBytes); n > maxJWTModuleBytes {
		t.Fatalf("%s is %d bytes, over the %d budget", wasmPath, n, maxJWTModuleBytes)
	}
	t.Logf("%s: %d bytes", wasmPath, len(wasmBytes))
	h := newHost(t, envoyhost.Envoy133, newClock(), nil)
	for _, imp := range h.Imports() {
		mod, name, _ := strings.Cut(imp, ".")
		switch {
		case mod == "env" && strings.HasPrefix(name, "proxy_"):
		case mod == "wasi_snapshot_preview1" && slices.Contains(envoyhost.GoReactorWASI, name):
		default:
			t.Errorf("unexpected import %s", imp)
		}
	}
	for _, want := range []string{"_initialize", "proxy_abi_version_0_2_0", "proxy_on_memory_allocate", "proxy_on_http_call_response", "proxy_on_request_headers"} {
		if !slices.Contains(h.Exports(), want) {
			t.Errorf("missing export %s", want)
		}
	}
}

// TestConfigure: the JWT module accepts a jwt validator and still refuses a bad one at start.
func TestConfigure(t *testing.T) {
	a, _, _, _ := keys()
	for _, p := range profiles {
		h := newHost(t, p, newClock(), nil)
		vm := newVM(t, h, inlineConfig("", a))
		_ = vm
		_, err := h.NewVM(context.Background(), envoyhost.PluginConfig{VMID: "scope_gate", RootID: "scope_gate",
			Configuration: []byte(`{"validator": {"type": "jwt", "issuer": "i", "audience": "a", "jwks": {"keys": []}}}`)})
		if !errors.Is(err, envoyhost.ErrConfigureRejected) {
			t.Fatalf("%s: empty JWKS accepted: %v", p, err)
		}
		found := false
		for _, e := range h.Logs() {
			found = found || strings.Contains(e.Message, "$.validator.jwks.keys: must list at least one key")
		}
		if !found {
			t.Fatalf("%s: no log line naming $.validator.jwks.keys", p)
		}
	}
}

// TestDecisions: valid tokens of each algorithm allow with the identity headers; a missing scope is 403
// with the exact challenge; expired, wrongly signed and wrong-audience tokens are 401.
func TestDecisions(t *testing.T) {
	a, b, ec, ed := keys()
	for _, p := range profiles {
		t.Run(string(p), func(t *testing.T) {
			clk := newClock()
			h := newHost(t, p, clk, nil)
			vm := newVM(t, h, inlineConfig("", a, ec, ed))
			now := clk.Unix()
			var tokens []string
			for _, s := range []*signer{a, ec, ed} {
				tok := s.token(claims(now, 600, "apps:run apps:read"))
				tokens = append(tokens, tok)
				res := mustStatus(t, vm, tok, "apps:run", 200)
				if res.Upstream == nil {
					t.Fatalf("%s: allowed but not forwarded", s.alg)
				}
				for name, want := range map[string]string{"x-scope-gate-subject": "user-42", "x-scope-gate-scopes": "apps:read apps:run"} {
					if got := header(res.Upstream.Headers, name); len(got) != 1 || got[0] != want {
						t.Fatalf("%s: upstream %s = %q, want %q", s.alg, name, got, want)
					}
				}
			}
			tok := a.token(claims(now, 600, "apps:read"))
			tokens = append(tokens, tok)
			res := mustStatus(t, vm, tok, "apps:run", 403)
			if got := header(res.Response.Headers, "www-authenticate"); len(got) != 1 || got[0] != `Bearer realm="api", error="insufficient_scope", scope="apps:run"` {
				t.Fatalf("challenge %q", got)
			}
			if string(res.Response.Body) != `{"code":"forbidden","message":"insufficient_scope: apps:run","status":403}` {
				t.Fatalf("body %s", res.Response.Body)
			}
			invalid := map[string]string{
				"expired":        a.token(claims(now-700, 600, "apps:run")), // exp = now-100, beyond the 60 s skew
				"unknown key":    b.token(claims(now, 600, "apps:run")),
				"wrong audience": a.token(map[string]any{"iss": issuer, "aud": "https://other.example", "exp": now + 600}),
				"alg none":       b64([]byte(`{"alg":"none"}`)) + "." + b64([]byte(`{"iss":"`+issuer+`","aud":"`+audience+`","exp":`+fmt.Sprint(now+600)+`}`)) + ".",
			}
			for name, tok := range invalid {
				tokens = append(tokens, tok)
				res := mustStatus(t, vm, tok, "apps:run", 401)
				if got := header(res.Response.Headers, "www-authenticate"); len(got) != 1 || got[0] != `Bearer realm="api", error="invalid_token"` {
					t.Fatalf("%s: challenge %q", name, got)
				}
			}
			if h.Counter("scope_gate.allowed") != 3 || h.Counter("scope_gate.denied_403") != 1 || h.Counter("scope_gate.denied_401") != 4 {
				t.Fatalf("metrics %v", h.Metrics())
			}
			checkNoTokenInLogs(t, h, tokens...)
		})
	}
}

// TestVerifiedTokenCache: a second request for the same token is answered from the shared cache (a hit, no
// verification), also in another VM; the entry is never served at or past the token's exp.
func TestVerifiedTokenCache(t *testing.T) {
	a, _, _, _ := keys()
	for _, p := range profiles {
		t.Run(string(p), func(t *testing.T) {
			clk := newClock()
			h := newHost(t, p, clk, nil)
			cfg := inlineConfig(`, "clock_skew_seconds": 0`, a)
			vm1, vm2 := newVM(t, h, cfg), newVM(t, h, cfg)
			tok := a.token(claims(clk.Unix(), 30, "apps:run"))
			mustStatus(t, vm1, tok, "apps:run", 200)
			if h.Counter("scope_gate.cache_miss") != 1 || h.Counter("scope_gate.cache_hit") != 0 {
				t.Fatalf("first request: %v", h.Metrics())
			}
			gets0, _ := h.SharedDataCalls()
			mustStatus(t, vm1, tok, "apps:run", 200)
			mustStatus(t, vm2, tok, "apps:run", 200)
			gets1, sets1 := h.SharedDataCalls()
			if h.Counter("scope_gate.cache_hit") != 2 || h.Counter("scope_gate.cache_miss") != 1 {
				t.Fatalf("cached requests were verified again: %v", h.Metrics())
			}
			if gets1-gets0 != 2 {
				t.Fatalf("two cached requests made %d shared-data reads, want 2", gets1-gets0)
			}
			clk.Advance(29) // exp-1: still cached
			mustStatus(t, vm2, tok, "apps:run", 200)
			if h.Counter("scope_gate.cache_hit") != 3 {
				t.Fatalf("entry not served before exp: %v", h.Metrics())
			}
			clk.Advance(1) // exactly exp: the entry must not be served, and the token is expired (skew 0)
			mustStatus(t, vm1, tok, "apps:run", 401)
			if h.Counter("scope_gate.cache_hit") != 3 || h.Counter("scope_gate.cache_miss") != 2 {
				t.Fatalf("entry served at exp: %v", h.Metrics())
			}
			_ = sets1
		})
	}
}

// TestJWKSFetchAndRefreshOnUnknownKid: the first request fetches the JWKS (key A); a token signed with key
// B, published later, makes exactly one more fetch (once the floor allows it), then verifies.
func TestJWKSFetchAndRefreshOnUnknownKid(t *testing.T) {
	a, b, _, _ := keys()
	for _, p := range profiles {
		t.Run(string(p), func(t *testing.T) {
			clk := newClock()
			srv := newJWKSServer(t, jwks(a))
			h := newHost(t, p, clk, map[string]string{"idp": srv.addr()})
			vm := newVM(t, h, clusterConfig(""))
			mustStatus(t, vm, a.token(claims(clk.Unix(), 600, "apps:run")), "apps:run", 200)
			if n := srv.fetches.Load(); n != 1 {
				t.Fatalf("%d fetches for the first token, want 1", n)
			}
			mustStatus(t, vm, a.token(claims(clk.Unix(), 600, "apps:run")), "apps:run", 200)
			if n := srv.fetches.Load(); n != 1 {
				t.Fatalf("a known kid with fresh keys fetched again (%d fetches)", n)
			}
			srv.set(jwks(a, b), 200, 0)
			clk.Advance(31) // past jwks_min_refresh_seconds (30)
			mustStatus(t, vm, b.token(claims(clk.Unix(), 600, "apps:run")), "apps:run", 200)
			if n := srv.fetches.Load(); n != 2 {
				t.Fatalf("%d fetches after key B appeared, want 2", n)
			}
			mustStatus(t, vm, b.token(claims(clk.Unix(), 600, "apps:run")), "apps:run", 200)
			mustStatus(t, vm, a.token(claims(clk.Unix(), 600, "apps:run")), "apps:run", 200)
			if n := srv.fetches.Load(); n != 2 {
				t.Fatalf("%d fetches, want 2", n)
			}
			if h.Counter("scope_gate.validator_calls") != 2 || h.Counter("scope_gate.validator_errors") != 0 {
				t.Fatalf("metrics %v", h.Metrics())
			}
		})
	}
}

// TestJWKSRefreshFloor: tokens with random kids cannot make the filter hammer the JWKS server: within
// jwks_min_refresh_seconds of a fetch, none of them fetches; after it, one of them does.
func TestJWKSRefreshFloor(t *testing.T) {
	a, _, _, _ := keys()
	for _, p := range profiles {
		t.Run(string(p), func(t *testing.T) {
			clk := newClock()
			srv := newJWKSServer(t, jwks(a))
			h := newHost(t, p, clk, map[string]string{"idp": srv.addr()})
			vm := newVM(t, h, clusterConfig(""))
			for i := 0; i < 25; i++ {
				mustStatus(t, vm, a.tokenWithKid(fmt.Sprintf("random-%d", i), claims(clk.Unix(), 600, "apps:run")), "apps:run", 401)
			}
			if n := srv.fetches.Load(); n != 1 {
				t.Fatalf("25 unknown kids within the floor made %d fetches, want 1", n)
			}
			clk.Advance(30)
			for i := 0; i < 25; i++ {
				mustStatus(t, vm, a.tokenWithKid(fmt.Sprintf("random-b-%d", i), claims(clk.Unix(), 600, "apps:run")), "apps:run", 401)
			}
			if n := srv.fetches.Load(); n != 2 {
				t.Fatalf("25 unknown kids after the floor made %d fetches in all, want 2", n)
			}
			// Unknown-kid verdicts depend on the keys held, so they are never cached: the counters show a miss
			// for every request.
			if h.Counter("scope_gate.cache_hit") != 0 || h.Counter("scope_gate.denied_401") != 50 {
				t.Fatalf("metrics %v", h.Metrics())
			}
		})
	}
}

// TestJWKSDown: with no keys held, a JWKS endpoint that refuses connections, answers 5xx or times out
// makes requests 503 (never 401, never cached), and fetching resumes after the floor.
func TestJWKSDown(t *testing.T) {
	a, _, _, _ := keys()
	for _, p := range profiles {
		for _, mode := range []string{"refused", "5xx", "timeout", "garbage"} {
			t.Run(string(p)+"/"+mode, func(t *testing.T) {
				clk := newClock()
				srv := newJWKSServer(t, jwks(a))
				addr := srv.addr()
				switch mode {
				case "refused":
					addr = refusedAddr(t)
				case "5xx":
					srv.set("oops", 500, 0)
				case "timeout":
					srv.set(jwks(a), 200, 1500*time.Millisecond) // timeout_ms is 300
				case "garbage":
					srv.set(`{"keys": "no"}`, 200, 0)
				}
				h := newHost(t, p, clk, map[string]string{"idp": addr})
				vm := newVM(t, h, clusterConfig(""))
				tok := a.token(claims(clk.Unix(), 600, "apps:run"))
				res := mustStatus(t, vm, tok, "apps:run", 503)
				if string(res.Response.Body) != `{"code":"service_unavailable","message":"token validation unavailable","status":503}` {
					t.Fatalf("body %s", res.Response.Body)
				}
				mustStatus(t, vm, tok, "apps:run", 503) // within the floor: no second fetch, still 503
				if h.Counter("scope_gate.validator_calls") != 1 || h.Counter("scope_gate.validator_errors") != 1 || h.Counter("scope_gate.unavailable") != 2 {
					t.Fatalf("metrics %v", h.Metrics())
				}
				if mode == "refused" {
					return
				}
				srv.set(jwks(a), 200, 0)
				clk.Advance(30)
				mustStatus(t, vm, tok, "apps:run", 200) // the 503s were not cached as invalid
			})
		}
	}
}

// TestJWKSDownKeepsServingCachedKeys: keys older than jwks_cache_seconds are refreshed; when the refresh
// fails, tokens whose kid is known keep verifying with the keys held.
func TestJWKSDownKeepsServingCachedKeys(t *testing.T) {
	a, _, _, _ := keys()
	for _, p := range profiles {
		t.Run(string(p), func(t *testing.T) {
			clk := newClock()
			srv := newJWKSServer(t, jwks(a))
			h := newHost(t, p, clk, map[string]string{"idp": srv.addr()})
			vm := newVM(t, h, clusterConfig(`, "jwks_cache_seconds": 60`))
			mustStatus(t, vm, a.token(claims(clk.Unix(), 6000, "apps:run")), "apps:run", 200)
			srv.set("down", 503, 0)
			clk.Advance(61) // keys stale: the next miss refreshes, and the refresh fails
			mustStatus(t, vm, a.token(claims(clk.Unix(), 6000, "apps:run")), "apps:run", 200)
			if n := srv.fetches.Load(); n != 2 {
				t.Fatalf("%d fetches, want 2 (the stale keys were not refreshed)", n)
			}
			mustStatus(t, vm, a.token(claims(clk.Unix(), 6000, "apps:run")), "apps:run", 200)
			if n := srv.fetches.Load(); n != 2 {
				t.Fatalf("%d fetches within the floor, want 2", n)
			}
		})
	}
}

// TestJWKSSharedAcrossVMs: a second VM verifies with the keys the first one fetched (no second fetch).
func TestJWKSSharedAcrossVMs(t *testing.T) {
	a, _, ec, _ := keys()
	for _, p := range profiles {
		t.Run(string(p), func(t *testing.T) {
			clk := newClock()
			srv := newJWKSServer(t, jwks(a, ec))
			h := newHost(t, p, clk, map[string]string{"idp": srv.addr()})
			vm1, vm2 := newVM(t, h, clusterConfig("")), newVM(t, h, clusterConfig(""))
			mustStatus(t, vm1, a.token(claims(clk.Unix(), 600, "apps:run")), "apps:run", 200)
			mustStatus(t, vm2, ec.token(claims(clk.Unix(), 600, "apps:run")), "apps:run", 200)
			if n := srv.fetches.Load(); n != 1 {
				t.Fatalf("%d fetches for two VMs, want 1", n)
			}
			if h.Counter("scope_gate.cache_hit") != 0 {
				t.Fatal("the second token was answered from the token cache: the test does not test key sharing")
			}
		})
	}
}

// TestJWKSSingleFlight: concurrent requests needing keys in one VM wait for one fetch, and all get answers.
func TestJWKSSingleFlight(t *testing.T) {
	a, _, _, _ := keys()
	for _, p := range profiles {
		t.Run(string(p), func(t *testing.T) {
			clk := newClock()
			srv := newJWKSServer(t, jwks(a))
			srv.set(jwks(a), 200, 200*time.Millisecond)
			h := newHost(t, p, clk, map[string]string{"idp": srv.addr()})
			vm := newVM(t, h, clusterConfig(""))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var streams []*envoyhost.Stream
			for i := 0; i < 20; i++ {
				streams = append(streams, vm.Start(ctx, request(a.token(claims(clk.Unix(), 600, "apps:run")), "apps:run")))
			}
			// One of them goes away while waiting: the others must still be answered.
			streams[3].ResetByClient()
			for i, s := range streams {
				res, err := s.Wait(ctx)
				if err != nil {
					t.Fatalf("stream %d: %v", i, err)
				}
				if i != 3 && res.Response.Status != 200 {
					t.Fatalf("stream %d: status %d", i, res.Response.Status)
				}
			}
			if n := srv.fetches.Load(); n != 1 {
				t.Fatalf("%d fetches for 20 concurrent requests, want 1", n)
			}
			if vm.Failed() {
				t.Fatal("VM failed")
			}
		})
	}
}

// TestNoTimersUnderEnvoy133: thousands of verifications (enough garbage for many GC cycles) under the
// Envoy 1.33 profile, where a Go runtime timer makes the next GC abort (poll_oneoff ENOSYS). The JOSE code
// and crypto must create none.
func TestNoTimersUnderEnvoy133(t *testing.T) {
	a, _, ec, ed := keys()
	clk := newClock()
	srv := newJWKSServer(t, jwks(a, ec, ed))
	h := newHost(t, envoyhost.Envoy133, clk, map[string]string{"idp": srv.addr()})
	vm := newVM(t, h, clusterConfig(""))
	n := 3000
	if testing.Short() {
		n = 300
	}
	signers := []*signer{ed, ec, ed, a}
	for i := 0; i < n; i++ {
		s := signers[i%len(signers)]
		mustStatus(t, vm, s.token(claims(clk.Unix(), 600, "apps:run")), "apps:run", 200)
	}
	if vm.Failed() {
		t.Fatal("VM failed")
	}
	if mem := vm.MemorySize(); mem > 256<<20 {
		t.Fatalf("linear memory grew to %d bytes", mem)
	}
	t.Logf("%d verifications, memory %d bytes", n, vm.MemorySize())
}

// TestJWKSKeyRotatedUnderSameKid: the issuer replaces the key behind a kid we hold. A token signed with the
// new key fails against the old one; that is our keys being out of date, not the token's fault: it is not
// cached as invalid, and it triggers a refresh (rate-limited by the floor) after which it verifies.
func TestJWKSKeyRotatedUnderSameKid(t *testing.T) {
	a, b, _, _ := keys()
	rotated := *b
	rotated.kid = a.kid // same kid, new key material
	for _, p := range profiles {
		t.Run(string(p), func(t *testing.T) {
			clk := newClock()
			srv := newJWKSServer(t, jwks(a))
			h := newHost(t, p, clk, map[string]string{"idp": srv.addr()})
			vm := newVM(t, h, clusterConfig(""))
			mustStatus(t, vm, a.token(claims(clk.Unix(), 600, "apps:run")), "apps:run", 200)
			srv.set(jwks(&rotated), 200, 0)
			clk.Advance(31) // past jwks_min_refresh_seconds, within jwks_cache_seconds: keys still "fresh"
			tok := rotated.token(claims(clk.Unix(), 600, "apps:run"))
			mustStatus(t, vm, tok, "apps:run", 200)
			if n := srv.fetches.Load(); n != 2 {
				t.Fatalf("%d fetches, want 2: a bad signature under a known kid must refresh the keys", n)
			}
			// A token that is really bad (signed by the old key, now gone) is refused, and within the floor it
			// does not fetch again.
			mustStatus(t, vm, a.token(claims(clk.Unix(), 600, "apps:run")), "apps:run", 401)
			if n := srv.fetches.Load(); n != 2 {
				t.Fatalf("%d fetches, want 2: the floor must hold", n)
			}
		})
	}
}
