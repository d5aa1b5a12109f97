package scenarios

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scope-gate/scope-gate/e2e/testkit"
	"github.com/scope-gate/scope-gate/internal/envoyhost"
)

// TestSoak sends 200k mixed requests through one VM under the envoy-1.33 profile (poll_oneoff is ENOSYS
// there: a timer or a forced GC in the filter would crash it) and checks that nothing traps, every request
// gets its expected answer, the counters add up, and linear memory stays bounded.
func TestSoak(t *testing.T) {
	total := 200_000
	if n, err := strconv.Atoi(os.Getenv("SCOPE_GATE_SOAK_REQUESTS")); err == nil && n > 1000 {
		total = n
	}
	if testing.Short() {
		t.Skip("soak: skipped with -short; `make test` runs it")
	}
	h := newHost(t, envoyhost.Envoy133, nil)
	ctx := context.Background()
	vm, err := h.NewVM(ctx, testkit.PluginConfig(table.Configs["reference"]))
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close(ctx)

	// A mix of the table's own scenarios that need no special setup.
	var mix []Scenario
	for _, s := range table.Scenarios {
		if s.Config == "reference" && s.RawConfig == nil {
			mix = append(mix, s)
		}
	}
	if len(mix) < 20 {
		t.Fatalf("only %d reference scenarios to mix", len(mix))
	}
	reqs := make([]envoyhost.Request, len(mix))
	for i, s := range mix {
		reqs[i] = envoyRequest(s)
	}
	before := h.Metrics()
	var memAt1k, memWarm uint32
	var checkpoints []string
	start := time.Now()
	for i := 0; i < total; i++ {
		k := i % len(mix)
		res, err := vm.Do(ctx, reqs[k])
		if err != nil || res.Trapped != nil {
			t.Fatalf("request %d (%s): err %v trap %v", i, mix[k].Name, err, res.Trapped)
		}
		if res.Response.Status != mix[k].Expect.Status {
			t.Fatalf("request %d (%s): status %d, want %d", i, mix[k].Name, res.Response.Status, mix[k].Expect.Status)
		}
		if i == 1000 {
			memAt1k = vm.MemorySize()
		}
		if i == total/8 {
			memWarm = vm.MemorySize()
		}
		if i > 0 && (i%(total/8) == 0) {
			checkpoints = append(checkpoints, fmt.Sprintf("%dk:%dKiB", i/1000, vm.MemorySize()/1024))
		}
	}
	elapsed := time.Since(start)
	memEnd := vm.MemorySize()
	after := h.Metrics()
	var counted uint64
	for _, name := range []string{"scope_gate.allowed", "scope_gate.public", "scope_gate.denied_400", "scope_gate.denied_401", "scope_gate.denied_403", "scope_gate.config_error", "scope_gate.unavailable", "scope_gate.cors_preflight"} {
		counted += after[name] - before[name]
	}
	if counted != uint64(total) {
		t.Errorf("decision counters add up to %d, want %d", counted, total)
	}
	t.Logf("soak: %d requests in %v (%.1f µs/request incl. host), linear memory %d KiB after 1k, %d KiB after %d (%s)",
		total, elapsed.Round(time.Millisecond), float64(elapsed.Microseconds())/float64(total), memAt1k/1024, memEnd/1024, total,
		strings.Join(checkpoints, " "))
	// A leak grows without end; the guest heap's first growth is the GC finding its working size. So the
	// memory after the first eighth (warm) must hold to the end, and the whole run stays within 16 MiB.
	if memEnd > memWarm+memWarm/4 || memEnd > 16<<20 {
		t.Errorf("linear memory grew from %d bytes after %d requests to %d at the end (1k: %d): a leak", memWarm, total/8, memEnd, memAt1k)
	}
}
