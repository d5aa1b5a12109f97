package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const petstore = "../../internal/openapi/testdata/petstore-kin-openapi.json"

// bootstrapTemplate is a minimal bootstrap around one virtual host whose routes are ROUTES (JSON is YAML).
const bootstrapTemplate = `static_resources:
  listeners:
  - name: ingress
    address: {socket_address: {address: 127.0.0.1, port_value: 10000}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          normalize_path: true
          merge_slashes: true
          path_with_escaped_slashes_action: REJECT_REQUEST
          http_filters:
          - name: scope_gate
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: scope_gate
                root_id: scope_gate
                fail_open: false
                vm_config:
                  runtime: envoy.wasm.runtime.v8
                  code: {local: {filename: build/scope-gate.wasm}}
                configuration:
                  "@type": type.googleapis.com/google.protobuf.StringValue
                  value: '{"validator": {"type": "static", "tokens": [{"sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}]}}'
          - name: envoy.filters.http.router
            typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}
          route_config:
            virtual_hosts:
            - name: petstore
              domains: ["*"]
              routes: ROUTES
  clusters:
  - name: backend
    type: STATIC
    load_assignment:
      cluster_name: backend
      endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 8081}}}}]}]
`

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestOpenAPIWorkflow: generate the routes once, put them in a bootstrap, check it against the document (no
// drift), then drop an operation's route and see check fail naming it.
func TestOpenAPIWorkflow(t *testing.T) {
	dir := t.TempDir()
	routesFile := filepath.Join(dir, "routes.yaml")
	code, _, stderr := runCLI(t, "routes", "-openapi", petstore, "-foreign", "skip", "-o", routesFile)
	if code != 0 {
		t.Fatalf("routes: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "warning: ") || !strings.Contains(stderr, "(getInventory): only schemes scope-gate does not check") {
		t.Errorf("routes: the skipped operations are not reported:\n%s", stderr)
	}
	data, err := os.ReadFile(routesFile)
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	var gen struct {
		Routes []map[string]any `json:"routes"`
	}
	if err := json.Unmarshal(js, &gen); err != nil {
		t.Fatal(err)
	}
	write := func(routes []map[string]any) string {
		j, err := json.Marshal(routes)
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, "bootstrap.yaml")
		if err := os.WriteFile(f, []byte(strings.Replace(bootstrapTemplate, "ROUTES", string(j), 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	code, stdout, stderr := runCLI(t, "check", "-q", "-openapi", petstore, "-foreign", "skip", write(gen.Routes))
	if code != 0 || strings.Contains(stdout, "error:") {
		t.Fatalf("check: exit %d\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "warning: GET /v2/store/inventory (getInventory): not compared") {
		t.Errorf("check: skipped operation not reported:\n%s", stdout)
	}
	var fewer []map[string]any
	for _, r := range gen.Routes {
		if r["name"] != "deletePet" {
			fewer = append(fewer, r)
		}
	}
	code, stdout, _ = runCLI(t, "check", "-q", "-openapi", petstore, "-foreign", "skip", write(fewer))
	if code != 1 || !strings.Contains(stdout, "error: DELETE /v2/pet/{petId} (deletePet): ") || !strings.Contains(stdout, "1 error(s)") {
		t.Fatalf("check without deletePet's route: exit %d\n%s", code, stdout)
	}
}

func TestRoutesCommand(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /x:\n    get:\n      security: [{nope: []}]\n      responses: {'200': {description: ok}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	kept := filepath.Join(dir, "kept.yaml")
	if err := os.WriteFile(kept, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{"no document", []string{"routes"}, 2, nil, []string{"-openapi SPEC is required"}},
		{"bad -inexact", []string{"routes", "-openapi", petstore, "-inexact", "loose"}, 2, nil, []string{`-inexact: "loose" is not refuse or stricter`}},
		{"bad -format", []string{"routes", "-openapi", petstore, "-foreign", "skip", "-format", "xml"}, 2, nil, []string{`-format "xml"`}},
		{"apiKey-only operations refused by default", []string{"routes", "-openapi", petstore}, 1, nil,
			[]string{"error: " + petstore + ": /paths/~1store~1inventory/get: GET /v2/store/inventory (getInventory): only schemes scope-gate does not check"}},
		{"table", []string{"routes", "-openapi", petstore, "-foreign", "skip", "-format", "table"}, 0,
			[]string{"DELETE  /v2/pet/{petId}", "deletePet", "bearer scope=read:pets write:pets", "(no route)"}, nil},
		{"routes map", []string{"routes", "-openapi", petstore, "-foreign", "skip", "-format", "routes-map"}, 0,
			[]string{`"deletePet": {`, `"required_scope": "read:pets write:pets"`, `"placeOrder": {`, `"auth": "none"`}, nil},
		{"envoy", []string{"routes", "-openapi", "../../envoy/reference-backend.openapi.json"}, 0,
			[]string{"safe_regex:", "regex: /openapi/v1/apps/[^/]+/run", "exact: POST", "required_scope: apps:run", "subject_types: account"}, nil},
		{"unknown scheme: one line with the pointer, nothing written", []string{"routes", "-openapi", bad, "-o", kept}, 1, nil,
			[]string{"error: " + bad + ": /paths/~1x/get/security/0/nope: unknown security scheme \"nope\""}},
		{"missing document", []string{"routes", "-openapi", filepath.Join(dir, "none.yaml")}, 1, nil, []string{"no such file"}},
		{"check the demo's /openapi/v1 routes against the reference document", []string{"check", "-q", "-openapi", "../../envoy/reference-backend.openapi.json", "-virtual-host", "api", "../../envoy/envoy.yaml"}, 0, nil, nil},
		{"several virtual hosts need -virtual-host", []string{"check", "-q", "-openapi", "../../envoy/reference-backend.openapi.json", "../../envoy/envoy.yaml"}, 1,
			[]string{"error: openapi: ../../envoy/envoy.yaml: 2 virtual hosts (api, admin): choose one with -virtual-host", "1 error(s)"}, nil},
		{"a VirtualService without its WasmPlugin is refused, not passed", []string{"check", "-q", "-openapi", "../../envoy/reference-backend.openapi.json", "../../envoy/istio/virtualservice.yaml"}, 1,
			[]string{"error: openapi: ../../envoy/istio/virtualservice.yaml: 0 valid scope-gate WasmPlugins among the inputs (Istio): the OpenAPI comparison needs exactly one", "1 error(s)"}, nil},
		{"the Istio example against the reference backend", []string{"check", "-q", "-openapi", "../../envoy/reference-backend.openapi.json",
			"../../envoy/istio/envoyfilter.yaml", "../../envoy/istio/path-normalization.yaml", "../../envoy/istio/virtualservice.yaml", "../../envoy/istio/wasmplugin.yaml"}, 0, nil, nil},
		{"the Envoy Gateway example against the reference backend", []string{"check", "-q", "-openapi", "../../envoy/reference-backend.openapi.json",
			"../../envoy/envoy-gateway/extensionpolicy.yaml", "../../envoy/envoy-gateway/httproute.yaml"}, 0, nil, nil},
		{"check against the reference backend", []string{"check", "-q", "-openapi", "../../envoy/reference-backend.openapi.json", "../../envoy/reference-backend.yaml"}, 0, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout, stderr)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout)
				}
			}
			for _, s := range tc.stderr {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr)
				}
			}
			if code == 1 && strings.Count(strings.TrimSpace(stderr), "\n") > 0 && !strings.Contains(tc.name, "refused by default") {
				t.Errorf("more than one line on stderr:\n%s", stderr)
			}
		})
	}
	if data, _ := os.ReadFile(kept); string(data) != "old\n" {
		t.Errorf("a failed run changed the output file: %q", data)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".kept.yaml.*")); len(m) > 0 {
		t.Errorf("temporary files left: %v", m)
	}
}
