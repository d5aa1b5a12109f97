package envoyhost

// Envoy keeps some request headers "inline" (an O(1) slot in the header map instead of the list). When a
// codec delivers a second header of an inline name, HeaderMapImpl::insertByKey does not add a second entry:
// it appends the value to the first one with appendToHeader, which separates values with ',' and skips an
// empty value (envoyproxy/envoy source/common/http/header_map_impl.cc, insertByKey and appendToHeader, read
// at commit 0e2c2af2; docs/envoy-behaviour.md says how the sources were read). Both the HTTP/1 codec (ConnectionImpl::completeCurrentHeader,
// addViaMove) and the HTTP/2 codec (StreamImpl::saveHeader, addViaMove) fill the map this way. Other names
// keep one entry per header line, except cookie, which the HTTP/2 codec alone rebuilds with "; "
// (reconstituteCrumbledCookies); the stand-in speaks for an HTTP/1.1 downstream and leaves cookie alone.
//
// inlineRequestHeaders is the inline set of a standard Envoy build's request header map:
//   - the built-in ones, INLINE_REQ_STRING_HEADERS, INLINE_REQ_NUMERIC_HEADERS and INLINE_REQ_RESP_*
//     in envoy/http/header_map.h, by the names source/common/http/headers.h gives them;
//   - authorization, which Envoy's core does not make inline but which the extensions of every standard
//     build register with RegisterCustomInlineHeader (for example the oauth2 filter,
//     source/extensions/filters/http/oauth2/filter.cc, and the cache filter). Registration is global: once
//     any linked extension registers a name, every request header map of the process treats it as inline,
//     whether or not that filter is configured.
//
// Pseudo-headers are listed for completeness; a repeated pseudo-header is a protocol error in the codecs
// before it reaches a filter.
var inlineRequestHeaders = map[string]bool{
	// registered by extensions of standard builds
	"authorization": true,
	// INLINE_REQ_STRING_HEADERS
	"x-client-trace-id": true, "x-envoy-downstream-service-cluster": true, "x-envoy-downstream-service-node": true,
	"x-envoy-external-address": true, "x-envoy-force-trace": true, "x-envoy-hedge-on-per-try-timeout": true,
	"x-envoy-internal": true, "x-envoy-ip-tags": true, "x-envoy-retry-on": true, "x-envoy-retry-grpc-on": true,
	"x-envoy-retriable-status-codes": true, "x-envoy-retriable-header-names": true, "x-envoy-original-path": true,
	"x-envoy-original-url": true, "x-envoy-upstream-alt-stat-name": true,
	"x-envoy-upstream-rq-timeout-alt-response": true, "expect": true, "x-forwarded-client-cert": true,
	"x-forwarded-for": true, "x-forwarded-host": true, "x-forwarded-proto": true, "grpc-timeout": true,
	":authority": true, ":method": true, ":path": true, ":protocol": true, ":scheme": true, "te": true,
	"user-agent": true,
	// INLINE_REQ_NUMERIC_HEADERS
	"x-envoy-expected-rq-timeout-ms": true, "x-envoy-max-retries": true, "x-envoy-upstream-rq-timeout-ms": true,
	"x-envoy-upstream-rq-per-try-timeout-ms": true, "x-envoy-upstream-stream-duration-ms": true,
	// INLINE_REQ_RESP_STRING_HEADERS and INLINE_REQ_RESP_NUMERIC_HEADERS
	"connection": true, "content-type": true, "x-envoy-decorator-operation": true, "keep-alive": true,
	"proxy-connection": true, "proxy-status": true, "x-request-id": true, "transfer-encoding": true,
	"upgrade": true, "via": true, "content-length": true, "x-envoy-attempt-count": true,
}

// joinInline folds repeated inline headers into their first entry the way insertByKey does: later values
// are appended with ',' unless empty; an empty first value is simply followed by the next non-empty one
// (appendToHeader adds the delimiter only when the existing value is not empty). Other headers stay as
// they are, in order.
func joinInline(hs []header) []header {
	var first map[string]int // inline name -> index in out
	out := hs[:0:0]
	for _, h := range hs {
		if !inlineRequestHeaders[h.k] {
			out = append(out, h)
			continue
		}
		if i, seen := first[h.k]; seen {
			if h.v != "" {
				if out[i].v != "" {
					out[i].v += ","
				}
				out[i].v += h.v
			}
			continue
		}
		if first == nil {
			first = map[string]int{}
		}
		first[h.k] = len(out)
		out = append(out, h)
	}
	return out
}
