package policy

import (
	"strings"

	"github.com/scope-gate/scope-gate/filter/bearer"
	"github.com/scope-gate/scope-gate/filter/config"
	"github.com/scope-gate/scope-gate/filter/digest"
	"github.com/scope-gate/scope-gate/filter/internal/word"
	"github.com/scope-gate/scope-gate/filter/pathcheck"
	"github.com/scope-gate/scope-gate/filter/validator"
)

// Verdict is the outcome of the decision (docs/spec.md §5).
type Verdict uint8

const (
	Allow                    Verdict = iota // 200 allowed: identity headers set
	AllowPublic                             // 200 public: no check
	DenyDuplicateAuth                       // 400 invalid_request
	DenyMissingBearer                       // 401 missing bearer
	DenyInvalidBearer                       // 401 invalid bearer
	DenySubjectType                         // 403 subject type not accepted
	DenyInsufficientScope                   // 403 insufficient scope
	DenyMisconfigured                       // 500 configuration error
	DenyValidatorUnavailable                // 503
	NeedsValidation                         // not final: validate Check.Hash, then call Authorize
	DenyAmbiguousPath                       // 400 invalid_request: a path the edge and a backend could read differently
	AllowPreflight                          // 200 cors_preflight: a CORS preflight, let through without a bearer
)

var verdictNames = [...]string{
	Allow: "allowed", AllowPublic: "public", DenyDuplicateAuth: "duplicate_authorization",
	DenyMissingBearer: "missing_bearer", DenyInvalidBearer: "invalid_bearer", DenySubjectType: "subject_type",
	DenyInsufficientScope: "insufficient_scope", DenyMisconfigured: "misconfigured",
	DenyValidatorUnavailable: "validator_unavailable", NeedsValidation: "needs_validation",
	DenyAmbiguousPath: "ambiguous_path", AllowPreflight: "cors_preflight",
}

func (v Verdict) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return "invalid"
}

// Allowed reports whether the request goes upstream in enforce mode.
func (v Verdict) Allowed() bool { return v == Allow || v == AllowPublic || v == AllowPreflight }

// Request is what the decision reads of a request: its pseudo-headers, the two CORS preflight headers and
// its Authorization headers. Values are views; nothing here is kept past the decision.
type Request struct {
	Path                       string // :path (with the query; the check reads the part before '?')
	Method                     string // :method
	Origin                     string // the first origin header
	AccessControlRequestMethod string // the first access-control-request-method header
	AuthCount                  int    // how many authorization headers
	Authorization              string // the first authorization header
}

// IsCORSPreflight: OPTIONS with a non-empty Origin and Access-Control-Request-Method, the rule of Envoy's
// jwt_authn bypass_cors_preflight (envoyproxy/envoy source/extensions/filters/http/jwt_authn/filter.cc,
// isCorsPreflightRequest, read at commit 0016b9515b1b; Origin and Access-Control-Request-Method are inline
// headers there, so repeats arrive joined and the value is non-empty when any repeat is, which the plugin's
// first non-empty value matches) and of the Fetch standard's CORS-preflight request.
func (r Request) IsCORSPreflight() bool {
	return r.Method == "OPTIONS" && r.Origin != "" && r.AccessControlRequestMethod != ""
}

// Check is the result of the steps that need no validator (docs/spec.md, "Decision order", steps 0 to 5).
type Check struct {
	Verdict Verdict
	Path    pathcheck.Problem // why the path was refused, when Verdict is DenyAmbiguousPath
	Token   string            // set when Verdict is NeedsValidation: only ever sent to a remote validator, never logged
	Hash    bearer.Hash       // set when Verdict is NeedsValidation
	Kind    *config.TokenKind // the token's kind, when token_kinds is configured
}

// Check runs the steps that need no validator for a request r whose route requires req, and writes their
// result to *c (every field). Request, Check and Decision travel by pointer on the request path: Go's wasm
// backend copies a value of more than two words with memory.copy and zeroes one of more than four with
// memory.fill, which wazero runs as calls into the host's memmove; an allowed request made 55 more of them
// when these were values (docs/rationale.md, "What a request costs in Go's wasm").
func (p *Policy) Check(req *Requirement, r *Request, c *Check) {
	c.Path, c.Token, c.Hash, c.Kind = pathcheck.OK, "", bearer.Hash{}, nil
	// Step 0, on every route: a path whose reading depends on the server is refused before anything else,
	// because the route that matched it may not be the resource a backend serves for it.
	if problem := pathcheck.Check(r.Path, p.PathRules); problem != pathcheck.OK {
		c.Verdict, c.Path = DenyAmbiguousPath, problem
		return
	}
	switch {
	case req.Problem != "":
		c.Verdict = DenyMisconfigured
		return
	case req.Public:
		c.Verdict = AllowPublic
		return
	case p.BypassCORSPreflight && r.IsCORSPreflight():
		c.Verdict = AllowPreflight
		return
	case r.AuthCount > 1:
		c.Verdict = DenyDuplicateAuth
		return
	case r.AuthCount == 0:
		c.Verdict = DenyMissingBearer
		return
	}
	token, reading := bearer.Read(r.Authorization)
	switch reading {
	case bearer.SeveralCredentials:
		// Envoy joins repeated authorization headers into one value with ',' (an inline header; see
		// docs/envoy-behaviour.md), and an RFC 6750 b64token never holds a comma: a comma means several
		// credentials, exactly like several headers.
		c.Verdict = DenyDuplicateAuth
		return
	case bearer.NotBearer:
		c.Verdict = DenyMissingBearer
		return
	case bearer.Malformed:
		c.Verdict = DenyInvalidBearer
		return
	}
	if len(p.TokenKinds) > 0 {
		if c.Kind = p.kindOf(token); c.Kind == nil {
			c.Verdict = DenyInvalidBearer
			return
		}
	}
	c.Verdict, c.Token = NeedsValidation, token
	digest.SumTo(&c.Hash, token)
}

func (p *Policy) kindOf(token string) *config.TokenKind {
	for i := range p.TokenKinds {
		// A prefix of up to eight bytes is one masked word compare (the common case: "dfoa_"), where
		// strings.HasPrefix calls memequal.
		if k := &p.kindWords[i]; k.n <= 8 && len(token) >= 8 {
			if word.String64(token, 0)&k.mask == k.word {
				return &p.TokenKinds[i]
			}
		} else if strings.HasPrefix(token, p.TokenKinds[i].Prefix) {
			return &p.TokenKinds[i]
		}
	}
	return nil
}

// prefixWord is a token kind's prefix as a masked word (for prefixes of at most eight bytes).
type prefixWord struct {
	word, mask uint64
	n          int
}

func prefixWords(kinds []config.TokenKind) []prefixWord {
	out := make([]prefixWord, len(kinds))
	for i, k := range kinds {
		out[i] = prefixWord{word: word.Of(k.Prefix), mask: word.Mask(len(k.Prefix)), n: len(k.Prefix)}
	}
	return out
}

// Identity is who an allowed request is, as sent upstream.
type Identity struct {
	Subject     string
	SubjectType string
	Scopes      []string // effective scopes, sorted
	ScopesText  string   // Scopes joined by single spaces
}

// Decision is a final verdict with what to send.
type Decision struct {
	Verdict  Verdict
	Reply    *Reply   // the local reply for a denial; nil when allowed
	Identity Identity // set when Verdict is Allow
}

// Authorize runs steps 6 to 8 once the validator has answered v for the token that Check accepted, and
// writes the decision to *d (every field). It reads *v and never keeps it: the identity's strings and
// scopes are v's or kind's.
func (p *Policy) Authorize(req *Requirement, kind *config.TokenKind, v *validator.Validation, d *Decision) {
	switch v.Result {
	case validator.Unavailable:
		p.Deny(DenyValidatorUnavailable, req, d)
		return
	case validator.Valid:
	default:
		p.Deny(DenyInvalidBearer, req, d)
		return
	}
	subjectType, scopes, scopesText := v.SubjectType, v.Scopes, v.ScopesText
	if kind != nil {
		if subjectType == "" {
			subjectType = kind.SubjectType
		}
		if len(scopes) == 0 {
			scopes, scopesText = kind.Scopes, kind.ScopesText
		}
	}
	if len(req.SubjectTypes) > 0 && !contains(req.SubjectTypes, subjectType) {
		p.Deny(DenySubjectType, req, d)
		return
	}
	if len(req.Scopes) > 0 && !(p.FullScope != "" && contains(scopes, p.FullScope)) {
		for _, s := range req.Scopes {
			if !contains(scopes, s) {
				p.Deny(DenyInsufficientScope, req, d)
				return
			}
		}
	}
	d.Verdict, d.Reply = Allow, nil
	id := &d.Identity
	id.Subject, id.SubjectType, id.Scopes, id.ScopesText = v.Subject, subjectType, scopes, scopesText
}

// Deny writes to *d the decision for a final verdict from Check (or for a validator failure), with its
// reply. Allow cannot be granted here: only Authorize, with a validation, allows a bearer route.
func (p *Policy) Deny(v Verdict, req *Requirement, d *Decision) {
	var reply *Reply
	switch v {
	case DenyDuplicateAuth:
		reply = p.replies.duplicate
	case DenyAmbiguousPath:
		reply = p.replies.path
	case DenyMissingBearer:
		reply = p.replies.missing
	case DenyInvalidBearer:
		reply = p.replies.invalid
	case DenySubjectType:
		reply = p.replies.subject
	case DenyInsufficientScope:
		reply = req.scopeDenied
	case DenyValidatorUnavailable:
		reply = p.replies.unavailable
	case AllowPublic, AllowPreflight:
	default: // DenyMisconfigured, and anything unexpected (Allow without a validation, NeedsValidation): fail closed
		v, reply = DenyMisconfigured, p.replies.config
	}
	if reply == nil && !v.Allowed() { // a route without a scope reply cannot reach here; stay closed
		v, reply = DenyMisconfigured, p.replies.config
	}
	d.Verdict, d.Reply = v, reply
	id := &d.Identity
	id.Subject, id.SubjectType, id.Scopes, id.ScopesText = "", "", nil, ""
}

// Decide runs the whole decision with a synchronous validator; the plugin uses Check and Authorize
// directly so that a remote validator can answer in between.
func (p *Policy) Decide(req *Requirement, r Request, validate func(bearer.Hash) validator.Validation) (d Decision) {
	var ch Check
	p.Check(req, &r, &ch)
	if ch.Verdict != NeedsValidation {
		p.Deny(ch.Verdict, req, &d)
		return d
	}
	v := validate(ch.Hash)
	p.Authorize(req, ch.Kind, &v, &d)
	return d
}

// DecisionHeader is the report-mode header value for d: "<status> <code>".
func (d *Decision) DecisionHeader() string {
	switch {
	case d.Reply != nil:
		return d.Reply.Decision
	case d.Verdict == AllowPublic:
		return "200 public"
	case d.Verdict == AllowPreflight:
		return "200 cors_preflight"
	}
	return "200 allowed"
}

// Metric is the name of the counter (docs/spec.md §7) that d increments.
func (d *Decision) Metric() string { return d.Counter().Name() }

// Counter is the counter (docs/spec.md §7) that d increments.
func (d *Decision) Counter() Counter {
	switch d.Verdict {
	case Allow:
		return CountAllowed
	case AllowPublic:
		return CountPublic
	case AllowPreflight:
		return CountCORSPreflight
	case DenyDuplicateAuth, DenyAmbiguousPath:
		return CountDenied400
	case DenyMissingBearer, DenyInvalidBearer:
		return CountDenied401
	case DenySubjectType, DenyInsufficientScope:
		return CountDenied403
	case DenyValidatorUnavailable:
		return CountUnavailable
	}
	return CountConfigError
}

// Counter names (docs/spec.md §7), without Envoy's "wasmcustom." prefix.
const (
	MetricAllowed         = "scope_gate.allowed"
	MetricPublic          = "scope_gate.public"
	MetricDenied400       = "scope_gate.denied_400"
	MetricDenied401       = "scope_gate.denied_401"
	MetricDenied403       = "scope_gate.denied_403"
	MetricConfigError     = "scope_gate.config_error"
	MetricUnavailable     = "scope_gate.unavailable"
	MetricReportWouldDeny = "scope_gate.report_would_deny"
	MetricCacheHit        = "scope_gate.cache_hit"
	MetricCacheMiss       = "scope_gate.cache_miss"
	MetricValidatorCalls  = "scope_gate.validator_calls"
	MetricValidatorErrors = "scope_gate.validator_errors"
	// MetricPathRefused counts ambiguous paths on top of denied_400 (which counts every 400), so that an
	// operator can tell path attacks from clients sending several credentials.
	MetricPathRefused   = "scope_gate.path_refused"
	MetricCORSPreflight = "scope_gate.cors_preflight"
)

// Counter is a counter's position in Metrics: the plugin keeps its host counters in that order and
// increments one by index, with no name lookup per request.
type Counter uint8

// The counters, in Metrics order.
const (
	CountAllowed Counter = iota
	CountPublic
	CountDenied400
	CountDenied401
	CountDenied403
	CountConfigError
	CountUnavailable
	CountReportWouldDeny
	CountCacheHit
	CountCacheMiss
	CountValidatorCalls
	CountValidatorErrors
	CountPathRefused
	CountCORSPreflight
	numCounters
)

// Metrics lists every counter the plugin defines at start, indexed by Counter.
var Metrics = [numCounters]string{
	CountAllowed: MetricAllowed, CountPublic: MetricPublic, CountDenied400: MetricDenied400,
	CountDenied401: MetricDenied401, CountDenied403: MetricDenied403, CountConfigError: MetricConfigError,
	CountUnavailable: MetricUnavailable, CountReportWouldDeny: MetricReportWouldDeny,
	CountCacheHit: MetricCacheHit, CountCacheMiss: MetricCacheMiss, CountValidatorCalls: MetricValidatorCalls,
	CountValidatorErrors: MetricValidatorErrors, CountPathRefused: MetricPathRefused,
	CountCORSPreflight: MetricCORSPreflight,
}

// Name is the counter's name.
func (c Counter) Name() string {
	if int(c) < len(Metrics) {
		return Metrics[c]
	}
	return "invalid"
}

func contains(list []string, s string) bool {
	for i := range list {
		if word.Equal(list[i], s) {
			return true
		}
	}
	return false
}
