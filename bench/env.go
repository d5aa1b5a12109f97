// Package bench measures scope-gate side by side with what it is compared to: the compiled filter in the
// Envoy stand-in (internal/envoyhost, wazero compiler engine), the same decisions made natively by the pure
// policy package (the floor of the work itself), an ext_authz-style authorization service called over
// loopback HTTP (what users pick instead), and a no-op proxy-wasm module in the same host (the host's own
// floor). It also measures cold start: compile, cached compile, per-VM start, linear memory over time.
//
// Everything lives in a non-test package so that one process can run it all with testing.Benchmark and
// print one table (cmd/report); bench_test.go exposes the same functions to `go test -bench`.
package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/scope-gate/scope-gate/internal/wasmbuild"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/scope-gate/scope-gate/e2e/scenarios"
	"github.com/scope-gate/scope-gate/e2e/testkit"
	"github.com/scope-gate/scope-gate/internal/envoyhost"
)

// modulePath is this repository's module; the repository root is the directory whose go.mod declares it.
const modulePath = "github.com/scope-gate/scope-gate"

// Env is what every measurement needs: the module under test, the no-op module, the scenario table and a
// scratch directory (wazero's compilation cache lives there, so hosts after the first compile from it).
type Env struct {
	Root     string // repository root
	WasmPath string
	Wasm     []byte // build/scope-gate.wasm
	Noop     []byte // bench/testdata/noop, built by Setup
	Floor    []byte // bench/testdata/floor, built by Setup: the reference the filter is measured against
	Probe    []byte // the filter built with -tags scopegate_allocprobe (guest allocation counters), by Setup
	Table    *scenarios.File
	CacheDir string // shared wazero compilation cache of this run
	tmp      string
}

// Setup finds the repository root, reads the module ($SCOPE_GATE_WASM, else build/scope-gate.wasm under the
// root), loads the scenario table and builds the no-op module. A missing module is an error telling to run
// `make build`: a benchmark of nothing must not pass.
func Setup() (*Env, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	e := &Env{Root: root}
	if e.WasmPath, e.Wasm, err = testkit.ReadModule(testkit.ModuleEnv, testkit.ModuleFile); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if e.Table, err = scenarios.Load(filepath.Join(root, "e2e", "scenarios", "scenarios.json")); err != nil {
		return nil, fmt.Errorf("bench: scenario table: %w", err)
	}
	if e.tmp, err = os.MkdirTemp("", "scope-gate-bench"); err != nil {
		return nil, err
	}
	e.CacheDir = filepath.Join(e.tmp, "wazero-cache")
	if e.Noop, err = buildNoop(root, e.tmp); err != nil {
		e.Close()
		return nil, err
	}
	if e.Floor, err = wasmbuild.Reactor(root, "./bench/testdata/floor", filepath.Join(e.tmp, "floor.wasm")); err != nil {
		e.Close()
		return nil, err
	}
	if e.Probe, err = wasmbuild.ReactorTags(filepath.Join(root, ProbeModuleDir), ".", filepath.Join(e.tmp, "probe.wasm"), ProbeTag); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// Close removes the scratch directory.
func (e *Env) Close() {
	if e.tmp != "" {
		_ = os.RemoveAll(e.tmp)
	}
}

// TempDir is a fresh directory under the run's scratch directory (removed by Close).
func (e *Env) TempDir(pattern string) (string, error) { return os.MkdirTemp(e.tmp, pattern) }

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(b, []byte("module "+modulePath+"\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("bench: run from inside the scope-gate repository (no go.mod declaring " + modulePath + " above the working directory)")
		}
		dir = parent
	}
}

// ProbeModuleDir and ProbeTag build the filter (its own Go module, filter/wasm) with its test-only exports scope_gate_test_mallocs and
// scope_gate_test_gc_cycles (filter/stdgobridge/allocprobe_wasip1.go): the Go runtime's count of heap
// objects the guest allocated and of its GC cycles. Everything else is the shipped module's code.
const (
	ProbeModuleDir = "filter/wasm"
	ProbeTag       = "scopegate_allocprobe"
)

// GuestCounters reads a probe module's allocation and GC counters.
func GuestCounters(vm *envoyhost.VM) (mallocs, gcs uint64, err error) {
	ctx := context.Background()
	if mallocs, err = vm.CallExport(ctx, "scope_gate_test_mallocs"); err != nil {
		return 0, 0, err
	}
	gcs, err = vm.CallExport(ctx, "scope_gate_test_gc_cycles")
	return mallocs, gcs & 0xFFFFFFFF, err
}

// buildNoop builds bench/testdata/noop the way `make build` builds the filter (same flags), so the two
// modules differ only in what their callbacks do.
func buildNoop(root, dir string) ([]byte, error) {
	return wasmbuild.Reactor(root, "./bench/testdata/noop", filepath.Join(dir, "noop.wasm"))
}

// Machine describes where the numbers were taken; ratios are only comparable within one machine and run.
type Machine struct {
	CPU, GoVersion, GOOS, GOARCH, Wazero string
	Cores                                int
}

// ThisMachine reads the CPU model from /proc/cpuinfo (Linux) and the rest from the runtime.
func ThisMachine() Machine {
	m := Machine{CPU: "unknown", Cores: runtime.NumCPU(), GoVersion: runtime.Version(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, Wazero: "unknown"}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/tetratelabs/wazero" {
				m.Wazero = d.Version
			}
		}
	}
	return m
}
