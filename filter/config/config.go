// Package config is scope-gate's plugin configuration (docs/spec.md §2): Parse reads the JSON that Envoy
// hands the plugin at start, strictly (unknown keys, duplicate keys, wrong types and out-of-range values are
// errors naming the JSON path), into a Config that is immutable afterwards. The validator object is decoded
// by filter/validator; route requirements, replies and everything else the request path precomputes are
// filter/policy's, which compiles a Config into a Policy.
package config

import (
	"strconv"
	"strings"

	"github.com/scope-gate/scope-gate/filter/bearer"
	"github.com/scope-gate/scope-gate/filter/confjson"
	"github.com/scope-gate/scope-gate/filter/internal/quote"
	"github.com/scope-gate/scope-gate/filter/pathcheck"
	"github.com/scope-gate/scope-gate/filter/scope"
	"github.com/scope-gate/scope-gate/filter/strictjson"
	"github.com/scope-gate/scope-gate/filter/validator"
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
	ScopesText  string   // Scopes joined by single spaces
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
	TokenKinds        []TokenKind         // longest prefix first
	Validator         validator.Validator // nil: no validator configured
	Cache             CacheConfig
	Upstream          UpstreamHeaders
	// PathRules relaxes the ambiguous-path check (path_check); the zero value is strict.
	PathRules pathcheck.Rules
	// BypassCORSPreflight lets CORS preflight requests through without a bearer (bypass_cors_preflight).
	BypassCORSPreflight bool
	// Routes lists the routes map (routes): an Envoy route name (xds.route_name; in Istio the VirtualService
	// http[].name) and the string fields of its requirement, for routes whose metadata carries no block, in
	// the document's order. The fields are checked as a requirement by filter/policy (docs/spec.md §3).
	Routes []Route
}

// Route is one entry of the routes map.
type Route struct {
	Name   string
	Path   string      // the entry's JSON path, $.routes["<name>"], for errors
	Fields [][2]string // the requirement object's keys and string values, in order
}

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
			return nil, confjson.At("$", err.Error())
		}
		if err := c.decode(root); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *Config) decode(root strictjson.Value) error {
	if root.Kind != strictjson.Object {
		return confjson.At("$", "must be an object, got "+root.Kind.String())
	}
	var routes strictjson.Value
	for _, m := range root.Members {
		path := "$." + m.Key
		v := m.Value
		var err error
		switch m.Key {
		case "metadata_namespace":
			c.MetadataNamespace, err = confjson.String(v, path)
			if err == nil && (c.MetadataNamespace == "" || strings.IndexByte(c.MetadataNamespace, 0) >= 0) {
				err = confjson.At(path, "must be a non-empty string without NUL")
			}
		case "realm":
			c.Realm, err = confjson.String(v, path)
			if err == nil && !validRealm(c.Realm) {
				err = confjson.At(path, `must be printable ASCII without '"' or '\' (it is quoted in WWW-Authenticate)`)
			}
		case "full_scope":
			c.FullScope, err = confjson.String(v, path)
			if err == nil && c.FullScope != "" && !scope.ValidToken(c.FullScope) {
				err = confjson.At(path, "must be \"\" or one RFC 6749 scope token, got "+quote.String(c.FullScope))
			}
		case "default_route":
			var s string
			if s, err = confjson.String(v, path); err == nil {
				switch s {
				case "bearer":
					c.DefaultRoute = DefaultBearer
				case "public":
					c.DefaultRoute = DefaultPublic
				case "deny":
					c.DefaultRoute = DefaultDeny
				default:
					err = confjson.At(path, `must be "bearer", "public" or "deny", got `+quote.String(s))
				}
			}
		case "mode":
			var s string
			if s, err = confjson.String(v, path); err == nil {
				switch s {
				case "enforce":
					c.Mode = ModeEnforce
				case "report":
					c.Mode = ModeReport
				default:
					err = confjson.At(path, `must be "enforce" or "report", got `+quote.String(s))
				}
			}
		case "token_kinds":
			err = c.decodeTokenKinds(v, path)
		case "validator":
			c.Validator, err = validator.Decode(v, path)
		case "cache":
			err = c.decodeCache(v, path)
		case "upstream_headers":
			err = c.decodeUpstreamHeaders(v, path)
		case "path_check":
			err = c.decodePathCheck(v, path)
		case "bypass_cors_preflight":
			c.BypassCORSPreflight, err = confjson.Bool(v, path)
		case "routes":
			routes = v
		default:
			err = confjson.At(path, "unknown key")
		}
		if err != nil {
			return err
		}
	}
	// The routes map is read last, as its entries are checked as requirements, which depend on the rest.
	if routes.Kind != strictjson.Null || len(routes.Members) > 0 {
		return c.decodeRoutes(routes, "$.routes")
	}
	return nil
}

// decodeRoutes reads the routes map: route name → a requirement object with the metadata block's keys, every
// value a string. Unlike a metadata block (which Envoy can change under a running filter, so its errors are
// answered 500), an error here is the plugin configuration's and rejects it at start; filter/policy checks
// each entry as a requirement when it compiles the configuration.
func (c *Config) decodeRoutes(v strictjson.Value, path string) error {
	if v.Kind != strictjson.Object {
		return confjson.At(path, "must be an object mapping route names to requirements, got "+v.Kind.String())
	}
	c.Routes = make([]Route, 0, len(v.Members))
	for _, m := range v.Members {
		rp := path + "[" + quote.String(m.Key) + "]"
		if m.Key == "" {
			return confjson.At(rp, "route name must not be empty")
		}
		if m.Value.Kind != strictjson.Object {
			return confjson.At(rp, "must be an object of strings, got "+m.Value.Kind.String())
		}
		fields := make([][2]string, 0, len(m.Value.Members))
		for _, f := range m.Value.Members {
			if f.Value.Kind != strictjson.String {
				return confjson.At(rp+"."+f.Key, "must be a string, got "+f.Value.Kind.String())
			}
			fields = append(fields, [2]string{f.Key, f.Value.Text})
		}
		c.Routes = append(c.Routes, Route{Name: m.Key, Path: rp, Fields: fields})
	}
	return nil
}

func (c *Config) decodeTokenKinds(v strictjson.Value, path string) error {
	if v.Kind != strictjson.Array {
		return confjson.At(path, "must be an array, got "+v.Kind.String())
	}
	if len(v.Items) == 0 {
		return confjson.At(path, "must list at least one kind (omit the key to accept any token)")
	}
	for i, item := range v.Items {
		ip := path + "[" + strconv.Itoa(i) + "]"
		if item.Kind != strictjson.Object {
			return confjson.At(ip, "must be an object, got "+item.Kind.String())
		}
		var k TokenKind
		for _, m := range item.Members {
			mp := ip + "." + m.Key
			var err error
			switch m.Key {
			case "prefix":
				k.Prefix, err = confjson.String(m.Value, mp)
				if err == nil && !bearer.WellFormed(k.Prefix) {
					err = confjson.At(mp, "must be non-empty visible ASCII")
				}
			case "subject_type":
				k.SubjectType, err = confjson.String(m.Value, mp)
				if err == nil && !scope.ValidSubjectType(k.SubjectType) {
					err = confjson.At(mp, "must be one token of visible ASCII, got "+quote.String(k.SubjectType))
				}
			case "scopes":
				k.Scopes, err = confjson.ScopeList(m.Value, mp)
			default:
				err = confjson.At(mp, "unknown key")
			}
			if err != nil {
				return err
			}
		}
		if k.Prefix == "" {
			return confjson.At(ip+".prefix", "is required")
		}
		for _, other := range c.TokenKinds {
			if other.Prefix == k.Prefix {
				return confjson.At(ip+".prefix", "duplicates the prefix "+quote.String(k.Prefix)+" of an earlier kind")
			}
		}
		k.ScopesText = strings.Join(k.Scopes, " ")
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
	return confjson.Members(v, path, func(key, mp string, val strictjson.Value) (err error) {
		switch key {
		case "ttl_seconds":
			c.Cache.TTLSeconds, err = confjson.Int(val, mp, 0, 86400)
		case "negative_ttl_seconds":
			c.Cache.NegativeTTLSeconds, err = confjson.Int(val, mp, 0, 86400)
		case "max_entries":
			c.Cache.MaxEntries, err = confjson.Int(val, mp, 1, 10_000_000)
		default:
			err = confjson.At(mp, "unknown key")
		}
		return err
	})
}

// decodePathCheck reads path_check: each key relaxes one rule of the ambiguous-path check. Dot segments,
// control bytes and overlong UTF-8 cannot be relaxed: no API needs them, and each is a known bypass.
func (c *Config) decodePathCheck(v strictjson.Value, path string) error {
	return confjson.Members(v, path, func(key, mp string, val strictjson.Value) (err error) {
		switch key {
		case "allow_encoded_slashes":
			c.PathRules.AllowEncodedSlashes, err = confjson.Bool(val, mp)
		case "allow_empty_segments":
			c.PathRules.AllowEmptySegments, err = confjson.Bool(val, mp)
		case "allow_backslashes":
			c.PathRules.AllowBackslashes, err = confjson.Bool(val, mp)
		default:
			err = confjson.At(mp, "unknown key (dot segments, control bytes and overlong UTF-8 are always refused)")
		}
		return err
	})
}

func (c *Config) decodeUpstreamHeaders(v strictjson.Value, path string) error {
	err := confjson.Members(v, path, func(key, mp string, val strictjson.Value) (err error) {
		var name *string
		switch key {
		case "subject":
			name = &c.Upstream.Subject
		case "subject_type":
			name = &c.Upstream.SubjectType
		case "scopes":
			name = &c.Upstream.Scopes
		case "decision":
			name = &c.Upstream.Decision
		case "strip_authorization":
			c.Upstream.StripAuthorization, err = confjson.Bool(val, mp)
		default:
			err = confjson.At(mp, "unknown key")
		}
		if name != nil {
			var s string
			if s, err = confjson.String(val, mp); err == nil {
				s = asciiLower(s)
				if s != "" && !validHeaderName(s) {
					err = confjson.At(mp, "must be \"\" or an HTTP header name (RFC 9110 token), got "+quote.String(s))
				} else if s == "authorization" || s == "host" {
					err = confjson.At(mp, "must not be "+quote.String(s))
				}
				*name = s
			}
		}
		return err
	})
	if err != nil {
		return err
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
			return confjson.At(path+"."+h.key, "header "+quote.String(h.name)+" is already used by "+path+"."+prev)
		}
		names[h.name] = h.key
	}
	return nil
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
