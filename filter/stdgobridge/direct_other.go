//go:build !wasip1

package stdgobridge

import (
	"time"
	"unsafe"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/internal"
)

// The native counterparts of direct_wasip1.go: the same host calls through the SDK's internals, which reach
// the SDK's proxytest emulator. Allocation does not matter here.

func rawGetProperty(path []byte) ([]byte, error) {
	var ptr *byte
	var size int
	if err := status(internal.ProxyGetProperty(unsafe.SliceData(path), len(path), &ptr, &size)); err != nil {
		return nil, err
	}
	return bytesOf(ptr, size), nil
}

func rawGetPairs(mt internal.MapType) ([]byte, error) {
	var ptr *byte
	var size int
	st := internal.ProxyGetHeaderMapPairs(mt, &ptr, &size)
	return pairsAnswer(bytesOf(ptr, size), st)
}

func rawGetSharedData(key []byte) ([]byte, uint32, error) {
	var ptr *byte
	var size int
	var cas uint32
	if err := status(internal.ProxyGetSharedData(unsafe.SliceData(key), len(key), &ptr, &size, &cas)); err != nil {
		return nil, 0, err
	}
	return bytesOf(ptr, size), cas, nil
}

func rawReplaceHeader(mt internal.MapType, key, value string) internal.Status {
	return internal.ProxyReplaceHeaderMapValue(mt, strPtr(key), len(key), strPtr(value), len(value))
}

func rawRemoveHeader(mt internal.MapType, key string) internal.Status {
	return internal.ProxyRemoveHeaderMapValue(mt, strPtr(key), len(key))
}

func rawIncrement(id uint32, delta int64) internal.Status {
	return internal.ProxyIncrementMetric(id, delta)
}

func rawSendLocalResponse(status uint32, details string, headers, body []byte, grpcStatus int32) internal.Status {
	return internal.ProxySendLocalResponse(status, strPtr(details), len(details), unsafe.SliceData(body), len(body), unsafe.SliceData(headers), len(headers), grpcStatus)
}

func rawLog(level internal.LogLevel, msg []byte) {
	internal.ProxyLog(level, unsafe.SliceData(msg), len(msg))
}

// rawUnixNow: the SDK's emulator has no clock call; the process clock stands in.
func rawUnixNow() int64 { return time.Now().Unix() }
