//go:build (386 || amd64 || arm64 || loong64 || ppc64le || wasm) && !scopegate_portable

// Little-endian machines whose loads need no alignment (the wasm build among them): a word is one load.
// Elsewhere (big-endian, or where an unaligned load traps or is emulated), and with -tags scopegate_portable
// (which `make test` runs the pure packages with), word_portable.go reads bytes.

package word

import "unsafe"

// String64 is the little-endian uint64 at s[i:i+8]; the caller ensures i+8 <= len(s).
func String64(s string, i int) uint64 {
	return *(*uint64)(unsafe.Add(unsafe.Pointer(unsafe.StringData(s)), i))
}

// String32 is the little-endian uint32 at s[i:i+4]; the caller ensures i+4 <= len(s).
func String32(s string, i int) uint32 {
	return *(*uint32)(unsafe.Add(unsafe.Pointer(unsafe.StringData(s)), i))
}

// Bytes64 is the little-endian uint64 at b[i:i+8]; the caller ensures i+8 <= len(b).
func Bytes64(b []byte, i int) uint64 {
	return *(*uint64)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(b)), i))
}

// Bytes32 is the little-endian uint32 at b[i:i+4]; the caller ensures i+4 <= len(b).
func Bytes32(b []byte, i int) uint32 {
	return *(*uint32)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(b)), i))
}

// Equal32 compares two 32-byte arrays as four words (== on [32]byte calls memequal in the wasm build).
func Equal32(a, b *[32]byte) bool {
	return *(*[4]uint64)(unsafe.Pointer(a)) == *(*[4]uint64)(unsafe.Pointer(b))
}
