package openapi

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// meshDoc: three protected operations and a public one, the document the mesh fixtures are compared with.
var meshDoc = doc("security: [{oauth: [a]}]", `  /pets:
    get: {operationId: listPets, responses: {"200": {description: ok}}}
    post: {operationId: addPet, security: [{oauth: [b]}], responses: {"200": {description: ok}}}
  /pets/{id}:
    get:
      operationId: getPet
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses: {"200": {description: ok}}
  /health:
    get: {operationId: health, security: [], responses: {"200": {description: ok}}}
`)

const istioPlugin = `apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {name: scope-gate, namespace: istio-system}
spec:
  url: oci://example.com/scope-gate:v0
  pluginName: scope_gate
  phase: AUTHN
  failStrategy: FAIL_CLOSE
  pluginConfig:
    validator: {type: static, tokens: []}
    routes:
      pets_read: {required_scope: a}
`

// istioService builds a VirtualService from http[] entries.
func istioService(http string) string {
	return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: pets, namespace: istio-system}
spec:
  hosts: [pets.example]
  gateways: [gw]
  http:
` + http
}

const istioHTTP = `  - name: health
    match: [{uri: {exact: /health}}]
    route: [{destination: {host: pets}}]
  - name: pets_write
    match: [{uri: {prefix: /pets}, method: {exact: POST}}]
    route: [{destination: {host: pets}}]
  - name: pets_read
    match: [{uri: {prefix: /pets}}]
    route: [{destination: {host: pets}}]
`

func istioPatch(route, block string) string {
	return `  - applyTo: HTTP_ROUTE
    match: {context: GATEWAY, routeConfiguration: {vhost: {route: {name: ` + route + `}}}}
    patch: {operation: MERGE, value: {metadata: {filter_metadata: {scope_gate: ` + block + `}}}}
`
}

func istioFilter(patches ...string) string {
	return `apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: routes, namespace: istio-system}
spec:
  configPatches:
` + strings.Join(patches, "")
}

const gatewayResource = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: eg, namespace: pets}
spec:
  gatewayClassName: eg
  listeners: [{name: http, protocol: HTTP, port: 80, hostname: pets.example}]
`

// gatewayPolicy builds an EnvoyExtensionPolicy whose routes map is keyed by the names Envoy Gateway generates.
func gatewayPolicy(routes string) string {
	return `apiVersion: gateway.envoyproxy.io/v1alpha1
kind: EnvoyExtensionPolicy
metadata: {name: scope-gate, namespace: pets}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: pets}]
  wasm:
  - name: scope-gate
    rootID: scope_gate
    code: {type: HTTP, http: {url: "https://example.com/scope-gate.wasm", sha256: "` + strings.Repeat("0", 64) + `"}}
    failOpen: false
    config:
      validator: {type: static, tokens: []}
      routes:
` + routes
}

func gatewayRoute(rules string) string {
	return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: pets, namespace: pets}
spec:
  parentRefs: [{name: eg}]
  rules:
` + rules
}

// The rules are deliberately in an order Envoy Gateway changes: it sorts Exact before RegularExpression
// before PathPrefix, then longer values first, then more header matches (the method counts), so the
// catch-all public PathPrefix "/" written first ends up last.
const gatewayRules = `  - matches: [{path: {type: PathPrefix, value: /}}]
    backendRefs: [{name: pets, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /pets}}]
    backendRefs: [{name: pets, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /pets}, method: POST}]
    backendRefs: [{name: pets, port: 80}]
  - matches: [{path: {type: Exact, value: /health}}]
    backendRefs: [{name: pets, port: 80}]
`

const gatewayRoutesMap = `        httproute/pets/pets/rule/0/match/0/pets_example: {auth: none}
        httproute/pets/pets/rule/1/match/0/pets_example: {required_scope: a}
        httproute/pets/pets/rule/2/match/0/pets_example: {required_scope: b}
        httproute/pets/pets/rule/3/match/0/pets_example: {auth: none}
`

func TestMeshDrift(t *testing.T) {
	res := analyze(t, meshDoc, Options{})
	istio := func(http string, patches ...string) []string {
		return []string{istioPlugin, istioService(http), istioFilter(patches...)}
	}
	istioPatches := []string{istioPatch("health", "{auth: none}"), istioPatch("pets_write", "{required_scope: b}")}
	eg := func(rules, routes string) []string {
		return []string{gatewayResource, gatewayPolicy(routes), gatewayRoute(rules)}
	}
	cases := []struct {
		name   string
		files  []string
		errs   []string // each must be in some error line; none: no error at all
		warns  []string
		refuse string // LoadEdges refuses the input with this text
	}{
		{name: "istio: no drift", files: istio(istioHTTP, istioPatches...)},
		{name: "istio: a scope removed (EnvoyFilter block)", files: istio(istioHTTP, istioPatch("health", "{auth: none}"), istioPatch("pets_write", "{auth: bearer}")),
			errs: []string{"POST /pets (addPet): ", "virtualservice-1.yaml: route pets_write: looser than the document: the route requires a bearer, the document requires a bearer with scope b"}},
		{name: "istio: a scope removed (routes map: the route falls to default_route)", files: []string{strings.Replace(istioPlugin, "pets_read:", "pets_list:", 1), istioService(istioHTTP), istioFilter(istioPatches...)},
			errs: []string{"GET /pets (listPets): ", "route pets_read: looser than the document: the route requires a bearer, the document requires a bearer with scope a", "GET /pets/{id} (getPet)"}},
		{name: "istio: the first match wins: a public prefix before the protected routes", files: istio("  - name: open\n    match: [{uri: {prefix: /pet}}]\n    route: [{destination: {host: pets}}]\n"+istioHTTP, append(istioPatches, istioPatch("open", "{auth: none}"))...),
			errs: []string{"GET /pets/{id} (getPet): ", "route open: looser than the document: the route is public, the document requires a bearer with scope a", "POST /pets (addPet)"}},
		{name: "istio: an operation with no route", files: istio(istioHTTP[:strings.Index(istioHTTP, "  - name: pets_read")], istioPatches...),
			errs: []string{"GET /pets (listPets): ", "no route of virtual host pets.example matches GET /pets"}},
		{name: "istio: stricter is a warning", files: istio(istioHTTP, istioPatch("health", "{auth: bearer}"), istioPatch("pets_write", "{required_scope: b}")),
			warns: []string{"GET /health (health): ", "route health: stricter than the document: the route requires a bearer, the document lets anonymous callers in"}},
		{name: "istio: a named match block gets its own route name", files: istio(strings.Replace(istioHTTP, "method: {exact: POST}}]", "method: {exact: POST}, name: m}]", 1), istioPatches...),
			errs: []string{"POST /pets (addPet): ", "route pets_write.m: looser than the document"}},
		{name: "istio: header match refused", files: istio(strings.Replace(istioHTTP, "method: {exact: POST}}]", "headers: {x-v: {exact: \"1\"}}}]", 1), istioPatches...),
			refuse: "spec.http[1].match[0]: matches on headers: only uri and method matches are compared"},
		{name: "istio: a patch without a route name refused", files: istio(istioHTTP, append(istioPatches, "  - applyTo: HTTP_ROUTE\n    patch: {operation: MERGE, value: {metadata: {filter_metadata: {scope_gate: {auth: none}}}}}\n")...),
			refuse: "the block applies to every route the other selectors pick"},
		{name: "istio: two VirtualServices of one host refused", files: append(istio(istioHTTP, istioPatches...), strings.Replace(istioService(istioHTTP), "name: pets,", "name: pets2,", 1)),
			refuse: `host "pets.example" is also served by VirtualService istio-system/pets`},

		{name: "envoy gateway: no drift (the public catch-all is sorted last)", files: eg(gatewayRules, gatewayRoutesMap)},
		{name: "envoy gateway: a scope removed", files: eg(gatewayRules, strings.Replace(gatewayRoutesMap, "{required_scope: b}", "{auth: bearer}", 1)),
			errs: []string{"POST /pets (addPet): ", "route httproute/pets/pets/rule/2/match/0/pets_example: looser than the document: the route requires a bearer, the document requires a bearer with scope b"}},
		{name: "envoy gateway: PathPrefix is segment-wise: /pet does not catch /pets", files: eg(gatewayRules+"  - matches: [{path: {type: PathPrefix, value: /pet}}]\n    backendRefs: [{name: pets, port: 80}]\n",
			gatewayRoutesMap+"        httproute/pets/pets/rule/4/match/0/pets_example: {auth: none}\n")},
		{name: "envoy gateway: an operation routed to a public route", files: eg(gatewayRules+"  - matches: [{path: {type: RegularExpression, value: \"/pets/.*\"}}]\n    backendRefs: [{name: pets, port: 80}]\n",
			gatewayRoutesMap+"        httproute/pets/pets/rule/4/match/0/pets_example: {auth: none}\n"),
			errs: []string{"GET /pets/{id} (getPet): ", "route httproute/pets/pets/rule/4/match/0/pets_example: looser than the document: the route is public"}},
		{name: "envoy gateway: an operation with no route", files: eg(gatewayRules[strings.Index(gatewayRules, "  - matches: [{path: {type: PathPrefix, value: /pets}}]"):strings.Index(gatewayRules, "  - matches: [{path: {type: Exact")],
			"        httproute/pets/pets/rule/0/match/0/pets_example: {required_scope: a}\n        httproute/pets/pets/rule/1/match/0/pets_example: {required_scope: b}\n"),
			errs: []string{"GET /health (health): ", "no route of virtual host pets.example matches GET /health"}},
		{name: "envoy gateway: a route the policy does not target runs without the filter", files: []string{gatewayResource, strings.Replace(gatewayPolicy(gatewayRoutesMap), "name: pets}]", "name: other}]", 1), gatewayRoute(gatewayRules)},
			errs: []string{"GET /pets (listPets): ", "looser than the document: the filter is disabled on the route"}},
		{name: "envoy gateway: query match refused", files: eg(strings.Replace(gatewayRules, "method: POST}]", "method: POST, queryParams: [{name: v, value: \"1\"}]}]", 1), gatewayRoutesMap),
			refuse: "spec.rules[2].matches[0].queryParams: matches on queryParams: only path and method matches are compared"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var files []string
			for i, content := range tc.files {
				kind := strings.ToLower(strings.TrimPrefix(strings.SplitN(content[strings.Index(content, "kind: "):], "\n", 2)[0], "kind: "))
				f := filepath.Join(dir, kind+"-"+string(rune('0'+i))+".yaml")
				if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
				files = append(files, f)
			}
			edges, loadErrs := LoadEdges(files, "")
			if tc.refuse != "" {
				if len(loadErrs) != 1 || !strings.Contains(loadErrs[0].Error(), tc.refuse) || strings.Contains(loadErrs[0].Error(), "\n") {
					t.Fatalf("want one one-line refusal with %q, got %v", tc.refuse, loadErrs)
				}
				return
			}
			if len(loadErrs) > 0 || len(edges) != 1 {
				t.Fatalf("load: %v (%d edges)", loadErrs, len(edges))
			}
			var errs, warns []string
			for _, f := range Compare(res, edges[0]) {
				if f.Error {
					errs = append(errs, f.Message)
				} else {
					warns = append(warns, f.Message)
				}
			}
			for _, want := range []struct {
				got, want []string
				what      string
			}{{errs, tc.errs, "error"}, {warns, tc.warns, "warning"}} {
				if len(want.want) == 0 && len(want.got) > 0 {
					t.Errorf("unexpected %ss:\n%s", want.what, strings.Join(want.got, "\n"))
				}
				joined := strings.Join(want.got, "\n")
				for _, w := range want.want {
					if !strings.Contains(joined, w) {
						t.Errorf("no %s says %q:\n%s", want.what, w, joined)
					}
				}
			}
		})
	}
}

// TestMeshExamples: the repository's Istio and Envoy Gateway examples, compared with the reference backend's
// document, have no drift; and a scope removed from either is seen.
func TestMeshExamples(t *testing.T) {
	res := loadReal(t, referenceDoc, Options{AutoBasePath: true})
	for _, dir := range []string{"../../envoy/istio", "../../envoy/envoy-gateway"} {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
			if err != nil || len(files) == 0 {
				t.Fatalf("no examples in %s: %v", dir, err)
			}
			edges, errs := LoadEdges(files, "")
			if len(errs) > 0 || len(edges) != 1 {
				t.Fatalf("load: %v (%d edges)", errs, len(edges))
			}
			if n := len(edges[0].routes); n < 10 {
				t.Fatalf("only %d routes read", n)
			}
			for _, f := range Compare(res, edges[0]) {
				t.Errorf("%s", f)
			}
			// The same files with the apps:read scope of the account-only app routes removed.
			tmp := t.TempDir()
			var changed []string
			for _, f := range files {
				data, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				s := strings.ReplaceAll(string(data), `required_scope: "apps:read"}`, `required_scope: "apps:run"}`)
				out := filepath.Join(tmp, filepath.Base(f))
				if err := os.WriteFile(out, []byte(s), 0o600); err != nil {
					t.Fatal(err)
				}
				changed = append(changed, out)
			}
			edges, errs = LoadEdges(changed, "")
			if len(errs) > 0 || len(edges) != 1 {
				t.Fatalf("load: %v", errs)
			}
			var lines []string
			for _, f := range Compare(res, edges[0]) {
				lines = append(lines, f.String())
			}
			if !slices.ContainsFunc(lines, func(l string) bool {
				return strings.HasPrefix(l, "error: GET /openapi/v1/apps (apps_read_get_apps): ") && strings.Contains(l, "looser than the document: the route requires a bearer with scope apps:run")
			}) {
				t.Errorf("the scope change is not reported:\n%s", strings.Join(lines, "\n"))
			}
		})
	}
}
