package gateway

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"strings"

	"github.com/scope-gate/scope-gate/filter/pathcheck"
	"sync"
	"testing"
	"time"

	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

// The public prefix of envoy/envoy.yaml (route device_flow, auth "none") and the protected routes behind it.
const publicPrefix = "/openapi/v1/oauth/device/"

// recordingUpstream is EchoHandler that also remembers every request-target it received, in order.
type recordingUpstream struct {
	mu    sync.Mutex
	paths []string
}

func (u *recordingUpstream) take() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := u.paths
	u.paths = nil
	return out
}

func startRecordingUpstream(t *testing.T) (*recordingUpstream, string) {
	t.Helper()
	u := &recordingUpstream{}
	echo := EchoHandler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.paths = append(u.paths, r.RequestURI)
		u.mu.Unlock()
		echo.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return u, srv.Listener.Addr().String()
}

type rawResponse struct {
	status   int
	location string
	body     string
	upstream bool // the answer came from the upstream (EchoMarker)
}

// rawGet sends "GET <target> HTTP/1.1" byte for byte (an HTTP client would clean or re-encode the path), as
// `curl --path-as-is` does.
func rawGet(t *testing.T, addr, target, token string) rawResponse {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	req := "GET " + target + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
	if token != "" {
		req += "Authorization: Bearer " + token + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("GET %q: %v", target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return rawResponse{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(body),
		upstream: resp.Header.Get(EchoMarker) != ""}
}

// resolvesUnder is a reference backend's view of a path it received: the query cut off, every %XX decoded
// once, '\' read as '/', then RFC 3986 dot segments removed and slashes merged (path.Clean). A public answer
// is harmless only if the path the upstream got still resolves under the public prefix.
func resolvesUnder(received, prefix string) bool {
	p, _ := splitQuery(received)
	if d, err := url.PathUnescape(p); err == nil {
		p = d
	}
	p = path.Clean(strings.ReplaceAll(p, `\`, "/"))
	return strings.HasPrefix(p+"/", prefix)
}

// pathCorpus: path-confusion requests with the public prefix in front of a protected route, and what Envoy
// does with each under envoy/envoy.yaml's settings (normalize_path, merge_slashes, REJECT_REQUEST), no token.
// want: 401 = the normalized path hit a protected route (the filter's "missing bearer token"); 400 = Envoy
// refused the path before any filter; 200 = the public route, and upstreamPath is exactly what it received;
// refusedByFilter = Envoy let the path through normalized, and the filter's own check refused it (400
// "ambiguous request path"): the second layer, for what Envoy's normalization leaves ambiguous.
const refusedByFilter = -400

var pathCorpus = []struct {
	name, target string
	want         int
	upstreamPath string
}{
	{"dot segments", publicPrefix + "../../apps", 401, ""},
	{"%2e%2e lower case", publicPrefix + "%2e%2e/%2e%2e/apps", 401, ""},
	{"%2E%2e mixed case", publicPrefix + "%2E%2e/%2e%2E/apps", 401, ""},
	{"dot and %2e mixed", publicPrefix + ".%2E/%2e./apps", 401, ""},
	{"dot segments into a scoped route", publicPrefix + "../../apps/42/../7", 401, ""},
	{"encoded slash ..%2F..", publicPrefix + "..%2F..%2Fapps", 400, ""},
	{"encoded slash lower case", publicPrefix + "..%2f..%2fapps", 400, ""},
	{"all encoded", publicPrefix + "%2e%2e%2f%2e%2e%2fapps", 400, ""},
	{"encoded backslash %5c", publicPrefix + "..%5c..%5capps", 400, ""},
	{"encoded backslash %5C", publicPrefix + "..%5C..%5Capps", 400, ""},
	{"raw backslash", publicPrefix + `..\..\apps`, 401, ""},
	{"double slash before dots", publicPrefix + "/../../apps", 401, ""},
	{"double slashes", "//openapi//v1//apps", 401, ""},
	{"path parameters on dot segments", publicPrefix + "..;x=1/..;/apps", 401, ""},
	{"trailing dot segment", publicPrefix + "../../apps/.", 401, ""},
	{"trailing dots on a name", publicPrefix + "../../apps.", refusedByFilter, ""},
	{"fragment", publicPrefix + "#/../../apps", 400, ""},
	{"escaped NUL", publicPrefix + "%00/../../apps", 400, ""},
	// Envoy forwards these to the public route; a backend that decodes twice, maps overlong UTF-8 or drops
	// trailing dots would not read them as public, so the filter refuses them.
	{"double encoding %252e", publicPrefix + "%252e%252e/%252e%252e/apps", refusedByFilter, ""},
	{"overlong UTF-8 %c0%ae", publicPrefix + "%c0%ae%c0%ae/%c0%ae%c0%ae/apps", refusedByFilter, ""},
	{"three dots end in a dot", publicPrefix + ".../apps", refusedByFilter, ""},
	// Reaching the public route: Envoy forwards these, and the upstream's reading of them stays public.
	{"dots inside the public prefix", publicPrefix + "x/../code", 200, publicPrefix + "code"},
	{"dots in the query", publicPrefix + "code?next=/../../apps", 200, publicPrefix + "code?next=/../../apps"},
	{"parameters on a name", publicPrefix + "code;jsessionid=1", 200, publicPrefix + "code;jsessionid=1"},
	{"unreserved escapes decoded", publicPrefix + "%63ode", 200, publicPrefix + "code"},
}

// TestPathConfusionOverHTTP replays pathCorpus through serve on envoy/envoy.yaml: each request gets exactly
// what Envoy gives it, and none reaches the upstream without a token unless the path the upstream received
// resolves under the public prefix.
func TestPathConfusionOverHTTP(t *testing.T) {
	up, upAddr := startRecordingUpstream(t)
	cfg := envoyYAMLConfig(t, upAddr)
	want := PathSettings{NormalizePath: true, MergeSlashes: true, EscapedSlashes: hcmv3.HttpConnectionManager_REJECT_REQUEST}
	if cfg.Paths != want {
		t.Fatalf("envoy/envoy.yaml compiles to %+v, want %+v", cfg.Paths, want)
	}
	tg, err := startGateway(t, cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	addr := tg.Addr().String()
	for _, tc := range pathCorpus {
		t.Run(tc.name, func(t *testing.T) {
			got := rawGet(t, addr, tc.target, "")
			received := up.take()
			if tc.want == refusedByFilter {
				if got.status != 400 || got.body != ambiguousPathBody || len(received) != 0 {
					t.Fatalf("GET %s: %d %q, upstream %q, want the filter's 400 ambiguous path and no upstream request", tc.target, got.status, got.body, received)
				}
				return
			}
			if got.status != tc.want {
				t.Fatalf("GET %s: %d %q, want %d (upstream received %q)", tc.target, got.status, got.body, tc.want, received)
			}
			switch tc.want {
			case 401:
				if !strings.Contains(got.body, "missing bearer token") || len(received) != 0 {
					t.Errorf("GET %s: want the filter's 401 and no upstream request, got %q, upstream %q", tc.target, got.body, received)
				}
			case 400:
				// Envoy's path_normalization_failed: an empty body, no filter, no upstream.
				if got.body != "" || len(received) != 0 {
					t.Errorf("GET %s: want Envoy's empty 400 and no upstream request, got %q, upstream %q", tc.target, got.body, received)
				}
			case 200:
				if !got.upstream || len(received) != 1 || received[0] != tc.upstreamPath {
					t.Fatalf("GET %s: upstream received %q, want exactly [%q]", tc.target, received, tc.upstreamPath)
				}
			}
			// The invariant, whatever the case: a token-less request the upstream answered is one whose path
			// the upstream reads under the public prefix.
			for _, p := range received {
				if !resolvesUnder(p, publicPrefix) {
					t.Errorf("GET %s: the upstream received %q without a token; it resolves outside %s", tc.target, p, publicPrefix)
				}
			}
		})
	}
	// The access log shows the path that was routed, not the one that was sent.
	if log := tg.access.String(); !strings.Contains(log, `"GET /openapi/v1/apps HTTP/1.1" 401 route=apps_read`) ||
		!strings.Contains(log, `400 route=- decision="400 path_normalization_failed"`) {
		t.Errorf("access log:\n%s", log)
	}
}

// TestPathRedirectOverHTTP: with UNESCAPE_AND_REDIRECT, a path with an encoded slash is answered 307 before
// any filter, Location being the fully normalized path (query kept); following it is a new request, routed
// and filtered on that path.
func TestPathRedirectOverHTTP(t *testing.T) {
	up, upAddr := startRecordingUpstream(t)
	cfg := envoyYAMLConfig(t, upAddr)
	cfg.Paths.EscapedSlashes = hcmv3.HttpConnectionManager_UNESCAPE_AND_REDIRECT
	tg, err := startGateway(t, cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	addr := tg.Addr().String()
	for _, tc := range []struct {
		target, location string
		followed         int
	}{
		{publicPrefix + "..%2F..%2Fapps?x=%2F", "/openapi/v1/apps?x=%2F", 401},
		{publicPrefix + "..%5c..%5Capps", "/openapi/v1/apps", 401},
		{publicPrefix + "a%2Fcode", publicPrefix + "a/code", 200},
	} {
		got := rawGet(t, addr, tc.target, "")
		if got.status != 307 || got.location != tc.location || got.body != "" || len(up.take()) != 0 {
			t.Fatalf("GET %s: %d Location %q body %q, want 307 Location %q, empty, upstream untouched", tc.target, got.status, got.location, got.body, tc.location)
		}
		next := rawGet(t, addr, got.location, "")
		received := up.take()
		if next.status != tc.followed {
			t.Fatalf("following %s: %d %q, want %d", got.location, next.status, next.body, tc.followed)
		}
		if tc.followed == 200 && (len(received) != 1 || received[0] != tc.location) {
			t.Errorf("following %s: upstream received %q", got.location, received)
		}
		if tc.followed != 200 && len(received) != 0 {
			t.Errorf("following %s: upstream received %q without a token", got.location, received)
		}
	}
	// gRPC clients cannot follow a redirect: Envoy answers them 400 instead.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(c, "POST "+publicPrefix+"..%2Fx HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/grpc+proto\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	c.Close()
	if err != nil || resp.StatusCode != 400 || len(up.take()) != 0 {
		t.Fatalf("gRPC request with an escaped slash: %v %v, want 400 and no upstream request", resp, err)
	}
	resp.Body.Close()

	// A request that a token allows is allowed on the redirected path too, and forwarded normalized.
	got := rawGet(t, addr, "/openapi/v1/apps/x/..%2F42", readerToken)
	if got.status != 307 || got.location != "/openapi/v1/apps/42" {
		t.Fatalf("got %d %q", got.status, got.location)
	}
	if next := rawGet(t, addr, got.location, readerToken); next.status != 200 || !next.upstream {
		t.Fatalf("following with a token: %d %q", next.status, next.body)
	}
	if received := up.take(); len(received) != 1 || received[0] != "/openapi/v1/apps/42" {
		t.Errorf("upstream received %q", received)
	}
}

// TestRawPathBaselineOverHTTP shows the unsafe default: the same bootstrap with normalize_path,
// merge_slashes and path_with_escaped_slashes_action unset, as every example was before, and as Envoy
// behaves then. serve keeps the raw path: the public prefix matches and the upstream receives the path
// byte for byte, a path that many backends resolve to /openapi/v1/apps. This is why the filter checks paths
// itself.
//
// Without Envoy's normalization, the filter's own check is the only layer: a request may reach the upstream
// raw only if that check finds its path unambiguous; every other one must get the filter's 400.
// ambiguousPathBody is the filter's 400 for an ambiguous path (docs/spec.md §5 step 0).
const ambiguousPathBody = `{"code":"invalid_request","message":"ambiguous request path","status":400}`

func TestRawPathBaselineOverHTTP(t *testing.T) {
	up, upAddr := startRecordingUpstream(t)
	cfg := envoyYAMLConfig(t, upAddr)
	cfg.Paths = PathSettings{} // what Compile gives for an HCM without the three fields (TestCompilePathSettings)
	tg, err := startGateway(t, cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	addr := tg.Addr().String()
	reached := 0
	for _, tc := range pathCorpus {
		if tc.name == "fragment" {
			continue // refused by Envoy whatever the settings: below
		}
		t.Run(tc.name, func(t *testing.T) {
			got := rawGet(t, addr, tc.target, "")
			received := up.take()
			switch {
			case len(received) == 1:
				// The edge did not normalize: the upstream got the request-target exactly as sent. Only a
				// path that every backend reads the same way may get this far: the filter refuses the rest.
				reached++
				if received[0] != tc.target || got.status != 200 {
					t.Fatalf("GET %s: upstream received %q (status %d), want the raw path byte for byte", tc.target, received, got.status)
				}
				if p := pathcheck.Check(tc.target, pathcheck.Rules{}); p != pathcheck.OK {
					t.Fatalf("GET %s reached the upstream without normalization although the filter's check refuses it (%v)", tc.target, p)
				}
			case len(received) == 0 && got.status == 400 && got.body == ambiguousPathBody:
				// The filter's own refusal: the second layer holds where Envoy does not normalize.
			case len(received) == 0 && strings.HasPrefix(tc.target, "//"):
				// Not under the public prefix: matched raw, it is the catch-all's bearer route.
				if got.status != 401 {
					t.Fatalf("GET %s: %d %q, want 401", tc.target, got.status, got.body)
				}
			default:
				t.Fatalf("GET %s: %d %q, upstream %q: neither the raw path forwarded nor the filter's 400", tc.target, got.status, got.body, received)
			}
		})
	}
	t.Logf("raw-path baseline: %d of %d corpus requests reached the upstream unnormalized (each one unambiguous)", reached, len(pathCorpus)-1)
	// Envoy refuses a '#' in :path even with every setting off (runtime guard http_reject_path_with_fragment).
	if got := rawGet(t, addr, publicPrefix+"#/../../apps", ""); got.status != 400 || got.body != "" || len(up.take()) != 0 {
		t.Errorf("fragment: %d %q, want Envoy's empty 400", got.status, got.body)
	}
}

// TestCompilePathSettings: the three HCM fields compile into serve's settings; absent, they are Envoy's
// defaults (raw paths), IMPLEMENTATION_SPECIFIC_DEFAULT included.
func TestCompilePathSettings(t *testing.T) {
	raw, err := os.ReadFile(envoyYAML)
	if err != nil {
		t.Fatal(err)
	}
	data := string(raw)
	for _, tc := range []struct {
		name, fields string
		want         PathSettings
	}{
		{"unset", "", PathSettings{}},
		{"all", "normalize_path: true\n          merge_slashes: true\n          path_with_escaped_slashes_action: UNESCAPE_AND_REDIRECT\n",
			PathSettings{NormalizePath: true, MergeSlashes: true, EscapedSlashes: hcmv3.HttpConnectionManager_UNESCAPE_AND_REDIRECT}},
		{"explicit default", "normalize_path: false\n          path_with_escaped_slashes_action: IMPLEMENTATION_SPECIFIC_DEFAULT\n", PathSettings{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			y := stripPathFields(t, data)
			y = strings.Replace(y, "          codec_type: AUTO\n", "          codec_type: AUTO\n          "+tc.fields, 1)
			cfg := compileYAML(t, y)
			if cfg.Paths != tc.want {
				t.Errorf("got %+v, want %+v", cfg.Paths, tc.want)
			}
		})
	}
}

// stripPathFields removes the three settings from envoy/envoy.yaml's text.
func stripPathFields(t *testing.T, data string) string {
	t.Helper()
	var out []string
	n := 0
	for _, line := range strings.Split(data, "\n") {
		f := strings.TrimSpace(line)
		if strings.HasPrefix(f, "normalize_path:") || strings.HasPrefix(f, "merge_slashes:") || strings.HasPrefix(f, "path_with_escaped_slashes_action:") {
			n++
			continue
		}
		out = append(out, line)
	}
	if n != 3 {
		t.Fatalf("envoy/envoy.yaml: found %d of the three path settings", n)
	}
	return strings.Join(out, "\n")
}

func compileYAML(t *testing.T, y string) *Config {
	t.Helper()
	f := t.TempDir() + "/bootstrap.yaml"
	if err := os.WriteFile(f, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
