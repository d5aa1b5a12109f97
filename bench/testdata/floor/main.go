//go:build wasip1

// Command floor is the reference the filter's request path is measured against (PERFORMANCE.md): a proxy-wasm
// module in plain standard Go (//go:wasmexport, //go:wasmimport, no SDK, no bridge) that makes the same
// essential host calls as the filter's allowed path, and nothing else, without allocating:
//
//   - read every request header (proxy_get_header_map_pairs) and find the Authorization value,
//   - read the route's metadata block (proxy_get_property xds.route_metadata.filter_metadata.scope_gate),
//   - hash the bearer token with SHA-256 (filter/digest, the filter's own),
//   - increment one counter (proxy_increment_metric),
//   - set three identity headers (proxy_replace_header_map_value),
//
// then continue. It decides nothing: its time is what those calls cost in a host, so the filter's time
// above it is the cost of deciding (and of the SDK's and the bridge's machinery around it). It is built
// exactly like scope-gate (GOOS=wasip1 GOARCH=wasm -buildmode=c-shared, same Go runtime).
package main

import (
	"encoding/binary"
	"unsafe"

	"github.com/scope-gate/scope-gate/filter/digest"
)

func main() {}

//go:wasmimport env proxy_get_header_map_pairs
func getHeaderMapPairs(mapType uint32, retData unsafe.Pointer, retSize unsafe.Pointer) uint32

//go:wasmimport env proxy_get_property
func getProperty(path unsafe.Pointer, pathSize uint32, retData unsafe.Pointer, retSize unsafe.Pointer) uint32

//go:wasmimport env proxy_replace_header_map_value
func replaceHeaderMapValue(mapType uint32, key unsafe.Pointer, keySize uint32, value unsafe.Pointer, valueSize uint32) uint32

//go:wasmimport env proxy_define_metric
func defineMetric(metricType uint32, name unsafe.Pointer, nameSize uint32, retID unsafe.Pointer) uint32

//go:wasmimport env proxy_increment_metric
func incrementMetric(metricID uint32, offset int64) uint32

// room is what proxy_on_memory_allocate hands out: a fixed buffer, bumped within a callback and reused by
// the next one (the host's answers are read during the callback that asked for them). Package-level, so it
// is never collected nor moved; out-parameters live here too, never on a goroutine stack.
var (
	room    [128 << 10]byte
	roomOff uintptr
	out     struct{ data, size, id uint32 }
	counter uint32
	sink    byte // keeps the hash from being optimized away
)

// routeBlock is the property path xds.route_metadata.filter_metadata.scope_gate, NUL-separated.
var routeBlock = []byte("xds\x00route_metadata\x00filter_metadata\x00scope_gate")

const requestHeaders = 0 // proxy-wasm MapType HttpRequestHeaders

//go:wasmexport proxy_abi_version_0_2_0
func abiVersion() {}

//go:wasmexport proxy_on_memory_allocate
func onMemoryAllocate(size uint32) unsafe.Pointer {
	start := (roomOff + 7) &^ 7
	if uintptr(size) > uintptr(len(room))-start {
		panic("floor: host answer larger than the room")
	}
	roomOff = start + uintptr(max(size, 1))
	return unsafe.Pointer(&room[start])
}

// answer is the host's answer of the last call, re-attached to room by offset arithmetic.
func answer() []byte {
	base := uintptr(unsafe.Pointer(&room[0]))
	if out.data == 0 || uintptr(out.data) < base || uintptr(out.data)+uintptr(out.size) > base+uintptr(len(room)) {
		return nil
	}
	off := uintptr(out.data) - base
	return room[off : off+uintptr(out.size)]
}

//go:wasmexport proxy_on_context_create
func onContextCreate(id, parent uint32) {}

//go:wasmexport proxy_on_vm_start
func onVMStart(root, size uint32) uint32 { return 1 }

//go:wasmexport proxy_on_configure
func onConfigure(root, size uint32) uint32 {
	name := "scope_gate_floor.allowed"
	if defineMetric(0, unsafe.Pointer(unsafe.StringData(name)), uint32(len(name)), unsafe.Pointer(&out.id)) != 0 {
		return 0
	}
	counter = out.id
	return 1
}

var identity = [3][2]string{
	{"x-scope-gate-subject", "app-123"},
	{"x-scope-gate-subject-type", "app"},
	{"x-scope-gate-scopes", "apps:read"},
}

// onRequestHeaders makes the allowed path's host calls. Action 0 is Continue.
//
//go:wasmexport proxy_on_request_headers
func onRequestHeaders(id, n, eos uint32) uint32 {
	roomOff = 0
	out.data, out.size = 0, 0
	var token string
	if getHeaderMapPairs(requestHeaders, unsafe.Pointer(&out.data), unsafe.Pointer(&out.size)) == 0 {
		token = bearer(answer())
	}
	out.data, out.size = 0, 0
	getProperty(unsafe.Pointer(&routeBlock[0]), uint32(len(routeBlock)), unsafe.Pointer(&out.data), unsafe.Pointer(&out.size))
	block := answer()
	h := digest.Sum(token)
	sink ^= h[0]
	// The counter moves only when both reads found what the filter's allowed path finds, so the benchmark
	// (which checks the counter) cannot measure a floor whose reads failed.
	if token != "" && len(block) > 0 {
		sink ^= block[0]
		incrementMetric(counter, 1)
	}
	for _, kv := range identity {
		replaceHeaderMapValue(requestHeaders, unsafe.Pointer(unsafe.StringData(kv[0])), uint32(len(kv[0])),
			unsafe.Pointer(unsafe.StringData(kv[1])), uint32(len(kv[1])))
	}
	return 0
}

// bearer finds the first Authorization header in a pairs-encoded map and returns its token (a view into
// room). Lengths are checked: a malformed map yields no token.
func bearer(b []byte) string {
	if len(b) < 4 {
		return ""
	}
	count := int(binary.LittleEndian.Uint32(b))
	if count > (len(b)-4)/10 {
		return ""
	}
	data := 4 + 8*count
	for i := 0; i < count; i++ {
		kl := int(binary.LittleEndian.Uint32(b[4+8*i:]))
		vl := int(binary.LittleEndian.Uint32(b[8+8*i:]))
		if kl < 0 || vl < 0 || data+kl+vl+2 > len(b) {
			return ""
		}
		key := b[data : data+kl]
		val := b[data+kl+1 : data+kl+1+vl]
		data += kl + vl + 2
		if len(key) == len("authorization") && equalFold(key, "authorization") && len(val) > 7 && equalFold(val[:7], "bearer ") {
			return unsafe.String(&val[7], len(val)-7)
		}
	}
	return ""
}

func equalFold(b []byte, lower string) bool {
	for i := range b {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

//go:wasmexport proxy_on_request_body
func onRequestBody(id, n, eos uint32) uint32 { return 0 }

//go:wasmexport proxy_on_response_headers
func onResponseHeaders(id, n, eos uint32) uint32 { return 0 }

//go:wasmexport proxy_on_response_body
func onResponseBody(id, n, eos uint32) uint32 { return 0 }

//go:wasmexport proxy_on_log
func onLog(id uint32) {}

//go:wasmexport proxy_on_done
func onDone(id uint32) uint32 { return 1 }

//go:wasmexport proxy_on_delete
func onDelete(id uint32) {}
