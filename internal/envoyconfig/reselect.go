package envoyconfig

import (
	"github.com/scope-gate/scope-gate/filter/config"
	"maps"
	"slices"
	"strconv"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// Route re-selection (docs/envoy-route-cache.md). Every time a Wasm filter adds, replaces or removes a
// request header, Envoy clears the stream's cached route unless the module's ABI is newer than 0.2.1
// (Context::onHeadersModified in envoyproxy/envoy v1.33.0 source/extensions/common/wasm/context.h, unchanged
// through v1.39.0; no ABI newer than 0.2.1 exists in proxy-wasm-cpp-host, so every loadable module, scope-gate
// with ABI 0.2.0 included, gets it), and the router matches the route again against the headers as the filter
// left them. The filter's own requirement comes from the route matched before it ran (the stream info's
// route, which clearing the cache does not reset). scope-gate removes its identity headers from every request,
// sets them on allowed requests, and may remove Authorization; so a route whose match reads one of those
// headers can be checked by the filter and then swapped by the router: a client sending a spoofed identity
// header picks the route the filter checks, the filter strips the header, and the router sends the request to
// another route. CheckBootstrap and CheckDocuments refuse such matchers.

// WrittenHeader is a request header scope-gate adds, replaces or removes, and why.
type WrittenHeader struct {
	Name string // lower case
	Why  string // e.g. "sets on allowed requests and removes from every request (upstream_headers.subject)"
}

// WrittenHeaders lists the request headers the filter modifies with this configuration, by name.
func WrittenHeaders(cfg *config.Config) map[string]WrittenHeader {
	out := map[string]WrittenHeader{}
	add := func(name, why string) {
		if name != "" {
			out[name] = WrittenHeader{Name: name, Why: why}
		}
	}
	u := cfg.Upstream
	// The four identity headers are removed from every request (anti-spoofing), whether or not they are set.
	add(u.Subject, "sets on allowed requests and removes from every request (upstream_headers.subject)")
	add(u.SubjectType, "sets on allowed requests and removes from every request (upstream_headers.subject_type)")
	add(u.Scopes, "sets on allowed requests and removes from every request (upstream_headers.scopes)")
	add(u.Decision, "sets in report mode and removes from every request (upstream_headers.decision)")
	if u.StripAuthorization {
		add("authorization", "removes from allowed requests (upstream_headers.strip_authorization)")
	}
	return out
}

// rerouteProblem is the one-line finding for route label matching on header h.
func rerouteProblem(label string, h WrittenHeader) string {
	return "route " + label + " matches on header " + strconv.Quote(h.Name) + ", which scope-gate " + h.Why +
		"; Envoy matches the route again after such a change, so a request checked against one route's requirement could be sent to another (docs/envoy-route-cache.md)"
}

// checkRouteMatchHeaders refuses header matchers of a bootstrap route on headers the filter modifies. Routes
// with the filter disabled are checked too: the router can re-select them for a request the filter changed.
func (c *routeCtx) checkRouteMatchHeaders(rt *routev3.Route, rp, label string) {
	written := WrittenHeaders(c.cfg.Config)
	for i, h := range rt.GetMatch().GetHeaders() {
		// Envoy compares header names in lower case (Http::LowerCaseString in HeaderUtility::HeaderData).
		if w, ok := written[strings.ToLower(h.GetName())]; ok {
			c.r.errorf(c.file, rp+".match.headers["+strconv.Itoa(i)+"].name", "%s", rerouteProblem(strconv.Quote(label), w))
		}
	}
}

// checkKubeMatchHeaders does the same for VirtualService http[].match[].headers and withoutHeaders (Istio)
// and HTTPRoute rules[].matches[].headers (Envoy Gateway), against the headers of every scope-gate plugin
// configuration of that platform among the inputs (defaults when there is none).
func checkKubeMatchHeaders(r *Report, istio, gateway []plugin, services, httpRoutes []*Document) {
	union := func(ps []plugin) map[string]WrittenHeader {
		if len(ps) == 0 {
			return WrittenHeaders(fallbackConfig().Config)
		}
		out := map[string]WrittenHeader{}
		for _, p := range ps {
			for k, v := range WrittenHeaders(p.cfg.Config) {
				out[k] = v
			}
		}
		return out
	}
	if len(services) > 0 {
		written := union(istio)
		for _, d := range services {
			routes, _ := at(d.Object, "spec", "http").([]any)
			for ri := range routes {
				label := strconv.Quote(asString(at(routes[ri], "name")))
				matches, _ := at(routes[ri], "match").([]any)
				for mi := range matches {
					for _, field := range []string{"headers", "withoutHeaders"} {
						hs, _ := at(matches[mi], field).(map[string]any)
						for _, name := range slices.Sorted(maps.Keys(hs)) {
							if w, ok := written[strings.ToLower(name)]; ok {
								where := "spec.http[" + strconv.Itoa(ri) + "].match[" + strconv.Itoa(mi) + "]." + field + "[" + strconv.Quote(name) + "]"
								r.errorf(d.File, d.where(where), "%s", rerouteProblem(label, w))
							}
						}
					}
				}
			}
		}
	}
	if len(httpRoutes) > 0 {
		written := union(gateway)
		for _, d := range httpRoutes {
			rules, _ := at(d.Object, "spec", "rules").([]any)
			for ri := range rules {
				matches, _ := at(rules[ri], "matches").([]any)
				for mi := range matches {
					hs, _ := at(matches[mi], "headers").([]any)
					for hi := range hs {
						name := asString(at(hs[hi], "name"))
						if w, ok := written[strings.ToLower(name)]; ok {
							where := "spec.rules[" + strconv.Itoa(ri) + "].matches[" + strconv.Itoa(mi) + "].headers[" + strconv.Itoa(hi) + "].name"
							label := strconv.Quote("httproute/" + d.Namespace + "/" + d.Name + "/rule/" + strconv.Itoa(ri) + "/match/" + strconv.Itoa(mi))
							r.errorf(d.File, d.where(where), "%s", rerouteProblem(label, w))
						}
					}
				}
			}
		}
	}
}
