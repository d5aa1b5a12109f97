package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scope-gate/scope-gate/e2e/testkit"
)

// serveBootstrap writes envoy/envoy.yaml with its addresses, module path and listener edited, into a
// temporary file.
func serveBootstrap(t *testing.T, edits ...[2]string) string {
	t.Helper()
	data, err := os.ReadFile("../../envoy/envoy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	for _, e := range edits {
		if !strings.Contains(doc, e[0]) {
			t.Fatalf("envoy.yaml has no %q", e[0])
		}
		doc = strings.Replace(doc, e[0], e[1], 1)
	}
	path := filepath.Join(t.TempDir(), "envoy.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestServeErrors: what stops serve is one line on stderr, naming the file and the field or address.
func TestServeErrors(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenPort := strings.TrimPrefix(taken.Addr().String(), "127.0.0.1:")
	notWasm := filepath.Join(t.TempDir(), "not.wasm") // the port is bound before the module is compiled
	if err := os.WriteFile(notWasm, []byte("not wasm"), 0o644); err != nil {
		t.Fatal(err)
	}
	cors := "          - name: envoy.filters.http.cors\n            typed_config:\n              \"@type\": type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors\n          - name: envoy.filters.http.router\n"
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string // stderr must be exactly one line containing this
	}{
		{"stray argument", []string{"serve", "envoy.yaml"}, 2, `unexpected argument "envoy.yaml"`},
		{"bad log level", []string{"serve", "-log-level", "loud"}, 2, `-log-level "loud"`},
		{"missing file", []string{"serve", "-c", "no/such.yaml"}, 1, "scope-gate serve: open no/such.yaml: no such file or directory"},
		{"unsupported http filter", []string{"serve", "-c", serveBootstrap(t, [2]string{"          - name: envoy.filters.http.router\n", cors})}, 1,
			"envoy.yaml: $.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[1].typed_config: envoy.extensions.filters.http.cors.v3.Cors is not supported by serve"},
		{"fail open", []string{"serve", "-c", "../../internal/envoyconfig/testdata/fail_open.yaml"}, 1,
			"typed_config.config.failure_policy: FAIL_OPEN is not supported by serve (FAIL_CLOSED or FAIL_RELOAD"},
		// envoy.yaml names build/scope-gate.wasm relative to the working directory, here cmd/scope-gate.
		{"missing module", []string{"serve", "-c", "../../envoy/envoy.yaml"}, 1,
			"vm_config.code.local.filename: module build/scope-gate.wasm not found (run `make build`; as in Envoy, the path is relative to the working directory "},
		{"port taken", []string{"serve", "-c", serveBootstrap(t,
			[2]string{"address: 0.0.0.0, port_value: 8080", "address: 127.0.0.1, port_value: " + takenPort},
			[2]string{"filename: build/scope-gate.wasm", "filename: " + notWasm})}, 1,
			`listener "ingress" ($.static_resources.listeners[0].address): cannot listen on 127.0.0.1:` + takenPort + ": bind: address already in use"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(tc.args, &out, &errb); code != tc.code {
				t.Errorf("exit %d, want %d\nstderr: %s", code, tc.code, errb.String())
			}
			msg := errb.String()
			if tc.code == 1 && (strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "scope-gate serve: ")) {
				t.Errorf("stderr is not one \"scope-gate serve: \" line: %q", msg)
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("stderr %q\nwant it to contain %q", msg, tc.want)
			}
		})
	}
}

// lockedBuffer is written by serve's goroutines while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestServeDemoAndSignal runs `serve -demo` as make run does (on loopback ports), sends the banner's
// scoped-allowed request, then SIGINT: serve must shut down cleanly with exit 0.
func TestServeDemoAndSignal(t *testing.T) {
	module := testkit.ModulePath(testkit.ModuleEnv, testkit.ModuleFile)
	if _, err := os.Stat(module); err != nil {
		t.Fatalf("the module is needed (run make build): %v", err)
	}
	module, _ = filepath.Abs(module)
	upstream, err := net.Listen("tcp", "127.0.0.1:0") // a free port for the demo upstream
	if err != nil {
		t.Fatal(err)
	}
	upAddr := upstream.Addr().String()
	upstream.Close()
	upHost, upPort, _ := net.SplitHostPort(upAddr)
	cfg := serveBootstrap(t,
		[2]string{"address: 0.0.0.0, port_value: 8080", "address: 127.0.0.1, port_value: 0"},
		[2]string{"address: 127.0.0.1, port_value: 9901", "address: 127.0.0.1, port_value: 0"},
		[2]string{"address: 127.0.0.1, port_value: 8081", "address: " + upHost + ", port_value: " + upPort},
		[2]string{"filename: build/scope-gate.wasm", "filename: " + module})
	var out, errb lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"serve", "-c", cfg, "-demo", "-workers", "1", "-cache-dir", ""}, &out, &errb)
	}()

	listener := regexp.MustCompile(`listener\s+http://(127\.0\.0\.1:\d+)`)
	var base string
	for deadline := time.Now().Add(30 * time.Second); base == ""; time.Sleep(20 * time.Millisecond) {
		if m := listener.FindStringSubmatch(out.String()); m != nil {
			base = m[1]
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited %d before serving: %s", code, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no banner after 30s; stdout %q stderr %q", out.String(), errb.String())
		}
	}
	for _, want := range []string{"Demo tokens", "dfoa_demoReaderToken", "curl -i -X POST -H 'Authorization: Bearer dfoa_demoReaderToken0000000000000000000000000000' " + base + "/openapi/v1/apps/42/run"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, out.String())
		}
	}
	req, _ := http.NewRequest("GET", "http://"+base+"/openapi/v1/apps", nil)
	req.Header.Set("Authorization", "Bearer dfoa_demoReaderToken0000000000000000000000000000")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"x-scope-gate-scopes"`) {
		t.Fatalf("scoped-allowed request: %d %s", resp.StatusCode, body)
	}
	// serve has registered for SIGINT (signal.NotifyContext), so the signal reaches it, not the test binary.
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d after SIGINT; stderr: %s", code, errb.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop after SIGINT")
	}
	if !strings.Contains(out.String(), `"GET /openapi/v1/apps HTTP/1.1" 200 route=apps_read decision="allowed"`) {
		t.Errorf("no access-log line for the request:\n%s", out.String())
	}
	if !strings.Contains(errb.String(), "shutting down") {
		t.Errorf("stderr does not say it shut down: %s", errb.String())
	}
}
