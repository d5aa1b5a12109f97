//go:build wasip1

package stdgobridge

import (
	"unsafe"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/internal"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

// The exports a proxy-wasm host looks for. The callbacks in which the plugin reads what the host returns
// (configuration, request headers, a validator's answer, shared data) mark the arena on entry and free their
// room on return (see arena). The others do not: room they might take is freed when the next marked
// callback returns at the outermost level, and they never free room a caller still reads. Each mark costs
// code in the module (about 350 bytes per export), hence not on every export; and not with defer (18 KB over
// 20 exports), since a panic that leaves a callback traps the VM anyway (the plugin recovers its own).
//
// The exports a proxy-wasm host looks for. Booleans travel as i32 (0 or 1) and sizes as u32; they are
// widened here to the int and bool the SDK's wrappers take.

//go:wasmexport proxy_abi_version_0_2_0
func proxyABIVersion() {}

// proxyOnMemoryAllocate is the guest's malloc: the host calls it, while one of its functions is in progress,
// to get room for data it returns. The room comes from the arena and is valid until the callback in
// progress returns (see arena).
//
//go:wasmexport proxy_on_memory_allocate
func proxyOnMemoryAllocate(size uint32) unsafe.Pointer {
	if p := mem.bump(size); p != nil { // the common case, inlined (see arena.bump)
		return p
	}
	return mem.allocSlow(size)
}

func b(v uint32) bool { return v != 0 }

func i(v bool) uint32 {
	if v {
		return 1
	}
	return 0
}

//go:wasmexport proxy_on_vm_start
func proxyOnVMStart(rootContextID, vmConfigurationSize uint32) uint32 {
	m := mem.enter()
	r := i(bool(internal.ProxyOnVMStart(rootContextID, int(vmConfigurationSize))))
	mem.leave(m)
	return r
}

//go:wasmexport proxy_on_configure
func proxyOnConfigure(rootContextID, pluginConfigurationSize uint32) uint32 {
	m := mem.enter()
	r := i(bool(internal.ProxyOnConfigure(rootContextID, int(pluginConfigurationSize))))
	mem.leave(m)
	return r
}

//go:wasmexport proxy_on_context_create
func proxyOnContextCreate(contextID, parentContextID uint32) {
	internal.ProxyOnContextCreate(contextID, parentContextID)
}

//go:wasmexport proxy_on_new_connection
func proxyOnNewConnection(contextID uint32) uint32 {
	return uint32(internal.ProxyOnNewConnection(contextID))
}

//go:wasmexport proxy_on_downstream_data
func proxyOnDownstreamData(contextID, dataSize, endOfStream uint32) uint32 {
	return uint32(internal.ProxyOnDownstreamData(contextID, int(dataSize), b(endOfStream)))
}

//go:wasmexport proxy_on_downstream_connection_close
func proxyOnDownstreamConnectionClose(contextID, peerType uint32) {
	internal.ProxyOnDownstreamConnectionClose(contextID, types.PeerType(peerType))
}

//go:wasmexport proxy_on_upstream_data
func proxyOnUpstreamData(contextID, dataSize, endOfStream uint32) uint32 {
	return uint32(internal.ProxyOnUpstreamData(contextID, int(dataSize), b(endOfStream)))
}

//go:wasmexport proxy_on_upstream_connection_close
func proxyOnUpstreamConnectionClose(contextID, peerType uint32) {
	internal.ProxyOnUpstreamConnectionClose(contextID, types.PeerType(peerType))
}

//go:wasmexport proxy_on_request_headers
func proxyOnRequestHeaders(contextID, numHeaders, endOfStream uint32) uint32 {
	m := mem.enter()
	var r uint32
	if ctx := findContext(contextID); ctx != nil {
		r = uint32(ctx.OnHttpRequestHeaders(int(numHeaders), b(endOfStream)))
	} else {
		r = uint32(internal.ProxyOnRequestHeaders(contextID, int(numHeaders), b(endOfStream)))
	}
	mem.leave(m)
	return r
}

// findContext asks the plugin's FindHttpContext, if any, for contextID's stream object.
func findContext(contextID uint32) types.HttpContext {
	if findHTTPContext == nil {
		return nil
	}
	return findHTTPContext(contextID)
}

//go:wasmexport proxy_on_request_body
func proxyOnRequestBody(contextID, bodySize, endOfStream uint32) uint32 {
	return uint32(internal.ProxyOnRequestBody(contextID, int(bodySize), b(endOfStream)))
}

//go:wasmexport proxy_on_request_trailers
func proxyOnRequestTrailers(contextID, numTrailers uint32) uint32 {
	return uint32(internal.ProxyOnRequestTrailers(contextID, int(numTrailers)))
}

//go:wasmexport proxy_on_response_headers
func proxyOnResponseHeaders(contextID, numHeaders, endOfStream uint32) uint32 {
	return uint32(internal.ProxyOnResponseHeaders(contextID, int(numHeaders), b(endOfStream)))
}

//go:wasmexport proxy_on_response_body
func proxyOnResponseBody(contextID, bodySize, endOfStream uint32) uint32 {
	return uint32(internal.ProxyOnResponseBody(contextID, int(bodySize), b(endOfStream)))
}

//go:wasmexport proxy_on_response_trailers
func proxyOnResponseTrailers(contextID, numTrailers uint32) uint32 {
	return uint32(internal.ProxyOnResponseTrailers(contextID, int(numTrailers)))
}

//go:wasmexport proxy_on_http_call_response
func proxyOnHTTPCallResponse(rootContextID, token, numHeaders, bodySize, numTrailers uint32) {
	m := mem.enter()
	if deliverRootCall(token, int(numHeaders), int(bodySize), int(numTrailers)) {
		mem.leave(m)
		return
	}
	internal.ProxyOnHttpCallResponse(rootContextID, token, int(numHeaders), int(bodySize), int(numTrailers))
	mem.leave(m)
}

//go:wasmexport proxy_on_tick
func proxyOnTick(rootContextID uint32) {
	m := mem.enter()
	internal.ProxyOnTick(rootContextID)
	mem.leave(m)
}

//go:wasmexport proxy_on_queue_ready
func proxyOnQueueReady(rootContextID, queueID uint32) {
	m := mem.enter()
	internal.ProxyOnQueueReady(rootContextID, queueID)
	mem.leave(m)
}

//go:wasmexport proxy_on_log
func proxyOnLog(contextID uint32) {
	internal.ProxyOnLog(contextID)
}

//go:wasmexport proxy_on_done
func proxyOnDone(contextID uint32) uint32 {
	return i(internal.ProxyOnDone(contextID))
}

//go:wasmexport proxy_on_delete
func proxyOnDelete(contextID uint32) {
	internal.ProxyOnDelete(contextID)
	if deleteHook != nil {
		deleteHook(contextID)
	}
}
