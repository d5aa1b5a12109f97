package gateway

import (
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/scope-gate/scope-gate/internal/envoyconfig"
)

// Route re-selection (docs/envoy-route-cache.md). When a Wasm filter adds, replaces or removes a request
// header, Envoy clears the stream's cached route (Context::onHeadersModified in envoyproxy/envoy v1.33.0
// source/extensions/common/wasm/context.h, unchanged through v1.39.0; before 1.33 unconditionally), unless the
// module's ABI is newer than 0.2.1. The router then asks for the route again
// (ConnectionManagerImpl::ActiveStream::route -> refreshCachedRoute in source/common/http/conn_manager_impl.cc)
// and matches it against the headers as the filter left them, virtual host included; it forwards to that
// route's cluster, answers its direct_response, or, when nothing matches, answers 404 (Filter::decodeHeaders in
// source/common/router/router.cc). serve does the same at the point where the router takes over.
//
// Envoy also re-selects when the filter itself reads route properties after a change: scope-gate removes
// spoofed identity headers from every request before it reads xds.route_metadata (OnHttpRequestHeaders in
// filter/plugin/plugin.go), so the requirement it enforces is the one of the route matched without them.
// envoyhost hands the filter one route per stream, so serve gives it that route (routeForFilter), from the
// filter's documented order rather than from watching the filter: if that order changes, this must too.

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

// routeForFilter is the route whose metadata the filter reads: the route matched before the filter ran, or,
// when the request carries identity headers the filter removes before reading it, the route matched again
// without them.
func (g *Gateway) routeForFilter(matched *Route, headers [][2]string) *Route {
	if !g.reselect || g.cfg.Policy == nil {
		return matched
	}
	spoofable := g.cfg.Policy.SpoofableHeaders() // lower case, as the header names here
	var kept [][2]string
	for _, h := range headers {
		if !slices.Contains(spoofable, h[0]) {
			kept = append(kept, h)
		}
	}
	if len(kept) == len(headers) {
		return matched
	}
	return g.matchHeaders(kept)
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
	written := envoyconfig.WrittenHeaders(g.cfg.Policy)
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
