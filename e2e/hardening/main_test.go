// Package hardening attacks the compiled module (build/scope-gate.wasm) in the Envoy stand-in: differential
// testing against the pure policy packages, adversarial requests and metadata, and a fault soak. The threat
// model these tests serve is SECURITY.md at the repository root.
package hardening

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/scope-gate/scope-gate/e2e/testkit"
	"github.com/scope-gate/scope-gate/filter/pairs"
	"github.com/scope-gate/scope-gate/internal/envoyhost"
)

// The module under test: $SCOPE_GATE_WASM (set by make test), else build/scope-gate.wasm.
var (
	wasmPath  string
	wasmBytes []byte
)

// nowUnix is the wall clock the stand-in gives the filter in the differential and adversarial tests (the
// soak drives its own clock). Static-table expiries are generated around it.
const nowUnix = int64(1795000000)

// TestMain loads the module once. A missing module fails the run rather than skipping: these tests exist to
// test the compiled filter, and a skip would count an untested module as a pass.
func TestMain(m *testing.M) {
	wasmPath, wasmBytes = testkit.MustReadModule(testkit.ModuleEnv, testkit.ModuleFile)
	os.Exit(m.Run())
}

var profiles = []envoyhost.Profile{envoyhost.Envoy133, envoyhost.Envoy139}

// newHost starts one stand-in Envoy at the fixed clock nowUnix.
func newHost(t testing.TB, profile envoyhost.Profile, clusters map[string]string) *envoyhost.Host {
	t.Helper()
	return newHostClock(t, profile, clusters, func() time.Time { return time.Unix(nowUnix, 0) })
}

func newHostClock(t testing.TB, profile envoyhost.Profile, clusters map[string]string, now func() time.Time) *envoyhost.Host {
	t.Helper()
	h, err := envoyhost.NewHost(context.Background(), wasmBytes, envoyhost.Options{
		Profile:             profile,
		Clusters:            clusters,
		Now:                 now,
		CompilationCacheDir: testkit.CompilationCacheDir(),
	})
	if err != nil {
		t.Fatalf("NewHost(%s): %v", profile, err)
	}
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	return h
}

func newVM(t testing.TB, h *envoyhost.Host, cfg string) *envoyhost.VM {
	t.Helper()
	vm, err := h.NewVM(context.Background(), testkit.PluginConfig([]byte(cfg)))
	if err != nil {
		t.Fatalf("NewVM(%s): %v", abbrev(cfg, 300), err)
	}
	t.Cleanup(func() { _ = vm.Close(context.Background()) })
	return vm
}

// baseHeaders are the pseudo-headers Envoy's codec puts first.
func baseHeaders(path string) [][2]string {
	return [][2]string{{":method", "GET"}, {":path", path}, {":authority", "api.example.com"}, {":scheme", "https"}}
}

// encodeMetadata is Envoy's serializeValue (source/extensions/common/wasm/context.cc) for a metadata value,
// written independently of the stand-in's encoder so that the native side of the differential does not
// trust the host: string raw, number as a little-endian double, bool as one byte, list as pairs whose keys
// are the encoded items and whose values are empty, map as pairs of key and encoded value, null as
// SerializationFailure (ok false), which the filter must answer 500. Map keys are sorted, as the stand-in
// does; the order of a Struct's fields cannot change a requirement (duplicate keys are impossible in a map).
func encodeMetadata(v any) ([]byte, bool) {
	switch t := v.(type) {
	case string:
		return []byte(t), true
	case float64:
		return binary.LittleEndian.AppendUint64(nil, math.Float64bits(t)), true
	case bool:
		if t {
			return []byte{1}, true
		}
		return []byte{0}, true
	case []any:
		ps := make([]pairs.Pair, 0, len(t))
		for _, item := range t {
			b, ok := encodeMetadata(item)
			if !ok {
				return nil, false
			}
			ps = append(ps, pairs.Pair{Key: b})
		}
		return pairs.Encode(ps), true
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		ps := make([]pairs.Pair, 0, len(t))
		for _, k := range keys {
			b, ok := encodeMetadata(t[k])
			if !ok {
				return nil, false
			}
			ps = append(ps, pairs.Pair{Key: []byte(k), Value: b})
		}
		return pairs.Encode(ps), true
	}
	return nil, false // nil and anything Envoy cannot hold
}

// checkNoSecretLogged fails if any captured log line contains one of secrets (docs/spec.md §7). Secrets shorter
// than 12 bytes are not checked: a log line legitimately carries 8 hex digits of a token hash, and a short
// token could match them, or any other word, by chance.
func checkNoSecretLogged(t testing.TB, h *envoyhost.Host, secrets []string) {
	t.Helper()
	for _, l := range h.Logs() {
		for _, s := range secrets {
			if len(s) >= 12 && strings.Contains(l.Message, s) {
				t.Errorf("log line leaks a secret (%s): %q", abbrev(s, 40), abbrev(l.Message, 200))
			}
		}
	}
}

// headerValues returns every value of a header (names compared case-insensitively).
func headerValues(hs [][2]string, name string) []string {
	var out []string
	for _, h := range hs {
		if strings.EqualFold(h[0], name) {
			out = append(out, h[1])
		}
	}
	return out
}

func abbrev(s string, n int) string {
	if len(s) <= n {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q... (%d bytes)", s[:n], len(s))
}
