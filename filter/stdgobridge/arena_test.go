package stdgobridge

import (
	"errors"
	"testing"
	"unsafe"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

func addrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

func TestArenaTake(t *testing.T) {
	tests := []struct {
		name    string
		allocs  []uint32
		pick    int // index of the allocation whose address is reported; -1: address 0; -2: a foreign address
		size    uint32
		wantOK  bool
		wantLen int
	}{
		{name: "single buffer, full size", allocs: []uint32{8}, pick: 0, size: 8, wantOK: true, wantLen: 8},
		{name: "single buffer, shorter result", allocs: []uint32{8}, pick: 0, size: 3, wantOK: true, wantLen: 3},
		{name: "second of two buffers", allocs: []uint32{4, 16}, pick: 1, size: 16, wantOK: true, wantLen: 16},
		{name: "empty result", allocs: nil, pick: -1, size: 0, wantOK: true, wantLen: 0},
		{name: "address 0 with a size is a host error", allocs: nil, pick: -1, size: 4, wantOK: false},
		{name: "size larger than what was allocated", allocs: []uint32{4}, pick: 0, size: 5, wantOK: false},
		{name: "address not allocated here", allocs: []uint32{4}, pick: -2, size: 4, wantOK: false},
		{name: "zero-size allocation has an address", allocs: []uint32{0}, pick: 0, size: 0, wantOK: true, wantLen: 0},
		{name: "oversized allocation", allocs: []uint32{arenaChunk + 1}, pick: 0, size: arenaChunk + 1, wantOK: true, wantLen: arenaChunk + 1},
		{name: "oversized, size past it", allocs: []uint32{arenaChunk + 1}, pick: 0, size: arenaChunk + 2, wantOK: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var a arena
			m := a.enter()
			defer a.leave(m)
			a.begin()
			var bufs [][]byte
			for _, n := range tc.allocs {
				b := allocBytes(&a, n)
				if len(b) != int(n) {
					t.Fatalf("alloc(%d) returned %d bytes", n, len(b))
				}
				for i := range b {
					b[i] = 0xAB // what a host would write
				}
				bufs = append(bufs, b)
			}
			var addr uintptr
			switch tc.pick {
			case -1:
			case -2:
				addr = addrOf(make([]byte, 4))
			default:
				if addr = addrOf(bufs[tc.pick]); addr == 0 {
					t.Fatal("allocation has address 0")
				}
			}
			got, ok := a.take(addr, tc.size)
			if ok != tc.wantOK {
				t.Fatalf("take ok = %v, want %v", ok, tc.wantOK)
			}
			if ok && len(got) != tc.wantLen {
				t.Fatalf("take len = %d, want %d", len(got), tc.wantLen)
			}
			for i, c := range got {
				if c != 0xAB {
					t.Fatalf("byte %d = %#x, the host's bytes were not returned", i, c)
				}
			}
		})
	}
}

// TestArenaTakeOnlyThisCall: room handed out for an earlier host call of the same callback is not accepted
// as the answer of a later one (a host answering with stale memory is a host error).
func TestArenaTakeOnlyThisCall(t *testing.T) {
	var a arena
	m := a.enter()
	a.begin()
	first := allocBytes(&a, 16)
	if _, ok := a.take(addrOf(first), 16); !ok {
		t.Fatal("first call's room refused")
	}
	a.begin()
	second := allocBytes(&a, 16)
	if _, ok := a.take(addrOf(first), 16); ok {
		t.Fatal("the previous call's room was accepted")
	}
	if _, ok := a.take(addrOf(second), 16); !ok {
		t.Fatal("second call's room refused")
	}
	a.leave(m)
}

// TestArenaNesting: a nested callback's room never overlaps what its caller still reads, and the room is
// reused once the outermost callback returns; oversized buffers are dropped then.
func TestArenaNesting(t *testing.T) {
	var a arena
	outer := a.enter()
	x := allocBytes(&a, 32)
	for i := range x {
		x[i] = 1
	}
	inner := a.enter()
	y := allocBytes(&a, 32)
	for i := range y {
		y[i] = 2
	}
	allocBytes(&a, arenaChunk) // does not fit: oversized
	if len(a.big) != 1 {
		t.Fatalf("%d oversized buffers, want 1", len(a.big))
	}
	a.leave(inner)
	for i, c := range x {
		if c != 1 {
			t.Fatalf("outer byte %d overwritten by the nested callback", i)
		}
	}
	z := allocBytes(&a, 32)
	if addrOf(z) != addrOf(y) {
		t.Fatal("the nested callback's room was not freed on its return")
	}
	a.leave(outer)
	if a.off != 0 || a.depth != 0 || len(a.big) != 0 {
		t.Fatalf("after the outermost callback: off %d depth %d big %d", a.off, a.depth, len(a.big))
	}
	next := a.enter()
	if w := allocBytes(&a, 32); addrOf(w) != addrOf(x) {
		t.Fatal("the next callback does not reuse the room")
	}
	a.leave(next)
}

// TestArenaAlignment: every allocation starts on an 8-byte boundary (the host writes u32/u64 values).
func TestArenaAlignment(t *testing.T) {
	var a arena
	m := a.enter()
	defer a.leave(m)
	for _, n := range []uint32{1, 3, 7, 9, 0, 5} {
		if addr := addrOf(allocBytes(&a, n)); addr%8 != 0 {
			t.Fatalf("alloc(%d) at %#x, not 8-byte aligned", n, addr)
		}
	}
}

func TestDecodePairs(t *testing.T) {
	enc := SerializeHeaders([][2]string{{":path", "/a"}, {"authorization", "Bearer x"}, {"empty", ""}})
	got, err := decodePairs(enc, nil)
	if err != nil || len(got) != 3 || got[0] != [2]string{":path", "/a"} || got[1][1] != "Bearer x" || got[2] != [2]string{"empty", ""} {
		t.Fatalf("decodePairs = %q, %v", got, err)
	}
	// Cut anywhere, even inside the count: an error, never a panic, and never "not found" (the plugin reads
	// a missing map as "no headers": a truncated one must fail the request, not skip anti-spoofing).
	for cut := 1; cut < len(enc); cut++ {
		if _, err := decodePairs(enc[:cut], nil); err == nil || errors.Is(err, types.ErrorStatusNotFound) {
			t.Fatalf("a map cut at %d of %d bytes: err %v, want an internal failure", cut, len(enc), err)
		}
	}
	bad := append([]byte(nil), enc...)
	bad[len(bad)-1] = 'x' // last NUL missing
	if _, err := decodePairs(bad, nil); err == nil {
		t.Fatal("a value without its NUL decoded")
	}
}

// TestArenaNestedCallbackKeepsCallerResult: a host may run a nested callback of the guest while one of its
// functions is in progress (proxy-wasm allows it), after it asked for the room of that function's result.
// The nested callback's own host calls must not make the caller's result unreadable: the caller's call
// window (begin) survives the nested callback. Without it the outer host call's answer is refused, and the
// request fails with a 500 it did not deserve.
func TestArenaNestedCallbackKeepsCallerResult(t *testing.T) {
	for _, size := range []uint32{16, arenaChunk + 1} { // in the chunk, and oversized (kept in big)
		var a arena
		outer := a.enter()
		a.begin()                    // the caller's host call starts
		result := allocBytes(&a, 16) // the host asks room for its answer...
		if size > arenaChunk {
			result = allocBytes(&a, size)
		}
		inner := a.enter() // ...then runs a nested callback, which makes host calls of its own
		a.begin()
		allocBytes(&a, 8)
		a.begin()
		allocBytes(&a, arenaChunk+8)
		a.leave(inner)
		got, ok := a.take(addrOf(result), uint32(len(result)))
		if !ok || len(got) != len(result) {
			t.Fatalf("size %d: the caller's result was refused after a nested callback", size)
		}
		a.leave(outer)
	}
}

// allocBytes is the room proxy_on_memory_allocate hands the host (bump, else allocSlow), as a slice of size
// bytes.
func allocBytes(a *arena, size uint32) []byte {
	p := a.bump(size)
	if p == nil {
		p = a.allocSlow(size)
	}
	return unsafe.Slice((*byte)(p), size)
}
