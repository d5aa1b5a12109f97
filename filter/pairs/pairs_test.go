package pairs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func u32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		buf     []byte
		want    []string // alternating keys and values
		wantErr error
	}{
		{name: "empty map", buf: u32(0), want: nil},
		{name: "two pairs", buf: EncodeStrings("auth", "bearer", "required_scope", "apps:read"), want: []string{"auth", "bearer", "required_scope", "apps:read"}},
		{name: "empty key and value (a list item)", buf: EncodeStrings("x", ""), want: []string{"x", ""}},
		{name: "value with NUL inside is kept", buf: cat(u32(1), u32(1), u32(3), []byte("k\x00a\x00b\x00")), want: []string{"k", "a\x00b"}},
		{name: "nil buffer", buf: nil, wantErr: ErrShort},
		{name: "three bytes", buf: []byte{1, 0, 0}, wantErr: ErrShort},
		{name: "count beyond buffer", buf: cat(u32(1)), wantErr: ErrCount},
		{name: "huge count", buf: cat(u32(0xFFFFFFFF), make([]byte, 16)), wantErr: ErrCount},
		{name: "key length past end", buf: cat(u32(1), u32(100), u32(0), []byte("k\x00\x00")), wantErr: ErrLength},
		{name: "key length wraps u32", buf: cat(u32(1), u32(0xFFFFFFFF), u32(0), []byte("k\x00\x00")), wantErr: ErrLength},
		{name: "value length past end", buf: cat(u32(1), u32(1), u32(9), []byte("k\x00v\x00")), wantErr: ErrLength},
		{name: "missing key terminator", buf: cat(u32(1), u32(1), u32(1), []byte("kXv\x00")), wantErr: ErrNUL},
		{name: "missing value terminator", buf: cat(u32(1), u32(1), u32(1), []byte("k\x00vX")), wantErr: ErrNUL},
		{name: "trailing byte", buf: append(EncodeStrings("k", "v"), 0), wantErr: ErrTrailing},
		{name: "no terminator at the very end", buf: cat(u32(1), u32(1), u32(2), []byte("k\x00vv")), wantErr: ErrLength},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode(tc.buf, nil)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			var flat []string
			for _, p := range got {
				flat = append(flat, string(p.Key), string(p.Value))
			}
			if len(flat) != len(tc.want) {
				t.Fatalf("got %q, want %q", flat, tc.want)
			}
			for i := range flat {
				if flat[i] != tc.want[i] {
					t.Fatalf("got %q, want %q", flat, tc.want)
				}
			}
		})
	}
}

func TestDecodeReusesDst(t *testing.T) {
	dst := make([]Pair, 0, 4)
	buf := EncodeStrings("a", "1", "b", "2")
	got, err := Decode(buf, dst)
	if err != nil || len(got) != 2 {
		t.Fatalf("Decode = %v, %v", got, err)
	}
	allocs := testing.AllocsPerRun(100, func() { got, _ = Decode(buf, got[:0]) })
	if allocs != 0 {
		t.Fatalf("Decode into a reused slice allocated %v times", allocs)
	}
}

// FuzzDecode: never panic, never return slices outside the buffer, and round-trip what it accepts.
func FuzzDecode(f *testing.F) {
	f.Add(EncodeStrings("auth", "bearer", "required_scope", "apps:read apps:run"))
	f.Add(u32(0))
	f.Add(cat(u32(2), u32(1), u32(1), []byte("k\x00v\x00")))
	f.Add(cat(u32(1), u32(0xFFFFFFF0), u32(0x20), []byte("k\x00v\x00")))
	f.Fuzz(func(t *testing.T, buf []byte) {
		got, err := Decode(buf, nil)
		if err != nil {
			return
		}
		if again := Encode(got); !bytes.Equal(again, buf) {
			t.Fatalf("round trip differs:\n in  %x\n out %x", buf, again)
		}
	})
}
