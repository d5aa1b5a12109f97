package gateway

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// supported lists, per message type, the fields serve acts on. Anything set outside this list is refused by
// checkSupported with its JSON path: a bootstrap that asks Envoy for a behaviour serve does not have (a CORS
// filter, TLS, retries, weighted clusters...) must not start and silently behave differently.
// Semantic limits that a field list cannot say (cluster types, filter order, failure policy) are checked
// while compiling.
var supported = map[protoreflect.FullName][]string{
	"envoy.config.bootstrap.v3.Bootstrap":                 {"node", "admin", "static_resources"},
	"envoy.config.bootstrap.v3.Admin":                     {"address"},
	"envoy.config.bootstrap.v3.Bootstrap.StaticResources": {"listeners", "clusters"},

	"envoy.config.listener.v3.Listener":    {"name", "address", "filter_chains"},
	"envoy.config.core.v3.Address":         {"socket_address"},
	"envoy.config.core.v3.SocketAddress":   {"address", "port_value", "protocol"},
	"envoy.config.listener.v3.FilterChain": {"name", "filters"},
	"envoy.config.listener.v3.Filter":      {"name", "typed_config"},

	"envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager": {
		"stat_prefix", "codec_type", "route_config", "http_filters", "use_remote_address",
		"strip_any_host_port", "strip_matching_host_port", "generate_request_id",
		"normalize_path", "merge_slashes", "path_with_escaped_slashes_action",
	},
	"envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter": {"name", "typed_config", "disabled"},
	"envoy.extensions.filters.http.wasm.v3.Wasm":                             {"config"},
	"envoy.extensions.wasm.v3.PluginConfig":                                  {"name", "root_id", "vm_config", "configuration", "failure_policy", "fail_open", "reload_config"},
	"envoy.extensions.wasm.v3.VmConfig":                                      {"vm_id", "runtime", "code", "configuration"},
	"envoy.config.core.v3.AsyncDataSource":                                   {"local"},
	"envoy.config.core.v3.DataSource":                                        {"filename", "inline_bytes", "inline_string"},
	"envoy.extensions.filters.http.router.v3.Router":                         {},

	// reload_config applies with FAIL_RELOAD only, as in Envoy; Envoy's reload backoff
	// (JitteredLowerBoundBackOffStrategy) reads base_interval alone and ignores max_interval, so does serve.
	"envoy.extensions.wasm.v3.ReloadConfig": {"backoff"},
	"envoy.config.core.v3.BackoffStrategy":  {"base_interval", "max_interval"},

	"envoy.config.route.v3.RouteConfiguration":     {"name", "virtual_hosts", "typed_per_filter_config", "validate_clusters"},
	"envoy.config.route.v3.VirtualHost":            {"name", "domains", "routes", "metadata", "typed_per_filter_config"},
	"envoy.config.route.v3.Route":                  {"name", "match", "route", "direct_response", "metadata", "typed_per_filter_config"},
	"envoy.config.route.v3.RouteMatch":             {"prefix", "path", "safe_regex", "path_separated_prefix", "headers", "case_sensitive"},
	"envoy.config.route.v3.HeaderMatcher":          {"name", "exact_match", "safe_regex_match", "present_match", "prefix_match", "suffix_match", "contains_match", "string_match", "invert_match", "treat_missing_header_as_empty"},
	"envoy.type.matcher.v3.StringMatcher":          {"exact", "prefix", "suffix", "contains", "safe_regex", "ignore_case"},
	"envoy.type.matcher.v3.RegexMatcher":           {"regex", "google_re2"},
	"envoy.type.matcher.v3.RegexMatcher.GoogleRE2": {},
	"envoy.config.route.v3.RouteAction":            {"cluster", "prefix_rewrite", "timeout"},
	"envoy.config.route.v3.DirectResponseAction":   {"status", "body"},
	"envoy.config.route.v3.FilterConfig":           {"disabled", "is_optional", "config"},
	"envoy.config.core.v3.Metadata":                {"filter_metadata"},

	"envoy.config.cluster.v3.Cluster":                {"name", "type", "connect_timeout", "load_assignment", "lb_policy"},
	"envoy.config.endpoint.v3.ClusterLoadAssignment": {"cluster_name", "endpoints"},
	"envoy.config.endpoint.v3.LocalityLbEndpoints":   {"lb_endpoints"},
	"envoy.config.endpoint.v3.LbEndpoint":            {"endpoint"},
	"envoy.config.endpoint.v3.Endpoint":              {"address"},
}

// opaque messages are values serve reads whole (or, for node, an identity it has no use for), not
// configuration with behaviour of its own.
var opaque = map[protoreflect.FullName]bool{
	"google.protobuf.Struct":      true,
	"google.protobuf.Value":       true,
	"google.protobuf.ListValue":   true,
	"google.protobuf.Duration":    true,
	"google.protobuf.BoolValue":   true,
	"google.protobuf.UInt32Value": true,
	"google.protobuf.StringValue": true,
	"google.protobuf.BytesValue":  true,
	"envoy.config.core.v3.Node":   true,
}

var supportedSets = func() map[protoreflect.FullName]map[string]bool {
	out := map[protoreflect.FullName]map[string]bool{}
	for name, fields := range supported {
		set := map[string]bool{}
		for _, f := range fields {
			set[f] = true
		}
		out[name] = set
	}
	return out
}()

// checkSupported walks m (unpacking every google.protobuf.Any, as Envoy does with typed_config) and returns
// an error naming the first field, in field-number order, that serve does not support.
func checkSupported(m proto.Message, path string) error {
	return walkSupported(m.ProtoReflect(), path)
}

func walkSupported(m protoreflect.Message, path string) error {
	name := m.Descriptor().FullName()
	if opaque[name] {
		return nil
	}
	if a, ok := m.Interface().(*anypb.Any); ok {
		inner, err := a.UnmarshalNew()
		if err != nil {
			return fmt.Errorf("%s: cannot decode %s: %v", path, a.GetTypeUrl(), err)
		}
		if supportedSets[inner.ProtoReflect().Descriptor().FullName()] == nil && !opaque[inner.ProtoReflect().Descriptor().FullName()] {
			return fmt.Errorf("%s: %s is not supported by serve", path, inner.ProtoReflect().Descriptor().FullName())
		}
		return walkSupported(inner.ProtoReflect(), path)
	}
	allowed := supportedSets[name]
	if allowed == nil {
		return fmt.Errorf("%s: %s is not supported by serve", path, name)
	}
	type field struct {
		fd protoreflect.FieldDescriptor
		v  protoreflect.Value
	}
	var fields []field
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		fields = append(fields, field{fd, v})
		return true
	})
	sort.Slice(fields, func(i, j int) bool { return fields[i].fd.Number() < fields[j].fd.Number() })
	for _, f := range fields {
		p := path + "." + f.fd.TextName()
		if !allowed[f.fd.TextName()] {
			return fmt.Errorf("%s: not supported by serve (%s supports only %s)", p, name.Name(), listOrNone(supported[name]))
		}
		if f.fd.Message() == nil {
			continue
		}
		switch {
		case f.fd.IsList():
			l := f.v.List()
			for i := 0; i < l.Len(); i++ {
				if err := walkSupported(l.Get(i).Message(), p+"["+strconv.Itoa(i)+"]"); err != nil {
					return err
				}
			}
		case f.fd.IsMap():
			if f.fd.MapValue().Message() == nil {
				continue
			}
			var keys []string
			values := map[string]protoreflect.Message{}
			f.v.Map().Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
				keys = append(keys, k.String())
				values[k.String()] = v.Message()
				return true
			})
			sort.Strings(keys)
			for _, k := range keys {
				if err := walkSupported(values[k], p+"["+strconv.Quote(k)+"]"); err != nil {
					return err
				}
			}
		default:
			if err := walkSupported(f.v.Message(), p); err != nil {
				return err
			}
		}
	}
	return nil
}

func listOrNone(fields []string) string {
	if len(fields) == 0 {
		return "no fields"
	}
	return strings.Join(fields, ", ")
}
