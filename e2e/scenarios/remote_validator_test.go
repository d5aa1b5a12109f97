package scenarios

import "testing"

// TestRemoteValidator: configurations whose validator caches its answers in shared data (remote, jwt) are
// told apart from those that do not (static, none, unparsable), through the validator itself.
func TestRemoteValidator(t *testing.T) {
	for _, tc := range []struct {
		cfg  string
		want bool
	}{
		{`{"validator": {"type": "forward", "cluster": "c", "authority": "a", "path": "/p"}}`, true},
		{`{"validator": {"type": "jwt", "issuer": "i", "audience": "a", "jwks_cluster": "c", "jwks_authority": "a", "jwks_path": "/j"}}`, true},
		{`{"validator": {"type": "static", "tokens": []}}`, false},
		{`{}`, false},
		{`{"validator": {"type": "nosuch"}}`, false},
	} {
		if got := RemoteValidator([]byte(tc.cfg)); got != tc.want {
			t.Errorf("RemoteValidator(%s) = %v, want %v", tc.cfg, got, tc.want)
		}
	}
}
