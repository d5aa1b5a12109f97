package bench

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/scope-gate/scope-gate/e2e/testkit"
)

// suite is shared by every test and benchmark of this binary: hosts and VMs are set up once.
var suite *Suite

// TestMain reads the module and builds the no-op module. A missing module fails the run with the hint to
// run `make build` (never a skip: `make test` must not count an unmeasured module as passing).
func TestMain(m *testing.M) {
	env, err := Setup()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	suite = NewSuite(env)
	code := m.Run()
	suite.Close()
	env.Close()
	os.Exit(code)
}

// TestEveryPathAnswersAsExpected runs each measured path a few times and checks its answers, so `go test`
// (without -bench) proves the benchmarks measure what they claim, in a few seconds.
func TestEveryPathAnswersAsExpected(t *testing.T) {
	check := func(name string, r Runner) {
		t.Run(name, func(t *testing.T) {
			if err := r.Check(3); err != nil {
				t.Fatal(err)
			}
		})
	}
	for _, p := range Profiles {
		for _, c := range Cases {
			check("filter/"+string(p)+"/"+c.Name, suite.Filter(p, c))
		}
		check("noop/"+string(p), suite.Noop(p))
		check("floor/"+string(p), suite.Floor(p))
	}
	for _, c := range Cases {
		check("native/"+c.Name, suite.Native(c))
	}
	for _, c := range StaticCases() {
		check("ext_authz/"+c.Name, suite.ExtAuthz(c))
	}
}

// TestMemoryAfter1kRequests: the first checkpoint of the 1M-request memory report, cheap enough for every
// `go test` run: the shipped module's VM serves 1000 mixed requests without failing, its linear memory does
// not grow, and it stays within the budget of PERFORMANCE.md.
func TestMemoryAfter1kRequests(t *testing.T) {
	pts, err := Memory(suite.Env(), Profiles[0], []int{1000}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if pts[1].Bytes > pts[0].Bytes || pts[1].Bytes > MemoryBudget {
		t.Fatalf("linear memory %d bytes after start, %d after 1000 requests (budget %d)", pts[0].Bytes, pts[1].Bytes, int(MemoryBudget))
	}
}

// BenchmarkFilter is the compiled filter in the stand-in: one whole HTTP stream per op.
func BenchmarkFilter(b *testing.B) {
	for _, p := range Profiles {
		for _, c := range Cases {
			b.Run(string(p)+"/"+c.Name, suite.Filter(p, c).Bench)
		}
	}
}

// BenchmarkFloor is the reference floor module (PERFORMANCE.md) in the same host with the allow_scoped request.
func BenchmarkFloor(b *testing.B) {
	for _, p := range Profiles {
		b.Run(string(p), suite.Floor(p).Bench)
	}
}

// BenchmarkNoop is the no-op module in the same host with the allow_scoped request: the host's floor.
func BenchmarkNoop(b *testing.B) {
	for _, p := range Profiles {
		b.Run(string(p), suite.Noop(p).Bench)
	}
}

// BenchmarkNative is the same decisions made by the policy package alone.
func BenchmarkNative(b *testing.B) {
	for _, c := range Cases {
		b.Run(c.Name, suite.Native(c).Bench)
	}
}

// BenchmarkExtAuthz is the same decisions made by an authorization service over loopback HTTP.
func BenchmarkExtAuthz(b *testing.B) {
	for _, c := range StaticCases() {
		b.Run(c.Name, suite.ExtAuthz(c).Bench)
	}
}

// BenchmarkVMStart is one worker VM start (instantiate + _initialize + vm_start + configure with the
// reference configuration) in a host whose module came out of a warm compilation cache.
func BenchmarkVMStart(b *testing.B) {
	cfg, err := ReferenceConfig(suite.Env())
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range Profiles {
		b.Run(string(p), func(b *testing.B) {
			ctx := context.Background()
			h, err := WarmHost(suite.Env(), p)
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close(ctx)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				vm, err := h.NewVM(ctx, testkit.PluginConfig(cfg))
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer() // closing is not part of a start
				_ = vm.Close(ctx)
				b.StartTimer()
			}
		})
	}
}

// BenchmarkCompile is wazero's compiler engine compiling the module: from scratch, and from a warm
// on-disk compilation cache in a fresh runtime.
func BenchmarkCompile(b *testing.B) {
	b.Run("cold", func(b *testing.B) {
		ds, err := CompileCold(suite.Env().Wasm, b.N)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(ds.Median())/1e6, "median-ms")
	})
	b.Run("cached", func(b *testing.B) {
		dir, err := suite.Env().TempDir("compile-cache")
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer() // the first compile fills the cache and is not a hit
		_, ds, err := CompileCached(suite.Env().Wasm, dir, b.N)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(ds.Median())/1e6, "median-ms")
	})
}
