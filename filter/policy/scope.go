package policy

import "strings"

// validScopeToken reports whether s is an RFC 6749 §3.3 scope-token: 1*( %x21 / %x23-5B / %x5D-7E ).
func validScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7E || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// splitSpaced splits a list written as tokens separated by single spaces (RFC 6749 scope syntax), checking
// each token with valid. It reports the first offending token, or "" for a structural problem (empty list,
// leading, trailing or doubled spaces).
func splitSpaced(s string, valid func(string) bool) (items []string, bad string, ok bool) {
	if s == "" {
		return nil, "", false
	}
	items = strings.Split(s, " ")
	for _, it := range items {
		if it == "" {
			return nil, "", false
		}
		if !valid(it) {
			return nil, it, false
		}
	}
	return items, "", true
}

// validSubjectType: the same character set as scope tokens; subject types are compared exactly.
func validSubjectType(s string) bool { return validScopeToken(s) }
