package envoyhost

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// callResponse is what proxy_on_http_call_response can read: map types 6/7
// and buffer type 4. nil means Envoy's onFailure (reset, refused).
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
	if vm.cur != nil {
		vm.callOwner[token] = vm.cur.id
	}
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

// timeoutResponse is what Envoy's async client answers when the call's
// timeout fires: an ordinary 504, not a failure.
func timeoutResponse() *callResponse {
	return &callResponse{
		headers: []header{{":status", "504"}, {"content-length", "24"}, {"content-type", "text/plain"}},
		body:    []byte("upstream request timeout"),
	}
}

func (c *outCall) run() {
	ctx := c.vm.callsCtx
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	resp := c.do(ctx)
	if resp == nil && c.timeout > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		resp = timeoutResponse()
	}
	if c.vm.callsCtx.Err() != nil {
		return // VM closed: Envoy cancels outstanding calls
	}
	c.vm.post(func() { c.vm.deliverHTTP(c.token, resp) })
}

func (c *outCall) do(ctx context.Context) *callResponse {
	var body io.Reader
	if len(c.body) > 0 {
		body = bytes.NewReader(c.body)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, "http://"+c.addr+c.path, body)
	if err != nil {
		return nil
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
		return nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
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
// the response readable for the duration of the call.
func (vm *VM) deliverHTTP(token uint32, resp *callResponse) {
	owner, owned := vm.callOwner[token]
	delete(vm.callOwner, token)
	if vm.closing || vm.failed.Load() {
		return
	}
	if owned && owner != rootContextID && vm.contexts[owner] == nil {
		// Envoy cancels the http calls a stream context made when that stream is destroyed: the answer
		// never reaches the plugin. Calls made with the root context effective outlive any stream.
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
