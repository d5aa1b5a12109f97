package envoyhost

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"strconv"
	"sync/atomic"
)

// Metadata is a filter_metadata map: namespace -> JSON-like value (string,
// float64, bool, nil, []any, map[string]any).
type Metadata map[string]any

// VirtualHost is the matched virtual host.
type VirtualHost struct {
	Name     string
	Metadata Metadata
}

// Route is the matched route.
type Route struct {
	Name        string
	Metadata    Metadata
	VirtualHost *VirtualHost
	Cluster     string
}

// Request is one downstream HTTP request.
type Request struct {
	Headers       [][2]string // pseudo headers (:method :path :authority :scheme) and headers, in order; repeats allowed; names lower-cased by the host like Envoy's codec
	Body          []byte
	Route         *Route                    // matched route; nil = no route matched
	SourceAddress string                    // "ip:port", default "127.0.0.1:50000"
	Upstream      func(u Upstream) Response // what the upstream answers; nil = 200 with empty body
	// SeparateRepeatedHeaders delivers every header line as its own entry, as hosts other than Envoy do.
	// By default repeated inline headers (authorization among them) reach the plugin joined with ',' the
	// way Envoy's header map stores them (see inlineRequestHeaders).
	SeparateRepeatedHeaders bool
}

// Upstream is the request as the filter left it when it reached the
// upstream.
type Upstream struct {
	Headers [][2]string
	Body    []byte
}

// Response is an HTTP response.
type Response struct {
	Status  int
	Headers [][2]string
	Body    []byte
}

// LocalReply is what the plugin passed to proxy_send_local_response (headers
// lower-cased, details with whitespace replaced by '_' as Envoy does).
type LocalReply struct {
	Status     int
	Headers    [][2]string
	Body       []byte
	Details    string
	GRPCStatus int32
}

// Result is how a stream ended.
type Result struct {
	LocalReply  *LocalReply // non-nil when the plugin answered with proxy_send_local_response (or the VM failed: 503, empty body, Details "wasm_fail_stream")
	Upstream    *Upstream   // non-nil when the request reached the upstream
	Response    Response    // what the client got
	Trapped     error       // the trap, if a callback trapped during this stream
	Reset       bool        // the plugin called proxy_close_stream (details wasm_close_stream); Response is empty
	ClientReset bool        // the client went away (Stream.ResetByClient) before the stream ended
}

type phase int32

const (
	phaseReqHeaders phase = iota
	phaseReqBody
	phaseUpstream
	phaseRespHeaders
	phaseRespBody
	phaseLog
	phaseDone
)

var phaseNames = [...]string{"request headers", "request body", "upstream", "response headers", "response body", "log", "done"}

func (p phase) String() string { return phaseNames[p] }

// Stream is one in-flight HTTP stream started with VM.Start.
type Stream struct {
	vm     *VM
	s      *stream
	done   chan struct{}
	res    Result
	err    error
	phase  atomic.Int32
	paused atomic.Bool
}

// stream is the loop-side state of a Stream; only the VM goroutine touches
// it.
type stream struct {
	vm     *VM
	hc     *hctx
	handle *Stream
	req    Request

	reqHeaders, respHeaders   []header
	reqTrailers, respTrailers []header
	reqBody, respBody         []byte

	phase      phase
	paused     bool
	inCallback bool
	resumeFlag [2]bool

	reqHeadersLive, reqBodyLive, respHeadersLive, respBodyLive, logPhase bool

	local       *LocalReply
	reset       bool
	clientReset bool
	upstream    *Upstream
	response    Response
	trapped     error
	finished    bool

	props     map[string][]byte
	requestID string
}

// Do runs one whole HTTP stream through the VM and returns when it ends.
func (vm *VM) Do(ctx context.Context, req Request) (Result, error) {
	return vm.Start(ctx, req).Wait(ctx)
}

// Start begins a stream; several may be in flight in one VM.
func (vm *VM) Start(ctx context.Context, req Request) *Stream {
	h := &Stream{vm: vm, done: make(chan struct{})}
	s := &stream{vm: vm, handle: h, req: req}
	h.s = s
	s.reqHeaders = toHeaders(req.Headers)
	if !req.SeparateRepeatedHeaders {
		s.reqHeaders = joinInline(s.reqHeaders)
	}
	if len(req.Body) > 0 {
		s.reqBody = bytes.Clone(req.Body)
	}
	if !vm.post(s.begin) {
		h.err = ErrVMClosed
		close(h.done)
	}
	return h
}

// ResetByClient simulates the downstream going away before the stream ends, as on a client disconnect: the
// stream is finished at once (proxy_on_log, proxy_on_done, proxy_on_delete). Http calls are not cancelled:
// they belong to the root context in Envoy, and their answers still reach proxy_on_http_call_response.
// Result.ClientReset is set. It is a no-op on a finished stream.
func (st *Stream) ResetByClient() {
	st.vm.post(func() {
		if st.s.finished {
			return
		}
		st.s.clientReset = true
		st.s.finish()
	})
}

// Wait returns the stream's result. If ctx ends first, the error wraps
// ErrStreamHung and names the phase the stream is stuck in.
func (st *Stream) Wait(ctx context.Context) (Result, error) {
	select {
	case <-st.done:
		return st.res, st.err
	case <-ctx.Done():
	}
	select {
	case <-st.done:
		return st.res, st.err
	default:
	}
	p := phase(st.phase.Load())
	if st.paused.Load() {
		return Result{}, fmt.Errorf("%w (paused in %s: %v)", ErrStreamHung, p, ctx.Err())
	}
	return Result{}, fmt.Errorf("%w (still in %s: %v)", ErrStreamHung, p, ctx.Err())
}

func (s *stream) begin() {
	vm := s.vm
	if vm.closing {
		s.abandon(ErrVMClosed)
		return
	}
	vm.streams[s] = struct{}{}
	if vm.failed.Load() {
		s.failWith(nil)
		return
	}
	id := vm.nextCtxID
	vm.nextCtxID++
	s.hc = &hctx{id: id, s: s}
	vm.contexts[id] = s.hc
	if _, err := vm.call(s.hc, vm.fCreate, 0, uint64(id), rootContextID); err != nil {
		return // fail() answers the stream after this call
	}
	s.setPhase(phaseReqHeaders)
	s.advance()
}

func (s *stream) setPhase(p phase) {
	s.phase = p
	s.handle.phase.Store(int32(p))
}

func (s *stream) setPaused(p bool) {
	s.paused = p
	s.handle.paused.Store(p)
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// advance runs callbacks until the stream pauses, waits for the upstream or
// ends.
func (s *stream) advance() {
	vm := s.vm
	for !s.finished && !s.paused {
		if vm.failed.Load() {
			return // the deferred failWith ends the stream
		}
		var act uint64
		var ok bool
		switch s.phase {
		case phaseReqHeaders:
			s.reqHeadersLive = true
			act, ok = s.callback(vm.fReqHeaders, uint64(len(s.reqHeaders)), b2u(len(s.reqBody) == 0))
		case phaseReqBody:
			if len(s.reqBody) == 0 {
				s.leavePhase()
				continue
			}
			s.reqBodyLive = true
			act, ok = s.callback(vm.fReqBody, uint64(len(s.reqBody)), 1)
		case phaseUpstream:
			s.dispatchUpstream()
			return
		case phaseRespHeaders:
			s.respHeadersLive = true
			act, ok = s.callback(vm.fRespHeaders, uint64(len(s.respHeaders)), b2u(len(s.respBody) == 0))
		case phaseRespBody:
			if len(s.respBody) == 0 {
				s.leavePhase()
				continue
			}
			s.respBodyLive = true
			act, ok = s.callback(vm.fRespBody, uint64(len(s.respBody)), 1)
		case phaseLog:
			s.finish()
			return
		default:
			return
		}
		if !ok || s.checkTerminal() {
			return
		}
		dir := 0
		if s.phase >= phaseRespHeaders {
			dir = 1
		}
		if act != 0 && !s.resumeFlag[dir] {
			s.setPaused(true)
			return
		}
		s.leavePhase()
	}
}

// callback calls a per-stream export with this stream as effective context.
func (s *stream) callback(g guestFn, args ...uint64) (uint64, bool) {
	s.inCallback = true
	s.resumeFlag = [2]bool{}
	var st [3]uint64
	st[0] = uint64(s.hc.id)
	n := copy(st[1:], args)
	r, err := s.vm.call(s.hc, g, 0, st[:1+n]...)
	s.inCallback = false
	return r, err == nil
}

// leavePhase moves past the current phase; once continued, Envoy no longer
// exposes that phase's header map or body to the plugin.
func (s *stream) leavePhase() {
	switch s.phase {
	case phaseReqHeaders:
		s.reqHeadersLive = false
		s.setPhase(phaseReqBody)
	case phaseReqBody:
		s.reqHeadersLive, s.reqBodyLive = false, false
		s.setPhase(phaseUpstream)
	case phaseRespHeaders:
		s.respHeadersLive = false
		s.setPhase(phaseRespBody)
	case phaseRespBody:
		s.respHeadersLive, s.respBodyLive = false, false
		s.response = Response{Status: statusOf(s.respHeaders), Body: s.respBody}
		for _, h := range s.respHeaders {
			if h.k != ":status" {
				s.response.Headers = append(s.response.Headers, [2]string{h.k, h.v})
			}
		}
		s.setPhase(phaseLog)
	}
}

func statusOf(hs []header) int {
	v, _ := getFirst(hs, ":status")
	n, _ := strconv.Atoi(v)
	return n
}

// resume is proxy_continue_stream arriving while the stream is paused.
func (s *stream) resume(typ uint32) {
	if s.finished || !s.paused {
		return
	}
	dir := uint32(0)
	if s.phase >= phaseRespHeaders {
		dir = 1
	}
	if dir != typ {
		return // continuing the other direction does not unblock this one
	}
	s.setPaused(false)
	s.leavePhase()
	s.advance()
}

// checkTerminal ends the stream if the plugin sent a local reply or closed
// it; it reports whether the stream is over.
func (s *stream) checkTerminal() bool {
	if s.finished {
		return true
	}
	switch {
	case s.local != nil:
		lr := s.local
		s.response = Response{Status: lr.Status, Headers: append([][2]string(nil), lr.Headers...), Body: lr.Body}
		// Envoy's local reply carries the body's length and, for a
		// non-empty body, text/plain unless the plugin set a type.
		if len(lr.Body) > 0 {
			s.response.Headers = append(s.response.Headers, [2]string{"content-length", strconv.Itoa(len(lr.Body))})
			if _, ok := getFirst(toHeaders(lr.Headers), "content-type"); !ok {
				s.response.Headers = append(s.response.Headers, [2]string{"content-type", "text/plain"})
			}
		}
		s.respHeaders = append([]header{{":status", strconv.Itoa(lr.Status)}}, toHeaders(s.response.Headers)...)
		s.finish()
		return true
	case s.reset:
		s.response = Response{}
		s.finish()
		return true
	}
	return false
}

// dispatchUpstream hands the request, as the filter left it, to the
// upstream on another goroutine; the answer comes back through the loop.
func (s *stream) dispatchUpstream() {
	vm := s.vm
	u := &Upstream{Headers: fromHeaders(s.reqHeaders)}
	if len(s.reqBody) > 0 {
		u.Body = bytes.Clone(s.reqBody)
	}
	s.upstream = u
	up := s.req.Upstream
	arg := Upstream{Headers: append([][2]string(nil), u.Headers...), Body: bytes.Clone(u.Body)}
	if up == nil {
		// The default upstream answers at once: no goroutine (none to measure in benchmarks). This runs on
		// the loop, so the answer is queued as an after-call action: posting to the loop's own task channel
		// from the loop would block once the channel is full (many streams resumed in one drain).
		vm.after(func() { s.onUpstream(Response{Status: 200}) })
		return
	}
	go func() {
		resp := up(arg)
		vm.post(func() { s.onUpstream(resp) })
	}()
}

func (s *stream) onUpstream(resp Response) {
	if s.finished {
		return
	}
	if resp.Status == 0 {
		resp.Status = 200
	}
	s.respHeaders = append([]header{{":status", strconv.Itoa(resp.Status)}}, toHeaders(resp.Headers)...)
	if len(resp.Body) > 0 {
		s.respBody = bytes.Clone(resp.Body)
	}
	s.setPhase(phaseRespHeaders)
	s.advance()
}

// finish runs proxy_on_log (maps readable), proxy_on_done and
// proxy_on_delete, unless the VM failed, and publishes the result.
func (s *stream) finish() {
	if s.finished {
		return
	}
	s.finished = true
	s.setPaused(false)
	vm := s.vm
	if s.hc != nil && !vm.failed.Load() {
		s.setPhase(phaseLog)
		s.reqHeadersLive, s.reqBodyLive, s.respHeadersLive, s.respBodyLive = false, false, false, false
		s.logPhase = true
		_, err := vm.call(s.hc, vm.fLog, 0, uint64(s.hc.id))
		s.logPhase = false
		if err == nil {
			_, err = vm.call(s.hc, vm.fDone, 1, uint64(s.hc.id))
		}
		if err == nil {
			_, err = vm.call(s.hc, vm.fDelete, 0, uint64(s.hc.id))
		}
		if err != nil {
			s.trapped = err
		}
	}
	s.publish(nil)
}

func (s *stream) publish(err error) {
	vm := s.vm
	if s.hc != nil {
		delete(vm.contexts, s.hc.id)
	}
	delete(vm.streams, s)
	s.setPhase(phaseDone)
	s.handle.res = Result{LocalReply: s.local, Upstream: s.upstream, Response: s.response, Trapped: s.trapped, Reset: s.reset, ClientReset: s.clientReset}
	s.handle.err = err
	close(s.handle.done)
}

// failWith answers the stream the way Envoy does once the VM failed:
// 503, empty body, details wasm_fail_stream, no more guest calls.
func (s *stream) failWith(trap error) {
	if s.finished {
		return
	}
	s.finished = true
	if trap != nil {
		s.trapped = trap
	}
	s.local = &LocalReply{Status: 503, Details: "wasm_fail_stream", GRPCStatus: 14}
	s.response = Response{Status: 503}
	s.publish(nil)
}

// abandon ends a stream without a result (VM closed).
func (s *stream) abandon(err error) {
	if s.finished {
		return
	}
	s.finished = true
	s.publish(err)
}

// newUUID is a random (version 4) UUID, made only when a plugin reads request.id.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, digits[c>>4], digits[c&0xF])
	}
	return string(out)
}
