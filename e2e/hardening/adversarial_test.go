package hardening

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scope-gate/scope-gate/filter/bearer"
	"github.com/scope-gate/scope-gate/internal/envoyhost"
)

// Adversarial requests and metadata against the compiled module, under both WASI profiles. Expected bodies
// are the specification's text (docs/spec.md §5), written out here rather than taken from the policy package, so that this
// test is an independent oracle for the replies.

var (
	advAccount = "dfoa_" + strings.Repeat("k", 43) // full scope (its kind's)
	advSSO     = "dfoe_" + strings.Repeat("s", 43) // apps:run only
)

func advConfig() string {
	return `{"token_kinds":[{"prefix":"dfoa_","subject_type":"account","scopes":["full"]},
  {"prefix":"dfoe_","subject_type":"external_sso","scopes":["apps:run"]}],
 "validator":{"type":"static","tokens":[
  {"sha256":"` + bearer.Sum(advAccount).Hex() + `","subject":"user@example.com"},
  {"sha256":"` + bearer.Sum(advSSO).Hex() + `","subject":"sso@example.com"}]}}`
}

const (
	bodyDuplicate    = `{"code":"invalid_request","message":"multiple authorization headers","status":400}`
	bodyMissing      = `{"code":"unauthorized","message":"missing bearer token","status":401}`
	bodyInvalid      = `{"code":"unauthorized","message":"invalid_bearer","status":401}`
	bodyConfig       = `{"code":"internal_server_error","message":"Internal Server Error","status":500}`
	challengeMissing = `Bearer realm="api"`
	challengeInvalid = `Bearer realm="api", error="invalid_token"`
	challengeDup     = `Bearer realm="api", error="invalid_request"`
)

func bodyScope(scope string) string {
	return `{"code":"forbidden","message":"insufficient_scope: ` + scope + `","status":403}`
}

func challengeScope(scope string) string {
	return `Bearer realm="api", error="insufficient_scope", scope="` + scope + `"`
}

// advExpect is what one adversarial request must produce.
type advExpect struct {
	status    int
	body      string // exact local reply body; "" for an allowed request
	challenge string // exact www-authenticate; "" means absent
	identity  bool   // allowed as advAccount: the upstream sees exactly its identity headers
}

var (
	allowAccount = advExpect{status: 200, identity: true}
	allowPublic  = advExpect{status: 200}
	missing      = advExpect{status: 401, body: bodyMissing, challenge: challengeMissing}
	invalid      = advExpect{status: 401, body: bodyInvalid, challenge: challengeInvalid}
	duplicate    = advExpect{status: 400, body: bodyDuplicate, challenge: challengeDup}
	config500    = advExpect{status: 500, body: bodyConfig}
)

func route(name string, block any) *envoyhost.Route {
	r := &envoyhost.Route{Name: name, Cluster: "backend", VirtualHost: &envoyhost.VirtualHost{Name: "api"}}
	if block != nil {
		r.Metadata = envoyhost.Metadata{"scope_gate": block}
	}
	return r
}

func withAuth(values ...string) [][2]string {
	hs := baseHeaders("/openapi/v1/apps")
	for _, v := range values {
		hs = append(hs, [2]string{"authorization", v})
	}
	return hs
}

func forged(hs [][2]string) [][2]string {
	return append(hs,
		[2]string{"X-SCOPE-GATE-SUBJECT", "forged-admin"}, [2]string{"x-scope-gate-subject", "forged-root"},
		[2]string{"X-Scope-Gate-Subject", "forged-3"}, [2]string{"X-SCOPE-GATE-SUBJECT-TYPE", "forged-type"},
		[2]string{"x-Scope-Gate-Scopes", "forged full"}, [2]string{"X-SCOPE-GATE-DECISION", "forged 200 allowed"})
}

func nested(depth int, list bool) any {
	var v any = "apps:read"
	for range depth {
		if list {
			v = []any{v}
		} else {
			v = map[string]any{"required_scope": v}
		}
	}
	return v
}

func TestAdversarialRequests(t *testing.T) {
	bearerRoute := route("bearer_route", map[string]any{})
	scopeRoute := route("scope_route", map[string]any{"required_scope": "apps:read"})
	publicRoute := route("public_route", map[string]any{"auth": "none"})
	ok := "Bearer " + advAccount

	many := withAuth(ok)
	for i := range 1000 {
		many = append(many, [2]string{"x-filler-" + strconv.Itoa(i), strings.Repeat("v", i%50)})
	}
	manyForged := forged(slices.Clone(many))
	hundredAuth := withAuth(slices.Repeat([]string{ok}, 100)...)
	hugeScope := strings.Repeat("s", 1<<20) // one valid 1 MiB scope token

	cases := []struct {
		name    string
		route   *envoyhost.Route
		headers [][2]string
		want    advExpect
	}{
		// Identity spoofing: every identity header the filter sets, in any case, repeated, on every kind of route.
		{"forged_identity_public_route", publicRoute, forged(withAuth()), allowPublic},
		{"forged_identity_allowed_route", bearerRoute, forged(withAuth(ok)), allowAccount},
		{"forged_identity_denied_route", bearerRoute, forged(withAuth()), missing},
		{"forged_identity_no_route", nil, forged(withAuth(ok)), allowAccount},
		{"forged_identity_after_1000_headers", bearerRoute, manyForged, allowAccount},

		// CR, LF and NUL: Envoy's codecs reject them on the wire, but a filter must not rely on that.
		{"crlf_injection_in_authorization", bearerRoute, withAuth(ok + "\r\nX-Scope-Gate-Subject: admin"), invalid},
		{"crlf_in_other_header", bearerRoute, append(withAuth(ok), [2]string{"x-note", "a\r\nX-Scope-Gate-Subject: admin"}), allowAccount},
		{"nul_after_token", bearerRoute, withAuth(ok + "\x00"), invalid},
		{"nul_inside_token", bearerRoute, withAuth("Bearer dfoa_\x00" + advAccount[5:]), invalid},
		{"nul_before_scheme", bearerRoute, withAuth("\x00Bearer " + advAccount), missing},
		{"nul_in_header_name", bearerRoute, append(withAuth(ok), [2]string{"x-\x00-scope-gate-subject", "forged"}), allowAccount},
		{"lf_only_value", bearerRoute, withAuth("Bearer \n"), invalid},

		// Size.
		{"authorization_64KiB_bearer", bearerRoute, withAuth("Bearer dfoa_" + strings.Repeat("A", 64<<10)), invalid},
		{"authorization_64KiB_no_scheme", bearerRoute, withAuth(strings.Repeat("A", 64<<10)), missing},
		{"authorization_4096_byte_token_unknown", bearerRoute, withAuth("Bearer dfoa_" + strings.Repeat("B", 4091)), invalid},
		{"headers_1000", bearerRoute, many, allowAccount},
		{"authorization_100_headers", bearerRoute, hundredAuth, duplicate},
		// Envoy joins repeated authorization headers and drops the empty one: the filter sees one bearer
		// (docs/envoy-behaviour.md). Separate delivery is covered by the scenario table.
		{"authorization_2_headers_one_empty", bearerRoute, withAuth(ok, ""), allowAccount},

		// Encodings and scheme variants (the backend's parsing rules, docs/spec.md §5 step 4).
		{"non_ascii_token_utf8", bearerRoute, withAuth("Bearer dfoa_ümlaut_" + strings.Repeat("x", 30)), invalid},
		{"non_ascii_token_latin1", bearerRoute, withAuth("Bearer dfoa_\xff\xfe" + advAccount[5:]), invalid},
		{"non_ascii_scheme", bearerRoute, withAuth("Béarer " + advAccount), missing},
		{"scheme_tab_separator", bearerRoute, withAuth("Bearer\t" + advAccount), missing},
		{"scheme_upper", bearerRoute, withAuth("BEARER " + advAccount), allowAccount},
		{"scheme_colon", bearerRoute, withAuth("Bearer: " + advAccount), missing},
		{"scheme_double_space", bearerRoute, withAuth("Bearer  " + advAccount), allowAccount},
		{"scheme_trailing_spaces", bearerRoute, withAuth("bearer " + advAccount + "   "), allowAccount},
		{"scheme_leading_space", bearerRoute, withAuth(" Bearer " + advAccount), missing},
		{"scheme_glued", bearerRoute, withAuth("Bearer" + advAccount), missing},
		{"scheme_only", bearerRoute, withAuth("Bearer"), missing},
		{"scheme_and_spaces_only", bearerRoute, withAuth("Bearer    "), missing},
		{"space_then_tab_before_token", bearerRoute, withAuth("Bearer \t" + advAccount), invalid},
		{"two_tokens", bearerRoute, withAuth(ok + " " + advAccount), invalid},
		{"basic_scheme", bearerRoute, withAuth("Basic " + advAccount), missing},
		{"scope_route_scope_missing", scopeRoute, withAuth("Bearer " + advSSO),
			advExpect{status: 403, body: bodyScope("apps:read"), challenge: challengeScope("apps:read")}},
		{"scope_route_full_scope", scopeRoute, forged(withAuth(ok)), allowAccount},
		{"token_prefix_case", bearerRoute, withAuth("Bearer DFOA_" + advAccount[5:]), invalid},

		// Metadata an operator or a control plane got wrong, at extreme sizes.
		{"scope_1MiB_held_through_full", route("huge", map[string]any{"required_scope": hugeScope}), withAuth(ok), allowAccount},
		{"scope_1MiB_not_held", route("huge", map[string]any{"required_scope": hugeScope}), withAuth("Bearer " + advSSO),
			advExpect{status: 403, body: bodyScope(hugeScope), challenge: challengeScope(hugeScope)}},
		{"scope_1MiB_invalid", route("huge", map[string]any{"required_scope": hugeScope + "  x"}), withAuth(ok), config500},
		{"unknown_key_1MiB", route("huge", map[string]any{strings.Repeat("k", 1<<20): "x"}), withAuth(ok), config500},
		{"nested_maps_200", route("deep", map[string]any{"required_scope": nested(200, false)}), withAuth(ok), config500},
		{"nested_lists_200", route("deep", map[string]any{"required_scope": nested(200, true)}), withAuth(ok), config500},
		{"nested_block_list_5000", route("deep", nested(5000, true)), withAuth(ok), config500},
		{"nested_block_maps_5000", route("deep", nested(5000, false)), withAuth(ok), config500},
		{"nested_null_deep_inside", route("deep", map[string]any{"auth": []any{map[string]any{"x": nil}}}), withAuth(ok), config500},
		{"deep_virtual_host_block_ignored", &envoyhost.Route{Name: "r", Metadata: envoyhost.Metadata{"scope_gate": map[string]any{}},
			VirtualHost: &envoyhost.VirtualHost{Metadata: envoyhost.Metadata{"scope_gate": nested(5000, false)}}}, withAuth(ok), allowAccount},
		{"route_name_1MiB_misconfigured", route(strings.Repeat("r", 1<<20), map[string]any{"auth": "open"}), withAuth(ok), config500},
		{"route_name_1MiB_denied", route(strings.Repeat("r", 1<<20), map[string]any{}), withAuth(), missing},
	}

	for _, profile := range profiles {
		t.Run(string(profile), func(t *testing.T) {
			h := newHost(t, profile, nil)
			vm := newVM(t, h, advConfig())
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					h.ResetLogs()
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					defer cancel()
					res, err := vm.Do(ctx, envoyhost.Request{Headers: tc.headers, Route: tc.route})
					if err != nil {
						t.Fatalf("Do: %v (a hung or abandoned stream)", err)
					}
					if res.Trapped != nil || vm.Failed() {
						t.Fatalf("VM trapped: %v", res.Trapped)
					}
					checkAdversarial(t, res, tc.want)
					secrets := []string{advAccount, advSSO}
					secrets = append(secrets, headerValues(tc.headers, "authorization")...)
					checkNoSecretLogged(t, h, secrets)
				})
			}
		})
	}
}

func checkAdversarial(t *testing.T, res envoyhost.Result, want advExpect) {
	t.Helper()
	if res.Response.Status != want.status {
		body := ""
		if res.LocalReply != nil {
			body = string(res.LocalReply.Body)
		}
		t.Fatalf("status %d, want %d (body %s)", res.Response.Status, want.status, abbrev(body, 200))
	}
	if want.body != "" {
		if res.LocalReply == nil || res.Upstream != nil {
			t.Fatalf("want a local reply and no upstream; got reply %v upstream %v", res.LocalReply != nil, res.Upstream != nil)
		}
		if got := string(res.LocalReply.Body); got != want.body {
			t.Errorf("body %s, want %s", abbrev(got, 200), abbrev(want.body, 200))
		}
		hs := res.LocalReply.Headers
		for name, v := range map[string]string{"content-type": "application/json", "cache-control": "no-store", "www-authenticate": want.challenge} {
			got := headerValues(hs, name)
			if v == "" {
				if len(got) != 0 {
					t.Errorf("reply header %s = %q, want absent", name, got)
				}
			} else if len(got) != 1 || got[0] != v {
				t.Errorf("reply header %s = %s, want exactly %s", name, abbrev(strings.Join(got, ","), 100), abbrev(v, 100))
			}
		}
		return
	}
	if res.Upstream == nil || res.LocalReply != nil {
		t.Fatalf("want the upstream; got reply %v upstream %v", res.LocalReply != nil, res.Upstream != nil)
	}
	up := res.Upstream.Headers
	for _, h := range up {
		if strings.HasPrefix(strings.ToLower(h[0]), "x-scope-gate-") && strings.HasPrefix(h[1], "forged") {
			t.Errorf("the upstream sees a forged identity header %s: %s", h[0], h[1])
		}
	}
	identity := map[string]string{"x-scope-gate-subject": "", "x-scope-gate-subject-type": "", "x-scope-gate-scopes": ""}
	if want.identity {
		identity = map[string]string{"x-scope-gate-subject": "user@example.com", "x-scope-gate-subject-type": "account", "x-scope-gate-scopes": "full"}
	}
	for name, v := range identity {
		got := headerValues(up, name)
		if v == "" && len(got) != 0 || v != "" && (len(got) != 1 || got[0] != v) {
			t.Errorf("upstream %s = %q, want %q", name, got, v)
		}
	}
	if got := headerValues(up, "x-scope-gate-decision"); len(got) != 0 {
		t.Errorf("upstream x-scope-gate-decision = %q in enforce mode", got)
	}
}

// TestManyStreamsWaitingOnValidator: hundreds of streams in one VM wait on a validator that never answers
// in time (distinct tokens: one call each), then on one that answers slowly (one token: single flight).
// Every stream must end, with 503 and 200 respectively, within a deadline: a waiting stream is never
// forgotten, and a slow validator costs one timeout, not a hang.
func TestManyStreamsWaitingOnValidator(t *testing.T) {
	var delay atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Duration(delay.Load()))
		w.WriteHeader(200)
		_, _ = io.WriteString(w, `{"sub":"someone"}`)
	}))
	defer srv.Close()
	const cfg = `{"token_kinds":[{"prefix":"dfoa_","subject_type":"account","scopes":["full"]}],
 "validator":{"type":"forward","cluster":"validator","authority":"api","path":"/whoami","timeout_ms":150},
 "cache":{"max_entries":16}}`
	for _, profile := range profiles {
		t.Run(string(profile), func(t *testing.T) {
			h := newHost(t, profile, map[string]string{"validator": strings.TrimPrefix(srv.URL, "http://")})
			vm := newVM(t, h, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			run := func(n int, token func(i int) string, want int) {
				streams := make([]*envoyhost.Stream, n)
				for i := range streams {
					// The default (nil) upstream on purpose: it once deadlocked the stand-in when more than 256
					// streams were resumed in one drain (a post to the loop's own task channel), as here.
					streams[i] = vm.Start(ctx, envoyhost.Request{Headers: withAuth("Bearer " + token(i)), Route: route("r", map[string]any{})})
				}
				for i, s := range streams {
					res, err := s.Wait(ctx)
					if err != nil || res.Trapped != nil {
						t.Fatalf("stream %d: %v trap %v", i, err, res.Trapped)
					}
					if res.Response.Status != want {
						t.Fatalf("stream %d: status %d, want %d", i, res.Response.Status, want)
					}
				}
			}
			// Counted by the filter's own counters: the server's count is racy, since a call the host already
			// gave up on may or may not have reached it.
			calls0 := h.Counter("scope_gate.validator_calls")
			delay.Store(int64(400 * time.Millisecond)) // beyond timeout_ms: Envoy answers the call 504
			run(300, func(i int) string { return fmt.Sprintf("dfoa_slow_%04d_%s", i, strings.Repeat("x", 20)) }, 503)
			if c := h.Counter("scope_gate.validator_calls") - calls0; c != 300 {
				t.Errorf("300 distinct tokens made %d validator calls", c)
			}
			if u := h.Counter("scope_gate.unavailable"); u != 300 {
				t.Errorf("unavailable = %d, want 300", u)
			}
			calls1 := h.Counter("scope_gate.validator_calls")
			delay.Store(int64(50 * time.Millisecond))
			run(300, func(int) string { return "dfoa_one_token_" + strings.Repeat("y", 20) }, 200)
			if c := h.Counter("scope_gate.validator_calls") - calls1; c != 1 {
				t.Errorf("300 streams for one token made %d validator calls, want 1 (single flight)", c)
			}
			if vm.Failed() {
				t.Fatal("VM failed")
			}
		})
	}
}

// TestValidatorAnswers: what a validator (or whatever answers on its cluster) sends back is untrusted too.
// An answer body over 64 KiB is unavailable (503), not parsed; one of exactly 64 KiB is read; a subject with
// CR/LF or non-ASCII bytes reaches the upstream percent-encoded, so it can neither inject a header nor forge
// another identity header.
func TestValidatorAnswers(t *testing.T) {
	var answer atomic.Value // string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, answer.Load().(string))
	}))
	defer srv.Close()
	const cfg = `{"token_kinds":[{"prefix":"dfoa_","subject_type":"account","scopes":["full"]}],
 "validator":{"type":"forward","cluster":"validator","authority":"api","path":"/whoami","timeout_ms":5000},
 "cache":{"ttl_seconds":0,"negative_ttl_seconds":0}}`
	pad := func(n int) string { // a JSON object of exactly n bytes
		return `{"sub":"padded","x":"` + strings.Repeat("p", n-len(`{"sub":"padded","x":""}`)) + `"}`
	}
	cases := []struct {
		name    string
		body    string
		status  int
		subject string
	}{
		{"body_64KiB_read", pad(64 << 10), 200, "padded"},
		{"body_64KiB_plus_1_unavailable", pad(64<<10 + 1), 503, ""},
		{"body_8MiB_unavailable", pad(8 << 20), 503, ""},
		{"subject_crlf_injection", `{"sub":"evil\r\nx-scope-gate-scopes: admin"}`, 200, "evil%0D%0Ax-scope-gate-scopes: admin"},
		{"subject_non_ascii_and_percent", `{"sub":"ü%00\u0000"}`, 200, "%C3%BC%2500%00"},
	}
	for _, profile := range profiles {
		t.Run(string(profile), func(t *testing.T) {
			h := newHost(t, profile, map[string]string{"validator": strings.TrimPrefix(srv.URL, "http://")})
			vm := newVM(t, h, cfg)
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					answer.Store(tc.body)
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					defer cancel()
					res, err := vm.Do(ctx, envoyhost.Request{Headers: withAuth("Bearer dfoa_" + strings.Repeat("v", 40)), Route: route("r", map[string]any{})})
					if err != nil || res.Trapped != nil || vm.Failed() {
						t.Fatalf("Do: %v trap %v", err, res.Trapped)
					}
					if res.Response.Status != tc.status {
						t.Fatalf("status %d, want %d", res.Response.Status, tc.status)
					}
					if tc.status != 200 {
						return
					}
					up := res.Upstream.Headers
					if got := headerValues(up, "x-scope-gate-subject"); len(got) != 1 || got[0] != tc.subject {
						t.Errorf("upstream subject %q, want %q", got, tc.subject)
					}
					if got := headerValues(up, "x-scope-gate-scopes"); len(got) != 1 || got[0] != "full" {
						t.Errorf("upstream scopes %q, want [full]", got)
					}
				})
			}
		})
	}
}
