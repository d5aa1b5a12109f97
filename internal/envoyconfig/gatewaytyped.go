package envoyconfig

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	egv1a1 "github.com/envoyproxy/gateway/api/v1alpha1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"
	kjson "sigs.k8s.io/json"
)

// Envoy Gateway's and Gateway API's resources are Go structs (envoyproxy/gateway v1.9.1 api/v1alpha1,
// sigs.k8s.io/gateway-api v1.6.1 apis/v1). They are decoded the way the Kubernetes API server decodes a
// request under strict field validation (sigs.k8s.io/json UnmarshalStrict, case-sensitive, unknown and
// duplicate fields refused, each with its path), so a wrong type or an unknown field is refused here as it
// would be at `kubectl apply`. Enum values are not in the Go types but in the CRDs' OpenAPI schemas
// (+kubebuilder:validation:Enum markers in the same sources): the enums the resources scope-gate reads use
// are checked below, with the values of those markers.

func isGatewayKind(d *Document) bool {
	switch d.Kind {
	case "EnvoyExtensionPolicy":
		return d.APIVersion == "gateway.envoyproxy.io/v1alpha1"
	case "HTTPRoute", "Gateway", "GatewayClass":
		return d.APIVersion == "gateway.networking.k8s.io/v1"
	}
	return false
}

func checkGatewaySpec(r *Report, d *Document) bool {
	js, err := json.Marshal(d.Object)
	if err != nil {
		r.errorf(d.File, d.where("$"), "%v", err)
		return false
	}
	var obj any
	switch d.Kind {
	case "EnvoyExtensionPolicy":
		obj = &egv1a1.EnvoyExtensionPolicy{}
	case "HTTPRoute":
		obj = &gwapiv1.HTTPRoute{}
	case "Gateway":
		obj = &gwapiv1.Gateway{}
	case "GatewayClass":
		obj = &gwapiv1.GatewayClass{}
	}
	strict, err := kjson.UnmarshalStrict(js, obj)
	if err != nil {
		r.errorf(d.File, d.where(typeErrorPath(err)), "%s", typeErrorMessage(err))
		return false
	}
	ok := true
	for _, e := range strict {
		// "unknown field \"spec.wasm[0].cod\"": the path is in the message.
		msg := e.Error()
		if p, _, found := strings.Cut(strings.TrimPrefix(msg, "unknown field \""), "\""); found && strings.HasPrefix(msg, "unknown field") {
			r.errorf(d.File, d.where(p), "unknown field (%s %s)", d.APIVersion, d.Kind)
		} else {
			r.errorf(d.File, d.where("$"), "%s", msg)
		}
		ok = false
	}
	enum := func(path, value string, allowed ...string) {
		if value != "" && !slices.Contains(allowed, value) {
			r.errorf(d.File, d.where(path), "unsupported value %q: must be one of %s (the CRD's enum)", value, strings.Join(allowed, ", "))
			ok = false
		}
	}
	switch o := obj.(type) {
	case *egv1a1.EnvoyExtensionPolicy:
		for i, w := range o.Spec.Wasm {
			wp := "spec.wasm[" + strconv.Itoa(i) + "].code"
			// api/v1alpha1/wasm_types.go: +kubebuilder:validation:Enum=HTTP;Image;ConfigMap, and IfNotPresent;Always.
			enum(wp+".type", string(w.Code.Type), "HTTP", "Image", "ConfigMap")
			if w.Code.PullPolicy != nil {
				enum(wp+".pullPolicy", string(*w.Code.PullPolicy), "IfNotPresent", "Always")
			}
			// The sha256 fields carry the (unenforced) pattern ^[a-f0-9]{64}$; Envoy compares the digest of
			// the module with it, so anything else can never match: refuse it here.
			for _, s := range []struct {
				path string
				v    *string
			}{{wp + ".http.sha256", shaOf(w.Code.HTTP)}, {wp + ".image.sha256", shaOfImage(w.Code.Image)}} {
				if s.v != nil && !isHexDigest(*s.v) {
					r.errorf(d.File, d.where(s.path), "must be 64 lower-case hex digits (the module's SHA-256), got %q", *s.v)
					ok = false
				}
			}
		}
	case *gwapiv1.HTTPRoute:
		for ri, rule := range o.Spec.Rules {
			for mi, m := range rule.Matches {
				mp := "spec.rules[" + strconv.Itoa(ri) + "].matches[" + strconv.Itoa(mi) + "]"
				// apis/v1/httproute_types.go: PathMatchType, HeaderMatchType, HTTPMethod enums.
				if m.Path != nil && m.Path.Type != nil {
					enum(mp+".path.type", string(*m.Path.Type), "Exact", "PathPrefix", "RegularExpression")
				}
				for hi, h := range m.Headers {
					if h.Type != nil {
						enum(mp+".headers["+strconv.Itoa(hi)+"].type", string(*h.Type), "Exact", "RegularExpression")
					}
				}
				if m.Method != nil {
					enum(mp+".method", string(*m.Method), "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")
				}
			}
		}
	case *gwapiv1.Gateway:
		for li, l := range o.Spec.Listeners {
			enum("spec.listeners["+strconv.Itoa(li)+"].protocol", string(l.Protocol), "HTTP", "HTTPS", "TLS", "TCP", "UDP")
		}
	}
	return ok
}

func shaOf(h *egv1a1.HTTPWasmCodeSource) *string {
	if h == nil {
		return nil
	}
	return h.SHA256
}

func shaOfImage(i *egv1a1.ImageWasmCodeSource) *string {
	if i == nil {
		return nil
	}
	return i.SHA256
}

func isHexDigest(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && (s[i] < 'a' || s[i] > 'f') {
			return false
		}
	}
	return true
}

// typeErrorPath and typeErrorMessage read encoding/json's type errors, whose Field is the dotted path of JSON
// names from the top of the object ("spec.wasm.code.http.sha256"; list indexes are not recorded).
func typeErrorPath(err error) string {
	var te *json.UnmarshalTypeError
	if asTypeError(err, &te) && te.Field != "" {
		return te.Field
	}
	return "$"
}

func typeErrorMessage(err error) string {
	var te *json.UnmarshalTypeError
	if asTypeError(err, &te) {
		return "must be of type " + jsonKind(te.Type.Kind().String()) + ", got " + te.Value
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func asTypeError(err error, te **json.UnmarshalTypeError) bool {
	t, ok := err.(*json.UnmarshalTypeError)
	if ok {
		*te = t
	}
	return ok
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "struct", "map", "ptr":
		return "object"
	}
	return "number"
}
