package envoyconfig

import (
	"bytes"
	"encoding/json"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/scope-gate/scope-gate/filter/policy"
)

// Document is one Kubernetes resource of a (multi-document) YAML file.
type Document struct {
	File       string
	Index      int // position in the file, from 0
	APIVersion string
	Kind       string
	Namespace  string
	Name       string
	Object     map[string]any // the whole resource, decoded from YAML
}

func (d *Document) where(path string) string {
	return d.Kind + " " + d.Namespace + "/" + d.Name + " (document " + strconv.Itoa(d.Index) + "): " + path
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*(#.*)?$`)

// SplitDocuments splits a multi-document YAML file at its "---" lines; documents that are empty or only
// comments are dropped.
func SplitDocuments(data []byte) [][]byte {
	var out [][]byte
	for _, part := range docSeparator.Split(string(data), -1) {
		if hasContent(part) {
			out = append(out, []byte(part))
		}
	}
	return out
}

func hasContent(s string) bool {
	for _, line := range strings.Split(s, "\n") {
		t := strings.TrimSpace(line)
		if t != "" && !strings.HasPrefix(t, "#") {
			return true
		}
	}
	return false
}

// IsKubernetes tells whether a YAML file holds Kubernetes resources (apiVersion and kind at the top level of
// its first document) rather than an Envoy bootstrap.
func IsKubernetes(data []byte) bool {
	docs := SplitDocuments(data)
	if len(docs) == 0 {
		return false
	}
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(docs[0], &head); err != nil {
		return false
	}
	return head.APIVersion != "" && head.Kind != ""
}

// ParseDocuments decodes every document of a Kubernetes YAML file.
func ParseDocuments(file string, data []byte) ([]*Document, *Report) {
	r := &Report{}
	var out []*Document
	for i, raw := range SplitDocuments(data) {
		js, err := yaml.YAMLToJSON(raw)
		if err != nil {
			r.errorf(file, "document "+strconv.Itoa(i), "not YAML: %v", err)
			continue
		}
		var obj map[string]any
		if err := json.Unmarshal(js, &obj); err != nil || obj == nil {
			r.errorf(file, "document "+strconv.Itoa(i), "not a YAML map")
			continue
		}
		d := &Document{File: file, Index: i, Object: obj}
		d.APIVersion, _ = obj["apiVersion"].(string)
		d.Kind, _ = obj["kind"].(string)
		md, _ := obj["metadata"].(map[string]any)
		d.Name, _ = md["name"].(string)
		d.Namespace, _ = md["namespace"].(string)
		if d.Namespace == "" {
			d.Namespace = "default"
		}
		out = append(out, d)
	}
	return out, r
}

// at walks a decoded YAML tree along keys (strings) and list indexes (ints).
func at(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func asString(v any) string { s, _ := v.(string); return s }

// pluginConfigBytes turns a decoded YAML/JSON configuration value into the JSON the plugin receives.
func pluginConfigBytes(v any) []byte {
	if v == nil {
		return nil
	}
	if s, ok := v.(string); ok { // some tools take the configuration as a JSON string
		return []byte(s)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // a tree decoded from JSON always re-encodes
	return bytes.TrimSpace(b.Bytes())
}

// plugin is a scope-gate configuration found in a WasmPlugin or an EnvoyExtensionPolicy.
type plugin struct {
	doc   *Document
	where string
	cfg   *policy.Policy
}

// CheckDocuments checks a set of Istio and Envoy Gateway resources together, so that names can be
// cross-checked across files: WasmPlugin (Istio) and EnvoyExtensionPolicy (Envoy Gateway) plugin
// configurations with the filter's parser, EnvoyFilter route metadata patches with the filter's requirement
// rules, and route names against VirtualService http[].name and the names Envoy Gateway generates for
// HTTPRoute rules.
func CheckDocuments(docs []*Document) *Report {
	r := &Report{}
	var istio, gateway []plugin
	var filters, services, httpRoutes, gateways []*Document
	for _, d := range docs {
		if !checkTyped(r, d) {
			continue // the mesh refuses it: reading it further would judge something that never deploys
		}
		switch d.Kind {
		case "WasmPlugin":
			if p, ok := checkWasmPlugin(r, d); ok {
				istio = append(istio, p)
			}
		case "EnvoyExtensionPolicy":
			gateway = append(gateway, checkExtensionPolicy(r, d)...)
		case "EnvoyFilter":
			filters = append(filters, d)
		case "VirtualService":
			services = append(services, d)
		case "HTTPRoute":
			httpRoutes = append(httpRoutes, d)
		case "Gateway":
			if isGatewayKind(d) {
				gateways = append(gateways, d)
			}
		default:
			if !typedOnly(d) {
				r.warnf(d.File, d.where("kind"), "%s is not checked", d.Kind)
			}
		}
	}
	// EnvoyFilter blocks are read by the Istio plugin; without one among the inputs, check them against a
	// configuration with the default namespace and a validator, so that only the blocks themselves are judged.
	cfg := fallbackConfig()
	if len(istio) > 0 {
		cfg = istio[0].cfg
	}
	vsNames, vsAll := virtualServiceRoutes(services)
	patched := map[string]*policy.Requirement{}
	for _, d := range filters {
		checkEnvoyFilter(r, d, cfg, vsNames, vsAll, patched)
	}
	for _, p := range istio {
		for _, name := range slices.Sorted(maps.Keys(p.cfg.RouteRequirements)) {
			if len(services) > 0 && vsNames[name] == nil {
				r.errorf(p.doc.File, p.doc.where(p.where+".routes["+strconv.Quote(name)+"]"), "reaches no route: Istio generates no route named %q from the VirtualServices among the inputs%s", name, istioNamesOf(vsAll, name))
			}
		}
	}
	checkKubeMatchHeaders(r, istio, gateway, services, httpRoutes)
	istioRows(r, vsAll, cfg, patched)
	gatewayRows(r, gateway, httpRoutes, gateways)
	return r
}

func fallbackConfig() *policy.Policy {
	cfg, err := policy.Parse([]byte(`{"validator":{"type":"static","tokens":[]}}`))
	if err != nil {
		panic("envoyconfig: fallback configuration rejected: " + err.Error())
	}
	return cfg
}

func checkWasmPlugin(r *Report, d *Document) (plugin, bool) {
	spec, _ := d.Object["spec"].(map[string]any)
	name, url := asString(spec["pluginName"]), asString(spec["url"])
	if name != PluginName && !strings.Contains(url, "scope-gate") && !strings.Contains(url, "scope_gate") {
		r.warnf(d.File, d.where("spec.pluginName"), "not a scope-gate plugin (pluginName %q, url %q): not checked", name, url)
		return plugin{}, false
	}
	if name != "" && name != PluginName {
		r.errorf(d.File, d.where("spec.pluginName"), "must be %q (the module's root id), got %q", PluginName, name)
	}
	checkFailStrategy(r, d, spec)
	// istio-agent compares the digest of the module it downloads with sha256 and, when they differ, installs a
	// deny-all filter instead (pkg/wasm): a value that is not a SHA-256 can never match.
	if sha, ok := spec["sha256"].(string); ok && sha != "" && !isHexDigest(sha) {
		r.errorf(d.File, d.where("spec.sha256"), "must be 64 lower-case hex digits (the module's SHA-256), got %q", sha)
	}
	if ph := asString(spec["phase"]); ph != "AUTHN" {
		r.warnf(d.File, d.where("spec.phase"), "is %q: AUTHN runs scope-gate before Istio's own authorization filters, so their decisions see only authenticated requests", ph)
	}
	if t := asString(spec["type"]); t != "" && t != "HTTP" {
		r.errorf(d.File, d.where("spec.type"), "must be HTTP, got %q: scope-gate is an HTTP filter", t)
	}
	cfg, err := policy.Parse(pluginConfigBytes(spec["pluginConfig"]))
	if err != nil {
		r.errorf(d.File, d.where("spec.pluginConfig"), "%v", err)
		return plugin{}, false
	}
	return plugin{doc: d, where: "spec.pluginConfig", cfg: cfg}, true
}

func checkExtensionPolicy(r *Report, d *Document) []plugin {
	var out []plugin
	list, _ := at(d.Object, "spec", "wasm").([]any)
	for i := range list {
		wp := "spec.wasm[" + strconv.Itoa(i) + "]"
		w, _ := list[i].(map[string]any)
		if root := asString(w["rootID"]); root != PluginName {
			r.errorf(d.File, d.where(wp+".rootID"), "must be %q (the module's root id), got %q", PluginName, root)
		}
		if code, _ := w["code"].(map[string]any); code != nil {
			src, _ := code[strings.ToLower(asString(code["type"]))].(map[string]any)
			sha, hasSHA := src["sha256"]
			checkSHA256(r, d, wp+".code."+strings.ToLower(asString(code["type"]))+".sha256", sha, hasSHA)
			checkPullPolicy(r, d, wp+".code.pullPolicy", code["pullPolicy"], "IfNotPresent", "Always")
		}
		if fo, ok := w["failOpen"].(bool); ok && fo {
			r.errorf(d.File, d.where(wp+".failOpen"), "must be false: an authorization filter must not be skipped when its VM fails")
		}
		cfg, err := policy.Parse(pluginConfigBytes(w["config"]))
		if err != nil {
			r.errorf(d.File, d.where(wp+".config"), "%v", err)
			continue
		}
		out = append(out, plugin{doc: d, where: wp + ".config", cfg: cfg})
	}
	if len(list) == 0 {
		r.errorf(d.File, d.where("spec.wasm"), "no wasm extension")
	}
	return out
}

// istioRoute is one Envoy route Istio generates for one match of one VirtualService http route.
type istioRoute struct {
	doc   *Document
	index int    // http[index]
	match int    // match[match], -1 when the route has no match block
	name  string // the Envoy route name
	desc  string
}

// virtualServiceRoutes lists the Envoy routes Istio generates for the VirtualServices, in order, keyed by
// route name (several routes may share one). Istio names a route after http[].name, and when the match block
// has a name of its own, "<http name>.<match name>" (istio/istio 1.30.3
// pilot/pkg/networking/core/route/route.go, translateRoute: routeName := in.Name; if match.Name != "" it
// becomes in.Name + "." + match.Name). One route per match block: unnamed blocks of one http entry share
// its name, and a routes key or EnvoyFilter patch naming http[].name misses every named block.
func virtualServiceRoutes(services []*Document) (map[string][]*istioRoute, []*istioRoute) {
	byName := map[string][]*istioRoute{}
	var all []*istioRoute
	for _, d := range services {
		list, _ := at(d.Object, "spec", "http").([]any)
		for i := range list {
			name := asString(at(list[i], "name"))
			matches, _ := at(list[i], "match").([]any)
			if len(matches) == 0 {
				matches = []any{nil}
			}
			for j, m := range matches {
				rt := &istioRoute{doc: d, index: i, match: j, name: name, desc: vsMatch(at(m, "uri"))}
				if m == nil {
					rt.match = -1
				}
				if mn := asString(at(m, "name")); mn != "" {
					rt.name = name + "." + mn
				}
				if me := asString(at(m, "method", "exact")); me != "" {
					rt.desc = me + " " + rt.desc
				}
				all = append(all, rt)
				byName[rt.name] = append(byName[rt.name], rt)
			}
		}
	}
	return byName, all
}

// istioNamesOf says, for a name that reaches no route, what the http entry of that name generates instead.
func istioNamesOf(all []*istioRoute, httpName string) string {
	var out []string
	for _, rt := range all {
		if asString(at(rt.doc.Object, "spec", "http", rt.index, "name")) == httpName && !slices.Contains(out, rt.name) {
			out = append(out, rt.name)
		}
	}
	if len(out) == 0 {
		return ""
	}
	return " (http[].name " + strconv.Quote(httpName) + " generates " + strings.Join(out, ", ") + ": its match blocks are named)"
}

func vsMatch(uri any) string {
	m, _ := uri.(map[string]any)
	for _, k := range []string{"prefix", "exact", "regex"} {
		if s := asString(m[k]); s != "" {
			return k + " " + s
		}
	}
	return "prefix /"
}

func checkEnvoyFilter(r *Report, d *Document, cfg *policy.Policy, vs map[string][]*istioRoute, all []*istioRoute, patched map[string]*policy.Requirement) {
	patches, _ := at(d.Object, "spec", "configPatches").([]any)
	for i := range patches {
		pp := "spec.configPatches[" + strconv.Itoa(i) + "]"
		p := patches[i]
		fm, _ := at(p, "patch", "value", "metadata", "filter_metadata").(map[string]any)
		block, present := fm[cfg.MetadataNamespace]
		if !present {
			continue
		}
		bp := pp + ".patch.value.metadata.filter_metadata." + cfg.MetadataNamespace
		if a := asString(at(p, "applyTo")); a != "HTTP_ROUTE" {
			r.errorf(d.File, d.where(pp+".applyTo"), "must be HTTP_ROUTE for a patch that sets route metadata, got %q", a)
		}
		if op := asString(at(p, "patch", "operation")); op != "MERGE" {
			r.errorf(d.File, d.where(pp+".patch.operation"), "must be MERGE (the patch adds metadata to an existing route), got %q", op)
		}
		routeName := asString(at(p, "match", "routeConfiguration", "vhost", "route", "name"))
		label := routeName
		if routeName == "" {
			label = "(every route of the matched virtual hosts)"
			r.warnf(d.File, d.where(pp+".match.routeConfiguration.vhost.route.name"), "not set: the block is merged into every route the match selects")
		} else if len(vs) > 0 && vs[routeName] == nil {
			r.errorf(d.File, d.where(pp+".match.routeConfiguration.vhost.route.name"), "reaches no route: Istio generates no route named %q from the VirtualServices among the inputs, so the patch never applies%s", routeName, istioNamesOf(all, routeName))
		}
		m, ok := block.(map[string]any)
		if !ok {
			r.errorf(d.File, d.where(bp), "route %s: the block must be a map of strings, got %s", label, kindOf(block))
			continue
		}
		req, sub, problem := BlockRequirement(cfg, m)
		if problem != "" {
			r.errorf(d.File, d.where(bp+sub), "route %s: %s (the filter answers 500)", label, problem)
		}
		if routeName != "" {
			patched[routeName] = req
		}
	}
}

// istioRows lists each Envoy route Istio generates with the requirement it gets: the EnvoyFilter block, else
// the routes map entry, else default_route (Istio sets no virtual host metadata).
func istioRows(r *Report, all []*istioRoute, cfg *policy.Policy, patched map[string]*policy.Requirement) {
	for _, rt := range all {
		hosts, _ := at(rt.doc.Object, "spec", "hosts").([]any)
		var hs []string
		for _, h := range hosts {
			hs = append(hs, asString(h))
		}
		row := Row{File: rt.doc.File, VirtualHost: strings.Join(hs, ","), Route: rt.name, Match: rt.desc}
		if rt.name == "" {
			row.Route = "(unnamed)"
			if rt.match <= 0 {
				r.warnf(rt.doc.File, rt.doc.where("spec.http["+strconv.Itoa(rt.index)+"].name"), "route has no name: no EnvoyFilter patch or routes entry can address it")
			}
		}
		req, source := Resolve(cfg, patched[rt.name], rt.name, nil)
		if patched[rt.name] != nil {
			source = "EnvoyFilter"
		}
		row.Requirement, row.Source = Describe(req), source
		r.Rows = append(r.Rows, row)
	}
}

// egRoute is one Envoy route Envoy Gateway generates for one match of one HTTPRoute rule and one hostname.
type egRoute struct {
	name      string
	rule      int
	match     int
	host      string
	pathType  string // Exact, RegularExpression or PathPrefix
	pathValue string
	headers   int // header matches, the method included (Envoy Gateway matches it as the :method header)
	exact     int // of which exact
	queries   int
	exactQ    int
}

// GatewayRouteNames returns the xDS route names Envoy Gateway generates for an HTTPRoute, in the order of its
// route table (see gatewayRoutes).
func GatewayRouteNames(d *Document, gateways []*Document) []string {
	var out []string
	for _, r := range gatewayRoutes(d, gateways) {
		out = append(out, r.name)
	}
	return out
}

// gatewayRoutes follows envoyproxy/gateway v1.9.1:
//   - names (internal/gatewayapi/helpers.go irRouteName, route.go): "httproute/<namespace>/<name>/rule/<rule
//     index>/match/<match index>/<hostname>", the hostname's dots replaced by underscores; a rule without
//     matches has one implicit match (PathPrefix /);
//   - hostnames (helpers.go computeHosts): the HTTPRoute's hostnames that intersect the listener's hostname;
//     when the HTTPRoute has none, the listener's hostname; when neither has one, "*". One route per hostname,
//     each in the virtual host of that hostname;
//   - order (sort.go): within a listener, routes are stable-sorted most specific first: Exact before
//     RegularExpression before PathPrefix, then longer path values first (the prefix "/" counting 0), then
//     more header matches, more exact header matches, more query matches, more exact query matches.
//
// The listener is the parent Gateway's (parentRefs, sectionName) when that Gateway is among the inputs;
// otherwise the route is named as if the listener had no hostname.
func gatewayRoutes(d *Document, gateways []*Document) []egRoute {
	var routeHosts []string
	hl, _ := at(d.Object, "spec", "hostnames").([]any)
	for _, h := range hl {
		routeHosts = append(routeHosts, asString(h))
	}
	var hosts []string
	addHost := func(h string) {
		if !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	for _, lh := range listenerHostnames(d, gateways) {
		for _, h := range computeHosts(routeHosts, lh) {
			addHost(h)
		}
	}
	var out []egRoute
	rules, _ := at(d.Object, "spec", "rules").([]any)
	for _, h := range hosts {
		var vh []egRoute
		for ri := range rules {
			matches, _ := at(rules[ri], "matches").([]any)
			if len(matches) == 0 {
				matches = []any{map[string]any{}}
			}
			for mi := range matches {
				m := matches[mi]
				e := egRoute{rule: ri, match: mi, host: h, pathType: "PathPrefix", pathValue: "/",
					name: "httproute/" + d.Namespace + "/" + d.Name + "/rule/" + strconv.Itoa(ri) + "/match/" + strconv.Itoa(mi) + "/" + strings.ReplaceAll(h, ".", "_")}
				if p, ok := at(m, "path").(map[string]any); ok {
					if t := asString(p["type"]); t != "" {
						e.pathType = t
					}
					if v, ok := p["value"].(string); ok {
						e.pathValue = v
					}
				}
				hs, _ := at(m, "headers").([]any)
				e.headers = len(hs)
				for _, hm := range hs {
					if t := asString(at(hm, "type")); t == "" || t == "Exact" {
						e.exact++
					}
				}
				if asString(at(m, "method")) != "" {
					e.headers++
					e.exact++
				}
				qs, _ := at(m, "queryParams").([]any)
				e.queries = len(qs)
				for _, q := range qs {
					if t := asString(at(q, "type")); t == "" || t == "Exact" {
						e.exactQ++
					}
				}
				vh = append(vh, e)
			}
		}
		slices.SortStableFunc(vh, func(a, b egRoute) int { return compareSpecificity(b, a) })
		out = append(out, vh...)
	}
	return out
}

// compareSpecificity orders as Envoy Gateway's XdsIRRoutes.Less (internal/gatewayapi/sort.go): negative when a
// is less specific than b.
func compareSpecificity(a, b egRoute) int {
	rank := map[string]int{"PathPrefix": 0, "RegularExpression": 1, "Exact": 2}
	count := func(e egRoute) int {
		if e.pathType == "PathPrefix" && e.pathValue == "/" {
			return 0
		}
		return len(e.pathValue)
	}
	for _, c := range [][2]int{
		{rank[a.pathType], rank[b.pathType]}, {count(a), count(b)}, {a.headers, b.headers},
		{a.exact, b.exact}, {a.queries, b.queries}, {a.exactQ, b.exactQ},
	} {
		if c[0] != c[1] {
			return c[0] - c[1]
		}
	}
	return 0
}

// listenerHostnames lists the hostname of each listener the HTTPRoute attaches to ("" for a listener without
// one), or [""] when its Gateway is not among the inputs.
func listenerHostnames(d *Document, gateways []*Document) []string {
	var out []string
	refs, _ := at(d.Object, "spec", "parentRefs").([]any)
	for _, ref := range refs {
		ns := asString(at(ref, "namespace"))
		if ns == "" {
			ns = d.Namespace
		}
		name, section := asString(at(ref, "name")), asString(at(ref, "sectionName"))
		for _, g := range gateways {
			if g.Name != name || g.Namespace != ns {
				continue
			}
			ls, _ := at(g.Object, "spec", "listeners").([]any)
			for _, l := range ls {
				if section == "" || asString(at(l, "name")) == section {
					out = append(out, asString(at(l, "hostname")))
				}
			}
		}
	}
	if len(out) == 0 {
		return []string{""}
	}
	return out
}

// computeHosts is the intersection of an HTTPRoute's hostnames with a listener's (envoyproxy/gateway v1.9.1
// internal/gatewayapi/helpers.go computeHosts; Gateway API's hostname rules).
func computeHosts(routeHosts []string, listener string) []string {
	if len(routeHosts) == 0 {
		if listener != "" {
			return []string{listener}
		}
		return []string{"*"}
	}
	var out []string
	for _, rh := range routeHosts {
		switch {
		case listener == "" || listener == rh:
			out = append(out, rh)
		case strings.HasPrefix(listener, "*") && strings.HasPrefix(rh, "*"):
			if wildcardCovers(rh, listener) {
				out = append(out, listener)
			} else if wildcardCovers(listener, rh) {
				out = append(out, rh)
			}
		case strings.HasPrefix(listener, "*"):
			if wildcardCovers(listener, rh) {
				out = append(out, rh)
			}
		case strings.HasPrefix(rh, "*"):
			if wildcardCovers(rh, listener) {
				out = append(out, listener)
			}
		}
	}
	return out
}

// wildcardCovers: "*.example.com" covers "a.example.com" and "*.a.example.com" (a wildcard stands for one or
// more labels).
func wildcardCovers(wildcard, host string) bool {
	suffix := strings.TrimPrefix(wildcard, "*")
	return strings.HasSuffix(host, suffix) && len(host) > len(suffix)
}

func gatewayRows(r *Report, plugins []plugin, httpRoutes, gateways []*Document) {
	known := map[string]*Document{}
	for _, d := range httpRoutes {
		for _, n := range GatewayRouteNames(d, gateways) {
			known[n] = d
		}
	}
	for _, p := range plugins {
		for _, name := range slices.Sorted(maps.Keys(p.cfg.RouteRequirements)) {
			if len(httpRoutes) == 0 || known[name] != nil {
				continue
			}
			where := p.doc.where(p.where + ".routes[" + strconv.Quote(name) + "]")
			for _, d := range httpRoutes {
				if strings.HasPrefix(name, "httproute/"+d.Namespace+"/"+d.Name+"/") {
					r.errorf(p.doc.File, where, "HTTPRoute %s/%s generates no route of that name (it generates %s)", d.Namespace, d.Name, strings.Join(GatewayRouteNames(d, gateways), ", "))
					where = ""
					break
				}
			}
			if where != "" {
				r.errorf(p.doc.File, where, "reaches no route: no HTTPRoute among the inputs generates a route of that name, so the entry never applies")
			}
		}
		for _, d := range httpRoutes {
			for _, e := range gatewayRoutes(d, gateways) {
				req, source := Resolve(p.cfg, nil, e.name, nil)
				r.Rows = append(r.Rows, Row{File: d.File, VirtualHost: e.host, Route: e.name,
					Match: gatewayMatch(d, e), Requirement: Describe(req), Source: source})
			}
		}
	}
}

// gatewayMatch describes the match as Envoy Gateway writes it (internal/xds/translator/route.go): a
// PathPrefix other than "/" becomes path_separated_prefix (segment-wise: /openapi/v1/appsX is not under
// /openapi/v1/apps), its trailing slash removed.
func gatewayMatch(d *Document, e egRoute) string {
	var s string
	switch e.pathType {
	case "Exact":
		s = "path " + e.pathValue
	case "RegularExpression":
		s = "regex " + e.pathValue
	default:
		if e.pathValue == "/" {
			s = "prefix /"
		} else {
			s = "prefix " + strings.TrimSuffix(e.pathValue, "/") + " (segments)"
		}
	}
	if m := asString(at(d.Object, "spec", "rules", e.rule, "matches", e.match, "method")); m != "" {
		s = m + " " + s
	}
	return s
}
