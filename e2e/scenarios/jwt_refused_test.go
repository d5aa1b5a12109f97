package scenarios

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/scope-gate/scope-gate/e2e/testkit"
	"github.com/scope-gate/scope-gate/internal/envoyhost"
)

// TestDefaultModuleRefusesJWT: the default module (built without -tags jwt) refuses a complete, valid "jwt"
// configuration by name, pointing at the variant that has it, although every native tool (the offline
// check) understands the same configuration.
func TestDefaultModuleRefusesJWT(t *testing.T) {
	const cfg = `{"validator": {"type": "jwt", "issuer": "https://idp.example", "audience": "api",
		"jwks_cluster": "idp", "jwks_authority": "idp.example", "jwks_path": "/jwks"}}`
	for _, profile := range profiles {
		h := newHost(t, profile, nil)
		vm, err := h.NewVM(context.Background(), testkit.PluginConfig([]byte(cfg)))
		if vm != nil {
			_ = vm.Close(context.Background())
		}
		if !errors.Is(err, envoyhost.ErrConfigureRejected) {
			t.Fatalf("%s: jwt configuration: err = %v, want ErrConfigureRejected", profile, err)
		}
		found := false
		for _, e := range h.Logs() {
			found = found || strings.Contains(e.Message, `$.validator.type: "jwt" needs the scope-gate-jwt.wasm build`)
		}
		if !found {
			t.Fatalf("%s: no log line naming the scope-gate-jwt.wasm build", profile)
		}
	}
}
