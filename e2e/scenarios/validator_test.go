package scenarios

import (
	"testing"

	"github.com/scope-gate/scope-gate/e2e/testkit"
)

func startValidator(t testing.TB) (*ValidatorStub, string) {
	t.Helper()
	v, err := StartValidatorStub(table)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	refused, err := testkit.RefusedAddr()
	if err != nil {
		t.Fatal(err)
	}
	return v, refused
}
