//go:build wasip1

// Package wasmpolicy runs the allow_scoped decision of the policy package compiled to GOOS=wasip1 and
// executed by wazero's compiler, without proxy-wasm, the SDK or any host call. Next to bench's Native
// (the same code natively) and Filter (the whole stream in the stand-in) it splits the filter's cost into
// "the decision, in wasm" and "everything around it". It only builds for wasip1; see PERFORMANCE.md:
//
//	GOOS=wasip1 GOARCH=wasm go test -c -o /tmp/wasmpolicy.wasm ./bench/wasmpolicy
//	go run github.com/tetratelabs/wazero/cmd/wazero run -mount=$PWD:/repo -env=SCOPE_GATE_REPO=/repo \
//	    /tmp/wasmpolicy.wasm -test.run='^$' -test.bench=. -test.benchmem
package wasmpolicy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scope-gate/scope-gate/e2e/scenarios"
	"github.com/scope-gate/scope-gate/filter/bearer"
	"github.com/scope-gate/scope-gate/filter/pairs"
	"github.com/scope-gate/scope-gate/filter/pathcheck"
	"github.com/scope-gate/scope-gate/filter/policy"
	"github.com/scope-gate/scope-gate/filter/validator"
)

func BenchmarkAllowScopedInWasm(b *testing.B) {
	cfg, block, sc, now := allowScoped(b)
	var first string
	count := 0
	for _, h := range sc.Request.Headers {
		if strings.EqualFold(h[0], "authorization") {
			first = h[1]
			count++
		}
	}
	reqs := policy.NewRequirementCache(cfg, 4096)
	static := cfg.Validator.(*validator.Static)
	clock := func() int64 { return now }
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := reqs.Get(block)
		var (
			ch policy.Check
			d  policy.Decision
		)
		cfg.Check(req, &policy.Request{Path: sc.Request.Path, Method: sc.Request.Method, AuthCount: count, Authorization: first}, &ch)
		cfg.Authorize(req, ch.Kind, static.LookupClock(&ch.Hash, clock), &d)
		if d.Verdict != policy.Allow {
			b.Fatalf("verdict %v", d.Verdict)
		}
	}
}

// allowScoped is the scope_present_allowed row: its configuration, route block and request.
func allowScoped(b *testing.B) (*policy.Policy, []byte, scenarios.Scenario, int64) {
	table, err := scenarios.Load(filepath.Join(os.Getenv("SCOPE_GATE_REPO"), "e2e", "scenarios", "scenarios.json"))
	if err != nil {
		b.Fatal(err)
	}
	var sc scenarios.Scenario
	for _, s := range table.Scenarios {
		if s.Name == "scope_present_allowed" {
			sc = s
		}
	}
	cfg, err := policy.Parse(table.PluginConfiguration(sc))
	if err != nil {
		b.Fatal(err)
	}
	// The route block as Envoy hands it over (the route of this scenario has one string key).
	md := table.Routes[*sc.Route].Metadata["scope_gate"].(map[string]any)
	var kv []string
	for k, v := range md {
		kv = append(kv, k, v.(string))
	}
	return cfg, pairs.EncodeStrings(kv...), sc, table.NowUnix
}

// BenchmarkStepsInWasm times the decision's steps one by one, compiled to wasm: what docs/rationale.md
// ("What a request costs in Go's wasm") quotes for each. The header map is the one the stand-in sends for
// the scenario (pseudo-headers, the scenario's headers, user-agent and accept).
func BenchmarkStepsInWasm(b *testing.B) {
	cfg, block, sc, now := allowScoped(b)
	kv := []string{":authority", "api.dify.example", ":path", sc.Request.Path, ":method", sc.Request.Method, ":scheme", "https"}
	for _, h := range sc.Request.Headers {
		kv = append(kv, h[0], h[1])
	}
	headers := pairs.EncodeStrings(append(kv, "user-agent", "bench", "accept", "*/*")...)
	r, _, err := cfg.ReadRequest(headers)
	if err != nil {
		b.Fatal(err)
	}
	req := policy.NewRequirementCache(cfg, 16).Get(block)
	var ch policy.Check
	cfg.Check(req, &r, &ch)
	static := cfg.Validator.(*validator.Static)
	clock := func() int64 { return now }
	v := static.LookupClock(&ch.Hash, clock)
	b.Run("ReadRequest", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			r, p, _ := cfg.ReadRequest(headers)
			sink += r.AuthCount + int(p)
		}
	})
	for _, path := range []string{sc.Request.Path, "/console/api/apps/123/messages?page=1&limit=20",
		"/console/api/apps/0f3a2b1c-aaaa-bbbb-cccc-1234567890ab/messages"} {
		b.Run("pathcheck/"+strings.ReplaceAll(path, "/", "_"), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				sink += int(pathcheck.Check(path, cfg.PathRules))
			}
		})
	}
	b.Run("bearer.Read", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			_, rd := bearer.Read(r.Authorization)
			sink += int(rd)
		}
	})
	b.Run("Check", func(b *testing.B) { // the path check, bearer.Read, the kind and SHA-256
		for i := 0; i < b.N; i++ {
			cfg.Check(req, &r, &ch)
			sink += int(ch.Verdict)
		}
	})
	b.Run("LookupClock", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			sink += int(static.LookupClock(&ch.Hash, clock).Result)
		}
	})
	b.Run("Authorize", func(b *testing.B) {
		var d policy.Decision
		for i := 0; i < b.N; i++ {
			cfg.Authorize(req, ch.Kind, v, &d)
			sink += int(d.Verdict)
		}
		if d.Verdict != policy.Allow {
			b.Fatalf("verdict %v", d.Verdict)
		}
	})
}

// sink keeps the benchmarks' results live, so that the compiler cannot drop the work.
var sink int
