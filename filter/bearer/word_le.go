//go:build 386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64 || wasm

package bearer

import "unsafe"

// word is the little-endian uint64 at s[i:i+8] (the caller ensures i+8 <= len(s)): one unaligned load on
// little-endian machines, where binary.LittleEndian.Uint64 costs eight byte loads in the wasm build.
func word(s string, i int) uint64 {
	return *(*uint64)(unsafe.Add(unsafe.Pointer(unsafe.StringData(s)), i))
}
