package gateway

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
)

// DemoToken is one of the demo tokens of envoy/envoy.yaml, whose static validator lists only their SHA-256
// (TestDemoTokensMatchEnvoyYAML keeps the two in sync).
type DemoToken struct {
	Token string
	About string
}

// DemoTokens are test values, published in envoy/envoy.yaml's comments: never use them anywhere real.
var DemoTokens = []DemoToken{
	{"dfoa_demoFullAccountToken00000000000000000000000", `account, scope "full": passes every scope check, refused where subject_types excludes accounts`},
	{"dfoa_demoReaderToken0000000000000000000000000000", `account, scopes "apps:read workspace:read"`},
	{"dfoe_demoExternalSsoToken00000000000000000000000", `external_sso, scopes "apps:run apps:read:permitted-external"`},
	{"dfoa_demoExpiredToken000000000000000000000000000", `expired on 2000-01-01: always 401`},
}

// DemoRequest is a ready-to-paste request against envoy/envoy.yaml and the status it gets
// (TestDemoRequests sends each one through serve).
type DemoRequest struct {
	About  string
	Method string
	Path   string
	Host   string // "" = the listener's address
	Token  string // "" = no Authorization header
	Status int
}

const (
	readerToken = "dfoa_demoReaderToken0000000000000000000000000000"
	ssoToken    = "dfoe_demoExternalSsoToken00000000000000000000000"
)

// DemoRequests: a public, a bearer-only, a scoped-allowed, a scoped-denied and a subject-type-denied request,
// and the neighbours a newcomer asks about next.
var DemoRequests = []DemoRequest{
	{About: "public: the device flow needs no token", Method: "POST", Path: "/openapi/v1/oauth/device/code", Status: 200},
	{About: "public: the version probe, which clients read before they log in", Method: "GET", Path: "/openapi/v1/_version", Status: 200},
	{About: "no token on a protected route: 401", Method: "GET", Path: "/openapi/v1/apps", Status: 401},
	{About: "bearer only: any live token; the echo shows the x-scope-gate-* identity headers", Method: "GET", Path: "/openapi/v1/account", Token: readerToken, Status: 200},
	{About: "scoped, allowed: the reader token has apps:read", Method: "GET", Path: "/openapi/v1/apps", Token: readerToken, Status: 200},
	{About: "scoped, denied: apps:run is missing (403 insufficient_scope)", Method: "POST", Path: "/openapi/v1/apps/42/run", Token: readerToken, Status: 403},
	{About: "accounts only: an external SSO token is refused (403 subject type)", Method: "GET", Path: "/openapi/v1/workspaces", Token: ssoToken, Status: 403},
	{About: "expired token: 401", Method: "GET", Path: "/openapi/v1/account", Token: "dfoa_demoExpiredToken000000000000000000000000000", Status: 401},
	{About: "filter disabled on this route (direct response)", Method: "GET", Path: "/healthz", Status: 200},
}

// Curl renders the request as a curl command line for base (e.g. "localhost:8080").
func (d DemoRequest) Curl(base string) string {
	var b strings.Builder
	b.WriteString("curl -i")
	if d.Method != "GET" {
		b.WriteString(" -X " + d.Method)
	}
	if d.Host != "" {
		b.WriteString(" -H 'Host: " + d.Host + "'")
	}
	if d.Token != "" {
		b.WriteString(" -H 'Authorization: Bearer " + d.Token + "'")
	}
	b.WriteString(" " + base + d.Path)
	return b.String()
}

// CurlBase is how a user on this machine reaches a listen address: a wildcard address is localhost.
func CurlBase(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// WriteDemoBanner prints what `make run` shows once serving: addresses, tokens and curl lines.
func WriteDemoBanner(w io.Writer, g *Gateway, bootstrap, upstreamAddr string) {
	base := CurlBase(g.Addr().String())
	admin := CurlBase(g.AdminAddr().String())
	fmt.Fprintf(w, "\nscope-gate serve: %s with %d worker VMs on an embedded Wasm runtime (no Envoy involved)\n", bootstrap, g.opts.Workers)
	fmt.Fprintf(w, "  listener       http://%s\n", base)
	fmt.Fprintf(w, "  admin          http://%s/stats   http://%s/ready\n", admin, admin)
	fmt.Fprintf(w, "  demo upstream  http://%s  (echoes method, path and the headers it received, as JSON)\n", upstreamAddr)
	fmt.Fprintf(w, "\nDemo tokens (test values; the configuration holds only their SHA-256):\n")
	for _, t := range DemoTokens {
		fmt.Fprintf(w, "  %s  %s\n", t.Token, t.About)
	}
	fmt.Fprintf(w, "\nTry:\n")
	for _, d := range DemoRequests {
		fmt.Fprintf(w, "  # %s\n  %s\n", d.About, d.Curl(base))
	}
	fmt.Fprintf(w, "  # the filter's counters\n  curl -s %s/stats\n", admin)
	fmt.Fprintf(w, "\nOne access-log line per request follows. Ctrl-C stops.\n\n")
}

// EchoHandler is the demo upstream: it answers 200 with the method, path and received headers as JSON
// (lower-case names), so that a user sees what the filter forwarded, identity headers included.
func EchoHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		headers := map[string][]string{"host": {r.Host}}
		for k, v := range r.Header {
			headers[strings.ToLower(k)] = v
		}
		n, _ := io.Copy(io.Discard, r.Body)
		out := struct {
			Method    string              `json:"method"`
			Path      string              `json:"path"`
			BodyBytes int64               `json:"body_bytes"`
			Headers   map[string][]string `json:"headers"` // encoding/json sorts the names
		}{r.Method, r.RequestURI, n, headers}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set(EchoMarker, "1")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
	})
}

// EchoMarker is set by EchoHandler on every answer: a response carrying it came from the upstream.
const EchoMarker = "x-demo-upstream"
