// Package confjson reads scope-gate's JSON configuration values (strictjson trees) into typed values, and
// reports what is wrong as one line with the JSON path of the offending value (docs/spec.md §2): the plugin
// configuration (filter/config) and each validator's own object (filter/validator) share it, so every error
// reads the same whichever package found it.
package confjson

import (
	"strconv"

	"github.com/scope-gate/scope-gate/filter/internal/quote"
	"github.com/scope-gate/scope-gate/filter/scope"
	"github.com/scope-gate/scope-gate/filter/strictjson"
)

// Error is a configuration error: what is wrong and where, as a JSON path, in one line.
type Error struct {
	Path string // JSON path, "$" for the document
	Msg  string
}

func (e *Error) Error() string { return "scope-gate configuration: " + e.Path + ": " + e.Msg }

// At is the error for the value at path.
func At(path, msg string) *Error { return &Error{Path: path, Msg: msg} }

// String requires a JSON string.
func String(v strictjson.Value, path string) (string, error) {
	if v.Kind != strictjson.String {
		return "", At(path, "must be a string, got "+v.Kind.String())
	}
	return v.Text, nil
}

// Bool requires a JSON boolean.
func Bool(v strictjson.Value, path string) (bool, error) {
	if v.Kind != strictjson.Bool {
		return false, At(path, "must be a boolean, got "+v.Kind.String())
	}
	return v.Boolean, nil
}

// Int requires a JSON integer within [lo, hi].
func Int(v strictjson.Value, path string, lo, hi int64) (int64, error) {
	n, ok := v.Int()
	if !ok {
		if v.Kind == strictjson.Number {
			return 0, At(path, "must be an integer, got "+v.Text)
		}
		return 0, At(path, "must be an integer, got "+v.Kind.String())
	}
	if n < lo || n > hi {
		return 0, At(path, "must be between "+strconv.FormatInt(lo, 10)+" and "+strconv.FormatInt(hi, 10)+", got "+v.Text)
	}
	return n, nil
}

// ScopeList requires an array of RFC 6749 scope tokens; the result is sorted and deduplicated.
func ScopeList(v strictjson.Value, path string) ([]string, error) {
	if v.Kind != strictjson.Array {
		return nil, At(path, "must be an array of scope strings, got "+v.Kind.String())
	}
	out := make([]string, 0, len(v.Items))
	for i, it := range v.Items {
		ip := path + "[" + strconv.Itoa(i) + "]"
		s, err := String(it, ip)
		if err != nil {
			return nil, err
		}
		if !scope.ValidToken(s) {
			return nil, At(ip, "is not an RFC 6749 scope token: "+quote.String(s))
		}
		out = append(out, s)
	}
	return scope.SortedSet(out), nil
}

// Members requires an object at path and calls fn for each member, in document order, with the member's
// JSON path; the first error stops the walk. fn decides what a key means, and answers unknown keys itself.
func Members(v strictjson.Value, path string, fn func(key, memberPath string, val strictjson.Value) error) error {
	if v.Kind != strictjson.Object {
		return At(path, "must be an object, got "+v.Kind.String())
	}
	for _, m := range v.Members {
		if err := fn(m.Key, path+"."+m.Key, m.Value); err != nil {
			return err
		}
	}
	return nil
}
