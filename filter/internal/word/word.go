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

// Equal reports whether a and b are the same bytes. == on strings calls memequal, which calls memeqbody, in
// the wasm build; here the bytes are compared sixteen at a time, and what is left as one word that overlaps
// the ones before (or two overlapping half words, for strings of four to seven bytes), the differences
// gathered with no branch per word: in Go's wasm build every turn of a loop and every taken branch is a jump
// through the function's dispatch table, which costs more than the loads (docs/rationale.md). It reads
// every byte whatever the answer; nothing secret is compared with it (hashes go through Equal32).
func Equal(a, b string) bool {
	n := len(a)
	switch {
	case n != len(b):
		return false
	case n >= 8:
		var x uint64
		i := 0
		for ; i+16 <= n; i += 16 {
			x |= (String64(a, i) ^ String64(b, i)) | (String64(a, i+8) ^ String64(b, i+8))
		}
		if i+8 <= n {
			x |= String64(a, i) ^ String64(b, i)
		}
		return x|(String64(a, n-8)^String64(b, n-8)) == 0
	case n >= 4:
		return (String32(a, 0)^String32(b, 0))|(String32(a, n-4)^String32(b, n-4)) == 0
	}
	for i := range n {
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
