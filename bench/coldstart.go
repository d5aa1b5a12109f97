package bench

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/scope-gate/scope-gate/e2e/testkit"
	"github.com/scope-gate/scope-gate/internal/envoyhost"
)

// Durations are repeated timings of one step; the median is what the report compares with a target.
type Durations []time.Duration

// Median of the timings (0 when there are none).
func (d Durations) Median() time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Min and Max of the timings.
func (d Durations) Min() time.Duration { return slices.Min(d) }
func (d Durations) Max() time.Duration { return slices.Max(d) }

// CompileCold is wazero's compiler engine compiling the module from scratch, n times, each in a fresh
// runtime without a cache: what an Envoy without a compiled-code cache pays when it loads the plugin.
func CompileCold(wasm []byte, n int) (Durations, error) {
	ctx := context.Background()
	var out Durations
	for i := 0; i < n; i++ {
		rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler())
		t0 := time.Now()
		_, err := rt.CompileModule(ctx, wasm)
		d := time.Since(t0)
		_ = rt.Close(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// CompileCached fills a fresh on-disk compilation cache in dir once (first, the cold compile that writes it),
// then compiles n times in fresh runtimes with fresh cache handles on the same directory, so every later
// compile is a cache hit read from disk, as in a restarted process.
func CompileCached(wasm []byte, dir string, n int) (first time.Duration, hits Durations, err error) {
	ctx := context.Background()
	compile := func() (time.Duration, error) {
		cache, err := wazero.NewCompilationCacheWithDir(dir)
		if err != nil {
			return 0, err
		}
		defer cache.Close(ctx)
		rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCompilationCache(cache))
		defer rt.Close(ctx)
		t0 := time.Now()
		_, err = rt.CompileModule(ctx, wasm)
		return time.Since(t0), err
	}
	if first, err = compile(); err != nil {
		return 0, nil, err
	}
	for i := 0; i < n; i++ {
		d, err := compile()
		if err != nil {
			return 0, nil, err
		}
		hits = append(hits, d)
	}
	return first, hits, nil
}

// WarmHost is a host whose module comes out of a warm compilation cache: the first NewHost of the run
// fills env's cache (if nothing did yet), the second, returned, compiles from it, as a restarted Envoy with
// a cache would.
func WarmHost(env *Env, p envoyhost.Profile) (*envoyhost.Host, error) {
	ctx := context.Background()
	opts := envoyhost.Options{Profile: p, CompilationCacheDir: env.CacheDir, Now: func() time.Time { return time.Unix(env.Table.NowUnix, 0) },
		LogSink: func(envoyhost.LogEntry) {}} // as in Suite.host
	h, err := envoyhost.NewHost(ctx, env.Wasm, opts)
	if err != nil {
		return nil, err
	}
	_ = h.Close(ctx)
	return envoyhost.NewHost(ctx, env.Wasm, opts)
}

// VMStart is one worker VM coming up in a host whose module is already compiled (WarmHost): instantiate,
// _initialize, proxy_on_context_create, proxy_on_vm_start and proxy_on_configure with cfg, n times. Each VM
// is closed after it is timed, so they do not pile up.
func VMStart(env *Env, p envoyhost.Profile, cfg []byte, n int) (Durations, error) {
	ctx := context.Background()
	h, err := WarmHost(env, p)
	if err != nil {
		return nil, err
	}
	defer h.Close(ctx)
	var out Durations
	for i := 0; i < n; i++ {
		t0 := time.Now()
		vm, err := h.NewVM(ctx, testkit.PluginConfig(cfg))
		d := time.Since(t0)
		if err != nil {
			return nil, err
		}
		_ = vm.Close(ctx)
		out = append(out, d)
	}
	return out, nil
}

// MemoryPoint is the guest's linear memory after a number of requests.
type MemoryPoint struct {
	Requests int
	Bytes    uint32 // linear memory of the shipped module's VM
	Mallocs  uint64 // guest heap objects allocated so far (probe module's VM), since the VM started
	GCs      uint64 // guest GC cycles so far (probe module's VM)
}

// Memory starts two VMs with the reference configuration, sends both the same requests, and reports after
// start and after each checkpoint of requests (cumulative) the linear memory of the first and the guest's own
// count of heap allocations and GC cycles in the second. The requests cycle through every static case, so
// every decision path allocates what it allocates; each answer is checked, so a failed VM cannot look frugal.
//
// The first VM runs the shipped module (env.Wasm), the second the probe build (env.Probe: the shipped code
// plus two test-only exports). Memory is not read from the probe's VM because reading the counters moves
// it: runtime.ReadMemStats flushes every span cache, and the span sets it pushes them to take their blocks
// from the runtime's persistent allocator, whose next 256 KiB chunk then shows as linear memory the shipped
// module never asks for (seen: 3.50 MiB for the shipped module, 3.75 MiB for the probe's, after the same
// requests).
func Memory(env *Env, p envoyhost.Profile, checkpoints []int, progress func(done int)) ([]MemoryPoint, error) {
	ctx := context.Background()
	shipped, err := WarmHost(env, p)
	if err != nil {
		return nil, err
	}
	defer shipped.Close(ctx)
	pe := *env
	pe.Wasm = env.Probe
	probe, err := WarmHost(&pe, p)
	if err != nil {
		return nil, err
	}
	defer probe.Close(ctx)
	cases := StaticCases()
	cfg, err := env.config(cases[0])
	if err != nil {
		return nil, err
	}
	type rq struct {
		req  envoyhost.Request
		want int
	}
	var reqs []rq
	for _, c := range cases {
		sc, err := env.scenario(c)
		if err != nil {
			return nil, err
		}
		if string(env.Table.PluginConfiguration(sc)) != string(cfg) {
			return nil, fmt.Errorf("bench: case %s does not use the reference configuration", c.Name)
		}
		reqs = append(reqs, rq{env.envoyRequest(sc), c.Want})
	}
	vm, err := shipped.NewVM(ctx, testkit.PluginConfig(cfg))
	if err != nil {
		return nil, err
	}
	counted, err := probe.NewVM(ctx, testkit.PluginConfig(cfg))
	if err != nil {
		return nil, err
	}
	point := func(done int) (MemoryPoint, error) {
		m, g, err := GuestCounters(counted)
		return MemoryPoint{done, vm.MemorySize(), m, g}, err
	}
	pt, err := point(0)
	if err != nil {
		return nil, err
	}
	out := []MemoryPoint{pt}
	done := 0
	for _, cp := range checkpoints {
		for ; done < cp; done++ {
			r := reqs[done%len(reqs)]
			if err := do(vm, r.req, r.want); err != nil {
				return out, fmt.Errorf("request %d: %w", done, err)
			}
			if err := do(counted, r.req, r.want); err != nil {
				return out, fmt.Errorf("request %d (probe build): %w", done, err)
			}
			if progress != nil && done%100000 == 0 && done > 0 {
				progress(done)
			}
		}
		pt, err := point(done)
		if err != nil {
			return out, err
		}
		out = append(out, pt)
	}
	return out, nil
}
