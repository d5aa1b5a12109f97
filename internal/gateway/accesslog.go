package gateway

import (
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/scope-gate/scope-gate/filter/config"
	"github.com/scope-gate/scope-gate/internal/envoyhost"
)

// accessRecord is one access-log line in the making.
type accessRecord struct {
	path     string // the normalized :path, when it was routed ("" : the request's own)
	start    time.Time
	route    string
	status   int
	decision string
}

// decision labels the access-log line: what the filter decided, never the token. A local reply is labelled
// with what Envoy's access log can show of it, never with its body (whose format is the filter's business):
// the status and the response code details (%RESPONSE_CODE_DETAILS%: the filter's scope_gate_<verdict>, or the
// host's wasm_fail_stream), else the error parameter of a WWW-Authenticate challenge (RFC 6750 §3.1:
// invalid_token, insufficient_scope, invalid_request).
func (g *Gateway) decision(rt *Route, res envoyhost.Result, upHeaders [][2]string) string {
	if lr := res.LocalReply; lr != nil {
		switch {
		case lr.Details != "":
			return fmt.Sprintf("%d %s", lr.Status, lr.Details)
		case challengeError(lr.Headers) != "":
			return fmt.Sprintf("%d %s", lr.Status, challengeError(lr.Headers))
		}
		return strconv.Itoa(lr.Status)
	}
	if pc := g.cfg.Policy; pc != nil && pc.Mode == config.ModeReport && pc.Upstream.Decision != "" {
		for _, h := range upHeaders {
			if h[0] == pc.Upstream.Decision {
				return "report " + h[1]
			}
		}
	}
	if rt != nil && rt.Public {
		return "public"
	}
	if rt == nil && g.cfg.Policy != nil && g.cfg.Policy.DefaultRequirement().Public {
		return "public"
	}
	return "allowed"
}

// challengeError is the error parameter of a www-authenticate challenge, "" when there is none.
func challengeError(headers [][2]string) string {
	for _, h := range headers {
		if h[0] != "www-authenticate" {
			continue
		}
		if _, rest, ok := strings.Cut(h[1], `error="`); ok {
			if v, _, ok := strings.Cut(rest, `"`); ok {
				return v
			}
		}
	}
	return ""
}

// accessLog writes one line per request: never a header value, never the query string (either may carry a
// credential).
func (g *Gateway) accessLog(r *http.Request, rec *accessRecord) {
	path := r.URL.Path
	if rec.path != "" {
		// The path that was routed and forwarded, as Envoy's %REQ(:PATH)% shows it after normalization.
		path, _ = splitQuery(rec.path)
	}
	if path == "" {
		path = r.RequestURI
	}
	if r.URL.RawQuery != "" {
		path += "?…"
	}
	line := fmt.Sprintf("%s %q %d route=%s decision=%q %.3fms\n",
		rec.start.UTC().Format(time.RFC3339Nano), r.Method+" "+path+" "+r.Proto, rec.status, rec.route, rec.decision,
		float64(time.Since(rec.start).Microseconds())/1000)
	g.accessMu.Lock()
	_, _ = io.WriteString(g.opts.AccessLog, line)
	g.accessMu.Unlock()
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
