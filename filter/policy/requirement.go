package policy

import (
	"github.com/scope-gate/scope-gate/filter/config"
	"github.com/scope-gate/scope-gate/filter/internal/quote"
	"github.com/scope-gate/scope-gate/filter/pairs"
	"github.com/scope-gate/scope-gate/filter/scope"
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
func (p *Policy) DecodeRequirement(block []byte) *Requirement {
	fields, err := pairs.Decode(block, make([]pairs.Pair, 0, 4))
	if err != nil {
		return p.misconfigured("metadata block is not a map of strings (" + err.Error() + ")")
	}
	kv := make([][2]string, len(fields))
	for i, f := range fields {
		kv[i] = [2]string{string(f.Key), string(f.Value)}
	}
	return p.RequirementFromFields(kv)
}

// RequirementFromFields builds a requirement from a block's key/value strings. Tools that read metadata
// from Envoy configuration files (rather than from a running Envoy) use it directly.
func (p *Policy) RequirementFromFields(fields [][2]string) *Requirement {
	var auth, required, subjects *string
	for i := range fields {
		key, value := fields[i][0], &fields[i][1]
		var slot **string
		switch key {
		case keyAuth:
			slot = &auth
		case keyRequiredScope:
			slot = &required
		case keySubjectTypes:
			slot = &subjects
		default:
			return p.misconfigured("unknown key " + quote.String(key) + " (known: auth, required_scope, subject_types)")
		}
		if *slot != nil {
			return p.misconfigured("key " + quote.String(key) + " appears twice")
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
			return p.misconfigured(`auth must be "bearer" or "none", got ` + quote.String(*auth))
		}
	}
	if r.Public && (required != nil || subjects != nil) {
		return p.misconfigured(`required_scope and subject_types need a bearer, but auth is "none"`)
	}
	if required != nil {
		scopes, bad, ok := scope.SplitSpaced(*required, scope.ValidToken)
		switch {
		case ok:
			r.Scopes, r.ScopeText = scopes, *required
			r.scopeDenied = scopeReply(p.Realm, *required)
		case *required == "":
			return p.misconfigured("required_scope is empty")
		case bad != "":
			return p.misconfigured("required_scope " + quote.String(*required) + ": " + quote.String(bad) + " is not an RFC 6749 scope token")
		default:
			return p.misconfigured("required_scope " + quote.String(*required) + ": scopes must be separated by single spaces")
		}
	}
	if subjects != nil {
		types, bad, ok := scope.SplitSpaced(*subjects, scope.ValidSubjectType)
		switch {
		case ok:
			r.SubjectTypes = types
		case bad != "":
			return p.misconfigured("subject_types " + quote.String(*subjects) + ": " + quote.String(bad) + " is not a valid subject type")
		default:
			return p.misconfigured("subject_types " + quote.String(*subjects) + ": must be non-empty, separated by single spaces")
		}
	}
	if !r.Public && p.Validator == nil {
		// The backend raises RuntimeError when require_scope is used without validate_bearer; the edge
		// answers 500 rather than letting a route that needs a token through unchecked.
		return p.misconfigured("route requires a bearer token but no validator is configured")
	}
	return r
}

func (p *Policy) misconfigured(problem string) *Requirement {
	return &Requirement{Problem: problem}
}

func (p *Policy) newDefaultRequirement() *Requirement {
	switch p.DefaultRoute {
	case config.DefaultPublic:
		return &Requirement{Public: true}
	case config.DefaultDeny:
		return p.misconfigured(`route has no scope-gate metadata and default_route is "deny"`)
	}
	return p.RequirementFromFields(nil)
}

// RequirementCache memoizes decoded requirements by their encoded block, so the request path decodes each
// distinct block once. Envoy hands the block over as bytes on every request; the set of distinct blocks is
// the set of routes in the configuration, but the cache stops growing at a bound anyway (further blocks are
// decoded on every request, which is correct, only slower). Not safe for concurrent use: one per VM.
type RequirementCache struct {
	p   *Policy
	m   map[string]*Requirement
	max int
}

// NewRequirementCache returns a cache holding at most max blocks.
func NewRequirementCache(p *Policy, max int) *RequirementCache {
	return &RequirementCache{p: p, m: make(map[string]*Requirement), max: max}
}

// Get returns the requirement encoded in block.
func (rc *RequirementCache) Get(block []byte) *Requirement {
	if r, ok := rc.m[string(block)]; ok { // no allocation: the compiler recognises map[string(bytes)]
		return r
	}
	r := rc.p.DecodeRequirement(block)
	if len(rc.m) < rc.max {
		rc.m[string(block)] = r
	}
	return r
}
