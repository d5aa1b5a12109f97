package envoyconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scope-gate/scope-gate/filter/policy"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// examples lists every YAML file under envoy/: all of them must pass the checker.
func examples(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir("../../envoy", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 6 {
		t.Fatalf("found %d example files under envoy/, want at least 6: %v", len(out), out)
	}
	return out
}

// allowedWarning: the module is built by make build, which may not have run before these tests.
func allowedWarning(f Finding) bool {
	return f.Warning && strings.Contains(f.Where, "vm_config.code.local.filename")
}

func TestExamplesPass(t *testing.T) {
	files := examples(t)
	check := func(name string, r *Report, wantRows bool) {
		for _, f := range r.Findings {
			if !allowedWarning(f) {
				t.Errorf("%s: %s", name, f)
			}
		}
		if wantRows && len(r.Rows) == 0 {
			t.Errorf("%s: no route rows", name)
		}
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// A Kubernetes file alone may hold no routes (a WasmPlugin); a bootstrap always has some.
		check(f, CheckFiles([]string{f}, Options{}), !IsKubernetes(data))
	}
	// Together, so that Istio and Envoy Gateway resources are cross-checked across files.
	all := CheckFiles(files, Options{})
	check("all examples", all, true)
	sources := map[string]bool{}
	for _, row := range all.Rows {
		sources[row.File] = true
	}
	for _, f := range []string{"../../envoy/istio/virtualservice.yaml", "../../envoy/envoy-gateway/httproute.yaml"} {
		if !sources[f] {
			t.Errorf("all examples: no rows for %s", f)
		}
	}
}

// TestExampleRequirements pins the table of envoy/envoy.yaml: each kind of requirement, and its source.
func TestExampleRequirements(t *testing.T) {
	r := CheckFiles([]string{"../../envoy/envoy.yaml"}, Options{})
	got := map[string]Row{}
	for _, row := range r.Rows {
		got[row.VirtualHost+"/"+row.Route] = row
	}
	for _, tc := range []struct{ route, req, source string }{
		{"api/healthz", "filter disabled", SourceDisabled},
		{"api/device_flow", "public", SourceRoute},
		{"api/account", "bearer", SourceRoute},
		{"api/workspaces", "bearer subject=account", SourceRoute},
		{"api/apps_read", "bearer scope=apps:read subject=account", SourceRoute},
		{"api/catch_all", "bearer", SourceVirtualHost},
		{"api/permitted_external_apps", "bearer scope=apps:read:permitted-external subject=external_sso", SourceRoute},
		{"api/workspace_settings", "bearer scope=workspace:read,workspace:write", SourceRoute},
		{"api/files", "bearer scope=files:read", SourceRoutesMap},
		{"admin/admin_status", "public", SourceRoute},
		{"admin/admin", "bearer scope=workspace:write subject=account", SourceVirtualHost},
	} {
		row, ok := got[tc.route]
		if !ok {
			t.Errorf("%s: not in the table", tc.route)
			continue
		}
		if row.Requirement != tc.req || row.Source != tc.source {
			t.Errorf("%s: %q from %q, want %q from %q", tc.route, row.Requirement, row.Source, tc.req, tc.source)
		}
	}
}

// TestBrokenFixtures: each file under testdata/ is broken in one way; the checker reports exactly one error,
// at the right place, saying what is wrong.
func TestBrokenFixtures(t *testing.T) {
	const hcm = "$.static_resources.listeners[0].filter_chains[0].filters[0].typed_config"
	const route = hcm + ".route_config.virtual_hosts[0].routes[0]"
	for _, tc := range []struct {
		files []string
		where string
		msg   string
	}{
		{[]string{"unknown_field.yaml"}, hcm + ".route_config.virtual_hostz", `unknown field "virtual_hostz"`},
		{[]string{"cluster_without_name.yaml"}, "$", "invalid Cluster.Name: value length must be at least 1 runes"},
		{[]string{"unknown_metadata_key.yaml"}, route + ".metadata.filter_metadata.scope_gate", `route "apps_read": unknown key "required_scopes"`},
		{[]string{"scope_with_auth_none.yaml"}, route + ".metadata.filter_metadata.scope_gate", `required_scope and subject_types need a bearer, but auth is "none"`},
		{[]string{"non_string_leaf.yaml"}, route + ".metadata.filter_metadata.scope_gate.required_scope", `key "required_scope" must be a string, got a number`},
		{[]string{"no_validator.yaml"}, route + ".metadata.filter_metadata.scope_gate", "no validator is configured"},
		{[]string{"bad_plugin_config.yaml"}, hcm + ".http_filters[0].typed_config.config.configuration", `$.mode: must be "enforce" or "report", got "audit"`},
		{[]string{"fail_open.yaml"}, hcm + ".http_filters[0].typed_config.config", "fails open"},
		{[]string{"unknown_cluster.yaml"}, route + ".route.cluster", `unknown cluster "backnd"`},
		{[]string{"forward_unknown_cluster.yaml"}, hcm + ".http_filters[0].typed_config.config.configuration", `$.validator.cluster: no static cluster named "validator"`},
		// Every cluster any validator calls is cross-checked, the JWT validator's jwks_cluster too.
		{[]string{"jwt_unknown_jwks_cluster.yaml"}, hcm + ".http_filters[0].typed_config.config.configuration", `$.validator.jwks_cluster: no static cluster named "nosuchcluster"`},
		{[]string{"jwt_default_module.yaml"}, hcm + ".http_filters[0].typed_config.config.vm_config.code.local.filename", `the jwt validator needs the scope-gate-jwt.wasm build`},
		{[]string{"routes_key_reaches_none.yaml"}, hcm + ".http_filters[0].typed_config.config.configuration", `$.routes["apps-read"]: reaches no route`},
		{[]string{"per_route_config.yaml"}, route + `.typed_per_filter_config["scope_gate"]`, "no per-route configuration"},
		{[]string{"wasmplugin_bad_config.yaml"}, "WasmPlugin istio-system/scope-gate (document 0): spec.pluginConfig", `$.mode: must be "enforce" or "report"`},
		{[]string{"wasmplugin_fail_open.yaml"}, "WasmPlugin istio-system/scope-gate (document 0): spec.failStrategy", `must be FAIL_CLOSE (Istio's default when omitted) or FAIL_RELOAD, got "FAIL_OPEN"`},
		{[]string{"envoyfilter_non_string.yaml"}, "EnvoyFilter istio-system/scope-gate-routes (document 0): spec.configPatches[0].patch.value.metadata.filter_metadata.scope_gate.required_scope", `route apps_read: key "required_scope" must be a string, got a list`},
		{[]string{"envoyfilter_unknown_key.yaml"}, "EnvoyFilter istio-system/scope-gate-routes (document 0): spec.configPatches[0].patch.value.metadata.filter_metadata.scope_gate", `unknown key "scope"`},
		{[]string{"envoyfilter_named_match.yaml"}, "EnvoyFilter istio-system/scope-gate-routes (document 0): spec.configPatches[0].match.routeConfiguration.vhost.route.name", `generates apps.list, apps.detail: its match blocks are named`},
		{[]string{"wasmplugin_bad_pull_policy.yaml"}, "WasmPlugin istio-system/scope-gate (document 0): spec.imagePullPolicy", `invalid value for enum field imagePullPolicy: "Alwayz"`},
		{[]string{"wasmplugin_integer_sha256.yaml"}, "WasmPlugin istio-system/scope-gate (document 0): spec.sha256", `invalid value for string field sha256`},
		{[]string{"extensionpolicy_bad_types.yaml"}, "EnvoyExtensionPolicy dify/scope-gate (document 0): spec.wasm.code.http.sha256", `must be of type string, got number`},
		{[]string{"extensionpolicy_bad_pull_policy.yaml"}, "EnvoyExtensionPolicy dify/scope-gate (document 0): spec.wasm[0].code.pullPolicy", `unsupported value "Alwayz": must be one of IfNotPresent, Always`},
		{[]string{"envoyfilter_unmatched_route.yaml"}, "EnvoyFilter istio-system/scope-gate-routes (document 0): spec.configPatches[0].match.routeConfiguration.vhost.route.name", `reaches no route: Istio generates no route named "apps-read"`},
		// The same EnvoyFilter checked against a WasmPlugin in another file uses that plugin's namespace.
		{[]string{"envoyfilter_unknown_key.yaml", "../../../envoy/istio/wasmplugin.yaml"}, "EnvoyFilter istio-system/scope-gate-routes (document 0): spec.configPatches[0].patch.value.metadata.filter_metadata.scope_gate", `unknown key "scope"`},
		{[]string{"match_on_identity_header.yaml"}, route + ".match.headers[0].name", `route "internal" matches on header "x-scope-gate-subject", which scope-gate sets on allowed requests and removes from every request (upstream_headers.subject); Envoy matches the route again`},
		{[]string{"match_on_stripped_authorization.yaml"}, route + ".match.headers[0].name", `route "fallback" matches on header "authorization", which scope-gate removes from allowed requests (upstream_headers.strip_authorization)`},
		{[]string{"virtualservice_match_on_identity_header.yaml"}, `VirtualService istio-system/api (document 0): spec.http[0].match[0].headers["x-scope-gate-scopes"]`, `route "internal" matches on header "x-scope-gate-scopes"`},
		{[]string{"httproute_match_on_identity_header.yaml"}, "HTTPRoute dify/api (document 1): spec.rules[0].matches[0].headers[0].name", `route "httproute/dify/api/rule/0/match/0" matches on header "x-user", which scope-gate sets on allowed requests`},
		{[]string{"extensionpolicy_bad_route_key.yaml"}, `EnvoyExtensionPolicy dify/scope-gate (document 0): spec.wasm[0].config.routes["httproute/dify/api/rule/2/match/0/api_example"]`, "HTTPRoute dify/api generates no route of that name"},
	} {
		t.Run(tc.files[0], func(t *testing.T) {
			var paths []string
			for _, f := range tc.files {
				paths = append(paths, filepath.Join("testdata", f))
			}
			r := CheckFiles(paths, Options{})
			var errs []Finding
			for _, f := range r.Findings {
				if !f.Warning {
					errs = append(errs, f)
				}
			}
			if len(errs) != 1 {
				t.Fatalf("%d errors, want 1: %v", len(errs), r.Findings)
			}
			e := errs[0]
			if e.File != paths[0] || e.Where != tc.where || !strings.Contains(e.Msg, tc.msg) {
				t.Errorf("got  %s\nwant %s: error: %s: ...%s...", e, paths[0], tc.where, tc.msg)
			}
			if strings.Contains(e.String(), "\n") {
				t.Errorf("finding spans lines: %q", e)
			}
		})
	}
}

func TestPathAt(t *testing.T) {
	doc := []byte(`{"a": {"b": [10, {"c": true, "d": [1, 2]}], "e": "x"}}`)
	for _, tc := range []struct{ at, want string }{
		{`"b"`, "$.a.b"},
		{`10`, "$.a.b[0]"},
		{`"c"`, "$.a.b[1].c"},
		{`2]`, "$.a.b[1].d[1]"},
		{`"e"`, "$.a.e"},
	} {
		off := strings.Index(string(doc), tc.at)
		if got := pathAt(doc, off); got != tc.want {
			t.Errorf("pathAt(%s) = %s, want %s", tc.at, got, tc.want)
		}
	}
}

// TestResolveOrder: route metadata, then routes[route name], then virtual host metadata, then default_route.
func TestResolveOrder(t *testing.T) {
	cfg, err := policy.Parse([]byte(`{"validator":{"type":"static","tokens":[]},"default_route":"public",
		"routes":{"named":{"required_scope":"from:map"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	routeReq := cfg.RequirementFromFields([][2]string{{"required_scope", "from:route"}})
	vhReq := cfg.RequirementFromFields([][2]string{{"required_scope", "from:vhost"}})
	for _, tc := range []struct {
		name      string
		route, vh *policy.Requirement
		routeName string
		want      string
		source    string
	}{
		{"route block wins", routeReq, vhReq, "named", "bearer scope=from:route", SourceRoute},
		{"routes map before virtual host", nil, vhReq, "named", "bearer scope=from:map", SourceRoutesMap},
		{"virtual host", nil, vhReq, "other", "bearer scope=from:vhost", SourceVirtualHost},
		{"default", nil, nil, "other", "public", SourceDefault},
		{"unnamed route skips the map", nil, nil, "", "public", SourceDefault},
	} {
		req, src := Resolve(cfg, tc.route, tc.routeName, tc.vh)
		if got := Describe(req); got != tc.want || src != tc.source {
			t.Errorf("%s: %q from %q, want %q from %q", tc.name, got, src, tc.want, tc.source)
		}
	}
}

func TestPluginConfiguration(t *testing.T) {
	st, _ := structpb.NewStruct(map[string]any{"mode": "report"})
	for _, tc := range []struct {
		name string
		in   *anypb.Any
		want string
		err  bool
	}{
		{"absent", nil, "", false},
		{"struct becomes JSON", mustAny(st), `{"mode":"report"}`, false},
		{"string value verbatim", mustAny(structpbString(`{"mode": "x"}`)), `{"mode": "x"}`, false},
		{"other type refused", mustAny(&anypb.Any{}), "", true},
	} {
		got, err := PluginConfiguration(tc.in)
		if (err != nil) != tc.err || strings.ReplaceAll(string(got), " ", "") != strings.ReplaceAll(tc.want, " ", "") {
			t.Errorf("%s: %q, %v; want %q, error %v", tc.name, got, err, tc.want, tc.err)
		}
	}
}

func TestGatewayRouteNames(t *testing.T) {
	docs, r := ParseDocuments("x.yaml", []byte(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: ns}
spec:
  hostnames: [a.example, b.example]
  rules:
  - matches: [{path: {value: /x}}, {path: {value: /y}}]
  - backendRefs: []
`))
	if len(r.Findings) > 0 || len(docs) != 1 {
		t.Fatalf("parse: %v", r.Findings)
	}
	got := strings.Join(GatewayRouteNames(docs[0], nil), " ")
	// One virtual host per hostname, each in Envoy Gateway's order (the implicit PathPrefix / last).
	want := "httproute/ns/r/rule/0/match/0/a_example httproute/ns/r/rule/0/match/1/a_example httproute/ns/r/rule/1/match/0/a_example " +
		"httproute/ns/r/rule/0/match/0/b_example httproute/ns/r/rule/0/match/1/b_example httproute/ns/r/rule/1/match/0/b_example"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestBuildPassesValidation(t *testing.T) {
	block, _ := structpb.NewStruct(map[string]any{"required_scope": "apps:read"})
	b := Build(BuildSpec{
		ListenPort: 10000, AdminPort: 10001, UpstreamPort: 10002, ModuleFilename: "/m.wasm", NormalizePaths: true,
		PluginConfiguration: []byte(`{"validator":{"type":"static","tokens":[]}}`),
		VirtualHosts: []BuildVirtualHost{{Name: "api", Domains: []string{"*"}, Routes: []BuildRoute{
			{Name: "apps", Prefix: "/apps/", PrefixRewrite: "/", Metadata: map[string]*structpb.Struct{"scope_gate": block}},
			{Name: "health", Prefix: "/health", Disabled: true},
		}}},
	})
	js, err := MarshalBootstrap(b)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := ParseBootstrap(js) // the JSON Envoy would read, through Envoy's rules
	if err != nil {
		t.Fatal(err)
	}
	r := CheckBootstrap("built", parsed, Options{})
	if r.Errors() != 0 {
		t.Fatalf("built bootstrap: %v", r.Findings)
	}
	want := map[string]string{"apps": "bearer scope=apps:read", "health": "filter disabled"}
	for _, row := range r.Rows {
		if want[row.Route] != row.Requirement {
			t.Errorf("%s: %q, want %q", row.Route, row.Requirement, want[row.Route])
		}
	}
	if len(r.Rows) != 2 {
		t.Errorf("%d rows, want 2", len(r.Rows))
	}
}

func structpbString(s string) *wrapperspb.StringValue { return wrapperspb.String(s) }

// TestPathNormalizationCheck: a connection manager that runs scope-gate must normalize paths (normalize_path,
// merge_slashes, an escaped-slash action that rejects or redirects); each fixture lacks one setting (or all),
// and -allow-unnormalized-paths turns exactly that error into a warning.
func TestPathNormalizationCheck(t *testing.T) {
	const hcm = "$.static_resources.listeners[0].filter_chains[0].filters[0].typed_config"
	for _, tc := range []struct {
		file    string
		where   string   // "" : no path-normalization error
		msgs    []string // what the line must say
		warning string   // a warning that stays in both modes
	}{
		{"path_normalization_unset.yaml", hcm, []string{
			`listener "ingress": the connection manager runs scope-gate without path normalization`,
			"normalize_path is unset, false by default", "merge_slashes is not true",
			"path_with_escaped_slashes_action is unset (IMPLEMENTATION_SPECIFIC_DEFAULT), KEEP_UNCHANGED by default",
		}, ""},
		{"path_normalize_false.yaml", hcm + ".normalize_path", []string{"normalize_path is false"}, ""},
		{"path_merge_slashes_unset.yaml", hcm + ".merge_slashes", []string{"merge_slashes is not true"}, ""},
		{"path_escaped_slashes_keep.yaml", hcm + ".path_with_escaped_slashes_action", []string{"path_with_escaped_slashes_action is KEEP_UNCHANGED"}, ""},
		{"path_escaped_slashes_default.yaml", hcm + ".path_with_escaped_slashes_action", []string{"path_with_escaped_slashes_action is unset"}, ""},
		{"path_escaped_slashes_forward.yaml", "", nil, "UNESCAPE_AND_FORWARD decodes %2F and %5C"},
		{"path_escaped_slashes_redirect.yaml", "", nil, ""},
	} {
		for _, allow := range []bool{false, true} {
			name := tc.file
			if allow {
				name += "/allow-unnormalized-paths"
			}
			t.Run(name, func(t *testing.T) {
				path := filepath.Join("testdata", tc.file)
				r := CheckFiles([]string{path}, Options{AllowUnnormalizedPaths: allow})
				var errs, pathFindings, others []Finding
				for _, f := range r.Findings {
					switch {
					case strings.Contains(f.Msg, "without path normalization"):
						pathFindings = append(pathFindings, f)
					case !allowedWarning(f):
						others = append(others, f)
					}
					if !f.Warning {
						errs = append(errs, f)
					}
				}
				if tc.where == "" {
					if len(errs) != 0 || len(pathFindings) != 0 {
						t.Fatalf("want no path-normalization finding and no error, got %v", r.Findings)
					}
				} else {
					if len(pathFindings) != 1 {
						t.Fatalf("%d path-normalization findings, want 1: %v", len(pathFindings), r.Findings)
					}
					f := pathFindings[0]
					if f.Where != tc.where || f.File != path || f.Warning != allow {
						t.Errorf("got %s (warning %v)\nwant %s: at %s, warning %v", f, f.Warning, path, tc.where, allow)
					}
					for _, m := range tc.msgs {
						if !strings.Contains(f.Msg, m) {
							t.Errorf("finding %q\nwant it to say %q", f.Msg, m)
						}
					}
					if wantHint := "-allow-unnormalized-paths"; !strings.Contains(f.Msg, wantHint) {
						t.Errorf("finding does not name the opt-out: %s", f)
					}
					if wantErrs := map[bool]int{false: 1, true: 0}[allow]; len(errs) != wantErrs {
						t.Errorf("%d errors, want %d: %v", len(errs), wantErrs, r.Findings)
					}
					if strings.Contains(f.String(), "\n") {
						t.Errorf("finding spans lines: %q", f)
					}
				}
				if tc.warning == "" {
					if len(others) != 0 {
						t.Errorf("unexpected findings: %v", others)
					}
				} else if len(others) != 1 || !others[0].Warning || !strings.Contains(others[0].Msg, tc.warning) {
					t.Errorf("want one warning saying %q, got %v", tc.warning, others)
				}
			})
		}
	}
}
