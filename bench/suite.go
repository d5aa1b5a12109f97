package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scope-gate/scope-gate/e2e/testkit"
	"github.com/scope-gate/scope-gate/filter/policy"
	"github.com/scope-gate/scope-gate/filter/sharedcache"
	"github.com/scope-gate/scope-gate/filter/validator"
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
// Every case of the filter is compared with it (issue 16).
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

// nativeFixture is a decision made by the pure packages with no host at all: the configuration parsed once,
// the route's block as Envoy would hand it over, and the request's Authorization headers.
type nativeFixture struct {
	cfg                *policy.Policy
	reqs               *policy.RequirementCache
	routeBlock         []byte // the route's block, when hasRoute
	vhostBlock         []byte // the virtual host's block, when hasVhost
	hasRoute, hasVhost bool
	path, method       string
	authCount          int
	firstAuth          string
	sharedData         map[string][]byte // stands in for proxy-wasm shared data (remote case)
	nowUnix            int64
	want               int
}

func (s *Suite) native(c Case) (*nativeFixture, error) {
	sc, err := s.env.scenario(c)
	if err != nil {
		return nil, err
	}
	cfg, err := policy.Parse(s.env.Table.PluginConfiguration(sc))
	if err != nil {
		return nil, err
	}
	// The same bound as the plugin's memo; the cache decodes each distinct block once.
	fx := &nativeFixture{cfg: cfg, reqs: policy.NewRequirementCache(cfg, 4096), nowUnix: s.env.Table.NowUnix, want: c.Want}
	ns := cfg.RouteBlockPath()[len(cfg.RouteBlockPath())-1]
	if sc.Route != nil {
		r := s.env.Table.Routes[*sc.Route]
		if fx.routeBlock, fx.hasRoute, err = metadataBlock(r.Metadata, ns); err != nil {
			return nil, err
		}
		if fx.vhostBlock, fx.hasVhost, err = metadataBlock(s.env.Table.VirtualHosts[r.VirtualHost].Metadata, ns); err != nil {
			return nil, err
		}
	}
	fx.path, fx.method = sc.Request.Path, sc.Request.Method
	for _, h := range sc.Request.Headers {
		if strings.EqualFold(h[0], "authorization") {
			if fx.authCount == 0 {
				fx.firstAuth = h[1]
			}
			fx.authCount++
		}
	}
	if c.Remote {
		rv, ok := cfg.Validator.(*validator.Remote)
		if !ok {
			return nil, fmt.Errorf("bench: %s: not a remote validator", c.Name)
		}
		// Warm the stand-in for shared data the way the plugin fills it after the validator answered.
		ch := cfg.Check(fx.requirement(), fx.request())
		if ch.Verdict != policy.NeedsValidation {
			return nil, fmt.Errorf("bench: %s: check gave %v", c.Name, ch.Verdict)
		}
		v, exp, problem := rv.Answer(sc.Validator.Status, []byte(sc.Validator.Body), fx.nowUnix)
		until, ok := cfg.SharedCache().Expiry(v, exp, fx.nowUnix)
		if !ok {
			return nil, fmt.Errorf("bench: %s: answer not cacheable (%s)", c.Name, problem)
		}
		entry, ok := sharedcache.EncodeEntry(ch.Hash, v, until)
		if !ok {
			return nil, fmt.Errorf("bench: %s: entry not encodable", c.Name)
		}
		fx.sharedData = map[string][]byte{cfg.SharedCache().Key(ch.Hash): entry}
	}
	return fx, nil
}

// request is what the decision reads of the scenario's request.
func (fx *nativeFixture) request() policy.Request {
	return policy.Request{Path: fx.path, Method: fx.method, AuthCount: fx.authCount, Authorization: fx.firstAuth}
}

// requirement resolves the route's requirement in the plugin's order (policy.Resolve); the fixture is the
// lookup (the configured routes map is not used by the cases measured here, so the route has no name).
func (fx *nativeFixture) requirement() *policy.Requirement {
	req, _, _ := fx.cfg.Resolve(fx)
	return req
}

// RouteBlock implements policy.Lookup.
func (fx *nativeFixture) RouteBlock() (*policy.Requirement, bool, error) {
	if !fx.hasRoute {
		return nil, false, nil
	}
	return fx.reqs.Get(fx.routeBlock), true, nil
}

// RouteName implements policy.Lookup: the measured routes have no name.
func (fx *nativeFixture) RouteName() ([]byte, bool, error) { return nil, false, nil }

// VirtualHostBlock implements policy.Lookup.
func (fx *nativeFixture) VirtualHostBlock() (*policy.Requirement, bool, error) {
	if !fx.hasVhost {
		return nil, false, nil
	}
	return fx.reqs.Get(fx.vhostBlock), true, nil
}

// decide is the plugin's request path without the host: requirement, Check, then the static lookup or the
// shared-cache read, then Authorize (or Deny). It returns the status the client would get.
func (fx *nativeFixture) decide() (int, error) {
	cfg := fx.cfg
	req := fx.requirement()
	ch := cfg.Check(req, fx.request())
	var d policy.Decision
	if ch.Verdict != policy.NeedsValidation {
		d = cfg.Deny(ch.Verdict, req)
	} else {
		switch v := cfg.Validator.(type) {
		case validator.Local:
			d = cfg.Authorize(req, ch.Kind, v.Lookup(ch.Hash, fx.nowUnix))
		case *validator.Remote:
			val, ok := sharedcache.DecodeEntry(fx.sharedData[cfg.SharedCache().Key(ch.Hash)], ch.Hash, fx.nowUnix)
			if !ok {
				return 0, errors.New("cache miss in the native remote case")
			}
			d = cfg.Authorize(req, ch.Kind, val)
		default:
			d = cfg.Deny(policy.DenyMisconfigured, req)
		}
	}
	if d.Verdict.Allowed() {
		return 200, nil
	}
	return int(d.Reply.Status), nil
}

// Native is case c decided by the policy package alone: the floor of the work the filter does.
func (s *Suite) Native(c Case) Runner {
	var fx *nativeFixture
	return Runner{
		Prepare: func() error {
			var err error
			fx, err = s.native(c)
			return err
		},
		Step: func() error {
			st, err := fx.decide()
			if err == nil && st != fx.want {
				err = fmt.Errorf("native/%s: status %d, want %d", c.Name, st, fx.want)
			}
			return err
		},
	}
}

// authzService is the ext_authz-style alternative: a Go HTTP service on loopback that makes the same
// decision with the same policy package. Envoy's HTTP ext_authz filter sends it the request's method, path
// and allowed headers and forwards or answers depending on its status; the route is passed as a header, as
// a per-route context extension would be.
type authzService struct {
	srv    *http.Server
	ln     net.Listener
	client *http.Client
	base   string
}

const routeHeader = "x-scope-gate-route"

func (s *Suite) authzService() (*authzService, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.authz != nil {
		return s.authz, nil
	}
	cfgBytes, err := s.env.config(Cases[1])
	if err != nil {
		return nil, err
	}
	cfg, err := policy.Parse(cfgBytes)
	if err != nil {
		return nil, err
	}
	static, ok := cfg.Validator.(validator.Local)
	if !ok {
		return nil, errors.New("bench: ext_authz service needs the static reference configuration")
	}
	// Requirements per route name, decoded at start like a service would from its own route table.
	ns := cfg.RouteBlockPath()[len(cfg.RouteBlockPath())-1]
	routes := map[string]*policy.Requirement{}
	for _, r := range s.env.Table.Routes {
		block, found, err := metadataBlock(r.Metadata, ns)
		if err != nil || !found || r.Name == "" {
			continue // not string-only, or resolved by a virtual host: not used by the cases measured here
		}
		routes[r.Name] = cfg.DecodeRequirement(block)
	}
	nowUnix := s.env.Table.NowUnix
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, ok := routes[r.Header.Get(routeHeader)]
		if !ok {
			req = cfg.DefaultRequirement()
		}
		auth := r.Header.Values("Authorization")
		first := ""
		if len(auth) > 0 {
			first = auth[0]
		}
		ch := cfg.Check(req, policy.Request{Path: r.URL.Path, Method: r.Method, AuthCount: len(auth), Authorization: first})
		var d policy.Decision
		if ch.Verdict == policy.NeedsValidation {
			d = cfg.Authorize(req, ch.Kind, static.Lookup(ch.Hash, nowUnix))
		} else {
			d = cfg.Deny(ch.Verdict, req)
		}
		if d.Verdict.Allowed() {
			if d.Verdict == policy.Allow { // identity headers Envoy copies to the upstream request
				w.Header().Set("x-scope-gate-subject", d.Identity.Subject)
				w.Header().Set("x-scope-gate-subject-type", d.Identity.SubjectType)
				w.Header().Set("x-scope-gate-scopes", d.Identity.ScopesText)
			}
			w.WriteHeader(http.StatusOK)
			return
		}
		for _, h := range d.Reply.Headers {
			w.Header().Set(h[0], h[1])
		}
		w.WriteHeader(int(d.Reply.Status))
		_, _ = w.Write(d.Reply.Body)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	a := &authzService{
		srv: &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second},
		ln:  ln,
		// Keep-alive, one connection reused for every call, like Envoy's pooled connection to the service.
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true}, Timeout: 10 * time.Second},
		base:   "http://" + ln.Addr().String(),
	}
	go func() { _ = a.srv.Serve(ln) }()
	s.authz = a
	s.closers = append(s.closers, func() { a.client.CloseIdleConnections(); _ = a.srv.Close() })
	return a, nil
}

// call is one authorization check: a new request with the original method, path and Authorization
// header(s), the whole answer read so the connection goes back to the pool.
func (a *authzService) call(method, path, route string, auth []string) (int, error) {
	req, err := http.NewRequest(method, a.base+path, nil)
	if err != nil {
		return 0, err
	}
	for _, v := range auth {
		req.Header.Add("Authorization", v)
	}
	req.Header.Set(routeHeader, route)
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// ExtAuthz is case c decided by the ext_authz-style service: one loopback HTTP call per request. Client
// and service run in this process, sharing its cores, as a sidecar service shares a node with Envoy.
func (s *Suite) ExtAuthz(c Case) Runner {
	var a *authzService
	var method, path, route string
	var auth []string
	step := func() error {
		st, err := a.call(method, path, route, auth)
		if err == nil && st != c.Want {
			err = fmt.Errorf("ext_authz/%s: status %d, want %d", c.Name, st, c.Want)
		}
		return err
	}
	return Runner{
		Prepare: func() error {
			if c.Remote {
				return errors.New("the ext_authz service is static-table only")
			}
			var err error
			if a, err = s.authzService(); err != nil {
				return err
			}
			sc, err := s.env.scenario(c)
			if err != nil {
				return err
			}
			method, path, route, auth = sc.Request.Method, sc.Request.Path, "", nil
			if sc.Route != nil {
				route = s.env.Table.Routes[*sc.Route].Name
			}
			for _, h := range sc.Request.Headers {
				if strings.EqualFold(h[0], "authorization") {
					auth = append(auth, h[1])
				}
			}
			return step() // warm: opens the pooled connection
		},
		Step: step,
	}
}
