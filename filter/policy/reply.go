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
}

type replies struct {
	duplicate, path, missing, invalid, subject, config, unavailable *Reply
}

func newReplies(realm string) replies {
	challenge := `Bearer realm="` + realm + `"`
	return replies{
		duplicate:   newReply(400, "invalid_request", "multiple authorization headers", challenge+`, error="invalid_request"`),
		path:        newReply(400, "invalid_request", "ambiguous request path", ""),
		missing:     newReply(401, "unauthorized", "missing bearer token", challenge),
		invalid:     newReply(401, "unauthorized", "invalid_bearer", challenge+`, error="invalid_token"`),
		subject:     newReply(403, "forbidden", "token subject type not accepted here", ""),
		config:      newReply(500, "internal_server_error", "Internal Server Error", ""),
		unavailable: newReply(503, "service_unavailable", "token validation unavailable", ""),
	}
}

// scopeReply is the 403 for a route whose required_scope (as written) the token does not satisfy.
func scopeReply(realm, scopeText string) *Reply {
	return newReply(403, "forbidden", "insufficient_scope: "+scopeText,
		`Bearer realm="`+realm+`", error="insufficient_scope", scope="`+scopeText+`"`)
}

func newReply(status uint32, code, message, challenge string) *Reply {
	r := &Reply{
		Status:   status,
		Code:     code,
		Decision: strconv.Itoa(int(status)) + " " + code,
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
