package gateway

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scope-gate/scope-gate/internal/envoyhost"
)

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
