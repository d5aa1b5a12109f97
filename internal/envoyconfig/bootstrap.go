package envoyconfig

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/scope-gate/scope-gate/filter/config"
	"github.com/scope-gate/scope-gate/filter/policy"
)

// Options change what the check demands. The zero value is the strict check.
type Options struct {
	// AllowUnnormalizedPaths (scope-gate check -allow-unnormalized-paths) reports a connection manager that
	// runs scope-gate without path normalization as a warning instead of an error: for a deployment that
	// knowingly routes raw paths (an API with encoded slashes in identifiers) and relies on the filter's own
	// refusal of ambiguous paths.
	AllowUnnormalizedPaths bool
}

// CheckBootstrapFile loads a bootstrap and checks it (see CheckBootstrap).
func CheckBootstrapFile(path string, opts Options) *Report {
	b, notes, err := LoadConfig(path)
	if err != nil {
		r := &Report{}
		// LoadBootstrap's error already starts with the file name and the JSON path.
		msg := strings.TrimPrefix(err.Error(), path+": ")
		where, rest, _ := strings.Cut(msg, ": ")
		r.errorf(path, where, "%s", rest)
		return r
	}
	r := &Report{}
	for _, n := range notes {
		where, rest, _ := strings.Cut(n, ": ")
		r.warnf(path, where, "%s", rest)
	}
	r.merge(CheckBootstrap(path, b, opts))
	return r
}

// CheckBootstrap checks every scope-gate filter of a parsed bootstrap: its Wasm settings, its plugin
// configuration (with the filter's own parser), and the requirement of every route of the static route
// configuration of its connection manager, resolved in the filter's order. file only labels the findings.
func CheckBootstrap(file string, b *bootstrapv3.Bootstrap, opts Options) *Report {
	r := &Report{}
	filters, err := FindFilters(b)
	if err != nil {
		where, rest, _ := strings.Cut(err.Error(), ": ")
		r.errorf(file, where, "%s", rest)
		return r
	}
	if len(filters) == 0 {
		r.errorf(file, "$.static_resources.listeners", "no scope-gate filter: no envoy.extensions.filters.http.wasm.v3.Wasm http filter with config.root_id or config.name %q", PluginName)
		return r
	}
	clusters := map[string]bool{}
	for _, c := range b.GetStaticResources().GetClusters() {
		clusters[c.GetName()] = true
	}
	seen := map[*hcmv3.HttpConnectionManager]bool{}
	for _, f := range filters {
		if !seen[f.HCM] {
			seen[f.HCM] = true
			checkPathNormalization(r, file, f, opts)
		}
		checkFilter(r, file, f, clusters)
	}
	return r
}

// hcmPath is the JSON path of the connection manager (its typed_config) that carries the filter.
func hcmPath(f *Filter) string {
	hp := strings.TrimSuffix(f.Where, "]")
	return hp[:strings.LastIndex(hp, ".http_filters[")]
}

// checkPathNormalization: the filter decides on the route Envoy matched, and Envoy matches the path it
// holds. Without normalize_path, merge_slashes and an escaped-slash action that does not forward %2F/%5C
// untouched, that is the raw path, which the backend may resolve to another resource
// (/public/../protected, %2e%2e, //, ..%2F): the classic edge-authorization bypass (CVE-2019-9901,
// CVE-2021-31920). Envoy's defaults are all off: normalize_path unset reads the runtime key
// http_connection_manager.normalize_path, 0% unless Envoy was built with ENVOY_NORMALIZE_PATH_BY_DEFAULT
// (source/extensions/filters/network/http_connection_manager/config.cc); merge_slashes is a plain bool,
// false; IMPLEMENTATION_SPECIFIC_DEFAULT reads http_connection_manager.path_with_escaped_slashes_action,
// KEEP_UNCHANGED when unset (same file, getPathWithEscapedSlashesActionRuntimeOverride).
func checkPathNormalization(r *Report, file string, f *Filter, opts Options) {
	hp := hcmPath(f)
	h := f.HCM
	var missing, fields []string
	if !h.GetNormalizePath().GetValue() {
		fields = append(fields, "normalize_path")
		if h.GetNormalizePath() == nil {
			missing = append(missing, "normalize_path is unset, false by default")
		} else {
			missing = append(missing, "normalize_path is false")
		}
	}
	if !h.GetMergeSlashes() {
		fields = append(fields, "merge_slashes")
		missing = append(missing, "merge_slashes is not true")
	}
	switch a := h.GetPathWithEscapedSlashesAction(); a {
	case hcmv3.HttpConnectionManager_IMPLEMENTATION_SPECIFIC_DEFAULT:
		fields = append(fields, "path_with_escaped_slashes_action")
		missing = append(missing, "path_with_escaped_slashes_action is unset (IMPLEMENTATION_SPECIFIC_DEFAULT), KEEP_UNCHANGED by default")
	case hcmv3.HttpConnectionManager_KEEP_UNCHANGED:
		fields = append(fields, "path_with_escaped_slashes_action")
		missing = append(missing, "path_with_escaped_slashes_action is KEEP_UNCHANGED")
	case hcmv3.HttpConnectionManager_UNESCAPE_AND_FORWARD:
		r.warnf(file, hp+".path_with_escaped_slashes_action", "listener %q: UNESCAPE_AND_FORWARD decodes %%2F and %%5C and forwards the request; Envoy's documentation advises against it where a proxy makes path-based access decisions: prefer REJECT_REQUEST or UNESCAPE_AND_REDIRECT", f.Listener)
	}
	if len(missing) == 0 {
		return
	}
	where := hp
	if len(fields) == 1 {
		where += "." + fields[0]
	}
	msg := fmt.Sprintf("listener %q: the connection manager runs scope-gate without path normalization: %s. Envoy then routes, and the filter decides on, a raw path the upstream may resolve to another route (../, %%2e%%2e, //, %%2F); set normalize_path: true, merge_slashes: true and path_with_escaped_slashes_action: REJECT_REQUEST or UNESCAPE_AND_REDIRECT (envoy/README.md, \"Path normalization\")",
		f.Listener, strings.Join(missing, "; "))
	if opts.AllowUnnormalizedPaths {
		r.warnf(file, where, "%s; reported as a warning because of -allow-unnormalized-paths", msg)
		return
	}
	r.errorf(file, where, "%s, or pass -allow-unnormalized-paths to accept it", msg)
}

func checkFilter(r *Report, file string, f *Filter, clusters map[string]bool) {
	cp := f.Where + ".typed_config.config"
	p := f.Plugin
	checkFailurePolicy(r, file, cp, p)
	if p.GetRootId() != "" && p.GetRootId() != PluginName {
		r.errorf(file, cp+".root_id", "must be %q or empty, got %q (the module registers root id %q)", PluginName, p.GetRootId(), PluginName)
	}
	if f.ModuleFilename != "" {
		if _, err := os.Stat(f.ModuleFilename); err != nil {
			r.warnf(file, cp+".vm_config.code.local.filename", "%s not found from the current directory, where Envoy resolves relative paths (run make build, and start Envoy from the repository root)", f.ModuleFilename)
		}
	}
	cfg, err := policy.Parse(f.Configuration)
	if err != nil {
		r.errorf(file, cp+".configuration", "%v", err)
		return
	}
	// Every cluster the validator calls (a remote validator's cluster, a JWT validator's jwks_cluster) must
	// exist: Envoy's proxy_http_call to an unknown cluster fails, and every validation would answer 503.
	if cfg.Validator != nil {
		for _, cl := range cfg.Validator.Clusters() {
			if !clusters[cl.Name] {
				r.errorf(file, cp+".configuration", "$.validator.%s: no static cluster named %q (every validation would fail: 503)", cl.Key, cl.Name)
			}
		}
	}
	// The offline check reads "jwt" natively, but the default module refuses it at start (Envoy then rejects
	// the configuration): say so when the filter loads the default module by its build name.
	if cfg.Validator != nil && cfg.Validator.Type() == "jwt" && filepath.Base(f.ModuleFilename) == "scope-gate.wasm" {
		r.errorf(file, cp+".vm_config.code.local.filename", "the jwt validator needs the scope-gate-jwt.wasm build: %s (the default module) refuses \"jwt\" at start", f.ModuleFilename)
	}

	hp := hcmPath(f)
	rc := f.HCM.GetRouteConfig()
	switch {
	case f.HCM.GetRds() != nil:
		r.warnf(file, hp+".rds", "routes come from RDS (%q): their metadata cannot be checked offline", f.HCM.GetRds().GetRouteConfigName())
		return
	case f.HCM.GetScopedRoutes() != nil:
		r.warnf(file, hp+".scoped_routes", "scoped routes cannot be checked offline")
		return
	case rc == nil:
		return
	}
	rcp := hp + ".route_config"
	names := map[string]bool{}
	ctx := routeCtx{r: r, file: file, f: f, cfg: cfg, clusters: clusters}
	base := disabledIn(r, file, rcp, rc.GetTypedPerFilterConfig(), f.HTTPFilterName, f.DisabledByDefault)
	for vi, vh := range rc.GetVirtualHosts() {
		vp := rcp + ".virtual_hosts[" + strconv.Itoa(vi) + "]"
		vhReq := ctx.block(vh.GetMetadata(), vp+".metadata", "virtual host "+strconv.Quote(vh.GetName()))
		vhDisabled := disabledIn(r, file, vp, vh.GetTypedPerFilterConfig(), f.HTTPFilterName, base)
		for ri, rt := range vh.GetRoutes() {
			rp := vp + ".routes[" + strconv.Itoa(ri) + "]"
			names[rt.GetName()] = true
			ctx.route(vh, rt, rp, vhReq, vhDisabled)
		}
	}
	var unused []string
	for name := range cfg.RouteRequirements {
		if !names[name] {
			unused = append(unused, name)
		}
	}
	sort.Strings(unused)
	for _, name := range unused {
		r.errorf(file, cp+".configuration", "$.routes[%q]: reaches no route: no route of this connection manager has that name, so the entry never applies", name)
	}
}

type routeCtx struct {
	r        *Report
	file     string
	f        *Filter
	cfg      *policy.Policy
	clusters map[string]bool
}

// block decodes the metadata block of a route or virtual host; nil when it has none in the namespace.
func (c *routeCtx) block(md *corev3.Metadata, where, what string) *policy.Requirement {
	st, ok := md.GetFilterMetadata()[c.cfg.MetadataNamespace]
	if !ok {
		return nil
	}
	where += ".filter_metadata." + c.cfg.MetadataNamespace
	req, at, problem := BlockRequirement(c.cfg, st.AsMap())
	if problem != "" {
		c.r.errorf(c.file, where+at, "%s: %s (the filter answers 500)", what, problem)
	}
	return req
}

func (c *routeCtx) route(vh *routev3.VirtualHost, rt *routev3.Route, rp string, vhReq *policy.Requirement, vhDisabled bool) {
	name := rt.GetName()
	label := name
	if label == "" {
		label = "(unnamed)"
		c.r.warnf(c.file, rp+".name", "route has no name: errors about it cannot be traced in logs, and the routes map cannot address it")
	}
	row := Row{File: c.file, VirtualHost: vh.GetName(), Route: label, Match: DescribeMatch(rt.GetMatch())}
	c.checkClusters(rt, rp, label)
	c.checkRouteMatchHeaders(rt, rp, label)
	if disabledIn(c.r, c.file, rp, rt.GetTypedPerFilterConfig(), c.f.HTTPFilterName, vhDisabled) {
		row.Requirement, row.Source = "filter disabled", SourceDisabled
		c.r.Rows = append(c.r.Rows, row)
		return
	}
	routeReq := c.block(rt.GetMetadata(), rp+".metadata", "route "+strconv.Quote(label))
	req, source := Resolve(c.cfg, routeReq, name, vhReq)
	if source == SourceDefault && req.Problem != "" {
		if c.cfg.DefaultRoute == config.DefaultDeny {
			c.r.warnf(c.file, rp, "route %q has no %s block: default_route \"deny\" answers 500", label, c.cfg.MetadataNamespace)
		} else {
			c.r.errorf(c.file, rp, "route %q: %s (the filter answers 500)", label, req.Problem)
		}
	}
	row.Requirement, row.Source = Describe(req), source
	c.r.Rows = append(c.r.Rows, row)
}

// checkClusters: Envoy refuses a static route naming a cluster it does not have (validate_clusters).
func (c *routeCtx) checkClusters(rt *routev3.Route, rp, label string) {
	ra := rt.GetRoute()
	if ra == nil {
		return
	}
	if cl := ra.GetCluster(); cl != "" && !c.clusters[cl] {
		c.r.errorf(c.file, rp+".route.cluster", "route %q: unknown cluster %q", label, cl)
	}
	for i, wc := range ra.GetWeightedClusters().GetClusters() {
		if !c.clusters[wc.GetName()] {
			c.r.errorf(c.file, rp+".route.weighted_clusters.clusters["+strconv.Itoa(i)+"]", "route %q: unknown cluster %q", label, wc.GetName())
		}
	}
}

// Resolve applies the filter's lookup order (policy.Resolve: route metadata, routes[xds.route_name], virtual
// host metadata, default_route) to a route read from a file; routeReq and vhReq are nil when the route or
// virtual host has no block in the namespace, routeName is "" when the route has no name.
func Resolve(cfg *policy.Policy, routeReq *policy.Requirement, routeName string, vhReq *policy.Requirement) (*policy.Requirement, string) {
	req, from, _ := cfg.Resolve(fileRoute{routeReq, routeName, vhReq}) // reading a file's route cannot fail
	switch from {
	case policy.FromRoute:
		return req, SourceRoute
	case policy.FromRoutesMap:
		return req, SourceRoutesMap
	case policy.FromVirtualHost:
		return req, SourceVirtualHost
	}
	return req, SourceDefault
}

// fileRoute is a route of a configuration file as policy.Resolve reads it.
type fileRoute struct {
	route *policy.Requirement
	name  string
	vh    *policy.Requirement
}

func (f fileRoute) RouteBlock() (*policy.Requirement, bool, error) {
	return f.route, f.route != nil, nil
}
func (f fileRoute) RouteName() ([]byte, bool, error) { return []byte(f.name), f.name != "", nil }
func (f fileRoute) VirtualHostBlock() (*policy.Requirement, bool, error) {
	return f.vh, f.vh != nil, nil
}

// BlockRequirement turns a metadata block (as structpb.Struct.AsMap or decoded YAML gives it) into a
// requirement. Envoy hands the filter every leaf without a type tag, and the filter treats a block that is
// not a map of strings as misconfigured, so a non-string leaf is a problem here too. at is the JSON path
// suffix (".key") of the offending leaf, if any; problem is empty when the block is good.
func BlockRequirement(cfg *policy.Policy, block map[string]any) (req *policy.Requirement, at, problem string) {
	keys := make([]string, 0, len(block))
	for k := range block {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fields := make([][2]string, 0, len(keys))
	for _, k := range keys {
		s, ok := block[k].(string)
		if !ok {
			msg := fmt.Sprintf("key %q must be a string, got %s", k, kindOf(block[k]))
			return &policy.Requirement{Problem: msg}, "." + k, msg
		}
		fields = append(fields, [2]string{k, s})
	}
	req = cfg.RequirementFromFields(fields)
	return req, "", req.Problem
}

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64, int, int64, uint64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "a map"
	}
	return fmt.Sprintf("%T", v)
}

// disabledIn applies a typed_per_filter_config map to the inherited disabled state of the filter. The Wasm
// filter has no per-route configuration: Envoy accepts only FilterConfig{disabled} under its name.
func disabledIn(r *Report, file, where string, tpfc map[string]*anypb.Any, filterName string, inherited bool) bool {
	a, ok := tpfc[filterName]
	if !ok {
		return inherited
	}
	where += ".typed_per_filter_config[" + strconv.Quote(filterName) + "]"
	fc := &routev3.FilterConfig{}
	if !a.MessageIs(fc) {
		r.errorf(file, where, "the Wasm filter has no per-route configuration (%s): only envoy.config.route.v3.FilterConfig{disabled} is accepted", a.GetTypeUrl())
		return inherited
	}
	if err := a.UnmarshalTo(fc); err != nil {
		r.errorf(file, where, "%v", err)
		return inherited
	}
	if !EmptyFilterConfig(fc.GetConfig()) {
		r.errorf(file, where+".config", "the Wasm filter has no per-route configuration: leave config empty and use route metadata")
	}
	return fc.GetDisabled()
}

// EmptyFilterConfig: FilterConfig.config holding an Any with neither a type nor a value is how Envoy Gateway
// enables a filter it disabled on the listener for one route (envoyproxy/gateway v1.9.1
// internal/xds/translator/wasm.go, patchRoute: FilterConfig{Config: &anypb.Any{}}); Envoy reads it as "the
// filter is enabled here, with no route-specific configuration". Anything else in config would be a
// per-route configuration, which the Wasm filter does not have.
func EmptyFilterConfig(a *anypb.Any) bool {
	return a == nil || (a.GetTypeUrl() == "" && len(a.GetValue()) == 0)
}

// DescribeMatch renders a route match briefly: the path condition, and the method when one is matched.
func DescribeMatch(m *routev3.RouteMatch) string {
	var s string
	switch {
	case m.GetPrefix() != "" || m.GetPathSpecifier() == nil:
		s = "prefix " + m.GetPrefix()
	case m.GetPath() != "":
		s = "path " + m.GetPath()
	case m.GetPathSeparatedPrefix() != "":
		s = "prefix " + m.GetPathSeparatedPrefix() + " (segments)"
	case m.GetSafeRegex() != nil:
		s = "regex " + m.GetSafeRegex().GetRegex()
	case m.GetPathMatchPolicy() != nil:
		s = "path template"
	case m.GetConnectMatcher() != nil:
		s = "CONNECT"
	}
	for _, h := range m.GetHeaders() {
		if h.GetName() == ":method" {
			if e := h.GetStringMatch().GetExact(); e != "" {
				s = e + " " + s
			}
		}
	}
	return s
}
