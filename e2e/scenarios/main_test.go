package scenarios

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/scope-gate/scope-gate/e2e/envoyhost"
)

// wasmPath is the module under test: $SCOPE_GATE_WASM (set by make test), else build/scope-gate.wasm.
var (
	wasmPath  string
	wasmBytes []byte
	table     *File
)

// TestMain loads the module and the table once. A missing module fails the run: these tests exist to test
// the compiled filter, and a skip would count an untested module as passing.
func TestMain(m *testing.M) {
	wasmPath = os.Getenv("SCOPE_GATE_WASM")
	if wasmPath == "" {
		wasmPath = filepath.Join("..", "..", "build", "scope-gate.wasm")
	}
	var err error
	if wasmBytes, err = os.ReadFile(wasmPath); err != nil {
		fmt.Fprintf(os.Stderr, "scenarios: cannot read the module %s (run `make build`, or `make test` which builds it): %v\n", wasmPath, err)
		os.Exit(1)
	}
	if table, err = Load("scenarios.json"); err != nil {
		fmt.Fprintf(os.Stderr, "scenarios: %v\n", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

var profiles = []envoyhost.Profile{envoyhost.Envoy133, envoyhost.Envoy139}

// newHost starts one stand-in Envoy for a profile, with the table's wall clock.
func newHost(t testing.TB, profile envoyhost.Profile, clusters map[string]string) *envoyhost.Host {
	t.Helper()
	now := time.Unix(table.NowUnix, 0)
	h, err := envoyhost.NewHost(context.Background(), wasmBytes, envoyhost.Options{
		Profile:             profile,
		Clusters:            clusters,
		Now:                 func() time.Time { return now },
		CompilationCacheDir: compilationCache(t),
	})
	if err != nil {
		t.Fatalf("NewHost(%s): %v", profile, err)
	}
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	return h
}

// compilationCache shares wazero's compiled code between the hosts of one test binary.
func compilationCache(t testing.TB) string {
	dir := filepath.Join(os.TempDir(), "scope-gate-wazero-cache")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("cache dir: %v", err)
	}
	return dir
}

func pluginConfig(cfg []byte) envoyhost.PluginConfig {
	return envoyhost.PluginConfig{VMID: "scope_gate", RootID: "scope_gate", PluginName: "scope_gate", Configuration: cfg}
}
