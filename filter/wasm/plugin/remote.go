package plugin

import (
	"errors"
	"strconv"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/stdgobridge"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/scope-gate/scope-gate/filter/bearer"
	"github.com/scope-gate/scope-gate/filter/internal/quote"
	"github.com/scope-gate/scope-gate/filter/policy"
	"github.com/scope-gate/scope-gate/filter/sharedcache"
	"github.com/scope-gate/scope-gate/filter/validator"
)

// maxAnswerBytes bounds how much of a validator's answer is read; a longer answer is treated as garbage.
const maxAnswerBytes = 64 << 10

// flight is one remote validation in progress in this VM and the streams waiting for its answer (single
// flight: further requests for the same token join it instead of calling again).
type flight struct {
	p         *pluginContext
	cfg       *policy.Policy
	validator *validator.Remote
	hash      bearer.Hash
	waiters   []*httpContext
}

// validateRemote answers from the shared cache when it can (one shared-data read), else joins or starts a
// flight and pauses the stream. Every path ends in a reply or a resume: a dispatch failure answers 503 now.
func (h *httpContext) validateRemote(req *policy.Requirement, check *policy.Check, v *validator.Remote) types.Action {
	token := check.Token
	// The key's prefix stays in the reused buffer while the cache is the same; only the slot is written.
	cache := h.cfg.SharedCache()
	if h.p.keyOf != cache {
		h.p.key, h.p.keyOf = append(h.p.key[:0], cache.Prefix()...), cache
	}
	h.p.key = cache.AppendSlot(h.p.key[:len(cache.Prefix())], &check.Hash)
	if buf, _, err := stdgobridge.GetSharedDataKey(h.p.key); err == nil {
		// buf views the bridge's arena, and so do val's strings: they are used in this callback only.
		val := &h.p.validation
		scopes, ok := sharedcache.DecodeEntryView(buf, &check.Hash, unixNow(), h.p.scopes, val)
		h.p.scopes = scopes
		if ok {
			h.p.count(policy.CountCacheHit)
			d := &h.p.decision
			h.cfg.Authorize(req, check.Kind, val, d)
			return h.apply(req, d, check)
		}
	}
	h.p.count(policy.CountCacheMiss)
	// The stream is parked past this callback: nothing it keeps may view the arena. The token is only
	// needed to build the call below (v.Request copies it into the call's headers), so it is not kept.
	check.Token = ""
	h.req = req // check is h.check (see decide): the stream keeps it
	if f := h.p.inflight[check.Hash]; f != nil && f.cfg == h.cfg {
		f.waiters = append(f.waiters, h)
		h.waiting = f
		return types.ActionPause
	}
	f := &flight{p: h.p, cfg: h.cfg, validator: v, hash: check.Hash, waiters: []*httpContext{h}}
	headers, body := v.Request(token)
	h.p.count(policy.CountValidatorCalls)
	if _, err := stdgobridge.DispatchRootHTTPCall(h.p.id, h.id, v.Cluster, headers, body, v.TimeoutMillis, f.onAnswer); err != nil {
		h.p.count(policy.CountValidatorErrors)
		stdgobridge.LogWarn("scope-gate: cannot call validator cluster " + quote.String(v.Cluster) + ": " + err.Error())
		d := &h.p.decision
		h.cfg.Deny(policy.DenyValidatorUnavailable, req, d)
		return h.apply(req, d, check)
	}
	h.p.inflight[check.Hash] = f
	h.waiting = f
	return types.ActionPause
}

// onAnswer runs with the root context effective when the validator answers (or the call fails: no headers,
// or Envoy's own 504/503). It caches what may be cached and resumes or answers every waiting stream.
func (f *flight) onAnswer(numHeaders, bodySize, _ int) {
	if f.p.inflight[f.hash] == f {
		delete(f.p.inflight, f.hash)
	}
	val := validator.Validation{Result: validator.Unavailable}
	defer func() {
		if r := recover(); r != nil {
			stdgobridge.LogError("scope-gate: panic while handling a validator answer: " + panicText(r))
			val = validator.Validation{Result: validator.Unavailable}
		}
		for _, w := range f.waiters {
			w.resume(val)
		}
		f.waiters = nil
	}()
	val = f.interpret(numHeaders, bodySize)
}

func (f *flight) interpret(numHeaders, bodySize int) validator.Validation {
	status := 0
	if numHeaders > 0 {
		if headers, err := stdgobridge.GetHttpCallResponseHeaders(); err == nil {
			status = statusOf(headers)
		}
	}
	var body []byte
	if bodySize > maxAnswerBytes {
		status = -1 // too large to be an answer we trust; reported as unavailable below
	} else if bodySize > 0 {
		var err error
		if body, err = stdgobridge.GetHttpCallResponseBody(0, bodySize); err != nil && !errors.Is(err, types.ErrorStatusNotFound) {
			status = -1
		}
	}
	now := unixNow()
	var (
		val      validator.Validation
		tokenExp int64
		problem  string
	)
	if status == -1 {
		val, problem = validator.Validation{Result: validator.Unavailable}, "validator answer unreadable or over "+strconv.Itoa(maxAnswerBytes)+" bytes"
	} else {
		val, tokenExp, problem = f.validator.Answer(status, body, now)
	}
	if problem != "" {
		f.p.count(policy.CountValidatorErrors)
		stdgobridge.LogWarn("scope-gate: token validation unavailable for token " + f.hash.LogID() + ": " + problem)
		return val
	}
	f.store(val, tokenExp, now)
	return val
}

// store writes the answer to its cache slot. The write is CAS-guarded against the version read just before:
// if another VM wrote the slot in between, its entry is at least as fresh and this write is dropped.
func (f *flight) store(val validator.Validation, tokenExp, now int64) {
	until, ok := f.cfg.SharedCache().Expiry(val, tokenExp, now)
	if !ok {
		return
	}
	entry, ok := sharedcache.EncodeEntry(f.hash, val, until)
	if !ok {
		return
	}
	key := f.cfg.SharedCache().Key(f.hash)
	_, cas, err := stdgobridge.GetSharedData(key)
	if err != nil && !errors.Is(err, types.ErrorStatusNotFound) {
		return
	}
	if err := stdgobridge.SetSharedData(key, entry, cas); err != nil && !errors.Is(err, types.ErrorStatusCasMismatch) {
		stdgobridge.LogWarn("scope-gate: cannot write the validation cache: " + err.Error())
	}
}

// resume finishes a stream that waited for a remote validation: a local reply, or identity headers and
// continue. A failure here answers 500 for this stream only.
func (h *httpContext) resume(val validator.Validation) {
	h.waiting = nil
	if err := stdgobridge.SetEffectiveContext(h.id); err != nil {
		return // the stream is gone
	}
	defer func() {
		if r := recover(); r != nil {
			h.failClosed("panic while resuming: " + panicText(r))
		}
	}()
	d := &h.p.decision
	h.cfg.Authorize(h.req, h.check.Kind, &val, d)
	if h.apply(h.req, d, &h.check) == types.ActionContinue {
		if err := stdgobridge.ResumeHttpRequest(); err != nil {
			h.failClosed("cannot resume the request: " + err.Error())
		}
	}
}

// OnHttpStreamDone leaves a flight the stream was waiting on, so its answer is not applied to a dead stream,
// and marks the stream object for reuse once the stream is deleted.
func (h *httpContext) OnHttpStreamDone() {
	defer func() { _ = recover() }()
	h.leaveFlight()
	if !h.ended { // once per stream, whatever the host does: a second entry could release a reused object
		h.ended = true
		ended = append(ended, h) // reused after proxy_on_delete (see release)
	}
}

// leaveFlight removes the stream from the flight it waits on, if any.
func (h *httpContext) leaveFlight() {
	if f := h.waiting; f != nil {
		for i, w := range f.waiters {
			if w == h {
				f.waiters = append(f.waiters[:i], f.waiters[i+1:]...)
				break
			}
		}
		h.waiting = nil
	}
}

// statusOf is the :status of an http call's answer: its last :status header read as three digits, or 0
// (no answer the validators accept) when there is none or it is not a status code.
func statusOf(headers [][2]string) int {
	status := 0
	for _, kv := range headers {
		if kv[0] != ":status" {
			continue
		}
		status = 0
		if v := kv[1]; len(v) == 3 && v[0] >= '1' && v[0] <= '9' && v[1] >= '0' && v[1] <= '9' && v[2] >= '0' && v[2] <= '9' {
			status = int(v[0]-'0')*100 + int(v[1]-'0')*10 + int(v[2]-'0')
		}
	}
	return status
}
