// Package bearer extracts and screens bearer tokens from Authorization header values (docs/spec.md §4 and
// §5 steps 3 to 5), with the reference backend's exact parsing rules. It never returns or formats the token in
// an error, so nothing here can leak one into a log.
package bearer

// MaxTokenLen is the longest token the filter will consider; longer ones are invalid without a lookup.
const MaxTokenLen = 4096

// Parse extracts the token from one Authorization header value. The value is split at its first space; the
// scheme must equal "bearer" case-insensitively; the rest is trimmed of spaces (only U+0020, like the
// backend's split(" ", 1)). It reports false (a missing bearer, 401) for another scheme, no space, or
// nothing after the scheme. A tab separator or a leading space therefore means "no bearer", as in the
// backend.
func Parse(value string) (token string, ok bool) {
	sp := -1
	for i := 0; i < len(value); i++ {
		if value[i] == ' ' {
			sp = i
			break
		}
	}
	if sp < 0 || !isBearerScheme(value[:sp]) {
		return "", false
	}
	rest := value[sp+1:]
	for len(rest) > 0 && rest[0] == ' ' {
		rest = rest[1:]
	}
	for len(rest) > 0 && rest[len(rest)-1] == ' ' {
		rest = rest[:len(rest)-1]
	}
	if rest == "" {
		return "", false
	}
	return rest, true
}

func isBearerScheme(s string) bool {
	const want = "bearer"
	if len(s) != len(want) {
		return false
	}
	for i := 0; i < len(want); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != want[i] {
			return false
		}
	}
	return true
}

// WellFormed reports whether a token may be looked up at all: at most MaxTokenLen bytes, every byte visible
// ASCII (0x21 to 0x7E). Anything else is an invalid bearer (401) without touching a validator or a cache.
func WellFormed(token string) bool {
	if len(token) == 0 || len(token) > MaxTokenLen {
		return false
	}
	for i := 0; i < len(token); i++ {
		if c := token[i]; c < 0x21 || c > 0x7E {
			return false
		}
	}
	return true
}

// Hash is the token's identity everywhere outside the request: cache keys, static tables, logs.
type Hash [32]byte

// Sum hashes a token.
func Sum(token string) Hash { return sum256([]byte(token)) }

// Hex is the full lower-case hex of the hash.
func (h Hash) Hex() string { return hexString(h[:]) }

// LogID is the first 8 hex digits of the hash: the only form in which a token may appear in a log line.
func (h Hash) LogID() string { return hexString(h[:4]) }

// ParseHex reads 64 hex digits (either case) into a Hash.
func ParseHex(s string) (Hash, bool) {
	var h Hash
	if len(s) != 2*len(h) {
		return h, false
	}
	for i := range h {
		hi, ok1 := unhex(s[2*i])
		lo, ok2 := unhex(s[2*i+1])
		if !ok1 || !ok2 {
			return Hash{}, false
		}
		h[i] = hi<<4 | lo
	}
	return h, true
}

// hexString and unhex replace encoding/hex, which imports fmt (for one error message) and would link fmt,
// reflect and os into the module.
func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&0xF]
	}
	return string(out)
}

func unhex(c byte) (byte, bool) {
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
