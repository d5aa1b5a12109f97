package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/scope-gate/scope-gate/filter/confjson"
	"github.com/scope-gate/scope-gate/filter/pathcheck"
	"github.com/scope-gate/scope-gate/filter/validator"
)

func mustParse(t testing.TB, js string) *Config {
	t.Helper()
	c, err := Parse([]byte(js))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

func TestParseDefaults(t *testing.T) {
	for _, in := range []string{"", "  \n", "{}"} {
		c := mustParse(t, in)
		if c.MetadataNamespace != "scope_gate" || c.Realm != "api" || c.FullScope != "full" ||
			c.DefaultRoute != DefaultBearer || c.Mode != ModeEnforce || c.Validator != nil || len(c.TokenKinds) != 0 {
			t.Errorf("Parse(%q) defaults wrong: %+v", in, c)
		}
		if c.Cache != (CacheConfig{TTLSeconds: 60, NegativeTTLSeconds: 10, MaxEntries: 10000}) {
			t.Errorf("cache defaults: %+v", c.Cache)
		}
		want := UpstreamHeaders{Subject: "x-scope-gate-subject", SubjectType: "x-scope-gate-subject-type", Scopes: "x-scope-gate-scopes", Decision: "x-scope-gate-decision"}
		if c.Upstream != want {
			t.Errorf("upstream defaults: %+v", c.Upstream)
		}
		if !c.BypassCORSPreflight || c.PathRules != (pathcheck.Rules{}) || c.Routes != nil {
			t.Errorf("defaults: %+v", c)
		}
	}
}

func TestParseAllKeys(t *testing.T) {
	c := mustParse(t, `{
		"metadata_namespace": "acme.auth", "realm": "acme", "full_scope": "", "default_route": "public",
		"mode": "report",
		"token_kinds": [{"prefix": "a_", "subject_type": "user", "scopes": ["b", "a", "b"]}, {"prefix": "a_long_", "subject_type": "svc"}],
		"validator": {"type": "static", "tokens": []},
		"cache": {"ttl_seconds": 5, "negative_ttl_seconds": 0, "max_entries": 1},
		"upstream_headers": {"subject": "X-User", "subject_type": "", "scopes": "x-scopes", "decision": "x-d", "strip_authorization": true}
	}`)
	if c.MetadataNamespace != "acme.auth" || c.Realm != "acme" || c.FullScope != "" || c.DefaultRoute != DefaultPublic || c.Mode != ModeReport {
		t.Fatalf("scalars: %+v", c)
	}
	if c.TokenKinds[0].Prefix != "a_long_" || c.TokenKinds[1].Prefix != "a_" {
		t.Fatalf("kinds not longest-prefix first: %+v", c.TokenKinds)
	}
	if got := strings.Join(c.TokenKinds[1].Scopes, " "); got != "a b" {
		t.Fatalf("kind scopes not sorted and deduplicated: %q", got)
	}
	if c.Cache != (CacheConfig{TTLSeconds: 5, NegativeTTLSeconds: 0, MaxEntries: 1}) {
		t.Fatalf("cache %+v", c.Cache)
	}
	if c.Upstream != (UpstreamHeaders{Subject: "x-user", Scopes: "x-scopes", Decision: "x-d", StripAuthorization: true}) {
		t.Fatalf("upstream %+v", c.Upstream)
	}
	if c.TokenKinds[1].ScopesText != "a b" {
		t.Fatalf("kind scopes text %q", c.TokenKinds[1].ScopesText)
	}
}

// TestParseErrors covers every way the configuration document is refused; each error names the JSON path.
// (A routes entry that is not a valid requirement is refused when the policy is compiled: policy's
// TestCompileRouteErrors.)
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"not JSON", `{`, "$: invalid JSON at byte 1: expected a string key"},
		{"not an object", `[]`, "$: must be an object, got array"},
		{"duplicate key", `{"realm":"a","realm":"b"}`, `$: invalid JSON at byte 13: duplicate key "realm"`},
		{"unknown key", `{"mode":"enforce","modes":"x"}`, "$.modes: unknown key"},
		{"wrong type", `{"realm": 1}`, "$.realm: must be a string, got number"},
		{"empty namespace", `{"metadata_namespace": ""}`, "$.metadata_namespace: must be a non-empty string without NUL"},
		{"realm with quote", `{"realm": "a\"b"}`, `$.realm: must be printable ASCII without '"' or '\' (it is quoted in WWW-Authenticate)`},
		{"bad full scope", `{"full_scope": "a b"}`, `$.full_scope: must be "" or one RFC 6749 scope token, got "a b"`},
		{"bad default route", `{"default_route": "allow"}`, `$.default_route: must be "bearer", "public" or "deny", got "allow"`},
		{"bad mode", `{"mode": "audit"}`, `$.mode: must be "enforce" or "report", got "audit"`},
		{"kinds not array", `{"token_kinds": {}}`, "$.token_kinds: must be an array, got object"},
		{"kinds empty", `{"token_kinds": []}`, "$.token_kinds: must list at least one kind (omit the key to accept any token)"},
		{"kind not object", `{"token_kinds": ["dfoa_"]}`, "$.token_kinds[0]: must be an object, got string"},
		{"kind unknown key", `{"token_kinds": [{"prefix": "a", "scope": []}]}`, "$.token_kinds[0].scope: unknown key"},
		{"kind without prefix", `{"token_kinds": [{"subject_type": "a"}]}`, "$.token_kinds[0].prefix: is required"},
		{"kind prefix with space", `{"token_kinds": [{"prefix": "a b"}]}`, "$.token_kinds[0].prefix: must be non-empty visible ASCII"},
		{"kind duplicate prefix", `{"token_kinds": [{"prefix": "a"}, {"prefix": "a"}]}`, `$.token_kinds[1].prefix: duplicates the prefix "a" of an earlier kind`},
		{"kind bad scope", `{"token_kinds": [{"prefix": "a", "scopes": ["x y"]}]}`, `$.token_kinds[0].scopes[0]: is not an RFC 6749 scope token: "x y"`},
		{"kind scopes not list", `{"token_kinds": [{"prefix": "a", "scopes": "full"}]}`, "$.token_kinds[0].scopes: must be an array of scope strings, got string"},
		{"kind bad subject type", `{"token_kinds": [{"prefix": "a", "subject_type": ""}]}`, `$.token_kinds[0].subject_type: must be one token of visible ASCII, got ""`},
		{"validator not object", `{"validator": "static"}`, "$.validator: must be an object, got string"},
		{"validator without type", `{"validator": {}}`, `$.validator.type: is required ("static", "introspection", "forward" or "jwt")`},
		{"validator unknown type", `{"validator": {"type": "magic"}}`, `$.validator.type: must be "static", "introspection", "forward" or "jwt", got "magic"`},
		{"validator not yet built", `{"validator": {"type": "jwt"}}`, jwtTypeOnlyError()},
		{"remote without cluster", `{"validator": {"type": "introspection", "authority": "idp", "path": "/i"}}`, "$.validator.cluster: is required"},
		{"remote without path", `{"validator": {"type": "forward", "cluster": "api", "authority": "api"}}`, "$.validator.path: is required"},
		{"remote bad path", `{"validator": {"type": "forward", "cluster": "api", "authority": "api", "path": "account"}}`, `$.validator.path: must start with '/' and be visible ASCII, got "account"`},
		{"remote bad authority", `{"validator": {"type": "forward", "cluster": "api", "authority": "a/b", "path": "/a"}}`, "$.validator.authority: must be a host[:port] (visible ASCII, no '/', '@' or spaces)"},
		{"remote timeout zero", `{"validator": {"type": "forward", "cluster": "api", "authority": "api", "path": "/a", "timeout_ms": 0}}`, "$.validator.timeout_ms: must be between 1 and 60000, got 0"},
		{"forward bad method", `{"validator": {"type": "forward", "cluster": "api", "authority": "api", "path": "/a", "method": "get"}}`, `$.validator.method: must be an upper-case HTTP method token, got "get"`},
		{"introspection has no method", `{"validator": {"type": "introspection", "cluster": "api", "authority": "api", "path": "/a", "method": "GET"}}`, "$.validator.method: unknown key (introspection always uses POST)"},
		{"forward has no client", `{"validator": {"type": "forward", "cluster": "api", "authority": "api", "path": "/a", "client_id": "x"}}`, "$.validator.client_id: unknown key (client credentials apply to introspection only)"},
		{"secret without id", `{"validator": {"type": "introspection", "cluster": "api", "authority": "api", "path": "/a", "client_secret": "s"}}`, "$.validator.client_secret: needs client_id"},
		{"remote unknown key", `{"validator": {"type": "forward", "cluster": "api", "authority": "api", "path": "/a", "tls": true}}`, "$.validator.tls: unknown key"},
		{"routes not object", `{"routes": []}`, "$.routes: must be an object mapping route names to requirements, got array"},
		{"routes entry not object", `{"routes": {"apps": "apps:read"}}`, `$.routes["apps"]: must be an object of strings, got string`},
		{"routes non-string leaf", `{"routes": {"apps": {"required_scope": 1}}}`, `$.routes["apps"].required_scope: must be a string, got number`},
		{"routes empty name", `{"routes": {"": {"auth": "none"}}}`, `$.routes[""]: route name must not be empty`},
		{"static unknown key", `{"validator": {"type": "static", "tokens": [], "ttl": 1}}`, "$.validator.ttl: unknown key"},
		{"static without tokens", `{"validator": {"type": "static"}}`, "$.validator.tokens: is required"},
		{"static tokens not list", `{"validator": {"type": "static", "tokens": {}}}`, "$.validator.tokens: must be an array, got object"},
		{"static bad hash", `{"validator": {"type": "static", "tokens": [{"sha256": "abc"}]}}`, "$.validator.tokens[0].sha256: must be 64 hex digits (the SHA-256 of the token)"},
		{"static missing hash", `{"validator": {"type": "static", "tokens": [{"subject": "a"}]}}`, "$.validator.tokens[0].sha256: is required"},
		{"static duplicate hash", `{"validator": {"type": "static", "tokens": [{"sha256": "` + strings.Repeat("a", 64) + `"}, {"sha256": "` + strings.Repeat("A", 64) + `"}]}}`, "$.validator.tokens[1].sha256: duplicates an earlier token"},
		{"static expires not integer", `{"validator": {"type": "static", "tokens": [{"sha256": "` + strings.Repeat("a", 64) + `", "expires_at": 1.5}]}}`, "$.validator.tokens[0].expires_at: must be an integer, got 1.5"},
		{"static expires negative", `{"validator": {"type": "static", "tokens": [{"sha256": "` + strings.Repeat("a", 64) + `", "expires_at": -1}]}}`, "$.validator.tokens[0].expires_at: must be between 1 and 4611686018427387904, got -1"},
		{"static subject with newline", `{"validator": {"type": "static", "tokens": [{"sha256": "` + strings.Repeat("a", 64) + `", "subject": "a\nb"}]}}`, "$.validator.tokens[0].subject: must be printable ASCII (it is sent upstream in a header)"},
		{"static token unknown key", `{"validator": {"type": "static", "tokens": [{"sha256": "` + strings.Repeat("a", 64) + `", "token": "x"}]}}`, "$.validator.tokens[0].token: unknown key"},
		{"cache not object", `{"cache": 1}`, "$.cache: must be an object, got number"},
		{"cache negative ttl", `{"cache": {"ttl_seconds": -1}}`, "$.cache.ttl_seconds: must be between 0 and 86400, got -1"},
		{"cache zero entries", `{"cache": {"max_entries": 0}}`, "$.cache.max_entries: must be between 1 and 10000000, got 0"},
		{"cache float", `{"cache": {"negative_ttl_seconds": 1e3}}`, "$.cache.negative_ttl_seconds: must be an integer, got 1e3"},
		{"cache string", `{"cache": {"max_entries": "10"}}`, "$.cache.max_entries: must be an integer, got string"},
		{"cache unknown", `{"cache": {"size": 1}}`, "$.cache.size: unknown key"},
		{"headers not object", `{"upstream_headers": []}`, "$.upstream_headers: must be an object, got array"},
		{"header bad name", `{"upstream_headers": {"subject": "x user"}}`, `$.upstream_headers.subject: must be "" or an HTTP header name (RFC 9110 token), got "x user"`},
		{"header pseudo", `{"upstream_headers": {"subject": ":path"}}`, `$.upstream_headers.subject: must be "" or an HTTP header name (RFC 9110 token), got ":path"`},
		{"header authorization", `{"upstream_headers": {"scopes": "Authorization"}}`, `$.upstream_headers.scopes: must not be "authorization"`},
		{"header duplicate", `{"upstream_headers": {"subject": "x-a", "scopes": "X-A"}}`, `$.upstream_headers.scopes: header "x-a" is already used by $.upstream_headers.subject`},
		{"strip not bool", `{"upstream_headers": {"strip_authorization": "yes"}}`, "$.upstream_headers.strip_authorization: must be a boolean, got string"},
		{"path_check not object", `{"path_check": true}`, "$.path_check: must be an object, got boolean"},
		{"path_check unknown rule", `{"path_check": {"allow_dot_segments": true}}`, "$.path_check.allow_dot_segments: unknown key (dot segments, control bytes and overlong UTF-8 are always refused)"},
		{"path_check not bool", `{"path_check": {"allow_encoded_slashes": "yes"}}`, "$.path_check.allow_encoded_slashes: must be a boolean, got string"},
		{"bypass_cors_preflight not bool", `{"bypass_cors_preflight": 1}`, "$.bypass_cors_preflight: must be a boolean, got number"},
		{"headers unknown", `{"upstream_headers": {"email": "x-e"}}`, "$.upstream_headers.email: unknown key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.in))
			var ce *confjson.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Parse error = %v, want a *policy.Error", err)
			}
			got := ce.Path + ": " + ce.Msg
			if got != tc.want {
				t.Fatalf("error\n got  %s\n want %s", got, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "scope-gate configuration: ") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one prefixed line: %q", err.Error())
			}
		})
	}
}

func TestParseRoutesMap(t *testing.T) {
	c := mustParse(t, `{"routes": {"apps-list": {"required_scope": "apps:read"}, "login": {"auth": "none"}}}`)
	want := []Route{
		{Name: "apps-list", Path: `$.routes["apps-list"]`, Fields: [][2]string{{"required_scope", "apps:read"}}},
		{Name: "login", Path: `$.routes["login"]`, Fields: [][2]string{{"auth", "none"}}},
	}
	if len(c.Routes) != len(want) {
		t.Fatalf("routes %+v", c.Routes)
	}
	for i := range want {
		if c.Routes[i].Name != want[i].Name || c.Routes[i].Path != want[i].Path || len(c.Routes[i].Fields) != 1 || c.Routes[i].Fields[0] != want[i].Fields[0] {
			t.Fatalf("route %d = %+v, want %+v", i, c.Routes[i], want[i])
		}
	}
}

// jwtTypeOnlyError is what {"validator": {"type": "jwt"}} gives: natively and in the jwt build the JWT
// validator's first missing key; in the default module a refusal naming the variant.
func jwtTypeOnlyError() string {
	if validator.JWTSupported {
		return "$.validator.issuer: is required (the token's iss must equal it)"
	}
	return `$.validator.type: "jwt" needs the scope-gate-jwt.wasm build (this module is built without JWT support)`
}

// TestJWTUnderstoodNatively: every native tool (the offline check among them) reads JWT configurations, with
// the clusters the validator calls, whatever the build tags; only the default wasm module refuses them.
func TestJWTUnderstoodNatively(t *testing.T) {
	if !validator.JWTSupported {
		t.Fatal("a native build without JWT support: the offline check would reject every JWT configuration")
	}
	c := mustParse(t, `{"validator": {"type": "jwt", "issuer": "https://idp", "audience": "api", "jwks_cluster": "idp",
		"jwks_authority": "idp.example", "jwks_path": "/jwks"}}`)
	if c.Validator.Type() != "jwt" || len(c.Validator.Clusters()) != 1 || c.Validator.Clusters()[0].Name != "idp" {
		t.Fatalf("validator %s, clusters %v", c.Validator.Type(), c.Validator.Clusters())
	}
}
