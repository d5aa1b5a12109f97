package scenarios

import (
	"strings"
	"testing"
)

// TestSeparateHeaderRows: the table keeps rows that deliver repeated Authorization headers as separate
// entries (as hosts other than Envoy do), and every such row is marked as impossible for drivers that go
// through Envoy or real HTTP; rows that repeat Authorization without the mark are the Envoy (joined) form.
func TestSeparateHeaderRows(t *testing.T) {
	separate, joined := 0, 0
	for _, s := range table.Scenarios {
		n := 0
		for _, h := range s.Request.Headers {
			if strings.EqualFold(h[0], "authorization") {
				n++
			}
		}
		if s.Request.SeparateHeaders {
			separate++
			if s.HTTPFormProblem() == "" {
				t.Errorf("%s delivers separate headers but is not marked for real-HTTP drivers", s.Name)
			}
			continue
		}
		if n > 1 {
			joined++
		}
	}
	if separate == 0 || joined == 0 {
		t.Fatalf("%d separate-header rows and %d joined rows with repeated Authorization; want both kinds", separate, joined)
	}
}
