package envoyconfig

import (
	"maps"
	"slices"
	"strconv"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	wasmfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	wasmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/wasm/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// BuildSpec describes a one-listener bootstrap with scope-gate in front of one upstream: what the real-Envoy
// scenario driver generates, and what a later "serve" command can reuse.
type BuildSpec struct {
	ListenAddress  string // default 127.0.0.1
	ListenPort     uint32
	AdminPort      uint32 // admin listens on 127.0.0.1
	UpstreamPort   uint32 // the "upstream" cluster: 127.0.0.1:UpstreamPort
	ModuleFilename string
	// PluginConfiguration is passed as a StringValue, verbatim.
	PluginConfiguration []byte
	VirtualHosts        []BuildVirtualHost
	// ExtraClusters are more 127.0.0.1 clusters (for example a validator), name → port.
	ExtraClusters map[string]uint32
	// NormalizePaths sets normalize_path, merge_slashes and path_with_escaped_slashes_action: REJECT_REQUEST on
	// the connection manager, as every example does. Off, the scenario driver's Envoy hands the filter the
	// raw path, which is what scenarios about the filter's own path checks need.
	NormalizePaths bool
}

// BuildVirtualHost is one virtual host; Metadata is its filter_metadata.
type BuildVirtualHost struct {
	Name     string
	Domains  []string
	Metadata map[string]*structpb.Struct
	Routes   []BuildRoute
}

// BuildRoute is a prefix route to the upstream; PrefixRewrite, when set, replaces the matched prefix.
type BuildRoute struct {
	Name          string
	Prefix        string
	PrefixRewrite string
	Metadata      map[string]*structpb.Struct
	Disabled      bool // FilterConfig{disabled: true} for the scope-gate filter on this route
}

// FilterName is the http_filters name Build gives scope-gate (the typed_per_filter_config key).
const FilterName = "scope_gate"

// Build returns the bootstrap BuildSpec describes.
func Build(s BuildSpec) *bootstrapv3.Bootstrap {
	listenAddr := s.ListenAddress
	if listenAddr == "" {
		listenAddr = "127.0.0.1"
	}
	wasm := &wasmfilterv3.Wasm{Config: &wasmv3.PluginConfig{
		Name:          PluginName,
		RootId:        PluginName,
		FailurePolicy: wasmv3.FailurePolicy_FAIL_CLOSED,
		Vm: &wasmv3.PluginConfig_VmConfig{VmConfig: &wasmv3.VmConfig{
			VmId:    PluginName,
			Runtime: "envoy.wasm.runtime.v8",
			Code: &corev3.AsyncDataSource{Specifier: &corev3.AsyncDataSource_Local{Local: &corev3.DataSource{
				Specifier: &corev3.DataSource_Filename{Filename: s.ModuleFilename},
			}}},
		}},
		Configuration: mustAny(wrapperspb.String(string(s.PluginConfiguration))),
	}}
	rc := &routev3.RouteConfiguration{Name: "scenarios"}
	for _, vh := range s.VirtualHosts {
		v := &routev3.VirtualHost{Name: vh.Name, Domains: vh.Domains}
		if vh.Metadata != nil {
			v.Metadata = &corev3.Metadata{FilterMetadata: vh.Metadata}
		}
		for _, r := range vh.Routes {
			route := &routev3.Route{
				Name:  r.Name,
				Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: r.Prefix}},
				Action: &routev3.Route_Route{Route: &routev3.RouteAction{
					ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "upstream"},
					PrefixRewrite:    r.PrefixRewrite,
				}},
			}
			if r.Metadata != nil {
				route.Metadata = &corev3.Metadata{FilterMetadata: r.Metadata}
			}
			if r.Disabled {
				route.TypedPerFilterConfig = map[string]*anypb.Any{FilterName: mustAny(&routev3.FilterConfig{Disabled: true})}
			}
			v.Routes = append(v.Routes, route)
		}
		rc.VirtualHosts = append(rc.VirtualHosts, v)
	}
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix:     "scenarios",
		RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: rc},
		HttpFilters: []*hcmv3.HttpFilter{
			{Name: FilterName, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(wasm)}},
			{Name: "envoy.filters.http.router", ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(&routerv3.Router{})}},
		},
	}
	if s.NormalizePaths {
		hcm.NormalizePath = wrapperspb.Bool(true)
		hcm.MergeSlashes = true
		hcm.PathWithEscapedSlashesAction = hcmv3.HttpConnectionManager_REJECT_REQUEST
	}
	clusters := []*clusterv3.Cluster{localCluster("upstream", s.UpstreamPort)}
	for _, name := range slices.Sorted(maps.Keys(s.ExtraClusters)) {
		clusters = append(clusters, localCluster(name, s.ExtraClusters[name]))
	}
	return &bootstrapv3.Bootstrap{
		Admin: &bootstrapv3.Admin{Address: socketAddress("127.0.0.1", s.AdminPort)},
		StaticResources: &bootstrapv3.Bootstrap_StaticResources{
			Listeners: []*listenerv3.Listener{{
				Name:    "scenarios",
				Address: socketAddress(listenAddr, s.ListenPort),
				FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{{
					Name:       "envoy.filters.network.http_connection_manager",
					ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: mustAny(hcm)},
				}}}},
			}},
			Clusters: clusters,
		},
	}
}

// MarshalBootstrap renders a bootstrap as the JSON Envoy reads with -c.
func MarshalBootstrap(b *bootstrapv3.Bootstrap) ([]byte, error) {
	return protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(b)
}

func localCluster(name string, port uint32) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		ConnectTimeout:       durationpb.New(2e9),
		LoadAssignment: &endpointv3.ClusterLoadAssignment{
			ClusterName: name,
			Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{{
				HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
					Address: socketAddress("127.0.0.1", port),
				}},
			}}}},
		},
	}
}

func socketAddress(addr string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address:       addr,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

// mustAny packs a message; packing a generated message cannot fail.
func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic("envoyconfig: " + strconv.Quote(string(proto.MessageName(m))) + ": " + err.Error())
	}
	return a
}
