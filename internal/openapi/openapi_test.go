package openapi

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/scope-gate/scope-gate/internal/envoyconfig"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// doc wraps operations and extra top-level text into a small OpenAPI 3.0 document with three schemes:
// oauth (oauth2), jwt (http bearer) and key (apiKey).
func doc(top, paths string) string {
	return `openapi: 3.0.3
info: {title: t, version: "1"}
components:
  securitySchemes:
    oauth:
      type: oauth2
      flows: {clientCredentials: {tokenUrl: https://example.com/token, scopes: {a: a, b: b, c: c}}}
    jwt: {type: http, scheme: bearer}
    key: {type: apiKey, in: header, name: X-Key}
` + top + `
paths:
` + paths
}

func analyze(t *testing.T, src string, opts Options) *Result {
	t.Helper()
	d, err := Parse("doc.yaml", []byte(src))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return Analyze("doc.yaml", d, opts)
}

func TestSecuritySemantics(t *testing.T) {
	op := func(sec string) string {
		return "  /x:\n    get:\n      " + sec + "\n      responses: {'200': {description: ok}}\n"
	}
	cases := []struct {
		name     string
		top, ops string
		opts     Options
		want     string // Requirement.String(), or "error" / "skip"
		exact    bool
		note     string // a warning or error must contain it
	}{
		{"inherits top-level", "security: [{oauth: [a]}]", op("description: d"), Options{}, "bearer scope=a", true, ""},
		{"operation overrides top-level", "security: [{oauth: [a]}]", op("security: [{oauth: [b]}]"), Options{}, "bearer scope=b", true, ""},
		{"empty list is public", "security: [{oauth: [a]}]", op("security: []"), Options{}, "public", true, ""},
		{"no security anywhere is public", "", op("description: d"), Options{}, "public", true, ""},
		{"empty object is optional auth: public, said so", "", op("security: [{}, {oauth: [a]}]"), Options{}, "public", true, "optional authentication"},
		{"several scopes all required", "", op("security: [{oauth: [b, a]}]"), Options{}, "bearer scope=a b", true, ""},
		{"http bearer counts by default", "", op("security: [{jwt: []}]"), Options{}, "bearer", true, ""},
		{"identical alternatives are exact", "", op("security: [{oauth: [a]}, {jwt: [a]}]"), Options{}, "bearer scope=a", true, ""},
		{"AND with equal scopes is exact", "", op("security: [{oauth: [a], jwt: [a]}]"), Options{}, "bearer scope=a", true, ""},
		{"alternatives with different scopes are refused", "", op("security: [{oauth: [a]}, {oauth: [b]}]"), Options{}, "error", false, "alternatives with different scopes"},
		{"alternatives with different scopes made stricter", "", op("security: [{oauth: [a]}, {oauth: [b]}]"), Options{Stricter: true}, "bearer scope=a b", false, "stricter at the edge"},
		{"AND with different scopes refused", "", op("security: [{oauth: [a], jwt: [b]}]"), Options{}, "error", false, "ANDs several bearer schemes"},
		{"apiKey alternative refused", "", op("security: [{key: []}, {oauth: [a]}]"), Options{}, "error", false, "(key) are dropped"},
		{"apiKey alternative made stricter", "", op("security: [{key: []}, {oauth: [a]}]"), Options{Stricter: true}, "bearer scope=a", false, "their callers are refused"},
		{"apiKey only refused", "", op("security: [{key: []}]"), Options{Stricter: true}, "error", false, "only schemes scope-gate does not check"},
		{"apiKey AND bearer only refused", "", op("security: [{key: [], oauth: [a]}]"), Options{Stricter: true}, "error", false, "can satisfy it (key)"},
		{"apiKey only skipped", "", op("security: [{key: []}]"), Options{SkipForeign: true}, "skip", false, "no route generated"},
		{"apiKey counted as bearer by flag", "", op("security: [{key: []}]"), Options{BearerSchemes: []string{"key"}}, "bearer", true, ""},
		{"flag narrows the bearer schemes", "", op("security: [{jwt: []}]"), Options{BearerSchemes: []string{"oauth"}}, "error", false, "(jwt)"},
		{"subject types from the operation", "", op("security: [{oauth: [a]}]\n      x-scope-gate-subject-types: [svc, account]"), Options{}, "bearer scope=a subject=account svc", true, ""},
		{"subject types from the document", "security: [{oauth: [a]}]\nx-scope-gate-subject-types: [account]", op("description: d"), Options{}, "bearer scope=a subject=account", true, ""},
		{"document subject types skip public operations", "x-scope-gate-subject-types: [account]", op("security: []"), Options{}, "public", true, ""},
		{"subject types on a public operation", "", op("security: []\n      x-scope-gate-subject-types: [account]"), Options{}, "error", false, "subject types need a bearer"},
		{"bad subject type", "", op("security: [{oauth: [a]}]\n      x-scope-gate-subject-types: [\"a b\"]"), Options{}, "error", false, "/paths/~1x/get/x-scope-gate-subject-types/0"},
		{"bad scope", "", op("security: [{oauth: [\"a b\"]}]"), Options{}, "error", false, "/paths/~1x/get/security/0/oauth/0: scope \"a b\""},
		{"unknown scheme", "", op("security: [{nope: []}]"), Options{}, "error", false, "/paths/~1x/get/security/0/nope: unknown security scheme"},
		{"unknown scheme top-level", "security: [{nope: []}]", op("description: d"), Options{}, "error", false, "/security/0/nope: unknown security scheme"},
		{"unknown scheme in the flag", "", op("security: []"), Options{BearerSchemes: []string{"nope"}}, "error", false, "no security scheme \"nope\""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := analyze(t, doc(c.top, c.ops), c.opts)
			all := strings.Join(append(slices.Clone(res.Errors), res.Warnings...), "\n")
			if c.note != "" && !strings.Contains(all, c.note) {
				t.Errorf("no line says %q:\n%s", c.note, all)
			}
			switch c.want {
			case "error":
				if len(res.Errors) == 0 {
					t.Fatalf("no error; ops %+v", res.Ops)
				}
				return
			}
			if len(res.Errors) > 0 {
				t.Fatalf("errors: %v", res.Errors)
			}
			if len(res.Ops) != 1 {
				t.Fatalf("%d operations", len(res.Ops))
			}
			o := res.Ops[0]
			if c.want == "skip" {
				if !o.Skip {
					t.Fatalf("not skipped: %v", o.Req)
				}
				return
			}
			if got := o.Req.String(); got != c.want || o.Exact != c.exact {
				t.Errorf("got %q exact=%v, want %q exact=%v", got, o.Exact, c.want, c.exact)
			}
		})
	}
}

func TestBadDocuments(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"not YAML", "openapi: [3\n", "doc.yaml: /: not a JSON or YAML OpenAPI document"},
		{"not OpenAPI", "hello: world\n", "doc.yaml: /openapi: missing"},
		{"OpenAPI 4", "openapi: 4.0.0\n", "doc.yaml: /openapi: unsupported version"},
		{"unresolvable ref", doc("", "  /x:\n    get:\n      parameters: [{$ref: '#/components/parameters/missing'}]\n      responses: {'200': {description: ok}}\n"), "doc.yaml: /components/parameters/missing: "},
		{"external ref", doc("", "  /x:\n    $ref: 'other.yaml#/paths/~1x'\n"), "doc.yaml: "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("doc.yaml", []byte(c.src))
			if err == nil {
				t.Fatal("parsed")
			}
			if strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), c.want) {
				t.Errorf("error %q, want one line starting %q", err, c.want)
			}
		})
	}
}

func TestPathTemplates(t *testing.T) {
	cases := []struct{ path, re, sample, problem string }{
		{"/pets/{id}", `/pets/[^/]+`, "/pets/1", ""},
		{"/files/{name}.{ext}", `/files/[^/]+\.[^/]+`, "/files/sample.sample", ""},
		{"/a+b/(c)", `/a\+b/\(c\)`, "/a+b/(c)", ""},
		{"/x/{a", "", "", "unbalanced or nested braces"},
		{"/x/{a}}", "", "", "unbalanced or nested braces"},
		{"/x/{}", "", "", "unbalanced or nested braces"},
		{"/x y", "", "", "not allowed in a path"},
		{"/x//y", "", "", "empty segment"},
		{"x", "", "", "does not start with /"},
		{"/x?q=1", "", "", "query"},
	}
	for _, c := range cases {
		re, sample, problem := compileTemplate(c.path, &pathItemWithIntID)
		if re != c.re || sample != c.sample || !strings.Contains(problem, c.problem) || (c.problem == "") != (problem == "") {
			t.Errorf("%s: got %q %q %q, want %q %q %q", c.path, re, sample, problem, c.re, c.sample, c.problem)
		}
	}
	// Through Analyze, the error carries the pointer to the path.
	res := analyze(t, doc("", "  /x/{a:\n    get: {responses: {'200': {description: ok}}}\n"), Options{})
	if len(res.Errors) != 1 || !strings.HasPrefix(res.Errors[0], "doc.yaml: /paths/~1x~1{a: path template the router cannot express") {
		t.Errorf("errors %q", res.Errors)
	}
}

func TestRouteOrderLiteralBeforeParameter(t *testing.T) {
	ok := "{responses: {'200': {description: ok}}}"
	src := doc("", `  /pets/{id}:
    get: `+ok+`
  /pets/{id}/toys:
    get: `+ok+`
  /pets/mine:
    get: `+ok+`
  /pets/{id}.json:
    get: `+ok+`
  /pets/mine/{toy}:
    get: `+ok+`
  /pets:
    post: `+ok+`
    get: `+ok+`
`)
	res := analyze(t, src, Options{})
	var got []string
	for _, o := range res.Ops {
		got = append(got, o.Method+" "+o.Path)
	}
	want := []string{"GET /pets", "POST /pets", "GET /pets/mine", "GET /pets/mine/{toy}", "GET /pets/{id}.json", "GET /pets/{id}", "GET /pets/{id}/toys"}
	if !slices.Equal(got, want) {
		t.Fatalf("order %q, want %q", got, want)
	}
	// Envoy's first match must pick each operation for its own sample path.
	routes, err := EnvoyRoutes(res, "scope_gate", "upstream")
	if err != nil {
		t.Fatal(err)
	}
	// Literal paths are matched exactly, templates by regex.
	for _, rt := range routes {
		literal := rt.GetMatch().GetPath() != ""
		if rt.GetName() == "get_pets_mine" && (!literal || rt.GetMatch().GetPath() != "/pets/mine") {
			t.Errorf("get_pets_mine: match %v, want path /pets/mine", rt.GetMatch())
		}
		if rt.GetName() == "get_pets__id_" && (literal || rt.GetMatch().GetSafeRegex().GetRegex() != "/pets/[^/]+") {
			t.Errorf("get_pets__id_: match %v, want safe_regex /pets/[^/]+", rt.GetMatch())
		}
	}
	for _, o := range res.Ops {
		for _, rt := range routes {
			m, problem := RouteMatcher(rt.GetMatch())
			if problem != "" {
				t.Fatal(problem)
			}
			if m(o.Method, o.Sample) {
				if rt.GetName() != o.Route {
					t.Errorf("%s %s picks route %s, want %s", o.Method, o.Sample, rt.GetName(), o.Route)
				}
				break
			}
		}
	}
}

func TestRouteMatcher(t *testing.T) {
	method := func(m string) []*routev3.HeaderMatcher {
		return []*routev3.HeaderMatcher{{Name: ":method", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{
			StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: m}}}}}
	}
	cases := []struct {
		name    string
		m       *routev3.RouteMatch
		method  string
		path    string
		want    bool
		problem string
	}{
		{"prefix", &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/a/"}}, "GET", "/a/b", true, ""},
		{"prefix no", &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/a/"}}, "GET", "/a", false, ""},
		{"prefix is raw text", &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/a"}}, "GET", "/abc", true, ""},
		{"prefix case-insensitive", &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/A"}, CaseSensitive: wrapperspb.Bool(false)}, "GET", "/abc", true, ""},
		{"path", &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Path{Path: "/a"}}, "GET", "/a", true, ""},
		{"path no", &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Path{Path: "/a"}}, "GET", "/a/", false, ""},
		{"separated", &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: "/a"}}, "GET", "/a/b", true, ""},
		{"separated exact", &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: "/a"}}, "GET", "/a", true, ""},
		{"separated no", &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: "/a"}}, "GET", "/ab", false, ""},
		{"regex whole path", &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "/a/[^/]+"}}}, "GET", "/a/b/c", false, ""},
		{"regex", &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "/a/[^/]+"}}}, "GET", "/a/b", true, ""},
		{"method", &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}, Headers: method("POST")}, "GET", "/a", false, ""},
		{"method yes", &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}, Headers: method("POST")}, "POST", "/a", true, ""},
		{"other header refused", &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}, Headers: []*routev3.HeaderMatcher{{Name: "x-a"}}}, "", "", false, "only an exact :method"},
		{"query refused", &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}, QueryParameters: []*routev3.QueryParameterMatcher{{Name: "q"}}}, "", "", false, "only path specifiers"},
	}
	for _, c := range cases {
		m, problem := RouteMatcher(c.m)
		if c.problem != "" {
			if !strings.Contains(problem, c.problem) {
				t.Errorf("%s: problem %q, want %q", c.name, problem, c.problem)
			}
			continue
		}
		if problem != "" {
			t.Fatalf("%s: %s", c.name, problem)
		}
		if got := m(c.method, c.path); got != c.want {
			t.Errorf("%s: %s %s: got %v", c.name, c.method, c.path, got)
		}
	}
}

// A static validator so that bearer routes are not misconfigured (the filter answers 500 without one).
const pluginConfig = `{"validator": {"type": "static", "tokens": [{"sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}]}}`

// writeBootstrap puts routes into a one-virtual-host bootstrap (envoyconfig.Build) and writes it.
func writeBootstrap(t *testing.T, routes []*routev3.Route) string {
	t.Helper()
	b := envoyconfig.Build(envoyconfig.BuildSpec{ListenPort: 10000, AdminPort: 10001, UpstreamPort: 10002,
		ModuleFilename: "scope-gate.wasm", PluginConfiguration: []byte(pluginConfig), NormalizePaths: true,
		VirtualHosts: []envoyconfig.BuildVirtualHost{{Name: "api", Domains: []string{"*"}}}})
	filters, err := envoyconfig.FindFilters(b)
	if err != nil || len(filters) != 1 {
		t.Fatalf("%v %d", err, len(filters))
	}
	hcm := filters[0].HCM
	hcm.GetRouteConfig().GetVirtualHosts()[0].Routes = routes
	a, err := anypb.New(hcm)
	if err != nil {
		t.Fatal(err)
	}
	b.StaticResources.Listeners[0].FilterChains[0].Filters[0].ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: a}
	data, err := envoyconfig.MarshalBootstrap(b)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "bootstrap.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// realDocuments are the documents under testdata (README.md there says where each comes from).
var realDocuments = []struct {
	file    string
	minOps  int
	opts    Options
	inexact int // operations made stricter or skipped: each must be a warning
}{
	{"petstore-kin-openapi.json", 25, Options{AutoBasePath: true, SkipForeign: true}, 2},
	{"petstore-swagger2-kin-openapi.json", 20, Options{AutoBasePath: true, SkipForeign: true}, 2},
	{"figma-rest-api-spec-0.43.0.yaml", 50, Options{AutoBasePath: true, Stricter: true, SkipForeign: true}, -1},
	{"googleapis-calendar-v3.json", 35, Options{AutoBasePath: true, Stricter: true}, -1},
	{"googleapis-drive-v3.json", 45, Options{AutoBasePath: true, Stricter: true}, -1},
}

func loadReal(t *testing.T, file string, opts Options) *Result {
	t.Helper()
	path := file
	if !strings.HasPrefix(file, "../") {
		path = filepath.Join("testdata", file)
	}
	d, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	res := Analyze(file, d, opts)
	if len(res.Errors) > 0 {
		t.Fatalf("errors: %v", res.Errors)
	}
	return res
}

// TestRealDocumentsRoundTrip: routes generated from each document, put into a bootstrap, pass the offline
// checker, and the comparison with the same document reports no error; every operation made stricter (or
// skipped) is a warning, both at generation and in the comparison.
func TestRealDocumentsRoundTrip(t *testing.T) {
	for _, rd := range realDocuments {
		t.Run(rd.file, func(t *testing.T) {
			res := loadReal(t, rd.file, rd.opts)
			if len(res.Ops) < rd.minOps {
				t.Fatalf("%d operations, want at least %d", len(res.Ops), rd.minOps)
			}
			inexact, bearer, scoped := 0, 0, 0
			for _, o := range res.Ops {
				if !o.Exact {
					inexact++
				}
				if !o.Req.Public && !o.Skip {
					bearer++
					if len(o.Req.Scopes) > 0 {
						scoped++
					}
				}
			}
			if rd.inexact >= 0 && inexact != rd.inexact {
				t.Errorf("%d inexact operations, want %d", inexact, rd.inexact)
			}
			if inexact != len(res.Warnings) {
				t.Errorf("%d inexact operations but %d warnings", inexact, len(res.Warnings))
			}
			if scoped == 0 {
				t.Fatal("no operation requires a scope: the document's OAuth2 scopes were not read")
			}
			routes, err := EnvoyRoutes(res, "scope_gate", "upstream")
			if err != nil {
				t.Fatal(err)
			}
			file := writeBootstrap(t, routes)
			r := envoyconfig.CheckFiles([]string{file}, envoyconfig.Options{})
			for _, f := range r.Findings {
				if !(f.Warning && strings.Contains(f.Where, "vm_config.code.local.filename")) {
					t.Errorf("offline check: %s", f)
				}
			}
			e, err := LoadEdge(file, "")
			if err != nil {
				t.Fatal(err)
			}
			warnings := 0
			for _, f := range Compare(res, e) {
				if f.Error {
					t.Errorf("%s", f)
				} else {
					warnings++
				}
			}
			if warnings != inexact {
				t.Errorf("comparison: %d warnings, want one per inexact operation (%d)", warnings, inexact)
			}
			t.Logf("%d operations, %d bearer (%d with scopes), %d stricter or skipped", len(res.Ops), bearer, scoped, inexact)
		})
	}
}

// TestDriftIsReported: deliberate drifts of generated routes are each reported, naming the operation and the
// route.
func TestDriftIsReported(t *testing.T) {
	type drift struct {
		name   string
		change func(routes []*routev3.Route) []*routev3.Route
		want   []string // each must be in some error line
	}
	find := func(routes []*routev3.Route, name string) int {
		for i, r := range routes {
			if r.GetName() == name {
				return i
			}
		}
		t.Fatalf("no route %s", name)
		return -1
	}
	setBlock := func(r *routev3.Route, block map[string]any) {
		st, err := structpb.NewStruct(block)
		if err != nil {
			t.Fatal(err)
		}
		r.Metadata.FilterMetadata["scope_gate"] = st
	}
	cases := map[string][]drift{
		"petstore-kin-openapi.json": {
			{"a scope removed", func(rs []*routev3.Route) []*routev3.Route {
				setBlock(rs[find(rs, "deletePet")], map[string]any{"required_scope": "write:pets"})
				return rs
			}, []string{"DELETE /v2/pet/{petId} (deletePet): ", "route deletePet: looser than the document: the route requires a bearer with scope write:pets, the document requires a bearer with scope read:pets write:pets"}},
			{"a route shadowed by a broader public prefix", func(rs []*routev3.Route) []*routev3.Route {
				shadow := &routev3.Route{Name: "pet_public", Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/v2/pet"}},
					Action: rs[0].Action, Metadata: &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{}}}
				setBlock(shadow, map[string]any{"auth": "none"})
				return append([]*routev3.Route{shadow}, rs...)
			}, []string{"POST /v2/pet (addPet): ", "route pet_public: looser than the document: the route is public", "GET /v2/pet/findByStatus (findPetsByStatus)"}},
			{"a new operation without a route", func(rs []*routev3.Route) []*routev3.Route {
				i := find(rs, "uploadFile")
				return append(rs[:i:i], rs[i+1:]...)
			}, []string{"POST /v2/pet/{petId}/uploadImage (uploadFile): ", "no route of virtual host api matches POST /v2/pet/1/uploadImage"}},
			{"a public operation made bearer is only a warning", nil, nil},
		},
		"googleapis-drive-v3.json": {
			{"a scope removed", func(rs []*routev3.Route) []*routev3.Route {
				setBlock(rs[find(rs, "drive.about.get")], map[string]any{"auth": "bearer"})
				return rs
			}, []string{"GET /drive/v3/about (drive.about.get): ", "route drive.about.get: looser than the document"}},
		},
	}
	for file, drifts := range cases {
		rd := realDocuments[slices.IndexFunc(realDocuments, func(r struct {
			file    string
			minOps  int
			opts    Options
			inexact int
		}) bool {
			return r.file == file
		})]
		res := loadReal(t, file, rd.opts)
		for _, d := range drifts {
			t.Run(file+"/"+d.name, func(t *testing.T) {
				routes, err := EnvoyRoutes(res, "scope_gate", "upstream")
				if err != nil {
					t.Fatal(err)
				}
				if d.change == nil {
					// Stricter only: the public placeOrder made bearer is a warning, not an error.
					setBlock(routes[find(routes, "placeOrder")], map[string]any{"auth": "bearer"})
				} else {
					routes = d.change(routes)
				}
				e, err := LoadEdge(writeBootstrap(t, routes), "")
				if err != nil {
					t.Fatal(err)
				}
				var errs, warns []string
				for _, f := range Compare(res, e) {
					if f.Error {
						errs = append(errs, f.Message)
					} else {
						warns = append(warns, f.Message)
					}
				}
				if d.change == nil {
					if len(errs) > 0 {
						t.Fatalf("errors: %v", errs)
					}
					if !slices.ContainsFunc(warns, func(s string) bool {
						return strings.Contains(s, "(placeOrder)") && strings.Contains(s, "stricter than the document: the route requires a bearer, the document lets anonymous callers in")
					}) {
						t.Fatalf("no warning for placeOrder: %v", warns)
					}
					return
				}
				joined := strings.Join(errs, "\n")
				for _, w := range d.want {
					if !strings.Contains(joined, w) {
						t.Errorf("no error says %q:\n%s", w, joined)
					}
				}
			})
		}
	}
}

// pathItemWithIntID declares the path parameter id as an integer (its sample is "1").
var pathItemWithIntID = openapi3.PathItem{Parameters: openapi3.Parameters{{Value: &openapi3.Parameter{
	Name: "id", In: "path", Required: true, Schema: &openapi3.SchemaRef{Value: &openapi3.Schema{Type: &openapi3.Types{"integer"}}}}}}}
