package policy

import (
	"strconv"
	"strings"

	"github.com/scope-gate/scope-gate/filter/bearer"
	"github.com/scope-gate/scope-gate/filter/strictjson"
)

// Validator is a configured way of checking tokens. The concrete type tells the plugin how to call it.
type Validator interface {
	// Type is the configuration's "type".
	Type() string
}

// StaticValidator checks tokens against a table of SHA-256 hashes from the configuration (docs/spec.md §4.1).
type StaticValidator struct {
	byHash map[bearer.Hash]*StaticToken
}

// StaticToken is one entry of the static table.
type StaticToken struct {
	Subject     string
	SubjectType string   // "" : the token kind's
	Scopes      []string // sorted; empty: the token kind's
	ExpiresAt   int64    // unix seconds; 0: never
	scopesText  string
}

// Type implements Validator.
func (*StaticValidator) Type() string { return "static" }

// Len is the number of tokens in the table.
func (s *StaticValidator) Len() int { return len(s.byHash) }

// Lookup returns the validation result for a token hash at the given time (unix seconds). Unknown and
// expired tokens are invalid alike.
func (s *StaticValidator) Lookup(h bearer.Hash, nowUnix int64) Validation {
	t, ok := s.byHash[h]
	if !ok || (t.ExpiresAt != 0 && nowUnix >= t.ExpiresAt) {
		return Validation{Result: Invalid}
	}
	return Validation{Result: Valid, Subject: t.Subject, SubjectType: t.SubjectType, Scopes: t.Scopes, ScopesText: t.scopesText}
}

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

func decodeValidator(v strictjson.Value, path string) (Validator, error) {
	if v.Kind != strictjson.Object {
		return nil, errAt(path, "must be an object, got "+v.Kind.String())
	}
	typ, ok := v.Get("type")
	if !ok {
		return nil, errAt(path+".type", `is required ("static", "introspection", "forward" or "jwt")`)
	}
	t, err := str(typ, path+".type")
	if err != nil {
		return nil, err
	}
	switch t {
	case "static":
		return decodeStatic(v, path)
	case "introspection", "forward":
		return decodeRemote(t, v, path)
	case "jwt":
		return decodeJWT(v, path) // jwt.go with -tags jwt; jwt_off.go (a refusal naming the variant) otherwise
	default:
		return nil, errAt(path+".type", `must be "static", "introspection", "forward" or "jwt", got `+strconv.Quote(t))
	}
}

func decodeStatic(v strictjson.Value, path string) (*StaticValidator, error) {
	s := &StaticValidator{byHash: map[bearer.Hash]*StaticToken{}}
	for _, m := range v.Members {
		if m.Key != "type" && m.Key != "tokens" {
			return nil, errAt(path+"."+m.Key, "unknown key")
		}
	}
	tp := path + ".tokens"
	tokens, present := v.Get("tokens")
	if !present {
		return nil, errAt(tp, "is required")
	}
	if tokens.Kind != strictjson.Array {
		return nil, errAt(tp, "must be an array, got "+tokens.Kind.String())
	}
	for i, item := range tokens.Items {
		ip := tp + "[" + strconv.Itoa(i) + "]"
		if item.Kind != strictjson.Object {
			return nil, errAt(ip, "must be an object, got "+item.Kind.String())
		}
		var (
			tok     StaticToken
			hash    bearer.Hash
			hasHash bool
		)
		for _, m := range item.Members {
			mp := ip + "." + m.Key
			var err error
			switch m.Key {
			case "sha256":
				var hx string
				if hx, err = str(m.Value, mp); err == nil {
					if hash, hasHash = bearer.ParseHex(hx); !hasHash {
						err = errAt(mp, "must be 64 hex digits (the SHA-256 of the token)")
					}
				}
			case "subject":
				tok.Subject, err = str(m.Value, mp)
				if err == nil && !validHeaderValue(tok.Subject) {
					err = errAt(mp, "must be printable ASCII (it is sent upstream in a header)")
				}
			case "subject_type":
				tok.SubjectType, err = str(m.Value, mp)
				if err == nil && !validSubjectType(tok.SubjectType) {
					err = errAt(mp, "must be one token of visible ASCII, got "+strconv.Quote(tok.SubjectType))
				}
			case "scopes":
				tok.Scopes, err = scopeList(m.Value, mp)
			case "expires_at":
				tok.ExpiresAt, err = integer(m.Value, mp, 1, 1<<62)
			default:
				err = errAt(mp, "unknown key")
			}
			if err != nil {
				return nil, err
			}
		}
		if !hasHash {
			return nil, errAt(ip+".sha256", "is required")
		}
		if _, dup := s.byHash[hash]; dup {
			return nil, errAt(ip+".sha256", "duplicates an earlier token")
		}
		tok.scopesText = strings.Join(tok.Scopes, " ")
		s.byHash[hash] = &tok
	}
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
