package digest

import (
	"strconv"
	"testing"
)

func TestIndex(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 4, 5, 7, 8, 9, 100, 1000} {
		keys := make([]Hash, n)
		for i := range keys {
			keys[i] = Sum("token-" + strconv.Itoa(i))
		}
		ix := NewIndex(keys)
		if ix.Len() != n {
			t.Fatalf("n=%d: Len = %d", n, ix.Len())
		}
		for i := range keys {
			if pos, ok := ix.Find(&keys[i]); !ok || pos != i {
				t.Fatalf("n=%d: Find(key %d) = %d, %v", n, i, pos, ok)
			}
		}
		for i := 0; i < 2000; i++ {
			h := Sum("other-" + strconv.Itoa(i))
			if pos, ok := ix.Find(&h); ok {
				t.Fatalf("n=%d: Find(absent %d) = %d", n, i, pos)
			}
		}
	}
}

// TestIndexCollidingHomes: keys that share their home slot (same first eight bytes) and differ only in the
// last byte are each found, and a hash that differs from all of them in any word is not.
func TestIndexCollidingHomes(t *testing.T) {
	var keys []Hash
	for i := 0; i < 5; i++ {
		var h Hash
		h[31] = byte(i)
		keys = append(keys, h)
	}
	ix := NewIndex(keys)
	for i := range keys {
		if pos, ok := ix.Find(&keys[i]); !ok || pos != i {
			t.Fatalf("Find(key %d) = %d, %v", i, pos, ok)
		}
	}
	for word := 0; word < 4; word++ {
		h := keys[0]
		h[8*word+1] ^= 0x40
		if pos, ok := ix.Find(&h); ok {
			t.Fatalf("a hash differing in word %d matched key %d", word, pos)
		}
	}
}
