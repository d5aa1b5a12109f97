//go:build jwt || !wasip1

package validator

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/scope-gate/scope-gate/filter/confjson"
)

// signer is a test key: its private half signs tokens, its public half goes into JWKS documents.
type signer struct {
	kid  string
	alg  string
	priv crypto.Signer
}

var (
	keysOnce                      sync.Once
	rsaKey, ecKey, edKey, rsaKey2 *signer
)

func testKeys(t testing.TB) (rs, es, ed, rs2 *signer) {
	keysOnce.Do(func() {
		r, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		r2, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		e, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		_, d, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		rsaKey = &signer{kid: "rsa-1", alg: "RS256", priv: r}
		rsaKey2 = &signer{kid: "rsa-2", alg: "RS256", priv: r2}
		ecKey = &signer{kid: "ec-1", alg: "ES256", priv: e}
		edKey = &signer{kid: "ed-1", alg: "EdDSA", priv: d}
	})
	return rsaKey, ecKey, edKey, rsaKey2
}

// jwk is the public JWK of s, as an IdP publishes it.
func (s *signer) jwk(t testing.TB) string {
	t.Helper()
	b, err := jose.JSONWebKey{Key: s.priv.Public(), KeyID: s.kid, Algorithm: s.alg, Use: "sig"}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func jwksOf(t testing.TB, keys ...*signer) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k.jwk(t)
	}
	return `{"keys":[` + strings.Join(parts, ",") + `]}`
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// signRaw signs header.payload (both already JSON) with s, by hand, so tests control every byte.
func (s *signer) signRaw(t testing.TB, header, payload []byte) string {
	t.Helper()
	input := b64(header) + "." + b64(payload)
	digest := sha256.Sum256([]byte(input))
	var sig []byte
	var err error
	switch k := s.priv.(type) {
	case *rsa.PrivateKey:
		sig, err = rsa.SignPKCS1v15(nil, k, crypto.SHA256, digest[:])
	case *ecdsa.PrivateKey:
		var r, ss *big.Int
		r, ss, err = ecdsa.Sign(rand.Reader, k, digest[:])
		if err == nil {
			sig = make([]byte, 64)
			r.FillBytes(sig[:32])
			ss.FillBytes(sig[32:])
		}
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, []byte(input))
	}
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64(sig)
}

// sign makes a token with the standard header (alg, kid, typ at+jwt) and claims.
func (s *signer) sign(t testing.TB, claims map[string]any) string {
	return s.signRaw(t, mustJSON(map[string]any{"alg": s.alg, "kid": s.kid, "typ": "at+jwt"}), mustJSON(claims))
}

const (
	testIssuer   = "https://idp.example"
	testAudience = "https://api.example"
)

func claims(over map[string]any) map[string]any {
	c := map[string]any{"iss": testIssuer, "aud": testAudience, "sub": "user-1", "exp": now + 600, "iat": now - 10,
		"scope": "apps:read apps:run"}
	for k, v := range over {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func jwtConfig(t testing.TB, extra string, keys ...*signer) *testConfig {
	t.Helper()
	return mustParse(t, `{"validator": {"type": "jwt", "issuer": "`+testIssuer+`", "audience": "`+testAudience+`", "jwks": `+
		jwksOf(t, keys...)+extra+`}}`)
}

func verify(c *testConfig, token string, at int64) JWTResult {
	v := c.Validator.(*JWT)
	jwt, res := v.Parse(token)
	if jwt == nil {
		return res
	}
	return v.Verify(jwt, v.Inline(), at)
}

func TestParseJWTConfig(t *testing.T) {
	rs, es, ed, _ := testKeys(t)
	c := jwtConfig(t, "", rs, es, ed)
	v := c.Validator.(*JWT)
	if v.Type() != "jwt" || v.Inline().Len() != 3 || v.ClockSkewSeconds != 60 || v.ScopeClaim != "scope" || v.ScpClaim != "scp" ||
		v.RequireTypAtJWT || len(v.Algorithms) != 3 || v.JWKSCluster != "" {
		t.Fatalf("defaults: %+v", v)
	}
	if v.CacheFingerprint() == "" {
		t.Fatal("no cache fingerprint for the jwt validator")
	}
	if v.Clusters() != nil || v.Describe() != "jwt" {
		t.Fatalf("inline keys: clusters %v, describe %q", v.Clusters(), v.Describe())
	}
	other := jwtConfig(t, `, "audience_unused": 1`[:0], rs, es) // different keys: another fingerprint
	if other.Validator.CacheFingerprint() == v.CacheFingerprint() {
		t.Fatal("two key sets share a cache fingerprint")
	}
	r := mustParse(t, `{"validator": {"type": "jwt", "issuer": "i", "audience": "a", "jwks_cluster": "idp", "jwks_authority": "idp.example",
		"jwks_path": "/.well-known/jwks.json", "timeout_ms": 250, "jwks_cache_seconds": 600, "jwks_min_refresh_seconds": 5,
		"clock_skew_seconds": 0, "require_typ_at_jwt": true, "algorithms": ["ES256"], "scope_claim": "", "scp_claim": "permissions",
		"subject_type_claim": "sub_type"}}`)
	rv := r.Validator.(*JWT)
	if cl := rv.Clusters(); len(cl) != 1 || cl[0] != (Cluster{Key: "jwks_cluster", Name: "idp"}) {
		t.Fatalf("jwks_cluster not among the clusters the validator calls: %v", cl)
	}
	if rv.Inline() != nil || rv.JWKSCluster != "idp" || rv.TimeoutMillis != 250 || rv.JWKSCacheSeconds != 600 || rv.JWKSMinRefreshSeconds != 5 ||
		rv.ClockSkewSeconds != 0 || !rv.RequireTypAtJWT || len(rv.Algorithms) != 1 || rv.ScopeClaim != "" || rv.ScpClaim != "permissions" ||
		rv.SubjectTypeClaim != "sub_type" || !strings.HasPrefix(rv.JWKSSharedKey(), "scope_gate.jwks.") {
		t.Fatalf("remote: %+v", rv)
	}
	want := [][2]string{{":method", "GET"}, {":path", "/.well-known/jwks.json"}, {":authority", "idp.example"}, {"accept", "application/jwk-set+json, application/json"}}
	if got := rv.JWKSRequest(); len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] || got[3] != want[3] {
		t.Fatalf("JWKS request headers %v", got)
	}
}

func TestJWTConfigErrors(t *testing.T) {
	rs, es, _, _ := testKeys(t)
	base := `"type": "jwt", "issuer": "i", "audience": "a"`
	keys := `"jwks": ` + jwksOf(t, rs)
	priv, _ := jose.JSONWebKey{Key: rs.priv, KeyID: "p"}.MarshalJSON()
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	smallJWK, _ := jose.JSONWebKey{Key: small.Public(), KeyID: "s"}.MarshalJSON()
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384JWK, _ := jose.JSONWebKey{Key: p384.Public(), KeyID: "e"}.MarshalJSON()
	tests := []struct{ name, in, want string }{
		{"no issuer", `"type": "jwt", "audience": "a", ` + keys, "$.validator.issuer: is required (the token's iss must equal it)"},
		{"no audience", `"type": "jwt", "issuer": "i", ` + keys, "$.validator.audience: is required (one of the token's aud must equal it)"},
		{"empty issuer", `"type": "jwt", "issuer": "", "audience": "a", ` + keys, "$.validator.issuer: must be a non-empty printable ASCII string (compared exactly with the token's iss)"},
		{"audience number", `"type": "jwt", "issuer": "i", "audience": 1, ` + keys, "$.validator.audience: must be a string, got number"},
		{"no keys at all", base, "$.validator.jwks: is required: give the keys inline (jwks) or where to fetch them (jwks_cluster)"},
		{"both key sources", base + `, ` + keys + `, "jwks_cluster": "idp"`, "$.validator.jwks_cluster: cannot be combined with jwks: keys come from the configuration or from a cluster, not both"},
		{"cluster without path", base + `, "jwks_cluster": "idp", "jwks_authority": "idp"`, "$.validator.jwks_path: is required with jwks_cluster"},
		{"cluster without authority", base + `, "jwks_cluster": "idp", "jwks_path": "/k"`, "$.validator.jwks_authority: is required with jwks_cluster"},
		{"bad jwks path", base + `, "jwks_cluster": "idp", "jwks_authority": "idp", "jwks_path": "k"`, `$.validator.jwks_path: must start with '/' and be visible ASCII, got "k"`},
		{"refresh floor zero", base + `, "jwks_cluster": "idp", "jwks_authority": "idp", "jwks_path": "/k", "jwks_min_refresh_seconds": 0`, "$.validator.jwks_min_refresh_seconds: must be between 1 and 86400, got 0"},
		{"cache seconds with inline", base + `, ` + keys + `, "jwks_cache_seconds": 10`, "$.validator.jwks_cache_seconds: applies only with jwks_cluster (keys given inline in jwks are never fetched)"},
		{"timeout with inline", base + `, ` + keys + `, "timeout_ms": 10`, "$.validator.timeout_ms: applies only with jwks_cluster (keys given inline in jwks are never fetched)"},
		{"skew too large", base + `, ` + keys + `, "clock_skew_seconds": 601`, "$.validator.clock_skew_seconds: must be between 0 and 600, got 601"},
		{"alg none", base + `, ` + keys + `, "algorithms": ["RS256", "none"]`, `$.validator.algorithms[1]: "none" would accept unsigned tokens: never allowed`},
		{"alg HS256", base + `, ` + keys + `, "algorithms": ["HS256"]`, `$.validator.algorithms[0]: "HS256" (shared-secret) is not supported: it permits algorithm confusion and lets verifiers mint tokens`},
		{"alg unknown", base + `, ` + keys + `, "algorithms": ["PS256"]`, `$.validator.algorithms[0]: must be "RS256", "ES256" or "EdDSA", got "PS256"`},
		{"alg empty list", base + `, ` + keys + `, "algorithms": []`, `$.validator.algorithms: must be a non-empty array of "RS256", "ES256", "EdDSA"`},
		{"alg duplicate", base + `, ` + keys + `, "algorithms": ["RS256", "RS256"]`, `$.validator.algorithms[1]: duplicates "RS256"`},
		{"hs256 secret", base + `, ` + keys + `, "hs256_secret": "x"`, "$.validator.hs256_secret: HS256 (shared-secret) tokens are not supported: every verifier could mint tokens; use RS256, ES256 or EdDSA"},
		{"typ not bool", base + `, ` + keys + `, "require_typ_at_jwt": "yes"`, "$.validator.require_typ_at_jwt: must be a boolean, got string"},
		{"same claim twice", base + `, ` + keys + `, "scp_claim": "scope"`, `$.validator.scp_claim: must differ from scope_claim ("scope"): the two are read with different rules`},
		{"unknown key", base + `, ` + keys + `, "leeway": 5`, "$.validator.leeway: unknown key"},
		{"jwks not object", base + `, "jwks": []`, `$.validator.jwks: must be a JWK Set object ({"keys": [...]}), got array`},
		{"jwks without keys", base + `, "jwks": {}`, "$.validator.jwks.keys: is required"},
		{"jwks empty", base + `, "jwks": {"keys": []}`, "$.validator.jwks.keys: must list at least one key"},
		{"jwks extra member", base + `, "jwks": {"keys": [` + rs.jwk(t) + `], "x": 1}`, "$.validator.jwks.x: unknown key"},
		{"jwk not object", base + `, "jwks": {"keys": [1]}`, "$.validator.jwks.keys[0]: must be a JWK object, got number"},
		{"jwk garbage", base + `, "jwks": {"keys": [{"kty": "RSA", "n": "!!", "e": "AQAB"}]}`, "$.validator.jwks.keys[0]: not a valid JWK: ..."}, // the rest is the backend's
		{"jwk private", base + `, "jwks": {"keys": [` + string(priv) + `]}`, `$.validator.jwks.keys[0]: contains private or symmetric key material ("d")`},
		{"jwk symmetric", base + `, "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}`, `$.validator.jwks.keys[0]: contains private or symmetric key material ("k")`},
		{"jwk enc", base + `, "jwks": {"keys": [` + strings.Replace(rs.jwk(t), `"use":"sig"`, `"use":"enc"`, 1) + `]}`, `$.validator.jwks.keys[0]: "use" is not "sig" (not a signature key)`},
		{"jwk weak rsa", base + `, "jwks": {"keys": [` + string(smallJWK) + `]}`, "$.validator.jwks.keys[0]: RSA key of 1024 bits (must be 2048 to 8192)"},
		{"jwk P-384", base + `, "jwks": {"keys": [` + string(p384JWK) + `]}`, "$.validator.jwks.keys[0]: EC key on P-384 (only P-256, for ES256, is supported)"},
		{"jwk alg mismatch", base + `, "jwks": {"keys": [` + strings.Replace(rs.jwk(t), `"alg":"RS256"`, `"alg":"ES256"`, 1) + `]}`, `$.validator.jwks.keys[0]: "alg" "ES256" is not supported for this key (it fits RS256)`},
		{"jwk alg not allowed", base + `, "algorithms": ["RS256"], "jwks": ` + jwksOf(t, rs, es), "$.validator.jwks.keys[1]: ES256 key, but ES256 is not in algorithms"},
		{"jwk duplicate kid", base + `, "jwks": ` + jwksOf(t, rs, rs), `$.validator.jwks.keys[1].kid: duplicates kid "rsa-1" for RS256`},
		{"jwk duplicate member", base + `, "jwks": {"keys": [{"kty": "RSA", "kty": "EC"}]}`, `$: invalid JSON at byte`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(`{"validator": {` + tc.in + `}}`))
			var ce *confjson.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Parse error = %v, want a *policy.Error", err)
			}
			got := ce.Path + ": " + ce.Msg
			prefix, isPrefix := strings.CutSuffix(tc.want, "...")
			if strings.HasSuffix(tc.want, "at byte") {
				prefix, isPrefix = tc.want, true
			}
			if got != tc.want && !(isPrefix && strings.HasPrefix(got, prefix) && len(got) > len(prefix)) {
				t.Fatalf("error\n got  %s\n want %s", got, tc.want)
			}
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("error is not one line: %q", err.Error())
			}
		})
	}
}

// TestJWTVerify is the verification table: each row is a token made here and the verdict it must get.
func TestJWTVerify(t *testing.T) {
	rs, es, ed, rs2 := testKeys(t)
	c := jwtConfig(t, "", rs, es, ed)
	typed := jwtConfig(t, `, "require_typ_at_jwt": true`, rs)
	rsOnly := jwtConfig(t, `, "algorithms": ["RS256"]`, rs)
	withType := jwtConfig(t, `, "subject_type_claim": "kind"`, rs)
	exp := now + 600
	nbf := now + 100
	hdr := func(m map[string]any) []byte { return mustJSON(m) }

	// Algorithm confusion: HS256 over the header and payload, keyed with the RSA public key's bytes (both the
	// DER and the PEM-ish forms attackers try). Must be refused: HS256 is never allowed, and the RSA key only
	// ever verifies RS256.
	der, _ := x509.MarshalPKIXPublicKey(rs.priv.Public())
	confusion := func(secret []byte) string {
		input := b64(hdr(map[string]any{"alg": "HS256", "kid": rs.kid, "typ": "at+jwt"})) + "." + b64(mustJSON(claims(nil)))
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(input))
		return input + "." + b64(m.Sum(nil))
	}
	good := rs.sign(t, claims(nil))
	parts := strings.Split(good, ".")
	tamperedPayload := parts[0] + "." + b64(mustJSON(claims(map[string]any{"scope": "full"}))) + "." + parts[2]
	tamperedHeader := b64(hdr(map[string]any{"alg": "RS256", "kid": rs.kid, "typ": "JWT"})) + "." + parts[1] + "." + parts[2]
	unsigned := b64(hdr(map[string]any{"alg": "none", "kid": rs.kid})) + "." + parts[1] + "."
	unsignedSig := b64(hdr(map[string]any{"alg": "none", "kid": rs.kid})) + "." + parts[1] + "." + parts[2]

	tests := []struct {
		name      string
		cfg       *testConfig
		token     string
		at        int64
		want      Result
		cacheable bool
		unknown   bool
		scopes    string
		subject   string
		subType   string
	}{
		{"RS256 valid", c, good, now, Valid, false, false, "apps:read apps:run", "user-1", ""},
		{"ES256 valid", c, es.sign(t, claims(nil)), now, Valid, false, false, "apps:read apps:run", "user-1", ""},
		{"EdDSA valid", c, ed.sign(t, claims(nil)), now, Valid, false, false, "apps:read apps:run", "user-1", ""},
		{"expired", c, rs.sign(t, claims(map[string]any{"exp": now - 61})), now, Invalid, true, false, "", "", ""},
		{"exp: one second before exp+skew", c, good, exp + 59, Valid, false, false, "apps:read apps:run", "user-1", ""},
		{"exp: exactly exp+skew", c, good, exp + 60, Invalid, true, false, "", "", ""},
		{"exp: exactly exp-skew", c, good, exp - 60, Valid, false, false, "apps:read apps:run", "user-1", ""},
		{"nbf: not yet valid", c, rs.sign(t, claims(map[string]any{"nbf": nbf})), now, Invalid, false, false, "", "", ""},
		{"nbf: exactly nbf-skew", c, rs.sign(t, claims(map[string]any{"nbf": nbf})), nbf - 60, Valid, false, false, "apps:read apps:run", "user-1", ""},
		{"nbf: one second before nbf-skew", c, rs.sign(t, claims(map[string]any{"nbf": nbf})), nbf - 61, Invalid, false, false, "", "", ""},
		{"nbf: exactly nbf+skew", c, rs.sign(t, claims(map[string]any{"nbf": nbf})), nbf + 60, Valid, false, false, "apps:read apps:run", "user-1", ""},
		{"nbf fractional rounds up", c, rs.sign(t, claims(map[string]any{"nbf": float64(nbf) + 0.5})), nbf - 60, Invalid, false, false, "", "", ""},
		{"no exp", c, rs.sign(t, claims(map[string]any{"exp": nil})), now, Invalid, true, false, "", "", ""},
		{"exp a string", c, rs.sign(t, claims(map[string]any{"exp": "soon"})), now, Invalid, true, false, "", "", ""},
		{"wrong issuer", c, rs.sign(t, claims(map[string]any{"iss": "https://evil.example"})), now, Invalid, true, false, "", "", ""},
		{"no issuer", c, rs.sign(t, claims(map[string]any{"iss": nil})), now, Invalid, true, false, "", "", ""},
		{"wrong audience string", c, rs.sign(t, claims(map[string]any{"aud": "https://other.example"})), now, Invalid, true, false, "", "", ""},
		{"wrong audience array", c, rs.sign(t, claims(map[string]any{"aud": []string{"x", "y"}})), now, Invalid, true, false, "", "", ""},
		{"audience in array", c, rs.sign(t, claims(map[string]any{"aud": []string{"x", testAudience}})), now, Valid, false, false, "apps:read apps:run", "user-1", ""},
		{"audience array with a number", c, rs.sign(t, claims(map[string]any{"aud": []any{testAudience, 1}})), now, Invalid, true, false, "", "", ""},
		{"no audience", c, rs.sign(t, claims(map[string]any{"aud": nil})), now, Invalid, true, false, "", "", ""},
		{"unknown kid", c, rs2.sign(t, claims(nil)), now, Invalid, false, true, "", "", ""},
		{"known kid, another key", c, (&signer{kid: rs.kid, alg: "RS256", priv: rs2.priv}).sign(t, claims(nil)), now, Invalid, false, true, "", "", ""},
		{"kid of an RSA key, ES256 header", c, (&signer{kid: rs.kid, alg: "ES256", priv: es.priv}).sign(t, claims(nil)), now, Invalid, false, true, "", "", ""},
		{"no kid, one key fits", rsOnly, rs.signRaw(t, hdr(map[string]any{"alg": "RS256"}), mustJSON(claims(nil))), now, Valid, false, false, "apps:read apps:run", "user-1", ""},
		{"alg none, empty signature", c, unsigned, now, Invalid, false, false, "", "", ""},
		{"alg none, copied signature", c, unsignedSig, now, Invalid, false, false, "", "", ""},
		{"algorithm confusion: HS256 keyed with RSA DER", c, confusion(der), now, Invalid, false, false, "", "", ""},
		{"algorithm confusion: HS256 keyed with RSA JWK n", c, confusion(rs.priv.Public().(*rsa.PublicKey).N.Bytes()), now, Invalid, false, false, "", "", ""},
		{"tampered payload", c, tamperedPayload, now, Invalid, false, true, "", "", ""},
		{"tampered header", c, tamperedHeader, now, Invalid, false, true, "", "", ""},
		{"disallowed algorithm", rsOnly, es.sign(t, claims(nil)), now, Invalid, false, false, "", "", ""},
		{"scp array", c, rs.sign(t, claims(map[string]any{"scope": nil, "scp": []string{"b", "a", "b"}})), now, Valid, false, false, "a b", "user-1", ""},
		{"scp string", c, rs.sign(t, claims(map[string]any{"scope": nil, "scp": "b  a"})), now, Valid, false, false, "a b", "user-1", ""},
		{"scope string", c, rs.sign(t, claims(map[string]any{"scope": "z y"})), now, Valid, false, false, "y z", "user-1", ""},
		{"scope and scp merged", c, rs.sign(t, claims(map[string]any{"scope": "a", "scp": []string{"b"}})), now, Valid, false, false, "a b", "user-1", ""},
		{"scope not a string", c, rs.sign(t, claims(map[string]any{"scope": []string{"a"}})), now, Invalid, true, false, "", "", ""},
		{"scp with a number", c, rs.sign(t, claims(map[string]any{"scope": nil, "scp": []any{"a", 1}})), now, Invalid, true, false, "", "", ""},
		{"scope with a quote", c, rs.sign(t, claims(map[string]any{"scope": `a"b`})), now, Invalid, true, false, "", "", ""},
		{"no scopes", c, rs.sign(t, claims(map[string]any{"scope": nil})), now, Valid, false, false, "", "user-1", ""},
		{"typ required, present", typed, good, now, Valid, false, false, "apps:read apps:run", "user-1", ""},
		{"typ required, media type", typed, rs.signRaw(t, hdr(map[string]any{"alg": "RS256", "kid": rs.kid, "typ": "Application/AT+JWT"}), mustJSON(claims(nil))), now, Valid, false, false, "apps:read apps:run", "user-1", ""},
		{"typ required, missing", typed, rs.signRaw(t, hdr(map[string]any{"alg": "RS256", "kid": rs.kid}), mustJSON(claims(nil))), now, Invalid, false, false, "", "", ""},
		{"typ required, JWT", typed, rs.signRaw(t, hdr(map[string]any{"alg": "RS256", "kid": rs.kid, "typ": "JWT"}), mustJSON(claims(nil))), now, Invalid, false, false, "", "", ""},
		{"typ not required, missing", c, rs.signRaw(t, hdr(map[string]any{"alg": "RS256", "kid": rs.kid}), mustJSON(claims(nil))), now, Valid, false, false, "apps:read apps:run", "user-1", ""},
		{"embedded jwk header refused", c, rs.signRaw(t, []byte(`{"alg":"RS256","kid":"rsa-1","jwk":`+rs.jwk(t)+`}`), mustJSON(claims(nil))), now, Invalid, false, false, "", "", ""},
		{"crit header refused", c, rs.signRaw(t, []byte(`{"alg":"RS256","kid":"rsa-1","crit":["exp"],"exp":1}`), mustJSON(claims(nil))), now, Invalid, false, false, "", "", ""},
		{"duplicate header member", c, rs.signRaw(t, []byte(`{"alg":"RS256","kid":"rsa-1","alg":"RS256"}`), mustJSON(claims(nil))), now, Invalid, false, false, "", "", ""},
		{"duplicate claim", c, rs.signRaw(t, hdr(map[string]any{"alg": "RS256", "kid": rs.kid}), []byte(`{"iss":"`+testIssuer+`","aud":"`+testAudience+`","exp":`+itoa(exp)+`,"sub":"a","sub":"b"}`)), now, Invalid, true, false, "", "", ""},
		{"subject with control bytes", c, rs.sign(t, claims(map[string]any{"sub": "a\nb%"})), now, Valid, false, false, "apps:read apps:run", "a%0Ab%25", ""},
		{"subject type claim", withType, rs.sign(t, claims(map[string]any{"kind": "account"})), now, Valid, false, false, "apps:read apps:run", "user-1", "account"},
		{"subject type claim not a token", withType, rs.sign(t, claims(map[string]any{"kind": "a b"})), now, Invalid, true, false, "", "", ""},
		{"four parts", c, good + ".x", now, Invalid, false, false, "", "", ""},
		{"two parts", c, parts[0] + "." + parts[1], now, Invalid, false, false, "", "", ""},
		{"padded base64", c, parts[0] + "=." + parts[1] + "." + parts[2], now, Invalid, false, false, "", "", ""},
		{"JSON serialization", c, `{"payload":"` + parts[1] + `"}`, now, Invalid, false, false, "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := verify(tc.cfg, tc.token, tc.at)
			v := r.Validation
			if v.Result != tc.want || r.Cacheable != tc.cacheable || r.UnknownKey != tc.unknown {
				t.Fatalf("result %v cacheable %v unknown-key %v (%s), want %v %v %v", v.Result, r.Cacheable, r.UnknownKey, r.Reason, tc.want, tc.cacheable, tc.unknown)
			}
			if v.Result == Valid && (v.ScopesText != tc.scopes || strings.Join(v.Scopes, " ") != tc.scopes || v.Subject != tc.subject || v.SubjectType != tc.subType) {
				t.Fatalf("validation %+v, want scopes %q subject %q type %q", v, tc.scopes, tc.subject, tc.subType)
			}
			if v.Result == Valid && r.TokenExp == 0 {
				t.Fatal("valid token without TokenExp: the cache would not be capped at exp")
			}
			if v.Result != Valid && r.Reason == "" {
				t.Fatal("invalid without a reason")
			}
			if strings.Contains(r.Reason, tc.token) || (len(tc.token) > 20 && strings.Contains(r.Reason, tc.token[len(tc.token)-20:])) {
				t.Fatal("reason contains the token")
			}
		})
	}
}

// TestJWTCacheNeverPastExp: a verdict reports the token's exp, which caps its cache entry (sharedcache's
// Expiry), and a token accepted within the skew after its exp reports that passed exp, so it is never cached.
func TestJWTCacheNeverPastExp(t *testing.T) {
	rs, _, _, _ := testKeys(t)
	c := mustParse(t, `{"cache": {"ttl_seconds": 3600}, "validator": {"type": "jwt", "issuer": "`+testIssuer+`", "audience": "`+testAudience+`", "jwks": `+jwksOf(t, rs)+`}}`)
	r := verify(c, rs.sign(t, claims(map[string]any{"exp": now + 30})), now)
	if r.Validation.Result != Valid || r.TokenExp != now+30 {
		t.Fatalf("verdict %v, token exp %d, want %d", r.Validation.Result, r.TokenExp, now+30)
	}
	r = verify(c, rs.sign(t, claims(map[string]any{"exp": now - 5})), now)
	if r.Validation.Result != Valid {
		t.Fatalf("within skew: %v %s", r.Validation.Result, r.Reason)
	}
	if r.TokenExp == 0 || r.TokenExp > now {
		t.Fatalf("a token past its exp (inside the skew) reported exp %d", r.TokenExp)
	}
}

func TestParseJWKSFetched(t *testing.T) {
	rs, es, ed, _ := testKeys(t)
	c := mustParse(t, `{"validator": {"type": "jwt", "issuer": "i", "audience": "a", "algorithms": ["RS256", "EdDSA"],
		"jwks_cluster": "idp", "jwks_authority": "idp", "jwks_path": "/jwks"}}`)
	v := c.Validator.(*JWT)
	doc := `{"keys":[` + rs.jwk(t) + `,` + es.jwk(t) + `,{"kty":"oct","k":"c2VjcmV0"},` + ed.jwk(t) + `],"extra":"ignored"}`
	ks, notes, err := v.ParseJWKS([]byte(doc))
	if err != nil || ks.Len() != 2 || len(notes) != 2 {
		t.Fatalf("ParseJWKS: %v len %d notes %q", err, ks.Len(), notes)
	}
	if !strings.Contains(notes[0], "$.keys[1]: skipped: ES256 key, but ES256 is not in algorithms") {
		t.Fatalf("note %q", notes[0])
	}
	for _, bad := range []string{`{"keys":[]}`, `{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`, `[]`, `{"keys":[` + rs.jwk(t) + `],"keys":[]}`, ``} {
		if _, _, err := v.ParseJWKS([]byte(bad)); err == nil {
			t.Errorf("ParseJWKS(%q) accepted", bad)
		} else if strings.ContainsAny(err.Error(), "\n") {
			t.Errorf("multi-line error %q", err)
		}
	}
}

func TestJWKSRecord(t *testing.T) {
	doc := []byte(`{"keys":[]}`)
	r := JWKSRecord{Hash: hashOf(string(doc)), FetchedAt: now - 10, LastAttempt: now - 5, Document: doc}
	got, ok := DecodeJWKSRecord(EncodeJWKSRecord(r))
	if !ok || got.Hash != r.Hash || got.FetchedAt != r.FetchedAt || got.LastAttempt != r.LastAttempt || string(got.Document) != string(doc) {
		t.Fatalf("round trip: %+v %v", got, ok)
	}
	marker, ok := DecodeJWKSRecord(EncodeJWKSRecord(JWKSRecord{LastAttempt: now, FetchedAt: now}))
	if !ok || marker.FetchedAt != 0 || marker.LastAttempt != now {
		t.Fatalf("attempt marker: %+v", marker)
	}
	for _, bad := range [][]byte{nil, {2}, make([]byte, 48)} {
		if _, ok := DecodeJWKSRecord(bad); ok {
			t.Errorf("DecodeJWKSRecord(%v) accepted", bad)
		}
	}
	v := &JWT{JWKSCacheSeconds: 300, JWKSMinRefreshSeconds: 30}
	fresh := JWKSRecord{FetchedAt: now - 299, LastAttempt: now - 29, Document: doc}
	if v.KeysStale(fresh, now) || v.MayFetch(fresh, now) {
		t.Fatal("fresh record: stale or fetchable")
	}
	old := JWKSRecord{FetchedAt: now - 300, LastAttempt: now - 30, Document: doc}
	if !v.KeysStale(old, now) || !v.MayFetch(old, now) {
		t.Fatal("old record: not stale or not fetchable")
	}
	if !v.KeysStale(JWKSRecord{}, now) || !v.MayFetch(JWKSRecord{}, now) {
		t.Fatal("empty record")
	}
	if !v.MayFetch(JWKSRecord{LastAttempt: now + 3600}, now) {
		t.Fatal("a clock that went backwards blocks fetching")
	}
}

// FuzzJWTParse: any token gets a verdict without panicking, and only a token signed by our key is valid.
func FuzzJWTParse(f *testing.F) {
	rs, es, ed, rs2 := testKeys(f)
	c := jwtConfig(f, "", rs, es, ed)
	for _, s := range []*signer{rs, es, ed, rs2} {
		f.Add(s.sign(f, claims(nil)))
	}
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		r := verify(c, token, now)
		if r.Validation.Result == Valid {
			// The seeds signed by our keys are the only valid inputs; anything valid must carry our issuer.
			if r.TokenExp == 0 {
				t.Fatal("valid without exp")
			}
		}
		if r.Validation.Result != Valid && r.Reason == "" {
			t.Fatal("invalid without a reason")
		}
	})
}

// FuzzParseJWKS: any fetched document gives keys or an error, never a panic, never an empty usable set.
func FuzzParseJWKS(f *testing.F) {
	rs, es, ed, _ := testKeys(f)
	f.Add([]byte(jwksOf(f, rs, es, ed)))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"","y":""}]}`))
	f.Add([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}]}`))
	c := mustParse(f, `{"validator": {"type": "jwt", "issuer": "i", "audience": "a", "jwks_cluster": "idp", "jwks_authority": "idp", "jwks_path": "/jwks"}}`)
	v := c.Validator.(*JWT)
	f.Fuzz(func(t *testing.T, doc []byte) {
		ks, _, err := v.ParseJWKS(doc)
		if err == nil && ks.Len() == 0 {
			t.Fatal("accepted a set without usable keys")
		}
		if err != nil && strings.ContainsAny(err.Error(), "\n\r") {
			t.Fatalf("multi-line error %q", err)
		}
	})
}

// BenchmarkJWTVerify is the first verification of a token (parse, signature, claims) per algorithm.
func BenchmarkJWTVerify(b *testing.B) {
	rs, es, ed, _ := testKeys(b)
	c := jwtConfig(b, "", rs, es, ed)
	for _, s := range []*signer{rs, es, ed} {
		token := s.sign(b, claims(nil))
		b.Run(s.alg+"/first", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if r := verify(c, token, now); r.Validation.Result != Valid {
					b.Fatal(r.Reason)
				}
			}
		})
	}
}

// itoa is here, not among the shared helpers: this file is the only user, and it is left out of the wasip1
// build without the jwt tag (where an unused helper fails staticcheck).
func itoa(n int64) string { return strconv.FormatInt(n, 10) }
