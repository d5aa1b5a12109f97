// Package pathcheck refuses request paths that an edge and a backend could read as different resources.
//
// Envoy matches routes on the :path it received (unless its connection manager normalizes it), while a
// backend, a framework or a file server behind it may resolve dot segments, decode %2F, treat '\' as '/',
// merge slashes or drop ";" parameters. When the two readings differ, a request can match a public route at
// the edge and reach a protected resource upstream (Envoy CVE-2019-9901, Istio CVE-2021-31920). The filter
// therefore refuses, on every route, a path whose reading depends on such rules: it is the second layer
// behind Envoy's own normalization (docs/spec.md §5 step 0; README "Path confusion: the two layers").
//
// Check is pure, allocation-free for paths without percent-escapes, and allocates only for a percent-encoded
// path longer than its stack buffer.
package pathcheck

import (
	"unsafe"

	"github.com/scope-gate/scope-gate/filter/digest"
	"github.com/scope-gate/scope-gate/filter/internal/word"
)

// Rules relaxes individual checks for APIs that really need them. The zero value is strict.
type Rules struct {
	AllowEncodedSlashes bool // %2F and %5C (at any depth of encoding) may appear inside a segment
	AllowEmptySegments  bool // "//" may appear
	AllowBackslashes    bool // a raw '\' may appear
}

// Problem is why a path is refused; OK (zero) accepts it.
type Problem uint8

const (
	OK               Problem = iota
	NotAbsolute              // the path does not begin with '/'
	DotSegment               // a "." or ".." segment, raw or percent-encoded at any depth, also before a ';' parameter or with a trailing dot
	EncodedSlash             // %2F or %5C, at any depth of encoding
	Backslash                // a raw '\'
	EmptySegment             // "//"
	ControlByte              // a byte below 0x20 or DEL (raw or percent-encoded), or a raw '#'
	OverlongUTF8             // a non-shortest UTF-8 form (e.g. %C0%AE for '.'), which lenient decoders read as ASCII
	TooDeeplyEncoded         // more than maxLayers layers of percent-encoding
)

var problemNames = [...]string{
	OK: "ok", NotAbsolute: "not_absolute", DotSegment: "dot_segment", EncodedSlash: "encoded_slash",
	Backslash: "backslash", EmptySegment: "empty_segment", ControlByte: "control_byte",
	OverlongUTF8: "overlong_utf8", TooDeeplyEncoded: "too_deeply_encoded",
}

// String is the problem's name, as logged.
func (p Problem) String() string {
	if int(p) < len(problemNames) {
		return problemNames[p]
	}
	return "invalid"
}

// maxLayers bounds how many times a path is percent-decoded. Each layer that still changes the path is
// one more decoder it could pass through (a proxy, a framework, an application); a path still changing
// after this many is refused rather than decoded further.
const maxLayers = 4

// Check inspects the path part of :path (everything before the first '?'). An empty path (a CONNECT request
// has none) and the asterisk form "*" (OPTIONS *) are accepted: neither names a resource under a route.
func Check(target string, rules Rules) Problem {
	// The fast path, in one pass up to the query, for the common path made of plain bytes only and without
	// "//": no rule can refuse it (no dot segment without '.', no parameter without ';', no empty segment
	// without "//", no escape without '%'), under any Rules. Anything else takes the full check below.
	//
	// It reads eight bytes at a time first, in windows seven bytes apart (so that every pair of neighbours
	// lies in one window; the last window overlaps the one before), with no branch per byte: in Go's wasm
	// build every turn of a loop and every taken branch is a jump through the function's dispatch table
	// (docs/rationale.md). It stops at the first window that is not all plain or holds "//" (a '?' is not
	// plain), and the byte loop below takes over from that window.
	i, prev := 0, byte(0)
	if n := len(target); n >= 8 && target[0] == '/' {
		for {
			w := word.String64(target, i)
			c0, c1, c2, c3 := class[uint8(w)], class[uint8(w>>8)], class[uint8(w>>16)], class[uint8(w>>24)]
			c4, c5, c6, c7 := class[uint8(w>>32)], class[uint8(w>>40)], class[uint8(w>>48)], class[uint8(w>>56)]
			if (c0|c1|c2|c3|c4|c5|c6|c7)&stop != 0 || (c0&c1|c1&c2|c2&c3|c3&c4|c4&c5|c5&c6|c6&c7)&slash != 0 {
				break
			}
			if i == n-8 {
				return OK
			}
			i = min(i+7, n-8)
		}
		if i > 0 {
			prev = target[i-1]
		}
	}
	for ; i <= len(target); i++ {
		if i == len(target) || target[i] == '?' {
			switch p := target[:i]; {
			case p == "" || p == "*":
				return OK
			case p[0] != '/':
				return NotAbsolute
			}
			return OK
		}
		c := target[i]
		if !plain[c] || c == '/' && prev == '/' {
			break
		}
		prev = c
	}
	return checkFull(target, rules)
}

// class is plain as the fast path's windows read it: stop for a byte that is not plain, slash for '/', 0 for
// the rest.
const (
	slash = 1 << iota
	stop
)

var class = func() (t [256]uint8) {
	for c := range t {
		switch {
		case !plain[c]:
			t[c] = stop
		case c == '/':
			t[c] = slash
		}
	}
	return t
}()

// checkFull is Check without its fast path: what every path that is not plain goes through (and the reference
// the fast path is fuzzed against).
func checkFull(target string, rules Rules) Problem {
	p := target
	for i := 0; i < len(p); i++ {
		if p[i] == '?' {
			p = p[:i]
			break
		}
	}
	if p == "" || p == "*" {
		return OK
	}
	if p[0] != '/' {
		return NotAbsolute
	}
	if pr := checkLayer(p, rules, 0); pr != OK {
		return pr
	}
	if !hasEscape(p) {
		return OK
	}
	return checkDecoded(p, rules)
}

// plain marks the bytes that cannot start any problem Check looks for: letters, digits, '/' and the RFC 3986
// sub-delimiters and unreserved marks other than '.' and ';' (dot segments, parameters), without '%'
// (escapes), '\' (a separator), '#', controls, DEL and bytes >= 0x80 (overlong UTF-8).
var plain = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "/-_~!$&'()*+,=:@" {
		t[c] = true
	}
	return t
}()

// checkDecoded checks the decoded readings of a path that holds escapes. It is apart from Check so that
// the common path (no escape) does not pay for its 512-byte buffer, which the wasm build zeroes on entry.
func checkDecoded(p string, rules Rules) Problem {
	// Decode layer after layer, checking each: a backend may decode once, a chain of them several times.
	var stack [512]byte
	buf := stack[:0]
	if len(p) > len(stack) {
		buf = make([]byte, 0, len(p))
	}
	buf = append(buf, p...)
	rawSeparators := countSeparators(p)
	// The layers are read through string views of buf (unsafe.String): checkLayer keeps none of them, and
	// buf is only rewritten after the checks of a layer return.
	for layer := 1; ; layer++ {
		buf = decodeInPlace(buf)
		text := unsafe.String(unsafe.SliceData(buf), len(buf))
		if !rules.AllowEncodedSlashes && countSeparators(text) != rawSeparators {
			return EncodedSlash
		}
		if pr := checkLayer(text, rules, layer); pr != OK {
			return pr
		}
		if !hasEscape(text) {
			return OK
		}
		if layer == maxLayers {
			return TooDeeplyEncoded
		}
	}
}

// checkLayer checks one reading of the path. Layer 0 is the path as received. '\' separates segments in
// every layer (many servers read it as '/'), so dot segments between backslashes count even where raw
// backslashes are allowed; "//" is judged at layer 0 only (in decoded layers, empty segments come from
// encoded slashes, which EncodedSlash judges).
func checkLayer(p string, rules Rules, layer int) Problem {
	start := 1 // p[0] == '/'
	prevSlash := true
	for i := 1; i <= len(p); i++ {
		slash := false
		if i < len(p) {
			c := p[i]
			switch {
			case c < 0x20 || c == 0x7f || (c == '#' && layer == 0):
				return ControlByte
			case c == 0xc0 || c == 0xc1:
				return OverlongUTF8
			case (c == 0xe0 || c == 0xf0) && i+1 < len(p) && p[i+1] >= 0x80 && p[i+1] < 0xa0 && (c == 0xe0 || p[i+1] < 0x90):
				return OverlongUTF8
			case c == '\\':
				if layer == 0 && !rules.AllowBackslashes {
					return Backslash
				}
			case c == '/':
				slash = true
			default:
				continue
			}
			if slash && prevSlash && i == start && layer == 0 && !rules.AllowEmptySegments {
				return EmptySegment
			}
		}
		seg := p[start:i]
		if isDotLike(seg) {
			return DotSegment
		}
		// "/;x/" is an empty segment to a server that drops parameters (and then merges slashes).
		if len(seg) > 0 && seg[0] == ';' && !rules.AllowEmptySegments {
			return EmptySegment
		}
		start, prevSlash = i+1, slash
	}
	return OK
}

// isDotLike reports whether a segment resolves like a dot segment somewhere: "." or "..", also with a ";"
// parameter after them ("..;x", which Tomcat-style servers strip), and any segment ending in '.', before
// or after its parameters (Windows servers drop trailing dots, so "apps." can be "apps").
func isDotLike(seg string) bool {
	name := paramName(seg)
	if name == "." || name == ".." {
		return true
	}
	return len(seg) > 0 && seg[len(seg)-1] == '.' || len(name) > 0 && name[len(name)-1] == '.'
}

// paramName is a segment without its ";" parameters.
func paramName(seg string) string {
	for i := 0; i < len(seg); i++ {
		if seg[i] == ';' {
			return seg[:i]
		}
	}
	return seg
}

func hasEscape(p string) bool {
	for i := 0; i+2 < len(p); i++ {
		if p[i] == '%' && isHex(p[i+1]) && isHex(p[i+2]) {
			return true
		}
	}
	return false
}

func countSeparators(p string) int {
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] == '/' || p[i] == '\\' {
			n++
		}
	}
	return n
}

// decodeInPlace percent-decodes one layer: every "%XX" with two hex digits becomes its byte; a '%' not
// followed by two hex digits stays as it is (what lenient decoders do).
func decodeInPlace(b []byte) []byte {
	w := 0
	for r := 0; r < len(b); r++ {
		c := b[r]
		if c == '%' && r+2 < len(b) && isHex(b[r+1]) && isHex(b[r+2]) {
			c = unhex(b[r+1])<<4 | unhex(b[r+2])
			r += 2
		}
		b[w] = c
		w++
	}
	return b[:w]
}

// isHex reports whether c is a hex digit.
func isHex(c byte) bool {
	_, ok := digest.HexDigit(c)
	return ok
}

// unhex is the value of a byte isHex accepted.
func unhex(c byte) byte {
	v, _ := digest.HexDigit(c)
	return v
}
