package policy

import (
	"errors"
	"testing"
)

// testRoute is a Lookup whose reads are given; a nil block or name means "not found".
type testRoute struct {
	route, vh []byte
	name      []byte
	err       error // returned by the read named in errAt
	errAt     string
	reqs      *RequirementCache
	nameReads int
}

func (r *testRoute) RouteBlock() (*Requirement, bool, error) {
	if r.errAt == "route" {
		return nil, false, r.err
	}
	if r.route == nil {
		return nil, false, nil
	}
	return r.reqs.Get(r.route), true, nil
}

func (r *testRoute) RouteName() ([]byte, bool, error) {
	r.nameReads++
	if r.errAt == "name" {
		return nil, false, r.err
	}
	return r.name, r.name != nil, nil
}

func (r *testRoute) VirtualHostBlock() (*Requirement, bool, error) {
	if r.errAt == "vh" {
		return nil, false, r.err
	}
	if r.vh == nil {
		return nil, false, nil
	}
	return r.reqs.Get(r.vh), true, nil
}

// TestResolveOrder: route block, then routes[xds.route_name], then the virtual host block, then
// default_route; a failed read is returned as is; the route name is read only when a routes map exists.
func TestResolveOrder(t *testing.T) {
	withMap := mustParse(t, `{"validator": {"type": "static", "tokens": []}, "default_route": "public",
		"routes": {"mapped": {"required_scope": "from:map"}}}`)
	noMap := mustParse(t, `{"validator": {"type": "static", "tokens": []}, "default_route": "public"}`)
	routeBlock := block("required_scope", "from:route")
	vhBlock := block("required_scope", "from:vh")
	boom := errors.New("boom")
	for _, tc := range []struct {
		name      string
		p         *Policy
		r         testRoute
		scope     string // the requirement's ScopeText; "public" for the public default
		source    Source
		err       error
		nameReads int
	}{
		{"route block wins over everything", withMap, testRoute{route: routeBlock, name: []byte("mapped"), vh: vhBlock}, "from:route", FromRoute, nil, 0},
		{"routes map before the virtual host", withMap, testRoute{name: []byte("mapped"), vh: vhBlock}, "from:map", FromRoutesMap, nil, 1},
		{"unmapped name falls to the virtual host", withMap, testRoute{name: []byte("other"), vh: vhBlock}, "from:vh", FromVirtualHost, nil, 1},
		{"no route matched falls to the virtual host", withMap, testRoute{vh: vhBlock}, "from:vh", FromVirtualHost, nil, 1},
		{"nothing: default_route", withMap, testRoute{name: []byte("other")}, "public", FromDefault, nil, 1},
		{"no routes map: the name is never read", noMap, testRoute{name: []byte("mapped"), vh: vhBlock}, "from:vh", FromVirtualHost, nil, 0},
		{"route block read fails", withMap, testRoute{errAt: "route", err: boom, vh: vhBlock}, "", FromRoute, boom, 0},
		{"route name read fails", withMap, testRoute{errAt: "name", err: boom, vh: vhBlock}, "", FromRoutesMap, boom, 1},
		{"virtual host read fails", withMap, testRoute{errAt: "vh", err: boom}, "", FromVirtualHost, boom, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.r
			r.reqs = NewRequirementCache(tc.p, 16)
			req, src, err := tc.p.Resolve(&r)
			if !errors.Is(err, tc.err) || src != tc.source || r.nameReads != tc.nameReads {
				t.Fatalf("source %v err %v name reads %d, want %v %v %d", src, err, r.nameReads, tc.source, tc.err, tc.nameReads)
			}
			if tc.err != nil {
				if req != nil {
					t.Fatalf("a failed read gave a requirement: %+v", req)
				}
				return
			}
			got := req.ScopeText
			if req.Public {
				got = "public"
			}
			if got != tc.scope || req.Problem != "" {
				t.Fatalf("requirement %+v, want %s", req, tc.scope)
			}
		})
	}
}

// TestResolveDoesNotAllocate: the plugin resolves every request's requirement; with the block decoded
// once, a lookup through the routes map allocates nothing.
func TestResolveDoesNotAllocate(t *testing.T) {
	p := mustParse(t, `{"validator": {"type": "static", "tokens": []}, "routes": {"mapped": {"required_scope": "a"}}}`)
	r := &testRoute{name: []byte("mapped"), vh: block("required_scope", "b"), reqs: NewRequirementCache(p, 16)}
	other := &testRoute{name: []byte("other"), vh: block("required_scope", "b"), reqs: r.reqs}
	n := testing.AllocsPerRun(200, func() {
		if req, src, _ := p.Resolve(r); src != FromRoutesMap || req.ScopeText != "a" {
			panic("wrong requirement")
		}
		if req, src, _ := p.Resolve(other); src != FromVirtualHost || req.ScopeText != "b" {
			panic("wrong requirement")
		}
	})
	if n != 0 {
		t.Fatalf("Resolve allocated %v times per request", n)
	}
}
