package openapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"gopkg.in/yaml.v3"
)

// Load reads an OpenAPI document (JSON or YAML). A Swagger 2.0 document is converted to 3.0 with
// openapi2conv; pointers in later errors then refer to the converted document's layout. External $refs are
// not followed: a document must be self-contained, so that what is checked is what is in the file.
func Load(path string) (*openapi3.T, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse is Load on bytes already read; file names the document in errors.
func Parse(file string, data []byte) (*openapi3.T, error) {
	// YAML 1.2 (gopkg.in/yaml.v3): under YAML 1.1 rules a bare `y` or
	// `no` would be a boolean, and OpenAPI 3.1 documents are YAML 1.2.
	var head struct {
		Swagger *string `yaml:"swagger"`
		OpenAPI *string `yaml:"openapi"`
	}
	if err := yaml.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("%s: /: not a JSON or YAML OpenAPI document: %v", file, oneLine(err))
	}
	switch {
	case head.Swagger != nil:
		if *head.Swagger != "2.0" {
			return nil, fmt.Errorf("%s: /swagger: unsupported version %q (2.0, 3.0 and 3.1 are read)", file, *head.Swagger)
		}
		var tree any
		if err := yaml.Unmarshal(data, &tree); err != nil {
			return nil, fmt.Errorf("%s: /: malformed Swagger 2.0 document: %v", file, oneLine(err))
		}
		jsonData, err := json.Marshal(tree)
		if err != nil {
			return nil, fmt.Errorf("%s: /: malformed Swagger 2.0 document: %v", file, oneLine(err))
		}
		var d2 openapi2.T
		if err := json.Unmarshal(jsonData, &d2); err != nil {
			return nil, fmt.Errorf("%s: /: malformed Swagger 2.0 document: %v", file, oneLine(err))
		}
		d3, err := openapi2conv.ToV3(&d2)
		if err != nil {
			return nil, fmt.Errorf("%s: /: converting Swagger 2.0: %v", file, oneLine(err))
		}
		return d3, nil
	case head.OpenAPI == nil:
		return nil, fmt.Errorf("%s: /openapi: missing: not an OpenAPI 3 document", file)
	case !strings.HasPrefix(*head.OpenAPI, "3.0.") && !strings.HasPrefix(*head.OpenAPI, "3.1."):
		return nil, fmt.Errorf("%s: /openapi: unsupported version %q (2.0, 3.0 and 3.1 are read)", file, *head.OpenAPI)
	}
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	loader.Context = context.Background()
	doc, err := loader.LoadFromData(bytes.Clone(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %s", file, refError(err))
	}
	return doc, nil
}

// refError turns a loader error into one line that starts with the JSON pointer it names, when it names one
// (kin-openapi reports unresolvable references as `... "#/components/..."`).
func refError(err error) string {
	msg := oneLine(err)
	if i := strings.Index(msg, "#/"); i >= 0 {
		ptr := msg[i+1:]
		if j := strings.IndexAny(ptr, "\" :,"); j >= 0 {
			ptr = ptr[:j]
		}
		return ptr + ": " + msg
	}
	return "/: " + msg
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// pointer builds a JSON pointer (RFC 6901) from reference tokens.
func pointer(tokens ...string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(t))
	}
	return b.String()
}
