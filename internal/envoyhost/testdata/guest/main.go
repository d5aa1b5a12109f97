//go:build wasip1

// Command guest is the envoyhost test plugin: raw proxy-wasm ABI imports and
// exports, no SDK. Each request carries one or more "x-op" headers; the
// plugin runs them in order and reports results through local replies
// (header x-status = the host status of the last host call) or headers.
package main

import (
	"encoding/binary"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

func main() {}

//go:wasmimport env proxy_log
func proxyLog(level uint32, p unsafe.Pointer, n uint32) uint32

//go:wasmimport env proxy_get_property
func proxyGetProperty(p unsafe.Pointer, n uint32, retPtr, retSize unsafe.Pointer) uint32

//go:wasmimport env proxy_set_property
func proxySetProperty(p unsafe.Pointer, n uint32, v unsafe.Pointer, vn uint32) uint32

//go:wasmimport env proxy_send_local_response
func proxySendLocalResponse(status uint32, dp unsafe.Pointer, dn uint32, bp unsafe.Pointer, bn uint32, hp unsafe.Pointer, hn uint32, grpc int32) uint32

//go:wasmimport env proxy_get_shared_data
func proxyGetSharedData(kp unsafe.Pointer, kn uint32, retPtr, retSize, retCas unsafe.Pointer) uint32

//go:wasmimport env proxy_set_shared_data
func proxySetSharedData(kp unsafe.Pointer, kn uint32, vp unsafe.Pointer, vn uint32, cas uint32) uint32

//go:wasmimport env proxy_register_shared_queue
func proxyRegisterSharedQueue(np unsafe.Pointer, nn uint32, retID unsafe.Pointer) uint32

//go:wasmimport env proxy_resolve_shared_queue
func proxyResolveSharedQueue(vp unsafe.Pointer, vn uint32, np unsafe.Pointer, nn uint32, retID unsafe.Pointer) uint32

//go:wasmimport env proxy_enqueue_shared_queue
func proxyEnqueueSharedQueue(id uint32, vp unsafe.Pointer, vn uint32) uint32

//go:wasmimport env proxy_dequeue_shared_queue
func proxyDequeueSharedQueue(id uint32, retPtr, retSize unsafe.Pointer) uint32

//go:wasmimport env proxy_get_header_map_value
func proxyGetHeaderMapValue(typ uint32, kp unsafe.Pointer, kn uint32, retPtr, retSize unsafe.Pointer) uint32

//go:wasmimport env proxy_add_header_map_value
func proxyAddHeaderMapValue(typ uint32, kp unsafe.Pointer, kn uint32, vp unsafe.Pointer, vn uint32) uint32

//go:wasmimport env proxy_replace_header_map_value
func proxyReplaceHeaderMapValue(typ uint32, kp unsafe.Pointer, kn uint32, vp unsafe.Pointer, vn uint32) uint32

//go:wasmimport env proxy_remove_header_map_value
func proxyRemoveHeaderMapValue(typ uint32, kp unsafe.Pointer, kn uint32) uint32

//go:wasmimport env proxy_get_header_map_pairs
func proxyGetHeaderMapPairs(typ uint32, retPtr, retSize unsafe.Pointer) uint32

//go:wasmimport env proxy_set_header_map_pairs
func proxySetHeaderMapPairs(typ uint32, p unsafe.Pointer, n uint32) uint32

//go:wasmimport env proxy_get_buffer_bytes
func proxyGetBufferBytes(typ, start, max uint32, retPtr, retSize unsafe.Pointer) uint32

//go:wasmimport env proxy_set_buffer_bytes
func proxySetBufferBytes(typ, start, max uint32, p unsafe.Pointer, n uint32) uint32

//go:wasmimport env proxy_continue_stream
func proxyContinueStream(typ uint32) uint32

//go:wasmimport env proxy_close_stream
func proxyCloseStream(typ uint32) uint32

//go:wasmimport env proxy_http_call
func proxyHTTPCall(up unsafe.Pointer, un uint32, hp unsafe.Pointer, hn uint32, bp unsafe.Pointer, bn uint32, tp unsafe.Pointer, tn uint32, timeout uint32, token unsafe.Pointer) uint32

//go:wasmimport env proxy_set_tick_period_milliseconds
func proxySetTickPeriod(ms uint32) uint32

//go:wasmimport env proxy_set_effective_context
func proxySetEffectiveContext(id uint32) uint32

//go:wasmimport env proxy_define_metric
func proxyDefineMetric(typ uint32, np unsafe.Pointer, nn uint32, retID unsafe.Pointer) uint32

//go:wasmimport env proxy_increment_metric
func proxyIncrementMetric(id uint32, offset int64) uint32

//go:wasmimport env proxy_get_metric
func proxyGetMetric(id uint32, ret unsafe.Pointer) uint32

//go:wasmimport env proxy_get_current_time_nanoseconds
func proxyGetCurrentTime(ret unsafe.Pointer) uint32

// Out-parameters live in globals (heap, never on a moving goroutine stack).
var (
	retPtr, retSize, retU32 uint32
	retU64                  uint64
	allocs                  [][]byte // keeps host-requested buffers alive until read
)

//go:wasmexport proxy_abi_version_0_2_0
func abiVersion() {}

// WASI functions the restriction tests call directly, so that a test decides
// which host call happens inside _initialize or the allocator.
//
//go:wasmimport wasi_snapshot_preview1 sched_yield
func wasiSchedYield() uint32

//go:wasmimport wasi_snapshot_preview1 random_get
func wasiRandomGet(p unsafe.Pointer, n uint32) uint32

//go:wasmimport wasi_snapshot_preview1 clock_time_get
func wasiClockTimeGet(id uint32, precision uint64, ret unsafe.Pointer) uint32

//go:wasmimport wasi_snapshot_preview1 poll_oneoff
func wasiPollOneoff(in, out unsafe.Pointer, n uint32, nevents unsafe.Pointer) uint32

var wasiScratch [64]byte

// callWASI makes one WASI call by name (see the restriction tests).
func callWASI(name string) {
	switch name {
	case "sched_yield":
		wasiSchedYield()
	case "random_get":
		wasiRandomGet(unsafe.Pointer(&wasiScratch[0]), 8)
	case "clock_time_get":
		wasiClockTimeGet(1, 1, unsafe.Pointer(&wasiScratch[0]))
	case "poll_oneoff":
		// No subscriptions: only the call itself matters.
		wasiPollOneoff(unsafe.Pointer(&wasiScratch[0]), unsafe.Pointer(&wasiScratch[16]), 0, unsafe.Pointer(&wasiScratch[48]))
	}
}

// mallocCall is a WASI function the next proxy_on_memory_allocate calls
// (op "malloc-call").
var mallocCall string

// The test passes ENVOYHOST_INIT_CALL through the VM's environment to make
// one WASI call during _initialize.
func init() {
	if fn := os.Getenv("ENVOYHOST_INIT_CALL"); fn != "" {
		callWASI(fn)
	}
}

//go:wasmexport proxy_on_memory_allocate
func onMemoryAllocate(size uint32) uint32 {
	if fn := mallocCall; fn != "" {
		mallocCall = ""
		callWASI(fn)
	}
	b := make([]byte, size)
	allocs = append(allocs, b)
	return uint32(uintptr(unsafe.Pointer(&b[0])))
}

// taken copies what the host returned and releases the allocations.
func taken() []byte {
	var out []byte
	if retSize > 0 {
		out = make([]byte, retSize)
		copy(out, unsafe.Slice((*byte)(unsafe.Add(nil, uintptr(retPtr))), retSize))
	}
	allocs = allocs[:0]
	return out
}

func ptr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

func sptr(s string) (unsafe.Pointer, uint32) {
	if s == "" {
		return nil, 0
	}
	return unsafe.Pointer(unsafe.StringData(s)), uint32(len(s))
}

func logf(level uint32, msg string) {
	p, n := sptr(msg)
	proxyLog(level, p, n)
}

func encodePairs(hs [][2]string) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(hs)))
	for _, h := range hs {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(h[0])))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(h[1])))
	}
	for _, h := range hs {
		b = append(b, h[0]...)
		b = append(b, 0)
		b = append(b, h[1]...)
		b = append(b, 0)
	}
	return b
}

func decodePairs(b []byte) [][2]string {
	if len(b) < 4 {
		return nil
	}
	n := int(binary.LittleEndian.Uint32(b))
	data := b[4+8*n:]
	var out [][2]string
	for i := 0; i < n; i++ {
		kl := int(binary.LittleEndian.Uint32(b[4+8*i:]))
		vl := int(binary.LittleEndian.Uint32(b[8+8*i:]))
		out = append(out, [2]string{string(data[:kl]), string(data[kl+1 : kl+1+vl])})
		data = data[kl+vl+2:]
	}
	return out
}

func reply(status uint32, hs [][2]string, body string) {
	details := "guest reply"
	dp, dn := sptr(details)
	bp, bn := sptr(body)
	pairs := encodePairs(hs)
	proxySendLocalResponse(status, dp, dn, bp, bn, ptr(pairs), uint32(len(pairs)), -1)
}

func st(s uint32) [2]string { return [2]string{"x-status", strconv.Itoa(int(s))} }

func getHeader(typ uint32, name string) (string, uint32) {
	p, n := sptr(name)
	s := proxyGetHeaderMapValue(typ, p, n, unsafe.Pointer(&retPtr), unsafe.Pointer(&retSize))
	if s != 0 {
		return "", s
	}
	return string(taken()), 0
}

func getPairs(typ uint32) ([]byte, uint32) {
	retPtr, retSize = 0, 0
	s := proxyGetHeaderMapPairs(typ, unsafe.Pointer(&retPtr), unsafe.Pointer(&retSize))
	return taken(), s
}

func getBuffer(typ, size uint32) ([]byte, uint32) {
	retPtr, retSize = 0, 0
	s := proxyGetBufferBytes(typ, 0, size, unsafe.Pointer(&retPtr), unsafe.Pointer(&retSize))
	return taken(), s
}

func propPath(p string) []byte {
	return []byte(strings.ReplaceAll(p, "/", "\x00"))
}

type streamState struct {
	id          uint32
	respAdd     [][2]string
	respReplace string
	echoBody    bool
	probeReqMap bool
	logOnLog    bool
}

type call struct {
	ctx       uint32
	continue_ bool
}

var (
	streams  = map[uint32]*streamState{}
	calls    = map[uint32]call{}
	metrics  = map[string]uint32{}
	config   string
	tickID   uint32
	rootID   uint32
	timerRef *time.Timer
)

//go:wasmexport proxy_on_context_create
func onContextCreate(id, parent uint32) {
	if parent == 0 {
		rootID = id
		return
	}
	streams[id] = &streamState{id: id}
}

//go:wasmexport proxy_on_vm_start
func onVMStart(root, size uint32) uint32 {
	b, _ := getBuffer(6, size)
	return boolU(string(b) != "reject-vm")
}

//go:wasmexport proxy_on_configure
func onConfigure(root, size uint32) uint32 {
	b, _ := getBuffer(7, size)
	config = string(b)
	if config == "reject" {
		return 0
	}
	if strings.Contains(config, "tick") {
		proxySetTickPeriod(1000)
		tickID = metric("ticks")
	}
	logf(2, "configured: "+config)
	return 1
}

func boolU(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

func metric(name string) uint32 {
	if id, ok := metrics[name]; ok {
		return id
	}
	p, n := sptr(name)
	proxyDefineMetric(0, p, n, unsafe.Pointer(&retU32))
	metrics[name] = retU32
	return retU32
}

//go:wasmexport proxy_on_tick
func onTick(root uint32) {
	proxyIncrementMetric(tickID, 1)
}

//go:wasmexport proxy_on_request_headers
func onRequestHeaders(id, n, eos uint32) uint32 {
	s := streams[id]
	raw, _ := getPairs(0)
	var ops []string
	for _, kv := range decodePairs(raw) {
		if kv[0] == "x-op" {
			ops = append(ops, kv[1])
		}
	}
	for _, op := range ops {
		if act, stop := runOp(s, op, eos); stop {
			return act
		}
	}
	return 0
}

// runOp runs one x-op; stop reports that the callback must return act now.
func runOp(s *streamState, op string, eos uint32) (act uint32, stop bool) {
	f := strings.Fields(op)
	if len(f) == 0 {
		return 0, false
	}
	arg := func(i int) string {
		if i < len(f) {
			return f[i]
		}
		return ""
	}
	switch f[0] {
	case "get-property":
		path := propPath(arg(1))
		retPtr, retSize = 0, 0
		r := proxyGetProperty(ptr(path), uint32(len(path)), unsafe.Pointer(&retPtr), unsafe.Pointer(&retSize))
		b := taken()
		reply(200, [][2]string{st(r)}, string(b))
		return 1, true
	case "set-property":
		path := propPath(arg(1))
		v := []byte(arg(2))
		r := proxySetProperty(ptr(path), uint32(len(path)), ptr(v), uint32(len(v)))
		if r != 0 {
			reply(500, [][2]string{st(r)}, "")
			return 1, true
		}
	case "get-header":
		v, r := getHeader(0, arg(1))
		reply(200, [][2]string{st(r)}, v)
		return 1, true
	case "get-pairs":
		b, r := getPairs(0)
		reply(200, [][2]string{st(r)}, string(b))
		return 1, true
	case "add", "replace":
		kp, kn := sptr(arg(1))
		vp, vn := sptr(arg(2))
		if f[0] == "add" {
			proxyAddHeaderMapValue(0, kp, kn, vp, vn)
		} else {
			proxyReplaceHeaderMapValue(0, kp, kn, vp, vn)
		}
	case "remove":
		kp, kn := sptr(arg(1))
		proxyRemoveHeaderMapValue(0, kp, kn)
	case "set-pairs":
		b := encodePairs([][2]string{{":method", "POST"}, {":path", "/replaced"}, {":authority", "example.com"}, {"X-Set", "1"}})
		proxySetHeaderMapPairs(0, ptr(b), uint32(len(b)))
	case "shared-get":
		kp, kn := sptr(arg(1))
		retPtr, retSize, retU32 = 0, 0, 0
		r := proxyGetSharedData(kp, kn, unsafe.Pointer(&retPtr), unsafe.Pointer(&retSize), unsafe.Pointer(&retU32))
		cas := retU32
		b := taken()
		reply(200, [][2]string{st(r), {"x-cas", strconv.Itoa(int(cas))}}, string(b))
		return 1, true
	case "shared-set":
		kp, kn := sptr(arg(1))
		v := []byte(arg(2))
		cas, _ := strconv.Atoi(arg(3))
		r := proxySetSharedData(kp, kn, ptr(v), uint32(len(v)), uint32(cas))
		reply(200, [][2]string{st(r)}, "")
		return 1, true
	case "http-call", "http-call-continue":
		cluster := []byte(arg(1))
		hs := encodePairs([][2]string{{":method", "GET"}, {":path", arg(2)}, {":authority", "callout.local"}, {"x-from", "guest"}})
		if arg(4) == "no-path" {
			hs = encodePairs([][2]string{{":method", "GET"}, {":authority", "callout.local"}})
		}
		timeout, _ := strconv.Atoi(arg(3))
		r := proxyHTTPCall(ptr(cluster), uint32(len(cluster)), ptr(hs), uint32(len(hs)), nil, 0, nil, 0, uint32(timeout), unsafe.Pointer(&retU32))
		if r != 0 {
			reply(200, [][2]string{st(r)}, "dispatch failed")
			return 1, true
		}
		calls[retU32] = call{ctx: s.id, continue_: f[0] == "http-call-continue"}
		return 1, true
	case "metric":
		id := metric(arg(1))
		r := proxyIncrementMetric(id, 1)
		retU64 = 0
		proxyGetMetric(id, unsafe.Pointer(&retU64))
		reply(200, [][2]string{st(r), {"x-value", strconv.FormatUint(retU64, 10)}}, "")
		return 1, true
	case "metric-bad":
		r := proxyIncrementMetric(12345, 1)
		reply(200, [][2]string{st(r)}, "")
		return 1, true
	case "log":
		lvl, _ := strconv.Atoi(arg(1))
		logf(uint32(lvl), strings.Join(f[2:], " "))
	case "print":
		os.Stdout.WriteString(strings.Join(f[1:], " ") + "\n")
	case "now":
		proxyGetCurrentTime(unsafe.Pointer(&retU64))
		reply(200, [][2]string{{"x-now", strconv.FormatUint(retU64, 10)}, {"x-time-now", strconv.FormatInt(time.Now().UnixNano(), 10)}}, "")
		return 1, true
	case "bad-ptr":
		// A pointer past the end of linear memory.
		r := proxyLog(2, unsafe.Add(nil, 0xfffffff0), 100)
		reply(200, [][2]string{st(r)}, "")
		return 1, true
	case "trap":
		panic("boom: " + arg(1))
	case "malloc-call":
		// The host allocates in the guest to return the header value.
		mallocCall = arg(1)
		v, r := getHeader(0, ":path")
		reply(200, [][2]string{st(r)}, v)
		return 1, true
	case "pause-forever":
		return 1, true
	case "continue-in-callback":
		proxyContinueStream(0)
		return 1, true
	case "close":
		proxyCloseStream(0)
		return 1, true
	case "timer":
		// Any runtime timer makes the Go scheduler poll with a timeout;
		// under Envoy 1.33 poll_oneoff answers ENOSYS and the runtime dies.
		timerRef = time.AfterFunc(time.Hour, func() {})
		var keep [][]byte
		for i := 0; i < 64; i++ {
			keep = append(keep, make([]byte, 1<<20))
			if len(keep) > 4 {
				keep = keep[1:]
			}
		}
		runtime.GC()
		reply(200, nil, "timer ok")
		return 1, true
	case "local":
		code, _ := strconv.Atoi(arg(1))
		body := strings.Join(f[2:], " ")
		bp, bn := sptr(body)
		pairs := encodePairs([][2]string{{"x-a", "1"}, {"X-A", "2"}, {"content-type", "application/json"}})
		dp, dn := sptr("denied by guest")
		proxySendLocalResponse(uint32(code), dp, dn, bp, bn, ptr(pairs), uint32(len(pairs)), 7)
		return 1, true
	case "echo-body":
		s.echoBody = true
	case "resp-add":
		s.respAdd = append(s.respAdd, [2]string{arg(1), arg(2)})
	case "resp-body-replace":
		s.respReplace = strings.Join(f[1:], " ")
	case "probe-req-map":
		s.probeReqMap = true
	case "log-in-onlog":
		s.logOnLog = true
	case "queue-register":
		np, nn := sptr(arg(1))
		r := proxyRegisterSharedQueue(np, nn, unsafe.Pointer(&retU32))
		reply(200, [][2]string{st(r), {"x-qid", strconv.Itoa(int(retU32))}}, "")
		return 1, true
	case "queue-enqueue":
		vp, vn := sptr(arg(1))
		np, nn := sptr(arg(2))
		r := proxyResolveSharedQueue(vp, vn, np, nn, unsafe.Pointer(&retU32))
		if r == 0 {
			v := []byte(arg(3))
			r = proxyEnqueueSharedQueue(retU32, ptr(v), uint32(len(v)))
		}
		reply(200, [][2]string{st(r)}, "")
		return 1, true
	case "queue-dequeue":
		id, _ := strconv.Atoi(arg(1))
		retPtr, retSize = 0, 0
		r := proxyDequeueSharedQueue(uint32(id), unsafe.Pointer(&retPtr), unsafe.Pointer(&retSize))
		b := taken()
		reply(200, [][2]string{st(r)}, string(b))
		return 1, true
	}
	return 0, false
}

//go:wasmexport proxy_on_request_body
func onRequestBody(id, size, eos uint32) uint32 {
	s := streams[id]
	if s != nil && s.echoBody {
		b, r := getBuffer(0, size)
		reply(200, [][2]string{st(r)}, "echo:"+string(b))
		return 1
	}
	return 0
}

//go:wasmexport proxy_on_response_headers
func onResponseHeaders(id, n, eos uint32) uint32 {
	s := streams[id]
	if s == nil {
		return 0
	}
	for _, kv := range s.respAdd {
		kp, kn := sptr(kv[0])
		vp, vn := sptr(kv[1])
		proxyAddHeaderMapValue(2, kp, kn, vp, vn)
	}
	if s.probeReqMap {
		_, r := getHeader(0, ":path")
		kp, kn := sptr("x-req-map-status")
		v := strconv.Itoa(int(r))
		vp, vn := sptr(v)
		proxyAddHeaderMapValue(2, kp, kn, vp, vn)
	}
	return 0
}

//go:wasmexport proxy_on_response_body
func onResponseBody(id, size, eos uint32) uint32 {
	s := streams[id]
	if s != nil && s.respReplace != "" {
		b := []byte(s.respReplace)
		proxySetBufferBytes(1, 0, size, ptr(b), uint32(len(b)))
	}
	return 0
}

//go:wasmexport proxy_on_http_call_response
func onHTTPCallResponse(root, token, nh, nb, nt uint32) {
	c, ok := calls[token]
	if !ok {
		return
	}
	delete(calls, token)
	status, _ := getHeader(6, ":status")
	pairsRaw, _ := getPairs(6)
	body, _ := getBuffer(4, nb)
	if r := proxySetEffectiveContext(c.ctx); r != 0 {
		logf(4, "set_effective_context failed: "+strconv.Itoa(int(r)))
		return
	}
	if c.continue_ {
		kp, kn := sptr("x-callout")
		vp, vn := sptr(status + ":" + string(body))
		proxyAddHeaderMapValue(0, kp, kn, vp, vn)
		proxyContinueStream(0)
		return
	}
	reply(200, [][2]string{
		{"x-nheaders", strconv.Itoa(int(nh))},
		{"x-npairs", strconv.Itoa(len(decodePairs(pairsRaw)))},
		{"x-call-status", status},
		{"x-body-size", strconv.Itoa(int(nb))},
	}, string(body))
}

//go:wasmexport proxy_on_queue_ready
func onQueueReady(root, qid uint32) {
	for {
		retPtr, retSize = 0, 0
		r := proxyDequeueSharedQueue(qid, unsafe.Pointer(&retPtr), unsafe.Pointer(&retSize))
		b := taken()
		if r != 0 {
			return
		}
		logf(2, "queue "+strconv.Itoa(int(qid))+": "+string(b))
	}
}

//go:wasmexport proxy_on_log
func onLog(id uint32) {
	s := streams[id]
	if s == nil || !s.logOnLog {
		return
	}
	path, r := getHeader(0, ":path")
	status, r2 := getHeader(2, ":status")
	kp, kn := sptr("x-late")
	r3 := proxyAddHeaderMapValue(0, kp, kn, kp, kn)
	logf(2, "onlog path="+path+" r="+strconv.Itoa(int(r))+" status="+status+" r2="+strconv.Itoa(int(r2))+" add="+strconv.Itoa(int(r3)))
}

//go:wasmexport proxy_on_done
func onDone(id uint32) uint32 { return 1 }

//go:wasmexport proxy_on_delete
func onDelete(id uint32) { delete(streams, id) }
