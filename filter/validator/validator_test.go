package validator

import "testing"

func TestStaticLookup(t *testing.T) {
	c := mustParse(t, referenceConfig())
	s := c.Validator.(*Static)
	if s.Len() != 5 {
		t.Fatalf("Len = %d", s.Len())
	}
	tests := []struct {
		name   string
		token  string
		at     int64
		want   Result
		scopes string
	}{
		{"known", accountToken, now, Valid, ""},
		{"upper-case hash in config", scopedToken, now, Valid, "apps:read workspace:read"},
		{"unknown", unknownToken, now, Invalid, ""},
		{"expired", expiredToken, now, Invalid, ""},
		{"one second before expiry", ssoToken, futureExpires - 1, Valid, ""},
		{"at expiry", ssoToken, futureExpires, Invalid, ""},
	}
	for _, tc := range tests {
		v := s.Lookup(hashOf(tc.token), tc.at)
		if v.Result != tc.want || v.ScopesText != tc.scopes {
			t.Errorf("%s: Lookup = %+v, want %v %q", tc.name, v, tc.want, tc.scopes)
		}
	}
}

func TestParseRemoteValidators(t *testing.T) {
	c := mustParse(t, `{"validator": {"type": "introspection", "cluster": "idp", "authority": "idp.example", "path": "/oauth2/introspect", "timeout_ms": 250, "client_id": "scope gate", "client_secret": "s3cr:t"}}`)
	r := c.Validator.(*Remote)
	if r.Kind != "introspection" || r.Cluster != "idp" || r.Method != "POST" || r.TimeoutMillis != 250 {
		t.Fatalf("introspection: %+v", r)
	}
	want := [][2]string{{":method", "POST"}, {":path", "/oauth2/introspect"}, {":authority", "idp.example"}, {"accept", "application/json"},
		{"content-type", "application/x-www-form-urlencoded"}, {"authorization", "Basic c2NvcGUrZ2F0ZTpzM2NyJTNBdA=="}} // base64("scope+gate:s3cr%3At")
	if len(r.headers) != len(want) {
		t.Fatalf("headers %v", r.headers)
	}
	for i := range want {
		if r.headers[i] != want[i] {
			t.Fatalf("header %d = %v, want %v", i, r.headers[i], want[i])
		}
	}
	f := mustParse(t, `{"validator": {"type": "forward", "cluster": "api", "authority": "api.dify.example", "path": "/openapi/v1/account"}}`)
	fr := f.Validator.(*Remote)
	if fr.Kind != "forward" || fr.Method != "GET" || fr.TimeoutMillis != 500 {
		t.Fatalf("forward defaults: %+v", fr)
	}
}
