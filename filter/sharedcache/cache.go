// Package sharedcache is the layout of validation answers in proxy-wasm shared data (docs/spec.md §4.5): the
// slot keys, how long an answer may be served, and the entry codec. It is pure: the plugin does the
// shared-data reads and CAS writes.
package sharedcache

import (
	"encoding/binary"
	"strconv"
	"strings"
	"unsafe"

	"github.com/scope-gate/scope-gate/filter/digest"
	"github.com/scope-gate/scope-gate/filter/internal/word"
	"github.com/scope-gate/scope-gate/filter/scope"
	"github.com/scope-gate/scope-gate/filter/validator"
)

// The remote-validation cache lives in proxy-wasm shared data so that every worker VM of an Envoy shares it
// (docs/spec.md §4.5). Shared data has no delete, no TTL and no size bound, so the cache is direct-mapped: a token
// hash selects one of max_entries slots, the slot's key is fixed, and a new entry overwrites whatever the
// slot held (eviction rule: the most recent write to a slot wins). The key space is therefore bounded by
// max_entries by construction, and no timer is needed: each entry carries its own expiry, checked on read.
// Each entry stores the full token hash, so a slot shared by two tokens never answers for the wrong one.
//
// Entry layout (little-endian): version byte, result byte, 32-byte token hash, int64 expiry (unix seconds),
// then three u16-length-prefixed strings: subject, subject type, scopes (sorted, space-separated).

const (
	entryVersion    = 1
	entryHeaderSize = 1 + 1 + 32 + 8
	maxEntryString  = 1<<16 - 1
)

// Cache is one configuration's view of the shared cache: where its slots are and how long answers live.
type Cache struct {
	prefix             string // "scope_gate.cache.<fingerprint id>."
	ttlSeconds         int64
	negativeTTLSeconds int64
	slots              uint64
}

// New returns the cache of a validator whose answers are decided by fingerprint (Validator.CacheFingerprint),
// with ttl_seconds, negative_ttl_seconds and max_entries (at least 1) from the configuration.
func New(fingerprint string, ttlSeconds, negativeTTLSeconds, maxEntries int64) *Cache {
	c := &Cache{ttlSeconds: ttlSeconds, negativeTTLSeconds: negativeTTLSeconds, slots: uint64(maxEntries)}
	if fingerprint != "" {
		c.prefix = "scope_gate.cache." + digest.Sum(fingerprint).LogID() + "."
	}
	return c
}

// Key is the shared-data key of the slot for token hash h. The prefix carries a fingerprint of the
// validator's configuration, so changing the validator never serves answers from the previous one.
func (c *Cache) Key(h digest.Hash) string {
	slot := binary.LittleEndian.Uint64(h[:8]) % c.slots
	return c.prefix + strconv.FormatUint(slot, 10)
}

// AppendKey appends Key(h) to dst.
func (c *Cache) AppendKey(dst []byte, h digest.Hash) []byte {
	return c.AppendSlot(append(dst, c.prefix...), &h)
}

// Prefix is what every key of this cache begins with.
func (c *Cache) Prefix() string { return c.prefix }

// AppendSlot appends the part of Key(h) after Prefix: the request path keeps the prefix in a reused buffer
// and appends only this. h is a pointer because a copy of a hash costs a memory.copy in Go's wasm build.
func (c *Cache) AppendSlot(dst []byte, h *digest.Hash) []byte {
	return strconv.AppendUint(dst, binary.LittleEndian.Uint64(h[:8])%c.slots, 10)
}

// Expiry is when an answer stops being served from the cache (unix seconds), and whether it may be
// cached at all: valid answers for ttl_seconds but never past the token's own expiry, invalid ones for
// negative_ttl_seconds, unavailability never.
func (c *Cache) Expiry(v validator.Validation, tokenExp, nowUnix int64) (int64, bool) {
	var until int64
	switch v.Result {
	case validator.Valid:
		until = nowUnix + c.ttlSeconds
		if tokenExp > 0 && tokenExp < until {
			until = tokenExp
		}
	case validator.Invalid:
		until = nowUnix + c.negativeTTLSeconds
	default:
		return 0, false
	}
	return until, until > nowUnix
}

// EncodeEntry serializes a cache entry. Strings longer than 65535 bytes are not cacheable (false).
func EncodeEntry(h digest.Hash, v validator.Validation, expiresAt int64) ([]byte, bool) {
	if len(v.Subject) > maxEntryString || len(v.SubjectType) > maxEntryString || len(v.ScopesText) > maxEntryString {
		return nil, false
	}
	b := make([]byte, 0, entryHeaderSize+6+len(v.Subject)+len(v.SubjectType)+len(v.ScopesText))
	b = append(b, entryVersion, byte(v.Result))
	b = append(b, h[:]...)
	b = binary.LittleEndian.AppendUint64(b, uint64(expiresAt))
	for _, s := range []string{v.Subject, v.SubjectType, v.ScopesText} {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(s)))
		b = append(b, s...)
	}
	return b, true
}

// DecodeEntryView is DecodeEntry without allocating, for the request path. On a hit it writes the validation
// to *v (every field; on a miss *v is left as it was): its strings view buf (they are valid only as long as buf
// is, and must be copied to be kept), and the scopes are appended to scratch[:0] (pass the previous result
// back). An entry whose scopes text is not the canonical form that EncodeEntry writes (valid scope tokens,
// sorted, distinct, single spaces) is parsed by scope.Fields instead. The hash and the validation travel by
// pointer: in Go's wasm build a copy of either is a memory.copy, which wazero runs as a call into the host.
func DecodeEntryView(buf []byte, h *digest.Hash, nowUnix int64, scratch []string, v *validator.Validation) ([]string, bool) {
	scratch = scratch[:0]
	if len(buf) < entryHeaderSize+6 || buf[0] != entryVersion || !digest.Equal((*digest.Hash)(buf[2:34]), h) {
		return scratch, false
	}
	result := validator.Result(buf[1])
	if result != validator.Valid && result != validator.Invalid {
		return scratch, false
	}
	if expires := int64(word.Bytes64(buf, 34)); nowUnix >= expires { // len(buf) >= 42, checked above
		return scratch, false
	}
	rest := buf[entryHeaderSize:]
	var fields [3]string
	for i := range fields {
		if len(rest) < 2 {
			return scratch, false
		}
		n := int(binary.LittleEndian.Uint16(rest))
		if len(rest) < 2+n {
			return scratch, false
		}
		if n > 0 {
			fields[i] = unsafe.String(&rest[2], n)
		}
		rest = rest[2+n:]
	}
	if len(rest) != 0 {
		return scratch, false
	}
	var scopes []string
	if text := fields[2]; text != "" {
		start := 0
		for i := 0; i <= len(text); i++ {
			if i < len(text) && text[i] != ' ' {
				continue
			}
			piece := text[start:i]
			if !scope.ValidToken(piece) || (len(scratch) > 0 && piece <= scratch[len(scratch)-1]) {
				// Not canonical: the general parser (which allocates) sorts, deduplicates or refuses it.
				parsed, ok := scope.Fields(text)
				if !ok {
					return scratch[:0], false
				}
				scopes, scratch = parsed, parsed
				break
			}
			scratch = append(scratch, piece)
			start = i + 1
		}
		if scopes == nil {
			scopes = scratch
		}
	}
	v.Result, v.Subject, v.SubjectType, v.Scopes, v.ScopesText = result, fields[0], fields[1], scopes, fields[2]
	return scratch, true
}

// DecodeEntry returns the cached validation for token hash h, if buf is a well-formed, unexpired entry for
// that very token. Anything else (another token's entry, an expired one, a malformed one) is a miss. The
// result owns its strings (DecodeEntryView's, copied).
func DecodeEntry(buf []byte, h digest.Hash, nowUnix int64) (validator.Validation, bool) {
	var v validator.Validation
	scopes, ok := DecodeEntryView(buf, &h, nowUnix, nil, &v)
	if !ok {
		return validator.Validation{}, false
	}
	v.Subject, v.SubjectType, v.ScopesText = strings.Clone(v.Subject), strings.Clone(v.SubjectType), strings.Clone(v.ScopesText)
	v.Scopes = nil
	if len(scopes) > 0 {
		v.Scopes, _ = scope.Fields(v.ScopesText)
	}
	return v, true
}
