package stdgobridge

import (
	"runtime"
	"testing"
	"unsafe"
)

func addrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

func TestPinboardTake(t *testing.T) {
	tests := []struct {
		name      string
		allocs    []uint32
		pick      int // index of the allocation whose address is reported; -1: address 0; -2: a foreign address
		size      uint32
		wantOK    bool
		wantLen   int
		wantBytes byte
	}{
		{name: "single buffer, full size", allocs: []uint32{8}, pick: 0, size: 8, wantOK: true, wantLen: 8},
		{name: "single buffer, shorter result", allocs: []uint32{8}, pick: 0, size: 3, wantOK: true, wantLen: 3},
		{name: "second of two buffers", allocs: []uint32{4, 16}, pick: 1, size: 16, wantOK: true, wantLen: 16},
		{name: "empty result", allocs: nil, pick: -1, size: 0, wantOK: true, wantLen: 0},
		{name: "address 0 with a size is a host error", allocs: nil, pick: -1, size: 4, wantOK: false},
		{name: "size larger than the buffer", allocs: []uint32{4}, pick: 0, size: 5, wantOK: false},
		{name: "address not allocated here", allocs: []uint32{4}, pick: -2, size: 4, wantOK: false},
		{name: "zero-size allocation has an address", allocs: []uint32{0}, pick: 0, size: 0, wantOK: true, wantLen: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p pinboard
			var bufs [][]byte
			for _, n := range tc.allocs {
				b := p.alloc(n)
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
				addr = 0
			case -2:
				foreign := make([]byte, 4)
				addr = addrOf(foreign)
			default:
				addr = addrOf(bufs[tc.pick])
				if addr == 0 {
					t.Fatal("allocation has address 0")
				}
			}
			got, ok := p.take(addr, tc.size)
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
			if len(p.bufs) != 0 {
				t.Fatalf("take left %d buffers pinned", len(p.bufs))
			}
		})
	}
}

// TestPinboardKeepsBuffersAlive checks the property the bridge exists for: a buffer handed to the host survives
// garbage collections (and the heavy allocation that triggers them) until it is taken.
func TestPinboardKeepsBuffersAlive(t *testing.T) {
	var p pinboard
	buf := p.alloc(64)
	addr := addrOf(buf)
	for i := range buf {
		buf[i] = byte(i)
	}
	buf = nil // only the pinboard refers to it now
	for i := 0; i < 3; i++ {
		_ = make([]byte, 1<<20)
		runtime.GC()
	}
	got, ok := p.take(addr, 64)
	if !ok {
		t.Fatal("pinned buffer not found after GC")
	}
	for i, c := range got {
		if c != byte(i) {
			t.Fatalf("byte %d = %d after GC, want %d", i, c, i)
		}
	}
}

func TestPinboardReleaseDropsReferences(t *testing.T) {
	var p pinboard
	p.alloc(8)
	p.alloc(8)
	backing := p.bufs[:cap(p.bufs)]
	p.release()
	for i, b := range backing {
		if b != nil {
			t.Fatalf("slot %d still references a buffer after release", i)
		}
	}
}
