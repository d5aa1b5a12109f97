package envoyconfig

import (
	"fmt"
	"strconv"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	wasmfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	wasmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/wasm/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// PluginName is scope-gate's root id and plugin name (docs/spec.md §1).
const PluginName = "scope_gate"

// Filter is one scope-gate Wasm HTTP filter found in a bootstrap.
type Filter struct {
	// Where is the JSON path of the http_filters entry, e.g.
	// "$.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0]".
	Where string
	// Listener is the listener's name; HTTPFilterName the http_filters entry's name, the key under which
	// routes and virtual hosts address it in typed_per_filter_config.
	Listener       string
	HTTPFilterName string
	// DisabledByDefault is http_filters[].disabled: the filter runs only on routes that enable it.
	DisabledByDefault bool
	Plugin            *wasmv3.PluginConfig
	// Configuration is the plugin configuration exactly as Envoy hands it to proxy_on_configure.
	Configuration []byte
	// ModuleFilename is vm_config.code.local.filename ("" when the module comes from elsewhere).
	ModuleFilename string
	// HCM is the connection manager that carries the filter (its route_config holds the routes).
	HCM *hcmv3.HttpConnectionManager
}

// IsScopeGate tells whether a Wasm plugin is scope-gate: by root id, else by plugin name (an empty root id is
// allowed by docs/spec.md §1, so the name is the other handle an operator has).
func IsScopeGate(p *wasmv3.PluginConfig) bool {
	return p.GetRootId() == PluginName || p.GetName() == PluginName
}

// FindFilters returns every scope-gate filter of the bootstrap's static listeners, in order.
func FindFilters(b *bootstrapv3.Bootstrap) ([]*Filter, error) {
	var out []*Filter
	for li, l := range b.GetStaticResources().GetListeners() {
		lp := "$.static_resources.listeners[" + strconv.Itoa(li) + "]"
		chains := l.GetFilterChains()
		paths := make([]string, len(chains))
		for ci := range chains {
			paths[ci] = lp + ".filter_chains[" + strconv.Itoa(ci) + "]"
		}
		if dc := l.GetDefaultFilterChain(); dc != nil {
			chains = append(chains, dc)
			paths = append(paths, lp+".default_filter_chain")
		}
		for ci, fc := range chains {
			found, err := findInChain(l, fc, paths[ci])
			if err != nil {
				return nil, err
			}
			out = append(out, found...)
		}
	}
	return out, nil
}

func findInChain(l *listenerv3.Listener, fc *listenerv3.FilterChain, chainPath string) ([]*Filter, error) {
	var out []*Filter
	for fi, nf := range fc.GetFilters() {
		tc := nf.GetTypedConfig()
		if tc == nil || !tc.MessageIs(&hcmv3.HttpConnectionManager{}) {
			continue
		}
		fp := chainPath + ".filters[" + strconv.Itoa(fi) + "].typed_config"
		hcm := &hcmv3.HttpConnectionManager{}
		if err := tc.UnmarshalTo(hcm); err != nil {
			return nil, fmt.Errorf("%s: %v", fp, err)
		}
		for hi, hf := range hcm.GetHttpFilters() {
			hp := fp + ".http_filters[" + strconv.Itoa(hi) + "]"
			if hf.GetConfigDiscovery() != nil {
				// ECDS: the configuration arrives at run time; nothing to check offline.
				continue
			}
			htc := hf.GetTypedConfig()
			if htc == nil || !htc.MessageIs(&wasmfilterv3.Wasm{}) {
				continue
			}
			w := &wasmfilterv3.Wasm{}
			if err := htc.UnmarshalTo(w); err != nil {
				return nil, fmt.Errorf("%s: %v", hp, err)
			}
			if !IsScopeGate(w.GetConfig()) {
				continue
			}
			conf, err := PluginConfiguration(w.GetConfig().GetConfiguration())
			if err != nil {
				return nil, fmt.Errorf("%s.typed_config.config.configuration: %v", hp, err)
			}
			out = append(out, &Filter{
				Where:             hp,
				Listener:          l.GetName(),
				HTTPFilterName:    hf.GetName(),
				DisabledByDefault: hf.GetDisabled(),
				Plugin:            w.GetConfig(),
				Configuration:     conf,
				ModuleFilename:    w.GetConfig().GetVmConfig().GetCode().GetLocal().GetFilename(),
				HCM:               hcm,
			})
		}
	}
	return out, nil
}

// PluginConfiguration returns the bytes Envoy passes to proxy_on_configure for a PluginConfig.configuration:
// StringValue and BytesValue without their wrapper, a Struct serialized as JSON, nothing when absent.
func PluginConfiguration(a *anypb.Any) ([]byte, error) {
	if a == nil {
		return nil, nil
	}
	m, err := a.UnmarshalNew()
	if err != nil {
		return nil, err
	}
	switch v := m.(type) {
	case *wrapperspb.StringValue:
		return []byte(v.GetValue()), nil
	case *wrapperspb.BytesValue:
		return v.GetValue(), nil
	case *structpb.Struct:
		return protojson.Marshal(v)
	}
	return nil, fmt.Errorf("type %s is not a configuration Envoy passes to a plugin (use google.protobuf.StringValue holding JSON)", a.GetTypeUrl())
}
