//go:build wasip1 && !jwt

package validator

import (
	"github.com/scope-gate/scope-gate/filter/confjson"
	"github.com/scope-gate/scope-gate/filter/strictjson"
)

// JWTSupported reports whether this build verifies JWT access tokens: not the default module. JWT support (go-jose and the RSA,
// ECDSA and Ed25519 verifiers) more than doubles the module, past the default module's 3 MB budget, so it
// lives in a separate build: -tags jwt, shipped as scope-gate-jwt.wasm.
const JWTSupported = false

// decodeJWT refuses the "jwt" validator by name in the default build, so that an operator who loads the
// wrong module learns which one to load instead of reading "unknown type".
func decodeJWT(_ strictjson.Value, path string) (Validator, error) {
	return nil, confjson.At(path+".type", `"jwt" needs the scope-gate-jwt.wasm build (this module is built without JWT support)`)
}
