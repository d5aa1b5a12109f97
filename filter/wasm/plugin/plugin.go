// Package plugin is the thin proxy-wasm glue between Envoy and the pure policy package: it reads what the
// policy needs from the host (configuration, route metadata, request headers), applies the policy's
// decision (a local reply, or identity headers and Continue), counts and logs. Every callback it implements
// recovers panics into a fail-closed answer; no path turns an error into Continue.
package plugin

import (
	"errors"
	"strconv"
	"unsafe"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/stdgobridge"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/scope-gate/scope-gate/filter/bearer"
	"github.com/scope-gate/scope-gate/filter/config"
	"github.com/scope-gate/scope-gate/filter/internal/quote"
	"github.com/scope-gate/scope-gate/filter/internal/word"
	"github.com/scope-gate/scope-gate/filter/policy"
	"github.com/scope-gate/scope-gate/filter/sharedcache"
	"github.com/scope-gate/scope-gate/filter/validator"
)

// maxCachedRequirements bounds the per-VM memo of decoded route blocks (one entry per distinct block).
const maxCachedRequirements = 4096

// testHookRequestHeaders, when set by a test, runs at the start of OnHttpRequestHeaders (to inject a panic).
var testHookRequestHeaders func()

// NewVMContext is the VM context registered by the module's init. It also asks the bridge to report
// deleted contexts, so that stream objects are reused (see release).
func NewVMContext() types.VMContext {
	stdgobridge.OnDelete(release)
	stdgobridge.FindHttpContext(findStream)
	return &vmContext{}
}

type vmContext struct{ types.DefaultVMContext }

func (*vmContext) NewPluginContext(contextID uint32) types.PluginContext {
	return &pluginContext{id: contextID, inflight: map[bearer.Hash]*flight{}}
}

type pluginContext struct {
	types.DefaultPluginContext
	id       uint32
	cfg      *policy.Policy
	paths    *paths
	reqs     *policy.RequirementCache
	counters []stdgobridge.Counter   // indexed by policy.Counter
	inflight map[bearer.Hash]*flight // remote validations in progress in this VM, by token hash

	// Reused by the request path so that it allocates nothing (docs/rationale.md, "An allocation-free
	// request path"). Each is used within one callback and holds nothing past it.
	scopes       []string           // scopes of a cache entry, views into the arena
	key          []byte             // a shared-cache key, beginning with keyOf's prefix
	keyOf        *sharedcache.Cache // the cache whose prefix key holds
	line         []byte             // a log line
	route, vhost blockMemo          // the last metadata blocks read and their requirements
	free         []*httpContext     // stream objects released at proxy_on_delete, for reuse
	// The decision being made, and a shared-cache entry's validation for it (a remote validator). They are
	// written and read by pointer, never passed by value (see policy.Check); they view the arena, so they
	// mean nothing once the callback returns.
	decision   policy.Decision
	validation validator.Validation
	//lint:ignore U1000 empty without -tags jwt; jwt.go gives it the JWT keys and JWKS fetch of this VM
	jwtVM
}

// OnPluginStart parses the configuration once; a bad one rejects the plugin (Envoy then refuses the
// configuration), with one log line naming the JSON path of the problem.
func (p *pluginContext) OnPluginStart(configurationSize int) (status types.OnPluginStartStatus) {
	defer func() {
		if r := recover(); r != nil {
			stdgobridge.LogCritical("scope-gate: panic while starting: " + panicText(r))
			status = types.OnPluginStartStatusFailed
		}
	}()
	var data []byte
	if configurationSize > 0 {
		var err error
		if data, err = stdgobridge.GetPluginConfiguration(); err != nil {
			stdgobridge.LogCritical("scope-gate: cannot read the plugin configuration: " + err.Error())
			return types.OnPluginStartStatusFailed
		}
	}
	cfg, err := policy.Parse(data)
	if err != nil {
		stdgobridge.LogCritical(err.Error())
		return types.OnPluginStartStatusFailed
	}
	if p.counters == nil {
		// Counters are defined once per plugin context; Envoy keeps one stat per name across VMs.
		counters := make([]stdgobridge.Counter, 0, len(policy.Metrics))
		for _, name := range policy.Metrics {
			c, err := stdgobridge.DefineCounter(name)
			if err != nil {
				stdgobridge.LogCritical("scope-gate: cannot define metric " + name + ": " + err.Error())
				return types.OnPluginStartStatusFailed
			}
			counters = append(counters, c)
		}
		p.counters = counters
	}
	p.cfg = cfg
	p.paths = newPaths(cfg)
	p.reqs = policy.NewRequirementCache(cfg, maxCachedRequirements)
	p.route, p.vhost = blockMemo{}, blockMemo{}
	stdgobridge.LogInfo("scope-gate: started: version=" + Version + " " + describe(cfg))
	if cfg.Validator == nil && cfg.DefaultRoute == config.DefaultBearer {
		stdgobridge.LogWarn("scope-gate: no validator is configured and default_route is \"bearer\": every route without a public requirement answers 500")
	}
	return types.OnPluginStartStatusOK
}

// paths are the property paths read per request, serialized once per configuration.
type paths struct {
	routeBlock, virtualHostBlock stdgobridge.PropertyPath
}

func newPaths(cfg *policy.Policy) *paths {
	return &paths{
		routeBlock:       stdgobridge.NewPropertyPath(cfg.RouteBlockPath()...),
		virtualHostBlock: stdgobridge.NewPropertyPath(cfg.VirtualHostBlockPath()...),
	}
}

var routeNamePath = stdgobridge.NewPropertyPath("xds", "route_name")

func describe(cfg *policy.Policy) string {
	v := "none"
	if cfg.Validator != nil {
		v = cfg.Validator.Describe()
	}
	return "mode=" + cfg.Mode.String() + " namespace=" + cfg.MetadataNamespace + " default_route=" +
		cfg.DefaultRoute.String() + " validator=" + v + " token_kinds=" + strconv.Itoa(len(cfg.TokenKinds))
}

// NewHttpContext returns a stream object, reusing one released at proxy_on_delete when there is one: a new
// object per stream was the last allocation of the request path, and with it gone the guest's GC never runs
// in steady state.
func (p *pluginContext) NewHttpContext(contextID uint32) types.HttpContext {
	var h *httpContext
	if n := len(p.free); n > 0 {
		h = p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
	} else {
		h = &httpContext{}
	}
	*h = httpContext{id: contextID, p: p, cfg: p.cfg, paths: p.paths, reqs: p.reqs}
	newest = h
	return h
}

// newest is the stream object NewHttpContext made last. Envoy creates the stream's context in the VM
// (proxy_on_context_create) as its headers are decoded, just before proxy_on_request_headers
// (envoyproxy/envoy source/extensions/common/wasm/context.cc, Context::decodeHeaders calls onCreate, then
// onRequestHeaders; read at commit b40935ac07f7), so the stream deciding is almost always this one:
// findStream hands it to the bridge without the SDK's context map. Any other stream goes through the map as
// before. The id check keeps it exact: a released object has id 0, and a reused one the id of its new stream.
var newest *httpContext

// findStream implements stdgobridge.FindHttpContext.
func findStream(contextID uint32) types.HttpContext {
	if h := newest; h != nil && h.id == contextID && !h.ended {
		return h
	}
	return nil
}

// ended holds the streams of this VM whose proxy_on_log has run and whose proxy_on_delete has not (usually
// one or none): release finds a deleted stream's object here. A stream deleted without a log first is left to
// the GC.
var ended []*httpContext

// maxFree bounds the stream objects kept for reuse per plugin context (the high-water mark of concurrent
// streams in a VM, up to this; above it objects are left to the GC).
const maxFree = 1024

// release runs after proxy_on_delete (see stdgobridge.OnDelete): the SDK has forgotten the stream, so no
// callback can reach its object any more, and it is reused. Releasing at stream done (proxy_on_log) would be
// too early: until proxy_on_delete the SDK still maps the id to the object. A stream that still waits on a
// flight leaves it first (proxy_on_log normally did that already).
func release(contextID uint32) {
	if newest != nil && newest.id == contextID {
		newest = nil // deleted, logged or not: no callback of the stream may reach it any more
	}
	var h *httpContext
	for i, e := range ended {
		if e.id == contextID {
			h = e
			last := len(ended) - 1
			ended[i], ended[last] = ended[last], nil
			ended = ended[:last]
			break
		}
	}
	if h == nil {
		return
	}
	h.leaveFlight()
	p := h.p
	*h = httpContext{}
	if p != nil && len(p.free) < maxFree {
		p.free = append(p.free, h)
	}
}

// count increments a counter. A metric failure must never change a decision, so its error is dropped.
func (p *pluginContext) count(c policy.Counter) {
	if int(c) < len(p.counters) {
		_ = p.counters[c].Increment(1)
	}
}

// blockMemo remembers the last metadata block read at one property path and its requirement. Consecutive
// requests on one route hand over the same bytes; comparing them costs less than hashing them for the
// requirement cache (the conversions in the comparison do not allocate; package bytes is not used because
// it links the unicode tables). It is keyed by the block's bytes, never by route name: a route whose block
// changed in a route update gets its new requirement on the next request.
type blockMemo struct {
	reqs *policy.RequirementCache // the cache (configuration) the requirement came from
	raw  []byte
	req  *policy.Requirement
}

func (m *blockMemo) get(reqs *policy.RequirementCache, raw []byte) *policy.Requirement {
	if m.req != nil && m.reqs == reqs && word.Equal(unsafe.String(unsafe.SliceData(m.raw), len(m.raw)), unsafe.String(unsafe.SliceData(raw), len(raw))) {
		return m.req
	}
	r := reqs.Get(raw)
	m.reqs, m.raw, m.req = reqs, append(m.raw[:0], raw...), r
	return r
}

// unixNow is the clock, read only when a decision depends on it, from the host (one host call).
func unixNow() int64 { return stdgobridge.UnixNow() }

type httpContext struct {
	types.DefaultHttpContext
	id    uint32
	p     *pluginContext
	cfg   *policy.Policy // the configuration in force when the stream began
	paths *paths
	reqs  *policy.RequirementCache

	// ended: proxy_on_log has run and the object waits in ended for proxy_on_delete (see release).
	ended bool

	// noRouteBlock: this request's route has no block in the namespace (read once by requirement).
	noRouteBlock bool

	// released: the decision let the request through (set just before Continue or resume). Until then the
	// body and trailer callbacks hold the request (see OnHttpRequestBody).
	released bool

	// The stream's check (written by decide), and while the stream waits for a remote validation, what it
	// waits with: the flight and the requirement. After a decision made in the callback, check.Token still
	// views the arena and is never read again; a stream that waits drops it (remote.go) or keeps a copy of its
	// own (jwt.go, waitJWKS).
	waiting *flight
	req     *policy.Requirement
	check   policy.Check
}

func (h *httpContext) OnHttpRequestHeaders(numHeaders int, endOfStream bool) (action types.Action) {
	defer func() {
		if r := recover(); r != nil {
			action = h.failClosed("panic in OnHttpRequestHeaders: " + panicText(r))
		}
	}()
	if testHookRequestHeaders != nil {
		testHookRequestHeaders()
	}
	if h.cfg == nil {
		return h.failClosed("no configuration")
	}
	// One read of every request header serves both anti-spoofing and the Authorization count
	// (proxy_get_header_map_value would only return the first of repeated headers).
	headers, err := stdgobridge.GetHttpRequestHeaderBytes()
	if err != nil && !errors.Is(err, types.ErrorStatusNotFound) {
		return h.failClosed("cannot read request headers: " + err.Error())
	}
	// One pass over the headers, decoded in place, reads what the decision needs and which identity
	// headers a client sent. Anti-spoofing comes first, on every route: the upstream must only ever see
	// identity headers set here. Only names actually present are removed (the host removes every value of
	// a name at once).
	spoofable := h.cfg.SpoofableHeaders()
	// r stays on the stack: decide and the policy read it through a pointer that does not escape.
	r, present, err := h.cfg.ReadRequest(headers)
	if err != nil {
		return h.failClosed("cannot read request headers: " + err.Error())
	}
	for i := 0; present != 0; i, present = i+1, present>>1 { // usually none: no iteration
		if present&1 == 0 {
			continue
		}
		if err := stdgobridge.RemoveHttpRequestHeader(spoofable[i]); err != nil {
			return h.failClosed("cannot remove header " + spoofable[i] + ": " + err.Error())
		}
	}
	req, err := h.requirement()
	if err != nil {
		return h.failClosed(err.Error())
	}
	return h.decide(req, &r)
}

// OnHttpRequestBody holds the request until the decision lets it through. By default Envoy turns a Pause
// from the headers callback into StopAllIteration, and body callbacks only come after the resume; but with
// allow_on_headers_stop_iteration (Envoy >= 1.35) body callbacks run while the headers are paused, and the
// SDK's default Continue would let the request through before the validator has answered.
func (h *httpContext) OnHttpRequestBody(bodySize int, endOfStream bool) types.Action {
	if h.released {
		return types.ActionContinue
	}
	return types.ActionPause
}

// OnHttpRequestTrailers holds the request until the decision lets it through, like OnHttpRequestBody.
func (h *httpContext) OnHttpRequestTrailers(numTrailers int) types.Action {
	if h.released {
		return types.ActionContinue
	}
	return types.ActionPause
}

// requirement resolves what the route requires in policy.Resolve's order (docs/spec.md §3); the
// httpContext is its Lookup, reading the running Envoy's properties. Resolve's first step, the route's own
// block, is taken here directly: it decides almost every request, and the interface dispatch and calls around
// it are a measurable part of the request path in the wasm build. Only a route without a block goes through
// Resolve, whose RouteBlock then answers "none" without reading it again.
func (h *httpContext) requirement() (*policy.Requirement, error) {
	// What block does for the route's block, inline: each call of the request path costs about 25 ns in the
	// wasm build.
	raw, err := stdgobridge.GetProperty(h.paths.routeBlock)
	switch {
	case err == nil:
		return h.p.route.get(h.reqs, raw), nil
	case !errors.Is(err, types.ErrorStatusNotFound):
		return nil, metadataError(h.paths.routeBlock, err)
	}
	h.noRouteBlock = true
	r, _, err := h.cfg.Resolve(h)
	return r, err
}

// RouteBlock implements policy.Lookup: the route's metadata block.
func (h *httpContext) RouteBlock() (*policy.Requirement, bool, error) {
	if h.noRouteBlock {
		return nil, false, nil
	}
	return h.block(h.paths.routeBlock, &h.p.route)
}

// VirtualHostBlock implements policy.Lookup: the virtual host's metadata block.
func (h *httpContext) VirtualHostBlock() (*policy.Requirement, bool, error) {
	return h.block(h.paths.virtualHostBlock, &h.p.vhost)
}

// RouteName implements policy.Lookup: xds.route_name, NotFound when no route matched.
func (h *httpContext) RouteName() ([]byte, bool, error) {
	name, err := stdgobridge.GetProperty(routeNamePath)
	switch {
	case err == nil:
		return name, true, nil
	case errors.Is(err, types.ErrorStatusNotFound):
		return nil, false, nil
	default:
		return nil, false, errors.New("cannot read xds.route_name: " + err.Error())
	}
}

// block reads one metadata block. Status 3 is how Envoy reports a JSON null; anything but "not found" is a
// broken block and fails closed.
func (h *httpContext) block(path stdgobridge.PropertyPath, memo *blockMemo) (*policy.Requirement, bool, error) {
	raw, err := stdgobridge.GetProperty(path)
	switch {
	case err == nil:
		return memo.get(h.reqs, raw), true, nil
	case errors.Is(err, types.ErrorStatusNotFound):
		return nil, false, nil
	default:
		return nil, false, metadataError(path, err)
	}
}

func metadataError(path stdgobridge.PropertyPath, err error) error {
	return errors.New("cannot read metadata " + dotted(path) + ": " + err.Error())
}

func (h *httpContext) decide(req *policy.Requirement, r *policy.Request) types.Action {
	// r's strings view the arena: Check, a lookup and apply use them in this callback; anything kept past it
	// (a parked stream's check) drops or copies the token (see validateRemote, waitJWKS).
	check, d := &h.check, &h.p.decision
	h.cfg.Check(req, r, check)
	if check.Verdict != policy.NeedsValidation {
		h.cfg.Deny(check.Verdict, req, d)
		return h.apply(req, d, check)
	}
	// The one dispatch on how a validator is called (see validator.Validator): the static table's lookup,
	// one HTTP call per token (remote.go), or JWT verification with fetched keys (jwt.go; absent from the
	// default module, whose configuration refuses "jwt"). Cases are concrete types: a case on an interface
	// type (validator.Local) costs a runtime itab lookup per request (~0.2 µs in the wasm build, measured),
	// so a new local validator gets a case of its own; until it has one, it fails closed below.
	switch v := h.cfg.Validator.(type) {
	case *validator.Static:
		h.cfg.Authorize(req, check.Kind, v.LookupClock(&check.Hash, unixNow), d)
		return h.apply(req, d, check)
	case *validator.Remote:
		return h.validateRemote(req, check, v)
	default:
		if action, ok := h.validateJWT(req, check); ok {
			return action
		}
		h.cfg.Deny(policy.DenyMisconfigured, req, d)
		return h.apply(req, d, check)
	}
}

// apply carries out a decision: in enforce mode a denial is a local reply; otherwise the request continues
// with the identity headers (and, in report mode, the decision header).
func (h *httpContext) apply(req *policy.Requirement, d *policy.Decision, check *policy.Check) types.Action {
	h.p.count(d.Counter())
	if d.Verdict == policy.DenyAmbiguousPath {
		h.p.count(policy.CountPathRefused)
	}
	allowed := d.Verdict.Allowed()
	if !allowed {
		h.logDenial(req, d, check)
	}
	report := h.cfg.Mode == config.ModeReport
	if !allowed && !report {
		if err := stdgobridge.SendSerializedHttpResponse(d.Reply.Status, d.Reply.Details, d.Reply.HeaderPairs, d.Reply.Body, -1); err != nil {
			stdgobridge.LogCritical("scope-gate: cannot send the local reply: " + err.Error())
		}
		return types.ActionPause
	}
	if !allowed {
		h.p.count(policy.CountReportWouldDeny)
	}
	up := &h.cfg.Upstream
	var err error
	if d.Verdict == policy.Allow {
		if err = setHeader(up.Subject, d.Identity.Subject); err == nil {
			if err = setHeader(up.SubjectType, d.Identity.SubjectType); err == nil {
				err = setHeader(up.Scopes, d.Identity.ScopesText)
			}
		}
	}
	if report && err == nil {
		err = setHeader(up.Decision, d.DecisionHeader())
	}
	if up.StripAuthorization && err == nil {
		err = stdgobridge.RemoveHttpRequestHeader("authorization")
	}
	if err != nil {
		return h.failClosed("cannot set upstream headers: " + err.Error())
	}
	h.released = true
	return types.ActionContinue
}

// setHeader sets an upstream header; an empty name (the header is turned off) or value sets nothing.
func setHeader(name, value string) error {
	if name == "" || value == "" {
		return nil
	}
	return stdgobridge.ReplaceHttpRequestHeader(name, value)
}

// logDenial logs a denial. The line is built in a reused buffer: denials are as frequent as allowed
// requests under attack, and must not allocate either. A denial's debug line is its reply's LogLine and the
// token's id, with no route name: reading xds.route_name and quoting it was most of what a 401 or 403 cost
// over an allowed request, for a line an Envoy at its default level drops. The route of a denial is in the
// access log (%ROUTE_NAME%, with %RESPONSE_CODE_DETAILS% carrying the reply's Details); a misconfigured route
// still logs its name, at error level (docs/spec.md §7).
func (h *httpContext) logDenial(req *policy.Requirement, d *policy.Decision, check *policy.Check) {
	b, level := h.p.line[:0], stdgobridge.LevelDebug
	switch d.Verdict {
	case policy.DenyMisconfigured:
		b = appendRouteName(append(b, "scope-gate: misconfigured route "...))
		b = append(append(b, ": "...), req.Problem...)
		level = stdgobridge.LevelError
	case policy.DenyValidatorUnavailable:
		b = check.Hash.AppendLogID(append(b, "scope-gate: token validation unavailable for token "...))
		level = stdgobridge.LevelWarn
	case policy.DenyAmbiguousPath:
		// The rule, never the path: a path can carry anything, control bytes included.
		b = append(append(append(b, d.Reply.LogLine...), ": "...), check.Path.String()...)
	default:
		b = append(b, d.Reply.LogLine...)
		if check.Verdict == policy.NeedsValidation {
			b = check.Hash.AppendLogID(append(b, " token "...))
		}
	}
	stdgobridge.LogBytes(level, b)
	h.p.line = b
}

// appendRouteName appends the quoted route name, read only for error lines (a misconfigured route, failing
// closed).
func appendRouteName(b []byte) []byte {
	name, err := stdgobridge.GetPropertyString(routeNamePath)
	if err != nil {
		return quote.Append(b, "<no route>")
	}
	return quote.Append(b, name)
}

// failClosed answers 500 for anything unexpected (a panic, a host error) and pauses: the request never
// continues unchecked. In report mode it still answers 500: report mode relaxes decisions, not failures.
//
// The result is named and set first: a second panic while failing is recovered (it must not trap the VM)
// and the function still returns Pause, never the zero Action, which is Continue. The reply goes out before
// anything else that could fail (reading the route name, logging, counting).
func (h *httpContext) failClosed(reason string) (action types.Action) {
	action = types.ActionPause
	h.released = false
	defer func() { _ = recover() }()
	r := failReply
	_ = stdgobridge.SendSerializedHttpResponse(r.Status, r.Details, r.HeaderPairs, r.Body, -1)
	h.p.count(policy.CountConfigError)
	stdgobridge.LogError("scope-gate: failing closed on route " + string(appendRouteName(nil)) + ": " + reason)
	return action
}

// failReply is the 500 of docs/spec.md §5, independent of any configuration (it must work without one).
var failReply = func() *policy.Reply {
	cfg, err := policy.Parse(nil)
	if err != nil {
		panic(err)
	}
	var d policy.Decision
	cfg.Deny(policy.DenyMisconfigured, cfg.DefaultRequirement(), &d)
	r := *d.Reply
	r.Details = "scope_gate_failed_closed" // a panic or a host error, not a route's configuration
	return &r
}()

// dotted renders a serialized property path for a log line.
func dotted(path stdgobridge.PropertyPath) string {
	b := []byte(string(path))
	for i, c := range b {
		if c == 0 {
			b[i] = '.'
		}
	}
	return string(b)
}

func panicText(r any) string {
	switch v := r.(type) {
	case error:
		return v.Error()
	case string:
		return v
	}
	return "non-error panic"
}
