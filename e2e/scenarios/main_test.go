package scenarios

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/scope-gate/scope-gate/e2e/testkit"
	"github.com/scope-gate/scope-gate/internal/envoyhost"
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
	wasmPath, wasmBytes = testkit.MustReadModule(testkit.ModuleEnv, testkit.ModuleFile)
	var err error
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
		CompilationCacheDir: testkit.CompilationCacheDir(),
	})
	if err != nil {
		t.Fatalf("NewHost(%s): %v", profile, err)
	}
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	return h
}
