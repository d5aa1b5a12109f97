//go:build wasip1 && !jwt

package validator

import "testing"

// jwtTypeOnlyError is what {"validator": {"type": "jwt"}} gives in this build: a refusal naming the variant.
const jwtTypeOnlyError = `$.validator.type: "jwt" needs the scope-gate-jwt.wasm build (this module is built without JWT support)`

// TestJWTRefusedWithoutTag: whatever else the jwt validator says, the default build refuses it by name.
func TestJWTRefusedWithoutTag(t *testing.T) {
	_, err := Parse([]byte(`{"validator": {"type": "jwt", "issuer": "https://idp", "audience": "api", "jwks": {"keys": []}}}`))
	if err == nil || err.Error() != "scope-gate configuration: "+jwtTypeOnlyError {
		t.Fatalf("err = %v", err)
	}
	if JWTSupported {
		t.Fatal("JWTSupported in a build without the jwt tag")
	}
}
