//go:build !(386 || amd64 || arm || arm64 || loong64 || mips64le || mipsle || ppc64le || riscv64 || wasm)

package bearer

import (
	"encoding/binary"
	"unsafe"
)

// word is the little-endian uint64 at s[i:i+8] (the caller ensures i+8 <= len(s)).
func word(s string, i int) uint64 {
	return binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(s), len(s))[i:])
}
