//go:build jwt || !wasip1

package validator

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/binary"
	"errors"
	"strconv"
	"unicode/utf8"

	"github.com/scope-gate/scope-gate/filter/confjson"
	"github.com/scope-gate/scope-gate/filter/digest"
	"github.com/scope-gate/scope-gate/filter/internal/quote"
	"github.com/scope-gate/scope-gate/filter/strictjson"
)

// KeySet is a parsed JWK Set reduced to the verification keys this validator can use.
type KeySet struct {
	keys []jwtKey
	// Hash is the SHA-256 of the document the set came from (the fetched body, or the inline jwks
	// re-serialized): VMs compare it to know whether the shared record holds keys they have not parsed yet.
	Hash digest.Hash
}

type jwtKey struct {
	kid string
	alg string // the only algorithm this key verifies (from its type, checked against its "alg")
	pub any    // *rsa.PublicKey, *ecdsa.PublicKey (P-256) or ed25519.PublicKey
}

// Len is the number of usable keys.
func (s *KeySet) Len() int {
	if s == nil {
		return 0
	}
	return len(s.keys)
}

// find returns the key for a token's kid and alg. A key is only ever used with the one algorithm its type
// implies, so an RSA key can never verify an ES256 or HS256 token (algorithm confusion). A token without a
// kid is accepted only when exactly one key fits its algorithm: trying several keys would let one token
// cost several signature verifications.
func (s *KeySet) find(kid, alg string) *jwtKey {
	if s == nil {
		return nil
	}
	var only *jwtKey
	n := 0
	for i := range s.keys {
		k := &s.keys[i]
		if k.alg != alg {
			continue
		}
		if kid != "" {
			if k.kid == kid {
				return k
			}
			continue
		}
		n++
		only = k
	}
	if kid == "" && n == 1 {
		return only
	}
	return nil
}

// Has reports whether the set holds the key that would verify t (false: a refresh may find it).
func (s *KeySet) Has(t *Token) bool { return s.find(t.KeyID, t.Alg) != nil }

const (
	maxJWKSKeys      = 100
	minRSABits       = 2048 // NIST SP 800-131A; smaller keys are refused, not skipped silently
	maxRSABits       = 8192 // bounds the cost of one verification
	maxJWKSDepth     = 8
	MaxJWKSBodyBytes = 256 << 10 // a fetched JWKS larger than this is refused (the plugin reads at most this)
)

// ParseJWKS parses a JWK Set fetched from jwks_cluster. Keys this validator cannot use (another type or
// algorithm, "use": "enc", private material, weak RSA) are skipped and described in notes (one line each,
// for the log); a document without a single usable key is an error, so a broken endpoint never replaces
// working keys.
func (v *JWT) ParseJWKS(body []byte) (*KeySet, []string, error) {
	if len(body) > MaxJWKSBodyBytes {
		return nil, nil, errors.New("JWKS document over " + strconv.Itoa(MaxJWKSBodyBytes) + " bytes")
	}
	doc, err := strictjson.Parse(body, maxJWKSDepth)
	if err != nil {
		return nil, nil, errors.New("JWKS document is not valid JSON: " + err.Error())
	}
	ks, notes, perr := parseKeySet(doc, "$", v.Algorithms, false)
	if perr != nil {
		return nil, notes, errors.New("JWKS " + perr.Path + ": " + perr.Msg)
	}
	if ks.Len() == 0 {
		return nil, notes, errors.New("JWKS has no key usable with the configured algorithms")
	}
	ks.Hash = digest.Sum(string(body))
	return ks, notes, nil
}

// parseKeySet reads a JWK Set. strict (the configuration's inline jwks) makes every unusable key, and any
// member besides "keys", an error at its JSON path; otherwise (a fetched document) unusable keys are skipped
// with a note. Each key is parsed by go-jose from its own re-serialized JSON, after strictjson has refused
// duplicate members (which encoding/json-style parsers resolve silently, last one wins).
func parseKeySet(doc strictjson.Value, path string, algs []string, strict bool) (*KeySet, []string, *confjson.Error) {
	if doc.Kind != strictjson.Object {
		return nil, nil, confjson.At(path, `must be a JWK Set object ({"keys": [...]}), got `+doc.Kind.String())
	}
	var notes []string
	keys, ok := doc.Get("keys")
	if !ok {
		return nil, nil, confjson.At(path+".keys", "is required")
	}
	if keys.Kind != strictjson.Array {
		return nil, nil, confjson.At(path+".keys", "must be an array, got "+keys.Kind.String())
	}
	if strict {
		for _, m := range doc.Members {
			if m.Key != "keys" {
				return nil, nil, confjson.At(path+"."+m.Key, "unknown key")
			}
		}
		if len(keys.Items) == 0 {
			return nil, nil, confjson.At(path+".keys", "must list at least one key")
		}
	}
	if len(keys.Items) > maxJWKSKeys {
		return nil, nil, confjson.At(path+".keys", "lists "+strconv.Itoa(len(keys.Items))+" keys, more than "+strconv.Itoa(maxJWKSKeys))
	}
	ks := &KeySet{}
	for i, item := range keys.Items {
		ip := path + ".keys[" + strconv.Itoa(i) + "]"
		k, problem := parseKey(item, algs)
		if problem != "" {
			if strict {
				return nil, nil, confjson.At(ip, problem)
			}
			notes = append(notes, ip+": skipped: "+problem)
			continue
		}
		for _, other := range ks.keys {
			if other.kid == k.kid && other.alg == k.alg {
				problem = "duplicates kid " + quote.String(k.kid) + " for " + k.alg
			}
		}
		if problem != "" {
			if strict {
				return nil, nil, confjson.At(ip+".kid", problem)
			}
			notes = append(notes, ip+": skipped: "+problem)
			continue
		}
		ks.keys = append(ks.keys, k)
	}
	if strict {
		ks.Hash = digest.Sum(string(appendJSON(nil, doc)))
	}
	return ks, notes, nil
}

// parseKey checks one JWK and returns it with the one algorithm it may verify, or why it is unusable.
func parseKey(item strictjson.Value, algs []string) (jwtKey, string) {
	if item.Kind != strictjson.Object {
		return jwtKey{}, "must be a JWK object, got " + item.Kind.String()
	}
	for _, m := range item.Members {
		switch m.Key {
		case "use":
			if m.Value.Kind != strictjson.String || m.Value.Text != "sig" {
				return jwtKey{}, `"use" is not "sig" (not a signature key)`
			}
		case "key_ops":
			if !hasString(m.Value, "verify") {
				return jwtKey{}, `"key_ops" does not allow "verify"`
			}
		case "d", "p", "q", "dp", "dq", "qi", "k", "oth", "priv":
			// A JWKS that publishes private material has leaked the key: refuse it rather than use its public half.
			return jwtKey{}, "contains private or symmetric key material (" + quote.String(m.Key) + ")"
		}
	}
	pub, kid, jwkAlg, problem := decodeJWK(item)
	if problem != "" {
		return jwtKey{}, problem
	}
	var fits string
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		bits := pub.N.BitLen()
		if bits < minRSABits || bits > maxRSABits {
			return jwtKey{}, "RSA key of " + strconv.Itoa(bits) + " bits (must be " + strconv.Itoa(minRSABits) + " to " + strconv.Itoa(maxRSABits) + ")"
		}
		fits = "RS256"
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return jwtKey{}, "EC key on " + pub.Curve.Params().Name + " (only P-256, for ES256, is supported)"
		}
		fits = "ES256"
	case ed25519.PublicKey:
		fits = "EdDSA"
	default:
		return jwtKey{}, "not an RSA, P-256 or Ed25519 public key"
	}
	if jwkAlg != "" && jwkAlg != fits {
		return jwtKey{}, `"alg" ` + quote.String(jwkAlg) + " is not supported for this key (it fits " + fits + ")"
	}
	allowed := false
	for _, a := range algs {
		allowed = allowed || a == fits
	}
	if !allowed {
		return jwtKey{}, fits + " key, but " + fits + " is not in algorithms"
	}
	if !utf8.ValidString(kid) {
		return jwtKey{}, "kid is not valid UTF-8"
	}
	return jwtKey{kid: kid, alg: fits, pub: pub}, ""
}

func hasString(v strictjson.Value, s string) bool {
	if v.Kind != strictjson.Array {
		return false
	}
	for _, it := range v.Items {
		if it.Kind == strictjson.String && it.Text == s {
			return true
		}
	}
	return false
}

// appendJSON re-serializes a strictjson value. Strings are re-escaped (only '"', '\' and control
// characters need it; strictjson has checked UTF-8), numbers keep their literal text.
func appendJSON(dst []byte, v strictjson.Value) []byte {
	switch v.Kind {
	case strictjson.Null:
		return append(dst, "null"...)
	case strictjson.Bool:
		return strconv.AppendBool(dst, v.Boolean)
	case strictjson.Number:
		return append(dst, v.Text...)
	case strictjson.String:
		return strictjson.AppendQuoted(dst, v.Text)
	case strictjson.Array:
		dst = append(dst, '[')
		for i, it := range v.Items {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSON(dst, it)
		}
		return append(dst, ']')
	default:
		dst = append(dst, '{')
		for i, m := range v.Members {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSON(dst, strictjson.Value{Kind: strictjson.String, Text: m.Key})
			dst = append(dst, ':')
			dst = appendJSON(dst, m.Value)
		}
		return append(dst, '}')
	}
}

// JWKSRecord is the fetched JWKS as every VM shares it (one shared-data key per JWKS endpoint), with the
// times that drive refreshing without timers: FetchedAt (last successful fetch, for jwks_cache_seconds) and
// LastAttempt (last fetch started by any VM, for the jwks_min_refresh_seconds floor).
//
// Layout (little-endian): version byte, 32-byte document hash, int64 FetchedAt, int64 LastAttempt, document.
type JWKSRecord struct {
	Hash        digest.Hash
	FetchedAt   int64
	LastAttempt int64
	Document    []byte
}

const (
	jwksRecordVersion = 1
	jwksRecordHeader  = 1 + 32 + 8 + 8
)

// EncodeJWKSRecord serializes a record.
func EncodeJWKSRecord(r JWKSRecord) []byte {
	b := make([]byte, 0, jwksRecordHeader+len(r.Document))
	b = append(b, jwksRecordVersion)
	b = append(b, r.Hash[:]...)
	b = binary.LittleEndian.AppendUint64(b, uint64(r.FetchedAt))
	b = binary.LittleEndian.AppendUint64(b, uint64(r.LastAttempt))
	return append(b, r.Document...)
}

// DecodeJWKSRecord reads a record; a malformed one is reported as absent (and is then overwritten).
func DecodeJWKSRecord(buf []byte) (JWKSRecord, bool) {
	if len(buf) < jwksRecordHeader || buf[0] != jwksRecordVersion {
		return JWKSRecord{}, false
	}
	r := JWKSRecord{
		Hash:        digest.Hash(buf[1:33]),
		FetchedAt:   int64(binary.LittleEndian.Uint64(buf[33:41])),
		LastAttempt: int64(binary.LittleEndian.Uint64(buf[41:49])),
		Document:    buf[jwksRecordHeader:],
	}
	if len(r.Document) == 0 {
		r.Hash, r.FetchedAt = digest.Hash{}, 0 // an attempt marker without keys
	}
	return r, true
}

// KeysStale reports whether keys fetched at r.FetchedAt should be refreshed (jwks_cache_seconds), or there
// are none.
func (v *JWT) KeysStale(r JWKSRecord, nowUnix int64) bool {
	return len(r.Document) == 0 || nowUnix-r.FetchedAt >= v.JWKSCacheSeconds || nowUnix < r.FetchedAt
}

// MayFetch reports whether the floor allows a fetch now: no VM has started one in the last
// jwks_min_refresh_seconds. A clock that went backwards allows it (else the floor could last hours).
func (v *JWT) MayFetch(r JWKSRecord, nowUnix int64) bool {
	return r.LastAttempt == 0 || nowUnix-r.LastAttempt >= v.JWKSMinRefreshSeconds || nowUnix < r.LastAttempt
}
