package gateway

import (
	"strconv"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"

	"github.com/scope-gate/scope-gate/filter/policy"
	"github.com/scope-gate/scope-gate/internal/envoyconfig"
)

// reduce keeps, of a bootstrap, what serve serves: the listener that carries the scope-gate filter and the
// clusters its routes and the filter's validator use. What an Istio or Envoy Gateway configuration holds
// besides (a readiness listener with its health-check filter, a stats listener, the xDS and Wasm-fetch
// clusters) never sees a request of that listener, so it is left out with one warning line each instead of
// refused. A bootstrap with no or several scope-gate listeners is returned as is: Compile says what is
// wrong with it.
func reduce(b *bootstrapv3.Bootstrap) (*bootstrapv3.Bootstrap, []string) {
	found, err := envoyconfig.FindFilters(b)
	if err != nil || len(found) != 1 {
		return b, nil
	}
	f := found[0]
	out := proto.Clone(b).(*bootstrapv3.Bootstrap)
	var warnings []string
	var kept *listenerv3.Listener
	var listeners []*listenerv3.Listener
	for i, l := range out.GetStaticResources().GetListeners() {
		if l.GetName() == f.Listener && kept == nil {
			kept = l
			listeners = append(listeners, l)
			continue
		}
		warnings = append(warnings, "$.static_resources.listeners["+strconv.Itoa(i)+"] ("+strconv.Quote(l.GetName())+"): not served: it carries no scope-gate filter")
	}
	if kept == nil {
		return b, nil
	}
	// A listener whose only chain is its default_filter_chain (Envoy Gateway's plain-HTTP listeners) serves
	// every connection with it, as a single filter chain would.
	if len(kept.GetFilterChains()) == 0 && kept.GetDefaultFilterChain() != nil {
		kept.FilterChains = []*listenerv3.FilterChain{kept.GetDefaultFilterChain()}
		kept.DefaultFilterChain = nil
	}
	out.StaticResources.Listeners = listeners

	used := map[string]bool{}
	if pc, err := policy.Parse(f.Configuration); err == nil && pc.Validator != nil {
		for _, c := range pc.Validator.Clusters() {
			used[c.Name] = true
		}
	}
	for _, fc := range kept.GetFilterChains() {
		for _, nf := range fc.GetFilters() {
			h := &hcmv3.HttpConnectionManager{}
			if nf.GetTypedConfig().UnmarshalTo(h) != nil {
				continue
			}
			for _, vh := range h.GetRouteConfig().GetVirtualHosts() {
				for _, r := range vh.GetRoutes() {
					routeClusters(r, used)
				}
			}
		}
	}
	// A cluster nothing uses is kept when serve can run it (so -demo-cluster and the like still find it), and
	// left out when it cannot (the xDS cluster with its TLS, the Wasm-fetch cluster...).
	var clusters []*clusterv3.Cluster
	for i, c := range out.GetStaticResources().GetClusters() {
		cp := "$.static_resources.clusters[" + strconv.Itoa(i) + "]"
		if !used[c.GetName()] {
			var ignore []string
			err := checkSupported(c, cp, &ignore)
			if err == nil {
				_, err = compileCluster(c, cp)
			}
			if err != nil {
				warnings = append(warnings, cp+" ("+strconv.Quote(c.GetName())+"): left out: no route of the served listener and no validator uses it, and serve could not run it ("+err.Error()+")")
				continue
			}
		}
		clusters = append(clusters, c)
	}
	out.StaticResources.Clusters = clusters
	return out, warnings
}

func routeClusters(r *routev3.Route, used map[string]bool) {
	ra := r.GetRoute()
	if ra == nil {
		return
	}
	if c := ra.GetCluster(); c != "" {
		used[c] = true
	}
	for _, wc := range ra.GetWeightedClusters().GetClusters() {
		used[wc.GetName()] = true
	}
}
