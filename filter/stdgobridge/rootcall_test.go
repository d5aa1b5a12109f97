package stdgobridge

import (
	"testing"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/internal"
)

func TestDeliverRootCall(t *testing.T) {
	var got [3]int
	calls := 0
	rootCalls[7] = func(h, b, tr int) { got = [3]int{h, b, tr}; calls++ }
	if deliverRootCall(8, 1, 2, 3) {
		t.Fatal("unknown token delivered")
	}
	if !deliverRootCall(7, 4, 5, 6) || got != [3]int{4, 5, 6} || calls != 1 {
		t.Fatalf("delivery: %v %d", got, calls)
	}
	if deliverRootCall(7, 4, 5, 6) || calls != 1 {
		t.Fatal("a callback ran twice")
	}
	if PendingRootCalls() != 0 {
		t.Fatal("callback not forgotten")
	}
}

// status answers what the SDK's StatusToError answers for every status the ABI defines, and an error (never
// nil, never OK) for any other.
func TestStatusMatchesSDK(t *testing.T) {
	for st := internal.Status(0); st < 16; st++ {
		got, want := status(st), internal.StatusToError(st)
		if (got == nil) != (want == nil) || got != nil && got.Error() != want.Error() {
			t.Errorf("status(%d) = %v, want %v", st, got, want)
		}
	}
	for _, st := range []internal.Status{16, 17, 255, 1 << 31} {
		if status(st) == nil {
			t.Errorf("status(%d) = nil", st)
		}
	}
}
