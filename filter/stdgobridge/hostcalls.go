package stdgobridge

import (
	"encoding/binary"
	"errors"
	"unsafe"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/internal"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

// The host calls a filter needs, with the same names and semantics as the SDK's proxywasm package.
//
// Why they are here and not taken from the SDK: the SDK's proxywasm package imports fmt (its metric helpers
// format panics with fmt.Sprintf), and importing fmt at all links fmt's printer pool, reflect-driven
// formatting and os: about 130 KB of a module that ships inside Envoy under a 3 MB budget. These wrappers
// call the same SDK internals (so they go to the real host in the wasm build and to the SDK's proxytest
// emulator natively), and link nothing else. The SDK's context machinery (VM, plugin and HTTP contexts and
// their callbacks) is used unchanged.

// SetVMContext registers the VM context; call it from the plugin's init.
func SetVMContext(ctx types.VMContext) { internal.SetVMContext(ctx) }

// status turns a host call's status into the SDK's errors (internal.StatusToError), from a table made once:
// no call, so that the bridge's one-line host calls (ReplaceHttpRequestHeader, Counter.Increment, ...) are
// small enough to be inlined into the plugin, and in the wasm build each call level costs about 15 ns. The
// ABI's statuses are below 16; anything else is errUnknownStatus.
func status(st internal.Status) error {
	if st < internal.Status(len(statusErrors)) {
		return statusErrors[st]
	}
	return errUnknownStatus
}

var (
	statusErrors = func() (t [16]error) {
		for i := range t {
			t[i] = internal.StatusToError(internal.Status(i)) // nil for OK; a new error for an unknown status
		}
		return t
	}()
	errUnknownStatus = errors.New("unknown status code (16 or more)")
)

func strPtr(s string) *byte { return unsafe.StringData(s) }

func bytesOf(ptr *byte, size int) []byte {
	if ptr == nil || size == 0 {
		return nil
	}
	return unsafe.Slice(ptr, size)
}

// Log writes a log line at the given level.
func Log(level internal.LogLevel, msg string) {
	internal.ProxyLog(level, strPtr(msg), len(msg))
}

// UnixNow is the host's wall clock in unix seconds (proxy_get_current_time_nanoseconds: one host call,
// where time.Now costs two WASI calls).
func UnixNow() int64 { return rawUnixNow() }

// Log levels for LogBytes (proxy-wasm's numbering).
const (
	LevelDebug = int(internal.LogLevelDebug)
	LevelWarn  = int(internal.LogLevelWarn)
	LevelError = int(internal.LogLevelError)
)

// LogBytes logs a message built in a reused buffer, at one of the levels above.
func LogBytes(level int, msg []byte) { rawLog(internal.LogLevel(level), msg) }

// OnDelete registers f to run after proxy_on_delete for every context, once the SDK has forgotten it (a
// plugin that reuses its per-stream objects releases them there; see filter/wasm/plugin). Only the wasm build
// calls it: natively the SDK's emulator deletes contexts itself.
func OnDelete(f func(contextID uint32)) { deleteHook = f }

var deleteHook func(contextID uint32)

// FindHttpContext registers f, which returns the stream object of contextID when the plugin can find it
// faster than the SDK's context map (or nil). proxy_on_request_headers, the callback that decides, then reaches
// the object without the SDK's dispatch (a map lookup and two call layers, about 0.1 µs per request in the
// wasm build); any other callback, and any context f does not know, goes through the SDK as before. Only the
// wasm build uses it. The SDK's notion of the active context is not updated on this path: nothing of the
// SDK's that reads it (its DispatchHttpCall) is used by a plugin of this bridge, which calls out through
// DispatchRootHTTPCall.
func FindHttpContext(f func(contextID uint32) types.HttpContext) { findHTTPContext = f }

var findHTTPContext func(contextID uint32) types.HttpContext

// LogDebug, LogInfo, LogWarn, LogError and LogCritical log at their level.
func LogDebug(msg string)    { Log(internal.LogLevelDebug, msg) }
func LogInfo(msg string)     { Log(internal.LogLevelInfo, msg) }
func LogWarn(msg string)     { Log(internal.LogLevelWarn, msg) }
func LogError(msg string)    { Log(internal.LogLevelError, msg) }
func LogCritical(msg string) { Log(internal.LogLevelCritical, msg) }

func getBuffer(bt internal.BufferType, start, maxSize int) ([]byte, error) {
	var ptr *byte
	var size int
	if err := status(internal.ProxyGetBufferBytes(bt, start, maxSize, &ptr, &size)); err != nil {
		return nil, err
	}
	if ptr == nil {
		return nil, types.ErrorStatusNotFound
	}
	return bytesOf(ptr, size), nil
}

// GetPluginConfiguration returns the plugin configuration (only during OnPluginStart).
func GetPluginConfiguration() ([]byte, error) {
	return getBuffer(internal.BufferTypePluginConfiguration, 0, 1<<31-1)
}

// PropertyPath is a property path serialized once (segments joined with NUL, as the ABI requires), so that
// reading a fixed property on every request does not serialize its path every time.
type PropertyPath []byte

// NewPropertyPath serializes path. It runs at start only, and is kept out of line so that the serializer is
// not copied into each caller (module size).
//
//go:noinline
func NewPropertyPath(path ...string) PropertyPath { return internal.SerializePropertyPath(path) }

// GetProperty returns a property's raw value. The result is a view into memory the host wrote during this
// callback (see arena): valid until the callback returns, to be copied if kept longer.
func GetProperty(path PropertyPath) ([]byte, error) {
	if len(path) == 0 {
		return nil, types.ErrorStatusBadArgument
	}
	return rawGetProperty(path)
}

// GetPropertyString is GetProperty with the value as a string viewing the same memory (valid until the
// callback returns).
func GetPropertyString(path PropertyPath) (string, error) {
	b, err := GetProperty(path)
	if err != nil || len(b) == 0 {
		return "", err
	}
	return unsafe.String(&b[0], len(b)), nil
}

// GetHttpRequestHeaderBytes returns every request header, repeated ones included, in the ABI's pairs
// encoding as the host wrote it (u32 count, count x (u32 key size, u32 value size), then each key and value
// followed by a NUL): a view into memory the host wrote during this callback (see arena), valid until the
// callback returns, that the caller decodes in place (policy.ReadRequest checks every length). An empty
// answer is NotFound.
func GetHttpRequestHeaderBytes() ([]byte, error) {
	return rawGetPairs(internal.MapTypeHttpRequestHeaders)
}

// pairsAnswer is a header map's answer as the public functions give it: the call's error, or NotFound for
// an empty map.
func pairsAnswer(b []byte, st internal.Status) ([]byte, error) {
	if st != internal.StatusOK {
		return nil, status(st)
	}
	if len(b) == 0 {
		return nil, types.ErrorStatusNotFound
	}
	return b, nil
}

// decodePairs reads the ABI's pairs encoding (u32 count, count x (u32 key size, u32 value size), then each
// key and value followed by a NUL) with every length checked against buf.
// A result too short to hold its count is malformed too: only an empty result means "no map" (NotFound),
// which the plugin reads as a request without headers.
func decodePairs(b []byte, dst [][2]string) ([][2]string, error) {
	if len(b) < 4 {
		return dst, types.ErrorInternalFailure
	}
	count := uint64(binary.LittleEndian.Uint32(b))
	if count > uint64(len(b)-4)/10 { // each pair takes at least 8 bytes of sizes and 2 NULs
		return dst, types.ErrorInternalFailure
	}
	data := 4 + 8*count
	for i := uint64(0); i < count; i++ {
		var kv [2]string
		for j := range kv {
			size := uint64(binary.LittleEndian.Uint32(b[4+8*i+4*uint64(j):]))
			if size > uint64(len(b)) || data+size+1 > uint64(len(b)) || b[data+size] != 0 {
				return dst, types.ErrorInternalFailure
			}
			if size > 0 {
				kv[j] = unsafe.String(&b[data], int(size))
			}
			data += size + 1
		}
		dst = append(dst, kv)
	}
	return dst, nil
}

func getMap(mt internal.MapType) ([][2]string, error) {
	var ptr *byte
	var size int
	if err := status(internal.ProxyGetHeaderMapPairs(mt, &ptr, &size)); err != nil {
		return nil, err
	}
	if ptr == nil || size < 4 {
		return nil, types.ErrorStatusNotFound
	}
	return internal.DeserializeMap(bytesOf(ptr, size)), nil
}

// GetHttpRequestHeaders returns every request header, repeated ones included.
func GetHttpRequestHeaders() ([][2]string, error) { return getMap(internal.MapTypeHttpRequestHeaders) }

// GetHttpCallResponseHeaders returns the headers of an http call's answer (only in its callback).
func GetHttpCallResponseHeaders() ([][2]string, error) {
	b, err := rawGetPairs(internal.MapTypeHttpCallResponseHeaders)
	if err != nil {
		return nil, err
	}
	return decodePairs(b, nil)
}

// GetHttpCallResponseBody returns up to maxSize bytes of an http call's answer body (only in its callback).
func GetHttpCallResponseBody(start, maxSize int) ([]byte, error) {
	return getBuffer(internal.BufferTypeHttpCallResponseBody, start, maxSize)
}

// RemoveHttpRequestHeader removes every value of a request header.
func RemoveHttpRequestHeader(key string) error {
	return status(rawRemoveHeader(internal.MapTypeHttpRequestHeaders, key))
}

// ReplaceHttpRequestHeader sets a request header (replacing its first value, or adding it).
func ReplaceHttpRequestHeader(key, value string) error {
	return status(rawReplaceHeader(internal.MapTypeHttpRequestHeaders, key, value))
}

// SendHttpResponse sends a local reply; the caller then returns ActionPause.
func SendHttpResponse(statusCode uint32, headers [][2]string, body []byte, grpcStatus int32) error {
	return SendSerializedHttpResponse(statusCode, "", SerializeHeaders(headers), body, grpcStatus)
}

// SerializeHeaders encodes headers the way proxy_send_local_response takes them, so that a reply sent on
// every request can be encoded once.
func SerializeHeaders(headers [][2]string) []byte { return internal.SerializeMap(headers) }

// SendSerializedHttpResponse sends a local reply whose headers SerializeHeaders encoded. Envoy records details
// (whitespace replaced by '_') as the stream's response code details, which access logs show as
// %RESPONSE_CODE_DETAILS% (envoyproxy/envoy source/extensions/common/wasm/context.cc, Context::sendLocalResponse,
// read at commit b40935ac07f7).
func SendSerializedHttpResponse(statusCode uint32, details string, headers []byte, body []byte, grpcStatus int32) error {
	return status(rawSendLocalResponse(statusCode, details, headers, body, grpcStatus))
}

// ResumeHttpRequest continues a paused request.
func ResumeHttpRequest() error {
	return status(internal.ProxyContinueStream(internal.StreamTypeRequest))
}

// SetEffectiveContext makes later host calls act on the given context.
func SetEffectiveContext(contextID uint32) error {
	return status(internal.ProxySetEffectiveContext(contextID))
}

// GetSharedData returns a shared-data value and its CAS. The value is a view into memory the host wrote
// during this callback (see arena): valid until the callback returns.
func GetSharedData(key string) ([]byte, uint32, error) {
	return GetSharedDataKey(unsafe.Slice(unsafe.StringData(key), len(key)))
}

// GetSharedDataKey is GetSharedData with the key in a byte slice (built without allocating).
func GetSharedDataKey(key []byte) ([]byte, uint32, error) { return rawGetSharedData(key) }

// SetSharedData writes a shared-data value; a non-zero cas that no longer matches fails with CasMismatch.
func SetSharedData(key string, value []byte, cas uint32) error {
	var ptr *byte
	if len(value) > 0 {
		ptr = &value[0]
	}
	return status(internal.ProxySetSharedData(strPtr(key), len(key), ptr, len(value), cas))
}
