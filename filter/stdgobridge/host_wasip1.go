//go:build wasip1

package stdgobridge

import (
	"unsafe"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/internal"
)

func init() {
	// The returned release function unlocks the SDK's mock-host mutex; this registration is for the life of
	// the VM, so it is never called.
	internal.RegisterMockWasmHost(host{})
}

// out holds the host's out-parameters. It is package-level so that its address never changes while a host
// call is in progress (see the package comment); the guest is single-threaded, so one set suffices.
var out struct {
	data uint32 // guest address written by the host
	size uint32
	u32  uint32 // cas, queue id, metric id, http call token
	u64  uint64 // metric value
}

// mem is the room proxy_on_memory_allocate hands out (see arena).
var mem arena

// returned re-attaches the (address, size) the host wrote into out to the Go buffer that was allocated for
// it, and stores it in the SDK's out-parameters. A host that answers with memory this guest did not allocate
// is reported as an internal failure rather than trusted.
func returned(st uint32, retData **byte, retSize *int) internal.Status {
	buf, ok := mem.take(uintptr(out.data), out.size)
	if internal.Status(st) != internal.StatusOK {
		return internal.Status(st)
	}
	if !ok {
		return internal.StatusInternalFailure
	}
	*retData = unsafe.SliceData(buf)
	*retSize = len(buf)
	return internal.StatusOK
}

// beginReturn clears the out-parameters and marks the arena before a host call that returns data.
func beginReturn() {
	out.data, out.size = 0, 0
	mem.begin()
}

// view returns the data a host call wrote into out (see returned), for the direct calls of direct_wasip1.go.
func view(st uint32) ([]byte, internal.Status) {
	if buf, ok := viewFast(st); ok {
		return buf, internal.StatusOK
	}
	return viewSlow(st)
}

// viewFast is view's common case, small enough to be inlined: a successful call whose answer lies in the
// arena's chunk.
func viewFast(st uint32) ([]byte, bool) {
	if st != uint32(internal.StatusOK) {
		return nil, false
	}
	return mem.takeChunk(uintptr(out.data), out.size)
}

func viewSlow(st uint32) ([]byte, internal.Status) {
	buf, ok := mem.take(uintptr(out.data), out.size)
	if internal.Status(st) != internal.StatusOK {
		return nil, internal.Status(st)
	}
	if !ok {
		return nil, internal.StatusInternalFailure
	}
	return buf, internal.StatusOK
}

func p(b *byte) unsafe.Pointer { return unsafe.Pointer(b) }

// n narrows a Go int size to the ABI's u32. Sizes come from Go slices in a 32-bit linear memory, so they fit.
func n(size int) uint32 { return uint32(size) }

// host implements the SDK's ProxyWasmHost over the real env.proxy_* imports.
type host struct{}

var _ internal.ProxyWasmHost = host{}

func (host) ProxyLog(level internal.LogLevel, msg *byte, msgSize int) internal.Status {
	return internal.Status(hostLog(uint32(level), p(msg), n(msgSize)))
}

func (host) ProxySetProperty(path *byte, pathSize int, value *byte, valueSize int) internal.Status {
	return internal.Status(hostSetProperty(p(path), n(pathSize), p(value), n(valueSize)))
}

func (host) ProxyGetProperty(path *byte, pathSize int, retData **byte, retSize *int) internal.Status {
	beginReturn()
	st := hostGetProperty(p(path), n(pathSize), unsafe.Pointer(&out.data), unsafe.Pointer(&out.size))
	return returned(st, retData, retSize)
}

func (host) ProxySendLocalResponse(status uint32, details *byte, detailsSize int, body *byte, bodySize int, headers *byte, headersSize int, grpcStatus int32) internal.Status {
	return internal.Status(hostSendLocalResponse(status, p(details), n(detailsSize), p(body), n(bodySize), p(headers), n(headersSize), grpcStatus))
}

func (host) ProxyGetSharedData(key *byte, keySize int, retData **byte, retSize *int, retCas *uint32) internal.Status {
	beginReturn()
	out.u32 = 0
	st := hostGetSharedData(p(key), n(keySize), unsafe.Pointer(&out.data), unsafe.Pointer(&out.size), unsafe.Pointer(&out.u32))
	*retCas = out.u32
	return returned(st, retData, retSize)
}

func (host) ProxySetSharedData(key *byte, keySize int, value *byte, valueSize int, cas uint32) internal.Status {
	return internal.Status(hostSetSharedData(p(key), n(keySize), p(value), n(valueSize), cas))
}

func (host) ProxyRegisterSharedQueue(name *byte, nameSize int, retID *uint32) internal.Status {
	out.u32 = 0
	st := hostRegisterSharedQueue(p(name), n(nameSize), unsafe.Pointer(&out.u32))
	*retID = out.u32
	return internal.Status(st)
}

func (host) ProxyResolveSharedQueue(vmID *byte, vmIDSize int, name *byte, nameSize int, retID *uint32) internal.Status {
	out.u32 = 0
	st := hostResolveSharedQueue(p(vmID), n(vmIDSize), p(name), n(nameSize), unsafe.Pointer(&out.u32))
	*retID = out.u32
	return internal.Status(st)
}

func (host) ProxyDequeueSharedQueue(queueID uint32, retData **byte, retSize *int) internal.Status {
	beginReturn()
	st := hostDequeueSharedQueue(queueID, unsafe.Pointer(&out.data), unsafe.Pointer(&out.size))
	return returned(st, retData, retSize)
}

func (host) ProxyEnqueueSharedQueue(queueID uint32, value *byte, valueSize int) internal.Status {
	return internal.Status(hostEnqueueSharedQueue(queueID, p(value), n(valueSize)))
}

func (host) ProxyGetHeaderMapValue(mapType internal.MapType, key *byte, keySize int, retData **byte, retSize *int) internal.Status {
	beginReturn()
	st := hostGetHeaderMapValue(uint32(mapType), p(key), n(keySize), unsafe.Pointer(&out.data), unsafe.Pointer(&out.size))
	return returned(st, retData, retSize)
}

func (host) ProxyAddHeaderMapValue(mapType internal.MapType, key *byte, keySize int, value *byte, valueSize int) internal.Status {
	return internal.Status(hostAddHeaderMapValue(uint32(mapType), p(key), n(keySize), p(value), n(valueSize)))
}

func (host) ProxyReplaceHeaderMapValue(mapType internal.MapType, key *byte, keySize int, value *byte, valueSize int) internal.Status {
	return internal.Status(hostReplaceHeaderMapValue(uint32(mapType), p(key), n(keySize), p(value), n(valueSize)))
}

func (host) ProxyContinueStream(streamType internal.StreamType) internal.Status {
	return internal.Status(hostContinueStream(uint32(streamType)))
}

func (host) ProxyCloseStream(streamType internal.StreamType) internal.Status {
	return internal.Status(hostCloseStream(uint32(streamType)))
}

func (host) ProxyRemoveHeaderMapValue(mapType internal.MapType, key *byte, keySize int) internal.Status {
	return internal.Status(hostRemoveHeaderMapValue(uint32(mapType), p(key), n(keySize)))
}

func (host) ProxyGetHeaderMapPairs(mapType internal.MapType, retData **byte, retSize *int) internal.Status {
	beginReturn()
	st := hostGetHeaderMapPairs(uint32(mapType), unsafe.Pointer(&out.data), unsafe.Pointer(&out.size))
	return returned(st, retData, retSize)
}

func (host) ProxySetHeaderMapPairs(mapType internal.MapType, pairs *byte, pairsSize int) internal.Status {
	return internal.Status(hostSetHeaderMapPairs(uint32(mapType), p(pairs), n(pairsSize)))
}

func (host) ProxyGetBufferBytes(bufferType internal.BufferType, start int, maxSize int, retData **byte, retSize *int) internal.Status {
	beginReturn()
	st := hostGetBufferBytes(uint32(bufferType), n(start), n(maxSize), unsafe.Pointer(&out.data), unsafe.Pointer(&out.size))
	return returned(st, retData, retSize)
}

func (host) ProxySetBufferBytes(bufferType internal.BufferType, start int, maxSize int, data *byte, dataSize int) internal.Status {
	return internal.Status(hostSetBufferBytes(uint32(bufferType), n(start), n(maxSize), p(data), n(dataSize)))
}

func (host) ProxyHttpCall(upstream *byte, upstreamSize int, headers *byte, headersSize int, body *byte, bodySize int, trailers *byte, trailersSize int, timeout uint32, retToken *uint32) internal.Status {
	out.u32 = 0
	st := hostHTTPCall(p(upstream), n(upstreamSize), p(headers), n(headersSize), p(body), n(bodySize), p(trailers), n(trailersSize), timeout, unsafe.Pointer(&out.u32))
	*retToken = out.u32
	return internal.Status(st)
}

func (host) ProxyCallForeignFunction(name *byte, nameSize int, arg *byte, argSize int, retData **byte, retSize *int) internal.Status {
	beginReturn()
	st := hostCallForeignFunction(p(name), n(nameSize), p(arg), n(argSize), unsafe.Pointer(&out.data), unsafe.Pointer(&out.size))
	return returned(st, retData, retSize)
}

func (host) ProxySetTickPeriodMilliseconds(period uint32) internal.Status {
	return internal.Status(hostSetTickPeriodMilliseconds(period))
}

func (host) ProxySetEffectiveContext(contextID uint32) internal.Status {
	return internal.Status(hostSetEffectiveContext(contextID))
}

func (host) ProxyDone() internal.Status { return internal.Status(hostDone()) }

func (host) ProxyDefineMetric(metricType internal.MetricType, name *byte, nameSize int, retID *uint32) internal.Status {
	out.u32 = 0
	st := hostDefineMetric(uint32(metricType), p(name), n(nameSize), unsafe.Pointer(&out.u32))
	*retID = out.u32
	return internal.Status(st)
}

func (host) ProxyIncrementMetric(metricID uint32, offset int64) internal.Status {
	return internal.Status(hostIncrementMetric(metricID, offset))
}

func (host) ProxyRecordMetric(metricID uint32, value uint64) internal.Status {
	return internal.Status(hostRecordMetric(metricID, value))
}

func (host) ProxyGetMetric(metricID uint32, retValue *uint64) internal.Status {
	out.u64 = 0
	st := hostGetMetric(metricID, unsafe.Pointer(&out.u64))
	*retValue = out.u64
	return internal.Status(st)
}
