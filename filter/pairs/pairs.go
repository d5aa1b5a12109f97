// Package pairs decodes and encodes the proxy-wasm "pairs" serialization that Envoy uses for header maps and
// for structured property values (a route's filter_metadata block, for instance):
//
//	u32 count, then count × (u32 key_len, u32 value_len), then for each pair key bytes, NUL, value bytes, NUL
//
// all little-endian. Property values arrive from the host without type tags, so a decoder that trusts the
// lengths can be made to read out of bounds or panic; this one checks every length against the buffer and
// rejects trailing bytes. The SDK's own GetPropertyMap indexes without checking.
package pairs

import (
	"encoding/binary"
	"errors"
	"strconv"
)

// Pair is one key/value; both alias the decoded buffer.
type Pair struct {
	Key, Value []byte
}

// Errors returned by Decode; they carry no input bytes so they are safe to log.
var (
	ErrShort    = errors.New("pairs: buffer shorter than its header")
	ErrCount    = errors.New("pairs: count larger than the buffer can hold")
	ErrLength   = errors.New("pairs: a key or value runs past the end of the buffer")
	ErrNUL      = errors.New("pairs: a key or value is not NUL-terminated")
	ErrTrailing = errors.New("pairs: trailing bytes after the last pair")
)

// minPairSize is the smallest encoding of one pair: two u32 lengths and two NUL terminators.
const minPairSize = 4 + 4 + 1 + 1

// Decode parses buf and appends its pairs to dst (pass dst[:0] of a reused slice to avoid allocating).
func Decode(buf []byte, dst []Pair) ([]Pair, error) {
	if len(buf) < 4 {
		return dst, ErrShort
	}
	count := uint64(binary.LittleEndian.Uint32(buf))
	if count > uint64(len(buf)-4)/minPairSize {
		return dst, ErrCount
	}
	sizes := buf[4 : 4+8*count]
	data := uint64(4 + 8*count)
	end := uint64(len(buf))
	for i := uint64(0); i < count; i++ {
		keyLen := uint64(binary.LittleEndian.Uint32(sizes[8*i:]))
		valueLen := uint64(binary.LittleEndian.Uint32(sizes[8*i+4:]))
		key, next, err := field(buf, data, keyLen, end)
		if err != nil {
			return dst, err
		}
		value, next, err := field(buf, next, valueLen, end)
		if err != nil {
			return dst, err
		}
		data = next
		dst = append(dst, Pair{Key: key, Value: value})
	}
	if data != end {
		return dst, ErrTrailing
	}
	return dst, nil
}

// field returns buf[at:at+n] and the offset after its NUL terminator.
func field(buf []byte, at, n, end uint64) ([]byte, uint64, error) {
	if n >= end || at+n >= end { // the terminator needs one more byte
		return nil, 0, ErrLength
	}
	if buf[at+n] != 0 {
		return nil, 0, ErrNUL
	}
	return buf[at : at+n : at+n], at + n + 1, nil
}

// Encode serializes pairs; used by tests and tools (the host encodes for the filter in production).
func Encode(ps []Pair) []byte {
	size := 4
	for _, p := range ps {
		size += 8 + len(p.Key) + len(p.Value) + 2
	}
	out := make([]byte, 4+8*len(ps), size)
	binary.LittleEndian.PutUint32(out, uint32(len(ps)))
	for i, p := range ps {
		binary.LittleEndian.PutUint32(out[4+8*i:], uint32(len(p.Key)))
		binary.LittleEndian.PutUint32(out[8+8*i:], uint32(len(p.Value)))
	}
	for _, p := range ps {
		out = append(out, p.Key...)
		out = append(out, 0)
		out = append(out, p.Value...)
		out = append(out, 0)
	}
	return out
}

// EncodeStrings is Encode for string pairs.
func EncodeStrings(kv ...string) []byte {
	if len(kv)%2 != 0 {
		panic("pairs.EncodeStrings: odd number of arguments " + strconv.Itoa(len(kv)))
	}
	ps := make([]Pair, 0, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		ps = append(ps, Pair{Key: []byte(kv[i]), Value: []byte(kv[i+1])})
	}
	return Encode(ps)
}
