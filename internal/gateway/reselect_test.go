package gateway

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/scope-gate/scope-gate/internal/envoyconfig"
)

// reselectYAML: route "internal" matches any request carrying x-scope-gate-subject, a header scope-gate
// removes from every request and sets on allowed ones; "api" requires apps:read. `scope-gate check` refuses
// this (TestRouteMatchOnWrittenHeaders); serve runs it as Envoy would, to show why.
const reselectYAML = `
static_resources:
  listeners:
  - name: ingress
    address: {socket_address: {address: 127.0.0.1, port_value: 0}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          http_filters:
          - name: scope_gate
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: scope_gate
                root_id: scope_gate
                failure_policy: FAIL_CLOSED
                vm_config:
                  runtime: envoy.wasm.runtime.v8
                  code: {local: {filename: build/scope-gate.wasm}}
                configuration:
                  "@type": type.googleapis.com/google.protobuf.StringValue
                  value: '#PLUGIN'
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
          route_config:
            virtual_hosts:
            - name: api
              domains: ["*"]
              routes:
              #ROUTES
  clusters:
  - name: backend
    load_assignment:
      cluster_name: backend
      endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 1}}}}]}]
  - name: internal
    load_assignment:
      cluster_name: internal
      endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 1}}}}]}]
`

const identityRoutes = `- name: internal
                match:
                  prefix: /
                  headers: [{name: x-scope-gate-subject, present_match: true}]
                route: {cluster: internal}
                metadata: {filter_metadata: {scope_gate: {auth: none}}}
              - name: api
                match: {prefix: /api}
                route: {cluster: backend}
                metadata: {filter_metadata: {scope_gate: {required_scope: "apps:read"}}}`

// upstreamRecorder is an upstream that names itself in x-upstream and records the identity header it got.
type upstreamRecorder struct {
	name string
	mu   sync.Mutex
	got  []string // x-scope-gate-subject of each request
}

func (u *upstreamRecorder) start(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.got = append(u.got, r.Header.Get("X-Scope-Gate-Subject"))
		u.mu.Unlock()
		w.Header().Set("x-upstream", u.name)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().(*net.TCPAddr).String()
}

func (u *upstreamRecorder) requests() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.got...)
}

func reselectGateway(t *testing.T, plugin, routes string, backend, internal *upstreamRecorder) *testGateway {
	t.Helper()
	doc := strings.Replace(strings.Replace(reselectYAML, "#PLUGIN", plugin, 1), "#ROUTES", routes, 1)
	b, err := envoyconfig.ParseBootstrap([]byte(doc))
	if err != nil {
		t.Fatalf("not a valid Envoy bootstrap: %v", err)
	}
	cfg, err := Compile(b)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	cfg.ListenAddress, cfg.AdminAddress = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Filter.ModuleFilename = wasmPath
	cfg.Clusters["backend"].Endpoints = []string{backend.start(t)}
	cfg.Clusters["internal"].Endpoints = []string{internal.start(t)}
	tg, err := startGateway(t, cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// TestRouteReselection: with the module's ABI 0.2.0, serve matches the route again after the filter changed
// request headers, as Envoy does: a request can land on another route than the one whose requirement the
// filter checked (the filter keeps the route matched on the request as received), or on none (404). It is why
// `scope-gate check` refuses route matchers on the headers the filter writes or removes.
func TestRouteReselection(t *testing.T) {
	if !reselectsRoute([]string{"_initialize", "proxy_abi_version_0_2_0"}) || !reselectsRoute([]string{"proxy_abi_version_0_2_1"}) ||
		reselectsRoute([]string{"_initialize", "proxy_on_memory_allocate"}) {
		t.Fatal("reselectsRoute: ABI 0.2.0 and 0.2.1 re-select, a module without a known ABI export does not")
	}
	tok := table.Tokens["account"]
	plugin := `{"token_kinds":[{"prefix":"dfoa_","subject_type":"account","scopes":["full"]}],` +
		`"validator":{"type":"static","tokens":[{"sha256":"` + tok.SHA256 + `","subject":"reader@example.com"}]}#MORE}`
	get := func(tg *testGateway, path, token string, extra ...string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", tg.base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for i := 0; i+1 < len(extra); i += 2 {
			req.Header.Set(extra[i], extra[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("x-upstream")
	}

	t.Run("identity header selects another route", func(t *testing.T) {
		backend, internal := &upstreamRecorder{name: "backend"}, &upstreamRecorder{name: "internal"}
		tg := reselectGateway(t, strings.Replace(plugin, "#MORE", "", 1), identityRoutes, backend, internal)
		if !strings.Contains(tg.log.String(), `route "internal" matches on header "x-scope-gate-subject"`) {
			t.Errorf("no start-up warning about route internal:\n%s", tg.log)
		}
		for _, c := range []struct {
			about, path, token string
			extra              []string
			status             int
			upstream, route    string
		}{
			// Checked against "api" (apps:read, held through full), allowed, x-scope-gate-subject set: the router
			// matches again and takes "internal".
			{"allowed on api, forwarded by internal", "/api/apps", tok.Token, nil, 200, "internal", "route=api->internal"},
			{"no bearer: 401 on api, no change to route", "/api/apps", "", nil, 401, "", "route=api "},
			// The worst case: a client's spoofed header selects "internal" (public), which is what the filter
			// checks; the filter removes the header (anti-spoofing), the router matches again without it and sends
			// the unauthenticated request to "api"'s backend.
			{"spoofed identity header: public check, api's backend", "/api/apps", "", []string{"X-Scope-Gate-Subject", "admin@example.com"}, 200, "backend", `route=internal->api decision="public"`},
			// No route before the filter (default_route bearer applies); the header the filter sets makes "internal"
			// match.
			{"no route, then internal", "/other", tok.Token, nil, 200, "internal", "route=-->internal"},
		} {
			mark := tg.access.Len()
			status, upstream := get(tg, c.path, c.token, c.extra...)
			line := tg.access.String()[mark:]
			if status != c.status || upstream != c.upstream || !strings.Contains(line, c.route) {
				t.Errorf("%s: %d from %q, access log %q; want %d from %q, %s", c.about, status, upstream, strings.TrimSpace(line), c.status, c.upstream, c.route)
			}
		}
		if got := internal.requests(); len(got) != 2 || got[0] != "reader@example.com" || got[1] != "reader@example.com" {
			t.Errorf("internal upstream got identity headers %q, want the filter's subject twice", got)
		}
		if got := backend.requests(); len(got) != 1 || got[0] != "" {
			t.Errorf("backend upstream got identity headers %q, want one request without (the spoofed one, removed)", got)
		}
	})

	t.Run("stripped authorization leaves no route: 404", func(t *testing.T) {
		backend, internal := &upstreamRecorder{name: "backend"}, &upstreamRecorder{name: "internal"}
		routes := `- name: api
                match:
                  prefix: /api
                  headers: [{name: authorization, present_match: true}]
                route: {cluster: backend}
                metadata: {filter_metadata: {scope_gate: {required_scope: "apps:read"}}}`
		tg := reselectGateway(t, strings.Replace(plugin, "#MORE", `,"upstream_headers":{"strip_authorization":true}`, 1), routes, backend, internal)
		mark := tg.access.Len()
		status, upstream := get(tg, "/api/apps", tok.Token)
		line := tg.access.String()[mark:]
		// Envoy's router answers 404 with an empty body when no route matches (router.cc, route_not_found).
		if status != 404 || upstream != "" || !strings.Contains(line, `route=api->- decision="allowed"`) {
			t.Errorf("got %d from %q, access log %q; want 404 from no upstream, route=api->- allowed", status, upstream, strings.TrimSpace(line))
		}
		if n := len(backend.requests()) + len(internal.requests()); n != 0 {
			t.Errorf("%d requests reached an upstream, want none", n)
		}
	})
}
