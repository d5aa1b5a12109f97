package policy

import (
	"strconv"

	"github.com/scope-gate/scope-gate/filter/pairs"
)

// Requirement is what a route demands, decoded from its metadata block (docs/spec.md §3). A non-empty Problem
// means the route is misconfigured: the request is answered 500 and Problem is logged with the route name.
type Requirement struct {
	Public       bool
	Scopes       []string // every one is required; empty: a valid bearer suffices
	ScopeText    string   // required_scope as written, for the 403 message and challenge
	SubjectTypes []string // accepted subject types; empty: any
	Problem      string

	scopeDenied *Reply
}

// Requirement keys in a metadata block.
const (
	keyAuth          = "auth"
	keyRequiredScope = "required_scope"
	keySubjectTypes  = "subject_types"
)

// DecodeRequirement decodes a route's (or virtual host's) metadata block as Envoy returns it from
// proxy_get_property: the proxy-wasm pairs encoding of a Struct. Every leaf must be a string; since Envoy's
// encoding carries no type tags, non-string leaves (numbers, bools, lists, structs) are caught by the
// syntax each key demands, which excludes the NUL and control bytes their encodings contain.
func (c *Config) DecodeRequirement(block []byte) *Requirement {
	fields, err := pairs.Decode(block, make([]pairs.Pair, 0, 4))
	if err != nil {
		return c.misconfigured("metadata block is not a map of strings (" + err.Error() + ")")
	}
	kv := make([][2]string, len(fields))
	for i, f := range fields {
		kv[i] = [2]string{string(f.Key), string(f.Value)}
	}
	return c.RequirementFromFields(kv)
}

// RequirementFromFields builds a requirement from a block's key/value strings. Tools that read metadata
// from Envoy configuration files (rather than from a running Envoy) use it directly.
func (c *Config) RequirementFromFields(fields [][2]string) *Requirement {
	var auth, scope, subjects *string
	for i := range fields {
		key, value := fields[i][0], &fields[i][1]
		var slot **string
		switch key {
		case keyAuth:
			slot = &auth
		case keyRequiredScope:
			slot = &scope
		case keySubjectTypes:
			slot = &subjects
		default:
			return c.misconfigured("unknown key " + strconv.Quote(key) + " (known: auth, required_scope, subject_types)")
		}
		if *slot != nil {
			return c.misconfigured("key " + strconv.Quote(key) + " appears twice")
		}
		*slot = value
	}

	r := &Requirement{}
	if auth != nil {
		switch *auth {
		case "bearer":
		case "none":
			r.Public = true
		default:
			return c.misconfigured(`auth must be "bearer" or "none", got ` + strconv.Quote(*auth))
		}
	}
	if r.Public && (scope != nil || subjects != nil) {
		return c.misconfigured(`required_scope and subject_types need a bearer, but auth is "none"`)
	}
	if scope != nil {
		scopes, bad, ok := splitSpaced(*scope, validScopeToken)
		switch {
		case ok:
			r.Scopes, r.ScopeText = scopes, *scope
			r.scopeDenied = scopeReply(c.Realm, *scope)
		case *scope == "":
			return c.misconfigured("required_scope is empty")
		case bad != "":
			return c.misconfigured("required_scope " + strconv.Quote(*scope) + ": " + strconv.Quote(bad) + " is not an RFC 6749 scope token")
		default:
			return c.misconfigured("required_scope " + strconv.Quote(*scope) + ": scopes must be separated by single spaces")
		}
	}
	if subjects != nil {
		types, bad, ok := splitSpaced(*subjects, validSubjectType)
		switch {
		case ok:
			r.SubjectTypes = types
		case bad != "":
			return c.misconfigured("subject_types " + strconv.Quote(*subjects) + ": " + strconv.Quote(bad) + " is not a valid subject type")
		default:
			return c.misconfigured("subject_types " + strconv.Quote(*subjects) + ": must be non-empty, separated by single spaces")
		}
	}
	if !r.Public && c.Validator == nil {
		// The backend raises RuntimeError when require_scope is used without validate_bearer; the edge
		// answers 500 rather than letting a route that needs a token through unchecked.
		return c.misconfigured("route requires a bearer token but no validator is configured")
	}
	return r
}

func (c *Config) misconfigured(problem string) *Requirement {
	return &Requirement{Problem: problem}
}

func (c *Config) newDefaultRequirement() *Requirement {
	switch c.DefaultRoute {
	case DefaultPublic:
		return &Requirement{Public: true}
	case DefaultDeny:
		return c.misconfigured(`route has no scope-gate metadata and default_route is "deny"`)
	}
	return c.RequirementFromFields(nil)
}

// RequirementCache memoizes decoded requirements by their encoded block, so the request path decodes each
// distinct block once. Envoy hands the block over as bytes on every request; the set of distinct blocks is
// the set of routes in the configuration, but the cache stops growing at a bound anyway (further blocks are
// decoded on every request, which is correct, only slower). Not safe for concurrent use: one per VM.
type RequirementCache struct {
	cfg *Config
	m   map[string]*Requirement
	max int
}

// NewRequirementCache returns a cache holding at most max blocks.
func NewRequirementCache(cfg *Config, max int) *RequirementCache {
	return &RequirementCache{cfg: cfg, m: make(map[string]*Requirement), max: max}
}

// Get returns the requirement encoded in block.
func (rc *RequirementCache) Get(block []byte) *Requirement {
	if r, ok := rc.m[string(block)]; ok { // no allocation: the compiler recognises map[string(bytes)]
		return r
	}
	r := rc.cfg.DecodeRequirement(block)
	if len(rc.m) < rc.max {
		rc.m[string(block)] = r
	}
	return r
}
