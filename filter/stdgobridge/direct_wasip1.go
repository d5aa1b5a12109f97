//go:build wasip1

package stdgobridge

import (
	"time"
	"unsafe"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/internal"
)

// The request path's host calls, made on the imports directly rather than through the SDK's ProxyWasmHost
// interface. Through the interface, the SDK's out-parameters (**byte, *int) escape to the Go heap: two
// allocations per call, which is most of what the request path allocated. Here the host writes into the
// package-level out (never a goroutine stack, see host_wasip1.go) and the result is a view into the arena.
// direct_other.go gives the same functions over the SDK internals natively (for proxytest).

// The reads of the request path (rawGetProperty, rawGetPairs, rawGetSharedData) take view's common case
// inline (viewFast), and answer with the error the public function returns, so that the public function is
// small enough to be inlined into its caller: in the wasm build each call level costs about 15 ns.
func rawGetProperty(path []byte) ([]byte, error) {
	beginReturn()
	st := hostGetProperty(unsafe.Pointer(unsafe.SliceData(path)), n(len(path)), unsafe.Pointer(&out.data), unsafe.Pointer(&out.size))
	if buf, ok := viewFast(st); ok {
		return buf, nil
	}
	buf, s := viewSlow(st)
	return buf, status(s)
}

// rawGetPairs answers NotFound for an empty map, as the public functions do.
func rawGetPairs(mt internal.MapType) ([]byte, error) {
	beginReturn()
	st := hostGetHeaderMapPairs(uint32(mt), unsafe.Pointer(&out.data), unsafe.Pointer(&out.size))
	if buf, ok := viewFast(st); ok && len(buf) > 0 {
		return buf, nil
	}
	buf, s := viewSlow(st)
	return pairsAnswer(buf, s)
}

func rawGetSharedData(key []byte) ([]byte, uint32, error) {
	beginReturn()
	out.u32 = 0
	st := hostGetSharedData(unsafe.Pointer(unsafe.SliceData(key)), n(len(key)), unsafe.Pointer(&out.data), unsafe.Pointer(&out.size), unsafe.Pointer(&out.u32))
	cas := out.u32
	if buf, ok := viewFast(st); ok {
		return buf, cas, nil
	}
	buf, s := viewSlow(st)
	if s != internal.StatusOK {
		return nil, 0, status(s)
	}
	return buf, cas, nil
}

func rawReplaceHeader(mt internal.MapType, key, value string) internal.Status {
	return internal.Status(hostReplaceHeaderMapValue(uint32(mt), unsafe.Pointer(unsafe.StringData(key)), uint32(len(key)),
		unsafe.Pointer(unsafe.StringData(value)), uint32(len(value))))
}

func rawRemoveHeader(mt internal.MapType, key string) internal.Status {
	return internal.Status(hostRemoveHeaderMapValue(uint32(mt), unsafe.Pointer(unsafe.StringData(key)), n(len(key))))
}

func rawIncrement(id uint32, delta int64) internal.Status {
	return internal.Status(hostIncrementMetric(id, delta))
}

func rawSendLocalResponse(status uint32, details string, headers, body []byte, grpcStatus int32) internal.Status {
	return internal.Status(hostSendLocalResponse(status, unsafe.Pointer(unsafe.StringData(details)), n(len(details)),
		unsafe.Pointer(unsafe.SliceData(body)), n(len(body)), unsafe.Pointer(unsafe.SliceData(headers)), n(len(headers)), grpcStatus))
}

func rawLog(level internal.LogLevel, msg []byte) {
	hostLog(uint32(level), unsafe.Pointer(unsafe.SliceData(msg)), n(len(msg)))
}

// rawUnixNow reads the wall clock with one host call. time.Now makes two WASI clock_time_get calls (wall
// and monotonic). Envoy answers proxy_get_current_time_nanoseconds with its time source's wall clock:
// envoyproxy/envoy source/extensions/common/wasm/context.cc (commit 031fa2b5),
// Context::getCurrentTimeNanoseconds returns wasm()->time_source_.systemTime(). A host that fails the call
// falls back to time.Now.
func rawUnixNow() int64 {
	out.u64 = 0
	if hostGetCurrentTimeNanoseconds(unsafe.Pointer(&out.u64)) != 0 {
		return time.Now().Unix()
	}
	return int64(out.u64 / 1e9)
}
