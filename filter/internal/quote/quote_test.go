package quote

import (
	"strconv"
	"testing"
)

// On ASCII, String is strconv.Quote; every other byte is a \xNN escape, never raw.
func TestString(t *testing.T) {
	for c := 0; c < 0x80; c++ {
		s := "a" + string(rune(c)) + "b"
		if got, want := String(s), strconv.Quote(s); got != want {
			t.Errorf("String(%q) = %s, want %s", s, got, want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"é", `"\xc3\xa9"`},
		{"\xff", `"\xff"`},
		{"\x1b[31m", `"\x1b[31m"`},
		{"", `""`},
	} {
		if got := String(tc.in); got != tc.want {
			t.Errorf("String(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func FuzzString(f *testing.F) {
	f.Add("route \"x\"\n\x00é")
	f.Fuzz(func(t *testing.T, s string) {
		q := String(s)
		for i := 0; i < len(q); i++ {
			if q[i] < 0x20 || q[i] >= 0x7f {
				t.Fatalf("String(%q) = %q holds byte %#x", s, q, q[i])
			}
		}
		// The quoting is reversible: strconv reads every escape it writes.
		if back, err := strconv.Unquote(q); err != nil || back != s {
			t.Fatalf("Unquote(String(%q)) = %q, %v", s, back, err)
		}
	})
}

// On ASCII, Byte is strconv.QuoteRune; any other byte is '\xNN'.
func TestByte(t *testing.T) {
	for c := 0; c < 0x80; c++ {
		if got, want := Byte(byte(c)), strconv.QuoteRune(rune(c)); got != want {
			t.Errorf("Byte(%#x) = %s, want %s", c, got, want)
		}
	}
	if got := Byte(0xe9); got != `'\xe9'` {
		t.Errorf("Byte(0xe9) = %s", got)
	}
}
