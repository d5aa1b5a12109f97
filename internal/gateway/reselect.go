package gateway

import (
	"net/http"
	"strconv"
	"sync"

	"github.com/scope-gate/scope-gate/internal/envoyconfig"
)

// Route re-selection (docs/envoy-route-cache.md). When a Wasm filter adds, replaces or removes a request
// header, Envoy clears the stream's cached route: since 1.17 (envoyproxy/envoy #14318) on every change, since
// 1.33 unless the module's ABI is newer than 0.2.1 (Context::onHeadersModified in envoyproxy/envoy v1.33.0
// source/extensions/common/wasm/context.h, unchanged through v1.39.0). The router then asks for the route again
// (ConnectionManagerImpl::ActiveStream::route -> refreshCachedRoute in source/common/http/conn_manager_impl.cc)
// and matches it against the headers as the filter left them, virtual host included; it forwards to that
// route's cluster, answers its direct_response, or, when nothing matches, answers 404 (Filter::decodeHeaders in
// source/common/router/router.cc). serve does the same at the point where the router takes over.
//
// The filter itself keeps seeing the route matched before it ran, whatever it changed: its route properties
// (xds.route_metadata, xds.route_name) come from the stream info's route (the xds attributes in
// source/extensions/filters/common/expr/context.cc), which clearing the cache leaves alone
// (ActiveStream::clearRouteCache only drops cached_route_; setRoute, on the next lookup, updates the stream
// info). envoyhost hands the filter one route per stream, the same thing. Only the router's lookup re-selects.

// reselectsRoute tells, from the module's exports, whether Envoy re-selects the route after the module
// changes request headers. The early return in onHeadersModified needs an ABI above 0.2.1; proxy-wasm-cpp-host
// knows none (AbiVersion in include/proxy-wasm/wasm_vm.h ends with ProxyWasm_0_2_1, then Unknown, which
// WasmBase::load refuses), so every module Envoy loads re-selects. The check is kept explicit so that a
// module without a known ABI export (which envoyhost would refuse anyway) is not silently treated as one.
func reselectsRoute(exports []string) bool {
	for _, e := range exports {
		switch e {
		case "proxy_abi_version_0_1_0", "proxy_abi_version_0_2_0", "proxy_abi_version_0_2_1":
			return true
		}
	}
	return false
}

// routeChoice is the route the router used for a stream, set from envoyhost's upstream goroutine and read by
// the handler for the access log.
type routeChoice struct {
	mu      sync.Mutex
	used    *Route
	changed bool // the filter changed the request headers and the route was matched again
}

func (c *routeChoice) set(used *Route, changed bool) {
	c.mu.Lock()
	c.used, c.changed = used, changed
	c.mu.Unlock()
}

func (c *routeChoice) get() (*Route, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used, c.changed
}

// routeAfterFilter is the route the router uses once the filter lets the request through: the route matched
// before the filter ran (checked) when the filter left the request headers as they were, else the route
// matched again on the headers the filter left (after), which may be another route or none.
func (g *Gateway) routeAfterFilter(checked *Route, before, after [][2]string) (*Route, bool) {
	if !g.reselect || sameHeaders(before, after) {
		return checked, false
	}
	return g.matchHeaders(after), true
}

// matchHeaders is Envoy's route lookup on a header list (pseudo headers included): the virtual host by
// :authority, then the first route that matches.
func (g *Gateway) matchHeaders(headers [][2]string) *Route {
	view := &requestView{headers: map[string][]string{}}
	authority := ""
	for _, h := range headers {
		view.headers[h[0]] = append(view.headers[h[0]], h[1])
		switch h[0] {
		case ":path":
			view.path = h[1]
		case ":authority":
			authority = h[1]
		}
	}
	// g.route reads only the Host of the request: here the authority as the filter left it.
	return g.route(&http.Request{Host: authority}, view)
}

func sameHeaders(a, b [][2]string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// routeLabel names a route in the access log: "-" for none, "(unnamed)" for a route without a name.
func routeLabel(rt *Route) string {
	switch {
	case rt == nil:
		return "-"
	case rt.Name == "":
		return "(unnamed)"
	}
	return rt.Name
}

// warnReselection logs, at start, each route whose match reads a header the filter modifies: serve routes
// such requests as Envoy would (re-selected after the filter's change), which is rarely what the route's
// author meant; `scope-gate check` refuses these configurations.
func (g *Gateway) warnReselection() {
	if g.cfg.Policy == nil || !g.reselect {
		return
	}
	written := envoyconfig.WrittenHeaders(g.cfg.Policy.Config)
	for _, vh := range g.cfg.VirtualHosts {
		for _, rt := range vh.Routes {
			for _, h := range rt.headers {
				if w, ok := written[h.name]; ok {
					g.logf("warn", "%s: route %s matches on header %q, which scope-gate %s: Envoy matches the route again after that change, and so does serve (scope-gate check refuses this)",
						rt.Where, strconv.Quote(routeLabel(rt)), w.Name, w.Why)
				}
			}
		}
	}
}
