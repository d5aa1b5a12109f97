package policy

import (
	"strconv"
	"strings"

	"github.com/scope-gate/scope-gate/filter/bearer"
	"github.com/scope-gate/scope-gate/filter/pathcheck"
	"github.com/scope-gate/scope-gate/filter/strictjson"
)

// Mode says whether decisions are enforced or only reported.
type Mode uint8

const (
	ModeEnforce Mode = iota
	ModeReport
)

func (m Mode) String() string {
	if m == ModeReport {
		return "report"
	}
	return "enforce"
}

// DefaultRoute is the requirement of a request whose route and virtual host carry no block in the namespace.
type DefaultRoute uint8

const (
	DefaultBearer DefaultRoute = iota
	DefaultPublic
	DefaultDeny
)

func (d DefaultRoute) String() string {
	switch d {
	case DefaultPublic:
		return "public"
	case DefaultDeny:
		return "deny"
	}
	return "bearer"
}

// TokenKind is a class of tokens recognised by an exact, case-sensitive prefix.
type TokenKind struct {
	Prefix      string
	SubjectType string
	Scopes      []string // sorted, deduplicated
	scopesText  string   // Scopes joined by single spaces
}

// CacheConfig bounds the shared cache of remote validation results (docs/spec.md §4.5).
type CacheConfig struct {
	TTLSeconds         int64
	NegativeTTLSeconds int64
	MaxEntries         int64
}

// UpstreamHeaders names the identity headers set on allowed requests; "" turns one off.
type UpstreamHeaders struct {
	Subject            string
	SubjectType        string
	Scopes             string
	Decision           string
	StripAuthorization bool
}

// Config is the parsed, validated and precomputed plugin configuration. Immutable after Parse.
type Config struct {
	MetadataNamespace string
	Realm             string
	FullScope         string // "" disables the catch-all
	DefaultRoute      DefaultRoute
	Mode              Mode
	TokenKinds        []TokenKind // longest prefix first
	Validator         Validator   // nil: no validator configured
	Cache             CacheConfig
	Upstream          UpstreamHeaders
	// PathRules relaxes the ambiguous-path check (path_check); the zero value is strict.
	PathRules pathcheck.Rules
	// BypassCORSPreflight lets CORS preflight requests through without a bearer (bypass_cors_preflight).
	BypassCORSPreflight bool
	// Routes maps an Envoy route name (xds.route_name; in Istio the VirtualService http[].name) to its
	// requirement, for routes whose metadata carries no block. Decoded and checked at Parse.
	Routes map[string]*Requirement

	// Precomputed at Parse.
	routeBlockPath       []string
	virtualHostBlockPath []string
	spoofable            []string // lower-case names removed from every request
	cachePrefix          string   // shared-data key prefix of the remote-validation cache
	defaultRequirement   *Requirement
	replies              replies
}

// RouteBlockPath is the Envoy property path of the route's metadata block in the namespace.
func (c *Config) RouteBlockPath() []string { return c.routeBlockPath }

// VirtualHostBlockPath is the Envoy property path of the virtual host's metadata block in the namespace.
func (c *Config) VirtualHostBlockPath() []string { return c.virtualHostBlockPath }

// SpoofableHeaders are the lower-case names of every header the filter sets itself; they are removed from
// every request before any decision, on every route (docs/spec.md §6).
func (c *Config) SpoofableHeaders() []string { return c.spoofable }

// DefaultRequirement applies when neither the route nor its virtual host has a block in the namespace, and
// when no route matched.
func (c *Config) DefaultRequirement() *Requirement { return c.defaultRequirement }

// Error is a configuration error: what is wrong and where, as a JSON path, in one line.
type Error struct {
	Path string // JSON path, "$" for the document
	Msg  string
}

func (e *Error) Error() string { return "scope-gate configuration: " + e.Path + ": " + e.Msg }

func errAt(path, msg string) *Error { return &Error{Path: path, Msg: msg} }

// Parse reads the plugin configuration. Empty input (or only whitespace) means every default.
func Parse(data []byte) (*Config, error) {
	c := &Config{
		MetadataNamespace: "scope_gate",
		Realm:             "api",
		FullScope:         "full",
		Cache:             CacheConfig{TTLSeconds: 60, NegativeTTLSeconds: 10, MaxEntries: 10000},
		// On by default: a preflight never carries credentials (Fetch standard, CORS-preflight request), and
		// Istio runs its CORS filter after an AUTHN-phase Wasm filter, so a 401 here would stop every browser
		// client before the real request is sent (docs/spec.md, "CORS preflight").
		BypassCORSPreflight: true,
		Upstream: UpstreamHeaders{
			Subject:     "x-scope-gate-subject",
			SubjectType: "x-scope-gate-subject-type",
			Scopes:      "x-scope-gate-scopes",
			Decision:    "x-scope-gate-decision",
		},
	}
	if strings.TrimSpace(string(data)) != "" {
		root, err := strictjson.Parse(data, strictjson.DefaultMaxDepth)
		if err != nil {
			return nil, errAt("$", err.Error())
		}
		if err := c.decode(root); err != nil {
			return nil, err
		}
	}
	c.precompute()
	return c, nil
}

func (c *Config) decode(root strictjson.Value) error {
	if root.Kind != strictjson.Object {
		return errAt("$", "must be an object, got "+root.Kind.String())
	}
	var routes strictjson.Value
	for _, m := range root.Members {
		path := "$." + m.Key
		v := m.Value
		var err error
		switch m.Key {
		case "metadata_namespace":
			c.MetadataNamespace, err = str(v, path)
			if err == nil && (c.MetadataNamespace == "" || strings.IndexByte(c.MetadataNamespace, 0) >= 0) {
				err = errAt(path, "must be a non-empty string without NUL")
			}
		case "realm":
			c.Realm, err = str(v, path)
			if err == nil && !validRealm(c.Realm) {
				err = errAt(path, `must be printable ASCII without '"' or '\' (it is quoted in WWW-Authenticate)`)
			}
		case "full_scope":
			c.FullScope, err = str(v, path)
			if err == nil && c.FullScope != "" && !validScopeToken(c.FullScope) {
				err = errAt(path, "must be \"\" or one RFC 6749 scope token, got "+strconv.Quote(c.FullScope))
			}
		case "default_route":
			var s string
			if s, err = str(v, path); err == nil {
				switch s {
				case "bearer":
					c.DefaultRoute = DefaultBearer
				case "public":
					c.DefaultRoute = DefaultPublic
				case "deny":
					c.DefaultRoute = DefaultDeny
				default:
					err = errAt(path, `must be "bearer", "public" or "deny", got `+strconv.Quote(s))
				}
			}
		case "mode":
			var s string
			if s, err = str(v, path); err == nil {
				switch s {
				case "enforce":
					c.Mode = ModeEnforce
				case "report":
					c.Mode = ModeReport
				default:
					err = errAt(path, `must be "enforce" or "report", got `+strconv.Quote(s))
				}
			}
		case "token_kinds":
			err = c.decodeTokenKinds(v, path)
		case "validator":
			c.Validator, err = decodeValidator(v, path)
		case "cache":
			err = c.decodeCache(v, path)
		case "upstream_headers":
			err = c.decodeUpstreamHeaders(v, path)
		case "path_check":
			err = c.decodePathCheck(v, path)
		case "bypass_cors_preflight":
			c.BypassCORSPreflight, err = boolean(v, path)
		case "routes":
			routes = v
		default:
			err = errAt(path, "unknown key")
		}
		if err != nil {
			return err
		}
	}
	// Route requirements depend on the validator and realm, so they are decoded after everything else.
	if routes.Kind != strictjson.Null || len(routes.Members) > 0 {
		return c.decodeRoutes(routes, "$.routes")
	}
	return nil
}

// decodeRoutes reads the routes map: route name → a requirement object with the metadata block's keys.
// Unlike a metadata block (which Envoy can change under a running filter, so its errors are answered 500),
// an error here is the plugin configuration's and rejects it at start.
func (c *Config) decodeRoutes(v strictjson.Value, path string) error {
	if v.Kind != strictjson.Object {
		return errAt(path, "must be an object mapping route names to requirements, got "+v.Kind.String())
	}
	c.Routes = make(map[string]*Requirement, len(v.Members))
	for _, m := range v.Members {
		rp := path + "[" + strconv.Quote(m.Key) + "]"
		if m.Key == "" {
			return errAt(rp, "route name must not be empty")
		}
		if m.Value.Kind != strictjson.Object {
			return errAt(rp, "must be an object of strings, got "+m.Value.Kind.String())
		}
		fields := make([][2]string, 0, len(m.Value.Members))
		for _, f := range m.Value.Members {
			if f.Value.Kind != strictjson.String {
				return errAt(rp+"."+f.Key, "must be a string, got "+f.Value.Kind.String())
			}
			fields = append(fields, [2]string{f.Key, f.Value.Text})
		}
		r := c.RequirementFromFields(fields)
		if r.Problem != "" {
			return errAt(rp, r.Problem)
		}
		c.Routes[m.Key] = r
	}
	return nil
}

func (c *Config) decodeTokenKinds(v strictjson.Value, path string) error {
	if v.Kind != strictjson.Array {
		return errAt(path, "must be an array, got "+v.Kind.String())
	}
	if len(v.Items) == 0 {
		return errAt(path, "must list at least one kind (omit the key to accept any token)")
	}
	for i, item := range v.Items {
		ip := path + "[" + strconv.Itoa(i) + "]"
		if item.Kind != strictjson.Object {
			return errAt(ip, "must be an object, got "+item.Kind.String())
		}
		var k TokenKind
		for _, m := range item.Members {
			mp := ip + "." + m.Key
			var err error
			switch m.Key {
			case "prefix":
				k.Prefix, err = str(m.Value, mp)
				if err == nil && !bearer.WellFormed(k.Prefix) {
					err = errAt(mp, "must be non-empty visible ASCII")
				}
			case "subject_type":
				k.SubjectType, err = str(m.Value, mp)
				if err == nil && !validSubjectType(k.SubjectType) {
					err = errAt(mp, "must be one token of visible ASCII, got "+strconv.Quote(k.SubjectType))
				}
			case "scopes":
				k.Scopes, err = scopeList(m.Value, mp)
			default:
				err = errAt(mp, "unknown key")
			}
			if err != nil {
				return err
			}
		}
		if k.Prefix == "" {
			return errAt(ip+".prefix", "is required")
		}
		for _, other := range c.TokenKinds {
			if other.Prefix == k.Prefix {
				return errAt(ip+".prefix", "duplicates the prefix "+strconv.Quote(k.Prefix)+" of an earlier kind")
			}
		}
		k.scopesText = strings.Join(k.Scopes, " ")
		c.TokenKinds = append(c.TokenKinds, k)
	}
	// Longest prefix first, so that "dfoa_x" wins over "dfoa_" when both are configured. Insertion sort:
	// lists are short, run once, and slices' generic sorts would add kilobytes to the module.
	kinds := c.TokenKinds
	for i := 1; i < len(kinds); i++ {
		for j := i; j > 0 && len(kinds[j].Prefix) > len(kinds[j-1].Prefix); j-- {
			kinds[j], kinds[j-1] = kinds[j-1], kinds[j]
		}
	}
	return nil
}

func (c *Config) decodeCache(v strictjson.Value, path string) error {
	if v.Kind != strictjson.Object {
		return errAt(path, "must be an object, got "+v.Kind.String())
	}
	for _, m := range v.Members {
		mp := path + "." + m.Key
		var err error
		switch m.Key {
		case "ttl_seconds":
			c.Cache.TTLSeconds, err = integer(m.Value, mp, 0, 86400)
		case "negative_ttl_seconds":
			c.Cache.NegativeTTLSeconds, err = integer(m.Value, mp, 0, 86400)
		case "max_entries":
			c.Cache.MaxEntries, err = integer(m.Value, mp, 1, 10_000_000)
		default:
			err = errAt(mp, "unknown key")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// decodePathCheck reads path_check: each key relaxes one rule of the ambiguous-path check. Dot segments,
// control bytes and overlong UTF-8 cannot be relaxed: no API needs them, and each is a known bypass.
func (c *Config) decodePathCheck(v strictjson.Value, path string) error {
	if v.Kind != strictjson.Object {
		return errAt(path, "must be an object, got "+v.Kind.String())
	}
	for _, m := range v.Members {
		mp := path + "." + m.Key
		var err error
		switch m.Key {
		case "allow_encoded_slashes":
			c.PathRules.AllowEncodedSlashes, err = boolean(m.Value, mp)
		case "allow_empty_segments":
			c.PathRules.AllowEmptySegments, err = boolean(m.Value, mp)
		case "allow_backslashes":
			c.PathRules.AllowBackslashes, err = boolean(m.Value, mp)
		default:
			err = errAt(mp, "unknown key (dot segments, control bytes and overlong UTF-8 are always refused)")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) decodeUpstreamHeaders(v strictjson.Value, path string) error {
	if v.Kind != strictjson.Object {
		return errAt(path, "must be an object, got "+v.Kind.String())
	}
	for _, m := range v.Members {
		mp := path + "." + m.Key
		var err error
		var name *string
		switch m.Key {
		case "subject":
			name = &c.Upstream.Subject
		case "subject_type":
			name = &c.Upstream.SubjectType
		case "scopes":
			name = &c.Upstream.Scopes
		case "decision":
			name = &c.Upstream.Decision
		case "strip_authorization":
			c.Upstream.StripAuthorization, err = boolean(m.Value, mp)
		default:
			err = errAt(mp, "unknown key")
		}
		if name != nil {
			var s string
			if s, err = str(m.Value, mp); err == nil {
				s = asciiLower(s)
				if s != "" && !validHeaderName(s) {
					err = errAt(mp, "must be \"\" or an HTTP header name (RFC 9110 token), got "+strconv.Quote(s))
				} else if s == "authorization" || s == "host" {
					err = errAt(mp, "must not be "+strconv.Quote(s))
				}
				*name = s
			}
		}
		if err != nil {
			return err
		}
	}
	names := map[string]string{}
	for _, h := range []struct{ key, name string }{
		{"subject", c.Upstream.Subject}, {"subject_type", c.Upstream.SubjectType},
		{"scopes", c.Upstream.Scopes}, {"decision", c.Upstream.Decision},
	} {
		if h.name == "" {
			continue
		}
		if prev, dup := names[h.name]; dup {
			return errAt(path+"."+h.key, "header "+strconv.Quote(h.name)+" is already used by "+path+"."+prev)
		}
		names[h.name] = h.key
	}
	return nil
}

func (c *Config) precompute() {
	c.routeBlockPath = []string{"xds", "route_metadata", "filter_metadata", c.MetadataNamespace}
	c.virtualHostBlockPath = []string{"xds", "virtual_host_metadata", "filter_metadata", c.MetadataNamespace}
	for _, h := range []string{c.Upstream.Subject, c.Upstream.SubjectType, c.Upstream.Scopes, c.Upstream.Decision} {
		if h != "" {
			c.spoofable = append(c.spoofable, h)
		}
	}
	c.replies = newReplies(c.Realm)
	if r, ok := c.Validator.(*RemoteValidator); ok {
		fp := bearer.Sum(r.Kind + "\x00" + r.Cluster + "\x00" + r.Authority + "\x00" + r.Path + "\x00" + r.Method + "\x00" + r.ClientID)
		c.cachePrefix = "scope_gate.cache." + fp.LogID() + "."
	} else if fp := validatorFingerprint(c.Validator); fp != "" {
		c.cachePrefix = "scope_gate.cache." + bearer.Sum(fp).LogID() + "."
	}
	c.defaultRequirement = c.newDefaultRequirement()
}

// str requires a JSON string.
func str(v strictjson.Value, path string) (string, error) {
	if v.Kind != strictjson.String {
		return "", errAt(path, "must be a string, got "+v.Kind.String())
	}
	return v.Text, nil
}

// boolean requires a JSON boolean.
func boolean(v strictjson.Value, path string) (bool, error) {
	if v.Kind != strictjson.Bool {
		return false, errAt(path, "must be a boolean, got "+v.Kind.String())
	}
	return v.Boolean, nil
}

// integer requires a JSON integer within [lo, hi].
func integer(v strictjson.Value, path string, lo, hi int64) (int64, error) {
	n, ok := v.Int()
	if !ok {
		if v.Kind == strictjson.Number {
			return 0, errAt(path, "must be an integer, got "+v.Text)
		}
		return 0, errAt(path, "must be an integer, got "+v.Kind.String())
	}
	if n < lo || n > hi {
		return 0, errAt(path, "must be between "+strconv.FormatInt(lo, 10)+" and "+strconv.FormatInt(hi, 10)+", got "+v.Text)
	}
	return n, nil
}

// scopeList requires an array of RFC 6749 scope tokens; the result is sorted and deduplicated.
func scopeList(v strictjson.Value, path string) ([]string, error) {
	if v.Kind != strictjson.Array {
		return nil, errAt(path, "must be an array of scope strings, got "+v.Kind.String())
	}
	out := make([]string, 0, len(v.Items))
	for i, it := range v.Items {
		ip := path + "[" + strconv.Itoa(i) + "]"
		s, err := str(it, ip)
		if err != nil {
			return nil, err
		}
		if !validScopeToken(s) {
			return nil, errAt(ip, "is not an RFC 6749 scope token: "+strconv.Quote(s))
		}
		out = append(out, s)
	}
	return sortedSet(out), nil
}

// sortedSet sorts a short list in place and drops duplicates (insertion sort: config-time, tiny lists, and
// no generic sort instantiations in the module).
func sortedSet(list []string) []string {
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

func validRealm(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7E || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// validHeaderName: RFC 9110 token characters, lower case.
func validHeaderName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return s != ""
}

// asciiLower lower-cases ASCII letters only (header names and hex digits are ASCII by definition).
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
