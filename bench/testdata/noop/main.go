//go:build wasip1

// Command noop is the host's floor: a standard-Go proxy-wasm module that does nothing. It is built exactly
// like scope-gate (GOOS=wasip1 GOARCH=wasm -buildmode=c-shared, same Go runtime, same _initialize), exports
// the callbacks envoyhost calls on a request's way through, and answers each with "continue" without a
// single host call. A request through it costs what the host and the wasm boundary cost, so the filter's
// cost above it is the filter's own.
package main

import "unsafe"

func main() {}

// allocs keeps every buffer proxy_on_memory_allocate handed out reachable until the next request starts:
// the host writes into it after the export returns, so it must not be collected in between. This module
// makes no host call that returns data, so in practice nothing is ever allocated here.
var allocs [][]byte

//go:wasmexport proxy_abi_version_0_2_0
func abiVersion() {}

//go:wasmexport proxy_on_memory_allocate
func onMemoryAllocate(size uint32) uint32 {
	if size == 0 {
		size = 1
	}
	b := make([]byte, size)
	allocs = append(allocs, b)
	return uint32(uintptr(unsafe.Pointer(&b[0])))
}

//go:wasmexport proxy_on_context_create
func onContextCreate(id, parent uint32) {
	if parent != 0 {
		allocs = allocs[:0] // a new stream: nothing from the previous one is still in use
	}
}

//go:wasmexport proxy_on_vm_start
func onVMStart(root, size uint32) uint32 { return 1 }

//go:wasmexport proxy_on_configure
func onConfigure(root, size uint32) uint32 { return 1 }

// Action 0 is Continue.

//go:wasmexport proxy_on_request_headers
func onRequestHeaders(id, n, eos uint32) uint32 { return 0 }

//go:wasmexport proxy_on_request_body
func onRequestBody(id, n, eos uint32) uint32 { return 0 }

//go:wasmexport proxy_on_response_headers
func onResponseHeaders(id, n, eos uint32) uint32 { return 0 }

//go:wasmexport proxy_on_response_body
func onResponseBody(id, n, eos uint32) uint32 { return 0 }

//go:wasmexport proxy_on_log
func onLog(id uint32) {}

//go:wasmexport proxy_on_done
func onDone(id uint32) uint32 { return 1 }

//go:wasmexport proxy_on_delete
func onDelete(id uint32) {}
