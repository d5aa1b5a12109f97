package digest

import (
	"encoding/binary"

	"github.com/scope-gate/scope-gate/filter/internal/word"
)

// Index finds a hash among a fixed set of hashes, built once (at configuration time) and read on the
// request path. It is an open-addressed table probed by the hash's own first eight bytes: a SHA-256 is
// already uniform, so it needs no second hash function, and a lookup is a few loads and compares with no call
// into the runtime's map code (which, in the wasm build, hashes the 32-byte key again in software and
// compares it through memequal: about 0.15 µs and a cold code path per request, measured in PERFORMANCE.md).
//
// Request hashes are of attacker-chosen tokens, but choosing a token whose SHA-256 lands in a given slot
// costs a preimage search per probe, and the table is at most half full: a probe sequence stays short.
type Index struct {
	mask  uint64
	slots []int32 // 1 + position in keys; 0 is an empty slot
	keys  []Hash
}

// NewIndex indexes keys; Find returns a key's position in keys. Keys must be distinct.
func NewIndex(keys []Hash) *Index {
	size := 8
	for size < 2*len(keys) {
		size *= 2
	}
	ix := &Index{mask: uint64(size - 1), slots: make([]int32, size), keys: append([]Hash(nil), keys...)}
	for pos := range ix.keys {
		i := ix.home(&ix.keys[pos])
		for ix.slots[i] != 0 {
			i = (i + 1) & ix.mask
		}
		ix.slots[i] = int32(pos + 1)
	}
	return ix
}

func (ix *Index) home(h *Hash) uint64 { return binary.LittleEndian.Uint64(h[:8]) & ix.mask }

// Len is the number of keys.
func (ix *Index) Len() int { return len(ix.keys) }

// Find returns the position of h in the keys the index was built from, or false.
func (ix *Index) Find(h *Hash) (int, bool) {
	i := ix.home(h)
	for {
		s := ix.slots[i&ix.mask]
		if s == 0 {
			return 0, false
		}
		if k := &ix.keys[s-1]; Equal(k, h) {
			return int(s - 1), true
		}
		i++
	}
}

// Equal compares two hashes, as four words where loads need no alignment (word.Equal32; a == on [32]byte
// calls memequal in the wasm build).
func Equal(a, b *Hash) bool { return word.Equal32((*[32]byte)(a), (*[32]byte)(b)) }
