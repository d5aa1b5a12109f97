package stdgobridge

import "testing"

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
