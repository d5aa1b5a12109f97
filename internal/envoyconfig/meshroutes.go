package envoyconfig

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/scope-gate/scope-gate/filter/policy"
)

// MeshVirtualHost is one virtual host a mesh generates from Istio or Envoy Gateway resources: its Envoy routes
// in the order Envoy tries them, each with the match the mesh's translator writes and the requirement the
// filter resolves for it. It is what `check -openapi` compares with an OpenAPI document; it is built from the
// same models as the check's route table (virtualServiceRoutes, gatewayRoutes, Resolve), never a second one.
type MeshVirtualHost struct {
	Platform string // "Istio" or "Envoy Gateway"
	Name     string // the host(s) the virtual host serves
	File     string // the file of the VirtualService or HTTPRoute it comes from
	Routes   []MeshRoute
}

// MeshRoute is one Envoy route of a MeshVirtualHost.
type MeshRoute struct {
	Name        string // the Envoy route name; "" when the mesh gives none
	Label       string // Name, or where the route comes from when it has none
	Match       *routev3.RouteMatch
	Requirement *policy.Requirement
	Off         bool // the filter does not run on the route (no policy targets it)
}

// MeshVirtualHosts builds the virtual hosts of the Istio and Envoy Gateway resources among docs. Whatever
// decides which route a request takes or what it requires and cannot be modelled exactly (header and query
// matches, several resources merged into one virtual host in an order set by creation time, EnvoyFilter
// patches selecting more than a route name) is refused with a one-line error rather than guessed.
func MeshVirtualHosts(docs []*Document) ([]MeshVirtualHost, error) {
	var wasm, eep, filters, services, httpRoutes, gateways []*Document
	for _, d := range docs {
		switch {
		case d.Kind == "WasmPlugin":
			wasm = append(wasm, d)
		case d.Kind == "EnvoyExtensionPolicy":
			eep = append(eep, d)
		case d.Kind == "EnvoyFilter":
			filters = append(filters, d)
		case d.Kind == "VirtualService":
			services = append(services, d)
		case d.Kind == "HTTPRoute":
			httpRoutes = append(httpRoutes, d)
		case d.Kind == "Gateway" && isGatewayKind(d):
			gateways = append(gateways, d)
		}
	}
	var out []MeshVirtualHost
	if len(services) > 0 || len(wasm) > 0 {
		vhs, err := istioVirtualHosts(wasm, filters, services)
		if err != nil {
			return nil, err
		}
		out = append(out, vhs...)
	}
	if len(httpRoutes) > 0 || len(eep) > 0 {
		vhs, err := gatewayVirtualHosts(eep, httpRoutes, gateways)
		if err != nil {
			return nil, err
		}
		out = append(out, vhs...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no VirtualService or HTTPRoute among the Kubernetes resources: no route to compare")
	}
	return out, nil
}

// istioVirtualHosts: one virtual host per VirtualService, its routes in http[] order, one per match block
// (virtualServiceRoutes), each match translated as Istio 1.30.3 does for a VirtualService that is not
// generated from an Ingress or a Gateway API route (pilot/pkg/networking/core/route/route.go,
// TranslateRouteMatch: uri exact → path, prefix → prefix (byte-wise, not segment-wise), regex → safe_regex,
// ignoreUriCase → case_sensitive false, method → a ":method" header matcher; no match block → prefix "/").
// The requirement is the EnvoyFilter block merged into the route of that name, else the WasmPlugin's routes
// map, else default_route (Istio writes no virtual host metadata). With one VirtualService per host the
// http[] order is the Envoy order: Istio stops translating a VirtualService at its first catch-all route
// (BuildHTTPRoutesForVirtualService) and moves catch-all routes to the end of a gateway's virtual host
// (SortVHostRoutes, pilot/pkg/networking/core/gateway.go), neither of which changes the first match.
func istioVirtualHosts(wasm, filters, services []*Document) ([]MeshVirtualHost, error) {
	var plugins []plugin
	for _, d := range wasm {
		if p, ok := checkWasmPlugin(&Report{}, d); ok {
			plugins = append(plugins, p)
		}
	}
	if len(plugins) != 1 {
		return nil, fmt.Errorf("%d valid scope-gate WasmPlugins among the inputs (Istio): the OpenAPI comparison needs exactly one", len(plugins))
	}
	cfg := plugins[0].cfg
	if m := at(plugins[0].doc.Object, "spec", "match"); m != nil {
		return nil, fmt.Errorf("%s: %s: the plugin applies to some traffic only; the comparison cannot tell which", plugins[0].doc.File, plugins[0].doc.where("spec.match"))
	}
	if len(services) == 0 {
		return nil, fmt.Errorf("no VirtualService among the inputs (Istio): no route to compare")
	}
	// Istio merges the VirtualServices of one host into one virtual host ordered by creation time, which a
	// file does not carry.
	seen := map[string]*Document{}
	for _, d := range services {
		hosts, _ := at(d.Object, "spec", "hosts").([]any)
		for _, h := range hosts {
			if o := seen[asString(h)]; o != nil {
				return nil, fmt.Errorf("%s: %s: host %q is also served by VirtualService %s/%s; Istio orders their routes by creation time, which the comparison cannot know", d.File, d.where("spec.hosts"), asString(h), o.Namespace, o.Name)
			}
			seen[asString(h)] = d
		}
		if at(d.Object, "spec", "http") == nil {
			return nil, fmt.Errorf("%s: %s: no http routes", d.File, d.where("spec.http"))
		}
	}
	patched := map[string]*policy.Requirement{}
	for _, d := range filters {
		if err := istioPatchSelectors(d, cfg.MetadataNamespace, patched); err != nil {
			return nil, err
		}
		checkEnvoyFilter(&Report{}, d, cfg, nil, nil, patched)
	}
	var out []MeshVirtualHost
	for _, d := range services {
		_, all := virtualServiceRoutes([]*Document{d})
		var hs []string
		for _, h := range at(d.Object, "spec", "hosts").([]any) {
			hs = append(hs, asString(h))
		}
		vh := MeshVirtualHost{Platform: "Istio", Name: strings.Join(hs, ","), File: d.File}
		for _, rt := range all {
			where := "spec.http[" + strconv.Itoa(rt.index) + "]"
			if to := asString(at(d.Object, "spec", "http", rt.index, "delegate", "name")); to != "" {
				return nil, fmt.Errorf("%s: %s: delegates to VirtualService %q, which the comparison does not follow", rt.doc.File, rt.doc.where(where+".delegate"), to)
			}
			var m map[string]any
			if rt.match >= 0 {
				where += ".match[" + strconv.Itoa(rt.match) + "]"
				m, _ = at(d.Object, "spec", "http", rt.index, "match", rt.match).(map[string]any)
			}
			match, problem := istioRouteMatch(m)
			if problem != "" {
				return nil, fmt.Errorf("%s: %s: %s", rt.doc.File, rt.doc.where(where), problem)
			}
			label := rt.name
			if label == "" {
				label = "(unnamed " + where + ")"
			}
			req, _ := Resolve(cfg, patched[rt.name], rt.name, nil)
			vh.Routes = append(vh.Routes, MeshRoute{Name: rt.name, Label: label, Match: match, Requirement: req})
		}
		out = append(out, vh)
	}
	return out, nil
}

// istioRouteMatch translates one HTTPMatchRequest (nil: none) as TranslateRouteMatch does, refusing the
// fields whose outcome depends on more than the method and path of a request.
func istioRouteMatch(m map[string]any) (*routev3.RouteMatch, string) {
	out := &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		switch k {
		case "name", "uri", "method", "ignoreUriCase", "statPrefix":
		default:
			return nil, "matches on " + k + ": only uri and method matches are compared"
		}
	}
	if uri, ok := m["uri"].(map[string]any); ok {
		switch {
		case uri["exact"] != nil:
			out.PathSpecifier = &routev3.RouteMatch_Path{Path: asString(uri["exact"])}
		case uri["prefix"] != nil:
			out.PathSpecifier = &routev3.RouteMatch_Prefix{Prefix: asString(uri["prefix"])}
		case uri["regex"] != nil:
			out.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: asString(uri["regex"])}}
		}
	}
	ignore, _ := m["ignoreUriCase"].(bool)
	out.CaseSensitive = wrapperspb.Bool(!ignore)
	if method, ok := m["method"].(map[string]any); ok {
		exact := asString(method["exact"])
		if exact == "" || len(method) != 1 {
			return nil, "method: only an exact method match is compared"
		}
		out.Headers = append(out.Headers, methodHeader(exact))
	}
	return out, ""
}

func methodHeader(method string) *routev3.HeaderMatcher {
	return &routev3.HeaderMatcher{Name: ":method", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{
		StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: method}}}}
}

// istioPatchSelectors refuses the EnvoyFilter patches setting scope-gate metadata whose reach the comparison
// cannot tell: one without a route name (merged into every route its other selectors pick), one selecting
// by anything else than the route name (listener port, route configuration or virtual host name, route
// action), and a second patch of the same route (EnvoyFilters merge in priority and creation order).
func istioPatchSelectors(d *Document, ns string, seen map[string]*policy.Requirement) error {
	patches, _ := at(d.Object, "spec", "configPatches").([]any)
	for i := range patches {
		pp := "spec.configPatches[" + strconv.Itoa(i) + "]"
		if at(patches[i], "patch", "value", "metadata", "filter_metadata", ns) == nil {
			continue
		}
		rc, _ := at(patches[i], "match", "routeConfiguration").(map[string]any)
		for _, k := range slices.Sorted(maps.Keys(rc)) {
			if k != "vhost" {
				return fmt.Errorf("%s: %s: selects routes by %s: only a route name is compared", d.File, d.where(pp+".match.routeConfiguration."+k), k)
			}
		}
		vh, _ := rc["vhost"].(map[string]any)
		for _, k := range slices.Sorted(maps.Keys(vh)) {
			if k != "route" {
				return fmt.Errorf("%s: %s: selects routes by virtual host %s: only a route name is compared", d.File, d.where(pp+".match.routeConfiguration.vhost."+k), k)
			}
		}
		rt, _ := vh["route"].(map[string]any)
		name := asString(rt["name"])
		if name == "" || len(rt) != 1 {
			return fmt.Errorf("%s: %s: the block applies to every route the other selectors pick: the comparison needs a route name", d.File, d.where(pp+".match.routeConfiguration.vhost.route"))
		}
		if _, dup := seen[name]; dup {
			return fmt.Errorf("%s: %s: route %q is patched twice; EnvoyFilters merge in priority and creation order, which the comparison cannot know", d.File, d.where(pp), name)
		}
		seen[name] = nil
	}
	return nil
}

// gatewayVirtualHosts: one virtual host per hostname, its routes in Envoy Gateway's sorted order
// (gatewayRoutes), each match translated as Envoy Gateway v1.9.1 does (internal/xds/translator/route.go,
// buildPathMatch: Exact → path, RegularExpression → safe_regex, PathPrefix "/" → prefix "/", any other
// PathPrefix → path_separated_prefix without its trailing "/"; the method → a ":method" header matcher).
// The requirement is the EnvoyExtensionPolicy's routes map entry of the generated route name, else
// default_route; a route no policy targets runs without the filter.
func gatewayVirtualHosts(eep, httpRoutes, gateways []*Document) ([]MeshVirtualHost, error) {
	var plugins []plugin
	for _, d := range eep {
		plugins = append(plugins, checkExtensionPolicy(&Report{}, d)...)
	}
	if len(plugins) != 1 {
		return nil, fmt.Errorf("%d valid scope-gate wasm extensions among the inputs (Envoy Gateway): the OpenAPI comparison needs exactly one", len(plugins))
	}
	p := plugins[0]
	if at(p.doc.Object, "spec", "targetSelectors") != nil {
		return nil, fmt.Errorf("%s: %s: the comparison reads targetRefs only", p.doc.File, p.doc.where("spec.targetSelectors"))
	}
	if len(httpRoutes) == 0 {
		return nil, fmt.Errorf("no HTTPRoute among the inputs (Envoy Gateway): no route to compare")
	}
	byHost := map[string]*MeshVirtualHost{}
	owner := map[string]*Document{}
	var hosts []string
	for _, d := range httpRoutes {
		off := !policyTargets(p.doc, d)
		for _, e := range gatewayRoutes(d, gateways) {
			// Envoy Gateway sorts the routes of every HTTPRoute of a listener together, and equally specific
			// routes keep the order of the HTTPRoutes, which is by creation time.
			if o := owner[e.host]; o != nil && o != d {
				return nil, fmt.Errorf("%s: %s: hostname %q is also served by HTTPRoute %s/%s; Envoy Gateway orders equally specific routes by creation time, which the comparison cannot know", d.File, d.where("spec.hostnames"), e.host, o.Namespace, o.Name)
			}
			owner[e.host] = d
			mp := "spec.rules[" + strconv.Itoa(e.rule) + "].matches[" + strconv.Itoa(e.match) + "]"
			m, _ := at(d.Object, "spec", "rules", e.rule, "matches", e.match).(map[string]any)
			for _, k := range slices.Sorted(maps.Keys(m)) {
				if k != "path" && k != "method" {
					return nil, fmt.Errorf("%s: %s: matches on %s: only path and method matches are compared", d.File, d.where(mp+"."+k), k)
				}
			}
			match := &routev3.RouteMatch{}
			switch {
			case e.pathType == "Exact":
				match.PathSpecifier = &routev3.RouteMatch_Path{Path: e.pathValue}
			case e.pathType == "RegularExpression":
				match.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: e.pathValue}}
			case e.pathValue == "/":
				match.PathSpecifier = &routev3.RouteMatch_Prefix{Prefix: "/"}
			default:
				match.PathSpecifier = &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: strings.TrimSuffix(e.pathValue, "/")}
			}
			if method := asString(m["method"]); method != "" {
				match.Headers = append(match.Headers, methodHeader(method))
			}
			req, _ := Resolve(p.cfg, nil, e.name, nil)
			vh := byHost[e.host]
			if vh == nil {
				vh = &MeshVirtualHost{Platform: "Envoy Gateway", Name: e.host, File: d.File}
				byHost[e.host] = vh
				hosts = append(hosts, e.host)
			}
			vh.Routes = append(vh.Routes, MeshRoute{Name: e.name, Label: e.name, Match: match, Requirement: req, Off: off})
		}
	}
	var out []MeshVirtualHost
	for _, h := range hosts {
		out = append(out, *byHost[h])
	}
	return out, nil
}

// policyTargets tells whether an EnvoyExtensionPolicy's targetRefs (in its own namespace) name the HTTPRoute
// or a Gateway it attaches to (envoyproxy/gateway v1.9.1 api/v1alpha1/envoyextensionpolicy_types.go: a
// policy applies to the routes of the Gateways and HTTPRoutes it targets).
func policyTargets(policyDoc, route *Document) bool {
	if policyDoc.Namespace != route.Namespace {
		return false
	}
	refs, _ := at(policyDoc.Object, "spec", "targetRefs").([]any)
	if ref := at(policyDoc.Object, "spec", "targetRef"); ref != nil {
		refs = append(refs, ref)
	}
	parents, _ := at(route.Object, "spec", "parentRefs").([]any)
	for _, ref := range refs {
		kind, name := asString(at(ref, "kind")), asString(at(ref, "name"))
		switch kind {
		case "HTTPRoute":
			if name == route.Name {
				return true
			}
		case "Gateway":
			for _, pr := range parents {
				ns := asString(at(pr, "namespace"))
				if asString(at(pr, "name")) == name && (ns == "" || ns == route.Namespace) {
					return true
				}
			}
		}
	}
	return false
}
