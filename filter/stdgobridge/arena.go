package stdgobridge

import "unsafe"

// arena serves proxy_on_memory_allocate, the guest's malloc, without a Go allocation per host call.
//
// What the host asks room for (request headers, a route's metadata block, a shared-data entry) is read
// during the guest callback that made the host call and never after: the plugin decides, then drops it.
// So the room comes from one fixed chunk, handed out by bumping an offset, and the offset goes back when the
// callback returns. The next callback reuses the same bytes.
//
// The GC-safety argument of the bridge (docs/rationale.md, "Standard Go, not TinyGo, through a bridge
// module" and "An allocation-free request path") holds:
//   - every byte handed to the host is referenced from Go for as long as the host may write it: the chunk is
//     referenced by the package-level arena for the life of the VM, and an allocation too large for it
//     (kept in big) stays referenced until the outermost callback returns, which is after the host call
//     that asked for it has returned;
//   - nothing moves: Go's heap does not move objects, and the chunk never changes once made;
//   - the address the host reports back is re-attached to a Go slice by bounds arithmetic on the chunk or by
//     finding it among big: no integer is ever converted back into a pointer.
//
// What it adds: memory returned by a host call is valid only until the callback that made the call returns.
// Anything that must outlive it (a token kept for a remote validation, a pending call's state) must be
// copied out; the plugin keeps nothing of it (see filter/wasm/plugin and docs/rationale.md).
//
// The wasm guest is single-threaded. Callbacks can nest (a host call that triggers another callback of the
// guest, which proxy-wasm allows): a marked callback (exports_wasip1.go: those in which the plugin reads
// host data) marks the offset on entry and restores it on return, so a nested callback never reuses room its
// caller still reads. An unmarked callback only ever bumps the offset; its room is freed when a marked
// callback returns at the outermost level, by which time the unmarked one has returned too.
type arena struct {
	chunk []byte   // made once, arenaChunk bytes
	base  uintptr  // the chunk's address (0 until it is made)
	off   int      // first free byte of chunk
	big   [][]byte // allocations that did not fit, referenced until the outermost callback returns
	depth int      // callbacks in progress

	callOff int // off when the current host call began: its allocations lie in chunk[callOff:off]
	callBig int // len(big) when the current host call began
}

// arenaChunk is the fixed room per VM: Envoy's default request-header limit is 60 KiB
// (max_request_headers_kb), so one header map always fits, with room for a property and a cache entry.
const arenaChunk = 96 << 10

// mark is the arena's state when a callback began: where its room starts, and the window of the host call
// in progress at that moment, if any (a nested callback runs inside a host call of its caller).
type mark struct{ off, callOff, callBig int }

// enter marks the start of a callback; the result goes to leave.
func (a *arena) enter() mark {
	a.depth++
	return mark{a.off, a.callOff, a.callBig}
}

// leave ends a callback: its room is free again, and the window of the caller's host call is back (the
// nested callback's own host calls moved it; without this the caller's answer, allocated before the nested
// callback, would be refused by take). When the outermost callback returns, oversized buffers are dropped
// too (the GC may collect them: no host call is in progress any more).
func (a *arena) leave(m mark) {
	a.depth--
	a.off, a.callOff, a.callBig = m.off, m.callOff, m.callBig
	if a.depth <= 0 {
		a.depth, a.off, a.callOff, a.callBig = 0, 0, 0, 0
		if len(a.big) > 0 {
			clear(a.big)
			a.big = a.big[:0]
		}
	}
}

// begin marks the start of a host call that returns data: take accepts only room allocated after it.
func (a *arena) begin() {
	a.callOff, a.callBig = a.off, len(a.big)
}

// The room proxy_on_memory_allocate hands the host is bump's, or allocSlow's when bump has none: the address
// of size bytes (8-byte aligned) that stay valid until the current callback returns. A zero-size request
// still gets a distinct, valid address (one byte) because the ABI treats address 0 as "no data". The bytes
// are not zeroed: the host writes every byte it asked for. The two are separate so that bump, the common
// case, is inlined into proxy_on_memory_allocate (exports_wasip1.go): the host calls it twice per request,
// and in the wasm build each call level costs about 15 ns.

// bump is the common case: room left in the chunk. nil means no (and for a zero size).
func (a *arena) bump(size uint32) unsafe.Pointer {
	if start := (a.off + 7) &^ 7; size != 0 && uint64(start)+uint64(size) <= uint64(len(a.chunk)) {
		a.off = start + int(size)
		return unsafe.Add(unsafe.Pointer(unsafe.SliceData(a.chunk)), start)
	}
	return nil
}

// allocSlow is the other cases: the first allocation (the chunk is made), a zero size, no room left in
// the chunk (an oversized buffer, kept in big).
func (a *arena) allocSlow(size uint32) unsafe.Pointer {
	n := int(size)
	if n == 0 {
		n = 1
	}
	if a.chunk == nil {
		a.chunk = make([]byte, arenaChunk)
		a.base = uintptr(unsafe.Pointer(unsafe.SliceData(a.chunk)))
	}
	start := (a.off + 7) &^ 7
	if start <= len(a.chunk) && n <= len(a.chunk)-start {
		a.off = start + n
		return unsafe.Pointer(&a.chunk[start])
	}
	b := make([]byte, n)
	a.big = append(a.big, b)
	return unsafe.Pointer(&b[0])
}

// take returns the room at addr, cut to size, if it was allocated during the current host call (since
// begin). It reports false when it was not, or size runs past what was allocated: the host returned memory
// this guest did not give it for this call. addr 0 with size 0 is the ABI's "empty result" and yields
// (nil, true).
func (a *arena) take(addr uintptr, size uint32) ([]byte, bool) {
	if b, ok := a.takeChunk(addr, size); ok {
		return b, true
	}
	return a.takeSlow(addr, size)
}

// takeChunk is take's common case, small enough to be inlined into every host call that returns data: the
// room lies in the chunk, after the current call began. Anything else (addr 0, a large allocation, a
// host's bad answer) is takeSlow's.
func (a *arena) takeChunk(addr uintptr, size uint32) ([]byte, bool) {
	// Before the chunk is made, off is 0 and no address passes the second test.
	start := int(addr - a.base)
	if addr < a.base+uintptr(a.callOff) || start >= a.off || int(size) > a.off-start {
		return nil, false
	}
	return a.chunk[start : start+int(size) : start+int(size)], true
}

func (a *arena) takeSlow(addr uintptr, size uint32) ([]byte, bool) {
	if addr == 0 {
		return nil, size == 0
	}
	if a.chunk != nil {
		base := uintptr(unsafe.Pointer(unsafe.SliceData(a.chunk)))
		if addr >= base+uintptr(a.callOff) && addr < base+uintptr(a.off) {
			start := int(addr - base)
			if uint64(size) > uint64(a.off-start) {
				return nil, false
			}
			return a.chunk[start : start+int(size) : start+int(size)], true
		}
	}
	for _, b := range a.big[min(a.callBig, len(a.big)):] {
		if uintptr(unsafe.Pointer(unsafe.SliceData(b))) == addr {
			if uint64(size) > uint64(cap(b)) {
				return nil, false
			}
			return b[:size:size], true
		}
	}
	return nil, false
}
