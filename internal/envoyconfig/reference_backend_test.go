package envoyconfig

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/scope-gate/scope-gate/filter/bearer"
	"github.com/scope-gate/scope-gate/filter/config"
	"github.com/scope-gate/scope-gate/filter/policy"
	filtervalidator "github.com/scope-gate/scope-gate/filter/validator"
)

// The reference backend's route table (envoy/reference-backend-routes.json) against the edge that fronts it
// (envoy/reference-backend.yaml): for every row, every subject type and a range of scope sets, what the edge
// decides (this package's route resolution and the filter's own policy) must equal what the backend decides.

const referenceTableFile = "../../envoy/reference-backend-routes.json"

type refTable struct {
	About      string          `json:"about"`
	Backend    json.RawMessage `json:"backend"`
	TokenKinds []refKind       `json:"token_kinds"`
	FullScope  string          `json:"full_scope"`
	Scopes     []string        `json:"scopes"`
	Edge       struct {
		File          string `json:"file"`
		VirtualHost   string `json:"virtual_host"`
		CatchAllRoute string `json:"catch_all_route"`
	} `json:"edge"`
	Routes []refRow `json:"routes"`
	Absent []struct {
		Method string `json:"method"`
		Path   string `json:"path"`
		Why    string `json:"why"`
	} `json:"absent"`
}

type refKind struct {
	Prefix      string   `json:"prefix"`
	SubjectType string   `json:"subject_type"`
	Scopes      []string `json:"scopes"`
}

type refRow struct {
	Method        string   `json:"method"`
	Path          string   `json:"path"`
	Auth          string   `json:"auth"` // "none" or "bearer"
	SubjectTypes  []string `json:"subject_types"`
	RequiredScope string   `json:"required_scope"`
	EdgeRoute     string   `json:"edge_route"`
	Source        string   `json:"source"`
	// EdgeStricter, when set, says why the edge may refuse a request this row's backend route accepts (a
	// deliberate exception); without it, an edge stricter than the backend is reported too.
	EdgeStricter string `json:"edge_stricter"`
}

func (r refRow) label() string { return r.Method + " " + r.Path }

// backendAllows is the backend's decision for a request on this row: no bearer needed (auth "none"), or a
// live bearer whose subject type the route accepts and whose scopes hold the required one or the catch-all
// (api/libs/oauth_bearer.py: require_scope checks Scope.FULL, then the scope, by set membership).
func (r refRow) backendAllows(id refIdentity, full string) bool {
	if r.Auth == "none" {
		return true
	}
	if id.token == "" {
		return false
	}
	if len(r.SubjectTypes) > 0 && !slices.Contains(r.SubjectTypes, id.subjectType) {
		return false
	}
	return r.RequiredScope == "" || slices.Contains(id.scopes, full) || slices.Contains(id.scopes, r.RequiredScope)
}

// concretePath fills the row's {parameters} with a plausible value.
var pathParam = regexp.MustCompile(`\{[a-z_]+\}`)

func concretePath(p string) string {
	return pathParam.ReplaceAllString(p, "3f2a9c1e-7d4b-4c8e-9a61-0b5d2e8f4a17")
}

func loadReferenceTable(t *testing.T) *refTable {
	t.Helper()
	data, err := os.ReadFile(referenceTableFile)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var tab refTable
	if err := dec.Decode(&tab); err != nil {
		t.Fatalf("%s: %v", referenceTableFile, err)
	}
	if len(tab.Routes) == 0 || tab.Edge.File == "" || tab.Edge.VirtualHost == "" || tab.Edge.CatchAllRoute == "" || tab.FullScope == "" {
		t.Fatalf("%s: routes, edge.file, edge.virtual_host, edge.catch_all_route and full_scope are required", referenceTableFile)
	}
	for i, r := range tab.Routes {
		where := fmt.Sprintf("%s: $.routes[%d] (%s)", referenceTableFile, i, r.label())
		switch {
		case r.Auth != "none" && r.Auth != "bearer":
			t.Fatalf("%s: auth must be \"none\" or \"bearer\", got %q", where, r.Auth)
		case r.Auth == "none" && (len(r.SubjectTypes) > 0 || r.RequiredScope != ""):
			t.Fatalf("%s: a public route has no subject_types or required_scope", where)
		case r.RequiredScope != "" && !slices.Contains(tab.Scopes, r.RequiredScope):
			t.Fatalf("%s: required_scope %q is not in the scope catalog", where, r.RequiredScope)
		case r.EdgeRoute == "" || r.Source == "" || !strings.HasPrefix(r.Path, "/openapi/v1/"):
			t.Fatalf("%s: edge_route, source and a /openapi/v1/ path are required", where)
		}
		for _, st := range r.SubjectTypes {
			if !slices.ContainsFunc(tab.TokenKinds, func(k refKind) bool { return k.SubjectType == st }) {
				t.Fatalf("%s: subject type %q belongs to no token kind", where, st)
			}
		}
	}
	return &tab
}

// refEdge is one virtual host of a bootstrap, resolved as the filter sees it.
type refEdge struct {
	file   string
	cfg    *policy.Policy
	routes []refEdgeRoute
}

type refEdgeRoute struct {
	name  string
	match func(method, path string) bool
	req   *policy.Requirement
}

// loadReferenceEdge reads the scope-gate filter of a bootstrap, its plugin configuration (with the filter's
// parser) and the routes of one virtual host, each with its requirement resolved in the filter's order
// (Resolve: route metadata, routes map, virtual host metadata, default_route).
func loadReferenceEdge(t *testing.T, file, vhostName string) *refEdge {
	t.Helper()
	b, err := LoadBootstrap(file)
	if err != nil {
		t.Fatal(err)
	}
	filters, err := FindFilters(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(filters) != 1 {
		t.Fatalf("%s: %d scope-gate filters, the comparison needs exactly one", file, len(filters))
	}
	f := filters[0]
	if f.DisabledByDefault {
		t.Fatalf("%s: %s: the filter is disabled by default", file, f.Where)
	}
	cfg, err := policy.Parse(f.Configuration)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	rc := f.HCM.GetRouteConfig()
	if rc == nil {
		t.Fatalf("%s: no static route_config", file)
	}
	if len(rc.GetTypedPerFilterConfig()) > 0 {
		t.Fatalf("%s: route_config.typed_per_filter_config: the comparison does not model per-filter configuration", file)
	}
	var vh *routev3.VirtualHost
	for _, v := range rc.GetVirtualHosts() {
		if v.GetName() == vhostName {
			vh = v
		}
	}
	if vh == nil {
		t.Fatalf("%s: no virtual host %q", file, vhostName)
	}
	if len(vh.GetTypedPerFilterConfig()) > 0 {
		t.Fatalf("%s: virtual host %q: typed_per_filter_config is not modelled by the comparison", file, vhostName)
	}
	block := func(md map[string]any, what string) *policy.Requirement {
		if md == nil {
			return nil
		}
		req, _, problem := BlockRequirement(cfg, md)
		if problem != "" {
			t.Fatalf("%s: %s: %s", file, what, problem)
		}
		return req
	}
	metaOf := func(fm map[string]*structpb.Struct) map[string]any {
		if st, ok := fm[cfg.MetadataNamespace]; ok {
			return st.AsMap()
		}
		return nil
	}
	vhReq := block(metaOf(vh.GetMetadata().GetFilterMetadata()), "virtual host "+vhostName)
	e := &refEdge{file: file, cfg: cfg}
	for _, rt := range vh.GetRoutes() {
		name := rt.GetName()
		if len(rt.GetTypedPerFilterConfig()) > 0 {
			// Only the health check of the demo switches the filter off; a route of the reference must not.
			if file == "../../envoy/envoy.yaml" && name == "healthz" {
				continue
			}
			t.Fatalf("%s: route %q: typed_per_filter_config is not modelled by the comparison", file, name)
		}
		m, problem := routeMatcher(rt.GetMatch())
		if problem != "" {
			t.Fatalf("%s: route %q: %s", file, name, problem)
		}
		routeReq := block(metaOf(rt.GetMetadata().GetFilterMetadata()), "route "+name)
		req, _ := Resolve(cfg, routeReq, name, vhReq)
		if req.Problem != "" {
			t.Fatalf("%s: route %q: %s", file, name, req.Problem)
		}
		e.routes = append(e.routes, refEdgeRoute{name: name, match: m, req: req})
	}
	return e
}

// routeMatcher implements the match fields the reference uses, as Envoy's router reads them
// (envoyproxy/envoy v1.36.0 api/envoy/config/route/v3/route_components.proto, RouteMatch): prefix compares
// the start of :path; path the whole path; path_separated_prefix the path up to a "/" or its end; safe_regex
// must match the whole path without the query string; a ":method" header matcher reads the method. Paths
// here carry no query string. Anything else is refused, so the comparison never guesses.
func routeMatcher(m *routev3.RouteMatch) (func(method, path string) bool, string) {
	if m.GetCaseSensitive() != nil && !m.GetCaseSensitive().GetValue() {
		return nil, "case_sensitive: false is not modelled"
	}
	if len(m.GetQueryParameters()) > 0 || m.GetGrpc() != nil || m.GetRuntimeFraction() != nil || len(m.GetDynamicMetadata()) > 0 || m.GetTlsContext() != nil || len(m.GetFilterState()) > 0 {
		return nil, "only path specifiers and :method header matchers are modelled"
	}
	var pathOK func(string) bool
	switch ps := m.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		pathOK = func(p string) bool { return strings.HasPrefix(p, ps.Prefix) }
	case *routev3.RouteMatch_Path:
		pathOK = func(p string) bool { return p == ps.Path }
	case *routev3.RouteMatch_PathSeparatedPrefix:
		pathOK = func(p string) bool {
			return p == ps.PathSeparatedPrefix || strings.HasPrefix(p, ps.PathSeparatedPrefix+"/")
		}
	case *routev3.RouteMatch_SafeRegex:
		re, err := regexp.Compile(`^(?:` + ps.SafeRegex.GetRegex() + `)$`)
		if err != nil {
			return nil, err.Error()
		}
		pathOK = re.MatchString
	default:
		return nil, fmt.Sprintf("path specifier %T is not modelled", ps)
	}
	var methods []string
	for _, h := range m.GetHeaders() {
		exact := h.GetStringMatch().GetExact()
		if h.GetName() != ":method" || exact == "" || h.GetInvertMatch() || h.GetStringMatch().GetIgnoreCase() {
			return nil, fmt.Sprintf("header matcher on %q: only an exact :method match is modelled", h.GetName())
		}
		methods = append(methods, exact)
	}
	return func(method, path string) bool {
		for _, want := range methods {
			if method != want {
				return false
			}
		}
		return pathOK(path)
	}, ""
}

// resolve returns the route Envoy picks for a request (the first that matches) and its requirement;
// no route: default_route.
func (e *refEdge) resolve(method, path string) (string, *policy.Requirement) {
	for _, r := range e.routes {
		if r.match(method, path) {
			return r.name, r.req
		}
	}
	return "", e.cfg.DefaultRequirement()
}

type refIdentity struct {
	label       string
	token       string   // "" = no Authorization header
	subjectType string   // the validator's answer
	scopes      []string // sorted; nil = the token kind's
}

// identities: no bearer; then, for each token kind, its own scopes, each catalog scope alone, and every scope
// but the catch-all together (the validator may return scopes of its own: contract §4).
func identities(tab *refTable) []refIdentity {
	out := []refIdentity{{label: "no bearer"}}
	for _, k := range tab.TokenKinds {
		token := k.Prefix + strings.Repeat("A", 43)
		sets := [][]string{nil}
		var narrow []string
		for _, s := range tab.Scopes {
			sets = append(sets, []string{s})
			if s != tab.FullScope {
				narrow = append(narrow, s)
			}
		}
		sets = append(sets, narrow)
		for _, set := range sets {
			id := refIdentity{token: token, subjectType: k.SubjectType}
			if set == nil {
				id.scopes = slices.Clone(k.Scopes)
				id.label = fmt.Sprintf("%s (%s, scopes of its kind: %s)", k.Prefix, k.SubjectType, strings.Join(k.Scopes, " "))
			} else {
				id.scopes = slices.Clone(set)
				id.label = fmt.Sprintf("%s (%s, scopes %s)", k.Prefix, k.SubjectType, strings.Join(set, " "))
			}
			slices.Sort(id.scopes)
			out = append(out, id)
		}
	}
	return out
}

// edgeAllows runs the filter's decision (policy.Config.Decide) with a validator that finds the token live with
// the identity's subject type and scopes.
func (e *refEdge) edgeAllows(method, path string, req *policy.Requirement, id refIdentity) (bool, policy.Verdict) {
	r := policy.Request{Method: method, Path: path}
	if id.token != "" {
		r.AuthCount, r.Authorization = 1, "Bearer "+id.token
	}
	d := e.cfg.Decide(req, r, func(bearer.Hash) filtervalidator.Validation {
		return filtervalidator.Validation{Result: filtervalidator.Valid, Subject: "someone@example.com", SubjectType: id.subjectType,
			Scopes: id.scopes, ScopesText: strings.Join(id.scopes, " ")}
	})
	return d.Verdict.Allowed(), d.Verdict
}

// compareReference lists every disagreement between the table and an edge. checkRoutes also demands that each
// row resolves to its edge_route, that the edge names no route the table does not know, and that no absent
// path is public at the edge.
func compareReference(tab *refTable, e *refEdge, checkRoutes bool) []string {
	var problems []string
	add := func(format string, args ...any) {
		problems = append(problems, e.file+": "+fmt.Sprintf(format, args...))
	}
	ids := identities(tab)
	for _, row := range tab.Routes {
		sample := concretePath(row.Path)
		name, req := e.resolve(row.Method, sample)
		if checkRoutes && name != row.EdgeRoute {
			add("%s: served by route %q, the table says %q", row.label(), name, row.EdgeRoute)
		}
		for _, id := range ids {
			edge, verdict := e.edgeAllows(row.Method, sample, req, id)
			backend := row.backendAllows(id, tab.FullScope)
			switch {
			case verdict == policy.DenyMisconfigured:
				add("%s with %s: the edge answers 500 (route %q misconfigured)", row.label(), id.label, name)
			case edge && !backend:
				add("LOOSER: %s with %s: the edge (route %q) lets it through, the backend refuses it (%s)", row.label(), id.label, name, row.Source)
			case !edge && backend && row.EdgeStricter == "":
				add("STRICTER: %s with %s: the edge (route %q) answers %s, the backend accepts it (%s); fix the edge or give the row an edge_stricter reason", row.label(), id.label, name, verdict, row.Source)
			}
		}
	}
	if !checkRoutes {
		return problems
	}
	// A path the backend does not serve gets no route of its own (the route check below), and whichever
	// route catches it must at least demand a bearer.
	for _, a := range tab.Absent {
		name, req := e.resolve(a.Method, concretePath(a.Path))
		if req.Public {
			add("%s %s: the backend does not serve it (%s), and the edge (route %q) lets it through without a bearer", a.Method, a.Path, a.Why, name)
		}
	}
	known := map[string]bool{tab.Edge.CatchAllRoute: true}
	for _, row := range tab.Routes {
		known[row.EdgeRoute] = true
	}
	seen := map[string]bool{}
	for _, r := range e.routes {
		seen[r.name] = true
		if !known[r.name] {
			add("route %q is in no row of %s: the edge must not invent routes (add the backend's routes it serves to the table)", r.name, referenceTableFile)
		}
	}
	for name := range known {
		if !seen[name] {
			add("the table names edge route %q, which the virtual host does not have", name)
		}
	}
	return problems
}

// TestReferenceBackendTable: envoy/reference-backend.yaml is never looser (nor, without a stated reason,
// stricter) than the backend's route table, and serves each row with the route the table names.
func TestReferenceBackendTable(t *testing.T) {
	tab := loadReferenceTable(t)
	e := loadReferenceEdge(t, "../../"+tab.Edge.File, tab.Edge.VirtualHost)

	// The token kinds the edge assumes are the backend's.
	if len(e.cfg.TokenKinds) != len(tab.TokenKinds) {
		t.Fatalf("%s: %d token kinds, the table has %d", e.file, len(e.cfg.TokenKinds), len(tab.TokenKinds))
	}
	for _, want := range tab.TokenKinds {
		i := slices.IndexFunc(e.cfg.TokenKinds, func(k config.TokenKind) bool { return k.Prefix == want.Prefix })
		if i < 0 {
			t.Errorf("%s: no token kind %q", e.file, want.Prefix)
			continue
		}
		got := e.cfg.TokenKinds[i]
		if got.SubjectType != want.SubjectType || !slices.Equal(got.Scopes, want.Scopes) {
			t.Errorf("%s: token kind %q is %s %v, the backend's is %s %v", e.file, want.Prefix, got.SubjectType, got.Scopes, want.SubjectType, want.Scopes)
		}
	}
	if e.cfg.FullScope != tab.FullScope {
		t.Errorf("%s: full_scope %q, the backend's catch-all is %q", e.file, e.cfg.FullScope, tab.FullScope)
	}

	problems := compareReference(tab, e, true)
	for _, p := range problems {
		t.Error(p)
	}
	t.Logf("%d rows x %d identities compared", len(tab.Routes), len(identities(tab)))
}

// TestDemoAgreesWithReferenceBackend: the /openapi/v1 routes of the `make run` demo (envoy/envoy.yaml) decide
// every row of the table as the backend does, whatever the demo's route names.
func TestDemoAgreesWithReferenceBackend(t *testing.T) {
	tab := loadReferenceTable(t)
	e := loadReferenceEdge(t, "../../envoy/envoy.yaml", "api")
	for _, p := range compareReference(tab, e, false) {
		t.Error(p)
	}
}

// TestReferenceComparisonCatchesDrift: the comparison reports an edge looser than the backend (the workspaces
// route without its subject type, the run route without its scope), one stricter (the version probe behind a
// bearer) and an invented route; so the tests above can fail.
func TestReferenceComparisonCatchesDrift(t *testing.T) {
	tab := loadReferenceTable(t)
	e := loadReferenceEdge(t, "../../"+tab.Edge.File, tab.Edge.VirtualHost)
	if problems := compareReference(tab, e, true); len(problems) != 0 {
		t.Fatalf("the reference must agree before it is broken on purpose: %v", problems)
	}
	set := func(name string, fields ...[2]string) {
		for i := range e.routes {
			if e.routes[i].name == name {
				e.routes[i].req = e.cfg.RequirementFromFields(fields)
				return
			}
		}
		t.Fatalf("no route %q", name)
	}
	set("workspaces", [2]string{"auth", "bearer"})
	set("apps_run", [2]string{"subject_types", "account"})
	set("probes", [2]string{"auth", "bearer"})
	e.routes = append(e.routes, refEdgeRoute{name: "invented", match: func(string, string) bool { return false }, req: e.cfg.DefaultRequirement()})
	got := strings.Join(compareReference(tab, e, true), "\n")
	for _, want := range []string{
		"LOOSER: GET /openapi/v1/workspaces with dfoe_ (external_sso, scopes of its kind",
		"LOOSER: POST /openapi/v1/apps/{app_id}/run with dfoa_ (account, scopes apps:read)",
		"STRICTER: GET /openapi/v1/_version with no bearer",
		`route "invented" is in no row`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the comparison did not report %q; it reported:\n%s", want, got)
		}
	}
}

// TestReferenceMirrors: the Istio and Envoy Gateway examples give the reference backend's routes the same
// requirements as envoy/reference-backend.yaml (which TestReferenceBackendTable holds to the backend). Istio
// keeps the route names; Envoy Gateway generates its own, so its routes are paired by what they match.
func TestReferenceMirrors(t *testing.T) {
	ref := CheckFiles([]string{"../../envoy/reference-backend.yaml"}, Options{})
	byName, byMatch := map[string]string{}, map[string]string{}
	for _, row := range ref.Rows {
		byName[row.Route] = row.Requirement
		byMatch[normalizeMatch(row.Match)] = row.Requirement
	}
	if len(byName) == 0 {
		t.Fatal("envoy/reference-backend.yaml: no routes")
	}
	compare := func(what string, files []string, key func(Row) string, want map[string]string) {
		r := CheckFiles(files, Options{})
		if r.Errors() > 0 {
			t.Fatalf("%s: %v", what, r.Findings)
		}
		got := map[string]string{}
		for _, row := range r.Rows {
			got[key(row)] = row.Requirement
		}
		for k, req := range want {
			if g, ok := got[k]; !ok {
				t.Errorf("%s: no route for %q (envoy/reference-backend.yaml: %s)", what, k, req)
			} else if g != req {
				t.Errorf("%s: %q requires %q, envoy/reference-backend.yaml %q", what, k, g, req)
			}
		}
		for k, g := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("%s: route %q (%s) is not in envoy/reference-backend.yaml", what, k, g)
			}
		}
	}
	compare("envoy/istio", []string{"../../envoy/istio/wasmplugin.yaml", "../../envoy/istio/envoyfilter.yaml", "../../envoy/istio/virtualservice.yaml"},
		func(r Row) string { return r.Route }, byName)
	compare("envoy/envoy-gateway", []string{"../../envoy/envoy-gateway/extensionpolicy.yaml", "../../envoy/envoy-gateway/httproute.yaml"},
		func(r Row) string { return normalizeMatch(r.Match) }, byMatch)
}

// normalizeMatch makes the match descriptions of a bootstrap and of an HTTPRoute comparable: Gateway API's
// PathPrefix matches whole segments (Envoy's path_separated_prefix) and its Exact is Envoy's path. A trailing
// "/" is dropped on both sides; the two forms then differ only on the bare prefix itself, a path the backend
// does not serve, which falls to the bearer catch-all.
func normalizeMatch(m string) string {
	m = strings.TrimSuffix(m, " (segments)")
	m = strings.Replace(m, "exact ", "path ", 1)
	return strings.TrimSuffix(m, "/")
}

// TestReferenceScenarioRoutes: the scenario table's reference routes (e2e/scenarios/scenarios.json, keys
// "ref_<edge route>") carry the requirement of the route of envoy/reference-backend.yaml they stand for, so
// the scenarios replay the reference's decisions, not a copy that drifted.
func TestReferenceScenarioRoutes(t *testing.T) {
	tab := loadReferenceTable(t)
	e := loadReferenceEdge(t, "../../"+tab.Edge.File, tab.Edge.VirtualHost)
	data, err := os.ReadFile("../../e2e/scenarios/scenarios.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Routes map[string]struct {
			Metadata map[string]any `json:"metadata"`
		} `json:"routes"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	n := 0
	for key, rt := range file.Routes {
		edgeName, ok := strings.CutPrefix(key, "ref_")
		if !ok {
			continue
		}
		n++
		i := slices.IndexFunc(e.routes, func(r refEdgeRoute) bool { return r.name == edgeName })
		if i < 0 {
			t.Errorf("scenarios.json: routes[%q]: %s has no route %q", key, e.file, edgeName)
			continue
		}
		block, _ := rt.Metadata[e.cfg.MetadataNamespace].(map[string]any)
		got, _, problem := BlockRequirement(e.cfg, block)
		if problem != "" || block == nil {
			t.Errorf("scenarios.json: routes[%q]: no usable %s block (%s)", key, e.cfg.MetadataNamespace, problem)
			continue
		}
		if Describe(got) != Describe(e.routes[i].req) {
			t.Errorf("scenarios.json: routes[%q] requires %q, route %q of %s %q", key, Describe(got), edgeName, e.file, Describe(e.routes[i].req))
		}
	}
	if n < 5 {
		t.Errorf("scenarios.json: %d ref_ routes, want the reference's accounts-only, apps:run and public routes", n)
	}
}
