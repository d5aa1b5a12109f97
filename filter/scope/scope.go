// Package scope is the RFC 6749 §3.3 scope syntax as scope-gate reads it everywhere (docs/spec.md §2 and §3):
// scope tokens, space-separated lists as configured (strict) and as servers send them (tolerant), and the
// sorted, deduplicated sets that effective scopes are compared and sent upstream as. Subject types share the
// scope token's character set. It imports nothing of scope-gate, so the configuration, the validators and
// the decision all use it without depending on one another.
package scope

import "strings"

// ValidToken reports whether s is an RFC 6749 §3.3 scope-token: 1*( %x21 / %x23-5B / %x5D-7E ).
func ValidToken(s string) bool {
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

// SplitSpaced splits a list written as tokens separated by single spaces (RFC 6749 scope syntax), checking
// each token with valid. It reports the first offending token, or "" for a structural problem (empty list,
// leading, trailing or doubled spaces).
func SplitSpaced(s string, valid func(string) bool) (items []string, bad string, ok bool) {
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

// ValidSubjectType: the same character set as scope tokens; subject types are compared exactly.
func ValidSubjectType(s string) bool { return ValidToken(s) }

// SortedSet sorts a short list in place and drops duplicates (insertion sort: config-time, tiny lists, and
// no generic sort instantiations in the module).
func SortedSet(list []string) []string {
	for i := 1; i < len(list); i++ {
		for j := i; j > 0 && list[j] < list[j-1]; j-- {
			list[j], list[j-1] = list[j-1], list[j]
		}
	}
	out := list[:0]
	for i, s := range list {
		if i == 0 || s != list[i-1] {
			out = append(out, s)
		}
	}
	return out
}

// Fields splits a space-separated scope string (tolerating repeated spaces, as servers emit them),
// requiring each piece to be an RFC 6749 scope token; the result is sorted and deduplicated.
func Fields(s string) ([]string, bool) {
	var out []string
	start := -1
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ' ' {
			if start >= 0 {
				piece := s[start:i]
				if !ValidToken(piece) {
					return nil, false
				}
				out = append(out, piece)
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	return SortedSet(out), true
}

// Join joins a list with single spaces (the upstream scopes header, the cached scopes text).
func Join(list []string) string {
	n := 0
	for _, s := range list {
		n += len(s) + 1
	}
	b := make([]byte, 0, n)
	for i, s := range list {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, s...)
	}
	return string(b)
}
