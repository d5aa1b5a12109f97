package gateway

import (
	"github.com/scope-gate/scope-gate/filter/digest"
	"strings"

	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

// Path normalization as Envoy's connection manager does it before any filter or route sees the request:
// envoyproxy/envoy source/common/http/conn_manager_utility.cc (ConnectionManagerUtility::maybeNormalizePath)
// and source/common/http/path_utility.cc (canonicalPath, stripParametersFromDotSegments, mergeSlashes,
// unescapeSlashes), read on main of August 2026; its latest change, CVE-2026-73551's dot-segment parameter
// stripping, shipped in the v1.36.10 / v1.37.6 / v1.38.4 / v1.39.1 security releases (tags not read here). canonicalPath runs
// Chromium's path canonicalizer (googleurl's url/url_canon_path.cc, the table Envoy links: %00 is an error,
// as Envoy's test/common/http/path_utility_test.cc InvalidPaths pins). The steps and their order:
//
//  1. a '#' anywhere in :path: 400 (runtime guard envoy.reloadable_features.http_reject_path_with_fragment,
//     true by default), whatever the three settings say;
//  2. path_with_escaped_slashes_action other than KEEP_UNCHANGED: %2F/%2f become '/' and %5C/%5c '\' in the
//     path part (before '?'); if any was found, REJECT_REQUEST answers 400 at once, UNESCAPE_AND_REDIRECT
//     remembers to redirect, UNESCAPE_AND_FORWARD goes on with the unescaped path;
//  3. normalize_path: ".;params" / "..;params" segments lose their parameters, then the path part is
//     canonicalized (RFC 3986 dot segments, including %2e in any case, "\" as "/", unreserved %XX decoded,
//     characters outside the URL set percent-encoded); an escaped NUL makes the path invalid: 400;
//  4. merge_slashes: runs of '/' in the path part become one.
//
// A redirect then answers 307 with Location set to the path after all of the above; a rejection answers
// 400 with an empty body (response code details "path_normalization_failed"). Neither runs a filter. A
// request that continues is routed, filtered and forwarded with the normalized :path.

// PathSettings are the three connection-manager settings serve implements. The zero value is Envoy's
// default: no normalization, escaped slashes kept (the raw path is matched and forwarded).
type PathSettings struct {
	NormalizePath  bool
	MergeSlashes   bool
	EscapedSlashes hcmv3.HttpConnectionManager_PathWithEscapedSlashesAction
}

// PathAction is what the connection manager does with a request after normalizing its path.
type PathAction int

const (
	PathContinue PathAction = iota // route and filter the request with the returned path
	PathRedirect                   // answer 307, Location: the returned path
	PathReject                     // answer 400, details path_normalization_failed
)

func (a PathAction) String() string {
	switch a {
	case PathRedirect:
		return "redirect"
	case PathReject:
		return "reject"
	}
	return "continue"
}

// PathNormalizationFailed is Envoy's response code details for both the 400 and the 307
// (StreamInfo::ResponseCodeDetails::PathNormalizationFailed).
const PathNormalizationFailed = "path_normalization_failed"

// NormalizePath applies the settings to a :path exactly as Envoy's maybeNormalizePath does, in its order.
// The returned path is the one to route on and forward (for PathRedirect, the Location); for PathReject it
// is the path as far as it got.
func NormalizePath(path string, s PathSettings) (string, PathAction) {
	if strings.IndexByte(path, '#') >= 0 {
		return path, PathReject
	}
	action := PathContinue
	switch s.EscapedSlashes {
	case hcmv3.HttpConnectionManager_KEEP_UNCHANGED, hcmv3.HttpConnectionManager_IMPLEMENTATION_SPECIFIC_DEFAULT:
		// IMPLEMENTATION_SPECIFIC_DEFAULT is Envoy's runtime http_connection_manager.path_with_escaped_slashes_action,
		// KEEP_UNCHANGED when unset (serve has no runtime layer).
	default:
		var found bool
		path, found = UnescapeSlashes(path)
		if found {
			switch s.EscapedSlashes {
			case hcmv3.HttpConnectionManager_REJECT_REQUEST:
				return path, PathReject
			case hcmv3.HttpConnectionManager_UNESCAPE_AND_REDIRECT:
				action = PathRedirect
			}
		}
	}
	if s.NormalizePath {
		var ok bool
		if path, ok = CanonicalPath(path); !ok {
			return path, PathReject
		}
	}
	if s.MergeSlashes {
		path = MergeSlashes(path)
	}
	return path, action
}

// splitQuery cuts :path at its first '?': Envoy's transformations touch only the part before it.
func splitQuery(p string) (path, query string) {
	if i := strings.IndexByte(p, '?'); i >= 0 {
		return p[:i], p[i:]
	}
	return p, ""
}

// UnescapeSlashes is Envoy's PathUtil::unescapeSlashes: %2F and %2f become '/', %5C and %5c '\', in the
// path part only; found says whether any was replaced. No other escape is touched (%252F stays).
func UnescapeSlashes(p string) (out string, found bool) {
	path, query := splitQuery(p)
	if strings.IndexByte(path, '%') < 0 {
		return p, false
	}
	var b strings.Builder
	b.Grow(len(p))
	for i := 0; i < len(path); i++ {
		if path[i] == '%' && i+2 < len(path) {
			switch path[i+1 : i+3] {
			case "2F", "2f":
				b.WriteByte('/')
				i += 2
				found = true
				continue
			case "5C", "5c":
				b.WriteByte('\\')
				i += 2
				found = true
				continue
			}
		}
		b.WriteByte(path[i])
	}
	b.WriteString(query)
	return b.String(), found
}

// MergeSlashes is Envoy's PathUtil::mergeSlashes: when the path part holds "//", it becomes "/" if it
// started with one, its non-empty segments joined by single slashes, and "/" if it ended with one; the
// query is untouched.
func MergeSlashes(p string) string {
	path, query := splitQuery(p)
	if !strings.Contains(path, "//") {
		return p
	}
	var b strings.Builder
	b.Grow(len(p))
	if strings.HasPrefix(path, "/") {
		b.WriteByte('/')
	}
	first := true
	for _, seg := range strings.Split(path, "/") {
		if seg == "" {
			continue
		}
		if !first {
			b.WriteByte('/')
		}
		b.WriteString(seg)
		first = false
	}
	if strings.HasSuffix(path, "/") {
		b.WriteByte('/') // as Envoy: "//" stays "//" (prefix and suffix, nothing between)
	}
	b.WriteString(query)
	return b.String()
}

// StripDotSegmentParameters is Envoy's PathUtil::stripParametersFromDotSegments (CVE-2026-73551): in the
// path part (before '?' or '#'), a segment starting with "..;" becomes ".." and one starting with ".;"
// becomes ".", so that canonicalization resolves them. Only literal dots count here (".%2e;" is not one).
func StripDotSegmentParameters(p string) string {
	end := strings.IndexAny(p, "?#")
	if end < 0 {
		end = len(p)
	}
	path, rest := p[:end], p[end:]
	if !strings.Contains(path, ".;") {
		return p
	}
	segs := strings.Split(path, "/")
	for i, s := range segs {
		switch {
		case strings.HasPrefix(s, "..;"):
			segs[i] = ".."
		case strings.HasPrefix(s, ".;"):
			segs[i] = "."
		}
	}
	return strings.Join(segs, "/") + rest
}

// CanonicalPath is Envoy's PathUtil::canonicalPath (with the dot-segment parameter stripping that runs
// first): the path part is canonicalized as below and the query appended unchanged; ok is false when the
// canonicalizer reports an invalid path (Envoy then answers 400).
func CanonicalPath(p string) (string, bool) {
	p = StripDotSegmentParameters(p)
	path, query := splitQuery(p)
	out, ok := canonicalizePath(path)
	return out + query, ok
}

// Character classes of googleurl's kPathCharLookup (url/url_canon_path.cc, the table Envoy builds with).
const (
	pathPass     = 0 // copied, and kept escaped when it arrives escaped
	pathSpecial  = 1 // needs a look ('.', '%', '\')
	pathEscape   = 3 // percent-encoded on output (special too)
	pathUnescape = 4 // copied, and decoded when it arrives escaped
	pathInvalid  = 9 // an error (NUL), percent-encoded on output (special too)
)

var pathChars = func() (t [256]byte) {
	for c := 0; c < 256; c++ {
		switch {
		case c == 0:
			t[c] = pathInvalid
		case c < 0x20 || c >= 0x7f:
			t[c] = pathEscape // controls, DEL and every high-bit byte
		case c >= '0' && c <= '9', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c == '-', c == '_', c == '~':
			t[c] = pathUnescape // RFC 3986 unreserved, except '.', which the dot logic handles
		}
	}
	for _, c := range []byte(" \"#%<>?\\^`{|}") {
		t[c] = pathEscape // '%' and '\' are handled before the escape rule applies
	}
	t['.'] = pathSpecial
	// Everything else ('!', '$', '&', '\'', '(', ')', '*', '+', ',', '/', ':', ';', '=', '@', '[', ']') passes.
	return t
}()

// isDot is googleurl's IsDot: "." or "%2e"/"%2E" at i, returning its length (0: not a dot).
func isDot(s string, i int) int {
	if s[i] == '.' {
		return 1
	}
	if s[i] == '%' && i+3 <= len(s) && s[i+1] == '2' && (s[i+2] == 'e' || s[i+2] == 'E') {
		return 3
	}
	return 0
}

func isSlash(c byte) bool { return c == '/' || c == '\\' }

const upperHex = "0123456789ABCDEF"

// canonicalizePath follows googleurl's DoPath/DoPartialPath on 8-bit input: a '/' is prepended when the path
// does not start with '/' or '\', an empty path is "/"; then byte by byte: a dot segment ("." or "%2e",
// followed by '/', '\' or the end) is dropped, ".." removes the previous segment (never above the root),
// '\' becomes '/', "%XX" is decoded when XX is an unreserved character, kept as written otherwise, and an
// error when it is NUL; a '%' not followed by two hex digits is kept; a byte of the escape class is
// written as %XX (upper case). Consecutive slashes are left alone (merge_slashes is separate).
func canonicalizePath(in string) (string, bool) {
	out := make([]byte, 0, len(in)+8)
	if in == "" {
		return "/", true
	}
	if !isSlash(in[0]) {
		out = append(out, '/')
	}
	const begin = 0 // the path begins the output
	ok := true
	for i := 0; i < len(in); i++ {
		c := in[i]
		flags := pathChars[c]
		if flags&pathSpecial == 0 {
			out = append(out, c)
			continue
		}
		if n := isDot(in, i); n > 0 {
			if len(out) > begin && out[len(out)-1] == '/' {
				after := i + n
				switch {
				case after == len(in): // "." at the end
					i += n - 1
				case isSlash(in[after]): // "./"
					i += n
				default:
					if m := isDot(in, after); m > 0 && (after+m == len(in) || isSlash(in[after+m])) {
						// "..", at the end or before a slash: back up to the previous slash.
						out = backUp(out, begin)
						if after+m == len(in) {
							i = after + m - 1
						} else {
							i = after + m
						}
					} else {
						out = append(out, '.') // a name that starts with a dot
						i += n - 1
					}
				}
			} else {
				out = append(out, '.')
				i += n - 1
			}
			continue
		}
		switch {
		case c == '\\':
			out = append(out, '/')
		case c == '%':
			if i+2 < len(in) {
				hi, ok1 := digest.HexDigit(in[i+1])
				lo, ok2 := digest.HexDigit(in[i+2])
				if ok1 && ok2 {
					v := hi<<4 | lo
					switch f := pathChars[v]; {
					case f&pathUnescape != 0:
						out = append(out, v)
					case f == pathInvalid:
						out = append(out, '%', in[i+1], in[i+2])
						ok = false
					default:
						out = append(out, '%', in[i+1], in[i+2]) // kept as written, hex case included
					}
					i += 2
					continue
				}
			}
			out = append(out, '%')
		case flags == pathInvalid:
			out = append(out, '%', upperHex[c>>4], upperHex[c&15])
			ok = false
		default: // pathEscape
			out = append(out, '%', upperHex[c>>4], upperHex[c&15])
		}
	}
	return string(out), ok
}

// backUp is googleurl's BackUpToPreviousSlash: out ends with '/'; drop the last segment, keeping the slash
// before it, never going above the first slash.
func backUp(out []byte, begin int) []byte {
	i := len(out) - 1
	if i == begin {
		return out
	}
	i--
	for out[i] != '/' && i > begin {
		i--
	}
	return out[:i+1]
}
