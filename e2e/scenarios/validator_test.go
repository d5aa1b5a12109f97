package scenarios

import "testing"

func startValidator(t testing.TB) (*ValidatorStub, string) {
	t.Helper()
	v, err := StartValidatorStub(table)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	refused, err := RefusedAddr()
	if err != nil {
		t.Fatal(err)
	}
	return v, refused
}
