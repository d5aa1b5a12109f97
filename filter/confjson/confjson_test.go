package confjson

import (
	"errors"
	"slices"
	"testing"

	"github.com/scope-gate/scope-gate/filter/strictjson"
)

func parse(t *testing.T, s string) strictjson.Value {
	t.Helper()
	v, err := strictjson.Parse([]byte(s), strictjson.DefaultMaxDepth)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestTypedReads(t *testing.T) {
	for _, tc := range []struct {
		name, json string
		read       func(strictjson.Value) error
		want       string // the error, "" for none
	}{
		{"string", `"x"`, func(v strictjson.Value) error { _, err := String(v, "$.a"); return err }, ""},
		{"string of number", `1`, func(v strictjson.Value) error { _, err := String(v, "$.a"); return err }, "scope-gate configuration: $.a: must be a string, got number"},
		{"bool", `true`, func(v strictjson.Value) error { _, err := Bool(v, "$.a"); return err }, ""},
		{"bool of string", `"true"`, func(v strictjson.Value) error { _, err := Bool(v, "$.a"); return err }, "scope-gate configuration: $.a: must be a boolean, got string"},
		{"int in range", `5`, func(v strictjson.Value) error { _, err := Int(v, "$.a", 0, 10); return err }, ""},
		{"int out of range", `11`, func(v strictjson.Value) error { _, err := Int(v, "$.a", 0, 10); return err }, "scope-gate configuration: $.a: must be between 0 and 10, got 11"},
		{"int of fraction", `1.5`, func(v strictjson.Value) error { _, err := Int(v, "$.a", 0, 10); return err }, "scope-gate configuration: $.a: must be an integer, got 1.5"},
		{"scope list", `["b","a","b"]`, func(v strictjson.Value) error {
			l, err := ScopeList(v, "$.a")
			if err == nil && !slices.Equal(l, []string{"a", "b"}) {
				return errors.New("not sorted and deduplicated")
			}
			return err
		}, ""},
		{"scope list bad token", `["a b"]`, func(v strictjson.Value) error { _, err := ScopeList(v, "$.a"); return err }, `scope-gate configuration: $.a[0]: is not an RFC 6749 scope token: "a b"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.read(parse(t, tc.json))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestMembers(t *testing.T) {
	var seen []string
	err := Members(parse(t, `{"a":1,"b":2,"c":3}`), "$.x", func(key, mp string, v strictjson.Value) error {
		seen = append(seen, mp)
		if key == "b" {
			return At(mp, "stop")
		}
		return nil
	})
	if err == nil || err.Error() != "scope-gate configuration: $.x.b: stop" || !slices.Equal(seen, []string{"$.x.a", "$.x.b"}) {
		t.Fatalf("err %v, seen %q: want the walk to stop at b with its path", err, seen)
	}
	if err := Members(parse(t, `[1]`), "$.x", nil); err == nil || err.Error() != "scope-gate configuration: $.x: must be an object, got array" {
		t.Fatalf("non-object: %v", err)
	}
}
