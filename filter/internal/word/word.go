// Package word reads little-endian words out of strings and byte slices without bounds checks, for the
// request path's word-at-a-time scans (bearer tokens, header names). In the wasm build a load through
// encoding/binary costs one load per byte; here it is one unaligned load on little-endian machines (and
// encoding/binary elsewhere). Callers guarantee the bounds: each function reads exactly the bytes it names.
package word

// Of is the little-endian word of s's first (at most eight) bytes, zero-padded: the constant a load is
// compared with.
func Of(s string) uint64 {
	var w uint64
	for i := 0; i < len(s) && i < 8; i++ {
		w |= uint64(s[i]) << (8 * i)
	}
	return w
}

// Mask keeps the low n bytes of a word (n in 0..8).
func Mask(n int) uint64 {
	if n >= 8 {
		return ^uint64(0)
	}
	return 1<<(8*uint(n)) - 1
}

// Equal reports whether a and b are the same bytes, comparing a word at a time: == on strings calls memequal,
// which calls memeqbody, in the wasm build (two calls per compare on the request path).
func Equal(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for ; len(a) >= 8; a, b = a[8:], b[8:] {
		if String64(a, 0) != String64(b, 0) {
			return false
		}
	}
	for i := range len(a) {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// EqualFoldASCII compares s with a lower-case ASCII name, ignoring ASCII case (and only ASCII case: a byte
// >= 0x80 never folds, unlike strings.EqualFold).
func EqualFoldASCII(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(lower); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
