package envoyhost

import (
	"bytes"
	"encoding/binary"
	"math"
	"sort"
	"strconv"
	"strings"
)

// property resolves a proxy_get_property path (segments separated by NUL)
// and appends Envoy's encoding of the value to dst.
func (vm *VM) property(dst []byte, path []byte) ([]byte, status) {
	s := vm.cur.s
	// Values stored with proxy_set_property win, as Envoy's filter state
	// lookup does for paths it has no built-in value for.
	if s != nil && s.props != nil {
		if v, ok := s.props[string(path)]; ok {
			return append(dst, v...), statusOK
		}
	} else if s == nil && vm.rootProps != nil {
		if v, ok := vm.rootProps[string(path)]; ok {
			return append(dst, v...), statusOK
		}
	}
	var segs [8][]byte
	parts := segs[:0]
	for {
		i := bytes.IndexByte(path, 0)
		if i < 0 {
			parts = append(parts, path)
			break
		}
		parts = append(parts, path[:i])
		path = path[i+1:]
	}
	if len(parts) == 0 {
		return dst, statusNotFound
	}
	switch string(parts[0]) {
	case "plugin_name":
		return leaf(dst, parts, vm.cfg.PluginName)
	case "plugin_root_id":
		return leaf(dst, parts, vm.cfg.RootID)
	case "plugin_vm_id":
		return leaf(dst, parts, vm.cfg.VMID)
	case "xds":
		if s == nil {
			return dst, statusNotFound
		}
		return s.xdsProperty(dst, parts[1:])
	case "request":
		if s == nil {
			return dst, statusNotFound
		}
		return s.requestProperty(dst, parts[1:])
	case "response":
		if s == nil || s.phase < phaseRespHeaders || len(parts) != 2 {
			return dst, statusNotFound
		}
		switch string(parts[1]) {
		case "code":
			return appendInt(dst, int64(statusOf(s.respHeaders))), statusOK
		case "code_details":
			if s.local != nil {
				return append(dst, s.local.Details...), statusOK
			}
			return append(dst, "via_upstream"...), statusOK
		}
		return dst, statusNotFound
	case "source", "destination":
		if s == nil || len(parts) != 2 {
			return dst, statusNotFound
		}
		addr := "127.0.0.1:10000"
		if string(parts[0]) == "source" {
			addr = s.req.SourceAddress
			if addr == "" {
				addr = "127.0.0.1:50000"
			}
		}
		switch string(parts[1]) {
		case "address":
			return append(dst, addr...), statusOK
		case "port":
			i := strings.LastIndexByte(addr, ':')
			p, err := strconv.Atoi(addr[i+1:])
			if i < 0 || err != nil {
				return dst, statusNotFound
			}
			return appendInt(dst, int64(p)), statusOK
		}
		return dst, statusNotFound
	case "connection":
		if s == nil || len(parts) != 2 {
			return dst, statusNotFound
		}
		switch string(parts[1]) {
		case "mtls":
			return append(dst, 0), statusOK
		case "requested_server_name":
			return dst, statusOK
		}
		return dst, statusNotFound
	}
	return dst, statusNotFound
}

// leaf returns a string property that has no sub-fields.
func leaf(dst []byte, parts [][]byte, v string) ([]byte, status) {
	if len(parts) != 1 {
		return dst, statusNotFound
	}
	return append(dst, v...), statusOK
}

func (s *stream) xdsProperty(dst []byte, parts [][]byte) ([]byte, status) {
	if len(parts) == 0 {
		return dst, statusSerializationFailure // a whole message
	}
	r := s.req.Route
	var vh *VirtualHost
	if r != nil {
		vh = r.VirtualHost
	}
	switch string(parts[0]) {
	case "route_name":
		if r == nil || len(parts) != 1 {
			return dst, statusNotFound
		}
		return append(dst, r.Name...), statusOK
	case "virtual_host_name":
		if vh == nil || len(parts) != 1 {
			return dst, statusNotFound
		}
		return append(dst, vh.Name...), statusOK
	case "cluster_name":
		if r == nil || r.Cluster == "" || len(parts) != 1 {
			return dst, statusNotFound
		}
		return append(dst, r.Cluster...), statusOK
	case "route_metadata":
		if r == nil {
			return dst, statusNotFound
		}
		return metadataProperty(dst, r.Metadata, parts[1:])
	case "virtual_host_metadata":
		if vh == nil {
			return dst, statusNotFound
		}
		return metadataProperty(dst, vh.Metadata, parts[1:])
	}
	return dst, statusNotFound
}

// metadataProperty walks core.v3.Metadata: parts[0] must be
// "filter_metadata", then a namespace and keys. Envoy returns protobuf bytes
// when the path stops at a message (the Metadata itself or the
// filter_metadata map of Structs); the emulator answers SerializationFailure
// there instead.
func metadataProperty(dst []byte, md Metadata, parts [][]byte) ([]byte, status) {
	if len(parts) < 2 {
		if len(parts) == 1 && string(parts[0]) != "filter_metadata" {
			return dst, statusNotFound
		}
		return dst, statusSerializationFailure
	}
	if string(parts[0]) != "filter_metadata" {
		return dst, statusNotFound
	}
	v, ok := md[string(parts[1])]
	if !ok {
		return dst, statusNotFound
	}
	for _, p := range parts[2:] {
		switch t := v.(type) {
		case map[string]any:
			if v, ok = t[string(p)]; !ok {
				return dst, statusNotFound
			}
		case Metadata:
			if v, ok = t[string(p)]; !ok {
				return dst, statusNotFound
			}
		case []any:
			i, err := strconv.Atoi(string(p))
			if err != nil || i < 0 || i >= len(t) {
				return dst, statusNotFound
			}
			v = t[i]
		default:
			return dst, statusNotFound
		}
	}
	return encodeValue(dst, v)
}

func (s *stream) requestProperty(dst []byte, parts [][]byte) ([]byte, status) {
	if len(parts) == 0 {
		return dst, statusSerializationFailure
	}
	hs := s.reqHeaders
	get := func(name string) string {
		v, _ := getFirst(hs, name)
		return v
	}
	name := string(parts[0])
	if name == "headers" {
		if len(parts) == 1 {
			return appendPairs(dst, hs), statusOK
		}
		if len(parts) != 2 {
			return dst, statusNotFound
		}
		// Envoy's CEL header map joins repeated values with ",".
		key := lower(string(parts[1]))
		found := false
		for _, h := range hs {
			if h.k == key {
				if found {
					dst = append(dst, ',')
				}
				dst = append(dst, h.v...)
				found = true
			}
		}
		if !found {
			return dst, statusNotFound
		}
		return dst, statusOK
	}
	if len(parts) != 1 {
		return dst, statusNotFound
	}
	switch name {
	case "path":
		return append(dst, get(":path")...), statusOK
	case "url_path":
		p := get(":path")
		if i := strings.IndexByte(p, '?'); i >= 0 {
			p = p[:i]
		}
		return append(dst, p...), statusOK
	case "query":
		p := get(":path")
		if i := strings.IndexByte(p, '?'); i >= 0 {
			return append(dst, p[i+1:]...), statusOK
		}
		return dst, statusOK
	case "method":
		return append(dst, get(":method")...), statusOK
	case "host":
		return append(dst, get(":authority")...), statusOK
	case "scheme":
		sc := get(":scheme")
		if sc == "" {
			sc = "http"
		}
		return append(dst, sc...), statusOK
	case "protocol":
		return append(dst, "HTTP/1.1"...), statusOK
	case "id":
		if s.requestID == "" {
			s.requestID = newUUID()
		}
		return append(dst, s.requestID...), statusOK
	case "referer", "useragent":
		h := "user-agent"
		if name == "referer" {
			h = "referer"
		}
		if v, ok := getFirst(hs, h); ok {
			return append(dst, v...), statusOK
		}
		return dst, statusNotFound
	}
	return dst, statusNotFound
}

func appendInt(dst []byte, v int64) []byte {
	return binary.LittleEndian.AppendUint64(dst, uint64(v))
}

// encodeValue is Envoy's serializeValue for JSON-like values: string raw,
// number as little-endian double, bool as one byte, list and map as pairs
// (list items as keys with empty values; nested values encoded the same
// way), null as SerializationFailure.
func encodeValue(dst []byte, v any) ([]byte, status) {
	switch t := v.(type) {
	case string:
		return append(dst, t...), statusOK
	case float64:
		return binary.LittleEndian.AppendUint64(dst, math.Float64bits(t)), statusOK
	case float32:
		return binary.LittleEndian.AppendUint64(dst, math.Float64bits(float64(t))), statusOK
	case int:
		return binary.LittleEndian.AppendUint64(dst, math.Float64bits(float64(t))), statusOK
	case int64:
		return binary.LittleEndian.AppendUint64(dst, math.Float64bits(float64(t))), statusOK
	case bool:
		if t {
			return append(dst, 1), statusOK
		}
		return append(dst, 0), statusOK
	case nil:
		return dst, statusSerializationFailure
	case []any:
		keys := make([][]byte, len(t))
		vals := make([][]byte, len(t))
		for i, item := range t {
			b, st := encodeValue(nil, item)
			if st != statusOK {
				return dst, st
			}
			keys[i] = b
			vals[i] = nil
		}
		return appendPairsBytes(dst, keys, vals), statusOK
	case []string:
		items := make([]any, len(t))
		for i, x := range t {
			items[i] = x
		}
		return encodeValue(dst, items)
	case Metadata:
		return encodeValue(dst, map[string]any(t))
	case map[string]any:
		names := make([]string, 0, len(t))
		for k := range t {
			names = append(names, k)
		}
		sort.Strings(names)
		keys := make([][]byte, len(names))
		vals := make([][]byte, len(names))
		for i, k := range names {
			b, st := encodeValue(nil, t[k])
			if st != statusOK {
				return dst, st
			}
			keys[i] = []byte(k)
			vals[i] = b
		}
		return appendPairsBytes(dst, keys, vals), statusOK
	}
	return dst, statusSerializationFailure
}
