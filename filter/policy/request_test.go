package policy

import (
	"strings"
	"testing"

	"github.com/scope-gate/scope-gate/filter/pairs"
)

// readReference is ReadRequest's definition, on pairs.Decode's reading of the buffer.
func readReference(p *Policy, b []byte) (Request, uint8, bool) {
	if len(b) == 0 {
		return Request{}, 0, true
	}
	ps, err := pairs.Decode(b, nil)
	if err != nil && err != pairs.ErrTrailing {
		return Request{}, 0, false
	}
	var r Request
	var present uint8
	for _, kv := range ps {
		name, value := string(kv.Key), string(kv.Value)
		for i, s := range p.SpoofableHeaders() {
			if strings.EqualFold(name, s) && isASCII(name) {
				present |= 1 << i
			}
		}
		lower := strings.ToLower(name)
		switch {
		case !isASCII(name):
		case name == ":path":
			r.Path = value
		case name == ":method":
			r.Method = value
		case lower == "authorization":
			if r.AuthCount == 0 {
				r.Authorization = value
			}
			r.AuthCount++
		case lower == "origin" && r.Origin == "":
			r.Origin = value
		case lower == "access-control-request-method" && r.AccessControlRequestMethod == "":
			r.AccessControlRequestMethod = value
		}
	}
	return r, present, true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func mustPolicy(t testing.TB) *Policy {
	p, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// ReadRequest reads the decision's inputs and the spoofable headers in one pass; an identity header
// configured under a name the decision also reads (origin) is still found, in any case, repeated or not.
func TestReadRequestOnePass(t *testing.T) {
	p, err := Parse([]byte(`{"upstream_headers":{"subject":"x-scope-gate-subject","subject_type":"origin","scopes":"x-scope-gate-scopes"}}`))
	if err != nil {
		t.Fatal(err)
	}
	headers := pairs.EncodeStrings(":method", "OPTIONS", ":path", "/a?b", "Origin", "", "origin", "https://app.example",
		"Access-Control-Request-Method", "POST", "authorization", "Bearer x", "AUTHORIZATION", "Bearer y",
		"X-Scope-Gate-Subject", "forged")
	r, present, err := p.ReadRequest(headers)
	if err != nil {
		t.Fatal(err)
	}
	want := Request{Path: "/a?b", Method: "OPTIONS", Origin: "https://app.example",
		AccessControlRequestMethod: "POST", AuthCount: 2, Authorization: "Bearer x"}
	if r != want {
		t.Fatalf("request = %+v, want %+v", r, want)
	}
	if present != 0b011 {
		t.Fatalf("present = %03b, want 011 (subject and origin, not scopes)", present)
	}
	// A malformed map is refused whole: nothing read before the bad pair is used.
	if r, present, err := p.ReadRequest(headers[:len(headers)-1]); err == nil || r != (Request{}) || present != 0 {
		t.Fatalf("truncated map: %+v, %b, %v", r, present, err)
	}
	// No map at all is a request without headers.
	if r, _, err := p.ReadRequest(nil); err != nil || r != (Request{}) {
		t.Fatalf("no map: %+v, %v", r, err)
	}
}

var readRequestSeeds = [][]string{
	{":path", "/x", ":method", "GET", "authorization", "Bearer t"},
	{":path", "", ":method", "", "Authorization", ""},
	{":pat", "/x", ":pathx", "/y", ":PATH", "/z", ":methox", "GET"},
	{"authorizatioN", "a", "authorizatiom", "b", "Buthorization", "c", "authorization\x00", "d"},
	{"origin", "", "ORIGIN", "o", "origim", "p", "access-control-request-method", "", "Access-Control-Request-Method", "GET"},
	{"x-scope-gate-subject", "s", "X-SCOPE-GATE-DECISION", "d", "x-scope-gate-subject-type", "t", "x-scope-gate-scopes", "c"},
	{strings.Repeat("x", 70), "long", "aUtHoRiZaTiOn", "Bearer a"},
	{"\xc1uthorization", "x", "authorizatio\xee", "y", "@uthorization", "z", "origi\xce", "w"},
}

func TestReadRequestMatchesReference(t *testing.T) {
	p := mustPolicy(t)
	for _, kv := range readRequestSeeds {
		b := pairs.EncodeStrings(kv...)
		r, present, err := p.ReadRequest(b)
		wr, wp, ok := readReference(p, b)
		if (err == nil) != ok || r != wr || present != wp {
			t.Errorf("%q: ReadRequest = %+v, %b, %v; reference %+v, %b, %v", kv, r, present, err, wr, wp, ok)
		}
	}
}

func TestReadRequestDoesNotAllocate(t *testing.T) {
	p := mustPolicy(t)
	b := pairs.EncodeStrings(readRequestSeeds[5]...)
	if n := testing.AllocsPerRun(100, func() { _, _, _ = p.ReadRequest(b) }); n != 0 {
		t.Fatalf("ReadRequest allocates %v times", n)
	}
}

// FuzzReadRequest holds ReadRequest to its reference on arbitrary buffers: the same request, the same
// spoofable names, the same refusals.
func FuzzReadRequest(f *testing.F) {
	for _, kv := range readRequestSeeds {
		f.Add(pairs.EncodeStrings(kv...))
	}
	f.Add([]byte{1, 0, 0})
	// A count of 2^31 or more: as a 32-bit int it is negative, which once read as "no headers".
	f.Add([]byte{0, 0, 0, 0x80, 1, 0, 0, 0, 1, 0, 0, 0, 'a', 0, 'b', 0})
	f.Add([]byte{1, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, ':', 'p', 'a', 't', 'h', 0, 0})
	p := mustPolicy(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, present, err := p.ReadRequest(b)
		wr, wp, ok := readReference(p, b)
		if (err == nil) != ok || r != wr || present != wp {
			t.Fatalf("ReadRequest = %+v, %b, %v; reference %+v, %b, %v", r, present, err, wr, wp, ok)
		}
	})
}

func BenchmarkReadRequest(b *testing.B) {
	p := mustPolicy(b)
	buf := pairs.EncodeStrings(":authority", "api.example", ":path", "/openapi/v1/x", ":method", "GET", ":scheme", "https",
		"authorization", "Bearer dfoa_CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC", "user-agent", "bench", "accept", "*/*")
	for i := 0; i < b.N; i++ {
		_, _, _ = p.ReadRequest(buf)
	}
}

// A configured identity header name of 64 bytes or more is still found (lengths share mask bits modulo 64).
func TestReadRequestLongSpoofableName(t *testing.T) {
	long := "x-" + strings.Repeat("s", 68)
	p, err := Parse([]byte(`{"upstream_headers":{"subject":"` + long + `"}}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{long, strings.ToUpper(long)} {
		_, present, err := p.ReadRequest(pairs.EncodeStrings(":path", "/", name, "forged", "x-"+strings.Repeat("s", 4), "a"))
		if err != nil || present&1 == 0 {
			t.Fatalf("%d-byte identity header %q not found: present %b, %v", len(name), name[:8], present, err)
		}
	}
}
