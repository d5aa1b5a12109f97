package hardening

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scope-gate/scope-gate/e2e/testkit"
	"github.com/scope-gate/scope-gate/internal/envoyhost"
)

// TestFaultSoak runs mixed traffic through four VMs of one Host (one goroutine per VM, several streams in
// flight per VM, one shared cache) under the envoy-1.33 profile, where poll_oneoff is ENOSYS so a timer or
// a forced GC in the filter would crash it, against a validator that is sometimes too slow, sometimes
// answers 5xx or garbage or resets the connection, and a second cluster that refuses connections, with a
// small cache, short TTLs, a clock that moves, and the host process's GC at GOGC=10.
//
// `go test` runs 20 000 requests; SCOPE_GATE_SOAK=1 (make soak) runs 1 000 000; SCOPE_GATE_SOAK_REQUESTS
// overrides both.
func TestFaultSoak(t *testing.T) {
	total := 20_000
	if os.Getenv("SCOPE_GATE_SOAK") == "1" {
		total = 1_000_000
	}
	if n, err := strconv.Atoi(os.Getenv("SCOPE_GATE_SOAK_REQUESTS")); err == nil && n >= 4_000 {
		total = n
	}
	runSoak(t, total)
}

const (
	soakVMs       = 4
	soakBatch     = 8 // streams in flight per VM at once
	soakTimeoutMS = 40
	soakDeadline  = 10 * time.Second // a stream not finished by then is hung
)

// soakClock is the wall clock the guest sees; it advances one second every clockStep requests.
type soakClock struct{ unix atomic.Int64 }

func (c *soakClock) now() time.Time { return time.Unix(c.unix.Load(), 0) }

const clockStep = 1_000

// flakyValidator answers forward (GET /whoami) and introspection (POST /introspect) calls. Tokens
// containing "_live_" are live. Independently of the token, a call is sometimes slower than timeout_ms,
// answered 5xx or garbage, or reset.
type flakyValidator struct {
	srv   *httptest.Server
	clock *soakClock
	n     atomic.Uint64
	// What the server did, by behaviour (for the log).
	slow, fail5xx, garbage, reset, answered atomic.Int64
}

func newFlakyValidator(t *testing.T, clock *soakClock) *flakyValidator {
	v := &flakyValidator{clock: clock}
	v.srv = httptest.NewServer(http.HandlerFunc(v.serve))
	t.Cleanup(v.srv.Close)
	return v
}

func (v *flakyValidator) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	introspection := r.Method == http.MethodPost
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if introspection {
		token = strings.TrimPrefix(strings.Split(string(body), "&")[0], "token=")
	}
	// splitmix64 of a call counter: a cheap, lock-free, well-mixed behaviour draw.
	x := v.n.Add(1) * 0x9E3779B97F4A7C15
	x = (x ^ x>>30) * 0xBF58476D1CE4E5B9
	x = (x ^ x>>27) * 0x94D049BB133111EB
	switch roll := (x ^ x>>31) % 1000; {
	case roll < 4:
		v.slow.Add(1)
		time.Sleep(3 * soakTimeoutMS * time.Millisecond) // the host gives up first: 504
	case roll < 44:
		v.fail5xx.Add(1)
		w.WriteHeader(500 + int(roll%4))
		return
	case roll < 54:
		v.garbage.Add(1)
		if introspection {
			w.WriteHeader(200)
			_, _ = io.WriteString(w, `{"active":tru`)
		} else {
			w.WriteHeader(302) // a forward endpoint's 3xx is neither valid nor invalid
		}
		return
	case roll < 60:
		v.reset.Add(1)
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		w.WriteHeader(502)
		return
	}
	v.answered.Add(1)
	live := strings.Contains(token, "_live_")
	switch {
	case introspection && live:
		_, _ = fmt.Fprintf(w, `{"active":true,"sub":"s-%s","exp":%d}`, token[len(token)-4:], v.clock.unix.Load()+120)
	case introspection:
		_, _ = io.WriteString(w, `{"active":false}`)
	case live:
		_, _ = fmt.Fprintf(w, `{"sub":"s-%s"}`, token[len(token)-4:])
	default:
		w.WriteHeader(401)
	}
}

// soakClass is a kind of request and the statuses it may get.
type soakClass struct {
	name    string
	allowed []int
}

var (
	classLive        = soakClass{"live", []int{200, 503}}
	classLiveNoScope = soakClass{"live_lacking_scope", []int{403, 503}}
	classInvalid     = soakClass{"invalid", []int{401, 503}}
	classMalformed   = soakClass{"malformed", []int{401}}
	classMissing     = soakClass{"missing", []int{401}}
	classDuplicate   = soakClass{"duplicate", []int{400}}
	classPublic      = soakClass{"public", []int{200}}
	classRefused     = soakClass{"refused_validator", []int{503}}
)

type soakTally struct {
	mu       sync.Mutex
	byStatus map[int]int
	byClass  map[string]int
	public   int // 200s on the public route (the counter "public"), as opposed to "allowed"
}

func runSoak(t *testing.T, total int) {
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	clock := &soakClock{}
	clock.unix.Store(nowUnix)
	validator := newFlakyValidator(t, clock)
	h := newHostClock(t, envoyhost.Envoy133, map[string]string{
		"validator": strings.TrimPrefix(validator.srv.URL, "http://"),
		"refused":   refusedAddr(t),
	}, clock.now)

	kinds := `"token_kinds":[{"prefix":"dfoa_","subject_type":"account","scopes":["full"]},{"prefix":"dfoe_","subject_type":"external_sso","scopes":["apps:run"]}]`
	cache := `"cache":{"ttl_seconds":5,"negative_ttl_seconds":2,"max_entries":16}`
	forward := func(cluster string) string {
		return `{` + kinds + `,` + cache + `,"validator":{"type":"forward","cluster":"` + cluster + `","authority":"idp","path":"/whoami","timeout_ms":` + strconv.Itoa(soakTimeoutMS) + `}}`
	}
	introspection := `{` + kinds + `,` + cache + `,"validator":{"type":"introspection","cluster":"validator","authority":"idp","path":"/introspect","timeout_ms":` + strconv.Itoa(soakTimeoutMS) + `,"client_id":"gw","client_secret":"s3cret"}}`
	// VMs 0 and 1 share a validator configuration, hence cache entries; VM 2 introspects; VM 3's cluster
	// refuses every connection.
	configs := []string{forward("validator"), forward("validator"), introspection, forward("refused")}
	vms := make([]*envoyhost.VM, soakVMs)
	for i := range vms {
		vms[i] = newVM(t, h, configs[i])
	}

	var live, liveSSO, invalidToks []string
	for i := range 48 {
		live = append(live, fmt.Sprintf("dfoa_live_%04d", i))
		liveSSO = append(liveSSO, fmt.Sprintf("dfoe_live_%04d", i))
		invalidToks = append(invalidToks, fmt.Sprintf("dfoa_dead_%04d", i))
	}
	bearerRoute := route("bearer", map[string]any{})
	scopeRoute := route("scoped", map[string]any{"required_scope": "apps:read"})
	publicRoute := route("public", map[string]any{"auth": "none"})

	// hot picks mostly among a few tokens, as real traffic does, so that the cache both hits and churns.
	hot := func(r *rand.Rand, list []string) string {
		if r.IntN(10) < 7 {
			return list[r.IntN(4)]
		}
		return list[r.IntN(len(list))]
	}
	gen := func(r *rand.Rand, vmIndex int) (envoyhost.Request, soakClass) {
		refused := vmIndex == 3
		remote := func(c soakClass) soakClass {
			if refused {
				return classRefused
			}
			return c
		}
		switch x := r.IntN(100); {
		case x < 45:
			return envoyhost.Request{Headers: withAuth("Bearer " + hot(r, live)), Route: bearerRoute}, remote(classLive)
		case x < 55:
			return envoyhost.Request{Headers: withAuth("Bearer " + hot(r, liveSSO)), Route: scopeRoute}, remote(classLiveNoScope)
		case x < 75:
			return envoyhost.Request{Headers: withAuth("Bearer " + hot(r, invalidToks)), Route: bearerRoute}, remote(classInvalid)
		case x < 80:
			return envoyhost.Request{Headers: withAuth("Bearer zz_" + hot(r, live)), Route: bearerRoute}, classMalformed
		case x < 85:
			return envoyhost.Request{Headers: withAuth(), Route: bearerRoute}, classMissing
		case x < 88:
			return envoyhost.Request{Headers: withAuth("Bearer "+hot(r, live), "Bearer "+hot(r, live)), Route: bearerRoute}, classDuplicate
		default:
			return envoyhost.Request{Headers: forged(withAuth()), Route: publicRoute}, classPublic
		}
	}

	tally := &soakTally{byStatus: map[int]int{}, byClass: map[string]int{}}
	perVM := total / soakVMs
	checkpoint := min(10_000, perVM/2)
	memAt := make([]uint32, soakVMs)
	var sent atomic.Int64
	var failed atomic.Bool
	fail := func(format string, args ...any) {
		if failed.CompareAndSwap(false, true) {
			t.Errorf(format, args...)
		}
	}
	before := h.Metrics()
	memStart := make([]uint32, soakVMs)
	for i, vm := range vms {
		memStart[i] = vm.MemorySize()
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i, vm := range vms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), 0x5eed))
			local := map[int]int{}
			classes := map[string]int{}
			public := 0
			for done := 0; done < perVM && !failed.Load(); {
				n := min(soakBatch, perVM-done)
				ctx, cancel := context.WithTimeout(context.Background(), soakDeadline)
				streams := make([]*envoyhost.Stream, n)
				want := make([]soakClass, n)
				for k := range streams {
					var req envoyhost.Request
					req, want[k] = gen(r, i)
					streams[k] = vm.Start(ctx, req)
					if sent.Add(1)%clockStep == 0 {
						clock.unix.Add(1)
					}
				}
				for k, s := range streams {
					res, err := s.Wait(ctx)
					switch {
					case err != nil:
						fail("vm %d request %d (%s): %v", i, done+k, want[k].name, err)
					case res.Trapped != nil || vm.Failed():
						fail("vm %d request %d (%s): trap %v", i, done+k, want[k].name, res.Trapped)
					case !slices.Contains(want[k].allowed, res.Response.Status):
						fail("vm %d request %d: class %s got %d, may only get %v", i, done+k, want[k].name, res.Response.Status, want[k].allowed)
					case res.Upstream != nil && slices.ContainsFunc(res.Upstream.Headers, func(h [2]string) bool { return strings.HasPrefix(h[1], "forged") }):
						fail("vm %d request %d: the upstream saw a forged identity header", i, done+k)
					}
					local[res.Response.Status]++
					classes[want[k].name]++
					if want[k].name == classPublic.name {
						public++
					}
				}
				cancel()
				done += n
				if done >= checkpoint && memAt[i] == 0 {
					memAt[i] = vm.MemorySize()
				}
			}
			tally.mu.Lock()
			for s, c := range local {
				tally.byStatus[s] += c
			}
			for c, n := range classes {
				tally.byClass[c] += n
			}
			tally.public += public
			tally.mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if failed.Load() {
		return
	}
	after := h.Metrics()
	delta := func(name string) int { return int(after["scope_gate."+name] - before["scope_gate."+name]) }
	requests := perVM * soakVMs

	// Counters add up, and agree with what the clients saw.
	sum := 0
	for _, name := range []string{"allowed", "public", "denied_400", "denied_401", "denied_403", "config_error", "unavailable"} {
		sum += delta(name)
	}
	if sum != requests {
		t.Errorf("decision counters add up to %d, want %d requests", sum, requests)
	}
	for _, c := range []struct {
		counter string
		got     int
	}{
		{"allowed", tally.byStatus[200] - tally.public}, {"public", tally.public}, {"denied_400", tally.byStatus[400]},
		{"denied_401", tally.byStatus[401]}, {"denied_403", tally.byStatus[403]}, {"config_error", tally.byStatus[500]},
		{"unavailable", tally.byStatus[503]},
	} {
		if delta(c.counter) != c.got {
			t.Errorf("counter %s = %d, but clients saw %d such answers", c.counter, delta(c.counter), c.got)
		}
	}
	if delta("config_error") != 0 {
		t.Errorf("%d requests failed closed with 500", delta("config_error"))
	}
	if delta("validator_calls") < delta("validator_errors") {
		t.Errorf("validator_calls %d < validator_errors %d", delta("validator_calls"), delta("validator_errors"))
	}
	if delta("validator_calls") > delta("cache_miss") {
		t.Errorf("validator_calls %d > cache_miss %d: a call without a miss", delta("validator_calls"), delta("cache_miss"))
	}
	// Every fault the server injected reached the filter as an error (a timed-out, failed or reset call is
	// never counted as an answer), and the refusing cluster only ever produced errors.
	if delta("validator_errors") == 0 || tally.byStatus[503] == 0 {
		t.Errorf("no validator error was seen: the fault injection is not working (%v)", after)
	}

	var mem []string
	for i, vm := range vms {
		end := vm.MemorySize()
		mem = append(mem, fmt.Sprintf("vm%d %d→%d→%d KiB", i, memStart[i]/1024, memAt[i]/1024, end/1024))
		if memAt[i] == 0 || end > 2*memAt[i] {
			t.Errorf("vm %d: linear memory %d bytes after %d requests, %d at the end: more than 2x", i, memAt[i], checkpoint, end)
		}
	}
	t.Logf("fault soak: %d requests over %d VMs (%d streams in flight per VM) in %v (%.1f µs/request), clock advanced %ds",
		requests, soakVMs, soakBatch, elapsed.Round(time.Millisecond), float64(elapsed.Microseconds())/float64(requests), clock.unix.Load()-nowUnix)
	t.Logf("statuses: %v; classes: %v", tally.byStatus, tally.byClass)
	t.Logf("counters: allowed %d public %d denied_400 %d denied_401 %d denied_403 %d config_error %d unavailable %d; cache hit %d miss %d; validator calls %d errors %d",
		delta("allowed"), delta("public"), delta("denied_400"), delta("denied_401"), delta("denied_403"), delta("config_error"), delta("unavailable"),
		delta("cache_hit"), delta("cache_miss"), delta("validator_calls"), delta("validator_errors"))
	t.Logf("validator server: answered %d, slow %d, 5xx %d, garbage %d, reset %d", validator.answered.Load(), validator.slow.Load(),
		validator.fail5xx.Load(), validator.garbage.Load(), validator.reset.Load())
	t.Logf("linear memory start→after %d→end: %s", checkpoint, strings.Join(mem, ", "))
}

func refusedAddr(t testing.TB) string {
	addr, err := testkit.RefusedAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}
