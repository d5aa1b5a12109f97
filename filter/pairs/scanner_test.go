package pairs

import (
	"testing"
)

// scanAll collects what a Scanner reads of buf.
func scanAll(buf []byte) ([][2]string, error) {
	var out [][2]string
	s := NewScanner(buf)
	for s.Next() {
		out = append(out, [2]string{s.Key, s.Value})
	}
	return out, s.Err()
}

func TestScannerReadsWhatDecodeReads(t *testing.T) {
	for _, kv := range [][]string{
		{},
		{":path", "/a"},
		{":method", "GET", ":path", "/x?y", "authorization", "Bearer t", "empty", ""},
		{"", ""},
	} {
		buf := EncodeStrings(kv...)
		got, err := scanAll(buf)
		if err != nil {
			t.Fatalf("%q: %v", kv, err)
		}
		if len(got) != len(kv)/2 {
			t.Fatalf("%q: %d pairs", kv, len(got))
		}
		for i := range got {
			if got[i][0] != kv[2*i] || got[i][1] != kv[2*i+1] {
				t.Fatalf("%q: pair %d = %q", kv, i, got[i])
			}
		}
	}
}

func TestScannerEmptyIsNoPairs(t *testing.T) {
	if got, err := scanAll(nil); err != nil || len(got) != 0 {
		t.Fatalf("nil: %q, %v", got, err)
	}
}

func TestScannerMalformed(t *testing.T) {
	good := EncodeStrings("authorization", "Bearer t", ":path", "/")
	cases := map[string]struct {
		buf  []byte
		want error
	}{
		"1 byte":        {good[:1], ErrShort},
		"3 bytes":       {good[:3], ErrShort},
		"count too big": {append([]byte{0xff, 0, 0, 0}, good[4:]...), ErrCount},
		"truncated":     {good[:len(good)-1], ErrLength},
		"no terminator": {func() []byte { b := append([]byte(nil), good...); b[len(b)-1] = 'x'; return b }(), ErrNUL},
		"size past end": {func() []byte { b := append([]byte(nil), good...); b[8] = 0xff; return b }(), ErrLength},
		"huge key size": {func() []byte {
			b := append([]byte(nil), good...)
			b[4], b[5], b[6], b[7] = 0xff, 0xff, 0xff, 0xff
			return b
		}(), ErrLength},
		"key not ending": {func() []byte { b := append([]byte(nil), good...); b[4+16+len("authorization")] = 'x'; return b }(), ErrNUL},
	}
	for name, c := range cases {
		got, err := scanAll(c.buf)
		if err != c.want {
			t.Errorf("%s: err = %v, want %v (read %q)", name, err, c.want, got)
		}
	}
}

// FuzzScanner holds the scanner to Decode: on any buffer, both accept the same pairs or both refuse (Decode
// also refuses trailing bytes, which the scanner does not look at).
func FuzzScanner(f *testing.F) {
	f.Add(EncodeStrings("a", "b", "c", ""))
	f.Add([]byte{1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 'a', 0, 'b', 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, buf []byte) {
		got, err := scanAll(buf)
		want, derr := Decode(buf, nil)
		if len(buf) == 0 {
			if err != nil || len(got) != 0 {
				t.Fatalf("empty: %q, %v", got, err)
			}
			return
		}
		if derr == ErrTrailing {
			derr = nil
		}
		if (err == nil) != (derr == nil) {
			t.Fatalf("scanner err %v, Decode err %v", err, derr)
		}
		if err != nil {
			return
		}
		if len(got) != len(want) {
			t.Fatalf("scanner read %d pairs, Decode %d", len(got), len(want))
		}
		for i := range got {
			if got[i][0] != string(want[i].Key) || got[i][1] != string(want[i].Value) {
				t.Fatalf("pair %d: %q vs %q", i, got[i], want[i])
			}
		}
	})
}
