package validator

import (
	"net/url"
	"strings"
	"testing"

	"github.com/scope-gate/scope-gate/filter/bearer"
)

const introspectionConfig = `{"token_kinds": [{"prefix": "dfoa_", "subject_type": "account", "scopes": ["full"]}],
 "validator": {"type": "introspection", "cluster": "idp", "authority": "idp.example", "path": "/introspect", "client_id": "gw", "client_secret": "pw"}}`

const forwardConfig = `{"token_kinds": [{"prefix": "dfoa_", "subject_type": "account", "scopes": ["full"]}],
 "validator": {"type": "forward", "cluster": "api", "authority": "api.example", "path": "/openapi/v1/account"}}`

func TestRemoteRequest(t *testing.T) {
	r := mustParse(t, introspectionConfig).Validator.(*Remote)
	headers, body := r.Request("dfoa_a+b/c=")
	if string(body) != "token=dfoa_a%2Bb%2Fc%3D&token_type_hint=access_token" {
		t.Fatalf("introspection body %q", body)
	}
	if headers[0] != [2]string{":method", "POST"} || headers[len(headers)-1][0] != "authorization" || !strings.HasPrefix(headers[len(headers)-1][1], "Basic ") {
		t.Fatalf("introspection headers %v", headers)
	}
	f := mustParse(t, forwardConfig).Validator.(*Remote)
	headers, body = f.Request("dfoa_x")
	if body != nil || headers[len(headers)-1] != [2]string{"authorization", "Bearer dfoa_x"} || headers[1] != [2]string{":path", "/openapi/v1/account"} {
		t.Fatalf("forward request %v %q", headers, body)
	}
	// The configured headers are not modified by a request.
	if len(f.headers) != 4 {
		t.Fatalf("forward base headers mutated: %v", f.headers)
	}
}

func TestIntrospectionAnswer(t *testing.T) {
	r := mustParse(t, introspectionConfig).Validator.(*Remote)
	tests := []struct {
		name    string
		status  int
		body    string
		result  Result
		subject string
		scopes  string
		exp     int64
		problem string
	}{
		{"active with everything", 200, `{"active":true,"scope":"b a  b","sub":"u1","username":"name","exp":1795000100,"client_id":"app"}`, Valid, "u1", "a b", 1795000100, ""},
		{"username when no sub", 200, `{"active":true,"username":"name"}`, Valid, "name", "", 0, ""},
		{"client_id when no user", 200, `{"active":true,"client_id":"svc"}`, Valid, "svc", "", 0, ""},
		{"subject made header-safe", 200, `{"active":true,"sub":"a\r\nx-admin: 1%"}`, Valid, "a%0D%0Ax-admin: 1%25", "", 0, ""},
		{"inactive", 200, `{"active":false}`, Invalid, "", "", 0, ""},
		{"expired", 200, `{"active":true,"exp":1794999999}`, Invalid, "", "", 1794999999, ""},
		{"expires now", 200, `{"active":true,"exp":1795000000}`, Invalid, "", "", 1795000000, ""},
		{"float exp", 200, `{"active":true,"exp":1795000002.5}`, Valid, "", "", 1795000002, ""},
		{"no active", 200, `{"scope":"a"}`, Unavailable, "", "", 0, `introspection answer has no boolean "active"`},
		{"active as string", 200, `{"active":"true"}`, Unavailable, "", "", 0, `introspection answer has no boolean "active"`},
		{"garbage", 200, `<html>`, Unavailable, "", "", 0, "introspection answer is not a JSON object"},
		{"empty body", 200, ``, Unavailable, "", "", 0, "introspection answer is not a JSON object"},
		{"bad exp", 200, `{"active":true,"exp":"soon"}`, Unavailable, "", "", 0, `introspection answer has a non-numeric "exp"`},
		{"bad scope type", 200, `{"active":true,"scope":["a"]}`, Unavailable, "", "", 0, `introspection answer has a non-string "scope"`},
		{"bad scope token", 200, `{"active":true,"scope":"a\"b"}`, Unavailable, "", "", 0, `introspection answer has an invalid "scope"`},
		{"wrong client credentials", 401, `{"error":"invalid_client"}`, Unavailable, "", "", 0, "introspection endpoint refused the client (401): check client_id and client_secret"},
		{"server error", 500, ``, Unavailable, "", "", 0, "introspection endpoint answered 500"},
		{"timeout", 504, `upstream request timeout`, Unavailable, "", "", 0, "introspection endpoint answered 504"},
		{"reset", 0, ``, Unavailable, "", "", 0, "introspection call failed (reset or connection failure)"},
	}
	for _, tc := range tests {
		v, exp, problem := r.Answer(tc.status, []byte(tc.body), now)
		if v.Result != tc.result || v.Subject != tc.subject || v.ScopesText != tc.scopes || exp != tc.exp || problem != tc.problem {
			t.Errorf("%s: got %+v exp=%d problem=%q", tc.name, v, exp, problem)
		}
	}
}

func TestForwardAnswer(t *testing.T) {
	r := mustParse(t, forwardConfig).Validator.(*Remote)
	account := `{"subject_type":"account","subject_email":"user@example.com","account":{"id":"42","email":"user@example.com","name":"U"},"workspaces":[],"default_workspace_id":null}`
	tests := []struct {
		name    string
		status  int
		body    string
		result  Result
		subject string
		problem string
	}{
		{"reference backend account", 200, account, Valid, "user@example.com", ""},
		{"sub", 200, `{"sub":"u7"}`, Valid, "u7", ""},
		{"account id", 200, `{"account":{"id":"42"}}`, Valid, "42", ""},
		{"sso user without account", 200, `{"subject_type":"external_sso","subject_email":"sso@example.com","account":null}`, Valid, "sso@example.com", ""},
		{"no body", 204, ``, Valid, "", ""},
		{"non-JSON 2xx", 200, `ok`, Valid, "", ""},
		{"unauthorized", 401, `{"code":"unauthorized"}`, Invalid, "", ""},
		{"forbidden", 403, ``, Invalid, "", ""},
		{"server error", 500, ``, Unavailable, "", "forward endpoint answered 500"},
		{"rate limited", 429, ``, Unavailable, "", "forward endpoint answered 429"},
		{"redirect", 302, ``, Unavailable, "", "forward endpoint answered 302"},
		{"timeout", 504, `upstream request timeout`, Unavailable, "", "forward endpoint answered 504"},
		{"reset", 0, ``, Unavailable, "", "forward call failed (reset or connection failure)"},
	}
	for _, tc := range tests {
		v, exp, problem := r.Answer(tc.status, []byte(tc.body), now)
		if v.Result != tc.result || v.Subject != tc.subject || problem != tc.problem || exp != 0 || v.ScopesText != "" {
			t.Errorf("%s: got %+v exp=%d problem=%q", tc.name, v, exp, problem)
		}
	}
}

// FuzzRemoteAnswer: any answer is interpreted without panicking, an Unavailable result always carries a
// reason, and a Valid one never carries a subject that could break a header.
func FuzzRemoteAnswer(f *testing.F) {
	f.Add(200, []byte(`{"active":true,"scope":"a b","sub":"x","exp":1795000100}`), true)
	f.Add(200, []byte(`{"subject_email":"a@b","account":{"id":"1"}}`), false)
	f.Add(500, []byte(`{`), true)
	ic, fc := mustParse(f, introspectionConfig), mustParse(f, forwardConfig)
	f.Fuzz(func(t *testing.T, status int, body []byte, introspection bool) {
		r := fc.Validator.(*Remote)
		if introspection {
			r = ic.Validator.(*Remote)
		}
		v, _, problem := r.Answer(status, body, now)
		if (v.Result == Unavailable) != (problem != "") {
			t.Fatalf("result %v with problem %q", v.Result, problem)
		}
		if !validHeaderValue(v.Subject) || !validHeaderValue(v.ScopesText) {
			t.Fatalf("unsafe identity %q %q", v.Subject, v.ScopesText)
		}
	})
}

// FuzzRemoteRequest: the introspection body always parses back to exactly the token and the hint, and the
// forward call carries exactly "Bearer <token>".
func FuzzRemoteRequest(f *testing.F) {
	f.Add("dfoa_a+b/c=&token=evil")
	f.Add("%00%zz")
	ic, fc := mustParse(f, introspectionConfig), mustParse(f, forwardConfig)
	f.Fuzz(func(t *testing.T, token string) {
		if !bearer.WellFormed(token) {
			return // the decision never sends such a token anywhere
		}
		_, body := ic.Validator.(*Remote).Request(token)
		q, err := url.ParseQuery(string(body))
		if err != nil || len(q) != 2 || len(q["token"]) != 1 || q.Get("token") != token || q.Get("token_type_hint") != "access_token" {
			t.Fatalf("introspection body %q does not carry exactly the token", body)
		}
		headers, _ := fc.Validator.(*Remote).Request(token)
		if last := headers[len(headers)-1]; last != [2]string{"authorization", "Bearer " + token} {
			t.Fatalf("forward header %v", last)
		}
	})
}
