package envoyhost

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// callResponse is what proxy_on_http_call_response can read: map types 6/7
// and buffer type 4. nil means Envoy's onHttpCallFailure: the guest is told
// 0 headers, 0 body bytes and 0 trailers.
type callResponse struct {
	headers, trailers []header
	body              []byte
}

// hostHTTPCall is proxy_http_call(upstream, headers, body, trailers,
// timeout_ms, token_ptr). Checks follow Envoy's Context::httpCall: the
// cluster must exist and the headers must carry :path, :method and
// :authority, else BadArgument.
func hostHTTPCall(vm *VM, mod api.Module, s []uint64) {
	mem := mod.Memory()
	cluster, ok1 := mem.Read(u32(s[0]), u32(s[1]))
	hdrBytes, ok2 := mem.Read(u32(s[2]), u32(s[3]))
	body, ok3 := mem.Read(u32(s[4]), u32(s[5]))
	trl, ok4 := mem.Read(u32(s[6]), u32(s[7]))
	if !ok1 || !ok2 || !ok3 || !ok4 {
		ret(s, statusInvalidMemoryAccess)
		return
	}
	timeout := int32(u32(s[8]))
	if timeout < 0 {
		ret(s, statusBadArgument)
		return
	}
	addr, known := vm.h.opts.Clusters[string(cluster)]
	if !known {
		ret(s, statusBadArgument)
		return
	}
	hdrs, _ := decodePairs(hdrBytes, true)
	path, okP := getFirst(hdrs, ":path")
	method, okM := getFirst(hdrs, ":method")
	authority, okA := getFirst(hdrs, ":authority")
	if !okP || !okM || !okA {
		ret(s, statusBadArgument)
		return
	}
	trailers, _ := decodePairs(trl, true)
	vm.nextToken++
	token := vm.nextToken
	if st := vm.putU32(mod, u32(s[9]), token); st != statusOK {
		ret(s, st)
		return
	}
	req := outCall{
		vm: vm, token: token, addr: addr, method: method, path: path, authority: authority,
		headers: hdrs, trailers: trailers, body: bytes.Clone(body), timeout: time.Duration(timeout) * time.Millisecond,
	}
	go req.run()
	ret(s, statusOK)
}

type outCall struct {
	vm                      *VM
	token                   uint32
	addr                    string
	method, path, authority string
	headers, trailers       []header
	body                    []byte
	timeout                 time.Duration
}

// routerLocalReply is the answer Envoy's async client gives when its router
// ends the call without an upstream response: the router's local reply,
// status, content-length and content-type text/plain (Utility::sendLocalReply
// in source/common/http/utility.cc) with the router's body, delivered to the
// plugin as an ordinary response through AsyncRequestImpl's onSuccess.
func routerLocalReply(status int, body string) *callResponse {
	return &callResponse{
		headers: []header{{":status", strconv.Itoa(status)}, {"content-length", strconv.Itoa(len(body))}, {"content-type", "text/plain"}},
		body:    []byte(body),
	}
}

// Router bodies (envoyproxy/envoy source/common/router/router.cc, onResponseTimeout and onUpstreamReset;
// reset reasons from Http::Utility::resetReasonToString in source/common/http/utility.cc). The async client
// sets no retry policy, so the "retried and the latest" form never appears.
const (
	bodyTimeout     = "upstream request timeout"
	bodyResetPrefix = "upstream connect error or disconnect/reset before headers. reset reason: "
	// A failed TCP connect: reset reason RemoteConnectionFailure.
	bodyConnectFailure = bodyResetPrefix + "remote connection failure"
	// Up to Envoy 1.38 the router appends the connection's transport failure reason ("delayed connect
	// error: " and strerror(errno), "Connection refused" on Linux). Envoy 1.39 leaves it out of the body
	// (changelogs/1.39.0.yaml, area router; runtime guard hide_transport_failure_reason_in_response_body).
	bodyRefused133 = bodyConnectFailure + ", transport failure reason: delayed connect error: Connection refused"
	// The upstream accepted the connection and closed (or reset) it before sending response headers.
	bodyTermination = bodyResetPrefix + "connection termination"
)

func (c *outCall) run() {
	ctx := c.vm.callsCtx
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	resp := c.do(ctx)
	if c.vm.callsCtx.Err() != nil {
		return // VM closed: the root context's destructor cancels outstanding calls (Envoy's Context::~Context)
	}
	c.vm.post(func() { c.vm.deliverHTTP(c.token, resp) })
}

// do performs the call and maps what happened to what Envoy's async client reports:
//   - a response read to the end: that response (onSuccess);
//   - the call's timeout: the router's 504 "upstream request timeout" (onSuccess);
//   - no response headers because the connection failed or was closed or reset first: the router's 503
//     local reply (onSuccess), as router.cc's onUpstreamReset answers before any response started;
//   - a failure after the response headers arrived (the body was cut off): nil, which is Envoy's
//     onHttpCallFailure (reason Reset: the downstream side of the async stream is reset once the response
//     started, and the plugin sees 0 headers and status BrokenConnection).
func (c *outCall) do(ctx context.Context) *callResponse {
	var body io.Reader
	if len(c.body) > 0 {
		body = bytes.NewReader(c.body)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, "http://"+c.addr+c.path, body)
	if err != nil {
		return routerLocalReply(503, bodyConnectFailure)
	}
	req.Host = c.authority
	for _, h := range c.headers {
		if strings.HasPrefix(h.k, ":") || h.k == "content-length" || h.k == "host" {
			continue
		}
		req.Header.Add(h.k, h.v)
	}
	if len(c.trailers) > 0 {
		req.Trailer = http.Header{}
		for _, h := range c.trailers {
			req.Trailer.Add(h.k, h.v)
		}
	}
	resp, err := c.vm.h.client.Do(req)
	if err != nil {
		return c.beforeHeaders(ctx, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		// Cut off (or timed out) after the headers: once the response started the router can only reset
		// the stream, which the async client reports as a failure.
		return nil
	}
	out := &callResponse{body: b}
	out.headers = append(out.headers, header{":status", strconv.Itoa(resp.StatusCode)})
	out.headers = appendHTTPHeader(out.headers, resp.Header)
	if len(resp.Trailer) > 0 {
		out.trailers = appendHTTPHeader(nil, resp.Trailer)
	}
	return out
}

func (c *outCall) timedOut(ctx context.Context) bool {
	return c.timeout > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded)
}

// beforeHeaders answers a call that ended before any response header arrived.
func (c *outCall) beforeHeaders(ctx context.Context, err error) *callResponse {
	if c.timedOut(ctx) {
		return routerLocalReply(504, bodyTimeout)
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		if errors.Is(err, syscall.ECONNREFUSED) && c.vm.h.profile == Envoy133 {
			return routerLocalReply(503, bodyRefused133)
		}
		// Envoy139, or a connect failure other than a refusal (whose transport detail the stand-in does not
		// reproduce).
		return routerLocalReply(503, bodyConnectFailure)
	}
	return routerLocalReply(503, bodyTermination)
}

// appendHTTPHeader adds net/http headers lower-cased, in name order (Go's
// map loses the wire order).
func appendHTTPHeader(dst []header, h http.Header) []header {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		lk := strings.ToLower(k)
		for _, v := range h[k] {
			dst = append(dst, header{lk, v})
		}
	}
	return dst
}

// deliverHTTP calls proxy_on_http_call_response on the root context with
// the response readable for the duration of the call. cpp-host's
// proxy_http_call issues every call on contextOrEffectiveContext()->root_context()
// (src/exports.cc), so the call and its answer belong to the root context
// whichever stream was effective when it was made: the answer arrives even
// after that stream is gone, and only the root context's end (VM close)
// cancels it. A failed VM gets nothing (ContextBase::onHttpCallResponse
// checks isFailed).
func (vm *VM) deliverHTTP(token uint32, resp *callResponse) {
	if vm.closing || vm.failed.Load() {
		return
	}
	var nh, nb, nt uint64
	if resp != nil {
		nh, nb, nt = uint64(len(resp.headers)), uint64(len(resp.body)), uint64(len(resp.trailers))
	}
	vm.httpResp = resp
	_, _ = vm.call(vm.root, vm.fHTTPResp, 0, rootContextID, uint64(token), nh, nb, nt)
	vm.httpResp = nil
}
