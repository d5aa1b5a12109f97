package bench

import (
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/scope-gate/scope-gate/e2e/scenarios"
	"github.com/scope-gate/scope-gate/filter/pairs"
	"github.com/scope-gate/scope-gate/internal/envoyhost"
)

// Case is one decision measured everywhere. Each is a row of the scenario table, so the request, route and
// configuration are the ones the e2e suite proves correct, and the expected status comes from the table too
// (it is checked against Want so that a changed table cannot silently turn an allow into a deny here).
type Case struct {
	Name     string // benchmark name
	Scenario string // row of e2e/scenarios/scenarios.json
	Want     int    // status the client must get
	Remote   bool   // validated by the forward validator (loopback server) and answered from the shared cache
}

// Cases are the decisions PERFORMANCE.md measures. The static ones run on the "reference" configuration.
var Cases = []Case{
	{Name: "public", Scenario: "public_route_without_token", Want: 200},
	{Name: "allow_scoped", Scenario: "scope_present_allowed", Want: 200},
	{Name: "401_missing", Scenario: "missing_authorization_is_401", Want: 401},
	{Name: "403_scope", Scenario: "scope_missing_is_403", Want: 403},
	{Name: "500_misconfigured", Scenario: "misconfigured_auth_value_is_500", Want: 500},
	{Name: "remote_cache_hit", Scenario: "forward_200_allows_with_subject", Want: 200, Remote: true},
}

// StaticCases are the cases a static table decides (everything but the remote cache hit).
func StaticCases() []Case {
	var out []Case
	for _, c := range Cases {
		if !c.Remote {
			out = append(out, c)
		}
	}
	return out
}

// scenario returns the table row of c, checked against what the benchmark assumes.
func (e *Env) scenario(c Case) (scenarios.Scenario, error) {
	for _, s := range e.Table.Scenarios {
		if s.Name != c.Scenario {
			continue
		}
		if s.Expect.Status != c.Want {
			return s, fmt.Errorf("bench: scenario %s expects %d, the benchmark %s assumes %d", s.Name, s.Expect.Status, c.Name, c.Want)
		}
		if c.Remote && (s.Validator == nil || s.Validator.Fixture != "") {
			return s, fmt.Errorf("bench: scenario %s has no literal validator answer", s.Name)
		}
		if !c.Remote && s.Validator != nil {
			return s, fmt.Errorf("bench: scenario %s needs a validator", s.Name)
		}
		return s, nil
	}
	return scenarios.Scenario{}, fmt.Errorf("bench: scenario %q not in the table", c.Scenario)
}

// config returns the plugin configuration bytes of c.
func (e *Env) config(c Case) ([]byte, error) {
	s, err := e.scenario(c)
	if err != nil {
		return nil, err
	}
	return e.Table.PluginConfiguration(s), nil
}

// envoyRequest builds the stand-in's request for a scenario, exactly as e2e/scenarios does: pseudo headers,
// then the scenario's headers, and the matched route with its virtual host.
func (e *Env) envoyRequest(s scenarios.Scenario) envoyhost.Request {
	req := envoyhost.Request{Headers: [][2]string{
		{":method", s.Request.Method}, {":path", s.Request.Path}, {":authority", "api.example.com"}, {":scheme", "https"},
	}}
	req.Headers = append(req.Headers, s.Request.Headers...)
	if s.Route != nil {
		r := e.Table.Routes[*s.Route]
		vh := e.Table.VirtualHosts[r.VirtualHost]
		req.Route = &envoyhost.Route{
			Name:        r.Name,
			Metadata:    envoyhost.Metadata(r.Metadata),
			VirtualHost: &envoyhost.VirtualHost{Name: vh.Name, Metadata: envoyhost.Metadata(vh.Metadata)},
			Cluster:     "backend",
		}
	}
	return req
}

// metadataBlock is a filter_metadata block as Envoy hands it to the filter (proxy-wasm pairs, keys sorted,
// as envoyhost encodes a Struct). Only string leaves are supported: the cases measured here have no other.
// ok is false when md has no block for ns.
func metadataBlock(md map[string]any, ns string) (block []byte, ok bool, err error) {
	v, ok := md[ns]
	if !ok {
		return nil, false, nil
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		return nil, true, fmt.Errorf("bench: metadata block %s is %T, only maps of strings are supported", ns, v)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	kv := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		s, isStr := m[k].(string)
		if !isStr {
			return nil, true, fmt.Errorf("bench: metadata %s.%s is %T, only strings are supported", ns, k, m[k])
		}
		kv = append(kv, k, s)
	}
	return pairs.EncodeStrings(kv...), true, nil
}

// validatorServer is the loopback validation server of the remote case: it answers the scenario's literal
// answer and counts calls, so a benchmark can prove it measured cache hits and not validator round trips.
type validatorServer struct {
	srv   *http.Server
	ln    net.Listener
	calls atomic.Int64
}

func newValidatorServer(status int, body string) (*validatorServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	v := &validatorServer{ln: ln}
	v.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v.calls.Add(1)
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	})}
	go func() { _ = v.srv.Serve(ln) }()
	return v, nil
}

func (v *validatorServer) addr() string { return v.ln.Addr().String() }
func (v *validatorServer) count() int64 { return v.calls.Load() }
func (v *validatorServer) close()       { _ = v.srv.Close() }

// statusOK reports whether res is the expected outcome of a case: allowed requests must have reached the
// upstream (a 200 local reply would be a different path), denials must be the filter's local reply, and no
// callback may have trapped (a failed VM answers 503 to everything, which must never be measured).
func statusOK(res envoyhost.Result, want int) error {
	if res.Trapped != nil {
		return fmt.Errorf("guest trapped: %v", res.Trapped)
	}
	if res.Response.Status != want {
		body := ""
		if res.LocalReply != nil {
			body = strings.TrimSpace(string(res.LocalReply.Body))
		}
		return fmt.Errorf("status %d, want %d (%s)", res.Response.Status, want, body)
	}
	if want == 200 && (res.Upstream == nil || res.LocalReply != nil) {
		return fmt.Errorf("status 200 without reaching the upstream")
	}
	if want != 200 && res.LocalReply == nil {
		return fmt.Errorf("status %d not from a local reply", want)
	}
	return nil
}

// ReferenceConfig is the plugin configuration of the static cases: the scenario table's "reference"
// configuration, the one VM start and memory are measured with.
func ReferenceConfig(e *Env) ([]byte, error) { return e.config(Cases[1]) }
