package word

import (
	"encoding/binary"
	"testing"
)

func TestLoadsAreLittleEndian(t *testing.T) {
	b := []byte("0123456789abcdef")
	for i := 0; i+8 <= len(b); i++ {
		if got, want := Bytes64(b, i), binary.LittleEndian.Uint64(b[i:]); got != want {
			t.Fatalf("Bytes64(%d) = %x, want %x", i, got, want)
		}
		if got, want := String64(string(b), i), binary.LittleEndian.Uint64(b[i:]); got != want {
			t.Fatalf("String64(%d) = %x, want %x", i, got, want)
		}
		if got, want := Bytes32(b, i), binary.LittleEndian.Uint32(b[i:]); got != want {
			t.Fatalf("Bytes32(%d) = %x, want %x", i, got, want)
		}
		if got, want := String32(string(b), i), binary.LittleEndian.Uint32(b[i:]); got != want {
			t.Fatalf("String32(%d) = %x, want %x", i, got, want)
		}
	}
	if got, want := Of("bearer "), binary.LittleEndian.Uint64([]byte("bearer \x00")); got != want {
		t.Fatalf("Of = %x, want %x", got, want)
	}
	if got := Of("0123456789"); got != binary.LittleEndian.Uint64(b) {
		t.Fatalf("Of of a long string = %x", got)
	}
	if Mask(0) != 0 || Mask(3) != 0xffffff || Mask(8) != ^uint64(0) {
		t.Fatal("Mask")
	}
}

func TestEqual(t *testing.T) {
	base := "0123456789abcdefghijklmnopq"
	for n := 0; n <= len(base); n++ {
		a := base[:n]
		if !Equal(a, string([]byte(a))) {
			t.Fatalf("len %d: equal strings differ", n)
		}
		for i := 0; i < n; i++ {
			b := []byte(a)
			b[i] ^= 1
			if Equal(a, string(b)) {
				t.Fatalf("len %d: byte %d differs but Equal is true", n, i)
			}
		}
		if n > 0 && Equal(a, base[:n-1]) {
			t.Fatalf("len %d: a shorter string compares equal", n)
		}
	}
}

func TestEqualFoldASCII(t *testing.T) {
	for _, tc := range []struct {
		s, lower string
		want     bool
	}{
		{"Authorization", "authorization", true},
		{"AUTHORIZATION", "authorization", true},
		{"authorizatio", "authorization", false},
		{"authorizatioN", "authorization", true},
		{"@uthorization", "authorization", false},
		{"\xc1uthorization", "authorization", false},
		{"", "", true},
	} {
		if got := EqualFoldASCII(tc.s, tc.lower); got != tc.want {
			t.Errorf("EqualFoldASCII(%q, %q) = %v", tc.s, tc.lower, got)
		}
	}
}

func TestEqual32(t *testing.T) {
	var a, b [32]byte
	for i := range a {
		a[i], b[i] = byte(i), byte(i)
	}
	if !Equal32(&a, &b) {
		t.Fatal("equal arrays differ")
	}
	for i := range b {
		c := b
		c[i] ^= 0x10
		if Equal32(&a, &c) {
			t.Fatalf("byte %d differs but Equal32 is true", i)
		}
	}
}

// FuzzEqual holds Equal to == on arbitrary pairs, of equal lengths too (the second string is the first with
// one byte changed, when the fuzzer asks for it).
func FuzzEqual(f *testing.F) {
	f.Add("apps:read", "apps:read", -1)
	f.Add("0123456789abcdef0123456789abcdefg", "0123456789abcdef0123456789abcdefg", 32)
	f.Add("full", "fulL", -1)
	f.Fuzz(func(t *testing.T, a, b string, flip int) {
		if flip >= 0 && flip < len(a) {
			c := []byte(a)
			c[flip] ^= 0x20
			b = string(c)
		}
		if got, want := Equal(a, b), a == b; got != want {
			t.Fatalf("Equal(%q, %q) = %v", a, b, got)
		}
		if !Equal(a, a) {
			t.Fatalf("Equal(%q, itself) = false", a)
		}
	})
}
