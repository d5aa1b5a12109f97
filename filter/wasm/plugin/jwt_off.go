//go:build !jwt

package plugin

import (
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/scope-gate/scope-gate/filter/policy"
)

// jwtVM is empty in the default build: there is no JWT validator to hold keys for.
//
//lint:ignore U1000 embedded in pluginContext; the jwt build (jwt.go) gives it the VM's JWT state
type jwtVM struct{}

// validateJWT never handles a request in the default build (policy refuses "jwt" at configuration).
func (*httpContext) validateJWT(*policy.Requirement, *policy.Check) (types.Action, bool) {
	return types.ActionContinue, false
}
