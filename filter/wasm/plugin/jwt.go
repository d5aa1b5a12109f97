//go:build jwt

package plugin

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/stdgobridge"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/scope-gate/scope-gate/filter/internal/quote"
	"github.com/scope-gate/scope-gate/filter/policy"
	"github.com/scope-gate/scope-gate/filter/sharedcache"
	"github.com/scope-gate/scope-gate/filter/validator"
)

// JWT validation on the request path. Everything happens on demand, without timers (which crash Envoy
// 1.33 to 1.38, see docs/rationale.md): a request first reads the shared cache of verified tokens (one
// shared-data read); on a miss it verifies the JWT with the keys this VM holds. Fetched keys live in one
// shared-data record per JWKS endpoint (validator.JWKSRecord) so that every VM uses the keys any VM fetched,
// and the record's LastAttempt is the refresh floor for all VMs. When the keys are missing, stale, or lack
// the token's kid, and the floor allows it, the request claims the fetch (a CAS write of LastAttempt, so
// one VM wins), dispatches it on behalf of the plugin (DispatchRootHTTPCall) and pauses; requests of this
// VM that need keys meanwhile join it. When the answer (or Envoy's 504/503, or a reset) arrives, every
// waiting stream is verified again with whatever keys are then held and answered or resumed: it never
// waits for a second fetch.

// jwtVM is what the plugin context holds for JWT: the keys and JWKS fetch of this VM.
type jwtVM struct{ jwt jwtState }

// jwtState is what one VM holds for the JWT validator of its current configuration.
type jwtState struct {
	cfg   *policy.Policy
	keys  *validator.KeySet // last key set parsed from the shared record; nil: none yet
	fetch *jwksFetch        // the JWKS fetch this VM has in flight, if any
}

// jwksFetch is one JWKS fetch and the streams waiting for it. The waiters live in a flight so that
// OnHttpStreamDone drops a stream that goes away while it waits (as for remote validation).
type jwksFetch struct {
	p    *pluginContext
	cfg  *policy.Policy
	v    *validator.JWT
	wait *flight
}

// jwtFor returns the VM's JWT state for cfg, starting afresh when the configuration changed (a fetch in
// flight for the previous one still answers its own waiters: it holds them).
func (p *pluginContext) jwtFor(cfg *policy.Policy) *jwtState {
	if p.jwt.cfg != cfg {
		p.jwt = jwtState{cfg: cfg}
	}
	return &p.jwt
}

// validateJWT handles a request whose token needs validation when the validator is a JWT one.
func (h *httpContext) validateJWT(req *policy.Requirement, check *policy.Check) (types.Action, bool) {
	v, ok := h.cfg.Validator.(*validator.JWT)
	if !ok {
		return types.ActionContinue, false
	}
	now := time.Now().Unix()
	if buf, _, err := stdgobridge.GetSharedData(h.cfg.SharedCache().Key(check.Hash)); err == nil {
		if val, ok := sharedcache.DecodeEntry(buf, check.Hash, now); ok {
			h.p.count(policy.CountCacheHit)
			d := &h.p.decision
			h.cfg.Authorize(req, check.Kind, &val, d)
			return h.apply(req, d, check), true
		}
	}
	h.p.count(policy.CountCacheMiss)
	return h.verifyJWT(req, check, v, false), true
}

// verifyJWT verifies the token with the keys held, first starting or joining a JWKS fetch when keys are
// needed and the floor allows it. afterFetch (a stream resumed after a fetch) never fetches again and
// never pauses.
func (h *httpContext) verifyJWT(req *policy.Requirement, check *policy.Check, v *validator.JWT, afterFetch bool) types.Action {
	now := time.Now().Unix()
	t, res := v.Parse(check.Token)
	if t == nil {
		return h.jwtVerdict(req, check, res, now)
	}
	keys := v.Inline()
	if keys != nil {
		return h.jwtVerdict(req, check, v.Verify(t, keys, now), now)
	}
	st := h.p.jwtFor(h.cfg)
	rec, cas, found, err := st.load(v)
	if err != nil {
		stdgobridge.LogWarn("scope-gate: cannot read the shared JWKS record: " + err.Error())
	}
	keys = st.keys
	// refresh starts (or joins) a JWKS fetch when the floor allows, pausing the stream; false: not now.
	refresh := func() (types.Action, bool) {
		if afterFetch || err != nil {
			return 0, false
		}
		if st.fetch != nil && st.fetch.cfg == h.cfg {
			return h.waitJWKS(st.fetch, req, check), true
		}
		if v.MayFetch(rec, now) && st.claim(v, rec, cas, found, now) {
			if f := h.p.startJWKSFetch(h.id, h.cfg, v); f != nil {
				st.fetch = f
				return h.waitJWKS(f, req, check), true
			}
		}
		return 0, false
	}
	if v.KeysStale(rec, now) || !keys.Has(t) {
		if action, waiting := refresh(); waiting {
			return action
		}
	}
	if keys.Len() == 0 {
		// No usable key at all: the JWKS could not be fetched (or is being fetched by another VM). That is
		// the validator being unavailable, never the token's fault: 503, nothing cached.
		return h.jwtVerdict(req, check, validator.JWTResult{Validation: validator.Validation{Result: validator.Unavailable}}, now)
	}
	verdict := v.Verify(t, keys, now)
	if verdict.UnknownKey {
		// The key named (or implied) by the token is missing or did not verify: the issuer may have rotated
		// keys since the last fetch. Refresh when the floor allows, then verify again (afterFetch).
		if action, waiting := refresh(); waiting {
			return action
		}
	}
	return h.jwtVerdict(req, check, verdict, now)
}

// jwtVerdict caches what may be cached and applies the decision.
func (h *httpContext) jwtVerdict(req *policy.Requirement, check *policy.Check, res validator.JWTResult, now int64) types.Action {
	val := res.Validation
	switch {
	case val.Result == validator.Valid, val.Result == validator.Invalid && res.Cacheable:
		// flight.store is the remote validators' CAS-guarded cache write; it needs only cfg and hash.
		(&flight{cfg: h.cfg, hash: check.Hash}).store(val, res.TokenExp, now)
	}
	if val.Result == validator.Invalid {
		stdgobridge.LogDebug("scope-gate: JWT " + check.Hash.LogID() + " invalid: " + res.Reason)
	}
	d := &h.p.decision
	h.cfg.Authorize(req, check.Kind, &val, d)
	return h.apply(req, d, check)
}

func (h *httpContext) waitJWKS(f *jwksFetch, req *policy.Requirement, check *policy.Check) types.Action {
	// The token is verified again when the keys arrive, in a later callback: it is copied out of the
	// bridge's arena, which the next callback reuses.
	check.Token = strings.Clone(check.Token)
	h.req = req // check is h.check (see decide): the stream keeps it
	f.wait.waiters = append(f.wait.waiters, h)
	h.waiting = f.wait
	return types.ActionPause
}

// load reads the shared JWKS record and, when it holds a document this VM has not parsed, parses it.
// A malformed record reads as empty (found, so the next claim overwrites it under its CAS).
func (st *jwtState) load(v *validator.JWT) (validator.JWKSRecord, uint32, bool, error) {
	buf, cas, err := stdgobridge.GetSharedData(v.JWKSSharedKey())
	if errors.Is(err, types.ErrorStatusNotFound) {
		return validator.JWKSRecord{}, 0, false, nil
	}
	if err != nil {
		return validator.JWKSRecord{}, 0, false, err
	}
	rec, ok := validator.DecodeJWKSRecord(buf)
	if !ok {
		return validator.JWKSRecord{}, cas, true, nil
	}
	if len(rec.Document) > 0 && (st.keys == nil || st.keys.Hash != rec.Hash) {
		ks, _, perr := v.ParseJWKS(rec.Document)
		if perr != nil {
			stdgobridge.LogWarn("scope-gate: the shared JWKS record holds unusable keys: " + perr.Error())
		} else {
			st.keys = ks
		}
	}
	return rec, cas, true, nil
}

// claim records a fetch attempt now, so that no VM fetches again within jwks_min_refresh_seconds. The
// write is CAS-guarded: when another VM changed the record since it was read (it claimed or stored a
// fetch), this VM does not fetch. A record that does not exist yet is created unguarded (shared data has
// no create-if-absent): VMs racing on the very first fetch may each fetch once.
func (st *jwtState) claim(v *validator.JWT, rec validator.JWKSRecord, cas uint32, found bool, now int64) bool {
	rec.LastAttempt = now
	if !found {
		cas = 0
	}
	err := stdgobridge.SetSharedData(v.JWKSSharedKey(), validator.EncodeJWKSRecord(rec), cas)
	if err != nil && !errors.Is(err, types.ErrorStatusCasMismatch) {
		stdgobridge.LogWarn("scope-gate: cannot write the shared JWKS record: " + err.Error())
	}
	return err == nil
}

// startJWKSFetch dispatches the JWKS call on behalf of the plugin, so that it outlives the stream that
// triggered it. nil when the call cannot be made (the caller then decides with the keys it holds).
func (p *pluginContext) startJWKSFetch(callerID uint32, cfg *policy.Policy, v *validator.JWT) *jwksFetch {
	f := &jwksFetch{p: p, cfg: cfg, v: v, wait: &flight{p: p, cfg: cfg}}
	p.count(policy.CountValidatorCalls)
	if _, err := stdgobridge.DispatchRootHTTPCall(p.id, callerID, v.JWKSCluster, v.JWKSRequest(), nil, v.TimeoutMillis, f.onAnswer); err != nil {
		p.count(policy.CountValidatorErrors)
		stdgobridge.LogWarn("scope-gate: cannot fetch the JWKS from cluster " + quote.String(v.JWKSCluster) + ": " + err.Error())
		return nil
	}
	return f
}

// onAnswer runs with the root context effective when the JWKS answer (or a failure) arrives: it stores
// usable keys for every VM, then verifies and answers or resumes every waiting stream.
func (f *jwksFetch) onAnswer(numHeaders, bodySize, _ int) {
	st := &f.p.jwt
	if st.fetch == f {
		st.fetch = nil
	}
	defer func() {
		if r := recover(); r != nil {
			stdgobridge.LogError("scope-gate: panic while handling the JWKS answer: " + panicText(r))
		}
		waiters := f.wait.waiters
		f.wait.waiters = nil
		for _, w := range waiters {
			w.resumeJWT()
		}
	}()
	where := "JWKS from cluster " + quote.String(f.v.JWKSCluster)
	status, body, problem := readCallAnswer(numHeaders, bodySize, validator.MaxJWKSBodyBytes)
	if problem == "" && status != 200 {
		problem = "answered " + strconv.Itoa(status)
	}
	var ks *validator.KeySet
	if problem == "" {
		var notes []string
		var err error
		ks, notes, err = f.v.ParseJWKS(body)
		for _, n := range notes {
			stdgobridge.LogWarn("scope-gate: " + where + ": " + n)
		}
		if err != nil {
			problem = err.Error()
		}
	}
	if problem != "" {
		f.p.count(policy.CountValidatorErrors)
		stdgobridge.LogWarn("scope-gate: " + where + " unavailable: " + problem + " (the keys already held stay in use)")
		return
	}
	if st.cfg == f.cfg {
		st.keys = ks
	}
	f.store(ks, body, time.Now().Unix())
}

// store publishes fetched keys to every VM. CAS-guarded read-modify-write: the record's LastAttempt (the
// floor) is kept; a conflicting write (another VM's claim) is retried a few times, then given up (the keys
// stay in this VM and the next fetch publishes them).
func (f *jwksFetch) store(ks *validator.KeySet, body []byte, now int64) {
	key := f.v.JWKSSharedKey()
	for attempt := 0; attempt < 3; attempt++ {
		buf, cas, err := stdgobridge.GetSharedData(key)
		if err != nil && !errors.Is(err, types.ErrorStatusNotFound) {
			stdgobridge.LogWarn("scope-gate: cannot read the shared JWKS record: " + err.Error())
			return
		}
		rec, _ := validator.DecodeJWKSRecord(buf)
		next := validator.JWKSRecord{Hash: ks.Hash, FetchedAt: now, LastAttempt: rec.LastAttempt, Document: body}
		if next.LastAttempt == 0 {
			next.LastAttempt = now
		}
		err = stdgobridge.SetSharedData(key, validator.EncodeJWKSRecord(next), cas)
		if err == nil {
			return
		}
		if !errors.Is(err, types.ErrorStatusCasMismatch) {
			stdgobridge.LogWarn("scope-gate: cannot write the shared JWKS record: " + err.Error())
			return
		}
	}
}

// resumeJWT finishes a stream that waited for a JWKS fetch: verification with the keys now held, then a
// local reply or a resume. A failure here answers 500 for this stream only.
func (h *httpContext) resumeJWT() {
	h.waiting = nil
	if err := stdgobridge.SetEffectiveContext(h.id); err != nil {
		return // the stream is gone
	}
	defer func() {
		if r := recover(); r != nil {
			h.failClosed("panic while resuming after the JWKS fetch: " + panicText(r))
		}
	}()
	v, ok := h.cfg.Validator.(*validator.JWT)
	if !ok {
		h.failClosed("a stream waited for a JWKS without a jwt validator")
		return
	}
	if h.verifyJWT(h.req, &h.check, v, true) == types.ActionContinue {
		if err := stdgobridge.ResumeHttpRequest(); err != nil {
			h.failClosed("cannot resume the request: " + err.Error())
		}
	}
}

// readCallAnswer reads the status and body of an http call's answer (in its callback). status 0 with a
// problem: the call failed (reset, connection failure) or the answer is unreadable or too large.
func readCallAnswer(numHeaders, bodySize, maxBody int) (int, []byte, string) {
	if numHeaders <= 0 {
		return 0, nil, "call failed (reset or connection failure)"
	}
	headers, err := stdgobridge.GetHttpCallResponseHeaders()
	if err != nil {
		return 0, nil, "cannot read the answer's headers: " + err.Error()
	}
	status := statusOf(headers)
	if bodySize > maxBody {
		return status, nil, "answer over " + strconv.Itoa(maxBody) + " bytes"
	}
	var body []byte
	if bodySize > 0 {
		if body, err = stdgobridge.GetHttpCallResponseBody(0, bodySize); err != nil && !errors.Is(err, types.ErrorStatusNotFound) {
			return status, nil, "cannot read the answer's body: " + err.Error()
		}
	}
	return status, body, ""
}
