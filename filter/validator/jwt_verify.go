//go:build jwt || !wasip1

package validator

import (
	"encoding/base64"
	"strings"

	"github.com/scope-gate/scope-gate/filter/scope"
	"github.com/scope-gate/scope-gate/filter/strictjson"
)

// JWTResult is the verdict on one JWT.
type JWTResult struct {
	Validation Validation
	TokenExp   int64 // the token's exp (unix seconds) when it was read, else 0: caps how long a verdict is cached
	// Cacheable says an Invalid verdict is about the token itself (a bad signature, expired, wrong iss or aud)
	// and may be cached negatively. Verdicts that depend on which keys we hold (unknown kid), on time in a
	// way that will change soon (nbf), or that cost nothing to reach again (malformed) are not cached.
	Cacheable bool
	// UnknownKey: no key of the set has the token's kid for its algorithm. A JWKS refresh may help.
	UnknownKey bool
	Reason     string // why the token is invalid, for debug logs; never contains the token
}

func invalidJWT(reason string, cacheable bool) JWTResult {
	return JWTResult{Validation: Validation{Result: Invalid}, Cacheable: cacheable, Reason: reason}
}

// Token is a JWT whose header was read and whose JWS structure go-jose accepted; nothing is verified yet.
type Token struct {
	jws   jwsHandle // what the JOSE backend parsed (jose_gojose.go or jose_stdlib.go)
	Alg   string
	KeyID string
}

const maxJWTHeaderDepth = 4

var b64url = base64.RawURLEncoding.Strict()

// Parse reads a compact JWS and its protected header. The header is read with strictjson first (duplicate
// members refused, only what we need looked at) and checked before go-jose sees the token: the algorithm
// must be on the allow-list (none and HS* never are), typ must be at+jwt when required, and header
// parameters that would make a verifier trust key material carried by the token itself (jwk, x5c, jku,
// x5u) or change how the payload is read (crit, b64) are refused. The token's own keys are never used in
// any case: the key comes from our key set by kid.
func (v *JWT) Parse(token string) (*Token, JWTResult) {
	header, rest, ok1 := strings.Cut(token, ".")
	payload, sig, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || header == "" || payload == "" || sig == "" || strings.IndexByte(sig, '.') >= 0 {
		return nil, invalidJWT("not a compact JWS (three non-empty base64url parts)", false)
	}
	raw, err := b64url.DecodeString(header)
	if err != nil {
		return nil, invalidJWT("header is not base64url", false)
	}
	h, err := strictjson.Parse(raw, maxJWTHeaderDepth)
	if err != nil || h.Kind != strictjson.Object {
		return nil, invalidJWT("header is not a JSON object", false)
	}
	t := &Token{}
	var typ string
	for _, m := range h.Members {
		switch m.Key {
		case "alg", "kid", "typ":
			if m.Value.Kind != strictjson.String {
				return nil, invalidJWT("header "+m.Key+" is not a string", false)
			}
			switch m.Key {
			case "alg":
				t.Alg = m.Value.Text
			case "kid":
				t.KeyID = m.Value.Text
			default:
				typ = m.Value.Text
			}
		case "jwk", "x5c", "jku", "x5u", "crit", "b64":
			return nil, invalidJWT("header parameter "+m.Key+" is not accepted", false)
		}
	}
	allowed := false
	for _, a := range v.Algorithms {
		allowed = allowed || a == t.Alg
	}
	if !allowed {
		return nil, invalidJWT("alg is not allowed", false)
	}
	if v.RequireTypAtJWT && !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
		return nil, invalidJWT("typ is not at+jwt", false)
	}
	jws, ok := parseJWS(token, v.Algorithms)
	if !ok {
		return nil, invalidJWT("not a well-formed compact JWS", false)
	}
	t.jws = jws
	return t, JWTResult{}
}

// Verify checks the signature with the key of keys named by the token's kid, then the claims at nowUnix.
func (v *JWT) Verify(t *Token, keys *KeySet, nowUnix int64) JWTResult {
	k := keys.find(t.KeyID, t.Alg)
	if k == nil {
		r := invalidJWT("no key for the token's kid and alg", false)
		r.UnknownKey = true
		return r
	}
	payload, ok := verifyJWS(t.jws, t.Alg, k.pub)
	if !ok {
		// A bad signature is the token's fault (tampered) or ours: the issuer rotated the key behind a kid
		// we still hold, or a kid-less token met the one key we have of its type. So it is never cached as
		// invalid, and it is worth a key refresh (which the refresh floor rate-limits).
		r := invalidJWT("bad signature", false)
		r.UnknownKey = true
		return r
	}
	return v.checkClaims(payload, nowUnix)
}

const maxClaimsDepth = 16

// checkClaims applies RFC 9068 §4 to a verified payload: iss and aud exact, exp required, nbf when present,
// both with clock_skew_seconds; then subject, subject type and scopes. Any claim of the wrong type makes
// the token invalid rather than being ignored.
func (v *JWT) checkClaims(payload []byte, now int64) JWTResult {
	c, err := strictjson.Parse(payload, maxClaimsDepth)
	if err != nil || c.Kind != strictjson.Object {
		return invalidJWT("claims are not a JSON object", true)
	}
	if iss, ok := c.Get("iss"); !ok || iss.Kind != strictjson.String || iss.Text != v.Issuer {
		return invalidJWT("wrong iss", true)
	}
	if !v.audienceMatches(c) {
		return invalidJWT("wrong aud", true)
	}
	expV, ok := c.Get("exp")
	if !ok {
		return invalidJWT("no exp", true)
	}
	exp, ok := numericDate(expV, false)
	if !ok {
		return invalidJWT("exp is not a NumericDate", true)
	}
	if now >= exp+v.ClockSkewSeconds {
		r := invalidJWT("expired", true)
		r.TokenExp = exp
		return r
	}
	if nbfV, ok := c.Get("nbf"); ok {
		nbf, ok := numericDate(nbfV, true)
		if !ok {
			return invalidJWT("nbf is not a NumericDate", true)
		}
		if now < nbf-v.ClockSkewSeconds {
			return invalidJWT("not yet valid (nbf)", false) // valid soon: a negative entry could outlive that
		}
	}
	if iat, ok := c.Get("iat"); ok {
		if _, ok := numericDate(iat, false); !ok {
			return invalidJWT("iat is not a NumericDate", true)
		}
	}
	val := Validation{Result: Valid}
	if sub, ok := c.Get("sub"); ok {
		if sub.Kind != strictjson.String {
			return invalidJWT("sub is not a string", true)
		}
		val.Subject = headerSafe(sub.Text)
	}
	if v.SubjectTypeClaim != "" {
		if st, ok := c.Get(v.SubjectTypeClaim); ok {
			if st.Kind != strictjson.String || !scope.ValidSubjectType(st.Text) {
				return invalidJWT("subject type claim is not one token of visible ASCII", true)
			}
			val.SubjectType = st.Text
		}
	}
	var scopes []string
	if v.ScopeClaim != "" {
		if s, ok := c.Get(v.ScopeClaim); ok {
			if s.Kind != strictjson.String {
				return invalidJWT("scope claim is not a string", true)
			}
			list, ok := scope.Fields(s.Text)
			if !ok {
				return invalidJWT("scope claim holds an invalid scope token", true)
			}
			scopes = append(scopes, list...)
		}
	}
	if v.ScpClaim != "" {
		if s, ok := c.Get(v.ScpClaim); ok {
			switch s.Kind {
			case strictjson.String:
				list, ok := scope.Fields(s.Text)
				if !ok {
					return invalidJWT("scp claim holds an invalid scope token", true)
				}
				scopes = append(scopes, list...)
			case strictjson.Array:
				for _, it := range s.Items {
					if it.Kind != strictjson.String || !scope.ValidToken(it.Text) {
						return invalidJWT("scp claim holds a non-string or invalid scope token", true)
					}
					scopes = append(scopes, it.Text)
				}
			default:
				return invalidJWT("scp claim is not a string or an array", true)
			}
		}
	}
	if len(scopes) > 0 {
		val.Scopes = scope.SortedSet(scopes)
		val.ScopesText = scope.Join(val.Scopes)
	}
	return JWTResult{Validation: val, TokenExp: exp}
}

// audienceMatches: aud is one string or an array of strings, one of which must equal the configured
// audience (RFC 7519 §4.1.3). An array holding anything but strings is refused as a whole.
func (v *JWT) audienceMatches(c strictjson.Value) bool {
	aud, ok := c.Get("aud")
	if !ok {
		return false
	}
	switch aud.Kind {
	case strictjson.String:
		return aud.Text == v.Audience
	case strictjson.Array:
		found := false
		for _, it := range aud.Items {
			if it.Kind != strictjson.String {
				return false
			}
			found = found || it.Text == v.Audience
		}
		return found
	}
	return false
}

// numericDate reads a NumericDate (seconds, fractions allowed) rounded in the safe direction: down for exp
// and iat, up for nbf (roundUp), so rounding never widens the validity window.
func numericDate(val strictjson.Value, roundUp bool) (int64, bool) {
	n, fraction, ok := val.Seconds()
	if !ok {
		return 0, false
	}
	if roundUp && fraction {
		n++
	}
	return n, true
}
