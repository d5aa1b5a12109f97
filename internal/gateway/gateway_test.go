package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/scope-gate/scope-gate/internal/envoyconfig"
)

const envoyYAML = "../../envoy/envoy.yaml"

// envoyYAMLConfig is envoy/envoy.yaml on loopback ports, with the module under test and backend at upstream.
func envoyYAMLConfig(t *testing.T, upstream string) *Config {
	t.Helper()
	cfg, err := Load(envoyYAML)
	if err != nil {
		t.Fatalf("serve refuses envoy/envoy.yaml: %v", err)
	}
	cfg.ListenAddress, cfg.AdminAddress = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Filter.ModuleFilename = wasmPath
	cfg.Clusters["backend"].Endpoints = []string{upstream}
	return cfg
}

// TestStartErrors: a taken port and a missing module are one clear line each.
func TestStartErrors(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cases := []struct {
		name string
		edit func(*Config)
		want []string
	}{
		{"listener port taken", func(c *Config) { c.ListenAddress = taken.Addr().String() },
			[]string{`listener "ingress" ($.static_resources.listeners[0].address): cannot listen on ` + taken.Addr().String() + ": bind: address already in use"}},
		{"admin port taken", func(c *Config) { c.AdminAddress = taken.Addr().String() },
			[]string{"admin ($.admin.address): cannot listen on " + taken.Addr().String() + ": bind: address already in use"}},
		{"module missing (relative)", func(c *Config) { c.Filter.ModuleFilename = "build/no-such.wasm" },
			[]string{".vm_config.code.local.filename: module build/no-such.wasm not found (run `make build`; as in Envoy, the path is relative to the working directory "}},
		{"module missing (absolute)", func(c *Config) { c.Filter.ModuleFilename = "/nonexistent/scope-gate.wasm" },
			[]string{"module /nonexistent/scope-gate.wasm not found (run `make build`)"}},
		{"not a module", func(c *Config) { c.Filter.ModuleFilename = envoyYAML },
			[]string{".vm_config.code.local.filename: cannot load the module: "}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := envoyYAMLConfig(t, "127.0.0.1:1")
			c.edit(cfg)
			_, err := startGateway(t, cfg, 1)
			if err == nil {
				t.Fatal("started")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q\nwant it to contain %q", msg, w)
				}
			}
		})
	}
}

// TestDemoTokensMatchEnvoyYAML: each demo token's SHA-256 is in envoy.yaml's static validator, and the
// validator lists no token the demo does not know.
func TestDemoTokensMatchEnvoyYAML(t *testing.T) {
	b, err := envoyconfig.LoadBootstrap(envoyYAML)
	if err != nil {
		t.Fatal(err)
	}
	filters, err := envoyconfig.FindFilters(b)
	if err != nil || len(filters) != 1 {
		t.Fatalf("FindFilters: %v (%d filters)", err, len(filters))
	}
	var conf struct {
		Validator struct {
			Tokens []struct {
				SHA256 string `json:"sha256"`
			} `json:"tokens"`
		} `json:"validator"`
	}
	if err := json.Unmarshal(filters[0].Configuration, &conf); err != nil {
		t.Fatal(err)
	}
	configured := map[string]bool{}
	for _, tok := range conf.Validator.Tokens {
		configured[strings.ToLower(tok.SHA256)] = true
	}
	demo := map[string]bool{}
	for _, d := range DemoTokens {
		sum := sha256.Sum256([]byte(d.Token))
		h := hex.EncodeToString(sum[:])
		demo[h] = true
		if !configured[h] {
			t.Errorf("demo token %.12s...: its SHA-256 %s is not in envoy.yaml's static validator", d.Token, h)
		}
	}
	for h := range configured {
		if !demo[h] {
			t.Errorf("envoy.yaml's validator lists %s, which no demo token hashes to", h)
		}
	}
}

// TestDemoRequests: every curl line of the `make run` banner gets the status it promises, and an allowed
// request shows the identity headers at the echo upstream.
func TestDemoRequests(t *testing.T) {
	up, _ := echoUpstream(t)
	tg, err := startGateway(t, envoyYAMLConfig(t, up.Listener.Addr().String()), 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range DemoRequests {
		t.Run(d.About, func(t *testing.T) {
			req, _ := http.NewRequest(d.Method, tg.base+d.Path, nil)
			if d.Host != "" {
				req.Host = d.Host
			}
			if d.Token != "" {
				req.Header.Set("Authorization", "Bearer "+d.Token)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != d.Status {
				t.Fatalf("%s: status %d, want %d (%s)", d.Curl(tg.base), resp.StatusCode, d.Status, body)
			}
			if d.Path == "/openapi/v1/account" && d.Status == 200 && !strings.Contains(string(body), `"x-scope-gate-subject"`) {
				t.Fatalf("the echo does not show the identity headers: %s", body)
			}
		})
	}
	if !strings.Contains(tg.access.String(), `route=healthz decision="filter disabled"`) {
		t.Errorf("access log has no filter-disabled line:\n%s", tg.access.String())
	}
}

// TestAccessLogAndAdmin: one line per request with route, status and decision, never the token or the
// query; /ready and /stats answer like Envoy's admin.
func TestAccessLogAndAdmin(t *testing.T) {
	up, _ := echoUpstream(t)
	tg, err := startGateway(t, envoyYAMLConfig(t, up.Listener.Addr().String()), 1)
	if err != nil {
		t.Fatal(err)
	}
	const secretQuery = "access_token=dfoa_demoReaderToken0000000000000000000000000000"
	send := func(method, path, token string) {
		req, _ := http.NewRequest(method, tg.base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	send("GET", "/openapi/v1/apps?"+secretQuery, DemoTokens[1].Token)
	send("POST", "/openapi/v1/oauth/device/code", "")
	send("GET", "/openapi/v1/apps", "dfoa_notAToken000000000000000000000000000000")
	send("POST", "/openapi/v1/apps/1/run", DemoTokens[1].Token)
	lines := strings.Split(strings.TrimSpace(tg.access.String()), "\n")
	want := []string{
		`"GET /openapi/v1/apps?… HTTP/1.1" 200 route=apps_read decision="allowed"`,
		`"POST /openapi/v1/oauth/device/code HTTP/1.1" 200 route=device_flow decision="public"`,
		`"GET /openapi/v1/apps HTTP/1.1" 401 route=apps_read decision="401 scope_gate_invalid_bearer"`,
		`"POST /openapi/v1/apps/1/run HTTP/1.1" 403 route=apps_run decision="403 scope_gate_insufficient_scope"`,
	}
	if len(lines) != len(want) {
		t.Fatalf("access log has %d lines, want %d:\n%s", len(lines), len(want), tg.access.String())
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) || !strings.HasSuffix(lines[i], "ms") {
			t.Errorf("access log line %d:\n got  %s\n want ...%s ...ms", i, lines[i], w)
		}
	}
	if strings.Contains(tg.access.String(), "dfoa_") {
		t.Errorf("the access log contains a token:\n%s", tg.access.String())
	}
	resp, err := http.Get(tg.admin + "/ready")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/ready: %v %v", resp, err)
	}
	resp.Body.Close()
	// Envoy's text /stats keeps the wasmcustom namespace; its Prometheus format strips it and adds no
	// "envoy_" prefix (stats.go cites the Envoy source).
	for _, c := range []struct{ path, want string }{
		{"/stats?filter=scope_gate%5C.(allowed|public)", "wasmcustom.scope_gate.allowed: 1\nwasmcustom.scope_gate.public: 1\n"},
		{"/stats/prometheus?filter=scope_gate%5C.(allowed|public)",
			"# TYPE scope_gate_allowed counter\nscope_gate_allowed{} 1\n# TYPE scope_gate_public counter\nscope_gate_public{} 1\n"},
		// The filter sees the stored name, namespace included, as Envoy's does.
		{"/stats?filter=%5Ewasmcustom%5C.scope_gate%5C.denied_401%24", "wasmcustom.scope_gate.denied_401: 1\n"},
		{"/stats?filter=%5Escope_gate", ""},
	} {
		resp, err = http.Get(tg.admin + c.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := string(body); resp.StatusCode != 200 || got != c.want {
			t.Errorf("%s = %d %q, want 200 %q", c.path, resp.StatusCode, got, c.want)
		}
	}
}

// TestPrometheusNames: Envoy's Prometheus naming of custom-namespace stats: sanitized, no "envoy_" prefix,
// dropped when Prometheus would refuse the name.
func TestPrometheusNames(t *testing.T) {
	for in, want := range map[string]string{
		"scope_gate.allowed":    "scope_gate_allowed",
		"scope_gate.denied_401": "scope_gate_denied_401",
		"a-b/c:d":               "a_b_c_d",
		"1st":                   "",
		"":                      "",
		"_x":                    "_x",
	} {
		if got := prometheusName(in); got != want {
			t.Errorf("prometheusName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestProxying: bodies stream both ways unbuffered, upstream failures answer as Envoy's router does, and
// a client that does not wait does not hold a VM.
func TestProxying(t *testing.T) {
	release := make(chan struct{})
	var gotBody atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/upload", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		gotBody.Store(n)
		w.WriteHeader(201)
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		<-release
		_, _ = io.WriteString(w, "second\n")
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) { time.Sleep(2 * time.Second) })
	up := &http.Server{Handler: mux}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() { _ = up.Serve(ln) }()
	t.Cleanup(func() { _ = up.Close() })
	upPort := uint32(ln.Addr().(*net.TCPAddr).Port)

	public := map[string]*structpb.Struct{"scope_gate": {Fields: map[string]*structpb.Value{"auth": structpb.NewStringValue("none")}}}
	spec := envoyconfig.BuildSpec{
		ModuleFilename: wasmPath, UpstreamPort: upPort, PluginConfiguration: []byte(`{}`),
		VirtualHosts: []envoyconfig.BuildVirtualHost{{Name: "vh", Domains: []string{"*"}, Routes: []envoyconfig.BuildRoute{
			{Name: "refused", Prefix: "/refused", Metadata: public},
			{Name: "all", Prefix: "/", Metadata: public},
		}}},
		ExtraClusters: map[string]uint32{"down": refusedPort(t)},
	}
	cfg := buildConfig(t, spec)
	for _, r := range cfg.VirtualHosts[0].Routes {
		if r.Name == "refused" {
			r.Cluster = "down"
		} else {
			r.Timeout = 500 * time.Millisecond
		}
	}
	tg, err := startGateway(t, cfg, 1)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("request body streamed", func(t *testing.T) {
		const size = 8 << 20
		resp, err := client.Post(tg.base+"/upload", "application/octet-stream", io.LimitReader(zeros{}, size))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 201 || gotBody.Load() != size {
			t.Fatalf("status %d, upstream got %d bytes, want 201 and %d", resp.StatusCode, gotBody.Load(), size)
		}
	})
	t.Run("response body streamed", func(t *testing.T) {
		resp, err := client.Get(tg.base + "/stream")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		buf := make([]byte, 6)
		if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first\n" {
			t.Fatalf("first chunk %q, %v: the response was not streamed", buf, err)
		}
		close(release)
		rest, _ := io.ReadAll(resp.Body)
		if string(rest) != "second\n" {
			t.Fatalf("rest %q", rest)
		}
	})
	for _, c := range []struct {
		path   string
		status int
		body   string
	}{
		{"/refused", 503, "upstream connect error or disconnect/reset before headers. reset reason: connection failure"},
		{"/slow", 504, "upstream request timeout"},
	} {
		t.Run(c.path, func(t *testing.T) {
			resp, err := client.Get(tg.base + c.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status || string(body) != c.body {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, body, c.status, c.body)
			}
		})
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestLoad: a bounded load over loopback (2000 requests, 8 clients) with the filter and with the filter
// disabled on the route, in the same run: no request may fail; requests per second are logged.
func TestLoad(t *testing.T) {
	const requests, clients = 2000, 8
	_, upPort := echoUpstream(t)
	tok := table.Tokens["account"]
	plugin := []byte(`{"token_kinds":[{"prefix":"dfoa_","subject_type":"account","scopes":["full"]}],` +
		`"validator":{"type":"static","tokens":[{"sha256":"` + tok.SHA256 + `","subject":"load@example.com"}]}}`)
	scoped := map[string]*structpb.Struct{"scope_gate": {Fields: map[string]*structpb.Value{"required_scope": structpb.NewStringValue("apps:read")}}}
	cfg := buildConfig(t, envoyconfig.BuildSpec{
		ModuleFilename: wasmPath, UpstreamPort: upPort, PluginConfiguration: plugin,
		VirtualHosts: []envoyconfig.BuildVirtualHost{{Name: "vh", Domains: []string{"*"}, Routes: []envoyconfig.BuildRoute{
			{Name: "without_filter", Prefix: "/without", Metadata: scoped, Disabled: true}, // before "/with", its prefix
			{Name: "with_filter", Prefix: "/with", Metadata: scoped},
		}}},
	})
	tg, err := startGateway(t, cfg, 0) // NumCPU workers, as serve runs by default
	if err != nil {
		t.Fatal(err)
	}
	run := func(path string) float64 {
		var failed, next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for c := 0; c < clients; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= requests {
					req, _ := http.NewRequest("GET", tg.base+path, nil)
					req.Header.Set("Authorization", "Bearer "+tok.Token)
					resp, err := client.Do(req)
					if err != nil {
						failed.Add(1)
						continue
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || resp.Header.Get(EchoMarker) == "" {
						failed.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		elapsed := time.Since(start)
		if failed.Load() != 0 {
			t.Errorf("%s: %d of %d requests failed", path, failed.Load(), requests)
		}
		return requests / elapsed.Seconds()
	}
	before := tg.Host().Counter("scope_gate.allowed")
	without := run("/without")
	with := run("/with")
	if d := tg.Host().Counter("scope_gate.allowed") - before; d != requests {
		t.Errorf("scope_gate.allowed moved by %d, want %d: the filter did not run on every request", d, requests)
	}
	t.Logf("load: %d requests, %d clients, %d worker VMs: with the filter %.0f req/s, filter disabled on the route %.0f req/s (%.0f%%)",
		requests, clients, tg.opts.Workers, with, without, 100*with/without)
}

// TestShutdownFinishesInFlight: Shutdown lets a request in flight complete, then closes.
func TestShutdownFinishesInFlight(t *testing.T) {
	started := make(chan struct{})
	up := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		_, _ = io.WriteString(w, "done")
	})}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() { _ = up.Serve(ln) }()
	t.Cleanup(func() { _ = up.Close() })
	cfg := envoyYAMLConfig(t, ln.Addr().String())
	cfg.ListenAddress = "127.0.0.1:0"
	tg, err := startGateway(t, cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	result := make(chan string, 1)
	go func() {
		resp, err := client.Post(tg.base+"/openapi/v1/oauth/device/code", "", nil)
		if err != nil {
			result <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		result <- string(b)
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tg.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if got := <-result; got != "done" {
		t.Fatalf("in-flight request got %q, want done", got)
	}
	if _, err := net.DialTimeout("tcp", tg.Addr().String(), time.Second); err == nil {
		t.Fatal("still accepting after Shutdown")
	}
}
