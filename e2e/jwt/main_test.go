// Package jwt tests the JWT build of the filter (build/scope-gate-jwt.wasm, built with -tags jwt) end to end
// in the Envoy stand-in (internal/envoyhost), under both WASI profiles: verification and decisions, the JWKS
// fetched from a cluster (refresh on unknown kid, the refresh floor, failures, sharing between VMs), the
// verified-token cache, and what the module links.
package jwt

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/scope-gate/scope-gate/e2e/testkit"
	"github.com/scope-gate/scope-gate/internal/envoyhost"
)

var (
	wasmPath  string
	wasmBytes []byte
)

// TestMain loads the JWT module once. A missing module fails the run: a skip would count an untested
// module as passing.
func TestMain(m *testing.M) {
	wasmPath, wasmBytes = testkit.MustReadModule(testkit.JWTModuleEnv, testkit.JWTModuleFile)
	os.Exit(m.Run())
}

var profiles = []envoyhost.Profile{envoyhost.Envoy133, envoyhost.Envoy139}

// t0 is the stand-in's wall clock at the start of every test (any fixed time works; tokens are made
// relative to the clock).
const t0 = int64(1795000000)

func newClock() *testkit.Clock { return testkit.NewClock(t0) }

func newHost(t testing.TB, profile envoyhost.Profile, clk *testkit.Clock, clusters map[string]string) *envoyhost.Host {
	t.Helper()
	h, err := envoyhost.NewHost(context.Background(), wasmBytes, envoyhost.Options{
		Profile: profile, Clusters: clusters, Now: clk.Now, CompilationCacheDir: testkit.CompilationCacheDir(),
	})
	if err != nil {
		t.Fatalf("NewHost(%s): %v", profile, err)
	}
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	return h
}

func newVM(t testing.TB, h *envoyhost.Host, config string) *envoyhost.VM {
	t.Helper()
	vm, err := h.NewVM(context.Background(), testkit.PluginConfig([]byte(config)))
	if err != nil {
		t.Fatalf("NewVM: %v\nlogs: %v", err, h.Logs())
	}
	t.Cleanup(func() { _ = vm.Close(context.Background()) })
	return vm
}

// ---- keys and tokens ----

type signer struct {
	kid, alg string
	priv     crypto.Signer
}

var (
	keysOnce                 sync.Once
	keyA, keyB, keyEC, keyEd *signer
)

func keys() (a, b, ec, ed *signer) {
	keysOnce.Do(func() {
		ra, err := rsa.GenerateKey(rand.Reader, 2048)
		must(err)
		rb, err := rsa.GenerateKey(rand.Reader, 2048)
		must(err)
		e, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(err)
		_, d, err := ed25519.GenerateKey(rand.Reader)
		must(err)
		keyA = &signer{kid: "key-a", alg: "RS256", priv: ra}
		keyB = &signer{kid: "key-b", alg: "RS256", priv: rb}
		keyEC = &signer{kid: "key-ec", alg: "ES256", priv: e}
		keyEd = &signer{kid: "key-ed", alg: "EdDSA", priv: d}
	})
	return keyA, keyB, keyEC, keyEd
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func (s *signer) jwk() string {
	b, err := jose.JSONWebKey{Key: s.priv.Public(), KeyID: s.kid, Algorithm: s.alg, Use: "sig"}.MarshalJSON()
	must(err)
	return string(b)
}

func jwks(keys ...*signer) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k.jwk()
	}
	return `{"keys":[` + strings.Join(parts, ",") + `]}`
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// token signs claims with s (header alg, kid, typ at+jwt), by hand so that every byte is the test's.
func (s *signer) token(claims map[string]any) string {
	return s.tokenWithKid(s.kid, claims)
}

func (s *signer) tokenWithKid(kid string, claims map[string]any) string {
	h, err := json.Marshal(map[string]any{"alg": s.alg, "kid": kid, "typ": "at+jwt"})
	must(err)
	p, err := json.Marshal(claims)
	must(err)
	input := b64(h) + "." + b64(p)
	digest := sha256.Sum256([]byte(input))
	var sig []byte
	switch k := s.priv.(type) {
	case *rsa.PrivateKey:
		sig, err = rsa.SignPKCS1v15(nil, k, crypto.SHA256, digest[:])
	case *ecdsa.PrivateKey:
		var r, ss *big.Int
		r, ss, err = ecdsa.Sign(rand.Reader, k, digest[:])
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		ss.FillBytes(sig[32:])
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, []byte(input))
	}
	must(err)
	return input + "." + b64(sig)
}

const (
	issuer   = "https://idp.example"
	audience = "https://api.example"
)

var jti atomic.Int64

// claims for a token valid at now for ttl seconds, with the given scope; every token is distinct (jti), so
// no test is answered by another's cache entry by accident.
func claims(now, ttl int64, scope string) map[string]any {
	return map[string]any{"iss": issuer, "aud": []string{"other", audience}, "sub": "user-42", "iat": now, "exp": now + ttl,
		"scope": scope, "jti": fmt.Sprint(jti.Add(1))}
}

// ---- configurations and requests ----

func inlineConfig(extra string, keys ...*signer) string {
	return `{"validator": {"type": "jwt", "issuer": "` + issuer + `", "audience": "` + audience + `", "jwks": ` + jwks(keys...) + extra + `}` +
		`, "cache": {"ttl_seconds": 3600}}`
}

func clusterConfig(extra string) string {
	return `{"validator": {"type": "jwt", "issuer": "` + issuer + `", "audience": "` + audience + `", "jwks_cluster": "idp",
		"jwks_authority": "idp.example", "jwks_path": "/.well-known/jwks.json", "timeout_ms": 300` + extra + `}, "cache": {"ttl_seconds": 3600}}`
}

// request is GET /apps on a route requiring scope (none when "").
func request(token, scope string) envoyhost.Request {
	md := map[string]any{}
	if scope != "" {
		md["required_scope"] = scope
	}
	return envoyhost.Request{
		Headers: [][2]string{{":method", "GET"}, {":path", "/apps"}, {":authority", "api.example.com"}, {":scheme", "https"},
			{"authorization", "Bearer " + token}},
		Route: &envoyhost.Route{Name: "apps", Metadata: envoyhost.Metadata{"scope_gate": md},
			VirtualHost: &envoyhost.VirtualHost{Name: "api"}, Cluster: "backend"},
	}
}

func do(t testing.TB, vm *envoyhost.VM, req envoyhost.Request) envoyhost.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := vm.Do(ctx, req)
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	return res
}

func mustStatus(t testing.TB, vm *envoyhost.VM, token, scope string, want int) envoyhost.Result {
	t.Helper()
	res := do(t, vm, request(token, scope))
	if res.Response.Status != want {
		t.Fatalf("status %d, want %d (body %s)", res.Response.Status, want, res.Response.Body)
	}
	return res
}

func header(hs [][2]string, name string) []string {
	var out []string
	for _, h := range hs {
		if strings.EqualFold(h[0], name) {
			out = append(out, h[1])
		}
	}
	return out
}

// ---- the JWKS server ----

// jwksServer serves a JWKS document that tests can change, fail or slow down, and counts fetches.
type jwksServer struct {
	srv     *httptest.Server
	fetches atomic.Int64
	mu      sync.Mutex
	doc     string
	status  int
	delay   time.Duration
}

func newJWKSServer(t testing.TB, doc string) *jwksServer {
	s := &jwksServer{doc: doc, status: 200}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		doc, status, delay := s.doc, s.status, s.delay
		s.mu.Unlock()
		if r.URL.Path != "/.well-known/jwks.json" || r.Method != http.MethodGet || r.Host != "idp.example" {
			status, doc = 404, "wrong request "+r.Method+" "+r.Host+r.URL.Path
		}
		time.Sleep(delay)
		w.Header().Set("content-type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(doc))
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *jwksServer) set(doc string, status int, delay time.Duration) {
	s.mu.Lock()
	s.doc, s.status, s.delay = doc, status, delay
	s.mu.Unlock()
}

func (s *jwksServer) addr() string { return strings.TrimPrefix(s.srv.URL, "http://") }

func refusedAddr(t testing.TB) string {
	addr, err := testkit.RefusedAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// checkNoTokenInLogs: no captured log line may contain a token (or its signature part).
func checkNoTokenInLogs(t testing.TB, h *envoyhost.Host, tokens ...string) {
	t.Helper()
	for _, e := range h.Logs() {
		for _, tok := range tokens {
			sig := tok[strings.LastIndexByte(tok, '.')+1:]
			if strings.Contains(e.Message, tok) || (len(sig) > 16 && strings.Contains(e.Message, sig)) {
				t.Fatalf("log line contains a token: %q", e.Message)
			}
		}
	}
}
