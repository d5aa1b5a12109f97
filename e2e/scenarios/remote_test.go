package scenarios

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scope-gate/scope-gate/e2e/testkit"
	"github.com/scope-gate/scope-gate/internal/envoyhost"
)

// Sequences the scenario table cannot express: what the shared cache remembers across requests, VMs and
// time, and what single flight saves.

// countingServer answers every validation with answer(token) and counts calls per token.
type countingServer struct {
	srv    *httptest.Server
	delay  time.Duration
	calls  atomic.Int64
	answer func(token string) (int, string)
}

func newCountingServer(t *testing.T, delay time.Duration, answer func(token string) (int, string)) *countingServer {
	c := &countingServer{delay: delay, answer: answer}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.calls.Add(1)
		time.Sleep(c.delay)
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if r.Method == http.MethodPost {
			body, _ := io.ReadAll(r.Body)
			form := strings.Split(string(body), "&")[0]
			tok = strings.TrimPrefix(form, "token=")
		}
		status, body := c.answer(tok)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *countingServer) addr() string { return strings.TrimPrefix(c.srv.URL, "http://") }

func remoteHost(t *testing.T, clk *testkit.Clock, srv *countingServer) *envoyhost.Host {
	t.Helper()
	h, err := envoyhost.NewHost(context.Background(), wasmBytes, envoyhost.Options{
		Profile: envoyhost.Envoy133, Clusters: map[string]string{"validator": srv.addr()},
		Now: clk.Now, CompilationCacheDir: testkit.CompilationCacheDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	return h
}

func remoteVM(t *testing.T, h *envoyhost.Host, config string) *envoyhost.VM {
	t.Helper()
	vm, err := h.NewVM(context.Background(), testkit.PluginConfig([]byte(config)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = vm.Close(context.Background()) })
	return vm
}

const forwardCfg = `{"token_kinds":[{"prefix":"dfoa_","subject_type":"account","scopes":["full"]}],
 "validator":{"type":"forward","cluster":"validator","authority":"api","path":"/whoami","timeout_ms":2000},
 "cache":{"ttl_seconds":60,"negative_ttl_seconds":10,"max_entries":%d}}`

const introspectCfg = `{"token_kinds":[{"prefix":"dfoa_","subject_type":"account","scopes":["full"]}],
 "validator":{"type":"introspection","cluster":"validator","authority":"idp","path":"/introspect","timeout_ms":2000},
 "cache":{"ttl_seconds":60,"negative_ttl_seconds":10}}`

func bearerRequest(token string) envoyhost.Request {
	r := Scenario{Request: Request{Method: "GET", Path: "/openapi/v1/account", Headers: [][2]string{{"authorization", "Bearer " + token}}}}
	route := "account"
	r.Route = &route
	return envoyRequest(r)
}

func mustStatus(t *testing.T, vm *envoyhost.VM, token string, want int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := vm.Do(ctx, bearerRequest(token))
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	if res.Response.Status != want {
		t.Fatalf("status %d, want %d (%s)", res.Response.Status, want, body(res))
	}
}

func liveToken(tok string) (int, string) {
	if strings.HasSuffix(tok, "live") {
		return 200, `{"sub":"` + tok[len(tok)-8:] + `"}`
	}
	return 401, `{}`
}

func TestCacheSharedAcrossVMs(t *testing.T) {
	clk := testkit.NewClock(table.NowUnix)
	srv := newCountingServer(t, 0, liveToken)
	h := remoteHost(t, clk, srv)
	vm1, vm2 := remoteVM(t, h, fmt.Sprintf(forwardCfg, 100)), remoteVM(t, h, fmt.Sprintf(forwardCfg, 100))
	tok := "dfoa_shared_token_live"
	mustStatus(t, vm1, tok, 200)
	gets0, _ := h.SharedDataCalls()
	mustStatus(t, vm2, tok, 200)
	gets1, sets1 := h.SharedDataCalls()
	if n := srv.calls.Load(); n != 1 {
		t.Fatalf("validator called %d times, want 1: the second VM did not use the shared cache", n)
	}
	if h.Counter("scope_gate.cache_hit") != 1 || h.Counter("scope_gate.cache_miss") != 1 {
		t.Fatalf("hit/miss = %d/%d", h.Counter("scope_gate.cache_hit"), h.Counter("scope_gate.cache_miss"))
	}
	if gets1-gets0 != 1 {
		t.Fatalf("a cached request made %d shared-data reads, want 1", gets1-gets0)
	}
	_ = sets1
}

func TestNegativeEntryHonouredThenExpires(t *testing.T) {
	clk := testkit.NewClock(table.NowUnix)
	srv := newCountingServer(t, 0, liveToken)
	vm := remoteVM(t, remoteHost(t, clk, srv), fmt.Sprintf(forwardCfg, 100))
	tok := "dfoa_revoked_token"
	mustStatus(t, vm, tok, 401)
	clk.Advance(9)
	mustStatus(t, vm, tok, 401)
	if n := srv.calls.Load(); n != 1 {
		t.Fatalf("negative entry not honoured: %d calls", n)
	}
	clk.Advance(1) // negative_ttl_seconds (10) elapsed
	mustStatus(t, vm, tok, 401)
	if n := srv.calls.Load(); n != 2 {
		t.Fatalf("negative entry outlived its ttl: %d calls", n)
	}
}

func TestExpCapsTTL(t *testing.T) {
	clk := testkit.NewClock(table.NowUnix)
	srv := newCountingServer(t, 0, func(string) (int, string) {
		return 200, fmt.Sprintf(`{"active":true,"exp":%d}`, table.NowUnix+2)
	})
	vm := remoteVM(t, remoteHost(t, clk, srv), introspectCfg)
	tok := "dfoa_short_lived"
	mustStatus(t, vm, tok, 200)
	clk.Advance(1)
	mustStatus(t, vm, tok, 200)
	if n := srv.calls.Load(); n != 1 {
		t.Fatalf("entry not served before exp: %d calls", n)
	}
	clk.Advance(1)              // the token's exp: the entry must not be served any more, though ttl_seconds is 60
	mustStatus(t, vm, tok, 401) // the server still answers with an exp now in the past
	if n := srv.calls.Load(); n != 2 {
		t.Fatalf("entry served past the token's exp: %d calls", n)
	}
}

func TestSingleFlight(t *testing.T) {
	clk := testkit.NewClock(table.NowUnix)
	srv := newCountingServer(t, 300*time.Millisecond, liveToken)
	h := remoteHost(t, clk, srv)
	vm := remoteVM(t, h, fmt.Sprintf(forwardCfg, 100))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const n = 50
	streams := make([]*envoyhost.Stream, n)
	for i := range streams {
		streams[i] = vm.Start(ctx, bearerRequest("dfoa_single_flight_live"))
	}
	for i, s := range streams {
		res, err := s.Wait(ctx)
		if err != nil || res.Response.Status != 200 {
			t.Fatalf("stream %d: %v status %d", i, err, res.Response.Status)
		}
	}
	if c := srv.calls.Load(); c != 1 {
		t.Fatalf("%d concurrent requests for one token made %d calls, want 1", n, c)
	}
	if h.Counter("scope_gate.validator_calls") != 1 || h.Counter("scope_gate.allowed") != n {
		t.Fatalf("metrics %v", h.Metrics())
	}
}

// TestSingleFlightSurvivesCallerReset: the stream that started a validation goes away; the streams that
// joined its flight still get their answer from that one call. In Envoy every proxy_http_call belongs to
// the root context (cpp-host src/exports.cc http_call), so the answer arrives whatever became of the stream.
func TestSingleFlightSurvivesCallerReset(t *testing.T) {
	clk := testkit.NewClock(table.NowUnix)
	srv := newCountingServer(t, 300*time.Millisecond, liveToken)
	vm := remoteVM(t, remoteHost(t, clk, srv), fmt.Sprintf(forwardCfg, 100))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	first := vm.Start(ctx, bearerRequest("dfoa_caller_goes_away_live"))
	time.Sleep(50 * time.Millisecond) // let the first stream dispatch the call
	others := []*envoyhost.Stream{vm.Start(ctx, bearerRequest("dfoa_caller_goes_away_live")), vm.Start(ctx, bearerRequest("dfoa_caller_goes_away_live"))}
	time.Sleep(50 * time.Millisecond)
	first.ResetByClient()
	if res, err := first.Wait(ctx); err != nil || !res.ClientReset {
		t.Fatalf("first stream: %v %+v", err, res)
	}
	for i, s := range others {
		res, err := s.Wait(ctx)
		if err != nil || res.Response.Status != 200 {
			t.Fatalf("waiting stream %d: %v status %d", i, err, res.Response.Status)
		}
	}
	if n := srv.calls.Load(); n != 1 {
		t.Fatalf("%d validator calls, want the first stream's one call to answer all", n)
	}
	if vm.Failed() {
		t.Fatal("VM failed")
	}
}

// TestAnswerNotAppliedToReusedStreamObject: stream objects are reused after proxy_on_delete
// (filter/wasm/plugin, NewHttpContext). A stream that goes away while its validation is pending, and whose
// object a new stream takes before that validation answers, must not hand the answer to the new stream: the
// first token is revoked (401), the second is live, and the second stream must reach the upstream with its
// own subject, after its own call.
func TestAnswerNotAppliedToReusedStreamObject(t *testing.T) {
	clk := testkit.NewClock(table.NowUnix)
	srv := newCountingServer(t, 400*time.Millisecond, liveToken)
	vm := remoteVM(t, remoteHost(t, clk, srv), fmt.Sprintf(forwardCfg, 100))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	gone := vm.Start(ctx, bearerRequest("dfoa_gone_revoked"))
	time.Sleep(50 * time.Millisecond) // the revoked token's call is dispatched; its 401 comes at ~400 ms
	gone.ResetByClient()
	if res, err := gone.Wait(ctx); err != nil || !res.ClientReset {
		t.Fatalf("reset stream: %v %+v", err, res)
	}
	// The only stream object released so far is the reset stream's: this stream takes it, and is still
	// waiting for its own answer (~450 ms) when the revoked token's 401 arrives.
	next := vm.Start(ctx, bearerRequest("dfoa_next_one_live"))
	res, err := next.Wait(ctx)
	if err != nil || res.Response.Status != 200 || res.Upstream == nil {
		t.Fatalf("new stream: %v status %d (%s)", err, res.Response.Status, body(res))
	}
	var subject string
	for _, kv := range res.Upstream.Headers {
		if kv[0] == "x-scope-gate-subject" {
			subject = kv[1]
		}
	}
	if subject != "one_live" {
		t.Fatalf("upstream subject %q, want the new stream's own (one_live)", subject)
	}
	if n := srv.calls.Load(); n != 2 {
		t.Fatalf("%d validator calls, want 2 (one per token)", n)
	}
	if vm.Failed() {
		t.Fatal("VM failed")
	}
}

func TestCacheEvictionBounded(t *testing.T) {
	clk := testkit.NewClock(table.NowUnix)
	srv := newCountingServer(t, 0, liveToken)
	h := remoteHost(t, clk, srv)
	vm := remoteVM(t, h, fmt.Sprintf(forwardCfg, 4))
	for i := 0; i < 40; i++ {
		tok := fmt.Sprintf("dfoa_evict_%02d", i)
		want := 401
		if i%2 == 0 {
			tok += "_live"
			want = 200
		}
		mustStatus(t, vm, tok, want)
		mustStatus(t, vm, tok, want) // served from the slot or re-validated, never answered for another token
	}
	var cacheKeys int
	for _, k := range h.SharedDataKeys("scope_gate") {
		if strings.HasPrefix(k, "scope_gate.cache.") {
			cacheKeys++
		}
	}
	if cacheKeys == 0 || cacheKeys > 4 {
		t.Fatalf("%d cache keys with max_entries 4", cacheKeys)
	}
}

// TestConcurrentWritersAcrossVMs: four VMs validate an overlapping set of tokens at once, through a cache
// with fewer slots than tokens, so writers race on the same slots. Every answer must still be the token's
// own: a slot never answers for another token, and CAS conflicts never fail a request.
func TestConcurrentWritersAcrossVMs(t *testing.T) {
	clk := testkit.NewClock(table.NowUnix)
	srv := newCountingServer(t, 2*time.Millisecond, liveToken)
	h := remoteHost(t, clk, srv)
	var vms []*envoyhost.VM
	for i := 0; i < 4; i++ {
		vms = append(vms, remoteVM(t, h, fmt.Sprintf(forwardCfg, 3)))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4*60)
	for i, vm := range vms {
		wg.Add(1)
		go func(i int, vm *envoyhost.VM) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for j := 0; j < 60; j++ {
				k := (i*7 + j) % 10
				tok, want := fmt.Sprintf("dfoa_race_%d", k), 401
				if k%2 == 0 {
					tok, want = tok+"_live", 200
				}
				res, err := vm.Do(ctx, bearerRequest(tok))
				if err != nil || res.Response.Status != want {
					errs <- fmt.Errorf("vm %d token %d: %v status %d want %d", i, k, err, res.Response.Status, want)
					return
				}
			}
		}(i, vm)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// BenchmarkRemoteCacheHit is the cost of a request answered from the shared cache (one shared-data read),
// in the stand-in with the compiler engine, against a static-table request in the same run.
func BenchmarkRemoteCacheHit(b *testing.B) {
	clk := testkit.NewClock(table.NowUnix)
	srv := newCountingServer(&testing.T{}, 0, liveToken)
	defer srv.srv.Close()
	h, err := envoyhost.NewHost(context.Background(), wasmBytes, envoyhost.Options{
		Profile: envoyhost.Envoy139, Clusters: map[string]string{"validator": srv.addr()}, Now: clk.Now,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close(context.Background())
	for _, bc := range []struct {
		name, config, token string
	}{
		{"static", string(table.Configs["reference"]), table.Tokens["account"].Token},
		{"remote_cache_hit", fmt.Sprintf(forwardCfg, 100), "dfoa_bench_token_live"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			vm, err := h.NewVM(context.Background(), testkit.PluginConfig([]byte(bc.config)))
			if err != nil {
				b.Fatal(err)
			}
			defer vm.Close(context.Background())
			req := bearerRequest(bc.token)
			ctx := context.Background()
			if res, err := vm.Do(ctx, req); err != nil || res.Response.Status != 200 {
				b.Fatalf("warm-up: %v %d", err, res.Response.Status)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if res, err := vm.Do(ctx, req); err != nil || res.Response.Status != 200 {
					b.Fatalf("%v %d", err, res.Response.Status)
				}
			}
		})
	}
	_ = json.Valid
}
