package policy

import (
	"strings"
	"testing"

	"github.com/scope-gate/scope-gate/filter/bearer"
	"github.com/scope-gate/scope-gate/filter/config"
	"github.com/scope-gate/scope-gate/filter/validator"
)

const (
	bodyDuplicate   = `{"code":"invalid_request","message":"multiple authorization headers","status":400}`
	bodyMissing     = `{"code":"unauthorized","message":"missing bearer token","status":401}`
	bodyPath        = `{"code":"invalid_request","message":"ambiguous request path","status":400}`
	bodyInvalid     = `{"code":"unauthorized","message":"invalid_bearer","status":401}`
	bodySubject     = `{"code":"forbidden","message":"token subject type not accepted here","status":403}`
	bodyConfig      = `{"code":"internal_server_error","message":"Internal Server Error","status":500}`
	bodyUnavailable = `{"code":"service_unavailable","message":"token validation unavailable","status":503}`
)

type want struct {
	verdict   Verdict
	status    uint32 // 0 when allowed
	body      string
	challenge string // expected www-authenticate, "" for none
	subject   string
	subjType  string
	scopes    string
}

type decisionCase struct {
	name    string
	config  string   // "" → referenceConfig()
	block   []byte   // the route's metadata block; nil → the default requirement
	auth    []string // Authorization header values, in order
	request Request  // path, method and CORS headers; the zero value is a GET of a plain path
	want    want
	validOf func(bearer.Hash) validator.Validation // nil → the configured static validator at `now`
}

func runDecision(t *testing.T, tc decisionCase) {
	t.Helper()
	js := tc.config
	if js == "" {
		js = referenceConfig()
	}
	c := mustParse(t, js)
	req := c.DefaultRequirement()
	if tc.block != nil {
		req = c.DecodeRequirement(tc.block)
	}
	validate := tc.validOf
	if validate == nil {
		validate = func(h bearer.Hash) validator.Validation {
			s, ok := c.Validator.(*validator.Static)
			if !ok {
				t.Fatalf("validator called without a static validator")
			}
			return s.Lookup(h, now)
		}
	}
	first := ""
	if len(tc.auth) > 0 {
		first = tc.auth[0]
	}
	request := tc.request
	if request.Path == "" {
		request.Path, request.Method = "/openapi/v1/apps", "GET"
	}
	request.AuthCount, request.Authorization = len(tc.auth), first
	d := c.Decide(req, request, validate)
	if d.Verdict != tc.want.verdict {
		t.Fatalf("verdict = %v, want %v (requirement problem: %q)", d.Verdict, tc.want.verdict, req.Problem)
	}
	if tc.want.status == 0 {
		if d.Reply != nil {
			t.Fatalf("allowed decision has a reply %d", d.Reply.Status)
		}
		id := d.Identity
		if id.Subject != tc.want.subject || id.SubjectType != tc.want.subjType || id.ScopesText != tc.want.scopes {
			t.Fatalf("identity = %+v, want %q %q %q", id, tc.want.subject, tc.want.subjType, tc.want.scopes)
		}
		return
	}
	r := d.Reply
	if r == nil {
		t.Fatalf("denial without reply")
	}
	if r.Status != tc.want.status || string(r.Body) != tc.want.body {
		t.Fatalf("reply = %d %s, want %d %s", r.Status, r.Body, tc.want.status, tc.want.body)
	}
	headers := map[string]string{}
	for _, h := range r.Headers {
		if _, dup := headers[h[0]]; dup {
			t.Fatalf("duplicate reply header %s", h[0])
		}
		headers[h[0]] = h[1]
	}
	if headers["content-type"] != "application/json" || headers["cache-control"] != "no-store" {
		t.Fatalf("reply headers %v", r.Headers)
	}
	if got := headers["www-authenticate"]; got != tc.want.challenge {
		t.Fatalf("www-authenticate = %q, want %q", got, tc.want.challenge)
	}
	if len(r.Headers) != 2+btoi(tc.want.challenge != "") {
		t.Fatalf("unexpected reply headers %v", r.Headers)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func bearerOf(tok string) []string { return []string{"Bearer " + tok} }

// TestDecisionContractTable walks docs/spec.md §5: the decision order and every row of the responses table.
func TestDecisionContractTable(t *testing.T) {
	scoped := block("required_scope", "apps:read")
	tests := []decisionCase{
		// Step 0: an ambiguous path is refused on every route, before anything else.
		{name: "dot segments on a public route", block: block("auth", "none"), request: Request{Path: "/openapi/v1/oauth/device/../../apps", Method: "GET"}, want: want{verdict: DenyAmbiguousPath, status: 400, body: bodyPath}},
		{name: "encoded dot segments with a live token", block: scoped, auth: bearerOf(accountToken), request: Request{Path: "/openapi/v1/x/%2E%2e/apps", Method: "GET"}, want: want{verdict: DenyAmbiguousPath, status: 400, body: bodyPath}},
		{name: "ambiguous path beats a misconfigured route", block: block("auth", "maybe"), request: Request{Path: "/a//b", Method: "GET"}, want: want{verdict: DenyAmbiguousPath, status: 400, body: bodyPath}},
		{name: "encoded slash refused by default", block: scoped, auth: bearerOf(accountToken), request: Request{Path: "/repos/a%2Fb", Method: "GET"}, want: want{verdict: DenyAmbiguousPath, status: 400, body: bodyPath}},
		{name: "encoded slash allowed when relaxed", config: relaxedSlashesConfig(), block: scoped, auth: bearerOf(accountToken), request: Request{Path: "/repos/a%2Fb", Method: "GET"}, want: want{verdict: Allow, subject: "user@example.com", subjType: "account", scopes: "full"}},
		{name: "relaxed slashes still refuse dot segments", config: relaxedSlashesConfig(), block: scoped, auth: bearerOf(accountToken), request: Request{Path: "/repos/a%2F..%2Fb", Method: "GET"}, want: want{verdict: DenyAmbiguousPath, status: 400, body: bodyPath}},
		{name: "the query is not checked", block: scoped, auth: bearerOf(accountToken), request: Request{Path: "/openapi/v1/apps?next=../../x", Method: "GET"}, want: want{verdict: Allow, subject: "user@example.com", subjType: "account", scopes: "full"}},
		// Step 1: configuration errors answer 500 before anything else, even with no or a bad token.
		{name: "misconfigured route beats missing token", block: block("auth", "maybe"), want: want{verdict: DenyMisconfigured, status: 500, body: bodyConfig}},
		{name: "misconfigured route beats duplicate headers", block: block("required_scope", ""), auth: []string{"Bearer a", "Bearer b"}, want: want{verdict: DenyMisconfigured, status: 500, body: bodyConfig}},
		{name: "scope without validator is 500 not pass", config: `{}`, block: block("required_scope", "apps:read"), auth: bearerOf(accountToken), want: want{verdict: DenyMisconfigured, status: 500, body: bodyConfig}},
		{name: "default bearer without validator is 500", config: `{}`, auth: bearerOf(accountToken), want: want{verdict: DenyMisconfigured, status: 500, body: bodyConfig}},
		{name: "default deny is 500", config: `{"default_route":"deny","validator":{"type":"static","tokens":[]}}`, auth: bearerOf(accountToken), want: want{verdict: DenyMisconfigured, status: 500, body: bodyConfig}},
		// Step 2: public routes pass without looking at Authorization.
		{name: "public route", block: block("auth", "none"), want: want{verdict: AllowPublic}},
		{name: "public route ignores duplicate and bad tokens", block: block("auth", "none"), auth: []string{"Bearer x", "junk"}, want: want{verdict: AllowPublic}},
		{name: "default public", config: `{"default_route":"public"}`, want: want{verdict: AllowPublic}},
		// Step 2b: a CORS preflight passes without a bearer (bypass_cors_preflight, on by default).
		{name: "cors preflight passes", block: scoped, request: preflight, want: want{verdict: AllowPreflight}},
		{name: "cors preflight ignores a bad token", block: scoped, auth: []string{"Bearer a", "Bearer b"}, request: preflight, want: want{verdict: AllowPreflight}},
		{name: "options without origin is checked", block: scoped, request: Request{Path: "/openapi/v1/apps", Method: "OPTIONS", AccessControlRequestMethod: "POST"}, want: want{verdict: DenyMissingBearer, status: 401, body: bodyMissing, challenge: `Bearer realm="api"`}},
		{name: "options without request method is checked", block: scoped, request: Request{Path: "/openapi/v1/apps", Method: "OPTIONS", Origin: "https://app.example"}, want: want{verdict: DenyMissingBearer, status: 401, body: bodyMissing, challenge: `Bearer realm="api"`}},
		{name: "preflight method is case-sensitive", block: scoped, request: Request{Path: "/openapi/v1/apps", Method: "options", Origin: "https://app.example", AccessControlRequestMethod: "POST"}, want: want{verdict: DenyMissingBearer, status: 401, body: bodyMissing, challenge: `Bearer realm="api"`}},
		{name: "preflight checked when the bypass is off", config: noPreflightConfig(), block: scoped, request: preflight, want: want{verdict: DenyMissingBearer, status: 401, body: bodyMissing, challenge: `Bearer realm="api"`}},
		{name: "preflight on a misconfigured route is 500", block: block("auth", "maybe"), request: preflight, want: want{verdict: DenyMisconfigured, status: 500, body: bodyConfig}},
		{name: "preflight with an ambiguous path is 400", block: scoped, request: Request{Path: "/x/../openapi/v1/apps", Method: "OPTIONS", Origin: "https://app.example", AccessControlRequestMethod: "POST"}, want: want{verdict: DenyAmbiguousPath, status: 400, body: bodyPath}},
		// Step 3: duplicates.
		{name: "two authorization headers", block: scoped, auth: []string{"Bearer " + accountToken, "Bearer " + accountToken}, want: want{verdict: DenyDuplicateAuth, status: 400, body: bodyDuplicate, challenge: `Bearer realm="api", error="invalid_request"`}},
		{name: "duplicate even when the second is empty", block: scoped, auth: []string{"Bearer " + accountToken, ""}, want: want{verdict: DenyDuplicateAuth, status: 400, body: bodyDuplicate, challenge: `Bearer realm="api", error="invalid_request"`}},
		{name: "comma-joined values as Envoy delivers two headers", block: scoped, auth: []string{"Bearer " + accountToken + ",Bearer " + accountToken}, want: want{verdict: DenyDuplicateAuth, status: 400, body: bodyDuplicate, challenge: `Bearer realm="api", error="invalid_request"`}},
		{name: "comma inside the token", block: scoped, auth: []string{"Bearer " + accountToken + ","}, want: want{verdict: DenyDuplicateAuth, status: 400, body: bodyDuplicate, challenge: `Bearer realm="api", error="invalid_request"`}},
		{name: "comma in another scheme", block: scoped, auth: []string{"Basic a, Bearer " + accountToken}, want: want{verdict: DenyDuplicateAuth, status: 400, body: bodyDuplicate, challenge: `Bearer realm="api", error="invalid_request"`}},
		// Step 4: missing.
		{name: "no authorization header", block: scoped, want: want{verdict: DenyMissingBearer, status: 401, body: bodyMissing, challenge: `Bearer realm="api"`}},
		{name: "empty authorization header", block: scoped, auth: []string{""}, want: want{verdict: DenyMissingBearer, status: 401, body: bodyMissing, challenge: `Bearer realm="api"`}},
		{name: "basic scheme", block: scoped, auth: []string{"Basic dXNlcjpwYXNz"}, want: want{verdict: DenyMissingBearer, status: 401, body: bodyMissing, challenge: `Bearer realm="api"`}},
		{name: "bearer without token", block: scoped, auth: []string{"Bearer   "}, want: want{verdict: DenyMissingBearer, status: 401, body: bodyMissing, challenge: `Bearer realm="api"`}},
		{name: "tab separator", block: scoped, auth: []string{"Bearer\t" + accountToken}, want: want{verdict: DenyMissingBearer, status: 401, body: bodyMissing, challenge: `Bearer realm="api"`}},
		{name: "leading space", block: scoped, auth: []string{" Bearer " + accountToken}, want: want{verdict: DenyMissingBearer, status: 401, body: bodyMissing, challenge: `Bearer realm="api"`}},
		{name: "lower-case scheme accepted", block: scoped, auth: []string{"bearer " + accountToken}, want: want{verdict: Allow, subject: "user@example.com", subjType: "account", scopes: "full"}},
		// Step 5: kinds and screening.
		{name: "unknown prefix", block: scoped, auth: bearerOf(serviceKey), want: want{verdict: DenyInvalidBearer, status: 401, body: bodyInvalid, challenge: `Bearer realm="api", error="invalid_token"`}},
		{name: "prefix is case-sensitive", block: scoped, auth: bearerOf("DFOA_" + accountToken[5:]), want: want{verdict: DenyInvalidBearer, status: 401, body: bodyInvalid, challenge: `Bearer realm="api", error="invalid_token"`}},
		{name: "token too long", block: scoped, auth: bearerOf("dfoa_" + strings.Repeat("a", 4092)), want: want{verdict: DenyInvalidBearer, status: 401, body: bodyInvalid, challenge: `Bearer realm="api", error="invalid_token"`}},
		{name: "token with non-ASCII", block: scoped, auth: bearerOf("dfoa_é"), want: want{verdict: DenyInvalidBearer, status: 401, body: bodyInvalid, challenge: `Bearer realm="api", error="invalid_token"`}},
		{name: "token with inner space", block: scoped, auth: bearerOf("dfoa_a b"), want: want{verdict: DenyInvalidBearer, status: 401, body: bodyInvalid, challenge: `Bearer realm="api", error="invalid_token"`}},
		// Step 6: validation.
		{name: "unknown token", block: scoped, auth: bearerOf(unknownToken), want: want{verdict: DenyInvalidBearer, status: 401, body: bodyInvalid, challenge: `Bearer realm="api", error="invalid_token"`}},
		{name: "expired token", block: scoped, auth: bearerOf(expiredToken), want: want{verdict: DenyInvalidBearer, status: 401, body: bodyInvalid, challenge: `Bearer realm="api", error="invalid_token"`}},
		{name: "validator unavailable", block: scoped, auth: bearerOf(accountToken), validOf: func(bearer.Hash) validator.Validation { return validator.Validation{Result: validator.Unavailable} }, want: want{verdict: DenyValidatorUnavailable, status: 503, body: bodyUnavailable}},
		{name: "unknown validation result fails closed", block: scoped, auth: bearerOf(accountToken), validOf: func(bearer.Hash) validator.Validation { return validator.Validation{Result: 99} }, want: want{verdict: DenyInvalidBearer, status: 401, body: bodyInvalid, challenge: `Bearer realm="api", error="invalid_token"`}},
		// Step 7: subject types.
		{name: "subject type refused", block: block("subject_types", "external_sso", "required_scope", "apps:run"), auth: bearerOf(accountToken), want: want{verdict: DenySubjectType, status: 403, body: bodySubject}},
		{name: "subject type checked before scope", block: block("subject_types", "external_sso", "required_scope", "nope"), auth: bearerOf(accountToken), want: want{verdict: DenySubjectType, status: 403, body: bodySubject}},
		{name: "subject type accepted from a list", block: block("subject_types", "account external_sso"), auth: bearerOf(ssoToken), want: want{verdict: Allow, subject: "sso@example.com", subjType: "external_sso", scopes: "apps:read:permitted-external apps:run"}},
		// Step 8: scopes.
		{name: "scope missing", block: block("required_scope", "workspace:write"), auth: bearerOf(ssoToken), want: want{verdict: DenyInsufficientScope, status: 403, body: `{"code":"forbidden","message":"insufficient_scope: workspace:write","status":403}`, challenge: `Bearer realm="api", error="insufficient_scope", scope="workspace:write"`}},
		{name: "one of several scopes missing", block: block("required_scope", "apps:read workspace:write"), auth: bearerOf(scopedToken), want: want{verdict: DenyInsufficientScope, status: 403, body: `{"code":"forbidden","message":"insufficient_scope: apps:read workspace:write","status":403}`, challenge: `Bearer realm="api", error="insufficient_scope", scope="apps:read workspace:write"`}},
		{name: "all of several scopes present", block: block("required_scope", "workspace:read apps:read"), auth: bearerOf(scopedToken), want: want{verdict: Allow, subject: "narrow", subjType: "account", scopes: "apps:read workspace:read"}},
		{name: "bearer only route", block: block("auth", "bearer"), auth: bearerOf(scopedToken), want: want{verdict: Allow, subject: "narrow", subjType: "account", scopes: "apps:read workspace:read"}},
		{name: "empty block means bearer", block: block(), auth: bearerOf(accountToken), want: want{verdict: Allow, subject: "user@example.com", subjType: "account", scopes: "full"}},
		{name: "full catch-all", block: block("required_scope", "anything:at:all"), auth: bearerOf(accountToken), want: want{verdict: Allow, subject: "user@example.com", subjType: "account", scopes: "full"}},
		{name: "catch-all turned off", config: strings.Replace(referenceConfig(), "{\n  \"token_kinds\"", "{\"full_scope\": \"\", \"token_kinds\"", 1), block: block("required_scope", "apps:read"), auth: bearerOf(accountToken), want: want{verdict: DenyInsufficientScope, status: 403, body: `{"code":"forbidden","message":"insufficient_scope: apps:read","status":403}`, challenge: `Bearer realm="api", error="insufficient_scope", scope="apps:read"`}},
		{name: "validator scopes replace kind scopes", block: block("required_scope", "apps:run"), auth: bearerOf(scopedToken), want: want{verdict: DenyInsufficientScope, status: 403, body: `{"code":"forbidden","message":"insufficient_scope: apps:run","status":403}`, challenge: `Bearer realm="api", error="insufficient_scope", scope="apps:run"`}},
		{name: "custom realm in every challenge", config: `{"realm":"acme","validator":{"type":"static","tokens":[]}}`, block: scoped, want: want{verdict: DenyMissingBearer, status: 401, body: bodyMissing, challenge: `Bearer realm="acme"`}},
		{name: "no token kinds: any prefix is looked up", config: `{"validator":{"type":"static","tokens":[{"sha256":"` + hashHex(serviceKey) + `","subject":"svc","subject_type":"service","scopes":["apps:read"]}]}}`, block: scoped, auth: bearerOf(serviceKey), want: want{verdict: Allow, subject: "svc", subjType: "service", scopes: "apps:read"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { runDecision(t, tc) })
	}
}

// TestReferenceBackendScopeGate replays the backend's own four tests of require_scope at the edge.
func TestReferenceBackendScopeGate(t *testing.T) {
	tests := []decisionCase{
		{name: "1 scope present runs the handler", block: block("required_scope", "apps:read"), auth: bearerOf(scopedToken), want: want{verdict: Allow, subject: "narrow", subjType: "account", scopes: "apps:read workspace:read"}},
		{name: "2 scope missing is 403 insufficient_scope", block: block("required_scope", "apps:run"), auth: bearerOf(scopedToken), want: want{verdict: DenyInsufficientScope, status: 403, body: `{"code":"forbidden","message":"insufficient_scope: apps:run","status":403}`, challenge: `Bearer realm="api", error="insufficient_scope", scope="apps:run"`}},
		{name: "3 full passes a scope outside the catalog", block: block("required_scope", "not:in:catalog"), auth: bearerOf(accountToken), want: want{verdict: Allow, subject: "user@example.com", subjType: "account", scopes: "full"}},
		{name: "4 scope gate without bearer validation is 500", config: `{"token_kinds":[{"prefix":"dfoa_","subject_type":"account","scopes":["full"]}]}`, block: block("required_scope", "apps:read"), auth: bearerOf(accountToken), want: want{verdict: DenyMisconfigured, status: 500, body: bodyConfig}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { runDecision(t, tc) })
	}
}

// TestReferenceBackendRoutes walks the backend's /openapi/v1 route table with dfoa_ and dfoe_ tokens.
func TestReferenceBackendRoutes(t *testing.T) {
	type route struct {
		name  string
		block []byte
	}
	routes := []route{
		{"POST /oauth/device/code", block("auth", "none")},
		{"GET /account", block("auth", "bearer")},
		{"GET /workspaces", block("auth", "bearer")},
		{"GET /apps", block("required_scope", "apps:read")},
		{"POST /apps/<id>/run", block("required_scope", "apps:run")},
		{"GET /permitted-external-apps", block("subject_types", "external_sso", "required_scope", "apps:read:permitted-external")},
		{"POST /permitted-external-apps/<id>/run", block("subject_types", "external_sso", "required_scope", "apps:run")},
	}
	// Expected verdict per token kind, as the backend decides.
	expect := map[string][2]Verdict{ // route → {dfoa_, dfoe_}
		"POST /oauth/device/code":                {AllowPublic, AllowPublic},
		"GET /account":                           {Allow, Allow},
		"GET /workspaces":                        {Allow, Allow},
		"GET /apps":                              {Allow, DenyInsufficientScope}, // apps:read:permitted-external does not satisfy apps:read
		"POST /apps/<id>/run":                    {Allow, Allow},
		"GET /permitted-external-apps":           {DenySubjectType, Allow},
		"POST /permitted-external-apps/<id>/run": {DenySubjectType, Allow},
	}
	c := mustParse(t, referenceConfig())
	s := c.Validator.(*validator.Static)
	for _, r := range routes {
		req := c.DecodeRequirement(r.block)
		if req.Problem != "" {
			t.Fatalf("%s: %s", r.name, req.Problem)
		}
		for i, tok := range []string{accountToken, ssoToken} {
			d := c.Decide(req, authRequest(1, "Bearer "+tok), func(h bearer.Hash) validator.Validation { return s.Lookup(h, now) })
			if d.Verdict != expect[r.name][i] {
				t.Errorf("%s with %s: %v, want %v", r.name, tok[:5], d.Verdict, expect[r.name][i])
			}
		}
		// Anything else (service keys, planned personal tokens) is refused on every non-public route.
		for _, tok := range []string{serviceKey, "dfp_" + strings.Repeat("x", 43)} {
			d := c.Decide(req, authRequest(1, "Bearer "+tok), func(bearer.Hash) validator.Validation { t.Fatal("validator reached"); return validator.Validation{} })
			if want := expect[r.name][0] == AllowPublic; want != (d.Verdict == AllowPublic) || (!want && d.Verdict != DenyInvalidBearer) {
				t.Errorf("%s with %s: %v", r.name, tok[:4], d.Verdict)
			}
		}
	}
}

func TestDenyNeverAllows(t *testing.T) {
	c := mustParse(t, referenceConfig())
	req := c.DecodeRequirement(block("required_scope", "apps:read"))
	for v := Verdict(0); v <= NeedsValidation+1; v++ {
		d := deny(c, v, req)
		if v == AllowPublic {
			if d.Verdict != AllowPublic || d.Reply != nil {
				t.Errorf("Deny(AllowPublic) = %+v", d)
			}
			continue
		}
		if d.Reply == nil || d.Verdict == Allow {
			t.Errorf("Deny(%v) = %v without a reply: fail-open", v, d.Verdict)
		}
	}
	// A requirement without a scope reply (impossible by construction) still cannot produce an allow.
	if d := deny(c, DenyInsufficientScope, &Requirement{}); d.Verdict != DenyMisconfigured || d.Reply.Status != 500 {
		t.Errorf("insufficient scope without reply = %+v", d)
	}
}

func TestDecisionHeaderAndMetric(t *testing.T) {
	c := mustParse(t, referenceConfig())
	req := c.DecodeRequirement(block("required_scope", "apps:read"))
	tests := []struct {
		d      Decision
		header string
		metric string
	}{
		{Decision{Verdict: Allow}, "200 allowed", MetricAllowed},
		{Decision{Verdict: AllowPublic}, "200 public", MetricPublic},
		{deny(c, AllowPreflight, req), "200 cors_preflight", MetricCORSPreflight},
		{deny(c, DenyAmbiguousPath, req), "400 invalid_request", MetricDenied400},
		{deny(c, DenyDuplicateAuth, req), "400 invalid_request", MetricDenied400},
		{deny(c, DenyMissingBearer, req), "401 unauthorized", MetricDenied401},
		{deny(c, DenyInvalidBearer, req), "401 unauthorized", MetricDenied401},
		{deny(c, DenySubjectType, req), "403 forbidden", MetricDenied403},
		{deny(c, DenyInsufficientScope, req), "403 forbidden", MetricDenied403},
		{deny(c, DenyMisconfigured, req), "500 internal_server_error", MetricConfigError},
		{deny(c, DenyValidatorUnavailable, req), "503 service_unavailable", MetricUnavailable},
	}
	for _, tc := range tests {
		if got := tc.d.DecisionHeader(); got != tc.header {
			t.Errorf("%v header = %q, want %q", tc.d.Verdict, got, tc.header)
		}
		if got := tc.d.Metric(); got != tc.metric {
			t.Errorf("%v metric = %q, want %q", tc.d.Verdict, got, tc.metric)
		}
	}
}

func TestAllowedPathDoesNotAllocate(t *testing.T) {
	c := mustParse(t, referenceConfig())
	req := c.DecodeRequirement(block("required_scope", "apps:read"))
	s := c.Validator.(*validator.Static)
	auth := "Bearer " + scopedToken
	n := testing.AllocsPerRun(200, func() {
		r := authRequest(1, auth)
		var (
			ch Check
			d  Decision
		)
		c.Check(req, &r, &ch)
		c.Authorize(req, ch.Kind, s.LookupClock(&ch.Hash, func() int64 { return now }), &d)
		if d.Verdict != Allow {
			panic(d.Verdict.String())
		}
	})
	if n != 0 {
		t.Fatalf("allowed decision allocated %v times per request", n)
	}
}

var preflight = Request{Path: "/openapi/v1/apps", Method: "OPTIONS", Origin: "https://app.example", AccessControlRequestMethod: "POST"}

// relaxedSlashesConfig is the reference configuration with path_check.allow_encoded_slashes.
func relaxedSlashesConfig() string {
	return strings.Replace(referenceConfig(), "{", `{"path_check": {"allow_encoded_slashes": true},`, 1)
}

// noPreflightConfig is the reference configuration with bypass_cors_preflight off.
func noPreflightConfig() string {
	return strings.Replace(referenceConfig(), "{", `{"bypass_cors_preflight": false,`, 1)
}

// kindOf's word compare answers what strings.HasPrefix answers, for prefixes and tokens on both sides of
// eight bytes.
func TestKindOfMatchesHasPrefix(t *testing.T) {
	prefixes := []string{"a", "dfoa_", "dfoe_", "abcdefg", "abcdefgh", "abcdefghi", "Abcdefgh"}
	var kinds []config.TokenKind
	for _, pre := range prefixes {
		kinds = append(kinds, config.TokenKind{Prefix: pre})
	}
	p := &Policy{Config: &config.Config{TokenKinds: kinds}, kindWords: prefixWords(kinds)}
	for _, tok := range []string{"a", "ab", "dfoa_", "dfoa_x", "dfoe_xxxxxxx", "abcdefg", "abcdefgh", "abcdefghi",
		"abcdefgX", "Abcdefgh1", "xbcdefghi", "dfoa", "bcdefghij"} {
		var want *config.TokenKind
		for i := range kinds {
			if strings.HasPrefix(tok, kinds[i].Prefix) {
				want = &p.TokenKinds[i]
				break
			}
		}
		if got := p.kindOf(tok); got != want {
			t.Errorf("kindOf(%q) = %v, want %v", tok, got, want)
		}
	}
}
