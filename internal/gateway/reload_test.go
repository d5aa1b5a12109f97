package gateway

import (
	"github.com/scope-gate/scope-gate/internal/wasmbuild"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	wasmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/wasm/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/scope-gate/scope-gate/internal/envoyconfig"
)

// guestModule builds envoyhost's test plugin (internal/envoyhost/testdata/guest), which traps on request: the
// scope-gate module never traps on purpose (it recovers panics), and a VM failure is what failure_policy is
// about. Go's build cache makes the second build instant.
func guestModule(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "guest.wasm")
	if _, err := wasmbuild.Reactor(filepath.Join("..", ".."), "./internal/envoyhost/testdata/guest", out); err != nil {
		t.Fatal(err)
	}
	return out
}

// reloadGateway serves the guest module on one VM with the given failure policy.
func reloadGateway(t *testing.T, policy wasmv3.FailurePolicy, base time.Duration) *testGateway {
	t.Helper()
	_, upPort := echoUpstream(t)
	public := map[string]*structpb.Struct{"scope_gate": {Fields: map[string]*structpb.Value{"auth": structpb.NewStringValue("none")}}}
	cfg := buildConfig(t, envoyconfig.BuildSpec{
		ModuleFilename: guestModule(t), UpstreamPort: upPort, PluginConfiguration: []byte(`{}`),
		VirtualHosts: []envoyconfig.BuildVirtualHost{{Name: "vh", Domains: []string{"*"}, Routes: []envoyconfig.BuildRoute{
			{Name: "all", Prefix: "/", Metadata: public},
		}}},
	})
	cfg.Filter.FailurePolicy, cfg.Filter.ReloadBaseInterval = policy, base
	tg, err := startGateway(t, cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// send makes one request; op is the guest's x-op instruction ("" lets the request through).
func (tg *testGateway) send(t *testing.T, op string) (int, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", tg.base+"/", nil)
	if op != "" {
		req.Header.Set("x-op", op)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

// TestFailReload: with FAIL_RELOAD a trapped VM is replaced by a new one on a request that comes at least the
// backoff interval ([base, 1.5*base)) after the VM's last load; sooner, the request gets the failed VM's 503.
func TestFailReload(t *testing.T) {
	// 2 s leaves room on a loaded machine for the three requests that must fit in one interval.
	const base = 2 * time.Second
	tg := reloadGateway(t, wasmv3.FailurePolicy_FAIL_RELOAD, base)
	pastBackoff := func() { time.Sleep(base*3/2 + 100*time.Millisecond) }
	want := func(step string, status int, h http.Header, wantStatus int, upstream bool) {
		t.Helper()
		if status != wantStatus || (h.Get(EchoMarker) != "") != upstream {
			t.Fatalf("%s: status %d (upstream reached: %v), want %d (upstream reached: %v)\naccess log:\n%s\nlog:\n%s",
				step, status, h.Get(EchoMarker) != "", wantStatus, upstream, tg.access, tg.log)
		}
	}
	st, h := tg.send(t, "")
	want("healthy VM", st, h, 200, true)
	pastBackoff() // the VM was loaded more than the largest interval ago
	st, h = tg.send(t, "trap now")
	want("the trapping request", st, h, 503, false)
	reloaded := time.Now()
	st, h = tg.send(t, "")
	want("next request: reloaded at once", st, h, 200, true)
	st, h = tg.send(t, "trap now")
	want("the new VM traps", st, h, 503, false)
	st, h = tg.send(t, "")
	if time.Since(reloaded) >= base {
		t.Fatalf("the machine took %v for three requests, more than the %v interval this step needs", time.Since(reloaded), base)
	}
	want("within the interval since the reload: still the failed VM", st, h, 503, false)
	pastBackoff()
	st, h = tg.send(t, "")
	want("after the interval: reloaded", st, h, 200, true)
	if n := strings.Count(tg.log.String(), "was reloaded as VM"); n != 2 {
		t.Errorf("%d reload lines in the log, want 2:\n%s", n, tg.log)
	}
	if n := len(tg.vmList()); n != 1 {
		t.Errorf("%d VMs running, want 1 (a reloaded VM is closed)", n)
	}
}

// TestFailClosedStaysFailed: with FAIL_CLOSED (or no policy) a trapped VM answers 503 for good.
func TestFailClosedStaysFailed(t *testing.T) {
	tg := reloadGateway(t, wasmv3.FailurePolicy_FAIL_CLOSED, 0)
	if st, _ := tg.send(t, "trap now"); st != 503 {
		t.Fatalf("trapping request: %d, want 503", st)
	}
	time.Sleep(1600 * time.Millisecond) // longer than FAIL_RELOAD's default interval
	if st, h := tg.send(t, ""); st != 503 || h.Get(EchoMarker) != "" {
		t.Fatalf("later request: %d, want 503 without reaching the upstream", st)
	}
	if !strings.Contains(tg.log.String(), "restart serve, or set FAIL_RELOAD") {
		t.Errorf("no failure line in the log:\n%s", tg.log)
	}
}
