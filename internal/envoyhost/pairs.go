package envoyhost

import (
	"encoding/binary"
	"strconv"
)

// status is a proxy-wasm WasmResult.
type status uint32

const (
	statusOK                   status = 0
	statusNotFound             status = 1
	statusBadArgument          status = 2
	statusSerializationFailure status = 3
	statusParseFailure         status = 4
	statusInvalidMemoryAccess  status = 6
	statusEmpty                status = 7
	statusCasMismatch          status = 8
	statusInternalFailure      status = 10
	statusUnimplemented        status = 12
)

func (s status) String() string {
	switch s {
	case statusOK:
		return "Ok"
	case statusNotFound:
		return "NotFound"
	case statusBadArgument:
		return "BadArgument"
	case statusSerializationFailure:
		return "SerializationFailure"
	case statusParseFailure:
		return "ParseFailure"
	case statusInvalidMemoryAccess:
		return "InvalidMemoryAccess"
	case statusEmpty:
		return "Empty"
	case statusCasMismatch:
		return "CasMismatch"
	case statusInternalFailure:
		return "InternalFailure"
	case statusUnimplemented:
		return "Unimplemented"
	}
	return "Status(" + strconv.Itoa(int(s)) + ")"
}

// header is one header map entry. Names are stored lower-cased, as Envoy's
// codec and LowerCaseString do.
type header struct{ k, v string }

// appendPairs encodes a header map in the proxy-wasm pairs format:
// u32 count, count×(u32 key_len, u32 value_len), then each key\0value\0.
func appendPairs(dst []byte, hs []header) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(hs)))
	for _, h := range hs {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(h.k)))
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(h.v)))
	}
	for _, h := range hs {
		dst = append(dst, h.k...)
		dst = append(dst, 0)
		dst = append(dst, h.v...)
		dst = append(dst, 0)
	}
	return dst
}

// appendPairsBytes is appendPairs for already-encoded keys and values (the
// property encoder builds nested values as bytes).
func appendPairsBytes(dst []byte, keys, vals [][]byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(keys)))
	for i := range keys {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(keys[i])))
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(vals[i])))
	}
	for i := range keys {
		dst = append(dst, keys[i]...)
		dst = append(dst, 0)
		dst = append(dst, vals[i]...)
		dst = append(dst, 0)
	}
	return dst
}

// decodePairs parses the pairs format with bounds checks; ok is false for a
// malformed buffer. An empty buffer is an empty map, as in cpp-host.
func decodePairs(b []byte, lowerKeys bool) ([]header, bool) {
	if len(b) == 0 {
		return nil, true
	}
	if len(b) < 4 {
		return nil, false
	}
	n := binary.LittleEndian.Uint32(b)
	if uint64(n)*8+4 > uint64(len(b)) {
		return nil, false
	}
	sizes := b[4:]
	data := b[4+8*int(n):]
	out := make([]header, 0, n)
	for i := 0; i < int(n); i++ {
		kl := int(binary.LittleEndian.Uint32(sizes[8*i:]))
		vl := int(binary.LittleEndian.Uint32(sizes[8*i+4:]))
		if kl+vl+2 > len(data) || kl < 0 || vl < 0 {
			return nil, false
		}
		k := string(data[:kl])
		if lowerKeys {
			k = lower(k)
		}
		v := string(data[kl+1 : kl+1+vl])
		data = data[kl+vl+2:]
		out = append(out, header{k, v})
	}
	return out, true
}

// lower lower-cases ASCII without allocating when s already is lower case.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// eqLower reports whether the guest bytes b equal the lower-case name s,
// ignoring ASCII case, without allocating.
func eqLower(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

func headerBytes(hs []header) uint32 {
	n := 0
	for _, h := range hs {
		n += len(h.k) + len(h.v)
	}
	return uint32(n)
}

func toHeaders(in [][2]string) []header {
	out := make([]header, 0, len(in))
	for _, kv := range in {
		out = append(out, header{lower(kv[0]), kv[1]})
	}
	return out
}

func fromHeaders(in []header) [][2]string {
	out := make([][2]string, 0, len(in))
	for _, h := range in {
		out = append(out, [2]string{h.k, h.v})
	}
	return out
}

func getFirst(hs []header, name string) (string, bool) {
	for _, h := range hs {
		if h.k == name {
			return h.v, true
		}
	}
	return "", false
}
