//go:build wasip1 && scopegate_allocprobe

package stdgobridge

import "runtime"

// Test-only exports, compiled only with -tags scopegate_allocprobe (bench builds such a module to prove the
// request path allocates nothing; the shipped module has neither). They read the Go runtime's own counters
// of the guest: heap objects allocated since the start, and completed GC cycles. runtime.ReadMemStats flushes
// every per-P allocation cache first, so the count is exact, and it allocates nothing itself.

var probeStats runtime.MemStats

//go:wasmexport scope_gate_test_mallocs
func probeMallocs() uint64 {
	runtime.ReadMemStats(&probeStats)
	return probeStats.Mallocs
}

//go:wasmexport scope_gate_test_gc_cycles
func probeGCCycles() uint32 {
	runtime.ReadMemStats(&probeStats)
	return probeStats.NumGC
}
