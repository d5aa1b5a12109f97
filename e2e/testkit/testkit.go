// Package testkit is what the packages that drive the compiled module share (e2e/scenarios, e2e/hardening,
// e2e/jwt, internal/gateway, bench): finding and reading the module, wazero's compilation cache, the plugin
// identity scope-gate runs under, and a settable wall clock. Test support only: nothing in the filter imports
// it.
package testkit

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/scope-gate/scope-gate/internal/envoyhost"
)

// The modules `make build` writes, and the variables that point tests at other builds.
const (
	ModuleEnv     = "SCOPE_GATE_WASM"
	JWTModuleEnv  = "SCOPE_GATE_JWT_WASM"
	ModuleFile    = "scope-gate.wasm"
	JWTModuleFile = "scope-gate-jwt.wasm"
)

// ModulePath is $env, else build/<file> under the repository root reached by walking up from the working
// directory (tests run in their package directory). It does not check that the file exists.
func ModulePath(env, file string) string {
	if p := os.Getenv(env); p != "" {
		return p
	}
	dir, err := os.Getwd()
	if err != nil {
		return filepath.Join("build", file)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, "build", file)
		}
		if filepath.Dir(d) == d {
			return filepath.Join(dir, "build", file)
		}
	}
}

// ReadModule reads the module at ModulePath. A missing module is an error telling how to build it: the
// suites fail rather than skip, since a skip would count an untested module as passing.
func ReadModule(env, file string) (path string, wasm []byte, err error) {
	path = ModulePath(env, file)
	if wasm, err = os.ReadFile(path); err != nil {
		return path, nil, fmt.Errorf("cannot read the module %s (run `make build`, or `make test` which builds it; or set %s): %w", path, env, err)
	}
	return path, wasm, nil
}

// MustReadModule is ReadModule for TestMain: it prints the error and exits 1.
func MustReadModule(env, file string) (string, []byte) {
	path, wasm, err := ReadModule(env, file)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	return path, wasm
}

// CompilationCacheDir is a wazero compilation cache shared by every test binary of the repository, so a
// module compiled once (about a second) is reused by the next host.
func CompilationCacheDir() string {
	dir := filepath.Join(os.TempDir(), "scope-gate-wazero-cache")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "" // no cache: slower, still correct
	}
	return dir
}

// PluginConfig is scope-gate's plugin identity (vm_id, root_id, plugin name) with the given configuration.
func PluginConfig(cfg []byte) envoyhost.PluginConfig {
	return envoyhost.PluginConfig{VMID: "scope_gate", RootID: "scope_gate", PluginName: "scope_gate", Configuration: cfg}
}

// Clock is a settable wall clock for envoyhost.Options.Now.
type Clock struct{ unix atomic.Int64 }

// NewClock starts at unix seconds start.
func NewClock(start int64) *Clock {
	c := &Clock{}
	c.unix.Store(start)
	return c
}

// Now is the clock's time (pass c.Now as Options.Now).
func (c *Clock) Now() time.Time { return time.Unix(c.unix.Load(), 0) }

// Unix is the clock's time in unix seconds.
func (c *Clock) Unix() int64 { return c.unix.Load() }

// Advance moves the clock by sec seconds.
func (c *Clock) Advance(sec int64) { c.unix.Add(sec) }

// RefusedAddr is a loopback "host:port" nothing listens on, for clusters whose connections must be refused.
// (The port was free a moment ago; on a busy machine another process could take it, which these tests
// accept.)
func RefusedAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}
