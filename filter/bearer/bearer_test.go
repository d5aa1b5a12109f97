package bearer

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name      string
		value     string
		wantToken string
		wantOK    bool
	}{
		{"canonical", "Bearer dfoa_abc", "dfoa_abc", true},
		{"lower-case scheme", "bearer dfoa_abc", "dfoa_abc", true},
		{"upper-case scheme", "BEARER dfoa_abc", "dfoa_abc", true},
		{"mixed-case scheme", "bEaReR dfoa_abc", "dfoa_abc", true},
		{"extra spaces are trimmed", "Bearer    dfoa_abc   ", "dfoa_abc", true},
		{"inner space kept (screened later)", "Bearer a b", "a b", true},
		{"empty value", "", "", false},
		{"scheme only", "Bearer", "", false},
		{"scheme and spaces only", "Bearer    ", "", false},
		{"other scheme", "Basic dXNlcjpwYXNz", "", false},
		{"scheme prefix is not the scheme", "Bearerx abc", "", false},
		{"tab separator is no bearer", "Bearer\tabc", "", false},
		{"leading space is no bearer", " Bearer abc", "", false},
		{"token scheme", "Token abc", "", false},
		{"tab after space kept (screened later)", "Bearer \tabc", "\tabc", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, ok := Parse(tc.value)
			if tok != tc.wantToken || ok != tc.wantOK {
				t.Fatalf("Parse(%q) = %q, %v; want %q, %v", tc.value, tok, ok, tc.wantToken, tc.wantOK)
			}
		})
	}
}

func TestWellFormed(t *testing.T) {
	tests := []struct {
		name  string
		token string
		want  bool
	}{
		{"reference token", "dfoa_" + strings.Repeat("A", 43), true},
		{"every visible byte", "!~azAZ09_-.", true},
		{"exactly the limit", strings.Repeat("a", MaxTokenLen), true},
		{"one past the limit", strings.Repeat("a", MaxTokenLen+1), false},
		{"empty", "", false},
		{"space", "a b", false},
		{"tab", "a\tb", false},
		{"NUL", "a\x00b", false},
		{"DEL", "a\x7fb", false},
		{"non-ASCII", "tökén", false},
		{"CR LF", "a\r\nb", false},
	}
	for _, tc := range tests {
		if got := WellFormed(tc.token); got != tc.want {
			t.Errorf("%s: WellFormed = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// parsedSink keeps Parse's result alive, so the measured call is not optimized away.
var parsedSink string

func TestParseDoesNotAllocate(t *testing.T) {
	v := "Bearer dfoa_0123456789"
	if n := testing.AllocsPerRun(100, func() { parsedSink, _ = Parse(v) }); n != 0 {
		t.Fatalf("Parse allocated %v times", n)
	}
}

// FuzzParse checks the extraction invariants on arbitrary header values: an accepted token is a non-empty
// substring of the value with no leading or trailing space, preceded by a case-insensitive "bearer" and a
// space; a rejected value has no such shape.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer  x ", "Basic a", "Bearer", " Bearer a", "Bearer\ta", "BEARER \x00", strings.Repeat("Bearer ", 50)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		tok, ok := Parse(v)
		i := strings.IndexByte(v, ' ')
		shaped := i >= 0 && strings.EqualFold(v[:i], "bearer") && strings.Trim(v[i+1:], " ") != ""
		if ok != shaped {
			t.Fatalf("Parse(%q) ok = %v, want %v", v, ok, shaped)
		}
		if !ok {
			return
		}
		if tok != strings.Trim(v[i+1:], " ") {
			t.Fatalf("Parse(%q) = %q", v, tok)
		}
		if WellFormed(tok) && (strings.ContainsAny(tok, " \t\r\n\x00") || len(tok) > MaxTokenLen) {
			t.Fatalf("WellFormed accepted %q", tok)
		}
	})
}
