//go:build (jwt || !wasip1) && jwt_gojose

package validator

import (
	"strings"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/scope-gate/scope-gate/filter/strictjson"
)

// The go-jose JOSE backend (-tags jwt,jwt_gojose): go-jose parses JWKs and compact JWS and verifies
// signatures. It is not the default of the jwt build because its module does not load on Envoy 1.33 to 1.38
// (see the package notes in jwt.go); it is kept, tested against the same table, for deployments on
// Envoy >= 1.39 that prefer the library.

// JOSEBackend names the backend this build verifies with.
const JOSEBackend = "go-jose"

type jwsHandle = *jose.JSONWebSignature

// decodeJWK parses one JWK (already checked for duplicate members and private material) with go-jose.
func decodeJWK(item strictjson.Value) (pub any, kid, alg, problem string) {
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(appendJSON(nil, item)); err != nil {
		return nil, "", "", "not a valid JWK: " + oneLine(err.Error())
	}
	if !jwk.IsPublic() {
		return nil, "", "", "contains private or symmetric key material"
	}
	return jwk.Key, jwk.KeyID, jwk.Algorithm, ""
}

// parseJWS parses a compact JWS whose alg is on the allow-list (go-jose checks it again).
func parseJWS(token string, algs []string) (jwsHandle, bool) {
	allowed := make([]jose.SignatureAlgorithm, len(algs))
	for i, a := range algs {
		allowed[i] = jose.SignatureAlgorithm(a)
	}
	jws, err := jose.ParseSignedCompact(token, allowed)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, false
	}
	return jws, true
}

// verifyJWS checks the signature with pub (a raw public key: go-jose derives the verifier from its type and
// refuses an alg that does not fit it) and returns the payload.
func verifyJWS(jws jwsHandle, _ string, pub any) ([]byte, bool) {
	payload, err := jws.Verify(pub)
	return payload, err == nil
}

// oneLine keeps a library's error message to one line of printable text (it goes to logs and config errors).
func oneLine(s string) string {
	s = strings.TrimPrefix(s, "go-jose/go-jose: ")
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c == 0x7F {
			b[i] = ' '
		}
	}
	if len(b) > 200 {
		b = append(b[:200], "..."...)
	}
	return string(b)
}
