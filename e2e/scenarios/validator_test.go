package scenarios

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// validatorServer is the loopback server behind cluster "validator": it answers as the current scenario
// says and records what it received.
type validatorServer struct {
	srv *httptest.Server

	mu        sync.Mutex
	behaviour *Validator
	requests  []ValidatorRequest
}

func newValidatorServer(t testing.TB) *validatorServer {
	v := &validatorServer{}
	v.srv = httptest.NewServer(http.HandlerFunc(v.serve))
	t.Cleanup(v.srv.Close)
	return v
}

func (v *validatorServer) addr() string { return strings.TrimPrefix(v.srv.URL, "http://") }

func (v *validatorServer) set(b *Validator) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.behaviour, v.requests = b, nil
}

func (v *validatorServer) received() []ValidatorRequest {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]ValidatorRequest(nil), v.requests...)
}

func (v *validatorServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec := ValidatorRequest{Method: r.Method, Path: r.URL.RequestURI(), Body: string(body), Headers: map[string]string{":authority": r.Host}}
	for k := range r.Header {
		rec.Headers[strings.ToLower(k)] = r.Header.Get(k)
	}
	v.mu.Lock()
	v.requests = append(v.requests, rec)
	b := v.behaviour
	v.mu.Unlock()
	if b == nil {
		http.Error(w, "no behaviour set", http.StatusTeapot)
		return
	}
	if b.DelayMS > 0 {
		time.Sleep(time.Duration(b.DelayMS) * time.Millisecond)
	}
	if b.Fixture == "reference_account" {
		referenceAccount(w, r)
		return
	}
	w.WriteHeader(b.Status)
	_, _ = io.WriteString(w, b.Body)
}

// referenceAccount mimics the reference backend's GET /openapi/v1/account: 200 with the account shape for a
// live token, 401 with the backend's error body otherwise.
func referenceAccount(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || r.URL.Path != "/openapi/v1/account" {
		http.NotFound(w, r)
		return
	}
	accounts := map[string]map[string]any{
		table.Tokens["account"].Token: {"subject_type": "account", "subject_email": "user@example.com",
			"account": map[string]any{"id": "42", "email": "user@example.com", "name": "User"}, "workspaces": []any{}, "default_workspace_id": nil},
		table.Tokens["sso"].Token: {"subject_type": "external_sso", "subject_email": "sso@example.com", "account": nil,
			"workspaces": []any{}, "default_workspace_id": nil},
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	body, live := accounts[tok]
	if !ok || !live {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"code":"unauthorized","message":"invalid bearer","status":401}`)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}

// refusedAddr is a loopback address nothing listens on.
func refusedAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

func checkValidator(t *testing.T, v *validatorServer, s Scenario) {
	t.Helper()
	got := v.received()
	if len(got) != s.Expect.ValidatorCalls {
		t.Errorf("validator received %d calls, want %d", len(got), s.Expect.ValidatorCalls)
		return
	}
	want := s.Expect.ValidatorRequest
	if want == nil || len(got) == 0 {
		return
	}
	g := got[0]
	if g.Method != want.Method || g.Path != want.Path || g.Body != want.Body {
		t.Errorf("validator request %s %s %q, want %s %s %q", g.Method, g.Path, g.Body, want.Method, want.Path, want.Body)
	}
	for k, wv := range want.Headers {
		if g.Headers[k] != wv {
			t.Errorf("validator request header %s = %q, want %q", k, g.Headers[k], wv)
		}
	}
}
