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
	"github.com/scope-gate/scope-gate/filter/pairs"
	"github.com/scope-gate/scope-gate/filter/policy"
	"github.com/scope-gate/scope-gate/filter/validator"
)

func BenchmarkAllowScopedInWasm(b *testing.B) {
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
	block := pairs.EncodeStrings(kv...)
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
	clock := func() int64 { return table.NowUnix }
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
