package plugin

import (
	"strings"
	"testing"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/scope-gate/scope-gate/filter/bearer"
	"github.com/scope-gate/scope-gate/filter/pairs"
	"github.com/scope-gate/scope-gate/filter/policy"
)

// These native tests run the glue under the SDK's proxytest emulator. They pin what the wasm scenario suite
// cannot reach from outside the module: a panic inside a callback. Everything else is covered against the
// compiled module in e2e/scenarios.

const publicConfig = `{"default_route":"public"}`

func newEmulator(t *testing.T, config string, props map[string][]byte) (proxytest.HostEmulator, func()) {
	t.Helper()
	opt := proxytest.NewEmulatorOption().WithVMContext(NewVMContext()).WithPluginConfiguration([]byte(config))
	for path, v := range props {
		opt = opt.WithProperty(strings.Split(path, "."), v)
	}
	host, reset := proxytest.NewHostEmulator(opt)
	if st := host.StartPlugin(); st != types.OnPluginStartStatusOK {
		reset()
		t.Fatalf("StartPlugin = %v", st)
	}
	return host, reset
}

func TestPanicInRequestHeadersAnswers500(t *testing.T) {
	host, reset := newEmulator(t, publicConfig, nil)
	defer reset()
	testHookRequestHeaders = func() { panic("injected") }
	defer func() { testHookRequestHeaders = nil }()

	id := host.InitializeHttpContext()
	action := host.CallOnRequestHeaders(id, [][2]string{{":path", "/"}}, true)
	if action != types.ActionPause {
		t.Fatalf("action = %v, want Pause (fail closed)", action)
	}
	resp := host.GetSentLocalResponse(id)
	if resp == nil || resp.StatusCode != 500 {
		t.Fatalf("local response = %+v, want 500", resp)
	}
	if want := `{"code":"internal_server_error","message":"Internal Server Error","status":500}`; string(resp.Data) != want {
		t.Fatalf("body %s", resp.Data)
	}
	if !strings.Contains(strings.Join(host.GetErrorLogs(), "\n"), "panic in OnHttpRequestHeaders: injected") {
		t.Fatalf("no error log for the panic: %v", host.GetErrorLogs())
	}
}

func TestPublicDefaultContinues(t *testing.T) {
	host, reset := newEmulator(t, publicConfig, nil)
	defer reset()
	id := host.InitializeHttpContext()
	if action := host.CallOnRequestHeaders(id, [][2]string{{":path", "/"}, {"x-scope-gate-subject", "admin"}}, true); action != types.ActionContinue {
		t.Fatalf("action = %v", action)
	}
	for _, h := range host.GetCurrentRequestHeaders(id) {
		if h[0] == "x-scope-gate-subject" {
			t.Fatal("spoofed identity header not removed")
		}
	}
}

func TestRouteBlockIsRead(t *testing.T) {
	block := pairs.EncodeStrings("required_scope", "apps:read")
	// Without the block the default (public) would let the request through; with it, a token is required.
	config := `{"default_route":"public","validator":{"type":"static","tokens":[]}}`
	host, reset := newEmulator(t, config, map[string][]byte{"xds.route_metadata.filter_metadata.scope_gate": block})
	defer reset()
	id := host.InitializeHttpContext()
	host.CallOnRequestHeaders(id, [][2]string{{":path", "/"}}, true)
	if resp := host.GetSentLocalResponse(id); resp == nil || resp.StatusCode != 401 {
		t.Fatalf("local response = %+v, want 401", resp)
	}
}

func TestBadConfigurationRejected(t *testing.T) {
	opt := proxytest.NewEmulatorOption().WithVMContext(NewVMContext()).WithPluginConfiguration([]byte(`{"mode":"audit"}`))
	host, reset := proxytest.NewHostEmulator(opt)
	defer reset()
	if st := host.StartPlugin(); st != types.OnPluginStartStatusFailed {
		t.Fatalf("StartPlugin = %v, want failed", st)
	}
	if logs := strings.Join(host.GetCriticalLogs(), "\n"); !strings.Contains(logs, `$.mode: must be "enforce" or "report", got "audit"`) {
		t.Fatalf("critical logs: %s", logs)
	}
}

// A second failure inside failClosed (here: no reply to send) is recovered and must still pause: the zero
// Action is Continue, which would forward the request unchecked.
func TestFailClosedSurvivesASecondPanic(t *testing.T) {
	host, reset := newEmulator(t, publicConfig, nil)
	defer reset()
	testHookRequestHeaders = func() { panic("injected") }
	saved := failReply
	failReply = nil // failClosed's own reply now panics
	defer func() { testHookRequestHeaders, failReply = nil, saved }()

	id := host.InitializeHttpContext()
	if action := host.CallOnRequestHeaders(id, [][2]string{{":path", "/"}}, true); action != types.ActionPause {
		t.Fatalf("action = %v after a panic while failing closed, want Pause", action)
	}
}

// While a remote validation is in flight the request body (and trailers) must not let the request through:
// with Envoy's allow_on_headers_stop_iteration, body callbacks run while the headers are paused.
func TestBodyHeldUntilTheDecision(t *testing.T) {
	config := `{"default_route":"bearer","validator":{"type":"forward","cluster":"api","authority":"api","path":"/whoami"}}`
	host, reset := newEmulator(t, config, nil)
	id := host.InitializeHttpContext()
	headers := [][2]string{{":path", "/"}, {":method", "POST"}, {"authorization", "Bearer tok-1234567890"}}
	if action := host.CallOnRequestHeaders(id, headers, false); action != types.ActionPause {
		t.Fatalf("headers: %v, want Pause while the validator is asked", action)
	}
	if action := host.CallOnRequestBody(id, []byte("payload"), true); action != types.ActionPause {
		t.Fatalf("body while validating: %v, want Pause", action)
	}
	if action := host.CallOnRequestTrailers(id, nil); action != types.ActionPause {
		t.Fatalf("trailers while validating: %v, want Pause", action)
	}

	reset() // one emulator at a time: proxytest holds a global lock until reset

	// A public route is released at once, and its body flows.
	pub, resetPub := newEmulator(t, publicConfig, nil)
	defer resetPub()
	id = pub.InitializeHttpContext()
	if action := pub.CallOnRequestHeaders(id, [][2]string{{":path", "/"}}, false); action != types.ActionContinue {
		t.Fatalf("public headers: %v", action)
	}
	if action := pub.CallOnRequestBody(id, []byte("payload"), true); action != types.ActionContinue {
		t.Fatalf("public body: %v, want Continue", action)
	}
}

// A stream object released at proxy_on_delete is reused by the next stream with nothing of the previous
// request: not its "released" flag (which lets body callbacks through), its flight, its parked check (the
// JWT module keeps a token copy there) or its requirement. The emulator never reports deletes, so the
// release is driven here as the bridge drives it: proxy_on_log, then proxy_on_delete.
func TestReusedStreamObjectStartsClean(t *testing.T) {
	p := &pluginContext{inflight: map[bearer.Hash]*flight{}}
	h := p.NewHttpContext(7).(*httpContext)
	f := &flight{p: p}
	h.released, h.waiting, h.req = true, f, &policy.Requirement{Public: true}
	h.check = policy.Check{Verdict: policy.NeedsValidation, Token: "tok-previous-request"}
	f.waiters = []*httpContext{h}
	h.OnHttpStreamDone()
	release(7)
	if len(f.waiters) != 0 {
		t.Fatalf("the released stream still waits on its flight: %d waiters", len(f.waiters))
	}
	next := p.NewHttpContext(8).(*httpContext)
	if next != h {
		t.Fatal("the released object was not reused (the test would prove nothing)")
	}
	if next.id != 8 || next.p != p || next.released || next.waiting != nil || next.req != nil || next.ended ||
		next.check != (policy.Check{}) {
		t.Fatalf("reused object carries the previous request: %+v", *next)
	}
	if a := next.OnHttpRequestBody(10, false); a != types.ActionPause {
		t.Fatalf("body of a new stream before its decision: %v, want Pause", a)
	}
}

// The remembered route block is keyed by its whole bytes and by the configuration it was decoded under: a
// block that only shares a prefix with the remembered one, an empty block, and the same bytes under a new
// configuration (a plugin update) each get their own requirement, never the remembered one.
func TestBlockMemoNeverServesAnotherBlock(t *testing.T) {
	cfg, err := policy.Parse([]byte(`{"validator":{"type":"static","tokens":[]}}`))
	if err != nil {
		t.Fatal(err)
	}
	reqs := policy.NewRequirementCache(cfg, 16)
	var m blockMemo
	scoped := pairs.EncodeStrings("required_scope", "apps:read")
	if r := m.get(reqs, scoped); r.Problem != "" || r.ScopeText != "apps:read" {
		t.Fatalf("scoped block: %+v", *r)
	}
	longer := append(append([]byte(nil), scoped...), "trailing"...) // the remembered bytes are its prefix
	if r := m.get(reqs, longer); r.Problem == "" {
		t.Fatalf("a block with trailing bytes got a decision: %+v", *r)
	}
	if r := m.get(reqs, scoped[:len(scoped)-1]); r.Problem == "" { // a prefix of the remembered bytes
		t.Fatalf("a truncated block got a decision: %+v", *r)
	}
	public := pairs.EncodeStrings("auth", "none")
	if r := m.get(reqs, public); !r.Public {
		t.Fatalf("public block: %+v", *r)
	}
	if r := m.get(reqs, nil); r.Public || r.Problem == "" {
		t.Fatalf("an empty block after a public one: %+v, want misconfigured", *r)
	}
	m.get(reqs, public)
	other := policy.NewRequirementCache(cfg, 16) // a new configuration: same bytes, decoded again
	if r := m.get(other, public); !r.Public || m.reqs != other {
		t.Fatalf("after a configuration change: %+v, memo of the old cache kept", *r)
	}
}

func TestStatusOf(t *testing.T) {
	for _, tc := range []struct {
		headers [][2]string
		want    int
	}{
		{nil, 0},
		{[][2]string{{":status", "200"}}, 200},
		{[][2]string{{"x", "1"}, {":status", "503"}}, 503},
		{[][2]string{{":status", "200"}, {":status", "401"}}, 401},
		{[][2]string{{":status", "20"}}, 0},
		{[][2]string{{":status", "2000"}}, 0},
		{[][2]string{{":status", "+20"}}, 0},
		{[][2]string{{":status", "099"}}, 0},
		{[][2]string{{":status", "2a0"}}, 0},
		{[][2]string{{":Status", "200"}}, 0},
	} {
		if got := statusOf(tc.headers); got != tc.want {
			t.Errorf("statusOf(%q) = %d, want %d", tc.headers, got, tc.want)
		}
	}
}
