package envoyhost

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/scope-gate/scope-gate/internal/wasmbuild"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	guestWasm   []byte // testdata/guest
	guestFSWasm []byte // testdata/guestfs
	cacheDir    string // shared wazero compilation cache: compile each module once per test binary
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "envoyhost-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cacheDir = filepath.Join(dir, "cache")
	build := func(pkg string) []byte {
		b, err := wasmbuild.Reactor(".", "./testdata/"+pkg, filepath.Join(dir, pkg+".wasm"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
		return b
	}
	guestWasm = build("guest")
	guestFSWasm = build("guestfs")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func newHost(t *testing.T, wasm []byte, opts Options) *Host {
	t.Helper()
	opts.CompilationCacheDir = cacheDir
	h, err := NewHost(context.Background(), wasm, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	return h
}

func newVM(t *testing.T, h *Host, cfg PluginConfig) *VM {
	t.Helper()
	if cfg.VMID == "" {
		cfg.VMID = "vm"
	}
	vm, err := h.NewVM(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return vm
}

// request builds a request carrying the given x-op headers.
func request(ops ...string) Request {
	r := Request{Headers: [][2]string{
		{":method", "GET"}, {":path", "/p?q=1"}, {":authority", "example.com"}, {":scheme", "https"},
	}}
	for _, op := range ops {
		r.Headers = append(r.Headers, [2]string{"x-op", op})
	}
	return r
}

func do(t *testing.T, vm *VM, r Request) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := vm.Do(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func hdr(hs [][2]string, name string) string {
	for _, h := range hs {
		if h[0] == name {
			return h[1]
		}
	}
	return ""
}

// reply returns the x-status and body of the guest's local reply.
func reply(t *testing.T, res Result) (string, []byte) {
	t.Helper()
	if res.LocalReply == nil {
		t.Fatalf("no local reply: %+v", res)
	}
	return hdr(res.LocalReply.Headers, "x-status"), res.LocalReply.Body
}

func f64(v float64) []byte { return binary.LittleEndian.AppendUint64(nil, math.Float64bits(v)) }

func TestImportsAndExports(t *testing.T) {
	h := newHost(t, guestWasm, Options{})
	for _, want := range []string{"env.proxy_log", "env.proxy_http_call", "wasi_snapshot_preview1.fd_write", "wasi_snapshot_preview1.poll_oneoff"} {
		if !slices.Contains(h.Imports(), want) {
			t.Errorf("Imports() lacks %s: %v", want, h.Imports())
		}
	}
	for _, want := range []string{"proxy_abi_version_0_2_0", "proxy_on_memory_allocate", "proxy_on_request_headers", "_initialize"} {
		if !slices.Contains(h.Exports(), want) {
			t.Errorf("Exports() lacks %s", want)
		}
	}
}

func TestProperties(t *testing.T) {
	h := newHost(t, guestWasm, Options{})
	vm := newVM(t, h, PluginConfig{VMID: "props", RootID: "root-1", PluginName: "plug"})
	route := &Route{
		Name: "r1",
		Metadata: Metadata{"ns": map[string]any{
			"str": "v", "num": 2.5, "bool": true, "null": nil,
			"list":   []any{"a", "b"},
			"nested": map[string]any{"k": "v", "n": 1.0},
		}},
		VirtualHost: &VirtualHost{Name: "vh1", Metadata: Metadata{"vns": map[string]any{"k": "vv"}}},
		Cluster:     "backend",
	}
	cases := []struct {
		name   string
		path   string
		route  *Route
		status string
		want   []byte
	}{
		{"route name", "xds/route_name", route, "0", []byte("r1")},
		{"route without name", "xds/route_name", &Route{}, "0", nil},
		{"no route: route name", "xds/route_name", nil, "1", nil},
		{"string", "xds/route_metadata/filter_metadata/ns/str", route, "0", []byte("v")},
		{"number", "xds/route_metadata/filter_metadata/ns/num", route, "0", f64(2.5)},
		{"bool", "xds/route_metadata/filter_metadata/ns/bool", route, "0", []byte{1}},
		{"list", "xds/route_metadata/filter_metadata/ns/list", route, "0",
			appendPairs(nil, []header{{"a", ""}, {"b", ""}})},
		{"list item", "xds/route_metadata/filter_metadata/ns/list/1", route, "0", []byte("b")},
		{"nested map", "xds/route_metadata/filter_metadata/ns/nested", route, "0",
			appendPairsBytes(nil, [][]byte{[]byte("k"), []byte("n")}, [][]byte{[]byte("v"), f64(1)})},
		{"null", "xds/route_metadata/filter_metadata/ns/null", route, "3", nil},
		{"missing key", "xds/route_metadata/filter_metadata/ns/nope", route, "1", nil},
		{"missing namespace", "xds/route_metadata/filter_metadata/other/k", route, "1", nil},
		{"no route: metadata", "xds/route_metadata/filter_metadata/ns/str", nil, "1", nil},
		{"whole message", "xds/route_metadata", route, "3", nil},
		{"virtual host name", "xds/virtual_host_name", route, "0", []byte("vh1")},
		{"virtual host metadata", "xds/virtual_host_metadata/filter_metadata/vns/k", route, "0", []byte("vv")},
		{"virtual host metadata missing", "xds/virtual_host_metadata/filter_metadata/ns/str", route, "1", nil},
		{"cluster", "xds/cluster_name", route, "0", []byte("backend")},
		{"path", "request/path", nil, "0", []byte("/p?q=1")},
		{"url path", "request/url_path", nil, "0", []byte("/p")},
		{"method", "request/method", nil, "0", []byte("GET")},
		{"host", "request/host", nil, "0", []byte("example.com")},
		{"scheme", "request/scheme", nil, "0", []byte("https")},
		{"header", "request/headers/x-op", nil, "0", []byte("get-property request/headers/x-op")},
		{"source", "source/address", nil, "0", []byte("10.0.0.1:1234")},
		{"source port", "source/port", nil, "0", binary.LittleEndian.AppendUint64(nil, 1234)},
		{"mtls", "connection/mtls", nil, "0", []byte{0}},
		{"plugin name", "plugin_name", nil, "0", []byte("plug")},
		{"plugin root id", "plugin_root_id", nil, "0", []byte("root-1")},
		{"plugin vm id", "plugin_vm_id", nil, "0", []byte("props")},
		{"unknown", "nothing/here", nil, "1", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := request("get-property " + tc.path)
			r.Route = tc.route
			r.SourceAddress = "10.0.0.1:1234"
			st, body := reply(t, do(t, vm, r))
			if st != tc.status || !bytes.Equal(body, tc.want) {
				t.Errorf("status %s body %q, want %s %q", st, body, tc.status, tc.want)
			}
		})
	}
	t.Run("request id", func(t *testing.T) {
		st, body := reply(t, do(t, vm, request("get-property request/id")))
		if st != "0" || len(body) != 36 {
			t.Errorf("status %s id %q", st, body)
		}
	})
	t.Run("set then get", func(t *testing.T) {
		st, body := reply(t, do(t, vm, request("set-property my/key hello", "get-property my/key")))
		if st != "0" || string(body) != "hello" {
			t.Errorf("status %s body %q", st, body)
		}
	})
}

func TestHeaderMaps(t *testing.T) {
	h := newHost(t, guestWasm, Options{})
	vm := newVM(t, h, PluginConfig{})
	dup := func(ops ...string) Request {
		r := request(ops...)
		r.Headers = append(r.Headers, [2]string{"X-Dup", "a"}, [2]string{"x-dup", "b"}, [2]string{"x-gone", "1"})
		return r
	}
	t.Run("get returns first value", func(t *testing.T) {
		st, body := reply(t, do(t, vm, dup("get-header X-DUP")))
		if st != "0" || string(body) != "a" {
			t.Errorf("status %s body %q", st, body)
		}
	})
	t.Run("get missing", func(t *testing.T) {
		st, _ := reply(t, do(t, vm, dup("get-header x-none")))
		if st != "1" {
			t.Errorf("status %s, want NotFound", st)
		}
	})
	t.Run("pairs return all values lower-cased in order", func(t *testing.T) {
		st, body := reply(t, do(t, vm, dup("get-pairs")))
		got, ok := decodePairs(body, false)
		if st != "0" || !ok {
			t.Fatalf("status %s, decode %v", st, ok)
		}
		var dups []string
		for _, h := range got {
			if h.k == "x-dup" {
				dups = append(dups, h.v)
			}
		}
		if !slices.Equal(dups, []string{"a", "b"}) || got[0].k != ":method" {
			t.Errorf("pairs %v", got)
		}
	})
	cases := []struct {
		name  string
		ops   []string
		check func(t *testing.T, up [][2]string)
	}{
		{"add appends", []string{"add x-dup c"}, func(t *testing.T, up [][2]string) {
			var vs []string
			for _, h := range up {
				if h[0] == "x-dup" {
					vs = append(vs, h[1])
				}
			}
			if !slices.Equal(vs, []string{"a", "b", "c"}) {
				t.Errorf("x-dup %v", vs)
			}
		}},
		{"replace keeps one", []string{"replace X-Dup z"}, func(t *testing.T, up [][2]string) {
			n := 0
			for _, h := range up {
				if h[0] == "x-dup" {
					n++
				}
			}
			if n != 1 || hdr(up, "x-dup") != "z" {
				t.Errorf("headers %v", up)
			}
		}},
		{"replace adds", []string{"replace x-new 1"}, func(t *testing.T, up [][2]string) {
			if hdr(up, "x-new") != "1" {
				t.Errorf("headers %v", up)
			}
		}},
		{"remove drops all", []string{"remove x-dup", "remove X-GONE"}, func(t *testing.T, up [][2]string) {
			if hdr(up, "x-dup") != "" || hdr(up, "x-gone") != "" {
				t.Errorf("headers %v", up)
			}
		}},
		{"set pairs replaces map", []string{"set-pairs"}, func(t *testing.T, up [][2]string) {
			want := [][2]string{{":method", "POST"}, {":path", "/replaced"}, {":authority", "example.com"}, {"x-set", "1"}}
			if !slices.Equal(up, want) {
				t.Errorf("headers %v", up)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := do(t, vm, dup(tc.ops...))
			if res.Upstream == nil || res.LocalReply != nil {
				t.Fatalf("request did not reach upstream: %+v", res)
			}
			tc.check(t, res.Upstream.Headers)
		})
	}
	t.Run("response phase", func(t *testing.T) {
		r := request("resp-add x-resp yes", "probe-req-map", "resp-body-replace new body")
		r.Upstream = func(u Upstream) Response {
			return Response{Status: 201, Headers: [][2]string{{"X-Up", "1"}}, Body: []byte("old")}
		}
		res := do(t, vm, r)
		if res.Response.Status != 201 || hdr(res.Response.Headers, "x-resp") != "yes" || hdr(res.Response.Headers, "x-up") != "1" {
			t.Errorf("response %+v", res.Response)
		}
		// Envoy drops the request header map once the stream continued.
		if got := hdr(res.Response.Headers, "x-req-map-status"); got != "2" {
			t.Errorf("request map in response phase: status %s, want BadArgument", got)
		}
		if string(res.Response.Body) != "new body" {
			t.Errorf("body %q", res.Response.Body)
		}
	})
	t.Run("request body", func(t *testing.T) {
		r := request("echo-body")
		r.Body = []byte("payload")
		st, body := reply(t, do(t, vm, r))
		if st != "0" || string(body) != "echo:payload" {
			t.Errorf("status %s body %q", st, body)
		}
	})
	t.Run("maps in on_log", func(t *testing.T) {
		h.ResetLogs()
		do(t, vm, request("log-in-onlog"))
		want := "onlog path=/p?q=1 r=0 status=200 r2=0 add=2"
		if !hasLog(h, want) {
			t.Errorf("no log %q in %v", want, h.Logs())
		}
	})
}

func hasLog(h *Host, msg string) bool {
	for _, l := range h.Logs() {
		if l.Message == msg {
			return true
		}
	}
	return false
}

func TestLocalReply(t *testing.T) {
	h := newHost(t, guestWasm, Options{})
	vm := newVM(t, h, PluginConfig{})
	res := do(t, vm, request("local 403 access denied"))
	want := &LocalReply{
		Status:     403,
		Headers:    [][2]string{{"x-a", "1"}, {"x-a", "2"}, {"content-type", "application/json"}},
		Body:       []byte("access denied"),
		Details:    "denied_by_guest",
		GRPCStatus: 7,
	}
	lr := res.LocalReply
	if lr == nil || lr.Status != want.Status || !slices.Equal(lr.Headers, want.Headers) || !bytes.Equal(lr.Body, want.Body) ||
		lr.Details != want.Details || lr.GRPCStatus != want.GRPCStatus {
		t.Errorf("local reply %+v, want %+v", lr, want)
	}
	if res.Upstream != nil || res.Response.Status != 403 || string(res.Response.Body) != "access denied" ||
		hdr(res.Response.Headers, "content-length") != "13" {
		t.Errorf("result %+v", res)
	}
}

func TestSharedData(t *testing.T) {
	h := newHost(t, guestWasm, Options{})
	a1 := newVM(t, h, PluginConfig{VMID: "a"})
	a2 := newVM(t, h, PluginConfig{VMID: "a"})
	b := newVM(t, h, PluginConfig{VMID: "b"})

	st, _ := reply(t, do(t, a1, request("shared-get k")))
	if st != "1" {
		t.Fatalf("get missing: %s", st)
	}
	if st, _ := reply(t, do(t, a1, request("shared-set k v1 0"))); st != "0" {
		t.Fatalf("set: %s", st)
	}
	res := do(t, a2, request("shared-get k"))
	st, val := reply(t, res)
	cas := hdr(res.LocalReply.Headers, "x-cas")
	if st != "0" || string(val) != "v1" || cas == "0" {
		t.Fatalf("get from second VM: %s %q cas %s", st, val, cas)
	}
	steps := []struct {
		op, want string
	}{
		{"shared-set k v2 " + cas, "0"}, // matching cas
		{"shared-set k v3 " + cas, "8"}, // stale cas: CasMismatch
		{"shared-set k v4 0", "0"},      // cas 0: unconditional
		{"shared-set new x 12345", "0"}, // new key: any cas accepted
	}
	for _, s := range steps {
		if st, _ := reply(t, do(t, a2, request(s.op))); st != s.want {
			t.Errorf("%s: status %s, want %s", s.op, st, s.want)
		}
	}
	if st, _ := reply(t, do(t, b, request("shared-get k"))); st != "1" {
		t.Errorf("vm_id b sees vm_id a's data: %s", st)
	}
	if v, c, ok := h.SharedData("a", "k"); !ok || string(v) != "v4" || c == 0 {
		t.Errorf("SharedData = %q %d %v", v, c, ok)
	}
}

func TestHTTPCall(t *testing.T) {
	var mu sync.Mutex
	arrived := 0
	both := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			if r.Host != "callout.local" || r.Header.Get("X-From") != "guest" {
				w.WriteHeader(400)
				return
			}
			w.Header().Set("X-Test", "1")
			io.WriteString(w, "hello")
		case "/slow":
			time.Sleep(2 * time.Second)
			io.WriteString(w, "late")
		case "/close":
			// Accept the request, then close the connection without a byte of response.
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		case "/cut":
			// Headers and part of the body, then the connection goes away.
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(200)
			io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		case "/barrier":
			mu.Lock()
			arrived++
			if arrived == 2 {
				close(both)
			}
			mu.Unlock()
			select {
			case <-both:
				io.WriteString(w, "together")
			case <-time.After(3 * time.Second):
				w.WriteHeader(500)
			}
		}
	}))
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()

	h := newHost(t, guestWasm, Options{Clusters: map[string]string{"svc": srv.Listener.Addr().String(), "dead": dead}})
	vm := newVM(t, h, PluginConfig{})
	cases := []struct {
		name                               string
		op                                 string
		status, callStatus, nheaders, body string
	}{
		{"ok", "http-call svc /ok 5000", "", "200", "", "hello"},
		{"timeout", "http-call svc /slow 100", "", "504", "3", "upstream request timeout"},
		// Envoy's router answers the async client with a local reply when no response started; Envoy 1.39
		// (the default profile) no longer puts the transport failure reason in the body.
		{"refused", "http-call dead /ok 1000", "", "503", "3", "upstream connect error or disconnect/reset before headers. reset reason: remote connection failure"},
		{"closed before headers", "http-call svc /close 1000", "", "503", "3", "upstream connect error or disconnect/reset before headers. reset reason: connection termination"},
		// A reset after the response started is the async client's onFailure: 0 headers, nothing readable.
		{"cut after headers", "http-call svc /cut 1000", "", "", "0", ""},
		{"unknown cluster", "http-call nope /ok 1000", "2", "", "", "dispatch failed"},
		{"missing path", "http-call svc /ok 1000 no-path", "2", "", "", "dispatch failed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := do(t, vm, request(tc.op))
			lr := res.LocalReply
			if lr == nil {
				t.Fatalf("no reply: %+v", res)
			}
			if got := hdr(lr.Headers, "x-status"); got != tc.status {
				t.Errorf("x-status %q, want %q", got, tc.status)
			}
			if got := hdr(lr.Headers, "x-call-status"); got != tc.callStatus {
				t.Errorf(":status %q, want %q", got, tc.callStatus)
			}
			if tc.nheaders != "" && hdr(lr.Headers, "x-nheaders") != tc.nheaders {
				t.Errorf("nheaders %q, want %s", hdr(lr.Headers, "x-nheaders"), tc.nheaders)
			}
			if string(lr.Body) != tc.body {
				t.Errorf("body %q, want %q", lr.Body, tc.body)
			}
		})
	}
	t.Run("refused under envoy-1.33", func(t *testing.T) {
		h133 := newHost(t, guestWasm, Options{Profile: Envoy133, Clusters: map[string]string{"dead": dead}})
		res := do(t, newVM(t, h133, PluginConfig{}), request("http-call dead /ok 1000"))
		const want = "upstream connect error or disconnect/reset before headers. reset reason: remote connection failure, transport failure reason: delayed connect error: Connection refused"
		if res.LocalReply == nil || hdr(res.LocalReply.Headers, "x-call-status") != "503" || string(res.LocalReply.Body) != want {
			t.Fatalf("reply %+v", res.LocalReply)
		}
	})
	t.Run("local reply headers", func(t *testing.T) {
		res := do(t, vm, request("http-call dead /ok 1000"))
		lr := res.LocalReply
		if lr == nil || hdr(lr.Headers, "x-npairs") != "3" || hdr(lr.Headers, "x-body-size") != strconv.Itoa(len(lr.Body)) {
			t.Fatalf("reply %+v", lr)
		}
	})
	t.Run("continue after callout", func(t *testing.T) {
		res := do(t, vm, request("http-call-continue svc /ok 5000"))
		if res.Upstream == nil || hdr(res.Upstream.Headers, "x-callout") != "200:hello" {
			t.Errorf("result %+v", res)
		}
	})
	t.Run("two calls in flight in one VM", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s1 := vm.Start(ctx, request("http-call svc /barrier 5000"))
		s2 := vm.Start(ctx, request("http-call svc /barrier 5000"))
		for _, s := range []*Stream{s1, s2} {
			res, err := s.Wait(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if res.LocalReply == nil || string(res.LocalReply.Body) != "together" {
				t.Errorf("result %+v", res.LocalReply)
			}
		}
	})
}

func TestMetrics(t *testing.T) {
	h := newHost(t, guestWasm, Options{})
	vm1 := newVM(t, h, PluginConfig{})
	vm2 := newVM(t, h, PluginConfig{})
	do(t, vm1, request("metric requests"))
	res := do(t, vm2, request("metric requests"))
	if v := hdr(res.LocalReply.Headers, "x-value"); v != "2" {
		t.Errorf("proxy_get_metric in second VM = %s, want 2", v)
	}
	if h.Counter("requests") != 2 || h.Counter("wasmcustom.requests") != 2 || h.Metrics()["requests"] != 2 {
		t.Errorf("Counter = %d, Metrics = %v", h.Counter("requests"), h.Metrics())
	}
	if st, _ := reply(t, do(t, vm1, request("metric-bad"))); st != "1" {
		t.Errorf("unknown metric id: status %s, want NotFound", st)
	}
}

func TestLogs(t *testing.T) {
	var out bytes.Buffer
	h := newHost(t, guestWasm, Options{Stdout: &out})
	vm := newVM(t, h, PluginConfig{Configuration: []byte("cfg")})
	do(t, vm, request("log 3 hello world", "print to stdout"))
	want := []LogEntry{
		{VM: vm.ID(), Level: LogInfo, Message: "configured: cfg"},
		{VM: vm.ID(), Level: LogWarn, Message: "hello world"},
		{VM: vm.ID(), Level: LogInfo, Message: "to stdout"},
	}
	if got := h.Logs(); !slices.Equal(got, want) {
		t.Errorf("Logs() = %v, want %v", got, want)
	}
	if out.String() != "to stdout\n" {
		t.Errorf("stdout %q", out.String())
	}
	h.ResetLogs()
	if len(h.Logs()) != 0 {
		t.Error("ResetLogs kept entries")
	}
	if st, _ := reply(t, do(t, vm, request("bad-ptr"))); st != "6" {
		t.Errorf("out-of-bounds pointer: status %s, want InvalidMemoryAccess", st)
	}
}

func TestTrap(t *testing.T) {
	h := newHost(t, guestWasm, Options{})
	vm := newVM(t, h, PluginConfig{})
	res := do(t, vm, request("trap now"))
	isFail := func(lr *LocalReply) bool {
		return lr != nil && lr.Status == 503 && lr.Details == "wasm_fail_stream" && lr.Headers == nil && lr.Body == nil && lr.GRPCStatus == 14
	}
	if !isFail(res.LocalReply) || res.Response.Status != 503 || len(res.Response.Body) != 0 {
		t.Errorf("result %+v", res)
	}
	if res.Trapped == nil || !strings.Contains(res.Trapped.Error(), "boom: now") {
		t.Errorf("Trapped = %v", res.Trapped)
	}
	if !vm.Failed() {
		t.Error("VM not failed")
	}
	res = do(t, vm, request())
	if !isFail(res.LocalReply) || res.Trapped != nil || res.Upstream != nil {
		t.Errorf("next request: %+v", res)
	}
}

func TestHungStream(t *testing.T) {
	h := newHost(t, guestWasm, Options{})
	vm := newVM(t, h, PluginConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	s := vm.Start(ctx, request("pause-forever"))
	// The VM keeps serving other streams meanwhile.
	if res := do(t, vm, request()); res.Upstream == nil {
		t.Errorf("second stream: %+v", res)
	}
	_, err := s.Wait(ctx)
	if !errors.Is(err, ErrStreamHung) {
		t.Errorf("err = %v, want ErrStreamHung", err)
	}
}

func TestStreamControl(t *testing.T) {
	h := newHost(t, guestWasm, Options{})
	vm := newVM(t, h, PluginConfig{})
	if res := do(t, vm, request("continue-in-callback")); res.Upstream == nil {
		t.Errorf("continue inside the callback: %+v", res)
	}
	if res := do(t, vm, request("close")); !res.Reset || res.Upstream != nil {
		t.Errorf("close_stream: %+v", res)
	}
}

func TestStartRejected(t *testing.T) {
	h := newHost(t, guestWasm, Options{})
	cases := []struct {
		name string
		cfg  PluginConfig
		want error
	}{
		{"configure", PluginConfig{Configuration: []byte("reject")}, ErrConfigureRejected},
		{"vm start", PluginConfig{VMConfiguration: []byte("reject-vm")}, ErrVMStartRejected},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := h.NewVM(context.Background(), tc.cfg); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// module assembles a tiny wasm module: one func type () -> (), optional
// function imports from env, and exported no-op functions.
func module(imports, exports []string) []byte {
	str := func(s string) []byte { return append([]byte{byte(len(s))}, s...) }
	section := func(id byte, body []byte) []byte { return append([]byte{id, byte(len(body))}, body...) }
	b := []byte{0, 'a', 's', 'm', 1, 0, 0, 0}
	b = append(b, section(1, []byte{1, 0x60, 0, 0})...)
	if len(imports) > 0 {
		imp := []byte{byte(len(imports))}
		for _, name := range imports {
			imp = append(imp, str("env")...)
			imp = append(imp, str(name)...)
			imp = append(imp, 0, 0)
		}
		b = append(b, section(2, imp)...)
	}
	if len(exports) > 0 {
		fns := []byte{byte(len(exports))}
		exp := []byte{byte(len(exports))}
		code := []byte{byte(len(exports))}
		for i, name := range exports {
			fns = append(fns, 0)
			exp = append(exp, str(name)...)
			exp = append(exp, 0, byte(len(imports)+i))
			code = append(code, 2, 0, 0x0b)
		}
		b = append(b, section(3, fns)...)
		b = append(b, section(7, exp)...)
		b = append(b, section(10, code)...)
	}
	return b
}

func TestLoadChecks(t *testing.T) {
	cases := []struct {
		name    string
		wasm    []byte
		profile Profile
		wantErr string // "" = NewVM succeeds
		is      error
	}{
		{"os file I/O under 1.33", guestFSWasm, Envoy133, "which envoy-1.33 does not provide", nil},
		{"os file I/O under 1.39", guestFSWasm, Envoy139, "", nil},
		{"guest under 1.33", guestWasm, Envoy133, "", nil},
		{"no ABI marker", module(nil, []string{"proxy_on_memory_allocate"}), Envoy139, "ABI version", ErrABIVersion},
		{"no malloc", module(nil, []string{"proxy_abi_version_0_2_0"}), Envoy139, "missing malloc", nil},
		{"unknown env import", module([]string{"proxy_bogus"}, []string{"proxy_abi_version_0_2_0", "proxy_on_memory_allocate"}), Envoy139, "env.proxy_bogus", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, err := NewHost(context.Background(), tc.wasm, Options{Profile: tc.profile, CompilationCacheDir: cacheDir})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close(context.Background())
			vm, err := h.NewVM(context.Background(), PluginConfig{VMID: "x"})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("NewVM: %v", err)
				}
				_ = vm.Close(context.Background())
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("err = %v, want errors.Is %v", err, tc.is)
			}
		})
	}
}

// TestEnvoy133TimerCrash reproduces golang/go#78513 on Envoy 1.33's WASI
// stubs: once a runtime timer exists, the Go scheduler polls with a timeout
// and poll_oneoff's ENOSYS kills the runtime; Envoy 1.39 survives.
func TestEnvoy133TimerCrash(t *testing.T) {
	cases := []struct {
		profile Profile
		crash   bool
	}{
		{Envoy133, true},
		{Envoy139, false},
	}
	for _, tc := range cases {
		t.Run(string(tc.profile), func(t *testing.T) {
			h := newHost(t, guestWasm, Options{Profile: tc.profile})
			vm := newVM(t, h, PluginConfig{})
			res := do(t, vm, request("timer"))
			if !tc.crash {
				if res.Trapped != nil || res.LocalReply == nil || string(res.LocalReply.Body) != "timer ok" {
					t.Fatalf("result %+v, trap %v", res.LocalReply, res.Trapped)
				}
				// And it keeps working afterwards.
				if res := do(t, vm, request("timer")); res.Trapped != nil {
					t.Fatal(res.Trapped)
				}
				return
			}
			if res.Trapped == nil || !strings.Contains(res.Trapped.Error(), "poll_oneoff") {
				t.Fatalf("Trapped = %v, want a poll_oneoff crash", res.Trapped)
			}
			if testing.Verbose() {
				t.Logf("trap: %v", res.Trapped)
			}
			if res.LocalReply == nil || res.LocalReply.Details != "wasm_fail_stream" || !vm.Failed() {
				t.Errorf("result %+v", res.LocalReply)
			}
		})
	}
}

func TestTickAndTime(t *testing.T) {
	fixed := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	h := newHost(t, guestWasm, Options{Now: func() time.Time { return fixed }})
	vm := newVM(t, h, PluginConfig{Configuration: []byte("tick")})
	for i := 0; i < 2; i++ {
		if err := vm.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if h.Counter("ticks") != 2 {
		t.Errorf("ticks = %d", h.Counter("ticks"))
	}
	res := do(t, vm, request("now"))
	want := strconv.FormatInt(fixed.UnixNano(), 10)
	if got := hdr(res.LocalReply.Headers, "x-now"); got != want {
		t.Errorf("proxy_get_current_time_nanoseconds = %s, want %s", got, want)
	}
	if got := hdr(res.LocalReply.Headers, "x-time-now"); got != want {
		t.Errorf("time.Now in guest = %s, want %s", got, want)
	}
	if vm.MemorySize() == 0 {
		t.Error("MemorySize = 0")
	}
}

func TestSharedQueue(t *testing.T) {
	h := newHost(t, guestWasm, Options{})
	owner := newVM(t, h, PluginConfig{VMID: "q"})
	other := newVM(t, h, PluginConfig{VMID: "q"})
	res := do(t, owner, request("queue-register jobs"))
	qid := hdr(res.LocalReply.Headers, "x-qid")
	if st := hdr(res.LocalReply.Headers, "x-status"); st != "0" || qid == "0" {
		t.Fatalf("register: %s %s", st, qid)
	}
	if st, _ := reply(t, do(t, other, request("queue-dequeue "+qid))); st != "7" {
		t.Errorf("dequeue of empty queue: %s, want Empty", st)
	}
	if st, _ := reply(t, do(t, other, request("queue-enqueue q nope x"))); st != "1" {
		t.Errorf("resolve unknown queue: %s, want NotFound", st)
	}
	if st, _ := reply(t, do(t, other, request("queue-enqueue q jobs hello"))); st != "0" {
		t.Fatalf("enqueue: %s", st)
	}
	want := "queue " + qid + ": hello"
	deadline := time.Now().Add(5 * time.Second)
	for !hasLog(h, want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in %v", want, h.Logs())
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, l := range h.Logs() {
		if l.Message == want && l.VM != owner.ID() {
			t.Errorf("queue delivered to VM %d, want owner %d", l.VM, owner.ID())
		}
	}
}

func TestConcurrentStreams(t *testing.T) {
	h := newHost(t, guestWasm, Options{})
	vms := []*VM{newVM(t, h, PluginConfig{}), newVM(t, h, PluginConfig{})}
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			res, err := vms[i%2].Do(context.Background(), request("metric n", "get-header x-op"))
			if err != nil || res.LocalReply == nil {
				t.Errorf("stream %d: %v %+v", i, err, res)
			}
		}(i)
	}
	wg.Wait()
	if h.Counter("n") != 50 {
		t.Errorf("n = %d", h.Counter("n"))
	}
}

// BenchmarkStream measures one whole stream (context create, request
// headers reading all pairs, upstream, response, log, done, delete) through
// the loop.
func BenchmarkStream(b *testing.B) {
	h, err := NewHost(context.Background(), guestWasm, Options{CompilationCacheDir: cacheDir})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close(context.Background())
	vm, err := h.NewVM(context.Background(), PluginConfig{VMID: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	r := request()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if res, err := vm.Do(ctx, r); err != nil || res.Upstream == nil {
			b.Fatal(err, res)
		}
	}
}

// TestHTTPCallAnswerOutlivesStream: cpp-host issues proxy_http_call on the root context whatever context
// is effective, so when the stream that made a call is gone the answer still reaches
// proxy_on_http_call_response; the guest then finds its stream gone (set_effective_context BadArgument).
func TestHTTPCallAnswerOutlivesStream(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		io.WriteString(w, "late")
	}))
	defer srv.Close()
	defer close(release)
	h := newHost(t, guestWasm, Options{Clusters: map[string]string{"svc": srv.Listener.Addr().String()}})
	vm := newVM(t, h, PluginConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := vm.Start(ctx, request("http-call svc /wait 5000"))
	for deadline := time.Now().Add(5 * time.Second); !st.paused.Load(); {
		if time.Now().After(deadline) {
			t.Fatal("stream never paused on its call")
		}
		time.Sleep(5 * time.Millisecond)
	}
	st.ResetByClient()
	if res, err := st.Wait(ctx); err != nil || !res.ClientReset {
		t.Fatalf("stream: %v %+v", err, res)
	}
	release <- struct{}{}
	const want = "set_effective_context failed: 2"
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		found := false
		for _, l := range h.Logs() {
			found = found || l.Message == want
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the answer never reached the root context (no %q in logs %v)", want, h.Logs())
		}
	}
	if vm.Failed() {
		t.Fatal("VM failed")
	}
}

// TestRepeatedInlineHeaders: Envoy folds repeated inline request headers (authorization among them) into
// one value joined with ',' and drops empty repeats; other headers stay separate; a request with
// SeparateRepeatedHeaders keeps every line, as other hosts deliver them.
func TestRepeatedInlineHeaders(t *testing.T) {
	h := newHost(t, guestWasm, Options{})
	vm := newVM(t, h, PluginConfig{})
	pairs := func(t *testing.T, separate bool, extra ...[2]string) []header {
		t.Helper()
		r := request("get-pairs")
		r.Headers = append(r.Headers, extra...)
		r.SeparateRepeatedHeaders = separate
		st, body := reply(t, do(t, vm, r))
		got, ok := decodePairs(body, false)
		if st != "0" || !ok {
			t.Fatalf("status %s, decode %v", st, ok)
		}
		return got
	}
	values := func(hs []header, name string) []string {
		var out []string
		for _, h := range hs {
			if h.k == name {
				out = append(out, h.v)
			}
		}
		return out
	}
	cases := []struct {
		name     string
		separate bool
		in       [][2]string
		header   string
		want     []string
	}{
		{"two bearers joined", false, [][2]string{{"authorization", "Bearer a"}, {"Authorization", "Bearer b"}}, "authorization", []string{"Bearer a,Bearer b"}},
		{"empty second dropped", false, [][2]string{{"authorization", "Bearer a"}, {"authorization", ""}}, "authorization", []string{"Bearer a"}},
		{"empty first then value", false, [][2]string{{"authorization", ""}, {"authorization", "Bearer a"}}, "authorization", []string{"Bearer a"}},
		{"both empty", false, [][2]string{{"authorization", ""}, {"authorization", ""}}, "authorization", []string{""}},
		{"other inline header", false, [][2]string{{"x-forwarded-for", "1.1.1.1"}, {"x-forwarded-for", "2.2.2.2"}}, "x-forwarded-for", []string{"1.1.1.1,2.2.2.2"}},
		{"non-inline header stays separate", false, [][2]string{{"x-dup", "a"}, {"x-dup", "b"}}, "x-dup", []string{"a", "b"}},
		{"cookie stays separate (HTTP/1)", false, [][2]string{{"cookie", "a=1"}, {"cookie", "b=2"}}, "cookie", []string{"a=1", "b=2"}},
		{"separate on request", true, [][2]string{{"authorization", "Bearer a"}, {"authorization", ""}}, "authorization", []string{"Bearer a", ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := pairs(t, tc.separate, tc.in...)
			if v := values(got, tc.header); !slices.Equal(v, tc.want) {
				t.Errorf("%s = %q, want %q (pairs %v)", tc.header, v, tc.want, got)
			}
		})
	}
	t.Run("joined value keeps the first position", func(t *testing.T) {
		got := pairs(t, false, [2]string{"authorization", "Bearer a"}, [2]string{"x-mid", "m"}, [2]string{"authorization", "Bearer b"})
		var order []string
		for _, h := range got {
			if h.k == "authorization" || h.k == "x-mid" {
				order = append(order, h.k)
			}
		}
		if !slices.Equal(order, []string{"authorization", "x-mid"}) {
			t.Errorf("order %v", order)
		}
	})
}

// TestRestrictedCalls: cpp-host's allow lists for what the guest may call while it runs _initialize and
// while it runs its allocator, per profile: one call allowed everywhere, one allowed only by the Envoy 1.39
// lists (poll_oneoff, PR #533), one forbidden everywhere.
func TestRestrictedCalls(t *testing.T) {
	type want struct {
		fn           string
		ok133, ok139 bool
	}
	initCases := []want{{"random_get", true, true}, {"poll_oneoff", false, true}, {"sched_yield", false, false}}
	mallocCases := []want{{"clock_time_get", true, true}, {"poll_oneoff", false, true}, {"random_get", false, false}}
	for _, p := range []Profile{Envoy133, Envoy139} {
		h := newHost(t, guestWasm, Options{Profile: p})
		allowed := func(w want) bool {
			if p == Envoy133 {
				return w.ok133
			}
			return w.ok139
		}
		for _, w := range initCases {
			t.Run(string(p)+"/_initialize/"+w.fn, func(t *testing.T) {
				vm, err := h.NewVM(context.Background(), PluginConfig{VMID: "vm", Environment: [][2]string{{"ENVOYHOST_INIT_CALL", w.fn}}})
				if allowed(w) {
					if err != nil {
						t.Fatalf("NewVM: %v", err)
					}
					_ = vm.Close(context.Background())
					return
				}
				if err == nil || !strings.Contains(err.Error(), "restricted_callback") || !strings.Contains(err.Error(), w.fn) {
					t.Fatalf("NewVM error %v, want restricted_callback for %s", err, w.fn)
				}
			})
		}
		for _, w := range mallocCases {
			t.Run(string(p)+"/proxy_on_memory_allocate/"+w.fn, func(t *testing.T) {
				vm := newVM(t, h, PluginConfig{})
				defer vm.Close(context.Background())
				res := do(t, vm, request("malloc-call "+w.fn))
				if allowed(w) {
					if res.Trapped != nil || res.LocalReply == nil || string(res.LocalReply.Body) != "/p?q=1" {
						t.Fatalf("result %+v, trap %v", res.LocalReply, res.Trapped)
					}
					return
				}
				if res.Trapped == nil || !strings.Contains(res.Trapped.Error(), "restricted_callback") || !strings.Contains(res.Trapped.Error(), w.fn) {
					t.Fatalf("trap %v, want restricted_callback for %s", res.Trapped, w.fn)
				}
				if !vm.Failed() || res.LocalReply == nil || res.LocalReply.Details != "wasm_fail_stream" {
					t.Errorf("result %+v", res.LocalReply)
				}
			})
		}
	}
}

// TestRequestHeadersTimeAndCallExport: the two hooks benchmarks use. With TimeRequestHeaders each VM keeps
// the duration of its last proxy_on_request_headers call (a real, positive duration, which without the
// option stays 0); CallExport calls an export by name and refuses one the module lacks.
func TestRequestHeadersTimeAndCallExport(t *testing.T) {
	for _, timed := range []bool{false, true} {
		h := newHost(t, guestWasm, Options{TimeRequestHeaders: timed})
		vm := newVM(t, h, PluginConfig{})
		if res := do(t, vm, request()); res.Upstream == nil {
			t.Fatalf("timed=%v: request did not reach the upstream", timed)
		}
		if d := vm.RequestHeadersTime(); timed && d <= 0 || !timed && d != 0 {
			t.Fatalf("timed=%v: RequestHeadersTime = %v", timed, d)
		}
		if _, err := vm.CallExport(context.Background(), "no_such_export"); err == nil {
			t.Fatal("CallExport of a missing export did not fail")
		}
		if _, err := vm.CallExport(context.Background(), "proxy_abi_version_0_2_0"); err != nil {
			t.Fatalf("CallExport(proxy_abi_version_0_2_0): %v", err)
		}
	}
}
