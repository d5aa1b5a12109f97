// Command report runs scope-gate's whole performance suite in one process and prints a markdown report:
// the filter in the Envoy stand-in (both WASI profiles), the native decision, the ext_authz-style service,
// the no-op module, cold start and linear memory over a long soak. One process and interleaved rounds make
// the ratios comparable; see PERFORMANCE.md for how to read it.
//
//	go run ./bench/cmd/report [-count 5] [-benchtime 500ms] [-soak 1000000] > report.md
package main

import (
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/scope-gate/scope-gate/bench"
	"github.com/scope-gate/scope-gate/internal/envoyhost"
)

func main() {
	testing.Init() // testing.Benchmark reads the test.benchtime flag
	count := flag.Int("count", 5, "rounds of every request-path benchmark (medians are reported)")
	benchtime := flag.Duration("benchtime", 500*time.Millisecond, "target duration of each benchmark run")
	soak := flag.Int("soak", 1_000_000, "requests per VM for the linear-memory check (0: only the first 1k)")
	compiles := flag.Int("compiles", 3, "cold compiles (each takes about a second)")
	vmstarts := flag.Int("vmstarts", 20, "VM starts per profile")
	flag.Parse()
	if err := flag.Set("test.benchtime", benchtime.String()); err != nil {
		fail(err)
	}
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "report: "+format+"\n", args...) }

	start := time.Now()
	env, err := bench.Setup()
	if err != nil {
		fail(err)
	}
	defer env.Close()
	suite := bench.NewSuite(env)
	defer suite.Close()

	rep := &bench.Report{Machine: bench.ThisMachine(), Count: *count, BenchTime: benchtime.String(), Entries: suite.Entries()}
	logf("request path: %d benchmarks x %d rounds of %s", len(rep.Entries), *count, benchtime)
	if err := bench.RunRounds(rep.Entries, *count, func(round int, e *bench.Entry) { logf("round %d: %s", round, e.Name) }); err != nil {
		fail(err)
	}

	cs := &rep.Cold
	cs.ModuleBytes, cs.NoopBytes = len(env.Wasm), len(env.Noop)
	logf("cold compile x%d", *compiles)
	if cs.Compile, err = bench.CompileCold(env.Wasm, *compiles); err != nil { // 0: skipped
		fail(err)
	}
	dir, err := env.TempDir("compile-cache")
	if err != nil {
		fail(err)
	}
	logf("cached compile x%d", *compiles)
	if cs.CacheFill, cs.CompileCached, err = bench.CompileCached(env.Wasm, dir, *compiles); err != nil {
		fail(err)
	}
	cfg, err := bench.ReferenceConfig(env)
	if err != nil {
		fail(err)
	}
	cs.VMStart = map[envoyhost.Profile]bench.Durations{}
	cs.Memory = map[envoyhost.Profile][]bench.MemoryPoint{}
	for _, p := range bench.Profiles {
		logf("VM start %s x%d", p, *vmstarts)
		if cs.VMStart[p], err = bench.VMStart(env, p, cfg, *vmstarts); err != nil {
			fail(err)
		}
		checkpoints := memoryCheckpoints(*soak)
		logf("linear memory %s over %d requests", p, checkpoints[len(checkpoints)-1])
		if cs.Memory[p], err = bench.Memory(env, p, checkpoints, func(done int) { logf("  %s: %d requests", p, done) }); err != nil {
			fail(err)
		}
	}
	rep.Took = time.Since(start)
	rep.Markdown(os.Stdout)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "report:", err)
	os.Exit(1)
}

// memoryCheckpoints are where linear memory is read during the soak: 1k (the baseline of the target), then
// enough points to tell a plateau from steady growth (wasm memory never shrinks, so a leak is a staircase
// that keeps climbing, while a heap that found its size stays flat).
func memoryCheckpoints(soak int) []int {
	out := []int{1000}
	for _, cp := range []int{10_000, 100_000} {
		if cp < soak {
			out = append(out, cp)
		}
	}
	for cp := 250_000; cp < soak; cp += 250_000 {
		out = append(out, cp)
	}
	if soak > 1000 {
		out = append(out, soak)
	}
	return out
}
