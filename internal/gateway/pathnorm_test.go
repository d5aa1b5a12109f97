package gateway

import (
	"testing"

	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

// The vectors below restate, in our own table, the cases of envoyproxy/envoy test/common/http/path_utility_test.cc
// (main, August 2026) for canonicalPath, mergeSlashes, stripParametersFromDotSegments and unescapeSlashes,
// plus cases for the googleurl character table that test does not spell out.

func TestCanonicalPathEnvoyVectors(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		// AlreadyNormalPaths
		{"/xyz", "/xyz", true},
		{"/x/y/z", "/x/y/z", true},
		// InvalidPaths: an escaped NUL
		{"/xyz/.%00../abc", "", false},
		{"/xyz/%00.%00./abc", "", false},
		{"/xyz/AAAAA%%0000/abc", "", false},
		// NormalizeValidPaths
		{"/a/b/../c", "/a/c", true},
		{"/a/b/./c", "/a/b/c", true},
		{"a/b/../c", "/a/c", true},
		{"/a/b/../../../../c", "/c", true},
		{`/a/..\c`, "/c", true},
		{"/%c0%af", "/%c0%af", true},
		{"/%5c%25", "/%5c%25", true},
		{"/a/b/%2E%2E/c", "/a/c", true},
		{"/xyz/..;foo=bar/abc", "/abc", true},
		{"/..;foo=bar/abc", "/abc", true},
		{"/xyz/..;foo=bar", "/", true},
		{"/xyz/.;foo=bar/abc", "/xyz/abc", true},
		{"/.;foo=bar/abc", "/abc", true},
		{"/xyz/.;foo=bar", "/xyz/", true},
		{"/xyz/..;foo=bar/.;v1=2,v2=3/abc", "/abc", true},
		{"/..;foo=bar/abc/.;mmm", "/abc/", true},
		{"/.;aaa/..;foo=bar/abc/.;mmm", "/abc/", true},
		{"/xyz/..;foo=bar/.;fff=zzz", "/", true},
		{"/xyz/..;foo=bar/.;fff=zzz?blah=woops", "/?blah=woops", true},
		{"/xyz/..;foo=bar/.;fff=zzz/remain;blah-bluh?query", "/remain;blah-bluh?query", true},
		// NormalizeCasePath
		{"/A/B/C", "/A/B/C", true},
		{"/a/b/%2e%2e/c", "/a/c", true},
		{"/a/%2F%2f/c", "/a/%2F%2f/c", true},
		// The googleurl table: unreserved escapes decoded, others kept as written, the rest escaped.
		{"/%41%7a%30%2d%5f%7e", "/Az0-_~", true},
		{"/a%2eb", "/a.b", true},
		{"/%2e%2E/x", "/x", true},
		{"/.%2e/x", "/x", true},
		{"/%252e%252e/x", "/%252e%252e/x", true},
		{"/%c0%ae%c0%ae/x", "/%c0%ae%c0%ae/x", true},
		{"/a b\"<>^`{|}", "/a%20b%22%3C%3E%5E%60%7B%7C%7D", true},
		{"/\xc3\xa9", "/%C3%A9", true},
		{"/a%zz%4", "/a%zz%4", true},
		{"/a/...", "/a/...", true},
		{"/a/.b/..c", "/a/.b/..c", true},
		{"/a/b.", "/a/b.", true},
		{"/a/.", "/a/", true},
		{"/a/..", "/", true},
		{"//a//../b", "//a/b", true},
		{"", "/", true},
		{"/a;b=c/d", "/a;b=c/d", true},
		{"/a?b/../c", "/a?b/../c", true},
		{"/a/%2e%2e;x/b", "/a/..;x/b", true}, // only literal dots lose their parameters: %2e is decoded, "..;x" stays
	} {
		got, ok := CanonicalPath(tc.in)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("CanonicalPath(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestMergeSlashesEnvoyVectors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"a//b/c", "a/b/c"},
		{"/a//b/c/", "/a/b/c/"},
		{"a//b/c/", "a/b/c/"},
		{"/a", "/a"},
		{"//a/b/c", "/a/b/c"},
		{"/a//b/c", "/a/b/c"},
		{"/a/b/c//", "/a/b/c/"},
		{"/a///b/c", "/a/b/c"},
		{"/a////b/c", "/a/b/c"},
		{"/a//b?a=///c", "/a/b?a=///c"},
		{"/a//b?", "/a/b?"},
		{"//a/?b", "/a/?b"},
		{"//", "//"}, // Envoy keeps its leading and trailing slash
	} {
		if got := MergeSlashes(tc.in); got != tc.want {
			t.Errorf("MergeSlashes(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestStripDotSegmentParametersEnvoyVectors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"/xyz", "/xyz"},
		{"/xyz/..;foo=bar/abc", "/xyz/../abc"},
		{"/..;foo=bar/abc", "/../abc"},
		{"/xyz/..;foo=bar", "/xyz/.."},
		{"/xyz/..;", "/xyz/.."},
		{"/a/..;foo/b/..;bar/c", "/a/../b/../c"},
		{"/a/..;param1;param2/b", "/a/../b"},
		{"/xyz/..foo", "/xyz/..foo"},
		{"/xyz/...;foo", "/xyz/...;foo"},
		{"/xyz/remove/..;foo?param=/.;foo", "/xyz/remove/..?param=/.;foo"},
		{"/xyz/remove/..;foo#frag=/.;foo", "/xyz/remove/..#frag=/.;foo"},
		{"/xyz?param=/..;foo", "/xyz?param=/..;foo"},
		{"/xyz#frag=/..;foo", "/xyz#frag=/..;foo"},
		{"/xyz/.;foo=bar/abc", "/xyz/./abc"},
		{"/.;foo=bar/abc", "/./abc"},
		{"/xyz/.;foo=bar", "/xyz/."},
		{"/xyz/.;", "/xyz/."},
		{"/a/.;foo/b/.;bar/c", "/a/./b/./c"},
		{"/a/.;param1;param2/b", "/a/./b"},
		{"/xyz/.foo", "/xyz/.foo"},
		{"/xyz?param=/.;foo", "/xyz?param=/.;foo"},
		{"/xyz#frag=/.;foo", "/xyz#frag=/.;foo"},
	} {
		if got := StripDotSegmentParameters(tc.in); got != tc.want {
			t.Errorf("StripDotSegmentParameters(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestUnescapeSlashesEnvoyVectors(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		found    bool
	}{
		{"", "", false},
		{"%2f%2F", "//", true},
		{"/a%2Fb%2fc/", "/a/b/c/", true},
		{"%2b", "%2b", false},
		{"/a/b/c", "/a/b/c", false},
		{"%2", "%2", false},
		{"%", "%", false},
		{"/abc%2", "/abc%2", false},
		{"foo%", "foo%", false},
		{"/a%2F", "/a/", true},
		{"%2fa/", "/a/", true},
		{"%%2fa/", "%/a/", true},
		{"%2%2fa/", "%2/a/", true},
		{"%5c%5C", `\\`, true},
		{"/a%5Cb%5cc/", `/a\b\c/`, true},
		{"/a%5C", `/a\`, true},
		{"%5ca/", `\a/`, true},
		{"/x/%2E%2e/z%2f%2Fabc%5C../def", `/x/%2E%2e/z//abc\../def`, true},
		{"%2fa%5Cb%2fc%5c", `/a\b/c\`, true},
		{"%2fa%5Cb%2fc%5c?%2fabcd%5C%%2f%", `/a\b/c\?%2fabcd%5C%%2f%`, true},
		{"/a%252Fb", "/a%252Fb", false}, // double encoding is not an escaped slash
	} {
		got, found := UnescapeSlashes(tc.in)
		if got != tc.want || found != tc.found {
			t.Errorf("UnescapeSlashes(%q) = %q, %v; want %q, %v", tc.in, got, found, tc.want, tc.found)
		}
	}
}

// TestNormalizePathOrder: maybeNormalizePath's order (fragment, escaped slashes, canonicalization, slash
// merging) and its three outcomes, for each escaped-slash action.
func TestNormalizePathOrder(t *testing.T) {
	all := func(a hcmv3.HttpConnectionManager_PathWithEscapedSlashesAction) PathSettings {
		return PathSettings{NormalizePath: true, MergeSlashes: true, EscapedSlashes: a}
	}
	const (
		keep     = hcmv3.HttpConnectionManager_KEEP_UNCHANGED
		reject   = hcmv3.HttpConnectionManager_REJECT_REQUEST
		redirect = hcmv3.HttpConnectionManager_UNESCAPE_AND_REDIRECT
		forward  = hcmv3.HttpConnectionManager_UNESCAPE_AND_FORWARD
	)
	for _, tc := range []struct {
		name   string
		in     string
		s      PathSettings
		want   string
		action PathAction
	}{
		{"unset: raw path kept", "/p/../q//r/%2e%2e/%2F", PathSettings{}, "/p/../q//r/%2e%2e/%2F", PathContinue},
		{"unset: fragment still refused", "/p#x", PathSettings{}, "/p#x", PathReject},
		{"normalize only", "/p/../q//r", PathSettings{NormalizePath: true}, "/q//r", PathContinue},
		{"merge only", "/p/../q//r", PathSettings{MergeSlashes: true}, "/p/../q/r", PathContinue},
		{"all, keep: %2F stays", "/a/..%2F..%2Fb", all(keep), "/a/..%2F..%2Fb", PathContinue},
		{"all, reject: 400 before canonicalization", "/a/..%2F..%2Fb", all(reject), "/a/../../b", PathReject},
		{"all, reject: %5c too", "/a/%5cb", all(reject), `/a/\b`, PathReject},
		{"all, reject: nothing escaped", "/a/b/../c", all(reject), "/a/c", PathContinue},
		{"all, redirect: Location is the final path", "/a/x/..%2F..%2Fb//c?q=%2F", all(redirect), "/b/c?q=%2F", PathRedirect},
		{"all, redirect: backslash becomes a slash", "/a/b%5c..%5cc", all(redirect), "/a/c", PathRedirect},
		{"all, forward", "/a/x/..%2F..%2Fb", all(forward), "/b", PathContinue},
		{"all: merge after canonicalization", "//a/./b//../c", all(reject), "/a/b/c", PathContinue}, // ".." removed the empty segment
		{"all: invalid path", "/a/%00", all(keep), "/a/%00", PathReject},
		{"all: redirect loses to invalid", "/a%2f%00", all(redirect), "/a/%00", PathReject},
		{"all: query untouched", "/a/./b?x=/../y//z", all(reject), "/a/b?x=/../y//z", PathContinue},
		{"all: fragment refused first", "/a%2fb#f", all(redirect), "/a%2fb#f", PathReject},
	} {
		got, action := NormalizePath(tc.in, tc.s)
		if action != tc.action || got != tc.want {
			t.Errorf("%s: NormalizePath(%q) = %q, %v; want %q, %v", tc.name, tc.in, got, action, tc.want, tc.action)
		}
	}
}

func TestIsGRPC(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/grpc": true, "application/grpc+proto": true, "application/grpc;charset=x": true,
		"application/grpc-web": false, "application/json": false, "": false, "application/grp": false,
	} {
		if got := isGRPC(ct); got != want {
			t.Errorf("isGRPC(%q) = %v, want %v", ct, got, want)
		}
	}
}
