package bench

import (
	"errors"
	"fmt"
	"strings"

	"github.com/scope-gate/scope-gate/filter/policy"
	"github.com/scope-gate/scope-gate/filter/sharedcache"
	"github.com/scope-gate/scope-gate/filter/validator"
)

// nativeFixture is a decision made by the pure packages with no host at all: the configuration parsed once,
// the route's block as Envoy would hand it over, and the request's Authorization headers.
type nativeFixture struct {
	cfg                *policy.Policy
	reqs               *policy.RequirementCache
	routeBlock         []byte // the route's block, when hasRoute
	vhostBlock         []byte // the virtual host's block, when hasVhost
	hasRoute, hasVhost bool
	path, method       string
	authCount          int
	firstAuth          string
	sharedData         map[string][]byte // stands in for proxy-wasm shared data (remote case)
	nowUnix            int64
	want               int
}

func (s *Suite) native(c Case) (*nativeFixture, error) {
	sc, err := s.env.scenario(c)
	if err != nil {
		return nil, err
	}
	cfg, err := policy.Parse(s.env.Table.PluginConfiguration(sc))
	if err != nil {
		return nil, err
	}
	// The same bound as the plugin's memo; the cache decodes each distinct block once.
	fx := &nativeFixture{cfg: cfg, reqs: policy.NewRequirementCache(cfg, 4096), nowUnix: s.env.Table.NowUnix, want: c.Want}
	ns := cfg.RouteBlockPath()[len(cfg.RouteBlockPath())-1]
	if sc.Route != nil {
		r := s.env.Table.Routes[*sc.Route]
		if fx.routeBlock, fx.hasRoute, err = metadataBlock(r.Metadata, ns); err != nil {
			return nil, err
		}
		if fx.vhostBlock, fx.hasVhost, err = metadataBlock(s.env.Table.VirtualHosts[r.VirtualHost].Metadata, ns); err != nil {
			return nil, err
		}
	}
	fx.path, fx.method = sc.Request.Path, sc.Request.Method
	for _, h := range sc.Request.Headers {
		if strings.EqualFold(h[0], "authorization") {
			if fx.authCount == 0 {
				fx.firstAuth = h[1]
			}
			fx.authCount++
		}
	}
	if c.Remote {
		rv, ok := cfg.Validator.(*validator.Remote)
		if !ok {
			return nil, fmt.Errorf("bench: %s: not a remote validator", c.Name)
		}
		// Warm the stand-in for shared data the way the plugin fills it after the validator answered.
		var ch policy.Check
		r := fx.request()
		cfg.Check(fx.requirement(), &r, &ch)
		if ch.Verdict != policy.NeedsValidation {
			return nil, fmt.Errorf("bench: %s: check gave %v", c.Name, ch.Verdict)
		}
		v, exp, problem := rv.Answer(sc.Validator.Status, []byte(sc.Validator.Body), fx.nowUnix)
		until, ok := cfg.SharedCache().Expiry(v, exp, fx.nowUnix)
		if !ok {
			return nil, fmt.Errorf("bench: %s: answer not cacheable (%s)", c.Name, problem)
		}
		entry, ok := sharedcache.EncodeEntry(ch.Hash, v, until)
		if !ok {
			return nil, fmt.Errorf("bench: %s: entry not encodable", c.Name)
		}
		fx.sharedData = map[string][]byte{cfg.SharedCache().Key(ch.Hash): entry}
	}
	return fx, nil
}

// clock is the fixture's time, for validator.Local.LookupClock.
func (fx *nativeFixture) clock() int64 { return fx.nowUnix }

// request is what the decision reads of the scenario's request.
func (fx *nativeFixture) request() policy.Request {
	return policy.Request{Path: fx.path, Method: fx.method, AuthCount: fx.authCount, Authorization: fx.firstAuth}
}

// requirement resolves the route's requirement in the plugin's order (policy.Resolve); the fixture is the
// lookup (the configured routes map is not used by the cases measured here, so the route has no name).
func (fx *nativeFixture) requirement() *policy.Requirement {
	req, _, _ := fx.cfg.Resolve(fx)
	return req
}

// RouteBlock implements policy.Lookup.
func (fx *nativeFixture) RouteBlock() (*policy.Requirement, bool, error) {
	if !fx.hasRoute {
		return nil, false, nil
	}
	return fx.reqs.Get(fx.routeBlock), true, nil
}

// RouteName implements policy.Lookup: the measured routes have no name.
func (fx *nativeFixture) RouteName() ([]byte, bool, error) { return nil, false, nil }

// VirtualHostBlock implements policy.Lookup.
func (fx *nativeFixture) VirtualHostBlock() (*policy.Requirement, bool, error) {
	if !fx.hasVhost {
		return nil, false, nil
	}
	return fx.reqs.Get(fx.vhostBlock), true, nil
}

// decide is the plugin's request path without the host: requirement, Check, then the static lookup or the
// shared-cache read, then Authorize (or Deny). It returns the status the client would get.
func (fx *nativeFixture) decide() (int, error) {
	cfg := fx.cfg
	req := fx.requirement()
	r := fx.request()
	var (
		ch policy.Check
		d  policy.Decision
	)
	cfg.Check(req, &r, &ch)
	if ch.Verdict != policy.NeedsValidation {
		cfg.Deny(ch.Verdict, req, &d)
	} else {
		switch v := cfg.Validator.(type) {
		case validator.Local:
			cfg.Authorize(req, ch.Kind, v.LookupClock(&ch.Hash, fx.clock), &d)
		case *validator.Remote:
			val, ok := sharedcache.DecodeEntry(fx.sharedData[cfg.SharedCache().Key(ch.Hash)], ch.Hash, fx.nowUnix)
			if !ok {
				return 0, errors.New("cache miss in the native remote case")
			}
			cfg.Authorize(req, ch.Kind, &val, &d)
		default:
			cfg.Deny(policy.DenyMisconfigured, req, &d)
		}
	}
	if d.Verdict.Allowed() {
		return 200, nil
	}
	return int(d.Reply.Status), nil
}

// Native is case c decided by the policy package alone: the floor of the work the filter does.
func (s *Suite) Native(c Case) Runner {
	var fx *nativeFixture
	return Runner{
		Prepare: func() error {
			var err error
			fx, err = s.native(c)
			return err
		},
		Step: func() error {
			st, err := fx.decide()
			if err == nil && st != fx.want {
				err = fmt.Errorf("native/%s: status %d, want %d", c.Name, st, fx.want)
			}
			return err
		},
	}
}
