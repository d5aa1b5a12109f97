//go:build (jwt || !wasip1) && !jwt_gojose

package validator

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"math/big"
	"strings"

	"github.com/scope-gate/scope-gate/filter/strictjson"
)

// The standard-library JOSE backend, the default of the jwt build: the three things go-jose does in
// jose_gojose.go (-tags jwt,jwt_gojose), for exactly RS256, ES256 and EdDSA, on crypto/rsa, crypto/ecdsa and
// crypto/ed25519. It exists because go-jose imports crypto/x509, which
// imports net, whose package initialisation links WASI file functions (path_open, path_filestat_get,
// fd_read): Envoy 1.33 to 1.38 lack path_filestat_get and refuse to link such a module.

// JOSEBackend names the backend this build verifies with.
const JOSEBackend = "stdlib"

type jwsHandle = *compactJWS

type compactJWS struct {
	signingInput string // header.payload, as signed
	payload      []byte
	signature    []byte
}

// decodeJWK reads an RSA, EC P-256 or OKP Ed25519 public JWK (RFC 7518 §6, RFC 8037). x5c and other
// members are ignored: keys are only ever used by kid.
func decodeJWK(item strictjson.Value) (pub any, kid, alg, problem string) {
	str := func(name string) (string, bool) {
		v, ok := item.Get(name)
		if !ok || v.Kind != strictjson.String {
			return "", false
		}
		return v.Text, true
	}
	b64 := func(name string) ([]byte, bool) {
		s, ok := str(name)
		if !ok || s == "" {
			return nil, false
		}
		b, err := b64url.DecodeString(s)
		return b, err == nil
	}
	for _, name := range []string{"kid", "alg"} {
		if v, ok := item.Get(name); ok && v.Kind != strictjson.String {
			return nil, "", "", "not a valid JWK: " + name + " is not a string"
		}
	}
	kid, _ = str("kid")
	alg, _ = str("alg")
	kty, _ := str("kty")
	switch kty {
	case "RSA":
		n, ok1 := b64("n")
		e, ok2 := b64("e")
		if !ok1 || !ok2 || len(e) > 4 || n[0] == 0 || e[0] == 0 {
			return nil, "", "", "not a valid JWK: RSA n or e missing or malformed"
		}
		exp := 0
		for _, c := range e {
			exp = exp<<8 | int(c)
		}
		if exp < 3 || exp&1 == 0 || exp > 1<<31-1 {
			return nil, "", "", "not a valid JWK: RSA exponent out of range"
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}, kid, alg, ""
	case "EC":
		crv, _ := str("crv")
		x, ok1 := b64("x")
		y, ok2 := b64("y")
		if crv != "P-256" {
			return nil, "", "", "EC key on " + strings.Trim(quoteShort(crv), `"`) + " (only P-256, for ES256, is supported)"
		}
		if !ok1 || !ok2 || len(x) != 32 || len(y) != 32 {
			return nil, "", "", "not a valid JWK: P-256 x or y missing or not 32 bytes"
		}
		k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, "", "", "not a valid JWK: point not on P-256"
		}
		return k, kid, alg, ""
	case "OKP":
		crv, _ := str("crv")
		x, ok := b64("x")
		if crv != "Ed25519" {
			return nil, "", "", "OKP key on " + quoteShort(crv) + " (only Ed25519 is supported)"
		}
		if !ok || len(x) != ed25519.PublicKeySize {
			return nil, "", "", "not a valid JWK: Ed25519 x missing or not 32 bytes"
		}
		return ed25519.PublicKey(x), kid, alg, ""
	}
	return nil, "", "", "not an RSA, P-256 or Ed25519 public key (kty " + quoteShort(kty) + ")"
}

// parseJWS splits a compact JWS (the header was already read and checked by Parse) and decodes its payload
// and signature (strict base64url, no padding).
func parseJWS(token string, _ []string) (jwsHandle, bool) {
	dot := strings.LastIndexByte(token, '.')
	first := strings.IndexByte(token, '.')
	if first < 0 || dot <= first {
		return nil, false
	}
	payload, err1 := b64url.DecodeString(token[first+1 : dot])
	sig, err2 := b64url.DecodeString(token[dot+1:])
	if err1 != nil || err2 != nil {
		return nil, false
	}
	return &compactJWS{signingInput: token[:dot], payload: payload, signature: sig}, true
}

// verifyJWS checks the signature for alg with pub; a key of another type never verifies (no confusion).
func verifyJWS(jws jwsHandle, alg string, pub any) ([]byte, bool) {
	ok := false
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if alg == "RS256" {
			d := sha256.Sum256([]byte(jws.signingInput))
			ok = rsa.VerifyPKCS1v15(k, crypto.SHA256, d[:], jws.signature) == nil
		}
	case *ecdsa.PublicKey:
		if alg == "ES256" && len(jws.signature) == 64 {
			d := sha256.Sum256([]byte(jws.signingInput))
			r, s := new(big.Int).SetBytes(jws.signature[:32]), new(big.Int).SetBytes(jws.signature[32:])
			ok = ecdsa.Verify(k, d[:], r, s)
		}
	case ed25519.PublicKey:
		if alg == "EdDSA" {
			ok = ed25519.Verify(k, []byte(jws.signingInput), jws.signature)
		}
	}
	if !ok {
		return nil, false
	}
	return jws.payload, true
}

// quoteShort quotes attacker-controlled header text for a debug log: at most 40 bytes, printable only.
func quoteShort(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return `"` + headerSafe(s) + `"`
}
