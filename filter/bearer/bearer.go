// Package bearer extracts and screens bearer tokens from Authorization header values (docs/spec.md §4 and
// §5 steps 3 to 5), with the reference backend's exact parsing rules. It never returns or formats the token in
// an error, so nothing here can leak one into a log.
package bearer

import (
	"github.com/scope-gate/scope-gate/filter/digest"
	"github.com/scope-gate/scope-gate/filter/internal/word"
)

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

func isBearerScheme(s string) bool { return word.EqualFoldASCII(s, "bearer") }

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

// Hash is the token's identity everywhere outside the request: cache keys, static tables, logs. It is a
// SHA-256 digest (filter/digest); the alias keeps the bearer vocabulary where callers speak of tokens.
type Hash = digest.Hash

// Sum hashes a token.
func Sum(token string) Hash { return digest.Sum(token) }
