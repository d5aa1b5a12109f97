package validator

import (
	"encoding/base64"
	"strconv"

	"github.com/scope-gate/scope-gate/filter/confjson"
	"github.com/scope-gate/scope-gate/filter/internal/quote"
	"github.com/scope-gate/scope-gate/filter/scope"
	"github.com/scope-gate/scope-gate/filter/strictjson"
)

// Remote asks a server, over proxy_http_call to an Envoy cluster, whether a token is live
// (docs/spec.md §4.2 and §4.3). Everything about the call except the token is fixed at configuration time.
type Remote struct {
	Kind          string // "introspection" (RFC 7662) or "forward" (a "who am I" endpoint)
	Cluster       string
	Authority     string
	Path          string
	Method        string // forward only; introspection always POSTs
	TimeoutMillis uint32
	ClientID      string // introspection: HTTP Basic client authentication when set
	clientSecret  string

	headers [][2]string // request headers without the per-token part
}

// Type implements Validator.
func (r *Remote) Type() string { return r.Kind }

// Describe implements Validator.
func (r *Remote) Describe() string { return r.Kind + " (cluster " + quote.String(r.Cluster) + ")" }

// Clusters implements Validator: every token is checked by one call to Cluster.
func (r *Remote) Clusters() []Cluster { return []Cluster{{Key: "cluster", Name: r.Cluster}} }

// CacheFingerprint implements Validator: the server's answers depend on where and how it is asked (the
// client secret is left out: it never appears in a key, and a changed secret with the same client_id
// is the same client).
func (r *Remote) CacheFingerprint() string {
	return r.Kind + "\x00" + r.Cluster + "\x00" + r.Authority + "\x00" + r.Path + "\x00" + r.Method + "\x00" + r.ClientID
}

const (
	defaultTimeoutMillis = 500
	maxTimeoutMillis     = 60_000
)

func decodeRemote(kind string, v strictjson.Value, path string) (*Remote, error) {
	r := &Remote{Kind: kind, Method: "GET", TimeoutMillis: defaultTimeoutMillis}
	if kind == "introspection" {
		r.Method = "POST"
	}
	var hasSecret bool
	err := confjson.Members(v, path, func(key, mp string, val strictjson.Value) (err error) {
		switch key {
		case "type":
		case "cluster":
			r.Cluster, err = confjson.String(val, mp)
			if err == nil && !validHeaderValue(r.Cluster) {
				err = confjson.At(mp, "must be printable ASCII")
			}
		case "authority":
			r.Authority, err = confjson.String(val, mp)
			if err == nil && !validAuthority(r.Authority) {
				err = confjson.At(mp, "must be a host[:port] (visible ASCII, no '/', '@' or spaces)")
			}
		case "path":
			r.Path, err = confjson.String(val, mp)
			if err == nil && (len(r.Path) == 0 || r.Path[0] != '/' || !bearerSafe(r.Path)) {
				err = confjson.At(mp, "must start with '/' and be visible ASCII, got "+quote.String(r.Path))
			}
		case "method":
			if kind != "forward" {
				err = confjson.At(mp, "unknown key (introspection always uses POST)")
				break
			}
			r.Method, err = confjson.String(val, mp)
			if err == nil && !validMethod(r.Method) {
				err = confjson.At(mp, "must be an upper-case HTTP method token, got "+quote.String(r.Method))
			}
		case "timeout_ms":
			var n int64
			n, err = confjson.Int(val, mp, 1, maxTimeoutMillis)
			r.TimeoutMillis = uint32(n)
		case "client_id", "client_secret":
			if kind != "introspection" {
				err = confjson.At(mp, "unknown key (client credentials apply to introspection only)")
				break
			}
			var s string
			if s, err = confjson.String(val, mp); err == nil {
				if !validHeaderValue(s) {
					err = confjson.At(mp, "must be printable ASCII")
				} else if key == "client_id" {
					r.ClientID = s
				} else {
					r.clientSecret, hasSecret = s, true
				}
			}
		default:
			err = confjson.At(mp, "unknown key")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, req := range []struct{ key, val string }{{"cluster", r.Cluster}, {"authority", r.Authority}, {"path", r.Path}} {
		if req.val == "" {
			return nil, confjson.At(path+"."+req.key, "is required")
		}
	}
	if hasSecret && r.ClientID == "" {
		return nil, confjson.At(path+".client_secret", "needs client_id")
	}
	r.headers = [][2]string{{":method", r.Method}, {":path", r.Path}, {":authority", r.Authority}, {"accept", "application/json"}}
	if kind == "introspection" {
		r.headers = append(r.headers, [2]string{"content-type", "application/x-www-form-urlencoded"})
		if r.ClientID != "" {
			// RFC 6749 §2.3.1: id and secret are form-encoded, then joined with ':' and base64-encoded.
			cred := formEncode(nil, r.ClientID)
			cred = append(cred, ':')
			cred = formEncode(cred, r.clientSecret)
			r.headers = append(r.headers, [2]string{"authorization", "Basic " + base64.StdEncoding.EncodeToString(cred)})
		}
	}
	return r, nil
}

// formEncode appends s in application/x-www-form-urlencoded form: unreserved bytes as is, space as '+',
// everything else percent-encoded.
func formEncode(dst []byte, s string) []byte {
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.', c == '_', c == '~':
			dst = append(dst, c)
		case c == ' ':
			dst = append(dst, '+')
		default:
			dst = append(dst, '%', hexDigits[c>>4], hexDigits[c&0xF])
		}
	}
	return dst
}

func validAuthority(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= 0x20 || c > 0x7E || c == '/' || c == '@' || c == '?' || c == '#' {
			return false
		}
	}
	return true
}

func validMethod(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

// bearerSafe: visible ASCII only.
func bearerSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7E {
			return false
		}
	}
	return true
}

// Request returns the headers and body of the call that validates token (already screened: visible ASCII).
// It runs on a cache miss only.
func (r *Remote) Request(token string) (headers [][2]string, body []byte) {
	headers = make([][2]string, len(r.headers), len(r.headers)+1)
	copy(headers, r.headers)
	if r.Kind == "forward" {
		return append(headers, [2]string{"authorization", "Bearer " + token}), nil
	}
	body = append(make([]byte, 0, len(token)+40), "token="...)
	body = formEncode(body, token)
	return headers, append(body, "&token_type_hint=access_token"...)
}

// Answer interprets the validator's HTTP answer (status 0: the call was reset or failed before headers).
// It returns the validation, the token's own expiry when the server gave one (0 otherwise), and, for an
// Unavailable result, the reason (for the log; it never contains the token).
func (r *Remote) Answer(status int, body []byte, nowUnix int64) (v Validation, tokenExp int64, problem string) {
	if r.Kind == "forward" {
		return answerForward(status, body)
	}
	return answerIntrospection(status, body, nowUnix)
}

func unavailable(problem string) (Validation, int64, string) {
	return Validation{Result: Unavailable}, 0, problem
}

func answerIntrospection(status int, body []byte, nowUnix int64) (Validation, int64, string) {
	switch {
	case status == 0:
		return unavailable("introspection call failed (reset or connection failure)")
	case status == 401 || status == 403:
		return unavailable("introspection endpoint refused the client (" + strconv.Itoa(status) + "): check client_id and client_secret")
	case status != 200:
		return unavailable("introspection endpoint answered " + strconv.Itoa(status))
	}
	doc, err := strictjson.Parse(body, 8)
	if err != nil || doc.Kind != strictjson.Object {
		return unavailable("introspection answer is not a JSON object")
	}
	active, ok := doc.Get("active")
	if !ok || active.Kind != strictjson.Bool {
		return unavailable(`introspection answer has no boolean "active"`)
	}
	if !active.Boolean {
		return Validation{Result: Invalid}, 0, ""
	}
	v := Validation{Result: Valid}
	var exp int64
	if e, ok := doc.Get("exp"); ok {
		whole, _, isNum := e.Seconds() // the fraction is cut off: the token expires no later than exp
		if !isNum {
			return unavailable(`introspection answer has a non-numeric "exp"`)
		}
		exp = whole
		if exp <= nowUnix {
			return Validation{Result: Invalid}, exp, ""
		}
	}
	if s, ok := doc.Get("scope"); ok {
		if s.Kind != strictjson.String {
			return unavailable(`introspection answer has a non-string "scope"`)
		}
		scopes, ok := scope.Fields(s.Text)
		if !ok {
			return unavailable(`introspection answer has an invalid "scope"`)
		}
		v.Scopes = scopes
		v.ScopesText = scope.Join(scopes)
	}
	for _, key := range []string{"sub", "username", "client_id"} {
		if s, ok := doc.Get(key); ok && s.Kind == strictjson.String && s.Text != "" {
			v.Subject = headerSafe(s.Text)
			break
		}
	}
	return v, exp, ""
}

func answerForward(status int, body []byte) (Validation, int64, string) {
	switch {
	case status == 0:
		return unavailable("forward call failed (reset or connection failure)")
	case status == 401 || status == 403:
		return Validation{Result: Invalid}, 0, ""
	case status < 200 || status > 299:
		return unavailable("forward endpoint answered " + strconv.Itoa(status))
	}
	v := Validation{Result: Valid}
	// The subject is optional: a 2xx with any body (even none) means a live token.
	if doc, err := strictjson.Parse(body, 8); err == nil && doc.Kind == strictjson.Object {
		if s, ok := doc.Get("subject_email"); ok && s.Kind == strictjson.String && s.Text != "" {
			v.Subject = headerSafe(s.Text)
		} else if s, ok := doc.Get("sub"); ok && s.Kind == strictjson.String && s.Text != "" {
			v.Subject = headerSafe(s.Text)
		} else if acc, ok := doc.Get("account"); ok && acc.Kind == strictjson.Object {
			if id, ok := acc.Get("id"); ok && id.Kind == strictjson.String {
				v.Subject = headerSafe(id.Text)
			}
		}
	}
	return v, 0, ""
}

// headerSafe makes a server-provided subject safe to send upstream as a header value: bytes outside
// printable ASCII (and '%') are percent-encoded, so a subject can neither inject a header nor be mangled.
func headerSafe(s string) string {
	const hexDigits = "0123456789ABCDEF"
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7E || c == '%' {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	b := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7E || c == '%' {
			b = append(b, '%', hexDigits[c>>4], hexDigits[c&0xF])
		} else {
			b = append(b, c)
		}
	}
	return string(b)
}
