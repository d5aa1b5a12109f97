package pathcheck

import (
	"net/url"
	"path"
	"strings"
	"testing"
)

// corpus is the path-confusion corpus (docs/spec.md §5 step 0): each row is a :path a client can send, and
// what the strict check says of it. The protected route in mind is /openapi/v1/apps behind the public
// prefix /openapi/v1/oauth/device/.
var corpus = []struct {
	path string
	want Problem
}{
	// Paths that name exactly one resource.
	{"/", OK},
	{"/openapi/v1/apps", OK},
	{"/openapi/v1/apps/", OK},
	{"/openapi/v1/apps?x=../../y&z=%2f", OK}, // the query is not the path
	{"/openapi/v1/apps/a%20b", OK},
	{"/openapi/v1/files/caf%C3%A9", OK}, // shortest-form UTF-8
	{"/openapi/v1/search/100%25", OK},   // a literal percent: "100%" once decoded, nothing further
	{"/openapi/v1/apps/%zz", OK},        // not an escape: stays as is everywhere
	{"/.well-known/openid-configuration", OK},
	{"/openapi/v1/apps/v1.2", OK},
	{"/openapi/v1/apps/...x", OK},
	{"/openapi/v1/apps;v=1", OK},
	{"", OK},
	{"*", OK},
	// Dot segments, raw and encoded in any case, at any depth.
	{"/openapi/v1/oauth/device/../../apps", DotSegment},
	{"/openapi/v1/oauth/device/./../apps", DotSegment},
	{"/openapi/v1/oauth/device/..", DotSegment},
	{"/openapi/v1/oauth/device/.", DotSegment},
	{"/openapi/v1/oauth/device/%2e%2e/%2e%2e/apps", DotSegment},
	{"/openapi/v1/oauth/device/%2E%2e/%2e%2E/apps", DotSegment},
	{"/openapi/v1/oauth/device/.%2e/apps", DotSegment},
	{"/openapi/v1/oauth/device/%2e/apps", DotSegment},
	{"/openapi/v1/oauth/device/%252e%252e/%252e%252e/apps", DotSegment}, // double encoding
	{"/openapi/v1/oauth/device/%25252e%25252e/apps", DotSegment},        // triple encoding
	{"/openapi/v1/oauth/device/%252%65%252%65/apps", DotSegment},        // layers interleaved
	{"/openapi/v1/oauth/device/..;/..;/apps", DotSegment},               // Tomcat-style parameters
	{"/openapi/v1/oauth/device/..;jsessionid=x/apps", DotSegment},
	{"/openapi/v1/oauth/device/..%3b/apps", DotSegment},
	{"/openapi/v1/apps.", DotSegment}, // trailing dot: Windows servers drop it
	{"/openapi/v1/apps../x", DotSegment},
	// Encoded slashes and backslashes.
	{"/openapi/v1/oauth/device/..%2F..%2Fapps", EncodedSlash},
	{"/openapi/v1/oauth/device/x%2fy", EncodedSlash},
	{"/openapi/v1/oauth/device/x%5Cy", EncodedSlash},
	{"/openapi/v1/oauth/device/x%5cy", EncodedSlash},
	{"/openapi/v1/oauth/device/x%252fy", EncodedSlash},
	{"/openapi/v1/oauth/device/..\\..\\apps", Backslash},
	{"/openapi/v1/oauth/device\\x", Backslash},
	// Empty segments.
	{"//openapi/v1/apps", EmptySegment},
	{"/openapi/v1/oauth/device//../apps", EmptySegment},
	{"/openapi//v1/apps", EmptySegment},
	{"/;/openapi/v1/apps", EmptySegment},
	{"/openapi/v1/%3bx/apps", EmptySegment},
	{"/openapi/v1/apps.;x", DotSegment},
	// Control bytes, raw and encoded, and a raw fragment.
	{"/openapi/v1/apps\x00", ControlByte},
	{"/openapi/v1/apps%00", ControlByte},
	{"/openapi/v1/apps%0a", ControlByte},
	{"/openapi/v1/apps%7F", ControlByte},
	{"/openapi/v1/apps%2500", ControlByte},
	{"/openapi/v1/apps\t", ControlByte},
	{"/openapi/v1/oauth/device#/../../apps", ControlByte},
	// Overlong UTF-8 forms of '.' and '/'.
	{"/openapi/v1/oauth/device/%c0%ae%c0%ae/apps", OverlongUTF8},
	{"/openapi/v1/oauth/device/%C0%AFapps", OverlongUTF8},
	{"/openapi/v1/oauth/device/%e0%80%ae", OverlongUTF8},
	{"/openapi/v1/oauth/device/%f0%80%80%ae", OverlongUTF8},
	{"/openapi/v1/oauth/device/\xc0\xae", OverlongUTF8},
	// Not a path.
	{"openapi/v1/apps", NotAbsolute},
	{"http://example.com/openapi/v1/apps", NotAbsolute},
	// Absurd nesting.
	{"/a/%2525252541", TooDeeplyEncoded},
}

func TestCorpus(t *testing.T) {
	for _, tc := range corpus {
		if got := Check(tc.path, Rules{}); got != tc.want {
			t.Errorf("Check(%q) = %v, want %v", tc.path, got, tc.want)
		}
	}
}

func TestRelaxedRules(t *testing.T) {
	tests := []struct {
		path  string
		rules Rules
		want  Problem
	}{
		{"/repos/a%2Fb/issues", Rules{AllowEncodedSlashes: true}, OK},
		{"/repos/a%5Cb", Rules{AllowEncodedSlashes: true}, OK},
		{"/repos/a%2F..%2Fb", Rules{AllowEncodedSlashes: true}, DotSegment}, // a decoder that splits there sees ".."
		{"/repos/..%2Fb", Rules{AllowEncodedSlashes: true}, DotSegment},
		{"/repos/a%2F%2Fb", Rules{AllowEncodedSlashes: true}, OK},
		{"/repos/a%2Fb", Rules{AllowEmptySegments: true, AllowBackslashes: true}, EncodedSlash},
		{"/a//b", Rules{AllowEmptySegments: true}, OK},
		{"/a//../b", Rules{AllowEmptySegments: true}, DotSegment},
		{"/a\\b", Rules{AllowBackslashes: true}, OK},
		{"/a\\..\\b", Rules{AllowBackslashes: true}, DotSegment}, // backslash still separates for dot segments
		{"/a\\/b", Rules{AllowBackslashes: true}, OK},
		{"/a/%2e%2e/b", Rules{AllowEncodedSlashes: true, AllowEmptySegments: true, AllowBackslashes: true}, DotSegment},
		{"/a/%00", Rules{AllowEncodedSlashes: true, AllowEmptySegments: true, AllowBackslashes: true}, ControlByte},
	}
	for _, tc := range tests {
		if got := Check(tc.path, tc.rules); got != tc.want {
			t.Errorf("Check(%q, %+v) = %v, want %v", tc.path, tc.rules, got, tc.want)
		}
	}
}

func TestProblemNames(t *testing.T) {
	seen := map[string]bool{}
	for p := OK; p <= TooDeeplyEncoded; p++ {
		name := p.String()
		if name == "" || name == "invalid" || seen[name] {
			t.Fatalf("problem %d has name %q", p, name)
		}
		seen[name] = true
	}
	if Problem(200).String() != "invalid" {
		t.Fatal("out-of-range problem must print as invalid")
	}
}

func TestCheckDoesNotAllocate(t *testing.T) {
	for _, p := range []string{"/openapi/v1/apps/abc/run?x=1", "/openapi/v1/files/caf%C3%A9/%20x", "/a/%2e%2e/b"} {
		if n := testing.AllocsPerRun(100, func() { Check(p, Rules{}) }); n != 0 {
			t.Errorf("Check(%q) allocates %.0f times per call", p, n)
		}
	}
}

// resolvesToItself is the reference resolver: every reading a backend could make of p (percent-decoded
// up to maxLayers times; '\' read as '/'; ";" parameters dropped from each segment; a trailing '.'
// dropped from each segment) must name the same path under path.Clean (RFC 3986 dot-segment removal plus
// slash merging). It reports the first reading that does not.
func resolvesToItself(p string) (string, bool) {
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	if p == "" || p == "*" {
		return "", true
	}
	readings := []string{p}
	cur := p
	for layer := 0; layer < maxLayers; layer++ {
		next, err := url.PathUnescape(lenientEscapes(cur))
		if err != nil || next == cur {
			break
		}
		readings = append(readings, next)
		cur = next
	}
	for _, r := range readings {
		for _, variant := range []string{r, strings.ReplaceAll(r, "\\", "/"), dropParamsAndTrailingDots(strings.ReplaceAll(r, "\\", "/"))} {
			for i := 0; i < len(variant); i++ {
				if c := variant[i]; c < 0x20 || c == 0x7f {
					return variant, false
				}
			}
			want := strings.TrimSuffix(variant, "/")
			if want == "" {
				want = "/"
			}
			if path.Clean(variant) != want {
				return variant, false
			}
		}
	}
	return "", true
}

// lenientEscapes doubles every '%' that is not an escape, so url.PathUnescape (strict) decodes like the
// lenient decoders of servers: "%zz" stays "%zz".
func lenientEscapes(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && !(i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2])) {
			b.WriteString("%25")
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func dropParamsAndTrailingDots(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if j := strings.IndexByte(s, ';'); j >= 0 {
			s = s[:j]
		}
		segs[i] = strings.TrimRight(s, ".")
		if s != "" && segs[i] == "" { // "." or "..": keep it, so Clean sees the dot segment
			segs[i] = s
		}
	}
	return strings.Join(segs, "/")
}

func TestCorpusAgreesWithReference(t *testing.T) {
	for _, tc := range corpus {
		reading, ok := resolvesToItself(tc.path)
		if tc.want == OK && !ok {
			t.Errorf("%q is accepted but a backend could read it as %q", tc.path, reading)
		}
	}
}

// FuzzCheck: every path the strict check accepts resolves to itself under the reference resolver, and the
// relaxed rules never accept a path that carries a dot segment in any reading.
func FuzzCheck(f *testing.F) {
	for _, tc := range corpus {
		f.Add(tc.path)
	}
	f.Fuzz(func(t *testing.T, p string) {
		// The fast path is only a shortcut: under every combination of rules, Check answers
		// exactly what the full check answers.
		for bits := 0; bits < 8; bits++ {
			r := Rules{AllowEncodedSlashes: bits&1 != 0, AllowEmptySegments: bits&2 != 0, AllowBackslashes: bits&4 != 0}
			if got, want := Check(p, r), checkFull(p, r); got != want {
				t.Fatalf("Check(%q, %+v) = %v, the full check says %v", p, r, got, want)
			}
		}
		if Check(p, Rules{}) == OK {
			if reading, ok := resolvesToItself(p); !ok {
				t.Fatalf("Check accepts %q, but a backend could read it as %q", p, reading)
			}
		}
		if Check(p, Rules{AllowEncodedSlashes: true, AllowEmptySegments: true, AllowBackslashes: true}) == OK {
			for _, r := range readingsOf(p) {
				for _, seg := range strings.FieldsFunc(strings.ReplaceAll(r, "\\", "/"), func(c rune) bool { return c == '/' }) {
					if name, _, _ := strings.Cut(seg, ";"); name == "." || name == ".." {
						t.Fatalf("relaxed Check accepts %q, whose reading %q has a dot segment", p, r)
					}
				}
			}
		}
	})
}

func readingsOf(p string) []string {
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	out := []string{p}
	for layer := 0; layer < maxLayers; layer++ {
		next, err := url.PathUnescape(lenientEscapes(p))
		if err != nil || next == p {
			break
		}
		out = append(out, next)
		p = next
	}
	return out
}
