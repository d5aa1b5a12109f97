package envoyconfig

import (
	"encoding/json"
	"fmt"
	"strconv"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"sigs.k8s.io/yaml"
)

// A config dump is what Istio and Envoy Gateway give Envoy, as Envoy shows it (admin /config_dump,
// `istioctl proxy-config all -o json`, `egctl config envoy-proxy all -o json`): the bootstrap plus the
// listeners, clusters, routes and endpoints that came over xDS. check and serve read it as the static
// bootstrap Envoy effectively runs: every listener and cluster made static, each connection manager's rds
// replaced by the route configuration of that name, each EDS cluster given its endpoints. What the dump
// holds beyond that (the xDS sources, warming and draining copies) does not decide anything about a request
// and is left out, each with one note.

// IsConfigDump tells whether data (YAML or JSON) is an Envoy admin config dump: a top-level "configs" list.
func IsConfigDump(data []byte) bool {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return false
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(js, &top) != nil {
		return false
	}
	_, ok := top["configs"]
	return ok && len(top) == 1
}

// BootstrapFromConfigDump turns a config dump into a static bootstrap. notes lists, one line each, what was
// left out; an error names the JSON path in the dump.
func BootstrapFromConfigDump(data []byte) (*bootstrapv3.Bootstrap, []string, error) {
	dump := &adminv3.ConfigDump{}
	if err := unmarshalYAML(data, dump); err != nil {
		return nil, nil, err
	}
	var notes []string
	out := &bootstrapv3.Bootstrap{StaticResources: &bootstrapv3.Bootstrap_StaticResources{}}
	sr := out.StaticResources
	routes := map[string]*routev3.RouteConfiguration{}
	endpoints := map[string]*endpointv3.ClusterLoadAssignment{}
	unpack := func(a *anypb.Any, where string, m proto.Message) error {
		if err := a.UnmarshalTo(m); err != nil {
			return fmt.Errorf("%s: %v", where, err)
		}
		return nil
	}
	for i, c := range dump.GetConfigs() {
		cp := "$.configs[" + strconv.Itoa(i) + "]"
		m, err := c.UnmarshalNew()
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %v", cp, err)
		}
		switch d := m.(type) {
		case *adminv3.BootstrapConfigDump:
			b := d.GetBootstrap()
			out.Node, out.Admin = b.GetNode(), b.GetAdmin()
			sr.Listeners = append(sr.Listeners, b.GetStaticResources().GetListeners()...)
			sr.Clusters = append(sr.Clusters, b.GetStaticResources().GetClusters()...)
			sr.Secrets = append(sr.Secrets, b.GetStaticResources().GetSecrets()...)
			if b.GetDynamicResources() != nil {
				notes = append(notes, cp+".bootstrap.dynamic_resources: left out: the dump's listeners, clusters and routes stand for what the xDS server sent")
			}
		case *adminv3.ListenersConfigDump:
			for j, sl := range d.GetStaticListeners() {
				l := &listenerv3.Listener{}
				if err := unpack(sl.GetListener(), cp+".static_listeners["+strconv.Itoa(j)+"].listener", l); err != nil {
					return nil, nil, err
				}
				sr.Listeners = append(sr.Listeners, l)
			}
			for j, dl := range d.GetDynamicListeners() {
				lp := cp + ".dynamic_listeners[" + strconv.Itoa(j) + "]"
				if dl.GetActiveState() == nil {
					notes = append(notes, lp+": no active_state (warming or draining only): left out")
					continue
				}
				l := &listenerv3.Listener{}
				if err := unpack(dl.GetActiveState().GetListener(), lp+".active_state.listener", l); err != nil {
					return nil, nil, err
				}
				sr.Listeners = append(sr.Listeners, l)
			}
		case *adminv3.ClustersConfigDump:
			for _, sc := range d.GetStaticClusters() {
				cl := &clusterv3.Cluster{}
				if err := unpack(sc.GetCluster(), cp+".static_clusters", cl); err != nil {
					return nil, nil, err
				}
				sr.Clusters = append(sr.Clusters, cl)
			}
			for j, dc := range d.GetDynamicActiveClusters() {
				cl := &clusterv3.Cluster{}
				if err := unpack(dc.GetCluster(), cp+".dynamic_active_clusters["+strconv.Itoa(j)+"].cluster", cl); err != nil {
					return nil, nil, err
				}
				sr.Clusters = append(sr.Clusters, cl)
			}
		case *adminv3.RoutesConfigDump:
			add := func(a *anypb.Any, where string) error {
				rc := &routev3.RouteConfiguration{}
				if err := unpack(a, where, rc); err != nil {
					return err
				}
				routes[rc.GetName()] = rc
				return nil
			}
			for j, s := range d.GetStaticRouteConfigs() {
				if err := add(s.GetRouteConfig(), cp+".static_route_configs["+strconv.Itoa(j)+"].route_config"); err != nil {
					return nil, nil, err
				}
			}
			for j, s := range d.GetDynamicRouteConfigs() {
				if err := add(s.GetRouteConfig(), cp+".dynamic_route_configs["+strconv.Itoa(j)+"].route_config"); err != nil {
					return nil, nil, err
				}
			}
		case *adminv3.EndpointsConfigDump:
			add := func(a *anypb.Any, where string) error {
				e := &endpointv3.ClusterLoadAssignment{}
				if err := unpack(a, where, e); err != nil {
					return err
				}
				endpoints[e.GetClusterName()] = e
				return nil
			}
			for j, s := range d.GetStaticEndpointConfigs() {
				if err := add(s.GetEndpointConfig(), cp+".static_endpoint_configs["+strconv.Itoa(j)+"].endpoint_config"); err != nil {
					return nil, nil, err
				}
			}
			for j, s := range d.GetDynamicEndpointConfigs() {
				if err := add(s.GetEndpointConfig(), cp+".dynamic_endpoint_configs["+strconv.Itoa(j)+"].endpoint_config"); err != nil {
					return nil, nil, err
				}
			}
		case *adminv3.SecretsConfigDump:
			notes = append(notes, cp+": secrets left out (TLS material: serve has no TLS)")
		default:
			// ECDS (extension configs delivered apart from their listener) and scoped routes would change
			// which filters and routes apply: they cannot be left out.
			return nil, nil, fmt.Errorf("%s: %s is not supported (only bootstrap, listeners, clusters, routes, endpoints and secrets)", cp, m.ProtoReflect().Descriptor().FullName())
		}
	}
	// A real dump lists the bootstrap's static listeners and clusters again under static_listeners and
	// static_clusters: keep one of each name, and refuse two different ones.
	var err error
	if sr.Listeners, err = dedupe(sr.Listeners, "listener"); err != nil {
		return nil, nil, err
	}
	if sr.Clusters, err = dedupe(sr.Clusters, "cluster"); err != nil {
		return nil, nil, err
	}
	// rds -> the route configuration of that name, in every connection manager.
	for li, l := range sr.Listeners {
		chains := l.GetFilterChains()
		if l.GetDefaultFilterChain() != nil {
			chains = append(chains, l.GetDefaultFilterChain())
		}
		for ci, fc := range chains {
			for fi, f := range fc.GetFilters() {
				tc := f.GetTypedConfig()
				if !tc.MessageIs(&hcmv3.HttpConnectionManager{}) {
					continue
				}
				where := "listener " + strconv.Quote(l.GetName()) + " (static_resources.listeners[" + strconv.Itoa(li) + "]).filter_chains[" + strconv.Itoa(ci) + "].filters[" + strconv.Itoa(fi) + "]"
				h := &hcmv3.HttpConnectionManager{}
				if err := tc.UnmarshalTo(h); err != nil {
					return nil, nil, fmt.Errorf("%s: %v", where, err)
				}
				rds := h.GetRds()
				if rds == nil {
					continue
				}
				rc := routes[rds.GetRouteConfigName()]
				if rc == nil {
					return nil, nil, fmt.Errorf("%s.typed_config.rds: route configuration %q is not in the dump", where, rds.GetRouteConfigName())
				}
				h.RouteSpecifier = &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: rc}
				a, err := anypb.New(h)
				if err != nil {
					return nil, nil, fmt.Errorf("%s: %v", where, err)
				}
				f.ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: a}
			}
		}
	}
	// EDS clusters -> their endpoints.
	for _, c := range sr.Clusters {
		if c.GetType() != clusterv3.Cluster_EDS {
			continue
		}
		name := c.GetName()
		if sn := c.GetEdsClusterConfig().GetServiceName(); sn != "" {
			name = sn
		}
		e := endpoints[name]
		if e == nil {
			notes = append(notes, "cluster "+strconv.Quote(c.GetName())+": EDS without endpoints in the dump: it has no endpoint")
			e = &endpointv3.ClusterLoadAssignment{ClusterName: c.GetName()}
		}
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}
		c.EdsClusterConfig = nil
		c.LoadAssignment = e
	}
	return out, notes, nil
}

type named interface {
	proto.Message
	GetName() string
}

func dedupe[T named](list []T, kind string) ([]T, error) {
	seen := map[string]T{}
	var out []T
	for _, m := range list {
		if prev, ok := seen[m.GetName()]; ok {
			if !proto.Equal(prev, m) {
				return nil, fmt.Errorf("$.configs: two different %ss named %q", kind, m.GetName())
			}
			continue
		}
		seen[m.GetName()] = m
		out = append(out, m)
	}
	return out, nil
}
