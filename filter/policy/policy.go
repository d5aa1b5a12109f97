package policy

import (
	"github.com/scope-gate/scope-gate/filter/config"
	"github.com/scope-gate/scope-gate/filter/confjson"
	"github.com/scope-gate/scope-gate/filter/sharedcache"
)

// Policy is a plugin configuration compiled for the request path: the parsed Config (embedded, so its
// settings read as fields) plus everything derived from it once at start, so that a request needs no
// parsing and, when allowed, no allocation. Immutable after Compile.
type Policy struct {
	*config.Config

	// RouteRequirements is the routes map compiled: route name (xds.route_name) → requirement. Every entry
	// was checked at Compile; none has a Problem.
	RouteRequirements map[string]*Requirement

	routeBlockPath       []string
	virtualHostBlockPath []string
	spoofable            []string     // lower-case names removed from every request
	spoofableLens        uint64       // lengthMask(spoofable): ReadRequest compares a name only when its length matches
	kindWords            []prefixWord // TokenKinds' prefixes as words, for kindOf
	cache                *sharedcache.Cache
	defaultRequirement   *Requirement
	replies              replies
}

// Parse reads and compiles a plugin configuration (config.Parse, then Compile): what the plugin does at start.
func Parse(data []byte) (*Policy, error) {
	c, err := config.Parse(data)
	if err != nil {
		return nil, err
	}
	return Compile(c)
}

// Compile derives the request path's state from a parsed configuration. It fails only on the routes map:
// an entry that is not a valid requirement rejects the configuration, with the entry's JSON path.
func Compile(c *config.Config) (*Policy, error) {
	p := &Policy{
		Config:               c,
		routeBlockPath:       []string{"xds", "route_metadata", "filter_metadata", c.MetadataNamespace},
		virtualHostBlockPath: []string{"xds", "virtual_host_metadata", "filter_metadata", c.MetadataNamespace},
		replies:              newReplies(c.Realm),
	}
	for _, h := range []string{c.Upstream.Subject, c.Upstream.SubjectType, c.Upstream.Scopes, c.Upstream.Decision} {
		if h != "" {
			p.spoofable = append(p.spoofable, h)
		}
	}
	p.spoofableLens = lengthMask(p.spoofable)
	p.kindWords = prefixWords(c.TokenKinds)
	var fingerprint string
	if c.Validator != nil {
		fingerprint = c.Validator.CacheFingerprint()
	}
	p.cache = sharedcache.New(fingerprint, c.Cache.TTLSeconds, c.Cache.NegativeTTLSeconds, c.Cache.MaxEntries)
	p.defaultRequirement = p.newDefaultRequirement()
	if c.Routes != nil {
		p.RouteRequirements = make(map[string]*Requirement, len(c.Routes))
		for _, rt := range c.Routes {
			r := p.RequirementFromFields(rt.Fields)
			if r.Problem != "" {
				return nil, confjson.At(rt.Path, r.Problem)
			}
			p.RouteRequirements[rt.Name] = r
		}
	}
	return p, nil
}

// RouteBlockPath is the Envoy property path of the route's metadata block in the namespace.
func (p *Policy) RouteBlockPath() []string { return p.routeBlockPath }

// VirtualHostBlockPath is the Envoy property path of the virtual host's metadata block in the namespace.
func (p *Policy) VirtualHostBlockPath() []string { return p.virtualHostBlockPath }

// SpoofableHeaders are the lower-case names of every header the filter sets itself; they are removed from
// every request before any decision, on every route (docs/spec.md §6).
func (p *Policy) SpoofableHeaders() []string { return p.spoofable }

// DefaultRequirement applies when neither the route nor its virtual host has a block in the namespace, and
// when no route matched.
func (p *Policy) DefaultRequirement() *Requirement { return p.defaultRequirement }

// SharedCache is where the validator's answers are cached (docs/spec.md §4.5); its keys carry the
// validator's CacheFingerprint.
func (p *Policy) SharedCache() *sharedcache.Cache { return p.cache }
