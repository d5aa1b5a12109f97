package jwt

import (
	"context"
	"strings"
	"testing"

	"github.com/scope-gate/scope-gate/e2e/testkit"
	"github.com/scope-gate/scope-gate/internal/envoyhost"
)

// BenchmarkHostVerify is one whole request (headers in, decision out) in the stand-in with wazero's
// compiler engine, per algorithm: "first" verifies the signature every time (the verified-token cache is
// off: ttl_seconds 0), "cached" is answered from the shared cache after one verification.
func BenchmarkHostVerify(b *testing.B) {
	a, _, ec, ed := keys()
	clk := newClock()
	h, err := envoyhost.NewHost(context.Background(), wasmBytes, envoyhost.Options{Profile: envoyhost.Envoy139, Now: clk.Now})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close(context.Background())
	for _, s := range []*signer{a, ec, ed} {
		for _, mode := range []string{"first", "cached"} {
			b.Run(s.alg+"/"+mode, func(b *testing.B) {
				cfg := inlineConfig("", a, ec, ed)
				if mode == "first" {
					cfg = strings.Replace(cfg, `"ttl_seconds": 3600`, `"ttl_seconds": 0`, 1)
				}
				vm, err := h.NewVM(context.Background(), testkit.PluginConfig([]byte(cfg)))
				if err != nil {
					b.Fatal(err)
				}
				defer vm.Close(context.Background())
				req := request(s.token(claims(clk.Unix(), 3600, "apps:run")), "apps:run")
				ctx := context.Background()
				if res, err := vm.Do(ctx, req); err != nil || res.Response.Status != 200 {
					b.Fatalf("warm-up: %v %d", err, res.Response.Status)
				}
				hits := h.Counter("scope_gate.cache_hit")
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if res, err := vm.Do(ctx, req); err != nil || res.Response.Status != 200 {
						b.Fatalf("%v %d", err, res.Response.Status)
					}
				}
				b.StopTimer()
				got := h.Counter("scope_gate.cache_hit") - hits
				if (mode == "cached" && got != uint64(b.N)) || (mode == "first" && got != 0) {
					b.Fatalf("%s: %d cache hits in %d requests", mode, got, b.N)
				}
			})
		}
	}
}
