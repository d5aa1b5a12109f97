package gateway

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scope-gate/scope-gate/filter/config"
	"github.com/scope-gate/scope-gate/internal/envoyhost"
)

func compileFilterRegex(s string) (*regexp.Regexp, error) { return regexp.Compile(s) }

// upstream is a cluster's connection pool and round-robin position.
type upstream struct {
	c         *Cluster
	transport *http.Transport
	next      atomic.Uint64
}

func newUpstream(c *Cluster) *upstream {
	d := &net.Dialer{Timeout: c.ConnectTimeout}
	return &upstream{c: c, transport: &http.Transport{
		Proxy:               nil, // a gateway never goes through the environment's HTTP proxy
		DialContext:         d.DialContext,
		DisableCompression:  true, // forward bodies as the upstream sent them
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     time.Hour, // Envoy's upstream idle_timeout default
	}}
}

func (u *upstream) endpoint() (string, bool) {
	if len(u.c.Endpoints) == 0 {
		return "", false
	}
	return u.c.Endpoints[(u.next.Add(1)-1)%uint64(len(u.c.Endpoints))], true
}

// hop-by-hop headers never cross a proxy (RFC 9110 §7.6.1); Envoy's codecs drop them too.
var hopByHop = map[string]bool{
	"connection": true, "keep-alive": true, "proxy-connection": true, "transfer-encoding": true,
	"upgrade": true, "te": true, "trailer": true,
}

func isHopByHop(name string, connection []string) bool {
	if hopByHop[name] {
		return true
	}
	for _, v := range connection {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), name) {
				return true
			}
		}
	}
	return false
}

// accessRecord is one access-log line in the making.
type accessRecord struct {
	path     string // the normalized :path, when it was routed ("" : the request's own)
	start    time.Time
	route    string
	status   int
	decision string
}

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

// handoff carries the upstream response from envoyhost's upstream goroutine to the handler, which streams
// its body after the filter has seen the headers. If the handler has moved on, the body is closed.
type handoff struct {
	mu        sync.Mutex
	resp      *http.Response
	cancel    context.CancelFunc
	headers   [][2]string // the request headers as the filter left them
	abandoned bool
}

func (h *handoff) put(resp *http.Response, cancel context.CancelFunc, headers [][2]string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.headers = headers
	if h.abandoned {
		if resp != nil {
			resp.Body.Close()
		}
		if cancel != nil {
			cancel()
		}
		return
	}
	h.resp, h.cancel = resp, cancel
}

func (h *handoff) take() (*http.Response, context.CancelFunc, [][2]string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.abandoned = true
	resp, cancel := h.resp, h.cancel
	h.resp, h.cancel = nil, nil
	return resp, cancel, h.headers
}

// upstreamCall is what the router does once the filter lets the request through: no route is 404, a
// direct_response answers, else the request goes to the route's cluster with the headers the filter left
// and the client's body streamed. It returns the upstream's status and headers (its body is streamed by
// the handler); a failure is answered as Envoy's router answers it.
func (g *Gateway) upstreamCall(r *http.Request, rt *Route, headers [][2]string, ho *handoff) envoyhost.Response {
	switch {
	case rt == nil:
		ho.put(nil, nil, headers)
		return envoyhost.Response{Status: http.StatusNotFound}
	case rt.Direct != nil:
		ho.put(nil, nil, headers)
		return directResponse(rt.Direct)
	}
	resp, cancel, errResp := g.forward(r, rt, headers)
	ho.put(resp, cancel, headers)
	if resp == nil {
		return errResp
	}
	out := envoyhost.Response{Status: resp.StatusCode}
	conn := resp.Header.Values("Connection")
	for k, vs := range resp.Header {
		lk := strings.ToLower(k)
		if isHopByHop(lk, conn) {
			continue
		}
		for _, v := range vs {
			out.Headers = append(out.Headers, [2]string{lk, v})
		}
	}
	sort.SliceStable(out.Headers, func(i, j int) bool { return out.Headers[i][0] < out.Headers[j][0] })
	return out
}

func directResponse(d *DirectResponse) envoyhost.Response {
	resp := envoyhost.Response{Status: d.Status, Body: d.Body}
	if len(d.Body) > 0 {
		resp.Headers = [][2]string{{"content-length", strconv.Itoa(len(d.Body))}, {"content-type", "text/plain"}}
	}
	return resp
}

// localError is an answer of Envoy's router with a text body.
func localError(status int, body string) envoyhost.Response {
	return envoyhost.Response{Status: status, Body: []byte(body),
		Headers: [][2]string{{"content-length", strconv.Itoa(len(body))}, {"content-type", "text/plain"}}}
}

// forward sends the request upstream and returns once the response headers arrived. The returned cancel
// ends the upstream exchange; the caller calls it after streaming the body.
func (g *Gateway) forward(r *http.Request, rt *Route, headers [][2]string) (*http.Response, context.CancelFunc, envoyhost.Response) {
	up := g.upstreams[rt.Cluster]
	ep, ok := up.endpoint()
	if !ok {
		return nil, nil, localError(http.StatusServiceUnavailable, "no healthy upstream")
	}
	var method, path, authority string
	out := http.Header{}
	for _, h := range headers {
		switch h[0] {
		case ":method":
			method = h[1]
		case ":path":
			path = h[1]
		case ":authority":
			authority = h[1]
		case "content-length", "host":
			// from the request itself / :authority
		default:
			if !strings.HasPrefix(h[0], ":") {
				out.Add(h[0], h[1])
			}
		}
	}
	if rt.PrefixRewrite != "" && hasPrefix(path, rt.path.value, rt.path.caseSensitive) {
		out.Set("X-Envoy-Original-Path", path)
		path = rt.PrefixRewrite + path[len(rt.path.value):]
	}
	if _, ok := out["User-Agent"]; !ok {
		out["User-Agent"] = []string{""} // Go would add its own; Envoy forwards none
	}
	u, err := requestURL(ep, path)
	if err != nil {
		return nil, nil, localError(http.StatusBadRequest, "invalid :path")
	}
	ctx, cancel := context.WithCancel(r.Context())
	var timedOut atomic.Bool
	var timer *time.Timer
	if rt.Timeout > 0 {
		timer = time.AfterFunc(rt.Timeout, func() { timedOut.Store(true); cancel() })
	}
	outReq := (&http.Request{Method: method, URL: u, Host: authority, Header: out, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}).WithContext(ctx)
	if r.ContentLength != 0 {
		outReq.Body, outReq.ContentLength = r.Body, r.ContentLength
	}
	resp, err := up.transport.RoundTrip(outReq)
	if timer != nil {
		timer.Stop()
	}
	if err != nil {
		cancel()
		var op *net.OpError
		switch {
		case timedOut.Load():
			return nil, nil, localError(http.StatusGatewayTimeout, "upstream request timeout")
		case errors.As(err, &op) && op.Op == "dial":
			return nil, nil, localError(http.StatusServiceUnavailable, "upstream connect error or disconnect/reset before headers. reset reason: connection failure")
		}
		return nil, nil, localError(http.StatusServiceUnavailable, "upstream connect error or disconnect/reset before headers. reset reason: connection termination")
	}
	return resp, cancel, envoyhost.Response{}
}

// requestURL targets ep with path sent as received (no re-encoding).
func requestURL(ep, path string) (*url.URL, error) {
	p, q, _ := strings.Cut(path, "?")
	if strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "//") {
		return &url.URL{Scheme: "http", Host: ep, Opaque: p, RawQuery: q}, nil
	}
	u, err := url.ParseRequestURI(path)
	if err != nil {
		return nil, err
	}
	u.Scheme, u.Host = "http", ep
	return u, nil
}

// bypass serves a route whose filter is disabled: the router alone, as in Envoy.
func (g *Gateway) bypass(w http.ResponseWriter, r *http.Request, rt *Route, headers [][2]string, rec *accessRecord) {
	if rt.Direct != nil {
		writeResponse(w, directResponse(rt.Direct), rec)
		return
	}
	resp, cancel, errResp := g.forward(r, rt, headers)
	if resp == nil {
		writeResponse(w, errResp, rec)
		return
	}
	defer cancel()
	defer resp.Body.Close()
	head := envoyhost.Response{Status: resp.StatusCode}
	conn := resp.Header.Values("Connection")
	for k, vs := range resp.Header {
		if !isHopByHop(strings.ToLower(k), conn) {
			for _, v := range vs {
				head.Headers = append(head.Headers, [2]string{k, v})
			}
		}
	}
	writeHead(w, head, rec)
	copyBody(w, resp)
}

func writeHead(w http.ResponseWriter, resp envoyhost.Response, rec *accessRecord) {
	h := w.Header()
	for _, kv := range resp.Headers {
		h.Add(kv[0], kv[1])
	}
	if resp.Status == 0 {
		resp.Status = http.StatusOK
	}
	rec.status = resp.Status
	w.WriteHeader(resp.Status)
}

func writeResponse(w http.ResponseWriter, resp envoyhost.Response, rec *accessRecord) {
	writeHead(w, resp, rec)
	if len(resp.Body) > 0 {
		_, _ = w.Write(resp.Body)
	}
}

// copyBody streams the upstream body; a response of unknown length (server-sent events, chunked
// streams) is flushed after every read so that the client sees it as it comes.
func copyBody(w http.ResponseWriter, resp *http.Response) {
	if resp.ContentLength != -1 {
		_, _ = io.Copy(w, resp.Body)
		return
	}
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			_ = rc.Flush()
		}
		if err != nil {
			return
		}
	}
}

// decision labels the access-log line: what the filter decided, never the token. A local reply is labelled
// with what Envoy's access log can show of it, never with its body (whose format is the filter's business):
// the status, the response code details when the host set any (wasm_fail_stream), else the error parameter of
// a WWW-Authenticate challenge (RFC 6750 §3.1: invalid_token, insufficient_scope, invalid_request).
func (g *Gateway) decision(rt *Route, res envoyhost.Result, upHeaders [][2]string) string {
	if lr := res.LocalReply; lr != nil {
		switch {
		case lr.Details != "":
			return fmt.Sprintf("%d %s", lr.Status, lr.Details)
		case challengeError(lr.Headers) != "":
			return fmt.Sprintf("%d %s", lr.Status, challengeError(lr.Headers))
		}
		return strconv.Itoa(lr.Status)
	}
	if pc := g.cfg.Policy; pc != nil && pc.Mode == config.ModeReport && pc.Upstream.Decision != "" {
		for _, h := range upHeaders {
			if h[0] == pc.Upstream.Decision {
				return "report " + h[1]
			}
		}
	}
	if rt != nil && rt.Public {
		return "public"
	}
	if rt == nil && g.cfg.Policy != nil && g.cfg.Policy.DefaultRequirement().Public {
		return "public"
	}
	return "allowed"
}

// challengeError is the error parameter of a www-authenticate challenge, "" when there is none.
func challengeError(headers [][2]string) string {
	for _, h := range headers {
		if h[0] != "www-authenticate" {
			continue
		}
		if _, rest, ok := strings.Cut(h[1], `error="`); ok {
			if v, _, ok := strings.Cut(rest, `"`); ok {
				return v
			}
		}
	}
	return ""
}

// accessLog writes one line per request: never a header value, never the query string (either may carry a
// credential).
func (g *Gateway) accessLog(r *http.Request, rec *accessRecord) {
	path := r.URL.Path
	if rec.path != "" {
		// The path that was routed and forwarded, as Envoy's %REQ(:PATH)% shows it after normalization.
		path, _ = splitQuery(rec.path)
	}
	if path == "" {
		path = r.RequestURI
	}
	if r.URL.RawQuery != "" {
		path += "?…"
	}
	line := fmt.Sprintf("%s %q %d route=%s decision=%q %.3fms\n",
		rec.start.UTC().Format(time.RFC3339Nano), r.Method+" "+path+" "+r.Proto, rec.status, rec.route, rec.decision,
		float64(time.Since(rec.start).Microseconds())/1000)
	g.accessMu.Lock()
	_, _ = io.WriteString(g.opts.AccessLog, line)
	g.accessMu.Unlock()
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// isGRPC is Envoy's Grpc::Common::hasGrpcContentType: "application/grpc", alone or followed by '+' or ';'.
func isGRPC(contentType string) bool {
	const g = "application/grpc"
	return strings.HasPrefix(contentType, g) && (len(contentType) == len(g) || contentType[len(g)] == '+' || contentType[len(g)] == ';')
}
