package envoyconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"sigs.k8s.io/yaml"

	// protojson resolves every typed_config (a google.protobuf.Any) through the global registry, so each
	// extension a bootstrap may name must be linked in. These are the ones the examples use, plus common
	// neighbours of an authorization filter; a bootstrap naming another one is reported by type URL.
	_ "github.com/envoyproxy/go-control-plane/envoy/config/route/v3" // FilterConfig{disabled} per route
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/health_check/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/local_ratelimit/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/lua/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/wasm/v3"
	_ "google.golang.org/protobuf/types/known/structpb"
	_ "google.golang.org/protobuf/types/known/wrapperspb" // StringValue / BytesValue plugin configuration
)

// LoadBootstrap reads an Envoy v3 bootstrap (YAML or JSON) and applies Envoy's field rules to it and to every
// typed_config inside it. Errors name the file and the JSON path of the problem, in one line.
func LoadBootstrap(path string) (*bootstrapv3.Bootstrap, error) {
	b, _, err := LoadConfig(path)
	return b, err
}

// ParseBootstrap is LoadBootstrap on bytes.
func ParseBootstrap(data []byte) (*bootstrapv3.Bootstrap, error) {
	b, _, err := ParseConfig(data)
	return b, err
}

// LoadConfig is LoadBootstrap for a bootstrap or a config dump (see BootstrapFromConfigDump), with the notes
// of the conversion: what a dump held that was left out, one line each.
func LoadConfig(path string) (*bootstrapv3.Bootstrap, []string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	b, notes, err := ParseConfig(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, notes, nil
}

// ParseConfig is LoadConfig on bytes.
func ParseConfig(data []byte) (*bootstrapv3.Bootstrap, []string, error) {
	var notes []string
	b := &bootstrapv3.Bootstrap{}
	if IsConfigDump(data) {
		var err error
		if b, notes, err = BootstrapFromConfigDump(data); err != nil {
			return nil, nil, err
		}
	} else if err := unmarshalYAML(data, b); err != nil {
		return nil, nil, err
	}
	if err := Validate(b); err != nil {
		return nil, nil, err
	}
	return b, notes, nil
}

// unmarshalYAML converts YAML to JSON and decodes it strictly (unknown fields are errors, as in Envoy),
// translating protojson's line:column, which would point into the converted JSON, into a JSON path that
// reads the same in the YAML source.
func unmarshalYAML(data []byte, m proto.Message) error {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return fmt.Errorf("$: not YAML: %v", err)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, js, "", " "); err != nil {
		return fmt.Errorf("$: %v", err)
	}
	doc := pretty.Bytes()
	if err := protojson.Unmarshal(doc, m); err != nil {
		return locate(doc, err)
	}
	return nil
}

var protojsonPos = regexp.MustCompile(`\(line (\d+):(\d+)\): `)

// locate rewrites a protojson error "proto: (line L:C): msg" as "<json path>: msg".
func locate(doc []byte, err error) error {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "proto:")
	msg = strings.TrimSpace(strings.ReplaceAll(msg, "\u00a0", " ")) // protojson pads with a non-breaking space
	loc := protojsonPos.FindStringSubmatchIndex(msg)
	if loc == nil {
		return errors.New("$: " + msg)
	}
	line, _ := strconv.Atoi(msg[loc[2]:loc[3]])
	col, _ := strconv.Atoi(msg[loc[4]:loc[5]])
	rest := msg[:loc[0]] + msg[loc[1]:]
	return errors.New(pathAt(doc, offsetOf(doc, line, col)) + ": " + strings.TrimSpace(rest))
}

func offsetOf(doc []byte, line, col int) int {
	off := 0
	for l := 1; l < line; l++ {
		i := bytes.IndexByte(doc[off:], '\n')
		if i < 0 {
			return len(doc)
		}
		off += i + 1
	}
	return off + col - 1
}

// pathAt returns the JSON path ("$.a.b[2].c") of the token at byte offset off in doc.
func pathAt(doc []byte, off int) string {
	type frame struct {
		obj     bool
		key     string
		idx     int
		wantKey bool
	}
	var st []*frame
	render := func() string {
		var b strings.Builder
		b.WriteString("$")
		for _, f := range st {
			switch {
			case f.obj && f.key != "":
				b.WriteString("." + f.key)
			case !f.obj && f.idx >= 0:
				b.WriteString("[" + strconv.Itoa(f.idx) + "]")
			}
		}
		return b.String()
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return render()
		}
		var top *frame
		if len(st) > 0 {
			top = st[len(st)-1]
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			st = st[:len(st)-1]
			if len(st) > 0 && st[len(st)-1].obj {
				st[len(st)-1].wantKey = true
			}
		} else if top != nil && top.obj && top.wantKey {
			top.key, _ = tok.(string)
			top.wantKey = false
		} else {
			// A value: count it in its array, or mark its object ready for the next key.
			if top != nil && !top.obj {
				top.idx++
			}
			if d, ok := tok.(json.Delim); ok {
				st = append(st, &frame{obj: d == '{', wantKey: d == '{', idx: -1})
			} else if top != nil && top.obj {
				top.wantKey = true
			}
		}
		if int(dec.InputOffset()) > off {
			return render()
		}
	}
}

// validator is what protoc-gen-validate generates on every go-control-plane message.
type validator interface{ ValidateAll() error }

// Validate applies Envoy's field rules (protoc-gen-validate) to m and, unlike m.ValidateAll alone, to every
// google.protobuf.Any inside it: generated validation stops at an Any, but Envoy unpacks each typed_config
// and validates it too.
func Validate(m proto.Message) error {
	if v, ok := m.(validator); ok {
		if err := v.ValidateAll(); err != nil {
			return errors.New("$: " + oneLine(err.Error()))
		}
	}
	return validateAnys(m.ProtoReflect(), "$")
}

func validateAnys(m protoreflect.Message, path string) error {
	var first error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil {
			return true
		}
		p := path + "." + fd.TextName()
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len() && first == nil; i++ {
				first = validateValue(l.Get(i).Message(), p+"["+strconv.Itoa(i)+"]")
			}
		case fd.IsMap():
			if fd.MapValue().Message() == nil {
				return true
			}
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				first = validateValue(mv.Message(), p+"["+strconv.Quote(k.String())+"]")
				return first == nil
			})
		default:
			first = validateValue(v.Message(), p)
		}
		return first == nil
	})
	return first
}

func validateValue(m protoreflect.Message, path string) error {
	if a, ok := m.Interface().(*anypb.Any); ok {
		if EmptyFilterConfig(a) {
			return nil // FilterConfig{config: {}}: "enabled here", see EmptyFilterConfig
		}
		inner, err := a.UnmarshalNew()
		if err != nil {
			return fmt.Errorf("%s: cannot decode %s: %v", path, a.GetTypeUrl(), err)
		}
		if v, ok := inner.(validator); ok {
			if err := v.ValidateAll(); err != nil {
				return fmt.Errorf("%s: %s", path, oneLine(err.Error()))
			}
		}
		return validateAnys(inner.ProtoReflect(), path)
	}
	return validateAnys(m, path)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
