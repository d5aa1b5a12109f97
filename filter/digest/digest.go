// Package digest is SHA-256 and its hex forms, written out in-tree: the token hash that keys the static table
// and the shared cache (docs/spec.md §4.1, §4.5), and the hex that configures and logs it. crypto/sha256
// and encoding/hex are not used because of what they link into the module (docs/rationale.md; sha256.go and
// hexString say what each would cost).
package digest

// Hash is a SHA-256 digest.
type Hash [32]byte

// Sum hashes a string (a bearer token, a configuration fingerprint).
func Sum(s string) (h Hash) {
	sum256((*[32]byte)(&h), s)
	return h
}

// SumTo hashes s into *h: Sum for the request path, where returning the array would cost a memory.copy in
// Go's wasm build (see sum256).
func SumTo(h *Hash, s string) { sum256((*[32]byte)(h), s) }

// Hex is the full lower-case hex of the hash.
func (h Hash) Hex() string { return hexString(h[:]) }

// LogID is the first 8 hex digits of the hash: the only form in which a token may appear in a log line.
func (h Hash) LogID() string { return hexString(h[:4]) }

// AppendLogID appends LogID to dst (a log line built without allocating).
func (h Hash) AppendLogID(dst []byte) []byte {
	const digits = "0123456789abcdef"
	for _, c := range h[:4] {
		dst = append(dst, digits[c>>4], digits[c&0xF])
	}
	return dst
}

// ParseHex reads 64 hex digits (either case) into a Hash.
func ParseHex(s string) (Hash, bool) {
	var h Hash
	if len(s) != 2*len(h) {
		return h, false
	}
	for i := range h {
		hi, ok1 := HexDigit(s[2*i])
		lo, ok2 := HexDigit(s[2*i+1])
		if !ok1 || !ok2 {
			return Hash{}, false
		}
		h[i] = hi<<4 | lo
	}
	return h, true
}

// hexString and HexDigit replace encoding/hex, which imports fmt (for one error message) and would link fmt,
// reflect and os into the module.
func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&0xF]
	}
	return string(out)
}

// HexDigit is the value of one hex digit, either case; false for any other byte. Shared by every decoder
// of hex and percent-escapes in the tree (token hashes, request paths).
func HexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
