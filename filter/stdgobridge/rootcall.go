package stdgobridge

import (
	"unsafe"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/internal"
)

// DispatchRootHTTPCall makes an HTTP call (proxy_http_call) that belongs to the plugin's root context rather
// than to the stream that asked for it, and runs callback when the answer arrives.
//
// Why: the SDK's DispatchHttpCall records the callback on the current stream. Envoy delivers every call's
// answer to the root context whether or not that stream still exists (docs/envoy-behaviour.md, "HTTP call
// answers"), but if the stream ended first (the client went away) the SDK finds no stream for the answer and
// drops the callback. That is right for a call that serves one stream, and wrong for a call whose answer
// other streams are waiting on (single flight): they would hang. A call dispatched here is recorded on the
// root context, and its answer is delivered (see proxyOnHTTPCallResponse) even when the stream that
// triggered it is gone.
//
// The host's effective context is switched to rootContextID for the call and back to callerContextID
// afterwards. The callback runs with the root context effective: it must set the effective context of each
// stream it acts on.
func DispatchRootHTTPCall(rootContextID, callerContextID uint32, cluster string, headers [][2]string, body []byte,
	timeoutMillis uint32, callback func(numHeaders, bodySize, numTrailers int)) (uint32, error) {
	if err := internal.StatusToError(internal.ProxySetEffectiveContext(rootContextID)); err != nil {
		return 0, err
	}
	defer internal.ProxySetEffectiveContext(callerContextID)
	hs := internal.SerializeMap(headers)
	ts := internal.SerializeMap(nil)
	var bodyPtr *byte
	if len(body) > 0 {
		bodyPtr = &body[0]
	}
	var token uint32
	st := internal.ProxyHttpCall(unsafe.StringData(cluster), len(cluster), &hs[0], len(hs), bodyPtr, len(body),
		&ts[0], len(ts), timeoutMillis, &token)
	if err := internal.StatusToError(st); err != nil {
		return 0, err
	}
	rootCalls[token] = callback
	return token, nil
}

// rootCalls holds the callbacks of calls made with DispatchRootHTTPCall, by token.
var rootCalls = map[uint32]func(numHeaders, bodySize, numTrailers int){}

// deliverRootCall runs and forgets the callback for token, reporting whether it was a root call.
func deliverRootCall(token uint32, numHeaders, bodySize, numTrailers int) bool {
	cb, ok := rootCalls[token]
	if !ok {
		return false
	}
	delete(rootCalls, token)
	cb(numHeaders, bodySize, numTrailers)
	return true
}

// PendingRootCalls is the number of root calls awaiting an answer (for tests and leak checks).
func PendingRootCalls() int { return len(rootCalls) }
