package policy

// Source says where a request's requirement came from.
type Source uint8

const (
	FromRoute       Source = iota + 1 // the route's metadata block
	FromRoutesMap                     // the configured routes[xds.route_name]
	FromVirtualHost                   // the virtual host's metadata block
	FromDefault                       // default_route
)

// Lookup is what Resolve reads of a request's route, from a running Envoy (the plugin) or from a
// configuration file (the offline check). Each method reports whether the thing exists; an error is a read
// that failed (the plugin fails closed on it).
type Lookup interface {
	// RouteBlock is the decoded metadata block of the matched route in the namespace.
	RouteBlock() (*Requirement, bool, error)
	// RouteName is the matched route's name (xds.route_name); bytes, so that the plugin's map lookup does not
	// allocate.
	RouteName() ([]byte, bool, error)
	// VirtualHostBlock is the decoded metadata block of the matched virtual host in the namespace.
	VirtualHostBlock() (*Requirement, bool, error)
}

// Resolve is the one lookup order of a route's requirement (docs/spec.md §3): the route's metadata block,
// else the configured routes[xds.route_name], else the virtual host's block, else default_route. The route
// name is read only when a routes map is configured (a host call the common case does not pay for).
func (p *Policy) Resolve(l Lookup) (*Requirement, Source, error) {
	if r, found, err := l.RouteBlock(); found || err != nil {
		return r, FromRoute, err
	}
	if len(p.RouteRequirements) > 0 {
		name, found, err := l.RouteName()
		if err != nil {
			return nil, FromRoutesMap, err
		}
		if r, ok := p.RouteRequirements[string(name)]; found && ok {
			return r, FromRoutesMap, nil
		}
	}
	if r, found, err := l.VirtualHostBlock(); found || err != nil {
		return r, FromVirtualHost, err
	}
	return p.defaultRequirement, FromDefault, nil
}
