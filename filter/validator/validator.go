package validator

import (
	"strconv"
	"strings"

	"github.com/scope-gate/scope-gate/filter/confjson"
	"github.com/scope-gate/scope-gate/filter/digest"
	"github.com/scope-gate/scope-gate/filter/internal/quote"
	"github.com/scope-gate/scope-gate/filter/scope"
	"github.com/scope-gate/scope-gate/filter/strictjson"
)

// Validator is a configured way of checking tokens (docs/spec.md §4). Everything a caller outside this
// package needs to know about one is asked of it here, never inferred from its type name: the start log
// line, the Envoy clusters it calls (for the offline check's cross-check), and whether and under what
// fingerprint its answers are cached in shared data. How it is called on the request path is told by the
// interface it implements besides this one: Local (a synchronous lookup), or a concrete type the plugin
// drives (Remote: one HTTP call per token; JWT: local verification with keys fetched over HTTP).
type Validator interface {
	// Type is the configuration's "type".
	Type() string
	// Describe is the validator part of the plugin's start log line, e.g. `static (3 tokens)`. It never
	// holds a secret (client_secret, a token).
	Describe() string
	// Clusters are the Envoy clusters this validator sends proxy_http_call requests to; empty when it calls
	// nothing. The offline check requires each to be defined.
	Clusters() []Cluster
	// CacheFingerprint names everything that decides this validator's answers. Answers are cached in shared
	// data under keys derived from it (filter/sharedcache), so a change of validator never serves the
	// previous one's answers; "" means its answers are not cached.
	CacheFingerprint() string
}

// Cluster is an Envoy cluster a validator calls, and the key of the validator object that names it (for
// errors: $.validator.<Key>).
type Cluster struct {
	Key  string
	Name string
}

// Local is a validator that answers synchronously from what the configuration holds.
type Local interface {
	Validator
	// Lookup returns the validation of the token with hash h at nowUnix (unix seconds).
	Lookup(h digest.Hash, nowUnix int64) Validation
	// LookupClock is Lookup on the request path: it reads the time from clock only when the answer depends
	// on it (a token with an expiry; reading the clock is a host call), and it answers with a validation the
	// validator owns, which the caller must not modify. Hash and answer travel by pointer because Go's wasm
	// backend copies anything larger than two words with memory.copy, which wazero runs as a call into the
	// host's memmove (docs/rationale.md, "What a request costs in Go's wasm").
	LookupClock(h *digest.Hash, clock func() int64) *Validation
}

// Decode reads the validator object at path (docs/spec.md §4): its "type" selects the validator, which
// decodes the rest of the object itself.
func Decode(v strictjson.Value, path string) (Validator, error) {
	if v.Kind != strictjson.Object {
		return nil, confjson.At(path, "must be an object, got "+v.Kind.String())
	}
	typ, ok := v.Get("type")
	if !ok {
		return nil, confjson.At(path+".type", `is required ("static", "introspection", "forward" or "jwt")`)
	}
	t, err := confjson.String(typ, path+".type")
	if err != nil {
		return nil, err
	}
	switch t {
	case "static":
		return decodeStatic(v, path)
	case "introspection", "forward":
		return decodeRemote(t, v, path)
	case "jwt":
		// jwt.go natively and with -tags jwt; jwt_off.go (a refusal naming the variant) in the default module.
		return decodeJWT(v, path)
	default:
		return nil, confjson.At(path+".type", `must be "static", "introspection", "forward" or "jwt", got `+quote.String(t))
	}
}

// Static checks tokens against a table of SHA-256 hashes from the configuration (docs/spec.md §4.1).
type Static struct {
	index  *digest.Index // the tokens' hashes, in the order of tokens
	tokens []staticToken
}

// staticToken is one entry of the static table: the answer for it while it lives, made when the
// configuration is decoded (see LookupClock), and when it stops living.
type staticToken struct {
	answer    Validation // Result Valid; an empty SubjectType or Scopes is the token kind's
	expiresAt int64      // unix seconds; 0: never
}

// Type implements Validator.
func (*Static) Type() string { return "static" }

// Describe implements Validator.
func (s *Static) Describe() string { return "static (" + strconv.Itoa(s.Len()) + " tokens)" }

// Clusters implements Validator: the static table calls nothing.
func (*Static) Clusters() []Cluster { return nil }

// CacheFingerprint implements Validator: a lookup costs less than a cache read, so nothing is cached.
func (*Static) CacheFingerprint() string { return "" }

// Len is the number of tokens in the table.
func (s *Static) Len() int { return len(s.tokens) }

// Lookup returns the validation result for a token hash at the given time (unix seconds). Unknown and
// expired tokens are invalid alike.
func (s *Static) Lookup(h digest.Hash, nowUnix int64) Validation {
	return *s.LookupClock(&h, func() int64 { return nowUnix })
}

// LookupClock implements Local: the clock is read only for a token that has an expiry, and the answer is
// one made when the configuration was decoded.
func (s *Static) LookupClock(h *digest.Hash, clock func() int64) *Validation {
	i, ok := s.index.Find(h)
	if !ok {
		return &invalid
	}
	t := &s.tokens[i]
	if t.expiresAt != 0 && clock() >= t.expiresAt {
		return &invalid
	}
	return &t.answer
}

// invalid is the answer for an unknown or expired token. Nothing writes to it (see Local.LookupClock).
var invalid = Validation{Result: Invalid}

// Result is a validator's verdict on a token.
type Result uint8

const (
	Invalid     Result = iota // unknown, expired, revoked: 401
	Valid                     // live token
	Unavailable               // the validator could not answer: 503, never cached as invalid
)

// Validation is what a validator learned about a token. Empty SubjectType or Scopes fall back to the
// token kind's (docs/spec.md §4: effective scopes are the validator's when it returned any).
type Validation struct {
	Result      Result
	Subject     string
	SubjectType string
	Scopes      []string // sorted
	ScopesText  string   // Scopes joined by single spaces
}

func decodeStatic(v strictjson.Value, path string) (*Static, error) {
	s := &Static{}
	var hashes []digest.Hash
	seen := map[digest.Hash]bool{}
	for _, m := range v.Members {
		if m.Key != "type" && m.Key != "tokens" {
			return nil, confjson.At(path+"."+m.Key, "unknown key")
		}
	}
	tp := path + ".tokens"
	tokens, present := v.Get("tokens")
	if !present {
		return nil, confjson.At(tp, "is required")
	}
	if tokens.Kind != strictjson.Array {
		return nil, confjson.At(tp, "must be an array, got "+tokens.Kind.String())
	}
	for i, item := range tokens.Items {
		ip := tp + "[" + strconv.Itoa(i) + "]"
		if item.Kind != strictjson.Object {
			return nil, confjson.At(ip, "must be an object, got "+item.Kind.String())
		}
		var (
			tok     = staticToken{answer: Validation{Result: Valid}}
			hash    digest.Hash
			hasHash bool
		)
		for _, m := range item.Members {
			mp := ip + "." + m.Key
			var err error
			switch m.Key {
			case "sha256":
				var hx string
				if hx, err = confjson.String(m.Value, mp); err == nil {
					if hash, hasHash = digest.ParseHex(hx); !hasHash {
						err = confjson.At(mp, "must be 64 hex digits (the SHA-256 of the token)")
					}
				}
			case "subject":
				tok.answer.Subject, err = confjson.String(m.Value, mp)
				if err == nil && !validHeaderValue(tok.answer.Subject) {
					err = confjson.At(mp, "must be printable ASCII (it is sent upstream in a header)")
				}
			case "subject_type":
				tok.answer.SubjectType, err = confjson.String(m.Value, mp)
				if err == nil && !scope.ValidSubjectType(tok.answer.SubjectType) {
					err = confjson.At(mp, "must be one token of visible ASCII, got "+quote.String(tok.answer.SubjectType))
				}
			case "scopes":
				tok.answer.Scopes, err = confjson.ScopeList(m.Value, mp)
			case "expires_at":
				tok.expiresAt, err = confjson.Int(m.Value, mp, 1, 1<<62)
			default:
				err = confjson.At(mp, "unknown key")
			}
			if err != nil {
				return nil, err
			}
		}
		if !hasHash {
			return nil, confjson.At(ip+".sha256", "is required")
		}
		if seen[hash] {
			return nil, confjson.At(ip+".sha256", "duplicates an earlier token")
		}
		seen[hash] = true
		tok.answer.ScopesText = strings.Join(tok.answer.Scopes, " ")
		s.tokens = append(s.tokens, tok)
		hashes = append(hashes, hash)
	}
	s.index = digest.NewIndex(hashes)
	return s, nil
}

func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7E {
			return false
		}
	}
	return true
}
