package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	wasmfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	wasmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/wasm/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/scope-gate/scope-gate/filter/policy"
	"github.com/scope-gate/scope-gate/internal/envoyconfig"
	"github.com/scope-gate/scope-gate/internal/envoyhost"
)

// Config is a bootstrap compiled into what serve runs: one listener, its routes, the scope-gate filter and
// the clusters. Compile fills it; tests may adjust addresses before Start.
type Config struct {
	ListenerName  string
	ListenAddress string // host:port
	ListenerWhere string // JSON path of the listener's address, for errors
	AdminAddress  string // host:port; 127.0.0.1:9901 when the bootstrap has no admin

	Codec                 hcmv3.HttpConnectionManager_CodecType
	UseRemoteAddress      bool
	StripAnyHostPort      bool
	StripMatchingHostPort bool
	// IgnorePortInHostMatching is the route configuration's ignore_port_in_host_matching.
	IgnorePortInHostMatching bool
	GenerateRequestID        bool
	// Paths are normalize_path, merge_slashes and path_with_escaped_slashes_action, applied to every request
	// before routing as Envoy's connection manager does (pathnorm.go); unset, the raw path is routed.
	Paths PathSettings

	Filter FilterConfig
	// Policy is the plugin configuration as the filter parses it, used only to label access-log lines
	// ("public" or "allowed"); nil when it does not parse (the VM then refuses it at start).
	Policy *policy.Policy

	VirtualHosts []*VirtualHost
	Clusters     map[string]*Cluster

	// Warnings are what serve leaves out of the configuration, one line each (JSON path: what and why).
	Warnings []string
}

// FilterConfig is the scope-gate Wasm filter of the bootstrap.
type FilterConfig struct {
	Where          string // JSON path of the http_filters entry
	HTTPFilterName string // the typed_per_filter_config key
	ModuleFilename string // relative to the working directory, as in Envoy; "" when inline
	ModuleWhere    string
	ModuleInline   []byte
	// ModuleRemoteURI and ModuleRemoteSHA256 are vm_config.code.remote: serve fetches nothing, the module must
	// be given (UseModule) and have that digest.
	ModuleRemoteURI    string
	ModuleRemoteSHA256 string
	VMID               string
	RootID             string
	PluginName         string
	Configuration      []byte
	VMConfig           []byte
	// FailurePolicy is FAIL_CLOSED (also for an unset policy, as Envoy resolves it) or FAIL_RELOAD;
	// ReloadBaseInterval is reload_config.backoff.base_interval (Envoy's default 1 s), used with FAIL_RELOAD.
	FailurePolicy      wasmv3.FailurePolicy
	ReloadBaseInterval time.Duration
}

// VirtualHost is one virtual host; Domains are lower-cased.
type VirtualHost struct {
	Name     string
	Domains  []string
	Metadata envoyhost.Metadata
	Routes   []*Route
}

// Route is one route of a virtual host, compiled.
type Route struct {
	Name  string
	Where string
	VH    *VirtualHost

	path    pathMatcher
	headers []headerMatcher

	Cluster        string
	PrefixRewrite  string
	Timeout        time.Duration // 0: none
	Direct         *DirectResponse
	Metadata       envoyhost.Metadata
	FilterDisabled bool
	// Public is the filter's requirement for this route resolved offline (route metadata, routes map,
	// virtual host, default_route): an allowed request on it is logged "public".
	Public bool
}

// DirectResponse is a route's direct_response.
type DirectResponse struct {
	Status int
	Body   []byte
}

// Cluster is a static or DNS cluster of socket addresses; requests go round robin over Endpoints.
type Cluster struct {
	Name           string
	Endpoints      []string // host:port
	ConnectTimeout time.Duration
}

// envoyRouteTimeout is Envoy's default route timeout (RouteAction.timeout unset).
const envoyRouteTimeout = 15 * time.Second

// Load reads a bootstrap file and compiles it. Errors are one line: the file, the JSON path, what is wrong.
func Load(path string) (*Config, error) {
	b, notes, err := envoyconfig.LoadConfig(path)
	if err != nil {
		return nil, err
	}
	cfg, err := Compile(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	cfg.Warnings = append(notes, cfg.Warnings...)
	return cfg, nil
}

// Compile turns a parsed (and Envoy-validated) bootstrap into a Config, refusing every field serve does not
// implement. Errors start with the JSON path of the offending field.
func Compile(b *bootstrapv3.Bootstrap) (*Config, error) {
	b, warnings := reduce(b)
	if err := checkSupported(b, "$", &warnings); err != nil {
		return nil, err
	}
	cfg := &Config{AdminAddress: "127.0.0.1:9901", GenerateRequestID: true, Clusters: map[string]*Cluster{}, Warnings: warnings}
	if a := b.GetAdmin().GetAddress(); a != nil {
		addr, err := socketAddress(a, "$.admin.address")
		if err != nil {
			return nil, err
		}
		cfg.AdminAddress = addr
	}
	for i, c := range b.GetStaticResources().GetClusters() {
		cl, err := compileCluster(c, "$.static_resources.clusters["+strconv.Itoa(i)+"]")
		if err != nil {
			return nil, err
		}
		if cfg.Clusters[cl.Name] != nil {
			return nil, fmt.Errorf("$.static_resources.clusters[%d].name: duplicate cluster %q", i, cl.Name)
		}
		cfg.Clusters[cl.Name] = cl
	}

	listeners := b.GetStaticResources().GetListeners()
	switch {
	case len(listeners) == 0:
		return nil, errors.New("$.static_resources.listeners: no listener: serve needs exactly one, carrying the scope-gate filter")
	case len(listeners) > 1:
		return nil, fmt.Errorf("$.static_resources.listeners[1]: serve runs exactly one listener, this bootstrap has %d", len(listeners))
	}
	l := listeners[0]
	lp := "$.static_resources.listeners[0]"
	cfg.ListenerName = l.GetName()
	cfg.ListenerWhere = lp + ".address"
	addr, err := socketAddress(l.GetAddress(), cfg.ListenerWhere)
	if err != nil {
		return nil, err
	}
	cfg.ListenAddress = addr
	if n := len(l.GetFilterChains()); n != 1 {
		return nil, fmt.Errorf("%s.filter_chains: serve needs exactly one filter chain, got %d", lp, n)
	}
	fcp := lp + ".filter_chains[0]"
	filters := l.GetFilterChains()[0].GetFilters()
	if len(filters) != 1 || !filters[0].GetTypedConfig().MessageIs(&hcmv3.HttpConnectionManager{}) {
		return nil, fmt.Errorf("%s.filters: serve needs exactly one network filter, an envoy.filters.network.http_connection_manager", fcp)
	}
	hp := fcp + ".filters[0].typed_config"
	hcm := &hcmv3.HttpConnectionManager{}
	if err := filters[0].GetTypedConfig().UnmarshalTo(hcm); err != nil {
		return nil, fmt.Errorf("%s: %v", hp, err)
	}
	if err := compileHCM(cfg, b, hcm, hp); err != nil {
		return nil, err
	}
	return cfg, nil
}

func compileHCM(cfg *Config, b *bootstrapv3.Bootstrap, hcm *hcmv3.HttpConnectionManager, hp string) error {
	switch hcm.GetCodecType() {
	case hcmv3.HttpConnectionManager_AUTO, hcmv3.HttpConnectionManager_HTTP1, hcmv3.HttpConnectionManager_HTTP2:
		cfg.Codec = hcm.GetCodecType()
	default:
		return fmt.Errorf("%s.codec_type: %s is not supported by serve (AUTO, HTTP1 or HTTP2 without TLS)", hp, hcm.GetCodecType())
	}
	cfg.UseRemoteAddress = hcm.GetUseRemoteAddress().GetValue()
	cfg.StripAnyHostPort = hcm.GetStripAnyHostPort()
	cfg.StripMatchingHostPort = hcm.GetStripMatchingHostPort()
	if g := hcm.GetGenerateRequestId(); g != nil {
		cfg.GenerateRequestID = g.GetValue()
	}
	// Unset normalize_path reads Envoy's runtime http_connection_manager.normalize_path (0% by default), and
	// IMPLEMENTATION_SPECIFIC_DEFAULT its runtime path_with_escaped_slashes_action (KEEP_UNCHANGED by default):
	// serve has no runtime layer, so both are those defaults.
	cfg.Paths = PathSettings{
		NormalizePath:  hcm.GetNormalizePath().GetValue(),
		MergeSlashes:   hcm.GetMergeSlashes(),
		EscapedSlashes: hcm.GetPathWithEscapedSlashesAction(),
	}

	// The chain must be the scope-gate filter, then the router: serve implements exactly those two.
	hfs := hcm.GetHttpFilters()
	for i, hf := range hfs {
		fp := hp + ".http_filters[" + strconv.Itoa(i) + "]"
		tc := hf.GetTypedConfig()
		switch {
		case tc.MessageIs(&routerv3.Router{}):
			if i != len(hfs)-1 {
				return fmt.Errorf("%s: the router must be the last http filter", fp)
			}
		case tc.MessageIs(&wasmfilterv3.Wasm{}):
			w := &wasmfilterv3.Wasm{}
			if err := tc.UnmarshalTo(w); err != nil {
				return fmt.Errorf("%s.typed_config: %v", fp, err)
			}
			if !envoyconfig.IsScopeGate(w.GetConfig()) {
				return fmt.Errorf("%s: a Wasm filter other than scope-gate (root_id %q) is not supported by serve", fp, w.GetConfig().GetRootId())
			}
		case tc == nil:
			return fmt.Errorf("%s: no typed_config: serve supports only the scope-gate Wasm filter and envoy.filters.http.router", fp)
		default:
			return fmt.Errorf("%s: %s is not supported by serve (only the scope-gate Wasm filter and the router)", fp, strings.TrimPrefix(tc.GetTypeUrl(), "type.googleapis.com/"))
		}
	}
	if len(hfs) == 0 || !hfs[len(hfs)-1].GetTypedConfig().MessageIs(&routerv3.Router{}) {
		return fmt.Errorf("%s.http_filters: the last http filter must be envoy.filters.http.router", hp)
	}
	found, err := envoyconfig.FindFilters(b)
	if err != nil {
		return err
	}
	switch len(found) {
	case 0:
		return fmt.Errorf("%s.http_filters: no scope-gate filter (a Wasm filter with root_id or name %q)", hp, envoyconfig.PluginName)
	case 1:
	default:
		return fmt.Errorf("%s: a second scope-gate filter is not supported by serve", found[1].Where)
	}
	f := found[0]
	if err := compileFilter(cfg, f); err != nil {
		return err
	}

	rc := hcm.GetRouteConfig()
	if rc == nil {
		return fmt.Errorf("%s: no route_config: serve needs static routes (rds and scoped_routes are not supported)", hp)
	}
	rcp := hp + ".route_config"
	cfg.IgnorePortInHostMatching = rc.GetIgnorePortInHostMatching()
	base, err := disabled(rc.GetTypedPerFilterConfig(), rcp, f.HTTPFilterName, f.DisabledByDefault)
	if err != nil {
		return err
	}
	seen := map[string]string{}
	for vi, vh := range rc.GetVirtualHosts() {
		vp := rcp + ".virtual_hosts[" + strconv.Itoa(vi) + "]"
		v := &VirtualHost{Name: vh.GetName(), Metadata: metadataOf(vh.GetMetadata())}
		for di, d := range vh.GetDomains() {
			d = strings.ToLower(d)
			if prev, dup := seen[d]; dup {
				return fmt.Errorf("%s.domains[%d]: domain %q is already used by %s (Envoy refuses duplicate domains)", vp, di, d, prev)
			}
			seen[d] = vp
			v.Domains = append(v.Domains, d)
		}
		vhDisabled, err := disabled(vh.GetTypedPerFilterConfig(), vp, f.HTTPFilterName, base)
		if err != nil {
			return err
		}
		var vhReq *policy.Requirement
		if cfg.Policy != nil {
			vhReq = blockRequirement(cfg.Policy, vh.GetMetadata())
		}
		for ri, r := range vh.GetRoutes() {
			rp := vp + ".routes[" + strconv.Itoa(ri) + "]"
			rt, err := compileRoute(cfg, r, rp, f.HTTPFilterName, vhDisabled)
			if err != nil {
				return err
			}
			rt.VH = v
			if cfg.Policy != nil && !rt.FilterDisabled {
				req, _ := envoyconfig.Resolve(cfg.Policy, blockRequirement(cfg.Policy, r.GetMetadata()), r.GetName(), vhReq)
				rt.Public = req.Public && req.Problem == ""
			}
			v.Routes = append(v.Routes, rt)
		}
		cfg.VirtualHosts = append(cfg.VirtualHosts, v)
	}
	return nil
}

func compileFilter(cfg *Config, f *envoyconfig.Filter) error {
	p := f.Plugin
	cp := f.Where + ".typed_config.config"
	failPolicy, reloadBase, err := failurePolicy(p, cp)
	if err != nil {
		return err
	}
	vm := p.GetVmConfig()
	if vm == nil {
		return fmt.Errorf("%s.vm_config: missing: serve loads the module from vm_config.code.local", cp)
	}
	local := vm.GetCode().GetLocal()
	mp := cp + ".vm_config.code.local"
	if remote := vm.GetCode().GetRemote(); remote != nil {
		// Istio and Envoy Gateway hand Envoy the module by URL (Envoy Gateway: its own Wasm cache; Istio:
		// istio-agent rewrites it to a local file). serve fetches nothing: the module is given with -module and
		// must have the configured digest, as Envoy demands (RemoteAsyncDataSource.sha256).
		cfg.Filter.ModuleRemoteSHA256 = remote.GetSha256()
		cfg.Filter.ModuleRemoteURI = remote.GetHttpUri().GetUri()
		cfg.Filter.ModuleWhere = cp + ".vm_config.code.remote"
	}
	switch s := local.GetSpecifier().(type) {
	case *corev3.DataSource_Filename:
		cfg.Filter.ModuleFilename = s.Filename
		mp += ".filename"
	case *corev3.DataSource_InlineBytes:
		cfg.Filter.ModuleInline = s.InlineBytes
		mp += ".inline_bytes"
	case *corev3.DataSource_InlineString:
		cfg.Filter.ModuleInline = []byte(s.InlineString)
		mp += ".inline_string"
	default:
		if cfg.Filter.ModuleRemoteURI == "" {
			return fmt.Errorf("%s: missing: serve loads the module from a local filename or inline bytes", mp)
		}
		mp = cfg.Filter.ModuleWhere
	}
	vmConf, err := envoyconfig.PluginConfiguration(vm.GetConfiguration())
	if err != nil {
		return fmt.Errorf("%s.vm_config.configuration: %v", cp, err)
	}
	cfg.Filter = FilterConfig{
		Where:          f.Where,
		HTTPFilterName: f.HTTPFilterName,
		ModuleFilename: cfg.Filter.ModuleFilename,
		ModuleInline:   cfg.Filter.ModuleInline,
		ModuleWhere:    mp,

		ModuleRemoteURI:    cfg.Filter.ModuleRemoteURI,
		ModuleRemoteSHA256: cfg.Filter.ModuleRemoteSHA256,
		VMID:               vm.GetVmId(),
		RootID:             p.GetRootId(),
		PluginName:         p.GetName(),
		Configuration:      f.Configuration,
		VMConfig:           vmConf,

		FailurePolicy:      failPolicy,
		ReloadBaseInterval: reloadBase,
	}
	if pc, err := policy.Parse(f.Configuration); err == nil {
		cfg.Policy = pc
	}
	return nil
}

func compileRoute(cfg *Config, r *routev3.Route, rp, filterName string, inherited bool) (*Route, error) {
	rt := &Route{Name: r.GetName(), Where: rp, Metadata: metadataOf(r.GetMetadata())}
	var err error
	if rt.path, err = compilePath(r.GetMatch(), rp+".match"); err != nil {
		return nil, err
	}
	for i, h := range r.GetMatch().GetHeaders() {
		hm, err := compileHeader(h, rp+".match.headers["+strconv.Itoa(i)+"]")
		if err != nil {
			return nil, err
		}
		rt.headers = append(rt.headers, hm)
	}
	if rt.FilterDisabled, err = disabled(r.GetTypedPerFilterConfig(), rp, filterName, inherited); err != nil {
		return nil, err
	}
	switch a := r.GetAction().(type) {
	case *routev3.Route_Route:
		ra := a.Route
		name := ra.GetCluster()
		if name == "" {
			return nil, fmt.Errorf("%s.route: serve supports only route.cluster as the cluster specifier", rp)
		}
		if cfg.Clusters[name] == nil {
			return nil, fmt.Errorf("%s.route.cluster: unknown cluster %q", rp, name)
		}
		rt.Cluster, rt.PrefixRewrite, rt.Timeout = name, ra.GetPrefixRewrite(), envoyRouteTimeout
		if ra.GetTimeout() != nil {
			rt.Timeout = ra.GetTimeout().AsDuration()
		}
		if rt.PrefixRewrite != "" && rt.path.kind == "regex" {
			return nil, fmt.Errorf("%s.route.prefix_rewrite: serve applies prefix_rewrite only to prefix, path and path_separated_prefix matches", rp)
		}
	case *routev3.Route_DirectResponse:
		d := &DirectResponse{Status: int(a.DirectResponse.GetStatus())}
		switch body := a.DirectResponse.GetBody().GetSpecifier().(type) {
		case nil:
		case *corev3.DataSource_InlineString:
			d.Body = []byte(body.InlineString)
		case *corev3.DataSource_InlineBytes:
			d.Body = body.InlineBytes
		default:
			return nil, fmt.Errorf("%s.direct_response.body: serve supports inline_string and inline_bytes only", rp)
		}
		rt.Direct = d
	default:
		return nil, fmt.Errorf("%s: no route action: serve supports route.cluster and direct_response", rp)
	}
	return rt, nil
}

// disabled applies one typed_per_filter_config map to the inherited on/off state of the scope-gate filter.
// The Wasm filter has no per-route configuration: Envoy accepts only FilterConfig{disabled} under its name,
// and serve has no other filter that could take one.
func disabled(tpfc map[string]*anypb.Any, where, filterName string, inherited bool) (bool, error) {
	for name := range tpfc {
		if name != filterName {
			return false, fmt.Errorf("%s.typed_per_filter_config[%q]: serve has per-route settings only for the scope-gate filter %q", where, name, filterName)
		}
	}
	a, ok := tpfc[filterName]
	if !ok {
		return inherited, nil
	}
	where += ".typed_per_filter_config[" + strconv.Quote(filterName) + "]"
	fc := &routev3.FilterConfig{}
	if !a.MessageIs(fc) {
		return false, fmt.Errorf("%s: the Wasm filter has no per-route configuration (%s): only envoy.config.route.v3.FilterConfig{disabled} is accepted", where, a.GetTypeUrl())
	}
	if err := a.UnmarshalTo(fc); err != nil {
		return false, fmt.Errorf("%s: %v", where, err)
	}
	if !envoyconfig.EmptyFilterConfig(fc.GetConfig()) {
		return false, fmt.Errorf("%s.config: the Wasm filter has no per-route configuration: leave config empty and use route metadata", where)
	}
	return fc.GetDisabled(), nil
}

func compileCluster(c *clusterv3.Cluster, cp string) (*Cluster, error) {
	switch c.GetType() {
	case clusterv3.Cluster_STATIC, clusterv3.Cluster_STRICT_DNS, clusterv3.Cluster_LOGICAL_DNS:
	default:
		return nil, fmt.Errorf("%s.type: %s is not supported by serve (STATIC, STRICT_DNS, LOGICAL_DNS)", cp, c.GetType())
	}
	if c.GetLbPolicy() != clusterv3.Cluster_ROUND_ROBIN {
		return nil, fmt.Errorf("%s.lb_policy: %s is not supported by serve (ROUND_ROBIN only)", cp, c.GetLbPolicy())
	}
	cl := &Cluster{Name: c.GetName(), ConnectTimeout: 5 * time.Second} // Envoy's default connect_timeout
	if c.GetConnectTimeout() != nil {
		cl.ConnectTimeout = c.GetConnectTimeout().AsDuration()
	}
	for li, lle := range c.GetLoadAssignment().GetEndpoints() {
		for ei, e := range lle.GetLbEndpoints() {
			ep := fmt.Sprintf("%s.load_assignment.endpoints[%d].lb_endpoints[%d].endpoint.address", cp, li, ei)
			addr, err := socketAddress(e.GetEndpoint().GetAddress(), ep)
			if err != nil {
				return nil, err
			}
			if c.GetType() == clusterv3.Cluster_STATIC {
				host, _, _ := net.SplitHostPort(addr)
				if net.ParseIP(host) == nil {
					return nil, fmt.Errorf("%s.socket_address.address: a STATIC cluster needs an IP address, got %q (use STRICT_DNS for names)", ep, host)
				}
			}
			cl.Endpoints = append(cl.Endpoints, addr)
		}
	}
	return cl, nil
}

func socketAddress(a *corev3.Address, where string) (string, error) {
	sa := a.GetSocketAddress()
	if sa == nil {
		return "", fmt.Errorf("%s: serve needs a socket_address", where)
	}
	if sa.GetProtocol() != corev3.SocketAddress_TCP {
		return "", fmt.Errorf("%s.socket_address.protocol: %s is not supported by serve (TCP only)", where, sa.GetProtocol())
	}
	return net.JoinHostPort(sa.GetAddress(), strconv.Itoa(int(sa.GetPortValue()))), nil
}

// metadataOf converts filter_metadata to what envoyhost serves to the filter: each namespace's Struct as
// JSON-like Go values (structpb's AsMap), which envoyhost encodes as Envoy does.
func metadataOf(md *corev3.Metadata) envoyhost.Metadata {
	if len(md.GetFilterMetadata()) == 0 {
		return nil
	}
	out := envoyhost.Metadata{}
	for ns, st := range md.GetFilterMetadata() {
		out[ns] = st.AsMap()
	}
	return out
}

func blockRequirement(pc *policy.Policy, md *corev3.Metadata) *policy.Requirement {
	st, ok := md.GetFilterMetadata()[pc.MetadataNamespace]
	if !ok {
		return nil
	}
	req, _, _ := envoyconfig.BlockRequirement(pc, st.AsMap())
	return req
}

// UseModule gives serve the module of a configuration that names it by URL (vm_config.code.remote): the
// file's SHA-256 must be the configured one, as Envoy checks a fetched module; a configuration whose module
// is local keeps it, and then -module is refused rather than silently ignored.
func (c *Config) UseModule(path string) error {
	if c.Filter.ModuleRemoteURI == "" {
		return fmt.Errorf("-module %s: the configuration loads its module from %s, not from a URL", path, c.Filter.ModuleWhere)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("-module: %v", err)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); c.Filter.ModuleRemoteSHA256 != "" && got != c.Filter.ModuleRemoteSHA256 {
		return fmt.Errorf("%s.sha256: the configuration wants module %s, -module %s has %s (Envoy refuses a module whose digest differs)", c.Filter.ModuleWhere, c.Filter.ModuleRemoteSHA256, path, got)
	}
	c.Filter.ModuleFilename, c.Filter.ModuleInline = path, nil
	return nil
}
