package envoyconfig

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/encoding/protojson"
)

// TestIstioTranslationGolden checks the checker's model of Istio against what Istio's own config generator
// made of envoy/istio/*.yaml (e2e/mesh-istio, `make e2e-mesh-istio`, which records its Istio version and
// command in the file): every route the checker lists exists under that name, in the same order, the
// EnvoyFilter's block sits on exactly the routes the checker says it patches (and gives the same
// requirement), and the WasmPlugin's filter runs before Istio's authorization filters and CORS.
func TestIstioTranslationGolden(t *testing.T) {
	data, err := os.ReadFile("../../e2e/mesh-istio/testdata/istio-routes.json")
	if err != nil {
		t.Fatalf("the recorded Istio translation: %v (make e2e-mesh-istio writes it)", err)
	}
	var g struct {
		Producer    string            `json:"producer"`
		HTTPFilters []string          `json:"http_filters"`
		Routes      []json.RawMessage `json:"route_configurations"`
	}
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded with %s", g.Producer)
	type istioRouteOut struct {
		name  string
		block map[string]any
	}
	var got []istioRouteOut
	for _, raw := range g.Routes {
		rc := &routev3.RouteConfiguration{}
		if err := protojson.Unmarshal(raw, rc); err != nil {
			t.Fatal(err)
		}
		for _, vh := range rc.GetVirtualHosts() {
			if !slices.Contains(vh.GetDomains(), "api.dify.example") {
				continue
			}
			for _, r := range vh.GetRoutes() {
				var block map[string]any
				if s := r.GetMetadata().GetFilterMetadata()["scope_gate"]; s != nil {
					block = s.AsMap()
				}
				got = append(got, istioRouteOut{r.GetName(), block})
			}
		}
	}
	if len(got) == 0 {
		t.Fatal("no route for api.dify.example in the recorded translation")
	}

	files, _ := filepath.Glob("../../envoy/istio/*.yaml")
	rep := CheckFiles(files, Options{})
	if rep.Errors() > 0 {
		t.Fatalf("the examples do not pass: %v", rep.Findings)
	}
	var model []Row
	for _, row := range rep.Rows {
		if strings.HasSuffix(row.File, "virtualservice.yaml") {
			model = append(model, row)
		}
	}
	var gotNames, modelNames []string
	for _, r := range got {
		gotNames = append(gotNames, r.name)
	}
	for _, r := range model {
		modelNames = append(modelNames, r.Route)
	}
	if strings.Join(gotNames, " ") != strings.Join(modelNames, " ") {
		t.Errorf("routes: Istio generated\n  %s\nthe checker lists\n  %s", strings.Join(gotNames, "\n  "), strings.Join(modelNames, "\n  "))
	}
	cfg := fallbackConfig()
	for i := range min(len(got), len(model)) {
		r, m := got[i], model[i]
		patched := m.Source == "EnvoyFilter"
		switch {
		case patched && r.block == nil:
			t.Errorf("route %s: the checker says the EnvoyFilter patches it, Istio put no scope_gate metadata on it", r.name)
		case !patched && r.block != nil:
			t.Errorf("route %s: Istio put scope_gate metadata %v on it, the checker says no patch reaches it", r.name, r.block)
		case patched:
			req, _, problem := BlockRequirement(cfg, r.block)
			if problem != "" || Describe(req) != m.Requirement {
				t.Errorf("route %s: Istio's metadata gives %q (%s), the checker %q", r.name, Describe(req), problem, m.Requirement)
			}
		}
	}

	// The WasmPlugin (phase AUTHN) comes through ECDS under its resource name, before jwt_authn, RBAC, CORS and
	// the router.
	at := func(name string) int {
		for i, f := range g.HTTPFilters {
			if strings.Contains(f, name) {
				return i
			}
		}
		return -1
	}
	sg := at("istio-system.scope-gate")
	if sg < 0 {
		t.Fatalf("no scope-gate filter in the gateway's chain %v", g.HTTPFilters)
	}
	for _, later := range []string{"envoy.filters.http.cors", "envoy.filters.http.router"} {
		if i := at(later); i >= 0 && i < sg {
			t.Errorf("%s runs before scope-gate: %v", later, g.HTTPFilters)
		}
	}
}
