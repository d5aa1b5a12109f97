package gateway

import (
	"context"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/scope-gate/scope-gate/internal/envoyhost"
)

func compileFilterRegex(s string) (*regexp.Regexp, error) { return regexp.Compile(s) }

// ServeHTTP is the listener: route, run the filter in a VM, then answer locally or proxy.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &accessRecord{start: time.Now(), route: "-"}
	defer g.accessLog(r, rec)

	// Envoy's connection manager normalizes :path before routing and before any filter (pathnorm.go): the
	// route, the filter and the upstream all see the normalized path. Envoy answers a request-target that
	// is not origin-form ("*", absolute-form it did not convert) before normalizing; serve keeps routing
	// those raw, as before.
	path := r.RequestURI
	if strings.HasPrefix(path, "/") {
		var action PathAction
		path, action = NormalizePath(path, g.cfg.Paths)
		if action == PathRedirect && isGRPC(r.Header.Get("Content-Type")) {
			// gRPC clients do not follow redirects: Envoy refuses them instead (conn_manager_impl.cc).
			action = PathReject
		}
		switch action {
		case PathReject:
			// Envoy: sendLocalReply(400, "", details path_normalization_failed); no filter runs.
			rec.decision = "400 " + PathNormalizationFailed
			writeResponse(w, envoyhost.Response{Status: http.StatusBadRequest}, rec)
			return
		case PathRedirect:
			// Envoy: UNESCAPE_AND_REDIRECT answers 307 with Location set to the normalized :path (query
			// included, relative); the client's next request is the one routed and filtered.
			rec.decision = "307 " + PathNormalizationFailed
			writeResponse(w, envoyhost.Response{Status: http.StatusTemporaryRedirect, Headers: [][2]string{{"location", path}}}, rec)
			return
		}
		rec.path = path
	}

	headers := g.requestHeaders(r, path)
	view := &requestView{path: path, headers: map[string][]string{}}
	for _, h := range headers {
		view.headers[h[0]] = append(view.headers[h[0]], h[1])
	}
	rt := g.route(r, view)
	if rt != nil {
		rec.route = rt.Name
		if rec.route == "" {
			rec.route = "(unnamed)"
		}
	}
	if rt != nil && rt.FilterDisabled {
		rec.decision = "filter disabled"
		g.bypass(w, r, rt, headers, rec)
		return
	}

	vm, err := g.acquire(r.Context())
	if err != nil {
		rec.decision = "client gone before a VM was free"
		return
	}
	ho := &handoff{}
	req := envoyhost.Request{Headers: headers, SourceAddress: r.RemoteAddr}
	if rt != nil {
		req.Route = &envoyhost.Route{Name: rt.Name, Metadata: rt.Metadata, Cluster: rt.Cluster,
			VirtualHost: &envoyhost.VirtualHost{Name: rt.VH.Name, Metadata: rt.VH.Metadata}}
	}
	choice := &routeChoice{}
	req.Upstream = func(u envoyhost.Upstream) envoyhost.Response {
		// Envoy's router matches the route again if the filter changed the request headers (reselect.go).
		used, changed := g.routeAfterFilter(rt, headers, u.Headers)
		choice.set(used, changed)
		return g.upstreamCall(r, used, u.Headers, ho)
	}
	res, err := g.run(r.Context(), vm, req)
	g.release(vm)
	if used, changed := choice.get(); changed && used != rt {
		rec.route = routeLabel(rt) + "->" + routeLabel(used)
	}
	resp, cancel, upHeaders := ho.take()
	if cancel != nil {
		defer cancel()
	}
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		rec.status, rec.decision = 503, "stream error"
		g.logf("error", "stream on route %q: %v", rec.route, err)
		writeResponse(w, envoyhost.Response{Status: 503}, rec)
		return
	}
	rec.decision = g.decision(rt, res, upHeaders)
	if res.LocalReply != nil || resp == nil {
		if resp != nil {
			resp.Body.Close()
		}
		writeResponse(w, res.Response, rec)
		return
	}
	// Allowed and proxied: the status and headers as the filter left them, then the upstream's body,
	// streamed.
	defer resp.Body.Close()
	writeHead(w, res.Response, rec)
	copyBody(w, resp)
}

// run drives one stream. A client that goes away resets the stream, as in Envoy (its on_log and on_done
// still run); the stream is always awaited so that the VM is free when it returns to the pool.
func (g *Gateway) run(ctx context.Context, vm *envoyhost.VM, req envoyhost.Request) (envoyhost.Result, error) {
	st := vm.Start(context.Background(), req)
	res, err := st.Wait(ctx)
	if err == nil || ctx.Err() == nil {
		return res, err
	}
	st.ResetByClient()
	wctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return st.Wait(wctx)
}

// route finds the virtual host by Host and the first route that matches, as Envoy's router does.
func (g *Gateway) route(r *http.Request, view *requestView) *Route {
	host := strings.ToLower(r.Host)
	if g.cfg.StripAnyHostPort || g.cfg.StripMatchingHostPort {
		if h, port, err := net.SplitHostPort(host); err == nil {
			_, lport, _ := net.SplitHostPort(g.ln.Addr().String())
			if g.cfg.StripAnyHostPort || port == lport {
				host = h
			}
		}
	}
	if g.cfg.IgnorePortInHostMatching {
		// RouteConfiguration.ignore_port_in_host_matching: the port is left out of the virtual host lookup
		// only; the Host header the filter and upstream see keeps it.
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
	}
	vh := findVirtualHost(g.cfg.VirtualHosts, host)
	if vh == nil {
		return nil
	}
	for _, rt := range vh.Routes {
		if rt.matches(view) {
			return rt
		}
	}
	return nil
}

// requestHeaders is the header map the filter sees, with path (normalized) as :path: pseudo headers first,
// then the request's headers with lower-case names (Go's server does not keep their order, so they are
// sorted by name), without hop-by-hop headers, plus what Envoy's connection manager adds before any filter
// runs.
func (g *Gateway) requestHeaders(r *http.Request, path string) [][2]string {
	out := [][2]string{{":method", r.Method}, {":path", path}, {":authority", r.Host}, {":scheme", "http"}}
	names := make([]string, 0, len(r.Header))
	for k := range r.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	conn := r.Header.Values("Connection")
	seen := map[string]bool{}
	for _, k := range names {
		lk := strings.ToLower(k)
		if isHopByHop(lk, conn) {
			continue
		}
		seen[lk] = true
		for _, v := range r.Header[k] {
			if lk == "x-forwarded-for" && g.cfg.UseRemoteAddress {
				continue // rewritten below
			}
			out = append(out, [2]string{lk, v})
		}
	}
	remote, _, _ := net.SplitHostPort(r.RemoteAddr)
	if g.cfg.UseRemoteAddress {
		// Envoy at the edge appends the peer address to x-forwarded-for and owns x-forwarded-proto.
		xff := strings.Join(r.Header.Values("X-Forwarded-For"), ",")
		if xff != "" {
			xff += ","
		}
		out = append(out, [2]string{"x-forwarded-for", xff + remote})
		out = replace(out, "x-forwarded-proto", "http")
	} else if !seen["x-forwarded-proto"] {
		out = append(out, [2]string{"x-forwarded-proto", "http"})
	}
	if g.cfg.GenerateRequestID && !seen["x-request-id"] {
		out = append(out, [2]string{"x-request-id", newUUID()})
	}
	return out
}

func replace(hs [][2]string, name, value string) [][2]string {
	out := hs[:0]
	for _, h := range hs {
		if h[0] != name {
			out = append(out, h)
		}
	}
	return append(out, [2]string{name, value})
}

// isGRPC is Envoy's Grpc::Common::hasGrpcContentType: "application/grpc", alone or followed by '+' or ';'.
func isGRPC(contentType string) bool {
	const g = "application/grpc"
	return strings.HasPrefix(contentType, g) && (len(contentType) == len(g) || contentType[len(g)] == '+' || contentType[len(g)] == ';')
}
