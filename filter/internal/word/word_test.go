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
