//go:build wasip1

// Command guestfs is a minimal proxy-wasm plugin that reads a file with
// os.ReadFile, which pulls WASI imports (fd_filestat_get, path_filestat_get,
// ...) outside Envoy 1.33's set.
package main

import (
	"os"
	"unsafe"
)

func main() {}

var allocs [][]byte

//go:wasmexport proxy_abi_version_0_2_0
func abiVersion() {}

//go:wasmexport proxy_on_memory_allocate
func onMemoryAllocate(size uint32) uint32 {
	b := make([]byte, size)
	allocs = append(allocs, b)
	return uint32(uintptr(unsafe.Pointer(&b[0])))
}

//go:wasmexport proxy_on_configure
func onConfigure(root, size uint32) uint32 {
	_, err := os.ReadFile("/etc/hostname")
	_ = err // no preopens: always fails, and that is fine
	return 1
}
