package envoyconfig

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	extensionsv1alpha1 "istio.io/api/extensions/v1alpha1"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
)

// The mesh resources are decoded with the meshes' own API types before anything else reads them, so that a
// resource the mesh would refuse (a wrong type, an unknown field, an enum value that does not exist) is
// refused here too, with its file, document and JSON path. `sha256: 0000...0` unquoted is a YAML integer:
// Istio's WasmPlugin.sha256 and Envoy Gateway's HTTPWasmCodeSource.sha256 are strings, and the Kubernetes API
// server refuses the resource ("must be of type string"); so does this check.
//
// Istio's resources are protobuf messages (istio.io/api): the CRD's spec is the message's JSON form, which is
// what protojson reads, strictly. Envoy Gateway's and Gateway API's are Go structs checked in gatewaytyped.go.

// istioSpecs maps each Istio kind scope-gate reads to its apiVersions and the message of its spec
// (istio.io/api v1.32.0: extensions/v1alpha1/wasm.proto, networking/v1alpha3/{envoy_filter,virtual_service,
// gateway}.proto; networking.istio.io/v1 and v1beta1 serve the same messages).
var istioSpecs = map[string]struct {
	versions []string
	spec     func() proto.Message
}{
	"WasmPlugin":     {[]string{"extensions.istio.io/v1alpha1"}, func() proto.Message { return &extensionsv1alpha1.WasmPlugin{} }},
	"EnvoyFilter":    {[]string{"networking.istio.io/v1alpha3"}, func() proto.Message { return &networkingv1alpha3.EnvoyFilter{} }},
	"VirtualService": {[]string{"networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"}, func() proto.Message { return &networkingv1alpha3.VirtualService{} }},
	"Gateway":        {[]string{"networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"}, func() proto.Message { return &networkingv1alpha3.Gateway{} }},
}

// objectMetaFields are the fields of a Kubernetes ObjectMeta (k8s.io/apimachinery meta/v1 types.go), the only
// keys a resource's metadata may hold: anything else is refused by the API server's strict field validation.
var objectMetaFields = map[string]bool{
	"name": true, "generateName": true, "namespace": true, "selfLink": true, "uid": true,
	"resourceVersion": true, "generation": true, "creationTimestamp": true, "deletionTimestamp": true,
	"deletionGracePeriodSeconds": true, "labels": true, "annotations": true, "ownerReferences": true,
	"finalizers": true, "managedFields": true,
}

// checkTyped decodes d with its mesh's API types. It reports every problem and returns false when the
// document must not be read further (the rest of the check reads the decoded tree and would misjudge it).
func checkTyped(r *Report, d *Document) bool {
	if spec, isIstio := istioSpecs[d.Kind]; isIstio && slices.Contains(spec.versions, d.APIVersion) {
		ok := checkEnvelope(r, d)
		return checkIstioSpec(r, d, spec.spec()) && ok
	}
	if isGatewayKind(d) {
		return checkGatewaySpec(r, d) // the Go types hold the whole resource, envelope included
	}
	if _, isIstio := istioSpecs[d.Kind]; isIstio && strings.Contains(d.APIVersion, "istio.io") {
		r.errorf(d.File, d.where("apiVersion"), "%s is not an apiVersion of %s (want one of %s)", d.APIVersion, d.Kind, strings.Join(istioSpecs[d.Kind].versions, ", "))
		return false
	}
	return true
}

// typedOnly are kinds checked only by their types: scope-gate reads nothing else in them (a Gateway's
// listener hostnames are read where route names are computed).
func typedOnly(d *Document) bool {
	switch d.Kind {
	case "Gateway", "GatewayClass":
		return isGatewayKind(d) || strings.HasPrefix(d.APIVersion, "networking.istio.io/")
	}
	return false
}

// checkEnvelope: the top level of a resource is apiVersion, kind, metadata and spec (status is the
// controller's, never written by hand), and metadata is an ObjectMeta.
func checkEnvelope(r *Report, d *Document) bool {
	ok := true
	for _, k := range slices.Sorted(maps.Keys(d.Object)) {
		switch k {
		case "apiVersion", "kind", "spec", "status":
		case "metadata":
			md, isMap := d.Object[k].(map[string]any)
			if !isMap {
				r.errorf(d.File, d.where("metadata"), "must be a map, got %s", kindOf(d.Object[k]))
				ok = false
				continue
			}
			for _, mk := range slices.Sorted(maps.Keys(md)) {
				if !objectMetaFields[mk] {
					r.errorf(d.File, d.where("metadata."+mk), "unknown field (not in a Kubernetes ObjectMeta)")
					ok = false
				}
			}
			for _, mk := range []string{"name", "namespace"} {
				if v, set := md[mk]; set {
					if _, isString := v.(string); !isString {
						r.errorf(d.File, d.where("metadata."+mk), "must be a string, got %s", kindOf(v))
						ok = false
					}
				}
			}
		default:
			r.errorf(d.File, d.where(k), "unknown field (a resource has apiVersion, kind, metadata and spec)")
			ok = false
		}
	}
	return ok
}

// checkIstioSpec decodes spec into m with protojson: unknown fields, wrong types and unknown enum names are
// errors, as in Istio's own decoding of the CRD (pkg/config/schema, protomarshal).
func checkIstioSpec(r *Report, d *Document, m proto.Message) bool {
	raw, present := d.Object["spec"]
	if !present {
		r.errorf(d.File, d.where("spec"), "missing")
		return false
	}
	js, err := json.Marshal(raw)
	if err != nil {
		r.errorf(d.File, d.where("spec"), "%v", err)
		return false
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, js, "", " "); err != nil {
		r.errorf(d.File, d.where("spec"), "%v", err)
		return false
	}
	if err := protojson.Unmarshal(pretty.Bytes(), m); err != nil {
		msg := locate(pretty.Bytes(), err).Error()
		where, rest, _ := strings.Cut(msg, ": ")
		r.errorf(d.File, d.where("spec"+strings.TrimPrefix(where, "$")), "%s (%s)", rest, m.ProtoReflect().Descriptor().FullName())
		return false
	}
	return true
}
