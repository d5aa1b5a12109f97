package envoyconfig

import (
	"regexp"
	"strings"
)

// The module source fields of WasmPlugin and EnvoyExtensionPolicy. The meshes accept sha256 only as a string
// of 64 lowercase hex digits (Istio: pattern (^$|^[a-f0-9]{64}$), istio/api 1.31 extensions/v1alpha1/wasm.proto
// WasmPlugin.sha256; Envoy Gateway: ^[a-f0-9]{64}$, envoyproxy/gateway v1.9.0 api/v1alpha1/wasm_types.go), and
// the pull policy from a closed set (Istio's PullPolicy enum in the same proto; Envoy Gateway's
// ImagePullPolicy, Enum=IfNotPresent;Always). An unquoted digest made only of digits (or digits and one e)
// is a YAML number, not a string: the API server refuses it.

var sha256Hex = regexp.MustCompile(`^[a-f0-9]{64}$`)

// checkSHA256 refuses a sha256 the meshes would refuse. Absent or empty is the mesh's own choice (no
// verification) and is left alone. The examples' all-zero placeholder (internal/release.DigestPlaceholder)
// is valid hex: the meshes accept it and then fail closed at fetch time.
func checkSHA256(r *Report, d *Document, path string, v any, present bool) {
	if !present || v == nil {
		return
	}
	s, ok := v.(string)
	switch {
	case !ok:
		r.errorf(d.File, d.where(path), "must be a quoted string of 64 hex digits, got a YAML %s: quote it (sha256: \"...\")", yamlType(v))
	case s == "":
	case !sha256Hex.MatchString(s):
		r.errorf(d.File, d.where(path), "must be 64 lowercase hex digits (the image manifest's or the module's SHA-256), got %q", s)
	}
}

func checkPullPolicy(r *Report, d *Document, path string, v any, allowed ...string) {
	if v == nil {
		return
	}
	s, ok := v.(string)
	for _, a := range allowed {
		if ok && s == a {
			return
		}
	}
	r.errorf(d.File, d.where(path), "must be one of %s, got %v", strings.Join(allowed, ", "), v)
}

func yamlType(v any) string {
	switch v.(type) {
	case float64, int, int64:
		return "number"
	case bool:
		return "boolean"
	case map[string]any:
		return "mapping"
	case []any:
		return "list"
	}
	return "value"
}
