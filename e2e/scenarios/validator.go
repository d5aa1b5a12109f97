package scenarios

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// ValidatorStub is the loopback server behind cluster "validator" for every driver of the table (the wazero
// suite, the local gateway, a real Envoy): it answers as the current scenario's Validator says and records
// what it received.
type ValidatorStub struct {
	srv      *http.Server
	port     uint32
	accounts map[string]map[string]any // the "reference_account" fixture: token → body

	mu        sync.Mutex
	behaviour *Validator
	requests  []ValidatorRequest
}

// StartValidatorStub listens on a free loopback port.
func StartValidatorStub(f *File) (*ValidatorStub, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	v := &ValidatorStub{port: uint32(ln.Addr().(*net.TCPAddr).Port), accounts: map[string]map[string]any{
		f.Tokens["account"].Token: {"subject_type": "account", "subject_email": "user@example.com",
			"account": map[string]any{"id": "42", "email": "user@example.com", "name": "User"}, "workspaces": []any{}, "default_workspace_id": nil},
		f.Tokens["sso"].Token: {"subject_type": "external_sso", "subject_email": "sso@example.com", "account": nil,
			"workspaces": []any{}, "default_workspace_id": nil},
	}}
	v.srv = &http.Server{Handler: http.HandlerFunc(v.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = v.srv.Serve(ln) }()
	return v, nil
}

// Close stops the server.
func (v *ValidatorStub) Close() { _ = v.srv.Close() }

// Port is the stub's loopback port; Addr is "127.0.0.1:<port>".
func (v *ValidatorStub) Port() uint32 { return v.port }

// Addr is the stub's address.
func (v *ValidatorStub) Addr() string { return fmt.Sprintf("127.0.0.1:%d", v.port) }

// Set makes the stub answer as b says from now on and forgets what it received.
func (v *ValidatorStub) Set(b *Validator) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.behaviour, v.requests = b, nil
}

func (v *ValidatorStub) serve(w http.ResponseWriter, r *http.Request) {
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
		v.referenceAccount(w, r)
		return
	}
	w.WriteHeader(b.Status)
	_, _ = io.WriteString(w, b.Body)
}

// referenceAccount mimics the reference backend's GET /openapi/v1/account.
func (v *ValidatorStub) referenceAccount(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || r.URL.Path != "/openapi/v1/account" {
		http.NotFound(w, r)
		return
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	body, live := v.accounts[tok]
	w.Header().Set("Content-Type", "application/json")
	if !ok || !live {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"code":"unauthorized","message":"invalid_bearer","status":401}`)
		return
	}
	_ = json.NewEncoder(w).Encode(body)
}

// Check compares what the stub received with the scenario's expectation (when the scenario has a
// validator). A slow answer may arrive after the client's reply (a timeout), so calls are awaited briefly.
func (v *ValidatorStub) Check(s Scenario) error {
	if s.Validator == nil {
		return nil
	}
	var got []ValidatorRequest
	for deadline := time.Now().Add(time.Second); ; time.Sleep(20 * time.Millisecond) {
		v.mu.Lock()
		got = append([]ValidatorRequest(nil), v.requests...)
		v.mu.Unlock()
		if len(got) >= s.Expect.ValidatorCalls || time.Now().After(deadline) {
			break
		}
	}
	if len(got) != s.Expect.ValidatorCalls {
		return fmt.Errorf("validator received %d calls, want %d", len(got), s.Expect.ValidatorCalls)
	}
	want := s.Expect.ValidatorRequest
	if want == nil || len(got) == 0 {
		return nil
	}
	g := got[0]
	var problems []string
	if g.Method != want.Method || g.Path != want.Path || g.Body != want.Body {
		problems = append(problems, fmt.Sprintf("validator request %s %s %q, want %s %s %q", g.Method, g.Path, g.Body, want.Method, want.Path, want.Body))
	}
	for k, wv := range want.Headers {
		if g.Headers[k] != wv {
			problems = append(problems, fmt.Sprintf("validator request header %s = %q, want %q", k, g.Headers[k], wv))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}
