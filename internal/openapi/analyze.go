package openapi

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/scope-gate/scope-gate/filter/scope"
)

// SubjectTypesExtension is the vendor extension (on an operation, else its path item, else the document)
// that lists the subject types an operation accepts: a list of strings, the route block's subject_types.
const SubjectTypesExtension = "x-scope-gate-subject-types"

// Options say how a document is read.
type Options struct {
	// BearerSchemes names the security schemes that are "our bearer" (checked by scope-gate). Empty: every
	// oauth2, openIdConnect and http bearer scheme.
	BearerSchemes []string
	// Stricter makes a requirement the route keys cannot say exactly stricter (with a warning) instead of
	// refusing it.
	Stricter bool
	// SkipForeign leaves out, with a warning, operations that only schemes scope-gate does not check can
	// satisfy (apiKey, basic, ...); without it they are refused.
	SkipForeign bool
	// BasePath is put in front of every path; AutoBasePath takes it from the first server URL instead.
	BasePath     string
	AutoBasePath bool
}

// Requirement is what one route demands, in the route block's terms (docs/spec.md §3).
type Requirement struct {
	Public       bool
	Scopes       []string // sorted, all required
	SubjectTypes []string // sorted; empty: any
}

// Block renders the requirement as a route metadata block.
func (r Requirement) Block() map[string]string {
	if r.Public {
		return map[string]string{"auth": "none"}
	}
	b := map[string]string{"auth": "bearer"}
	if len(r.Scopes) > 0 {
		b["required_scope"] = strings.Join(r.Scopes, " ")
	}
	if len(r.SubjectTypes) > 0 {
		b["subject_types"] = strings.Join(r.SubjectTypes, " ")
	}
	return b
}

func (r Requirement) String() string {
	if r.Public {
		return "public"
	}
	s := "bearer"
	if len(r.Scopes) > 0 {
		s += " scope=" + strings.Join(r.Scopes, " ")
	}
	if len(r.SubjectTypes) > 0 {
		s += " subject=" + strings.Join(r.SubjectTypes, " ")
	}
	return s
}

// alternative is one security requirement object read in the bearer world: the scopes one bearer token must
// carry, or foreign when it also needs a scheme scope-gate does not check.
type alternative struct {
	scopes  []string
	foreign []string // schemes of the object that are not ours
	// andDiffer: the object ANDs several of our schemes with different scope lists. With equal lists one
	// token carrying them satisfies each (Google's documents AND their implicit and authorization-code
	// flows, Oauth2 and Oauth2c, with the same scopes); with different lists one token must carry all.
	andDiffer bool
}

// Operation is one method × path of the document and what it demands.
type Operation struct {
	Method   string // upper case
	Path     string // the template as written in the document
	FullPath string // BasePath + Path
	ID       string // operationId, or "" when none
	Route    string // the route name generated for it
	Pointer  string // JSON pointer to the operation
	Regex    string // RE2 matching the path (whole path, no query)
	Sample   string // a concrete path that the template matches
	// Doc semantics.
	Public       bool // anonymous callers are allowed (security [] or an empty object, or none declared)
	Optional     bool // public because of an empty requirement object: optional authentication
	Alts         []alternative
	SubjectTypes []string
	// Req is the route requirement generated; Exact is false when it is stricter than the document.
	Req   Requirement
	Exact bool
	Skip  bool // no route generated (SkipForeign)
	Notes []string
}

// Label names the operation in reports.
func (o *Operation) Label() string {
	s := o.Method + " " + o.FullPath
	if o.ID != "" {
		s += " (" + o.ID + ")"
	}
	return s
}

// Result is a document read into operations, in route order.
type Result struct {
	Ops      []*Operation
	Warnings []string // one line each: requirements made stricter, skipped operations, optional auth
	Errors   []string // one line each, with the JSON pointer: nothing may be generated when any
}

var methods = []string{"GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"}

// Analyze reads every operation of doc. file prefixes error lines.
func Analyze(file string, doc *openapi3.T, opts Options) *Result {
	res := &Result{}
	errf := func(ptr, format string, args ...any) {
		res.Errors = append(res.Errors, fmt.Sprintf("%s: %s: %s", file, ptr, fmt.Sprintf(format, args...)))
	}
	ours, schemeOK := classifySchemes(doc, opts, errf)
	base := opts.BasePath
	if opts.AutoBasePath {
		base = serverBase(doc)
	}
	base = strings.TrimSuffix(base, "/")
	if base != "" && !strings.HasPrefix(base, "/") {
		errf("/servers/0/url", "base path %q does not start with /", base)
	}
	if doc.Paths == nil {
		errf("/paths", "missing")
		return res
	}
	rootSubjects, rootSubjectsSet := subjectTypes(doc.Extensions, "", errf)
	names := map[string]string{}
	for _, path := range doc.Paths.InMatchingOrder() {
		item := doc.Paths.Value(path)
		pathPtr := pointer("paths", path)
		re, sample, problem := compileTemplate(base+path, item)
		if problem != "" {
			errf(pathPtr, "path template the router cannot express: %s", problem)
			continue
		}
		itemSubjects, itemSet := subjectTypes(item.Extensions, pathPtr, errf)
		for _, m := range methods {
			op := item.GetOperation(m)
			if op == nil {
				continue
			}
			o := &Operation{Method: m, Path: path, FullPath: base + path, ID: op.OperationID, Regex: re, Sample: sample,
				Pointer: pointer("paths", path, strings.ToLower(m))}
			secPtr := o.Pointer + "/security"
			sec := op.Security
			if sec == nil {
				sec, secPtr = &doc.Security, "/security"
			}
			o.read(*sec, secPtr, ours, schemeOK, errf)
			st, set := subjectTypes(op.Extensions, o.Pointer, errf)
			// Inherited subject types apply to the operations that need a bearer; on the operation itself
			// they must not meet a public requirement (decide refuses that, as the route keys do).
			switch {
			case set:
				o.SubjectTypes = st
			case o.Public:
			case itemSet:
				o.SubjectTypes = itemSubjects
			case rootSubjectsSet:
				o.SubjectTypes = rootSubjects
			}
			o.Route = routeName(o)
			if prev, dup := names[o.Route]; dup {
				errf(o.Pointer, "route name %q is also %s's: give the operations distinct operationIds", o.Route, prev)
			}
			names[o.Route] = o.Label()
			o.decide(opts, res, file)
			res.Ops = append(res.Ops, o)
		}
	}
	sortRoutes(res.Ops)
	return res
}

// classifySchemes returns the set of "our bearer" schemes and the set of every declared scheme.
func classifySchemes(doc *openapi3.T, opts Options, errf func(string, string, ...any)) (ours, known map[string]bool) {
	ours, known = map[string]bool{}, map[string]bool{}
	schemes := openapi3.SecuritySchemes{}
	if doc.Components != nil && doc.Components.SecuritySchemes != nil {
		schemes = doc.Components.SecuritySchemes
	}
	for name, ref := range schemes {
		known[name] = true
		if ref == nil || ref.Value == nil {
			continue
		}
		if len(opts.BearerSchemes) == 0 {
			v := ref.Value
			if v.Type == "oauth2" || v.Type == "openIdConnect" || (v.Type == "http" && strings.EqualFold(v.Scheme, "bearer")) {
				ours[name] = true
			}
		}
	}
	for _, name := range opts.BearerSchemes {
		if !known[name] {
			errf("/components/securitySchemes", "no security scheme %q (named by -bearer-schemes)", name)
			continue
		}
		ours[name] = true
	}
	return ours, known
}

// read records the document's semantics of one security requirement list.
func (o *Operation) read(sec openapi3.SecurityRequirements, ptr string, ours, known map[string]bool, errf func(string, string, ...any)) {
	if len(sec) == 0 {
		o.Public = true
		return
	}
	for i, req := range sec {
		if len(req) == 0 {
			o.Public, o.Optional = true, true
			continue
		}
		var alt alternative
		var first []string
		bearers := 0
		for _, name := range slices.Sorted(mapKeys(req)) {
			p := fmt.Sprintf("%s/%d/%s", ptr, i, strings.NewReplacer("~", "~0", "/", "~1").Replace(name))
			if !known[name] {
				errf(p, "unknown security scheme %q (not in components.securitySchemes)", name)
				continue
			}
			if !ours[name] {
				alt.foreign = append(alt.foreign, name)
				continue
			}
			bearers++
			own := scope.SortedSet(slices.Clone(req[name]))
			if bearers == 1 {
				first = own
			} else if !slices.Equal(own, first) {
				alt.andDiffer = true
			}
			for j, s := range req[name] {
				if !scope.ValidToken(s) {
					errf(fmt.Sprintf("%s/%d", p, j), "scope %q is not an RFC 6749 scope token", s)
					continue
				}
				alt.scopes = append(alt.scopes, s)
			}
		}
		alt.scopes = scope.SortedSet(alt.scopes)
		o.Alts = append(o.Alts, alt)
	}
}

// decide turns the document's semantics into one route requirement.
func (o *Operation) decide(opts Options, res *Result, file string) {
	warn := func(format string, args ...any) {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%s: %s: %s: %s", file, o.Pointer, o.Label(), fmt.Sprintf(format, args...)))
	}
	refuse := func(format string, args ...any) {
		res.Errors = append(res.Errors, fmt.Sprintf("%s: %s: %s: %s", file, o.Pointer, o.Label(), fmt.Sprintf(format, args...)))
	}
	o.Exact = true
	if o.Public {
		if len(o.SubjectTypes) > 0 {
			refuse("%s on a public operation: subject types need a bearer", SubjectTypesExtension)
		}
		o.Req = Requirement{Public: true}
		if o.Optional {
			o.Notes = append(o.Notes, "optional auth: public at the edge")
			warn("security has an empty requirement object (optional authentication): public at the edge, the backend decides")
		}
		return
	}
	var bearer []alternative
	var foreign []string
	several := false
	for _, a := range o.Alts {
		if len(a.foreign) > 0 {
			foreign = append(foreign, a.foreign...)
			continue
		}
		if a.andDiffer {
			several = true
		}
		bearer = append(bearer, a)
	}
	foreign = scope.SortedSet(foreign)
	if len(bearer) == 0 {
		msg := fmt.Sprintf("only schemes scope-gate does not check can satisfy it (%s): the edge can neither check them nor refuse their callers", strings.Join(foreign, ", "))
		if opts.SkipForeign {
			o.Skip, o.Exact = true, false
			warn("%s; no route generated", msg)
			return
		}
		refuse("%s; count a scheme as a bearer with -bearer-schemes, or leave such operations out with -foreign skip", msg)
		return
	}
	var union []string
	differ := false
	for _, a := range bearer {
		union = append(union, a.scopes...)
		if !slices.Equal(a.scopes, bearer[0].scopes) {
			differ = true
		}
	}
	union = scope.SortedSet(union)
	o.Req = Requirement{Scopes: union, SubjectTypes: o.SubjectTypes}
	var why []string
	if len(foreign) > 0 {
		why = append(why, fmt.Sprintf("alternatives with schemes scope-gate does not check (%s) are dropped: their callers are refused at the edge", strings.Join(foreign, ", ")))
	}
	if differ {
		var alts []string
		for _, a := range bearer {
			alts = append(alts, "["+strings.Join(a.scopes, " ")+"]")
		}
		why = append(why, fmt.Sprintf("alternatives with different scopes (%s, any one suffices) become all of them (%s)", strings.Join(alts, " or "), strings.Join(union, " ")))
	}
	if several {
		why = append(why, "a requirement object ANDs several bearer schemes with different scopes: one token must carry all of them")
	}
	if len(why) == 0 {
		return
	}
	o.Exact = false
	o.Notes = append(o.Notes, "stricter than the document")
	if opts.Stricter {
		warn("stricter at the edge than the document: %s", strings.Join(why, "; "))
		return
	}
	refuse("the route keys cannot say this exactly: %s (run with -inexact stricter to accept the stricter requirement)", strings.Join(why, "; "))
}

// subjectTypes reads the vendor extension from an extensions map.
func subjectTypes(ext map[string]any, ptr string, errf func(string, string, ...any)) ([]string, bool) {
	v, ok := ext[SubjectTypesExtension]
	if !ok {
		return nil, false
	}
	p := ptr + "/" + SubjectTypesExtension
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		errf(p, "must be a non-empty list of subject types")
		return nil, true
	}
	var out []string
	for i, e := range list {
		s, ok := e.(string)
		if !ok || !scope.ValidSubjectType(s) {
			errf(fmt.Sprintf("%s/%d", p, i), "not a subject type: %v", e)
			continue
		}
		out = append(out, s)
	}
	return scope.SortedSet(out), true
}

func serverBase(doc *openapi3.T) string {
	if len(doc.Servers) == 0 || doc.Servers[0] == nil {
		return ""
	}
	raw := doc.Servers[0].URL
	if strings.Contains(raw, "{") {
		return "" // a server variable: the caller must give the base path
	}
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Path
}

var templateParam = regexp.MustCompile(`\{([^{}/]+)\}`)

// compileTemplate turns an OpenAPI path template into an RE2 expression that matches the whole path (what
// Envoy's safe_regex route match does: envoyproxy/envoy v1.36.0 api/envoy/config/route/v3/
// route_components.proto, RouteMatch.safe_regex, "the entire path (without the query string) must match").
// A parameter matches one non-empty segment ([^/]+): OpenAPI path parameters never span "/". sample is a
// concrete path the expression matches.
func compileTemplate(path string, item *openapi3.PathItem) (re, sample, problem string) {
	if !strings.HasPrefix(path, "/") {
		return "", "", "does not start with /"
	}
	if strings.ContainsAny(path, "?#") {
		return "", "", "contains a query or fragment"
	}
	var reB, sampleB strings.Builder
	rest := path
	for rest != "" {
		loc := templateParam.FindStringSubmatchIndex(rest)
		lit := rest
		if loc != nil {
			lit = rest[:loc[0]]
		}
		if strings.ContainsAny(lit, "{}") {
			return "", "", "unbalanced or nested braces"
		}
		for _, c := range lit {
			if c <= ' ' || c == 0x7f || c > 0x7e {
				return "", "", fmt.Sprintf("character %q is not allowed in a path", c)
			}
		}
		reB.WriteString(regexp.QuoteMeta(lit))
		sampleB.WriteString(lit)
		if loc == nil {
			break
		}
		name := rest[loc[2]:loc[3]]
		reB.WriteString(`[^/]+`)
		sampleB.WriteString(sampleValue(name, item))
		rest = rest[loc[1]:]
	}
	if strings.Contains(path, "//") {
		return "", "", "empty segment (//): the connection manager merges slashes"
	}
	return reB.String(), sampleB.String(), ""
}

// sampleValue picks a value for a path parameter that a typical edge pattern accepts: a number for integer
// parameters, else a word.
func sampleValue(name string, item *openapi3.PathItem) string {
	check := func(ps openapi3.Parameters) string {
		for _, p := range ps {
			if p == nil || p.Value == nil || p.Value.In != "path" || p.Value.Name != name || p.Value.Schema == nil || p.Value.Schema.Value == nil {
				continue
			}
			t := p.Value.Schema.Value.Type
			if t != nil && (t.Is("integer") || t.Is("number")) {
				return "1"
			}
			return "sample"
		}
		return ""
	}
	if v := check(item.Parameters); v != "" {
		return v
	}
	for _, op := range item.Operations() {
		if v := check(op.Parameters); v != "" {
			return v
		}
	}
	return "sample"
}

var routeNameOK = regexp.MustCompile(`^[A-Za-z0-9_.:-]+$`)

// routeName is the operationId when it is a plain name, else method_path with everything but letters and
// digits turned into "_". It is the route's name in the Envoy routes and the key of the routes map.
func routeName(o *Operation) string {
	if routeNameOK.MatchString(o.ID) {
		return o.ID
	}
	var b strings.Builder
	b.WriteString(strings.ToLower(o.Method))
	for _, c := range o.Path {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// sortRoutes orders operations so that Envoy's first match picks the one OpenAPI does: at the first segment
// where two paths differ, a literal segment comes before one with a parameter (OpenAPI 3.1.0 "Paths Object":
// concrete paths match before templated ones), a partly literal segment before a bare parameter. Paths whose
// regexes cannot both match keep a stable, readable order.
func sortRoutes(ops []*Operation) {
	sort.SliceStable(ops, func(i, j int) bool {
		a, b := strings.Split(ops[i].FullPath, "/"), strings.Split(ops[j].FullPath, "/")
		for k := 0; k < len(a) && k < len(b); k++ {
			if a[k] == b[k] {
				continue
			}
			ra, rb := segmentRank(a[k]), segmentRank(b[k])
			if ra != rb {
				return ra < rb
			}
			return a[k] < b[k]
		}
		if len(a) != len(b) {
			return len(a) < len(b)
		}
		return slices.Index(methods, ops[i].Method) < slices.Index(methods, ops[j].Method)
	})
}

func segmentRank(seg string) int {
	switch {
	case !strings.Contains(seg, "{"):
		return 0
	case templateParam.ReplaceAllString(seg, "") != "":
		return 1
	}
	return 2
}

func mapKeys[M ~map[string]V, V any](m M) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
