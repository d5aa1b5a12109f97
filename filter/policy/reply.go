package policy

import (
	"strconv"

	"github.com/scope-gate/scope-gate/filter/pairs"
	"github.com/scope-gate/scope-gate/filter/strictjson"
)

// Reply is a local reply, rendered once (at configuration time, or when a route's requirement is first
// decoded) and sent as is on the request path.
type Reply struct {
	Status   uint32
	Code     string      // the body's "code"
	Headers  [][2]string // content-type, cache-control and, where docs/spec.md §5 says so, www-authenticate
	Body     []byte
	Decision string // "<status> <code>", the report-mode decision header value
	// HeaderPairs is Headers in the proxy-wasm pairs encoding that proxy_send_local_response takes, encoded
	// once so that sending the reply allocates nothing.
	HeaderPairs []byte
	// Details is sent with the reply as its response code details: "scope_gate_<verdict>" (for example
	// scope_gate_insufficient_scope), which Envoy's access logs show as %RESPONSE_CODE_DETAILS%, next to
	// %ROUTE_NAME%: why a request was refused and where, at any log level and with nothing built per request.
	Details string
	// LogLine is the head of the debug line logged for the denial ("scope-gate: denied 403 forbidden
	// (insufficient_scope)"), rendered once.
	LogLine string
}

type replies struct {
	duplicate, path, missing, invalid, subject, config, unavailable *Reply
}

func newReplies(realm string) replies {
	challenge := `Bearer realm="` + realm + `"`
	return replies{
		duplicate:   newReply(DenyDuplicateAuth, 400, "invalid_request", "multiple authorization headers", challenge+`, error="invalid_request"`),
		path:        newReply(DenyAmbiguousPath, 400, "invalid_request", "ambiguous request path", ""),
		missing:     newReply(DenyMissingBearer, 401, "unauthorized", "missing bearer token", challenge),
		invalid:     newReply(DenyInvalidBearer, 401, "unauthorized", "invalid_bearer", challenge+`, error="invalid_token"`),
		subject:     newReply(DenySubjectType, 403, "forbidden", "token subject type not accepted here", ""),
		config:      newReply(DenyMisconfigured, 500, "internal_server_error", "Internal Server Error", ""),
		unavailable: newReply(DenyValidatorUnavailable, 503, "service_unavailable", "token validation unavailable", ""),
	}
}

// scopeReply is the 403 for a route whose required_scope (as written) the token does not satisfy.
func scopeReply(realm, scopeText string) *Reply {
	return newReply(DenyInsufficientScope, 403, "forbidden", "insufficient_scope: "+scopeText,
		`Bearer realm="`+realm+`", error="insufficient_scope", scope="`+scopeText+`"`)
}

func newReply(v Verdict, status uint32, code, message, challenge string) *Reply {
	decision := strconv.Itoa(int(status)) + " " + code
	r := &Reply{
		Status:   status,
		Code:     code,
		Decision: decision,
		Details:  "scope_gate_" + v.String(),
		LogLine:  "scope-gate: denied " + decision + " (" + v.String() + ")",
		Headers: [][2]string{
			{"content-type", "application/json"},
			{"cache-control", "no-store"},
		},
	}
	if challenge != "" {
		r.Headers = append(r.Headers, [2]string{"www-authenticate", challenge})
	}
	body := append([]byte(`{"code":`), quoteJSON(code)...)
	body = append(body, `,"message":`...)
	body = append(body, quoteJSON(message)...)
	body = append(body, `,"status":`...)
	body = strconv.AppendUint(body, uint64(status), 10)
	r.Body = append(body, '}')
	kv := make([]string, 0, 2*len(r.Headers))
	for _, h := range r.Headers {
		kv = append(kv, h[0], h[1])
	}
	r.HeaderPairs = pairs.EncodeStrings(kv...)
	return r
}

// quoteJSON renders s as a JSON string. Messages come from docs/spec.md §5 and from validated scope tokens,
// which exclude '"' and '\'; escaping is still done so that a future message cannot break the body.
func quoteJSON(s string) []byte { return strictjson.AppendQuoted(make([]byte, 0, len(s)+2), s) }
