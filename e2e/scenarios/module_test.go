package scenarios

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/scope-gate/scope-gate/e2e/testkit"
	"github.com/scope-gate/scope-gate/internal/envoyhost"
)

// maxModuleBytes is the size budget of the module that ships inside Envoy (3.0 MB).
const maxModuleBytes = 3_000_000

func TestModuleSize(t *testing.T) {
	if n := len(wasmBytes); n > maxModuleBytes {
		t.Fatalf("%s is %d bytes, over the %d budget", wasmPath, n, maxModuleBytes)
	}
	t.Logf("%s: %d bytes", wasmPath, len(wasmBytes))
}

func TestModuleImportsAndExports(t *testing.T) {
	h := newHost(t, envoyhost.Envoy139, nil)
	for _, imp := range h.Imports() {
		mod, name, _ := strings.Cut(imp, ".")
		switch {
		case mod == "env" && strings.HasPrefix(name, "proxy_"):
		case mod == "wasi_snapshot_preview1" && slices.Contains(envoyhost.GoReactorWASI, name):
		default:
			t.Errorf("unexpected import %s", imp)
		}
	}
	exports := h.Exports()
	for _, want := range []string{
		"_initialize", "memory", "proxy_abi_version_0_2_0", "proxy_on_memory_allocate",
		"proxy_on_vm_start", "proxy_on_configure", "proxy_on_context_create", "proxy_on_request_headers",
		"proxy_on_request_body", "proxy_on_request_trailers", "proxy_on_response_headers",
		"proxy_on_response_body", "proxy_on_response_trailers", "proxy_on_http_call_response",
		"proxy_on_tick", "proxy_on_queue_ready", "proxy_on_log", "proxy_on_done", "proxy_on_delete",
		"proxy_on_new_connection", "proxy_on_downstream_data", "proxy_on_downstream_connection_close",
		"proxy_on_upstream_data", "proxy_on_upstream_connection_close",
	} {
		if !slices.Contains(exports, want) {
			t.Errorf("missing export %s", want)
		}
	}
}

// TestConfigure: proxy_on_configure answers 1 for a valid configuration and 0 for an invalid one, under
// both profiles (NewVM runs _initialize, the root context, proxy_on_vm_start and proxy_on_configure).
func TestConfigure(t *testing.T) {
	for _, profile := range profiles {
		h := newHost(t, profile, nil)
		for _, tc := range []struct {
			cfg string
			ok  bool
		}{
			{"", true},
			{`{"default_route":"public"}`, true},
			{string(table.Configs["reference"]), true},
			{`{"default_route":"open"}`, false},
			{`not json`, false},
		} {
			vm, err := h.NewVM(context.Background(), testkit.PluginConfig([]byte(tc.cfg)))
			switch {
			case tc.ok && err != nil:
				t.Errorf("%s: configuration %q rejected: %v", profile, tc.cfg, err)
			case !tc.ok && !errors.Is(err, envoyhost.ErrConfigureRejected):
				t.Errorf("%s: configuration %q: err = %v, want ErrConfigureRejected", profile, tc.cfg, err)
			}
			if vm != nil {
				_ = vm.Close(context.Background())
			}
		}
	}
}
