package hardening

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scope-gate/scope-gate/e2e/testkit"
	"github.com/scope-gate/scope-gate/filter/bearer"
	"github.com/scope-gate/scope-gate/filter/policy"
	"github.com/scope-gate/scope-gate/filter/validator"
	"github.com/scope-gate/scope-gate/internal/envoyhost"
)

// The differential test: for random configurations, routes and requests, the compiled module in the stand-in
// must reach exactly the decision that the pure packages reach natively. The pure packages are unit-tested
// and fuzzed on their own; what this test finds is everything in between: the plugin glue, the standard-Go
// bridge, the SDK's serialization, the host's encodings, and the compiler (a Go-to-wasm miscompile or a
// runtime difference would show here and nowhere else).

const (
	diffConfigs        = 48  // one VM each
	diffCasesPerConfig = 256 // 48 × 256 = 12 288 cases in a plain `go test`, fewer the refused configurations
)

// diffSeed is SCOPE_GATE_SEED when set (to replay a failure), else fresh per run so that every CI run
// explores new cases; it is logged, and printed with every failure.
func diffSeed(t *testing.T) uint64 {
	if s := os.Getenv("SCOPE_GATE_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("SCOPE_GATE_SEED=%q: %v", s, err)
		}
		return n
	}
	return uint64(time.Now().UnixNano())
}

func TestDifferentialModuleVsPolicy(t *testing.T) {
	seed := diffSeed(t)
	t.Logf("seed %d (replay with SCOPE_GATE_SEED=%d)", seed, seed)
	hosts := map[envoyhost.Profile]*envoyhost.Host{}
	for _, p := range profiles {
		hosts[p] = newHost(t, p, nil)
	}
	var cases, rejected int
	verdicts := map[string]int{}
	failures := 0
	for ci := 0; ci < diffConfigs && failures < 5; ci++ {
		// Each configuration has its own stream of randomness, so a failure replays from (seed, config)
		// alone, whatever the other configurations drew.
		r := rand.New(rand.NewPCG(seed, uint64(ci)))
		g := genConfig(r)
		profile := profiles[ci%len(profiles)]
		h := hosts[profile]
		where := fmt.Sprintf("seed %d config %d (%s)", seed, ci, profile)

		cfg, perr := policy.Parse([]byte(g.json))
		vm, verr := h.NewVM(context.Background(), testkit.PluginConfig([]byte(g.json)))
		if perr != nil {
			// The generator sometimes breaks a configuration on purpose: the module must refuse exactly
			// the configurations that Parse refuses.
			rejected++
			if !errors.Is(verr, envoyhost.ErrConfigureRejected) {
				t.Errorf("%s: Parse refused the configuration (%v) but NewVM returned %v\nconfig %s", where, perr, verr, g.json)
				failures++
			}
			if vm != nil {
				_ = vm.Close(context.Background())
			}
			continue
		}
		if verr != nil {
			t.Errorf("%s: Parse accepted the configuration but NewVM returned %v\nconfig %s", where, verr, g.json)
			failures++
			continue
		}
		h.ResetLogs()
		var secrets []string
		secrets = append(secrets, g.tokens...)
		for k := 0; k < diffCasesPerConfig && failures < 5; k++ {
			c := genCase(r, g)
			want := native(cfg, c)
			verdicts[want.verdict]++
			before := h.Metrics()
			got, err := runCase(vm, c)
			if err == nil {
				err = compare(want, got, before, h.Metrics())
			}
			cases++
			if err != nil {
				failures++
				t.Errorf("%s case %d: %v\nconfig %s\n%s", where, k, err, abbrev(g.json, 4000), c.describe())
			}
			secrets = append(secrets, headerValues(c.headers, "authorization")...)
		}
		checkNoSecretLogged(t, h, secrets)
		_ = vm.Close(context.Background())
	}
	if failures == 0 && cases < 10_000 {
		t.Errorf("only %d cases ran; the test promises at least 10 000", cases)
	}
	t.Logf("%d cases over %d configurations (%d configurations refused as expected); verdicts %v", cases, diffConfigs, rejected, verdicts)
}

// --- generation ---

type genCfg struct {
	json       string
	ns         string   // metadata namespace
	tokens     []string // every token the configuration knows of (in the table or not), for requests
	live       []string // tokens in the table and not expired (or every token, when there is no table)
	routeNames []string // names of routes listed in "routes", plus some that are not
	upstream   []string // identity header names in force (for forging)
}

var (
	scopePool   = []string{"apps:read", "apps:run", "full", "admin", "workspace:read", "x!y", "a"}
	subjectPool = []string{"", "user@example.com", "a b c", `quote " and \ backslash`, "~!@#$%^&*()_+{}|:<>?"}
	typePool    = []string{"account", "external_sso", "service"}
	prefixPool  = []string{"dfoa_", "dfoe_", "app-", "dfoa_x", "tok"}
)

func pick[T any](r *rand.Rand, list []T) T { return list[r.IntN(len(list))] }

func randToken(r *rand.Rand, prefix string, n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~+/="
	b := []byte(prefix)
	for len(b) < len(prefix)+n {
		b = append(b, alphabet[r.IntN(len(alphabet))])
	}
	return string(b)
}

func randScopes(r *rand.Rand, max int) []string {
	n := 1 + r.IntN(max)
	out := make([]string, 0, n)
	for range n {
		out = append(out, pick(r, scopePool))
	}
	return out
}

func genConfig(r *rand.Rand) genCfg {
	g := genCfg{ns: "scope_gate"}
	doc := map[string]any{}
	if r.IntN(5) == 0 {
		g.ns = "sg.custom"
		doc["metadata_namespace"] = g.ns
	}
	switch r.IntN(4) {
	case 1:
		doc["realm"] = "api"
	case 2:
		doc["realm"] = "my realm! <x> & 'y'"
	}
	switch r.IntN(4) {
	case 1:
		doc["full_scope"] = ""
	case 2:
		doc["full_scope"] = "full"
	case 3:
		doc["full_scope"] = "admin"
	}
	switch r.IntN(6) {
	case 1, 2:
		doc["default_route"] = "bearer"
	case 3, 4:
		doc["default_route"] = "public"
	case 5:
		doc["default_route"] = "deny"
	}
	if r.IntN(2) == 0 {
		doc["mode"] = "enforce" // report mode is out of scope here: it forwards every decision
	}

	// Tokens: some in the table (live, expired, expiring exactly now), some unknown, of known and unknown
	// prefixes, and the length boundary (4096 is the longest token that may be looked up).
	for range 6 + r.IntN(6) {
		prefix := pick(r, prefixPool)
		if r.IntN(5) == 0 {
			prefix = "zz" // no kind has it
		}
		g.tokens = append(g.tokens, randToken(r, prefix, 6+r.IntN(50)))
	}
	g.tokens = append(g.tokens, randToken(r, "dfoa_", bearer.MaxTokenLen-5), randToken(r, "dfoa_", bearer.MaxTokenLen-4))

	if r.IntN(3) > 0 {
		var kinds []any
		seen := map[string]bool{}
		for range 1 + r.IntN(3) {
			p := pick(r, prefixPool)
			if seen[p] {
				continue
			}
			seen[p] = true
			k := map[string]any{"prefix": p}
			if r.IntN(2) == 0 {
				k["subject_type"] = pick(r, typePool)
			}
			if r.IntN(2) == 0 {
				k["scopes"] = randScopes(r, 3)
			}
			kinds = append(kinds, k)
		}
		doc["token_kinds"] = kinds
	}

	if r.IntN(10) > 0 {
		var entries []any
		for i, tok := range g.tokens {
			if i%3 == 2 && r.IntN(2) == 0 { // keep some tokens unknown
				continue
			}
			e := map[string]any{"sha256": bearer.Sum(tok).Hex()}
			if r.IntN(2) == 0 {
				e["sha256"] = strings.ToUpper(bearer.Sum(tok).Hex())
			}
			if s := pick(r, subjectPool); s != "" || r.IntN(2) == 0 {
				e["subject"] = s
			}
			if r.IntN(2) == 0 {
				e["subject_type"] = pick(r, typePool)
			}
			if r.IntN(2) == 0 {
				e["scopes"] = randScopes(r, 3)
			}
			live := true
			switch r.IntN(6) {
			case 0:
				e["expires_at"], live = nowUnix-1-int64(r.IntN(1000)), false
			case 1:
				e["expires_at"], live = nowUnix, false // expired: a token is invalid from that second on
			case 2:
				e["expires_at"] = nowUnix + 1
			case 3:
				e["expires_at"] = nowUnix + 1 + int64(r.IntN(1<<30))
			}
			if live {
				g.live = append(g.live, tok)
			}
			entries = append(entries, e)
		}
		doc["validator"] = map[string]any{"type": "static", "tokens": entries}
	}
	if len(g.live) == 0 {
		g.live = g.tokens
	}

	up := map[string]any{}
	g.upstream = []string{"x-scope-gate-subject", "x-scope-gate-subject-type", "x-scope-gate-scopes", "x-scope-gate-decision"}
	switch r.IntN(5) {
	case 1:
		up["subject"] = "X-User"
		g.upstream[0] = "x-user"
	case 2:
		up["subject"], up["scopes"] = "", "x-scopes"
		g.upstream[0], g.upstream[2] = "", "x-scopes"
	case 3:
		up["strip_authorization"] = true
	case 4:
		up["decision"] = ""
		g.upstream[3] = ""
	}
	if len(up) > 0 {
		doc["upstream_headers"] = up
	}

	g.routeNames = []string{"", "apps_run", "r-" + randToken(r, "", 6)}
	if r.IntN(3) == 0 {
		routes := map[string]any{"named-route": map[string]any{"required_scope": strings.Join(randScopes(r, 2), " ")}, "public-route": map[string]any{"auth": "none"}}
		if r.IntN(2) == 0 {
			routes["typed-route"] = map[string]any{"subject_types": pick(r, typePool)}
		}
		doc["routes"] = routes
		g.routeNames = append(g.routeNames, "named-route", "public-route", "typed-route")
	}

	// Sometimes break the configuration: the module must refuse it at start, like Parse.
	if r.IntN(20) == 0 {
		switch r.IntN(4) {
		case 0:
			doc["realm"] = `bad "realm"`
		case 1:
			doc["upstream_headers"] = map[string]any{"subject": "x-a", "scopes": "X-A"}
		case 2:
			doc["cache"] = map[string]any{"max_entries": 0}
		case 3:
			doc["unknown"] = true
		}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err)
	}
	g.json = string(b)
	return g
}

// diffCase is one request with its matched route.
type diffCase struct {
	headers [][2]string
	route   *envoyhost.Route
}

func (c diffCase) describe() string {
	var b strings.Builder
	if c.route == nil {
		b.WriteString("route: none matched\n")
	} else {
		rm, _ := json.Marshal(c.route.Metadata)
		fmt.Fprintf(&b, "route %q metadata %s\n", c.route.Name, abbrev(string(rm), 600))
		if c.route.VirtualHost != nil {
			vm, _ := json.Marshal(c.route.VirtualHost.Metadata)
			fmt.Fprintf(&b, "virtual host metadata %s\n", abbrev(string(vm), 600))
		}
	}
	for _, h := range c.headers {
		fmt.Fprintf(&b, "  %s: %s\n", abbrev(h[0], 60), abbrev(h[1], 120))
	}
	return b.String()
}

func genCase(r *rand.Rand, g genCfg) diffCase {
	c := diffCase{headers: baseHeaders("/openapi/v1/apps/" + strconv.Itoa(r.IntN(100)))}
	// One request in eight has a path from the path-confusion corpus, one in ten is a CORS preflight (or an
	// OPTIONS missing one of its headers).
	if r.IntN(8) == 0 {
		c.headers[1][1] = "/openapi/v1/oauth/device/" + pick(r, confusingSegments) + "/apps"
	}
	if r.IntN(10) == 0 {
		c.headers[0][1] = "OPTIONS"
		if r.IntN(4) > 0 {
			c.headers = append(c.headers, [2]string{randCase(r, "origin"), "https://app.example"})
		}
		if r.IntN(4) > 0 {
			c.headers = append(c.headers, [2]string{randCase(r, "access-control-request-method"), "POST"})
		}
	}
	if r.IntN(10) > 0 {
		c.route = &envoyhost.Route{Name: pick(r, g.routeNames), Cluster: "backend"}
		c.route.Metadata = genMetadata(r, g.ns)
		if r.IntN(10) > 0 {
			c.route.VirtualHost = &envoyhost.VirtualHost{Name: "api", Metadata: genMetadata(r, g.ns)}
		}
	}
	// Forged identity headers, in any case, sometimes repeated.
	for _, name := range g.upstream {
		if name != "" && r.IntN(4) == 0 {
			for range 1 + r.IntN(2) {
				c.headers = append(c.headers, [2]string{randCase(r, name), "forged-" + randToken(r, "", 4)})
			}
		}
	}
	n := 1
	switch x := r.IntN(10); {
	case x < 2:
		n = 0
	case x == 9:
		n = 2
	}
	first := genAuthorization(r, g)
	for i := range n {
		v := first
		if i > 0 && r.IntN(2) == 0 {
			v = genAuthorization(r, g)
		}
		c.headers = append(c.headers, [2]string{randCase(r, "authorization"), v})
		if r.IntN(3) == 0 {
			c.headers = append(c.headers, [2]string{"x-other-" + strconv.Itoa(i), randToken(r, "", 10)})
		}
	}
	return c
}

// confusingSegments are path segments a backend could read differently from the edge, and plain ones.
var confusingSegments = []string{"..", "%2e%2e", "%2E%2e", ".%2e", "%252e%252e", "..%2f..", "x%5cy", "..;", "", "%c0%ae", "x.", "plain", "a%20b"}

func randCase(r *rand.Rand, s string) string {
	b := []byte(s)
	for i, ch := range b {
		if ch >= 'a' && ch <= 'z' && r.IntN(2) == 0 {
			b[i] = ch - 'a' + 'A'
		}
	}
	return string(b)
}

func genAuthorization(r *rand.Rand, g genCfg) string {
	tok := pick(r, g.tokens)
	if r.IntN(2) == 0 {
		tok = pick(r, g.live) // bias towards tokens that can be allowed
	}
	switch r.IntN(12) {
	case 0:
		tok = "dfoa_" + "é" + randToken(r, "", 8) // non-ASCII
	case 1:
		tok = randToken(r, "dfoa_", 20) + "\x7f"
	case 2:
		tok = randToken(r, pick(r, prefixPool), 30) // known prefix, unknown token
	case 3:
		tok = tok + " " + tok // a space inside: not one token
	}
	if r.IntN(4) > 0 {
		return "Bearer " + tok
	}
	scheme := pick(r, []string{"Bearer", "bearer", "BEARER", "bEaReR", "Basic", "Bearer:", "Token", "", "Bearerx"})
	sep := pick(r, []string{" ", "  ", "\t", "", " \t"})
	lead := pick(r, []string{"", "", " "})
	trail := pick(r, []string{"", " ", "   ", "\t"})
	return lead + scheme + sep + tok + trail
}

// genMetadata returns a filter_metadata map: nothing, a block in another namespace, or a block in ns that
// is valid or broken in one of the ways an operator (or a control plane) can break it.
func genMetadata(r *rand.Rand, ns string) map[string]any {
	switch x := r.IntN(20); {
	case x < 7:
		return nil
	case x < 9:
		return map[string]any{"other_ns": map[string]any{"auth": "none"}}
	case x < 18:
		return map[string]any{ns: validBlock(r)}
	default:
		return map[string]any{ns: brokenBlock(r)}
	}
}

func validBlock(r *rand.Rand) map[string]any {
	b := map[string]any{}
	if r.IntN(6) == 0 {
		b["auth"] = "none"
		return b
	}
	if r.IntN(3) == 0 {
		b["auth"] = "bearer"
	}
	if r.IntN(2) > 0 {
		b["required_scope"] = strings.Join(randScopes(r, 2), " ")
	}
	if r.IntN(4) == 0 {
		types := []string{pick(r, typePool)}
		if r.IntN(2) == 0 {
			types = append(types, pick(r, typePool))
		}
		b["subject_types"] = strings.Join(types, " ")
	}
	return b
}

func brokenBlock(r *rand.Rand) any {
	nested := any("apps:read")
	for range 5 {
		nested = map[string]any{"k": nested}
	}
	return pick(r, []any{
		map[string]any{"scope": "apps:read"},
		map[string]any{"required_scope": ""},
		map[string]any{"required_scope": "apps:read  apps:run"},
		map[string]any{"required_scope": " apps:read"},
		map[string]any{"required_scope": "apps:read "},
		map[string]any{"required_scope": `a"b`},
		map[string]any{"required_scope": "é"},
		map[string]any{"required_scope": "a\tb"},
		map[string]any{"subject_types": ""},
		map[string]any{"auth": "Bearer"},
		map[string]any{"auth": "none", "required_scope": "apps:read"},
		map[string]any{"auth": "none", "subject_types": "account"},
		map[string]any{"auth": true},
		map[string]any{"auth": false},
		map[string]any{"required_scope": 1.0},
		map[string]any{"required_scope": 3.5e-300},
		map[string]any{"required_scope": []any{"apps:read"}},
		map[string]any{"required_scope": []any{}},
		map[string]any{"subject_types": map[string]any{"account": "x"}},
		map[string]any{"required_scope": nested},
		map[string]any{"auth": nil},
		map[string]any{},
		nil,
		"auth",
		"",
		[]any{"auth"},
		[]any{},
		[]any{"required_scope", "apps:read"},
		1.0,
		true,
	})
}

// --- the native side ---

type outcome struct {
	verdict  string // for the summary
	status   int
	local    bool
	reply    [][2]string // local reply headers, exactly
	body     string
	upstream [][2]string // what the upstream sees, exactly (allowed requests)
	metric   string
	extra    string // a second counter the decision moves (path_refused on top of denied_400), or ""
}

// native decides a case with the pure packages, replicating the glue: remove spoofable headers, resolve the
// requirement (route block, routes[route_name], virtual host block, default), count Authorization headers,
// Decide with the static table at the host's clock, then render the reply or the upstream request.
func native(cfg *policy.Policy, c diffCase) outcome {
	// The host lower-cases names, like Envoy's codec.
	headers := make([][2]string, 0, len(c.headers))
	for _, h := range c.headers {
		headers = append(headers, [2]string{strings.ToLower(h[0]), h[1]})
	}
	headers = slices.DeleteFunc(headers, func(h [2]string) bool { return slices.Contains(cfg.SpoofableHeaders(), h[0]) })

	req, ok := nativeRequirement(cfg, c.route)
	if !ok { // a block Envoy cannot serialize: the filter fails closed with the configuration-independent 500
		var d policy.Decision
		cfg.Deny(policy.DenyMisconfigured, cfg.DefaultRequirement(), &d)
		return outcome{verdict: "unserializable_block", status: 500, local: true, reply: d.Reply.Headers, body: string(d.Reply.Body), metric: policy.MetricConfigError}
	}
	var request policy.Request
	for _, h := range headers {
		switch h[0] {
		case ":path":
			request.Path = h[1]
		case ":method":
			request.Method = h[1]
		case "origin":
			if request.Origin == "" {
				request.Origin = h[1]
			}
		case "access-control-request-method":
			if request.AccessControlRequestMethod == "" {
				request.AccessControlRequestMethod = h[1]
			}
		case "authorization":
			if request.AuthCount == 0 {
				request.Authorization = h[1]
			}
			request.AuthCount++
		}
	}
	d := cfg.Decide(req, request, func(h bearer.Hash) validator.Validation {
		return cfg.Validator.(*validator.Static).Lookup(h, nowUnix)
	})
	o := outcome{verdict: d.Verdict.String(), metric: d.Metric()}
	if d.Verdict == policy.DenyAmbiguousPath {
		o.extra = policy.MetricPathRefused
	}
	if !d.Verdict.Allowed() {
		o.status, o.local, o.reply, o.body = int(d.Reply.Status), true, d.Reply.Headers, string(d.Reply.Body)
		return o
	}
	o.status = 200
	if d.Verdict == policy.Allow {
		up := cfg.Upstream
		for _, kv := range [][2]string{{up.Subject, d.Identity.Subject}, {up.SubjectType, d.Identity.SubjectType}, {up.Scopes, d.Identity.ScopesText}} {
			if kv[0] != "" && kv[1] != "" {
				headers = append(headers, kv) // the name was removed above, so "replace" appends
			}
		}
	}
	if cfg.Upstream.StripAuthorization {
		headers = slices.DeleteFunc(headers, func(h [2]string) bool { return h[0] == "authorization" })
	}
	o.upstream = headers
	return o
}

func nativeRequirement(cfg *policy.Policy, route *envoyhost.Route) (*policy.Requirement, bool) {
	if route == nil {
		return cfg.DefaultRequirement(), true
	}
	if v, found := route.Metadata[cfg.MetadataNamespace]; found {
		b, ok := encodeMetadata(v)
		if !ok {
			return nil, false
		}
		return cfg.DecodeRequirement(b), true
	}
	if r, found := cfg.RouteRequirements[route.Name]; found {
		return r, true
	}
	if vh := route.VirtualHost; vh != nil {
		if v, found := vh.Metadata[cfg.MetadataNamespace]; found {
			b, ok := encodeMetadata(v)
			if !ok {
				return nil, false
			}
			return cfg.DecodeRequirement(b), true
		}
	}
	return cfg.DefaultRequirement(), true
}

// --- the module side ---

func runCase(vm *envoyhost.VM, c diffCase) (envoyhost.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The policy model takes the header lines as given; deliver them that way so that both sides see the
	// same input (Envoy's joining of repeated authorization headers is covered by the scenario table).
	req := envoyhost.Request{Headers: c.headers, Route: c.route, SeparateRepeatedHeaders: true}
	if c.route != nil {
		// Copy the metadata maps into the stand-in's type; the generator's maps stay plain for encodeMetadata.
		rt := *c.route
		rt.Metadata = envoyhost.Metadata(c.route.Metadata)
		if c.route.VirtualHost != nil {
			vh := *c.route.VirtualHost
			vh.Metadata = envoyhost.Metadata(c.route.VirtualHost.Metadata)
			rt.VirtualHost = &vh
		}
		req.Route = &rt
	}
	res, err := vm.Do(ctx, req)
	if err != nil {
		return res, fmt.Errorf("Do: %w", err)
	}
	if res.Trapped != nil || vm.Failed() {
		return res, fmt.Errorf("VM trapped: %v", res.Trapped)
	}
	return res, nil
}

func compare(want outcome, got envoyhost.Result, before, after map[string]uint64) error {
	var errs []string
	if got.Response.Status != want.status {
		errs = append(errs, fmt.Sprintf("status %d, want %d (%s)", got.Response.Status, want.status, want.verdict))
	}
	if want.local {
		switch {
		case got.LocalReply == nil:
			errs = append(errs, "no local reply; the request reached the upstream")
		default:
			if string(got.LocalReply.Body) != want.body {
				errs = append(errs, fmt.Sprintf("body %q, want %q", got.LocalReply.Body, want.body))
			}
			if !slices.Equal(got.LocalReply.Headers, want.reply) {
				errs = append(errs, fmt.Sprintf("reply headers %q, want %q", got.LocalReply.Headers, want.reply))
			}
		}
		if got.Upstream != nil {
			errs = append(errs, "a denied request reached the upstream")
		}
	} else {
		switch {
		case got.LocalReply != nil:
			errs = append(errs, fmt.Sprintf("local reply %d %q, want the upstream (%s)", got.LocalReply.Status, got.LocalReply.Body, want.verdict))
		case got.Upstream == nil:
			errs = append(errs, "the request never reached the upstream")
		case !slices.Equal(got.Upstream.Headers, want.upstream):
			errs = append(errs, fmt.Sprintf("upstream headers\n got  %q\n want %q", got.Upstream.Headers, want.upstream))
		}
	}
	if after[want.metric]-before[want.metric] != 1 {
		errs = append(errs, fmt.Sprintf("metric %s did not move (%s)", want.metric, want.verdict))
	}
	if want.extra != "" && after[want.extra]-before[want.extra] != 1 {
		errs = append(errs, fmt.Sprintf("metric %s did not move (%s)", want.extra, want.verdict))
	}
	for name, v := range after {
		if !strings.HasPrefix(name, "scope_gate.") || name == want.metric || name == want.extra {
			continue
		}
		if d := v - before[name]; d != 0 {
			errs = append(errs, fmt.Sprintf("metric %s moved by %d, want 0 (%s counts this decision)", name, d, want.metric))
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}
