package policy

import (
	"encoding/binary"
	"strconv"

	"github.com/scope-gate/scope-gate/filter/bearer"
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

// CacheKey is the shared-data key of the slot for token hash h. The prefix carries a fingerprint of the
// validator's configuration, so changing the validator never serves answers from the previous one.
func (c *Config) CacheKey(h bearer.Hash) string {
	slot := binary.LittleEndian.Uint64(h[:8]) % uint64(c.Cache.MaxEntries)
	return c.cachePrefix + strconv.FormatUint(slot, 10)
}

// CacheExpiry is when an answer stops being served from the cache (unix seconds), and whether it may be
// cached at all: valid answers for ttl_seconds but never past the token's own expiry, invalid ones for
// negative_ttl_seconds, unavailability never.
func (c *Config) CacheExpiry(v Validation, tokenExp, nowUnix int64) (int64, bool) {
	var until int64
	switch v.Result {
	case Valid:
		until = nowUnix + c.Cache.TTLSeconds
		if tokenExp > 0 && tokenExp < until {
			until = tokenExp
		}
	case Invalid:
		until = nowUnix + c.Cache.NegativeTTLSeconds
	default:
		return 0, false
	}
	return until, until > nowUnix
}

// EncodeEntry serializes a cache entry. Strings longer than 65535 bytes are not cacheable (false).
func EncodeEntry(h bearer.Hash, v Validation, expiresAt int64) ([]byte, bool) {
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

// DecodeEntry returns the cached validation for token hash h, if buf is a well-formed, unexpired entry for
// that very token. Anything else (another token's entry, an expired one, a malformed one) is a miss.
func DecodeEntry(buf []byte, h bearer.Hash, nowUnix int64) (Validation, bool) {
	if len(buf) < entryHeaderSize+6 || buf[0] != entryVersion || [32]byte(buf[2:34]) != h {
		return Validation{}, false
	}
	result := Result(buf[1])
	if result != Valid && result != Invalid {
		return Validation{}, false
	}
	if expires := int64(binary.LittleEndian.Uint64(buf[34:42])); nowUnix >= expires {
		return Validation{}, false
	}
	rest := buf[entryHeaderSize:]
	var fields [3]string
	for i := range fields {
		if len(rest) < 2 {
			return Validation{}, false
		}
		n := int(binary.LittleEndian.Uint16(rest))
		if len(rest) < 2+n {
			return Validation{}, false
		}
		fields[i] = string(rest[2 : 2+n])
		rest = rest[2+n:]
	}
	if len(rest) != 0 {
		return Validation{}, false
	}
	v := Validation{Result: result, Subject: fields[0], SubjectType: fields[1], ScopesText: fields[2]}
	if v.ScopesText != "" {
		scopes, ok := scopeFields(v.ScopesText)
		if !ok {
			return Validation{}, false
		}
		v.Scopes = scopes
	}
	return v, true
}
