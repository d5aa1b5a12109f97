package gateway

import (
	"slices"
	"strings"
	"testing"
	"time"

	wasmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/wasm/v3"

	"github.com/scope-gate/scope-gate/internal/envoyconfig"
)

// baseYAML is a minimal bootstrap serve accepts; the cases below splice one unsupported feature into it at a
// marker (each marker line is replaced, keeping its indentation).
const baseYAML = `
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
          #HCM
          http_filters:
          - name: scope_gate
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: scope_gate
                root_id: scope_gate
                failure_policy: FAIL_CLOSED
                #PLUGIN
                vm_config:
                  runtime: envoy.wasm.runtime.v8
                  code: {local: {filename: build/scope-gate.wasm}}
          #FILTERS
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
          route_config:
            virtual_hosts:
            - name: api
              domains: ["*"]
              routes:
              - name: r0
                match:
                  prefix: /
                  #MATCH
                #ROUTE
                route:
                  cluster: backend
                  #ACTION
  #LISTENERS
  clusters:
  - name: backend
    #CLUSTER
    load_assignment:
      cluster_name: backend
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 8081}}}
`

// splice replaces the line holding marker with text, indented like the marker.
func splice(t *testing.T, doc, marker, text string) string {
	t.Helper()
	lines := strings.Split(doc, "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) == marker {
			indent := l[:len(l)-len(strings.TrimLeft(l, " "))]
			var out []string
			for _, tl := range strings.Split(strings.Trim(text, "\n"), "\n") {
				out = append(out, indent+tl)
			}
			lines[i] = strings.Join(out, "\n")
			return strings.Join(lines, "\n")
		}
	}
	t.Fatalf("no marker %s", marker)
	return ""
}

func TestBaseBootstrapCompiles(t *testing.T) {
	b, err := envoyconfig.ParseBootstrap([]byte(baseYAML))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Compile(b)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	if cfg.ListenAddress != "127.0.0.1:0" || cfg.AdminAddress != "127.0.0.1:9901" || cfg.Filter.ModuleFilename != "build/scope-gate.wasm" {
		t.Fatalf("compiled %+v", cfg)
	}
}

// TestFailurePolicy: serve resolves failure_policy as Envoy does: unset is FAIL_CLOSED, FAIL_RELOAD reloads
// with reload_config.backoff.base_interval (default 1 s).
func TestFailurePolicy(t *testing.T) {
	for _, c := range []struct {
		name, line string
		policy     wasmv3.FailurePolicy
		base       time.Duration
	}{
		{"unset", "", wasmv3.FailurePolicy_FAIL_CLOSED, 0},
		{"FAIL_CLOSED", "failure_policy: FAIL_CLOSED", wasmv3.FailurePolicy_FAIL_CLOSED, 0},
		{"FAIL_RELOAD", "failure_policy: FAIL_RELOAD", wasmv3.FailurePolicy_FAIL_RELOAD, time.Second},
		{"FAIL_RELOAD with a backoff", "failure_policy: FAIL_RELOAD\nreload_config: {backoff: {base_interval: 0.25s, max_interval: 5s}}",
			wasmv3.FailurePolicy_FAIL_RELOAD, 250 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			doc := strings.Replace(baseYAML, "failure_policy: FAIL_CLOSED", strings.ReplaceAll(c.line, "\n", "\n                "), 1)
			b, err := envoyconfig.ParseBootstrap([]byte(doc))
			if err != nil {
				t.Fatalf("not a valid Envoy bootstrap: %v", err)
			}
			cfg, err := Compile(b)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			if cfg.Filter.FailurePolicy != c.policy || cfg.Filter.ReloadBaseInterval != c.base {
				t.Errorf("policy %s, base %v; want %s, %v", cfg.Filter.FailurePolicy, cfg.Filter.ReloadBaseInterval, c.policy, c.base)
			}
		})
	}
}

// TestUnsupportedIsAnError: every Envoy feature serve does not implement stops it, naming the field.
func TestUnsupportedIsAnError(t *testing.T) {
	const hcm = "$.static_resources.listeners[0].filter_chains[0].filters[0].typed_config"
	const route = hcm + ".route_config.virtual_hosts[0].routes[0]"
	// at splices text at a marker; swap replaces the first occurrence of old.
	at := func(marker, text string) func(*testing.T, string) string {
		return func(t *testing.T, doc string) string { return splice(t, doc, marker, text) }
	}
	swap := func(old, new string) func(*testing.T, string) string {
		return func(t *testing.T, doc string) string {
			if !strings.Contains(doc, old) {
				t.Fatalf("no %q in the base bootstrap", old)
			}
			return strings.Replace(doc, old, new, 1)
		}
	}
	// withoutRoutes swaps the route_config for text (an HCM holds either route_config or rds).
	withoutRoutes := func(text string) func(*testing.T, string) string {
		return func(t *testing.T, doc string) string {
			i, j := strings.Index(doc, "          route_config:"), strings.Index(doc, "  #LISTENERS")
			return doc[:i] + "          " + text + "\n" + doc[j:]
		}
	}
	cases := []struct {
		name              string
		edit              func(*testing.T, string) string
		wantPath, wantMsg string
	}{
		{"second http filter (cors)", at("#FILTERS", `
- name: envoy.filters.http.cors
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors`),
			hcm + ".http_filters[1].typed_config", "envoy.extensions.filters.http.cors.v3.Cors is not supported by serve"},
		{"weighted clusters", swap("cluster: backend\n", "weighted_clusters: {clusters: [{name: backend, weight: 1}]}\n"),
			route + ".route.weighted_clusters", "not supported by serve"},
		{"unknown cluster", swap("cluster: backend\n", "cluster: nowhere\n"),
			route + ".route.cluster", `unknown cluster "nowhere"`},
		{"redirect", swap("route:\n                  cluster: backend", "redirect: {path_redirect: /x}"),
			route + ".redirect", "not supported by serve"},
		{"retry policy", at("#ACTION", `retry_policy: {retry_on: 5xx}`),
			route + ".route.retry_policy", "not supported by serve"},
		{"regex rewrite", at("#ACTION", `regex_rewrite: {pattern: {regex: "^/a"}, substitution: /b}`),
			route + ".route.regex_rewrite", "not supported by serve"},
		{"query parameter match", at("#MATCH", `query_parameters: [{name: debug, present_match: true}]`),
			route + ".match.query_parameters", "not supported by serve"},
		{"header range match", at("#MATCH", `headers: [{name: x-n, range_match: {start: 1, end: 9}}]`),
			route + ".match.headers[0].range_match", "not supported by serve"},
		{"rds", withoutRoutes(`rds: {route_config_name: r, config_source: {ads: {}}}`),
			hcm + ".rds", "not supported by serve"},
		{"local replies rewritten by the connection manager", at("#HCM", `
local_reply_config:
  mappers:
  - filter: {status_code_filter: {comparison: {op: EQ, value: {default_value: 401, runtime_key: k}}}}
    status_code: 200`),
			hcm + ".local_reply_config", "not supported by serve"},
		{"upstream TLS", at("#CLUSTER", `
transport_socket:
  name: envoy.transport_sockets.tls
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext`),
			"$.static_resources.clusters[0].transport_socket", "not supported by serve"},
		{"least request balancing", at("#CLUSTER", `lb_policy: LEAST_REQUEST`),
			"$.static_resources.clusters[0].lb_policy", "LEAST_REQUEST is not supported by serve"},
		{"fail_open and failure_policy", at("#PLUGIN", `fail_open: true`),
			hcm + ".http_filters[0].typed_config.config.fail_open", "only one of fail_open or failure_policy can be set"},
		{"fail_open", swap("failure_policy: FAIL_CLOSED", "fail_open: true"),
			hcm + ".http_filters[0].typed_config.config.fail_open", "serve never fails open"},
		{"FAIL_OPEN", swap("failure_policy: FAIL_CLOSED", "failure_policy: FAIL_OPEN"),
			hcm + ".http_filters[0].typed_config.config.failure_policy", "FAIL_OPEN is not supported by serve (FAIL_CLOSED or FAIL_RELOAD"},
		{"per-route config for another filter", at("#ROUTE", `
typed_per_filter_config:
  envoy.filters.http.cors:
    "@type": type.googleapis.com/envoy.config.route.v3.FilterConfig
    disabled: true`),
			route + `.typed_per_filter_config["envoy.filters.http.cors"]`, "only for the scope-gate filter"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := envoyconfig.ParseBootstrap([]byte(c.edit(t, baseYAML)))
			if err != nil {
				t.Fatalf("the case is not a valid Envoy bootstrap: %v", err)
			}
			_, err = Compile(b)
			if err == nil {
				t.Fatal("Compile accepted it")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, c.wantPath+": ") || !strings.Contains(msg, c.wantMsg) || strings.Contains(msg, "\n") {
				t.Fatalf("error %q\nwant one line starting %q and containing %q", msg, c.wantPath+": ", c.wantMsg)
			}
		})
	}
}

// TestRouteMatching: virtual host selection and route matching follow Envoy's rules.
func TestRouteMatching(t *testing.T) {
	doc := `
static_resources:
  listeners:
  - name: ingress
    address: {socket_address: {address: 127.0.0.1, port_value: 0}}
    filter_chains:
    - filters:
      - name: hcm
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          http_filters:
          - name: scope_gate
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config: {root_id: scope_gate, vm_config: {runtime: v8, code: {local: {filename: m.wasm}}}}
          - name: router
            typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}
          route_config:
            virtual_hosts:
            - name: exact
              domains: ["api.example.com", "api.example.com:*"]
              routes:
              - {name: path_exact, match: {path: /exact}, route: {cluster: c}}
              - {name: regex_post, match: {safe_regex: {regex: "/apps/[^/]+/run"}, headers: [{name: ":method", string_match: {exact: POST}}]}, route: {cluster: c}}
              - {name: insensitive, match: {prefix: /CaSe, case_sensitive: false}, route: {cluster: c}}
              - {name: segments, match: {path_separated_prefix: /seg}, route: {cluster: c}}
              - {name: has_debug, match: {prefix: /h, headers: [{name: x-debug, present_match: true}]}, route: {cluster: c}}
              - {name: not_beta, match: {prefix: /h, headers: [{name: x-tier, exact_match: beta, invert_match: true}]}, route: {cluster: c}}
              - {name: suffix_ci, match: {prefix: /s, headers: [{name: x-s, string_match: {suffix: END, ignore_case: true}}]}, route: {cluster: c}}
              - {name: empty_or_missing, match: {prefix: /c, headers: [{name: x-c, string_match: {exact: ""}, treat_missing_header_as_empty: true}]}, route: {cluster: c}}
              - {name: rest, match: {prefix: /}, route: {cluster: c}}
            - name: suffix
              domains: ["*.example.com"]
              routes: [{name: suffix_all, match: {prefix: /}, route: {cluster: c}}]
            - name: longer_suffix
              domains: ["*.api.example.com"]
              routes: [{name: longer_suffix_all, match: {prefix: /}, route: {cluster: c}}]
            - name: prefix
              domains: ["internal.*"]
              routes: [{name: prefix_all, match: {prefix: /}, route: {cluster: c}}]
            - name: any
              domains: ["*"]
              routes: [{name: any_get, match: {prefix: /, headers: [{name: ":method", exact_match: GET}]}, route: {cluster: c}}]
  clusters:
  - name: c
    load_assignment: {cluster_name: c, endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 1}}}}]}]}
`
	b, err := envoyconfig.ParseBootstrap([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Compile(b)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		host, method, path string
		headers            map[string]string
		want               string // route name, "" for none
	}{
		{"api.example.com", "GET", "/exact", nil, "path_exact"},
		{"API.example.com:8080", "GET", "/exact?x=1", nil, "path_exact"}, // host case-folded; query ignored by path
		{"api.example.com", "GET", "/exact/more", nil, "rest"},
		{"api.example.com", "POST", "/apps/42/run", nil, "regex_post"},
		{"api.example.com", "GET", "/apps/42/run", nil, "rest"},    // the :method header does not match
		{"api.example.com", "POST", "/apps/42/run/x", nil, "rest"}, // the regex must match the whole path
		{"api.example.com", "POST", "/x/apps/42/run", nil, "rest"}, // anchored at the start too
		{"api.example.com", "POST", "/apps/42/run?async=1", nil, "regex_post"},
		{"api.example.com", "GET", "/case/x", nil, "insensitive"},
		{"api.example.com", "GET", "/seg", nil, "segments"},
		{"api.example.com", "GET", "/seg/1", nil, "segments"},
		{"api.example.com", "GET", "/segment", nil, "rest"},
		{"api.example.com", "GET", "/h", map[string]string{"x-debug": "1"}, "has_debug"},
		{"api.example.com", "GET", "/h", map[string]string{"x-tier": "gold"}, "not_beta"},
		{"api.example.com", "GET", "/h", map[string]string{"x-tier": "beta"}, "rest"},
		{"api.example.com", "GET", "/h", nil, "rest"}, // invert_match on a missing header does not match
		{"api.example.com", "GET", "/s", map[string]string{"x-s": "the-end"}, "suffix_ci"},
		{"api.example.com", "GET", "/c", nil, "empty_or_missing"}, // treat_missing_header_as_empty
		{"api.example.com", "GET", "/c", map[string]string{"x-c": "1"}, "rest"},
		{"www.example.com", "GET", "/", nil, "suffix_all"},
		{"v1.api.example.com", "GET", "/", nil, "longer_suffix_all"}, // the longest suffix wildcard wins
		{"example.com", "GET", "/", nil, "any_get"},                  // "*.example.com" needs a label before the dot
		{"internal.svc", "GET", "/", nil, "prefix_all"},
		{"other", "GET", "/", nil, "any_get"},
		{"other", "DELETE", "/", nil, ""},
	}
	for _, c := range cases {
		view := &requestView{path: c.path, headers: map[string][]string{
			":method": {c.method}, ":path": {c.path}, ":authority": {c.host}, ":scheme": {"http"}}}
		for k, v := range c.headers {
			view.headers[k] = []string{v}
		}
		got := ""
		if vh := findVirtualHost(cfg.VirtualHosts, strings.ToLower(c.host)); vh != nil {
			for _, rt := range vh.Routes {
				if rt.matches(view) {
					got = rt.Name
					break
				}
			}
		}
		if got != c.want {
			t.Errorf("%s %s%s %v: route %q, want %q", c.method, c.host, c.path, c.headers, got, c.want)
		}
	}
}

// TestOtherListenersLeftOut: a listener without the scope-gate filter (Envoy Gateway's readiness and stats
// listeners) is not served, with one warning naming it: serve answers nothing there, so nothing goes through
// unchecked.
func TestOtherListenersLeftOut(t *testing.T) {
	doc := splice(t, baseYAML, "#LISTENERS", `
- name: other
  address: {socket_address: {address: 127.0.0.1, port_value: 0}}
  filter_chains:
  - filters:
    - name: hcm
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
        stat_prefix: other
        route_config: {}
        http_filters:
        - name: envoy.filters.http.router
          typed_config:
            "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router`)
	b, err := envoyconfig.ParseBootstrap([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Compile(b)
	if err != nil {
		t.Fatal(err)
	}
	want := `$.static_resources.listeners[1] ("other"): not served: it carries no scope-gate filter`
	if !slices.Contains(cfg.Warnings, want) {
		t.Errorf("warnings %q, want %q", cfg.Warnings, want)
	}
}

// TestIgnoredFieldsWarn: a field that does not change a decision (an access log) is left out with one
// warning line naming it, and does not stop serve.
func TestIgnoredFieldsWarn(t *testing.T) {
	doc := splice(t, baseYAML, "#HCM", `
access_log:
- name: envoy.access_loggers.stdout
  typed_config:
    "@type": type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog`)
	b, err := envoyconfig.ParseBootstrap([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Compile(b)
	if err != nil {
		t.Fatal(err)
	}
	want := "$.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.access_log: ignored: the connection manager's access log"
	if !slices.Contains(cfg.Warnings, want) {
		t.Errorf("warnings %q, want %q", cfg.Warnings, want)
	}
}

// TestIgnoredNeverShadowsSupported: a field serve implements must never be skipped as ignored.
func TestIgnoredNeverShadowsSupported(t *testing.T) {
	for msg, fields := range ignored {
		for f := range fields {
			if supportedSets[msg][f] {
				t.Errorf("%s.%s is both supported and ignored", msg, f)
			}
		}
	}
}
