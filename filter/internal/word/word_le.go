//go:build 386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64 || wasm

package word

import "unsafe"

// String64 is the little-endian uint64 at s[i:i+8]; the caller ensures i+8 <= len(s).
func String64(s string, i int) uint64 {
	return *(*uint64)(unsafe.Add(unsafe.Pointer(unsafe.StringData(s)), i))
}

// Bytes64 is the little-endian uint64 at b[i:i+8]; the caller ensures i+8 <= len(b).
func Bytes64(b []byte, i int) uint64 {
	return *(*uint64)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(b)), i))
}

// Bytes32 is the little-endian uint32 at b[i:i+4]; the caller ensures i+4 <= len(b).
func Bytes32(b []byte, i int) uint32 {
	return *(*uint32)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(b)), i))
}
