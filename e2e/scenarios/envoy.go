package scenarios

import (
	"fmt"
	"github.com/scope-gate/scope-gate/filter/config"
	"maps"
	"slices"
	"strings"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/scope-gate/scope-gate/internal/envoyconfig"
)

// How drivers that go through real HTTP (a real Envoy, the local gateway) select a table route: each table
// virtual host answers Host "<key>"+HostSuffix, each table route is the path prefix RoutePrefix+"<key>/",
// rewritten to "/" before the upstream.
const (
	HostSuffix  = ".scenarios.test"
	RoutePrefix = "/__route/"
)

// EnvoyVirtualHosts turns the table's virtual hosts and routes into Envoy's, for envoyconfig.Build.
// Metadata whose namespace value is not a map (null, a string) has no Envoy form: filter_metadata values are
// Structs. Such routes are left out and returned with the reason, by route key.
func (f *File) EnvoyVirtualHosts() ([]envoyconfig.BuildVirtualHost, map[string]string) {
	unexpressible := map[string]string{}
	var out []envoyconfig.BuildVirtualHost
	for _, vk := range slices.Sorted(maps.Keys(f.VirtualHosts)) {
		vh := f.VirtualHosts[vk]
		md, err := envoyFilterMetadata(vh.Metadata)
		bv := envoyconfig.BuildVirtualHost{Name: vh.Name, Domains: []string{vk + HostSuffix, vk + HostSuffix + ":*"}, Metadata: md}
		if err != nil {
			// The whole virtual host cannot exist; its routes go with it.
			for rk, r := range f.Routes {
				if r.VirtualHost == vk {
					unexpressible[rk] = "virtual host " + vk + ": " + err.Error()
				}
			}
			continue
		}
		for _, rk := range slices.Sorted(maps.Keys(f.Routes)) {
			r := f.Routes[rk]
			if r.VirtualHost != vk {
				continue
			}
			md, err := envoyFilterMetadata(r.Metadata)
			if err != nil {
				unexpressible[rk] = err.Error()
				continue
			}
			bv.Routes = append(bv.Routes, envoyconfig.BuildRoute{
				Name: r.Name, Prefix: RoutePrefix + rk + "/", PrefixRewrite: "/", Metadata: md,
			})
		}
		out = append(out, bv)
	}
	return out, unexpressible
}

func envoyFilterMetadata(m map[string]any) (map[string]*structpb.Struct, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := map[string]*structpb.Struct{}
	for _, ns := range slices.Sorted(maps.Keys(m)) {
		block, ok := m[ns].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("filter_metadata[%q] is %T, but Envoy holds only Structs there", ns, m[ns])
		}
		st, err := structpb.NewStruct(block)
		if err != nil {
			return nil, fmt.Errorf("filter_metadata[%q]: %v", ns, err)
		}
		out[ns] = st
	}
	return out, nil
}

// RemoteValidator tells whether a plugin configuration names a validator whose answers are cached in shared
// data (validator.Validator.CacheFingerprint: the remote validators and jwt), which is process-wide, so a
// driver must not share one proxy between such scenarios. A configuration that does not parse shares nothing.
func RemoteValidator(cfg []byte) bool {
	c, err := config.Parse(cfg)
	return err == nil && c.Validator != nil && c.Validator.CacheFingerprint() != ""
}

// HTTPFormProblem says why a scenario's request cannot travel as real HTTP/1.1 to a driver that selects
// routes by Host ("" when it can).
func (s Scenario) HTTPFormProblem() string {
	if s.Request.SeparateHeaders {
		// Envoy's header map joins repeated inline headers (authorization is one in standard builds) into one
		// value with ',' and drops empty repeats (source/common/http/header_map_impl.cc, insertByKey;
		// docs/envoy-behaviour.md), and so does the stand-in behind the gateway: no request reaches the
		// filter as separate lines there.
		return "delivers repeated headers as separate entries, as other hosts do; Envoy joins repeated authorization headers into one value (empty ones dropped), so this request cannot exist there"
	}
	for _, h := range s.Request.Headers {
		if h[1] != strings.TrimSpace(h[1]) {
			// RFC 9110 §5.5: leading and trailing whitespace is not part of a field value; HTTP/1 parsers
			// (Envoy's and Go's alike) strip it before any filter sees the header.
			return "header " + h[0] + " has leading or trailing whitespace, which HTTP/1.1 parsers strip"
		}
		if strings.EqualFold(h[0], "host") || h[0] == ":authority" {
			return "the driver selects routes by Host, so a scenario cannot set it"
		}
	}
	return ""
}

// GroupKey is the key under which a driver that starts one proxy per plugin configuration groups s: its
// configuration's name, a key of its own for a raw configuration, and one per scenario for a configuration
// whose validator calls out (its answers are cached in the proxy's shared data, and every scenario must start
// with an empty cache, as the table assumes).
func (f *File) GroupKey(s Scenario) string {
	switch {
	case s.RawConfig != nil:
		return "raw:" + s.Name
	case RemoteValidator(f.PluginConfiguration(s)):
		return s.Config + "#" + s.Name
	}
	return s.Config
}
