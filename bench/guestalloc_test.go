package bench

import (
	"os"
	"testing"

	"github.com/scope-gate/scope-gate/internal/envoyhost"
)

// warmRequests is how many requests a VM serves before its allocations are counted: the first requests of
// a path fill what is then reused (stream objects, buffers, the requirement memo, serialized replies).
const warmRequests = 200

// TestRequestPathDoesNotAllocate: after warm-up, no path of the filter allocates on the guest's Go heap,
// and the guest's GC never runs. The module is the probe build (ProbeTag: the shipped code plus two
// test-only exports that read the guest runtime's own counters, runtime.MemStats.Mallocs and NumGC), in
// the stand-in, with the benchmark cases' requests and configurations, under both WASI profiles.
//
// Each case runs alone first (2000 requests, any allocation fails it with the count per request), then
// every case interleaved: 20k requests, or 1M with SCOPE_GATE_ALLOC_SOAK=1 (`make soak`).
func TestRequestPathDoesNotAllocate(t *testing.T) {
	env := *suite.Env()
	env.Wasm = env.Probe
	s := NewSuite(&env)
	defer s.Close()
	perCase, mixed := 2000, 20_000
	if os.Getenv("SCOPE_GATE_ALLOC_SOAK") != "" {
		mixed = 1_000_000
	}
	for _, p := range Profiles {
		var runners []Runner
		for _, c := range Cases {
			r := s.Filter(p, c)
			if err := r.Prepare(); err != nil {
				t.Fatalf("%s/%s: %v", p, c.Name, err)
			}
			for i := 0; i < warmRequests; i++ {
				if err := r.Step(); err != nil {
					t.Fatalf("%s/%s: warm-up request %d: %v", p, c.Name, i, err)
				}
			}
			runners = append(runners, r)
		}
		for i, c := range Cases {
			t.Run(string(p)+"/"+c.Name, func(t *testing.T) {
				r := runners[i]
				vm := r.VM()
				m0, g0 := counters(t, vm)
				for j := 0; j < perCase; j++ {
					if err := r.Step(); err != nil {
						t.Fatalf("request %d: %v", j, err)
					}
				}
				m1, g1 := counters(t, vm)
				if m1 != m0 || g1 != g0 {
					t.Fatalf("%d guest heap allocations (%.2f per request) and %d GC cycles in %d requests", m1-m0, float64(m1-m0)/float64(perCase), g1-g0, perCase)
				}
				if r.Verify != nil { // the remote case: every request was a cache hit, no validator call
					if err := r.Verify(warmRequests + perCase); err != nil {
						t.Fatal(err)
					}
				}
			})
		}
		t.Run(string(p)+"/interleaved", func(t *testing.T) {
			vms := map[*envoyhost.VM][2]uint64{}
			for _, r := range runners {
				m, g := counters(t, r.VM())
				vms[r.VM()] = [2]uint64{m, g}
			}
			for j := 0; j < mixed; j++ {
				if err := runners[j%len(runners)].Step(); err != nil {
					t.Fatalf("request %d (%s): %v", j, Cases[j%len(runners)].Name, err)
				}
			}
			for vm, before := range vms {
				m, g := counters(t, vm)
				if m != before[0] || g != before[1] {
					t.Fatalf("VM %d: %d guest heap allocations and %d GC cycles in %d interleaved requests", vm.ID(), m-before[0], g-before[1], mixed)
				}
			}
			t.Logf("%d interleaved requests over %d VMs: no guest allocation, no GC cycle", mixed, len(vms))
		})
	}
}

func counters(t *testing.T, vm *envoyhost.VM) (mallocs, gcs uint64) {
	t.Helper()
	m, g, err := GuestCounters(vm)
	if err != nil {
		t.Fatal(err)
	}
	return m, g
}
