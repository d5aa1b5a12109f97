package stdgobridge

import "unsafe"

// pinboard keeps the buffers that proxy_on_memory_allocate handed to the host referenced by Go until the host
// call that requested them has returned. The host writes into them after allocation returns and before it
// reports their address, so Go must not see them as garbage in between.
//
// The wasm guest is single-threaded and only one host call is in progress at a time, so one board suffices.
type pinboard struct {
	bufs [][]byte
}

// alloc returns a new zeroed buffer of size bytes and pins it. A zero-size request still gets a distinct,
// valid address (a 1-byte buffer) because the ABI treats address 0 as "no data".
func (p *pinboard) alloc(size uint32) []byte {
	n := size
	if n == 0 {
		n = 1
	}
	buf := make([]byte, n)
	p.bufs = append(p.bufs, buf)
	return buf[:size:n]
}

// take returns the pinned buffer that starts at addr, cut to size, and unpins everything: the caller now holds
// the only reference that matters. It reports false when addr is not the start of a pinned buffer or size
// exceeds it, which means the host returned memory this guest did not allocate for it. addr 0 with size 0 is
// the ABI's "empty result" and yields (nil, true).
func (p *pinboard) take(addr uintptr, size uint32) ([]byte, bool) {
	defer p.release()
	if addr == 0 {
		return nil, size == 0
	}
	for _, buf := range p.bufs {
		if uintptr(unsafe.Pointer(unsafe.SliceData(buf))) == addr {
			if uint64(size) > uint64(cap(buf)) {
				return nil, false
			}
			return buf[:size:size], true
		}
	}
	return nil, false
}

// release unpins every buffer. Slots are cleared so that the backing array does not keep them alive.
func (p *pinboard) release() {
	clear(p.bufs)
	p.bufs = p.bufs[:0]
}
