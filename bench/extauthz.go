package bench

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/scope-gate/scope-gate/filter/policy"
	"github.com/scope-gate/scope-gate/filter/validator"
)

// authzService is the ext_authz-style alternative: a Go HTTP service on loopback that makes the same
// decision with the same policy package. Envoy's HTTP ext_authz filter sends it the request's method, path
// and allowed headers and forwards or answers depending on its status; the route is passed as a header, as
// a per-route context extension would be.
type authzService struct {
	srv    *http.Server
	ln     net.Listener
	client *http.Client
	base   string
}

const routeHeader = "x-scope-gate-route"

func (s *Suite) authzService() (*authzService, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.authz != nil {
		return s.authz, nil
	}
	cfgBytes, err := s.env.config(Cases[1])
	if err != nil {
		return nil, err
	}
	cfg, err := policy.Parse(cfgBytes)
	if err != nil {
		return nil, err
	}
	static, ok := cfg.Validator.(validator.Local)
	if !ok {
		return nil, errors.New("bench: ext_authz service needs the static reference configuration")
	}
	// Requirements per route name, decoded at start like a service would from its own route table.
	ns := cfg.RouteBlockPath()[len(cfg.RouteBlockPath())-1]
	routes := map[string]*policy.Requirement{}
	for _, r := range s.env.Table.Routes {
		block, found, err := metadataBlock(r.Metadata, ns)
		if err != nil || !found || r.Name == "" {
			continue // not string-only, or resolved by a virtual host: not used by the cases measured here
		}
		routes[r.Name] = cfg.DecodeRequirement(block)
	}
	nowUnix := s.env.Table.NowUnix
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, ok := routes[r.Header.Get(routeHeader)]
		if !ok {
			req = cfg.DefaultRequirement()
		}
		auth := r.Header.Values("Authorization")
		first := ""
		if len(auth) > 0 {
			first = auth[0]
		}
		var (
			ch policy.Check
			d  policy.Decision
		)
		cfg.Check(req, &policy.Request{Path: r.URL.Path, Method: r.Method, AuthCount: len(auth), Authorization: first}, &ch)
		if ch.Verdict == policy.NeedsValidation {
			val := static.Lookup(ch.Hash, nowUnix)
			cfg.Authorize(req, ch.Kind, &val, &d)
		} else {
			cfg.Deny(ch.Verdict, req, &d)
		}
		if d.Verdict.Allowed() {
			if d.Verdict == policy.Allow { // identity headers Envoy copies to the upstream request
				w.Header().Set("x-scope-gate-subject", d.Identity.Subject)
				w.Header().Set("x-scope-gate-subject-type", d.Identity.SubjectType)
				w.Header().Set("x-scope-gate-scopes", d.Identity.ScopesText)
			}
			w.WriteHeader(http.StatusOK)
			return
		}
		for _, h := range d.Reply.Headers {
			w.Header().Set(h[0], h[1])
		}
		w.WriteHeader(int(d.Reply.Status))
		_, _ = w.Write(d.Reply.Body)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	a := &authzService{
		srv: &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second},
		ln:  ln,
		// Keep-alive, one connection reused for every call, like Envoy's pooled connection to the service.
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true}, Timeout: 10 * time.Second},
		base:   "http://" + ln.Addr().String(),
	}
	go func() { _ = a.srv.Serve(ln) }()
	s.authz = a
	s.closers = append(s.closers, func() { a.client.CloseIdleConnections(); _ = a.srv.Close() })
	return a, nil
}

// call is one authorization check: a new request with the original method, path and Authorization
// header(s), the whole answer read so the connection goes back to the pool.
func (a *authzService) call(method, path, route string, auth []string) (int, error) {
	req, err := http.NewRequest(method, a.base+path, nil)
	if err != nil {
		return 0, err
	}
	for _, v := range auth {
		req.Header.Add("Authorization", v)
	}
	req.Header.Set(routeHeader, route)
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// ExtAuthz is case c decided by the ext_authz-style service: one loopback HTTP call per request. Client
// and service run in this process, sharing its cores, as a sidecar service shares a node with Envoy.
func (s *Suite) ExtAuthz(c Case) Runner {
	var a *authzService
	var method, path, route string
	var auth []string
	step := func() error {
		st, err := a.call(method, path, route, auth)
		if err == nil && st != c.Want {
			err = fmt.Errorf("ext_authz/%s: status %d, want %d", c.Name, st, c.Want)
		}
		return err
	}
	return Runner{
		Prepare: func() error {
			if c.Remote {
				return errors.New("the ext_authz service is static-table only")
			}
			var err error
			if a, err = s.authzService(); err != nil {
				return err
			}
			sc, err := s.env.scenario(c)
			if err != nil {
				return err
			}
			method, path, route, auth = sc.Request.Method, sc.Request.Path, "", nil
			if sc.Route != nil {
				route = s.env.Table.Routes[*sc.Route].Name
			}
			for _, h := range sc.Request.Headers {
				if strings.EqualFold(h[0], "authorization") {
					auth = append(auth, h[1])
				}
			}
			return step() // warm: opens the pooled connection
		},
		Step: step,
	}
}
