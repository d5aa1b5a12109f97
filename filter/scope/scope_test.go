package scope

import (
	"slices"
	"testing"
)

func TestValidToken(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"apps:read", true}, {"full", true}, {"a!#$%&'()*+,-./:;<=>?@[]^_`{|}~", true},
		{"", false}, {"a b", false}, {`a"b`, false}, {`a\b`, false}, {"a\x7f", false}, {"caf\xc3\xa9", false}, {"\t", false},
	} {
		if got := ValidToken(tc.s); got != tc.want {
			t.Errorf("ValidToken(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}

func TestSplitSpaced(t *testing.T) {
	for _, tc := range []struct {
		s       string
		items   []string
		bad     string
		ok      bool
		comment string
	}{
		{"apps:read", []string{"apps:read"}, "", true, "one"},
		{"apps:read workspace:read", []string{"apps:read", "workspace:read"}, "", true, "two, order kept"},
		{"", nil, "", false, "empty"},
		{" a", nil, "", false, "leading space"},
		{"a ", nil, "", false, "trailing space"},
		{"a  b", nil, "", false, "double space"},
		{`a b"c`, nil, `b"c`, false, "the offending token is reported"},
	} {
		items, bad, ok := SplitSpaced(tc.s, ValidToken)
		if ok != tc.ok || bad != tc.bad || !slices.Equal(items, tc.items) {
			t.Errorf("%s: SplitSpaced(%q) = %q %q %v, want %q %q %v", tc.comment, tc.s, items, bad, ok, tc.items, tc.bad, tc.ok)
		}
	}
}

func TestFieldsSortedSetJoin(t *testing.T) {
	got, ok := Fields("  b a  b c ")
	if !ok || !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("Fields = %q %v", got, ok)
	}
	if _, ok := Fields(`a "b`); ok {
		t.Fatal(`Fields accepted a '"'`)
	}
	if got, ok := Fields(""); !ok || len(got) != 0 {
		t.Fatalf("Fields(\"\") = %q %v, want none", got, ok)
	}
	if s := Join([]string{"a", "b", "c"}); s != "a b c" {
		t.Fatalf("Join = %q", s)
	}
	if s := Join(nil); s != "" {
		t.Fatalf("Join(nil) = %q", s)
	}
	if got := SortedSet([]string{"z", "a", "z", "m", "a"}); !slices.Equal(got, []string{"a", "m", "z"}) {
		t.Fatalf("SortedSet = %q", got)
	}
}
