// Package quote quotes strings for error messages and log lines, as strconv.Quote does for printable ASCII,
// and with a \xNN escape for every other byte, so a quoted value never carries a control byte, a
// terminal escape or a non-ASCII byte into a log. It exists because strconv's quoting links its Unicode
// printability tables into the module (about 14 KB of a module that ships inside Envoy); the filter's
// messages only ever quote ASCII configuration values, JSON paths and route names.
package quote

// String returns s in double quotes, escaped (see the package comment).
func String(s string) string { return string(Append(make([]byte, 0, len(s)+2), s)) }

// Byte returns c in single quotes, as strconv.QuoteRune does for an ASCII byte ('\xNN' for any other).
func Byte(c byte) string {
	return string(appendQuoted(make([]byte, 0, 6), string([]byte{c}), '\''))
}

// Append appends String(s) to dst.
func Append(dst []byte, s string) []byte { return appendQuoted(dst, s, '"') }

func appendQuoted(dst []byte, s string, q byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, q)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == q || c == '\\':
			dst = append(dst, '\\', c)
		case c >= 0x20 && c < 0x7f:
			dst = append(dst, c)
		case c == '\a':
			dst = append(dst, `\a`...)
		case c == '\b':
			dst = append(dst, `\b`...)
		case c == '\f':
			dst = append(dst, `\f`...)
		case c == '\n':
			dst = append(dst, `\n`...)
		case c == '\r':
			dst = append(dst, `\r`...)
		case c == '\t':
			dst = append(dst, `\t`...)
		case c == '\v':
			dst = append(dst, `\v`...)
		default:
			dst = append(dst, '\\', 'x', hex[c>>4], hex[c&0xf])
		}
	}
	return append(dst, q)
}
