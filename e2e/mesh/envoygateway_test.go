package mesh

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	"github.com/envoyproxy/gateway/internal/gatewayapi"
	"github.com/envoyproxy/gateway/internal/gatewayapi/resource"
	"github.com/envoyproxy/gateway/internal/logging"
	"github.com/envoyproxy/gateway/internal/wasm"
	"github.com/envoyproxy/gateway/internal/xds/bootstrap"
	"github.com/envoyproxy/gateway/internal/xds/translator"
	xdstypes "github.com/envoyproxy/gateway/internal/xds/types"
)

// placeholderDigest is the sha256 the example carries until a user pins their own build.
const placeholderDigest = "0000000000000000000000000000000000000000000000000000000000000000"

// moduleCache stands in for Envoy Gateway's Wasm cache (internal/wasm), which downloads the module named by
// an EnvoyExtensionPolicy, compares its digest with the policy's sha256 and serves it to Envoy from the
// controller. There is no network here: the "download" is build/scope-gate.wasm. The returned URL and
// checksum are what the translator writes into the Envoy configuration (vm_config.code.remote), exactly as
// with the real cache. The example's placeholder digest is let through and recorded; any other digest must be
// the module's, as the real cache demands.
type moduleCache struct {
	digest       string
	placeholders []string
	unreachable  bool // the download fails, as when the module's URL cannot be fetched
}

var _ wasm.Cache = (*moduleCache)(nil)

func (c *moduleCache) Start(context.Context) {}
func (c *moduleCache) Cleanup()              {}
func (c *moduleCache) Get(url string, o *wasm.GetOptions) (string, string, error) {
	if c.unreachable {
		return "", "", fmt.Errorf("cannot fetch %s", url)
	}
	switch o.Checksum {
	case c.digest, "":
	case placeholderDigest:
		c.placeholders = append(c.placeholders, url)
	default:
		return "", "", fmt.Errorf("module downloaded from %s has checksum %s, which does not match %s", url, c.digest, o.Checksum)
	}
	return "https://envoy-gateway.envoy-gateway-system.svc.cluster.local:18002/" + o.ResourceName + ".wasm", c.digest, nil
}

// repo is the scope-gate checkout this module lives in.
const repo = "../.."

// translateEnvoyGateway runs Envoy Gateway v1.9.1's two translators (Gateway API -> IR -> xDS) on the
// examples plus the infrastructure they need, and returns the xDS resources as an Envoy admin config dump,
// the form `egctl config envoy-proxy all -o json` and Envoy's /config_dump give (egctl's own offline
// translate, internal/cmd/egctl/translate.go, builds the same dump).
func translateEnvoyGateway(t *testing.T, upstreamPort int, cache *moduleCache) (*adminv3.ConfigDump, *xdstypes.ResourceVersionTable) {
	return translateEnvoyGatewayExpecting(t, upstreamPort, cache, true)
}

func translateEnvoyGatewayExpecting(t *testing.T, upstreamPort int, cache *moduleCache, accepted bool) (*adminv3.ConfigDump, *xdstypes.ResourceVersionTable) {
	t.Helper()
	var input bytes.Buffer
	files, _ := filepath.Glob(filepath.Join(repo, "envoy/envoy-gateway/*.yaml"))
	if len(files) < 2 {
		t.Fatalf("envoy/envoy-gateway: %d files, want the HTTPRoute and the EnvoyExtensionPolicy", len(files))
	}
	for _, f := range append(files, "testdata/eg-infra.yaml") {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		input.Write(data)
		input.WriteString("\n---\n")
	}
	res, err := resource.LoadResourcesFromYAMLBytes(input.Bytes(), false, nil)
	if err != nil {
		t.Fatalf("Envoy Gateway refuses the examples: %v", err)
	}
	// The Service's endpoints: the test's upstream (as the EndpointSlice controller would publish them).
	res.EndpointSlices = append(res.EndpointSlices, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "dify-api-1", Namespace: "dify", Labels: map[string]string{discoveryv1.LabelServiceName: "dify-api"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(upstreamPort)), Protocol: ptr(corev1.ProtocolTCP)}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"127.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)}}},
	})
	gt := &gatewayapi.Translator{
		GatewayControllerName: string(res.GatewayClass.Spec.ControllerName),
		GatewayClassName:      gwapiv1.ObjectName(res.GatewayClass.Name),
		ControllerNamespace:   "envoy-gateway-system",
		WasmCache:             cache,
		Logger:                logging.DefaultLogger(io.Discard, egv1a1.LogLevelInfo),
	}
	out, err := gt.Translate(context.Background(), res)
	if err != nil {
		t.Fatalf("gatewayapi translation: %v", err)
	}
	for _, p := range out.EnvoyExtensionPolicies {
		for _, a := range p.Status.Ancestors {
			for _, c := range a.Conditions {
				if c.Type == string(gwapiv1.PolicyConditionAccepted) && (c.Status == "True") != accepted {
					t.Errorf("EnvoyExtensionPolicy %s/%s not accepted: %s: %s", p.Namespace, p.Name, c.Reason, c.Message)
				}
			}
		}
	}
	for _, r := range out.HTTPRoutes {
		for _, pr := range r.Status.Parents {
			for _, c := range pr.Conditions {
				if (c.Type == string(gwapiv1.RouteConditionAccepted) || c.Type == string(gwapiv1.RouteConditionResolvedRefs)) && c.Status != "True" {
					t.Errorf("HTTPRoute %s/%s: %s %s: %s", r.Namespace, r.Name, c.Type, c.Reason, c.Message)
				}
			}
		}
	}
	if len(out.XdsIR) != 1 {
		t.Fatalf("%d xDS IRs (one per Gateway), want 1", len(out.XdsIR))
	}
	var table *xdstypes.ResourceVersionTable
	for _, ir := range out.XdsIR {
		xt := &translator.Translator{Logger: logging.DefaultLogger(io.Discard, egv1a1.LogLevelInfo)}
		if table, err = xt.Translate(context.Background(), ir); err != nil {
			t.Fatalf("xds translation: %v", err)
		}
	}

	// The dump, as egctl assembles it: the rendered bootstrap, then the xDS resources as dynamic ones.
	rendered, err := bootstrap.GetRenderedBootstrapConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSON([]byte(rendered))
	if err != nil {
		t.Fatal(err)
	}
	bs := &bootstrapv3.Bootstrap{}
	if err := protojson.Unmarshal(js, bs); err != nil {
		t.Fatal(err)
	}
	dump := &adminv3.ConfigDump{}
	add := func(m proto.Message) {
		a, err := anypb.New(m)
		if err != nil {
			t.Fatal(err)
		}
		dump.Configs = append(dump.Configs, a)
	}
	add(&adminv3.BootstrapConfigDump{Bootstrap: bs})
	clusters := &adminv3.ClustersConfigDump{}
	for _, c := range table.XdsResources[resourcev3.ClusterType] {
		a, _ := anypb.New(c)
		clusters.DynamicActiveClusters = append(clusters.DynamicActiveClusters, &adminv3.ClustersConfigDump_DynamicCluster{Cluster: a})
	}
	add(clusters)
	listeners := &adminv3.ListenersConfigDump{}
	for _, l := range table.XdsResources[resourcev3.ListenerType] {
		a, _ := anypb.New(l)
		listeners.DynamicListeners = append(listeners.DynamicListeners, &adminv3.ListenersConfigDump_DynamicListener{
			ActiveState: &adminv3.ListenersConfigDump_DynamicListenerState{Listener: a}})
	}
	add(listeners)
	routes := &adminv3.RoutesConfigDump{}
	for _, r := range table.XdsResources[resourcev3.RouteType] {
		a, _ := anypb.New(r)
		routes.DynamicRouteConfigs = append(routes.DynamicRouteConfigs, &adminv3.RoutesConfigDump_DynamicRouteConfig{RouteConfig: a})
	}
	add(routes)
	endpoints := &adminv3.EndpointsConfigDump{}
	for _, e := range table.XdsResources[resourcev3.EndpointType] {
		a, _ := anypb.New(e)
		endpoints.DynamicEndpointConfigs = append(endpoints.DynamicEndpointConfigs, &adminv3.EndpointsConfigDump_DynamicEndpointConfig{EndpointConfig: a})
	}
	add(endpoints)
	return dump, table
}

// translatedRoutes lists the Envoy routes of the translation, in the order of their route configuration.
func translatedRoutes(table *xdstypes.ResourceVersionTable) []*routev3.Route {
	var out []*routev3.Route
	for _, r := range table.XdsResources[resourcev3.RouteType] {
		for _, vh := range r.(*routev3.RouteConfiguration).GetVirtualHosts() {
			out = append(out, vh.GetRoutes()...)
		}
	}
	return out
}

// buildScopeGate builds the CLI from the checkout (a cached build after the first).
func buildScopeGate(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "scope-gate")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/scope-gate")
	cmd.Dir = repo
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/scope-gate: %v\n%s", err, out)
	}
	return bin
}

// moduleFile is build/scope-gate.wasm (make build), as the other wasm suites find it.
func moduleFile(t *testing.T) (string, string) {
	t.Helper()
	p := os.Getenv("SCOPE_GATE_WASM")
	if p == "" {
		p = filepath.Join(repo, "build/scope-gate.wasm")
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("the module: %v (run make build, or set SCOPE_GATE_WASM)", err)
	}
	p, _ = filepath.Abs(p)
	sum := sha256.Sum256(data)
	return p, hex.EncodeToString(sum[:])
}

// checkTable runs `scope-gate check` and returns its route table: route name -> requirement.
func checkTable(t *testing.T, bin string, files ...string) (map[string]string, []string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"check"}, files...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("scope-gate check %s: %v\n%s%s", strings.Join(files, " "), err, stdout.String(), stderr.String())
	}
	if strings.Contains(stderr.String(), "error:") {
		t.Errorf("scope-gate check %s reports errors:\n%s", strings.Join(files, " "), stderr.String())
	}
	t.Logf("scope-gate check %s:\n%s%s", strings.Join(files, " "), stdout.String(), stderr.String())
	rows := map[string]string{}
	var order []string
	for _, line := range strings.Split(stdout.String(), "\n") {
		cols := splitColumns(line)
		if len(cols) < 5 || cols[1] == "ROUTE" {
			continue
		}
		if prev, dup := rows[cols[1]]; dup && prev != cols[3] {
			t.Errorf("route %s listed twice with different requirements: %q and %q", cols[1], prev, cols[3])
		}
		rows[cols[1]] = cols[3]
		order = append(order, cols[1])
	}
	return rows, order
}

// splitColumns splits a tabwriter line at runs of two or more spaces.
func splitColumns(line string) []string {
	var out []string
	for _, f := range strings.Split(line, "  ") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestEnvoyGatewayTranslation: the examples through Envoy Gateway's real translators, then scope-gate's
// checker and serve on what they produce.
func TestEnvoyGatewayTranslation(t *testing.T) {
	wasmPath, digest := moduleFile(t)
	upstream := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("x-upstream", "reached")
		fmt.Fprintf(w, "upstream %s %s subject=%q\n", r.Method, r.URL.Path, r.Header.Get("x-scope-gate-subject"))
	})}
	uln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = upstream.Serve(uln) }()
	defer upstream.Close()

	cache := &moduleCache{digest: digest}
	dump, table := translateEnvoyGateway(t, uln.Addr().(*net.TCPAddr).Port, cache)
	if len(cache.placeholders) > 0 {
		t.Logf("the example's sha256 is the placeholder %s: a real Envoy Gateway refuses the policy until it holds the digest of the module it downloads (%s here)", placeholderDigest, digest)
	}

	// 1. Route names: every key of the routes map names a route the translator generated, and the checker's
	// model of the names (check on the resources) gives exactly the translator's names with the same
	// requirements as check on the translator's output.
	var names []string
	for _, r := range translatedRoutes(table) {
		names = append(names, r.GetName())
	}
	if len(names) == 0 {
		t.Fatal("the translation has no route")
	}
	t.Logf("Envoy Gateway v1.9.1 routes, in order:\n  %s", strings.Join(names, "\n  "))
	keys := routesMapKeys(t)
	for _, k := range keys {
		if !slices.Contains(names, k) {
			t.Errorf("extensionpolicy.yaml routes[%q]: Envoy Gateway generates no such route (it generates %s)", k, strings.Join(names, ", "))
		}
	}

	dir := t.TempDir()
	dumpFile := filepath.Join(dir, "eg-config-dump.json")
	js, err := protojson.MarshalOptions{Indent: " "}.Marshal(dump)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dumpFile, js, 0o644); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("SCOPE_GATE_KEEP_DUMP") != "" {
		_ = os.WriteFile(os.Getenv("SCOPE_GATE_KEEP_DUMP"), js, 0o644)
	}

	bin := buildScopeGate(t)
	model, modelOrder := checkTable(t, bin, append(egExampleFiles(t), "testdata/eg-infra.yaml")...)
	real, _ := checkTable(t, bin, dumpFile)
	// The order decides which route a request matches where matches overlap (/openapi/v1/apps/x/run is under
	// the /openapi/v1/apps prefix): the checker's model must order as Envoy Gateway does.
	if strings.Join(modelOrder, " ") != strings.Join(names, " ") {
		t.Errorf("route order: the checker's model\n  %s\nEnvoy Gateway\n  %s", strings.Join(modelOrder, "\n  "), strings.Join(names, "\n  "))
	}
	for _, n := range names {
		if _, ok := real[n]; !ok {
			t.Errorf("check on the translator's output has no row for route %s", n)
		}
		if _, ok := model[n]; !ok {
			t.Errorf("the checker's model of Envoy Gateway has no route %s (it has %s)", n, strings.Join(sortedKeys(model), ", "))
		} else if model[n] != real[n] {
			t.Errorf("route %s: the checker's model says %q, check on the translator's output %q", n, model[n], real[n])
		}
	}
	for n := range model {
		if !slices.Contains(names, n) {
			t.Errorf("the checker's model has route %s, which Envoy Gateway does not generate", n)
		}
	}

	// 2. serve the translator's output and send requests.
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	admin := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var serveOut, serveErr bytes.Buffer
	srv := exec.CommandContext(ctx, bin, "serve", "-c", dumpFile, "-listen", listen, "-admin-listen", admin,
		"-module", wasmPath, "-workers", "1", "-cache-dir", "")
	srv.Stdout, srv.Stderr = &serveOut, &serveErr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = srv.Wait(); close(exited) }()
	defer func() {
		cancel()
		<-exited
		t.Logf("serve stderr:\n%s", serveErr.String())
	}()
	waitListening(t, listen, &serveErr, exited)

	const (
		account = "dfoa_meshTestAccountToken0000000000000000000000"
		sso     = "dfoe_meshTestSSOToken000000000000000000000000000"
	)
	for _, tc := range []struct {
		about, method, path, token string
		status                     int
	}{
		{"public device flow", "GET", "/openapi/v1/oauth/device/code", "", 200},
		{"public probe", "GET", "/openapi/v1/_health", "", 200},
		{"no token", "GET", "/openapi/v1/account", "", 401},
		{"account token on a bearer route", "GET", "/openapi/v1/account", account, 200},
		{"wrong subject type: reading apps is for accounts", "GET", "/openapi/v1/apps", sso, 403},
		{"SSO token with its scope on its route", "GET", "/openapi/v1/permitted-external-apps", sso, 200},
		{"wrong subject type: the SSO token on the accounts-only run route", "POST", "/openapi/v1/apps/a1/run", sso, 403},
		{"wrong subject type: workspaces are for accounts", "GET", "/openapi/v1/workspaces", sso, 403},
		{"path_separated_prefix: /openapi/v1/appsX is not under /openapi/v1/apps (catch-all: bearer)", "GET", "/openapi/v1/appsX", sso, 200},
		{"run: apps:run for accounts", "POST", "/openapi/v1/apps/a1/run", account, 200},
	} {
		req, _ := http.NewRequest(tc.method, "http://"+listen+tc.path, nil)
		req.Host = "api.dify.example"
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.about, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %s %s: status %d, want %d (%s)", tc.about, tc.method, tc.path, resp.StatusCode, tc.status, strings.TrimSpace(string(body)))
		}
		if tc.status == 200 && resp.Header.Get("x-upstream") != "reached" {
			t.Errorf("%s: 200 without reaching the upstream: %s", tc.about, body)
		}
	}
}

func waitListening(t *testing.T, addr string, stderr *bytes.Buffer, exited <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			t.Fatalf("serve exited:\n%s", stderr.String())
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("serve did not listen on %s within 60s:\n%s", addr, stderr.String())
}

func egExampleFiles(t *testing.T) []string {
	files, _ := filepath.Glob(filepath.Join(repo, "envoy/envoy-gateway/*.yaml"))
	sort.Strings(files)
	return files
}

// routesMapKeys reads the routes map of extensionpolicy.yaml.
func routesMapKeys(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repo, "envoy/envoy-gateway/extensionpolicy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Spec struct {
			Wasm []struct {
				Config struct {
					Routes map[string]any `json:"routes"`
				} `json:"config"`
			} `json:"wasm"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, w := range p.Spec.Wasm {
		keys = append(keys, sortedKeys(w.Config.Routes)...)
	}
	if len(keys) == 0 {
		t.Fatal("extensionpolicy.yaml: no routes map")
	}
	return keys
}

func ptr[T any](v T) *T { return &v }

func sortedKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestEnvoyGatewayModuleUnavailable: when Envoy Gateway cannot fetch the module, it does not accept the
// policy, and every route the policy targets answers 500 (a direct response), so nothing passes unchecked.
func TestEnvoyGatewayModuleUnavailable(t *testing.T) {
	_, table := translateEnvoyGatewayExpecting(t, 1, &moduleCache{unreachable: true}, false)
	routes := translatedRoutes(table)
	if len(routes) == 0 {
		t.Fatal("no route")
	}
	for _, r := range routes {
		if got := r.GetDirectResponse().GetStatus(); got != 500 {
			t.Errorf("route %s: direct response %d, action %v; want a direct 500", r.GetName(), got, r.GetAction())
		}
	}
}
