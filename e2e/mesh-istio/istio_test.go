package meshistio

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/encoding/protojson"

	"istio.io/istio/pilot/pkg/config/kube/extensions"
	"istio.io/istio/pilot/pkg/config/memory"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/pkg/networking/core"
	"istio.io/istio/pkg/config/schema/collections"
)

// istioVersion is the istio.io/istio module version this test is built with (go.mod): the newest the Go
// module proxy serves (Istio's release tags are not Go module versions).
const istioVersion = "istio.io/istio v0.0.0-20260827124520-eed52ebb66ad"

const golden = "testdata/istio-routes.json"

// Golden is what the translation produced: the route configurations of the ingress gateway, and the names of
// the HTTP filters of its connection manager, in order.
type Golden struct {
	Producer    string            `json:"producer"`
	Command     string            `json:"command"`
	HTTPFilters []string          `json:"http_filters"`
	Routes      []json.RawMessage `json:"route_configurations"`
}

// TestIstioTranslation runs Istio's config generator for an ingress gateway pod (labels istio: ingressgateway,
// namespace istio-system) on envoy/istio/*.yaml unchanged plus testdata/istio-infra.yaml, and writes the routes
// and the filter chain it produces to testdata/istio-routes.json. internal/envoyconfig's tests check the
// checker against that file: route names, and the EnvoyFilter's metadata on exactly the intended routes.
func TestIstioTranslation(t *testing.T) {
	var docs []string
	files, _ := filepath.Glob("../../envoy/istio/*.yaml")
	sort.Strings(files)
	for _, f := range append(files, "testdata/istio-infra.yaml") {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(data))
	}
	if len(files) < 3 {
		t.Fatalf("envoy/istio: %d files", len(files))
	}
	// Istio turns WasmPlugins into TrafficExtensions in a controller of its own
	// (pilot/pkg/config/kube/extensions, wired in pilot/pkg/bootstrap/server.go); the config generator reads
	// only the latter. Wire it the same way over the store the configurations go into.
	store := memory.NewController(memory.MakeSkipValidation(collections.PilotGatewayAPI()))
	ext := extensions.NewController(store, nil, nil)
	cg := core.NewConfigGenTest(t, core.TestOptions{
		ConfigString:      strings.Join(docs, "\n---\n"),
		ConfigController:  store,
		ConfigStoreCaches: []model.ConfigStoreController{ext},
	})
	labels := map[string]string{"istio": "ingressgateway"}
	proxy := cg.SetupProxy(&model.Proxy{
		Type:            model.Router,
		ConfigNamespace: "istio-system",
		Labels:          labels,
		Metadata:        &model.NodeMetadata{Labels: labels, Namespace: "istio-system"},
	})
	listeners := cg.Listeners(proxy)
	routes := cg.RoutesFromListeners(proxy, listeners)
	if len(routes) == 0 {
		t.Fatal("Istio generated no route configuration for the gateway")
	}

	out := Golden{Producer: istioVersion, Command: "make e2e-mesh-istio (cd e2e/mesh-istio && go test -count=1 ./...)"}
	for _, l := range listeners {
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				h := &hcm.HttpConnectionManager{}
				if f.GetTypedConfig().UnmarshalTo(h) != nil {
					continue
				}
				for _, hf := range h.GetHttpFilters() {
					out.HTTPFilters = append(out.HTTPFilters, hf.GetName())
				}
			}
		}
	}
	for _, rc := range routes {
		js, err := protojson.Marshal(rc)
		if err != nil {
			t.Fatal(err)
		}
		out.Routes = append(out.Routes, js)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(out); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("http filters: %v", out.HTTPFilters)
	for _, rc := range routes {
		for _, vh := range rc.GetVirtualHosts() {
			for _, r := range vh.GetRoutes() {
				t.Logf("%s %s: %s metadata=%v", rc.GetName(), vh.GetName(), r.GetName(), r.GetMetadata().GetFilterMetadata()["scope_gate"])
			}
		}
	}
}
