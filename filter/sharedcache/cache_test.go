package sharedcache

import (
	"strings"
	"testing"

	"github.com/scope-gate/scope-gate/filter/digest"
	"github.com/scope-gate/scope-gate/filter/validator"
)

var (
	accountToken = "dfoa_" + strings.Repeat("A", 43)
	ssoToken     = "dfoe_" + strings.Repeat("B", 43)
	now          = int64(1795000000)
)

func hashOf(tok string) digest.Hash { return digest.Sum(tok) }

func TestCacheExpiry(t *testing.T) {
	c := New("fp", 60, 10, 100)
	zero := New("fp", 0, 0, 100)
	tests := []struct {
		name   string
		cfg    *Cache
		v      validator.Result
		exp    int64
		until  int64
		cached bool
	}{
		{"valid, no exp", c, validator.Valid, 0, now + 60, true},
		{"valid, exp later than ttl", c, validator.Valid, now + 3600, now + 60, true},
		{"valid, exp 2 s ahead caps the ttl", c, validator.Valid, now + 2, now + 2, true},
		{"valid, exp now", c, validator.Valid, now, now, false},
		{"invalid", c, validator.Invalid, 0, now + 10, true},
		{"unavailable never cached", c, validator.Unavailable, 0, 0, false},
		{"ttl 0 disables positive caching", zero, validator.Valid, 0, now, false},
		{"negative ttl 0 disables negative caching", zero, validator.Invalid, 0, now, false},
	}
	for _, tc := range tests {
		until, ok := tc.cfg.Expiry(validator.Validation{Result: tc.v}, tc.exp, now)
		if until != tc.until || ok != tc.cached {
			t.Errorf("%s: %d %v, want %d %v", tc.name, until, ok, tc.until, tc.cached)
		}
	}
}

func TestCacheEntryRoundTrip(t *testing.T) {
	h := hashOf(accountToken)
	v := validator.Validation{Result: validator.Valid, Subject: "user@example.com", SubjectType: "account", Scopes: []string{"a", "b"}, ScopesText: "a b"}
	buf, ok := EncodeEntry(h, v, now+5)
	if !ok {
		t.Fatal("not encodable")
	}
	got, ok := DecodeEntry(buf, h, now)
	if !ok || got.Result != validator.Valid || got.Subject != v.Subject || got.SubjectType != v.SubjectType || got.ScopesText != "a b" || strings.Join(got.Scopes, ",") != "a,b" {
		t.Fatalf("round trip: %+v %v", got, ok)
	}
	if _, ok := DecodeEntry(buf, h, now+5); ok {
		t.Fatal("entry served at its expiry")
	}
	if _, ok := DecodeEntry(buf, hashOf(ssoToken), now); ok {
		t.Fatal("entry served for another token sharing its slot")
	}
	for cut := 0; cut < len(buf); cut++ {
		if _, ok := DecodeEntry(buf[:cut], h, now); ok {
			t.Fatalf("truncated entry (%d bytes) accepted", cut)
		}
	}
	if _, ok := DecodeEntry(append(buf, 0), h, now); ok {
		t.Fatal("entry with trailing bytes accepted")
	}
	neg, _ := EncodeEntry(h, validator.Validation{Result: validator.Invalid}, now+1)
	if got, ok := DecodeEntry(neg, h, now); !ok || got.Result != validator.Invalid {
		t.Fatalf("negative entry: %+v %v", got, ok)
	}
	unavail, _ := EncodeEntry(h, validator.Validation{Result: validator.Unavailable}, now+1)
	if _, ok := DecodeEntry(unavail, h, now); ok {
		t.Fatal("an unavailable entry must never be served")
	}
	if _, ok := EncodeEntry(h, validator.Validation{Result: validator.Valid, Subject: strings.Repeat("x", 70000)}, now+1); ok {
		t.Fatal("oversized subject encoded")
	}
}

func TestCacheKeyBoundedAndFingerprinted(t *testing.T) {
	a := New("forward\x00a\x00a\x00/a\x00GET\x00", 60, 10, 3)
	b := New("forward\x00a\x00a\x00/b\x00GET\x00", 60, 10, 3)
	keys := map[string]bool{}
	for i := 0; i < 200; i++ {
		keys[a.Key(hashOf(strings.Repeat("t", i+1)))] = true
	}
	if len(keys) != 3 {
		t.Fatalf("%d distinct keys for max_entries 3", len(keys))
	}
	if a.Key(hashOf("x")) == b.Key(hashOf("x")) {
		t.Fatal("two validators share cache keys")
	}
	if k := a.Key(hashOf(accountToken)); strings.Contains(k, accountToken) || strings.Contains(k, hashOf(accountToken).Hex()) {
		t.Fatalf("cache key reveals the token or its hash: %s", k)
	}
}

func FuzzDecodeEntry(f *testing.F) {
	h := hashOf(accountToken)
	good, _ := EncodeEntry(h, validator.Validation{Result: validator.Valid, Subject: "s", ScopesText: "a b"}, now+10)
	f.Add(good)
	f.Add([]byte{1, 1})
	f.Fuzz(func(t *testing.T, buf []byte) {
		v, ok := DecodeEntry(buf, h, now)
		if ok && v.Result != validator.Valid && v.Result != validator.Invalid {
			t.Fatalf("served result %v", v.Result)
		}
	})
}
