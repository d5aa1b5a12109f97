package bearer

import (
	"strings"
	"testing"
)

// reference is Read's definition, step by step.
func reference(value string) (string, Reading) {
	if strings.IndexByte(value, ',') >= 0 {
		return "", SeveralCredentials
	}
	tok, ok := Parse(value)
	if !ok {
		return "", NotBearer
	}
	if !WellFormed(tok) {
		return "", Malformed
	}
	return tok, Token
}

var readCases = []struct {
	value string
	want  Reading
}{
	{"Bearer dfoa_CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC", Token},
	{"bEaReR abc", Token},
	{"Bearer a", Token},
	{"Bearer  a ", Token},
	{"Bearer a,b", SeveralCredentials},
	{"Bearer abcdefgh,", SeveralCredentials},
	{"Bearer abcdefghijklmnop,", SeveralCredentials},
	{"Basic a,b", SeveralCredentials},
	{"Bearer a\x00bcdefghij,", SeveralCredentials},      // a bad byte in a word, the comma in the tail
	{"Bearer abcdefgh\x7fijklmno,", SeveralCredentials}, // the same, one word later
	{"Bearer ,", SeveralCredentials},
	{"Basic abc", NotBearer},
	{"Bearer", NotBearer},
	{"Bearer ", NotBearer},
	{"Bearer    ", NotBearer},
	{" Bearer abc", NotBearer},
	{"Bearer\tabc", NotBearer},
	{"Bearerx abc", NotBearer},
	{"Bearer abc\x7f", Malformed},
	{"Bearer abcdefgh\x80", Malformed},
	{"Bearer abcdefg\x20h", Malformed},
	{"Bearer \xffabcdefg", Malformed},
	{"Bearer abcdefg\x00", Malformed},
	{"Bearer " + strings.Repeat("a", MaxTokenLen), Token},
	{"Bearer " + strings.Repeat("a", MaxTokenLen+1), Malformed},
	{"Bearer " + strings.Repeat("a", MaxTokenLen+1) + ",", SeveralCredentials},
	{"B\xe5arer abc", NotBearer}, // 0xe5 | 0x20 is not 'e'
	{"Bearer!abc", NotBearer},
	{"Bearer@abc", NotBearer}, // '@' | 0x20 is '`': never folds onto a letter of the scheme
}

func TestRead(t *testing.T) {
	for _, tc := range readCases {
		tok, got := Read(tc.value)
		wantTok, want := reference(tc.value)
		if got != tc.want || want != tc.want || tok != wantTok {
			t.Errorf("Read(%q) = %q, %d; reference %q, %d; want %d", tc.value, tok, got, wantTok, want, tc.want)
		}
	}
}

func TestReadDoesNotAllocate(t *testing.T) {
	v := readCases[0].value
	if n := testing.AllocsPerRun(100, func() { Read(v) }); n != 0 {
		t.Fatalf("Read allocates %v times", n)
	}
}

// FuzzRead holds Read to its definition on arbitrary values, the word-at-a-time path included.
func FuzzRead(f *testing.F) {
	for _, tc := range readCases {
		f.Add(tc.value)
	}
	f.Fuzz(func(t *testing.T, v string) {
		tok, got := Read(v)
		wantTok, want := reference(v)
		if got != want || tok != wantTok {
			t.Fatalf("Read(%q) = %q, %d; reference %q, %d", v, tok, got, wantTok, want)
		}
	})
}

func BenchmarkRead(b *testing.B) {
	v := readCases[0].value
	for i := 0; i < b.N; i++ {
		Read(v)
	}
}
