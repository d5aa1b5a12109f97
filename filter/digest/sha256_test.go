package digest

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func TestSum256Vectors(t *testing.T) {
	tests := []struct{ in, want string }{
		// FIPS 180-2 appendix B and the empty message.
		{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
		{strings.Repeat("a", 1000000), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
	}
	for _, tc := range tests {
		got := sum256Of([]byte(tc.in))
		if hex.EncodeToString(got[:]) != tc.want {
			t.Errorf("sum256Of(%d bytes) = %x, want %s", len(tc.in), got, tc.want)
		}
	}
}

// TestSum256Lengths covers every padding case (55, 56, 63, 64 bytes and beyond) against crypto/sha256.
func TestSum256Lengths(t *testing.T) {
	buf := make([]byte, 300)
	for i := range buf {
		buf[i] = byte(i*7 + 3)
	}
	for n := 0; n <= len(buf); n++ {
		if got, want := sum256Of(buf[:n]), sha256.Sum256(buf[:n]); got != want {
			t.Fatalf("length %d: %x, want %x", n, got, want)
		}
	}
}

func FuzzSum256(f *testing.F) {
	f.Add([]byte("dfoa_abc"))
	f.Add(make([]byte, 56))
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := sum256Of(b), sha256.Sum256(b); got != want {
			t.Fatalf("sum256Of(%x) = %x, want %x", b, got, want)
		}
	})
}

// BenchmarkSum is one token hash (a reference token: 48 bytes, one SHA-256 block).
func BenchmarkSum(b *testing.B) {
	tok := "dfoa_" + strings.Repeat("A", 43)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = Sum(tok)
	}
}

// sum256Of returns sum256's digest of msg.
func sum256Of(msg []byte) (h [32]byte) {
	sum256(&h, string(msg))
	return h
}
