package bench

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/scope-gate/scope-gate/e2e/testkit"
	"github.com/scope-gate/scope-gate/filter/policy"
	"github.com/scope-gate/scope-gate/internal/envoyhost"
)

// Profiles are the two WASI surfaces the module supports; both are measured because they differ in the
// host functions the Go runtime can call (poll_oneoff), which could show in the request path.
var Profiles = []envoyhost.Profile{envoyhost.Envoy139, envoyhost.Envoy133}

// Suite holds what the benchmarks share: hosts and VMs are created once and reused by every call of a
// benchmark function (testing.Benchmark calls it several times with growing b.N), so setup never shows in
// ns/op and every round measures the same warm VM. Not safe for concurrent benchmark runs.
type Suite struct {
	env *Env

	mu        sync.Mutex
	filterFx  map[string]*filterFixture // profile + "/" + case
	vms       map[string]*envoyhost.VM  // profile + "/" + configuration
	hosts     map[string]*envoyhost.Host
	validator *validatorServer
	authz     *authzService
	closers   []func()
}

type filterFixture struct {
	host *envoyhost.Host
	vm   *envoyhost.VM
	req  envoyhost.Request
	want int
}

// NewSuite prepares a suite on env; Close releases hosts, VMs and servers.
func NewSuite(env *Env) *Suite {
	return &Suite{env: env, filterFx: map[string]*filterFixture{}, vms: map[string]*envoyhost.VM{}, hosts: map[string]*envoyhost.Host{}}
}

// Close closes everything the suite started, newest first.
func (s *Suite) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}

// Env is the suite's environment.
func (s *Suite) Env() *Env { return s.env }

func (s *Suite) now() time.Time { return time.Unix(s.env.Table.NowUnix, 0) }

// host returns the suite's host for a module and profile. The scenario table's wall clock is what the guest
// sees (static tokens with expiries and cache entries depend on it), and the remote validator's cluster is
// always configured so the same host serves every case.
func (s *Suite) host(module string, p envoyhost.Profile) (*envoyhost.Host, error) {
	key := module + "/" + string(p)
	if h := s.hosts[key]; h != nil {
		return h, nil
	}
	wasm := s.env.Wasm
	switch module {
	case "noop":
		wasm = s.env.Noop
	case "floor":
		wasm = s.env.Floor
	}
	if s.validator == nil {
		c, err := s.env.scenario(Cases[len(Cases)-1])
		if err != nil {
			return nil, err
		}
		if s.validator, err = newValidatorServer(c.Validator.Status, c.Validator.Body); err != nil {
			return nil, err
		}
		s.closers = append(s.closers, s.validator.close)
	}
	h, err := envoyhost.NewHost(context.Background(), wasm, envoyhost.Options{
		Profile:             p,
		Clusters:            map[string]string{"validator": s.validator.addr()},
		Now:                 s.now,
		CompilationCacheDir: s.env.CacheDir,
		// Log lines are handed to a sink that drops them, as an Envoy at its default level drops the
		// filter's debug lines: kept in the host's memory, millions of them would grow the host's heap and
		// its GC pauses would land on every benchmark.
		LogSink:            func(envoyhost.LogEntry) {},
		TimeRequestHeaders: true, // the filter/floor ratios of the report
	})
	if err != nil {
		return nil, err
	}
	s.hosts[key] = h
	s.closers = append(s.closers, func() { _ = h.Close(context.Background()) })
	return h, nil
}

// filter returns the warm VM running c on profile p: one VM per configuration, reused by every case that
// shares it, as one Envoy worker serves every route.
func (s *Suite) filter(p envoyhost.Profile, c Case) (*filterFixture, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := string(p) + "/" + c.Name
	if fx := s.filterFx[key]; fx != nil {
		return fx, nil
	}
	sc, err := s.env.scenario(c)
	if err != nil {
		return nil, err
	}
	h, err := s.host("filter", p)
	if err != nil {
		return nil, err
	}
	cfg := s.env.Table.PluginConfiguration(sc)
	vmKey := string(p) + "/" + string(cfg)
	vm := s.vms[vmKey]
	if vm == nil {
		if vm, err = h.NewVM(context.Background(), testkit.PluginConfig(cfg)); err != nil {
			return nil, err
		}
		s.vms[vmKey] = vm
	}
	fx := &filterFixture{host: h, vm: vm, req: s.env.envoyRequest(sc), want: c.Want}
	s.filterFx[key] = fx
	return fx, nil
}

// do runs one request through a VM and checks its outcome. A request that takes more than 10 s is stuck.
func do(vm *envoyhost.VM, req envoyhost.Request, want int) error {
	res, err := vm.Do(context.Background(), req)
	if err != nil {
		return err
	}
	return statusOK(res, want)
}

// Runner is one measured path: Prepare (outside the measurement: fixtures, warm-up), then Step once per
// request, each checking its own answer, then Verify with the number of requests (post-conditions such as
// "every request was a cache hit"). Benchmarks and the quick test run the very same code.
type Runner struct {
	Prepare func() error
	Step    func() error
	Verify  func(n int) error // may be nil
	// VM, when set, is the VM Step sends requests to (after Prepare): the report reads how long its
	// proxy_on_request_headers took (envoyhost.VM.RequestHeadersTime).
	VM func() *envoyhost.VM
}

// Bench runs r as a Go benchmark; any unexpected answer fails it.
func (r Runner) Bench(b *testing.B) {
	if err := r.Prepare(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := r.Step(); err != nil {
			b.Fatalf("request %d: %v", i, err)
		}
	}
	b.StopTimer()
	if r.Verify != nil {
		if err := r.Verify(b.N); err != nil {
			b.Fatal(err)
		}
	}
}

// Check runs r for n requests without timing: what `go test` uses to prove each path answers as expected.
func (r Runner) Check(n int) error {
	if err := r.Prepare(); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		if err := r.Step(); err != nil {
			return fmt.Errorf("request %d: %w", i, err)
		}
	}
	if r.Verify != nil {
		return r.Verify(n)
	}
	return nil
}

// Filter is one request of case c through the compiled filter in the stand-in on profile p: context
// create, request headers (where the filter decides), the upstream or the local reply, log, done, delete.
// For the remote case the first request warms the cache, and Verify fails unless every measured request
// was a cache hit (no validator call, cache_hit counted once per request).
func (s *Suite) Filter(p envoyhost.Profile, c Case) Runner {
	var fx *filterFixture
	var calls0 int64
	var hits0 uint64
	return Runner{
		Prepare: func() error {
			var err error
			if fx, err = s.filter(p, c); err != nil {
				return err
			}
			if err := do(fx.vm, fx.req, fx.want); err != nil { // warm: memoized requirement, cached validation
				return fmt.Errorf("warm-up %s/%s: %w", p, c.Name, err)
			}
			calls0, hits0 = s.validator.count(), fx.host.Counter(policy.MetricCacheHit)
			return nil
		},
		Step: func() error { return do(fx.vm, fx.req, fx.want) },
		VM:   func() *envoyhost.VM { return fx.vm },
		Verify: func(n int) error {
			if !c.Remote {
				return nil
			}
			if d := s.validator.count() - calls0; d != 0 {
				return fmt.Errorf("%d validator calls while measuring cache hits", d)
			}
			if d := fx.host.Counter(policy.MetricCacheHit) - hits0; d != uint64(n) {
				return fmt.Errorf("%d cache hits for %d requests", d, n)
			}
			return nil
		},
	}
}

// Noop is the allow_scoped request through the no-op module on profile p: the host's floor.
func (s *Suite) Noop(p envoyhost.Profile) Runner {
	var vm *envoyhost.VM
	var req envoyhost.Request
	return Runner{
		Prepare: func() error {
			var err error
			vm, req, err = s.noopVM(p)
			return err
		},
		Step: func() error { return do(vm, req, 200) },
		VM:   func() *envoyhost.VM { return vm },
	}
}

// Floor is the allow_scoped request through the reference floor module (bench/testdata/floor) on profile p:
// the same essential host calls as the filter's allowed path plus the token's hash, no decision, no SDK.
// Every case of the filter is compared with it (PERFORMANCE.md).
func (s *Suite) Floor(p envoyhost.Profile) Runner {
	var vm *envoyhost.VM
	var req envoyhost.Request
	var host *envoyhost.Host
	var count0 uint64
	return Runner{
		Prepare: func() error {
			var err error
			vm, req, err = s.moduleVM("floor", p)
			if err != nil {
				return err
			}
			s.mu.Lock()
			host = s.hosts["floor/"+string(p)]
			s.mu.Unlock()
			count0 = host.Counter("scope_gate_floor.allowed")
			return nil
		},
		Step: func() error { return do(vm, req, 200) },
		VM:   func() *envoyhost.VM { return vm },
		Verify: func(n int) error {
			// The floor must have done its calls: its counter moved once per request.
			if d := host.Counter("scope_gate_floor.allowed") - count0; d != uint64(n) {
				return fmt.Errorf("floor counter moved by %d in %d requests", d, n)
			}
			return nil
		},
	}
}

func (s *Suite) noopVM(p envoyhost.Profile) (*envoyhost.VM, envoyhost.Request, error) {
	return s.moduleVM("noop", p)
}

// moduleVM is the warm VM of a reference module (noop, floor) on profile p, with the allow_scoped request.
func (s *Suite) moduleVM(module string, p envoyhost.Profile) (*envoyhost.VM, envoyhost.Request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := string(p) + "/" + module
	if fx := s.filterFx[key]; fx != nil {
		return fx.vm, fx.req, nil
	}
	sc, err := s.env.scenario(Cases[1]) // allow_scoped: the request the filter's main target is about
	if err != nil {
		return nil, envoyhost.Request{}, err
	}
	h, err := s.host(module, p)
	if err != nil {
		return nil, envoyhost.Request{}, err
	}
	vm, err := h.NewVM(context.Background(), testkit.PluginConfig(nil))
	if err != nil {
		return nil, envoyhost.Request{}, err
	}
	fx := &filterFixture{host: h, vm: vm, req: s.env.envoyRequest(sc), want: 200}
	s.filterFx[key] = fx
	return fx.vm, fx.req, nil
}
