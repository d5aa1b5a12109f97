// Package stdgobridge lets tetratelabs/proxy-wasm-go-sdk v0.24.0 run when the plugin is compiled with the
// standard Go toolchain (GOOS=wasip1 GOARCH=wasm -buildmode=c-shared) instead of TinyGo.
//
// Why it exists: v0.24.0 declares its host imports and callback exports only for TinyGo (bodyless functions
// with //export comments under a tinygo build tag). Built with standard Go, the SDK compiles its mock-host
// files instead and the module has no proxy_on_* exports and no env.proxy_* imports, which Envoy refuses
// ("Missing or unknown Proxy-Wasm ABI version"). The SDK exposes, in its internal package and for non-TinyGo
// builds, exactly the two seams needed to fix that without patching it: RegisterMockWasmHost (where host calls
// go) and the ProxyOn* callback wrappers (where callbacks enter).
//
// Why its import path sits under the SDK's: Go's internal-package rule compares import paths, so only a package
// whose path is under github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm may import proxywasm/internal. This is
// a separate module with that path, wired into the product with a replace directive and imported blank by the
// plugin's main package. The successor SDK (github.com/proxy-wasm/proxy-wasm-go-sdk) solved the same problem
// the same way; moving to it later is an import rename.
//
// What it provides, in the wasip1 build:
//   - //go:wasmimport declarations of the env.proxy_* host functions with the ABI's i32 signatures, and a
//     ProxyWasmHost implementation over them registered in init(). Go's wasm port has 64-bit int and pointers
//     inside a 32-bit memory: sizes are narrowed to uint32 on the way out, and the host's out-parameters (an
//     address and a size) are 4-byte variables widened afterwards. The out-parameters live in package-level
//     variables, never on a goroutine stack, because the host calls back into the guest
//     (proxy_on_memory_allocate) while a host call is in progress, and a stack that moves in between would
//     leave the host writing to a stale address.
//   - //go:wasmexport functions for proxy_abi_version_0_2_0, proxy_on_memory_allocate and the 21 proxy_on_*
//     callbacks, each forwarding to the SDK.
//   - A GC-safe, allocation-free proxy_on_memory_allocate (see arena): room from a per-VM chunk that Go
//     references for the life of the VM (and never moves), freed when the callback that asked for it returns.
//     Without a Go reference, a GC triggered by a second allocation in the same host call could free the
//     first buffer while the host still writes to it. The host's answer is re-attached by bounds arithmetic
//     on the chunk, so no integer is ever converted back into a pointer. What a host call returns is valid
//     until the callback returns.
//   - The request path's host calls on the imports directly (direct_wasip1.go), without the heap-escaping
//     out-parameters of the SDK's host interface.
//
// And, in every build (natively they reach the SDK's proxytest emulator through the same internals):
//   - the host calls a filter needs, with the SDK's names and semantics (hostcalls.go), because the SDK's
//     proxywasm package imports fmt, and importing fmt at all links its printers, reflect and os;
//   - counters that return errors instead of panicking (metrics.go);
//   - DispatchRootHTTPCall, an HTTP call owned by the plugin's root context rather than by the stream that
//     made it, for answers that several streams wait on (rootcall.go).
//
// The plugin's main imports it (for the exports, the host registration and SetVMContext).
package stdgobridge
