package envoyhost

import (
	"bytes"
	"strings"
	"unicode"

	"github.com/tetratelabs/wazero/api"
)

// Header map types (proxy-wasm WasmHeaderMapType).
const (
	mapRequestHeaders           = 0
	mapRequestTrailers          = 1
	mapResponseHeaders          = 2
	mapResponseTrailers         = 3
	mapGrpcInitialMetadata      = 4
	mapGrpcTrailingMetadata     = 5
	mapHTTPCallResponseHeaders  = 6
	mapHTTPCallResponseTrailers = 7
)

// Buffer types (proxy-wasm WasmBufferType).
const (
	bufRequestBody         = 0
	bufResponseBody        = 1
	bufDownstreamData      = 2
	bufUpstreamData        = 3
	bufHTTPCallResponse    = 4
	bufGrpcReceive         = 5
	bufVMConfiguration     = 6
	bufPluginConfiguration = 7
	bufCallData            = 8
)

func ret(stack []uint64, st status) { stack[0] = uint64(st) }

// envFunctions is the env.proxy_* surface: every function
// tetratelabs/proxy-wasm-go-sdk v0.24.0 can import, plus the rest of what
// cpp-host registers for ABI 0.2.x (and the 0.1.0/0.2.1-only names, gated
// by checkImports).
func envFunctions() []hostFunc {
	return []hostFunc{
		fn("proxy_log", 3, hostLog),
		fn("proxy_get_log_level", 1, func(vm *VM, mod api.Module, s []uint64) {
			// The emulated Envoy logs everything: report trace.
			ret(s, vm.putU32(mod, u32(s[0]), uint32(LogTrace)))
		}),
		fn("proxy_get_current_time_nanoseconds", 1, func(vm *VM, mod api.Module, s []uint64) {
			ret(s, vm.putU64(mod, u32(s[0]), uint64(vm.h.now().UnixNano())))
		}),
		fn("proxy_set_tick_period_milliseconds", 1, func(vm *VM, mod api.Module, s []uint64) {
			vm.tickPeriod.Store(u32(s[0]))
			ret(s, statusOK)
		}),
		fn("proxy_get_property", 4, hostGetProperty),
		fn("proxy_set_property", 4, hostSetProperty),
		fn("proxy_send_local_response", 8, hostSendLocalResponse),
		fn("proxy_get_shared_data", 5, hostGetSharedData),
		fn("proxy_set_shared_data", 5, hostSetSharedData),
		fn("proxy_register_shared_queue", 3, hostRegisterQueue),
		fn("proxy_resolve_shared_queue", 5, hostResolveQueue),
		fn("proxy_dequeue_shared_queue", 3, hostDequeue),
		fn("proxy_enqueue_shared_queue", 3, hostEnqueue),
		fn("proxy_get_header_map_value", 5, hostGetHeaderMapValue),
		fn("proxy_add_header_map_value", 5, hostAddHeaderMapValue),
		fn("proxy_replace_header_map_value", 5, hostReplaceHeaderMapValue),
		fn("proxy_remove_header_map_value", 3, hostRemoveHeaderMapValue),
		fn("proxy_get_header_map_pairs", 3, hostGetHeaderMapPairs),
		fn("proxy_set_header_map_pairs", 3, hostSetHeaderMapPairs),
		fn("proxy_get_header_map_size", 2, hostGetHeaderMapSize),
		fn("proxy_get_buffer_bytes", 5, hostGetBufferBytes),
		fn("proxy_set_buffer_bytes", 5, hostSetBufferBytes),
		fn("proxy_get_buffer_status", 3, hostGetBufferStatus),
		fn("proxy_continue_stream", 1, func(vm *VM, mod api.Module, s []uint64) {
			ret(s, vm.continueStream(u32(s[0])))
		}),
		fn("proxy_close_stream", 1, func(vm *VM, mod api.Module, s []uint64) {
			ret(s, vm.closeStream(u32(s[0])))
		}),
		fn("proxy_continue_request", 0, func(vm *VM, mod api.Module, s []uint64) {
			ret(s, vm.continueStream(0))
		}),
		fn("proxy_continue_response", 0, func(vm *VM, mod api.Module, s []uint64) {
			ret(s, vm.continueStream(1))
		}),
		fn("proxy_clear_route_cache", 0, func(vm *VM, mod api.Module, s []uint64) { ret(s, statusOK) }),
		fn("proxy_get_configuration", 2, func(vm *VM, mod api.Module, s []uint64) {
			ret(s, vm.copyOut(mod, vm.cfg.Configuration, u32(s[0]), u32(s[1])))
		}),
		fn("proxy_http_call", 10, hostHTTPCall),
		fn("proxy_call_foreign_function", 6, func(vm *VM, mod api.Module, s []uint64) {
			// Envoy registers no foreign functions unless configured to.
			ret(s, statusNotFound)
		}),
		fn("proxy_set_effective_context", 1, func(vm *VM, mod api.Module, s []uint64) {
			c := vm.contexts[u32(s[0])]
			if c == nil {
				ret(s, statusBadArgument)
				return
			}
			vm.cur = c
			ret(s, statusOK)
		}),
		fn("proxy_done", 0, func(vm *VM, mod api.Module, s []uint64) { ret(s, statusOK) }),
		fn("proxy_define_metric", 4, hostDefineMetric),
		{module: "env", name: "proxy_increment_metric", params: []api.ValueType{i32, i64}, results: []api.ValueType{i32}, fn: hostIncrementMetric},
		{module: "env", name: "proxy_record_metric", params: []api.ValueType{i32, i64}, results: []api.ValueType{i32}, fn: hostRecordMetric},
		fn("proxy_get_metric", 2, hostGetMetric),
		fn("proxy_get_status", 3, func(vm *VM, mod api.Module, s []uint64) {
			// Only meaningful inside gRPC callbacks, which are not emulated.
			ret(s, statusUnimplemented)
		}),
		fn("proxy_grpc_call", 12, func(vm *VM, mod api.Module, s []uint64) {
			ret(s, vm.grpcDispatch(mod, u32(s[0]), u32(s[1])))
		}),
		fn("proxy_grpc_stream", 9, func(vm *VM, mod api.Module, s []uint64) {
			ret(s, vm.grpcDispatch(mod, u32(s[0]), u32(s[1])))
		}),
		// No gRPC call can exist, so every token is unknown: NotFound, as
		// Envoy answers for an unknown token.
		fn("proxy_grpc_cancel", 1, func(vm *VM, mod api.Module, s []uint64) { ret(s, statusNotFound) }),
		fn("proxy_grpc_close", 1, func(vm *VM, mod api.Module, s []uint64) { ret(s, statusNotFound) }),
		fn("proxy_grpc_send", 4, func(vm *VM, mod api.Module, s []uint64) { ret(s, statusNotFound) }),
	}
}

func u32(v uint64) uint32 { return uint32(v) }

func hostLog(vm *VM, mod api.Module, s []uint64) {
	level := u32(s[0])
	if level > uint32(LogCritical) {
		ret(s, statusBadArgument)
		return
	}
	msg, ok := mod.Memory().Read(u32(s[1]), u32(s[2]))
	if !ok {
		ret(s, statusInvalidMemoryAccess)
		return
	}
	m := string(msg)
	vm.h.addLog(vm.id, LogLevel(level), m)
	ret(s, statusOK)
}

// grpcDispatch mirrors Envoy's first checks for grpc_call/grpc_stream: a
// service that names no known cluster is a ParseFailure; a known one cannot
// be served because the emulator has no gRPC client.
func (vm *VM) grpcDispatch(mod api.Module, ptr, size uint32) status {
	b, ok := mod.Memory().Read(ptr, size)
	if !ok {
		return statusInvalidMemoryAccess
	}
	if _, known := vm.h.opts.Clusters[string(b)]; !known {
		return statusParseFailure
	}
	return statusUnimplemented
}

func hostGetProperty(vm *VM, mod api.Module, s []uint64) {
	path, ok := mod.Memory().Read(u32(s[0]), u32(s[1]))
	if !ok {
		ret(s, statusInvalidMemoryAccess)
		return
	}
	var st status
	vm.scratch, st = vm.property(vm.scratch[:0], path)
	if st != statusOK {
		ret(s, st)
		return
	}
	ret(s, vm.copyOut(mod, vm.scratch, u32(s[2]), u32(s[3])))
}

func hostSetProperty(vm *VM, mod api.Module, s []uint64) {
	mem := mod.Memory()
	path, ok1 := mem.Read(u32(s[0]), u32(s[1]))
	val, ok2 := mem.Read(u32(s[2]), u32(s[3]))
	if !ok1 || !ok2 {
		ret(s, statusInvalidMemoryAccess)
		return
	}
	st := vm.cur.s
	if st == nil {
		// Envoy keeps set properties in the stream's filter state; the root
		// context has none, so keep them on the VM.
		if vm.rootProps == nil {
			vm.rootProps = map[string][]byte{}
		}
		vm.rootProps[string(path)] = bytes.Clone(val)
	} else {
		if st.props == nil {
			st.props = map[string][]byte{}
		}
		st.props[string(path)] = bytes.Clone(val)
	}
	ret(s, statusOK)
}

func hostSendLocalResponse(vm *VM, mod api.Module, s []uint64) {
	mem := mod.Memory()
	details, ok1 := mem.Read(u32(s[1]), u32(s[2]))
	body, ok2 := mem.Read(u32(s[3]), u32(s[4]))
	hdrs, ok3 := mem.Read(u32(s[5]), u32(s[6]))
	if !ok1 || !ok2 || !ok3 {
		ret(s, statusInvalidMemoryAccess)
		return
	}
	st := vm.cur.s
	if st == nil || st.finished || st.local != nil {
		// Envoy only acts when the context has decoder callbacks (a stream),
		// and still answers Ok.
		ret(s, statusOK)
		return
	}
	pairs, _ := decodePairs(hdrs, true) // cpp-host turns a malformed buffer into no headers
	lr := &LocalReply{
		Status:     int(u32(s[0])),
		Headers:    fromHeaders(pairs),
		Body:       bytes.Clone(body),
		Details:    replaceSpaces(string(details)),
		GRPCStatus: int32(u32(s[7])),
	}
	if len(lr.Body) == 0 {
		lr.Body = nil
	}
	st.local = lr
	// Envoy sends the reply after the VM call returns.
	if !st.inCallback {
		vm.after(func() { st.checkTerminal() })
	}
	ret(s, statusOK)
}

// replaceSpaces is Envoy's StringUtil::replaceAllEmptySpace for
// response-code details.
func replaceSpaces(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return '_'
		}
		return r
	}, s)
}

func hostGetSharedData(vm *VM, mod api.Module, s []uint64) {
	vm.h.sharedGets.Add(1)
	key, ok := mod.Memory().Read(u32(s[0]), u32(s[1]))
	if !ok {
		ret(s, statusInvalidMemoryAccess)
		return
	}
	val, cas, found := vm.h.getShared(vm.cfg.VMID, string(key))
	if !found {
		ret(s, statusNotFound)
		return
	}
	if st := vm.copyOut(mod, val, u32(s[2]), u32(s[3])); st != statusOK {
		ret(s, st)
		return
	}
	ret(s, vm.putU32(mod, u32(s[4]), cas))
}

func hostSetSharedData(vm *VM, mod api.Module, s []uint64) {
	vm.h.sharedSets.Add(1)
	mem := mod.Memory()
	key, ok1 := mem.Read(u32(s[0]), u32(s[1]))
	val, ok2 := mem.Read(u32(s[2]), u32(s[3]))
	if !ok1 || !ok2 {
		ret(s, statusInvalidMemoryAccess)
		return
	}
	ret(s, vm.h.setShared(vm.cfg.VMID, string(key), bytes.Clone(val), u32(s[4])))
}

func hostRegisterQueue(vm *VM, mod api.Module, s []uint64) {
	name, ok := mod.Memory().Read(u32(s[0]), u32(s[1]))
	if !ok {
		ret(s, statusInvalidMemoryAccess)
		return
	}
	h := vm.h
	k := queueKey{vm.cfg.VMID, string(name)}
	h.mu.Lock()
	id, found := h.queueByName[k]
	if !found {
		h.nextQueueID++
		id = h.nextQueueID
		h.queueByName[k] = id
		h.queues[id] = &sharedQueue{id: id, vmID: k.vmID, name: k.name, owner: vm}
	} else if q := h.queues[id]; q.owner == nil || q.owner.Failed() {
		q.owner = vm
	}
	h.mu.Unlock()
	ret(s, vm.putU32(mod, u32(s[2]), id))
}

func hostResolveQueue(vm *VM, mod api.Module, s []uint64) {
	mem := mod.Memory()
	vmID, ok1 := mem.Read(u32(s[0]), u32(s[1]))
	name, ok2 := mem.Read(u32(s[2]), u32(s[3]))
	if !ok1 || !ok2 {
		ret(s, statusInvalidMemoryAccess)
		return
	}
	h := vm.h
	h.mu.Lock()
	id, found := h.queueByName[queueKey{string(vmID), string(name)}]
	h.mu.Unlock()
	if !found {
		ret(s, statusNotFound)
		return
	}
	ret(s, vm.putU32(mod, u32(s[4]), id))
}

func hostEnqueue(vm *VM, mod api.Module, s []uint64) {
	val, ok := mod.Memory().Read(u32(s[1]), u32(s[2]))
	if !ok {
		ret(s, statusInvalidMemoryAccess)
		return
	}
	h := vm.h
	id := u32(s[0])
	h.mu.Lock()
	q := h.queues[id]
	if q == nil {
		h.mu.Unlock()
		ret(s, statusNotFound)
		return
	}
	q.items = append(q.items, bytes.Clone(val))
	owner := q.owner
	h.mu.Unlock()
	if owner != nil {
		// Like cpp-host, the owner's root context hears about it on its own
		// worker: through that VM's loop, never synchronously.
		go owner.post(func() { owner.queueReady(id) })
	}
	ret(s, statusOK)
}

func hostDequeue(vm *VM, mod api.Module, s []uint64) {
	h := vm.h
	id := u32(s[0])
	h.mu.Lock()
	q := h.queues[id]
	if q == nil {
		h.mu.Unlock()
		ret(s, statusNotFound)
		return
	}
	if len(q.items) == 0 {
		h.mu.Unlock()
		ret(s, statusEmpty)
		return
	}
	item := q.items[0]
	q.items = q.items[1:]
	h.mu.Unlock()
	ret(s, vm.copyOut(mod, item, u32(s[1]), u32(s[2])))
}

// headerMap returns the map a header call addresses in the effective
// context, nil when Envoy has none at this point (then mutations and
// single-value reads are BadArgument). Request headers stop being
// reachable once the stream continued past them, as in Envoy's
// Context::decodeHeaders / continueStream; in proxy_on_log they are
// readable (not writable) again.
func (vm *VM) headerMap(typ uint32, write bool) *[]header {
	switch typ {
	case mapHTTPCallResponseHeaders, mapHTTPCallResponseTrailers:
		if write || vm.httpResp == nil {
			return nil
		}
		if typ == mapHTTPCallResponseHeaders {
			return &vm.httpResp.headers
		}
		if vm.httpResp.trailers == nil {
			return nil
		}
		return &vm.httpResp.trailers
	}
	st := vm.cur.s
	if st == nil {
		return nil
	}
	switch typ {
	case mapRequestHeaders:
		if st.reqHeadersLive || (st.logPhase && !write) {
			return &st.reqHeaders
		}
	case mapResponseHeaders:
		if st.respHeadersLive || (st.logPhase && !write) {
			return &st.respHeaders
		}
	case mapRequestTrailers:
		if st.reqTrailers != nil && (st.phase == phaseReqHeaders || st.phase == phaseReqBody) {
			return &st.reqTrailers
		}
	case mapResponseTrailers:
		if st.respTrailers != nil && (st.phase == phaseRespHeaders || st.phase == phaseRespBody || (st.logPhase && !write)) {
			return &st.respTrailers
		}
	}
	return nil
}

func hostGetHeaderMapValue(vm *VM, mod api.Module, s []uint64) {
	key, ok := mod.Memory().Read(u32(s[1]), u32(s[2]))
	if !ok {
		ret(s, statusInvalidMemoryAccess)
		return
	}
	m := vm.headerMap(u32(s[0]), false)
	if m == nil {
		if vm.cur.s != nil && vm.cur.s.logPhase {
			ret(s, statusNotFound)
			return
		}
		ret(s, statusBadArgument)
		return
	}
	for _, h := range *m {
		if eqLower(key, h.k) {
			// Only the first value, like Envoy (a known ABI limitation).
			ret(s, vm.copyOutString(mod, h.v, u32(s[3]), u32(s[4])))
			return
		}
	}
	ret(s, statusNotFound)
}

func readKV(mod api.Module, s []uint64) (k, v []byte, ok bool) {
	mem := mod.Memory()
	k, ok1 := mem.Read(u32(s[1]), u32(s[2]))
	v, ok2 := mem.Read(u32(s[3]), u32(s[4]))
	return k, v, ok1 && ok2
}

func hostAddHeaderMapValue(vm *VM, mod api.Module, s []uint64) {
	k, v, ok := readKV(mod, s)
	if !ok {
		ret(s, statusInvalidMemoryAccess)
		return
	}
	m := vm.headerMap(u32(s[0]), true)
	if m == nil {
		ret(s, statusBadArgument)
		return
	}
	*m = append(*m, header{lower(string(k)), string(v)})
	ret(s, statusOK)
}

func hostReplaceHeaderMapValue(vm *VM, mod api.Module, s []uint64) {
	k, v, ok := readKV(mod, s)
	if !ok {
		ret(s, statusInvalidMemoryAccess)
		return
	}
	m := vm.headerMap(u32(s[0]), true)
	if m == nil {
		ret(s, statusBadArgument)
		return
	}
	// Envoy's setCopy: replace the first entry with that name and drop the
	// others, or append when there is none.
	hs := *m
	first := -1
	out := hs[:0]
	for _, h := range hs {
		if eqLower(k, h.k) {
			if first >= 0 {
				continue
			}
			first = len(out)
		}
		out = append(out, h)
	}
	if first >= 0 {
		out[first].v = string(v)
	} else {
		out = append(out, header{lower(string(k)), string(v)})
	}
	*m = out
	ret(s, statusOK)
}

func hostRemoveHeaderMapValue(vm *VM, mod api.Module, s []uint64) {
	k, ok := mod.Memory().Read(u32(s[1]), u32(s[2]))
	if !ok {
		ret(s, statusInvalidMemoryAccess)
		return
	}
	m := vm.headerMap(u32(s[0]), true)
	if m == nil {
		ret(s, statusBadArgument)
		return
	}
	out := (*m)[:0]
	for _, h := range *m {
		if !eqLower(k, h.k) {
			out = append(out, h)
		}
	}
	*m = out
	ret(s, statusOK)
}

func hostGetHeaderMapPairs(vm *VM, mod api.Module, s []uint64) {
	m := vm.headerMap(u32(s[0]), false)
	var hs []header
	if m != nil {
		hs = *m
	}
	// Envoy encodes a missing map as an empty pairs buffer (count 0).
	vm.scratch = appendPairs(vm.scratch[:0], hs)
	ret(s, vm.copyOut(mod, vm.scratch, u32(s[1]), u32(s[2])))
}

func hostSetHeaderMapPairs(vm *VM, mod api.Module, s []uint64) {
	b, ok := mod.Memory().Read(u32(s[1]), u32(s[2]))
	if !ok {
		ret(s, statusInvalidMemoryAccess)
		return
	}
	m := vm.headerMap(u32(s[0]), true)
	if m == nil {
		ret(s, statusBadArgument)
		return
	}
	pairs, _ := decodePairs(b, true)
	*m = pairs
	ret(s, statusOK)
}

func hostGetHeaderMapSize(vm *VM, mod api.Module, s []uint64) {
	m := vm.headerMap(u32(s[0]), true)
	if m == nil {
		ret(s, statusBadArgument)
		return
	}
	ret(s, vm.putU32(mod, u32(s[1]), headerBytes(*m)))
}

// buffer returns the buffer a buffer call addresses; found is false when
// Envoy has no buffer of that type here (NotFound). Stream bodies always
// exist in a stream context but are empty outside their callbacks.
func (vm *VM) buffer(typ uint32) (b *[]byte, writable, found bool) {
	switch typ {
	case bufVMConfiguration:
		return &vm.vmConfig, false, true
	case bufPluginConfiguration:
		if vm.inConfigure {
			return &vm.pluginConfig, false, true
		}
		return nil, false, false
	case bufHTTPCallResponse:
		if vm.httpResp == nil {
			return nil, false, false
		}
		return &vm.httpResp.body, false, true
	case bufRequestBody, bufResponseBody:
		st := vm.cur.s
		if st == nil {
			return nil, false, false
		}
		if typ == bufRequestBody && st.reqBodyLive {
			return &st.reqBody, true, true
		}
		if typ == bufResponseBody && st.respBodyLive {
			return &st.respBody, true, true
		}
		return &vm.emptyBuf, false, true
	}
	return nil, false, false
}

func hostGetBufferBytes(vm *VM, mod api.Module, s []uint64) {
	b, _, found := vm.buffer(u32(s[0]))
	if !found {
		ret(s, statusNotFound)
		return
	}
	start, length := uint64(u32(s[1])), uint64(u32(s[2]))
	size := uint64(len(*b))
	if start > size {
		ret(s, statusBadArgument)
		return
	}
	if start+length > size {
		length = size - start
	}
	ret(s, vm.copyOut(mod, (*b)[start:start+length], u32(s[3]), u32(s[4])))
}

// hostSetBufferBytes follows cpp-host's BufferBase/Envoy Buffer::copyFrom:
// start 0 replaces the first length bytes (0 = prepend), start at or past
// the end appends, anything else is BadArgument.
func hostSetBufferBytes(vm *VM, mod api.Module, s []uint64) {
	data, ok := mod.Memory().Read(u32(s[3]), u32(s[4]))
	if !ok {
		ret(s, statusInvalidMemoryAccess)
		return
	}
	b, writable, found := vm.buffer(u32(s[0]))
	if !found {
		ret(s, statusNotFound)
		return
	}
	if !writable {
		ret(s, statusBadArgument)
		return
	}
	start, length := int(u32(s[1])), int(u32(s[2]))
	cur := *b
	switch {
	case start == 0:
		if length > len(cur) {
			length = len(cur)
		}
		nb := make([]byte, 0, len(data)+len(cur)-length)
		nb = append(nb, data...)
		nb = append(nb, cur[length:]...)
		*b = nb
	case start >= len(cur):
		*b = append(cur, data...)
	default:
		ret(s, statusBadArgument)
		return
	}
	ret(s, statusOK)
}

func hostGetBufferStatus(vm *VM, mod api.Module, s []uint64) {
	b, _, found := vm.buffer(u32(s[0]))
	if !found {
		ret(s, statusNotFound)
		return
	}
	if st := vm.putU32(mod, u32(s[1]), uint32(len(*b))); st != statusOK {
		ret(s, st)
		return
	}
	ret(s, vm.putU32(mod, u32(s[2]), 0))
}

// Metric ids carry the type in their low two bits, as in Envoy.
const metricTypeMask = 3

func hostDefineMetric(vm *VM, mod api.Module, s []uint64) {
	kind := u32(s[0])
	if kind > 2 {
		ret(s, statusBadArgument)
		return
	}
	name, ok := mod.Memory().Read(u32(s[1]), u32(s[2]))
	if !ok {
		ret(s, statusInvalidMemoryAccess)
		return
	}
	m, sameKind := vm.h.defineMetric(kind, string(name))
	if !sameKind {
		ret(s, statusBadArgument)
		return
	}
	vm.nextMetric++
	id := vm.nextMetric<<2 | kind
	vm.metrics[id] = m
	ret(s, vm.putU32(mod, u32(s[3]), id))
}

func hostIncrementMetric(vm *VM, mod api.Module, s []uint64) {
	id := u32(s[0])
	offset := int64(s[1])
	m := vm.metrics[id]
	switch id & metricTypeMask {
	case 0:
		if m == nil {
			ret(s, statusNotFound)
			return
		}
		if offset <= 0 {
			// Envoy counters only go up.
			ret(s, statusBadArgument)
			return
		}
		m.value.Add(offset)
	case 1:
		if m == nil {
			ret(s, statusNotFound)
			return
		}
		m.value.Add(offset)
	default:
		ret(s, statusBadArgument)
		return
	}
	ret(s, statusOK)
}

func hostRecordMetric(vm *VM, mod api.Module, s []uint64) {
	id := u32(s[0])
	m := vm.metrics[id]
	if m == nil {
		ret(s, statusNotFound)
		return
	}
	switch id & metricTypeMask {
	case 0:
		m.value.Add(int64(s[1]))
	case 1:
		m.value.Store(int64(s[1]))
	default:
		m.value.Add(1) // histograms: count samples
	}
	ret(s, statusOK)
}

func hostGetMetric(vm *VM, mod api.Module, s []uint64) {
	id := u32(s[0])
	if id&metricTypeMask == 2 {
		ret(s, statusBadArgument)
		return
	}
	m := vm.metrics[id]
	if m == nil {
		ret(s, statusNotFound)
		return
	}
	ret(s, vm.putU64(mod, u32(s[1]), uint64(m.value.Load())))
}
