package openapi

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/scope-gate/scope-gate/filter/policy"
	"github.com/scope-gate/scope-gate/internal/envoyconfig"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// Edge is the routes of one virtual host of an Envoy bootstrap, each with the requirement the filter
// resolves for it (envoyconfig.Resolve: route block, routes map, virtual host block, default_route).
type Edge struct {
	File        string
	VirtualHost string
	routes      []edgeRoute
}

type edgeRoute struct {
	name  string
	match func(method, path string) bool
	req   *policy.Requirement
	off   bool // the filter is disabled on the route: nothing is checked
}

// LoadEdges reads the files `check -openapi` compares: each Envoy bootstrap (or config dump) on its own, and
// the Istio and Envoy Gateway resources of every Kubernetes file together, since a mesh's configuration
// spans files (WasmPlugin, VirtualService and EnvoyFilter; EnvoyExtensionPolicy, HTTPRoute and Gateway).
// vhostName selects the virtual host (a bootstrap's virtual host name, a mesh's hostname); empty means the
// only one. A file that cannot be compared is an error: it must not look like one without drift.
func LoadEdges(files []string, vhostName string) ([]*Edge, []error) {
	var edges []*Edge
	var errs []error
	var docs []*envoyconfig.Document
	var kubeFiles []string
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if envoyconfig.IsKubernetes(data) {
			d, r := envoyconfig.ParseDocuments(file, data)
			if r.Errors() > 0 {
				errs = append(errs, fmt.Errorf("%s: not read as Kubernetes resources (see the check's errors)", file))
				continue
			}
			docs = append(docs, d...)
			kubeFiles = append(kubeFiles, file)
			continue
		}
		e, err := LoadEdge(file, vhostName)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		edges = append(edges, e)
	}
	if len(kubeFiles) > 0 {
		es, err := meshEdges(docs, vhostName)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", strings.Join(kubeFiles, ", "), err))
		}
		edges = append(edges, es...)
	}
	return edges, errs
}

// meshEdges turns the virtual hosts envoyconfig models for the meshes' resources into edges, one per
// platform: the only virtual host of that platform, or the one serving vhostName.
func meshEdges(docs []*envoyconfig.Document, vhostName string) ([]*Edge, error) {
	vhs, err := envoyconfig.MeshVirtualHosts(docs)
	if err != nil {
		return nil, err
	}
	var platforms []string
	byPlatform := map[string][]envoyconfig.MeshVirtualHost{}
	for _, vh := range vhs {
		if byPlatform[vh.Platform] == nil {
			platforms = append(platforms, vh.Platform)
		}
		byPlatform[vh.Platform] = append(byPlatform[vh.Platform], vh)
	}
	var edges []*Edge
	for _, pl := range platforms {
		var chosen *envoyconfig.MeshVirtualHost
		var names []string
		for i, vh := range byPlatform[pl] {
			names = append(names, vh.Name)
			if (vhostName == "" && len(byPlatform[pl]) == 1) || slices.Contains(strings.Split(vh.Name, ","), vhostName) {
				chosen = &byPlatform[pl][i]
			}
		}
		if chosen == nil && vhostName == "" {
			return nil, fmt.Errorf("%s: %d virtual hosts (%s): choose one with -virtual-host", pl, len(names), strings.Join(names, "; "))
		}
		if chosen == nil {
			return nil, fmt.Errorf("%s: no virtual host serves %q (have %s)", pl, vhostName, strings.Join(names, "; "))
		}
		e := &Edge{File: chosen.File, VirtualHost: chosen.Name}
		for _, rt := range chosen.Routes {
			m, problem := RouteMatcher(rt.Match)
			if problem != "" {
				return nil, fmt.Errorf("%s: route %s: %s", pl, rt.Label, problem)
			}
			e.routes = append(e.routes, edgeRoute{name: rt.Label, match: m, req: rt.Requirement, off: rt.Off})
		}
		edges = append(edges, e)
	}
	return edges, nil
}

// LoadEdge reads the scope-gate filter and the named virtual host (or the only one) of a bootstrap.
func LoadEdge(file, vhostName string) (*Edge, error) {
	if data, err := os.ReadFile(file); err == nil && envoyconfig.IsKubernetes(data) {
		return nil, fmt.Errorf("%s: Kubernetes resources are compared together by LoadEdges", file)
	}
	b, err := envoyconfig.LoadBootstrap(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	filters, err := envoyconfig.FindFilters(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	if len(filters) != 1 {
		return nil, fmt.Errorf("%s: %d scope-gate filters: the OpenAPI comparison needs exactly one", file, len(filters))
	}
	f := filters[0]
	cfg, err := policy.Parse(f.Configuration)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %v", file, f.Where, err)
	}
	rc := f.HCM.GetRouteConfig()
	if rc == nil {
		return nil, fmt.Errorf("%s: %s: the connection manager has no static route_config to compare", file, f.Where)
	}
	var vh *routev3.VirtualHost
	var names []string
	for _, v := range rc.GetVirtualHosts() {
		names = append(names, v.GetName())
		if v.GetName() == vhostName || (vhostName == "" && len(rc.GetVirtualHosts()) == 1) {
			vh = v
		}
	}
	if vh == nil && vhostName == "" {
		return nil, fmt.Errorf("%s: %d virtual hosts (%s): choose one with -virtual-host", file, len(names), strings.Join(names, ", "))
	}
	if vh == nil {
		return nil, fmt.Errorf("%s: no virtual host %q (have %s)", file, vhostName, strings.Join(names, ", "))
	}
	block := func(md *structpb.Struct, what string) (*policy.Requirement, error) {
		if md == nil {
			return nil, nil
		}
		req, at, problem := envoyconfig.BlockRequirement(cfg, md.AsMap())
		if problem != "" {
			return nil, fmt.Errorf("%s: %s%s: %s", file, what, at, problem)
		}
		return req, nil
	}
	ns := cfg.MetadataNamespace
	vhReq, err := block(vh.GetMetadata().GetFilterMetadata()[ns], "virtual host "+vh.GetName())
	if err != nil {
		return nil, err
	}
	vhOff := disabled(vh.GetTypedPerFilterConfig(), f.HTTPFilterName, f.DisabledByDefault)
	e := &Edge{File: file, VirtualHost: vh.GetName()}
	for i, rt := range vh.GetRoutes() {
		name := rt.GetName()
		label := name
		if label == "" {
			label = fmt.Sprintf("routes[%d]", i)
		}
		m, problem := RouteMatcher(rt.GetMatch())
		if problem != "" {
			return nil, fmt.Errorf("%s: virtual host %s: route %q: %s", file, vh.GetName(), label, problem)
		}
		routeReq, err := block(rt.GetMetadata().GetFilterMetadata()[ns], "route "+label)
		if err != nil {
			return nil, err
		}
		req, _ := envoyconfig.Resolve(cfg, routeReq, name, vhReq)
		off := disabled(rt.GetTypedPerFilterConfig(), f.HTTPFilterName, vhOff)
		e.routes = append(e.routes, edgeRoute{name: label, match: m, req: req, off: off})
	}
	return e, nil
}

// disabled applies a typed_per_filter_config entry for the filter (FilterConfig{disabled}) to the inherited
// state; any other entry was refused by `scope-gate check` already and changes nothing here.
func disabled(tpfc map[string]*anypb.Any, name string, inherited bool) bool {
	a, ok := tpfc[name]
	if !ok {
		return inherited
	}
	fc := &routev3.FilterConfig{}
	if a.UnmarshalTo(fc) != nil {
		return inherited
	}
	return fc.GetDisabled()
}

// RouteMatcher implements the route match fields the comparison reads, as Envoy's router does
// (envoyproxy/envoy v1.36.0 api/envoy/config/route/v3/route_components.proto, RouteMatch): prefix compares
// the start of the path; path the whole path; path_separated_prefix the path up to a "/" or its end;
// safe_regex must match the whole path without the query string; header matchers on ":method" with an exact
// value (several must all match). Sample paths carry no query string. Anything else is refused, so the
// comparison never guesses which route Envoy would pick.
func RouteMatcher(m *routev3.RouteMatch) (func(method, path string) bool, string) {
	fold := m.GetCaseSensitive() != nil && !m.GetCaseSensitive().GetValue()
	if len(m.GetQueryParameters()) > 0 || m.GetGrpc() != nil || m.GetRuntimeFraction() != nil || len(m.GetDynamicMetadata()) > 0 || m.GetTlsContext() != nil || len(m.GetFilterState()) > 0 || len(m.GetCookies()) > 0 {
		return nil, "only path specifiers and exact :method header matchers are compared"
	}
	eq := func(a, b string) bool { return a == b || (fold && strings.EqualFold(a, b)) }
	hasPrefix := func(s, p string) bool { return len(s) >= len(p) && eq(s[:len(p)], p) }
	var pathOK func(string) bool
	switch ps := m.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		pathOK = func(p string) bool { return hasPrefix(p, ps.Prefix) }
	case *routev3.RouteMatch_Path:
		pathOK = func(p string) bool { return eq(p, ps.Path) }
	case *routev3.RouteMatch_PathSeparatedPrefix:
		pathOK = func(p string) bool {
			return eq(p, ps.PathSeparatedPrefix) || hasPrefix(p, ps.PathSeparatedPrefix+"/")
		}
	case *routev3.RouteMatch_SafeRegex:
		// safe_regex ignores case_sensitive (the proto says so).
		re, err := regexp.Compile(`^(?:` + ps.SafeRegex.GetRegex() + `)$`)
		if err != nil {
			return nil, "safe_regex: " + err.Error()
		}
		pathOK = re.MatchString
	default:
		return nil, fmt.Sprintf("path specifier %T is not compared", ps)
	}
	var want []string
	for _, h := range m.GetHeaders() {
		exact := h.GetStringMatch().GetExact()
		if h.GetName() != ":method" || exact == "" || h.GetInvertMatch() || h.GetStringMatch().GetIgnoreCase() {
			return nil, fmt.Sprintf("header matcher on %q: only an exact :method match is compared", h.GetName())
		}
		want = append(want, exact)
	}
	return func(method, path string) bool {
		for _, w := range want {
			if method != w {
				return false
			}
		}
		return pathOK(path)
	}, ""
}

// Finding is one line of the comparison.
type Finding struct {
	Error   bool
	Message string
}

func (f Finding) String() string {
	if f.Error {
		return "error: " + f.Message
	}
	return "warning: " + f.Message
}

// Compare resolves, for every operation of the document, the route the edge picks for its method and sample
// path and that route's requirement, and reports where the edge is looser than the document (error), stricter
// (warning) or has no route (error). The full_scope catch-all is the filter's own rule and is not compared.
func Compare(res *Result, e *Edge) []Finding {
	var out []Finding
	for _, o := range res.Ops {
		if o.Skip {
			out = append(out, Finding{false, fmt.Sprintf("%s: not compared: only schemes scope-gate does not check satisfy it", o.Label())})
			continue
		}
		var rt *edgeRoute
		for i := range e.routes {
			if e.routes[i].match(o.Method, o.Sample) {
				rt = &e.routes[i]
				break
			}
		}
		where := fmt.Sprintf("%s: %s", o.Label(), e.File)
		if rt == nil {
			out = append(out, Finding{true, fmt.Sprintf("%s: no route of virtual host %s matches %s %s", where, e.VirtualHost, o.Method, o.Sample)})
			continue
		}
		where += ": route " + rt.name
		loose, strict := compareOne(o, rt)
		// One line per operation: looser (error) wins over stricter (warning); reasons are joined.
		switch {
		case len(loose) > 0:
			out = append(out, Finding{true, fmt.Sprintf("%s: looser than the document: %s", where, strings.Join(append(loose, strict...), "; "))})
		case len(strict) > 0:
			out = append(out, Finding{false, fmt.Sprintf("%s: stricter than the document: %s", where, strings.Join(strict, "; "))})
		}
	}
	return out
}

// compareOne returns why the edge route lets through requests the document refuses (loose) and refuses
// requests the document accepts (strict). Requests are anonymous or carry one bearer token (its scopes and
// subject type); alternatives that need another scheme accept no such request, and the edge cannot tell
// their callers apart.
func compareOne(o *Operation, rt *edgeRoute) (loose, strict []string) {
	if rt.off {
		if !o.Public {
			loose = append(loose, "the filter is disabled on the route, the document "+docString(o))
		}
		return
	}
	req := rt.req
	if req.Problem != "" {
		// default_route "deny" and broken blocks answer 500: nothing gets through.
		strict = append(strict, "the route answers 500 ("+req.Problem+")")
		return
	}
	if req.Public {
		if !o.Public {
			loose = append(loose, "the route is public, the document "+docString(o))
		}
		return
	}
	if o.Public {
		strict = append(strict, fmt.Sprintf("the route requires %s, the document lets anonymous callers in", edgeString(req)))
		return
	}
	var bearer []alternative
	var foreign []string
	for _, a := range o.Alts {
		if len(a.foreign) > 0 {
			foreign = append(foreign, a.foreign...)
		} else {
			bearer = append(bearer, a)
		}
	}
	if len(bearer) == 0 {
		strict = append(strict, fmt.Sprintf("the document accepts only schemes scope-gate does not check (%s); the route requires %s", strings.Join(uniq(foreign), ", "), edgeString(req)))
		return
	}
	// Looser: a token with exactly the route's scopes and an accepted subject type that no alternative
	// accepts. Subject types: the route's set (empty: any) must be covered by alternatives accepting them.
	subjects := req.SubjectTypes
	covered := func(subject string) bool {
		for _, a := range bearer {
			if !subset(a.scopes, req.Scopes) {
				continue
			}
			if len(o.SubjectTypes) == 0 || (subject != "" && slices.Contains(o.SubjectTypes, subject)) {
				return true
			}
		}
		return false
	}
	if len(subjects) == 0 {
		if !covered("") {
			loose = append(loose, fmt.Sprintf("the route requires %s, the document %s", edgeString(req), docString(o)))
		}
	} else {
		for _, s := range subjects {
			if !covered(s) {
				loose = append(loose, fmt.Sprintf("the route requires %s, the document %s", edgeString(req), docString(o)))
				break
			}
		}
	}
	// Stricter: an alternative's token that the route refuses.
	for _, a := range bearer {
		if !subset(req.Scopes, a.scopes) || (len(subjects) > 0 && (len(o.SubjectTypes) == 0 || !subset(o.SubjectTypes, subjects))) {
			strict = append(strict, fmt.Sprintf("the route requires %s, the document accepts %s", edgeString(req), altString(a, o.SubjectTypes)))
			break
		}
	}
	if len(foreign) > 0 {
		strict = append(strict, fmt.Sprintf("callers using %s (not checked by scope-gate) are refused", strings.Join(uniq(foreign), ", ")))
	}
	return
}

func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

func uniq(s []string) []string { return slices.Compact(slices.Sorted(slices.Values(s))) }

func edgeString(r *policy.Requirement) string {
	s := "a bearer"
	if len(r.Scopes) > 0 {
		s += " with scope " + strings.Join(r.Scopes, " ")
	}
	if len(r.SubjectTypes) > 0 {
		s += " of subject type " + strings.Join(r.SubjectTypes, " or ")
	}
	return s
}

func altString(a alternative, subjects []string) string {
	s := "a bearer"
	if len(a.scopes) > 0 {
		s += " with scope " + strings.Join(a.scopes, " ")
	}
	if len(subjects) > 0 {
		s += " of subject type " + strings.Join(subjects, " or ")
	}
	return s
}

func docString(o *Operation) string {
	if o.Public {
		return "is public"
	}
	var alts []string
	for _, a := range o.Alts {
		if len(a.foreign) > 0 {
			alts = append(alts, strings.Join(a.foreign, "+"))
			continue
		}
		alts = append(alts, altString(a, o.SubjectTypes))
	}
	return "requires " + strings.Join(alts, ", or ")
}
