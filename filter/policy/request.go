package policy

import (
	"unsafe"

	"github.com/scope-gate/scope-gate/filter/internal/word"
	"github.com/scope-gate/scope-gate/filter/pairs"
)

// ReadRequest reads, in one pass over the request headers in the proxy-wasm pairs encoding (as
// proxy_get_header_map_pairs returns them), what the decision needs: the pseudo-headers, the first non-empty
// CORS preflight headers, how many Authorization headers there are and the first. It also reports which of
// SpoofableHeaders are present (bit i for name i; config caps the list at four names), so that one pass serves
// anti-spoofing too. Header names compare as proxy-wasm hands them over: pseudo-headers exactly, others
// ignoring ASCII case.
//
// An empty buffer is a request without headers. A malformed one is an error, and nothing read from it is
// used: every size is checked against the buffer before a byte is read (FuzzReadRequest holds it to
// pairs.Decode). Names are matched by length first, then a word or two at a time: byte by byte, string
// compares made this the costliest step of the request path in the wasm build (about 0.6 µs for seven
// headers, against 0.1 µs now; PERFORMANCE.md).
func (p *Policy) ReadRequest(b []byte) (r Request, present uint8, err error) {
	if len(b) == 0 {
		return Request{}, 0, nil
	}
	if len(b) < 4 {
		return Request{}, 0, pairs.ErrShort
	}
	count64, end := uint64(word.Bytes32(b, 0)), len(b)
	if count64 > uint64(end-4)/10 { // each pair takes 8 bytes of sizes and 2 NULs at least
		return Request{}, 0, pairs.ErrCount
	}
	count := int(count64) // now below len(b)
	sizes, data := 4, 4+8*count
	for ; count > 0; count-- {
		// Sizes are below 2^32, so in uint64 the sums below cannot overflow, on 32-bit machines too; once
		// v+vl < end, both terminators are inside the buffer and every offset fits an int.
		kl64, vl64 := uint64(word.Bytes32(b, sizes)), uint64(word.Bytes32(b, sizes+4))
		sizes += 8
		if uint64(data)+kl64+1+vl64 >= uint64(end) {
			return Request{}, 0, pairs.ErrLength
		}
		kl, vl := int(kl64), int(vl64)
		k, v := data, data+kl+1
		if b[v-1]|b[v+vl] != 0 {
			return Request{}, 0, pairs.ErrNUL
		}
		data = v + vl + 1
		// Most headers are none of the names below: one test of their length (bit kl of a mask) lets them
		// pass with no further branch, which in the wasm build is what each header costs.
		bit := uint(kl) & 63 // lengthMask's numbering: a length and its bit agree modulo 64
		if (p.spoofableLens|namesLens)>>bit&1 == 0 {
			continue
		}
		if p.spoofableLens>>bit&1 != 0 {
			name := view(b, k, kl)
			for i, s := range p.spoofable {
				if word.EqualFoldASCII(name, s) {
					present |= 1 << i
				}
			}
		}
		// k+8 <= end holds for every name of 6 bytes or more (its NUL, the value and its NUL follow).
		switch kl {
		case 5:
			if k+8 <= end && word.Bytes64(b, k)&mask6 == pathWord || k+8 > end && string(b[k:k+5]) == ":path" {
				r.Path = view(b, v, vl)
			}
		case 7:
			if word.Bytes64(b, k) == methodWord {
				r.Method = view(b, v, vl)
			}
		case 13:
			if word.Bytes64(b, k)|fold8 == authorizationWords[0] && word.Bytes64(b, k+5)|fold8 == authorizationWords[1] {
				if r.AuthCount == 0 {
					r.Authorization = view(b, v, vl)
				}
				r.AuthCount++
			}
		case 6:
			if r.Origin == "" && word.Bytes64(b, k)&mask6|fold6 == originWord {
				r.Origin = view(b, v, vl)
			}
		case len("access-control-request-method"):
			if r.AccessControlRequestMethod == "" && word.EqualFoldASCII(view(b, k, kl), "access-control-request-method") {
				r.AccessControlRequestMethod = view(b, v, vl)
			}
		}
	}
	return r, present, nil
}

// The names ReadRequest looks for, as words. Pseudo-headers are compared with their NUL terminator. The
// case-insensitive names are all letters, so OR 0x20 folds them exactly: it maps each upper-case letter onto
// its lower case and no other byte onto a lower-case letter.
var (
	pathWord           = word.Of(":path\x00")
	methodWord         = word.Of(":method\x00")
	originWord         = word.Of("origin")
	authorizationWords = [2]uint64{word.Of("authorization"[:8]), word.Of("authorization"[5:])}
)

// namesLens has a bit for the length of each name the switch of ReadRequest reads.
const namesLens = 1<<len(":path") | 1<<len(":method") | 1<<len("authorization") | 1<<len("origin") |
	1<<len("access-control-request-method")

const (
	fold8 = 0x2020202020202020
	fold6 = 0x0000202020202020
	mask6 = 0x0000ffffffffffff
)

// view is b[at:at+n] as a string sharing b's memory (the header buffer outlives every use of the views: the
// decision, within the callback).
func view(b []byte, at, n int) string {
	if n == 0 {
		return ""
	}
	return unsafe.String(&b[at], n)
}

// lengthMask has bit n%64 set for each name of n bytes: a header whose length has no bit set is none of the
// names (lengths 64 apart share a bit, which only costs a comparison).
func lengthMask(names []string) uint64 {
	var m uint64
	for _, s := range names {
		m |= 1 << (uint(len(s)) & 63)
	}
	return m
}
