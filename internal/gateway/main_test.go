package gateway

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scope-gate/scope-gate/e2e/scenarios"
	"github.com/scope-gate/scope-gate/e2e/testkit"
	"github.com/scope-gate/scope-gate/internal/envoyconfig"
	"github.com/scope-gate/scope-gate/internal/envoyhost"
)

// wasmPath is the module under test: $SCOPE_GATE_WASM (set by make test), else build/scope-gate.wasm.
var (
	wasmPath string
	table    *scenarios.File
)

// TestMain fails the run when the module is missing: these tests exist to serve the compiled filter, and a
// skip would count an untested gateway as passing.
func TestMain(m *testing.M) {
	wasmPath = testkit.ModulePath(testkit.ModuleEnv, testkit.ModuleFile)
	abs, err := filepath.Abs(wasmPath)
	if err == nil {
		_, err = os.Stat(abs)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "gateway: cannot find the module %s (run `make build`, or `make test` which builds it): %v\n", wasmPath, err)
		os.Exit(1)
	}
	wasmPath = abs
	if table, err = scenarios.Load(filepath.Join("..", "..", "e2e", "scenarios", "scenarios.json")); err != nil {
		fmt.Fprintf(os.Stderr, "gateway: %v\n", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// syncBuffer is a log sink shared by the gateway's goroutines and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}

// testGateway is a gateway on loopback ports with captured logs.
type testGateway struct {
	*Gateway
	access, log *syncBuffer
	base        string // http://127.0.0.1:port
	admin       string
}

// startGateway compiles b and starts it with test options (the table's clock, debug logs).
func startGateway(t testing.TB, cfg *Config, workers int) (*testGateway, error) {
	t.Helper()
	tg := &testGateway{access: &syncBuffer{}, log: &syncBuffer{}}
	now := time.Unix(table.NowUnix, 0)
	g, err := Start(context.Background(), cfg, Options{
		Workers: workers, CompilationCacheDir: testkit.CompilationCacheDir(), Now: func() time.Time { return now },
		AccessLog: tg.access, Log: tg.log, LogLevel: envoyhost.LogDebug,
	})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = g.Shutdown(ctx)
	})
	tg.Gateway = g
	tg.base = "http://" + g.Addr().String()
	tg.admin = "http://" + g.AdminAddr().String()
	return tg, nil
}

// buildConfig is envoyconfig.Build (what the real-Envoy driver generates) compiled by serve.
func buildConfig(t testing.TB, spec envoyconfig.BuildSpec) *Config {
	t.Helper()
	b := envoyconfig.Build(spec)
	if err := envoyconfig.Validate(b); err != nil {
		t.Fatalf("generated bootstrap is invalid: %v", err)
	}
	cfg, err := Compile(b)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return cfg
}

// counters reads the plugin's counters from the admin /stats, as a client of Envoy would: every line is
// Envoy's "<stat name>: <value>" with the stat name in the wasmcustom namespace, as Envoy's text /stats shows
// it (stats.go). The map is keyed by the name the plugin defined (the scenario table's names).
func (tg *testGateway) counters(t testing.TB) map[string]uint64 {
	t.Helper()
	resp, err := http.Get(tg.admin + "/stats")
	if err != nil {
		t.Fatalf("admin /stats: %v", err)
	}
	defer resp.Body.Close()
	out := map[string]uint64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ": ")
		defined, inNamespace := strings.CutPrefix(name, "wasmcustom.")
		if !ok || !inNamespace || defined == "" {
			t.Fatalf("admin /stats line %q is not Envoy's \"wasmcustom.<name>: <value>\"", sc.Text())
		}
		n, err := strconv.ParseUint(value, 10, 64)
		if err != nil {
			t.Fatalf("admin /stats line %q: %v", sc.Text(), err)
		}
		out[defined] = n
	}
	return out
}

// echoUpstream is the test upstream: EchoHandler on a loopback port.
func echoUpstream(t testing.TB) (*httptest.Server, uint32) {
	t.Helper()
	srv := httptest.NewServer(EchoHandler())
	t.Cleanup(srv.Close)
	return srv, uint32(srv.Listener.Addr().(*net.TCPAddr).Port)
}

// refusedPort is a loopback port nothing listens on.
func refusedPort(t testing.TB) uint32 {
	t.Helper()
	addr, err := testkit.RefusedAddr()
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	n, err := strconv.ParseUint(port, 10, 32)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(n)
}

var client = &http.Client{
	Transport:     &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64},
	Timeout:       20 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}
