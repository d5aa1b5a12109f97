package pairs

import (
	"encoding/binary"
	"unsafe"
)

// Scanner reads a pairs encoding one pair at a time, in place: Key and Value are strings viewing the
// buffer (valid as long as it is), so a request's headers are read in one pass with no copy and no slice of
// pairs. Every size is checked against the buffer as Decode checks it; a malformed buffer stops the scan
// with Err set, never with a partial pair. Trailing bytes after the last pair are not looked at (a header
// map handed over by the host is read as far as its count says).
type Scanner struct {
	buf        []byte
	left       uint64 // pairs not yet read
	sizes      uint64 // offset of the next pair's two sizes
	data       uint64 // offset of the next pair's key
	Key, Value string
	err        error
}

// NewScanner starts a scan of buf. An empty buf holds no pairs (the host's "no map"); a buffer of 1 to 3
// bytes, or whose count cannot fit, is malformed.
func NewScanner(buf []byte) Scanner {
	if len(buf) == 0 {
		return Scanner{}
	}
	if len(buf) < 4 {
		return Scanner{err: ErrShort}
	}
	count := uint64(binary.LittleEndian.Uint32(buf))
	if count > uint64(len(buf)-4)/minPairSize {
		return Scanner{err: ErrCount}
	}
	return Scanner{buf: buf, left: count, sizes: 4, data: 4 + 8*count}
}

// Next reads the next pair into Key and Value; false at the end or on a malformed pair (see Err).
func (s *Scanner) Next() bool {
	if s.left == 0 || s.err != nil {
		return false
	}
	b := s.buf
	end := uint64(len(b))
	keyLen := uint64(binary.LittleEndian.Uint32(b[s.sizes:]))
	valueLen := uint64(binary.LittleEndian.Uint32(b[s.sizes+4:]))
	k, v := s.data, s.data+keyLen+1
	// Each field needs its bytes and a NUL inside the buffer; sizes are at most 2^32-1, so the sums below
	// cannot overflow.
	if k+keyLen >= end || b[k+keyLen] != 0 || v+valueLen >= end || b[v+valueLen] != 0 {
		s.err = ErrLength
		if k+keyLen < end && v+valueLen < end {
			s.err = ErrNUL
		}
		s.Key, s.Value = "", ""
		return false
	}
	s.Key, s.Value = view(b, k, keyLen), view(b, v, valueLen)
	s.sizes += 8
	s.data = v + valueLen + 1
	s.left--
	return true
}

// Err is why the scan stopped early, or nil.
func (s *Scanner) Err() error { return s.err }

func view(b []byte, at, n uint64) string {
	if n == 0 {
		return ""
	}
	return unsafe.String(&b[at], int(n))
}
