package hardening

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scope-gate/scope-gate/internal/envoyhost"
)

// TestArenaNeverCorruptsPendingValidation: the bridge hands the host room from an arena that every callback
// reuses (filter/stdgobridge/arena.go), so anything a stream needs after its callback returns must have been
// copied out of it. Here hundreds of remote validations are pending at once, each for its own token, while
// the same VM serves interleaved requests whose large headers and tokens are written into the very room the
// pending streams' tokens were read from. The validator answers each token with a subject derived from the
// token it received, after a random delay; every stream must reach the upstream with the subject of its own
// token, and the validator must only ever receive tokens that some stream sent. Both WASI profiles.
func TestArenaNeverCorruptsPendingValidation(t *testing.T) {
	var foreign atomic.Int64 // tokens the validator received that no stream sent
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !strings.HasPrefix(token, "dfoa_pending_") {
			foreign.Add(1)
			w.WriteHeader(401)
			return
		}
		time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond)
		w.WriteHeader(200)
		_, _ = io.WriteString(w, `{"sub":"subject-of-`+token[len("dfoa_pending_"):]+`"}`)
	}))
	defer srv.Close()
	const cfg = `{"token_kinds":[{"prefix":"dfoa_","subject_type":"account","scopes":["full"]}],
 "validator":{"type":"forward","cluster":"validator","authority":"api","path":"/whoami","timeout_ms":5000},
 "cache":{"max_entries":100000}}`
	const pending, interleaved = 300, 1500
	for _, profile := range profiles {
		t.Run(string(profile), func(t *testing.T) {
			h := newHost(t, profile, map[string]string{"validator": strings.TrimPrefix(srv.URL, "http://")})
			vm := newVM(t, h, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			// A long block: read after the headers in the same callback, it lands where a bug that reused room
			// within a callback would overwrite the token. "full" (the kind's scope) satisfies every scope.
			var scopes []string
			for k := 0; k < 40; k++ {
				scopes = append(scopes, fmt.Sprintf("scope:%02d", k))
			}
			r := route("r", map[string]any{"required_scope": strings.Join(scopes, " ")})
			public := route("pub", map[string]any{"auth": "none"})
			tokenOf := func(i int) string { return fmt.Sprintf("%04d%s", i, strings.Repeat(string(rune('a'+i%26)), 40+i%37)) }
			streams := make([]*envoyhost.Stream, pending)
			for i := range streams {
				hs := append([][2]string{{"authorization", "Bearer dfoa_pending_" + tokenOf(i)}}, baseHeaders("/openapi/v1/apps")...)
				streams[i] = vm.Start(ctx, envoyhost.Request{Headers: hs, Route: r})
				// Between two starts, a request whose headers overwrite the arena: a long header on a public
				// route, and a token that fails the kind check (decided in the callback, no validation).
				if i%3 == 0 {
					hs := append(baseHeaders("/openapi/v1/apps"), [2]string{"x-filler", strings.Repeat("z", 200+i)})
					res, err := vm.Do(ctx, envoyhost.Request{Headers: hs, Route: public})
					if err != nil || res.Response.Status != 200 {
						t.Fatalf("interleaved public request: %v %+v", err, res.Response)
					}
				}
			}
			for j := 0; j < interleaved; j++ {
				hs := withAuth("Bearer other_" + strings.Repeat("q", j%300))
				res, err := vm.Do(ctx, envoyhost.Request{Headers: hs, Route: r})
				if err != nil || res.Response.Status != 401 {
					t.Fatalf("interleaved request %d: %v status %d, want 401", j, err, res.Response.Status)
				}
			}
			for i, s := range streams {
				res, err := s.Wait(ctx)
				if err != nil || res.Trapped != nil {
					t.Fatalf("stream %d: %v trap %v", i, err, res.Trapped)
				}
				if res.Upstream == nil {
					t.Fatalf("stream %d: status %d, want the upstream", i, res.Response.Status)
				}
				want := "subject-of-" + tokenOf(i)
				if got := headerValues(res.Upstream.Headers, "x-scope-gate-subject"); len(got) != 1 || got[0] != want {
					t.Fatalf("stream %d: upstream subject %q, want %q (a pending validation read reused memory)", i, got, want)
				}
			}
			if n := foreign.Load(); n != 0 {
				t.Fatalf("the validator received %d tokens no stream sent", n)
			}
			if c := h.Counter("scope_gate.validator_calls"); c != pending {
				t.Fatalf("%d validator calls for %d distinct tokens", c, pending)
			}
			if vm.Failed() {
				t.Fatal("VM failed")
			}
		})
	}
}
