package gateway

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/scope-gate/scope-gate/internal/envoyconfig"
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
	"envoy.config.core.v3.AsyncDataSource":                                   {"local", "remote"},
	"envoy.config.core.v3.RemoteDataSource":                                  {"http_uri", "sha256"},
	"envoy.config.core.v3.HttpUri":                                           {"uri", "cluster", "timeout"},
	"envoy.config.core.v3.DataSource":                                        {"filename", "inline_bytes", "inline_string"},
	"envoy.extensions.filters.http.router.v3.Router":                         {},

	// reload_config applies with FAIL_RELOAD only, as in Envoy; Envoy's reload backoff
	// (JitteredLowerBoundBackOffStrategy) reads base_interval alone and ignores max_interval, so does serve.
	"envoy.extensions.wasm.v3.ReloadConfig": {"backoff"},
	"envoy.config.core.v3.BackoffStrategy":  {"base_interval", "max_interval"},

	"envoy.config.route.v3.RouteConfiguration":     {"name", "virtual_hosts", "typed_per_filter_config", "validate_clusters", "ignore_port_in_host_matching"},
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

// ignored lists, per message type, fields serve does not implement but may leave out, because they do not
// change how a request is matched, filtered, decided or routed: transport tuning, timeouts of idle
// connections, statistics, logs, load-balancing choices among a cluster's endpoints. Each set field is
// reported once, as a warning, with what it does in Envoy. Fields that would change a decision (another
// HTTP filter, header rewriting before routing, retries, TLS, redirects) stay refused.
var ignored = map[protoreflect.FullName]map[string]string{
	"envoy.config.bootstrap.v3.Bootstrap": {
		"layered_runtime":  "runtime values (serve has none; the connection manager's path settings are read from its fields)",
		"stats_config":     "statistics naming",
		"stats_sinks":      "statistics export",
		"overload_manager": "load shedding under resource pressure",
		"cluster_manager":  "cluster manager settings (local cluster name, outlier event log)",
	},
	"envoy.config.bootstrap.v3.Admin": {"access_log": "the admin interface's access log"},
	"envoy.config.listener.v3.Listener": {
		"per_connection_buffer_limit_bytes":          "a buffer limit (flow control)",
		"access_log":                                 "the listener's access log",
		"max_connections_to_accept_per_socket_event": "accept batching",
		"enable_reuse_port":                          "socket option",
		"stat_prefix":                                "statistics naming",
	},
	"envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager": {
		"access_log":                   "the connection manager's access log",
		"http_protocol_options":        "HTTP/1 codec options",
		"http2_protocol_options":       "HTTP/2 codec options (windows, stream limits)",
		"common_http_protocol_options": "connection limits and timeouts (headers_with_underscores_action is not applied by serve)",
		"server_header_transformation": "the Server response header",
		"upgrade_configs":              "protocol upgrades (WebSocket): serve forwards plain HTTP only",
		"request_timeout":              "a timeout for the whole request",
		"stream_idle_timeout":          "an idle timeout per stream",
		"delayed_close_timeout":        "connection close timing",
		"request_headers_timeout":      "a timeout for receiving headers",
		"drain_timeout":                "connection draining",
		"preserve_external_request_id": "x-request-id handling",
		"tracing":                      "tracing",
		"add_user_agent":               "statistics by user agent",
		"skip_xff_append":              "x-forwarded-for appending",
		"via":                          "the Via header",
		"internal_address_config":      "which addresses count as internal",
		"max_request_headers_kb":       "a request header size limit",
		"proxy_100_continue":           "100-continue handling",
		"represent_ipv4_remote_address_as_ipv4_mapped_ipv6": "address representation",
	},
	"envoy.extensions.filters.http.router.v3.Router": {
		"suppress_envoy_headers": "x-envoy-* response headers",
		"start_child_span":       "tracing",
	},
	"envoy.config.route.v3.RouteConfiguration": {},
	"envoy.config.route.v3.RouteAction": {
		"upgrade_configs": "protocol upgrades (WebSocket): serve forwards plain HTTP only",
		"idle_timeout":    "an idle timeout per stream",
	},
	"envoy.config.cluster.v3.Cluster": {
		"per_connection_buffer_limit_bytes":        "a buffer limit (flow control)",
		"circuit_breakers":                         "connection and request limits towards the cluster",
		"metadata":                                 "cluster metadata (read by load-balancer subsets and by filters serve does not run)",
		"common_lb_config":                         "load-balancing tuning among endpoints",
		"load_balancing_policy":                    "the choice among endpoints (serve goes round robin)",
		"dns_lookup_family":                        "DNS address family",
		"dns_refresh_rate":                         "DNS refresh",
		"respect_dns_ttl":                          "DNS refresh",
		"outlier_detection":                        "ejection of failing endpoints",
		"ignore_health_on_host_removal":            "health-check bookkeeping",
		"typed_extension_protocol_options":         "upstream HTTP protocol options (serve speaks HTTP/1.1 upstream)",
		"upstream_connection_options":              "TCP keepalive towards the cluster",
		"close_connections_on_host_health_failure": "health-check bookkeeping",
	},
	"envoy.config.endpoint.v3.LbEndpoint": {
		"health_status":         "serve does no health checking",
		"load_balancing_weight": "endpoint weights (serve goes round robin)",
	},
	"envoy.config.endpoint.v3.LocalityLbEndpoints": {
		"locality":              "locality-aware load balancing",
		"metadata":              "endpoint metadata (read by load-balancer subsets and filters serve does not run)",
		"load_balancing_weight": "locality weights",
	},
	"envoy.config.core.v3.RemoteDataSource": {"retry_policy": "retries of the module fetch (serve fetches nothing: -module)"},
	"envoy.config.endpoint.v3.Endpoint":     {"hostname": "the endpoint's name, for health checks and SNI"},
	"envoy.config.core.v3.SocketAddress":    {"ipv4_compat": "IPv4-mapped IPv6 acceptance"},
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
// an error naming the first field, in field-number order, that serve does not support. Fields of the ignored
// list are skipped, each with one warning line in warnings.
func checkSupported(m proto.Message, path string, warnings *[]string) error {
	var hits []string
	if err := walkSupported(m.ProtoReflect(), path, &hits); err != nil {
		return err
	}
	// One line per ignored field of a message type: the first place it is set, and how many more.
	type group struct {
		first string
		n     int
	}
	groups := map[string]*group{}
	var order []string
	for _, h := range hits {
		key, where, _ := strings.Cut(h, "\x00")
		if g := groups[key]; g != nil {
			g.n++
			continue
		}
		groups[key] = &group{first: where}
		order = append(order, key)
	}
	for _, key := range order {
		g := groups[key]
		_, why, _ := strings.Cut(key, "\x01")
		line := g.first + ": ignored: " + why
		if g.n > 0 {
			line += " (also set in " + strconv.Itoa(g.n) + " more places)"
		}
		*warnings = append(*warnings, line)
	}
	return nil
}

func walkSupported(m protoreflect.Message, path string, warnings *[]string) error {
	name := m.Descriptor().FullName()
	if opaque[name] {
		return nil
	}
	if a, ok := m.Interface().(*anypb.Any); ok {
		if envoyconfig.EmptyFilterConfig(a) {
			return nil // FilterConfig{config: {}}: the filter enabled on this route (see envoyconfig.EmptyFilterConfig)
		}
		inner, err := a.UnmarshalNew()
		if err != nil {
			return fmt.Errorf("%s: cannot decode %s: %v", path, a.GetTypeUrl(), err)
		}
		if supportedSets[inner.ProtoReflect().Descriptor().FullName()] == nil && !opaque[inner.ProtoReflect().Descriptor().FullName()] {
			return fmt.Errorf("%s: %s is not supported by serve", path, inner.ProtoReflect().Descriptor().FullName())
		}
		return walkSupported(inner.ProtoReflect(), path, warnings)
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
		if why, ok := ignored[name][f.fd.TextName()]; ok && !allowed[f.fd.TextName()] {
			*warnings = append(*warnings, string(name)+"."+f.fd.TextName()+"\x01"+why+"\x00"+p)
			continue
		}
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
				if err := walkSupported(l.Get(i).Message(), p+"["+strconv.Itoa(i)+"]", warnings); err != nil {
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
				if err := walkSupported(values[k], p+"["+strconv.Quote(k)+"]", warnings); err != nil {
					return err
				}
			}
		default:
			if err := walkSupported(f.v.Message(), p, warnings); err != nil {
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
