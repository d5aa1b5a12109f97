//go:build jwt || !wasip1

package validator

import (
	"strconv"
	"strings"

	"github.com/scope-gate/scope-gate/filter/confjson"
	"github.com/scope-gate/scope-gate/filter/digest"
	"github.com/scope-gate/scope-gate/filter/internal/quote"
	"github.com/scope-gate/scope-gate/filter/strictjson"
)

// Build constraints. This file and the JWT validator are compiled natively always (so that the offline check
// and every native tool understand "jwt" configurations) and into the module with -tags jwt (the
// scope-gate-jwt.wasm variant); the default module (wasip1 without jwt) has jwt_off.go instead, which
// refuses "jwt" by name, because JWT support would take the module past its size budget. The JOSE work
// itself (JWK decoding, compact JWS parsing, signature verification) is behind three functions with two
// implementations: jose_stdlib.go (the standard library only: the default of the jwt build) and
// jose_gojose.go (-tags jwt,jwt_gojose: go-jose, loads on Envoy >= 1.39 only). Both exist because go-jose imports crypto/x509, which imports
// net, whose package initialisation links the WASI file functions path_open, path_filestat_get and fd_read:
// Envoy 1.33 to 1.38 do not provide path_filestat_get, so a go-jose module does not load there (it does on
// >= 1.39, which stubs every WASI function). Everything else (header screening, key selection, claims) is
// shared and tested against both.

// JWTSupported reports whether this build verifies JWT access tokens: natively always, in wasm only in the
// scope-gate-jwt.wasm variant.
const JWTSupported = true

// JWT verifies RFC 9068 JWT access tokens locally: a JWS signature by a key of the issuer's JWKS,
// then iss, aud, exp and nbf, then scopes and subject from the claims. The keys come from the
// configuration (jwks) or from a JWKS endpoint behind an Envoy cluster (jwks_cluster), fetched on demand on
// the request path and shared between VMs through shared data (the plugin drives the fetch; the pure
// parts, parsing, key selection and verification, are here).
type JWT struct {
	Issuer           string
	Audience         string
	Algorithms       []string // allow-list of JWS alg values; never none or HS*
	ClockSkewSeconds int64
	RequireTypAtJWT  bool
	ScopeClaim       string // "" turns it off
	ScpClaim         string // "" turns it off
	SubjectTypeClaim string // "" : the token kind's subject type

	inline *KeySet // keys from the configuration; nil when they come from JWKSCluster

	JWKSCluster           string
	JWKSAuthority         string
	JWKSPath              string
	TimeoutMillis         uint32
	JWKSCacheSeconds      int64 // keys older than this are refreshed on the next miss
	JWKSMinRefreshSeconds int64 // the floor between two fetches, across VMs

	jwksHeaders   [][2]string
	jwksSharedKey string
	fingerprint   string
}

// Type implements Validator.
func (*JWT) Type() string { return "jwt" }

// Describe implements Validator.
func (*JWT) Describe() string { return "jwt" }

// Clusters implements Validator: the JWKS endpoint's cluster when keys are fetched, else none.
func (v *JWT) Clusters() []Cluster {
	if v.JWKSCluster == "" {
		return nil
	}
	return []Cluster{{Key: "jwks_cluster", Name: v.JWKSCluster}}
}

// CacheFingerprint implements Validator: verified tokens are cached under everything that decides a verdict
// (see computeFingerprint).
func (v *JWT) CacheFingerprint() string { return v.fingerprint }

// Inline is the key set from the configuration, or nil when keys are fetched from JWKSCluster.
func (v *JWT) Inline() *KeySet { return v.inline }

// JWKSSharedKey is the shared-data key of the fetched JWKS record (see JWKSRecord). It names the endpoint, so
// every plugin configuration fetching the same JWKS shares one record and one refresh floor.
func (v *JWT) JWKSSharedKey() string { return v.jwksSharedKey }

// JWKSRequest returns the headers of the JWKS fetch (GET jwks_path).
func (v *JWT) JWKSRequest() [][2]string {
	return append([][2]string(nil), v.jwksHeaders...)
}

var defaultAlgorithms = []string{"RS256", "ES256", "EdDSA"}

const (
	defaultJWKSCacheSeconds = 300
	defaultJWKSMinRefresh   = 30
	defaultClockSkewSeconds = 60
	maxClockSkewSeconds     = 600
	maxJWKSSeconds          = 86400
)

func decodeJWT(obj strictjson.Value, path string) (Validator, error) {
	v := &JWT{
		Algorithms:            defaultAlgorithms,
		ClockSkewSeconds:      defaultClockSkewSeconds,
		ScopeClaim:            "scope",
		ScpClaim:              "scp",
		TimeoutMillis:         defaultTimeoutMillis,
		JWKSCacheSeconds:      defaultJWKSCacheSeconds,
		JWKSMinRefreshSeconds: defaultJWKSMinRefresh,
	}
	var (
		jwks                   strictjson.Value
		hasJWKS                bool
		remoteOnly             []string // keys given that only make sense with jwks_cluster, for the error
		hasIssuer, hasAudience bool
	)
	err := confjson.Members(obj, path, func(key, mp string, val strictjson.Value) (err error) {
		switch key {
		case "type":
		case "issuer":
			v.Issuer, err = confjson.String(val, mp)
			hasIssuer = true
			if err == nil && (v.Issuer == "" || !validHeaderValue(v.Issuer)) {
				err = confjson.At(mp, "must be a non-empty printable ASCII string (compared exactly with the token's iss)")
			}
		case "audience":
			v.Audience, err = confjson.String(val, mp)
			hasAudience = true
			if err == nil && (v.Audience == "" || !validHeaderValue(v.Audience)) {
				err = confjson.At(mp, "must be a non-empty printable ASCII string (one of the token's aud must equal it)")
			}
		case "algorithms":
			v.Algorithms, err = decodeAlgorithms(val, mp)
		case "jwks":
			if val.Kind != strictjson.Object {
				err = confjson.At(mp, `must be a JWK Set object ({"keys": [...]}), got `+val.Kind.String())
			}
			jwks, hasJWKS = val, true
		case "jwks_cluster":
			v.JWKSCluster, err = confjson.String(val, mp)
			if err == nil && (v.JWKSCluster == "" || !validHeaderValue(v.JWKSCluster)) {
				err = confjson.At(mp, "must be a non-empty printable ASCII Envoy cluster name")
			}
		case "jwks_authority":
			v.JWKSAuthority, err = confjson.String(val, mp)
			if err == nil && !validAuthority(v.JWKSAuthority) {
				err = confjson.At(mp, "must be a host[:port] (visible ASCII, no '/', '@' or spaces)")
			}
			remoteOnly = append(remoteOnly, key)
		case "jwks_path":
			v.JWKSPath, err = confjson.String(val, mp)
			if err == nil && (len(v.JWKSPath) == 0 || v.JWKSPath[0] != '/' || !bearerSafe(v.JWKSPath)) {
				err = confjson.At(mp, "must start with '/' and be visible ASCII, got "+quote.String(v.JWKSPath))
			}
			remoteOnly = append(remoteOnly, key)
		case "timeout_ms":
			var n int64
			n, err = confjson.Int(val, mp, 1, maxTimeoutMillis)
			v.TimeoutMillis = uint32(n)
			remoteOnly = append(remoteOnly, key)
		case "jwks_cache_seconds":
			v.JWKSCacheSeconds, err = confjson.Int(val, mp, 1, maxJWKSSeconds)
			remoteOnly = append(remoteOnly, key)
		case "jwks_min_refresh_seconds":
			// At least one second: the floor is what keeps random kids from turning into a fetch per request.
			v.JWKSMinRefreshSeconds, err = confjson.Int(val, mp, 1, maxJWKSSeconds)
			remoteOnly = append(remoteOnly, key)
		case "clock_skew_seconds":
			v.ClockSkewSeconds, err = confjson.Int(val, mp, 0, maxClockSkewSeconds)
		case "require_typ_at_jwt":
			if val.Kind != strictjson.Bool {
				err = confjson.At(mp, "must be a boolean, got "+val.Kind.String())
			}
			v.RequireTypAtJWT = val.Boolean
		case "scope_claim", "scp_claim", "subject_type_claim":
			var s string
			if s, err = confjson.String(val, mp); err == nil {
				if strings.ContainsAny(s, "\x00") || (key == "subject_type_claim" && s == "") {
					err = confjson.At(mp, "must be a claim name (non-empty, no NUL); omit subject_type_claim to use the token kind's")
				}
				switch key {
				case "scope_claim":
					v.ScopeClaim = s
				case "scp_claim":
					v.ScpClaim = s
				default:
					v.SubjectTypeClaim = s
				}
			}
		case "hs256_secret", "secret", "hmac_secret":
			// Symmetric keys are refused outright: anyone who can verify such a token can also mint one, and
			// accepting HS* at all is what makes algorithm confusion (a public key used as an HMAC secret)
			// possible. RFC 9068 access tokens are signed by the authorization server's asymmetric key.
			err = confjson.At(mp, "HS256 (shared-secret) tokens are not supported: every verifier could mint tokens; use RS256, ES256 or EdDSA")
		default:
			err = confjson.At(mp, "unknown key")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if v.ScopeClaim != "" && v.ScopeClaim == v.ScpClaim {
		return nil, confjson.At(path+".scp_claim", "must differ from scope_claim ("+quote.String(v.ScopeClaim)+"): the two are read with different rules")
	}
	if !hasIssuer {
		return nil, confjson.At(path+".issuer", "is required (the token's iss must equal it)")
	}
	if !hasAudience {
		return nil, confjson.At(path+".audience", "is required (one of the token's aud must equal it)")
	}
	switch {
	case hasJWKS && v.JWKSCluster != "":
		return nil, confjson.At(path+".jwks_cluster", "cannot be combined with jwks: keys come from the configuration or from a cluster, not both")
	case hasJWKS:
		if len(remoteOnly) > 0 {
			return nil, confjson.At(path+"."+remoteOnly[0], "applies only with jwks_cluster (keys given inline in jwks are never fetched)")
		}
		ks, _, err := parseKeySet(jwks, path+".jwks", v.Algorithms, true)
		if err != nil {
			return nil, err
		}
		v.inline = ks
	case v.JWKSCluster != "":
		for _, req := range []struct{ key, val string }{{"jwks_authority", v.JWKSAuthority}, {"jwks_path", v.JWKSPath}} {
			if req.val == "" {
				return nil, confjson.At(path+"."+req.key, "is required with jwks_cluster")
			}
		}
		v.jwksHeaders = [][2]string{{":method", "GET"}, {":path", v.JWKSPath}, {":authority", v.JWKSAuthority},
			{"accept", "application/jwk-set+json, application/json"}}
		v.jwksSharedKey = "scope_gate.jwks." + digest.Sum(v.JWKSCluster+"\x00"+v.JWKSAuthority+"\x00"+v.JWKSPath).LogID()
	default:
		return nil, confjson.At(path+".jwks", "is required: give the keys inline (jwks) or where to fetch them (jwks_cluster)")
	}
	v.fingerprint = v.computeFingerprint()
	return v, nil
}

// decodeAlgorithms reads the allow-list. none and HS* are refused by name: see hs256_secret above.
func decodeAlgorithms(val strictjson.Value, path string) ([]string, error) {
	if val.Kind != strictjson.Array || len(val.Items) == 0 {
		return nil, confjson.At(path, `must be a non-empty array of "RS256", "ES256", "EdDSA"`)
	}
	var out []string
	for i, it := range val.Items {
		ip := path + "[" + strconv.Itoa(i) + "]"
		s, err := confjson.String(it, ip)
		if err != nil {
			return nil, err
		}
		switch s {
		case "RS256", "ES256", "EdDSA":
		case "none":
			return nil, confjson.At(ip, `"none" would accept unsigned tokens: never allowed`)
		case "HS256", "HS384", "HS512":
			return nil, confjson.At(ip, quote.String(s)+" (shared-secret) is not supported: it permits algorithm confusion and lets verifiers mint tokens")
		default:
			return nil, confjson.At(ip, `must be "RS256", "ES256" or "EdDSA", got `+quote.String(s))
		}
		for _, have := range out {
			if have == s {
				return nil, confjson.At(ip, "duplicates "+quote.String(s))
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// computeFingerprint names everything that decides a verdict, so that the shared cache of verified tokens
// (keyed under it) never answers for another configuration. Inline keys count by the hash of their document;
// fetched keys by their endpoint (a rotated key set does not flush verdicts already cached, which never
// outlive ttl_seconds nor the token's exp).
func (v *JWT) computeFingerprint() string {
	var b strings.Builder
	b.WriteString("jwt\x00" + v.Issuer + "\x00" + v.Audience + "\x00")
	for _, a := range v.Algorithms {
		b.WriteString(a + ",")
	}
	b.WriteString("\x00" + strconv.FormatInt(v.ClockSkewSeconds, 10) + "\x00" + strconv.FormatBool(v.RequireTypAtJWT))
	b.WriteString("\x00" + v.ScopeClaim + "\x00" + v.ScpClaim + "\x00" + v.SubjectTypeClaim + "\x00")
	if v.inline != nil {
		b.WriteString("inline:" + v.inline.Hash.Hex())
	} else {
		b.WriteString("cluster:" + v.JWKSCluster + "\x00" + v.JWKSAuthority + "\x00" + v.JWKSPath)
	}
	return b.String()
}
