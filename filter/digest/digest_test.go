package digest

import (
	"strings"
	"testing"
)

func TestHash(t *testing.T) {
	// sha256("abc"), a published test vector.
	const want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	h := Sum("abc")
	if h.Hex() != want {
		t.Fatalf("Hex = %s", h.Hex())
	}
	if h.LogID() != want[:8] {
		t.Fatalf("LogID = %s", h.LogID())
	}
}

func TestParseHex(t *testing.T) {
	h := Sum("abc")
	for _, s := range []string{h.Hex(), strings.ToUpper(h.Hex())} {
		if got, ok := ParseHex(s); !ok || got != h {
			t.Fatalf("ParseHex(%s) = %x %v", s, got, ok)
		}
	}
	for _, bad := range []string{"", h.Hex()[:63], h.Hex() + "0", "g" + h.Hex()[1:], " " + h.Hex()[1:]} {
		if _, ok := ParseHex(bad); ok {
			t.Fatalf("ParseHex(%q) accepted", bad)
		}
	}
}
