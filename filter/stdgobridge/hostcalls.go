package stdgobridge

import (
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

func status(st internal.Status) error { return internal.StatusToError(st) }

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

// NewPropertyPath serializes path.
func NewPropertyPath(path ...string) PropertyPath { return internal.SerializePropertyPath(path) }

// GetProperty returns a property's raw value.
func GetProperty(path PropertyPath) ([]byte, error) {
	if len(path) == 0 {
		return nil, types.ErrorStatusBadArgument
	}
	var ptr *byte
	var size int
	if err := status(internal.ProxyGetProperty(&path[0], len(path), &ptr, &size)); err != nil {
		return nil, err
	}
	return bytesOf(ptr, size), nil
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
	return getMap(internal.MapTypeHttpCallResponseHeaders)
}

// GetHttpCallResponseBody returns up to maxSize bytes of an http call's answer body (only in its callback).
func GetHttpCallResponseBody(start, maxSize int) ([]byte, error) {
	return getBuffer(internal.BufferTypeHttpCallResponseBody, start, maxSize)
}

// RemoveHttpRequestHeader removes every value of a request header.
func RemoveHttpRequestHeader(key string) error {
	return status(internal.ProxyRemoveHeaderMapValue(internal.MapTypeHttpRequestHeaders, strPtr(key), len(key)))
}

// ReplaceHttpRequestHeader sets a request header (replacing its first value, or adding it).
func ReplaceHttpRequestHeader(key, value string) error {
	return status(internal.ProxyReplaceHeaderMapValue(internal.MapTypeHttpRequestHeaders, strPtr(key), len(key), strPtr(value), len(value)))
}

// SendHttpResponse sends a local reply; the caller then returns ActionPause.
func SendHttpResponse(statusCode uint32, headers [][2]string, body []byte, grpcStatus int32) error {
	hs := internal.SerializeMap(headers)
	var bodyPtr *byte
	if len(body) > 0 {
		bodyPtr = &body[0]
	}
	return status(internal.ProxySendLocalResponse(statusCode, nil, 0, bodyPtr, len(body), &hs[0], len(hs), grpcStatus))
}

// ResumeHttpRequest continues a paused request.
func ResumeHttpRequest() error {
	return status(internal.ProxyContinueStream(internal.StreamTypeRequest))
}

// SetEffectiveContext makes later host calls act on the given context.
func SetEffectiveContext(contextID uint32) error {
	return status(internal.ProxySetEffectiveContext(contextID))
}

// GetSharedData returns a shared-data value and its CAS.
func GetSharedData(key string) ([]byte, uint32, error) {
	var ptr *byte
	var size int
	var cas uint32
	if err := status(internal.ProxyGetSharedData(strPtr(key), len(key), &ptr, &size, &cas)); err != nil {
		return nil, 0, err
	}
	return bytesOf(ptr, size), cas, nil
}

// SetSharedData writes a shared-data value; a non-zero cas that no longer matches fails with CasMismatch.
func SetSharedData(key string, value []byte, cas uint32) error {
	var ptr *byte
	if len(value) > 0 {
		ptr = &value[0]
	}
	return status(internal.ProxySetSharedData(strPtr(key), len(key), ptr, len(value), cas))
}
