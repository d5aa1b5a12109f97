// Package strictjson parses JSON into a small tree with no reflection, rejecting what a configuration
// language should reject and encoding/json silently accepts: duplicate object keys, trailing data, invalid
// UTF-8 and nesting past a depth limit. Numbers keep their literal text so integers are range-checked
// exactly instead of passing through float64.
//
// It exists because the filter parses its configuration (and, later, validator answers) inside Envoy:
// encoding/json's reflection and its Decoder (which links WASI file reads) are the wrong tools there.
package strictjson

import (
	"errors"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/scope-gate/scope-gate/filter/internal/quote"
)

// Kind is the JSON type of a Value.
type Kind uint8

const (
	Null Kind = iota
	Bool
	Number
	String
	Array
	Object
)

func (k Kind) String() string {
	switch k {
	case Null:
		return "null"
	case Bool:
		return "boolean"
	case Number:
		return "number"
	case String:
		return "string"
	case Array:
		return "array"
	case Object:
		return "object"
	}
	return "invalid"
}

// Value is one parsed JSON value.
type Value struct {
	Kind    Kind
	Text    string   // String: the decoded string; Number: the literal as written
	Boolean bool     // Bool
	Items   []Value  // Array
	Members []Member // Object, in document order, keys unique
}

// Member is one key of an object.
type Member struct {
	Key   string
	Value Value
}

// Get returns the member named key.
func (v Value) Get(key string) (Value, bool) {
	for _, m := range v.Members {
		if m.Key == key {
			return m.Value, true
		}
	}
	return Value{}, false
}

// Int returns a Number as an int64 when it is an integer literal (no fraction, no exponent) in range.
// It reads the literal exactly, without strconv: the module ships without strconv's number parsers (their
// code and tables are about 25 KB of wasm).
func (v Value) Int() (int64, bool) {
	if v.Kind != Number || v.Text == "" {
		return 0, false
	}
	t, neg := v.Text, v.Text[0] == '-'
	if neg {
		t = t[1:]
	}
	if t == "" {
		return 0, false
	}
	// Accumulate negatively: -2^63 is representable, 2^63 is not.
	var n int64
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c < '0' || c > '9' || n < (math.MinInt64+int64(c-'0'))/10 {
			return 0, false
		}
		n = n*10 - int64(c-'0')
	}
	if !neg {
		if n == math.MinInt64 {
			return 0, false
		}
		n = -n
	}
	return n, true
}

// Seconds reads a non-negative Number (a NumericDate or a duration: fractions and exponents allowed, as JSON
// writes them) exactly: its whole part, and whether a non-zero fraction was cut off. It refuses negative
// numbers (-0 is 0) and values above 2^62.
func (v Value) Seconds() (whole int64, fraction bool, ok bool) {
	if v.Kind != Number {
		return 0, false, false
	}
	t := v.Text
	neg := len(t) > 0 && t[0] == '-'
	if neg {
		t = t[1:]
	}
	// Split the literal into its digits (integer and fraction parts, without the point) and the position
	// of the decimal point among them once the exponent is applied.
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	intDigits, rest := t[:i], t[i:]
	fracDigits := ""
	if len(rest) > 0 && rest[0] == '.' {
		j := 1
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		fracDigits, rest = rest[1:j], rest[j:]
	}
	exp := 0
	if len(rest) > 0 && (rest[0] == 'e' || rest[0] == 'E') {
		rest = rest[1:]
		expNeg := len(rest) > 0 && rest[0] == '-'
		if len(rest) > 0 && (rest[0] == '-' || rest[0] == '+') {
			rest = rest[1:]
		}
		if rest == "" {
			return 0, false, false
		}
		for ; rest != "" && rest[0] >= '0' && rest[0] <= '9'; rest = rest[1:] {
			if exp < 1000 { // beyond, the value is 0 or out of range whatever the digits
				exp = exp*10 + int(rest[0]-'0')
			}
		}
		if expNeg {
			exp = -exp
		}
	}
	if intDigits == "" || rest != "" {
		return 0, false, false
	}
	digit := func(k int) byte { // k-th digit of intDigits+fracDigits
		if k < len(intDigits) {
			return intDigits[k]
		}
		return fracDigits[k-len(intDigits)]
	}
	total, point := len(intDigits)+len(fracDigits), len(intDigits)+exp
	const limit = 1 << 62
	for k := 0; k < point; k++ {
		d := int64(0)
		if k < total {
			d = int64(digit(k) - '0')
		}
		if whole > (limit-d)/10 {
			return 0, false, false
		}
		whole = whole*10 + d
	}
	for k := max(point, 0); k < total; k++ {
		if digit(k) != '0' {
			fraction = true
			break
		}
	}
	if neg && (whole != 0 || fraction) || whole == limit && fraction {
		return 0, false, false
	}
	return whole, fraction, true
}

// SyntaxError reports where the input stops being acceptable JSON.
type SyntaxError struct {
	Offset int // byte offset into the input
	Msg    string
}

func (e *SyntaxError) Error() string {
	return "invalid JSON at byte " + strconv.Itoa(e.Offset) + ": " + e.Msg
}

// DefaultMaxDepth bounds nesting so that hostile input cannot exhaust the stack.
const DefaultMaxDepth = 32

// Parse parses exactly one JSON value (surrounded by optional whitespace) with nesting at most maxDepth.
func Parse(data []byte, maxDepth int) (Value, error) {
	p := parser{data: data, maxDepth: maxDepth}
	p.skipSpace()
	v, err := p.value(0)
	if err != nil {
		return Value{}, err
	}
	p.skipSpace()
	if p.pos != len(p.data) {
		return Value{}, p.fail("unexpected data after the top-level value")
	}
	return v, nil
}

type parser struct {
	data     []byte
	pos      int
	maxDepth int
}

var errDepth = errors.New("nesting too deep")

func (p *parser) fail(msg string) error { return &SyntaxError{Offset: p.pos, Msg: msg} }

func (p *parser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) value(depth int) (Value, error) {
	if p.pos >= len(p.data) {
		return Value{}, p.fail("unexpected end of input")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		s, err := p.str()
		return Value{Kind: String, Text: s}, err
	case c == 't':
		return Value{Kind: Bool, Boolean: true}, p.literal("true")
	case c == 'f':
		return Value{Kind: Bool}, p.literal("false")
	case c == 'n':
		return Value{Kind: Null}, p.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	default:
		return Value{}, p.fail("unexpected character " + quote.Byte(c))
	}
}

func (p *parser) literal(word string) error {
	if len(p.data)-p.pos < len(word) || string(p.data[p.pos:p.pos+len(word)]) != word {
		return p.fail("invalid literal, expected " + word)
	}
	p.pos += len(word)
	return nil
}

func (p *parser) enter(depth int) error {
	if depth+1 > p.maxDepth {
		return &SyntaxError{Offset: p.pos, Msg: errDepth.Error() + " (limit " + strconv.Itoa(p.maxDepth) + ")"}
	}
	return nil
}

func (p *parser) object(depth int) (Value, error) {
	if err := p.enter(depth); err != nil {
		return Value{}, err
	}
	p.pos++ // '{'
	v := Value{Kind: Object}
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return v, nil
	}
	for {
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return Value{}, p.fail("expected a string key")
		}
		keyAt := p.pos
		key, err := p.str()
		if err != nil {
			return Value{}, err
		}
		for _, m := range v.Members {
			if m.Key == key {
				return Value{}, &SyntaxError{Offset: keyAt, Msg: "duplicate key " + quote.String(key)}
			}
		}
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return Value{}, p.fail("expected ':' after key")
		}
		p.pos++
		p.skipSpace()
		item, err := p.value(depth + 1)
		if err != nil {
			return Value{}, err
		}
		v.Members = append(v.Members, Member{Key: key, Value: item})
		p.skipSpace()
		if p.pos >= len(p.data) {
			return Value{}, p.fail("unexpected end of input in object")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return v, nil
		default:
			return Value{}, p.fail("expected ',' or '}' in object")
		}
	}
}

func (p *parser) array(depth int) (Value, error) {
	if err := p.enter(depth); err != nil {
		return Value{}, err
	}
	p.pos++ // '['
	v := Value{Kind: Array}
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return v, nil
	}
	for {
		p.skipSpace()
		item, err := p.value(depth + 1)
		if err != nil {
			return Value{}, err
		}
		v.Items = append(v.Items, item)
		p.skipSpace()
		if p.pos >= len(p.data) {
			return Value{}, p.fail("unexpected end of input in array")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return v, nil
		default:
			return Value{}, p.fail("expected ',' or ']' in array")
		}
	}
}

func (p *parser) number() (Value, error) {
	start := p.pos
	if p.data[p.pos] == '-' {
		p.pos++
	}
	digits := func() int {
		n := 0
		for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	intStart := p.pos
	if n := digits(); n == 0 {
		return Value{}, p.fail("expected digits in number")
	} else if n > 1 && p.data[intStart] == '0' {
		return Value{}, &SyntaxError{Offset: intStart, Msg: "leading zero in number"}
	}
	if p.pos < len(p.data) && p.data[p.pos] == '.' {
		p.pos++
		if digits() == 0 {
			return Value{}, p.fail("expected digits after '.'")
		}
	}
	if p.pos < len(p.data) && (p.data[p.pos] == 'e' || p.data[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.data) && (p.data[p.pos] == '+' || p.data[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return Value{}, p.fail("expected digits in exponent")
		}
	}
	return Value{Kind: Number, Text: string(p.data[start:p.pos])}, nil
}

// str parses a string starting at the opening quote and returns it decoded.
func (p *parser) str() (string, error) {
	p.pos++ // '"'
	start := p.pos
	// Fast path: no escapes.
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		if c == '"' {
			s := p.data[start:p.pos]
			if !utf8.Valid(s) {
				return "", &SyntaxError{Offset: start, Msg: "invalid UTF-8 in string"}
			}
			p.pos++
			return string(s), nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return "", p.fail("control character in string")
		}
		p.pos++
	}
	buf := append([]byte(nil), p.data[start:p.pos]...)
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			if !utf8.Valid(buf) {
				return "", &SyntaxError{Offset: start, Msg: "invalid UTF-8 in string"}
			}
			p.pos++
			return string(buf), nil
		case c < 0x20:
			return "", p.fail("control character in string")
		case c != '\\':
			buf = append(buf, c)
			p.pos++
			continue
		}
		p.pos++ // '\\'
		if p.pos >= len(p.data) {
			break
		}
		esc := p.data[p.pos]
		p.pos++
		switch esc {
		case '"', '\\', '/':
			buf = append(buf, esc)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", p.fail("invalid \\u escape")
			}
			if utf16.IsSurrogate(r) {
				// A high surrogate must be followed by an escaped low surrogate; anything else is invalid.
				if p.pos+2 > len(p.data) || p.data[p.pos] != '\\' || p.data[p.pos+1] != 'u' {
					return "", p.fail("unpaired surrogate in \\u escape")
				}
				p.pos += 2
				r2, ok := p.hex4()
				if !ok {
					return "", p.fail("invalid \\u escape")
				}
				r = utf16.DecodeRune(r, r2)
				if r == utf8.RuneError {
					return "", p.fail("invalid surrogate pair in \\u escape")
				}
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return "", p.fail("invalid escape \\" + string(rune(esc)))
		}
	}
	return "", p.fail("unterminated string")
}

func (p *parser) hex4() (rune, bool) {
	if len(p.data)-p.pos < 4 {
		return 0, false
	}
	var r rune
	for _, c := range p.data[p.pos : p.pos+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	p.pos += 4
	return r, true
}

// AppendQuoted appends s to dst as a JSON string, escaping '"', '\' and control characters (what the
// filter writes: reply bodies, re-serialized JWKS documents).
func AppendQuoted(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
