//go:build !(386 || amd64 || arm64 || loong64 || ppc64le || wasm) || scopegate_portable

package word

import (
	"encoding/binary"
	"unsafe"
)

// String64 is the little-endian uint64 at s[i:i+8]; the caller ensures i+8 <= len(s).
func String64(s string, i int) uint64 {
	return binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(s), len(s))[i:])
}

// String32 is the little-endian uint32 at s[i:i+4]; the caller ensures i+4 <= len(s).
func String32(s string, i int) uint32 {
	return binary.LittleEndian.Uint32(unsafe.Slice(unsafe.StringData(s), len(s))[i:])
}

// Bytes64 is the little-endian uint64 at b[i:i+8]; the caller ensures i+8 <= len(b).
func Bytes64(b []byte, i int) uint64 { return binary.LittleEndian.Uint64(b[i:]) }

// Bytes32 is the little-endian uint32 at b[i:i+4]; the caller ensures i+4 <= len(b).
func Bytes32(b []byte, i int) uint32 { return binary.LittleEndian.Uint32(b[i:]) }

// Equal32 reports whether two 32-byte arrays are equal.
func Equal32(a, b *[32]byte) bool { return *a == *b }
