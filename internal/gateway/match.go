//lint:file-ignore SA1019 Envoy still accepts the deprecated header matchers (exact_match, prefix_match, ...): serve must match them as Envoy does

package gateway

import (
	"fmt"
	"regexp"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

// requestView is what route matching reads: the pseudo headers and the headers (lower-case names, values
// in arrival order), as Envoy's router sees them after the connection manager's own header changes.
type requestView struct {
	path    string              // :path, with the query string
	headers map[string][]string // includes :method, :path, :authority, :scheme
}

// header returns a header's values joined with ",", as Envoy's header matchers read a repeated header.
func (r *requestView) header(name string) (string, bool) {
	if name == "host" {
		name = ":authority" // Envoy's HTTP/1 codec turns Host into :authority; matchers on "host" read it
	}
	vs, ok := r.headers[name]
	if !ok {
		return "", false
	}
	return strings.Join(vs, ","), true
}

// findVirtualHost applies Envoy's domain search order: exact names, then suffix wildcards ("*.example.com",
// longest first), then prefix wildcards ("api.*", longest first), then "*". A wildcard never matches the
// empty string. host is the lower-cased Host, port included unless the connection manager strips it.
func findVirtualHost(vhs []*VirtualHost, host string) *VirtualHost {
	var best *VirtualHost
	bestRank, bestLen := 0, -1 // rank: 4 exact, 3 suffix, 2 prefix, 1 "*"
	for _, vh := range vhs {
		for _, d := range vh.Domains {
			rank, n := 0, len(d)
			switch {
			case d == "*":
				rank = 1
			case d == host:
				rank = 4
			case strings.HasPrefix(d, "*") && len(host) > len(d)-1 && strings.HasSuffix(host, d[1:]):
				rank = 3
			case strings.HasSuffix(d, "*") && len(host) > len(d)-1 && strings.HasPrefix(host, d[:len(d)-1]):
				rank = 2
			}
			if rank > bestRank || (rank == bestRank && rank > 0 && n > bestLen) {
				best, bestRank, bestLen = vh, rank, n
			}
		}
	}
	return best
}

// pathMatcher is a route's path specifier.
type pathMatcher struct {
	kind          string // "prefix", "path", "regex", "separated"
	value         string
	re            *regexp.Regexp
	caseSensitive bool
}

func (m *pathMatcher) match(fullPath string) bool {
	switch m.kind {
	case "prefix":
		// Envoy compares a prefix with :path as received, query string included.
		return hasPrefix(fullPath, m.value, m.caseSensitive)
	case "separated":
		p := stripQuery(fullPath)
		if !hasPrefix(p, m.value, m.caseSensitive) {
			return false
		}
		return len(p) == len(m.value) || p[len(m.value)] == '/'
	case "path":
		p := stripQuery(fullPath)
		if m.caseSensitive {
			return p == m.value
		}
		return strings.EqualFold(p, m.value)
	case "regex":
		return m.re.MatchString(stripQuery(fullPath))
	}
	return false
}

func hasPrefix(s, prefix string, caseSensitive bool) bool {
	if caseSensitive {
		return strings.HasPrefix(s, prefix)
	}
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// stripQuery removes the query string and fragment: Envoy's path and regex matches ignore them.
func stripQuery(p string) string {
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		return p[:i]
	}
	return p
}

// headerMatcher is one of a route's header conditions.
type headerMatcher struct {
	name         string
	present      *bool // present_match (or no specifier at all: present)
	value        func(string) bool
	invert       bool
	missingEmpty bool
}

// match follows Envoy's HeaderMatcher: present_match compares presence, inverted by invert_match; a value
// matcher on a missing header does not match (whatever invert_match says) unless
// treat_missing_header_as_empty turns the missing header into "".
func (h *headerMatcher) match(r *requestView) bool {
	v, ok := r.header(h.name)
	if h.present != nil {
		return (ok == *h.present) != h.invert
	}
	if !ok {
		if !h.missingEmpty {
			return false
		}
		v = ""
	}
	return h.value(v) != h.invert
}

func (rt *Route) matches(r *requestView) bool {
	if !rt.path.match(r.path) {
		return false
	}
	for _, h := range rt.headers {
		if !h.match(r) {
			return false
		}
	}
	return true
}

// compileRegex turns an Envoy RE2 pattern into a Go regexp that must match the whole input, as Envoy's
// safe_regex does. Go's regexp is RE2, so the syntax is the same.
func compileRegex(m *matcherv3.RegexMatcher, where string) (*regexp.Regexp, error) {
	re, err := regexp.Compile(`^(?:` + m.GetRegex() + `)$`)
	if err != nil {
		return nil, fmt.Errorf("%s.regex: not a valid RE2 expression: %v", where, err)
	}
	return re, nil
}

func compilePath(m *routev3.RouteMatch, where string) (pathMatcher, error) {
	pm := pathMatcher{caseSensitive: m.GetCaseSensitive() == nil || m.GetCaseSensitive().GetValue()}
	switch ps := m.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		pm.kind, pm.value = "prefix", ps.Prefix
	case *routev3.RouteMatch_Path:
		pm.kind, pm.value = "path", ps.Path
	case *routev3.RouteMatch_PathSeparatedPrefix:
		pm.kind, pm.value = "separated", ps.PathSeparatedPrefix
	case *routev3.RouteMatch_SafeRegex:
		re, err := compileRegex(ps.SafeRegex, where+".safe_regex")
		if err != nil {
			return pm, err
		}
		// Envoy ignores case_sensitive for safe_regex (the regex says it with (?i)); so does serve.
		pm.kind, pm.re = "regex", re
	case nil:
		return pm, fmt.Errorf("%s: no path specifier (prefix, path, safe_regex or path_separated_prefix)", where)
	default:
		return pm, fmt.Errorf("%s: path specifier %T is not supported by serve", where, ps)
	}
	return pm, nil
}

func compileHeader(h *routev3.HeaderMatcher, where string) (headerMatcher, error) {
	hm := headerMatcher{name: strings.ToLower(h.GetName()), invert: h.GetInvertMatch(), missingEmpty: h.GetTreatMissingHeaderAsEmpty()}
	switch spec := h.GetHeaderMatchSpecifier().(type) {
	case nil:
		yes := true // no specifier: the header must be present
		hm.present = &yes
	case *routev3.HeaderMatcher_PresentMatch:
		p := spec.PresentMatch
		hm.present = &p
	case *routev3.HeaderMatcher_ExactMatch:
		hm.value = func(v string) bool { return v == spec.ExactMatch }
	case *routev3.HeaderMatcher_PrefixMatch:
		hm.value = func(v string) bool { return strings.HasPrefix(v, spec.PrefixMatch) }
	case *routev3.HeaderMatcher_SuffixMatch:
		hm.value = func(v string) bool { return strings.HasSuffix(v, spec.SuffixMatch) }
	case *routev3.HeaderMatcher_ContainsMatch:
		hm.value = func(v string) bool { return strings.Contains(v, spec.ContainsMatch) }
	case *routev3.HeaderMatcher_SafeRegexMatch:
		re, err := compileRegex(spec.SafeRegexMatch, where+".safe_regex_match")
		if err != nil {
			return hm, err
		}
		hm.value = re.MatchString
	case *routev3.HeaderMatcher_StringMatch:
		f, err := compileStringMatcher(spec.StringMatch, where+".string_match")
		if err != nil {
			return hm, err
		}
		hm.value = f
	default:
		return hm, fmt.Errorf("%s: header match %T is not supported by serve", where, spec)
	}
	return hm, nil
}

func compileStringMatcher(m *matcherv3.StringMatcher, where string) (func(string) bool, error) {
	fold := m.GetIgnoreCase()
	norm := func(s string) string {
		if fold {
			return strings.ToLower(s)
		}
		return s
	}
	switch p := m.GetMatchPattern().(type) {
	case *matcherv3.StringMatcher_Exact:
		want := norm(p.Exact)
		return func(v string) bool { return norm(v) == want }, nil
	case *matcherv3.StringMatcher_Prefix:
		want := norm(p.Prefix)
		return func(v string) bool { return strings.HasPrefix(norm(v), want) }, nil
	case *matcherv3.StringMatcher_Suffix:
		want := norm(p.Suffix)
		return func(v string) bool { return strings.HasSuffix(norm(v), want) }, nil
	case *matcherv3.StringMatcher_Contains:
		want := norm(p.Contains)
		return func(v string) bool { return strings.Contains(norm(v), want) }, nil
	case *matcherv3.StringMatcher_SafeRegex:
		// Envoy does not apply ignore_case to safe_regex either.
		re, err := compileRegex(p.SafeRegex, where+".safe_regex")
		if err != nil {
			return nil, err
		}
		return re.MatchString, nil
	}
	return nil, fmt.Errorf("%s: string match %T is not supported by serve", where, m.GetMatchPattern())
}
